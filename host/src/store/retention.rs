//! Removing what retention lets go: ended executions past a pipeline's
//! limits (never running or waiting ones, never the latest of a stage),
//! and answered requests.

use super::{Store, StoreError};

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
        let ids: Vec<String> = self
            .db
            .query(
                "SELECT id FROM executions e
                 WHERE pipeline = ?1
                   AND status NOT IN ('InProgress', 'Stopping')
                   AND id NOT IN (SELECT execution_id FROM stage_entries WHERE pipeline = ?1)
                   AND (seq < COALESCE((SELECT seq FROM executions WHERE pipeline = ?1
                                         ORDER BY seq DESC LIMIT 1 OFFSET ?2), -1)
                        OR ended_at < ?3)
                 ORDER BY seq",
                args![pipeline, keep.saturating_sub(1), ended_before],
            )?
            .iter()
            .map(|r| r.get(0))
            .collect::<Result<_, _>>()?;
        let mut expired = Vec::with_capacity(ids.len());
        for id in ids {
            let digests = self
                .db
                .query(
                    "SELECT digest FROM artifacts WHERE execution_id = ?1",
                    args![id],
                )?
                .iter()
                .map(|r| r.get(0))
                .collect::<Result<_, _>>()?;
            expired.push(Expired { id, digests });
        }
        Ok(expired)
    }

    /// Removes ended executions and everything recorded of them, in one
    /// transaction; one that is running again (retried meanwhile) stays.
    /// Returns how many went.
    pub fn remove_executions(&mut self, ids: &[String]) -> Result<usize, StoreError> {
        self.db.write(|db| {
            let mut removed = 0;
            for id in ids {
                let ended: i64 = db
                    .query_one(
                        "SELECT COUNT(*) FROM executions WHERE id = ?1 AND status NOT IN ('InProgress', 'Stopping')",
                        args![id],
                    )?
                    .get(0)?;
                if ended == 0 {
                    continue;
                }
                for sql in [
                    "DELETE FROM aws_jobs WHERE execution_id = ?1",
                    "DELETE FROM action_runs WHERE execution_id = ?1",
                    "DELETE FROM stage_runs WHERE execution_id = ?1",
                    "DELETE FROM stage_attempts WHERE execution_id = ?1",
                    "DELETE FROM artifacts WHERE execution_id = ?1",
                    "DELETE FROM executions WHERE id = ?1",
                ] {
                    db.execute(sql, args![id])?;
                }
                removed += 1;
            }
            Ok(removed)
        })
    }

    /// Whether any execution still records an artifact with this digest.
    pub fn digest_in_use(&self, digest: &str) -> Result<bool, StoreError> {
        let found: i64 = self
            .db
            .query_one(
                "SELECT COUNT(*) FROM (SELECT 1 FROM artifacts WHERE digest = ?1 LIMIT 1) AS found",
                args![digest],
            )?
            .get(0)?;
        Ok(found > 0)
    }

    /// Removes requests answered before `done_before` (milliseconds);
    /// returns how many went.
    pub fn prune_requests(&mut self, done_before: i64) -> Result<usize, StoreError> {
        self.db
            .execute(
                "DELETE FROM requests WHERE done_at IS NOT NULL AND done_at < ?1",
                args![done_before],
            )
            .map(|n| n as usize)
    }

    /// Every pipeline's name.
    pub fn pipeline_names(&self) -> Result<Vec<String>, StoreError> {
        self.db
            .query("SELECT name FROM pipelines ORDER BY name", args![])?
            .iter()
            .map(|r| r.get(0))
            .collect()
    }
}
