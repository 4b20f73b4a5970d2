//! `sluice bench engine` (no-op actions through the whole engine) and
//! `sluice bench run` (a fresh `sluice run` process).

use super::{Measurement, mean, median, micros, print_table, time};
use clap::Args;
use std::time::{Duration, Instant};

/// Settings of the engine benchmark.
#[derive(Debug, Clone, Args)]
pub struct EngineBenchArgs {
    /// Executions started at once.
    #[arg(long, default_value_t = 400)]
    pub executions: u32,
    /// No-op actions in each of the two stages after the source.
    #[arg(long, default_value_t = 6)]
    pub actions_per_stage: u32,
    /// Hosts sharing the work (PostgreSQL only): the driving one and
    /// N-1 more whose workers claim the calls it has no slot for (in this
    /// process, each with a state directory and connections of its own).
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u64).range(1..=16))]
    pub hosts: u64,
    /// Provider calls each host runs at once.
    #[arg(long, default_value_t = crate::engine::jobs::DEFAULT_SLOTS as u64, value_parser = clap::value_parser!(u64).range(1..=1024))]
    pub slots: u64,
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
}

/// Throughput of no-op actions through the whole engine, durable state
/// included: many executions of a parallel-mode pipeline at once; on
/// `host_database` (PostgreSQL, `--database`) when given, else SQLite.
pub async fn engine(
    args: EngineBenchArgs,
    cache_dir: Option<std::path::PathBuf>,
    host_database: Option<String>,
) -> u8 {
    match engine_inner(&args, cache_dir, host_database).await {
        Ok(report) => {
            if args.json {
                println!("{}", serde_json::to_string_pretty(&report).unwrap());
            } else {
                println!(
                    "{} executions x {} actions = {} actions in {:.3}s: {:.0} actions/s ({:.0} µs per action; {} CPUs; {}; {} host(s) x {} slots)",
                    report["executions"],
                    report["actions_per_execution"],
                    report["actions"],
                    report["seconds"].as_f64().unwrap(),
                    report["actions_per_second"].as_f64().unwrap(),
                    report["micros_per_action"].as_f64().unwrap(),
                    report["cpus"],
                    report["database"].as_str().unwrap_or("?"),
                    report["hosts"],
                    report["slots"],
                );
                if report["database"] == "postgres" {
                    println!(
                        "  per action: {:.2} database round trips, {:.0} µs waited for them (all threads); sessions waiting for a lock: {:.3} on average; calls by host: {}",
                        report["round_trips_per_action"].as_f64().unwrap_or(0.0),
                        report["database_wait_micros_per_action"]
                            .as_f64()
                            .unwrap_or(0.0),
                        report["lock_waiters_mean"].as_f64().unwrap_or(0.0),
                        report["calls_by_host"]
                    );
                }
            }
            crate::cli::EXIT_OK
        }
        Err(e) => crate::cli::fail(e),
    }
}

async fn engine_inner(
    args: &EngineBenchArgs,
    cache_dir: Option<std::path::PathBuf>,
    host_database: Option<String>,
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
    let ctx = crate::cli::Context {
        host: crate::config::HostConfig {
            state_dir: work.path().join("state"),
            cache_dir,
            user: "bench".into(),
            ..Default::default()
        },
        server: None,
        token_file: None,
    };
    if let Some(url) = &host_database {
        crate::store::use_database(&ctx.host.state_dir, url).map_err(|e| e.to_string())?;
    } else if args.hosts > 1 {
        return Err(
            "--hosts needs --database postgres://...: hosts share work through PostgreSQL".into(),
        );
    }
    let loaded = crate::model::load(&file).map_err(|r| r.to_string())?;
    let sandbox = ctx.host.sandbox()?;
    crate::cli::pipeline::apply_loaded(&ctx, &loaded, sandbox.clone())
        .await
        .map_err(|code| format!("applying the benchmark pipeline failed ({code})"))?;
    let host = |i: u64| crate::engine::DriverSettings {
        slots: crate::engine::jobs::Slots::new(args.slots as usize),
        host_name: Some(format!("bench-{i}")),
        ..ctx.host.engine.clone()
    };
    let engine = Driver::start_with(
        &ctx.host.state_dir,
        sandbox.clone(),
        Default::default(),
        host(0),
    )
    .await
    .map_err(|e| e.to_string())?;
    let mut workers = Vec::new();
    for i in 1..args.hosts {
        let dir = work.path().join(format!("state-{i}"));
        let url = host_database.as_deref().expect("checked above");
        crate::store::use_database(&dir, url).map_err(|e| e.to_string())?;
        workers.push(
            crate::engine::jobs::Worker::start(&dir, sandbox.clone(), Default::default(), &host(i))
                .map_err(|e| e.to_string())?,
        );
    }
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
    // Sessions waiting for a lock, sampled every 5 ms while it runs.
    let sampling = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(true));
    let sampler = {
        let sampling = sampling.clone();
        let state_dir = ctx.host.state_dir.clone();
        tokio::task::spawn_blocking(move || {
            let Ok(store) = Store::open(&state_dir) else {
                return (0, 0);
            };
            let (mut samples, mut waiting) = (0i64, 0i64);
            while sampling.load(std::sync::atomic::Ordering::Relaxed) {
                if let Ok(n) = store.lock_waiters() {
                    samples += 1;
                    waiting += n;
                }
                std::thread::sleep(Duration::from_millis(5));
            }
            (samples, waiting)
        })
    };
    let (trips_before, waited_before) = crate::store::round_trips();
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
    let (trips_after, waited_after) = crate::store::round_trips();
    sampling.store(false, std::sync::atomic::Ordering::Relaxed);
    let (samples, waiting) = sampler.await.map_err(|e| e.to_string())?;
    engine.shutdown().await?;
    for worker in workers {
        worker.shutdown().await;
    }
    let mut calls_by_host = std::collections::BTreeMap::<String, u64>::new();
    for job in store.job_records().map_err(|e| e.to_string())? {
        if ids.contains(&job.execution) {
            *calls_by_host
                .entry(job.worker.unwrap_or_default())
                .or_default() += 1;
        }
    }
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
        "database": if host_database.is_some() { "postgres" } else { "sqlite" },
        "hosts": args.hosts,
        "slots": args.slots,
        "round_trips_per_action": (trips_after - trips_before) as f64 / total as f64,
        "database_wait_micros_per_action": (waited_after - waited_before).as_secs_f64() * 1e6 / total as f64,
        "lock_waiters_mean": if samples > 0 { waiting as f64 / samples as f64 } else { 0.0 },
        "calls_by_host": calls_by_host,
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
            crate::cli::EXIT_OK
        }
        Err(e) => crate::cli::fail(e),
    }
}
