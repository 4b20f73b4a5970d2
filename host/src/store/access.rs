//! Named API tokens (their hashes only) and the audit log of who changed
//! what.

use super::{Store, StoreError};
use crate::records::{Millis, now_millis};

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
        let added = self.db.execute(
            "INSERT INTO tokens (name, role, hash, created_at, created_by)
             VALUES (?1, ?2, ?3, ?4, ?5) ON CONFLICT (name) DO NOTHING",
            args![name, role, hash, now_millis(), created_by],
        )?;
        Ok(added > 0)
    }

    /// The token (name and role) whose hash this is.
    pub fn token_by_hash(&self, hash: &str) -> Result<Option<(String, String)>, StoreError> {
        self.db
            .query_opt("SELECT name, role FROM tokens WHERE hash = ?1", args![hash])?
            .map(|r| Ok((r.get(0)?, r.get(1)?)))
            .transpose()
    }

    /// Every token, by name.
    pub fn tokens(&self) -> Result<Vec<TokenInfo>, StoreError> {
        self.db
            .query(
                "SELECT name, role, created_at, created_by FROM tokens ORDER BY name",
                args![],
            )?
            .iter()
            .map(|r| {
                Ok(TokenInfo {
                    name: r.get(0)?,
                    role: r.get(1)?,
                    created_at: r.get(2)?,
                    created_by: r.get(3)?,
                })
            })
            .collect()
    }

    /// Revokes a token; false when there was none of that name.
    pub fn revoke_token(&mut self, name: &str) -> Result<bool, StoreError> {
        let removed = self.db.write(|db| {
            db.execute("DELETE FROM aws_keys WHERE token = ?1", args![name])?;
            db.execute("DELETE FROM tokens WHERE name = ?1", args![name])
        })?;
        Ok(removed > 0)
    }

    /// Gives token `name` an AWS access key pair.
    pub fn add_aws_key(
        &mut self,
        name: &str,
        access_key_id: &str,
        secret: &str,
    ) -> Result<(), StoreError> {
        self.db.execute(
            "INSERT INTO aws_keys (access_key_id, token, secret, created_at)
             VALUES (?1, ?2, ?3, ?4)",
            args![access_key_id, name, secret, now_millis()],
        )?;
        Ok(())
    }

    /// The secret of an AWS access key, with its token's name and role.
    pub fn aws_key(
        &self,
        access_key_id: &str,
    ) -> Result<Option<(String, String, String)>, StoreError> {
        self.db
            .query_opt(
                "SELECT k.secret, t.name, t.role FROM aws_keys k
                 JOIN tokens t ON t.name = k.token WHERE k.access_key_id = ?1",
                args![access_key_id],
            )?
            .map(|row| Ok((row.get(0)?, row.get(1)?, row.get(2)?)))
            .transpose()
    }

    /// Appends to the audit log.
    pub fn audit(
        &mut self,
        actor: &str,
        action: &str,
        target: &str,
        outcome: &str,
    ) -> Result<(), StoreError> {
        self.db.execute(
            "INSERT INTO audit (at, actor, action, target, outcome) VALUES (?1, ?2, ?3, ?4, ?5)",
            args![now_millis(), actor, action, target, outcome],
        )?;
        Ok(())
    }

    /// The newest `limit` audit entries, newest first.
    pub fn audit_log(&self, limit: usize) -> Result<Vec<AuditEntry>, StoreError> {
        self.db
            .query(
                "SELECT id, at, actor, action, target, outcome FROM audit ORDER BY id DESC LIMIT ?1",
                args![limit as i64],
            )?
            .iter()
            .map(|r| {
                Ok(AuditEntry {
                    id: r.get(0)?,
                    at: r.get(1)?,
                    actor: r.get(2)?,
                    action: r.get(3)?,
                    target: r.get(4)?,
                    outcome: r.get(5)?,
                })
            })
            .collect()
    }
}
