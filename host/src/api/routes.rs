//! Every API operation: its entry in the table (method, path, summary,
//! parameters, body and answer types) and its handler. CodePipeline's
//! operation each one stands for is named in its summary.

use super::{ApiError, ApiJson, ApiQuery, AppState, Change, OptionalJson};
use crate::engine::view::PipelineState;
use crate::engine::{EngineEvent, PipelineVersion};
use crate::model;
use crate::ops::{self, Applied, ErrorCode, ExecutionDetail, LogPart, OpError, VersionSummary};
use crate::store::{ActionAttempt, ExecutionSummary, PipelineSummary, Request, RequestOutcome};
use axum::Json;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::routing::{MethodRouter, delete, get, post, put};
use futures_util::stream::{self, Stream, StreamExt};
use indexmap::IndexMap;
use schemars::{JsonSchema, SchemaGenerator};
use serde::{Deserialize, Serialize};
use std::convert::Infallible;
use std::time::Duration;

/// Makes a type's schema (a reference into the document's components).
pub type SchemaFn = fn(&mut SchemaGenerator) -> schemars::Schema;

fn schema<T: JsonSchema>(generator: &mut SchemaGenerator) -> schemars::Schema {
    generator.subschema_for::<T>()
}

/// What an operation answers.
#[derive(Clone, Copy)]
pub enum Answer {
    /// JSON of this type, with this status.
    Json(u16, SchemaFn),
    /// A stream of server-sent events.
    EventStream(&'static str),
}

/// A query parameter.
#[derive(Clone, Copy)]
pub struct QueryParam {
    /// Its name.
    pub name: &'static str,
    /// `string`, `integer` or `boolean`.
    pub kind: &'static str,
    /// What it does.
    pub description: &'static str,
}

/// One operation, as documented.
#[derive(Clone, Copy)]
pub struct Op {
    /// `get`, `post`, `put`, `delete`.
    pub method: &'static str,
    /// The path, with `{param}`s.
    pub path: &'static str,
    /// The operation id.
    pub id: &'static str,
    /// One line; names the CodePipeline operation it implements.
    pub summary: &'static str,
    /// Its path parameters' descriptions, in order.
    pub path_params: &'static [(&'static str, &'static str)],
    /// Its query parameters.
    pub query: &'static [QueryParam],
    /// The body's type.
    pub body: Option<SchemaFn>,
    /// What it answers on success.
    pub answer: Answer,
}

/// An operation and its handler.
pub struct Entry {
    /// The documentation.
    pub op: Op,
    /// The handler.
    pub handler: MethodRouter<AppState>,
}

const NAME: (&str, &str) = ("name", "The pipeline's name.");
const ID: (&str, &str) = ("id", "The execution's id, or a unique prefix of it.");
const STAGE: (&str, &str) = ("stage", "The stage's name.");
const ACTION: (&str, &str) = ("action", "The action's name.");

/// The operations, in the order the document lists them.
pub fn table() -> Vec<Entry> {
    vec![
        Entry {
            op: Op {
                method: "get",
                path: "/api/v1/health",
                id: "Health",
                summary: "The server's version and state directory.",
                path_params: &[],
                query: &[],
                body: None,
                answer: Answer::Json(200, schema::<Health>),
            },
            handler: get(health),
        },
        Entry {
            op: Op {
                method: "get",
                path: "/api/v1/pipelines",
                id: "ListPipelines",
                summary: "ListPipelines: every pipeline with its current version and latest execution.",
                path_params: &[],
                query: &[],
                body: None,
                answer: Answer::Json(200, schema::<Vec<PipelineSummary>>),
            },
            handler: get(list_pipelines),
        },
        Entry {
            op: Op {
                method: "put",
                path: "/api/v1/pipelines",
                id: "PutPipeline",
                summary: "CreatePipeline / UpdatePipeline: checks a definition and records it as the pipeline's new version (unchanged definitions keep their version).",
                path_params: &[],
                query: &[],
                body: Some(schema::<PutPipelineBody>),
                answer: Answer::Json(200, schema::<Applied>),
            },
            handler: put(put_pipeline),
        },
        Entry {
            op: Op {
                method: "get",
                path: "/api/v1/pipelines/{name}",
                id: "GetPipeline",
                summary: "GetPipeline: the definition of the current version, or of `version`.",
                path_params: &[NAME],
                query: &[QueryParam {
                    name: "version",
                    kind: "integer",
                    description: "A version number (default: the current one).",
                }],
                body: None,
                answer: Answer::Json(200, schema::<PipelineVersion>),
            },
            handler: get(get_pipeline),
        },
        Entry {
            op: Op {
                method: "delete",
                path: "/api/v1/pipelines/{name}",
                id: "DeletePipeline",
                summary: "DeletePipeline: removes a pipeline and its history (refused while an execution runs).",
                path_params: &[NAME],
                query: &[],
                body: None,
                answer: Answer::Json(200, schema::<Message>),
            },
            handler: delete(delete_pipeline),
        },
        Entry {
            op: Op {
                method: "get",
                path: "/api/v1/pipelines/{name}/versions",
                id: "ListPipelineVersions",
                summary: "The pipeline's versions, newest first.",
                path_params: &[NAME],
                query: &[],
                body: None,
                answer: Answer::Json(200, schema::<Vec<VersionSummary>>),
            },
            handler: get(list_versions),
        },
        Entry {
            op: Op {
                method: "get",
                path: "/api/v1/pipelines/{name}/state",
                id: "GetPipelineState",
                summary: "GetPipelineState: each stage's latest execution, the inbound execution waiting in front of it, transitions, action statuses.",
                path_params: &[NAME],
                query: &[],
                body: None,
                answer: Answer::Json(200, schema::<PipelineState>),
            },
            handler: get(get_state),
        },
        Entry {
            op: Op {
                method: "get",
                path: "/api/v1/pipelines/{name}/executions",
                id: "ListPipelineExecutions",
                summary: "ListPipelineExecutions: the pipeline's executions, newest first.",
                path_params: &[NAME],
                query: &[QueryParam {
                    name: "limit",
                    kind: "integer",
                    description: "At most this many (default 50, at most 1000).",
                }],
                body: None,
                answer: Answer::Json(200, schema::<Vec<ExecutionSummary>>),
            },
            handler: get(list_executions),
        },
        Entry {
            op: Op {
                method: "post",
                path: "/api/v1/pipelines/{name}/executions",
                id: "StartPipelineExecution",
                summary: "StartPipelineExecution: starts an execution (variables, source revision overrides, an idempotency token).",
                path_params: &[NAME],
                query: &[],
                body: Some(schema::<StartBody>),
                answer: Answer::Json(201, schema::<Started>),
            },
            handler: post(start_execution),
        },
        Entry {
            op: Op {
                method: "put",
                path: "/api/v1/pipelines/{name}/stages/{stage}/transition",
                id: "SetStageTransition",
                summary: "EnableStageTransition / DisableStageTransition: enables or disables the transition into a stage, with a reason.",
                path_params: &[NAME, STAGE],
                query: &[],
                body: Some(schema::<TransitionBody>),
                answer: Answer::Json(200, schema::<Message>),
            },
            handler: put(set_transition),
        },
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
            },
            handler: put(put_approval),
        },
        Entry {
            op: Op {
                method: "get",
                path: "/api/v1/executions/{id}/logs",
                id: "GetActionLogs",
                summary: "The logs of an execution's actions, every attempt in order (or one action's).",
                path_params: &[ID],
                query: &[QueryParam {
                    name: "action",
                    kind: "string",
                    description: "Only this action, as STAGE/ACTION.",
                }],
                body: None,
                answer: Answer::Json(200, schema::<Vec<LogPart>>),
            },
            handler: get(get_logs),
        },
        Entry {
            op: Op {
                method: "get",
                path: "/api/v1/executions/{id}/stages/{stage}/actions/{action}/log",
                id: "StreamActionLog",
                summary: "An action's log as it is written (its latest attempt): server-sent `log` events with text, then `end`.",
                path_params: &[ID, STAGE, ACTION],
                query: &[],
                body: None,
                answer: Answer::EventStream(
                    "`log` events (data: the new text), then one `end` event when the attempt has ended.",
                ),
            },
            handler: get(stream_log),
        },
        Entry {
            op: Op {
                method: "get",
                path: "/api/v1/events",
                id: "StreamEvents",
                summary: "Changes as they happen: server-sent `execution` events (the execution's snapshot as JSON) and `pipeline` events ({\"name\"}).",
                path_params: &[],
                query: &[
                    QueryParam {
                        name: "pipeline",
                        kind: "string",
                        description: "Only this pipeline's executions.",
                    },
                    QueryParam {
                        name: "execution",
                        kind: "string",
                        description: "Only this execution (full id).",
                    },
                ],
                body: None,
                answer: Answer::EventStream(
                    "`execution` events (data: an Execution), `pipeline` events (data: {\"type\":\"pipeline\",\"name\":...}), `lagged` when some were missed (re-read the state).",
                ),
            },
            handler: get(events),
        },
        Entry {
            op: Op {
                method: "post",
                path: "/api/v1/hooks/{name}",
                id: "PostSourceHook",
                summary: "Change detection: checks the pipeline's source actions for a new revision now (for a git post-receive hook) and starts an execution when one passes the trigger's filters.",
                path_params: &[NAME],
                query: &[],
                body: Some(schema::<crate::triggers::HookBody>),
                answer: Answer::Json(200, schema::<crate::triggers::HookAnswer>),
            },
            handler: post(hook),
        },
        Entry {
            op: Op {
                method: "get",
                path: "/api/v1/openapi.json",
                id: "OpenApi",
                summary: "This document.",
                path_params: &[],
                query: &[],
                body: None,
                answer: Answer::Json(200, schema::<serde_json::Value>),
            },
            handler: get(openapi_document),
        },
    ]
}

// ---------------------------------------------------------------- bodies

/// The server.
#[derive(Debug, Serialize, Deserialize, JsonSchema)]
pub struct Health {
    /// Sluice's version.
    pub version: String,
    /// The state directory it drives.
    pub state_dir: String,
}

/// A short answer.
#[derive(Debug, Serialize, Deserialize, JsonSchema)]
pub struct Message {
    /// What was done.
    pub message: String,
    /// The execution it is about, when there is one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub execution: Option<String>,
}

/// A pipeline definition to apply.
#[derive(Debug, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PutPipelineBody {
    /// The definition's text, YAML or JSON.
    pub definition: String,
    /// The file name it came from, for messages (its extension picks the
    /// format: `.json` is JSON, anything else YAML).
    #[serde(default)]
    pub file: Option<String>,
    /// The folder relative paths in the definition (grants, component
    /// files) are resolved against, on the server's machine (default: the
    /// server's working folder).
    #[serde(default)]
    pub base_dir: Option<String>,
}

/// How to start an execution.
#[derive(Debug, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct StartBody {
    /// Pipeline variable values.
    #[serde(default)]
    pub variables: IndexMap<String, String>,
    /// Source revisions to use instead of the latest, by source action.
    #[serde(default)]
    pub revisions: IndexMap<String, String>,
    /// An idempotency token: starting again with the same token answers
    /// the same execution.
    #[serde(default)]
    pub client_token: Option<String>,
}

/// A started execution.
#[derive(Debug, Serialize, Deserialize, JsonSchema)]
pub struct Started {
    /// Its id.
    pub execution: String,
    /// What happened.
    pub message: String,
}

/// How to stop.
#[derive(Debug, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct StopBody {
    /// Abandon running actions instead of letting them finish.
    #[serde(default)]
    pub abandon: bool,
    /// Why.
    #[serde(default)]
    pub reason: Option<String>,
}

/// Which actions to retry.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum RetryScope {
    /// The failed actions only.
    #[default]
    FailedActions,
    /// Every action of the stage.
    AllActions,
}

/// How to retry.
#[derive(Debug, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RetryBody {
    /// The failed actions (default) or all of them.
    #[serde(default)]
    pub mode: RetryScope,
}

/// An approval's result.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum ApprovalStatus {
    /// Approved: the action succeeds.
    Approved,
    /// Rejected: the action fails.
    Rejected,
}

/// An approval decision.
#[derive(Debug, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ApprovalBody {
    /// The decision.
    pub status: ApprovalStatus,
    /// A comment.
    #[serde(default)]
    pub summary: Option<String>,
}

/// A transition change.
#[derive(Debug, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TransitionBody {
    /// Enable (true) or disable (false) the transition into the stage.
    pub enabled: bool,
    /// Why (shown with a disabled transition).
    #[serde(default)]
    pub reason: Option<String>,
}

#[derive(Debug, Deserialize)]
struct VersionQuery {
    version: Option<u32>,
}

#[derive(Debug, Deserialize)]
struct LimitQuery {
    limit: Option<usize>,
}

#[derive(Debug, Deserialize)]
struct ActionsQuery {
    stage: Option<String>,
    action: Option<String>,
}

#[derive(Debug, Deserialize)]
struct LogQuery {
    action: Option<String>,
}

#[derive(Debug, Deserialize)]
struct EventsQuery {
    pipeline: Option<String>,
    execution: Option<String>,
}

// ---------------------------------------------------------------- handlers

type ApiResult<T> = Result<Json<T>, ApiError>;

async fn health(State(state): State<AppState>) -> Json<Health> {
    Json(Health {
        version: env!("CARGO_PKG_VERSION").to_string(),
        state_dir: state.state_dir().display().to_string(),
    })
}

async fn list_pipelines(State(state): State<AppState>) -> ApiResult<Vec<PipelineSummary>> {
    Ok(Json(state.with_store(|s| ops::list_pipelines(s))?))
}

async fn put_pipeline(
    State(state): State<AppState>,
    ApiJson(body): ApiJson<PutPipelineBody>,
) -> ApiResult<Applied> {
    let file = body.file.clone().unwrap_or_else(|| "pipeline.yaml".into());
    let base_dir = match &body.base_dir {
        Some(d) => std::path::PathBuf::from(d),
        None => std::env::current_dir().map_err(OpError::internal)?,
    };
    if !base_dir.is_absolute() {
        return Err(OpError::invalid("base_dir", "`base_dir` must be an absolute path").into());
    }
    let loaded = model::load_text(&body.definition, &file, &base_dir)
        .map_err(|report| ops::invalid_pipeline(&report))?;
    let catalog = state.catalog(&base_dir)?;
    let secrets = state.secrets()?;
    // Applying loads providers (async): a connection of its own.
    let mut store = crate::store::Store::open(state.state_dir()).map_err(OpError::internal)?;
    let applied = ops::apply(&mut store, &catalog, &secrets, &loaded).await?;
    if applied.changed {
        state
            .engine()
            .request(Request::Reload {
                pipeline: applied.name.clone(),
            })
            .await;
        state.changed(Change::Pipeline {
            name: applied.name.clone(),
        });
    }
    Ok(Json(applied))
}

async fn get_pipeline(
    State(state): State<AppState>,
    Path(name): Path<String>,
    ApiQuery(query): ApiQuery<VersionQuery>,
) -> ApiResult<PipelineVersion> {
    Ok(Json(state.with_store(|s| {
        ops::get_pipeline(s, &name, query.version)
    })?))
}

async fn delete_pipeline(
    State(state): State<AppState>,
    Path(name): Path<String>,
) -> ApiResult<Message> {
    state.with_store(|s| ops::delete_pipeline(s, &name))?;
    state
        .engine()
        .request(Request::Reload {
            pipeline: name.clone(),
        })
        .await;
    state.changed(Change::Pipeline { name: name.clone() });
    Ok(Json(Message {
        message: format!("deleted pipeline `{name}` and its history"),
        execution: None,
    }))
}

async fn list_versions(
    State(state): State<AppState>,
    Path(name): Path<String>,
) -> ApiResult<Vec<VersionSummary>> {
    Ok(Json(state.with_store(|s| ops::list_versions(s, &name))?))
}

async fn get_state(
    State(state): State<AppState>,
    Path(name): Path<String>,
) -> ApiResult<PipelineState> {
    Ok(Json(state.with_store(|s| ops::state(s, &name))?))
}

async fn list_executions(
    State(state): State<AppState>,
    Path(name): Path<String>,
    ApiQuery(query): ApiQuery<LimitQuery>,
) -> ApiResult<Vec<ExecutionSummary>> {
    let limit = query.limit.unwrap_or(50);
    if limit == 0 || limit > 1000 {
        return Err(OpError::invalid("limit", "`limit` must be 1 to 1000").into());
    }
    Ok(Json(
        state.with_store(|s| ops::list_executions(s, &name, limit))?,
    ))
}

/// An engine answer as an API answer: refusals are conflicts.
fn answered(outcome: RequestOutcome) -> ApiResult<Message> {
    if outcome.ok {
        Ok(Json(Message {
            message: outcome.message,
            execution: outcome.execution,
        }))
    } else {
        Err(OpError::new(ErrorCode::Conflict, outcome.message).into())
    }
}

async fn start_execution(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(name): Path<String>,
    body: OptionalJson<StartBody>,
) -> Result<(StatusCode, Json<Started>), ApiError> {
    let body = body.0;
    state.with_store(|s| ops::get_pipeline(s, &name, None))?;
    if let Some(t) = &body.client_token
        && (t.is_empty() || t.len() > 128)
    {
        return Err(
            OpError::invalid("client_token", "`client_token` must be 1 to 128 characters").into(),
        );
    }
    let outcome = state
        .engine()
        .request(Request::Start {
            pipeline: name.clone(),
            variables: body.variables,
            revisions: body.revisions,
            trigger: format!("api ({})", AppState::user(&headers)),
            token: body.client_token,
        })
        .await;
    match (outcome.ok, outcome.execution) {
        (true, Some(execution)) => Ok((
            // A start repeated with its token answers the first one.
            if outcome.message.starts_with("started") {
                StatusCode::CREATED
            } else {
                StatusCode::OK
            },
            Json(Started {
                execution,
                message: outcome.message,
            }),
        )),
        (true, None) => Err(OpError::new(ErrorCode::Conflict, outcome.message).into()),
        (false, _) => Err(start_refusal(outcome.message)),
    }
}

/// A refused start: unknown variables and revisions are the caller's
/// fields.
fn start_refusal(message: String) -> ApiError {
    let field = if message.contains("variable") {
        Some("variables")
    } else if message.contains("revision") || message.contains("source action") {
        Some("revisions")
    } else {
        None
    };
    let error = OpError::new(ErrorCode::InvalidRequest, message);
    ApiError(match field {
        Some(f) => error.field(f),
        None => error,
    })
}

async fn set_transition(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path((name, stage)): Path<(String, String)>,
    ApiJson(body): ApiJson<TransitionBody>,
) -> ApiResult<Message> {
    let version = state.with_store(|s| ops::get_pipeline(s, &name, None))?;
    if !version.definition.stages.iter().any(|s| s.name == stage) {
        return Err(OpError::not_found(
            "stage",
            format!("pipeline `{name}` has no stage `{stage}`"),
        )
        .into());
    }
    let answer = answered(
        state
            .engine()
            .request(Request::Transition {
                pipeline: name.clone(),
                stage,
                enabled: body.enabled,
                reason: body.reason,
                by: AppState::user(&headers),
            })
            .await,
    )?;
    state.changed(Change::Pipeline { name });
    Ok(answer)
}

async fn get_execution(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> ApiResult<ExecutionDetail> {
    Ok(Json(state.with_store(|s| ops::execution(s, &id))?))
}

async fn list_actions(
    State(state): State<AppState>,
    Path(id): Path<String>,
    ApiQuery(query): ApiQuery<ActionsQuery>,
) -> ApiResult<Vec<ActionAttempt>> {
    if query.action.is_some() && query.stage.is_none() {
        return Err(OpError::invalid("action", "`action` needs `stage`").into());
    }
    let detail = state.with_store(|s| ops::execution(s, &id))?;
    let attempts = detail
        .attempts
        .into_iter()
        .filter(|a| query.stage.as_ref().is_none_or(|s| *s == a.stage))
        .filter(|a| query.action.as_ref().is_none_or(|x| *x == a.action))
        .collect();
    Ok(Json(attempts))
}

fn full_id(state: &AppState, id: &str) -> Result<String, ApiError> {
    Ok(state.with_store(|s| ops::resolve_execution(s, id))?)
}

async fn stop_execution(
    State(state): State<AppState>,
    Path(id): Path<String>,
    body: OptionalJson<StopBody>,
) -> ApiResult<Message> {
    let body = body.0;
    let execution = full_id(&state, &id)?;
    answered(
        state
            .engine()
            .request(Request::Stop {
                execution,
                abandon: body.abandon,
                reason: body.reason,
            })
            .await,
    )
}

async fn retry_stage(
    State(state): State<AppState>,
    Path((id, stage)): Path<(String, String)>,
    body: OptionalJson<RetryBody>,
) -> ApiResult<Message> {
    let body = body.0;
    let detail = state.with_store(|s| ops::execution(s, &id))?;
    if !detail.execution.stages.iter().any(|s| s.name == stage) {
        return Err(OpError::not_found(
            "stage",
            format!("execution {} has no stage `{stage}`", detail.execution.id),
        )
        .into());
    }
    answered(
        state
            .engine()
            .request(Request::Retry {
                execution: detail.execution.id,
                stage,
                all: body.mode == RetryScope::AllActions,
            })
            .await,
    )
}

async fn put_approval(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path((id, stage, action)): Path<(String, String, String)>,
    ApiJson(body): ApiJson<ApprovalBody>,
) -> ApiResult<Message> {
    let detail = state.with_store(|s| ops::execution(s, &id))?;
    let found = detail
        .execution
        .stages
        .iter()
        .find(|s| s.name == stage)
        .ok_or_else(|| {
            OpError::not_found(
                "stage",
                format!("execution {} has no stage `{stage}`", detail.execution.id),
            )
        })?
        .actions
        .iter()
        .any(|a| a.name == action);
    if !found {
        return Err(OpError::not_found(
            "action",
            format!("stage `{stage}` has no action `{action}`"),
        )
        .into());
    }
    answered(
        state
            .engine()
            .request(Request::Decide {
                execution: detail.execution.id,
                stage,
                action,
                approved: body.status == ApprovalStatus::Approved,
                by: AppState::user(&headers),
                summary: body.summary,
            })
            .await,
    )
}

async fn get_logs(
    State(state): State<AppState>,
    Path(id): Path<String>,
    ApiQuery(query): ApiQuery<LogQuery>,
) -> ApiResult<Vec<LogPart>> {
    let filter = query
        .action
        .as_deref()
        .map(ops::parse_action_filter)
        .transpose()?;
    let dir = state.state_dir().to_path_buf();
    Ok(Json(state.with_store(|s| {
        ops::logs(s, &dir, &id, filter.as_ref())
    })?))
}

type EventResult = Result<Event, Infallible>;

async fn stream_log(
    State(state): State<AppState>,
    Path((id, stage, action)): Path<(String, String, String)>,
) -> Result<Sse<impl Stream<Item = EventResult>>, ApiError> {
    // Checked now, so a bad name is a 404 rather than an empty stream.
    state.with_store(|s| ops::log_file(s, &id, &stage, &action))?;
    let tail_closed = state.closed();
    struct Tail {
        state: AppState,
        id: String,
        stage: String,
        action: String,
        offset: u64,
        log: Option<String>,
        done: bool,
        /// The start of a line not finished yet.
        partial: Vec<u8>,
    }
    let tail = Tail {
        state,
        id,
        stage,
        action,
        offset: 0,
        log: None,
        done: false,
        partial: Vec::new(),
    };
    // Complete lines as a JSON array of `{source, text}`.
    fn lines_event(bytes: &[u8]) -> Event {
        let lines = crate::text::log_lines(bytes);
        Event::default()
            .event("log")
            .data(serde_json::to_string(&lines).expect("log lines serialise"))
    }
    let stream = stream::unfold(tail, |mut t| async move {
        if t.done {
            return None;
        }
        loop {
            let (_, log, running) = match t
                .state
                .with_store(|s| ops::log_file(s, &t.id, &t.stage, &t.action))
            {
                Ok(found) => found,
                Err(e) => {
                    t.done = true;
                    return Some((Ok(Event::default().event("end").data(e.message)), t));
                }
            };
            if log != t.log {
                // A new attempt: start its log from the beginning.
                t.log = log.clone();
                t.offset = 0;
                t.partial.clear();
            }
            if let Some(rel) = &t.log {
                let path = t.state.state_dir().join(rel);
                let bytes = read_from(&path, t.offset).await;
                if !bytes.is_empty() {
                    t.offset += bytes.len() as u64;
                    t.partial.extend_from_slice(&bytes);
                    if let Some(end) = t.partial.iter().rposition(|b| *b == b'\n') {
                        let complete: Vec<u8> = t.partial.drain(..=end).collect();
                        return Some((Ok(lines_event(&complete)), t));
                    }
                }
            }
            if !running {
                if !t.partial.is_empty() {
                    let rest = std::mem::take(&mut t.partial);
                    return Some((Ok(lines_event(&rest)), t));
                }
                t.done = true;
                return Some((Ok(Event::default().event("end").data("end")), t));
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    });
    let closed = tail_closed;
    Ok(Sse::new(stream.take_until(closed)).keep_alive(KeepAlive::default()))
}

/// Up to 64 KiB of a file from `offset`, cut at the last whole UTF-8
/// character.
async fn read_from(path: &std::path::Path, offset: u64) -> Vec<u8> {
    use tokio::io::{AsyncReadExt, AsyncSeekExt};
    let Ok(mut file) = tokio::fs::File::open(path).await else {
        return Vec::new();
    };
    if file.seek(std::io::SeekFrom::Start(offset)).await.is_err() {
        return Vec::new();
    }
    let mut buffer = vec![0u8; 64 << 10];
    let n = file.read(&mut buffer).await.unwrap_or(0);
    buffer.truncate(n);
    // Do not split a character: keep its start for the next read.
    let mut end = buffer.len();
    while end > 0 && std::str::from_utf8(&buffer[..end]).is_err() && buffer.len() - end < 4 {
        end -= 1;
    }
    if end == 0 && !buffer.is_empty() && buffer.len() < 4 {
        return Vec::new();
    }
    if std::str::from_utf8(&buffer[..end]).is_err() {
        end = buffer.len();
    }
    buffer.truncate(end);
    buffer
}

async fn events(
    State(state): State<AppState>,
    ApiQuery(query): ApiQuery<EventsQuery>,
) -> Sse<impl Stream<Item = EventResult>> {
    use tokio_stream::wrappers::BroadcastStream;
    let pipeline = query.pipeline;
    let execution = query.execution;
    let executions = BroadcastStream::new(state.engine().subscribe()).filter_map(move |event| {
        let pipeline = pipeline.clone();
        let execution = execution.clone();
        async move {
            match event {
                Ok(EngineEvent::Execution(e)) => {
                    if pipeline.as_ref().is_some_and(|p| *p != e.pipeline)
                        || execution.as_ref().is_some_and(|x| *x != e.id)
                    {
                        return None;
                    }
                    Some(Ok(Event::default()
                        .event("execution")
                        .json_data(&*e)
                        .unwrap_or_else(|_| {
                            Event::default().event("lagged").data("lagged")
                        })))
                }
                Err(_) => Some(Ok(Event::default().event("lagged").data("lagged"))),
            }
        }
    });
    let changes = BroadcastStream::new(state.changes()).filter_map(|change| async move {
        match change {
            Ok(c) => Event::default()
                .event("pipeline")
                .json_data(&c)
                .ok()
                .map(Ok),
            Err(_) => Some(Ok(Event::default().event("lagged").data("lagged"))),
        }
    });
    let hello = stream::once(async { Ok(Event::default().event("ready").data("ready")) });
    let all = hello
        .chain(stream::select(executions, changes))
        .take_until(state.closed());
    Sse::new(all).keep_alive(KeepAlive::default())
}

async fn hook(
    State(state): State<AppState>,
    Path(name): Path<String>,
    body: OptionalJson<crate::triggers::HookBody>,
) -> ApiResult<crate::triggers::HookAnswer> {
    let body = body.0;
    state.with_store(|s| ops::get_pipeline(s, &name, None))?;
    let Some(triggers) = state.triggers() else {
        return Err(OpError::new(ErrorCode::Conflict, "this server runs no triggers").into());
    };
    Ok(Json(triggers.hook(&name, body).await?))
}

async fn openapi_document() -> Json<serde_json::Value> {
    Json(super::openapi::document())
}
