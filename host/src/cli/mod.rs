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
pub mod control;
pub mod gc;
pub mod migrate;
pub mod pipeline;
pub mod plugin;
pub mod progress;
pub mod serve;
pub mod show;
pub mod token;
pub mod worker;

use crate::queries::{self, OpError};
use crate::store::Store;
use clap::{Args, Subcommand};
use std::path::PathBuf;

/// Every `sluice` command; each module owns its arguments.
#[derive(Subcommand)]
pub enum CliCommand {
    /// Apply a pipeline, run an execution through it and show its progress.
    /// Exit status: 0 when it succeeded, 1 when it failed or stopped.
    Run(control::RunArgs),
    /// Check a pipeline definition and report every problem.
    Validate(pipeline::ValidateArgs),
    /// Apply, list, show or delete pipelines.
    #[command(subcommand)]
    Pipeline(pipeline::PipelineCommand),
    /// Start an execution of an applied pipeline.
    Start(control::StartArgs),
    /// A pipeline's state: each stage's latest execution, the inbound
    /// execution, transitions, action statuses.
    State(show::StateArgs),
    /// A pipeline's executions, newest first.
    Executions(show::ExecutionsArgs),
    /// One execution: stages, actions, summaries, variables, errors, artifacts.
    Execution(show::ExecutionArgs),
    /// Stop an execution: let running actions finish, or abandon them.
    Stop(control::StopArgs),
    /// Retry a failed or stopped stage of an execution.
    Retry(control::RetryArgs),
    /// Approve a manual approval.
    Approve(control::DecisionArgs),
    /// Reject a manual approval.
    Reject(control::DecisionArgs),
    /// Enable or disable the transition into a stage.
    #[command(subcommand)]
    Transition(control::TransitionCommand),
    /// Print the logs of an execution's actions.
    Logs(show::LogsArgs),
    /// Drive the state directory in the foreground: run what is queued and
    /// in progress.
    Drive(control::DriveArgs),
    /// Run the engine as a server: the HTTP API, the web console,
    /// triggers and notifications, until SIGINT or SIGTERM.
    Serve(serve::ServeArgs),
    /// Only run provider calls for the hosts driving a shared database
    /// (--database postgres://... and --artifacts s3://...), until SIGINT
    /// or SIGTERM.
    Worker(worker::WorkerArgs),
    /// Remove what retention lets go now: old executions with their logs
    /// and unused artifacts, answered requests (the driver does it every
    /// ten minutes).
    Gc(gc::GcArgs),
    /// Named API tokens and their roles: create, list, revoke.
    #[command(subcommand)]
    Token(token::TokenCommand),
    /// Who changed what, newest first.
    Audit(token::AuditArgs),
    /// Create the state database's schema, or bring it up to this
    /// sluice's (SQLite in the state directory, or the PostgreSQL database
    /// of --database); a newer schema is refused and left alone.
    Migrate(migrate::MigrateArgs),
    /// Print the JSON Schema of pipeline definitions.
    Schema,
    /// Run or inspect a single provider, without a pipeline.
    #[command(subcommand)]
    Action(action::ActionCommand),
    /// Measure what Sluice's operations cost.
    #[command(subcommand)]
    Bench(bench::BenchCommand),
    /// Plugin packages: pack, sign, trust, install, list, inspect, remove.
    #[command(subcommand)]
    Plugin(plugin::PluginCommand),
}

impl CliCommand {
    /// Whether the command reads or changes a state directory, and so
    /// talks to the server driving it when there is one.
    pub fn uses_state(&self) -> bool {
        !matches!(
            self,
            CliCommand::Serve(_)
                | CliCommand::Worker(_)
                | CliCommand::Migrate(_)
                | CliCommand::Schema
                | CliCommand::Action(_)
                | CliCommand::Bench(_)
                | CliCommand::Plugin(_)
                | CliCommand::Validate(_)
        )
    }

    /// Whether the command keeps its state in the state directory's
    /// database (and so records `--database` there).
    pub fn keeps_state(&self) -> bool {
        !matches!(
            self,
            CliCommand::Schema
                | CliCommand::Action(_)
                | CliCommand::Bench(_)
                | CliCommand::Plugin(_)
                | CliCommand::Validate(_)
        )
    }

    /// Whether the command is a server (which must outlive whoever reads
    /// its output).
    pub fn is_server(&self) -> bool {
        matches!(self, CliCommand::Serve(_) | CliCommand::Worker(_))
    }

    /// Runs the command; returns the exit code.
    pub async fn run(self, ctx: &Context) -> u8 {
        match self {
            CliCommand::Run(args) => control::run(ctx, args).await,
            CliCommand::Validate(args) => pipeline::validate(ctx, args).await,
            CliCommand::Pipeline(command) => pipeline::run(ctx, command).await,
            CliCommand::Start(args) => control::start(ctx, args).await,
            CliCommand::State(args) => show::state(ctx, args).await,
            CliCommand::Executions(args) => show::executions(ctx, args).await,
            CliCommand::Execution(args) => show::execution(ctx, args).await,
            CliCommand::Stop(args) => control::stop(ctx, args).await,
            CliCommand::Retry(args) => control::retry(ctx, args).await,
            CliCommand::Approve(args) => control::decide(ctx, args, true).await,
            CliCommand::Reject(args) => control::decide(ctx, args, false).await,
            CliCommand::Transition(command) => control::transition(ctx, command).await,
            CliCommand::Logs(args) => show::logs(ctx, args).await,
            CliCommand::Drive(args) => control::drive(ctx, args).await,
            CliCommand::Serve(args) => serve::serve(ctx, args).await,
            CliCommand::Worker(args) => worker::worker(ctx, args).await,
            CliCommand::Gc(args) => gc::gc(ctx, args).await,
            CliCommand::Token(command) => token::run(ctx, command).await,
            CliCommand::Audit(args) => token::audit(ctx, args).await,
            CliCommand::Schema => pipeline::schema(),
            CliCommand::Migrate(args) => migrate::migrate(ctx, args).await,
            CliCommand::Action(command) => action::run(ctx, command).await,
            CliCommand::Bench(command) => bench::run(ctx, command).await,
            CliCommand::Plugin(command) => plugin::run(ctx, command).await,
        }
    }
}

/// `--json`, for the commands that can print JSON.
#[derive(Debug, Clone, Copy, Args)]
pub struct JsonFlag {
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
}

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
    /// Where the API token is kept, when `--token-file` says (for `serve`).
    pub token_file: Option<PathBuf>,
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
    pub async fn state(
        &self,
        name: &str,
    ) -> Result<crate::engine::pipeline_state::PipelineState, OpError> {
        match self {
            Reader::Local(s, _) => queries::state(s, name),
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
            Reader::Local(s, _) => queries::list_executions(s, name, limit),
            Reader::Remote(c) => c.executions(name, limit).await,
        }
    }

    /// An execution with every attempt.
    pub async fn execution(&self, id: &str) -> Result<queries::ExecutionDetail, OpError> {
        match self {
            Reader::Local(s, _) => queries::execution(s, id),
            Reader::Remote(c) => c.execution(id).await,
        }
    }

    /// Logs of an execution's actions.
    pub async fn logs(
        &self,
        id: &str,
        action: Option<&str>,
        attempt: Option<u32>,
        range: queries::LogRange,
    ) -> Result<Vec<queries::LogPart>, OpError> {
        match self {
            Reader::Local(s, dir) => {
                let filter = action.map(queries::parse_action_filter).transpose()?;
                queries::logs(s, dir, id, filter.as_ref(), attempt, range)
            }
            Reader::Remote(c) => c.logs(id, action, attempt, range).await,
        }
    }

    /// Every pipeline.
    pub async fn pipelines(&self) -> Result<Vec<crate::store::PipelineSummary>, OpError> {
        match self {
            Reader::Local(s, _) => queries::list_pipelines(s),
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
            Reader::Local(s, _) => queries::get_pipeline(s, name, version),
            Reader::Remote(c) => c.get_pipeline(name, version).await,
        }
    }

    /// The full id of an execution given by a unique prefix.
    pub async fn resolve(&self, id: &str) -> Result<String, OpError> {
        match self {
            Reader::Local(s, _) => queries::resolve_execution(s, id),
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

/// Records a change made from this command line in the audit log (a
/// server records the changes it is asked for itself).
pub fn audit_local(ctx: &Context, action: &str, target: &str, outcome: &str) {
    if ctx.server.is_some() {
        return;
    }
    if let Ok(mut store) = ctx.host.store() {
        let actor = format!("cli ({})", ctx.host.user);
        let _ = store.audit(&actor, action, target, outcome);
    }
}

/// Parses `NAME=DIR`.
pub fn parse_mount(text: &str) -> Result<(String, PathBuf), String> {
    let (name, path) = parse_key_value(text)?;
    Ok((name, PathBuf::from(path)))
}

/// Parses a duration as people write it (`30s`, `5m`).
pub fn parse_duration(text: &str) -> Result<std::time::Duration, String> {
    crate::units::parse_duration(text)
}

/// Parses a size as people write it (`256MiB`).
pub fn parse_bytes(text: &str) -> Result<u64, String> {
    crate::units::parse_bytes(text)
}

/// The server the command line should talk to: `url` (`--server`,
/// `SLUICE_SERVER`), else the one driving the state directory. Its token
/// is the first of `token`, the contents of `token_file`, and the state
/// directory's `api-token`.
pub fn server_client(
    url: Option<String>,
    token: Option<String>,
    token_file: Option<&std::path::Path>,
    state_dir: &std::path::Path,
    user: &str,
) -> Option<crate::client::Client> {
    let url = match url {
        Some(url) => url,
        None => crate::server::running_server(state_dir)?.url,
    };
    let token = token_file
        .and_then(|f| std::fs::read_to_string(f).ok())
        .or(token)
        .or_else(|| std::fs::read_to_string(crate::server::token_path(state_dir)).ok())
        .map(|t| t.trim().to_string())
        .filter(|t| !t.is_empty());
    Some(crate::client::Client::new(&url, token, user))
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
