//! `sluice plugin test`: a conformance run of one component against the
//! contract, check by check, each passed, failed (with what was wrong) or
//! skipped (with what it needs):
//!
//! 1. it loads: its imports are ones the host provides, it exports the
//!    provider interface;
//! 2. `describe` is well-formed: a known category, owner and provider
//!    names, a semantic version, unique named properties, sane artifact
//!    counts;
//! 3. `validate` accepts the test configuration;
//! 4. `validate` rejects the configuration without each required property,
//!    naming it;
//! 5. `run` on the fixture inputs succeeds (in-progress outcomes are
//!    called back, as the engine would);
//! 6. outputs land where declared: every output folder received files,
//!    and the inputs are unchanged;
//! 7. a `failed` outcome carries a message (with the failing
//!    configuration the project gives);
//! 8. a source provider answers `latest-revision`.

use crate::artifacts;
use crate::sandbox::{ActionLog, ComponentSource, Limits, MemoryLog, Outcome, Provider, Sandbox};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// How to exercise the component: from the project's `sluice-test.json`
/// and the command line.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TestSettings {
    /// A configuration `validate` accepts and `run` succeeds with.
    #[serde(default)]
    pub config: BTreeMap<String, String>,
    /// Properties changed (over `config`) to make `run` fail.
    #[serde(default)]
    pub fail_config: Option<BTreeMap<String, String>>,
    /// Input artifacts: name and folder (relative to the project).
    #[serde(default)]
    pub inputs: BTreeMap<String, PathBuf>,
    /// Time limit of each call, in seconds (default 60).
    #[serde(default)]
    pub timeout_secs: Option<u64>,
}

impl TestSettings {
    /// Reads `file`; paths in it are relative to its folder.
    pub fn load(file: &Path) -> Result<TestSettings, String> {
        let text = std::fs::read_to_string(file).map_err(|e| format!("{}: {e}", file.display()))?;
        let mut settings: TestSettings =
            serde_json::from_str(&text).map_err(|e| format!("{}: {e}", file.display()))?;
        let base = file.parent().unwrap_or(Path::new("."));
        for path in settings.inputs.values_mut() {
            if path.is_relative() {
                *path = base.join(&*path);
            }
        }
        Ok(settings)
    }
}

/// How a check came out.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "result", content = "detail", rename_all = "snake_case")]
pub enum Verdict {
    /// It passed; what was seen.
    Pass(String),
    /// It failed; what was wrong.
    Fail(String),
    /// Not checked; why.
    Skip(String),
}

/// One check.
#[derive(Debug, Clone, Serialize)]
pub struct Check {
    /// What is checked.
    pub name: &'static str,
    /// How it came out.
    #[serde(flatten)]
    pub verdict: Verdict,
}

/// The whole run.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// The component tested.
    pub component: String,
    /// Its sha256.
    pub sha256: String,
    /// Each check, in order.
    pub checks: Vec<Check>,
}

impl Report {
    /// Whether no check failed.
    pub fn passed(&self) -> bool {
        !self
            .checks
            .iter()
            .any(|c| matches!(c.verdict, Verdict::Fail(_)))
    }
}

struct Checks(Vec<Check>);

impl Checks {
    fn add(&mut self, name: &'static str, verdict: Verdict) -> bool {
        let passed = matches!(verdict, Verdict::Pass(_));
        self.0.push(Check { name, verdict });
        passed
    }
}

/// Runs every check on the component at `path`.
pub async fn run(sandbox: &Sandbox, path: &Path, settings: &TestSettings) -> Report {
    let mut checks = Checks(Vec::new());
    let source = ComponentSource::from_file(path);
    let sha256 = source.as_ref().map(|s| s.digest()).unwrap_or_default();
    let report = |checks: Checks| Report {
        component: path.display().to_string(),
        sha256: sha256.clone(),
        checks: checks.0,
    };
    let loaded = source
        .map_err(|e| e.to_string())
        .and_then(|s| sandbox.load(&s).map_err(|e| e.to_string()));
    let provider = match loaded {
        Ok((provider, _)) => {
            let imports = provider.imports().len();
            checks.add(
                "loads against the contract",
                Verdict::Pass(format!(
                    "{imports} imports, all provided by the host; capabilities it may ask for: {}",
                    list_or_none(&provider.capabilities())
                )),
            );
            provider
        }
        Err(e) => {
            checks.add("loads against the contract", Verdict::Fail(e));
            return report(checks);
        }
    };

    let descriptor = match provider.describe().await {
        Ok(d) => d,
        Err(e) => {
            checks.add("describe is well-formed", Verdict::Fail(e.to_string()));
            return report(checks);
        }
    };
    let problems = descriptor_problems(&descriptor);
    let described = checks.add(
        "describe is well-formed",
        if problems.is_empty() {
            Verdict::Pass(format!(
                "{} {}/{} {}, {} properties, inputs {}..{}, outputs {}..{}",
                descriptor.action_type.category,
                descriptor.action_type.owner,
                descriptor.action_type.provider,
                descriptor.action_type.version,
                descriptor.properties.len(),
                descriptor.min_inputs,
                descriptor.max_inputs,
                descriptor.min_outputs,
                descriptor.max_outputs
            ))
        } else {
            Verdict::Fail(problems.join("; "))
        },
    );
    if !described {
        return report(checks);
    }

    let config: Vec<(String, String)> = settings
        .config
        .iter()
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    let accepted = match provider.validate(&config).await {
        Ok(Ok(())) => Verdict::Pass(format!("accepted {}", show_config(&config))),
        Ok(Err(problems)) => Verdict::Fail(format!(
            "rejected {}: {} (give a configuration it accepts in sluice-test.json or --config)",
            show_config(&config),
            problems.join("; ")
        )),
        Err(e) => Verdict::Fail(e.to_string()),
    };
    let valid = checks.add("validate accepts the test configuration", accepted);

    let required: Vec<&str> = descriptor
        .properties
        .iter()
        .filter(|p| p.required)
        .map(|p| p.name.as_str())
        .collect();
    let verdict = if required.is_empty() {
        Verdict::Skip("it declares no required property".into())
    } else {
        let mut failures = Vec::new();
        for name in &required {
            // Every required property set but this one.
            let mut without: Vec<(String, String)> =
                config.iter().filter(|(k, _)| k != name).cloned().collect();
            for other in &required {
                if other != name && !without.iter().any(|(k, _)| k == other) {
                    without.push((other.to_string(), "x".into()));
                }
            }
            match provider.validate(&without).await {
                Ok(Err(problems)) if problems.iter().any(|p| p.contains(name)) => {}
                Ok(Err(problems)) => failures.push(format!(
                    "without `{name}` it said {problems:?}, not naming `{name}`"
                )),
                Ok(Ok(())) => {
                    failures.push(format!("it accepted a configuration without `{name}`"))
                }
                Err(e) => failures.push(format!("without `{name}`: {e}")),
            }
        }
        if failures.is_empty() {
            Verdict::Pass(format!(
                "rejected, naming the property, without each of {}",
                required.join(", ")
            ))
        } else {
            Verdict::Fail(failures.join("; "))
        }
    };
    checks.add("validate rejects a missing required property", verdict);

    let limits = Limits {
        timeout: Duration::from_secs(settings.timeout_secs.unwrap_or(60)),
        ..Limits::default()
    };
    let inputs_ok = settings.inputs.len() >= usize::from(descriptor.min_inputs)
        && settings.inputs.len() <= usize::from(descriptor.max_inputs);
    if !valid || !inputs_ok {
        let why = if valid {
            format!(
                "it takes {}..{} inputs and {} were given (sluice-test.json `inputs` or --input NAME=DIR)",
                descriptor.min_inputs,
                descriptor.max_inputs,
                settings.inputs.len()
            )
        } else {
            "validate rejected the test configuration".to_string()
        };
        checks.add("run on the fixtures succeeds", Verdict::Skip(why.clone()));
        checks.add("outputs land where declared", Verdict::Skip(why.clone()));
        checks.add("a failed outcome carries a message", Verdict::Skip(why));
    } else {
        let outputs = usize::from(descriptor.min_outputs.max(1).min(descriptor.max_outputs));
        let fixture = run_once(&provider, settings, &config, outputs, &limits).await;
        match fixture {
            Err(e) => {
                checks.add("run on the fixtures succeeds", Verdict::Fail(e.clone()));
                checks.add("outputs land where declared", Verdict::Skip(e));
            }
            Ok(done) => {
                let succeeded = match &done.outcome {
                    Outcome::Succeeded {
                        summary, variables, ..
                    } => Verdict::Pass(format!(
                        "succeeded in {} ({}); output variables: {}",
                        crate::units::format_duration(done.elapsed),
                        summary.as_deref().unwrap_or("no summary"),
                        list_or_none(
                            &variables
                                .iter()
                                .map(|(k, v)| format!("{k}={v}"))
                                .collect::<Vec<_>>()
                        )
                    )),
                    other if done.log.trim().is_empty() => Verdict::Fail(describe_outcome(other)),
                    other => Verdict::Fail(format!(
                        "{}; log:\n{}",
                        describe_outcome(other),
                        done.log.trim_end()
                    )),
                };
                let ran = checks.add("run on the fixtures succeeds", succeeded);
                checks.add(
                    "outputs land where declared",
                    if !ran {
                        Verdict::Skip("the run did not succeed".into())
                    } else {
                        done.output_check
                    },
                );
            }
        }
        let verdict = match &settings.fail_config {
            None => Verdict::Skip(
                "no failing configuration given (sluice-test.json `fail_config`, or --fail-config K=V)"
                    .into(),
            ),
            Some(changes) => {
                let mut failing: BTreeMap<String, String> = settings.config.clone();
                failing.extend(changes.clone());
                let failing: Vec<(String, String)> = failing.into_iter().collect();
                match run_once(&provider, settings, &failing, outputs, &limits).await {
                    Err(e) => Verdict::Fail(e),
                    Ok(done) => match done.outcome {
                        Outcome::Failed(failure) if !failure.message.trim().is_empty() => {
                            Verdict::Pass(format!("{}: {}", failure.kind, failure.message))
                        }
                        Outcome::Failed(failure) => Verdict::Fail(format!(
                            "it failed ({}) without a message",
                            failure.kind
                        )),
                        other => Verdict::Fail(format!(
                            "with {} it {} instead of failing",
                            show_config(&failing),
                            describe_outcome(&other)
                        )),
                    },
                }
            }
        };
        checks.add("a failed outcome carries a message", verdict);
    }

    if provider.is_source() {
        let log = ActionLog::discard();
        let verdict = match provider.latest_revision(&config, &limits, &log).await {
            Ok(Ok(revision)) => Verdict::Pass(format!("revision {}", revision.id)),
            Ok(Err(failure)) => Verdict::Fail(format!("{}: {}", failure.kind, failure.message)),
            Err(e) => Verdict::Fail(e.to_string()),
        };
        checks.add("a source answers latest-revision", verdict);
    }
    report(checks)
}

struct Done {
    outcome: Outcome,
    elapsed: Duration,
    log: String,
    output_check: Verdict,
}

/// One job, called back while in progress, on copies of nothing: inputs
/// are mounted read-only as they are, outputs and scratch are fresh.
async fn run_once(
    provider: &Provider,
    settings: &TestSettings,
    config: &[(String, String)],
    outputs: usize,
    limits: &Limits,
) -> Result<Done, String> {
    let work = tempfile::Builder::new()
        .prefix("sluice-plugin-test-")
        .tempdir()
        .map_err(|e| format!("cannot create a work folder: {e}"))?;
    let scratch = work.path().join("scratch");
    std::fs::create_dir_all(&scratch).map_err(|e| format!("{e}"))?;
    let inputs: Vec<(String, PathBuf)> = settings
        .inputs
        .iter()
        .map(|(name, dir)| (name.clone(), dir.clone()))
        .collect();
    let mut job = super::fixture_job(
        "conformance",
        config,
        &inputs,
        outputs,
        work.path(),
        &scratch,
    )?;
    let before: Vec<String> = job
        .inputs
        .iter()
        .map(|mount| content_digest(&mount.host_path))
        .collect::<Result<_, _>>()?;
    let memory = MemoryLog::new();
    let log = ActionLog::new(memory.clone(), limits.log_bytes);
    let started = Instant::now();
    let deadline = started + limits.timeout;
    let outcome = loop {
        let call = Limits {
            deadline: Some(deadline),
            ..limits.clone()
        };
        let report = provider
            .run(&job, &call, &log)
            .await
            .map_err(|e| e.to_string())?;
        match report.outcome {
            Outcome::InProgress {
                continuation,
                recheck_after,
                ..
            } if Instant::now() + recheck_after < deadline => {
                tokio::time::sleep(recheck_after).await;
                job.continuation = Some(continuation);
            }
            outcome => break outcome,
        }
    };
    let elapsed = started.elapsed();
    let mut landed = Vec::new();
    let mut empty = Vec::new();
    for mount in &job.outputs {
        let manifest = artifacts::scan(&mount.host_path, artifacts::Tidy::No, &mut {
            let limits = Limits::default();
            crate::contain::Budget::caps(limits.output_bytes, limits.output_files)
        })
        .map_err(|e| format!("cannot read output `{}` back: {e}", mount.name))?;
        let files = manifest.file_count();
        if files == 0 {
            empty.push(mount.name.clone());
        } else {
            let noun = if files == 1 { "file" } else { "files" };
            landed.push(format!("`{}`: {files} {noun}", mount.name));
        }
    }
    let mut changed = Vec::new();
    for (digest, mount) in before.into_iter().zip(&job.inputs) {
        if content_digest(&mount.host_path)? != digest {
            changed.push(mount.name.clone());
        }
    }
    let output_check = if !changed.is_empty() {
        Verdict::Fail(format!("inputs changed: {}", changed.join(", ")))
    } else if !empty.is_empty() {
        Verdict::Fail(format!(
            "nothing was written to output {}",
            empty
                .iter()
                .map(|n| format!("`{n}`"))
                .collect::<Vec<_>>()
                .join(", ")
        ))
    } else if landed.is_empty() {
        Verdict::Skip("it declares no output".into())
    } else {
        Verdict::Pass(format!("{}; inputs unchanged", landed.join(", ")))
    };
    Ok(Done {
        outcome,
        elapsed,
        log: memory.contents(),
        output_check,
    })
}

/// The sha256 over a folder's paths, modes and file contents.
fn content_digest(path: &Path) -> Result<String, String> {
    let manifest = artifacts::scan(
        path,
        artifacts::Tidy::No,
        &mut crate::contain::Budget::unlimited(),
    )
    .map_err(|e| format!("{}: {e}", path.display()))?;
    artifacts::store::content_sums(&manifest, path)
        .map(|sums| sums.content_digest)
        .map_err(|e| format!("{}: {e}", path.display()))
}

/// What is wrong with a descriptor, if anything: what the host refuses
/// anywhere (see `Descriptor::problems`), and, for a published provider, a
/// description.
pub fn descriptor_problems(descriptor: &crate::sandbox::Descriptor) -> Vec<String> {
    let mut problems = descriptor.problems();
    if descriptor.description.trim().is_empty() {
        problems.push("the description is empty".into());
    }
    problems
}

fn describe_outcome(outcome: &Outcome) -> String {
    match outcome {
        Outcome::Succeeded { .. } => "succeeded".into(),
        Outcome::Failed(f) => format!("failed: {}: {}", f.kind, f.message),
        Outcome::InProgress { .. } => "was still in progress at the time limit".into(),
    }
}

fn show_config(config: &[(String, String)]) -> String {
    if config.is_empty() {
        "an empty configuration".into()
    } else {
        config
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join(" ")
    }
}

fn list_or_none<T: std::fmt::Display>(items: &[T]) -> String {
    if items.is_empty() {
        "none".into()
    } else {
        items
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join(", ")
    }
}
