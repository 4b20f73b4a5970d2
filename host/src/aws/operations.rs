//! CodePipeline's operations on Sluice's engine and store. Each takes the
//! operation's input (JSON, as the model shapes it) and answers its
//! output; a refusal is the error CodePipeline documents for it.
//!
//! Answered now: `ListPipelines`, `StartPipelineExecution`,
//! `GetPipelineExecution`, `ListPipelineExecutions`,
//! `StopPipelineExecution`, `RetryStageExecution`,
//! `EnableStageTransition`, `DisableStageTransition`. The model's other 36
//! operations are known (and role-checked) and answer
//! `UnsupportedOperationException` naming themselves, never a made-up
//! success.

use super::AwsError;
use crate::access::{Principal, Role};
use crate::api::AppState;
use crate::engine::{Command, CommandError, Start};
use serde_json::{Value, json};

/// Every operation of the 2015-07-09 model, with the role it needs.
const OPERATIONS: &[(&str, Role)] = &[
    ("AcknowledgeJob", Role::Operate),
    ("AcknowledgeThirdPartyJob", Role::Operate),
    ("CreateCustomActionType", Role::Admin),
    ("CreatePipeline", Role::Admin),
    ("DeleteCustomActionType", Role::Admin),
    ("DeletePipeline", Role::Admin),
    ("DeleteWebhook", Role::Admin),
    ("DeregisterWebhookWithThirdParty", Role::Admin),
    ("DisableStageTransition", Role::Operate),
    ("EnableStageTransition", Role::Operate),
    ("GetActionType", Role::Read),
    ("GetJobDetails", Role::Operate),
    ("GetPipeline", Role::Read),
    ("GetPipelineExecution", Role::Read),
    ("GetPipelineState", Role::Read),
    ("GetThirdPartyJobDetails", Role::Operate),
    ("ListActionExecutions", Role::Read),
    ("ListActionTypes", Role::Read),
    ("ListDeployActionExecutionTargets", Role::Read),
    ("ListPipelineExecutions", Role::Read),
    ("ListPipelines", Role::Read),
    ("ListRuleExecutions", Role::Read),
    ("ListRuleTypes", Role::Read),
    ("ListTagsForResource", Role::Read),
    ("ListWebhooks", Role::Read),
    ("OverrideStageCondition", Role::Operate),
    ("PollForJobs", Role::Operate),
    ("PollForThirdPartyJobs", Role::Operate),
    ("PutActionRevision", Role::Operate),
    ("PutApprovalResult", Role::Operate),
    ("PutJobFailureResult", Role::Operate),
    ("PutJobSuccessResult", Role::Operate),
    ("PutThirdPartyJobFailureResult", Role::Operate),
    ("PutThirdPartyJobSuccessResult", Role::Operate),
    ("PutWebhook", Role::Admin),
    ("RegisterWebhookWithThirdParty", Role::Admin),
    ("RetryStageExecution", Role::Operate),
    ("RollbackStage", Role::Operate),
    ("StartPipelineExecution", Role::Operate),
    ("StopPipelineExecution", Role::Operate),
    ("TagResource", Role::Admin),
    ("UntagResource", Role::Admin),
    ("UpdateActionType", Role::Admin),
    ("UpdatePipeline", Role::Admin),
];

/// Every operation of the model, by name.
pub fn names() -> impl Iterator<Item = &'static str> {
    OPERATIONS.iter().map(|(name, _)| *name)
}

/// The role `operation` needs; `None` for a name the model does not have.
pub fn role_of(operation: &str) -> Option<Role> {
    OPERATIONS
        .iter()
        .find(|(name, _)| *name == operation)
        .map(|(_, role)| *role)
}

/// Runs `operation` with `input` for `principal`.
pub async fn run(
    state: &AppState,
    principal: &Principal,
    operation: &str,
    input: &Value,
) -> Result<Value, AwsError> {
    match operation {
        "ListPipelines" => list_pipelines(state, input).await,
        "StartPipelineExecution" => start_execution(state, principal, input).await,
        "GetPipelineExecution" => get_execution(state, input).await,
        "ListPipelineExecutions" => list_executions(state, input).await,
        "StopPipelineExecution" => stop_execution(state, input).await,
        "RetryStageExecution" => retry_stage(state, input).await,
        "EnableStageTransition" => transition(state, principal, input, true).await,
        "DisableStageTransition" => transition(state, principal, input, false).await,
        "GetPipeline" => super::pipelines::get(state, input).await,
        "CreatePipeline" => super::pipelines::create(state, input).await,
        "UpdatePipeline" => super::pipelines::update(state, input).await,
        "DeletePipeline" => super::pipelines::delete(state, input).await,
        "TagResource" => super::tags::tag_resource(state, input).await,
        "UntagResource" => super::tags::untag_resource(state, input).await,
        "ListTagsForResource" => super::tags::list(state, input).await,
        "GetPipelineState" => super::state::get_state(state, input).await,
        "PutApprovalResult" => super::state::put_approval(state, principal, input).await,
        "ListActionExecutions" => super::state::list_action_executions(state, input).await,
        "PutWebhook" => super::webhooks::put(state, input).await,
        "ListWebhooks" => super::webhooks::list(state, input).await,
        "DeleteWebhook" => super::webhooks::delete(state, input).await,
        "RegisterWebhookWithThirdParty" => super::webhooks::register(state, input, true).await,
        "DeregisterWebhookWithThirdParty" => super::webhooks::register(state, input, false).await,
        "ListActionTypes" => super::action_types::list(state, input).await,
        "GetActionType" => super::action_types::get(state, input).await,
        "CreateCustomActionType" => super::action_types::create(state, input).await,
        "UpdateActionType" => super::action_types::update(state, input).await,
        "DeleteCustomActionType" => super::action_types::delete(state, input).await,
        "PutActionRevision" => put_action_revision(state, principal, input).await,
        "ListRuleTypes" => super::conditions::list_rule_types(state, input).await,
        "ListRuleExecutions" => super::conditions::list_rule_executions(state, input).await,
        "OverrideStageCondition" => super::conditions::override_stage_condition(state, input).await,
        "RollbackStage" => super::conditions::rollback_stage(state, input).await,
        "ListDeployActionExecutionTargets" => {
            super::conditions::list_deploy_targets(state, input).await
        }
        "PollForJobs" => super::jobs::poll(state, input, false).await,
        "PollForThirdPartyJobs" => super::jobs::poll(state, input, true).await,
        "AcknowledgeJob" => super::jobs::acknowledge(state, input, false).await,
        "AcknowledgeThirdPartyJob" => super::jobs::acknowledge(state, input, true).await,
        "GetJobDetails" => super::jobs::details(state, input, false).await,
        "GetThirdPartyJobDetails" => super::jobs::details(state, input, true).await,
        "PutJobSuccessResult" => super::jobs::succeed(state, input, false).await,
        "PutThirdPartyJobSuccessResult" => super::jobs::succeed(state, input, true).await,
        "PutJobFailureResult" => super::jobs::fail(state, input, false).await,
        "PutThirdPartyJobFailureResult" => super::jobs::fail(state, input, true).await,
        other => Err(AwsError::new(
            "UnsupportedOperationException",
            format!("Sluice does not answer {other} yet"),
        )),
    }
}

/// A required string member of `input`.
pub(super) fn required<'a>(input: &'a Value, member: &str) -> Result<&'a str, AwsError> {
    match input.get(member) {
        Some(Value::String(s)) if !s.is_empty() => Ok(s),
        Some(Value::String(_)) | None | Some(Value::Null) => Err(AwsError::validation(
            member,
            "Member must not be null or empty",
        )),
        Some(_) => Err(AwsError::validation(member, "Member must be a string")),
    }
}

/// `maxResults` (1 to `most`, `default` when absent).
pub(super) fn max_results(input: &Value, default: usize, most: usize) -> Result<usize, AwsError> {
    match input.get("maxResults") {
        None | Some(Value::Null) => Ok(default),
        Some(v) => match v.as_u64() {
            Some(n) if n >= 1 && n as usize <= most => Ok(n as usize),
            _ => Err(AwsError::validation(
                "maxResults",
                format!("Member must have value between 1 and {most}"),
            )),
        },
    }
}

/// A time in milliseconds as JSON 1.1 sends timestamps: epoch seconds.
pub(super) fn seconds(millis: i64) -> Value {
    json!(millis as f64 / 1000.0)
}

/// What a refused command is in CodePipeline's terms.
pub(super) fn refused(error: CommandError) -> AwsError {
    let message = error.to_string();
    let code = match &error {
        CommandError::UnknownPipeline { .. } => "PipelineNotFoundException",
        CommandError::UnknownExecution { .. } => "PipelineExecutionNotFoundException",
        CommandError::UnknownStage { .. } => "StageNotFoundException",
        CommandError::UnknownAction { .. } => "ActionNotFoundException",
        CommandError::UnknownVariable { .. }
        | CommandError::MissingVariable { .. }
        | CommandError::UnknownSourceAction { .. }
        | CommandError::InvalidRevision { .. } => "ValidationException",
        CommandError::NotRetryable { .. } => "StageNotRetryableException",
        CommandError::AlreadyEnded { .. } => "PipelineExecutionNotStoppableException",
        CommandError::NotAwaitingApproval { .. } => "InvalidApprovalTokenException",
        CommandError::NoTransition { .. } | CommandError::PipelineBusy { .. } => {
            "ConflictException"
        }
        CommandError::Unavailable { .. } => "InternalFailure",
    };
    AwsError::new(code, message)
}

pub(super) fn read_error(e: crate::api::ApiError) -> AwsError {
    AwsError::internal(e.0.message)
}

/// The pipeline `name`'s current version, or `PipelineNotFoundException`.
pub(super) async fn current(
    state: &AppState,
    name: &str,
) -> Result<crate::records::PipelineVersion, AwsError> {
    let wanted = name.to_string();
    let found = state
        .read(move |s| {
            s.current_pipeline(&wanted)
                .map_err(crate::queries::OpError::internal)
        })
        .await
        .map_err(read_error)?;
    found.ok_or_else(|| {
        AwsError::new(
            "PipelineNotFoundException",
            format!("Account does not have a pipeline with name '{name}'"),
        )
    })
}

fn execution_mode(version: &crate::records::PipelineVersion) -> String {
    format!("{:?}", version.definition.execution_mode).to_uppercase()
}

async fn list_pipelines(state: &AppState, input: &Value) -> Result<Value, AwsError> {
    let limit = max_results(input, 100, 1000)?;
    let after = input
        .get("nextToken")
        .and_then(Value::as_str)
        .map(str::to_string);
    let (pipelines, versions) = state
        .read(move |s| {
            let mut all = s
                .list_pipelines()
                .map_err(crate::queries::OpError::internal)?;
            all.sort_by(|a, b| a.name.cmp(&b.name));
            let page: Vec<_> = all
                .into_iter()
                .filter(|p| after.as_deref().is_none_or(|a| p.name.as_str() > a))
                .take(limit + 1)
                .collect();
            let mut versions = Vec::new();
            for p in page.iter().take(limit) {
                versions.push(
                    s.current_pipeline(&p.name)
                        .map_err(crate::queries::OpError::internal)?,
                );
            }
            Ok((page, versions))
        })
        .await
        .map_err(read_error)?;
    let more = pipelines.len() > limit;
    let summaries: Vec<Value> = pipelines
        .iter()
        .take(limit)
        .zip(&versions)
        .map(|(p, v)| {
            json!({
                "name": p.name,
                "version": p.version,
                "pipelineType": "V2",
                "executionMode": v.as_ref().map(execution_mode),
                "created": v.as_ref().map(|v| seconds(v.created_at)),
                "updated": seconds(p.updated_at),
            })
        })
        .collect();
    let mut out = json!({"pipelines": summaries});
    if more && let Some(last) = pipelines.get(limit - 1) {
        out["nextToken"] = json!(last.name);
    }
    Ok(out)
}

async fn start_execution(
    state: &AppState,
    principal: &Principal,
    input: &Value,
) -> Result<Value, AwsError> {
    let name = required(input, "name")?.to_string();
    let mut variables = indexmap::IndexMap::new();
    if let Some(list) = input.get("variables") {
        for item in list
            .as_array()
            .ok_or_else(|| AwsError::validation("variables", "Member must be a list"))?
        {
            let key = required(item, "name")?;
            let value = item.get("value").and_then(Value::as_str).ok_or_else(|| {
                AwsError::validation("variables.member.value", "Member must not be null")
            })?;
            variables.insert(key.to_string(), value.to_string());
        }
    }
    let mut revisions = indexmap::IndexMap::new();
    if let Some(list) = input.get("sourceRevisions") {
        for item in list
            .as_array()
            .ok_or_else(|| AwsError::validation("sourceRevisions", "Member must be a list"))?
        {
            let action = required(item, "actionName")?;
            let kind = required(item, "revisionType")?;
            if !matches!(
                kind,
                "COMMIT_ID" | "IMAGE_DIGEST" | "S3_OBJECT_VERSION_ID" | "S3_OBJECT_KEY"
            ) {
                return Err(AwsError::validation(
                    "sourceRevisions.member.revisionType",
                    "Member must satisfy enum value set: [COMMIT_ID, IMAGE_DIGEST, S3_OBJECT_VERSION_ID, S3_OBJECT_KEY]",
                ));
            }
            revisions.insert(
                action.to_string(),
                required(item, "revisionValue")?.to_string(),
            );
        }
    }
    current(state, &name).await?;
    let start = Command::Start(Start {
        pipeline: name,
        variables,
        revisions,
        trigger: format!("aws api ({})", principal.name),
        token: input
            .get("clientRequestToken")
            .and_then(Value::as_str)
            .map(|t| format!("aws:{t}")),
    });
    let done = state.engine().command(start).await.map_err(refused)?;
    Ok(json!({"pipelineExecutionId": done.execution}))
}

/// A source action's new revision: starts an execution with it, unless
/// the pipeline's latest execution already carries it.
async fn put_action_revision(
    state: &AppState,
    principal: &Principal,
    input: &Value,
) -> Result<Value, AwsError> {
    let pipeline = required(input, "pipelineName")?.to_string();
    let stage = required(input, "stageName")?;
    let action = required(input, "actionName")?.to_string();
    let revision = input
        .get("actionRevision")
        .filter(|r| r.is_object())
        .ok_or_else(|| AwsError::validation("actionRevision", "Member must not be null"))?;
    let id = required(revision, "revisionId")?.to_string();
    required(revision, "revisionChangeId")?;
    if !revision.get("created").is_some_and(|c| c.is_number()) {
        return Err(AwsError::validation(
            "actionRevision.created",
            "Member must not be null",
        ));
    }
    let version = current(state, &pipeline).await?;
    let Some(index) = version
        .definition
        .stages
        .iter()
        .position(|s| s.name == stage)
    else {
        return Err(AwsError::new(
            "StageNotFoundException",
            format!("Stage '{stage}' does not exist in pipeline '{pipeline}'"),
        ));
    };
    if index != 0
        || !version.definition.stages[0]
            .actions
            .iter()
            .any(|a| a.name == action)
    {
        return Err(AwsError::new(
            "ActionNotFoundException",
            format!("'{stage}/{action}' is not a source action of pipeline '{pipeline}'"),
        ));
    }
    let name = pipeline.clone();
    let latest = state
        .read(move |s| crate::queries::list_executions(s, &name, 1))
        .await
        .map_err(read_error)?;
    if let Some(latest) = latest.first() {
        let e = execution_of(state, &pipeline, &latest.id).await?;
        let carried = e
            .source_revisions
            .iter()
            .find(|r| r.action == action)
            .and_then(|r| r.revision.as_ref())
            .is_some_and(|r| r.id == id);
        if carried {
            return Ok(json!({"newRevision": false, "pipelineExecutionId": e.id}));
        }
    }
    let start = Command::Start(Start {
        pipeline,
        variables: Default::default(),
        revisions: [(action, id)].into_iter().collect(),
        trigger: format!("PutActionRevision ({})", principal.name),
        token: None,
    });
    let done = state.engine().command(start).await.map_err(refused)?;
    Ok(json!({"newRevision": true, "pipelineExecutionId": done.execution}))
}

/// The execution `id` of pipeline `pipeline`.
pub(super) async fn execution_of(
    state: &AppState,
    pipeline: &str,
    id: &str,
) -> Result<crate::records::Execution, AwsError> {
    let wanted = id.to_string();
    let found = state
        .read(move |s| {
            s.execution(&wanted, |_, _| None)
                .map_err(crate::queries::OpError::internal)
        })
        .await
        .map_err(read_error)?;
    match found {
        Some(e) if e.pipeline == pipeline => Ok(e),
        _ => Err(AwsError::new(
            "PipelineExecutionNotFoundException",
            format!(
                "Pipeline execution with id '{id}' does not exist in pipeline with name '{pipeline}'"
            ),
        )),
    }
}

/// An execution's source revisions as `ArtifactRevision`s.
fn artifact_revisions(e: &crate::records::Execution) -> Vec<Value> {
    e.source_revisions
        .iter()
        .filter_map(|r| {
            let revision = r.revision.as_ref()?;
            Some(json!({
                "name": r.action,
                "revisionId": revision.id,
                "revisionSummary": revision.summary,
                "revisionUrl": revision.url,
            }))
        })
        .collect()
}

/// How Sluice's trigger text reads as a `ExecutionTrigger`.
fn trigger(text: &str) -> Value {
    let kind = if text.starts_with("poll") {
        "PollForSourceChanges"
    } else if text.starts_with("hook") || text.starts_with("webhook") {
        "Webhook"
    } else if text.starts_with("PutActionRevision") {
        "PutActionRevision"
    } else {
        "StartPipelineExecution"
    };
    json!({"triggerType": kind, "triggerDetail": text})
}

async fn get_execution(state: &AppState, input: &Value) -> Result<Value, AwsError> {
    let pipeline = required(input, "pipelineName")?;
    let id = required(input, "pipelineExecutionId")?;
    let version = current(state, pipeline).await?;
    let e = execution_of(state, pipeline, id).await?;
    Ok(json!({"pipelineExecution": {
        "pipelineName": e.pipeline,
        "pipelineVersion": e.version,
        "pipelineExecutionId": e.id,
        "status": e.status.as_str(),
        "statusSummary": e.status_reason,
        "artifactRevisions": artifact_revisions(&e),
        "variables": e.variables.iter()
            .map(|(k, v)| json!({"name": k, "resolvedValue": v}))
            .collect::<Vec<_>>(),
        "trigger": trigger(&e.trigger),
        "executionMode": execution_mode(&version),
        "executionType": "STANDARD",
    }}))
}

async fn list_executions(state: &AppState, input: &Value) -> Result<Value, AwsError> {
    let pipeline = required(input, "pipelineName")?.to_string();
    let limit = max_results(input, 100, 100)?;
    let version = current(state, &pipeline).await?;
    let mode = execution_mode(&version);
    // The token is the id of the last execution of the page before.
    let after = input
        .get("nextToken")
        .and_then(Value::as_str)
        .map(str::to_string);
    let name = pipeline.clone();
    let all = state
        .read(move |s| crate::queries::list_executions(s, &name, 1000))
        .await
        .map_err(read_error)?;
    let start = match &after {
        Some(token) => all
            .iter()
            .position(|e| &e.id == token)
            .map(|i| i + 1)
            .ok_or_else(|| {
                AwsError::new("InvalidNextTokenException", "The next token is not valid")
            })?,
        None => 0,
    };
    // `filter.succeededInStage`: only executions that succeeded in that
    // stage (read one execution at a time until the page is full and one
    // more is known to follow).
    let stage = input
        .pointer("/filter/succeededInStage/stageName")
        .and_then(Value::as_str);
    if let Some(stage) = stage
        && !version.definition.stages.iter().any(|s| s.name == stage)
    {
        return Err(AwsError::new(
            "StageNotFoundException",
            format!("Stage '{stage}' does not exist in pipeline '{pipeline}'"),
        ));
    }
    let mut page = Vec::new();
    let mut more = false;
    for summary in all.iter().skip(start) {
        let wanted = match stage {
            None => true,
            Some(stage) => execution_of(state, &pipeline, &summary.id)
                .await?
                .stages
                .iter()
                .any(|s| {
                    s.name == stage && s.status == Some(crate::records::StageStatus::Succeeded)
                }),
        };
        if !wanted {
            continue;
        }
        if page.len() == limit {
            more = true;
            break;
        }
        page.push(summary);
    }
    let summaries: Vec<Value> = page
        .iter()
        .map(|e| {
            json!({
                "pipelineExecutionId": e.id,
                "status": e.status,
                "statusSummary": e.status_reason,
                "startTime": seconds(e.started_at),
                "lastUpdateTime": seconds(e.ended_at.unwrap_or(e.started_at)),
                "sourceRevisions": e.source_revisions.iter().filter_map(|r| {
                    let revision = r.revision.as_ref()?;
                    Some(json!({"actionName": r.action, "revisionId": revision.id,
                                "revisionSummary": revision.summary, "revisionUrl": revision.url}))
                }).collect::<Vec<_>>(),
                "trigger": trigger(&e.trigger),
                "executionMode": mode,
                "executionType": "STANDARD",
            })
        })
        .collect();
    let mut out = json!({"pipelineExecutionSummaries": summaries});
    if more && let Some(last) = page.last() {
        out["nextToken"] = json!(last.id);
    }
    Ok(out)
}

async fn stop_execution(state: &AppState, input: &Value) -> Result<Value, AwsError> {
    let pipeline = required(input, "pipelineName")?;
    let id = required(input, "pipelineExecutionId")?;
    current(state, pipeline).await?;
    let e = execution_of(state, pipeline, id).await?;
    let stop = Command::Stop {
        execution: e.id.clone(),
        abandon: input
            .get("abandon")
            .and_then(Value::as_bool)
            .unwrap_or(false),
        reason: input
            .get("reason")
            .and_then(Value::as_str)
            .map(str::to_string),
    };
    state
        .engine()
        .command(stop)
        .await
        .map_err(|error| match error {
            CommandError::AlreadyEnded { .. } => AwsError::new(
                "PipelineExecutionNotStoppableException",
                format!("Pipeline execution {} is not in progress", e.id),
            ),
            other => refused(other),
        })?;
    Ok(json!({"pipelineExecutionId": e.id}))
}

async fn retry_stage(state: &AppState, input: &Value) -> Result<Value, AwsError> {
    let pipeline = required(input, "pipelineName")?;
    let stage = required(input, "stageName")?;
    let id = required(input, "pipelineExecutionId")?;
    let all = match required(input, "retryMode")? {
        "FAILED_ACTIONS" => false,
        "ALL_ACTIONS" => true,
        _ => {
            return Err(AwsError::validation(
                "retryMode",
                "Member must satisfy enum value set: [FAILED_ACTIONS, ALL_ACTIONS]",
            ));
        }
    };
    current(state, pipeline).await?;
    let e = execution_of(state, pipeline, id).await?;
    let retry = Command::Retry {
        execution: e.id.clone(),
        stage: stage.to_string(),
        all,
    };
    state.engine().command(retry).await.map_err(refused)?;
    Ok(json!({"pipelineExecutionId": e.id}))
}

/// Enables or disables a transition. Sluice's transitions lead into a
/// stage: `Inbound` is that stage's, `Outbound` the next stage's.
async fn transition(
    state: &AppState,
    principal: &Principal,
    input: &Value,
    enabled: bool,
) -> Result<Value, AwsError> {
    let pipeline = required(input, "pipelineName")?;
    let stage = required(input, "stageName")?;
    let version = current(state, pipeline).await?;
    let stages = &version.definition.stages;
    let Some(index) = stages.iter().position(|s| s.name == stage) else {
        return Err(AwsError::new(
            "StageNotFoundException",
            format!("Stage '{stage}' does not exist in pipeline '{pipeline}'"),
        ));
    };
    let into = match required(input, "transitionType")? {
        "Inbound" => index,
        "Outbound" => index + 1,
        _ => {
            return Err(AwsError::validation(
                "transitionType",
                "Member must satisfy enum value set: [Inbound, Outbound]",
            ));
        }
    };
    let Some(into) = stages.get(into).filter(|_| into > 0) else {
        return Err(AwsError::validation(
            "transitionType",
            format!(
                "stage '{stage}' has no such transition (the first stage has no inbound one, the last no outbound one)"
            ),
        ));
    };
    let reason = input
        .get("reason")
        .and_then(Value::as_str)
        .map(str::to_string);
    if !enabled && reason.as_deref().is_none_or(str::is_empty) {
        return Err(AwsError::validation("reason", "Member must not be null"));
    }
    let command = Command::Transition {
        pipeline: pipeline.to_string(),
        stage: into.name.clone(),
        enabled,
        reason,
        by: principal.name.clone(),
    };
    state.engine().command(command).await.map_err(refused)?;
    Ok(json!({}))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_table_holds_the_models_44_operations_once_each() {
        assert_eq!(OPERATIONS.len(), 44);
        let names: std::collections::BTreeSet<_> = OPERATIONS.iter().map(|(n, _)| *n).collect();
        assert_eq!(names.len(), 44);
        assert_eq!(role_of("GetPipelineState"), Some(Role::Read));
        assert_eq!(role_of("CreatePipeline"), Some(Role::Admin));
        assert_eq!(role_of("PutApprovalResult"), Some(Role::Operate));
        assert_eq!(role_of("MakeCoffee"), None);
    }
}
