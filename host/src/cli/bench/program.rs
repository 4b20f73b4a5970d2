//! `sluice bench program`: what a granted program costs through the
//! sandbox (a `builtin:command` action running `true` with `sh` granted),
//! isolated and, for comparison, unsandboxed, against spawning `sh -c true`
//! directly in the same run.

use super::Measurement;
use crate::providers::ProviderRef;
use crate::sandbox::{
    ActionLog, Isolation, Job, Limits, Outcome, ProcessGrant, ProcessSettings, SandboxBuilder,
};
use std::time::{Duration, Instant};

/// Runs the benchmark and prints the table (or JSON). Returns the exit code.
pub async fn program(iterations: u32, json: bool, programs: &ProcessSettings) -> u8 {
    match program_inner(iterations, programs).await {
        Ok(results) => {
            if json {
                println!("{}", serde_json::to_string_pretty(&results).unwrap());
            } else {
                super::print_table(&results);
            }
            crate::cli::EXIT_OK
        }
        Err(message) => {
            eprintln!("error: {message}");
            crate::cli::EXIT_USAGE
        }
    }
}

async fn program_inner(
    iterations: u32,
    programs: &ProcessSettings,
) -> Result<Vec<Measurement>, String> {
    let sh = programs.find("sh").ok_or("no `sh` on PATH")?;
    let mut spawn = Vec::with_capacity(iterations as usize);
    for _ in 0..iterations {
        let started = Instant::now();
        let status = std::process::Command::new(&sh)
            .args(["-c", "true"])
            .status()
            .map_err(|e| e.to_string())?;
        if !status.success() {
            return Err("sh -c true failed".into());
        }
        spawn.push(started.elapsed());
    }
    let isolated = through_sandbox(programs, Isolation::Namespaces, iterations).await?;
    let unsandboxed = through_sandbox(programs, Isolation::Unsandboxed, iterations).await?;
    let base = super::median(&spawn);
    let measure = |name: &str, samples: &[Duration]| Measurement {
        name: name.to_string(),
        iterations: samples.len() as u32,
        median_us: super::micros(super::median(samples)),
        mean_us: super::micros(super::mean(samples)),
        ratio_to_spawn: super::micros(super::median(samples)) / super::micros(base),
    };
    Ok(vec![
        measure("spawn sh -c true (baseline)", &spawn),
        measure("command action, `true` isolated", &isolated),
        measure("command action, `true` unsandboxed", &unsandboxed),
    ])
}

/// Runs `true` through `builtin:command` `iterations` times (after a warm
/// up), programs run as `isolation` says.
async fn through_sandbox(
    programs: &ProcessSettings,
    isolation: Isolation,
    iterations: u32,
) -> Result<Vec<Duration>, String> {
    let work = tempfile::tempdir().map_err(|e| e.to_string())?;
    let settings = ProcessSettings {
        isolation,
        ..programs.clone()
    };
    let sandbox = SandboxBuilder::new()
        .process_settings(settings)
        .cache_dir(work.path().join("cache"))
        .build()
        .map_err(|e| e.to_string())?;
    let component = ProviderRef::Builtin("command".into())
        .component()
        .map_err(|e| e.to_string())?;
    let (provider, _) = sandbox.load(&component).map_err(|e| e.to_string())?;
    let scratch = work.path().join("scratch");
    std::fs::create_dir(&scratch).map_err(|e| e.to_string())?;
    let mut job = crate::authoring::fixture_job(
        "bench",
        &[("Build".to_string(), "true".to_string())],
        &[],
        0,
        &work.path().join("outputs"),
        &scratch,
    )?;
    job.grants.process = Some(ProcessGrant {
        programs: vec!["sh".into()],
        ..Default::default()
    });
    let run = |job: &Job| {
        let provider = provider.clone();
        let job = job.clone();
        async move {
            let report = provider
                .run(&job, &Limits::default(), &ActionLog::discard())
                .await
                .map_err(|e| e.to_string())?;
            match report.outcome {
                Outcome::Succeeded { .. } => Ok(()),
                other => Err(format!("the measured job did not succeed: {other:?}")),
            }
        }
    };
    for _ in 0..(iterations / 10).max(3) {
        run(&job).await?;
    }
    let mut samples = Vec::with_capacity(iterations as usize);
    for _ in 0..iterations {
        let started = Instant::now();
        run(&job).await?;
        samples.push(started.elapsed());
    }
    Ok(samples)
}
