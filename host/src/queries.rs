//! The queries the command line and the HTTP API share: pipelines,
//! versions, state, executions and logs read from the store. Each returns
//! data (serialisable, with a JSON Schema for the API's document) or an
//! [`OpError`], the error both front ends report, with a stable code;
//! printing and HTTP are the callers' business.

use crate::engine::pipeline_state::{PipelineState, pipeline_state};
use crate::engine::{Execution, PipelineVersion};
use crate::model::{Diagnostic, Severity};
use crate::store::{ActionAttempt, ExecutionSummary, PipelineSummary, StageAttempt, Store};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use std::path::Path;

/// What kind of failure an operation met; stable, for API clients.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    /// A named thing does not exist.
    NotFound,
    /// The request is malformed or a field is invalid.
    InvalidRequest,
    /// A pipeline definition has errors (see `diagnostics`).
    InvalidPipeline,
    /// The request conflicts with the current state (a running execution,
    /// a stage that cannot be retried...).
    Conflict,
    /// A mutating call without a valid bearer token.
    Unauthorized,
    /// Something failed on the server.
    Internal,
    /// The engine cannot act (its state could not be written; it stopped).
    Unavailable,
    /// The token's role does not allow the call.
    Forbidden,
    /// The request names a host this server does not answer to.
    WrongHost,
}

/// An operation's failure: a stable code, a message for people, and the
/// field or parameter it is about.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct OpError {
    /// What kind of failure.
    pub code: ErrorCode,
    /// What went wrong, for people.
    pub message: String,
    /// The request field or parameter at fault, when there is one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
    /// A definition's findings, for `invalid_pipeline`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub diagnostics: Vec<Diagnostic>,
}

impl OpError {
    /// An error with a code and message.
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        OpError {
            code,
            message: message.into(),
            field: None,
            diagnostics: Vec::new(),
        }
    }

    /// Names the field at fault.
    pub fn field(mut self, field: impl Into<String>) -> Self {
        self.field = Some(field.into());
        self
    }

    /// `not_found` naming `field`.
    pub fn not_found(field: &str, message: impl Into<String>) -> Self {
        OpError::new(ErrorCode::NotFound, message).field(field)
    }

    /// `invalid_request` naming `field`.
    pub fn invalid(field: &str, message: impl Into<String>) -> Self {
        OpError::new(ErrorCode::InvalidRequest, message).field(field)
    }

    /// `internal`.
    pub fn internal(message: impl std::fmt::Display) -> Self {
        OpError::new(ErrorCode::Internal, message.to_string())
    }
}

impl std::fmt::Display for OpError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)?;
        for d in &self.diagnostics {
            let severity = match d.severity {
                Severity::Error => "error",
                Severity::Warning => "warning",
            };
            write!(f, "\n  {severity}: {}: {}", d.path, d.message)?;
        }
        Ok(())
    }
}

impl std::error::Error for OpError {}

fn internal(e: impl std::fmt::Display) -> OpError {
    OpError::internal(e)
}

/// An execution with every attempt of its actions.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct ExecutionDetail {
    /// The execution: stages, actions (latest attempt), artifacts.
    pub execution: Execution,
    /// Every attempt of every action, oldest first.
    pub attempts: Vec<ActionAttempt>,
    /// Every attempt of every stage (a retry adds one), in stage order.
    pub stage_attempts: Vec<StageAttempt>,
}

/// One attempt's log, or a range of it.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct LogPart {
    /// The stage.
    pub stage: String,
    /// The action.
    pub action: String,
    /// The attempt.
    pub attempt: u32,
    /// Whether the attempt is still running (the log may grow).
    pub running: bool,
    /// The log's lines from `offset` to `next_offset` (secrets already
    /// redacted), the host's told from the provider's, control characters
    /// escaped, bytes that are not UTF-8 shown as U+FFFD.
    pub lines: Vec<crate::text::LogLine>,
    /// Where these lines start in the log, in bytes.
    #[serde(default)]
    pub offset: u64,
    /// Where the next range starts: `size` once the whole log is read.
    #[serde(default)]
    pub next_offset: u64,
    /// The log's size now, in bytes.
    #[serde(default)]
    pub size: u64,
}

/// Which bytes of each log to read: from `offset`, at most `limit` (cut
/// back to the end of a line when the range ends inside one).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LogRange {
    /// The first byte.
    pub offset: u64,
    /// At most this many bytes.
    pub limit: u64,
}

impl LogRange {
    /// Bytes a range holds when none is asked for.
    pub const DEFAULT_LIMIT: u64 = 1 << 20;
    /// The most a range may hold.
    pub const MAX_LIMIT: u64 = 16 << 20;

    /// The range `offset` and `limit` ask for (defaults: from the start,
    /// 1 MiB), refused when `limit` is 0 or past the maximum.
    pub fn new(offset: Option<u64>, limit: Option<u64>) -> Result<LogRange, OpError> {
        let limit = limit.unwrap_or(Self::DEFAULT_LIMIT);
        if limit == 0 || limit > Self::MAX_LIMIT {
            return Err(OpError::invalid(
                "limit",
                format!("`limit` must be 1 to {} bytes", Self::MAX_LIMIT),
            ));
        }
        Ok(LogRange {
            offset: offset.unwrap_or(0),
            limit,
        })
    }
}

impl Default for LogRange {
    fn default() -> Self {
        LogRange {
            offset: 0,
            limit: Self::DEFAULT_LIMIT,
        }
    }
}

/// Reads `range` of the file at `path`: the bytes (cut back to the last
/// newline when the range ends inside a line and holds one), where the
/// next range starts, and the file's size. Never more than the range in
/// memory.
pub fn read_log_range(path: &Path, range: LogRange) -> std::io::Result<(Vec<u8>, u64, u64)> {
    let file = match std::fs::File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok((Vec::new(), 0, 0)),
        Err(e) => return Err(e),
    };
    let size = file.metadata()?.len();
    read_range(file, size, range)
}

/// [`read_log_range`] of an attempt's log (`rel`, relative to
/// `state_dir`): this host's file, or, when another host ran the call
/// (PostgreSQL), the copy kept in the database.
pub fn read_attempt_log(
    store: &Store,
    state_dir: &Path,
    rel: &str,
    range: LogRange,
) -> std::io::Result<(Vec<u8>, u64, u64)> {
    let path = state_dir.join(rel);
    if !path.exists()
        && let Some(body) = store.stored_log(rel).map_err(std::io::Error::other)?
    {
        let size = body.len() as u64;
        return read_range(std::io::Cursor::new(body), size, range);
    }
    read_log_range(&path, range)
}

fn read_range(
    mut file: impl std::io::Read + std::io::Seek,
    size: u64,
    range: LogRange,
) -> std::io::Result<(Vec<u8>, u64, u64)> {
    use std::io::{Read, SeekFrom};
    let offset = range.offset.min(size);
    file.seek(SeekFrom::Start(offset))?;
    let mut bytes = Vec::with_capacity(range.limit.min(size - offset) as usize);
    file.take(range.limit).read_to_end(&mut bytes)?;
    let end = offset + bytes.len() as u64;
    if end < size
        && let Some(last) = bytes.iter().rposition(|b| *b == b'\n')
    {
        bytes.truncate(last + 1);
    }
    let next = offset + bytes.len() as u64;
    Ok((bytes, next, size))
}

/// A version of a pipeline, as listed.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct VersionSummary {
    /// The version number.
    pub version: u32,
    /// When it was applied.
    pub created_at: i64,
}

/// Every pipeline with its current version and latest execution.
pub fn list_pipelines(store: &Store) -> Result<Vec<PipelineSummary>, OpError> {
    store.list_pipelines().map_err(internal)
}

/// A pipeline's current version, or version `version`.
pub fn get_pipeline(
    store: &Store,
    name: &str,
    version: Option<u32>,
) -> Result<PipelineVersion, OpError> {
    let found = match version {
        Some(v) => store.pipeline_version(name, v),
        None => store.current_pipeline(name),
    }
    .map_err(internal)?;
    found.ok_or_else(|| match version {
        Some(v) => OpError::not_found("version", format!("pipeline `{name}` has no version {v}")),
        None => OpError::not_found("name", format!("there is no pipeline `{name}`")),
    })
}

/// The versions of a pipeline, newest first.
pub fn list_versions(store: &Store, name: &str) -> Result<Vec<VersionSummary>, OpError> {
    let versions = store.pipeline_versions(name).map_err(internal)?;
    if versions.is_empty() {
        return Err(OpError::not_found(
            "name",
            format!("there is no pipeline `{name}`"),
        ));
    }
    Ok(versions
        .into_iter()
        .map(|(version, created_at)| VersionSummary {
            version,
            created_at,
        })
        .collect())
}

/// A pipeline's state: each stage's latest execution, the inbound
/// execution, transitions, action statuses.
pub fn state(store: &Store, name: &str) -> Result<PipelineState, OpError> {
    pipeline_state(store, name)
        .map_err(internal)?
        .ok_or_else(|| OpError::not_found("name", format!("there is no pipeline `{name}`")))
}

/// A pipeline's executions, newest first.
pub fn list_executions(
    store: &Store,
    name: &str,
    limit: usize,
) -> Result<Vec<ExecutionSummary>, OpError> {
    if store.current_pipeline(name).map_err(internal)?.is_none()
        && store.list_executions(name, 1).map_err(internal)?.is_empty()
    {
        return Err(OpError::not_found(
            "name",
            format!("there is no pipeline `{name}`"),
        ));
    }
    store.list_executions(name, limit).map_err(internal)
}

/// The full id of an execution given by its id or a unique prefix.
pub fn resolve_execution(store: &Store, id: &str) -> Result<String, OpError> {
    store
        .find_execution_id(id)
        .map_err(internal)?
        .ok_or_else(|| {
            OpError::not_found(
                "id",
                format!("there is no execution `{id}` (or the prefix is ambiguous)"),
            )
        })
}

/// An execution (by id or unique prefix) with every attempt.
pub fn execution(store: &Store, id: &str) -> Result<ExecutionDetail, OpError> {
    let full = resolve_execution(store, id)?;
    let execution = store
        .execution(&full, |_, _| None)
        .map_err(internal)?
        .ok_or_else(|| OpError::not_found("id", format!("there is no execution `{id}`")))?;
    let attempts = store.action_attempts(&full).map_err(internal)?;
    let stage_attempts = store.stage_attempts(&full).map_err(internal)?;
    Ok(ExecutionDetail {
        execution,
        attempts,
        stage_attempts,
    })
}

/// Parses `STAGE/ACTION`.
pub fn parse_action_filter(text: &str) -> Result<(String, String), OpError> {
    text.split_once('/')
        .filter(|(s, a)| !s.is_empty() && !a.is_empty())
        .map(|(s, a)| (s.to_string(), a.to_string()))
        .ok_or_else(|| OpError::invalid("action", format!("`{text}` is not STAGE/ACTION")))
}

/// The logs of an execution's actions (every attempt, in order), or of
/// one action's attempts (or one attempt), each read as `range` says.
pub fn logs(
    store: &Store,
    state_dir: &Path,
    id: &str,
    action: Option<&(String, String)>,
    attempt: Option<u32>,
    range: LogRange,
) -> Result<Vec<LogPart>, OpError> {
    let detail = execution(store, id)?;
    if let Some((s, a)) = action
        && !detail
            .execution
            .stages
            .iter()
            .any(|st| st.name == *s && st.actions.iter().any(|x| x.name == *a))
    {
        return Err(OpError::not_found(
            "action",
            format!("execution {} has no action `{s}/{a}`", detail.execution.id),
        ));
    }
    let mut parts = Vec::new();
    for run in &detail.attempts {
        if let Some((s, a)) = action
            && (run.stage != *s || run.action != *a)
        {
            continue;
        }
        if attempt.is_some_and(|n| n != run.attempt) {
            continue;
        }
        let Some(log) = &run.run.log else {
            continue;
        };
        let (bytes, next_offset, size) =
            read_attempt_log(store, state_dir, log, range).map_err(internal)?;
        parts.push(LogPart {
            stage: run.stage.clone(),
            action: run.action.clone(),
            attempt: run.attempt,
            running: run.run.running
                || run.run.status == Some(crate::engine::ActionStatus::InProgress),
            lines: crate::text::log_lines(&bytes),
            offset: range.offset.min(size),
            next_offset,
            size,
        });
    }
    Ok(parts)
}

/// Where one attempt's log file is, relative to the state directory.
pub fn log_file(
    store: &Store,
    id: &str,
    stage: &str,
    action: &str,
) -> Result<(String, Option<String>, bool), OpError> {
    let detail = execution(store, id)?;
    let latest = detail
        .execution
        .stages
        .iter()
        .find(|s| s.name == stage)
        .and_then(|s| s.actions.iter().find(|a| a.name == action))
        .ok_or_else(|| {
            OpError::not_found(
                "action",
                format!(
                    "execution {} has no action `{stage}/{action}`",
                    detail.execution.id
                ),
            )
        })?;
    let running = latest.running || latest.status == Some(crate::engine::ActionStatus::InProgress);
    Ok((detail.execution.id, latest.log.clone(), running))
}
