//! Execution records as rows: how one execution, stage run, artifact and
//! action run are written, and how an action run is read back.

use super::StoreError;
use super::db::{Batch, Row};
use super::json;
use crate::contract::{Failure, FailureKind};
use crate::records::*;

pub(super) fn write_execution(batch: &mut Batch, e: &Execution) {
    batch.add(
        "INSERT INTO executions (id, pipeline, version, seq, status, status_reason, trigger_, variables,
                                 source_revisions, position_stage, position_waiting, stop,
                                 started_at, updated_at, ended_at, client_token)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16)
         ON CONFLICT (id) DO UPDATE SET status = ?5, status_reason = ?6, position_stage = ?10,
             position_waiting = ?11, stop = ?12, updated_at = ?14, ended_at = ?15",
        args![
        e.id,
        e.pipeline,
        e.version,
        e.seq,
        e.status.as_str(),
        e.status_reason,
        e.trigger,
        json(&e.variables),
        json(&e.source_revisions),
        e.position.map(|p| p.stage),
        e.position.map(|p| p.waiting),
        e.stop.as_ref().map(json),
        e.started_at,
        e.updated_at,
        e.ended_at,
        e.client_token,
    ]);
}

pub(super) fn write_stage(batch: &mut Batch, e: &Execution, index: usize) {
    let stage = &e.stages[index];
    if stage.status.is_none() && stage.attempt == 0 {
        return;
    }
    batch.add(
        "INSERT INTO stage_runs (execution_id, stage_index, name, status, attempt, entered_seq, started_at, ended_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)
         ON CONFLICT (execution_id, stage_index) DO UPDATE SET status = ?4, attempt = ?5,
             entered_seq = ?6, started_at = ?7, ended_at = ?8",
        args![
        e.id,
        index,
        stage.name,
        stage.status.map(|s| s.as_str()),
        stage.attempt,
        stage.entered_seq,
        stage.started_at,
        stage.ended_at,
    ]);
    if let Some(entered) = stage.entered_seq {
        batch.add(
            "INSERT INTO stage_entries (pipeline, stage, entered_seq, execution_id)
             VALUES (?1, ?2, ?3, ?4)
             ON CONFLICT (pipeline, stage) DO UPDATE SET
                 entered_seq = excluded.entered_seq, execution_id = excluded.execution_id
             WHERE excluded.entered_seq > stage_entries.entered_seq",
            args![e.pipeline, stage.name, entered, e.id],
        );
    }
    if stage.attempt > 0 {
        batch.add(
            "INSERT INTO stage_attempts (execution_id, stage_index, attempt, name, status, started_at, ended_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)
             ON CONFLICT (execution_id, stage_index, attempt) DO UPDATE SET status = ?5,
                 started_at = ?6, ended_at = ?7",
            args![
            e.id,
            index,
            stage.attempt,
            stage.name,
            stage.status.map(|s| s.as_str()),
            stage.started_at,
            stage.ended_at,
        ]);
    }
}

pub(super) fn write_artifact(batch: &mut Batch, e: &Execution, artifact: &ArtifactRecord) {
    batch.add(
        "INSERT INTO artifacts (execution_id, name, digest, files, bytes, producer, revision)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)
         ON CONFLICT (execution_id, name) DO UPDATE SET digest = ?3, files = ?4, bytes = ?5,
             producer = ?6, revision = ?7",
        args![
            e.id,
            artifact.name,
            artifact.digest,
            artifact.files,
            artifact.bytes,
            artifact.producer,
            artifact.revision,
        ],
    );
}

pub(super) fn write_action(batch: &mut Batch, e: &Execution, key: &ActionKey, run: &ActionRun) {
    // An action reset for a new stage run has nothing to record until it
    // starts: its earlier attempts keep their final state.
    let Some(status) = run.status else {
        return;
    };
    let stage = &e.stages[key.stage];
    batch.add(
        "INSERT INTO action_runs (execution_id, stage_index, action_index, attempt, stage_attempt, stage, action,
             run_order, status, started_at, ended_at, deadline_at, summary, variables, error_kind, error_message,
             continuation, recheck_at, percent, running, awaiting_approval, approval, revision, inputs, outputs,
             log, configuration)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, ?19, ?20,
                 ?21, ?22, ?23, ?24, ?25, ?26, ?27)
         ON CONFLICT (execution_id, stage_index, action_index, attempt) DO UPDATE SET
             stage_attempt = ?5, status = ?9, started_at = ?10, ended_at = ?11, deadline_at = ?12,
             summary = ?13, variables = ?14, error_kind = ?15, error_message = ?16, continuation = ?17,
             recheck_at = ?18, percent = ?19, running = ?20, awaiting_approval = ?21, approval = ?22,
             revision = ?23, inputs = ?24, outputs = ?25, log = ?26, configuration = ?27",
        args![
        e.id,
        key.stage,
        key.action,
        run.attempt,
        stage.attempt,
        stage.name,
        run.name,
        run.run_order,
        status.as_str(),
        run.started_at,
        run.ended_at,
        run.deadline_at,
        run.summary,
        json(&run.variables),
        run.error.as_ref().map(|f| f.kind.to_string()),
        run.error.as_ref().map(|f| f.message.clone()),
        run.continuation,
        run.recheck_at,
        run.percent,
        run.running,
        run.awaiting_approval,
        run.approval.as_ref().map(json),
        run.revision,
        json(&run.inputs),
        json(&run.outputs),
        run.log,
        json(&run.configuration),
    ]);
}

pub(super) fn row_to_action(r: &Row) -> Result<(usize, usize, u32, ActionRun), StoreError> {
    let text = |name: &str| -> Result<String, StoreError> { r.get(name) };
    let parse_json = text;
    let status: String = text("status")?;
    let error_kind: Option<String> = r.get("error_kind")?;
    let error_message: Option<String> = r.get("error_message")?;
    let approval: Option<String> = r.get("approval")?;
    let mut run = ActionRun::new(&text("action")?, r.get("run_order")?);
    run.status = ActionStatus::parse(&status);
    run.attempt = r.get("attempt")?;
    run.started_at = r.get("started_at")?;
    run.ended_at = r.get("ended_at")?;
    run.deadline_at = r.get("deadline_at")?;
    run.summary = r.get("summary")?;
    run.variables = serde_json::from_str(&parse_json("variables")?).unwrap_or_default();
    run.error = error_kind.map(|kind| Failure {
        kind: parse_kind(&kind),
        message: error_message.unwrap_or_default(),
    });
    run.continuation = r.get("continuation")?;
    run.recheck_at = r.get("recheck_at")?;
    run.percent = r.get("percent")?;
    run.running = r.get("running")?;
    run.awaiting_approval = r.get("awaiting_approval")?;
    run.approval = approval.and_then(|a| serde_json::from_str(&a).ok());
    run.revision = r.get("revision")?;
    run.inputs = serde_json::from_str(&parse_json("inputs")?).unwrap_or_default();
    run.outputs = serde_json::from_str(&parse_json("outputs")?).unwrap_or_default();
    run.log = r.get("log")?;
    run.configuration = serde_json::from_str(&parse_json("configuration")?).unwrap_or_default();
    Ok((
        r.get("stage_index")?,
        r.get("action_index")?,
        r.get("stage_attempt")?,
        run,
    ))
}

pub(super) fn parse_kind(text: &str) -> FailureKind {
    match text {
        "configuration-error" => FailureKind::ConfigurationError,
        "permission-error" => FailureKind::PermissionError,
        "revision-unavailable" => FailureKind::RevisionUnavailable,
        "system-unavailable" => FailureKind::SystemUnavailable,
        _ => FailureKind::JobFailed,
    }
}
