//! `sluice action run` and `sluice action describe`: one provider, one job,
//! no pipeline. The plugin author's inner loop.

use super::{EXIT_FAILED, EXIT_OK, EXIT_USAGE};
use crate::artifacts::{self, Manifest};
use crate::providers::ProviderRef;
use crate::sandbox::{
    ActionLog, HostMount, Job, Limits, LoadedFrom, Mount, Outcome, Provider, Sandbox, SandboxError,
    is_artifact_name,
};
use crate::text::{LiveLog, Untrusted};
use crate::units::{format_bytes, format_duration};
use clap::{Args, Subcommand};
use serde_json::json;
use std::io::Write;
use std::path::PathBuf;
use std::time::{Duration, Instant};

/// `sluice action`.
#[derive(Debug, Clone, Subcommand)]
pub enum ActionCommand {
    /// Run one provider on one job and print its log and outcome.
    /// Exit status: 0 succeeded, 1 failed, 2 usage or sandbox error.
    Run(RunArgs),
    /// Print what a provider says about itself.
    Describe {
        /// `builtin:NAME` or a path to a .wasm component.
        #[arg(long, value_parser = parse_provider)]
        provider: ProviderRef,
        #[command(flatten)]
        output: super::JsonFlag,
    },
}

/// What `sluice action run` was asked to do.
#[derive(Debug, Clone, Args)]
pub struct RunArgs {
    /// `builtin:NAME` or a path to a .wasm component.
    #[arg(long, value_parser = parse_provider)]
    pub provider: ProviderRef,
    /// A configuration property, KEY=VALUE (repeatable).
    #[arg(long = "config", value_name = "KEY=VALUE", value_parser = super::parse_key_value)]
    pub config: Vec<(String, String)>,
    /// An input artifact, NAME=FOLDER, mounted read-only (repeatable).
    #[arg(long = "input", value_name = "NAME=DIR", value_parser = super::parse_mount)]
    pub inputs: Vec<(String, PathBuf)>,
    /// An output artifact, NAME=FOLDER, created when missing (repeatable).
    #[arg(long = "output", value_name = "NAME=DIR", value_parser = super::parse_mount)]
    pub outputs: Vec<(String, PathBuf)>,
    /// Time limit for the whole action, e.g. 30s, 5m [default: 1h].
    #[arg(long, value_parser = super::parse_duration)]
    pub timeout: Option<Duration>,
    /// Memory limit of the instance, e.g. 256MiB [default: 1GiB].
    #[arg(long, value_parser = super::parse_bytes)]
    pub memory: Option<u64>,
    /// Print the outcome as JSON on standard output (the log goes to
    /// standard error).
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub grants: GrantArgs,
}

/// Grants given on the command line, as a pipeline would give them.
#[derive(Debug, Clone, Default, Args)]
pub struct GrantArgs {
    /// Grant a program, as `grants.process.programs` does (repeatable).
    #[arg(long = "grant-program", value_name = "NAME")]
    pub programs: Vec<String>,
    /// An environment variable for granted programs, NAME=VALUE (repeatable).
    #[arg(long = "grant-env", value_name = "NAME=VALUE", value_parser = super::parse_key_value)]
    pub env: Vec<(String, String)>,
    /// Allow HTTP requests to this URL prefix (repeatable).
    #[arg(long = "grant-url", value_name = "URL")]
    pub urls: Vec<String>,
    /// Grant a secret the host holds (SLUICE_SECRET_<NAME>) (repeatable).
    #[arg(long = "grant-secret", value_name = "NAME")]
    pub secrets: Vec<String>,
    /// Grant a host folder at /paths/NAME, NAME=DIR, read-only; NAME=DIR:rw
    /// for read-write (repeatable).
    #[arg(long = "grant-path", value_name = "NAME=DIR[:rw]", value_parser = parse_grant_path)]
    pub paths: Vec<(String, PathBuf, bool)>,
}

fn parse_provider(text: &str) -> Result<ProviderRef, String> {
    text.parse()
}

fn parse_grant_path(text: &str) -> Result<(String, PathBuf, bool), String> {
    let (name, path) = super::parse_key_value(text)?;
    match path.strip_suffix(":rw") {
        Some(p) => Ok((name, PathBuf::from(p), true)),
        None => Ok((
            name,
            PathBuf::from(path.strip_suffix(":ro").unwrap_or(&path)),
            false,
        )),
    }
}

/// What `sluice action run` takes from the host: its secrets, how soon a
/// provider may be called back, and the folders no grant may expose.
struct HostSide {
    secrets: crate::secrets::SecretStore,
    recheck: crate::engine::RecheckPolicy,
    hidden: Vec<PathBuf>,
}

/// Runs a `sluice action` command; returns the exit code.
pub async fn run(ctx: &super::Context, command: ActionCommand) -> u8 {
    let sandbox = match ctx.host.sandbox() {
        Ok(s) => s,
        Err(message) => {
            eprintln!("error: {message}");
            return EXIT_USAGE;
        }
    };
    match command {
        ActionCommand::Run(args) => {
            let host = HostSide {
                secrets: ctx.host.secrets.clone(),
                recheck: ctx.host.engine.recheck,
                hidden: std::path::absolute(&ctx.host.state_dir)
                    .ok()
                    .map(|p| p.canonicalize().unwrap_or(p))
                    .into_iter()
                    .collect(),
            };
            run_job(&sandbox, &args, &host).await
        }
        ActionCommand::Describe { provider, output } => {
            describe(&sandbox, &provider, output.json).await
        }
    }
}

impl GrantArgs {
    /// What the flags grant, through the same policy as a pipeline's
    /// grants (`crate::grants`).
    fn build(
        &self,
        secrets: &crate::secrets::SecretStore,
        hidden: &[PathBuf],
    ) -> Result<(crate::sandbox::Grants, Vec<HostMount>), String> {
        use crate::model::definition::{HttpGrant, ProcessGrant};
        let granted = crate::model::Grants {
            paths: Default::default(),
            process: (!self.programs.is_empty()).then(|| ProcessGrant {
                programs: self.programs.clone(),
                env: self.env.iter().cloned().collect(),
                timeout: None,
                limits: None,
            }),
            http: (!self.urls.is_empty()).then(|| HttpGrant {
                allow: self.urls.clone(),
            }),
            secrets: self.secrets.clone(),
        };
        let grants = crate::grants::enforced(&granted, secrets).map_err(|e| match e {
            crate::grants::GrantError::SecretNotSet { name } => {
                format!("--grant-secret {name}: set SLUICE_SECRET_{name} first")
            }
            crate::grants::GrantError::BadUrl { .. } => format!("--grant-url: {e}"),
            other => other.to_string(),
        })?;
        let hidden: Vec<&std::path::Path> = hidden.iter().map(PathBuf::as_path).collect();
        let mut mounts = Vec::new();
        for (name, path, writable) in &self.paths {
            if *writable && crate::contract::is_artifact_name(name) {
                std::fs::create_dir_all(path).map_err(|e| format!("--grant-path {name}: {e}"))?;
            }
            let host = path
                .canonicalize()
                .map_err(|e| format!("--grant-path {name}={}: {e}", path.display()))?;
            let access = if *writable {
                crate::model::PathAccess::ReadWrite
            } else {
                crate::model::PathAccess::ReadOnly
            };
            let mount = crate::grants::folder(name, &host, access, &hidden)
                .map_err(|e| format!("--grant-path {name}: {e}"))?;
            mounts.push(mount);
        }
        Ok((grants, mounts))
    }
}

/// Runs one job and prints its log and outcome. Returns the exit code:
/// 0 succeeded, 1 failed, 2 usage or sandbox error.
async fn run_job(sandbox: &Sandbox, args: &RunArgs, host: &HostSide) -> u8 {
    match run_inner(sandbox, args, host).await {
        Ok(code) => code,
        Err(message) => {
            eprintln!("error: {message}");
            EXIT_USAGE
        }
    }
}

async fn run_inner(sandbox: &Sandbox, args: &RunArgs, host: &HostSide) -> Result<u8, String> {
    let mut limits = Limits::default();
    if let Some(timeout) = args.timeout {
        limits.timeout = timeout;
    }
    if let Some(memory) = args.memory {
        if memory > crate::sandbox::limits::MAX_MEMORY_BYTES {
            return Err(format!(
                "--memory {} is more than a WebAssembly instance can address (4 GiB)",
                format_bytes(memory)
            ));
        }
        limits.memory_bytes = memory;
    }
    let inputs = mounts(&args.inputs, "--input", false)?;
    let outputs = mounts(&args.outputs, "--output", true)?;
    if let Some(name) = inputs
        .iter()
        .map(|m| &m.name)
        .find(|n| outputs.iter().any(|o| &o.name == *n))
    {
        return Err(format!(
            "artifact `{name}` is both an --input and an --output; names must be unique"
        ));
    }

    let (provider, _) = load(sandbox, &args.provider)?;
    if let Err(problems) = provider
        .validate(&args.config)
        .await
        .map_err(|e| e.to_string())?
    {
        let mut message = format!("{} rejected the configuration:", provider.name());
        for problem in problems {
            message.push_str("\n  - ");
            message.push_str(&crate::text::line(&problem));
        }
        return Err(message);
    }

    let scratch = tempfile::Builder::new()
        .prefix("sluice-scratch-")
        .tempdir()
        .map_err(|e| format!("cannot create a scratch folder: {e}"))?;
    let (grants, granted_paths) = args.grants.build(&host.secrets, &host.hidden)?;
    let mut job = Job {
        grants,
        mounts: granted_paths,
        deadline_ms: (std::time::SystemTime::now() + limits.timeout)
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_millis() as u64)
            .unwrap_or(0),
        id: new_id("job"),
        execution_id: new_id("local"),
        pipeline: "(none)".into(),
        stage: "(none)".into(),
        action: "action".into(),
        attempt: 1,
        configuration: args.config.clone(),
        inputs,
        outputs,
        scratch: scratch.path().to_path_buf(),
        hidden: host.hidden.clone(),
        ..Job::default()
    };

    // The log streams as the provider writes it: to standard output, or to
    // standard error when standard output is for JSON.
    // Provider lines are escaped and shown behind a gutter, host lines as
    // they are (see `crate::text`).
    let log = if args.json {
        ActionLog::new(LiveLog::new(std::io::stderr()), limits.log_bytes)
    } else {
        ActionLog::new(LiveLog::new(std::io::stdout()), limits.log_bytes)
    };

    let started = Instant::now();
    let deadline = started + limits.timeout;
    let mut calls = 0u32;
    let outcome = loop {
        calls += 1;
        let call_limits = Limits {
            deadline: Some(deadline),
            ..limits.clone()
        };
        let report = provider
            .run(&job, &call_limits, &log)
            .await
            .map_err(|e| e.to_string())?;
        match report.outcome {
            Outcome::InProgress {
                continuation,
                recheck_after,
                summary,
                percent_complete,
            } => {
                // Never sooner than the host allows, and later the longer
                // it runs: an in-progress loop of 0 ms is not a busy loop.
                let recheck_after = host.recheck.delay(recheck_after, started.elapsed());
                if !args.json {
                    let percent = percent_complete
                        .map(|p| format!(" {p}%"))
                        .unwrap_or_default();
                    let summary = summary
                        .map(|s| format!(": {}", Untrusted(&s)))
                        .unwrap_or_default();
                    println!(
                        "── in progress{percent}{summary}; calling back in {}",
                        format_duration(recheck_after)
                    );
                }
                if Instant::now() + recheck_after >= deadline {
                    break Outcome::Failed(crate::sandbox::Failure::job_failed(format!(
                        "deadline exceeded: the action did not finish within its timeout of {}",
                        format_duration(limits.timeout)
                    )));
                }
                tokio::time::sleep(recheck_after).await;
                job.continuation = Some(continuation);
            }
            outcome => break outcome,
        }
    };
    let elapsed = started.elapsed();

    let mut outputs = Vec::new();
    let mut budget = crate::contain::Budget::caps(limits.output_bytes, limits.output_files);
    for mount in &job.outputs {
        let manifest = artifacts::scan(&mount.host_path, artifacts::Tidy::No, &mut budget)
            .map_err(|e| format!("cannot read output `{}` back: {e}", mount.name))?;
        let sums = artifacts::store::content_sums(&manifest, &mount.host_path)
            .map_err(|e| format!("cannot read output `{}` back: {e}", mount.name))?;
        outputs.push((mount, manifest, sums.content_digest));
    }

    if args.json {
        print_json(&provider, &outcome, elapsed, calls, &outputs, &log);
    } else {
        print_human(&outcome, elapsed, calls, &outputs, &log);
    }
    Ok(match outcome {
        Outcome::Succeeded { .. } => EXIT_OK,
        _ => EXIT_FAILED,
    })
}

fn load(sandbox: &Sandbox, reference: &ProviderRef) -> Result<(Provider, LoadedFrom), String> {
    let source = reference.component().map_err(|e| e.to_string())?;
    sandbox
        .load(&source)
        .map_err(|e: SandboxError| e.to_string())
}

fn mounts(pairs: &[(String, PathBuf)], flag: &str, create: bool) -> Result<Vec<Mount>, String> {
    let mut mounts: Vec<Mount> = Vec::new();
    for (name, path) in pairs {
        if !is_artifact_name(name) {
            return Err(format!(
                "{flag} {name}=...: artifact names use letters, digits, `_` and `-` (at most 100)"
            ));
        }
        if mounts.iter().any(|m| &m.name == name) {
            return Err(format!("{flag} {name} is given twice"));
        }
        if create {
            std::fs::create_dir_all(path).map_err(|e| {
                format!(
                    "{flag} {name}={}: cannot create the folder: {e}",
                    path.display()
                )
            })?;
        } else if !path.is_dir() {
            return Err(format!("{flag} {name}={}: no such folder", path.display()));
        }
        let host_path = path
            .canonicalize()
            .map_err(|e| format!("{flag} {name}={}: {e}", path.display()))?;
        mounts.push(Mount {
            name: name.clone(),
            host_path,
            revision: None,
        });
    }
    Ok(mounts)
}

fn print_human(
    outcome: &Outcome,
    elapsed: Duration,
    calls: u32,
    outputs: &[(&Mount, Manifest, String)],
    log: &ActionLog,
) {
    let mut out = std::io::stdout().lock();
    let calls = if calls > 1 {
        format!(", {calls} calls")
    } else {
        String::new()
    };
    let _ = writeln!(
        out,
        "── {} in {}{calls}",
        outcome.status(),
        format_duration(elapsed)
    );
    match outcome {
        Outcome::Succeeded {
            summary,
            revision,
            variables,
        } => {
            if let Some(summary) = summary {
                let _ = writeln!(out, "summary:  {}", Untrusted(summary));
            }
            if let Some(revision) = revision {
                let _ = writeln!(out, "revision: {}", Untrusted(revision));
            }
            if !variables.is_empty() {
                let _ = writeln!(out, "variables:");
                for (name, value) in variables {
                    let _ = writeln!(out, "  {} = {}", Untrusted(name), Untrusted(value));
                }
            }
        }
        Outcome::Failed(failure) => {
            let _ = writeln!(
                out,
                "failure:  {} ({})",
                Untrusted(&failure.message),
                failure.kind
            );
        }
        Outcome::InProgress { .. } => {}
    }
    if !outputs.is_empty() {
        let _ = writeln!(out, "outputs:");
        for (mount, manifest, digest) in outputs {
            let _ = writeln!(
                out,
                "  {}  {} files, {}  sha256:{}  ({})",
                mount.name,
                manifest.file_count(),
                format_bytes(manifest.total_bytes()),
                &digest[..16],
                mount.host_path.display()
            );
            for skipped in &manifest.skipped {
                let _ = writeln!(
                    out,
                    "    skipped {}: {}",
                    Untrusted(&skipped.path),
                    Untrusted(&skipped.reason)
                );
            }
        }
    }
    if log.dropped() > 0 {
        let _ = writeln!(
            out,
            "log:      truncated after {}; {} dropped",
            format_bytes(log.written()),
            format_bytes(log.dropped())
        );
    }
}

fn print_json(
    provider: &Provider,
    outcome: &Outcome,
    elapsed: Duration,
    calls: u32,
    outputs: &[(&Mount, Manifest, String)],
    log: &ActionLog,
) {
    let outputs: Vec<_> = outputs
        .iter()
        .map(|(mount, manifest, digest)| {
            json!({
                "name": mount.name,
                "path": mount.host_path,
                "digest": digest,
                "files": manifest.file_count(),
                "bytes": manifest.total_bytes(),
                "skipped": manifest.skipped,
            })
        })
        .collect();
    let answer = json!({
        "provider": provider.name(),
        "sha256": provider.sha256(),
        "outcome": outcome,
        "elapsed_ms": elapsed.as_secs_f64() * 1000.0,
        "calls": calls,
        "outputs": outputs,
        "log": { "bytes": log.written(), "dropped": log.dropped() },
    });
    println!("{}", serde_json::to_string_pretty(&answer).unwrap());
}

/// Prints what a provider says about itself. Exit code 0, or 2 when it
/// cannot be loaded.
async fn describe(sandbox: &Sandbox, provider: &ProviderRef, json: bool) -> u8 {
    let (provider, loaded_from) = match load(sandbox, provider) {
        Ok(p) => p,
        Err(message) => {
            eprintln!("error: {message}");
            return EXIT_USAGE;
        }
    };
    let descriptor = match provider.describe().await {
        Ok(d) => d,
        Err(e) => {
            eprintln!("error: {e}");
            return EXIT_USAGE;
        }
    };
    if json {
        let answer = json!({
            "provider": provider.name(),
            "sha256": provider.sha256(),
            "source": provider.is_source(),
            "imports": provider.imports(),
            "loaded_from": match loaded_from {
                LoadedFrom::Memory => "memory",
                LoadedFrom::CompileCache => "compile-cache",
                LoadedFrom::Compiled => "compiled",
            },
            "descriptor": descriptor,
        });
        println!("{}", serde_json::to_string_pretty(&answer).unwrap());
        return EXIT_OK;
    }
    let t = &descriptor.action_type;
    println!(
        "{}  ({} {}/{} {})",
        provider.name(),
        t.category,
        t.owner,
        t.provider,
        t.version
    );
    if !descriptor.description.is_empty() {
        println!("  {}", descriptor.description);
    }
    println!(
        "  inputs: {}..{}   outputs: {}..{}   source interface: {}",
        descriptor.min_inputs,
        descriptor.max_inputs,
        descriptor.min_outputs,
        descriptor.max_outputs,
        if provider.is_source() { "yes" } else { "no" }
    );
    if descriptor.properties.is_empty() {
        println!("  configuration: none");
    } else {
        println!("  configuration:");
        for p in &descriptor.properties {
            let mut flags = vec![if p.required { "required" } else { "optional" }];
            if p.secret {
                flags.push("secret");
            }
            println!("    {} ({}): {}", p.name, flags.join(", "), p.description);
        }
    }
    println!("  sha256: {}", provider.sha256());
    println!("  imports: {}", provider.imports().join(", "));
    EXIT_OK
}

/// A fresh id with a readable prefix: `job-1f3a9c...`.
pub fn new_id(prefix: &str) -> String {
    use sha2::{Digest, Sha256};
    use std::sync::atomic::{AtomicU64, Ordering};
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default()
        .as_nanos();
    let seed = format!(
        "{nanos}-{}-{}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    );
    let digest = hex::encode(Sha256::digest(seed.as_bytes()));
    format!("{prefix}-{}", &digest[..12])
}
