//! Commands that change executions: `run`, `start`, `stop`, `retry`,
//! `approve`, `reject`, `transition`, `drive`.
//!
//! One process drives a state directory (holding its lock). A command
//! either becomes that driver (when it must see an execution through and
//! no one else drives), or leaves a command the driver picks up and waits
//! for its answer. With no driver, a command is queued and the command
//! says so.

use super::progress::{Feed, follow};
use super::{Context, EXIT_FAILED, EXIT_OK, EXIT_USAGE, fail};
use crate::engine::command::answer_from_json;
use crate::engine::{
    Answer, Command, CommandError, Done, Driver, ExecutionStatus, Start, is_driven,
};
use crate::store::Store;
use clap::{Args, Subcommand};
use indexmap::IndexMap;
use std::path::PathBuf;
use std::time::Duration;

/// How a command reaches the engine.
pub enum Controller {
    /// This process drives.
    Local(Driver),
    /// Another process drives; commands go through the store.
    Remote(Store),
    /// No one drives; commands are queued in the store.
    Queued(Store),
    /// A server drives; commands go through its API.
    Server(crate::client::Client),
}

impl Controller {
    /// Becomes the driver if no one drives and `drive` is true; otherwise
    /// talks to the driver, or queues.
    pub async fn connect(ctx: &Context, drive: bool) -> Result<Controller, String> {
        if let Some(client) = &ctx.server {
            return Ok(Controller::Server(client.clone()));
        }
        if is_driven(&ctx.host.state_dir) {
            return Ok(Controller::Remote(ctx.host.store()?));
        }
        if drive {
            let sandbox = ctx.host.sandbox()?;
            let secrets = ctx.host.secret_store()?;
            match Driver::start_with(
                &ctx.host.state_dir,
                sandbox,
                secrets,
                ctx.host.engine.clone(),
            )
            .await
            {
                Ok(engine) => {
                    report_damaged(&engine);
                    return Ok(Controller::Local(engine));
                }
                Err(crate::engine::DriverError::Busy { .. }) => {
                    return Ok(Controller::Remote(ctx.host.store()?));
                }
                Err(e) => return Err(e.to_string()),
            }
        }
        Ok(Controller::Queued(ctx.host.existing_store()?))
    }

    /// Gives a command and waits for its answer (a queued one is answered
    /// at once, saying it is queued).
    pub async fn command(&mut self, command: Command) -> Reply {
        match self {
            Controller::Local(driver) => driver.command(command).await.into(),
            Controller::Remote(store) => remote_command(store, &command).await.into(),
            Controller::Server(client) => match client.command(&command).await {
                Ok(done) => Reply::Done(done),
                Err(error) => Reply::Refused(Refusal::Server(error)),
            },
            Controller::Queued(store) => match store.push_request(&command.to_json()) {
                Ok(_) => Reply::Queued,
                Err(e) => Reply::Refused(Refusal::Engine(CommandError::unavailable(e))),
            },
        }
    }

    /// Where to follow an execution's progress.
    pub fn feed(&self, ctx: &Context, execution: &str) -> Result<Feed, String> {
        match self {
            Controller::Local(engine) => Ok(Feed::events(
                engine.subscribe(),
                execution,
                ctx.host.store()?,
            )),
            Controller::Remote(_) | Controller::Queued(_) => {
                Ok(Feed::poll(ctx.host.store()?, execution))
            }
            Controller::Server(client) => Ok(Feed::remote(client.clone(), execution)),
        }
    }

    /// Stops driving, if this process drives.
    pub async fn finish(self, ctx: &Context) {
        if let Controller::Local(engine) = self {
            if let Err(reason) = engine.shutdown().await {
                warn_lines!("error: the engine stopped: {reason}");
            }
            if let Ok(store) = ctx.host.store()
                && let Ok(n) = store.active_count()
                && n > 0
            {
                eprintln!(
                    "note: {n} other execution{} still in progress; {} when a driver runs (`sluice drive`)",
                    if n == 1 { " is" } else { "s are" },
                    if n == 1 {
                        "it continues"
                    } else {
                        "they continue"
                    }
                );
            }
        }
    }
}

/// A command as the audit log names it (the API operation it stands for)
/// and what it is about.
fn audit_name(command: &Command) -> (&'static str, String) {
    match command {
        Command::Start(start) => (
            "StartPipelineExecution",
            format!("/api/v1/pipelines/{}/executions", start.pipeline),
        ),
        Command::Stop { execution, .. } => (
            "StopPipelineExecution",
            format!("/api/v1/executions/{execution}/stop"),
        ),
        Command::Retry {
            execution, stage, ..
        } => (
            "RetryStageExecution",
            format!("/api/v1/executions/{execution}/stages/{stage}/retry"),
        ),
        Command::Decide {
            execution,
            stage,
            action,
            ..
        } => (
            "PutApprovalResult",
            format!("/api/v1/executions/{execution}/stages/{stage}/actions/{action}/approval"),
        ),
        Command::Transition {
            pipeline, stage, ..
        } => (
            "SetStageTransition",
            format!("/api/v1/pipelines/{pipeline}/stages/{stage}/transition"),
        ),
        Command::Delete { pipeline, .. } | Command::Reload { pipeline } => {
            ("DeletePipeline", format!("/api/v1/pipelines/{pipeline}"))
        }
    }
}

/// Says which running executions a driver could not read back.
pub fn report_damaged(driver: &Driver) {
    for (id, reason) in driver.damaged() {
        warn_lines!("error: execution {id} cannot be read back and is left as it is: {reason}");
    }
}

/// What came of a command, as the command line reports it.
#[derive(Debug)]
pub enum Reply {
    /// Done.
    Done(Done),
    /// Left for a driver that is not running yet.
    Queued,
    /// Refused.
    Refused(Refusal),
}

impl From<Answer> for Reply {
    fn from(answer: Answer) -> Self {
        match answer {
            Ok(done) => Reply::Done(done),
            Err(error) => Reply::Refused(Refusal::Engine(error)),
        }
    }
}

const QUEUED: &str = "queued: no sluice process is driving this state directory; the command \
                      is applied when one starts (`sluice drive`, `sluice run`, `sluice start --wait`)";

/// A refused command: by this host's engine, or by a server.
#[derive(Debug)]
pub enum Refusal {
    /// The engine's refusal.
    Engine(CommandError),
    /// The server's error answer.
    Server(crate::queries::OpError),
}

impl Refusal {
    /// The exit code: usage (2) when the command named something that does
    /// not exist or gave a bad value, failed (1) when the engine's state
    /// refused it or the engine could not act.
    pub fn exit_code(&self) -> u8 {
        use crate::queries::ErrorCode;
        let usage = match self {
            Refusal::Engine(error) => matches!(
                error,
                CommandError::UnknownPipeline { .. }
                    | CommandError::UnknownExecution { .. }
                    | CommandError::UnknownStage { .. }
                    | CommandError::UnknownAction { .. }
                    | CommandError::UnknownVariable { .. }
                    | CommandError::MissingVariable { .. }
                    | CommandError::UnknownSourceAction { .. }
                    | CommandError::InvalidRevision { .. }
            ),
            Refusal::Server(error) => matches!(
                error.code,
                ErrorCode::NotFound | ErrorCode::InvalidRequest | ErrorCode::Unauthorized
            ),
        };
        if usage { EXIT_USAGE } else { EXIT_FAILED }
    }
}

impl std::fmt::Display for Refusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Refusal::Engine(error) => error.fmt(f),
            Refusal::Server(error) => error.fmt(f),
        }
    }
}

/// How often a command waiting for the driver says it still waits.
const PROGRESS_EVERY: Duration = Duration::from_secs(10);

/// Leaves a command for the driver and waits for its answer (for a
/// start: the execution it started), as long as the driver runs: a start
/// may take a while to record its source revisions. Says every 10 s that
/// it still waits. A driver that stops before answering leaves the
/// command queued for the next one.
async fn remote_command(store: &mut Store, command: &Command) -> Answer {
    let id = store
        .push_request(&command.to_json())
        .map_err(CommandError::unavailable)?;
    let is_start = matches!(command, Command::Start(_));
    let started = std::time::Instant::now();
    let mut said = started;
    loop {
        tokio::time::sleep(Duration::from_millis(25)).await;
        if let Ok(Some(stored)) = store.request_outcome(id) {
            let answer = answer_from_json(&stored);
            let pending = is_start && matches!(&answer, Ok(done) if done.execution.is_none());
            if !pending {
                return answer;
            }
        }
        if said.elapsed() >= PROGRESS_EVERY {
            said = std::time::Instant::now();
            eprintln!(
                "waiting for the driving process to answer ({}s{})",
                started.elapsed().as_secs(),
                if is_start {
                    ": a start records its source revisions first"
                } else {
                    ""
                }
            );
        }
        if !is_driven(store.state_dir()) {
            return Err(CommandError::unavailable(
                "the driving process stopped before answering; the command stays queued and is applied when a driver starts (`sluice drive`)",
            ));
        }
    }
}

/// What a start overrides, for `sluice run` and `sluice start`.
#[derive(Debug, Clone, Default, Args)]
pub struct StartFlags {
    /// A pipeline variable for this execution, NAME=VALUE (repeatable).
    #[arg(long = "var", value_name = "NAME=VALUE", value_parser = super::parse_key_value)]
    pub variables: Vec<(String, String)>,
    /// Use this revision for a source action, ACTION=REVISION (repeatable).
    #[arg(long = "revision", value_name = "ACTION=REVISION", value_parser = super::parse_key_value)]
    pub revisions: Vec<(String, String)>,
}

/// `sluice run`.
#[derive(Debug, Clone, Args)]
pub struct RunArgs {
    /// The pipeline definition (YAML or JSON).
    pub file: PathBuf,
    #[command(flatten)]
    pub start: StartFlags,
    /// Approve manual approvals without asking.
    #[arg(long)]
    pub yes: bool,
}

/// `sluice start`.
#[derive(Debug, Clone, Args)]
pub struct StartArgs {
    /// The pipeline.
    pub name: String,
    #[command(flatten)]
    pub start: StartFlags,
    /// An idempotency token: starting again with the same token answers the
    /// execution the first start made [default: a new one each time, so a
    /// start retried after a lost answer never starts twice]
    #[arg(long, value_name = "TOKEN")]
    pub client_token: Option<String>,
    /// Follow the execution until it ends (exit 0 when it succeeded).
    #[arg(long)]
    pub wait: bool,
    /// With --wait: approve manual approvals without asking.
    #[arg(long)]
    pub yes: bool,
}

/// `sluice stop`.
#[derive(Debug, Clone, Args)]
pub struct StopArgs {
    /// The execution's id (or a unique prefix).
    pub id: String,
    /// Abandon running actions instead of waiting for them.
    #[arg(long)]
    pub abandon: bool,
    /// Why.
    #[arg(long)]
    pub reason: Option<String>,
}

/// `sluice retry`.
#[derive(Debug, Clone, Args)]
pub struct RetryArgs {
    /// The execution's id (or a unique prefix).
    pub id: String,
    /// The stage.
    pub stage: String,
    /// Run every action again, not only the failed ones.
    #[arg(long)]
    pub all: bool,
}

/// `sluice approve` and `sluice reject`.
#[derive(Debug, Clone, Args)]
pub struct DecisionArgs {
    /// The execution's id (or a unique prefix).
    pub id: String,
    /// The stage.
    pub stage: String,
    /// The approval action.
    pub action: String,
    /// A comment.
    #[arg(long)]
    pub summary: Option<String>,
}

/// `sluice transition`.
#[derive(Debug, Clone, Subcommand)]
pub enum TransitionCommand {
    /// Disable the transition into a stage: executions wait in front of it.
    Disable(TransitionArgs),
    /// Enable the transition into a stage.
    Enable(TransitionArgs),
}

/// Which transition, and why.
#[derive(Debug, Clone, Args)]
pub struct TransitionArgs {
    /// The pipeline.
    pub name: String,
    /// The stage.
    pub stage: String,
    /// Why.
    #[arg(long)]
    pub reason: Option<String>,
}

/// `sluice drive`.
#[derive(Debug, Clone, Args)]
pub struct DriveArgs {
    /// Stop when nothing is in progress or queued.
    #[arg(long)]
    pub until_idle: bool,
}

/// `sluice run FILE`: applies the pipeline, starts an execution and shows
/// it through to the end. Exit 0 when it succeeded, 1 otherwise.
pub async fn run(ctx: &Context, args: RunArgs) -> u8 {
    let file = &args.file;
    let loaded = match crate::model::load(file) {
        Ok(l) => l,
        Err(report) => {
            super::pipeline::print_report(&report);
            return EXIT_USAGE;
        }
    };
    let applied = match &ctx.server {
        Some(client) => super::pipeline::apply_remote(client, file, &loaded).await,
        None => match ctx.host.sandbox() {
            Ok(sandbox) => super::pipeline::apply_loaded(ctx, &loaded, sandbox).await,
            Err(e) => return fail(e),
        },
    };
    let name = match applied {
        Ok((name, _, _)) => name,
        Err(code) => return code,
    };
    let start = StartArgs {
        name,
        start: args.start,
        client_token: None,
        wait: true,
        yes: args.yes,
    };
    start_as(ctx, start, "sluice run").await
}

/// `sluice start NAME`: starts an execution; with `--wait`, follows it.
pub async fn start(ctx: &Context, args: StartArgs) -> u8 {
    start_as(ctx, args, "sluice start").await
}

/// `sluice stop ID`.
pub async fn stop(ctx: &Context, args: StopArgs) -> u8 {
    match super::show::resolve_id(ctx, &args.id).await {
        Ok(execution) => {
            let stop = Command::Stop {
                execution,
                abandon: args.abandon,
                reason: args.reason,
            };
            send(ctx, stop).await
        }
        Err(e) => fail(e),
    }
}

/// `sluice retry ID STAGE`.
pub async fn retry(ctx: &Context, args: RetryArgs) -> u8 {
    match super::show::resolve_id(ctx, &args.id).await {
        Ok(execution) => {
            let retry = Command::Retry {
                execution,
                stage: args.stage,
                all: args.all,
            };
            send(ctx, retry).await
        }
        Err(e) => fail(e),
    }
}

/// `sluice approve` (`approved`) or `sluice reject`.
pub async fn decide(ctx: &Context, args: DecisionArgs, approved: bool) -> u8 {
    match super::show::resolve_id(ctx, &args.id).await {
        Ok(execution) => {
            let decide = Command::Decide {
                execution,
                stage: args.stage,
                action: args.action,
                approved,
                by: ctx.host.user.clone(),
                summary: args.summary,
            };
            send(ctx, decide).await
        }
        Err(e) => fail(e),
    }
}

/// `sluice transition enable|disable NAME STAGE`.
pub async fn transition(ctx: &Context, command: TransitionCommand) -> u8 {
    let (args, enabled) = match command {
        TransitionCommand::Disable(args) => (args, false),
        TransitionCommand::Enable(args) => (args, true),
    };
    let transition = Command::Transition {
        pipeline: args.name,
        stage: args.stage,
        enabled,
        reason: args.reason,
        by: ctx.host.user.clone(),
    };
    send(ctx, transition).await
}

/// Starts an execution as `trigger` says; with `--wait`, follows it.
async fn start_as(ctx: &Context, args: StartArgs, trigger: &str) -> u8 {
    let pipeline = &args.name;
    let mut controller = match Controller::connect(ctx, args.wait).await {
        Ok(c) => c,
        Err(e) => return fail(e),
    };
    let command = Command::Start(Start {
        pipeline: pipeline.to_string(),
        variables: args
            .start
            .variables
            .iter()
            .cloned()
            .collect::<IndexMap<_, _>>(),
        revisions: args
            .start
            .revisions
            .iter()
            .cloned()
            .collect::<IndexMap<_, _>>(),
        trigger: trigger.to_string(),
        token: None,
    });
    let feed_before = match &controller {
        // Subscribe before starting so no change is missed.
        Controller::Local(engine) => Some(engine.subscribe()),
        _ => None,
    };
    let (action, target) = audit_name(&command);
    let reply = controller.command(command).await;
    let outcome = match &reply {
        Reply::Done(_) => "ok".to_string(),
        Reply::Queued => "queued".to_string(),
        Reply::Refused(refusal) => format!("refused: {refusal}"),
    };
    super::audit_local(ctx, action, &target, &outcome);
    let id = match reply {
        Reply::Done(Done {
            execution: Some(id),
            ..
        }) => id,
        Reply::Done(done) => {
            say_lines!("{}", done.message);
            controller.finish(ctx).await;
            return EXIT_OK;
        }
        Reply::Queued => {
            say_lines!("{QUEUED}");
            controller.finish(ctx).await;
            return EXIT_OK;
        }
        Reply::Refused(refusal) => {
            controller.finish(ctx).await;
            warn_lines!("error: {refusal}");
            return refusal.exit_code();
        }
    };
    if !args.wait {
        println!("started execution {id}");
        controller.finish(ctx).await;
        return EXIT_OK;
    }
    let feed = match feed_before.map(|events| (events, ctx.host.store())) {
        Some((events, Ok(store))) => Feed::events(events, &id, store),
        _ => match controller.feed(ctx, &id) {
            Ok(f) => f,
            Err(e) => return fail(e),
        },
    };
    let status = follow(ctx, &mut controller, feed, &id, args.yes).await;
    controller.finish(ctx).await;
    match status {
        Some(ExecutionStatus::Succeeded) => EXIT_OK,
        Some(_) => EXIT_FAILED,
        None => fail("lost track of the execution"),
    }
}

/// Gives one command (stop, retry, approve, reject, transition, delete)
/// and prints how it went. Exit 0 when done (or queued); when refused, 2
/// for a name or value that is wrong, 1 for a refusal by state.
pub async fn send(ctx: &Context, command: Command) -> u8 {
    let mut controller = match Controller::connect(ctx, false).await {
        Ok(c) => c,
        Err(e) => return fail(e),
    };
    let (action, target) = audit_name(&command);
    let reply = controller.command(command).await;
    controller.finish(ctx).await;
    let outcome = match &reply {
        Reply::Done(_) => "ok".to_string(),
        Reply::Queued => "queued".to_string(),
        Reply::Refused(refusal) => format!("refused: {refusal}"),
    };
    super::audit_local(ctx, action, &target, &outcome);
    match reply {
        Reply::Done(done) => {
            say_lines!("{}", done.message);
            EXIT_OK
        }
        Reply::Queued => {
            say_lines!("{QUEUED}");
            EXIT_OK
        }
        Reply::Refused(refusal) => {
            warn_lines!("error: {refusal}");
            refusal.exit_code()
        }
    }
}

/// `sluice drive`: drives the state directory in the foreground until
/// interrupted (or, with `until_idle`, until nothing is left to do).
pub async fn drive(ctx: &Context, args: DriveArgs) -> u8 {
    let until_idle = args.until_idle;
    if let Some(client) = &ctx.server {
        return fail(format!(
            "the server at {} drives this state directory already",
            client.base
        ));
    }
    let sandbox = match ctx.host.sandbox() {
        Ok(s) => s,
        Err(e) => return fail(e),
    };
    let secrets = match ctx.host.secret_store() {
        Ok(s) => s,
        Err(e) => return fail(e),
    };
    let engine = match Driver::start_with(
        &ctx.host.state_dir,
        sandbox,
        secrets,
        ctx.host.engine.clone(),
    )
    .await
    {
        Ok(e) => e,
        Err(e) => return fail(e),
    };
    eprintln!("driving {} (Ctrl-C to stop)", ctx.host.state_dir.display());
    report_damaged(&engine);
    let store = match ctx.host.store() {
        Ok(s) => s,
        Err(e) => return fail(e),
    };
    loop {
        tokio::select! {
            _ = tokio::signal::ctrl_c() => break,
            _ = tokio::time::sleep(Duration::from_millis(200)) => {
                if until_idle
                    && store.active_count().unwrap_or(1) == 0
                    && store.pending_requests().map(|p| p.is_empty()).unwrap_or(false)
                {
                    break;
                }
            }
        }
    }
    match engine.shutdown().await {
        Ok(()) => EXIT_OK,
        Err(reason) => {
            warn_lines!("error: the engine stopped: {reason}");
            EXIT_FAILED
        }
    }
}
