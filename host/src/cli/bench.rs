//! `sluice bench action`: what running one action costs, against the cost
//! of spawning `/bin/true` measured in the same run.
//!
//! Machines are shared and noisy, so absolute times mean little; the ratio
//! to a process spawn measured a moment earlier on the same machine is the
//! figure to compare.

use crate::providers::ProviderRef;
use crate::sandbox::{ActionLog, Job, Limits, LoadedFrom, Outcome, SandboxBuilder};
use std::path::Path;
use std::time::{Duration, Instant};

/// Settings of one benchmark run.
#[derive(Debug, Clone)]
pub struct BenchArgs {
    /// Warm iterations (spawns and no-op jobs).
    pub iterations: u32,
    /// Iterations of the slow measurements (cold load, compile).
    pub slow_iterations: u32,
    /// Print JSON instead of a table.
    pub json: bool,
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

/// Runs the action benchmark and prints the table. Returns the exit code.
pub async fn action(args: BenchArgs) -> u8 {
    match action_inner(&args).await {
        Ok(results) => {
            if args.json {
                println!("{}", serde_json::to_string_pretty(&results).unwrap());
            } else {
                print_table(&results);
            }
            super::EXIT_OK
        }
        Err(message) => {
            eprintln!("error: {message}");
            super::EXIT_USAGE
        }
    }
}

/// Runs the action benchmark and returns the measurements, spawn first.
pub async fn action_inner(args: &BenchArgs) -> Result<Vec<Measurement>, String> {
    let work = tempfile::tempdir().map_err(|e| e.to_string())?;
    let cache = work.path().join("cache");
    let noop = ProviderRef::Builtin("noop".into())
        .component()
        .map_err(|e| e.to_string())?;

    // Baseline: spawning /bin/true and waiting for it.
    let spawn = time(args.iterations, || {
        let status = std::process::Command::new("/bin/true")
            .status()
            .expect("/bin/true runs");
        assert!(status.success());
    });

    // Warm: a loaded provider, one fresh instance and WASI context per job.
    let sandbox = SandboxBuilder::new()
        .cache_dir(&cache)
        .build()
        .map_err(|e| e.to_string())?;
    let (provider, _) = sandbox.load(&noop).map_err(|e| e.to_string())?;
    let scratch = work.path().join("scratch");
    std::fs::create_dir_all(&scratch).map_err(|e| e.to_string())?;
    let job = noop_job(&scratch);
    let limits = Limits::default();
    let log = ActionLog::discard();
    // Warm up the pool and the caches before measuring.
    for _ in 0..50 {
        run_once(&provider, &job, &limits, &log).await?;
    }
    let mut warm = Vec::with_capacity(args.iterations as usize);
    for _ in 0..args.iterations {
        let started = Instant::now();
        run_once(&provider, &job, &limits, &log).await?;
        warm.push(started.elapsed());
    }

    // Warm, including what the engine adds per action: a fresh scratch
    // folder created and removed.
    let mut with_scratch = Vec::with_capacity(args.iterations as usize);
    for i in 0..args.iterations {
        let started = Instant::now();
        let dir = work.path().join(format!("s{i}"));
        std::fs::create_dir(&dir).map_err(|e| e.to_string())?;
        run_once(&provider, &noop_job(&dir), &limits, &log).await?;
        std::fs::remove_dir_all(&dir).map_err(|e| e.to_string())?;
        with_scratch.push(started.elapsed());
    }

    // Cold: load from the on-disk compile cache, then run one job.
    let mut cold = Vec::new();
    for _ in 0..args.slow_iterations {
        sandbox.forget_loaded();
        let started = Instant::now();
        let (provider, from) = sandbox.load(&noop).map_err(|e| e.to_string())?;
        if from != LoadedFrom::CompileCache {
            return Err(format!("expected a compile-cache load, got {from:?}"));
        }
        run_once(&provider, &job, &limits, &log).await?;
        cold.push(started.elapsed());
    }

    // From scratch: compile, check imports, pre-instantiate, run one job.
    let uncached = SandboxBuilder::new().build().map_err(|e| e.to_string())?;
    let mut compile = Vec::new();
    for _ in 0..args.slow_iterations.clamp(1, 10) {
        uncached.forget_loaded();
        let started = Instant::now();
        let (provider, from) = uncached.load(&noop).map_err(|e| e.to_string())?;
        if from != LoadedFrom::Compiled {
            return Err(format!("expected a compile, got {from:?}"));
        }
        run_once(&provider, &job, &limits, &log).await?;
        compile.push(started.elapsed());
    }

    let base = median(&spawn);
    let measure = |name: &str, samples: &[Duration]| Measurement {
        name: name.to_string(),
        iterations: samples.len() as u32,
        median_us: micros(median(samples)),
        mean_us: micros(mean(samples)),
        ratio_to_spawn: micros(median(samples)) / micros(base),
    };
    Ok(vec![
        measure("spawn /bin/true (baseline)", &spawn),
        measure("builtin:noop warm", &warm),
        measure("builtin:noop warm + scratch folder", &with_scratch),
        measure("builtin:noop cold from compile cache", &cold),
        measure("builtin:noop compiled from scratch", &compile),
    ])
}

async fn run_once(
    provider: &crate::sandbox::Provider,
    job: &Job,
    limits: &Limits,
    log: &ActionLog,
) -> Result<(), String> {
    let report = provider
        .run(job, limits, log)
        .await
        .map_err(|e| e.to_string())?;
    match report.outcome {
        Outcome::Succeeded { .. } => Ok(()),
        other => Err(format!("builtin:noop did not succeed: {other:?}")),
    }
}

fn noop_job(scratch: &Path) -> Job {
    Job {
        id: "bench".into(),
        execution_id: "bench".into(),
        pipeline: "bench".into(),
        stage: "bench".into(),
        action: "noop".into(),
        attempt: 1,
        scratch: scratch.to_path_buf(),
        ..Job::default()
    }
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

fn median(samples: &[Duration]) -> Duration {
    let mut sorted = samples.to_vec();
    sorted.sort();
    sorted[sorted.len() / 2]
}

fn mean(samples: &[Duration]) -> Duration {
    samples.iter().sum::<Duration>() / samples.len() as u32
}

fn micros(d: Duration) -> f64 {
    d.as_secs_f64() * 1e6
}

fn print_table(results: &[Measurement]) {
    println!(
        "{:<42} {:>6} {:>12} {:>12} {:>10}",
        "measurement", "runs", "median", "mean", "x spawn"
    );
    for m in results {
        println!(
            "{:<42} {:>6} {:>10.1}µs {:>10.1}µs {:>9.3}x",
            m.name, m.iterations, m.median_us, m.mean_us, m.ratio_to_spawn
        );
    }
}
