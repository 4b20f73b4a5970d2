//! The engine's state machine: every execution rule, applied to state in
//! memory, with no I/O. Events come in (start, an action finished, a timer,
//! stop, retry, approve, a transition changed); the machine changes its
//! state, records what changed (for the store to write in one transaction)
//! and what to do (run an action, cancel one).
//!
//! Each rule lives in its own file as an `impl Machine` block:
//! [`super::stage_lock`] (locks, the inbound execution, the three modes),
//! [`super::supersede`], [`super::progression`], [`super::transitions`],
//! [`super::stop`], [`super::retry`], [`super::approval`],
//! [`super::timeouts`] (deadlines, call-backs of in-progress actions),
//! [`super::variables`], [`super::recovery`].

use super::command::CommandError;
use super::stage_lock::PipelineSlot;
use crate::records::*;
use crate::sandbox::{Failure, FailureKind, Outcome};
use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;
use std::time::Duration;

/// What changed in one step, for the store to write in one transaction.
#[derive(Debug, Default)]
pub struct Changes {
    /// Executions whose row changed.
    pub executions: BTreeSet<ExecutionId>,
    /// Stage runs that changed: execution and stage index.
    pub stages: BTreeSet<(ExecutionId, usize)>,
    /// Artifacts recorded: execution and artifact name.
    pub artifacts: BTreeSet<(ExecutionId, String)>,
    /// Actions whose current attempt changed.
    pub actions: BTreeSet<ActionKey>,
    /// Earlier attempts closed in this step (written before the new one).
    pub closed_attempts: Vec<(ActionKey, ActionRun)>,
    /// Transitions that changed: pipeline and stage.
    pub transitions: BTreeSet<(String, String)>,
}

impl Changes {
    /// The records these changes name, as `machine` holds them, for the
    /// store to write.
    pub fn records<'a>(&'a self, machine: &'a Machine) -> Step<'a> {
        let execution = |id: &str| machine.executions.get(id);
        Step {
            closed_attempts: self
                .closed_attempts
                .iter()
                .filter_map(|(key, run)| Some((execution(&key.execution)?, key, run)))
                .collect(),
            executions: self
                .executions
                .iter()
                .filter_map(|id| execution(id))
                .collect(),
            stages: self
                .stages
                .iter()
                .filter_map(|(id, index)| Some((execution(id)?, *index)))
                .collect(),
            artifacts: self
                .artifacts
                .iter()
                .filter_map(|(id, name)| {
                    let e = execution(id)?;
                    Some((e, e.artifacts.get(name)?))
                })
                .collect(),
            actions: self
                .actions
                .iter()
                .filter_map(|key| Some((execution(&key.execution)?, key.clone())))
                .collect(),
            transitions: self
                .transitions
                .iter()
                .filter_map(|(pipeline, stage)| {
                    machine
                        .transitions(pipeline)
                        .into_iter()
                        .find(|t| &t.stage == stage)
                })
                .collect(),
        }
    }

    /// Whether nothing changed.
    pub fn is_empty(&self) -> bool {
        self.executions.is_empty()
            && self.stages.is_empty()
            && self.artifacts.is_empty()
            && self.actions.is_empty()
            && self.closed_attempts.is_empty()
            && self.transitions.is_empty()
    }
}

/// What the engine must do after a step.
#[derive(Debug, Clone, PartialEq)]
pub enum Effect {
    /// Call a provider.
    Run(RunRequest),
    /// Drop a call under way (its action was abandoned).
    Cancel {
        /// The action.
        key: ActionKey,
        /// The call.
        token: u64,
    },
    /// An execution reached a final status.
    Finished {
        /// The execution.
        execution: ExecutionId,
        /// Its status.
        status: ExecutionStatus,
    },
}

/// One call of a provider to make (JSON in the job queue hosts share).
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct RunRequest {
    /// Which action.
    pub key: ActionKey,
    /// Identifies this call; its result must carry it back.
    pub token: u64,
    /// The action's attempt.
    pub attempt: u32,
    /// The pipeline.
    pub pipeline: String,
    /// The pipeline version.
    pub version: u32,
    /// The stage's name.
    pub stage: String,
    /// The action's name.
    pub action: String,
    /// The provider as the pipeline names it.
    pub provider_reference: String,
    /// The exact provider.
    pub provider: ResolvedAction,
    /// Configuration, variables resolved.
    pub configuration: Vec<(String, String)>,
    /// Input artifacts.
    pub inputs: Vec<ArtifactRecord>,
    /// Output artifact names.
    pub outputs: Vec<String>,
    /// Continuation token of a call-back.
    pub continuation: Option<String>,
    /// Source revision to produce.
    pub revision: Option<String>,
    /// The approval decision, for an approval action's call-back.
    pub approval: Option<ApprovalRecord>,
    /// When the action's time runs out.
    pub deadline_at: Millis,
    /// Memory limit, when the action sets one.
    pub memory: Option<u64>,
    /// The action's cap on output bytes, when it sets one.
    pub output_bytes: Option<u64>,
    /// The action's cap on output files, when it sets one.
    pub output_files: Option<u64>,
    /// The execution's source revision, when known (the first source
    /// action's), for artifacts to carry.
    pub source_revision: Option<String>,
}

/// What came of one call of a provider (JSON in the job queue).
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct CallResult {
    /// The outcome.
    pub outcome: Outcome,
    /// Output artifacts ingested, for a success.
    pub outputs: Vec<ArtifactRecord>,
    /// The log file, relative to the state directory.
    pub log: Option<String>,
}

impl CallResult {
    /// A failure that happened before or around the call.
    pub fn failed(kind: FailureKind, message: impl Into<String>) -> Self {
        CallResult {
            outcome: Outcome::Failed(Failure {
                kind,
                message: message.into(),
            }),
            outputs: Vec::new(),
            log: None,
        }
    }
}

/// The engine's state machine. See the module documentation.
#[derive(Debug, Default)]
pub struct Machine {
    pub(super) pipelines: HashMap<String, PipelineSlot>,
    pub(super) versions: HashMap<(String, u32), SharedVersion>,
    pub(super) executions: HashMap<ExecutionId, Execution>,
    pub(super) next_seq: u64,
    pub(super) next_entry: u64,
    pub(super) next_token: u64,
    pub(super) now: Millis,
    pub(super) changes: Changes,
    pub(super) effects: Vec<Effect>,
    /// Call-backs and deadlines of in-progress actions not under way.
    pub(super) timers: BTreeSet<(Millis, ActionKey)>,
    pub(super) timer_of: HashMap<ActionKey, Millis>,
    /// How soon in-progress providers may be called back.
    pub(super) recheck: super::timeouts::RecheckPolicy,
}

impl Machine {
    /// An empty machine.
    pub fn new() -> Self {
        Machine {
            next_seq: 1,
            next_entry: 1,
            next_token: 1,
            ..Default::default()
        }
    }

    /// Sets how soon in-progress providers may be called back.
    pub fn set_recheck_policy(&mut self, policy: super::timeouts::RecheckPolicy) {
        self.recheck = policy;
    }

    /// Sets the clock for the next step.
    pub fn set_now(&mut self, now: Millis) {
        self.now = now;
    }

    /// The clock.
    pub fn now(&self) -> Millis {
        self.now
    }

    /// Takes what changed since the last call.
    pub fn take_changes(&mut self) -> Changes {
        std::mem::take(&mut self.changes)
    }

    /// Takes what to do since the last call.
    pub fn take_effects(&mut self) -> Vec<Effect> {
        std::mem::take(&mut self.effects)
    }

    /// An execution held in memory.
    pub fn execution(&self, id: &str) -> Option<&Execution> {
        self.executions.get(id)
    }

    /// Every execution held in memory.
    pub fn executions(&self) -> impl Iterator<Item = &Execution> {
        self.executions.values()
    }

    /// A pipeline's current version.
    pub fn current_version(&self, pipeline: &str) -> Option<&SharedVersion> {
        self.pipelines.get(pipeline).map(|p| &p.current)
    }

    /// A pipeline version, if loaded.
    pub fn version(&self, pipeline: &str, version: u32) -> Option<&SharedVersion> {
        self.versions.get(&(pipeline.to_string(), version))
    }

    /// Makes `version` known, and the current one of its pipeline when it is
    /// the newest.
    pub fn add_version(&mut self, version: PipelineVersion) {
        let version = Arc::new(version);
        self.versions
            .insert((version.name.clone(), version.version), version.clone());
        match self.pipelines.get_mut(&version.name) {
            Some(slot) if slot.current.version >= version.version => {}
            Some(slot) => slot.current = version,
            None => {
                self.pipelines
                    .insert(version.name.clone(), PipelineSlot::new(version));
            }
        }
    }

    /// Refuses to forget a pipeline that has executions in progress.
    pub fn check_removable(&self, name: &str) -> Result<(), CommandError> {
        match self
            .executions
            .values()
            .find(|e| e.pipeline == name && !e.status.is_terminal())
        {
            Some(running) => Err(CommandError::PipelineBusy {
                pipeline: name.to_string(),
                execution: running.id.clone(),
            }),
            None => Ok(()),
        }
    }

    /// Forgets a pipeline (it has no executions in progress).
    pub fn remove_pipeline(&mut self, name: &str) -> Result<(), CommandError> {
        self.check_removable(name)?;
        self.pipelines.remove(name);
        self.versions.retain(|(p, _), _| p != name);
        self.executions.retain(|_, e| e.pipeline != name);
        Ok(())
    }

    /// Drops final executions from memory (the store keeps them).
    pub fn evict_finished(&mut self) {
        self.executions.retain(|_, e| !e.status.is_terminal());
    }

    /// The next start order number (for ids made outside).
    pub fn next_seq(&self) -> u64 {
        self.next_seq
    }

    /// Starts an execution of `version` (the one its start was accepted
    /// under, its revisions recorded with, pinned even if the pipeline has
    /// changed since). It waits in front of the first stage, and goes in
    /// when the stage allows.
    pub fn start(
        &mut self,
        id: ExecutionId,
        version: SharedVersion,
        trigger: &str,
        variables: indexmap::IndexMap<String, String>,
        revisions: Vec<RecordedRevision>,
        token: Option<String>,
    ) -> Result<ExecutionId, CommandError> {
        // The pipeline may have been deleted (and made again) while the
        // start recorded its revisions: it then has no such version.
        let key = (version.name.clone(), version.version);
        let same = self
            .versions
            .get(&key)
            .is_none_or(|known| **known == *version);
        if !self.pipelines.contains_key(&version.name) || !same {
            return Err(CommandError::UnknownPipeline {
                pipeline: version.name.clone(),
            });
        }
        self.versions.entry(key).or_insert_with(|| version.clone());
        let seq = self.next_seq;
        self.next_seq += 1;
        let mut execution = Execution::new(
            id.clone(),
            &version,
            seq,
            self.now,
            trigger,
            variables,
            revisions,
        );
        execution.client_token = token;
        self.executions.insert(id.clone(), execution);
        self.touch(&id);
        self.try_enter(&id);
        Ok(id)
    }

    /// The execution mode an execution runs under: its own version's.
    pub(super) fn mode_of(&self, id: &str) -> crate::model::ExecutionMode {
        match (self.version_of(id), self.executions.get(id)) {
            (Some(version), _) => version.mode(),
            (None, Some(e)) => self
                .pipelines
                .get(&e.pipeline)
                .map(|p| p.mode())
                .unwrap_or_default(),
            (None, None) => Default::default(),
        }
    }

    /// Takes the result of one call of a provider. Results of calls that
    /// no longer matter (the action was abandoned, or called again) are
    /// ignored.
    pub fn action_finished(&mut self, key: &ActionKey, token: u64, result: CallResult) {
        let now = self.now;
        let category = match self.resolved(key) {
            Some(r) => r.category,
            None => return,
        };
        let recheck = self.recheck;
        let Some(run) = self.action_mut(key) else {
            return;
        };
        if run.token != token || !run.running || run.status != Some(ActionStatus::InProgress) {
            return;
        }
        run.running = false;
        if let Some(log) = result.log {
            run.log = Some(log);
        }
        match result.outcome {
            Outcome::Succeeded {
                summary,
                revision,
                variables,
            } => {
                run.status = Some(ActionStatus::Succeeded);
                run.ended_at = Some(now);
                run.summary = summary;
                run.revision = revision;
                run.variables = variables;
                run.continuation = None;
                run.recheck_at = None;
                run.awaiting_approval = false;
                run.outputs = result
                    .outputs
                    .iter()
                    .map(|a| (a.name.clone(), a.digest.clone()))
                    .collect();
                let execution = self.executions.get_mut(&key.execution).unwrap();
                for artifact in result.outputs {
                    self.changes
                        .artifacts
                        .insert((key.execution.clone(), artifact.name.clone()));
                    execution.artifacts.insert(artifact.name.clone(), artifact);
                }
            }
            Outcome::Failed(failure) => self.end_attempt(key, ActionStatus::Failed, failure),
            Outcome::InProgress {
                continuation,
                recheck_after,
                summary,
                percent_complete,
            } => {
                run.continuation = Some(continuation);
                run.summary = summary;
                run.percent = percent_complete;
                let running = Duration::from_millis(
                    now.saturating_sub(run.started_at.unwrap_or(now)).max(0) as u64,
                );
                let delay = recheck.delay(recheck_after, running);
                run.recheck_at = Some(now + delay.as_millis() as Millis);
                run.awaiting_approval =
                    category == crate::sandbox::Category::Approval && run.approval.is_none();
                self.arm_timer(key);
            }
        }
        self.changes.actions.insert(key.clone());
        self.touch(&key.execution);
        self.evaluate_stage(&key.execution, key.stage);
    }

    // ----- helpers shared by the rule files -----

    /// Ends an action's current attempt as `status` (failed, or abandoned)
    /// for `failure`: no call-back, timer or approval is left waiting. The
    /// one way an attempt fails, whatever failed it (its provider, its
    /// deadline, a call that could not be made, a stop).
    pub(super) fn end_attempt(&mut self, key: &ActionKey, status: ActionStatus, failure: Failure) {
        let now = self.now;
        let Some(run) = self.action_mut(key) else {
            return;
        };
        run.status = Some(status);
        run.ended_at = Some(now);
        run.error = Some(failure);
        run.running = false;
        run.recheck_at = None;
        run.awaiting_approval = false;
        self.disarm_timer(key);
        self.changes.actions.insert(key.clone());
    }

    pub(super) fn touch_stage(&mut self, id: &str, stage: usize) {
        self.changes.stages.insert((id.to_string(), stage));
        self.touch(id);
    }

    pub(super) fn touch(&mut self, id: &str) {
        if let Some(execution) = self.executions.get_mut(id) {
            execution.updated_at = self.now;
            self.changes.executions.insert(id.to_string());
        }
    }

    pub(super) fn action_mut(&mut self, key: &ActionKey) -> Option<&mut ActionRun> {
        self.executions
            .get_mut(&key.execution)?
            .stages
            .get_mut(key.stage)?
            .actions
            .get_mut(key.action)
    }

    pub(super) fn version_of(&self, id: &str) -> Option<SharedVersion> {
        let execution = self.executions.get(id)?;
        self.versions
            .get(&(execution.pipeline.clone(), execution.version))
            .cloned()
    }

    pub(super) fn resolved(&self, key: &ActionKey) -> Option<ResolvedAction> {
        let version = self.version_of(&key.execution)?;
        version.resolved.get(key.stage)?.get(key.action).cloned()
    }

    pub(super) fn token(&mut self) -> u64 {
        let token = self.next_token;
        self.next_token += 1;
        token
    }

    /// Ends an execution with a final status.
    pub(super) fn finish_execution(
        &mut self,
        id: &str,
        status: ExecutionStatus,
        reason: Option<String>,
    ) {
        let now = self.now;
        let Some(execution) = self.executions.get_mut(id) else {
            return;
        };
        execution.status = status;
        execution.status_reason = reason;
        execution.position = None;
        execution.ended_at = Some(now);
        execution.stop = None;
        self.touch(id);
        self.effects.push(Effect::Finished {
            execution: id.to_string(),
            status,
        });
    }
}
