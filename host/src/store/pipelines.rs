//! Pipelines and their versions, and transitions.

use super::{Store, StoreError, json};
use crate::records::{Millis, PipelineVersion, TransitionState};
use sha2::{Digest, Sha256};

/// A pipeline as listed.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize, schemars::JsonSchema)]
pub struct PipelineSummary {
    /// Its name.
    pub name: String,
    /// Its current version.
    pub version: u32,
    /// When it was last applied.
    pub updated_at: Millis,
    /// Its latest execution, if any: id and status.
    pub latest_execution: Option<(String, String)>,
}

/// What came of deleting a pipeline.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Deletion {
    /// It and its history are gone.
    Deleted,
    /// There was no such pipeline.
    NoSuchPipeline,
    /// This execution of it is in progress: nothing was deleted.
    InProgress(String),
}

impl Store {
    /// Records `version` (its number is ignored) as the pipeline's new
    /// current version, unless it equals the current one. Returns the
    /// current version number and whether it changed.
    pub fn apply_pipeline(
        &mut self,
        version: &PipelineVersion,
        source_file: Option<&str>,
    ) -> Result<(u32, bool), StoreError> {
        let digest = {
            let body = json(&(&version.definition, &version.resolved));
            hex::encode(Sha256::digest(body.as_bytes()))
        };
        self.db.write(|db| {
            let current: Option<(u32, String)> = db
                .query_opt(
                    "SELECT v.version, v.digest FROM pipelines p
                     JOIN pipeline_versions v ON v.pipeline = p.name AND v.version = p.current_version
                     WHERE p.name = ?1",
                    args![version.name],
                )?
                .map(|r| Ok::<_, StoreError>((r.get(0)?, r.get(1)?)))
                .transpose()?;
            if let Some((number, existing)) = &current
                && *existing == digest
            {
                return Ok((*number, false));
            }
            let number = current.map(|(n, _)| n + 1).unwrap_or(1);
            let mut stored = version.clone();
            stored.version = number;
            db.execute(
                "INSERT INTO pipeline_versions (pipeline, version, body, digest, source_file, created_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                args![version.name, number, json(&stored), digest, source_file, version.created_at],
            )?;
            db.execute(
                "INSERT INTO pipelines (name, current_version, created_at, updated_at)
                 VALUES (?1, ?2, ?3, ?3)
                 ON CONFLICT (name) DO UPDATE SET current_version = ?2, updated_at = ?3",
                args![version.name, number, version.created_at],
            )?;
            Ok((number, true))
        })
    }

    /// A pipeline's versions, newest first: number and when applied.
    pub fn pipeline_versions(&self, name: &str) -> Result<Vec<(u32, i64)>, StoreError> {
        self.db
            .query(
                "SELECT version, created_at FROM pipeline_versions WHERE pipeline = ?1
                 ORDER BY version DESC",
                args![name],
            )?
            .iter()
            .map(|r| Ok((r.get(0)?, r.get(1)?)))
            .collect()
    }

    /// One version of a pipeline.
    pub fn pipeline_version(
        &self,
        name: &str,
        version: u32,
    ) -> Result<Option<PipelineVersion>, StoreError> {
        let body: Option<String> = self
            .db
            .query_opt(
                "SELECT body FROM pipeline_versions WHERE pipeline = ?1 AND version = ?2",
                args![name, version],
            )?
            .map(|r| r.get(0))
            .transpose()?;
        body.map(|b| self.parse_version(name, &b)).transpose()
    }

    /// A pipeline's current version.
    pub fn current_pipeline(&self, name: &str) -> Result<Option<PipelineVersion>, StoreError> {
        let version: Option<u32> = self
            .db
            .query_opt(
                "SELECT current_version FROM pipelines WHERE name = ?1",
                args![name],
            )?
            .map(|r| r.get(0))
            .transpose()?;
        match version {
            Some(v) => self.pipeline_version(name, v),
            None => Ok(None),
        }
    }

    /// Every pipeline's current version.
    pub fn current_pipelines(&self) -> Result<Vec<PipelineVersion>, StoreError> {
        self.versions(
            "SELECT v.pipeline, v.body FROM pipelines p
             JOIN pipeline_versions v ON v.pipeline = p.name AND v.version = p.current_version
             ORDER BY p.name",
        )
    }

    /// Versions of a pipeline that running executions still use.
    pub fn versions_in_use(&self) -> Result<Vec<PipelineVersion>, StoreError> {
        self.versions(
            "SELECT DISTINCT v.pipeline, v.body FROM executions e
             JOIN pipeline_versions v ON v.pipeline = e.pipeline AND v.version = e.version
             WHERE e.status IN ('InProgress', 'Stopping')",
        )
    }

    /// The versions a query of (pipeline, body) rows names.
    fn versions(&self, sql: &str) -> Result<Vec<PipelineVersion>, StoreError> {
        self.db
            .query(sql, args![])?
            .iter()
            .map(|r| {
                let name: String = r.get(0)?;
                let body: String = r.get(1)?;
                self.parse_version(&name, &body)
            })
            .collect()
    }

    fn parse_version(&self, name: &str, body: &str) -> Result<PipelineVersion, StoreError> {
        serde_json::from_str(body).map_err(|e| self.corrupt(format!("pipeline `{name}`"), e))
    }

    /// Every pipeline, with its latest execution.
    pub fn list_pipelines(&self) -> Result<Vec<PipelineSummary>, StoreError> {
        self.db
            .query(
                "SELECT p.name, p.current_version, p.updated_at,
                        (SELECT id FROM executions e WHERE e.pipeline = p.name ORDER BY seq DESC LIMIT 1),
                        (SELECT status FROM executions e WHERE e.pipeline = p.name ORDER BY seq DESC LIMIT 1)
                 FROM pipelines p ORDER BY p.name",
                args![],
            )?
            .iter()
            .map(|r| {
                let id: Option<String> = r.get(3)?;
                let status: Option<String> = r.get(4)?;
                Ok(PipelineSummary {
                    name: r.get(0)?,
                    version: r.get(1)?,
                    updated_at: r.get(2)?,
                    latest_execution: id.zip(status),
                })
            })
            .collect()
    }

    /// Deletes a pipeline and its history in one transaction, unless one
    /// of its executions is in progress (`force`: even then; the engine has
    /// stopped them).
    pub fn delete_pipeline(&mut self, name: &str, force: bool) -> Result<Deletion, StoreError> {
        self.db.write(|db| {
            let running: Option<String> = db
                .query_opt(
                    "SELECT id FROM executions WHERE pipeline = ?1 AND status IN ('InProgress', 'Stopping') LIMIT 1",
                    args![name],
                )?
                .map(|r| r.get(0))
                .transpose()?;
            if let Some(execution) = running.filter(|_| !force) {
                return Ok(Deletion::InProgress(execution));
            }
            let sql = [
                "DELETE FROM aws_jobs WHERE execution_id IN (SELECT id FROM executions WHERE pipeline = ?1)",
                "DELETE FROM action_runs WHERE execution_id IN (SELECT id FROM executions WHERE pipeline = ?1)",
                "DELETE FROM stage_runs WHERE execution_id IN (SELECT id FROM executions WHERE pipeline = ?1)",
                "DELETE FROM artifacts WHERE execution_id IN (SELECT id FROM executions WHERE pipeline = ?1)",
                "DELETE FROM stage_attempts WHERE execution_id IN (SELECT id FROM executions WHERE pipeline = ?1)",
                "DELETE FROM executions WHERE pipeline = ?1",
                "DELETE FROM transitions WHERE pipeline = ?1",
                "DELETE FROM stage_entries WHERE pipeline = ?1",
                "DELETE FROM pipeline_versions WHERE pipeline = ?1",
                "DELETE FROM aws_tags WHERE kind = 'pipeline' AND name = ?1",
                "DELETE FROM aws_tags WHERE kind = 'webhook' AND name IN (SELECT name FROM aws_webhooks WHERE pipeline = ?1)",
                "DELETE FROM aws_webhooks WHERE pipeline = ?1",
            ];
            for statement in sql {
                db.execute(statement, args![name])?;
            }
            let deleted = db.execute("DELETE FROM pipelines WHERE name = ?1", args![name])?;
            Ok(if deleted > 0 {
                Deletion::Deleted
            } else {
                Deletion::NoSuchPipeline
            })
        })
    }

    /// The transitions of a pipeline that were ever changed.
    pub fn transitions(&self, pipeline: &str) -> Result<Vec<TransitionState>, StoreError> {
        self.db
            .query(
                "SELECT pipeline, stage, enabled, reason, changed_by, changed_at
                 FROM transitions WHERE pipeline = ?1 ORDER BY stage",
                args![pipeline],
            )?
            .iter()
            .map(|r| {
                Ok(TransitionState {
                    pipeline: r.get(0)?,
                    stage: r.get(1)?,
                    enabled: r.get(2)?,
                    reason: r.get(3)?,
                    changed_by: r.get(4)?,
                    changed_at: r.get(5)?,
                })
            })
            .collect()
    }

    /// Keeps a provider component for the other hosts sharing the database
    /// (again is fine).
    pub fn put_component(&mut self, digest: &str, bytes: &[u8]) -> Result<(), StoreError> {
        self.db.execute(
            "INSERT INTO components (digest, bytes, created_at) VALUES (?1, ?2, ?3)
             ON CONFLICT (digest) DO NOTHING",
            args![digest, bytes, crate::records::now_millis()],
        )?;
        Ok(())
    }

    /// A provider component another host kept, by its digest.
    pub fn component(&self, digest: &str) -> Result<Option<Vec<u8>>, StoreError> {
        self.db
            .query_opt(
                "SELECT bytes FROM components WHERE digest = ?1",
                args![digest],
            )?
            .map(|r| r.get(0))
            .transpose()
    }
}
