//! `install`: everything a package must pass before its provider may be
//! named by a pipeline, cheapest and safest first: the layout and every
//! blob's digest and size, the component's contract (exports and imports
//! against what it declares and what the host provides), the signatures
//! and the trust policy (before any of its code runs), then the
//! component's own `describe` in the sandbox against its manifest.

use super::PluginError;
use super::package::{Package, describe};
use super::registry::{Installed, PluginRegistry};
use super::sign::{self, TrustPolicy, TrustStore};
use crate::sandbox::Sandbox;
use std::path::Path;

/// How to install.
#[derive(Debug, Clone, Default)]
pub struct InstallOptions {
    /// Refuse a package without a valid signature by a trusted key (the
    /// state directory's policy file may require it too).
    pub require_signed: bool,
}

/// What an install did.
#[derive(Debug, Clone)]
pub struct InstallReport {
    /// The installed version.
    pub installed: Installed,
    /// It was already installed with the same component.
    pub already: bool,
    /// Things to tell the user (unsigned, signed by an untrusted key).
    pub warnings: Vec<String>,
}

/// Checks the package at `path` and installs it into `state_dir`.
pub async fn install(
    sandbox: &Sandbox,
    state_dir: &Path,
    path: &Path,
    options: &InstallOptions,
    now: String,
) -> Result<InstallReport, PluginError> {
    let package = Package::open(path)?;
    let policy = TrustPolicy::load(state_dir)?;
    let checks = sign::signatures(&package)?;
    let (signed_by, warnings) = sign::judge(
        &package,
        &checks,
        &TrustStore::new(state_dir),
        options.require_signed || policy.require_signed,
    )?;
    let (_, descriptor) = describe(sandbox, package.component_source()).await?;
    if let Some(difference) = package.provider.differs_from(&descriptor) {
        return Err(PluginError::Contract {
            package: package.name(),
            message: difference,
        });
    }
    let (installed, already) = PluginRegistry::new(state_dir).record(&package, signed_by, now)?;
    Ok(InstallReport {
        installed,
        already,
        warnings,
    })
}
