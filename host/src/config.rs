//! The host's configuration: what the command line (or anything else that
//! embeds Sluice) reads from its flags and environment once, and what the
//! engine, the server and the commands then build from it (the sandbox,
//! the store, the catalog of providers).

use crate::providers::{Catalog, ComponentStore};
use crate::sandbox::{Sandbox, SandboxBuilder};
use crate::state_dir::StateDir;
use crate::store::Store;
use std::path::{Path, PathBuf};

/// One host's settings.
#[derive(Debug, Clone, Default)]
pub struct HostConfig {
    /// The state directory.
    pub state_dir: PathBuf,
    /// Where compiled components are cached.
    pub cache_dir: Option<PathBuf>,
    /// Who is acting (for approvals and transitions).
    pub user: String,
    /// Secrets from the environment (`SLUICE_SECRET_<NAME>`).
    pub secrets: crate::secrets::SecretStore,
    /// Where granted programs are found (the host's `PATH`), and how they
    /// are isolated.
    pub process: crate::sandbox::ProcessSettings,
    /// How long `describe` and `validate` calls may take (default 60 s).
    pub query_timeout: Option<std::time::Duration>,
    /// The engine's settings (how soon providers are called back).
    pub engine: crate::engine::DriverSettings,
}

impl HostConfig {
    /// The state directory's layout.
    pub fn layout(&self) -> StateDir {
        StateDir::at(&self.state_dir)
    }

    /// A sandbox with the compile cache.
    pub fn sandbox(&self) -> Result<Sandbox, String> {
        let mut builder = SandboxBuilder::new().process_settings(self.process.clone());
        if let Some(timeout) = self.query_timeout {
            builder = builder.query_timeout(timeout);
        }
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
        if !self.layout().database().exists() {
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
        let components = ComponentStore::open(&self.layout().components())
            .map_err(|e| format!("cannot open the component store: {e}"))?;
        Ok(Catalog::new(sandbox, base_dir, Some(components)).with_plugins(self.plugins()))
    }

    /// The plugins installed in the state directory.
    pub fn plugins(&self) -> crate::plugin::PluginRegistry {
        crate::plugin::PluginRegistry::new(&self.state_dir)
    }
}
