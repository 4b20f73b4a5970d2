//! Checking and applying pipeline definitions: validation on its own and
//! against the providers, resolution of each action's provider (to the
//! exact component, kept in the state directory) and of its granted
//! folders, and recording a new pipeline version.

use crate::contract::Capability;
use crate::engine::{PipelineVersion, ResolvedAction, now_millis};
use crate::model::codepipeline::ActionTypeId;
use crate::model::{self, Diagnostic, Grants, Loaded, PathAccess, Report, Severity};
use crate::providers::{Catalog, Resolved};
use crate::queries::OpError;
use crate::sandbox::HostMount;
use crate::sandbox::ProcessSettings;
use crate::secrets::SecretStore;
use crate::store::Store;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::path::{Path, PathBuf};

/// The outcome of checking a definition.
#[derive(Debug)]
pub struct Checked {
    /// Every finding, with positions.
    pub report: Report,
    /// The version to record, when there are no errors.
    pub version: Option<PipelineVersion>,
}

/// Checks a loaded definition completely: on its own, its grants, and
/// against its providers, for the host whose state directory is
/// `state_dir` (no granted folder may hold it). Every problem is reported.
pub async fn check(
    loaded: &Loaded,
    catalog: &Catalog,
    secrets: &SecretStore,
    state_dir: &Path,
) -> Checked {
    let written = &loaded.pipeline;
    let mut diagnostics = model::validate::validate(&loaded.pipeline);
    diagnostics.extend(loaded.warnings.iter().cloned());
    // Actions of AWS types are checked, and run, as the host's mapping
    // makes them; the definition keeps them as written.
    let mapping = crate::aws_types::Mapping::load(state_dir).unwrap_or_else(|message| {
        diagnostics.push(Diagnostic::error("", message));
        Default::default()
    });
    // Actions of custom types run as jobs external workers take.
    let external: Vec<Vec<Option<ActionTypeId>>> = loaded
        .pipeline
        .stages
        .iter()
        .map(|stage| {
            stage
                .actions
                .iter()
                .map(|a| {
                    ActionTypeId::from_reference(&a.provider)
                        .and_then(Result::ok)
                        .filter(ActionTypeId::is_job_worker_type)
                })
                .collect()
        })
        .collect();
    let is_external = |s: usize, a: usize| external[s][a].is_some();
    check_external(&loaded.pipeline, &external, &mut diagnostics);
    let (effective, adapted, mut problems) = crate::aws_types::adapt(&loaded.pipeline, &mapping);
    problems.retain(|d| {
        !external.iter().enumerate().any(|(s, stage)| {
            stage.iter().enumerate().any(|(a, e)| {
                e.is_some() && d.path.starts_with(&format!("stages[{s}].actions[{a}]."))
            })
        })
    });
    // An action the mapping refused is reported once, for that reason,
    // not again for the provider it could not be given.
    let refused: Vec<String> = problems
        .iter()
        .filter_map(|d| {
            let mut parts = d.path.splitn(3, '.');
            Some(format!("{}.{}.", parts.next()?, parts.next()?))
        })
        .collect();
    diagnostics.extend(problems);
    let effective = model::Loaded {
        pipeline: effective,
        ..loaded.clone()
    };
    let loaded = &effective;
    let pipeline = &loaded.pipeline;
    let mounts = check_grants(loaded, state_dir, &mut diagnostics);
    check_host_grants(
        loaded,
        catalog.sandbox().process_settings(),
        secrets,
        &mut diagnostics,
    );
    let (resolved, provider_problems) =
        model::providers::validate(pipeline, catalog, is_external).await;
    diagnostics.extend(
        provider_problems
            .into_iter()
            .filter(|d| !refused.iter().any(|r| d.path.starts_with(r.as_str()))),
    );
    check_capabilities(loaded, &resolved, &mut diagnostics);
    check_secret_properties(loaded, &resolved, &mut diagnostics);
    let report = Report::new(loaded.file.clone(), diagnostics, &loaded.map);
    let version = (!report.has_errors()).then(|| PipelineVersion {
        name: pipeline.name.clone(),
        version: 0,
        definition: written.clone(),
        resolved: pipeline
            .stages
            .iter()
            .enumerate()
            .map(|(s, stage)| {
                stage
                    .actions
                    .iter()
                    .enumerate()
                    .map(|(a, action)| {
                        if let Some(id) = &external[s][a] {
                            return ResolvedAction {
                                sha256: String::new(),
                                category: external_category(id),
                                secret_properties: Vec::new(),
                                mounts: Vec::new(),
                                grants: Default::default(),
                                configuration: None,
                                external: Some(id.key()),
                            };
                        }
                        let r = &resolved[&action.provider];
                        ResolvedAction {
                            sha256: r.sha256.clone(),
                            category: r.descriptor.action_type.category,
                            secret_properties: r
                                .descriptor
                                .properties
                                .iter()
                                .filter(|p| p.secret)
                                .map(|p| p.name.clone())
                                .collect(),
                            mounts: mounts[s][a].clone(),
                            grants: Grants {
                                paths: Default::default(),
                                ..action.grants.clone()
                            },
                            configuration: adapted[s][a].then(|| action.configuration.clone()),
                            external: None,
                        }
                    })
                    .collect()
            })
            .collect(),
        created_at: now_millis(),
    });
    Checked { report, version }
}

/// An error for each custom action (owner `Custom`) whose type was not
/// created (`CreateCustomActionType`): its jobs would wait for ever.
fn missing_custom_types(version: &PipelineVersion, store: &Store) -> Vec<Diagnostic> {
    let mut out = Vec::new();
    for (s, stage) in version.resolved.iter().enumerate() {
        for (a, action) in stage.iter().enumerate() {
            let Some(key) = &action.external else {
                continue;
            };
            let parts: Vec<&str> = key.split('/').collect();
            let [category, owner, provider, number] = parts[..] else {
                continue;
            };
            if owner != "Custom" {
                continue;
            }
            match store.action_type(category, owner, provider, number) {
                Ok(Some(_)) => {}
                Ok(None) => out.push(Diagnostic::error(
                    format!("stages[{s}].actions[{a}].provider"),
                    format!("custom action type {key} does not exist: create it first (CreateCustomActionType)"),
                )),
                Err(e) => out.push(Diagnostic::error("", e.to_string())),
            }
        }
    }
    out
}

/// The Sluice category of a custom action type (`Compute` runs as a build).
fn external_category(id: &ActionTypeId) -> crate::contract::Category {
    use crate::contract::Category;
    match id.category.as_str() {
        "Source" => Category::Source,
        "Test" => Category::Test,
        "Deploy" => Category::Deploy,
        "Approval" => Category::Approval,
        "Invoke" => Category::Invoke,
        _ => Category::Build,
    }
}

/// Custom actions may not be sources (a source's revisions are asked of
/// its provider), nor grant themselves anything (they run elsewhere).
fn check_external(
    pipeline: &model::Pipeline,
    external: &[Vec<Option<ActionTypeId>>],
    out: &mut Vec<Diagnostic>,
) {
    for (s, stage) in pipeline.stages.iter().enumerate() {
        for (a, action) in stage.actions.iter().enumerate() {
            let Some(id) = &external[s][a] else { continue };
            let path = format!("stages[{s}].actions[{a}]");
            if s == 0 || id.category == "Source" {
                out.push(Diagnostic::error(
                    format!("{path}.provider"),
                    format!(
                        "{} is a custom action type: its jobs go to external workers, which Sluice runs only after the first stage (sources are asked for revisions by a provider)",
                        id.key()
                    ),
                ));
            }
            if !action.grants.is_empty() {
                out.push(Diagnostic::error(
                    format!("{path}.grants"),
                    "a custom action runs on an external worker: there is nothing here to grant",
                ));
            }
        }
    }
}

/// Checks and records a definition as its pipeline's new version. Returns
/// the version number, whether it changed, and the warnings; or the report
/// with the errors.
pub async fn apply(
    loaded: &Loaded,
    catalog: &Catalog,
    secrets: &SecretStore,
    store: &mut Store,
) -> Result<(u32, bool, Report), Report> {
    let checked = check(loaded, catalog, secrets, store.state_dir()).await;
    let Some(version) = checked.version else {
        return Err(checked.report);
    };
    let missing = missing_custom_types(&version, store);
    if !missing.is_empty() {
        return Err(Report {
            file: loaded.file.clone(),
            diagnostics: missing,
        });
    }
    for stage in &version.resolved {
        for action in stage {
            for mount in action.mounts.iter().filter(|m| m.writable) {
                if let Err(e) = std::fs::create_dir_all(&mount.host_path) {
                    return Err(Report {
                        file: loaded.file.clone(),
                        diagnostics: vec![Diagnostic::error(
                            "",
                            format!(
                                "cannot create granted folder {}: {e}",
                                mount.host_path.display()
                            ),
                        )],
                    });
                }
            }
        }
    }
    let source = std::fs::canonicalize(&loaded.file)
        .map(|p| p.display().to_string())
        .unwrap_or_else(|_| loaded.file.clone());
    match store.apply_pipeline(&version, Some(&source)) {
        Ok((number, changed)) => Ok((number, changed, checked.report)),
        Err(e) => Err(Report {
            file: loaded.file.clone(),
            diagnostics: vec![Diagnostic::error("", e.to_string())],
        }),
    }
}

/// Checks `grants.paths` of every action; returns the mounts, per stage
/// and action, with host paths made absolute.
fn check_grants(
    loaded: &Loaded,
    state_dir: &Path,
    out: &mut Vec<Diagnostic>,
) -> Vec<Vec<Vec<HostMount>>> {
    let state_dir = absolute(state_dir);
    let state_dir = state_dir.canonicalize().unwrap_or(state_dir);
    let mut all = Vec::new();
    for (s, stage) in loaded.pipeline.stages.iter().enumerate() {
        let mut stage_mounts = Vec::new();
        for (a, action) in stage.actions.iter().enumerate() {
            let mut mounts = Vec::new();
            for (name, grant) in &action.grants.paths {
                let path = format!("stages[{s}].actions[{a}].grants.paths.{name}");
                if grant.path.trim().is_empty() {
                    out.push(Diagnostic::error(
                        format!("{path}.path"),
                        "the folder is empty",
                    ));
                    continue;
                }
                let host = PathBuf::from(&grant.path);
                let host = if host.is_relative() {
                    loaded.base_dir.join(host)
                } else {
                    host
                };
                let writable = grant.access == PathAccess::ReadWrite;
                let host = if host.is_dir() {
                    host.canonicalize().unwrap_or(host)
                } else if writable || made_by_another_action(loaded, &absolute(&host)) {
                    absolute(&host)
                } else {
                    // Another action may make it (a deploy target that a
                    // later test reads): it must exist when this one runs.
                    out.push(Diagnostic::warning(
                        format!("{path}.path"),
                        format!(
                            "granted folder {} does not exist yet; the action fails unless it exists when it runs",
                            host.display()
                        ),
                    ));
                    absolute(&host)
                };
                match crate::grants::folder(name, &host, grant.access, &[&state_dir]) {
                    Ok(mount) => mounts.push(mount),
                    Err(problem @ crate::grants::GrantError::BadName { .. }) => {
                        out.push(Diagnostic::error(&path, problem.to_string()))
                    }
                    Err(problem) => out.push(Diagnostic::error(
                        format!("{path}.path"),
                        problem.to_string(),
                    )),
                }
            }
            stage_mounts.push(mounts);
        }
        all.push(stage_mounts);
    }
    all
}

/// Whether some action of the pipeline is granted `folder`, or a folder
/// above it, read-write: it may make `folder` before it is read (a deploy
/// target a later test reads).
fn made_by_another_action(loaded: &Loaded, folder: &std::path::Path) -> bool {
    loaded
        .pipeline
        .stages
        .iter()
        .flat_map(|s| &s.actions)
        .any(|action| {
            action.grants.paths.values().any(|grant| {
                if grant.access != PathAccess::ReadWrite {
                    return false;
                }
                let path = PathBuf::from(&grant.path);
                let path = if path.is_relative() {
                    loaded.base_dir.join(path)
                } else {
                    path
                };
                folder.starts_with(absolute(&path))
            })
        })
}

/// Grants that name things this host must have: programs installed,
/// secrets held.
fn check_host_grants(
    loaded: &Loaded,
    process: &ProcessSettings,
    secrets: &SecretStore,
    out: &mut Vec<Diagnostic>,
) {
    for (s, stage) in loaded.pipeline.stages.iter().enumerate() {
        for (a, action) in stage.actions.iter().enumerate() {
            let path = format!("stages[{s}].actions[{a}].grants");
            if let Some(grant) = &action.grants.process {
                for (i, program) in grant.programs.iter().enumerate() {
                    if process.find(program).is_none() {
                        out.push(Diagnostic::error(
                            format!("{path}.process.programs[{i}]"),
                            format!("program `{program}` is not installed on this host (not found on PATH)"),
                        ));
                    }
                }
            }
            for (i, name) in action.grants.secrets.iter().enumerate() {
                if crate::contract::is_secret_name(name) && !secrets.contains(name) {
                    out.push(Diagnostic::error(
                        format!("{path}.secrets[{i}]"),
                        format!(
                            "secret `{name}` is not set on this host: set SLUICE_SECRET_{name} or add it to the state directory's `secrets` file"
                        ),
                    ));
                }
            }
        }
    }
}

/// Warns where a provider's imports ask for a capability its action does
/// not grant: it will be refused if it tries.
fn check_capabilities(
    loaded: &Loaded,
    resolved: &HashMap<String, Resolved>,
    out: &mut Vec<Diagnostic>,
) {
    for (s, stage) in loaded.pipeline.stages.iter().enumerate() {
        for (a, action) in stage.actions.iter().enumerate() {
            let Some(provider) = resolved.get(&action.provider) else {
                continue;
            };
            for capability in provider.provider.capabilities() {
                let granted = match capability {
                    Capability::Process => action.grants.process.is_some(),
                    Capability::Http => action.grants.http.is_some(),
                    Capability::Secrets => !action.grants.secrets.is_empty(),
                };
                if !granted {
                    out.push(Diagnostic::warning(
                        format!("stages[{s}].actions[{a}].grants"),
                        format!(
                            "{} can use `{capability}` (it imports that interface) but action `{}` grants no `{capability}`: it will be refused if it tries",
                            action.provider, action.name
                        ),
                    ));
                }
            }
        }
    }
}

/// Warns where a property the provider marks secret is given a literal
/// value: it would be stored in the pipeline definition, in plain text.
fn check_secret_properties(
    loaded: &Loaded,
    resolved: &HashMap<String, Resolved>,
    out: &mut Vec<Diagnostic>,
) {
    for (s, stage) in loaded.pipeline.stages.iter().enumerate() {
        for (a, action) in stage.actions.iter().enumerate() {
            let Some(provider) = resolved.get(&action.provider) else {
                continue;
            };
            for property in provider.descriptor.properties.iter().filter(|p| p.secret) {
                let Some(value) = action.configuration.get(&property.name) else {
                    continue;
                };
                if !value.trim().is_empty() && !value.contains("#{secrets.") {
                    out.push(Diagnostic::warning(
                        format!("stages[{s}].actions[{a}].configuration.{}", property.name),
                        format!(
                            "property `{}` of action `{}` is secret but holds a literal value, stored in plain text with the pipeline: write `#{{secrets.NAME}}` and grant the secret",
                            property.name, action.name
                        ),
                    ));
                }
            }
        }
    }
}

fn absolute(path: &std::path::Path) -> PathBuf {
    if path.is_absolute() {
        path.to_path_buf()
    } else {
        std::env::current_dir()
            .map(|d| d.join(path))
            .unwrap_or_else(|_| path.to_path_buf())
    }
}

/// What applying a definition did.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct Applied {
    /// The pipeline.
    pub name: String,
    /// Its current version.
    pub version: u32,
    /// Whether this made a new version.
    pub changed: bool,
    /// Warnings about the definition.
    pub warnings: Vec<Diagnostic>,
}

/// Checks a loaded definition and records it as a new version when it
/// changed. Errors carry the definition's findings.
pub async fn apply_reporting(
    store: &mut Store,
    catalog: &Catalog,
    secrets: &SecretStore,
    loaded: &model::Loaded,
) -> Result<Applied, OpError> {
    match apply(loaded, catalog, secrets, store).await {
        Ok((version, changed, report)) => Ok(Applied {
            name: loaded.pipeline.name.clone(),
            version,
            changed,
            warnings: report
                .diagnostics
                .into_iter()
                .filter(|d| d.severity == Severity::Warning)
                .collect(),
        }),
        Err(report) => Err(invalid_pipeline(&report)),
    }
}

/// The error for a definition with errors.
pub fn invalid_pipeline(report: &model::Report) -> OpError {
    let errors = report.error_count();
    let mut error = OpError::new(
        crate::queries::ErrorCode::InvalidPipeline,
        format!(
            "{}: {errors} error{} in the pipeline definition",
            report.file,
            if errors == 1 { "" } else { "s" }
        ),
    )
    .field("definition");
    error.diagnostics = report.diagnostics.clone();
    error
}
