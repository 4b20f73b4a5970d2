//! CodePipeline's pipeline declaration (the `pipeline` member of
//! `GetPipeline`'s output and `CreatePipeline`'s input, in the 2015-07-09
//! model's JSON) and Sluice's definition, each way.
//!
//! From CodePipeline: every member Sluice understands is converted, and
//! converting back gives the same declaration; a member it does not
//! understand is refused naming it ([`Refused`]), never dropped in
//! silence. The members that describe AWS's own infrastructure (`roleArn`,
//! `artifactStore`, `pipelineType`, an action's `roleArn`) are accepted and
//! not kept: Sluice's grants, artifact store and pipeline model stand in
//! for them, and converting back answers the host's (see [`Host`]).
//!
//! An action's `actionTypeId` is its provider: a Sluice provider reference
//! (`builtin:git`, `acme/scan@^1`, `./p.wasm`) is written as owner
//! `Custom` with the reference as the provider's name; any other type is
//! kept as `aws:CATEGORY/OWNER/PROVIDER/VERSION`, which the host's mapping
//! of AWS action types runs.
//!
//! From Sluice: what CodePipeline cannot say (grants, limits, polling
//! intervals, notifications, retention) is left out, and
//! [`keep_host_settings`] carries it over when a declaration comes back
//! for a pipeline that has it.

use super::definition::{Action, ExecutionMode, Filter, Pipeline, Stage, Trigger, Variable};
use crate::contract::Category;
use serde_json::{Map, Value, json};

/// The prefix of an AWS action type written as a Sluice provider.
pub const AWS_PREFIX: &str = "aws:";

/// A member of a declaration Sluice cannot take, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refused {
    /// Where it is, e.g. `pipeline.stages[1].actions[0].region`.
    pub field: String,
    /// What is wrong.
    pub message: String,
}

impl std::fmt::Display for Refused {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.field, self.message)
    }
}

fn refuse(field: impl Into<String>, message: impl Into<String>) -> Refused {
    Refused {
        field: field.into(),
        message: message.into(),
    }
}

/// An action type as CodePipeline names it.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ActionTypeId {
    /// `Source`, `Build`, `Test`, `Deploy`, `Approval`, `Invoke`, `Compute`.
    pub category: String,
    /// `AWS`, `ThirdParty` or `Custom`.
    pub owner: String,
    /// The provider's name, e.g. `CodeBuild`.
    pub provider: String,
    /// Its version, e.g. `1`.
    pub version: String,
}

/// The categories of the model.
const CATEGORIES: [&str; 7] = [
    "Source", "Build", "Test", "Deploy", "Approval", "Invoke", "Compute",
];

/// The owners of the model.
const OWNERS: [&str; 3] = ["AWS", "ThirdParty", "Custom"];

impl ActionTypeId {
    /// The Sluice provider reference of an AWS type:
    /// `aws:CATEGORY/OWNER/PROVIDER/VERSION`.
    pub fn reference(&self) -> String {
        format!(
            "{AWS_PREFIX}{}/{}/{}/{}",
            self.category, self.owner, self.provider, self.version
        )
    }

    /// The type an `aws:` reference names; `None` for other references.
    pub fn from_reference(reference: &str) -> Option<Result<ActionTypeId, String>> {
        let rest = reference.strip_prefix(AWS_PREFIX)?;
        let parts: Vec<&str> = rest.split('/').collect();
        let [category, owner, provider, version] = parts[..] else {
            return Some(Err(format!(
                "`{reference}` must be written aws:CATEGORY/OWNER/PROVIDER/VERSION, e.g. aws:Build/AWS/CodeBuild/1"
            )));
        };
        let id = ActionTypeId {
            category: category.into(),
            owner: owner.into(),
            provider: provider.into(),
            version: version.into(),
        };
        Some(id.check().map(|()| id))
    }

    /// Checks each part against the model's constraints.
    pub fn check(&self) -> Result<(), String> {
        if !CATEGORIES.contains(&self.category.as_str()) {
            return Err(format!(
                "category `{}` is not one of {}",
                self.category,
                CATEGORIES.join(", ")
            ));
        }
        if !OWNERS.contains(&self.owner.as_str()) {
            return Err(format!(
                "owner `{}` is not one of {}",
                self.owner,
                OWNERS.join(", ")
            ));
        }
        let name_ok = |s: &str, most: usize| {
            !s.is_empty()
                && s.len() <= most
                && s.chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
        };
        if !name_ok(&self.provider, 35) {
            return Err(format!(
                "provider `{}` must be 1 to 35 letters, digits, `_` or `-`",
                self.provider
            ));
        }
        if !name_ok(&self.version, 9) {
            return Err(format!(
                "version `{}` must be 1 to 9 letters, digits, `_` or `-`",
                self.version
            ));
        }
        Ok(())
    }

    /// Whether actions of this type run as jobs external workers take
    /// (`PollForJobs`, `PollForThirdPartyJobs`): custom types, and
    /// third-party ones Sluice does not map to a provider.
    pub fn is_job_worker_type(&self) -> bool {
        self.owner == "Custom" || (self.owner == "ThirdParty" && self.provider != "GitHub")
    }

    /// `Category/Owner/Provider/Version`.
    pub fn key(&self) -> String {
        format!(
            "{}/{}/{}/{}",
            self.category, self.owner, self.provider, self.version
        )
    }

    /// As the model writes it.
    pub fn to_json(&self) -> Value {
        json!({
            "category": self.category,
            "owner": self.owner,
            "provider": self.provider,
            "version": self.version,
        })
    }
}

/// CodePipeline's name of a Sluice category.
pub fn category_name(category: Category) -> &'static str {
    match category {
        Category::Source => "Source",
        Category::Build => "Build",
        Category::Test => "Test",
        Category::Deploy => "Deploy",
        Category::Approval => "Approval",
        Category::Invoke => "Invoke",
    }
}

/// Whether an action type's provider name is a Sluice provider reference
/// (`builtin:NAME`, `owner/name@REQ`, a path), which CodePipeline's own
/// names never are.
fn is_sluice_reference(provider: &str) -> bool {
    provider.contains(':') || provider.contains('/') || provider.ends_with(".wasm")
}

/// What the host answers for the AWS members Sluice does not keep.
#[derive(Debug, Clone)]
pub struct Host {
    /// The pipeline's `roleArn`.
    pub role_arn: String,
    /// `artifactStore.location`.
    pub artifact_location: String,
}

/// The declaration in a document: a `get-pipeline` output or a
/// `create-pipeline --cli-input-json` input (`{"pipeline": {...}}`, with
/// `metadata` or `tags` beside it), or the declaration itself.
pub fn declaration_of(document: &Value) -> &Value {
    match document.get("pipeline") {
        Some(inner) if inner.is_object() => inner,
        _ => document,
    }
}

/// Whether a JSON document is a CodePipeline declaration rather than a
/// Sluice definition: its actions have `actionTypeId`.
pub fn is_declaration(document: &Value) -> bool {
    declaration_of(document)
        .get("stages")
        .and_then(Value::as_array)
        .is_some_and(|stages| {
            stages.iter().any(|s| {
                s.get("actions")
                    .and_then(Value::as_array)
                    .is_some_and(|a| a.iter().any(|a| a.get("actionTypeId").is_some()))
            })
        })
}

/// A member's fields, with any member not in `known` refused.
fn members<'a>(
    value: &'a Value,
    field: &str,
    known: &[&str],
    dropped: &[&str],
) -> Result<&'a Map<String, Value>, Refused> {
    let object = value
        .as_object()
        .ok_or_else(|| refuse(field, "must be an object"))?;
    for key in object.keys() {
        if dropped.contains(&key.as_str()) {
            continue;
        }
        if !known.contains(&key.as_str()) {
            return Err(refuse(
                format!("{field}.{key}"),
                format!(
                    "Sluice does not support `{key}` here (it takes: {})",
                    known.join(", ")
                ),
            ));
        }
    }
    Ok(object)
}

fn string<'a>(
    object: &'a Map<String, Value>,
    key: &str,
    field: &str,
) -> Result<Option<&'a str>, Refused> {
    match object.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(_) => Err(refuse(format!("{field}.{key}"), "must be a string")),
    }
}

fn required_string<'a>(
    object: &'a Map<String, Value>,
    key: &str,
    field: &str,
) -> Result<&'a str, Refused> {
    string(object, key, field)?
        .filter(|s| !s.is_empty())
        .ok_or_else(|| refuse(format!("{field}.{key}"), "is required"))
}

fn list<'a>(
    object: &'a Map<String, Value>,
    key: &str,
    field: &str,
) -> Result<&'a [Value], Refused> {
    match object.get(key) {
        None | Some(Value::Null) => Ok(&[]),
        Some(Value::Array(items)) => Ok(items),
        Some(_) => Err(refuse(format!("{field}.{key}"), "must be a list")),
    }
}

/// Sluice's definition of a CodePipeline declaration.
pub fn from_declaration(declaration: &Value) -> Result<Pipeline, Refused> {
    let field = "pipeline";
    let object = members(
        declaration,
        field,
        &["name", "stages", "executionMode", "variables", "triggers"],
        &["roleArn", "artifactStore", "pipelineType", "version"],
    )?;
    if let Some(stores) = object.get("artifactStores").filter(|v| !v.is_null()) {
        let _ = stores;
        return Err(refuse(
            "pipeline.artifactStores",
            "cross-region artifact stores are not supported: Sluice keeps artifacts in its own store",
        ));
    }
    let name = required_string(object, "name", field)?.to_string();
    let execution_mode = match string(object, "executionMode", field)? {
        None | Some("SUPERSEDED") => ExecutionMode::Superseded,
        Some("QUEUED") => ExecutionMode::Queued,
        Some("PARALLEL") => ExecutionMode::Parallel,
        Some(other) => {
            return Err(refuse(
                "pipeline.executionMode",
                format!("`{other}` is not one of QUEUED, SUPERSEDED, PARALLEL"),
            ));
        }
    };
    let mut variables = Vec::new();
    for (i, v) in list(object, "variables", field)?.iter().enumerate() {
        let field = format!("pipeline.variables[{i}]");
        let v = members(v, &field, &["name", "defaultValue", "description"], &[])?;
        variables.push(Variable {
            name: required_string(v, "name", &field)?.to_string(),
            default: string(v, "defaultValue", &field)?.map(str::to_string),
            description: string(v, "description", &field)?.map(str::to_string),
        });
    }
    let mut stages = Vec::new();
    for (s, stage) in list(object, "stages", field)?.iter().enumerate() {
        stages.push(stage_from(stage, &format!("pipeline.stages[{s}]"))?);
    }
    if stages.is_empty() {
        return Err(refuse("pipeline.stages", "is required"));
    }
    let mut triggers = Vec::new();
    for (t, trigger) in list(object, "triggers", field)?.iter().enumerate() {
        triggers.push(trigger_from(trigger, &format!("pipeline.triggers[{t}]"))?);
    }
    Ok(Pipeline {
        name,
        execution_mode,
        variables,
        stages,
        triggers,
        notifications: Vec::new(),
        retention: Default::default(),
    })
}

fn stage_from(stage: &Value, field: &str) -> Result<Stage, Refused> {
    let object = members(stage, field, &["name", "actions"], &[])?;
    for unsupported in ["blockers", "onFailure", "onSuccess", "beforeEntry"] {
        if object.get(unsupported).is_some_and(|v| !v.is_null()) {
            return Err(refuse(
                format!("{field}.{unsupported}"),
                "stage conditions and blockers are not supported by Sluice yet",
            ));
        }
    }
    let mut actions = Vec::new();
    for (a, action) in list(object, "actions", field)?.iter().enumerate() {
        actions.push(action_from(action, &format!("{field}.actions[{a}]"))?);
    }
    Ok(Stage {
        name: required_string(object, "name", field)?.to_string(),
        actions,
    })
}

fn action_from(action: &Value, field: &str) -> Result<Action, Refused> {
    let object = members(
        action,
        field,
        &[
            "name",
            "actionTypeId",
            "runOrder",
            "configuration",
            "inputArtifacts",
            "outputArtifacts",
            "namespace",
            "timeoutInMinutes",
        ],
        &["roleArn"],
    )?;
    for unsupported in [
        "region",
        "commands",
        "outputVariables",
        "environmentVariables",
    ] {
        if object.get(unsupported).is_some_and(|v| !v.is_null()) {
            return Err(refuse(
                format!("{field}.{unsupported}"),
                match unsupported {
                    "region" => {
                        "cross-region actions are not supported: every action runs on Sluice's hosts"
                    }
                    _ => {
                        "the Commands action's members are not supported yet; use a Build/AWS/CodeBuild action"
                    }
                },
            ));
        }
    }
    let type_field = format!("{field}.actionTypeId");
    let id = object
        .get("actionTypeId")
        .ok_or_else(|| refuse(&type_field, "is required"))?;
    let id = members(
        id,
        &type_field,
        &["category", "owner", "provider", "version"],
        &[],
    )?;
    let id = ActionTypeId {
        category: required_string(id, "category", &type_field)?.to_string(),
        owner: required_string(id, "owner", &type_field)?.to_string(),
        provider: required_string(id, "provider", &type_field)?.to_string(),
        version: required_string(id, "version", &type_field)?.to_string(),
    };
    let provider = if id.owner == "Custom" && is_sluice_reference(&id.provider) {
        if !CATEGORIES.contains(&id.category.as_str()) {
            return Err(refuse(
                format!("{type_field}.category"),
                format!("`{}` is not one of {}", id.category, CATEGORIES.join(", ")),
            ));
        }
        id.provider.clone()
    } else {
        id.check().map_err(|m| refuse(&type_field, m))?;
        id.reference()
    };
    let run_order = match object.get("runOrder") {
        None | Some(Value::Null) => 1,
        Some(v) => v
            .as_u64()
            .filter(|n| (1..=999).contains(n))
            .ok_or_else(|| refuse(format!("{field}.runOrder"), "must be 1 to 999"))?
            as u32,
    };
    let mut configuration = indexmap::IndexMap::new();
    if let Some(config) = object.get("configuration").filter(|v| !v.is_null()) {
        let config = config
            .as_object()
            .ok_or_else(|| refuse(format!("{field}.configuration"), "must be a map"))?;
        for (key, value) in config {
            let value = value.as_str().ok_or_else(|| {
                refuse(format!("{field}.configuration.{key}"), "must be a string")
            })?;
            configuration.insert(key.clone(), value.to_string());
        }
    }
    let artifacts = |key: &str| -> Result<Vec<String>, Refused> {
        let mut names = Vec::new();
        for (i, artifact) in list(object, key, field)?.iter().enumerate() {
            let here = format!("{field}.{key}[{i}]");
            let artifact = members(artifact, &here, &["name"], &[])?;
            if artifact.get("files").is_some() {
                return Err(refuse(format!("{here}.files"), "is not supported"));
            }
            names.push(required_string(artifact, "name", &here)?.to_string());
        }
        Ok(names)
    };
    let timeout = match object.get("timeoutInMinutes") {
        None | Some(Value::Null) => None,
        Some(v) => Some(format!(
            "{}m",
            v.as_u64()
                .filter(|n| (5..=86400).contains(n))
                .ok_or_else(|| refuse(format!("{field}.timeoutInMinutes"), "must be 5 to 86400"))?
        )),
    };
    Ok(Action {
        name: required_string(object, "name", field)?.to_string(),
        provider,
        run_order,
        configuration,
        inputs: artifacts("inputArtifacts")?,
        outputs: artifacts("outputArtifacts")?,
        namespace: string(object, "namespace", field)?.map(str::to_string),
        timeout,
        memory: None,
        output_size: None,
        output_files: None,
        grants: Default::default(),
    })
}

fn trigger_from(trigger: &Value, field: &str) -> Result<Trigger, Refused> {
    let object = members(trigger, field, &["providerType", "gitConfiguration"], &[])?;
    match required_string(object, "providerType", field)? {
        "CodeStarSourceConnection" => {}
        other => {
            return Err(refuse(
                format!("{field}.providerType"),
                format!("`{other}` is not CodeStarSourceConnection"),
            ));
        }
    }
    let git_field = format!("{field}.gitConfiguration");
    let git = object
        .get("gitConfiguration")
        .ok_or_else(|| refuse(&git_field, "is required"))?;
    let git = members(git, &git_field, &["sourceActionName", "push"], &[])?;
    if git.get("pullRequest").is_some() {
        return Err(refuse(
            format!("{git_field}.pullRequest"),
            "pull request triggers are not supported yet",
        ));
    }
    let pushes = list(git, "push", &git_field)?;
    if pushes.len() > 1 {
        return Err(refuse(
            format!("{git_field}.push"),
            "Sluice takes one push filter per trigger",
        ));
    }
    let mut branches = None;
    let mut file_paths = None;
    if let Some(push) = pushes.first() {
        let here = format!("{git_field}.push[0]");
        let push = members(push, &here, &["branches", "filePaths"], &[])?;
        if push.get("tags").is_some() {
            return Err(refuse(
                format!("{here}.tags"),
                "tag filters are not supported yet",
            ));
        }
        branches = filter_from(push.get("branches"), &format!("{here}.branches"))?;
        file_paths = filter_from(push.get("filePaths"), &format!("{here}.filePaths"))?;
    }
    Ok(Trigger {
        source: required_string(git, "sourceActionName", &git_field)?.to_string(),
        poll: None,
        branches,
        file_paths,
    })
}

fn filter_from(value: Option<&Value>, field: &str) -> Result<Option<Filter>, Refused> {
    let Some(value) = value.filter(|v| !v.is_null()) else {
        return Ok(None);
    };
    let object = members(value, field, &["includes", "excludes"], &[])?;
    let globs = |key: &str| -> Result<Vec<String>, Refused> {
        list(object, key, field)?
            .iter()
            .map(|g| {
                g.as_str()
                    .map(str::to_string)
                    .ok_or_else(|| refuse(format!("{field}.{key}"), "must be a list of strings"))
            })
            .collect()
    };
    Ok(Some(Filter {
        include: globs("includes")?,
        exclude: globs("excludes")?,
    }))
}

/// CodePipeline's declaration of a Sluice definition: `categories` are
/// each action's provider's category (by stage, by action), `version` the
/// pipeline version's number.
pub fn to_declaration(
    pipeline: &Pipeline,
    categories: &[Vec<Category>],
    version: u32,
    host: &Host,
) -> Value {
    let stages: Vec<Value> = pipeline
        .stages
        .iter()
        .enumerate()
        .map(|(s, stage)| {
            let actions: Vec<Value> = stage
                .actions
                .iter()
                .enumerate()
                .map(|(a, action)| {
                    let category = categories
                        .get(s)
                        .and_then(|c| c.get(a))
                        .copied()
                        .unwrap_or(Category::Build);
                    action_to(action, category)
                })
                .collect();
            json!({"name": stage.name, "actions": actions})
        })
        .collect();
    let mut out = json!({
        "name": pipeline.name,
        "roleArn": host.role_arn,
        "artifactStore": {"type": "S3", "location": host.artifact_location},
        "stages": stages,
        "version": version,
        "executionMode": pipeline.execution_mode.as_str().to_uppercase(),
        "pipelineType": "V2",
    });
    if !pipeline.variables.is_empty() {
        out["variables"] = pipeline
            .variables
            .iter()
            .map(|v| {
                let mut out = json!({"name": v.name});
                if let Some(d) = &v.default {
                    out["defaultValue"] = json!(d);
                }
                if let Some(d) = &v.description {
                    out["description"] = json!(d);
                }
                out
            })
            .collect();
    }
    if !pipeline.triggers.is_empty() {
        out["triggers"] = pipeline.triggers.iter().map(trigger_to).collect();
    }
    out
}

fn action_to(action: &Action, category: Category) -> Value {
    let id = match ActionTypeId::from_reference(&action.provider) {
        Some(Ok(id)) => id,
        _ => ActionTypeId {
            category: category_name(category).into(),
            owner: "Custom".into(),
            provider: action.provider.clone(),
            version: "1".into(),
        },
    };
    let mut out = json!({
        "name": action.name,
        "actionTypeId": id.to_json(),
        "runOrder": action.run_order,
        "configuration": action.configuration,
        "inputArtifacts": action.inputs.iter().map(|n| json!({"name": n})).collect::<Vec<_>>(),
        "outputArtifacts": action.outputs.iter().map(|n| json!({"name": n})).collect::<Vec<_>>(),
    });
    if let Some(namespace) = &action.namespace {
        out["namespace"] = json!(namespace);
    }
    if let Some(minutes) = action.timeout.as_deref().and_then(timeout_minutes) {
        out["timeoutInMinutes"] = json!(minutes);
    }
    out
}

/// A Sluice timeout in CodePipeline's whole minutes (5 to 86400), rounded up.
fn timeout_minutes(timeout: &str) -> Option<u64> {
    let seconds = crate::units::parse_duration(timeout).ok()?.as_secs();
    Some(seconds.div_ceil(60).clamp(5, 86400))
}

fn trigger_to(trigger: &Trigger) -> Value {
    let filter = |f: &Filter| {
        let mut out = json!({});
        if !f.include.is_empty() {
            out["includes"] = json!(f.include);
        }
        if !f.exclude.is_empty() {
            out["excludes"] = json!(f.exclude);
        }
        out
    };
    let mut git = json!({"sourceActionName": trigger.source});
    if trigger.branches.is_some() || trigger.file_paths.is_some() {
        let mut push = json!({});
        if let Some(b) = &trigger.branches {
            push["branches"] = filter(b);
        }
        if let Some(f) = &trigger.file_paths {
            push["filePaths"] = filter(f);
        }
        git["push"] = json!([push]);
    }
    json!({"providerType": "CodeStarSourceConnection", "gitConfiguration": git})
}

/// Carries what CodePipeline cannot say from `current` (the pipeline's
/// definition now) into `new` (converted from a declaration): the
/// notifications and retention, each trigger's polling, and the grants and
/// limits of every action that keeps its stage, name and provider (its
/// timeout too, when the declaration's is the current one rounded).
pub fn keep_host_settings(current: &Pipeline, new: &mut Pipeline) {
    if new.notifications.is_empty() {
        new.notifications = current.notifications.clone();
    }
    if new.retention == Default::default() {
        new.retention = current.retention;
    }
    for trigger in &mut new.triggers {
        if trigger.poll.is_none()
            && let Some(old) = current.triggers.iter().find(|t| t.source == trigger.source)
        {
            trigger.poll = old.poll.clone();
        }
    }
    for stage in &mut new.stages {
        let Some(old_stage) = current.stages.iter().find(|s| s.name == stage.name) else {
            continue;
        };
        for action in &mut stage.actions {
            let Some(old) = old_stage
                .actions
                .iter()
                .find(|a| a.name == action.name && a.provider == action.provider)
            else {
                continue;
            };
            action.grants = old.grants.clone();
            action.memory = old.memory.clone();
            action.output_size = old.output_size.clone();
            action.output_files = old.output_files;
            let shown = old.timeout.as_deref().and_then(timeout_minutes);
            let given = action.timeout.as_deref().and_then(timeout_minutes);
            if shown == given {
                action.timeout = old.timeout.clone();
            }
        }
    }
}

#[cfg(test)]
#[path = "codepipeline_tests.rs"]
mod tests;
