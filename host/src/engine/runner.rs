//! The provider-call runner: everything between the state machine asking
//! for a call ([`RunRequest`]) and its result ([`CallResult`]): loading
//! the provider once per digest, preparing the job's folders, granting
//! what the action was granted (secrets looked up), writing its log,
//! ingesting its outputs and having them sealed. Source queries (latest
//! revision, changed paths) go through one [`ProviderCalls::source_call`].

use super::log_file::LazyFile;
use super::machine::{CallResult, RunRequest};
use super::workspace::{JobFolders, Workspaces};
use crate::artifacts::ArtifactStore;
use crate::providers::Catalog;
use crate::records::*;
use crate::sandbox::{
    ActionLog, Approval, FailureKind, Job, Limits, Outcome, Provider, SourceRevision,
};
use crate::state_dir::StateDir;
use indexmap::IndexMap;
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// How long a source query (latest revision, changed paths) may take.
const SOURCE_QUERY_TIMEOUT: Duration = Duration::from_secs(300);

/// What the provider calls of one driver share.
pub(super) struct ProviderCalls {
    pub(super) state_dir: StateDir,
    /// The state directory, absolute and canonical: no granted folder may
    /// hold it, and programs see it covered.
    hidden: PathBuf,
    catalog: Catalog,
    artifacts: ArtifactStore,
    /// Object storage every artifact is also kept in, when hosts share work.
    remote: Option<crate::artifacts::Remote>,
    pub(super) workspaces: Workspaces,
    providers: Mutex<HashMap<String, Provider>>,
    secrets: crate::secrets::SecretStore,
    /// Artifacts to seal (hash) in the background, off the hand-off's path.
    sealer: Mutex<std::sync::mpsc::Sender<String>>,
    /// Where logs go for every host to read (PostgreSQL: any host may run
    /// a call, and any host's console shows it).
    shared_logs: Option<Arc<Mutex<crate::store::Store>>>,
    /// The store connection custom actions' calls share.
    external_store: super::external::JobStore,
}

/// A question for a source action.
enum SourceQuery<'a> {
    Latest,
    Changed { from: &'a str, to: &'a str },
}

/// A source action's answer.
enum SourceAnswer {
    Latest(SourceRevision),
    Changed(Option<Vec<String>>),
}

impl ProviderCalls {
    pub(super) fn new(
        state_dir: StateDir,
        catalog: Catalog,
        artifacts: ArtifactStore,
        remote: Option<crate::artifacts::Remote>,
        workspaces: Workspaces,
        secrets: crate::secrets::SecretStore,
    ) -> Self {
        let hidden = std::path::absolute(&state_dir.root)
            .map(|p| p.canonicalize().unwrap_or(p))
            .unwrap_or_else(|_| state_dir.root.clone());
        let sealer = Mutex::new(start_sealer(&artifacts));
        ProviderCalls {
            state_dir,
            hidden,
            catalog,
            artifacts,
            remote,
            workspaces,
            providers: Mutex::new(HashMap::new()),
            secrets,
            sealer,
            shared_logs: None,
            external_store: Default::default(),
        }
    }

    /// Keeps every call's log in `store` too, for every host to read.
    pub(super) fn with_shared_logs(mut self, store: Option<crate::store::Store>) -> Self {
        self.shared_logs = store.map(|s| Arc::new(Mutex::new(s)));
        self
    }

    /// Brings the log a call-back appends to from the database when this
    /// host does not have it (an earlier call of the attempt ran on
    /// another host).
    async fn restore_log(&self, rel: &str) {
        let Some(store) = self.shared_logs.clone() else {
            return;
        };
        let path = self.state_dir.root.join(rel);
        if path.exists() {
            return;
        }
        let rel = rel.to_string();
        let stored =
            tokio::task::spawn_blocking(move || store.lock().expect("log store").stored_log(&rel))
                .await;
        if let Ok(Ok(Some(body))) = stored {
            if let Some(parent) = path.parent() {
                let _ = std::fs::create_dir_all(parent);
            }
            let _ = std::fs::write(&path, body);
        }
    }

    /// Puts a call's log where every host reads it.
    async fn share_log(&self, rel: &str) {
        let Some(store) = self.shared_logs.clone() else {
            return;
        };
        let path = self.state_dir.root.join(rel);
        let key = rel.to_string();
        let shared = tokio::task::spawn_blocking(move || {
            let body = std::fs::read(&path).map_err(|e| e.to_string())?;
            store
                .lock()
                .expect("log store")
                .put_log(&key, &body)
                .map_err(|e| e.to_string())
        })
        .await;
        if let Ok(Err(error)) = shared {
            tracing::warn!(%error, log = %rel, "cannot share a log with the other hosts");
        }
    }

    /// The provider with this digest, loaded once.
    async fn provider(&self, sha256: &str, reference: &str) -> Result<Provider, String> {
        if let Some(p) = self.providers.lock().unwrap().get(sha256) {
            return Ok(p.clone());
        }
        let resolved = self
            .catalog
            .by_digest(sha256, reference)
            .await
            .map_err(|e| e.to_string())?;
        self.providers
            .lock()
            .unwrap()
            .insert(sha256.to_string(), resolved.provider.clone());
        Ok(resolved.provider)
    }

    /// Asks each source action of `version` for its latest revision, unless
    /// the start names one.
    pub(super) async fn record_revisions(
        &self,
        version: &PipelineVersion,
        variables: &IndexMap<String, String>,
        execution: &str,
        overrides: &IndexMap<String, String>,
    ) -> Vec<RecordedRevision> {
        let mut recorded = Vec::new();
        let Some(stage) = version.definition.stages.first() else {
            return recorded;
        };
        for (index, action) in stage.actions.iter().enumerate() {
            if let Some(id) = overrides.get(&action.name) {
                recorded.push(RecordedRevision {
                    action: action.name.clone(),
                    revision: Some(SourceRevision {
                        id: id.clone(),
                        summary: Some("given when the execution started".into()),
                        url: None,
                    }),
                    error: None,
                });
                continue;
            }
            let answer = self
                .latest_revision(version, Some((variables, execution)), index)
                .await;
            let (revision, error) = match answer {
                Ok(revision) => (Some(revision), None),
                Err(error) => (None, Some(error)),
            };
            recorded.push(RecordedRevision {
                action: action.name.clone(),
                revision,
                error,
            });
        }
        recorded
    }

    /// Asks source action `index` of `version`'s first stage for its latest
    /// revision, for an execution's variables and id (none: the variables'
    /// defaults, as a trigger asks).
    pub(super) async fn latest_revision(
        &self,
        version: &PipelineVersion,
        execution: Option<(&IndexMap<String, String>, &str)>,
        index: usize,
    ) -> Result<SourceRevision, String> {
        match self
            .source_call(version, execution, index, SourceQuery::Latest)
            .await?
        {
            SourceAnswer::Latest(revision) => Ok(revision),
            SourceAnswer::Changed(_) => unreachable!("asked for the latest revision"),
        }
    }

    /// Asks source action `index` which paths differ between two of its
    /// revisions (`None`: it cannot tell).
    pub(super) async fn changed_paths(
        &self,
        version: &PipelineVersion,
        index: usize,
        from: &str,
        to: &str,
    ) -> Result<Option<Vec<String>>, String> {
        match self
            .source_call(version, None, index, SourceQuery::Changed { from, to })
            .await?
        {
            SourceAnswer::Changed(paths) => Ok(paths),
            SourceAnswer::Latest(_) => unreachable!("asked for changed paths"),
        }
    }

    /// One query of source action `index`: its configuration with the
    /// execution's variables (or the defaults) resolved, its granted
    /// folders mounted, the log discarded. Secrets stay unresolved: a
    /// source's revision must not depend on them.
    async fn source_call(
        &self,
        version: &PipelineVersion,
        execution: Option<(&IndexMap<String, String>, &str)>,
        index: usize,
        query: SourceQuery<'_>,
    ) -> Result<SourceAnswer, String> {
        let action = &version.definition.stages[0].actions[index];
        let resolved = &version.resolved[0][index];
        let defaults;
        let (variables, execution) = match execution {
            Some(given) => given,
            None => {
                defaults = version.definition.variable_defaults();
                (&defaults, "")
            }
        };
        let configuration: Vec<(String, String)> = version
            .configuration(0, index)
            .iter()
            .map(|(k, v)| {
                let value = crate::model::variables::resolve(v, |r| match r.namespace.as_str() {
                    "variables" => variables.get(&r.key).cloned(),
                    "execution" => Some(execution.to_string()),
                    _ => None,
                })
                .unwrap_or_else(|_| v.clone());
                (k.clone(), value)
            })
            .collect();
        let provider = self.provider(&resolved.sha256, &action.provider).await?;
        let limits = Limits {
            timeout: SOURCE_QUERY_TIMEOUT,
            ..Limits::default()
        };
        let log = ActionLog::discard();
        let mounts = &resolved.mounts;
        let answer = match query {
            SourceQuery::Latest => provider
                .latest_revision_with(&configuration, mounts, &limits, &log)
                .await
                .map(|r| r.map(SourceAnswer::Latest)),
            SourceQuery::Changed { from, to } => provider
                .changed_paths_with(&configuration, mounts, from, to, &limits, &log)
                .await
                .map(|r| r.map(SourceAnswer::Changed)),
        };
        answer
            .map_err(|e| e.to_string())
            .and_then(|r| r.map_err(|f| f.message))
    }

    /// Makes one call of a provider, with its folders and log, and ingests
    /// what it produced.
    pub(super) async fn call(&self, request: &RunRequest) -> CallResult {
        let key = &request.key;
        let log_rel = self.state_dir.action_log(
            &key.execution,
            &request.stage,
            &request.action,
            request.attempt,
        );
        // A custom action runs as jobs external workers take, not on a
        // provider; everything around the call is the same.
        let provider = match &request.provider.external {
            Some(_) => None,
            None => match self
                .provider(&request.provider.sha256, &request.provider_reference)
                .await
            {
                Ok(p) => Some(p),
                Err(message) => return CallResult::failed(FailureKind::SystemUnavailable, message),
            },
        };
        if let Err(message) = self.fetch_inputs(request).await {
            return CallResult::failed(FailureKind::JobFailed, message);
        }
        let folders = match self.workspaces.prepare(
            &request.key,
            request.attempt,
            &request.inputs,
            &request.outputs,
            &self.artifacts,
        ) {
            Ok(f) => f,
            Err(e) => return CallResult::failed(FailureKind::JobFailed, e.to_string()),
        };
        let granted = crate::grants::enforced(&request.provider.grants, &self.secrets)
            .map_err(|e| format!("action `{}`: {e}", request.action))
            .and_then(|grants| {
                let configuration =
                    crate::grants::resolve_secrets(&request.configuration, &grants)?;
                Ok((grants, configuration))
            });
        let (grants, configuration) = match granted {
            Ok(g) => g,
            Err(message) => {
                self.workspaces.release(&folders);
                return CallResult::failed(FailureKind::PermissionError, message);
            }
        };
        let log = ActionLog::new(
            LazyFile::new(self.state_dir.root.join(&log_rel)),
            Limits::default().log_bytes,
        );
        let limits = limits_of(request);
        let job = Job {
            id: format!(
                "{}-{}-{}-{}",
                key.execution, key.stage, key.action, request.attempt
            ),
            execution_id: key.execution.clone(),
            pipeline: request.pipeline.clone(),
            stage: request.stage.clone(),
            action: request.action.clone(),
            attempt: request.attempt,
            configuration,
            inputs: folders.inputs.clone(),
            outputs: folders.outputs.clone(),
            scratch: folders.scratch.clone(),
            continuation: request.continuation.clone(),
            revision: request.revision.clone(),
            approval: request.approval.as_ref().map(|a| Approval {
                approved: a.approved,
                by: a.by.clone(),
                summary: a.summary.clone(),
            }),
            mounts: request.provider.mounts.clone(),
            grants,
            deadline_ms: request.deadline_at.max(0) as u64,
            hidden: vec![self.hidden.clone()],
        };
        if request.continuation.is_some() {
            self.restore_log(&log_rel).await;
        }
        let called = Instant::now();
        let report = match (&provider, &request.provider.external) {
            (Some(provider), _) => provider.run(&job, &limits, &log).await.map(|r| r.outcome),
            (None, Some(action_type)) => Ok(super::external::call(
                &self.state_dir.root,
                self.remote.as_ref(),
                &self.external_store,
                request,
                &job,
                action_type,
                &limits,
            )
            .await),
            (None, None) => unreachable!("a provider is loaded unless the action is external"),
        };
        crate::metrics::observe_call(
            &request.provider_reference,
            match &report {
                Ok(outcome) => outcome.status(),
                Err(_) => "failed",
            },
            called.elapsed().as_secs_f64(),
        );
        let report = match report {
            Ok(outcome) => outcome,
            Err(e) => {
                self.workspaces.release(&folders);
                if log.written() > 0 {
                    self.share_log(&log_rel).await;
                }
                return CallResult {
                    log: Some(log_rel),
                    ..CallResult::failed(FailureKind::JobFailed, e.to_string())
                };
            }
        };
        let wrote = log.written() > 0 || log.dropped() > 0;
        let mut result = CallResult {
            outcome: report,
            outputs: Vec::new(),
            log: wrote.then_some(log_rel),
        };
        match &result.outcome {
            Outcome::Succeeded { revision, .. } => {
                let revision = revision.clone().or_else(|| request.source_revision.clone());
                let stored = match self.ingest(request, &folders, &limits, &log, revision) {
                    Ok(outputs) => self.push_outputs(outputs).await,
                    Err(message) => Err(message),
                };
                match stored {
                    Ok(outputs) => result.outputs = outputs,
                    Err(message) => {
                        result = CallResult {
                            log: result.log,
                            ..CallResult::failed(FailureKind::JobFailed, message)
                        }
                    }
                }
                self.workspaces.release(&folders);
            }
            Outcome::Failed(_) => self.workspaces.release(&folders),
            Outcome::InProgress { .. } => {
                self.workspaces.keep_scratch(key, request.attempt, &folders)
            }
        }
        if let Some(rel) = &result.log {
            self.share_log(rel).await;
        }
        result
    }

    /// Brings the action's input artifacts that this host lacks from the
    /// object storage hosts share (none to fetch on a host of its own).
    async fn fetch_inputs(&self, request: &RunRequest) -> Result<(), String> {
        let Some(remote) = &self.remote else {
            return Ok(());
        };
        for input in &request.inputs {
            if self.artifacts.has(&input.digest) {
                continue;
            }
            let limits = limits_of(request);
            let budget = crate::contain::Budget::caps(limits.output_bytes, limits.output_files);
            remote
                .fetch(&self.artifacts, &input.name, &input.digest, budget)
                .await
                .map_err(|e| format!("input `{}`: {e}", input.name))?;
        }
        Ok(())
    }

    /// Puts a succeeded action's outputs into the object storage hosts
    /// share, before the step that records them (so no host ever records
    /// an artifact the others cannot fetch).
    async fn push_outputs(
        &self,
        outputs: Vec<ArtifactRecord>,
    ) -> Result<Vec<ArtifactRecord>, String> {
        if let Some(remote) = &self.remote {
            for output in &outputs {
                remote
                    .push(&self.artifacts, &output.digest)
                    .await
                    .map_err(|e| format!("cannot store output `{}`: {e}", output.name))?;
            }
        }
        Ok(outputs)
    }

    /// Stores a succeeded action's outputs as artifacts (one budget for all
    /// of them) and hands each to the sealer.
    fn ingest(
        &self,
        request: &RunRequest,
        folders: &JobFolders,
        limits: &Limits,
        log: &ActionLog,
        revision: Option<String>,
    ) -> Result<Vec<ArtifactRecord>, String> {
        let mut budget = crate::contain::Budget::caps(limits.output_bytes, limits.output_files);
        let mut outputs = Vec::with_capacity(folders.outputs.len());
        for mount in &folders.outputs {
            let (manifest, digest) = self
                .artifacts
                .ingest(&mount.host_path, &mut budget)
                .map_err(|e| format!("cannot store output `{}`: {e}", mount.name))?;
            let _ = self.sealer.lock().unwrap().send(digest.clone());
            for skipped in &manifest.skipped {
                log.host_line(&format!(
                    "output `{}`: skipped {}: {}",
                    mount.name,
                    crate::text::line(&skipped.path),
                    crate::text::line(&skipped.reason)
                ));
            }
            outputs.push(ArtifactRecord {
                name: mount.name.clone(),
                digest,
                files: manifest.file_count() as u64,
                bytes: manifest.total_bytes(),
                producer: format!("{}/{}", request.stage, request.action),
                revision: revision.clone(),
            });
        }
        Ok(outputs)
    }
}

/// The limits of one call: the action's deadline, and its memory and
/// output caps where it sets them.
fn limits_of(request: &RunRequest) -> Limits {
    let deadline =
        Instant::now() + Duration::from_millis((request.deadline_at - now_millis()).max(0) as u64);
    let mut limits = Limits {
        deadline: Some(deadline),
        ..Limits::default()
    };
    if let Some(memory) = request.memory {
        limits.memory_bytes = memory;
    }
    if let Some(bytes) = request.output_bytes {
        limits.output_bytes = bytes;
    }
    if let Some(files) = request.output_files {
        limits.output_files = files;
    }
    limits
}

/// Seals artifacts one at a time on a thread of its own: those left
/// unsealed by an earlier driver first, then each new one. It stops when
/// the driver is dropped.
fn start_sealer(artifacts: &ArtifactStore) -> std::sync::mpsc::Sender<String> {
    let (sender, receiver) = std::sync::mpsc::channel::<String>();
    for digest in artifacts.unsealed() {
        let _ = sender.send(digest);
    }
    let artifacts = artifacts.clone();
    let _ = std::thread::Builder::new()
        .name("sluice-sealer".into())
        .spawn(move || {
            for digest in receiver {
                // A failure shows when the artifact is verified.
                let _ = artifacts.seal("artifact", &digest);
            }
        });
    sender
}
