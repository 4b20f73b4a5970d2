//! `sluice bench waiting`: a server with many executions waiting at a
//! manual approval. Through its HTTP API, against its health check in the
//! same run: GetPipelineState, listing executions, one execution; then how
//! long the server takes to stop once told to.

use super::{Measurement, median, micros, print_table};
use clap::Args;
use std::time::{Duration, Instant};

/// Settings of the waiting-executions benchmark.
#[derive(Debug, Clone, Args)]
pub struct WaitingArgs {
    /// Executions left waiting at the approval.
    #[arg(long, default_value_t = 10_000)]
    pub executions: u32,
    /// The pipeline's execution mode: `parallel` (every execution inside
    /// the approval stage) or `queued` (one inside, the rest waiting in
    /// front of it).
    #[arg(long, default_value = "parallel")]
    pub mode: String,
    /// Requests per measurement.
    #[arg(long, default_value_t = 20)]
    pub iterations: u32,
    /// Also measure GetPipelineState through boto3 (the CodePipeline API)
    /// against Sluice's own API, both from this Python (one with boto3:
    /// `~/.cache/sluice/aws-clients/bin/python` after
    /// `scripts/aws-clients.sh`).
    #[arg(long, value_name = "PYTHON")]
    pub aws_python: Option<std::path::PathBuf>,
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
}

/// Runs the benchmark and prints the table.
pub async fn waiting(args: WaitingArgs, cache_dir: Option<std::path::PathBuf>) -> u8 {
    match waiting_inner(&args, cache_dir).await {
        Ok((results, stop)) => {
            if args.json {
                let report = serde_json::json!({
                    "executions": args.executions,
                    "mode": args.mode,
                    "measurements": results,
                    "stop_seconds": stop.as_secs_f64(),
                });
                println!("{}", serde_json::to_string_pretty(&report).unwrap());
            } else {
                print_table(&results);
                println!(
                    "server stopped {:.2} s after it was told to ({} executions waiting, {} mode)",
                    stop.as_secs_f64(),
                    args.executions,
                    args.mode
                );
            }
            crate::cli::EXIT_OK
        }
        Err(e) => crate::cli::fail(e),
    }
}

async fn waiting_inner(
    args: &WaitingArgs,
    cache_dir: Option<std::path::PathBuf>,
) -> Result<(Vec<Measurement>, Duration), String> {
    if !matches!(args.mode.as_str(), "parallel" | "queued") {
        return Err(format!(
            "--mode {}: use parallel or queued",
            crate::text::line(&args.mode)
        ));
    }
    let work = tempfile::tempdir().map_err(|e| e.to_string())?;
    let site = work.path().join("site");
    std::fs::create_dir_all(&site).map_err(|e| e.to_string())?;
    std::fs::write(site.join("index.html"), "hello").map_err(|e| e.to_string())?;
    let yaml = format!(
        "name: bench\nexecution_mode: {}\nstages:\n  - name: Source\n    actions:\n      - {{ name: Site, provider: \"builtin:directory\", outputs: [S], grants: {{ paths: {{ source: {{ path: site }} }} }} }}\n  - name: Approve\n    actions:\n      - {{ name: Manager, provider: \"builtin:manual\" }}\n  - name: Ship\n    actions:\n      - {{ name: Go, provider: \"builtin:noop\" }}\n",
        args.mode
    );
    let file = work.path().join("bench.yaml");
    std::fs::write(&file, yaml).map_err(|e| e.to_string())?;
    let host = crate::config::HostConfig {
        state_dir: work.path().join("state"),
        cache_dir,
        user: "bench".into(),
        ..Default::default()
    };
    let ctx = crate::cli::Context {
        host: host.clone(),
        server: None,
        token_file: None,
    };
    let loaded = crate::model::load(&file).map_err(|r| r.to_string())?;
    crate::cli::pipeline::apply_loaded(&ctx, &loaded, ctx.host.sandbox()?)
        .await
        .map_err(|code| format!("applying the benchmark pipeline failed ({code})"))?;

    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .map_err(|e| e.to_string())?;
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let (ready_tx, ready_rx) = tokio::sync::oneshot::channel::<crate::server::Ready>();
    let options = crate::server::ServeOptions {
        token_file: None,
        triggers: false,
        allow_hosts: Vec::new(),
    };
    let server = tokio::spawn(crate::server::run(
        host,
        options,
        listener,
        async move {
            let _ = stopped.await;
        },
        move |ready| {
            let _ = ready_tx.send(ready.clone());
        },
    ));
    let ready = ready_rx
        .await
        .map_err(|_| "the server did not start".to_string())?;
    let token = std::fs::read_to_string(&ready.token_file).map_err(|e| e.to_string())?;
    let client = crate::client::Client::new(&ready.url, Some(token.trim().to_string()), "bench");

    // Start every execution (through the API, in batches at once) and wait
    // until each waits at the approval (or in front of its stage).
    let started = Instant::now();
    let mut ids = Vec::with_capacity(args.executions as usize);
    let mut remaining = args.executions;
    while remaining > 0 {
        let batch = remaining.min(64);
        let starts = (0..batch).map(|_| {
            let start = crate::engine::Command::Start(crate::engine::Start {
                pipeline: "bench".into(),
                variables: Default::default(),
                revisions: Default::default(),
                trigger: "bench".into(),
                token: Some(uuid::Uuid::now_v7().to_string()),
            });
            let client = client.clone();
            async move { client.command(&start).await }
        });
        for done in futures_util::future::join_all(starts).await {
            let done = done.map_err(|e| e.to_string())?;
            ids.extend(done.execution);
        }
        remaining -= batch;
    }
    let last = ids.last().cloned().ok_or("no execution started")?;
    loop {
        let state = client.state("bench").await.map_err(|e| e.to_string())?;
        let settled = match args.mode.as_str() {
            "parallel" => {
                let detail = client.execution(&last).await.map_err(|e| e.to_string())?;
                detail.execution.stages[1].actions[0].awaiting_approval
            }
            _ => state.stages[1].inbound_executions.len() + 1 >= args.executions as usize,
        };
        if settled {
            break;
        }
        if started.elapsed() > Duration::from_secs(1800) {
            return Err("the executions did not all reach the approval in 30 minutes".into());
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }

    let url = |path: &str| format!("{}/api/v1{path}", ready.url);
    let headers = vec![("authorization", format!("Bearer {}", token.trim()))];
    let time_get = |path: String| {
        let headers = headers.clone();
        async move {
            let mut samples = Vec::with_capacity(args.iterations as usize);
            for _ in 0..args.iterations {
                let begun = Instant::now();
                let answer = crate::http_client::request(
                    "GET",
                    &path,
                    &headers,
                    None,
                    Duration::from_secs(300),
                )
                .await?;
                if answer.status != 200 {
                    return Err(format!("GET {path} answered {}", answer.status));
                }
                samples.push(begun.elapsed());
            }
            Ok::<_, String>(samples)
        }
    };
    let health = time_get(url("/health")).await?;
    let state = time_get(url("/pipelines/bench/state")).await?;
    let list = time_get(url("/pipelines/bench/executions?limit=50")).await?;
    let one = time_get(url(&format!("/executions/{last}"))).await?;
    let base = median(&health);
    let measure = |name: &str, samples: &[Duration]| Measurement {
        name: name.to_string(),
        iterations: samples.len() as u32,
        median_us: micros(median(samples)),
        mean_us: micros(super::mean(samples)),
        ratio_to_spawn: micros(median(samples)) / micros(base),
    };
    let mut results = vec![
        measure("GET /health (baseline)", &health),
        measure("GET /pipelines/NAME/state", &state),
        measure("GET /pipelines/NAME/executions?limit=50", &list),
        measure("GET /executions/ID", &one),
    ];
    if let Some(python) = &args.aws_python {
        let samples = through_python(python, &ready.url, token.trim(), work.path(), args)?;
        for (key, name) in [
            ("health", "Python: GET /health (urllib)"),
            ("state", "Python: GET /pipelines/NAME/state (urllib)"),
            (
                "boto3",
                "Python: boto3 get_pipeline_state (SigV4, JSON 1.1)",
            ),
            (
                "boto3_answered",
                "Python: the same, until answered (before parsing)",
            ),
            (
                "signed",
                "Python: the same request signed, sent with urllib",
            ),
        ] {
            results.push(measure(name, &samples[key]));
        }
    }

    let told = Instant::now();
    let _ = stop.send(());
    let _ = server.await;
    Ok((results, told.elapsed()))
}

/// Runs `tests/aws/bench_state.py` with `python` against the server, with
/// an access key made for it: seconds per call of each measurement.
fn through_python(
    python: &std::path::Path,
    url: &str,
    token: &str,
    work: &std::path::Path,
    args: &WaitingArgs,
) -> Result<std::collections::HashMap<String, Vec<Duration>>, String> {
    let mut store = crate::store::Store::open(&work.join("state")).map_err(|e| e.to_string())?;
    let api_token = crate::access::new_token()?;
    store
        .add_token(
            "bench-aws",
            "read",
            &crate::access::token_hash(&api_token),
            "bench",
        )
        .map_err(|e| e.to_string())?;
    let (key, secret) = crate::access::new_aws_key()?;
    store
        .add_aws_key("bench-aws", &key, &secret)
        .map_err(|e| e.to_string())?;
    let script = work.join("bench_state.py");
    std::fs::write(
        &script,
        include_str!("../../../../tests/aws/bench_state.py"),
    )
    .map_err(|e| e.to_string())?;
    let out = std::process::Command::new(python)
        .arg(&script)
        .args([
            url,
            token,
            &key,
            &secret,
            "bench",
            &args.iterations.to_string(),
        ])
        .output()
        .map_err(|e| format!("cannot run {}: {e}", python.display()))?;
    if !out.status.success() {
        return Err(format!(
            "{} {} failed: {}",
            python.display(),
            script.display(),
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    let seconds: std::collections::HashMap<String, Vec<f64>> =
        serde_json::from_slice(&out.stdout).map_err(|e| e.to_string())?;
    Ok(seconds
        .into_iter()
        .map(|(k, v)| (k, v.into_iter().map(Duration::from_secs_f64).collect()))
        .collect())
}
