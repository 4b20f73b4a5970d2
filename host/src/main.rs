//! The `sluice` command: parses flags and the environment, then calls the
//! library. Environment variables are read here and nowhere else.

use clap::{Args, Parser, Subcommand};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use sluice::cli;
use sluice::cli::control::StartArgs;
use sluice::engine::Command as EngineCommand;
use sluice::providers::ProviderRef;

#[derive(Parser)]
#[command(
    name = "sluice",
    version,
    about = "Continuous delivery pipelines whose actions are sandboxed WebAssembly components."
)]
struct Cli {
    /// Where compiled components are cached [default: $SLUICE_CACHE_DIR,
    /// else $XDG_CACHE_HOME/sluice, else ~/.cache/sluice]
    #[arg(long, global = true, value_name = "DIR")]
    cache_dir: Option<PathBuf>,

    /// The state directory: pipelines, executions, artifacts, logs.
    #[arg(
        long,
        global = true,
        value_name = "DIR",
        env = "SLUICE_STATE_DIR",
        default_value = ".sluice"
    )]
    state_dir: PathBuf,

    /// Talk to this server (`http://host:port`) instead of the state
    /// directory [default: the server driving the state directory, if any]
    #[arg(long, global = true, value_name = "URL", env = "SLUICE_SERVER")]
    server: Option<String>,

    /// The server's API token, for changes [default: $SLUICE_TOKEN, else
    /// the state directory's api-token]
    #[arg(long, global = true, value_name = "FILE")]
    token_file: Option<PathBuf>,

    /// Run granted programs without isolation: with this user's whole file
    /// system and network. Only for hosts that cannot isolate programs and
    /// run nothing but trusted pipelines.
    #[arg(long, global = true, env = "SLUICE_UNSANDBOXED_PROGRAMS")]
    unsandboxed_programs: bool,

    /// How long a provider's `describe` and `validate` may take, e.g. `10s`
    /// [default: 60s]
    #[arg(long, global = true, value_name = "DURATION", env = "SLUICE_QUERY_TIMEOUT", value_parser = parse_duration)]
    query_timeout: Option<std::time::Duration>,

    /// The shortest delay before an in-progress provider is called back,
    /// whatever it asks for [default: 1s]; the delay also grows with the
    /// time an action has been running (an eighth of it), up to 60 times
    /// this.
    #[arg(long, global = true, value_name = "DURATION", env = "SLUICE_RECHECK_FLOOR", value_parser = parse_duration)]
    recheck_floor: Option<std::time::Duration>,

    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Apply a pipeline, run an execution through it and show its progress.
    /// Exit status: 0 when it succeeded, 1 when it failed or stopped.
    Run {
        /// The pipeline definition (YAML or JSON).
        file: PathBuf,
        /// A pipeline variable for this execution, NAME=VALUE (repeatable).
        #[arg(long = "var", value_name = "NAME=VALUE", value_parser = cli::parse_key_value)]
        variables: Vec<(String, String)>,
        /// Use this revision for a source action, ACTION=REVISION (repeatable).
        #[arg(long = "revision", value_name = "ACTION=REVISION", value_parser = cli::parse_key_value)]
        revisions: Vec<(String, String)>,
        /// Approve manual approvals without asking.
        #[arg(long)]
        yes: bool,
    },
    /// Check a pipeline definition and report every problem.
    Validate {
        /// The pipeline definition (YAML or JSON).
        file: PathBuf,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Apply, list, show or delete pipelines.
    #[command(subcommand)]
    Pipeline(PipelineCommand),
    /// Start an execution of an applied pipeline.
    Start {
        /// The pipeline.
        name: String,
        /// A pipeline variable for this execution, NAME=VALUE (repeatable).
        #[arg(long = "var", value_name = "NAME=VALUE", value_parser = cli::parse_key_value)]
        variables: Vec<(String, String)>,
        /// Use this revision for a source action, ACTION=REVISION (repeatable).
        #[arg(long = "revision", value_name = "ACTION=REVISION", value_parser = cli::parse_key_value)]
        revisions: Vec<(String, String)>,
        /// Follow the execution until it ends (exit 0 when it succeeded).
        #[arg(long)]
        wait: bool,
        /// With --wait: approve manual approvals without asking.
        #[arg(long)]
        yes: bool,
    },
    /// A pipeline's state: each stage's latest execution, the inbound
    /// execution, transitions, action statuses.
    State {
        /// The pipeline.
        name: String,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// A pipeline's executions, newest first.
    Executions {
        /// The pipeline.
        name: String,
        /// How many.
        #[arg(long, default_value_t = 20)]
        limit: usize,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// One execution: stages, actions, summaries, variables, errors, artifacts.
    Execution {
        /// The execution's id (or a unique prefix).
        id: String,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Stop an execution: let running actions finish, or abandon them.
    Stop {
        /// The execution's id (or a unique prefix).
        id: String,
        /// Abandon running actions instead of waiting for them.
        #[arg(long)]
        abandon: bool,
        /// Why.
        #[arg(long)]
        reason: Option<String>,
    },
    /// Retry a failed or stopped stage of an execution.
    Retry {
        /// The execution's id (or a unique prefix).
        id: String,
        /// The stage.
        stage: String,
        /// Run every action again, not only the failed ones.
        #[arg(long)]
        all: bool,
    },
    /// Approve a manual approval.
    Approve(Decision),
    /// Reject a manual approval.
    Reject(Decision),
    /// Enable or disable the transition into a stage.
    #[command(subcommand)]
    Transition(TransitionCommand),
    /// Print the logs of an execution's actions.
    Logs {
        /// The execution's id (or a unique prefix).
        id: String,
        /// Only this action, STAGE/ACTION.
        #[arg(long)]
        action: Option<String>,
    },
    /// Drive the state directory in the foreground: run what is queued and
    /// in progress.
    Drive {
        /// Stop when nothing is in progress or queued.
        #[arg(long)]
        until_idle: bool,
    },
    /// Run the engine as a server: the HTTP API, the web console,
    /// triggers and notifications, until SIGINT or SIGTERM.
    Serve {
        /// Where to listen.
        #[arg(long, default_value = "127.0.0.1:7878")]
        listen: std::net::SocketAddr,
        /// Allow an address other than loopback (reads then need the token
        /// too).
        #[arg(long)]
        public: bool,
        /// Do not poll sources or answer hooks.
        #[arg(long)]
        no_triggers: bool,
    },
    /// Print the JSON Schema of pipeline definitions.
    Schema,
    /// Run or inspect a single provider, without a pipeline.
    #[command(subcommand)]
    Action(ActionCommand),
    /// Measure what Sluice's operations cost.
    #[command(subcommand)]
    Bench(BenchCommand),
    /// Plugin packages: pack, sign, trust, install, list, inspect, remove.
    #[command(subcommand)]
    Plugin(cli::plugin::PluginCommand),
}

#[derive(Subcommand)]
enum PipelineCommand {
    /// Validate a definition and record it as the pipeline's new version.
    Apply {
        /// The pipeline definition (YAML or JSON).
        file: PathBuf,
    },
    /// List pipelines.
    List {
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Print a pipeline's definition.
    Get {
        /// The pipeline.
        name: String,
        /// A version other than the current one.
        #[arg(long)]
        version: Option<u32>,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Delete a pipeline and its history.
    Delete {
        /// The pipeline.
        name: String,
    },
}

#[derive(Args)]
struct Decision {
    /// The execution's id (or a unique prefix).
    id: String,
    /// The stage.
    stage: String,
    /// The approval action.
    action: String,
    /// A comment.
    #[arg(long)]
    summary: Option<String>,
}

#[derive(Subcommand)]
enum TransitionCommand {
    /// Disable the transition into a stage: executions wait in front of it.
    Disable {
        /// The pipeline.
        name: String,
        /// The stage.
        stage: String,
        /// Why.
        #[arg(long)]
        reason: Option<String>,
    },
    /// Enable the transition into a stage.
    Enable {
        /// The pipeline.
        name: String,
        /// The stage.
        stage: String,
        /// Why.
        #[arg(long)]
        reason: Option<String>,
    },
}

#[derive(Subcommand)]
enum ActionCommand {
    /// Run one provider on one job and print its log and outcome.
    /// Exit status: 0 succeeded, 1 failed, 2 usage or sandbox error.
    Run(ActionRun),
    /// Print what a provider says about itself.
    Describe(ActionDescribe),
}

#[derive(Args)]
struct ActionRun {
    /// `builtin:NAME` or a path to a .wasm component.
    #[arg(long, value_parser = parse_provider)]
    provider: ProviderRef,
    /// A configuration property, KEY=VALUE (repeatable).
    #[arg(long = "config", value_name = "KEY=VALUE", value_parser = cli::parse_key_value)]
    config: Vec<(String, String)>,
    /// An input artifact, NAME=FOLDER, mounted read-only (repeatable).
    #[arg(long = "input", value_name = "NAME=DIR", value_parser = parse_mount)]
    inputs: Vec<(String, PathBuf)>,
    /// An output artifact, NAME=FOLDER, created when missing (repeatable).
    #[arg(long = "output", value_name = "NAME=DIR", value_parser = parse_mount)]
    outputs: Vec<(String, PathBuf)>,
    /// Time limit for the whole action, e.g. 30s, 5m [default: 1h].
    #[arg(long, value_parser = parse_duration)]
    timeout: Option<Duration>,
    /// Memory limit of the instance, e.g. 256MiB [default: 1GiB].
    #[arg(long, value_parser = parse_bytes)]
    memory: Option<u64>,
    /// Print the outcome as JSON on standard output (the log goes to
    /// standard error).
    #[arg(long)]
    json: bool,
    /// Grant a program, as `grants.process.programs` does (repeatable).
    #[arg(long = "grant-program", value_name = "NAME")]
    grant_programs: Vec<String>,
    /// An environment variable for granted programs, NAME=VALUE (repeatable).
    #[arg(long = "grant-env", value_name = "NAME=VALUE", value_parser = cli::parse_key_value)]
    grant_env: Vec<(String, String)>,
    /// Allow HTTP requests to this URL prefix (repeatable).
    #[arg(long = "grant-url", value_name = "URL")]
    grant_urls: Vec<String>,
    /// Grant a secret the host holds (SLUICE_SECRET_<NAME>) (repeatable).
    #[arg(long = "grant-secret", value_name = "NAME")]
    grant_secrets: Vec<String>,
    /// Grant a host folder at /paths/NAME, NAME=DIR, read-only; NAME=DIR:rw
    /// for read-write (repeatable).
    #[arg(long = "grant-path", value_name = "NAME=DIR[:rw]", value_parser = parse_grant_path)]
    grant_paths: Vec<(String, PathBuf, bool)>,
}

#[derive(Args)]
struct ActionDescribe {
    /// `builtin:NAME` or a path to a .wasm component.
    #[arg(long, value_parser = parse_provider)]
    provider: ProviderRef,
    /// Print JSON.
    #[arg(long)]
    json: bool,
}

#[derive(Subcommand)]
enum BenchCommand {
    /// Per-action cost of builtin:noop, or of a component given with
    /// --component (warm, cold from the compile cache, compiled from
    /// scratch) against spawning /bin/true.
    Action {
        /// Iterations of the warm measurements.
        #[arg(long, default_value_t = 2000)]
        iterations: u32,
        /// Iterations of the cold-load and compile measurements.
        #[arg(long, default_value_t = 20)]
        slow_iterations: u32,
        /// Print JSON.
        #[arg(long)]
        json: bool,
        /// Measure this component instead of builtin:noop.
        #[arg(long, value_name = "FILE.wasm")]
        component: Option<PathBuf>,
        /// Configuration of the measured job.
        #[arg(long = "config", value_name = "KEY=VALUE", value_parser = cli::parse_key_value)]
        config: Vec<(String, String)>,
        /// Input artifacts of the measured job.
        #[arg(long = "input", value_name = "NAME=DIR", value_parser = parse_mount)]
        inputs: Vec<(String, PathBuf)>,
        /// Output artifacts the measured job gets.
        #[arg(long, default_value_t = 0)]
        outputs: u8,
    },
    /// What a granted program costs through the sandbox, isolated and
    /// unsandboxed, against spawning `sh -c true` directly.
    Program {
        /// Programs run per measurement.
        #[arg(long, default_value_t = 200)]
        iterations: u32,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Throughput of no-op actions through the whole engine (parallel mode,
    /// many executions, durable state).
    Engine {
        /// Executions started at once.
        #[arg(long, default_value_t = 400)]
        executions: u32,
        /// No-op actions in each of the two stages after the source.
        #[arg(long, default_value_t = 6)]
        actions_per_stage: u32,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Handing a large artifact from one action to the next (ingest +
    /// mount) against `cp -r` of the same tree.
    Handoff {
        /// Files in the artifact.
        #[arg(long, default_value_t = 10_000)]
        files: u32,
        /// Bytes in the artifact (e.g. 1GiB, 64MiB).
        #[arg(long, default_value = "1GiB", value_parser = sluice::units::parse_bytes)]
        bytes: u64,
        /// Times each measurement runs.
        #[arg(long, default_value_t = 5)]
        iterations: u32,
        /// Where to make the trees (default: a temporary folder).
        #[arg(long)]
        dir: Option<std::path::PathBuf>,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Wall time of `sluice run` on a 3-stage no-op pipeline, fresh
    /// process, warm compile cache.
    Run {
        /// Runs to time.
        #[arg(long, default_value_t = 30)]
        iterations: u32,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
}

fn parse_provider(text: &str) -> Result<ProviderRef, String> {
    text.parse()
}

fn parse_mount(text: &str) -> Result<(String, PathBuf), String> {
    let (name, path) = cli::parse_key_value(text)?;
    Ok((name, PathBuf::from(path)))
}

fn parse_grant_path(text: &str) -> Result<(String, PathBuf, bool), String> {
    let (name, path) = cli::parse_key_value(text)?;
    match path.strip_suffix(":rw") {
        Some(p) => Ok((name, PathBuf::from(p), true)),
        None => Ok((
            name,
            PathBuf::from(path.strip_suffix(":ro").unwrap_or(&path)),
            false,
        )),
    }
}

fn parse_duration(text: &str) -> Result<Duration, String> {
    sluice::units::parse_duration(text)
}

fn parse_bytes(text: &str) -> Result<u64, String> {
    sluice::units::parse_bytes(text)
}

fn default_cache_dir() -> Option<PathBuf> {
    if let Some(dir) = std::env::var_os("SLUICE_CACHE_DIR") {
        return Some(PathBuf::from(dir));
    }
    if let Some(dir) = std::env::var_os("XDG_CACHE_HOME") {
        return Some(PathBuf::from(dir).join("sluice"));
    }
    std::env::var_os("HOME").map(|home| PathBuf::from(home).join(".cache").join("sluice"))
}

/// Who approves, rejects or starts from this shell: `$SLUICE_USER`,
/// `$USER`, `$LOGNAME`, else the account name of this process's user.
fn user() -> String {
    ["SLUICE_USER", "USER", "LOGNAME"]
        .iter()
        .find_map(|v| std::env::var(v).ok().filter(|u| !u.is_empty()))
        .unwrap_or_else(|| {
            let uid = rustix::process::getuid().as_raw();
            std::fs::read_to_string("/etc/passwd")
                .ok()
                .and_then(|passwd| {
                    passwd.lines().find_map(|line| {
                        let fields: Vec<&str> = line.split(':').collect();
                        (fields.get(2) == Some(&uid.to_string().as_str()))
                            .then(|| fields[0].to_string())
                    })
                })
                .unwrap_or_else(|| format!("uid {uid}"))
        })
}

/// Resolves an execution id prefix, or exits with the error.
async fn execution_id(ctx: &cli::Context, id: &str) -> Result<String, u8> {
    cli::show::resolve_id(ctx, id).await.map_err(cli::fail)
}

/// The server the command line should talk to: `--server` /
/// `SLUICE_SERVER`, else the one driving the state directory. Its token
/// comes from `--token-file`, `SLUICE_TOKEN`, or the state directory.
fn server_client(cli: &Cli, user: &str) -> Option<sluice::client::Client> {
    let url = match &cli.server {
        Some(url) => url.clone(),
        None => sluice::server::running_server(&cli.state_dir)?.url,
    };
    let token = cli
        .token_file
        .as_ref()
        .and_then(|f| std::fs::read_to_string(f).ok())
        .or_else(|| std::env::var("SLUICE_TOKEN").ok())
        .or_else(|| std::fs::read_to_string(sluice::server::token_path(&cli.state_dir)).ok())
        .map(|t| t.trim().to_string())
        .filter(|t| !t.is_empty());
    Some(sluice::client::Client::new(&url, token, user))
}

async fn decide(ctx: &cli::Context, decision: Decision, approved: bool) -> u8 {
    let id = match execution_id(ctx, &decision.id).await {
        Ok(id) => id,
        Err(code) => return code,
    };
    cli::control::send(
        ctx,
        EngineCommand::Decide {
            execution: id,
            stage: decision.stage,
            action: decision.action,
            approved,
            by: ctx.host.user.clone(),
            summary: decision.summary,
        },
    )
    .await
}

/// Rust ignores SIGPIPE, so printing into a closed pipe (`sluice
/// executions NAME | head -1`) fails, and `println!` panics. A command-line
/// tool should end quietly instead, as the default disposition does. Not
/// for `serve`: a server must outlive whoever reads its output. Sockets
/// are unaffected (they are written with `MSG_NOSIGNAL`), and no child's
/// standard input is ever a pipe.
#[allow(unsafe_code)]
fn restore_default_sigpipe() {
    // SAFETY: setting a signal's disposition to the default, before any
    // other thread exists.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
}

fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("SLUICE_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .with_writer(std::io::stderr)
        .init();
    let cli = Cli::parse();
    if !matches!(cli.command, Command::Serve { .. }) {
        restore_default_sigpipe();
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("can start the async runtime");
    let host = sluice::config::HostConfig {
        state_dir: cli.state_dir.clone(),
        cache_dir: cli.cache_dir.clone().or_else(default_cache_dir),
        user: user(),
        secrets: sluice::secrets::SecretStore::from_env(std::env::vars()),
        process: sluice::sandbox::ProcessSettings {
            isolation: if cli.unsandboxed_programs {
                sluice::sandbox::Isolation::Unsandboxed
            } else {
                sluice::sandbox::Isolation::Namespaces
            },
            ..sluice::sandbox::ProcessSettings::from_path_list(
                &std::env::var("PATH").unwrap_or_else(|_| "/usr/local/bin:/usr/bin:/bin".into()),
            )
        },
        query_timeout: cli.query_timeout,
        engine: sluice::engine::DriverSettings {
            recheck: match cli.recheck_floor {
                Some(floor) => sluice::engine::RecheckPolicy::with_floor(floor),
                None => Default::default(),
            },
        },
    };
    let ctx = cli::Context { host, server: None };
    // Every command but `serve` (and those that never touch state) talks to
    // a server when one drives the state directory or is named.
    let mut ctx = ctx;
    if !matches!(
        cli.command,
        Command::Serve { .. }
            | Command::Schema
            | Command::Action(_)
            | Command::Bench(_)
            | Command::Plugin(_)
            | Command::Validate { .. }
    ) {
        ctx.server = server_client(&cli, &ctx.host.user);
    }
    let code = runtime.block_on(async move {
        match cli.command {
            Command::Run {
                file,
                variables,
                revisions,
                yes,
            } => {
                cli::control::run(
                    &ctx,
                    &file,
                    StartArgs {
                        variables,
                        revisions,
                        yes,
                        wait: true,
                    },
                )
                .await
            }
            Command::Validate { file, json } => cli::pipeline::validate(&ctx, &file, json).await,
            Command::Pipeline(PipelineCommand::Apply { file }) => {
                cli::pipeline::apply(&ctx, &file).await
            }
            Command::Pipeline(PipelineCommand::List { json }) => {
                cli::pipeline::list(&ctx, json).await
            }
            Command::Pipeline(PipelineCommand::Get {
                name,
                version,
                json,
            }) => cli::pipeline::get(&ctx, &name, version, json).await,
            Command::Pipeline(PipelineCommand::Delete { name }) => {
                cli::pipeline::delete(&ctx, &name).await
            }
            Command::Start {
                name,
                variables,
                revisions,
                wait,
                yes,
            } => {
                cli::control::start(
                    &ctx,
                    &name,
                    StartArgs {
                        variables,
                        revisions,
                        yes,
                        wait,
                    },
                    "sluice start",
                )
                .await
            }
            Command::State { name, json } => cli::show::state(&ctx, &name, json).await,
            Command::Executions { name, limit, json } => {
                cli::show::executions(&ctx, &name, limit, json).await
            }
            Command::Execution { id, json } => cli::show::execution(&ctx, &id, json).await,
            Command::Logs { id, action } => cli::show::logs(&ctx, &id, action.as_deref()).await,
            Command::Stop {
                id,
                abandon,
                reason,
            } => match execution_id(&ctx, &id).await {
                Ok(id) => {
                    cli::control::send(
                        &ctx,
                        EngineCommand::Stop {
                            execution: id,
                            abandon,
                            reason,
                        },
                    )
                    .await
                }
                Err(code) => code,
            },
            Command::Retry { id, stage, all } => match execution_id(&ctx, &id).await {
                Ok(id) => {
                    cli::control::send(
                        &ctx,
                        EngineCommand::Retry {
                            execution: id,
                            stage,
                            all,
                        },
                    )
                    .await
                }
                Err(code) => code,
            },
            Command::Approve(decision) => decide(&ctx, decision, true).await,
            Command::Reject(decision) => decide(&ctx, decision, false).await,
            Command::Transition(TransitionCommand::Disable {
                name,
                stage,
                reason,
            }) => {
                cli::control::send(
                    &ctx,
                    EngineCommand::Transition {
                        pipeline: name,
                        stage,
                        enabled: false,
                        reason,
                        by: ctx.host.user.clone(),
                    },
                )
                .await
            }
            Command::Transition(TransitionCommand::Enable {
                name,
                stage,
                reason,
            }) => {
                cli::control::send(
                    &ctx,
                    EngineCommand::Transition {
                        pipeline: name,
                        stage,
                        enabled: true,
                        reason,
                        by: ctx.host.user.clone(),
                    },
                )
                .await
            }
            Command::Drive { until_idle } => cli::control::drive(&ctx, until_idle).await,
            Command::Schema => cli::pipeline::schema(),
            Command::Plugin(command) => cli::plugin::run(&ctx, command).await,
            Command::Serve {
                listen,
                public,
                no_triggers,
            } => {
                cli::serve::serve(
                    &ctx,
                    listen,
                    public,
                    sluice::server::ServeOptions {
                        token_file: cli.token_file.clone(),
                        triggers: !no_triggers,
                    },
                )
                .await
            }
            Command::Action(command) => {
                let sandbox = match ctx.host.sandbox() {
                    Ok(s) => s,
                    Err(message) => {
                        eprintln!("error: {message}");
                        return cli::EXIT_USAGE;
                    }
                };
                match command {
                    ActionCommand::Run(args) => {
                        cli::action::run(
                            &sandbox,
                            cli::action::RunArgs {
                                provider: args.provider,
                                config: args.config,
                                inputs: args.inputs,
                                outputs: args.outputs,
                                timeout: args.timeout,
                                memory: args.memory,
                                json: args.json,
                                grants: cli::action::GrantArgs {
                                    programs: args.grant_programs,
                                    env: args.grant_env,
                                    urls: args.grant_urls,
                                    secrets: args.grant_secrets,
                                    paths: args.grant_paths,
                                },
                                secrets: ctx.host.secrets.clone(),
                                recheck: ctx.host.engine.recheck,
                                hidden: std::path::absolute(&ctx.host.state_dir)
                                    .ok()
                                    .map(|p| p.canonicalize().unwrap_or(p))
                                    .into_iter()
                                    .collect(),
                            },
                        )
                        .await
                    }
                    ActionCommand::Describe(args) => {
                        cli::action::describe(&sandbox, &args.provider, args.json).await
                    }
                }
            }
            Command::Bench(BenchCommand::Engine {
                executions,
                actions_per_stage,
                json,
            }) => {
                cli::bench::engine(
                    cli::bench::EngineBenchArgs {
                        executions,
                        actions_per_stage,
                        json,
                    },
                    ctx.host.cache_dir.clone(),
                )
                .await
            }
            Command::Bench(BenchCommand::Handoff {
                files,
                bytes,
                iterations,
                dir,
                json,
            }) => cli::bench::handoff(cli::bench::HandoffArgs {
                files,
                bytes,
                iterations,
                dir,
                json,
            }),
            Command::Bench(BenchCommand::Program { iterations, json }) => {
                cli::bench_program::program(iterations, json).await
            }
            Command::Bench(BenchCommand::Run { iterations, json }) => {
                cli::bench::run_command(iterations, json, ctx.host.cache_dir.clone())
            }
            Command::Bench(BenchCommand::Action {
                iterations,
                slow_iterations,
                json,
                component,
                config,
                inputs,
                outputs,
            }) => {
                cli::bench::action(cli::bench::BenchArgs {
                    iterations,
                    slow_iterations,
                    json,
                    component,
                    config,
                    inputs,
                    outputs,
                })
                .await
            }
        }
    });
    ExitCode::from(code)
}
