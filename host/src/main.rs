//! The `sluice` command: parses flags and the environment, then calls the
//! library. Environment variables are read here and nowhere else.

use clap::{Args, Parser, Subcommand};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use sluice::cli;
use sluice::providers::ProviderRef;
use sluice::sandbox::{Sandbox, SandboxBuilder};

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

    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run or inspect a single provider, without a pipeline.
    #[command(subcommand)]
    Action(ActionCommand),
    /// Measure what Sluice's operations cost.
    #[command(subcommand)]
    Bench(BenchCommand),
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
    /// Per-action cost of builtin:noop (warm, cold from the compile cache,
    /// compiled from scratch) against spawning /bin/true.
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
    },
}

fn parse_provider(text: &str) -> Result<ProviderRef, String> {
    text.parse()
}

fn parse_mount(text: &str) -> Result<(String, PathBuf), String> {
    let (name, path) = cli::parse_key_value(text)?;
    Ok((name, PathBuf::from(path)))
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

fn sandbox(cache_dir: Option<PathBuf>) -> Result<Sandbox, String> {
    let mut builder = SandboxBuilder::new();
    if let Some(dir) = cache_dir.or_else(default_cache_dir) {
        builder = builder.cache_dir(dir.join("compiled"));
    }
    builder.build().map_err(|e| e.to_string())
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
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("can start the async runtime");
    let code = runtime.block_on(async move {
        match cli.command {
            Command::Action(command) => {
                let sandbox = match sandbox(cli.cache_dir) {
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
                            },
                        )
                        .await
                    }
                    ActionCommand::Describe(args) => {
                        cli::action::describe(&sandbox, &args.provider, args.json).await
                    }
                }
            }
            Command::Bench(BenchCommand::Action {
                iterations,
                slow_iterations,
                json,
            }) => {
                cli::bench::action(cli::bench::BenchArgs {
                    iterations,
                    slow_iterations,
                    json,
                })
                .await
            }
        }
    });
    ExitCode::from(code)
}
