//! A pipeline's state as users see it (CodePipeline's GetPipelineState):
//! for each stage, the execution that entered it last with its stage and
//! action statuses, the executions waiting in front of it, and its inbound
//! transition. Read from the store; shared by `sluice state` and the tests.

use crate::records::*;
use crate::store::{Store, StoreError};
use serde::Serialize;
use std::collections::HashMap;

/// The state of one pipeline.
#[derive(Debug, Clone, Serialize, serde::Deserialize, schemars::JsonSchema)]
pub struct PipelineState {
    /// The pipeline.
    pub pipeline: String,
    /// Its current version.
    pub version: u32,
    /// Its execution mode.
    pub execution_mode: String,
    /// Its stages, in order.
    pub stages: Vec<StageState>,
}

/// The state of one stage.
#[derive(Debug, Clone, Serialize, serde::Deserialize, schemars::JsonSchema)]
pub struct StageState {
    /// The stage's name.
    pub name: String,
    /// The transition into it (none for the first stage).
    pub transition: Option<TransitionView>,
    /// The execution that entered it last.
    pub latest_execution: Option<LatestExecution>,
    /// Executions waiting in front of it, oldest first.
    pub inbound_executions: Vec<String>,
    /// Its actions, as in the latest execution.
    pub actions: Vec<ActionState>,
}

/// A transition as shown.
#[derive(Debug, Clone, Serialize, serde::Deserialize, schemars::JsonSchema)]
pub struct TransitionView {
    /// Whether executions may pass.
    pub enabled: bool,
    /// Why it was changed.
    pub reason: Option<String>,
    /// Who changed it.
    pub changed_by: Option<String>,
    /// When.
    pub changed_at: Option<Millis>,
}

/// The execution that entered a stage last.
#[derive(Debug, Clone, Serialize, serde::Deserialize, schemars::JsonSchema)]
pub struct LatestExecution {
    /// Its id.
    pub id: String,
    /// The execution's status.
    pub execution_status: ExecutionStatus,
    /// The stage's status in it.
    pub stage_status: Option<StageStatus>,
}

/// An action as shown.
#[derive(Debug, Clone, Serialize, serde::Deserialize, schemars::JsonSchema)]
pub struct ActionState {
    /// Its name.
    pub name: String,
    /// Its run order.
    pub run_order: u32,
    /// Its provider.
    pub provider: String,
    /// Its status in the latest execution.
    pub status: Option<ActionStatus>,
    /// Its attempt.
    pub attempt: u32,
    /// Its summary.
    pub summary: Option<String>,
    /// Why it failed.
    pub error: Option<String>,
    /// Whether it waits for a decision.
    pub waiting_for_approval: bool,
    /// When it started.
    pub started_at: Option<Millis>,
    /// When it ended.
    pub ended_at: Option<Millis>,
}

/// Reads a pipeline's state; `None` when there is no such pipeline. It
/// reads the latest entry of each stage from `stage_entries`, the waiting
/// executions through their index (their stage names from their versions,
/// each loaded once) and at most one execution per stage: its cost does not
/// grow with the number of executions.
pub fn pipeline_state(store: &Store, pipeline: &str) -> Result<Option<PipelineState>, StoreError> {
    let Some(version) = store.current_pipeline(pipeline)? else {
        return Ok(None);
    };
    let version = std::sync::Arc::new(version);
    let latest = store.stage_entries(pipeline)?;
    let transitions = store.transitions(pipeline)?;
    let mut versions: HashMap<u32, Option<SharedVersion>> = HashMap::new();
    versions.insert(version.version, Some(version.clone()));
    let mut version_of = |number: u32| -> Result<Option<SharedVersion>, StoreError> {
        if let Some(known) = versions.get(&number) {
            return Ok(known.clone());
        }
        let loaded = store
            .pipeline_version(pipeline, number)?
            .map(std::sync::Arc::new);
        versions.insert(number, loaded.clone());
        Ok(loaded)
    };
    let mut waiting_by_stage: Vec<(String, String)> = Vec::new();
    for (id, stage, number) in store.waiting_executions(pipeline)? {
        if let Some(name) =
            version_of(number)?.and_then(|v| v.definition.stages.get(stage).map(|s| s.name.clone()))
        {
            waiting_by_stage.push((name, id));
        }
    }
    let known: Vec<SharedVersion> = versions.values().flatten().cloned().collect();
    let shared = |_: &str, number: u32| known.iter().find(|v| v.version == number).cloned();
    let mut stages = Vec::new();
    for (index, stage) in version.definition.stages.iter().enumerate() {
        let latest_id = latest
            .iter()
            .find(|(s, _)| *s == stage.name)
            .map(|(_, id)| id.clone());
        let execution = match &latest_id {
            Some(id) => store.execution(id, shared)?,
            None => None,
        };
        let run = execution
            .as_ref()
            .and_then(|e| e.stages.iter().find(|s| s.name == stage.name));
        let transition = transitions.iter().find(|t| t.stage == stage.name);
        stages.push(StageState {
            name: stage.name.clone(),
            transition: (index > 0).then(|| TransitionView {
                enabled: transition.is_none_or(|t| t.enabled),
                reason: transition.and_then(|t| t.reason.clone()),
                changed_by: transition.and_then(|t| t.changed_by.clone()),
                changed_at: transition.and_then(|t| t.changed_at),
            }),
            latest_execution: execution.as_ref().map(|e| LatestExecution {
                id: e.id.clone(),
                execution_status: e.status,
                stage_status: run.and_then(|r| r.status),
            }),
            inbound_executions: waiting_by_stage
                .iter()
                .filter(|(s, _)| *s == stage.name)
                .map(|(_, id)| id.clone())
                .collect(),
            actions: stage
                .actions
                .iter()
                .map(|action| {
                    let r = run.and_then(|r| r.actions.iter().find(|a| a.name == action.name));
                    ActionState {
                        name: action.name.clone(),
                        run_order: action.run_order,
                        provider: action.provider.clone(),
                        status: r.and_then(|r| r.status),
                        attempt: r.map(|r| r.attempt).unwrap_or(0),
                        summary: r.and_then(|r| r.summary.clone()),
                        error: r.and_then(|r| r.error.as_ref()).map(|f| f.message.clone()),
                        waiting_for_approval: r.is_some_and(|r| r.awaiting_approval),
                        started_at: r.and_then(|r| r.started_at),
                        ended_at: r.and_then(|r| r.ended_at),
                    }
                })
                .collect(),
        });
    }
    Ok(Some(PipelineState {
        pipeline: pipeline.to_string(),
        version: version.version,
        execution_mode: version.definition.execution_mode.as_str().to_string(),
        stages,
    }))
}

impl PipelineState {
    /// The stage called `name`.
    pub fn stage(&self, name: &str) -> &StageState {
        self.stages
            .iter()
            .find(|s| s.name == name)
            .unwrap_or_else(|| panic!("no stage {name}"))
    }
}

impl StageState {
    /// The action called `name`.
    pub fn action(&self, name: &str) -> &ActionState {
        self.actions
            .iter()
            .find(|a| a.name == name)
            .unwrap_or_else(|| panic!("no action {name}"))
    }
}
