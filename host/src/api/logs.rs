//! Action logs: every attempt's lines of an execution, and one action's
//! log streamed as it is written.

use super::table::{ACTION, Answer, Entry, ID, Op, QueryParam, STAGE, schema};
use super::{ApiError, ApiQuery, ApiResult, AppState};
use crate::access::Role;
use crate::queries::{self, LogPart, OpError};
use axum::Json;
use axum::extract::{Path, State};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::routing::get;
use futures_util::stream::{self, Stream, StreamExt};
use serde::Deserialize;
use std::convert::Infallible;
use std::time::Duration;

pub(super) fn entries() -> Vec<Entry> {
    vec![
        Entry {
            op: Op {
                method: "get",
                path: "/api/v1/executions/{id}/logs",
                id: "GetActionLogs",
                summary: "The logs of an execution's actions, every attempt in order (or one action's, or one attempt's), read in ranges of bytes.",
                path_params: &[ID],
                query: &[
                    QueryParam {
                        name: "action",
                        kind: "string",
                        description: "Only this action, as STAGE/ACTION.",
                    },
                    QueryParam {
                        name: "attempt",
                        kind: "integer",
                        description: "Only this attempt (with `action`).",
                    },
                    QueryParam {
                        name: "offset",
                        kind: "integer",
                        description: "Read each log from this byte (default 0); a part's `next_offset` says where the next range starts.",
                    },
                    QueryParam {
                        name: "limit",
                        kind: "integer",
                        description: "At most this many bytes of each log (default 1 MiB, at most 16 MiB), cut back to a line's end.",
                    },
                ],
                body: None,
                answer: Answer::Json(200, schema::<Vec<LogPart>>),
                role: Some(Role::Read),
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
                role: Some(Role::Read),
            },
            handler: get(stream_log),
        },
    ]
}

#[derive(Debug, Deserialize)]
struct LogQuery {
    action: Option<String>,
    attempt: Option<u32>,
    offset: Option<u64>,
    limit: Option<u64>,
}

async fn get_logs(
    State(state): State<AppState>,
    Path(id): Path<String>,
    ApiQuery(query): ApiQuery<LogQuery>,
) -> ApiResult<Vec<LogPart>> {
    let filter = query
        .action
        .as_deref()
        .map(queries::parse_action_filter)
        .transpose()?;
    if query.attempt.is_some() && filter.is_none() {
        return Err(OpError::invalid("attempt", "`attempt` needs `action`").into());
    }
    let range = queries::LogRange::new(query.offset, query.limit)?;
    let dir = state.state_dir().to_path_buf();
    let attempt = query.attempt;
    Ok(Json(
        state
            .read(move |s| queries::logs(s, &dir, &id, filter.as_ref(), attempt, range))
            .await?,
    ))
}

type EventResult = Result<Event, Infallible>;

async fn stream_log(
    State(state): State<AppState>,
    Path((id, stage, action)): Path<(String, String, String)>,
) -> Result<Sse<impl Stream<Item = EventResult>>, ApiError> {
    // Checked now, so a bad name is a 404 rather than an empty stream.
    {
        let (id, stage, action) = (id.clone(), stage.clone(), action.clone());
        state
            .read(move |s| queries::log_file(s, &id, &stage, &action))
            .await?;
    }
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
                .read({
                    let (id, stage, action) = (t.id.clone(), t.stage.clone(), t.action.clone());
                    move |s| queries::log_file(s, &id, &stage, &action)
                })
                .await
            {
                Ok(found) => found,
                Err(e) => {
                    t.done = true;
                    return Some((Ok(Event::default().event("end").data(e.0.message)), t));
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
                let bytes = if path.exists() {
                    read_from(&path, t.offset).await
                } else {
                    // Another host ran it: the copy in the database.
                    let (dir, rel, offset) =
                        (t.state.state_dir().to_path_buf(), rel.clone(), t.offset);
                    t.state
                        .read(move |s| {
                            let range = queries::LogRange {
                                offset,
                                limit: 64 << 10,
                            };
                            queries::read_attempt_log(s, &dir, &rel, range)
                                .map(|(bytes, _, _)| bytes)
                                .map_err(|e| OpError::internal(e.to_string()))
                        })
                        .await
                        .unwrap_or_default()
                };
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
