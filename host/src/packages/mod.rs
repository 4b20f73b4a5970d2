//! Plugin packages: providers written in any language, packed as OCI image
//! layouts, signed, installed into the state directory and named by
//! pipelines as `owner/provider@REQ`.
//!
//! - [`oci`]: the OCI image layout (a folder or a `.tar`): blobs by
//!   sha256, the index, manifests, the CNCF Wasm config.
//! - [`manifest`]: the Sluice manifest a package carries beside the
//!   component: the action type, properties, grants, contract version.
//! - [`component`]: a component's own imports and exports, read from its
//!   bytes, and the contract check.
//! - [`package`]: a package read back and checked blob by blob; `pack`.
//! - [`sign`]: ed25519 keys, signatures stored as OCI referrers, trusted
//!   keys and the trust policy.
//! - [`registry`]: installed plugins in the state directory, and choosing
//!   the highest installed version a requirement matches.
//! - [`install`]: everything `sluice plugin install` checks, in order.
//!
//! Layout of the state directory:
//!
//! ```text
//! <state>/plugins/<owner>/<provider>/<version>/plugin.json   the install record
//! <state>/components/<sha256>.wasm                           the component (shared store)
//! <state>/trusted-keys/<key-id>.pub                          keys `trust add` accepted
//! <state>/plugin-policy.json                                 {"require_signed": true}, optional
//! ```
//!
//! Removing a plugin deletes its record only: the component stays in the
//! component store, so pipeline versions applied with it keep running it.

pub mod component;
pub mod install;
pub mod manifest;
pub mod oci;
pub mod package;
pub mod registry;
pub mod sign;

pub use install::{InstallOptions, InstallReport, install};
pub use manifest::ProviderManifest;
pub use package::{Package, pack};
pub use registry::{Installed, PluginRegistry};

use crate::sandbox::SandboxError;
use std::path::PathBuf;

/// Why a plugin command could not do its work.
#[derive(Debug, thiserror::Error)]
pub enum PluginError {
    /// A file or folder could not be read or written.
    #[error("cannot {what} {}: {source}", path.display())]
    Io {
        /// What was being done (`read`, `write`, `create`).
        what: &'static str,
        /// The file or folder.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },

    /// The package is not a well-formed Sluice plugin package.
    #[error("package {package}: {message}")]
    Package {
        /// The package's path.
        package: String,
        /// What is wrong.
        message: String,
    },

    /// A blob is missing, has the wrong size, or does not hash to its
    /// digest.
    #[error("package {package}: blob {digest} ({what}) {problem}")]
    Blob {
        /// The package's path.
        package: String,
        /// The blob's digest, `sha256:<hex>`.
        digest: String,
        /// What the blob is (`the component layer, application/wasm`).
        what: String,
        /// What is wrong with it.
        problem: String,
    },

    /// The component does not keep to the contract it declares.
    #[error("package {package}: {message}")]
    Contract {
        /// The package's path (or the component's).
        package: String,
        /// What is wrong.
        message: String,
    },

    /// A signature is missing, bad, or by a key that is not trusted.
    #[error("package {package}: {message}")]
    Trust {
        /// The package's path.
        package: String,
        /// What is wrong.
        message: String,
    },

    /// A key file is not usable.
    #[error("key file {}: {message}", path.display())]
    Key {
        /// The key file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },

    /// A name or reference is not installed, or not valid.
    #[error("{0}")]
    Registry(String),

    /// The sandbox could not load or describe the component.
    #[error(transparent)]
    Sandbox(#[from] SandboxError),
}

impl PluginError {
    pub(crate) fn io(
        what: &'static str,
        path: impl Into<PathBuf>,
    ) -> impl FnOnce(std::io::Error) -> Self {
        let path = path.into();
        move |source| PluginError::Io { what, path, source }
    }
}

/// A plugin's name: `owner/provider`, as its descriptor's action type says.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct PluginName {
    /// Who publishes it.
    pub owner: String,
    /// The provider's name.
    pub provider: String,
}

impl PluginName {
    /// A name from its parts, each checked with [`is_name_part`].
    pub fn new(owner: &str, provider: &str) -> Result<Self, String> {
        for (what, part) in [("owner", owner), ("provider", provider)] {
            if !is_name_part(part) {
                return Err(format!(
                    "`{part}` is not a valid {what} name: use letters, digits, `-`, `_` and `.` \
                     (not first), at most 64"
                ));
            }
        }
        Ok(PluginName {
            owner: owner.to_string(),
            provider: provider.to_string(),
        })
    }
}

impl std::str::FromStr for PluginName {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        match text.split_once('/') {
            Some((owner, provider)) => PluginName::new(owner, provider),
            None => Err(format!(
                "`{text}` is not a plugin name: write OWNER/PROVIDER"
            )),
        }
    }
}

impl std::fmt::Display for PluginName {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.owner, self.provider)
    }
}

/// Whether `part` may be an owner or provider name: it doubles as a folder
/// name in the state directory, so no `/`, no leading `.`.
pub fn is_name_part(part: &str) -> bool {
    !part.is_empty()
        && part.len() <= 64
        && !part.starts_with('.')
        && part
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
}

/// Parses `OWNER/PROVIDER@VERSION` (an exact version).
pub fn parse_name_version(text: &str) -> Result<(PluginName, semver::Version), String> {
    let (name, version) = text
        .split_once('@')
        .ok_or_else(|| format!("`{text}` names no version: write OWNER/PROVIDER@VERSION"))?;
    let version = semver::Version::parse(version)
        .map_err(|e| format!("`{version}` in `{text}` is not a version: {e}"))?;
    Ok((name.parse()?, version))
}
