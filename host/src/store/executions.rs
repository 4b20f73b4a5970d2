//! Executions, their stage runs and action runs (every attempt), and
//! artifacts: written one engine step per transaction, read back for
//! recovery and for the commands that show state.

use super::rows::{row_to_action, write_action, write_artifact, write_execution, write_stage};
use super::{Store, StoreError};
use crate::records::*;
use rusqlite::{OptionalExtension, params};

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
        if step.is_empty() {
            return Ok(());
        }
        let path = self.path.clone();
        let at = |e| super::sqlite_at(&path, e);
        let tx = self
            .conn
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
            .map_err(at)?;
        for (execution, key, run) in &step.closed_attempts {
            write_action(&tx, execution, key, run).map_err(at)?;
        }
        for execution in &step.executions {
            write_execution(&tx, execution).map_err(at)?;
        }
        for (execution, index) in &step.stages {
            write_stage(&tx, execution, *index).map_err(at)?;
        }
        for (execution, artifact) in &step.artifacts {
            write_artifact(&tx, execution, artifact).map_err(at)?;
        }
        for (execution, key) in &step.actions {
            let run = &execution.stages[key.stage].actions[key.action];
            write_action(&tx, execution, key, run).map_err(at)?;
        }
        for t in &step.transitions {
            tx.execute(
                "INSERT INTO transitions (pipeline, stage, enabled, reason, changed_by, changed_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)
                 ON CONFLICT (pipeline, stage) DO UPDATE SET
                   enabled = ?3, reason = ?4, changed_by = ?5, changed_at = ?6",
                params![
                    t.pipeline,
                    t.stage,
                    t.enabled,
                    t.reason,
                    t.changed_by,
                    t.changed_at
                ],
            )
            .map_err(at)?;
        }
        tx.commit().map_err(at)
    }

    /// Every execution still running, oldest first, with the versions they
    /// run (which the caller loads into the machine first); those that
    /// cannot be read back (a missing version, an unreadable row) come
    /// apart, by id with the reason, so the rest can go on.
    pub fn active_executions(
        &self,
        version_of: impl Fn(&str, u32) -> Option<SharedVersion>,
    ) -> Result<(Vec<Execution>, Vec<Damaged>), StoreError> {
        let ids: Vec<String> = {
            let mut statement = self
                .conn
                .prepare("SELECT id FROM executions WHERE status IN ('InProgress', 'Stopping') ORDER BY seq")
                .map_err(|e| self.sqlite(e))?;
            let rows = statement
                .query_map([], |r| r.get(0))
                .map_err(|e| self.sqlite(e))?;
            rows.collect::<Result<_, _>>().map_err(|e| self.sqlite(e))?
        };
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
        self.conn
            .query_row(
                "SELECT pipeline, version FROM executions WHERE id = ?1",
                params![id],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()
            .map_err(|e| self.sqlite(e))
    }

    /// The execution of `pipeline` started with idempotency token `token`.
    pub fn execution_by_token(
        &self,
        pipeline: &str,
        token: &str,
    ) -> Result<Option<String>, StoreError> {
        self.conn
            .query_row(
                "SELECT id FROM executions WHERE pipeline = ?1 AND client_token = ?2",
                params![pipeline, token],
                |r| r.get(0),
            )
            .optional()
            .map_err(|e| self.sqlite(e))
    }

    /// Finds an execution by its id or a unique prefix of it (a range of
    /// the primary key: no scan).
    pub fn find_execution_id(&self, prefix: &str) -> Result<Option<String>, StoreError> {
        if prefix.is_empty() {
            return Ok(None);
        }
        let exact: Option<String> = self
            .conn
            .query_row(
                "SELECT id FROM executions WHERE id = ?1",
                params![prefix],
                |r| r.get(0),
            )
            .optional()
            .map_err(|e| self.sqlite(e))?;
        if exact.is_some() {
            return Ok(exact);
        }
        // Every id starting with `prefix` sorts between it and it followed
        // by the greatest character.
        let end = format!("{prefix}\u{10FFFF}");
        let mut statement = self
            .conn
            .prepare_cached(
                "SELECT id FROM executions WHERE id >= ?1 AND id < ?2 ORDER BY id LIMIT 2",
            )
            .map_err(|e| self.sqlite(e))?;
        let ids: Vec<String> = statement
            .query_map(params![prefix, end], |r| r.get(0))
            .map_err(|e| self.sqlite(e))?
            .collect::<Result<_, _>>()
            .map_err(|e| self.sqlite(e))?;
        Ok(match ids.as_slice() {
            [one] => Some(one.clone()),
            _ => None,
        })
    }

    /// One execution with its stages and the current attempt of each action.
    pub fn execution(
        &self,
        id: &str,
        version_of: impl Fn(&str, u32) -> Option<SharedVersion>,
    ) -> Result<Option<Execution>, StoreError> {
        let row = self
            .conn
            .query_row(
                "SELECT pipeline, version, seq, status, status_reason, trigger_, variables,
                        source_revisions, position_stage, position_waiting, stop,
                        started_at, updated_at, ended_at, client_token
                 FROM executions WHERE id = ?1",
                params![id],
                |r| {
                    Ok((
                        r.get::<_, String>(0)?,
                        r.get::<_, u32>(1)?,
                        r.get::<_, u64>(2)?,
                        r.get::<_, String>(3)?,
                        r.get::<_, Option<String>>(4)?,
                        r.get::<_, String>(5)?,
                        r.get::<_, String>(6)?,
                        r.get::<_, String>(7)?,
                        r.get::<_, Option<usize>>(8)?,
                        r.get::<_, Option<bool>>(9)?,
                        r.get::<_, Option<String>>(10)?,
                        r.get::<_, Millis>(11)?,
                        r.get::<_, Millis>(12)?,
                        r.get::<_, Option<Millis>>(13)?,
                        r.get::<_, Option<String>>(14)?,
                    ))
                },
            )
            .optional()
            .map_err(|e| self.sqlite(e))?;
        let Some((
            pipeline,
            version,
            seq,
            status,
            status_reason,
            trigger,
            variables,
            revisions,
            stage,
            waiting,
            stop,
            started_at,
            updated_at,
            ended_at,
            client_token,
        )) = row
        else {
            return Ok(None);
        };
        let what = || format!("execution {id}");
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

        let mut statement = self
            .conn
            .prepare_cached(
                "SELECT stage_index, status, attempt, entered_seq, started_at, ended_at
                 FROM stage_runs WHERE execution_id = ?1",
            )
            .map_err(|e| self.sqlite(e))?;
        let stages = statement
            .query_map(params![id], |r| {
                Ok((
                    r.get::<_, usize>(0)?,
                    r.get::<_, Option<String>>(1)?,
                    r.get::<_, u32>(2)?,
                    r.get::<_, Option<u64>>(3)?,
                    r.get::<_, Option<Millis>>(4)?,
                    r.get::<_, Option<Millis>>(5)?,
                ))
            })
            .map_err(|e| self.sqlite(e))?;
        for row in stages {
            let (index, status, attempt, entered, started, ended) =
                row.map_err(|e| self.sqlite(e))?;
            let Some(run) = execution.stages.get_mut(index) else {
                continue;
            };
            run.status = status.as_deref().and_then(StageStatus::parse);
            run.attempt = attempt;
            run.entered_seq = entered;
            run.started_at = started;
            run.ended_at = ended;
        }

        // The latest attempt of each action; it belongs to the current
        // stage run only if it was written in it.
        let mut statement = self
            .conn
            .prepare_cached(
                "SELECT a.* FROM action_runs a
                 WHERE a.execution_id = ?1 AND a.attempt = (
                   SELECT MAX(b.attempt) FROM action_runs b
                   WHERE b.execution_id = a.execution_id AND b.stage_index = a.stage_index
                     AND b.action_index = a.action_index)",
            )
            .map_err(|e| self.sqlite(e))?;
        let rows = statement
            .query_map(params![id], row_to_action)
            .map_err(|e| self.sqlite(e))?;
        for row in rows {
            let (stage_index, action_index, stage_attempt, run) =
                row.map_err(|e| self.sqlite(e))?;
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

        let mut statement = self
            .conn
            .prepare_cached(
                "SELECT name, digest, files, bytes, producer, revision FROM artifacts WHERE execution_id = ?1",
            )
            .map_err(|e| self.sqlite(e))?;
        let artifacts = statement
            .query_map(params![id], |r| {
                Ok(ArtifactRecord {
                    name: r.get(0)?,
                    digest: r.get(1)?,
                    files: r.get(2)?,
                    bytes: r.get(3)?,
                    producer: r.get(4)?,
                    revision: r.get(5)?,
                })
            })
            .map_err(|e| self.sqlite(e))?;
        for artifact in artifacts {
            let artifact = artifact.map_err(|e| self.sqlite(e))?;
            execution.artifacts.insert(artifact.name.clone(), artifact);
        }
        Ok(Some(execution))
    }

    /// Every attempt of every action of an execution, in order.
    pub fn action_attempts(&self, id: &str) -> Result<Vec<ActionAttempt>, StoreError> {
        let mut statement = self
            .conn
            .prepare_cached(
                "SELECT * FROM action_runs WHERE execution_id = ?1
                 ORDER BY stage_index, action_index, attempt",
            )
            .map_err(|e| self.sqlite(e))?;
        let rows = statement
            .query_map(params![id], |r| {
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
            .map_err(|e| self.sqlite(e))?;
        rows.collect::<Result<_, _>>().map_err(|e| self.sqlite(e))
    }

    /// Every attempt of every stage of an execution, in stage order.
    pub fn stage_attempts(&self, id: &str) -> Result<Vec<StageAttempt>, StoreError> {
        let mut statement = self
            .conn
            .prepare_cached(
                "SELECT name, attempt, status, started_at, ended_at FROM stage_attempts
                 WHERE execution_id = ?1 ORDER BY stage_index, attempt",
            )
            .map_err(|e| self.sqlite(e))?;
        let rows = statement
            .query_map(params![id], |r| {
                let status: Option<String> = r.get(2)?;
                Ok(StageAttempt {
                    stage: r.get(0)?,
                    attempt: r.get(1)?,
                    status: status.as_deref().and_then(StageStatus::parse),
                    started_at: r.get(3)?,
                    ended_at: r.get(4)?,
                })
            })
            .map_err(|e| self.sqlite(e))?;
        rows.collect::<Result<_, _>>().map_err(|e| self.sqlite(e))
    }

    /// Executions of a pipeline, newest first.
    pub fn list_executions(
        &self,
        pipeline: &str,
        limit: usize,
    ) -> Result<Vec<ExecutionSummary>, StoreError> {
        let mut statement = self
            .conn
            .prepare_cached(
                "SELECT id, pipeline, version, status, status_reason, trigger_, started_at, ended_at, source_revisions
                 FROM executions WHERE pipeline = ?1 ORDER BY seq DESC LIMIT ?2",
            )
            .map_err(|e| self.sqlite(e))?;
        let rows = statement
            .query_map(params![pipeline, limit as i64], |r| {
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
            .map_err(|e| self.sqlite(e))?;
        rows.collect::<Result<_, _>>().map_err(|e| self.sqlite(e))
    }

    /// For each stage of each pipeline, the execution that entered it last
    /// (kept as it happens: no scan of the stage runs).
    pub fn latest_stage_entries(&self) -> Result<Vec<(String, String, u64, String)>, StoreError> {
        let mut statement = self
            .conn
            .prepare_cached("SELECT pipeline, stage, entered_seq, execution_id FROM stage_entries")
            .map_err(|e| self.sqlite(e))?;
        let rows = statement
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))
            .map_err(|e| self.sqlite(e))?;
        rows.collect::<Result<_, _>>().map_err(|e| self.sqlite(e))
    }

    /// For each stage of `pipeline`: the execution that entered it last.
    pub fn stage_entries(&self, pipeline: &str) -> Result<Vec<(String, String)>, StoreError> {
        let mut statement = self
            .conn
            .prepare_cached("SELECT stage, execution_id FROM stage_entries WHERE pipeline = ?1")
            .map_err(|e| self.sqlite(e))?;
        let rows = statement
            .query_map(params![pipeline], |r| Ok((r.get(0)?, r.get(1)?)))
            .map_err(|e| self.sqlite(e))?;
        rows.collect::<Result<_, _>>().map_err(|e| self.sqlite(e))
    }

    /// The largest start order number and stage entry number used.
    pub fn last_numbers(&self) -> Result<(u64, u64), StoreError> {
        self.conn
            .query_row(
                "SELECT (SELECT COALESCE(MAX(seq), 0) FROM executions),
                        (SELECT COALESCE(MAX(entered_seq), 0) FROM stage_entries)",
                [],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .map_err(|e| self.sqlite(e))
    }

    /// Running executions waiting in front of a stage, in start order: id,
    /// stage index and the version they run (through the
    /// `executions_waiting` index).
    pub fn waiting_executions(
        &self,
        pipeline: &str,
    ) -> Result<Vec<(String, usize, u32)>, StoreError> {
        let mut statement = self
            .conn
            .prepare_cached(WAITING_EXECUTIONS)
            .map_err(|e| self.sqlite(e))?;
        let rows = statement
            .query_map(params![pipeline], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
            .map_err(|e| self.sqlite(e))?;
        rows.collect::<Result<_, _>>().map_err(|e| self.sqlite(e))
    }

    /// How SQLite runs a query (`EXPLAIN QUERY PLAN`), one line per step.
    pub fn query_plan(&self, sql: &str) -> Result<Vec<String>, StoreError> {
        let mut statement = self
            .conn
            .prepare(&format!("EXPLAIN QUERY PLAN {sql}"))
            .map_err(|e| self.sqlite(e))?;
        let rows = statement
            .query_map([], |r| r.get::<_, String>(3))
            .map_err(|e| self.sqlite(e))?;
        rows.collect::<Result<_, _>>().map_err(|e| self.sqlite(e))
    }

    /// How many executions are running, all pipelines together.
    pub fn active_count(&self) -> Result<usize, StoreError> {
        self.conn
            .query_row(
                "SELECT COUNT(*) FROM executions WHERE status IN ('InProgress', 'Stopping')",
                [],
                |r| r.get::<_, i64>(0),
            )
            .map(|n| n as usize)
            .map_err(|e| self.sqlite(e))
    }

    /// Every artifact record (for verification).
    pub fn all_artifacts(&self) -> Result<Vec<(String, ArtifactRecord)>, StoreError> {
        let mut statement = self
            .conn
            .prepare("SELECT execution_id, name, digest, files, bytes, producer, revision FROM artifacts")
            .map_err(|e| self.sqlite(e))?;
        let rows = statement
            .query_map([], |r| {
                Ok((
                    r.get(0)?,
                    ArtifactRecord {
                        name: r.get(1)?,
                        digest: r.get(2)?,
                        files: r.get(3)?,
                        bytes: r.get(4)?,
                        producer: r.get(5)?,
                        revision: r.get(6)?,
                    },
                ))
            })
            .map_err(|e| self.sqlite(e))?;
        rows.collect::<Result<_, _>>().map_err(|e| self.sqlite(e))
    }
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
