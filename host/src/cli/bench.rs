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
    /// Measure this component instead of `builtin:noop`.
    pub component: Option<std::path::PathBuf>,
    /// Its job's configuration.
    pub config: Vec<(String, String)>,
    /// Its job's input artifacts: name and folder.
    pub inputs: Vec<(String, std::path::PathBuf)>,
    /// How many output artifacts its job gets (`out`, `out2`, ...).
    pub outputs: u8,
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

pub(super) fn median(samples: &[Duration]) -> Duration {
    let mut sorted = samples.to_vec();
    sorted.sort();
    sorted[sorted.len() / 2]
}

pub(super) fn mean(samples: &[Duration]) -> Duration {
    samples.iter().sum::<Duration>() / samples.len() as u32
}

pub(super) fn micros(d: Duration) -> f64 {
    d.as_secs_f64() * 1e6
}

pub(super) fn print_table(results: &[Measurement]) {
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

/// Settings of the engine benchmark.
#[derive(Debug, Clone)]
pub struct EngineBenchArgs {
    /// Executions started at once.
    pub executions: u32,
    /// No-op actions in each of the two stages after the source stage.
    pub actions_per_stage: u32,
    /// Print JSON.
    pub json: bool,
}

/// Throughput of no-op actions through the whole engine, durable state
/// included: many executions of a parallel-mode pipeline at once.
pub async fn engine(args: EngineBenchArgs, cache_dir: Option<std::path::PathBuf>) -> u8 {
    match engine_inner(&args, cache_dir).await {
        Ok(report) => {
            if args.json {
                println!("{}", serde_json::to_string_pretty(&report).unwrap());
            } else {
                println!(
                    "{} executions x {} actions = {} actions in {:.3}s: {:.0} actions/s ({:.0} µs per action; {} CPUs)",
                    report["executions"],
                    report["actions_per_execution"],
                    report["actions"],
                    report["seconds"].as_f64().unwrap(),
                    report["actions_per_second"].as_f64().unwrap(),
                    report["micros_per_action"].as_f64().unwrap(),
                    report["cpus"]
                );
            }
            super::EXIT_OK
        }
        Err(e) => super::fail(e),
    }
}

async fn engine_inner(
    args: &EngineBenchArgs,
    cache_dir: Option<std::path::PathBuf>,
) -> Result<serde_json::Value, String> {
    use crate::engine::{Command, Start};
    use crate::engine::{Driver, ExecutionStatus};
    use crate::store::Store;
    let work = tempfile::tempdir().map_err(|e| e.to_string())?;
    let site = work.path().join("site");
    std::fs::create_dir_all(&site).map_err(|e| e.to_string())?;
    std::fs::write(site.join("index.html"), "hello").map_err(|e| e.to_string())?;
    let actions: String = (0..args.actions_per_stage)
        .map(|i| format!("      - {{ name: N{i}, provider: \"builtin:noop\" }}\n"))
        .collect();
    let yaml = format!(
        "name: bench\nexecution_mode: parallel\nstages:\n  - name: Source\n    actions:\n      - {{ name: Site, provider: \"builtin:directory\", outputs: [S], grants: {{ paths: {{ source: {{ path: site }} }} }} }}\n  - name: One\n    actions:\n{actions}  - name: Two\n    actions:\n{actions}"
    );
    let file = work.path().join("bench.yaml");
    std::fs::write(&file, yaml).map_err(|e| e.to_string())?;
    let ctx = super::Context {
        host: crate::config::HostConfig {
            state_dir: work.path().join("state"),
            cache_dir,
            user: "bench".into(),
            ..Default::default()
        },
        server: None,
    };
    let loaded = crate::model::load(&file).map_err(|r| r.to_string())?;
    let sandbox = ctx.host.sandbox()?;
    super::pipeline::apply_loaded(&ctx, &loaded, sandbox.clone())
        .await
        .map_err(|code| format!("applying the benchmark pipeline failed ({code})"))?;
    let engine = Driver::start_with(
        &ctx.host.state_dir,
        sandbox,
        Default::default(),
        ctx.host.engine,
    )
    .await
    .map_err(|e| e.to_string())?;
    // Warm up: one execution through, so providers are loaded.
    let start = || {
        Command::Start(Start {
            pipeline: "bench".into(),
            variables: Default::default(),
            revisions: Default::default(),
            trigger: "bench".into(),
            token: None,
        })
    };
    let started_id = |answer: crate::engine::Answer| {
        answer
            .map_err(|e| e.to_string())?
            .execution
            .ok_or_else(|| "a start answered no execution".to_string())
    };
    let warm_id = started_id(engine.command(start()).await)?;
    let store = Store::open(&ctx.host.state_dir).map_err(|e| e.to_string())?;
    wait_all(&store, std::slice::from_ref(&warm_id)).await?;

    let mut events = engine.subscribe();
    let started = Instant::now();
    let mut ids = Vec::new();
    for _ in 0..args.executions {
        ids.push(started_id(engine.command(start()).await)?);
    }
    // Follow completions through the engine's events.
    let mut remaining: std::collections::HashSet<String> = ids.iter().cloned().collect();
    while !remaining.is_empty() {
        match events.recv().await {
            Ok(crate::engine::EngineEvent::Execution(e)) => {
                if e.status.is_terminal() {
                    if e.status != ExecutionStatus::Succeeded {
                        return Err(format!("execution {} ended {}", e.id, e.status.as_str()));
                    }
                    remaining.remove(&e.id);
                }
            }
            Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => {
                wait_all(&store, &ids).await?;
                break;
            }
            Err(e) => return Err(e.to_string()),
        }
    }
    let elapsed = started.elapsed();
    engine.shutdown().await?;
    let per_execution = 1 + 2 * args.actions_per_stage as u64;
    let total = per_execution * args.executions as u64;
    let seconds = elapsed.as_secs_f64();
    Ok(serde_json::json!({
        "executions": args.executions,
        "actions_per_execution": per_execution,
        "actions": total,
        "seconds": seconds,
        "actions_per_second": total as f64 / seconds,
        "micros_per_action": seconds * 1e6 / total as f64,
        "cpus": std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1),
    }))
}

async fn wait_all(store: &crate::store::Store, ids: &[String]) -> Result<(), String> {
    for id in ids {
        loop {
            let e = store
                .execution(id, |_, _| None)
                .map_err(|e| e.to_string())?
                .ok_or("an execution vanished")?;
            if e.status.is_terminal() {
                if e.status != crate::engine::ExecutionStatus::Succeeded {
                    return Err(format!(
                        "execution {id} ended {}: {:?}",
                        e.status.as_str(),
                        e.status_reason
                    ));
                }
                break;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }
    Ok(())
}

/// Wall time of `sluice run` on a three-stage no-op pipeline, each run a
/// fresh process with a warm compile cache, against spawning `/bin/true`.
pub fn run_command(iterations: u32, json: bool, cache_dir: Option<std::path::PathBuf>) -> u8 {
    let result = (|| -> Result<Vec<Measurement>, String> {
        let work = tempfile::tempdir().map_err(|e| e.to_string())?;
        let site = work.path().join("site");
        std::fs::create_dir_all(&site).map_err(|e| e.to_string())?;
        std::fs::write(site.join("index.html"), "hello").map_err(|e| e.to_string())?;
        let file = work.path().join("three.yaml");
        std::fs::write(
            &file,
            "name: three\nstages:\n  - name: Source\n    actions:\n      - { name: Site, provider: \"builtin:directory\", outputs: [S], grants: { paths: { source: { path: site } } } }\n  - name: Build\n    actions:\n      - { name: Noop, provider: \"builtin:noop\" }\n  - name: Deploy\n    actions:\n      - { name: Noop, provider: \"builtin:noop\" }\n",
        )
        .map_err(|e| e.to_string())?;
        let exe = std::env::current_exe().map_err(|e| e.to_string())?;
        let cache = cache_dir.unwrap_or_else(|| work.path().join("cache"));
        let state = work.path().join("state");
        let run = || -> Result<(), String> {
            let output = std::process::Command::new(&exe)
                .arg("--state-dir")
                .arg(&state)
                .arg("--cache-dir")
                .arg(&cache)
                .arg("run")
                .arg(&file)
                .stdin(std::process::Stdio::null())
                .output()
                .map_err(|e| e.to_string())?;
            if !output.status.success() {
                return Err(format!(
                    "sluice run failed: {}{}",
                    String::from_utf8_lossy(&output.stdout),
                    String::from_utf8_lossy(&output.stderr)
                ));
            }
            Ok(())
        };
        // Warm the compile cache and the state directory.
        run()?;
        run()?;
        let spawn = time(iterations, || {
            let status = std::process::Command::new("/bin/true")
                .status()
                .expect("/bin/true runs");
            assert!(status.success());
        });
        let mut runs = Vec::new();
        for _ in 0..iterations {
            let started = Instant::now();
            run()?;
            runs.push(started.elapsed());
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
            measure("sluice run, 3 no-op stages, fresh process", &runs),
        ])
    })();
    match result {
        Ok(results) => {
            if json {
                println!("{}", serde_json::to_string_pretty(&results).unwrap());
            } else {
                print_table(&results);
            }
            super::EXIT_OK
        }
        Err(e) => super::fail(e),
    }
}

/// Settings of the hand-off benchmark.
#[derive(Debug, Clone)]
pub struct HandoffArgs {
    /// Files in the artifact.
    pub files: u32,
    /// Bytes in the artifact, spread evenly over the files.
    pub bytes: u64,
    /// Times each measurement runs.
    pub iterations: u32,
    /// Where the trees are made (default: a temporary folder).
    pub dir: Option<std::path::PathBuf>,
    /// Print JSON.
    pub json: bool,
}

/// One figure of the hand-off benchmark.
#[derive(Debug, Clone, serde::Serialize)]
pub struct HandoffMeasurement {
    /// What was measured.
    pub name: String,
    /// How many times.
    pub iterations: u32,
    /// Median, in milliseconds.
    pub median_ms: f64,
    /// Median as a multiple of `cp -r`'s median.
    pub ratio_to_cp: f64,
}

/// Hands a large artifact from one action to the next, as the engine does
/// between a producer's success and its consumer's start (ingest the
/// output folder into the store, then mount it for the consumer), against
/// `cp -r` of the same tree in the same run. Sealing (hashing every byte,
/// done in the background afterwards) is measured too.
pub fn handoff(args: HandoffArgs) -> u8 {
    match handoff_inner(&args) {
        Ok(results) => {
            if args.json {
                println!("{}", serde_json::to_string_pretty(&results).unwrap());
            } else {
                println!(
                    "{:<58} {:>5} {:>11} {:>9}",
                    "measurement", "runs", "median", "x cp -r"
                );
                for m in &results {
                    println!(
                        "{:<58} {:>5} {:>9.1}ms {:>8.3}x",
                        m.name, m.iterations, m.median_ms, m.ratio_to_cp
                    );
                }
            }
            super::EXIT_OK
        }
        Err(e) => super::fail(e),
    }
}

fn handoff_inner(args: &HandoffArgs) -> Result<Vec<HandoffMeasurement>, String> {
    use crate::artifacts::ArtifactStore;
    if args.files == 0 || args.iterations == 0 {
        return Err("--files and --iterations must be at least 1".into());
    }
    let temp = match &args.dir {
        Some(d) => tempfile::tempdir_in(d),
        None => tempfile::tempdir(),
    }
    .map_err(|e| format!("making a work folder: {e}"))?;
    let work = temp.path();
    let source = work.join("source");
    eprintln!(
        "making {} in {} files under {}...",
        crate::units::format_bytes(args.bytes),
        args.files,
        source.display()
    );
    make_tree(&source, args.files, args.bytes).map_err(|e| format!("making the tree: {e}"))?;
    let store = ArtifactStore::open(&work.join("artifacts")).map_err(|e| e.to_string())?;
    let cp = |to: &Path| -> Result<Duration, String> {
        let started = Instant::now();
        let status = std::process::Command::new("cp")
            .arg("-r")
            .arg(&source)
            .arg(to)
            .status()
            .map_err(|e| format!("running cp: {e}"))?;
        if !status.success() {
            return Err(format!("cp -r failed: {status}"));
        }
        Ok(started.elapsed())
    };

    let mut copies = Vec::new();
    let mut ingests = Vec::new();
    let mut mounts = Vec::new();
    let mut handoffs = Vec::new();
    let mut seals = Vec::new();
    for i in 0..args.iterations {
        // The baseline: copying the tree.
        let copy = work.join(format!("copy-{i}"));
        copies.push(cp(&copy)?);
        // The producer's output folder, as it left it (not timed).
        let output = work.join(format!("output-{i}"));
        std::fs::rename(&copy, &output).map_err(|e| e.to_string())?;
        let started = Instant::now();
        let (manifest, digest) = store
            .ingest(&output, &mut crate::contain::Budget::unlimited())
            .map_err(|e| e.to_string())?;
        let ingested = started.elapsed();
        let mounted_at = Instant::now();
        let tree = store.mount("Big", &digest).map_err(|e| e.to_string())?;
        let mounted = mounted_at.elapsed();
        handoffs.push(started.elapsed());
        ingests.push(ingested);
        mounts.push(mounted);
        if manifest.file_count() != args.files as usize || !tree.is_dir() {
            return Err(format!(
                "the artifact has {} files, not {}",
                manifest.file_count(),
                args.files
            ));
        }
        let sealing = Instant::now();
        store.seal("Big", &digest).map_err(|e| e.to_string())?;
        seals.push(sealing.elapsed());
        std::fs::remove_dir_all(&tree).map_err(|e| e.to_string())?;
    }
    let base = median(&copies).as_secs_f64();
    let figure = |name: String, samples: &[Duration]| HandoffMeasurement {
        name,
        iterations: samples.len() as u32,
        median_ms: median(samples).as_secs_f64() * 1e3,
        ratio_to_cp: median(samples).as_secs_f64() / base,
    };
    let what = format!(
        "{} in {} files",
        crate::units::format_bytes(args.bytes),
        args.files
    );
    Ok(vec![
        figure(format!("cp -r, {what} (baseline)"), &copies),
        figure(format!("hand-off (ingest + mount), {what}"), &handoffs),
        figure(
            "  ingest: tidy, manifest, move into the store".into(),
            &ingests,
        ),
        figure(
            "  mount: manifest checked, folder handed over".into(),
            &mounts,
        ),
        figure(
            "seal (background, after hand-off): sha256 of every byte".into(),
            &seals,
        ),
    ])
}

/// `files` files of pseudo-random bytes (incompressible, all distinct),
/// `bytes` in all, 100 to a folder.
fn make_tree(root: &Path, files: u32, bytes: u64) -> std::io::Result<()> {
    use std::io::Write;
    let per_file = bytes / u64::from(files);
    let mut state = 0x9E37_79B9_7F4A_7C15u64;
    let mut buffer = vec![0u8; per_file.min(1 << 20) as usize];
    for i in 0..files {
        let folder = root.join(format!("d{:03}", i / 100));
        if i % 100 == 0 {
            std::fs::create_dir_all(&folder)?;
        }
        let mut file =
            std::io::BufWriter::new(std::fs::File::create(folder.join(format!("f{i:05}.bin")))?);
        let mut left = per_file + if i == 0 { bytes % u64::from(files) } else { 0 };
        while left > 0 {
            for chunk in buffer.chunks_mut(8) {
                // xorshift64*
                state ^= state >> 12;
                state ^= state << 25;
                state ^= state >> 27;
                let word = state.wrapping_mul(0x2545_F491_4F6C_DD1D).to_le_bytes();
                chunk.copy_from_slice(&word[..chunk.len()]);
            }
            let n = left.min(buffer.len() as u64) as usize;
            file.write_all(&buffer[..n])?;
            left -= n as u64;
        }
        file.flush()?;
    }
    Ok(())
}
