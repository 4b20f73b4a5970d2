//! Commands other processes leave for the process driving the engine, and
//! the answers it leaves them. The store keeps their text (the engine's
//! JSON); what they mean is the engine's business.

use super::{Store, StoreError};
use crate::records::now_millis;

impl Store {
    /// Leaves a command for the driver; returns its number.
    pub fn push_request(&mut self, body: &str) -> Result<i64, StoreError> {
        let id = self
            .db
            .query_one(
                "INSERT INTO requests (body, created_at) VALUES (?1, ?2) RETURNING id",
                args![body, now_millis()],
            )?
            .get(0)?;
        self.db.signal(super::REQUESTS_CHANNEL)?;
        Ok(id)
    }

    /// Commands not yet answered, oldest first.
    pub fn pending_requests(&self) -> Result<Vec<(i64, String)>, StoreError> {
        self.db
            .query(
                "SELECT id, body FROM requests WHERE done_at IS NULL ORDER BY id",
                args![],
            )?
            .iter()
            .map(|r| Ok((r.get(0)?, r.get(1)?)))
            .collect()
    }

    /// Records a command's answer (again: a later answer replaces an
    /// earlier one).
    pub fn complete_request(&mut self, id: i64, answer: &str) -> Result<(), StoreError> {
        self.db.execute(
            "UPDATE requests SET done_at = ?2, outcome = ?3 WHERE id = ?1",
            args![id, now_millis(), answer],
        )?;
        self.db.signal(super::ANSWERS_CHANNEL)?;
        Ok(())
    }

    /// A command's answer, once there is one.
    pub fn request_outcome(&self, id: i64) -> Result<Option<String>, StoreError> {
        let outcome: Option<Option<String>> = self
            .db
            .query_opt("SELECT outcome FROM requests WHERE id = ?1", args![id])?
            .map(|r| r.get(0))
            .transpose()?;
        Ok(outcome.flatten())
    }
}
