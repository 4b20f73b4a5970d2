//! `sluice bench action`: what running one action costs, against the cost
//! of spawning `/bin/true` measured in the same run.

use super::{Measurement, mean, median, micros, print_table, time};
use crate::providers::ProviderRef;
use crate::sandbox::{ActionLog, Job, Limits, LoadedFrom, Outcome, SandboxBuilder};
use clap::Args;
use std::path::Path;
use std::time::{Duration, Instant};

/// Settings of one benchmark run.
#[derive(Debug, Clone, Args)]
pub struct BenchArgs {
    /// Iterations of the warm measurements.
    #[arg(long, default_value_t = 2000)]
    pub iterations: u32,
    /// Iterations of the cold-load and compile measurements.
    #[arg(long, default_value_t = 20)]
    pub slow_iterations: u32,
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
    /// Measure this component instead of builtin:noop.
    #[arg(long, value_name = "FILE.wasm")]
    pub component: Option<std::path::PathBuf>,
    /// Configuration of the measured job.
    #[arg(long = "config", value_name = "KEY=VALUE", value_parser = crate::cli::parse_key_value)]
    pub config: Vec<(String, String)>,
    /// Input artifacts of the measured job.
    #[arg(long = "input", value_name = "NAME=DIR", value_parser = crate::cli::parse_mount)]
    pub inputs: Vec<(String, std::path::PathBuf)>,
    /// Output artifacts the measured job gets (`out`, `out2`, ...).
    #[arg(long, default_value_t = 0)]
    pub outputs: u8,
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
            crate::cli::EXIT_OK
        }
        Err(message) => {
            eprintln!("error: {message}");
            crate::cli::EXIT_USAGE
        }
    }
}

/// Runs the action benchmark and returns the measurements, spawn first.
pub async fn action_inner(args: &BenchArgs) -> Result<Vec<Measurement>, String> {
    let work = tempfile::tempdir().map_err(|e| e.to_string())?;
    let cache = work.path().join("cache");
    let (noop, label) = match &args.component {
        Some(path) => (
            ProviderRef::File(path.clone())
                .component()
                .map_err(|e| e.to_string())?,
            path.file_name().map_or_else(
                || path.display().to_string(),
                |n| n.to_string_lossy().into_owned(),
            ),
        ),
        None => (
            ProviderRef::Builtin("noop".into())
                .component()
                .map_err(|e| e.to_string())?,
            "builtin:noop".to_string(),
        ),
    };
    let sized = format!("{label} ({:.1} MB)", noop.bytes.len() as f64 / 1e6);

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
    let job = bench_job(args, &scratch, work.path())?;
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
        run_once(
            &provider,
            &bench_job(args, &dir, work.path())?,
            &limits,
            &log,
        )
        .await?;
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
        measure(&format!("{label} warm"), &warm),
        measure(&format!("{label} warm + scratch folder"), &with_scratch),
        measure(&format!("{label} cold from compile cache"), &cold),
        measure(&format!("{sized} compiled from scratch"), &compile),
    ])
}

/// The measured job: no configuration, artifacts or grants for the no-op;
/// the given configuration and inputs, and fresh outputs, for a component.
fn bench_job(args: &BenchArgs, scratch: &Path, work: &Path) -> Result<Job, String> {
    crate::authoring::fixture_job(
        "bench",
        &args.config,
        &args.inputs,
        usize::from(args.outputs),
        &work.join("outputs"),
        scratch,
    )
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
        other => Err(format!("the measured job did not succeed: {other:?}")),
    }
}
