//! The host's configuration: what the command line (or anything else that
//! embeds Sluice) reads from its flags and environment once, and what the
//! engine, the server and the commands then build from it (the sandbox,
//! the store, the catalog of providers).
//!
//! The library never reads the process environment itself: `main.rs`
//! hands it over as an [`Environment`].

use crate::providers::Catalog;
use crate::sandbox::{Sandbox, SandboxBuilder};
use crate::state_dir::StateDir;
use crate::store::Store;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// The process environment, as `main.rs` read it.
#[derive(Debug, Clone, Default)]
pub struct Environment {
    vars: BTreeMap<String, String>,
}

impl Environment {
    /// The variables given (those that are not UTF-8 are left out).
    pub fn new(vars: impl IntoIterator<Item = (std::ffi::OsString, std::ffi::OsString)>) -> Self {
        Environment {
            vars: vars
                .into_iter()
                .filter_map(|(k, v)| Some((k.into_string().ok()?, v.into_string().ok()?)))
                .collect(),
        }
    }

    /// A variable's value, when it is set and not empty.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.vars
            .get(name)
            .map(String::as_str)
            .filter(|v| !v.is_empty())
    }

    /// Every variable.
    pub fn vars(&self) -> impl Iterator<Item = (String, String)> + '_ {
        self.vars.iter().map(|(k, v)| (k.clone(), v.clone()))
    }
}

/// The flags every command takes that shape the host.
#[derive(Debug, Clone, Default)]
pub struct HostFlags {
    /// The state directory.
    pub state_dir: PathBuf,
    /// Where compiled components are cached (default: from the
    /// environment, see [`HostConfig::new`]).
    pub cache_dir: Option<PathBuf>,
    /// Run granted programs without isolation.
    pub unsandboxed_programs: bool,
    /// How long `describe` and `validate` may take.
    pub query_timeout: Option<std::time::Duration>,
    /// The shortest delay before an in-progress provider is called back.
    pub recheck_floor: Option<std::time::Duration>,
    /// The PostgreSQL database to keep state in (`--database`).
    pub database: Option<String>,
    /// The object storage to keep artifacts in too (`--artifacts`).
    pub artifacts: Option<String>,
}

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
    /// Where provider toolchains are (for `sluice plugin build`).
    pub toolchains: crate::authoring::toolchain::Toolchains,
    /// The PostgreSQL database given with `--database`, if any (the state
    /// directory records it; see [`crate::store::use_database`]).
    pub database: Option<String>,
}

impl HostConfig {
    /// The host `flags` and `env` describe. The compile cache defaults to
    /// `$SLUICE_CACHE_DIR`, else `$XDG_CACHE_HOME/sluice`, else
    /// `~/.cache/sluice`; granted programs are found on `$PATH`; secrets
    /// come from `SLUICE_SECRET_<NAME>`; the user is `$SLUICE_USER`,
    /// `$USER`, `$LOGNAME`, else this process's account name.
    pub fn new(flags: HostFlags, env: &Environment) -> HostConfig {
        let cache_dir = flags.cache_dir.or_else(|| {
            env.get("SLUICE_CACHE_DIR")
                .map(PathBuf::from)
                .or_else(|| {
                    env.get("XDG_CACHE_HOME")
                        .map(|d| Path::new(d).join("sluice"))
                })
                .or_else(|| env.get("HOME").map(|h| Path::new(h).join(".cache/sluice")))
        });
        let user = ["SLUICE_USER", "USER", "LOGNAME"]
            .iter()
            .find_map(|v| env.get(v).map(str::to_string))
            .unwrap_or_else(account_name);
        let isolation = if flags.unsandboxed_programs {
            crate::sandbox::Isolation::Unsandboxed
        } else {
            crate::sandbox::Isolation::Namespaces
        };
        let path = env.get("PATH").unwrap_or("/usr/local/bin:/usr/bin:/bin");
        let artifacts = flags
            .artifacts
            .or_else(|| StateDir::at(&flags.state_dir).recorded_artifacts_url())
            .map(|url| crate::artifacts::RemoteSettings::from_env(&url, |k| env.get(k)));
        HostConfig {
            state_dir: flags.state_dir,
            cache_dir,
            user,
            secrets: crate::secrets::SecretStore::from_env(env.vars()),
            process: crate::sandbox::ProcessSettings {
                isolation,
                ..crate::sandbox::ProcessSettings::from_path_list(path)
            },
            query_timeout: flags.query_timeout,
            engine: crate::engine::DriverSettings {
                recheck: match flags.recheck_floor {
                    Some(floor) => crate::engine::RecheckPolicy::with_floor(floor),
                    None => Default::default(),
                },
                artifacts,
                ..Default::default()
            },
            toolchains: crate::authoring::toolchain::Toolchains::from_env(env),
            database: flags.database,
        }
    }

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
        if !crate::store::exists(&self.state_dir) {
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
        let components = crate::engine::components::component_store(&self.layout())
            .map_err(|e| format!("cannot open the component store: {e}"))?;
        Ok(Catalog::new(sandbox, base_dir, Some(components)).with_plugins(self.plugins()))
    }

    /// The plugins installed in the state directory.
    pub fn plugins(&self) -> crate::packages::PluginRegistry {
        crate::packages::PluginRegistry::new(&self.state_dir)
    }
}

/// The account name of this process's user (from `/etc/passwd`), else
/// `uid N`.
pub fn account_name() -> String {
    let uid = rustix::process::getuid().as_raw();
    std::fs::read_to_string("/etc/passwd")
        .ok()
        .and_then(|passwd| {
            passwd.lines().find_map(|line| {
                let fields: Vec<&str> = line.split(':').collect();
                (fields.get(2) == Some(&uid.to_string().as_str())).then(|| fields[0].to_string())
            })
        })
        .unwrap_or_else(|| format!("uid {uid}"))
}
