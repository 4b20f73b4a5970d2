//! Pipelines: list, apply, read, delete, versions, state, executions of
//! one pipeline, starting one, and stage transitions.

use super::dto::{Message, PutPipelineBody, StartBody, Started, TransitionBody};
use super::table::{Answer, Entry, NAME, Op, QueryParam, STAGE, schema};
use super::{ApiError, ApiJson, ApiQuery, ApiResult, AppState, Change, OptionalJson, refused};
use crate::access::Principal;
use crate::access::Role;
use crate::definitions::Applied;
use crate::engine::pipeline_state::PipelineState;
use crate::engine::{Command, PipelineVersion, Start};
use crate::model;
use crate::queries::{self, OpError, VersionSummary};
use crate::store::{ExecutionSummary, PipelineSummary};
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::{delete, get, post, put};
use axum::{Extension, Json};
use serde::Deserialize;

pub(super) fn entries() -> Vec<Entry> {
    vec![
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
                role: Some(Role::Read),
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
                role: Some(Role::Admin),
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
                role: Some(Role::Read),
            },
            handler: get(get_pipeline),
        },
        Entry {
            op: Op {
                method: "delete",
                path: "/api/v1/pipelines/{name}",
                id: "DeletePipeline",
                summary: "DeletePipeline: removes a pipeline and its history (refused while an execution runs or waits, unless `force`).",
                path_params: &[NAME],
                query: &[QueryParam {
                    name: "force",
                    kind: "boolean",
                    description: "Stop its executions in progress or waiting first (running actions are abandoned).",
                }],
                body: None,
                answer: Answer::Json(200, schema::<Message>),
                role: Some(Role::Admin),
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
                role: Some(Role::Read),
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
                role: Some(Role::Read),
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
                role: Some(Role::Read),
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
                role: Some(Role::Operate),
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
                role: Some(Role::Operate),
            },
            handler: put(set_transition),
        },
    ]
}

#[derive(Debug, Deserialize)]
struct VersionQuery {
    version: Option<u32>,
}

#[derive(Debug, Deserialize)]
struct DeleteQuery {
    force: Option<bool>,
}

#[derive(Debug, Deserialize)]
struct LimitQuery {
    limit: Option<usize>,
}

async fn list_pipelines(State(state): State<AppState>) -> ApiResult<Vec<PipelineSummary>> {
    Ok(Json(state.read(queries::list_pipelines).await?))
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
        .map_err(|report| crate::definitions::invalid_pipeline(&report))?;
    Ok(Json(apply(&state, &loaded).await?))
}

/// Checks and records a loaded definition as its pipeline's new version,
/// and has the engine take it up: what `PUT /pipelines` and the
/// CodePipeline API's `CreatePipeline` and `UpdatePipeline` do.
pub async fn apply(state: &AppState, loaded: &model::Loaded) -> Result<Applied, ApiError> {
    let catalog = state.catalog(&loaded.base_dir)?;
    let secrets = state.secrets()?;
    // Applying loads providers (async): a connection of its own.
    let mut store = crate::store::Store::open(state.state_dir()).map_err(OpError::internal)?;
    let applied =
        crate::definitions::apply_reporting(&mut store, &catalog, &secrets, loaded).await?;
    if applied.changed {
        let reload = Command::Reload {
            pipeline: applied.name.clone(),
        };
        state.engine().command(reload).await.map_err(refused)?;
        state.changed(Change::Pipeline {
            name: applied.name.clone(),
        });
    }
    Ok(applied)
}

async fn get_pipeline(
    State(state): State<AppState>,
    Path(name): Path<String>,
    ApiQuery(query): ApiQuery<VersionQuery>,
) -> ApiResult<PipelineVersion> {
    let version = query.version;
    Ok(Json(
        state
            .read(move |s| queries::get_pipeline(s, &name, version))
            .await?,
    ))
}

async fn delete_pipeline(
    State(state): State<AppState>,
    Path(name): Path<String>,
    ApiQuery(query): ApiQuery<DeleteQuery>,
) -> ApiResult<Message> {
    let delete = Command::Delete {
        pipeline: name.clone(),
        force: query.force.unwrap_or(false),
    };
    let done = state.engine().command(delete).await.map_err(refused)?;
    state.changed(Change::Pipeline { name });
    Ok(Json(done.into()))
}

async fn list_versions(
    State(state): State<AppState>,
    Path(name): Path<String>,
) -> ApiResult<Vec<VersionSummary>> {
    Ok(Json(
        state
            .read(move |s| queries::list_versions(s, &name))
            .await?,
    ))
}

async fn get_state(
    State(state): State<AppState>,
    Path(name): Path<String>,
) -> ApiResult<PipelineState> {
    Ok(Json(state.read(move |s| queries::state(s, &name)).await?))
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
        state
            .read(move |s| queries::list_executions(s, &name, limit))
            .await?,
    ))
}

async fn start_execution(
    State(state): State<AppState>,
    Extension(principal): Extension<Principal>,
    Path(name): Path<String>,
    body: OptionalJson<StartBody>,
) -> Result<(StatusCode, Json<Started>), ApiError> {
    let body = body.0;
    if let Some(t) = &body.client_token
        && (t.is_empty() || t.len() > 128)
    {
        return Err(
            OpError::invalid("client_token", "`client_token` must be 1 to 128 characters").into(),
        );
    }
    let start = Command::Start(Start {
        pipeline: name,
        variables: body.variables,
        revisions: body.revisions,
        trigger: format!("api ({})", principal.name.clone()),
        token: body.client_token,
    });
    let done = state.engine().command(start).await.map_err(refused)?;
    let execution = done
        .execution
        .ok_or_else(|| OpError::internal("the engine answered a start without an execution"))?;
    // A start repeated with its token answers the first one's execution.
    let status = if done.created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((
        status,
        Json(Started {
            execution,
            message: done.message,
        }),
    ))
}

async fn set_transition(
    State(state): State<AppState>,
    Extension(principal): Extension<Principal>,
    Path((name, stage)): Path<(String, String)>,
    ApiJson(body): ApiJson<TransitionBody>,
) -> ApiResult<Message> {
    let transition = Command::Transition {
        pipeline: name.clone(),
        stage,
        enabled: body.enabled,
        reason: body.reason,
        by: principal.name.clone(),
    };
    let done = state.engine().command(transition).await.map_err(refused)?;
    state.changed(Change::Pipeline { name });
    Ok(Json(done.into()))
}
