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
    let executions = execution_events(state.engine().subscribe(), query.pipeline, query.execution)
        .map(|outgoing| {
            Ok(match outgoing {
                Outgoing::Execution(e) => Event::default()
                    .event("execution")
                    .json_data(&*e)
                    .unwrap_or_else(|_| Event::default().event("lagged").data("lagged")),
                Outgoing::Lagged => Event::default().event("lagged").data("lagged"),
            })
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

/// What an event stream sends about executions.
#[derive(Debug)]
enum Outgoing {
    /// An execution's new snapshot.
    Execution(Box<crate::engine::Execution>),
    /// Some events were missed: the client re-reads the state.
    Lagged,
}

/// The engine's events a client asked for, and a `Lagged` mark wherever
/// the client fell behind and events were dropped (never a silent gap).
fn execution_events(
    receiver: tokio::sync::broadcast::Receiver<EngineEvent>,
    pipeline: Option<String>,
    execution: Option<String>,
) -> impl Stream<Item = Outgoing> {
    tokio_stream::wrappers::BroadcastStream::new(receiver).filter_map(move |event| {
        let wanted = match event {
            Ok(EngineEvent::Execution(e)) => {
                if pipeline.as_ref().is_some_and(|p| *p != e.pipeline)
                    || execution.as_ref().is_some_and(|x| *x != e.id)
                {
                    None
                } else {
                    Some(Outgoing::Execution(e))
                }
            }
            Err(_) => Some(Outgoing::Lagged),
        };
        std::future::ready(wanted)
    })
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::{Execution, ExecutionStatus};

    fn snapshot(pipeline: &str, id: &str) -> EngineEvent {
        EngineEvent::Execution(Box::new(Execution {
            id: id.into(),
            pipeline: pipeline.into(),
            version: 1,
            seq: 1,
            status: ExecutionStatus::InProgress,
            status_reason: None,
            trigger: "test".into(),
            variables: Default::default(),
            source_revisions: vec![],
            position: None,
            stop: None,
            started_at: 0,
            updated_at: 0,
            ended_at: None,
            stages: vec![],
            artifacts: Default::default(),
            client_token: None,
        }))
    }

    #[tokio::test]
    async fn a_client_that_falls_behind_is_told_to_re_read_the_state() {
        let (sender, receiver) = tokio::sync::broadcast::channel(2);
        let stream = execution_events(receiver, Some("kept".into()), None);
        for n in 0..5 {
            sender.send(snapshot("kept", &format!("e{n}"))).unwrap();
        }
        sender.send(snapshot("other", "x")).unwrap();
        sender.send(snapshot("kept", "e5")).unwrap();
        drop(sender);
        let seen: Vec<String> = stream
            .map(|o| match o {
                Outgoing::Execution(e) => e.id.to_string(),
                Outgoing::Lagged => "lagged".into(),
            })
            .collect()
            .await;
        // Five were missed (the channel holds two); the client hears so
        // first, then what it asked for among the two still held.
        assert_eq!(seen, ["lagged", "e5"], "{seen:?}");
    }

    #[tokio::test]
    async fn a_client_keeping_up_gets_only_what_it_asked_for() {
        let (sender, receiver) = tokio::sync::broadcast::channel(16);
        let stream = execution_events(receiver, None, Some("e2".into()));
        for n in 0..4 {
            sender.send(snapshot("p", &format!("e{n}"))).unwrap();
        }
        drop(sender);
        let seen: Vec<String> = stream
            .map(|o| match o {
                Outgoing::Execution(e) => e.id.to_string(),
                Outgoing::Lagged => "lagged".into(),
            })
            .collect()
            .await;
        assert_eq!(seen, ["e2"]);
    }
}
