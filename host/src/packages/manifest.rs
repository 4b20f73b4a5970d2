//! The Sluice manifest: the layer of a package (media type
//! `application/vnd.sluice.provider.manifest.v1+json`) that says what the
//! provider is, what it accepts and what it may ask to be granted, so a
//! package can be judged before its component is run.

use crate::sandbox::{ActionType, Descriptor, Property};
use serde::{Deserialize, Serialize};

/// The manifest's schema version.
pub const SCHEMA: u32 = 1;

/// What a package declares about its provider.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProviderManifest {
    /// [`SCHEMA`].
    pub schema: u32,
    /// The contract the component targets, e.g. `sluice:provider@0.1.0`.
    pub contract: String,
    /// The provider's identity: category, owner, provider, version.
    pub action_type: ActionType,
    /// One sentence on what it does.
    pub description: String,
    /// Whether it is a source provider (exports `source` too).
    pub source: bool,
    /// The configuration properties it accepts.
    pub properties: Vec<Property>,
    /// Input artifacts it accepts: fewest, most.
    pub inputs: [u8; 2],
    /// Output artifacts it produces: fewest, most.
    pub outputs: [u8; 2],
    /// The grants its imports may ask for (`process`, `http`, `secrets`):
    /// a pipeline action using it runs only as far as it grants these.
    pub grants: Vec<String>,
    /// The component layer's digest and size.
    pub component: ComponentLayer,
}

/// Which blob is the component.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ComponentLayer {
    /// `sha256:<hex>`.
    pub digest: String,
    /// Bytes.
    pub size: u64,
}

impl ProviderManifest {
    /// The manifest of a component from what it says about itself.
    pub fn new(
        descriptor: &Descriptor,
        contract: &semver::Version,
        source: bool,
        grants: &[&str],
        component: ComponentLayer,
    ) -> Self {
        ProviderManifest {
            schema: SCHEMA,
            contract: format!("{}@{contract}", super::component::CONTRACT_PACKAGE),
            action_type: descriptor.action_type.clone(),
            description: descriptor.description.clone(),
            source,
            properties: descriptor.properties.clone(),
            inputs: [descriptor.min_inputs, descriptor.max_inputs],
            outputs: [descriptor.min_outputs, descriptor.max_outputs],
            grants: grants.iter().map(|g| g.to_string()).collect(),
            component,
        }
    }

    /// `owner/provider`.
    pub fn name(&self) -> String {
        format!("{}/{}", self.action_type.owner, self.action_type.provider)
    }

    /// `owner/provider:version`, the index's reference name.
    pub fn reference(&self) -> String {
        format!("{}:{}", self.name(), self.action_type.version)
    }

    /// The contract version, parsed from `sluice:provider@X.Y.Z`.
    pub fn contract_version(&self) -> Result<semver::Version, String> {
        self.contract
            .strip_prefix(&format!("{}@", super::component::CONTRACT_PACKAGE))
            .and_then(|v| semver::Version::parse(v).ok())
            .ok_or_else(|| {
                format!(
                    "the manifest's contract `{}` is not `{}@VERSION`",
                    self.contract,
                    super::component::CONTRACT_PACKAGE
                )
            })
    }

    /// How the descriptor a component gives differs from this manifest,
    /// if it does.
    pub fn differs_from(&self, descriptor: &Descriptor) -> Option<String> {
        let declared = &self.action_type;
        let actual = &descriptor.action_type;
        if declared != actual {
            return Some(format!(
                "the manifest declares {} {}/{} {}, but the component describes itself as {} {}/{} {}",
                declared.category,
                declared.owner,
                declared.provider,
                declared.version,
                actual.category,
                actual.owner,
                actual.provider,
                actual.version
            ));
        }
        if self.properties != descriptor.properties {
            return Some(
                "the manifest's properties differ from those the component describes".into(),
            );
        }
        if self.inputs != [descriptor.min_inputs, descriptor.max_inputs]
            || self.outputs != [descriptor.min_outputs, descriptor.max_outputs]
        {
            return Some(
                "the manifest's input or output counts differ from the component's".into(),
            );
        }
        None
    }
}
