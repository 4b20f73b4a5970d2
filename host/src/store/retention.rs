//! Removing what retention lets go: ended executions past a pipeline's
//! limits (never running or waiting ones, never the latest of a stage),
//! and answered requests.

use super::{Store, StoreError};
use rusqlite::params;

/// An execution retention removes: its id and its artifacts' digests.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Expired {
    /// The execution.
    pub id: String,
    /// The digests of the artifacts it made.
    pub digests: Vec<String>,
}

impl Store {
    /// The ended executions of `pipeline` beyond its newest `keep`, or that
    /// ended before `ended_before` (milliseconds), oldest first: never one
    /// running or waiting, never the latest execution of a stage.
    pub fn expired_executions(
        &self,
        pipeline: &str,
        keep: u32,
        ended_before: i64,
    ) -> Result<Vec<Expired>, StoreError> {
        let mut statement = self
            .conn
            .prepare_cached(
                "SELECT id FROM executions e
                 WHERE pipeline = ?1
                   AND status NOT IN ('InProgress', 'Stopping')
                   AND id NOT IN (SELECT execution_id FROM stage_entries WHERE pipeline = ?1)
                   AND (seq < COALESCE((SELECT seq FROM executions WHERE pipeline = ?1
                                         ORDER BY seq DESC LIMIT 1 OFFSET ?2 - 1), -1)
                        OR ended_at < ?3)
                 ORDER BY seq",
            )
            .map_err(|e| self.sqlite(e))?;
        let ids: Vec<String> = statement
            .query_map(params![pipeline, keep, ended_before], |r| r.get(0))
            .map_err(|e| self.sqlite(e))?
            .collect::<Result<_, _>>()
            .map_err(|e| self.sqlite(e))?;
        let mut digests = self
            .conn
            .prepare_cached("SELECT digest FROM artifacts WHERE execution_id = ?1")
            .map_err(|e| self.sqlite(e))?;
        let mut expired = Vec::with_capacity(ids.len());
        for id in ids {
            let found: Vec<String> = digests
                .query_map(params![id], |r| r.get(0))
                .map_err(|e| self.sqlite(e))?
                .collect::<Result<_, _>>()
                .map_err(|e| self.sqlite(e))?;
            expired.push(Expired { id, digests: found });
        }
        Ok(expired)
    }

    /// Removes ended executions and everything recorded of them, in one
    /// transaction; one that is running again (retried meanwhile) stays.
    /// Returns how many went.
    pub fn remove_executions(&mut self, ids: &[String]) -> Result<usize, StoreError> {
        let path = self.path.clone();
        let tx = self
            .conn
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
            .map_err(|e| super::sqlite_at(&path, e))?;
        let mut removed = 0;
        for id in ids {
            let ended: bool = tx
                .query_row(
                    "SELECT COUNT(*) FROM executions WHERE id = ?1 AND status NOT IN ('InProgress', 'Stopping')",
                    params![id],
                    |r| r.get::<_, i64>(0),
                )
                .map(|n| n > 0)
                .map_err(|e| super::sqlite_at(&path, e))?;
            if !ended {
                continue;
            }
            for sql in [
                "DELETE FROM action_runs WHERE execution_id = ?1",
                "DELETE FROM stage_runs WHERE execution_id = ?1",
                "DELETE FROM stage_attempts WHERE execution_id = ?1",
                "DELETE FROM artifacts WHERE execution_id = ?1",
                "DELETE FROM executions WHERE id = ?1",
            ] {
                tx.execute(sql, params![id])
                    .map_err(|e| super::sqlite_at(&path, e))?;
            }
            removed += 1;
        }
        tx.commit().map_err(|e| super::sqlite_at(&path, e))?;
        Ok(removed)
    }

    /// Whether any execution still records an artifact with this digest.
    pub fn digest_in_use(&self, digest: &str) -> Result<bool, StoreError> {
        self.conn
            .query_row(
                "SELECT EXISTS (SELECT 1 FROM artifacts WHERE digest = ?1)",
                params![digest],
                |r| r.get(0),
            )
            .map_err(|e| self.sqlite(e))
    }

    /// Removes requests answered before `done_before` (milliseconds);
    /// returns how many went.
    pub fn prune_requests(&mut self, done_before: i64) -> Result<usize, StoreError> {
        self.conn
            .execute(
                "DELETE FROM requests WHERE done_at IS NOT NULL AND done_at < ?1",
                params![done_before],
            )
            .map_err(|e| self.sqlite(e))
    }

    /// Every pipeline's name.
    pub fn pipeline_names(&self) -> Result<Vec<String>, StoreError> {
        let mut statement = self
            .conn
            .prepare_cached("SELECT name FROM pipelines ORDER BY name")
            .map_err(|e| self.sqlite(e))?;
        statement
            .query_map([], |r| r.get(0))
            .map_err(|e| self.sqlite(e))?
            .collect::<Result<_, _>>()
            .map_err(|e| self.sqlite(e))
    }
}
