//! The `sluice` commands: each takes parsed arguments, does its work
//! through the library, prints for people (or JSON), and returns the
//! process exit code.

pub mod action;
pub mod bench;
pub mod control;
pub mod pipeline;
pub mod progress;
pub mod show;

use crate::providers::{Catalog, ComponentStore};
use crate::sandbox::{Sandbox, SandboxBuilder};
use crate::store::Store;
use std::path::{Path, PathBuf};

/// Exit code: the action (or pipeline) succeeded.
pub const EXIT_OK: u8 = 0;
/// Exit code: the action (or pipeline) failed.
pub const EXIT_FAILED: u8 = 1;
/// Exit code: bad usage, bad input, or the sandbox could not run it.
pub const EXIT_USAGE: u8 = 2;

/// What every command may need, from flags and the environment.
#[derive(Debug, Clone)]
pub struct Context {
    /// The state directory (`--state-dir`, default `.sluice`).
    pub state_dir: PathBuf,
    /// Where compiled components are cached.
    pub cache_dir: Option<PathBuf>,
    /// Who is acting (for approvals and transitions).
    pub user: String,
    /// Secrets from the environment (`SLUICE_SECRET_<NAME>`).
    pub secrets: crate::secrets::SecretStore,
    /// Where granted programs are found (the host's `PATH`), and bubblewrap.
    pub process: crate::sandbox::ProcessSettings,
}

impl Context {
    /// A sandbox with the compile cache.
    pub fn sandbox(&self) -> Result<Sandbox, String> {
        let mut builder = SandboxBuilder::new().process_settings(self.process.clone());
        if let Some(dir) = &self.cache_dir {
            builder = builder.cache_dir(dir.join("compiled"));
        }
        builder.build().map_err(|e| e.to_string())
    }

    /// The secrets the host holds: the environment's and the state
    /// directory's `secrets` file's.
    pub fn secret_store(&self) -> Result<crate::secrets::SecretStore, String> {
        self.secrets.clone().with_file(&self.state_dir)
    }

    /// The state database (created when missing).
    pub fn store(&self) -> Result<Store, String> {
        Store::open(&self.state_dir).map_err(|e| e.to_string())
    }

    /// The state database, which must already exist.
    pub fn existing_store(&self) -> Result<Store, String> {
        if !self.state_dir.join(crate::store::DATABASE_FILE).exists() {
            return Err(format!(
                "no Sluice state in {}: apply or run a pipeline first (or pass --state-dir)",
                self.state_dir.display()
            ));
        }
        self.store()
    }

    /// Resolves providers for a pipeline file in `base_dir`, keeping the
    /// components in the state directory.
    pub fn catalog(&self, sandbox: Sandbox, base_dir: &Path) -> Result<Catalog, String> {
        let components =
            ComponentStore::open(&crate::engine::StateDir::new(&self.state_dir).components())
                .map_err(|e| format!("cannot open the component store: {e}"))?;
        Ok(Catalog::new(sandbox, base_dir, Some(components)))
    }
}

/// Parses `key=value` (the value may contain `=`).
pub fn parse_key_value(text: &str) -> Result<(String, String), String> {
    match text.split_once('=') {
        Some((key, value)) if !key.trim().is_empty() => {
            Ok((key.trim().to_string(), value.to_string()))
        }
        _ => Err(format!("`{text}` is not KEY=VALUE")),
    }
}

/// Prints an error the way every command does and returns the usage code.
pub fn fail(message: impl std::fmt::Display) -> u8 {
    eprintln!("error: {message}");
    EXIT_USAGE
}
