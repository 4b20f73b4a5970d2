//! `sluice bench`: what Sluice's operations cost, each against a baseline
//! measured in the same run (spawning `/bin/true`, `cp -r`, `sh -c true`).
//!
//! Machines are shared and noisy, so absolute times mean little; the ratio
//! to a baseline measured a moment earlier on the same machine is the
//! figure to compare.

mod action;
mod engine;
mod handoff;
mod objects;
mod program;
mod waiting;

use super::Context;
use clap::Subcommand;
use std::path::PathBuf;
use std::time::{Duration, Instant};

pub use action::BenchArgs;
pub use engine::EngineBenchArgs;
pub use handoff::HandoffArgs;
pub use objects::ObjectsArgs;
pub use waiting::WaitingArgs;

/// `sluice bench`.
#[derive(Debug, Clone, Subcommand)]
pub enum BenchCommand {
    /// Per-action cost of builtin:noop, or of a component given with
    /// --component (warm, cold from the compile cache, compiled from
    /// scratch) against spawning /bin/true.
    Action(BenchArgs),
    /// What a granted program costs through the sandbox, isolated and
    /// unsandboxed, against spawning `sh -c true` directly.
    Program {
        /// Programs run per measurement.
        #[arg(long, default_value_t = 200)]
        iterations: u32,
        #[command(flatten)]
        output: super::JsonFlag,
    },
    /// Throughput of no-op actions through the whole engine (parallel mode,
    /// many executions, durable state).
    Engine(EngineBenchArgs),
    /// Handing a large artifact from one action to the next (ingest +
    /// mount) against `cp -r` of the same tree.
    Handoff(HandoffArgs),
    /// Putting an artifact into object storage (`--artifacts`) and
    /// fetching it back, as one archive and as one object per file,
    /// against `cp -r` of the same tree.
    Objects(ObjectsArgs),
    /// A server with many executions waiting at a manual approval: its
    /// API's reads (against its health check) and how fast it stops.
    Waiting(WaitingArgs),
    /// Wall time of `sluice run` on a 3-stage no-op pipeline, fresh
    /// process, warm compile cache.
    Run {
        /// Runs to time.
        #[arg(long, default_value_t = 30)]
        iterations: u32,
        #[command(flatten)]
        output: super::JsonFlag,
    },
}

/// Runs a `sluice bench` command; returns the exit code.
pub async fn run(ctx: &Context, command: BenchCommand) -> u8 {
    let cache_dir: Option<PathBuf> = ctx.host.cache_dir.clone();
    match command {
        BenchCommand::Action(args) => action::action(args).await,
        BenchCommand::Program { iterations, output } => {
            program::program(iterations, output.json, &ctx.host.process).await
        }
        BenchCommand::Engine(args) => {
            engine::engine(args, cache_dir.clone(), ctx.host.database.clone()).await
        }
        BenchCommand::Handoff(args) => handoff::handoff(args),
        BenchCommand::Objects(args) => {
            objects::objects(args, ctx.host.engine.artifacts.clone()).await
        }
        BenchCommand::Waiting(args) => waiting::waiting(args, cache_dir).await,
        BenchCommand::Run { iterations, output } => {
            engine::run_command(iterations, output.json, cache_dir)
        }
    }
}

/// Timing of one measurement.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Measurement {
    /// What was measured.
    pub name: String,
    /// How many times.
    pub iterations: u32,
    /// Median, in microseconds.
    pub median_us: f64,
    /// Mean, in microseconds.
    pub mean_us: f64,
    /// Median as a multiple of the `/bin/true` spawn's median.
    pub ratio_to_spawn: f64,
}

fn time(iterations: u32, mut f: impl FnMut()) -> Vec<Duration> {
    for _ in 0..(iterations / 10).max(5) {
        f();
    }
    (0..iterations)
        .map(|_| {
            let started = Instant::now();
            f();
            started.elapsed()
        })
        .collect()
}

pub(crate) fn median(samples: &[Duration]) -> Duration {
    let mut sorted = samples.to_vec();
    sorted.sort();
    sorted[sorted.len() / 2]
}

pub(crate) fn mean(samples: &[Duration]) -> Duration {
    samples.iter().sum::<Duration>() / samples.len() as u32
}

pub(crate) fn micros(d: Duration) -> f64 {
    d.as_secs_f64() * 1e6
}

pub(crate) fn print_table(results: &[Measurement]) {
    println!(
        "{:<42} {:>6} {:>12} {:>12} {:>10}",
        "measurement", "runs", "median", "mean", "x baseline"
    );
    for m in results {
        println!(
            "{:<42} {:>6} {:>10.1}µs {:>10.1}µs {:>9.3}x",
            m.name, m.iterations, m.median_us, m.mean_us, m.ratio_to_spawn
        );
    }
}
