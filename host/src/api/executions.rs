//! Executions: read one, its action attempts, stop it, retry a stage,
//! decide an approval.

use super::dto::{ApprovalBody, ApprovalStatus, Message, RetryBody, RetryScope, StopBody};
use super::table::{ACTION, Answer, Entry, ID, Op, QueryParam, STAGE, schema};
use super::{ApiError, ApiJson, ApiQuery, ApiResult, AppState, OptionalJson, refused};
use crate::access::Principal;
use crate::access::Role;
use crate::engine::Command;
use crate::queries::{self, ExecutionDetail, OpError};
use crate::store::ActionAttempt;
use axum::extract::{Path, State};
use axum::routing::{get, post, put};
use axum::{Extension, Json};
use serde::Deserialize;

pub(super) fn entries() -> Vec<Entry> {
    vec![
        Entry {
            op: Op {
                method: "get",
                path: "/api/v1/executions/{id}",
                id: "GetPipelineExecution",
                summary: "GetPipelineExecution: an execution's stages, actions, summaries, variables, errors and artifacts, with every attempt.",
                path_params: &[ID],
                query: &[],
                body: None,
                answer: Answer::Json(200, schema::<ExecutionDetail>),
                role: Some(Role::Read),
            },
            handler: get(get_execution),
        },
        Entry {
            op: Op {
                method: "get",
                path: "/api/v1/executions/{id}/actions",
                id: "ListActionExecutions",
                summary: "ListActionExecutions: every attempt of the execution's actions: status, times, summary, output variables, artifacts with digests, errors.",
                path_params: &[ID],
                query: &[
                    QueryParam {
                        name: "stage",
                        kind: "string",
                        description: "Only this stage's actions.",
                    },
                    QueryParam {
                        name: "action",
                        kind: "string",
                        description: "Only this action (with `stage`).",
                    },
                ],
                body: None,
                answer: Answer::Json(200, schema::<Vec<ActionAttempt>>),
                role: Some(Role::Read),
            },
            handler: get(list_actions),
        },
        Entry {
            op: Op {
                method: "post",
                path: "/api/v1/executions/{id}/stop",
                id: "StopPipelineExecution",
                summary: "StopPipelineExecution: stop and wait (running actions finish) or stop and abandon.",
                path_params: &[ID],
                query: &[],
                body: Some(schema::<StopBody>),
                answer: Answer::Json(200, schema::<Message>),
                role: Some(Role::Operate),
            },
            handler: post(stop_execution),
        },
        Entry {
            op: Op {
                method: "post",
                path: "/api/v1/executions/{id}/stages/{stage}/retry",
                id: "RetryStageExecution",
                summary: "RetryStageExecution: retries a failed or stopped stage, its failed actions or all of them.",
                path_params: &[ID, STAGE],
                query: &[],
                body: Some(schema::<RetryBody>),
                answer: Answer::Json(200, schema::<Message>),
                role: Some(Role::Operate),
            },
            handler: post(retry_stage),
        },
        Entry {
            op: Op {
                method: "put",
                path: "/api/v1/executions/{id}/stages/{stage}/actions/{action}/approval",
                id: "PutApprovalResult",
                summary: "PutApprovalResult: approves or rejects a manual approval, with a summary.",
                path_params: &[ID, STAGE, ACTION],
                query: &[],
                body: Some(schema::<ApprovalBody>),
                answer: Answer::Json(200, schema::<Message>),
                role: Some(Role::Operate),
            },
            handler: put(put_approval),
        },
    ]
}

#[derive(Debug, Deserialize)]
struct ActionsQuery {
    stage: Option<String>,
    action: Option<String>,
}

async fn get_execution(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> ApiResult<ExecutionDetail> {
    Ok(Json(state.read(move |s| queries::execution(s, &id)).await?))
}

async fn list_actions(
    State(state): State<AppState>,
    Path(id): Path<String>,
    ApiQuery(query): ApiQuery<ActionsQuery>,
) -> ApiResult<Vec<ActionAttempt>> {
    if query.action.is_some() && query.stage.is_none() {
        return Err(OpError::invalid("action", "`action` needs `stage`").into());
    }
    let detail = state.read(move |s| queries::execution(s, &id)).await?;
    let attempts = detail
        .attempts
        .into_iter()
        .filter(|a| query.stage.as_ref().is_none_or(|s| *s == a.stage))
        .filter(|a| query.action.as_ref().is_none_or(|x| *x == a.action))
        .collect();
    Ok(Json(attempts))
}

/// The full id of the execution `id` names (a unique prefix will do).
async fn full_id(state: &AppState, id: &str) -> Result<String, ApiError> {
    let id = id.to_string();
    state
        .read(move |s| queries::resolve_execution(s, &id))
        .await
}

async fn stop_execution(
    State(state): State<AppState>,
    Path(id): Path<String>,
    body: OptionalJson<StopBody>,
) -> ApiResult<Message> {
    let body = body.0;
    let stop = Command::Stop {
        execution: full_id(&state, &id).await?,
        abandon: body.abandon,
        reason: body.reason,
    };
    Ok(Json(
        state.engine().command(stop).await.map_err(refused)?.into(),
    ))
}

async fn retry_stage(
    State(state): State<AppState>,
    Path((id, stage)): Path<(String, String)>,
    body: OptionalJson<RetryBody>,
) -> ApiResult<Message> {
    let retry = Command::Retry {
        execution: full_id(&state, &id).await?,
        stage,
        all: body.0.mode == RetryScope::AllActions,
    };
    Ok(Json(
        state.engine().command(retry).await.map_err(refused)?.into(),
    ))
}

async fn put_approval(
    State(state): State<AppState>,
    Extension(principal): Extension<Principal>,
    Path((id, stage, action)): Path<(String, String, String)>,
    ApiJson(body): ApiJson<ApprovalBody>,
) -> ApiResult<Message> {
    let decide = Command::Decide {
        execution: full_id(&state, &id).await?,
        stage,
        action,
        approved: body.status == ApprovalStatus::Approved,
        by: principal.name.clone(),
        summary: body.summary,
    };
    Ok(Json(
        state
            .engine()
            .command(decide)
            .await
            .map_err(refused)?
            .into(),
    ))
}
