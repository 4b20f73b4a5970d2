//! Named API tokens (their hashes only) and the audit log of who changed
//! what.

use super::{Store, StoreError};
use crate::records::{Millis, now_millis};
use rusqlite::{OptionalExtension, params};

/// A token as listed (never its value).
#[derive(
    Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize, schemars::JsonSchema,
)]
pub struct TokenInfo {
    /// Its name.
    pub name: String,
    /// `read`, `operate` or `admin`.
    pub role: String,
    /// When it was made.
    pub created_at: Millis,
    /// Who made it.
    pub created_by: String,
}

/// One entry of the audit log.
#[derive(
    Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize, schemars::JsonSchema,
)]
pub struct AuditEntry {
    /// Its number, in order.
    pub id: i64,
    /// When.
    pub at: Millis,
    /// Who (a token's name, or `cli (USER)` for the command line).
    pub actor: String,
    /// What (the API operation, e.g. `StartPipelineExecution`).
    pub action: String,
    /// On what (the pipeline, execution, stage, action, token).
    pub target: String,
    /// How it went: `ok`, or the refusal.
    pub outcome: String,
}

impl Store {
    /// Records a token by its hash; refused when the name is taken.
    pub fn add_token(
        &mut self,
        name: &str,
        role: &str,
        hash: &str,
        created_by: &str,
    ) -> Result<bool, StoreError> {
        let added = self
            .conn
            .execute(
                "INSERT INTO tokens (name, role, hash, created_at, created_by)
                 VALUES (?1, ?2, ?3, ?4, ?5) ON CONFLICT (name) DO NOTHING",
                params![name, role, hash, now_millis(), created_by],
            )
            .map_err(|e| self.sqlite(e))?;
        Ok(added > 0)
    }

    /// The token (name and role) whose hash this is.
    pub fn token_by_hash(&self, hash: &str) -> Result<Option<(String, String)>, StoreError> {
        self.conn
            .query_row(
                "SELECT name, role FROM tokens WHERE hash = ?1",
                params![hash],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()
            .map_err(|e| self.sqlite(e))
    }

    /// Every token, by name.
    pub fn tokens(&self) -> Result<Vec<TokenInfo>, StoreError> {
        let mut statement = self
            .conn
            .prepare_cached("SELECT name, role, created_at, created_by FROM tokens ORDER BY name")
            .map_err(|e| self.sqlite(e))?;
        statement
            .query_map([], |r| {
                Ok(TokenInfo {
                    name: r.get(0)?,
                    role: r.get(1)?,
                    created_at: r.get(2)?,
                    created_by: r.get(3)?,
                })
            })
            .map_err(|e| self.sqlite(e))?
            .collect::<Result<_, _>>()
            .map_err(|e| self.sqlite(e))
    }

    /// Revokes a token; false when there was none of that name.
    pub fn revoke_token(&mut self, name: &str) -> Result<bool, StoreError> {
        let removed = self
            .conn
            .execute("DELETE FROM tokens WHERE name = ?1", params![name])
            .map_err(|e| self.sqlite(e))?;
        Ok(removed > 0)
    }

    /// Appends to the audit log.
    pub fn audit(
        &mut self,
        actor: &str,
        action: &str,
        target: &str,
        outcome: &str,
    ) -> Result<(), StoreError> {
        self.conn
            .execute(
                "INSERT INTO audit (at, actor, action, target, outcome) VALUES (?1, ?2, ?3, ?4, ?5)",
                params![now_millis(), actor, action, target, outcome],
            )
            .map_err(|e| self.sqlite(e))?;
        Ok(())
    }

    /// The newest `limit` audit entries, newest first.
    pub fn audit_log(&self, limit: usize) -> Result<Vec<AuditEntry>, StoreError> {
        let mut statement = self
            .conn
            .prepare_cached(
                "SELECT id, at, actor, action, target, outcome FROM audit ORDER BY id DESC LIMIT ?1",
            )
            .map_err(|e| self.sqlite(e))?;
        statement
            .query_map(params![limit as i64], |r| {
                Ok(AuditEntry {
                    id: r.get(0)?,
                    at: r.get(1)?,
                    actor: r.get(2)?,
                    action: r.get(3)?,
                    target: r.get(4)?,
                    outcome: r.get(5)?,
                })
            })
            .map_err(|e| self.sqlite(e))?
            .collect::<Result<_, _>>()
            .map_err(|e| self.sqlite(e))
    }
}
