//! A plugin package read back and checked, and `pack`, which makes one.
//!
//! A package is an OCI image layout whose index names one image manifest
//! (`org.opencontainers.image.ref.name` = `owner/provider:version`):
//!
//! - config: `application/vnd.wasm.config.v0+json` (the CNCF Wasm config:
//!   `created`, `architecture: wasm`, `os: wasip2`, `layerDigests`,
//!   `component: {exports, imports, target}`), also the artifact type;
//! - layer 1: the component, `application/wasm`;
//! - layer 2: the Sluice manifest,
//!   `application/vnd.sluice.provider.manifest.v1+json`.
//!
//! Signatures are further manifests in the index that refer to it
//! (`subject`); see [`super::sign`].

use super::PluginError;
use super::component::World;
use super::manifest::{ComponentLayer, ProviderManifest};
use super::oci::{self, ComponentInfo, Form, ImageIndex, ImageManifest, Layout, OciDescriptor};
use crate::sandbox::{ComponentSource, Descriptor, Provider, Sandbox, imports};
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// A package whose structure and every blob have been checked: digests
/// and sizes, media types, the config against the layers, the manifest
/// against the component's own imports and exports. Its signatures and
/// what the component says when run are checked by `install`.
#[derive(Debug, Clone)]
pub struct Package {
    /// Where it was read from.
    pub path: PathBuf,
    /// A folder or an archive.
    pub form: Form,
    /// Its files.
    pub layout: Layout,
    /// Its index.
    pub index: ImageIndex,
    /// The index's entry for the provider's image manifest.
    pub manifest_descriptor: OciDescriptor,
    /// The provider's image manifest.
    pub manifest: ImageManifest,
    /// The Wasm config.
    pub config: oci::WasmConfig,
    /// The Sluice manifest.
    pub provider: ProviderManifest,
    /// The component layer's descriptor.
    pub component_descriptor: OciDescriptor,
    /// The component's own imports and exports.
    pub world: World,
    /// The contract version the component targets.
    pub contract: semver::Version,
}

impl Package {
    /// Reads a package (a folder or a `.tar`) and checks it.
    pub fn open(path: &Path) -> Result<Package, PluginError> {
        let (layout, form) = Layout::open(path)?;
        Package::check(path, layout, form)
    }

    /// Checks a layout read from `path`.
    pub fn check(path: &Path, layout: Layout, form: Form) -> Result<Package, PluginError> {
        let name = path.display().to_string();
        let fail = |message: String| PluginError::Package {
            package: name.clone(),
            message,
        };
        let index = layout.index(&name)?;
        let mut ours = Vec::new();
        for entry in &index.manifests {
            if entry.media_type != oci::MEDIA_MANIFEST {
                return Err(fail(format!(
                    "`index.json` lists {} of media type {}; a plugin package holds image manifests only",
                    entry.digest, entry.media_type
                )));
            }
            let bytes = layout.blob(&name, entry, "an image manifest")?;
            let manifest: ImageManifest = serde_json::from_slice(bytes)
                .map_err(|e| fail(format!("image manifest {} is not valid: {e}", entry.digest)))?;
            if manifest.subject.is_none() {
                ours.push((entry.clone(), manifest));
            }
        }
        let (manifest_descriptor, manifest) = match ours.len() {
            1 => ours.remove(0),
            0 => return Err(fail("`index.json` names no image manifest".into())),
            n => {
                return Err(fail(format!(
                    "`index.json` names {n} image manifests; a plugin package holds one provider"
                )));
            }
        };
        if manifest.config.media_type != oci::MEDIA_WASM_CONFIG {
            return Err(fail(format!(
                "the image manifest's config is {}, not a Wasm artifact ({})",
                manifest.config.media_type,
                oci::MEDIA_WASM_CONFIG
            )));
        }
        if let Some(kind) = &manifest.artifact_type
            && kind != oci::MEDIA_WASM_CONFIG
        {
            return Err(fail(format!(
                "the image manifest's artifactType is {kind}, expected {}",
                oci::MEDIA_WASM_CONFIG
            )));
        }
        let config_bytes = layout.blob(&name, &manifest.config, "the Wasm config")?;
        let config: oci::WasmConfig = serde_json::from_slice(config_bytes)
            .map_err(|e| fail(format!("the Wasm config is not valid: {e}")))?;
        if config.architecture != "wasm" || config.os != "wasip2" {
            return Err(fail(format!(
                "the Wasm config says architecture `{}`, os `{}`; a provider is a component: wasm, wasip2",
                config.architecture, config.os
            )));
        }
        let mut component = None;
        let mut sluice = None;
        for layer in &manifest.layers {
            match layer.media_type.as_str() {
                oci::MEDIA_WASM_LAYER => {
                    let bytes = layout.blob(&name, layer, "the component layer")?;
                    if component.replace((layer.clone(), bytes)).is_some() {
                        return Err(fail("the image manifest has two component layers".into()));
                    }
                }
                oci::MEDIA_SLUICE_MANIFEST => {
                    let bytes = layout.blob(&name, layer, "the Sluice manifest layer")?;
                    if sluice.replace(bytes).is_some() {
                        return Err(fail(
                            "the image manifest has two Sluice manifest layers".into(),
                        ));
                    }
                }
                other => {
                    return Err(fail(format!(
                        "the image manifest has a layer of media type {other}; \
                         a plugin package holds {} and {} layers",
                        oci::MEDIA_WASM_LAYER,
                        oci::MEDIA_SLUICE_MANIFEST
                    )));
                }
            }
        }
        let (component_descriptor, component) = component.ok_or_else(|| {
            fail(format!(
                "the image manifest has no {} layer",
                oci::MEDIA_WASM_LAYER
            ))
        })?;
        let sluice = sluice.ok_or_else(|| {
            fail(format!(
                "the image manifest has no {} layer",
                oci::MEDIA_SLUICE_MANIFEST
            ))
        })?;
        let layer_digests: Vec<&String> = manifest.layers.iter().map(|l| &l.digest).collect();
        if config.layer_digests.iter().collect::<Vec<_>>() != layer_digests {
            return Err(fail(
                "the Wasm config's layerDigests do not list the manifest's layers in order".into(),
            ));
        }
        let provider: ProviderManifest = serde_json::from_slice(sluice)
            .map_err(|e| fail(format!("the Sluice manifest is not valid: {e}")))?;
        if provider.schema != super::manifest::SCHEMA {
            return Err(fail(format!(
                "the Sluice manifest has schema {}; this host reads schema {}",
                provider.schema,
                super::manifest::SCHEMA
            )));
        }
        if provider.component.digest != component_descriptor.digest
            || provider.component.size != component_descriptor.size
        {
            return Err(fail(format!(
                "the Sluice manifest names component {}, but the component layer is {}",
                provider.component.digest, component_descriptor.digest
            )));
        }
        let reference = provider.reference();
        match manifest_descriptor.annotations.get(oci::REF_NAME) {
            Some(named) if *named == reference => {}
            Some(named) => {
                return Err(fail(format!(
                    "`index.json` names the package `{named}`, but its manifest declares `{reference}`"
                )));
            }
            None => {
                return Err(fail(format!(
                    "`index.json` has no `{}` annotation naming the package",
                    oci::REF_NAME
                )));
            }
        }
        layout.check_all_blobs(&name)?;

        let contract_fail = |message: String| PluginError::Contract {
            package: name.clone(),
            message,
        };
        let world =
            World::of(component).map_err(|e| contract_fail(format!("the component: {e}")))?;
        let contract = world.contract().map_err(contract_fail)?;
        let declared = provider.contract_version().map_err(contract_fail)?;
        if declared != contract {
            return Err(contract_fail(format!(
                "the manifest declares contract {}, but the component exports version {contract}",
                provider.contract
            )));
        }
        let set = |names: &[String]| names.iter().cloned().collect::<BTreeSet<_>>();
        if set(&config.component.imports) != set(&world.imports)
            || set(&config.component.exports) != set(&world.exports)
        {
            return Err(contract_fail(
                "the Wasm config's imports or exports are not the component's own".into(),
            ));
        }
        if provider.source != world.is_source() {
            return Err(contract_fail(format!(
                "the manifest says source: {}, but the component {} the source interface",
                provider.source,
                if world.is_source() {
                    "exports"
                } else {
                    "does not export"
                }
            )));
        }
        let grants: BTreeSet<String> = imports::capabilities(&world.imports)
            .into_iter()
            .map(|c| c.name().to_string())
            .collect();
        let declared_grants: BTreeSet<String> = provider.grants.iter().cloned().collect();
        if grants != declared_grants {
            return Err(contract_fail(format!(
                "the manifest declares grants [{}], but the component's imports may ask for [{}]",
                declared_grants.into_iter().collect::<Vec<_>>().join(", "),
                grants.into_iter().collect::<Vec<_>>().join(", ")
            )));
        }
        Ok(Package {
            path: path.to_path_buf(),
            form,
            index,
            manifest_descriptor,
            manifest,
            config,
            provider,
            component_descriptor,
            world,
            contract,
            layout,
        })
    }

    /// `path` as errors show it.
    pub fn name(&self) -> String {
        self.path.display().to_string()
    }

    /// The component's bytes (checked against their digest when opened).
    pub fn component(&self) -> &[u8] {
        let hex = self
            .component_descriptor
            .digest
            .trim_start_matches("sha256:");
        self.layout
            .file(&format!("blobs/sha256/{hex}"))
            .unwrap_or_default()
    }

    /// The component as the sandbox loads it.
    pub fn component_source(&self) -> ComponentSource {
        ComponentSource {
            name: self.provider.reference(),
            bytes: std::borrow::Cow::Owned(self.component().to_vec()),
            sha256: Some(
                self.component_descriptor
                    .digest
                    .trim_start_matches("sha256:")
                    .to_string(),
            ),
        }
    }

    /// The manifest's digest: what a signature signs.
    pub fn digest(&self) -> &str {
        &self.manifest_descriptor.digest
    }
}

/// Loads a component into the sandbox (off the async threads) and asks
/// it to describe itself.
pub async fn describe(
    sandbox: &Sandbox,
    source: ComponentSource,
) -> Result<(Provider, Descriptor), PluginError> {
    let sandbox = sandbox.clone();
    let (provider, _) = tokio::task::spawn_blocking(move || sandbox.load(&source))
        .await
        .map_err(|e| {
            PluginError::Sandbox(crate::sandbox::SandboxError::Engine(format!(
                "loading a provider panicked: {e}"
            )))
        })??;
    let descriptor = provider.describe().await?;
    Ok((provider, descriptor))
}

/// Packs a component as a package at `out` (a folder, or an archive when
/// it ends in `.tar`); `replace` allows replacing what is there. The
/// descriptor comes from the component's own `describe`, run in the
/// sandbox.
pub async fn pack(
    sandbox: &Sandbox,
    source: ComponentSource,
    out: &Path,
    replace: bool,
    created: String,
) -> Result<Package, PluginError> {
    let component_name = source.name.clone();
    let contract_fail = |message: String| PluginError::Contract {
        package: component_name.clone(),
        message,
    };
    let world = World::of(&source.bytes).map_err(&contract_fail)?;
    let contract = world.contract().map_err(&contract_fail)?;
    let bytes = source.bytes.to_vec();
    let (_, descriptor) = describe(sandbox, source).await?;
    let action = &descriptor.action_type;
    super::PluginName::new(&action.owner, &action.provider)
        .map_err(|e| contract_fail(format!("its descriptor's name: {e}")))?;
    semver::Version::parse(&action.version).map_err(|e| {
        contract_fail(format!(
            "its descriptor's version `{}` is not a semantic version: {e}",
            action.version
        ))
    })?;
    let grants: Vec<&str> = imports::capabilities(&world.imports)
        .into_iter()
        .map(crate::contract::Capability::name)
        .collect();

    let mut layout = Layout::new();
    let mut component = layout.add_blob(oci::MEDIA_WASM_LAYER, bytes);
    component
        .annotations
        .insert(oci::TITLE.to_string(), format!("{}.wasm", action.provider));
    let provider = ProviderManifest::new(
        &descriptor,
        &contract,
        world.is_source(),
        &grants,
        ComponentLayer {
            digest: component.digest.clone(),
            size: component.size,
        },
    );
    let sluice = layout.add_blob(oci::MEDIA_SLUICE_MANIFEST, oci::to_json(&provider));
    let config = oci::WasmConfig {
        created: created.clone(),
        author: Some(action.owner.clone()),
        architecture: "wasm".into(),
        os: "wasip2".into(),
        layer_digests: vec![component.digest.clone(), sluice.digest.clone()],
        component: ComponentInfo {
            exports: world.exports.clone(),
            imports: world.imports.clone(),
            target: Some(world.target(&contract)),
        },
    };
    let config = layout.add_blob(oci::MEDIA_WASM_CONFIG, oci::to_json(&config));
    let annotations = BTreeMap::from([
        (oci::TITLE.to_string(), provider.name()),
        (oci::VERSION.to_string(), action.version.clone()),
        (oci::DESCRIPTION.to_string(), descriptor.description.clone()),
        (oci::CREATED.to_string(), created),
        (
            "dev.sluice.category".to_string(),
            action.category.to_string(),
        ),
        ("dev.sluice.contract".to_string(), provider.contract.clone()),
        ("dev.sluice.grants".to_string(), provider.grants.join(",")),
    ]);
    let manifest = ImageManifest {
        schema_version: 2,
        media_type: Some(oci::MEDIA_MANIFEST.into()),
        artifact_type: Some(oci::MEDIA_WASM_CONFIG.into()),
        config,
        layers: vec![component, sluice],
        subject: None,
        annotations,
    };
    let mut entry = layout.add_blob(oci::MEDIA_MANIFEST, oci::to_json(&manifest));
    entry.artifact_type = Some(oci::MEDIA_WASM_CONFIG.into());
    entry
        .annotations
        .insert(oci::REF_NAME.to_string(), provider.reference());
    layout.set_index(&ImageIndex {
        schema_version: 2,
        media_type: Some(oci::MEDIA_INDEX.into()),
        manifests: vec![entry],
    });
    let form = Form::of_output(out);
    layout.write(out, form, replace)?;
    Package::check(out, layout, form)
}
