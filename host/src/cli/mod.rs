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
pub mod serve;
pub mod show;

use crate::ops::{self, OpError};
use crate::store::Store;
use std::path::PathBuf;

/// Exit code: the action (or pipeline) succeeded.
pub const EXIT_OK: u8 = 0;
/// Exit code: the action (or pipeline) failed.
pub const EXIT_FAILED: u8 = 1;
/// Exit code: bad usage, bad input, or the sandbox could not run it.
pub const EXIT_USAGE: u8 = 2;

/// What every command may need: the host's configuration, and the server
/// to talk to instead of the state directory, when there is one.
#[derive(Debug, Clone)]
pub struct Context {
    /// The host's configuration.
    pub host: crate::config::HostConfig,
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
                self.host.existing_store()?,
                self.host.state_dir.clone(),
            )),
        }
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
