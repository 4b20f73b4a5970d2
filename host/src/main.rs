//! The `sluice` command: parses flags, reads the environment (here and
//! nowhere else), and runs the command the library's `cli` module names.

use clap::{Args, Parser};
use sluice::cli::{self, CliCommand};
use sluice::config::{Environment, HostConfig, HostFlags};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

#[derive(Parser)]
#[command(
    name = "sluice",
    version,
    about = "Continuous delivery pipelines whose actions are sandboxed WebAssembly components."
)]
struct Cli {
    #[command(flatten)]
    global: Global,
    #[command(subcommand)]
    command: CliCommand,
}

/// The flags every command takes.
#[derive(Args)]
struct Global {
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
    /// Keep the state in this PostgreSQL database
    /// (`postgres://USER[:PASSWORD]@HOST[:PORT]/DATABASE`) instead of the
    /// state directory's own SQLite file; recorded in the state directory
    /// on first use (its `database-url`), so later commands need not repeat
    /// it. Each host has a state directory of its own.
    #[arg(long, global = true, value_name = "URL", env = "SLUICE_DATABASE")]
    database: Option<String>,
    /// Keep every artifact in this S3-compatible object storage too
    /// (`s3://BUCKET[/PREFIX]`), so hosts sharing a database find each
    /// other's artifacts; recorded in the state directory on first use.
    /// The endpoint, region and credentials come from AWS's usual variables
    /// (`AWS_ENDPOINT_URL`, `AWS_REGION`, `AWS_ACCESS_KEY_ID`,
    /// `AWS_SECRET_ACCESS_KEY`, `AWS_SESSION_TOKEN`).
    #[arg(long, global = true, value_name = "URL", env = "SLUICE_ARTIFACTS")]
    artifacts: Option<String>,
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
    #[arg(long, global = true, value_name = "DURATION", env = "SLUICE_QUERY_TIMEOUT", value_parser = cli::parse_duration)]
    query_timeout: Option<Duration>,
    /// The shortest delay before an in-progress provider is called back,
    /// whatever it asks for [default: 1s]; the delay also grows with the
    /// time an action has been running (an eighth of it), up to 60 times
    /// this.
    #[arg(long, global = true, value_name = "DURATION", env = "SLUICE_RECHECK_FLOOR", value_parser = cli::parse_duration)]
    recheck_floor: Option<Duration>,
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
    let Cli { global, command } = Cli::parse();
    if !command.is_server() {
        restore_default_sigpipe();
    }
    let env = Environment::new(std::env::vars_os());
    let flags = HostFlags {
        state_dir: global.state_dir,
        cache_dir: global.cache_dir,
        unsandboxed_programs: global.unsandboxed_programs,
        query_timeout: global.query_timeout,
        recheck_floor: global.recheck_floor,
        database: global.database,
        artifacts: global.artifacts.clone(),
    };
    let host = HostConfig::new(flags, &env);
    if command.keeps_state()
        && let Some(url) = &host.database
        && let Err(e) = sluice::store::use_database(&host.state_dir, url)
    {
        eprintln!("error: {e}");
        return ExitCode::from(2);
    }
    if command.keeps_state()
        && let Some(url) = &global.artifacts
        && let Err(e) = host.layout().record_artifacts_url(url)
    {
        eprintln!("error: {e}");
        return ExitCode::from(2);
    }
    // Commands that read or change state talk to a server when one drives
    // the state directory or is named.
    let server = command.uses_state().then(|| {
        cli::server_client(
            global.server,
            env.get("SLUICE_TOKEN").map(str::to_string),
            global.token_file.as_deref(),
            &host.state_dir,
            &host.user,
        )
    });
    let ctx = cli::Context {
        host,
        server: server.flatten(),
        token_file: global.token_file,
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("can start the async runtime");
    ExitCode::from(runtime.block_on(command.run(&ctx)))
}
