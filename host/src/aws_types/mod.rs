//! AWS action types on Sluice's providers. An action written
//! `aws:CATEGORY/OWNER/PROVIDER/VERSION` (as a CodePipeline declaration's
//! `actionTypeId` is kept) runs on the built-in provider its type maps
//! to, with its AWS configuration translated for that provider, and with
//! what the host's mapping file grants it: never anything the pipeline
//! asks for itself, so a pipeline created through the API gets no grant
//! the operator did not configure.
//!
//! The mapping is `aws-actions.yaml` in the state directory:
//!
//! ```yaml
//! repositories:            # git sources, by CodeCommit RepositoryName,
//!   app: /srv/git/app      # CodeStar FullRepositoryId or GitHub Owner/Repo
//! codebuild:               # CodeBuild builds and tests (builtin:command,
//!   programs: [sh, make]   # builtin:test-command): the process grant
//!   env: { LANG: C.UTF-8 } # every CodeBuild action runs with
//!   timeout: 30m
//!   projects:              # optional, by ProjectName: the buildspec, a path
//!     app: { buildspec: ci/buildspec.yml }   # in the primary source or YAML
//! functions:               # Lambda invocations (builtin:invoke-wasm), by
//!   notify: /srv/fn/notify.wasm              # FunctionName: a component
//! ```
//!
//! A CodeBuild action runs the buildspec its project names, else the
//! primary source's `buildspec.yml` (so a project need not be listed: the
//! grant is the same for all). Its `EnvironmentVariables` of type
//! `PLAINTEXT` become the provider's `Environment`; values kept in
//! Parameter Store or Secrets Manager, batch builds and combined artifacts
//! are refused. A Lambda action runs its function's component with its
//! folder granted read-only and `UserParameters` passed on.

use crate::model::codepipeline::ActionTypeId;
use crate::model::definition::{ProcessGrant, ProcessLimits};
use crate::model::{Action, Diagnostic, PathAccess, PathGrant, Pipeline};
use indexmap::IndexMap;
use serde::{Deserialize, Deserializer};
use std::path::Path;

/// The mapping file's name in the state directory.
pub const MAPPING_FILE: &str = "aws-actions.yaml";

/// What the host lets AWS action types reach.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Mapping {
    /// Git repositories on this host by the name AWS's source actions
    /// give them: CodeCommit's `RepositoryName`, CodeStar's
    /// `FullRepositoryId`, GitHub's `Owner/Repo`.
    #[serde(default)]
    pub repositories: IndexMap<String, String>,
    /// What CodeBuild actions run with; without it they are refused.
    #[serde(default)]
    pub codebuild: Option<CodeBuild>,
    /// Components Lambda actions invoke, by `FunctionName`: absolute paths
    /// of `.wasm` files exporting the provider interface.
    #[serde(default)]
    pub functions: IndexMap<String, String>,
}

/// The `codebuild` section: the process grant every CodeBuild action gets,
/// and the projects that name their own buildspec.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CodeBuild {
    /// Programs the buildspec's commands may run (its shell first of all:
    /// `sh`, or `bash` for `env.shell: bash`).
    #[serde(default)]
    pub programs: Vec<String>,
    /// The environment they get (and PATH, the host's unless set here).
    #[serde(default, deserialize_with = "scalar_map")]
    pub env: IndexMap<String, String>,
    /// Longest one program may run, e.g. `30m`.
    #[serde(default)]
    pub timeout: Option<String>,
    /// Resource limits on each program, as a process grant's.
    #[serde(default)]
    pub limits: Option<ProcessLimits>,
    /// Projects by `ProjectName`; one not listed runs `buildspec.yml`.
    #[serde(default)]
    pub projects: IndexMap<String, Project>,
}

/// A CodeBuild project as this host knows it.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Project {
    /// Its buildspec: a path in the primary source, or the YAML itself
    /// (several lines); `buildspec.yml` when not given.
    #[serde(default)]
    pub buildspec: Option<String>,
}

/// The buildspec a CodeBuild project without one of its own runs, as
/// CodeBuild's.
pub const DEFAULT_BUILDSPEC: &str = "buildspec.yml";

/// A mapping of names to scalars (`JOBS: 4` is "4").
fn scalar_map<'de, D: Deserializer<'de>>(d: D) -> Result<IndexMap<String, String>, D::Error> {
    use serde::de::Error;
    let raw: IndexMap<String, serde_yaml::Value> = IndexMap::deserialize(d)?;
    raw.into_iter()
        .map(|(name, value)| match value {
            serde_yaml::Value::String(s) => Ok((name, s)),
            serde_yaml::Value::Number(n) => Ok((name, n.to_string())),
            serde_yaml::Value::Bool(b) => Ok((name, b.to_string())),
            _ => Err(D::Error::custom(format!("`{name}` must be a single value"))),
        })
        .collect()
}

impl Mapping {
    /// The state directory's mapping; none when it has no file. A file
    /// that cannot be read is an error naming it.
    pub fn load(state_dir: &Path) -> Result<Mapping, String> {
        let path = state_dir.join(MAPPING_FILE);
        let text = match std::fs::read_to_string(&path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Mapping::default()),
            Err(e) => return Err(format!("{}: {e}", path.display())),
        };
        serde_yaml::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))
    }
}

/// The AWS action types Sluice runs, with what each maps to.
pub const SUPPORTED: &[(&str, &str)] = &[
    (
        "Source/AWS/CodeCommit/1",
        "builtin:git, on a repository of the mapping's `repositories`",
    ),
    (
        "Source/AWS/CodeStarSourceConnection/1",
        "builtin:git, on a repository of the mapping's `repositories`",
    ),
    (
        "Source/ThirdParty/GitHub/1",
        "builtin:git, on a repository of the mapping's `repositories`",
    ),
    ("Approval/AWS/Manual/1", "builtin:manual"),
    (
        "Build/AWS/CodeBuild/1",
        "builtin:command, running the project's buildspec with the mapping's `codebuild` grant",
    ),
    (
        "Test/AWS/CodeBuild/1",
        "builtin:test-command, running the project's buildspec with the mapping's `codebuild` grant",
    ),
    (
        "Invoke/AWS/Lambda/1",
        "builtin:invoke-wasm, on a component of the mapping's `functions`",
    ),
];

/// An AWS action as the provider that runs it sees it.
struct Adapted {
    provider: &'static str,
    configuration: IndexMap<String, String>,
    grants: crate::model::Grants,
}

/// Each action of `pipeline` as it runs: AWS action types replaced by the
/// provider, configuration and grants the mapping gives them (other
/// actions as they are); with whether each was, and what is wrong.
pub fn adapt(
    pipeline: &Pipeline,
    mapping: &Mapping,
) -> (Pipeline, Vec<Vec<bool>>, Vec<Diagnostic>) {
    let mut effective = pipeline.clone();
    let mut adapted = Vec::new();
    let mut problems = Vec::new();
    for (s, stage) in effective.stages.iter_mut().enumerate() {
        let mut flags = Vec::new();
        for (a, action) in stage.actions.iter_mut().enumerate() {
            let path = format!("stages[{s}].actions[{a}]");
            let Some(id) = ActionTypeId::from_reference(&action.provider) else {
                flags.push(false);
                continue;
            };
            flags.push(true);
            let id = match id {
                Ok(id) => id,
                Err(message) => {
                    problems.push(Diagnostic::error(format!("{path}.provider"), message));
                    continue;
                }
            };
            if !action.grants.is_empty() {
                problems.push(Diagnostic::error(
                    format!("{path}.grants"),
                    format!(
                        "{} runs with what the host's {MAPPING_FILE} grants it; an action of an AWS type cannot grant itself more",
                        action.provider
                    ),
                ));
                continue;
            }
            match adapt_action(&id, action, mapping) {
                Ok(done) => {
                    action.provider = done.provider.to_string();
                    action.configuration = done.configuration;
                    action.grants = done.grants;
                }
                Err((field, message)) => problems.push(Diagnostic::error(
                    if field.is_empty() {
                        format!("{path}.provider")
                    } else {
                        format!("{path}.configuration.{field}")
                    },
                    message,
                )),
            }
        }
        adapted.push(flags);
    }
    (effective, adapted, problems)
}

/// The keys each type's configuration may have, as AWS documents them.
fn allowed(id: &ActionTypeId) -> Option<&'static [&'static str]> {
    Some(
        match (
            id.category.as_str(),
            id.owner.as_str(),
            id.provider.as_str(),
            id.version.as_str(),
        ) {
            ("Source", "AWS", "CodeCommit", "1") => &[
                "RepositoryName",
                "BranchName",
                "PollForSourceChanges",
                "OutputArtifactFormat",
            ],
            ("Source", "AWS", "CodeStarSourceConnection", "1") => &[
                "ConnectionArn",
                "FullRepositoryId",
                "BranchName",
                "OutputArtifactFormat",
                "DetectChanges",
            ],
            ("Source", "ThirdParty", "GitHub", "1") => &[
                "Owner",
                "Repo",
                "Branch",
                "OAuthToken",
                "PollForSourceChanges",
            ],
            ("Approval", "AWS", "Manual", "1") => {
                &["NotificationArn", "CustomData", "ExternalEntityLink"]
            }
            ("Build" | "Test", "AWS", "CodeBuild", "1") => &[
                "ProjectName",
                "PrimarySource",
                "EnvironmentVariables",
                "BatchEnabled",
                "CombineArtifacts",
            ],
            ("Invoke", "AWS", "Lambda", "1") => &["FunctionName", "UserParameters"],
            _ => return None,
        },
    )
}

fn adapt_action(
    id: &ActionTypeId,
    action: &Action,
    mapping: &Mapping,
) -> Result<Adapted, (String, String)> {
    let type_name = format!(
        "{}/{}/{}/{}",
        id.category, id.owner, id.provider, id.version
    );
    let Some(keys) = allowed(id) else {
        let supported: Vec<&str> = SUPPORTED.iter().map(|(t, _)| *t).collect();
        return Err((
            String::new(),
            format!(
                "Sluice does not run the AWS action type {type_name}; it runs: {}",
                supported.join(", ")
            ),
        ));
    };
    let config = &action.configuration;
    if let Some(key) = config.keys().find(|k| !keys.contains(&k.as_str())) {
        return Err((
            key.clone(),
            format!(
                "{type_name} has no configuration property `{key}` (it has: {})",
                keys.join(", ")
            ),
        ));
    }
    let get = |key: &str| {
        config
            .get(key)
            .map(String::as_str)
            .filter(|v| !v.is_empty())
    };
    let need = |key: &str| {
        get(key).ok_or_else(|| (key.to_string(), format!("{type_name} requires `{key}`")))
    };
    match id.provider.as_str() {
        "CodeCommit" | "CodeStarSourceConnection" | "GitHub" => {
            let (repository, branch) = match id.provider.as_str() {
                "CodeCommit" => (need("RepositoryName")?.to_string(), need("BranchName")?),
                "CodeStarSourceConnection" => {
                    need("ConnectionArn")?;
                    (need("FullRepositoryId")?.to_string(), need("BranchName")?)
                }
                _ => (
                    format!("{}/{}", need("Owner")?, need("Repo")?),
                    need("Branch")?,
                ),
            };
            if let Some(format) = get("OutputArtifactFormat").filter(|f| *f != "CODE_ZIP") {
                return Err((
                    "OutputArtifactFormat".into(),
                    format!(
                        "`{format}` is not supported: the output is the commit's files (CODE_ZIP)"
                    ),
                ));
            }
            let Some(folder) = mapping.repositories.get(&repository) else {
                let known: Vec<&str> = mapping.repositories.keys().map(String::as_str).collect();
                return Err((
                    String::new(),
                    format!(
                        "repository `{repository}` is not one this host maps: add it to `repositories` in the state directory's {MAPPING_FILE} (it maps: {})",
                        if known.is_empty() {
                            "none".to_string()
                        } else {
                            known.join(", ")
                        }
                    ),
                ));
            };
            let mut grants = crate::model::Grants::default();
            grants.paths.insert(
                "repo".into(),
                PathGrant {
                    path: folder.clone(),
                    access: PathAccess::ReadOnly,
                },
            );
            Ok(Adapted {
                provider: "builtin:git",
                configuration: [("Branch".to_string(), branch.to_string())]
                    .into_iter()
                    .collect(),
                grants,
            })
        }
        "Manual" => Ok(Adapted {
            provider: "builtin:manual",
            configuration: ["CustomData", "ExternalEntityLink", "NotificationArn"]
                .iter()
                .filter_map(|k| config.get(*k).map(|v| (k.to_string(), v.clone())))
                .collect(),
            grants: Default::default(),
        }),
        "CodeBuild" => codebuild(id, action, mapping, &type_name),
        "Lambda" => lambda(action, mapping, &type_name),
        _ => unreachable!("every type `allowed` knows is adapted"),
    }
}

/// A problem with a configuration property (or, with an empty name, with
/// the action as a whole).
type Refusal = (String, String);

/// CodeBuild on `builtin:command` (Build) or `builtin:test-command`
/// (Test): the project's buildspec, read from the primary source when the
/// action runs, with the mapping's process grant.
fn codebuild(
    id: &ActionTypeId,
    action: &Action,
    mapping: &Mapping,
    type_name: &str,
) -> Result<Adapted, Refusal> {
    let config = &action.configuration;
    let get = |key: &str| config.get(key).map(|v| v.trim()).filter(|v| !v.is_empty());
    let project = get("ProjectName").ok_or_else(|| {
        (
            "ProjectName".to_string(),
            format!("{type_name} requires `ProjectName`"),
        )
    })?;
    for key in ["BatchEnabled", "CombineArtifacts"] {
        match get(key).map(str::to_ascii_lowercase).as_deref() {
            None | Some("false") => {}
            Some("true") => {
                return Err((
                    key.into(),
                    "batch builds are not supported: each CodeBuild action is one build".into(),
                ));
            }
            Some(other) => {
                return Err((key.into(), format!("must be true or false, not `{other}`")));
            }
        }
    }
    let Some(codebuild) = mapping
        .codebuild
        .as_ref()
        .filter(|c| !c.programs.is_empty())
    else {
        return Err((
            String::new(),
            format!(
                "{type_name} runs its buildspec with the programs this host grants CodeBuild actions, and it grants none: add `codebuild.programs` (e.g. `codebuild: {{ programs: [sh] }}`) to the state directory's {MAPPING_FILE}"
            ),
        ));
    };
    let primary = match get("PrimarySource") {
        Some(name) if !action.inputs.iter().any(|i| i == name) => {
            return Err((
                "PrimarySource".into(),
                format!(
                    "`{name}` is not an input artifact of the action (its inputs: {})",
                    listed(action.inputs.iter().map(String::as_str))
                ),
            ));
        }
        Some(name) => Some(name),
        None if action.inputs.len() > 1 => {
            return Err((
                "PrimarySource".into(),
                format!(
                    "{type_name} with several input artifacts requires `PrimarySource`, the one holding the buildspec (one of: {})",
                    listed(action.inputs.iter().map(String::as_str))
                ),
            ));
        }
        None => None,
    };
    let mut configuration = IndexMap::new();
    configuration.insert(
        "BuildSpec".to_string(),
        codebuild
            .projects
            .get(project)
            .and_then(|p| p.buildspec.clone())
            .unwrap_or_else(|| DEFAULT_BUILDSPEC.to_string()),
    );
    if let Some(primary) = primary {
        configuration.insert("PrimarySource".to_string(), primary.to_string());
    }
    if let Some(json) = get("EnvironmentVariables") {
        let lines = environment_variables(json)
            .map_err(|message| ("EnvironmentVariables".to_string(), message))?;
        if !lines.is_empty() {
            configuration.insert("Environment".to_string(), lines.join("\n"));
        }
    }
    let grants = crate::model::Grants {
        process: Some(ProcessGrant {
            programs: codebuild.programs.clone(),
            env: codebuild.env.clone(),
            timeout: codebuild.timeout.clone(),
            limits: codebuild.limits.clone(),
        }),
        ..Default::default()
    };
    Ok(Adapted {
        provider: if id.category == "Test" {
            "builtin:test-command"
        } else {
            "builtin:command"
        },
        configuration,
        grants,
    })
}

/// CodeBuild's `EnvironmentVariables` (a JSON list of `name`, `value` and
/// `type`) as `NAME=value` lines; only `PLAINTEXT` values can be given.
fn environment_variables(json: &str) -> Result<Vec<String>, String> {
    #[derive(Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Variable {
        name: String,
        value: String,
        #[serde(default, rename = "type")]
        kind: Option<String>,
    }
    let variables: Vec<Variable> = serde_json::from_str(json).map_err(|e| {
        format!("must be a JSON list of {{\"name\", \"value\", \"type\"}} objects: {e}")
    })?;
    let mut lines = Vec::new();
    for v in variables {
        let name = v.name.trim();
        if name.is_empty() || name.contains(['=', '\n']) {
            return Err(format!("`{}` is not a variable name", v.name));
        }
        match v.kind.as_deref().unwrap_or("PLAINTEXT") {
            "PLAINTEXT" => {}
            kind @ ("PARAMETER_STORE" | "SECRETS_MANAGER") => {
                return Err(format!(
                    "variable `{name}` is of type {kind}: Sluice reads no AWS Systems Manager parameters or Secrets Manager secrets; give it as PLAINTEXT"
                ));
            }
            other => {
                return Err(format!(
                    "variable `{name}` has type `{other}` (types are PLAINTEXT, PARAMETER_STORE, SECRETS_MANAGER)"
                ));
            }
        }
        if v.value.contains('\n') {
            return Err(format!("variable `{name}`: a value must be one line"));
        }
        lines.push(format!("{name}={}", v.value));
    }
    Ok(lines)
}

/// Lambda on `builtin:invoke-wasm`: the component the mapping names,
/// its folder granted read-only.
fn lambda(action: &Action, mapping: &Mapping, type_name: &str) -> Result<Adapted, Refusal> {
    let config = &action.configuration;
    let name = config
        .get("FunctionName")
        .map(|v| v.trim())
        .filter(|v| !v.is_empty())
        .ok_or_else(|| {
            (
                "FunctionName".to_string(),
                format!("{type_name} requires `FunctionName`"),
            )
        })?;
    // An ARN names the function after `:function:` (and maybe a version).
    let key = name
        .split_once(":function:")
        .map(|(_, rest)| rest.split(':').next().unwrap_or(rest))
        .unwrap_or(name);
    let Some(component) = mapping.functions.get(key) else {
        return Err((
            "FunctionName".into(),
            format!(
                "function `{key}` is not one this host maps: add it to `functions` in the state directory's {MAPPING_FILE} (it maps: {})",
                listed(mapping.functions.keys().map(String::as_str))
            ),
        ));
    };
    let path = Path::new(component);
    let (Some(folder), Some(file)) = (path.parent(), path.file_name()) else {
        return Err((String::new(), mapping_problem(key, component)));
    };
    if !path.is_absolute() || folder.as_os_str().is_empty() {
        return Err((String::new(), mapping_problem(key, component)));
    }
    let mut grants = crate::model::Grants::default();
    grants.paths.insert(
        "function".into(),
        PathGrant {
            path: folder.display().to_string(),
            access: PathAccess::ReadOnly,
        },
    );
    let mut configuration = IndexMap::new();
    configuration.insert(
        "Component".to_string(),
        format!("/paths/function/{}", file.to_string_lossy()),
    );
    if let Some(parameters) = config.get("UserParameters") {
        configuration.insert("UserParameters".to_string(), parameters.clone());
    }
    Ok(Adapted {
        provider: "builtin:invoke-wasm",
        configuration,
        grants,
    })
}

fn mapping_problem(name: &str, component: &str) -> String {
    format!(
        "function `{name}` is mapped to `{component}` in the state directory's {MAPPING_FILE}: it must be the absolute path of a .wasm file"
    )
}

/// `a, b, c`, or `none`.
fn listed<'a>(names: impl Iterator<Item = &'a str>) -> String {
    let names: Vec<&str> = names.collect();
    if names.is_empty() {
        "none".to_string()
    } else {
        names.join(", ")
    }
}

#[cfg(test)]
mod tests;
