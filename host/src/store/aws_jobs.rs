//! Jobs of custom actions, as CodePipeline's job workers see them: the
//! engine queues one when such an action runs, an external worker polls
//! for it (`PollForJobs`), acknowledges it with the nonce it was given,
//! and puts its result; the engine reads the result when it calls the
//! action back. A job dispatched and not acknowledged in time is given to
//! the next poll again, with a new nonce.

use super::{Store, StoreError};
use crate::records::Millis;

/// A job's states, as CodePipeline names them.
pub mod state {
    /// Waiting for a worker.
    pub const QUEUED: &str = "Queued";
    /// Given to a worker, not acknowledged yet.
    pub const DISPATCHED: &str = "Dispatched";
    /// Acknowledged: a worker is on it.
    pub const IN_PROGRESS: &str = "InProgress";
    /// The worker put a success.
    pub const SUCCEEDED: &str = "Succeeded";
    /// The worker put a failure.
    pub const FAILED: &str = "Failed";
}

/// One job.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AwsJob {
    /// Its id (a UUID).
    pub id: String,
    /// The nonce of its latest dispatch.
    pub nonce: String,
    /// `Category/Owner/Provider/Version`.
    pub action_type: String,
    /// The execution, stage, action and attempt it runs.
    pub execution_id: String,
    /// The stage's name.
    pub stage: String,
    /// The action's name.
    pub action: String,
    /// The action's attempt.
    pub attempt: u32,
    /// One of [`state`].
    pub state: String,
    /// The job's data as the worker gets it (JSON).
    pub data: String,
    /// The client token of a third-party job.
    pub client_token: Option<String>,
    /// The access key of the job's artifact credentials.
    pub access_key_id: String,
    /// What the worker put (JSON).
    pub result: Option<String>,
    /// When it was queued.
    pub created_at: Millis,
}

/// A job whose action attempt is still in progress: jobs of an action
/// stopped, abandoned or timed out are no longer handed out or finished.
const RUNNING: &str = "EXISTS (SELECT 1 FROM action_runs r \
    WHERE r.execution_id = aws_jobs.execution_id AND r.stage = aws_jobs.stage \
    AND r.action = aws_jobs.action AND r.attempt = aws_jobs.attempt AND r.status = 'InProgress')";

const COLUMNS: &str = "id, nonce, action_type, execution_id, stage, action, attempt, state, data, \
                       client_token, access_key_id, result, created_at";

fn job_of(row: &super::db::Row) -> Result<AwsJob, StoreError> {
    Ok(AwsJob {
        id: row.get(0)?,
        nonce: row.get(1)?,
        action_type: row.get(2)?,
        execution_id: row.get(3)?,
        stage: row.get(4)?,
        action: row.get(5)?,
        attempt: row.get(6)?,
        state: row.get(7)?,
        data: row.get(8)?,
        client_token: row.get(9)?,
        access_key_id: row.get(10)?,
        result: row.get(11)?,
        created_at: row.get(12)?,
    })
}

impl Store {
    /// Queues a job.
    pub fn queue_aws_job(&mut self, job: &AwsJob) -> Result<(), StoreError> {
        self.db.execute(
            "INSERT INTO aws_jobs (id, nonce, action_type, execution_id, stage, action, attempt, \
             state, data, client_token, access_key_id, result, created_at, updated_at) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?13)",
            args![
                job.id,
                job.nonce,
                job.action_type,
                job.execution_id,
                job.stage,
                job.action,
                job.attempt as i64,
                job.state,
                job.data,
                job.client_token,
                job.access_key_id,
                job.result,
                job.created_at
            ],
        )?;
        Ok(())
    }

    /// A job by its id.
    pub fn aws_job(&self, id: &str) -> Result<Option<AwsJob>, StoreError> {
        self.db
            .query_opt(
                &format!("SELECT {COLUMNS} FROM aws_jobs WHERE id = ?1"),
                args![id],
            )?
            .map(|row| job_of(&row))
            .transpose()
    }

    /// The job whose artifact credentials have this access key.
    pub fn aws_job_by_key(&self, access_key_id: &str) -> Result<Option<AwsJob>, StoreError> {
        self.db
            .query_opt(
                &format!("SELECT {COLUMNS} FROM aws_jobs WHERE access_key_id = ?1"),
                args![access_key_id],
            )?
            .map(|row| job_of(&row))
            .transpose()
    }

    /// Dispatches at most `most` jobs of `action_type` whose actions are
    /// in progress, oldest first: those queued, and those dispatched
    /// before `stale_before` and never acknowledged; each gets the nonce
    /// `nonce_of` makes.
    pub fn dispatch_aws_jobs(
        &mut self,
        action_type: &str,
        most: usize,
        now: Millis,
        stale_before: Millis,
        mut nonce_of: impl FnMut() -> String,
    ) -> Result<Vec<AwsJob>, StoreError> {
        self.db.write(|db| {
            let rows = db.query(
                &format!(
                    "SELECT {COLUMNS} FROM aws_jobs WHERE action_type = ?1 \
                     AND (state = ?2 OR (state = ?3 AND dispatched_at < ?4)) AND {RUNNING} \
                     ORDER BY created_at, id LIMIT ?5"
                ),
                args![
                    action_type,
                    state::QUEUED,
                    state::DISPATCHED,
                    stale_before,
                    most as i64
                ],
            )?;
            let mut jobs = Vec::new();
            for row in rows {
                let mut job = job_of(&row)?;
                job.nonce = nonce_of();
                job.state = state::DISPATCHED.to_string();
                db.execute(
                    "UPDATE aws_jobs SET state = ?2, nonce = ?3, dispatched_at = ?4, updated_at = ?4 \
                     WHERE id = ?1",
                    args![job.id, job.state, job.nonce, now],
                )?;
                jobs.push(job);
            }
            Ok(jobs)
        })
    }

    /// Acknowledges a dispatched job given its latest nonce: the job's state
    /// after (`None` when there is no such job).
    pub fn acknowledge_aws_job(
        &mut self,
        id: &str,
        nonce: &str,
        now: Millis,
    ) -> Result<Option<(String, bool)>, StoreError> {
        self.db.write(|db| {
            let Some(row) = db.query_opt(
                "SELECT state, nonce FROM aws_jobs WHERE id = ?1",
                args![id],
            )?
            else {
                return Ok(None);
            };
            let (current, expected): (String, String) = (row.get(0)?, row.get(1)?);
            if expected != nonce {
                return Ok(Some((current, false)));
            }
            if current == state::DISPATCHED {
                db.execute(
                    "UPDATE aws_jobs SET state = ?2, acknowledged_at = ?3, updated_at = ?3 WHERE id = ?1",
                    args![id, state::IN_PROGRESS, now],
                )?;
                return Ok(Some((state::IN_PROGRESS.to_string(), true)));
            }
            Ok(Some((current, true)))
        })
    }

    /// Whether a job is still to be done: not ended, and its action
    /// attempt in progress.
    pub fn aws_job_live(&self, id: &str) -> Result<bool, StoreError> {
        Ok(self
            .db
            .query_opt(
                &format!(
                    "SELECT 1 FROM aws_jobs WHERE id = ?1 AND state IN (?2, ?3, ?4) AND {RUNNING}"
                ),
                args![id, state::QUEUED, state::DISPATCHED, state::IN_PROGRESS],
            )?
            .is_some())
    }

    /// Binds a third-party job to the client token its first
    /// acknowledgement gave: true when the job has (now) that token.
    pub fn bind_client_token(&mut self, id: &str, token: &str) -> Result<bool, StoreError> {
        self.db.write(|db| {
            let current: Option<Option<String>> = db
                .query_opt("SELECT client_token FROM aws_jobs WHERE id = ?1", args![id])?
                .map(|row| row.get(0))
                .transpose()?;
            match current {
                None => Ok(false),
                Some(Some(bound)) => Ok(bound == token),
                Some(None) => {
                    db.execute(
                        "UPDATE aws_jobs SET client_token = ?2 WHERE id = ?1",
                        args![id, token],
                    )?;
                    Ok(true)
                }
            }
        })
    }

    /// Records a worker's result on a job given to a worker and not yet
    /// finished, whose action is still in progress: false (nothing
    /// changed) otherwise.
    pub fn finish_aws_job(
        &mut self,
        id: &str,
        succeeded: bool,
        result: &str,
        now: Millis,
    ) -> Result<bool, StoreError> {
        let state = if succeeded {
            state::SUCCEEDED
        } else {
            state::FAILED
        };
        let changed = self.db.execute(
            &format!(
                "UPDATE aws_jobs SET state = ?2, result = ?3, updated_at = ?4 \
                 WHERE id = ?1 AND state IN (?5, ?6) AND {RUNNING}"
            ),
            args![
                id,
                state,
                result,
                now,
                state::DISPATCHED,
                state::IN_PROGRESS
            ],
        )?;
        Ok(changed > 0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn job(id: &str, created_at: Millis) -> AwsJob {
        AwsJob {
            id: id.into(),
            nonce: String::new(),
            action_type: "Deploy/Custom/Publisher/1".into(),
            execution_id: "e1".into(),
            stage: "Publish".into(),
            action: "Publish".into(),
            attempt: 1,
            state: state::QUEUED.into(),
            data: "{}".into(),
            client_token: None,
            access_key_id: format!("ASIA{id}"),
            result: None,
            created_at,
        }
    }

    /// Records the action of the test's jobs with `status`.
    fn action_is(store: &Store, status: &str) {
        store
            .db
            .execute(
                "INSERT INTO action_runs (execution_id, stage_index, action_index, attempt, \
                 stage_attempt, stage, action, run_order, status, variables, running, \
                 awaiting_approval, inputs, outputs, configuration) \
                 VALUES ('e1', 1, 0, 1, 1, 'Publish', 'Publish', 1, ?1, '[]', 1, 0, '[]', '[]', '[]') \
                 ON CONFLICT (execution_id, stage_index, action_index, attempt) \
                 DO UPDATE SET status = excluded.status",
                args![status],
            )
            .unwrap();
    }

    #[test]
    fn a_job_is_dispatched_once_until_its_acknowledgement_is_late() {
        let dir = tempfile::tempdir().unwrap();
        let mut store = Store::open(dir.path()).unwrap();
        store.queue_aws_job(&job("a", 1)).unwrap();
        store.queue_aws_job(&job("b", 2)).unwrap();
        action_is(&store, "InProgress");
        let mut n = 0;
        let mut nonce = || {
            n += 1;
            format!("n{n}")
        };
        let kind = "Deploy/Custom/Publisher/1";
        // Oldest first, at most as many as asked.
        let first = store
            .dispatch_aws_jobs(kind, 1, 100, 40, &mut nonce)
            .unwrap();
        assert_eq!(
            first.iter().map(|j| j.id.as_str()).collect::<Vec<_>>(),
            ["a"]
        );
        assert_eq!(first[0].nonce, "n1");
        // Dispatched and not late: not given again; the next one is.
        let next = store
            .dispatch_aws_jobs(kind, 5, 110, 50, &mut nonce)
            .unwrap();
        assert_eq!(
            next.iter().map(|j| j.id.as_str()).collect::<Vec<_>>(),
            ["b"]
        );
        assert!(
            store
                .dispatch_aws_jobs("Deploy/Custom/Other/1", 5, 110, 50, &mut nonce)
                .unwrap()
                .is_empty()
        );
        // Late: given again, with a new nonce; the old one no longer acknowledges it.
        let again = store
            .dispatch_aws_jobs(kind, 1, 200, 150, &mut nonce)
            .unwrap();
        assert_eq!(again[0].id, "a");
        assert_eq!(again[0].nonce, "n3");
        assert_eq!(
            store.acknowledge_aws_job("a", "n1", 201).unwrap(),
            Some((state::DISPATCHED.into(), false))
        );
        assert_eq!(
            store.acknowledge_aws_job("a", "n3", 202).unwrap(),
            Some((state::IN_PROGRESS.into(), true))
        );
        assert_eq!(store.acknowledge_aws_job("zz", "n3", 202).unwrap(), None);
        // Acknowledged: never given again, however late.
        let late = store
            .dispatch_aws_jobs(kind, 5, 10_000, 9_999, &mut nonce)
            .unwrap();
        assert_eq!(
            late.iter().map(|j| j.id.as_str()).collect::<Vec<_>>(),
            ["b"]
        );
        // A result is put once.
        assert!(store.finish_aws_job("a", true, "{}", 300).unwrap());
        assert!(!store.finish_aws_job("a", false, "{}", 301).unwrap());
        assert_eq!(store.aws_job("a").unwrap().unwrap().state, state::SUCCEEDED);
        assert_eq!(store.aws_job_by_key("ASIAb").unwrap().unwrap().id, "b");
        // Once the action is no longer in progress (stopped, abandoned,
        // timed out), its jobs are neither handed out nor finished.
        assert!(store.aws_job_live("b").unwrap());
        action_is(&store, "Abandoned");
        assert!(!store.aws_job_live("b").unwrap());
        assert!(
            store
                .dispatch_aws_jobs(kind, 5, 20_000, 19_999, &mut nonce)
                .unwrap()
                .is_empty()
        );
        assert!(!store.finish_aws_job("b", true, "{}", 20_001).unwrap());
        // A third-party job is bound to the first client token given.
        assert!(store.bind_client_token("b", "t1").unwrap());
        assert!(store.bind_client_token("b", "t1").unwrap());
        assert!(!store.bind_client_token("b", "t2").unwrap());
        assert!(!store.bind_client_token("zz", "t1").unwrap());
    }
}
