//! Requests other processes leave for the process driving the engine:
//! start, stop, retry, approve or reject, enable or disable a transition,
//! reload a pipeline. The driver takes them in order and records how each
//! went, which the requesting process waits for.

use super::{Store, StoreError, json};
use crate::records::now_millis;
use indexmap::IndexMap;
use rusqlite::{OptionalExtension, params};
use serde::{Deserialize, Serialize};

/// One request to the driver.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum Request {
    /// Start an execution.
    Start {
        /// The pipeline.
        pipeline: String,
        /// Variable overrides.
        variables: IndexMap<String, String>,
        /// Source revision overrides, by source action.
        revisions: IndexMap<String, String>,
        /// What started it.
        trigger: String,
        /// An idempotency token: a second start of the same pipeline with
        /// the same token answers the first one's execution instead of
        /// starting another.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        token: Option<String>,
    },
    /// Stop an execution.
    Stop {
        /// The execution.
        execution: String,
        /// Abandon running actions rather than wait for them.
        abandon: bool,
        /// Why.
        reason: Option<String>,
    },
    /// Retry a stage.
    Retry {
        /// The execution.
        execution: String,
        /// The stage.
        stage: String,
        /// All actions rather than the failed ones.
        all: bool,
    },
    /// Approve or reject.
    Decide {
        /// The execution.
        execution: String,
        /// The stage.
        stage: String,
        /// The approval action.
        action: String,
        /// Approve (true) or reject.
        approved: bool,
        /// Who.
        by: String,
        /// Their comment.
        summary: Option<String>,
    },
    /// Enable or disable a transition.
    Transition {
        /// The pipeline.
        pipeline: String,
        /// The stage the transition leads into.
        stage: String,
        /// Enable (true) or disable.
        enabled: bool,
        /// Why.
        reason: Option<String>,
        /// Who.
        by: String,
    },
    /// A pipeline was applied or deleted: reload it.
    Reload {
        /// The pipeline.
        pipeline: String,
    },
}

/// How a request went.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RequestOutcome {
    /// Whether it was done.
    pub ok: bool,
    /// What happened, or why not.
    pub message: String,
    /// The execution it concerned (for a start: the new one).
    pub execution: Option<String>,
}

impl Store {
    /// Leaves a request for the driver; returns its number.
    pub fn push_request(&mut self, request: &Request) -> Result<i64, StoreError> {
        self.conn
            .execute(
                "INSERT INTO requests (body, created_at) VALUES (?1, ?2)",
                params![json(request), now_millis()],
            )
            .map_err(|e| self.sqlite(e))?;
        Ok(self.conn.last_insert_rowid())
    }

    /// Requests not yet handled, oldest first.
    pub fn pending_requests(&self) -> Result<Vec<(i64, Request)>, StoreError> {
        let mut statement = self
            .conn
            .prepare_cached("SELECT id, body FROM requests WHERE done_at IS NULL ORDER BY id")
            .map_err(|e| self.sqlite(e))?;
        let rows: Vec<(i64, String)> = statement
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
            .map_err(|e| self.sqlite(e))?
            .collect::<Result<_, _>>()
            .map_err(|e| self.sqlite(e))?;
        Ok(rows
            .into_iter()
            .map(|(id, body)| {
                let request = serde_json::from_str(&body).unwrap_or(Request::Reload {
                    pipeline: String::new(),
                });
                (id, request)
            })
            .collect())
    }

    /// Records how a request went.
    pub fn complete_request(
        &mut self,
        id: i64,
        outcome: &RequestOutcome,
    ) -> Result<(), StoreError> {
        self.conn
            .execute(
                "UPDATE requests SET done_at = ?2, outcome = ?3 WHERE id = ?1",
                params![id, now_millis(), json(outcome)],
            )
            .map_err(|e| self.sqlite(e))?;
        Ok(())
    }

    /// How a request went, once handled.
    pub fn request_outcome(&self, id: i64) -> Result<Option<RequestOutcome>, StoreError> {
        let outcome: Option<Option<String>> = self
            .conn
            .query_row(
                "SELECT outcome FROM requests WHERE id = ?1",
                params![id],
                |r| r.get(0),
            )
            .optional()
            .map_err(|e| self.sqlite(e))?;
        Ok(outcome
            .flatten()
            .and_then(|o| serde_json::from_str(&o).ok()))
    }
}
