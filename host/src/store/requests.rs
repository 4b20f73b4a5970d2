//! Commands other processes leave for the process driving the engine, and
//! the answers it leaves them. The store keeps their text (the engine's
//! JSON); what they mean is the engine's business.

use super::{Store, StoreError};
use crate::records::now_millis;
use rusqlite::{OptionalExtension, params};

impl Store {
    /// Leaves a command for the driver; returns its number.
    pub fn push_request(&mut self, body: &str) -> Result<i64, StoreError> {
        self.conn
            .execute(
                "INSERT INTO requests (body, created_at) VALUES (?1, ?2)",
                params![body, now_millis()],
            )
            .map_err(|e| self.sqlite(e))?;
        Ok(self.conn.last_insert_rowid())
    }

    /// Commands not yet answered, oldest first.
    pub fn pending_requests(&self) -> Result<Vec<(i64, String)>, StoreError> {
        let mut statement = self
            .conn
            .prepare_cached("SELECT id, body FROM requests WHERE done_at IS NULL ORDER BY id")
            .map_err(|e| self.sqlite(e))?;
        statement
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
            .map_err(|e| self.sqlite(e))?
            .collect::<Result<_, _>>()
            .map_err(|e| self.sqlite(e))
    }

    /// Records a command's answer (again: a later answer replaces an
    /// earlier one).
    pub fn complete_request(&mut self, id: i64, answer: &str) -> Result<(), StoreError> {
        self.conn
            .execute(
                "UPDATE requests SET done_at = ?2, outcome = ?3 WHERE id = ?1",
                params![id, now_millis(), answer],
            )
            .map_err(|e| self.sqlite(e))?;
        Ok(())
    }

    /// A command's answer, once there is one.
    pub fn request_outcome(&self, id: i64) -> Result<Option<String>, StoreError> {
        let outcome: Option<Option<String>> = self
            .conn
            .query_row(
                "SELECT outcome FROM requests WHERE id = ?1",
                params![id],
                |r| r.get(0),
            )
            .optional()
            .map_err(|e| self.sqlite(e))?;
        Ok(outcome.flatten())
    }
}
