//! Executions, their stage runs and action runs (every attempt), and
//! artifacts: written one engine step per transaction, read back for
//! recovery and for the commands that show state.

use super::db::Db;
use super::rows::{row_to_action, write_action, write_artifact, write_execution, write_stage};
use super::{Store, StoreError};
use crate::records::*;

/// An execution as listed.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize, schemars::JsonSchema)]
pub struct ExecutionSummary {
    /// Its id.
    pub id: String,
    /// The pipeline.
    pub pipeline: String,
    /// The pipeline version it runs.
    pub version: u32,
    /// Its status.
    pub status: String,
    /// Why it has that status.
    pub status_reason: Option<String>,
    /// What started it.
    pub trigger: String,
    /// When it started.
    pub started_at: Millis,
    /// When it ended.
    pub ended_at: Option<Millis>,
    /// The source revisions it carries.
    pub source_revisions: Vec<RecordedRevision>,
}

/// One attempt of one action, as stored.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize, schemars::JsonSchema)]
pub struct ActionAttempt {
    /// The execution.
    pub execution_id: String,
    /// The stage.
    pub stage: String,
    /// The action.
    pub action: String,
    /// The attempt.
    pub attempt: u32,
    /// The run as stored.
    pub run: ActionRun,
}

/// What the store holds, counted (for metrics).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Counts {
    /// Executions by status.
    pub executions: Vec<(String, i64)>,
    /// Action attempts in progress (of running executions).
    pub actions_running: i64,
    /// Commands not yet answered.
    pub requests_pending: i64,
}

/// The executions of a pipeline waiting in front of a stage.
pub const WAITING_EXECUTIONS: &str = "SELECT id, position_stage, version FROM executions
     WHERE pipeline = ?1 AND position_waiting = 1 AND status IN ('InProgress', 'Stopping')
     ORDER BY seq";

/// A stored execution that cannot be read back: its id, and why.
pub type Damaged = (String, String);

/// One attempt of one stage, as stored: a retry adds one, none is
/// overwritten.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize, schemars::JsonSchema)]
pub struct StageAttempt {
    /// The stage.
    pub stage: String,
    /// The attempt, from 1.
    pub attempt: u32,
    /// How it went (`None`: not yet entered, which a stored attempt never is).
    pub status: Option<StageStatus>,
    /// When it was entered.
    pub started_at: Option<Millis>,
    /// When it ended.
    pub ended_at: Option<Millis>,
}

impl Store {
    /// Writes the records one engine step changed, in one transaction.
    pub fn write_step(&mut self, step: &Step<'_>) -> Result<(), StoreError> {
        self.write_step_with_jobs(step, &[], "")
    }

    /// [`Store::write_step`] with jobs of `host`: the calls the step queues
    /// for any host, and those `host` ran itself whose results the step
    /// records. All under the driver's fence (PostgreSQL): a host whose
    /// lease was taken over writes nothing.
    pub fn write_step_with_jobs(
        &mut self,
        step: &Step<'_>,
        jobs: &[super::NewJob],
        host: &str,
    ) -> Result<(), StoreError> {
        if step.is_empty() && jobs.is_empty() {
            return Ok(());
        }
        let mut batch = self.fenced();
        self.add_jobs(&mut batch, jobs, host);
        for (execution, key, run) in &step.closed_attempts {
            write_action(&mut batch, execution, key, run);
        }
        for execution in &step.executions {
            write_execution(&mut batch, execution);
        }
        for (execution, index) in &step.stages {
            write_stage(&mut batch, execution, *index);
        }
        for (execution, artifact) in &step.artifacts {
            write_artifact(&mut batch, execution, artifact);
        }
        for (execution, key) in &step.actions {
            let run = &execution.stages[key.stage].actions[key.action];
            write_action(&mut batch, execution, key, run);
        }
        for t in &step.transitions {
            batch.add(
                "INSERT INTO transitions (pipeline, stage, enabled, reason, changed_by, changed_at)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6)
                     ON CONFLICT (pipeline, stage) DO UPDATE SET
                       enabled = ?3, reason = ?4, changed_by = ?5, changed_at = ?6",
                args![
                    t.pipeline,
                    t.stage,
                    t.enabled,
                    t.reason,
                    t.changed_by,
                    t.changed_at
                ],
            );
        }
        batch.notify(super::CHANGES_CHANNEL);
        self.db.write_batch(batch)
    }

    /// Every execution still running, oldest first, with the versions they
    /// run (which the caller loads into the machine first); those that
    /// cannot be read back (a missing version, an unreadable row) come
    /// apart, by id with the reason, so the rest can go on.
    pub fn active_executions(
        &self,
        version_of: impl Fn(&str, u32) -> Option<SharedVersion>,
    ) -> Result<(Vec<Execution>, Vec<Damaged>), StoreError> {
        let ids: Vec<String> = self
            .db
            .query(
                "SELECT id FROM executions WHERE status IN ('InProgress', 'Stopping') ORDER BY seq",
                args![],
            )?
            .iter()
            .map(|r| r.get(0))
            .collect::<Result<_, _>>()?;
        let mut executions = Vec::new();
        let mut damaged = Vec::new();
        for id in ids {
            match self.execution(&id, &version_of) {
                Ok(Some(e)) => executions.push(e),
                Ok(None) => {}
                Err(error @ StoreError::Corrupt { .. }) => damaged.push((id, error.to_string())),
                Err(error) => return Err(error),
            }
        }
        Ok((executions, damaged))
    }

    /// The pipeline and version of an execution.
    pub fn execution_version(&self, id: &str) -> Result<Option<(String, u32)>, StoreError> {
        self.db
            .query_opt(
                "SELECT pipeline, version FROM executions WHERE id = ?1",
                args![id],
            )?
            .map(|r| Ok((r.get(0)?, r.get(1)?)))
            .transpose()
    }

    /// The execution of `pipeline` started with idempotency token `token`.
    pub fn execution_by_token(
        &self,
        pipeline: &str,
        token: &str,
    ) -> Result<Option<String>, StoreError> {
        self.db
            .query_opt(
                "SELECT id FROM executions WHERE pipeline = ?1 AND client_token = ?2",
                args![pipeline, token],
            )?
            .map(|r| r.get(0))
            .transpose()
    }

    /// Finds an execution by its id or a unique prefix of it (a range of
    /// the primary key: no scan).
    pub fn find_execution_id(&self, prefix: &str) -> Result<Option<String>, StoreError> {
        if prefix.is_empty() {
            return Ok(None);
        }
        let exact: Option<String> = self
            .db
            .query_opt("SELECT id FROM executions WHERE id = ?1", args![prefix])?
            .map(|r| r.get(0))
            .transpose()?;
        if exact.is_some() {
            return Ok(exact);
        }
        // Every id starting with `prefix` sorts between it and it followed
        // by the greatest character.
        let end = format!("{prefix}\u{10FFFF}");
        let ids: Vec<String> = self
            .db
            .query(
                "SELECT id FROM executions WHERE id >= ?1 AND id < ?2 ORDER BY id LIMIT 2",
                args![prefix, end],
            )?
            .iter()
            .map(|r| r.get(0))
            .collect::<Result<_, _>>()?;
        Ok(match ids.as_slice() {
            [one] => Some(one.clone()),
            _ => None,
        })
    }

    /// One execution with its stages and the current attempt of each action
    /// (read from one snapshot).
    pub fn execution(
        &self,
        id: &str,
        version_of: impl Fn(&str, u32) -> Option<SharedVersion>,
    ) -> Result<Option<Execution>, StoreError> {
        self.db.read(|db| self.execution_in(db, id, version_of))
    }

    fn execution_in(
        &self,
        db: &Db,
        id: &str,
        version_of: impl Fn(&str, u32) -> Option<SharedVersion>,
    ) -> Result<Option<Execution>, StoreError> {
        let Some(row) = db.query_opt(
            "SELECT pipeline, version, seq, status, status_reason, trigger_, variables,
                    source_revisions, position_stage, position_waiting, stop,
                    started_at, updated_at, ended_at, client_token
             FROM executions WHERE id = ?1",
            args![id],
        )?
        else {
            return Ok(None);
        };
        let what = || format!("execution {id}");
        let field = |e: StoreError| match e {
            StoreError::Corrupt {
                what: w, message, ..
            } => self.corrupt(what(), format!("{w}: {message}")),
            other => other,
        };
        let pipeline: String = row.get(0).map_err(field)?;
        let version: u32 = row.get(1).map_err(field)?;
        let seq: u64 = row.get(2).map_err(field)?;
        let status: String = row.get(3).map_err(field)?;
        let status_reason: Option<String> = row.get(4).map_err(field)?;
        let trigger: String = row.get(5).map_err(field)?;
        let variables: String = row.get(6).map_err(field)?;
        let revisions: String = row.get(7).map_err(field)?;
        let stage: Option<usize> = row.get(8).map_err(field)?;
        let waiting: Option<bool> = row.get(9).map_err(field)?;
        let stop: Option<String> = row.get(10).map_err(field)?;
        let started_at: Millis = row.get(11).map_err(field)?;
        let updated_at: Millis = row.get(12).map_err(field)?;
        let ended_at: Option<Millis> = row.get(13).map_err(field)?;
        let client_token: Option<String> = row.get(14).map_err(field)?;
        let Some(version_def) = version_of(&pipeline, version).or_else(|| {
            self.pipeline_version(&pipeline, version)
                .ok()
                .flatten()
                .map(std::sync::Arc::new)
        }) else {
            return Err(self.corrupt(
                what(),
                format!("its pipeline version {pipeline} v{version} is missing"),
            ));
        };
        let mut execution = Execution::new(
            id.to_string(),
            &version_def,
            seq,
            started_at,
            &trigger,
            serde_json::from_str(&variables).map_err(|e| self.corrupt(what(), e))?,
            serde_json::from_str(&revisions).map_err(|e| self.corrupt(what(), e))?,
        );
        execution.status = ExecutionStatus::parse(&status)
            .ok_or_else(|| self.corrupt(what(), format!("unknown status {status}")))?;
        execution.status_reason = status_reason;
        execution.client_token = client_token;
        execution.position = stage.map(|stage| Position {
            stage,
            waiting: waiting.unwrap_or(false),
        });
        execution.stop = stop
            .map(|s| serde_json::from_str(&s))
            .transpose()
            .map_err(|e| self.corrupt(what(), e))?;
        execution.updated_at = updated_at;
        execution.ended_at = ended_at;

        let stages = db.query(
            "SELECT stage_index, status, attempt, entered_seq, started_at, ended_at
             FROM stage_runs WHERE execution_id = ?1",
            args![id],
        )?;
        for row in stages {
            let index: usize = row.get(0).map_err(field)?;
            let Some(run) = execution.stages.get_mut(index) else {
                continue;
            };
            let status: Option<String> = row.get(1).map_err(field)?;
            run.status = status.as_deref().and_then(StageStatus::parse);
            run.attempt = row.get(2).map_err(field)?;
            run.entered_seq = row.get(3).map_err(field)?;
            run.started_at = row.get(4).map_err(field)?;
            run.ended_at = row.get(5).map_err(field)?;
        }

        // The latest attempt of each action; it belongs to the current
        // stage run only if it was written in it.
        let rows = db.query(
            "SELECT a.* FROM action_runs a
             WHERE a.execution_id = ?1 AND a.attempt = (
               SELECT MAX(b.attempt) FROM action_runs b
               WHERE b.execution_id = a.execution_id AND b.stage_index = a.stage_index
                 AND b.action_index = a.action_index)",
            args![id],
        )?;
        for row in rows {
            let (stage_index, action_index, stage_attempt, run) =
                row_to_action(&row).map_err(field)?;
            let Some(stage) = execution.stages.get_mut(stage_index) else {
                continue;
            };
            let stage_attempt_now = stage.attempt;
            let Some(slot) = stage.actions.get_mut(action_index) else {
                continue;
            };
            if stage_attempt == stage_attempt_now {
                *slot = run;
            } else {
                slot.attempt = run.attempt;
            }
        }

        let artifacts = db.query(
            "SELECT name, digest, files, bytes, producer, revision FROM artifacts WHERE execution_id = ?1",
            args![id],
        )?;
        for row in artifacts {
            let artifact = artifact_record(&row, 0).map_err(field)?;
            execution.artifacts.insert(artifact.name.clone(), artifact);
        }
        Ok(Some(execution))
    }

    /// Every attempt of every action of an execution, in order.
    pub fn action_attempts(&self, id: &str) -> Result<Vec<ActionAttempt>, StoreError> {
        self.db
            .query(
                "SELECT * FROM action_runs WHERE execution_id = ?1
                 ORDER BY stage_index, action_index, attempt",
                args![id],
            )?
            .iter()
            .map(|r| {
                let stage: String = r.get("stage")?;
                let (_, _, _, run) = row_to_action(r)?;
                Ok(ActionAttempt {
                    execution_id: id.to_string(),
                    stage,
                    action: run.name.clone(),
                    attempt: run.attempt,
                    run,
                })
            })
            .collect()
    }

    /// Every attempt of every stage of an execution, in stage order.
    pub fn stage_attempts(&self, id: &str) -> Result<Vec<StageAttempt>, StoreError> {
        self.db
            .query(
                "SELECT name, attempt, status, started_at, ended_at FROM stage_attempts
                 WHERE execution_id = ?1 ORDER BY stage_index, attempt",
                args![id],
            )?
            .iter()
            .map(|r| {
                let status: Option<String> = r.get(2)?;
                Ok(StageAttempt {
                    stage: r.get(0)?,
                    attempt: r.get(1)?,
                    status: status.as_deref().and_then(StageStatus::parse),
                    started_at: r.get(3)?,
                    ended_at: r.get(4)?,
                })
            })
            .collect()
    }

    /// Executions of a pipeline, newest first.
    pub fn list_executions(
        &self,
        pipeline: &str,
        limit: usize,
    ) -> Result<Vec<ExecutionSummary>, StoreError> {
        self.db
            .query(
                "SELECT id, pipeline, version, status, status_reason, trigger_, started_at, ended_at, source_revisions
                 FROM executions WHERE pipeline = ?1 ORDER BY seq DESC LIMIT ?2",
                args![pipeline, limit as i64],
            )?
            .iter()
            .map(|r| {
                let revisions: String = r.get(8)?;
                Ok(ExecutionSummary {
                    id: r.get(0)?,
                    pipeline: r.get(1)?,
                    version: r.get(2)?,
                    status: r.get(3)?,
                    status_reason: r.get(4)?,
                    trigger: r.get(5)?,
                    started_at: r.get(6)?,
                    ended_at: r.get(7)?,
                    source_revisions: serde_json::from_str(&revisions).unwrap_or_default(),
                })
            })
            .collect()
    }

    /// For each stage of each pipeline, the execution that entered it last
    /// (kept as it happens: no scan of the stage runs).
    pub fn latest_stage_entries(&self) -> Result<Vec<(String, String, u64, String)>, StoreError> {
        self.db
            .query(
                "SELECT pipeline, stage, entered_seq, execution_id FROM stage_entries",
                args![],
            )?
            .iter()
            .map(|r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))
            .collect()
    }

    /// For each stage of `pipeline`: the execution that entered it last.
    pub fn stage_entries(&self, pipeline: &str) -> Result<Vec<(String, String)>, StoreError> {
        self.db
            .query(
                "SELECT stage, execution_id FROM stage_entries WHERE pipeline = ?1",
                args![pipeline],
            )?
            .iter()
            .map(|r| Ok((r.get(0)?, r.get(1)?)))
            .collect()
    }

    /// The largest start order number and stage entry number used.
    pub fn last_numbers(&self) -> Result<(u64, u64), StoreError> {
        let row = self.db.query_one(
            "SELECT (SELECT COALESCE(MAX(seq), 0) FROM executions),
                    (SELECT COALESCE(MAX(entered_seq), 0) FROM stage_entries)",
            args![],
        )?;
        Ok((row.get(0)?, row.get(1)?))
    }

    /// Running executions waiting in front of a stage, in start order: id,
    /// stage index and the version they run (through the
    /// `executions_waiting` index).
    pub fn waiting_executions(
        &self,
        pipeline: &str,
    ) -> Result<Vec<(String, usize, u32)>, StoreError> {
        self.db
            .query(WAITING_EXECUTIONS, args![pipeline])?
            .iter()
            .map(|r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
            .collect()
    }

    /// How the database runs a query (`EXPLAIN QUERY PLAN` on SQLite,
    /// `EXPLAIN` on PostgreSQL), one line per step.
    pub fn query_plan(&self, sql: &str) -> Result<Vec<String>, StoreError> {
        if self.db.is_postgres() {
            return self
                .db
                .query(&format!("EXPLAIN {sql}"), args![])?
                .iter()
                .map(|r| r.get(0))
                .collect();
        }
        self.db
            .query(&format!("EXPLAIN QUERY PLAN {sql}"), args![])?
            .iter()
            .map(|r| r.get(3))
            .collect()
    }

    /// Executions changed at or after `since` (milliseconds, by the
    /// clock of the host that wrote them): id and change time, oldest
    /// change first, at most 1000 (through the `executions_updated` index).
    pub fn executions_changed_since(&self, since: i64) -> Result<Vec<(String, i64)>, StoreError> {
        self.db
            .query(
                "SELECT id, updated_at FROM executions WHERE updated_at >= ?1
                 ORDER BY updated_at LIMIT 1000",
                args![since],
            )?
            .iter()
            .map(|r| Ok((r.get(0)?, r.get(1)?)))
            .collect()
    }

    /// For metrics: executions by status, action attempts in progress, and
    /// commands not yet answered.
    pub fn counts(&self) -> Result<Counts, StoreError> {
        let by_status = self
            .db
            .query(
                "SELECT status, COUNT(*) FROM executions GROUP BY status ORDER BY status",
                args![],
            )?
            .iter()
            .map(|r| Ok((r.get(0)?, r.get(1)?)))
            .collect::<Result<Vec<_>, StoreError>>()?;
        let running: i64 = self
            .db
            .query_one(
                "SELECT COUNT(*) FROM action_runs a JOIN executions e ON e.id = a.execution_id
                 WHERE a.status = 'InProgress' AND e.status IN ('InProgress', 'Stopping')",
                args![],
            )?
            .get(0)?;
        let pending: i64 = self
            .db
            .query_one(
                "SELECT COUNT(*) FROM requests WHERE done_at IS NULL",
                args![],
            )?
            .get(0)?;
        Ok(Counts {
            executions: by_status,
            actions_running: running,
            requests_pending: pending,
        })
    }

    /// How many executions are running, all pipelines together.
    pub fn active_count(&self) -> Result<usize, StoreError> {
        self.db
            .query_one(
                "SELECT COUNT(*) FROM executions WHERE status IN ('InProgress', 'Stopping')",
                args![],
            )?
            .get(0)
    }

    /// Every artifact record (for verification).
    pub fn all_artifacts(&self) -> Result<Vec<(String, ArtifactRecord)>, StoreError> {
        self.db
            .query(
                "SELECT execution_id, name, digest, files, bytes, producer, revision FROM artifacts",
                args![],
            )?
            .iter()
            .map(|r| Ok((r.get(0)?, artifact_record(r, 1)?)))
            .collect()
    }
}

/// An artifact record from the row's columns `first`.. (name, digest,
/// files, bytes, producer, revision).
fn artifact_record(r: &super::db::Row, first: usize) -> Result<ArtifactRecord, StoreError> {
    Ok(ArtifactRecord {
        name: r.get(first)?,
        digest: r.get(first + 1)?,
        files: r.get(first + 2)?,
        bytes: r.get(first + 3)?,
        producer: r.get(first + 4)?,
        revision: r.get(first + 5)?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The reads that must stay fast with many executions use indexes,
    /// never a scan of the executions or their runs.
    #[test]
    fn the_reads_under_load_use_indexes() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let plans = [
            (
                WAITING_EXECUTIONS.replace("?1", "'p'"),
                "executions_waiting",
            ),
            (
                "SELECT id FROM executions WHERE pipeline = 'p' ORDER BY seq DESC LIMIT 50".into(),
                "executions_by_pipeline",
            ),
            (
                "SELECT stage, execution_id FROM stage_entries WHERE pipeline = 'p'".into(),
                "sqlite_autoindex_stage_entries_1",
            ),
            (
                "SELECT id FROM executions WHERE id >= 'a' AND id < 'b' ORDER BY id LIMIT 2".into(),
                "sqlite_autoindex_executions_1",
            ),
            (
                "SELECT id, body FROM requests WHERE done_at IS NULL ORDER BY id".into(),
                "requests_pending",
            ),
            (
                "SELECT id FROM executions WHERE status IN ('InProgress', 'Stopping') ORDER BY seq"
                    .into(),
                "executions_active",
            ),
        ];
        for (sql, index) in plans {
            let plan = store.query_plan(&sql).unwrap().join("; ");
            assert!(plan.contains(index), "{sql}: {plan}");
            assert!(!plan.contains("SCAN executions "), "{sql}: {plan}");
        }
    }
}
