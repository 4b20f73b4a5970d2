//! Execution records: the state of executions as the engine keeps it in
//! memory and the store keeps it on disk (executions, their stage runs,
//! their action runs, artifacts, pipeline versions). Plain data: the rules
//! that change them are the engine's, the tables that keep them the
//! store's.

use crate::contract::{Category, Failure, SourceRevision};
use crate::model::{ExecutionMode, Pipeline};
use indexmap::IndexMap;
use serde::{Deserialize, Serialize};
use std::sync::Arc;

/// An execution's id (a UUID, time-ordered).
pub type ExecutionId = String;

/// Milliseconds since the Unix epoch, UTC.
pub type Millis = i64;

/// The status of an execution.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, schemars::JsonSchema)]
pub enum ExecutionStatus {
    /// Running in a stage or waiting in front of one.
    InProgress,
    /// Stop-and-wait requested: running actions finish, nothing new starts.
    Stopping,
    /// Stopped (final).
    Stopped,
    /// Went through every stage (final).
    Succeeded,
    /// A newer execution took its place while it waited between stages (final).
    Superseded,
    /// A stage failed (final).
    Failed,
}

impl ExecutionStatus {
    /// Whether the status is final (no further change, except by a retry).
    pub fn is_terminal(self) -> bool {
        !matches!(
            self,
            ExecutionStatus::InProgress | ExecutionStatus::Stopping
        )
    }

    /// The status's name as shown to users.
    pub fn as_str(self) -> &'static str {
        match self {
            ExecutionStatus::InProgress => "InProgress",
            ExecutionStatus::Stopping => "Stopping",
            ExecutionStatus::Stopped => "Stopped",
            ExecutionStatus::Succeeded => "Succeeded",
            ExecutionStatus::Superseded => "Superseded",
            ExecutionStatus::Failed => "Failed",
        }
    }

    /// Parses a status name.
    pub fn parse(text: &str) -> Option<Self> {
        Some(match text {
            "InProgress" => ExecutionStatus::InProgress,
            "Stopping" => ExecutionStatus::Stopping,
            "Stopped" => ExecutionStatus::Stopped,
            "Succeeded" => ExecutionStatus::Succeeded,
            "Superseded" => ExecutionStatus::Superseded,
            "Failed" => ExecutionStatus::Failed,
            _ => return None,
        })
    }
}

/// The status of one stage in one execution.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, schemars::JsonSchema)]
pub enum StageStatus {
    /// Its actions are running.
    InProgress,
    /// Stop-and-wait: running actions finish.
    Stopping,
    /// Stopped.
    Stopped,
    /// Every action succeeded.
    Succeeded,
    /// An action failed.
    Failed,
}

impl StageStatus {
    /// The status's name as shown to users.
    pub fn as_str(self) -> &'static str {
        match self {
            StageStatus::InProgress => "InProgress",
            StageStatus::Stopping => "Stopping",
            StageStatus::Stopped => "Stopped",
            StageStatus::Succeeded => "Succeeded",
            StageStatus::Failed => "Failed",
        }
    }

    /// Parses a status name.
    pub fn parse(text: &str) -> Option<Self> {
        Some(match text {
            "InProgress" => StageStatus::InProgress,
            "Stopping" => StageStatus::Stopping,
            "Stopped" => StageStatus::Stopped,
            "Succeeded" => StageStatus::Succeeded,
            "Failed" => StageStatus::Failed,
            _ => return None,
        })
    }
}

/// The status of one attempt of one action.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, schemars::JsonSchema)]
pub enum ActionStatus {
    /// Running, or waiting to be called back.
    InProgress,
    /// Given up: the execution was stopped with abandon, or the host went
    /// away while it ran (it runs again as the next attempt).
    Abandoned,
    /// Succeeded.
    Succeeded,
    /// Failed.
    Failed,
}

impl ActionStatus {
    /// The status's name as shown to users.
    pub fn as_str(self) -> &'static str {
        match self {
            ActionStatus::InProgress => "InProgress",
            ActionStatus::Abandoned => "Abandoned",
            ActionStatus::Succeeded => "Succeeded",
            ActionStatus::Failed => "Failed",
        }
    }

    /// Parses a status name.
    pub fn parse(text: &str) -> Option<Self> {
        Some(match text {
            "InProgress" => ActionStatus::InProgress,
            "Abandoned" => ActionStatus::Abandoned,
            "Succeeded" => ActionStatus::Succeeded,
            "Failed" => ActionStatus::Failed,
            _ => return None,
        })
    }
}

/// How to stop an execution.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum StopMode {
    /// Let running actions finish; start nothing new.
    Wait,
    /// Mark running actions abandoned at once.
    Abandon,
}

/// What a retry runs again.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum RetryMode {
    /// Failed, abandoned and not-yet-run actions; succeeded ones keep their results.
    FailedActions,
    /// Every action of the stage.
    AllActions,
}

/// What the engine knows of one action of a pipeline version, beyond its
/// definition: the exact provider it runs and its category.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct ResolvedAction {
    /// sha256 of the provider component.
    pub sha256: String,
    /// The provider's category.
    pub category: Category,
    /// Names of properties the provider marks secret.
    #[serde(default)]
    pub secret_properties: Vec<String>,
    /// Host folders granted to the action, paths made absolute.
    #[serde(default)]
    pub mounts: Vec<crate::contract::HostMount>,
    /// Programs, URLs and secrets granted to the action (as written;
    /// secret values are looked up only when it runs).
    #[serde(default)]
    pub grants: crate::model::Grants,
    /// The configuration the provider is given, when it is not the
    /// definition's: an AWS action type's, as the host's mapping made it
    /// for the provider that runs it (the definition keeps AWS's).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(with = "Option<indexmap::IndexMap<String, String>>")]
    pub configuration: Option<indexmap::IndexMap<String, String>>,
    /// A custom action's type (`Category/Owner/Provider/Version`): it runs
    /// as jobs external workers take, not on a provider.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub external: Option<String>,
}

impl PipelineVersion {
    /// The configuration the provider of action `action` of stage `stage`
    /// is given (with its references unresolved).
    pub fn configuration(
        &self,
        stage: usize,
        action: usize,
    ) -> &indexmap::IndexMap<String, String> {
        self.resolved
            .get(stage)
            .and_then(|s| s.get(action))
            .and_then(|r| r.configuration.as_ref())
            .unwrap_or(&self.definition.stages[stage].actions[action].configuration)
    }
}

/// A stable UUID naming one attempt of one action of one execution (what
/// CodePipeline calls its action execution id).
pub fn action_execution_id(execution: &str, stage: &str, action: &str, attempt: u32) -> String {
    use sha2::Digest;
    let digest = sha2::Sha256::digest(format!("action\0{execution}\0{stage}\0{action}\0{attempt}"));
    let mut bytes = [0u8; 16];
    bytes.copy_from_slice(&digest[..16]);
    uuid::Builder::from_custom_bytes(bytes)
        .into_uuid()
        .to_string()
}

/// One version of a pipeline, as applied.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct PipelineVersion {
    /// The pipeline's name.
    pub name: String,
    /// The version, from 1.
    pub version: u32,
    /// The definition.
    pub definition: Pipeline,
    /// Per stage, per action: the provider it resolved to.
    pub resolved: Vec<Vec<ResolvedAction>>,
    /// When it was applied.
    pub created_at: Millis,
}

impl PipelineVersion {
    /// The execution mode.
    pub fn mode(&self) -> ExecutionMode {
        self.definition.execution_mode
    }
}

/// A pipeline version shared between the executions that run it.
pub type SharedVersion = Arc<PipelineVersion>;

/// The revision recorded for one source action when an execution started.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct RecordedRevision {
    /// The source action's name.
    pub action: String,
    /// The revision, when the provider could tell it.
    pub revision: Option<SourceRevision>,
    /// Why the provider could not tell it.
    pub error: Option<String>,
}

/// An artifact produced in an execution.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct ArtifactRecord {
    /// Its name.
    pub name: String,
    /// Digest of its manifest (the artifact's own digest).
    pub digest: String,
    /// Regular files in it.
    pub files: u64,
    /// Bytes in those files.
    pub bytes: u64,
    /// `Stage/Action` that produced it.
    pub producer: String,
    /// The source revision it descends from, when known.
    pub revision: Option<String>,
}

/// A decision on a manual approval, as recorded.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct ApprovalRecord {
    /// Approved or rejected.
    pub approved: bool,
    /// Who decided.
    pub by: String,
    /// Their comment.
    pub summary: Option<String>,
    /// When.
    pub at: Millis,
}

/// The current attempt of one action in one execution.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct ActionRun {
    /// The action's name.
    pub name: String,
    /// Its run order.
    pub run_order: u32,
    /// `None` until it first starts in this stage run.
    pub status: Option<ActionStatus>,
    /// Attempt number (0 before the first).
    pub attempt: u32,
    /// When this attempt started.
    pub started_at: Option<Millis>,
    /// When this attempt ended.
    pub ended_at: Option<Millis>,
    /// When this attempt's time runs out.
    pub deadline_at: Option<Millis>,
    /// The provider's summary.
    pub summary: Option<String>,
    /// Output variables.
    pub variables: Vec<(String, String)>,
    /// Why it failed or was abandoned.
    pub error: Option<Failure>,
    /// Continuation token of an in-progress provider.
    pub continuation: Option<String>,
    /// When to call an in-progress provider back.
    pub recheck_at: Option<Millis>,
    /// Progress in percent.
    pub percent: Option<u8>,
    /// A call of the provider is under way.
    pub running: bool,
    /// An approval action waiting for a decision.
    pub awaiting_approval: bool,
    /// The decision, once made.
    pub approval: Option<ApprovalRecord>,
    /// For source actions: the revision produced.
    pub revision: Option<String>,
    /// Input artifacts mounted: name and digest.
    pub inputs: Vec<(String, String)>,
    /// Output artifacts produced: name and digest.
    pub outputs: Vec<(String, String)>,
    /// The log file of this attempt, relative to the state directory.
    pub log: Option<String>,
    /// The configuration it ran with, secrets replaced by `****`.
    pub configuration: Vec<(String, String)>,
    /// Identifies the call under way; results of older calls are ignored.
    #[serde(skip)]
    pub token: u64,
}

impl ActionRun {
    /// A run of an action that has not started.
    pub fn new(name: &str, run_order: u32) -> Self {
        ActionRun {
            name: name.to_string(),
            run_order,
            status: None,
            attempt: 0,
            started_at: None,
            ended_at: None,
            deadline_at: None,
            summary: None,
            variables: Vec::new(),
            error: None,
            continuation: None,
            recheck_at: None,
            percent: None,
            running: false,
            awaiting_approval: false,
            approval: None,
            revision: None,
            inputs: Vec::new(),
            outputs: Vec::new(),
            log: None,
            configuration: Vec::new(),
            token: 0,
        }
    }

    /// Forgets the previous attempt's results, keeping the attempt count.
    pub fn reset(&mut self) {
        let attempt = self.attempt;
        *self = ActionRun::new(&self.name, self.run_order);
        self.attempt = attempt;
    }
}

/// One stage in one execution.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct StageRun {
    /// The stage's name.
    pub name: String,
    /// `None` until the execution enters it.
    pub status: Option<StageStatus>,
    /// How many times it was entered (1 + retries).
    pub attempt: u32,
    /// Position in the order executions entered this stage; the newest
    /// entry is the only one that may be retried.
    pub entered_seq: Option<u64>,
    /// When it was last entered.
    pub started_at: Option<Millis>,
    /// When it ended.
    pub ended_at: Option<Millis>,
    /// Its actions, in definition order.
    pub actions: Vec<ActionRun>,
}

/// Where an execution is between or in stages.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Position {
    /// The stage's index.
    pub stage: usize,
    /// True while waiting in front of the stage; false once inside.
    pub waiting: bool,
}

/// A stop that was asked for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct StopRequest {
    /// Wait or abandon.
    pub mode: StopMode,
    /// Why.
    pub reason: Option<String>,
}

/// One execution of a pipeline.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Execution {
    /// Its id.
    pub id: ExecutionId,
    /// The pipeline's name.
    pub pipeline: String,
    /// The pipeline version it runs.
    pub version: u32,
    /// Start order among all executions (newer is larger).
    pub seq: u64,
    /// Status.
    pub status: ExecutionStatus,
    /// Why it has that status, for the final ones.
    pub status_reason: Option<String>,
    /// What started it.
    pub trigger: String,
    /// Pipeline variables, defaults and overrides resolved.
    pub variables: IndexMap<String, String>,
    /// The source revisions recorded when it started.
    pub source_revisions: Vec<RecordedRevision>,
    /// Where it is; `None` once final.
    pub position: Option<Position>,
    /// A stop asked for.
    pub stop: Option<StopRequest>,
    /// When it started.
    pub started_at: Millis,
    /// When it last changed.
    pub updated_at: Millis,
    /// When it reached a final status.
    pub ended_at: Option<Millis>,
    /// Its stages, in order.
    pub stages: Vec<StageRun>,
    /// Artifacts produced so far.
    pub artifacts: IndexMap<String, ArtifactRecord>,
    /// The idempotency token it was started with, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_token: Option<String>,
}

impl Execution {
    /// A fresh execution of `version`, waiting in front of its first stage.
    pub fn new(
        id: ExecutionId,
        version: &PipelineVersion,
        seq: u64,
        now: Millis,
        trigger: &str,
        variables: IndexMap<String, String>,
        source_revisions: Vec<RecordedRevision>,
    ) -> Self {
        let stages = version
            .definition
            .stages
            .iter()
            .map(|stage| StageRun {
                name: stage.name.clone(),
                status: None,
                attempt: 0,
                entered_seq: None,
                started_at: None,
                ended_at: None,
                actions: stage
                    .actions
                    .iter()
                    .map(|a| ActionRun::new(&a.name, a.run_order))
                    .collect(),
            })
            .collect();
        Execution {
            id,
            pipeline: version.name.clone(),
            version: version.version,
            seq,
            status: ExecutionStatus::InProgress,
            status_reason: None,
            trigger: trigger.to_string(),
            variables,
            source_revisions,
            position: Some(Position {
                stage: 0,
                waiting: true,
            }),
            stop: None,
            started_at: now,
            updated_at: now,
            ended_at: None,
            stages,
            artifacts: IndexMap::new(),
            client_token: None,
        }
    }

    /// The revision recorded for a source action.
    pub fn revision_of(&self, action: &str) -> Option<&RecordedRevision> {
        self.source_revisions.iter().find(|r| r.action == action)
    }
}

/// Identifies one action of one execution.
#[derive(
    Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, schemars::JsonSchema,
)]
pub struct ActionKey {
    /// The execution.
    pub execution: ExecutionId,
    /// Index of the stage.
    pub stage: usize,
    /// Index of the action in the stage.
    pub action: usize,
}

/// A transition into a stage: enabled, or disabled with a reason.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct TransitionState {
    /// The pipeline.
    pub pipeline: String,
    /// The stage the transition leads into.
    pub stage: String,
    /// Whether executions may pass.
    pub enabled: bool,
    /// Why it was disabled (or enabled).
    pub reason: Option<String>,
    /// Who changed it.
    pub changed_by: Option<String>,
    /// When.
    pub changed_at: Option<Millis>,
}

/// The current time in milliseconds since the Unix epoch.
pub fn now_millis() -> Millis {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as Millis)
        .unwrap_or(0)
}

/// The records one engine step changed, in the order they are written,
/// in one transaction: earlier attempts closed in the step first, then the
/// executions, stage runs, artifacts and current attempts that changed,
/// then transitions.
#[derive(Debug, Default)]
pub struct Step<'a> {
    /// Attempts closed in this step (written before the new ones).
    pub closed_attempts: Vec<(&'a Execution, &'a ActionKey, &'a ActionRun)>,
    /// Executions whose row changed.
    pub executions: Vec<&'a Execution>,
    /// Stage runs that changed: the execution and the stage's index.
    pub stages: Vec<(&'a Execution, usize)>,
    /// Artifacts recorded.
    pub artifacts: Vec<(&'a Execution, &'a ArtifactRecord)>,
    /// Actions whose current attempt changed.
    pub actions: Vec<(&'a Execution, ActionKey)>,
    /// Transitions that changed.
    pub transitions: Vec<TransitionState>,
}

impl Step<'_> {
    /// Whether nothing changed.
    pub fn is_empty(&self) -> bool {
        self.closed_attempts.is_empty()
            && self.executions.is_empty()
            && self.stages.is_empty()
            && self.artifacts.is_empty()
            && self.actions.is_empty()
            && self.transitions.is_empty()
    }
}
