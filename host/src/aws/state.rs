//! What a pipeline is doing, in CodePipeline's shape: `GetPipelineState`
//! (stages, inbound executions and transitions, action states with the
//! approval token), `PutApprovalResult` (the token checked) and
//! `ListActionExecutions`.

use super::AwsError;
use super::operations::{
    current, execution_of, max_results, read_error, refused, required, seconds,
};
use crate::access::Principal;
use crate::api::AppState;
use crate::engine::Command;
use crate::engine::pipeline_state::PipelineState;
use crate::records::{ActionRun, Execution};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

/// A stable UUID naming one attempt of one action of one execution: the
/// action execution id, and the approval token of an approval action.
/// (Knowing it grants nothing: approving needs the `operate` role.)
fn attempt_id(kind: &str, execution: &str, stage: &str, action: &str, attempt: u32) -> String {
    let digest = Sha256::digest(format!("{kind}\0{execution}\0{stage}\0{action}\0{attempt}"));
    let mut bytes = [0u8; 16];
    bytes.copy_from_slice(&digest[..16]);
    uuid::Builder::from_custom_bytes(bytes)
        .into_uuid()
        .to_string()
}

/// The approval token of an action's attempt.
pub fn approval_token(execution: &str, stage: &str, action: &str, attempt: u32) -> String {
    attempt_id("approval", execution, stage, action, attempt)
}

async fn state_of(state: &AppState, name: &str) -> Result<PipelineState, AwsError> {
    let wanted = name.to_string();
    state
        .read(move |s| crate::queries::state(s, &wanted))
        .await
        .map_err(read_error)
}

pub async fn get_state(state: &AppState, input: &Value) -> Result<Value, AwsError> {
    let name = required(input, "name")?.to_string();
    let version = current(state, &name).await?;
    let pipeline = state_of(state, &name).await?;
    let stages: Vec<Value> = pipeline
        .stages
        .iter()
        .map(|stage| {
            let latest = stage.latest_execution.as_ref();
            let actions: Vec<Value> = stage
                .actions
                .iter()
                .map(|action| {
                    let mut out = json!({"actionName": action.name});
                    if let (Some(status), Some(execution)) = (action.status, latest) {
                        let changed = action.ended_at.or(action.started_at).unwrap_or_default();
                        let mut run = json!({
                            "actionExecutionId": crate::records::action_execution_id(&execution.id, &stage.name, &action.name, action.attempt),
                            "status": status.as_str(),
                            "lastStatusChange": seconds(changed),
                        });
                        if let Some(summary) = &action.summary {
                            run["summary"] = json!(summary);
                        }
                        if let Some(error) = &action.error {
                            run["errorDetails"] = json!({"code": "JobFailed", "message": error});
                        }
                        if action.waiting_for_approval {
                            run["token"] = json!(approval_token(&execution.id, &stage.name, &action.name, action.attempt));
                        }
                        out["latestExecution"] = run;
                    }
                    out
                })
                .collect();
            let mut out = json!({"stageName": stage.name});
            out["actionStates"] = Value::Array(actions);
            if let Some(t) = &stage.transition {
                let mut transition = json!({"enabled": t.enabled});
                if let Some(by) = &t.changed_by {
                    transition["lastChangedBy"] = json!(by);
                }
                if let Some(at) = t.changed_at {
                    transition["lastChangedAt"] = seconds(at);
                }
                if let Some(reason) = t.reason.as_ref().filter(|_| !t.enabled) {
                    transition["disabledReason"] = json!(reason);
                }
                out["inboundTransitionState"] = transition;
            }
            if let Some(e) = latest {
                let status = e.stage_status.map_or("InProgress", |s| s.as_str());
                out["latestExecution"] = json!({"pipelineExecutionId": e.id, "status": status});
            }
            let inbound: Vec<Value> = stage
                .inbound_executions
                .iter()
                .map(|id| json!({"pipelineExecutionId": id, "status": "InProgress"}))
                .collect();
            if let Some(first) = inbound.first() {
                out["inboundExecution"] = first.clone();
                // Moved, not serialized again: in queued mode the list may
                // hold thousands.
                out["inboundExecutions"] = Value::Array(inbound);
            }
            out
        })
        .collect();
    let first = {
        let wanted = name.clone();
        state
            .read(move |s| {
                s.pipeline_version(&wanted, 1)
                    .map_err(crate::queries::OpError::internal)
            })
            .await
            .map_err(read_error)?
    };
    let mut out = json!({
        "pipelineName": name,
        "pipelineVersion": pipeline.version,
        "created": seconds(first.map_or(version.created_at, |v| v.created_at)),
        "updated": seconds(version.created_at),
    });
    // Moved in (`json!` would copy every stage, inbound lists and all).
    out["stageStates"] = Value::Array(stages);
    Ok(out)
}

pub async fn put_approval(
    state: &AppState,
    principal: &Principal,
    input: &Value,
) -> Result<Value, AwsError> {
    let name = required(input, "pipelineName")?.to_string();
    let stage_name = required(input, "stageName")?;
    let action_name = required(input, "actionName")?;
    let token = required(input, "token")?;
    let result = input
        .get("result")
        .filter(|r| r.is_object())
        .ok_or_else(|| AwsError::validation("result", "Member must not be null"))?;
    let approved = match required(result, "status")? {
        "Approved" => true,
        "Rejected" => false,
        _ => {
            return Err(AwsError::validation(
                "result.status",
                "Member must satisfy enum value set: [Approved, Rejected]",
            ));
        }
    };
    let summary = required(result, "summary")?.to_string();
    current(state, &name).await?;
    let pipeline = state_of(state, &name).await?;
    let stage = pipeline
        .stages
        .iter()
        .find(|s| s.name == stage_name)
        .ok_or_else(|| {
            AwsError::new(
                "StageNotFoundException",
                format!("Stage '{stage_name}' does not exist in pipeline '{name}'"),
            )
        })?;
    let action = stage.actions.iter().find(|a| a.name == action_name).ok_or_else(|| {
        AwsError::new(
            "ActionNotFoundException",
            format!("Action '{action_name}' does not exist in stage '{stage_name}' of pipeline '{name}'"),
        )
    })?;
    let execution = stage.latest_execution.as_ref().ok_or_else(|| {
        AwsError::new(
            "InvalidApprovalTokenException",
            format!("No approval is waiting in '{stage_name}/{action_name}'"),
        )
    })?;
    let expected = approval_token(&execution.id, stage_name, action_name, action.attempt);
    if token != expected {
        if decided_before(state, &name, stage_name, action_name, token).await? {
            return Err(AwsError::new(
                "ApprovalAlreadyCompletedException",
                format!(
                    "The approval of '{stage_name}/{action_name}' this token names was already decided"
                ),
            ));
        }
        return Err(AwsError::new(
            "InvalidApprovalTokenException",
            format!(
                "The token does not name the approval of '{stage_name}/{action_name}' now waiting"
            ),
        ));
    }
    if !action.waiting_for_approval {
        return Err(AwsError::new(
            "ApprovalAlreadyCompletedException",
            format!(
                "The approval of '{stage_name}/{action_name}' in execution {} is no longer waiting",
                execution.id
            ),
        ));
    }
    let decide = Command::Decide {
        execution: execution.id.clone(),
        stage: stage_name.to_string(),
        action: action_name.to_string(),
        approved,
        by: principal.name.clone(),
        summary: Some(summary),
    };
    state.engine().command(decide).await.map_err(refused)?;
    Ok(json!({"approvedAt": seconds(crate::records::now_millis())}))
}

/// How many recent executions a used token is looked for in.
const DECIDED_LOOKBACK: usize = 20;

/// Whether `token` names an approval of a recent execution that was
/// already decided.
async fn decided_before(
    state: &AppState,
    pipeline: &str,
    stage: &str,
    action: &str,
    token: &str,
) -> Result<bool, AwsError> {
    let name = pipeline.to_string();
    let recent = state
        .read(move |s| crate::queries::list_executions(s, &name, DECIDED_LOOKBACK))
        .await
        .map_err(read_error)?;
    for summary in recent {
        let e = execution_of(state, pipeline, &summary.id).await?;
        let decided = e
            .stages
            .iter()
            .filter(|s| s.name == stage)
            .flat_map(|s| s.actions.iter().filter(|a| a.name == action))
            .any(|a| {
                a.approval.is_some()
                    && (1..=a.attempt).any(|n| approval_token(&e.id, stage, action, n) == token)
            });
        if decided {
            return Ok(true);
        }
    }
    Ok(false)
}

/// One attempt of an action as `ActionExecutionDetail`.
fn detail(
    execution: &Execution,
    stage: &str,
    action: &ActionRun,
    version: &crate::records::PipelineVersion,
) -> Value {
    let definition = version
        .definition
        .stages
        .iter()
        .find(|s| s.name == stage)
        .and_then(|s| s.actions.iter().find(|a| a.name == action.name));
    let declared = definition.map(|d| {
        crate::model::codepipeline::ActionTypeId::from_reference(&d.provider)
            .and_then(Result::ok)
            .map(|id| id.to_json())
            .unwrap_or_else(|| json!({"category": "Build", "owner": "Custom", "provider": d.provider, "version": "1"}))
    });
    let mut out = json!({
        "pipelineExecutionId": execution.id,
        "actionExecutionId": crate::records::action_execution_id(&execution.id, stage, &action.name, action.attempt),
        "pipelineVersion": execution.version,
        "stageName": stage,
        "actionName": action.name,
        "status": action.status.map(|s| s.as_str()),
        "input": {
            "actionTypeId": declared,
            "configuration": definition.map(|d| d.configuration.clone()),
            "resolvedConfiguration": action.configuration.iter().map(|(k, v)| (k.clone(), json!(v))).collect::<serde_json::Map<_, _>>(),
            "inputArtifacts": action.inputs.iter().map(|(n, _)| json!({"name": n})).collect::<Vec<_>>(),
            "namespace": definition.and_then(|d| d.namespace.clone()),
        },
        "output": {
            "outputArtifacts": action.outputs.iter().map(|(n, _)| json!({"name": n})).collect::<Vec<_>>(),
            "executionResult": {
                "externalExecutionSummary": action.summary,
                "errorDetails": action.error.as_ref().map(|e| json!({"code": format!("{:?}", e.kind), "message": e.message})),
            },
            "outputVariables": action.variables.iter().map(|(k, v)| (k.clone(), json!(v))).collect::<serde_json::Map<_, _>>(),
        },
    });
    if let Some(at) = action.started_at {
        out["startTime"] = seconds(at);
    }
    if let Some(at) = action.ended_at.or(action.started_at) {
        out["lastUpdateTime"] = seconds(at);
    }
    if let Some(approval) = &action.approval {
        out["updatedBy"] = json!(approval.by);
    }
    out
}

pub async fn list_action_executions(state: &AppState, input: &Value) -> Result<Value, AwsError> {
    let name = required(input, "pipelineName")?.to_string();
    let limit = max_results(input, 100, 100)?;
    let version = current(state, &name).await?;
    let filter = input.get("filter").filter(|f| !f.is_null());
    // `latestInPipelineExecution`: only the latest attempt of each action
    // of that execution; otherwise every attempt.
    let latest_in = filter
        .and_then(|f| f.pointer("/latestInPipelineExecution/pipelineExecutionId"))
        .and_then(Value::as_str);
    let wanted = filter
        .and_then(|f| f.get("pipelineExecutionId"))
        .and_then(Value::as_str)
        .or(latest_in);
    let executions: Vec<Execution> = match wanted {
        Some(id) => vec![execution_of(state, &name, id).await?],
        None => {
            let pipeline = name.clone();
            let ids: Vec<String> = state
                .read(move |s| crate::queries::list_executions(s, &pipeline, 100))
                .await
                .map_err(read_error)?
                .into_iter()
                .map(|e| e.id)
                .collect();
            let mut all = Vec::new();
            for id in ids {
                all.push(execution_of(state, &name, &id).await?);
            }
            all
        }
    };
    let mut details = Vec::new();
    for e in &executions {
        let shown = if e.version == version.version {
            version.clone()
        } else {
            let (pipeline, number) = (name.clone(), e.version);
            state
                .read(move |s| {
                    s.pipeline_version(&pipeline, number)
                        .map_err(crate::queries::OpError::internal)
                })
                .await
                .map_err(read_error)?
                .unwrap_or_else(|| version.clone())
        };
        if latest_in.is_some() {
            for stage in &e.stages {
                for action in stage.actions.iter().filter(|a| a.status.is_some()) {
                    details.push(detail(e, &stage.name, action, &shown));
                }
            }
            continue;
        }
        let id = e.id.clone();
        let attempts = state
            .read(move |s| {
                s.action_attempts(&id)
                    .map_err(crate::queries::OpError::internal)
            })
            .await
            .map_err(read_error)?;
        for attempt in attempts.iter().filter(|a| a.run.status.is_some()) {
            details.push(detail(e, &attempt.stage, &attempt.run, &shown));
        }
    }
    // The token is how many details the pages before held.
    let start = match input.get("nextToken").and_then(Value::as_str) {
        Some(token) => token
            .parse::<usize>()
            .ok()
            .filter(|n| *n <= details.len())
            .ok_or_else(|| {
                AwsError::new("InvalidNextTokenException", "The next token is not valid")
            })?,
        None => 0,
    };
    let page: Vec<Value> = details.iter().skip(start).take(limit).cloned().collect();
    let mut out = json!({"actionExecutionDetails": page});
    if start + limit < details.len() {
        out["nextToken"] = json!((start + limit).to_string());
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_name_one_attempt() {
        let token = approval_token("e1", "Approve", "Release", 1);
        assert_eq!(token, approval_token("e1", "Approve", "Release", 1));
        assert_ne!(token, approval_token("e1", "Approve", "Release", 2));
        assert_ne!(token, approval_token("e2", "Approve", "Release", 1));
        assert_ne!(
            token,
            crate::records::action_execution_id("e1", "Approve", "Release", 1)
        );
        assert!(uuid::Uuid::parse_str(&token).is_ok());
    }
}
