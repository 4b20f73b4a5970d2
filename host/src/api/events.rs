//! Changes as they happen (server-sent events), and the source hook that
//! asks for change detection now.

use super::table::{Answer, Entry, NAME, Op, QueryParam, schema};
use super::{ApiQuery, ApiResult, AppState, OptionalJson};
use crate::access::Role;
use crate::engine::EngineEvent;
use crate::queries::{self, ErrorCode, OpError};
use axum::Json;
use axum::extract::{Path, State};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::routing::{get, post};
use futures_util::stream::{self, Stream, StreamExt};
use serde::Deserialize;
use std::convert::Infallible;

pub(super) fn entries() -> Vec<Entry> {
    vec![
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
                role: Some(Role::Read),
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
                role: Some(Role::Operate),
            },
            handler: post(hook),
        },
    ]
}

#[derive(Debug, Deserialize)]
struct EventsQuery {
    pipeline: Option<String>,
    execution: Option<String>,
}

type EventResult = Result<Event, Infallible>;

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
    let pipeline = name.clone();
    state
        .read(move |s| queries::get_pipeline(s, &pipeline, None))
        .await?;
    let Some(triggers) = state.triggers() else {
        return Err(OpError::new(ErrorCode::Conflict, "this server runs no triggers").into());
    };
    Ok(Json(triggers.hook(&name, body).await?))
}
