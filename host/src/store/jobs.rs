//! The driving host's lease and the queue of provider calls (PostgreSQL).
//!
//! **The lease.** One row per scope in `leases`: who holds it, its fencing
//! token, and when it lapses by the database's clock. A host takes it when
//! it has lapsed, or when it holds the driver lock (then the last holder's
//! session is gone); each take adds one to the token. The holder renews
//! it every few seconds. Every engine step it writes starts with
//! `sluice_fence(scope, token)`, which refuses the whole transaction when
//! the token is no longer the lease's. Steps are written under the
//! writers' lock, which a takeover takes too: it waits for a step under
//! way, and no write of the old holder lands after it.
//!
//! **The queue.** One row per provider call (`jobs`), keyed by the driver's
//! fencing token and its call number, carrying the call as JSON. A call the
//! driving host runs itself is recorded `done`, with it as the worker, in
//! the step that records its result; the rest wait `queued` until a host
//! with a free slot claims one with `FOR UPDATE SKIP LOCKED`. A worker's result is taken only while
//! the job is still its own and `running`; a job whose worker stops
//! beating is `lost`, and one the driver no longer wants is `dropped`.
//! Each row keeps the host and fencing token of the attempt it ran.

use super::db::Batch;
use super::{Store, StoreError};

/// The scope of the lease a driver holds: every pipeline of the database.
pub const LEASE_SCOPE: &str = "*";

/// The channel a queued job is signalled on.
pub(crate) const JOBS_CHANNEL: &str = "sluice_jobs";

/// The channel a finished (or lost) job is signalled on.
pub(crate) const JOBS_DONE_CHANNEL: &str = "sluice_jobs_done";

/// A lease as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lease {
    /// Who holds it.
    pub holder: String,
    /// Its fencing token.
    pub token: i64,
    /// Milliseconds until it lapses (negative: lapsed), by the database's
    /// clock.
    pub remaining_ms: i64,
}

/// A provider call for the queue.
#[derive(Debug, Clone)]
pub struct NewJob {
    /// The job's id: the driver's fencing token and its call number.
    pub id: String,
    /// The execution.
    pub execution: String,
    /// Index of the stage.
    pub stage: usize,
    /// Index of the action.
    pub action: usize,
    /// The action's attempt.
    pub attempt: u32,
    /// The call as JSON (empty for a call the driving host runs itself:
    /// no other host ever reads it).
    pub request: String,
    /// Only this host may run it (its artifacts are not shared), if set.
    pub only_host: Option<String>,
    /// The call reads or makes artifacts: a host must reach the shared
    /// artifact storage to run it (unless it is `only_host`).
    pub artifacts: bool,
    /// The driving host ran it itself, this long: recorded as done.
    /// `None`: queued for any host.
    pub ran: Option<std::time::Duration>,
}

/// A job a worker claimed.
#[derive(Debug, Clone)]
pub struct ClaimedJob {
    /// Its id.
    pub id: String,
    /// The call as JSON.
    pub request: String,
}

/// What became of a job the driver waits for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum JobOutcome {
    /// Its worker finished it: the result as JSON.
    Done(String),
    /// Its worker stopped beating (or the job was dropped): it never
    /// finished.
    Lost {
        /// The host that had it, if one had claimed it.
        worker: Option<String>,
    },
}

/// One job as recorded: which host ran which attempt under which fencing
/// token, and when.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobRecord {
    /// Its id.
    pub id: String,
    /// The execution.
    pub execution: String,
    /// Index of the stage.
    pub stage: i64,
    /// Index of the action.
    pub action: i64,
    /// The attempt.
    pub attempt: i64,
    /// The driver's fencing token when it was queued.
    pub fence: i64,
    /// The host that queued it.
    pub driver: String,
    /// The host that ran it, if any did.
    pub worker: Option<String>,
    /// `queued`, `running`, `done`, `lost` or `dropped`.
    pub state: String,
    /// When a worker took it.
    pub claimed_at: Option<i64>,
    /// When it finished, was lost or was dropped.
    pub finished_at: Option<i64>,
}

impl Store {
    /// Takes the driving lease for `holder` for `ttl_ms`, if it has lapsed
    /// or `holds_driver_lock` (the last holder's session is gone); returns
    /// the new fencing token. Always token 1 on SQLite, whose state
    /// directory's `driver.lock` is the lease.
    pub fn take_lease(
        &mut self,
        holder: &str,
        ttl_ms: i64,
        holds_driver_lock: bool,
    ) -> Result<Option<i64>, StoreError> {
        if !self.db.is_postgres() {
            self.fence = None;
            return Ok(Some(1));
        }
        // Under the writers' lock: between two steps, never inside one.
        let token: Option<i64> = self.db.write(|db| {
            db.query_opt(
                "INSERT INTO leases AS l (scope, holder, token, expires_at, renewed_at)
                 VALUES (?1, ?2, 1, sluice_now() + ?3, sluice_now())
                 ON CONFLICT (scope) DO UPDATE SET
                   holder = excluded.holder, token = l.token + 1,
                   expires_at = excluded.expires_at, renewed_at = excluded.renewed_at
                 WHERE l.expires_at < sluice_now() OR ?4 = 1
                 RETURNING token",
                args![LEASE_SCOPE, holder, ttl_ms, holds_driver_lock as i64],
            )?
            .map(|row| row.get(0))
            .transpose()
        })?;
        self.fence = token;
        Ok(token)
    }

    /// Renews the lease this store's fence holds for another `ttl_ms`;
    /// false when another host has taken it over (the fence then refuses
    /// every step this store writes). True on SQLite.
    pub fn renew_lease(&mut self, ttl_ms: i64) -> Result<bool, StoreError> {
        let Some(token) = self.fence else {
            return Ok(true);
        };
        let renewed = self.db.execute(
            "UPDATE leases SET expires_at = sluice_now() + ?3, renewed_at = sluice_now()
             WHERE scope = ?1 AND token = ?2",
            args![LEASE_SCOPE, token, ttl_ms],
        )?;
        Ok(renewed == 1)
    }

    /// Lets the lease go at once (a driver stopping cleanly), if this
    /// store's fence still holds it.
    pub fn release_lease(&mut self) -> Result<(), StoreError> {
        if let Some(token) = self.fence.take() {
            self.db.execute(
                "UPDATE leases SET expires_at = sluice_now() - 1 WHERE scope = ?1 AND token = ?2",
                args![LEASE_SCOPE, token],
            )?;
        }
        Ok(())
    }

    /// The fencing token this store writes under, if it holds a lease.
    pub fn fence(&self) -> Option<i64> {
        self.fence
    }

    /// The lease as stored (none on SQLite, or before any host drove).
    pub fn lease(&self) -> Result<Option<Lease>, StoreError> {
        if !self.db.is_postgres() {
            return Ok(None);
        }
        self.db
            .query_opt(
                "SELECT holder, token, expires_at - sluice_now() FROM leases WHERE scope = ?1",
                args![LEASE_SCOPE],
            )?
            .map(|row| {
                Ok(Lease {
                    holder: row.get(0)?,
                    token: row.get(1)?,
                    remaining_ms: row.get(2)?,
                })
            })
            .transpose()
    }

    /// Starts `batch` with the fence, when this store writes under one.
    pub(super) fn fenced(&self) -> Batch {
        let mut batch = Batch::default();
        if let Some(token) = self.fence {
            batch.add("SELECT sluice_fence(?1, ?2)", args![LEASE_SCOPE, token]);
        }
        batch
    }

    /// Adds the rows of `jobs` to `batch`: those the driving host ran
    /// itself as `done` on `host` (taken when they started), the rest
    /// `queued` (and signalled to workers).
    pub(super) fn add_jobs(&self, batch: &mut Batch, jobs: &[NewJob], host: &str) {
        let fence = self.fence.unwrap_or(0);
        for job in jobs {
            let (state, worker, ran) = match job.ran {
                Some(ran) => ("done", Some(host.to_string()), ran.as_millis() as i64),
                None => ("queued", None, 0),
            };
            batch.add(
                "INSERT INTO jobs (id, execution_id, stage_index, action_index, attempt, fence,
                                   driver, only_host, request, state, worker, artifacts,
                                   queued_at, claimed_at, finished_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12,
                         sluice_now() - ?13,
                         CASE WHEN ?10 = 'done' THEN sluice_now() - ?13 END,
                         CASE WHEN ?10 = 'done' THEN sluice_now() END)",
                args![
                    job.id,
                    job.execution,
                    job.stage as i64,
                    job.action as i64,
                    job.attempt as i64,
                    fence,
                    host,
                    job.only_host,
                    job.request,
                    state,
                    worker,
                    job.artifacts as i64,
                    ran
                ],
            );
        }
        if jobs.iter().any(|j| j.ran.is_none()) {
            batch.notify(JOBS_CHANNEL);
        }
    }

    /// Claims the oldest queued job `host` may run (those only it may run,
    /// those without artifacts, and, when it reaches the shared artifact
    /// storage, any other), if there is one: never one another worker
    /// holds.
    pub fn claim_job(&self, host: &str, shared: bool) -> Result<Option<ClaimedJob>, StoreError> {
        self.db
            .query_opt(
                "UPDATE jobs SET state = 'running', worker = ?1,
                     claimed_at = sluice_now(), heartbeat_at = sluice_now()
                 WHERE id = (SELECT id FROM jobs
                             WHERE state = 'queued'
                               AND (only_host = ?1
                                    OR (only_host IS NULL AND (artifacts = 0 OR ?2 = 1)))
                             ORDER BY queued_at, id
                             LIMIT 1 FOR UPDATE SKIP LOCKED)
                   AND state = 'queued'
                 RETURNING id, request",
                args![host, shared as i64],
            )?
            .map(|row| {
                Ok(ClaimedJob {
                    id: row.get(0)?,
                    request: row.get(1)?,
                })
            })
            .transpose()
    }

    /// Tells the driver `host` still runs job `id`; false when the job is
    /// no longer its own (lost or dropped): the worker should stop it.
    pub fn beat(&self, id: &str, host: &str) -> Result<bool, StoreError> {
        let beaten = self.db.execute(
            "UPDATE jobs SET heartbeat_at = sluice_now()
             WHERE id = ?1 AND worker = ?2 AND state = 'running'",
            args![id, host],
        )?;
        Ok(beaten == 1)
    }

    /// Records a worker's result for job `id`; false when the job was no
    /// longer its own (the result is then thrown away).
    pub fn finish_job(&self, id: &str, host: &str, result: &str) -> Result<bool, StoreError> {
        // The result and its signal in one statement (one round trip).
        let finished = self.db.query(
            "WITH done AS (
                 UPDATE jobs SET state = 'done', result = ?3, finished_at = sluice_now()
                 WHERE id = ?1 AND worker = ?2 AND state = 'running'
                 RETURNING id)
             SELECT pg_notify(?4, '') FROM done",
            args![id, host, result, JOBS_DONE_CHANNEL],
        )?;
        Ok(finished.len() == 1)
    }

    /// What became of the jobs among `ids` that ended (done, lost or
    /// dropped), by id.
    pub fn ended_jobs(&self, ids: &[String]) -> Result<Vec<(String, JobOutcome)>, StoreError> {
        let mut ended = Vec::new();
        // In slices, to keep each statement's arguments few.
        for chunk in ids.chunks(200) {
            let list = serde_json::to_string(chunk).expect("ids are strings");
            let rows = self.db.query(
                "SELECT id, state, result, worker FROM jobs
                 WHERE id IN (SELECT value FROM json_array_elements_text(?1::json))
                   AND state IN ('done', 'lost', 'dropped')",
                args![list],
            )?;
            for row in rows {
                let state: String = row.get(1)?;
                let outcome = match (state.as_str(), row.get::<Option<String>>(2)?) {
                    ("done", Some(result)) => JobOutcome::Done(result),
                    _ => JobOutcome::Lost {
                        worker: row.get(3)?,
                    },
                };
                ended.push((row.get(0)?, outcome));
            }
        }
        Ok(ended)
    }

    /// Marks `lost` the running jobs queued under `fence` whose worker has
    /// not beaten for `silent_ms`; returns their ids.
    pub fn lose_silent_jobs(&self, fence: i64, silent_ms: i64) -> Result<Vec<String>, StoreError> {
        let lost: Vec<String> = self
            .db
            .query(
                "UPDATE jobs SET state = 'lost', finished_at = sluice_now()
                 WHERE state = 'running' AND fence = ?1
                   AND heartbeat_at IS NOT NULL AND heartbeat_at < sluice_now() - ?2
                 RETURNING id",
                args![fence, silent_ms],
            )?
            .iter()
            .map(|row| row.get(0))
            .collect::<Result<_, _>>()?;
        if !lost.is_empty() {
            self.db.signal(JOBS_DONE_CHANNEL)?;
        }
        Ok(lost)
    }

    /// Drops jobs the driver no longer wants (their action was abandoned),
    /// so their workers stop them.
    pub fn drop_jobs(&self, ids: &[String]) -> Result<(), StoreError> {
        for id in ids {
            self.db.execute(
                "UPDATE jobs SET state = 'dropped', finished_at = sluice_now()
                 WHERE id = ?1 AND state IN ('queued', 'running')",
                args![id],
            )?;
        }
        Ok(())
    }

    /// Drops every job queued by an earlier holder of the lease (a driver
    /// taking over runs its interrupted actions again as new attempts).
    pub fn drop_earlier_jobs(&mut self) -> Result<(), StoreError> {
        let Some(fence) = self.fence else {
            return Ok(());
        };
        let mut batch = self.fenced();
        batch.add(
            "UPDATE jobs SET state = 'dropped', finished_at = sluice_now()
             WHERE state IN ('queued', 'running') AND fence < ?1",
            args![fence],
        );
        self.db.write_batch(batch)
    }

    /// Sessions of this database waiting for a lock now (PostgreSQL; for
    /// `sluice bench`).
    pub fn lock_waiters(&self) -> Result<i64, StoreError> {
        if !self.db.is_postgres() {
            return Ok(0);
        }
        self.db
            .query_one(
                "SELECT COUNT(*) FROM pg_stat_activity
                 WHERE datname = current_database() AND wait_event_type = 'Lock'",
                args![],
            )?
            .get(0)
    }

    /// Jobs queued but not claimed yet.
    pub fn queue_depth(&self) -> Result<i64, StoreError> {
        if !self.db.is_postgres() {
            return Ok(0);
        }
        self.db
            .query_one("SELECT COUNT(*) FROM jobs WHERE state = 'queued'", args![])?
            .get(0)
    }

    /// Every job recorded, oldest first (for checks and tests).
    pub fn job_records(&self) -> Result<Vec<JobRecord>, StoreError> {
        if !self.db.is_postgres() {
            return Ok(Vec::new());
        }
        self.db
            .query(
                "SELECT id, execution_id, stage_index, action_index, attempt, fence, driver,
                        worker, state, claimed_at, finished_at
                 FROM jobs ORDER BY queued_at, id",
                args![],
            )?
            .iter()
            .map(|row| {
                Ok(JobRecord {
                    id: row.get(0)?,
                    execution: row.get(1)?,
                    stage: row.get(2)?,
                    action: row.get(3)?,
                    attempt: row.get(4)?,
                    fence: row.get(5)?,
                    driver: row.get(6)?,
                    worker: row.get(7)?,
                    state: row.get(8)?,
                    claimed_at: row.get(9)?,
                    finished_at: row.get(10)?,
                })
            })
            .collect()
    }

    /// Keeps the log of an action attempt (its path relative to a state
    /// directory) where every host reads it (PostgreSQL; nothing on
    /// SQLite, whose logs are all in its one state directory).
    pub fn put_log(&self, path: &str, body: &[u8]) -> Result<(), StoreError> {
        if !self.db.is_postgres() {
            return Ok(());
        }
        self.db.execute(
            "INSERT INTO logs (path, body, updated_at) VALUES (?1, ?2, sluice_now())
             ON CONFLICT (path) DO UPDATE SET body = excluded.body, updated_at = excluded.updated_at",
            args![path, *body],
        )?;
        Ok(())
    }

    /// The log kept at `path` by [`Store::put_log`], if any.
    pub fn stored_log(&self, path: &str) -> Result<Option<Vec<u8>>, StoreError> {
        if !self.db.is_postgres() {
            return Ok(None);
        }
        self.db
            .query_opt("SELECT body FROM logs WHERE path = ?1", args![path])?
            .map(|row| row.get(0))
            .transpose()
    }

    /// Removes jobs that ended before `before` (the database's clock, in
    /// milliseconds); returns how many.
    pub fn prune_jobs(&mut self, before: i64) -> Result<usize, StoreError> {
        if !self.db.is_postgres() {
            return Ok(0);
        }
        Ok(self.db.execute(
            "DELETE FROM jobs WHERE finished_at IS NOT NULL AND finished_at < ?1",
            args![before],
        )? as usize)
    }
}
