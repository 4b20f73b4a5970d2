//! The `sluice` commands: each takes parsed arguments, does its work
//! through the library, prints for people (or JSON), and returns the
//! process exit code.
//!
//! Text a provider controls reaches the terminal only through
//! [`crate::text`]: the `say!` and `say_lines!` macros print a formatted
//! line with control characters escaped (`say_lines!` keeps newlines).

/// `println!` for a line holding provider text: the whole line escaped.
macro_rules! say {
    ($($arg:tt)*) => {
        println!("{}", crate::text::line(&format!($($arg)*)))
    };
}

/// `println!` for text holding provider text over several lines: newlines
/// kept, every other control character escaped.
macro_rules! say_lines {
    ($($arg:tt)*) => {
        println!("{}", crate::text::lines(&format!($($arg)*)))
    };
}

/// `eprintln!` with newlines kept and every other control character
/// escaped.
macro_rules! warn_lines {
    ($($arg:tt)*) => {
        eprintln!("{}", crate::text::lines(&format!($($arg)*)))
    };
}

pub mod action;
pub mod bench;
pub mod bench_program;
pub mod control;
pub mod pipeline;
pub mod plugin;
pub mod progress;
pub mod show;

use crate::ops::{self, OpError};
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
    /// Where granted programs are found (the host's `PATH`), and how they
    /// are isolated.
    pub process: crate::sandbox::ProcessSettings,
    /// How long `describe` and `validate` calls may take (default 60 s).
    pub query_timeout: Option<std::time::Duration>,
    /// The engine's host settings (how soon providers are called back).
    pub engine: crate::engine::EngineSettings,
    /// The server to talk to instead of the database, when one drives the
    /// state directory or `--server` names one.
    pub server: Option<crate::client::Client>,
}

/// Where the commands that show state read it: the database, or a server.
pub enum Reader {
    /// The state database.
    Local(Store, PathBuf),
    /// A server's API.
    Remote(crate::client::Client),
}

impl Reader {
    /// A pipeline's state.
    pub async fn state(&self, name: &str) -> Result<crate::engine::view::PipelineState, OpError> {
        match self {
            Reader::Local(s, _) => ops::state(s, name),
            Reader::Remote(c) => c.state(name).await,
        }
    }

    /// A pipeline's executions, newest first.
    pub async fn executions(
        &self,
        name: &str,
        limit: usize,
    ) -> Result<Vec<crate::store::ExecutionSummary>, OpError> {
        match self {
            Reader::Local(s, _) => ops::list_executions(s, name, limit),
            Reader::Remote(c) => c.executions(name, limit).await,
        }
    }

    /// An execution with every attempt.
    pub async fn execution(&self, id: &str) -> Result<ops::ExecutionDetail, OpError> {
        match self {
            Reader::Local(s, _) => ops::execution(s, id),
            Reader::Remote(c) => c.execution(id).await,
        }
    }

    /// Logs of an execution's actions.
    pub async fn logs(&self, id: &str, action: Option<&str>) -> Result<Vec<ops::LogPart>, OpError> {
        match self {
            Reader::Local(s, dir) => {
                let filter = action.map(ops::parse_action_filter).transpose()?;
                ops::logs(s, dir, id, filter.as_ref())
            }
            Reader::Remote(c) => c.logs(id, action).await,
        }
    }

    /// Every pipeline.
    pub async fn pipelines(&self) -> Result<Vec<crate::store::PipelineSummary>, OpError> {
        match self {
            Reader::Local(s, _) => ops::list_pipelines(s),
            Reader::Remote(c) => c.list_pipelines().await,
        }
    }

    /// A pipeline's definition.
    pub async fn pipeline(
        &self,
        name: &str,
        version: Option<u32>,
    ) -> Result<crate::engine::PipelineVersion, OpError> {
        match self {
            Reader::Local(s, _) => ops::get_pipeline(s, name, version),
            Reader::Remote(c) => c.get_pipeline(name, version).await,
        }
    }

    /// The full id of an execution given by a unique prefix.
    pub async fn resolve(&self, id: &str) -> Result<String, OpError> {
        match self {
            Reader::Local(s, _) => ops::resolve_execution(s, id),
            Reader::Remote(c) => c.execution(id).await.map(|d| d.execution.id),
        }
    }
}

impl Context {
    /// Where to read state: the server, when there is one, else the
    /// database (which must exist).
    pub fn reader(&self) -> Result<Reader, String> {
        match &self.server {
            Some(c) => Ok(Reader::Remote(c.clone())),
            None => Ok(Reader::Local(
                self.existing_store()?,
                self.state_dir.clone(),
            )),
        }
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
        Ok(Catalog::new(sandbox, base_dir, Some(components)).with_plugins(self.plugins()))
    }

    /// The plugins installed in the state directory.
    pub fn plugins(&self) -> crate::plugin::PluginRegistry {
        crate::plugin::PluginRegistry::new(&self.state_dir)
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
    warn_lines!("error: {message}");
    EXIT_USAGE
}
