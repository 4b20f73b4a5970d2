//! The CodePipeline API's webhooks: each names the pipeline it starts,
//! keeps its `WebhookDefinition` as the API was given it (JSON), and is
//! called at a URL whose random id is its own until it is deleted.
//! A pipeline's go with it when it is deleted, and a webhook's tags with
//! the webhook.

use super::db::Row;
use super::{Store, StoreError};
use crate::records::{Millis, now_millis};

/// A webhook as kept.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Webhook {
    /// Its name, unique on the host.
    pub name: String,
    /// The pipeline it starts.
    pub pipeline: String,
    /// Its `WebhookDefinition`, JSON text.
    pub definition: String,
    /// The last segment of its URL.
    pub url_id: String,
    /// Whether `RegisterWebhookWithThirdParty` was called last (rather
    /// than `Deregister...`).
    pub registered: bool,
    /// What went wrong the last time it was called, when something did.
    pub error_code: Option<String>,
    /// Said in words.
    pub error_message: Option<String>,
    /// When it last started an execution.
    pub last_triggered: Option<Millis>,
    /// When it was made.
    pub created_at: Millis,
}

const COLUMNS: &str = "name, pipeline, definition, url_id, registered, error_code, error_message, last_triggered, created_at";

fn webhook(row: &Row) -> Result<Webhook, StoreError> {
    Ok(Webhook {
        name: row.get(0)?,
        pipeline: row.get(1)?,
        definition: row.get(2)?,
        url_id: row.get(3)?,
        registered: row.get(4)?,
        error_code: row.get(5)?,
        error_message: row.get(6)?,
        last_triggered: row.get(7)?,
        created_at: row.get(8)?,
    })
}

impl Store {
    /// Makes webhook `name` on `pipeline` at `url_id`, or gives the one of
    /// that name this pipeline and definition (it keeps its URL, its
    /// registration and when it last started something; its last error is
    /// forgotten). `None`, changing nothing, when the pipeline does not
    /// exist.
    pub fn put_webhook(
        &mut self,
        name: &str,
        pipeline: &str,
        definition: &str,
        url_id: &str,
    ) -> Result<Option<Webhook>, StoreError> {
        self.db.write(|db| {
            let found = db.query_opt(
                "SELECT name FROM pipelines WHERE name = ?1",
                args![pipeline],
            )?;
            if found.is_none() {
                return Ok(None);
            }
            db.execute(
                "INSERT INTO aws_webhooks (name, pipeline, definition, url_id, created_at)
                 VALUES (?1, ?2, ?3, ?4, ?5)
                 ON CONFLICT (name) DO UPDATE SET pipeline = excluded.pipeline,
                     definition = excluded.definition, error_code = NULL, error_message = NULL",
                args![name, pipeline, definition, url_id, now_millis()],
            )?;
            let row = db.query_one(
                &format!("SELECT {COLUMNS} FROM aws_webhooks WHERE name = ?1"),
                args![name],
            )?;
            webhook(&row).map(Some)
        })
    }

    /// Webhook `name`.
    pub fn webhook(&self, name: &str) -> Result<Option<Webhook>, StoreError> {
        self.db
            .query_opt(
                &format!("SELECT {COLUMNS} FROM aws_webhooks WHERE name = ?1"),
                args![name],
            )?
            .map(|row| webhook(&row))
            .transpose()
    }

    /// The webhook whose URL ends in `url_id`.
    pub fn webhook_at(&self, url_id: &str) -> Result<Option<Webhook>, StoreError> {
        self.db
            .query_opt(
                &format!("SELECT {COLUMNS} FROM aws_webhooks WHERE url_id = ?1"),
                args![url_id],
            )?
            .map(|row| webhook(&row))
            .transpose()
    }

    /// Up to `limit` webhooks by name, after `after` when given.
    pub fn webhooks(&self, after: Option<&str>, limit: usize) -> Result<Vec<Webhook>, StoreError> {
        self.db
            .query(
                &format!(
                    "SELECT {COLUMNS} FROM aws_webhooks WHERE name > ?1 ORDER BY name LIMIT ?2"
                ),
                // Every name is longer than "".
                args![after.unwrap_or(""), limit as i64],
            )?
            .iter()
            .map(webhook)
            .collect()
    }

    /// Deletes webhook `name` and its tags; false when there was none.
    pub fn delete_webhook(&mut self, name: &str) -> Result<bool, StoreError> {
        let deleted = self.db.write(|db| {
            db.execute(
                "DELETE FROM aws_tags WHERE kind = 'webhook' AND name = ?1",
                args![name],
            )?;
            db.execute("DELETE FROM aws_webhooks WHERE name = ?1", args![name])
        })?;
        Ok(deleted > 0)
    }

    /// Records that webhook `name` was registered with its third party, or
    /// deregistered; false when there is no such webhook.
    pub fn register_webhook(&mut self, name: &str, registered: bool) -> Result<bool, StoreError> {
        let changed = self.db.execute(
            "UPDATE aws_webhooks SET registered = ?2 WHERE name = ?1",
            args![name, registered],
        )?;
        Ok(changed > 0)
    }

    /// Records what a call of webhook `name` did: it started an execution
    /// at `at` (and the last error is forgotten), or it could not, for the
    /// reason `Err` gives (code and message).
    pub fn webhook_called(
        &mut self,
        name: &str,
        outcome: Result<Millis, (&str, &str)>,
    ) -> Result<(), StoreError> {
        match outcome {
            Ok(at) => self.db.execute(
                "UPDATE aws_webhooks SET last_triggered = ?2, error_code = NULL, error_message = NULL
                 WHERE name = ?1",
                args![name, at],
            )?,
            Err((code, message)) => self.db.execute(
                "UPDATE aws_webhooks SET error_code = ?2, error_message = ?3 WHERE name = ?1",
                args![name, code, message],
            )?,
        };
        Ok(())
    }
}
