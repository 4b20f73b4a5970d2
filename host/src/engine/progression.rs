//! Run orders inside a stage: actions with the same run order run in
//! parallel; a higher run order starts once every lower one succeeded. A
//! failed action fails the stage once the actions still running finish.
//! When the last run order succeeds, the stage succeeds and the execution
//! moves on to wait in front of the next stage.

use super::machine::{Effect, Machine, RunRequest};
use crate::records::*;
use crate::sandbox::{Failure, FailureKind};

/// The configuration as recorded and shown: secret values replaced.
fn shown_configuration(request: &RunRequest) -> Vec<(String, String)> {
    request
        .configuration
        .iter()
        .map(|(k, v)| {
            if request.provider.secret_properties.contains(k) {
                (k.clone(), "****".to_string())
            } else {
                (k.clone(), v.clone())
            }
        })
        .collect()
}

/// What a new attempt takes over from one the host lost.
#[derive(Debug, Clone, Default)]
pub(super) struct Carry {
    pub continuation: Option<String>,
    pub approval: Option<ApprovalRecord>,
    pub deadline_at: Option<Millis>,
}

impl Machine {
    /// Starts the lowest run order that has actions not yet run in this
    /// stage run; when there is none left, the stage has succeeded.
    pub(super) fn start_next_run_order(&mut self, id: &str, stage: usize) {
        let execution = &self.executions[id];
        if execution.status != ExecutionStatus::InProgress {
            // Stopping: start nothing new.
            self.evaluate_stage(id, stage);
            return;
        }
        let run = &execution.stages[stage];
        let next = run
            .actions
            .iter()
            .filter(|a| a.status.is_none())
            .map(|a| a.run_order)
            .min();
        let Some(order) = next else {
            self.finish_stage(id, stage, StageStatus::Succeeded);
            return;
        };
        let group: Vec<usize> = run
            .actions
            .iter()
            .enumerate()
            .filter(|(_, a)| a.status.is_none() && a.run_order == order)
            .map(|(i, _)| i)
            .collect();
        for action in group {
            let key = ActionKey {
                execution: id.to_string(),
                stage,
                action,
            };
            self.start_action(&key, None);
        }
        self.evaluate_stage(id, stage);
    }

    /// Starts a new attempt of an action. `carry` brings over what an
    /// attempt the host lost had (recovery).
    pub(super) fn start_action(&mut self, key: &ActionKey, carry: Option<Carry>) {
        let now = self.now;
        let Some(version) = self.version_of(&key.execution) else {
            return;
        };
        let definition = &version.definition.stages[key.stage].actions[key.action];
        let resolved = version.resolved[key.stage][key.action].clone();
        let timeout = super::timeouts::action_timeout(definition, resolved.category);
        let token = self.token();
        {
            let run = self.action_mut(key).unwrap();
            run.reset();
            run.attempt += 1;
            run.status = Some(ActionStatus::InProgress);
            run.started_at = Some(now);
            run.deadline_at = Some(now + timeout.as_millis() as Millis);
            run.token = token;
            if let Some(carry) = carry {
                run.continuation = carry.continuation;
                run.approval = carry.approval;
                if carry.deadline_at.is_some() {
                    run.deadline_at = carry.deadline_at;
                }
            }
        }
        self.changes.actions.insert(key.clone());
        match self.prepare_call(key) {
            Ok(request) => {
                let run = self.action_mut(key).unwrap();
                run.running = true;
                run.inputs = request
                    .inputs
                    .iter()
                    .map(|a| (a.name.clone(), a.digest.clone()))
                    .collect();
                run.configuration = shown_configuration(&request);
                self.effects.push(Effect::Run(request));
            }
            Err(failure) => self.end_attempt(key, ActionStatus::Failed, failure),
        }
    }

    /// The call to make for an action's current attempt: configuration
    /// resolved, inputs found, revision and decision attached.
    pub(super) fn prepare_call(&mut self, key: &ActionKey) -> Result<RunRequest, Failure> {
        let version = self.version_of(&key.execution).expect("known version");
        let execution = &self.executions[&key.execution];
        let stage_def = &version.definition.stages[key.stage];
        let definition = &stage_def.actions[key.action];
        let run = &execution.stages[key.stage].actions[key.action];
        let configuration = self.resolve_configuration(key)?;
        let mut inputs = Vec::new();
        for name in &definition.inputs {
            match execution.artifacts.get(name) {
                Some(artifact) => inputs.push(artifact.clone()),
                None => {
                    return Err(Failure {
                        kind: FailureKind::ConfigurationError,
                        message: format!(
                            "input artifact `{name}` was not produced in this execution"
                        ),
                    });
                }
            }
        }
        let revision = if key.stage == 0 {
            match execution.revision_of(&definition.name) {
                Some(RecordedRevision {
                    revision: Some(r), ..
                }) => Some(r.id.clone()),
                Some(RecordedRevision { error: Some(e), .. }) => {
                    return Err(Failure {
                        kind: FailureKind::RevisionUnavailable,
                        message: format!(
                            "the source revision could not be determined when the execution started: {e}"
                        ),
                    });
                }
                _ => None,
            }
        } else {
            None
        };
        let source_revision = execution
            .source_revisions
            .iter()
            .find_map(|r| r.revision.as_ref().map(|r| r.id.clone()));
        let memory = definition
            .memory
            .as_deref()
            .and_then(|m| crate::units::parse_bytes(m).ok());
        Ok(RunRequest {
            key: key.clone(),
            token: run.token,
            attempt: run.attempt,
            pipeline: execution.pipeline.clone(),
            version: execution.version,
            stage: stage_def.name.clone(),
            action: definition.name.clone(),
            provider_reference: definition.provider.clone(),
            provider: version.resolved[key.stage][key.action].clone(),
            configuration,
            inputs,
            outputs: definition.outputs.clone(),
            continuation: run.continuation.clone(),
            revision,
            approval: run.approval.clone(),
            deadline_at: run.deadline_at.unwrap_or(self.now),
            memory,
            output_bytes: definition
                .output_size
                .as_deref()
                .and_then(|m| crate::units::parse_bytes(m).ok()),
            output_files: definition.output_files,
            source_revision,
        })
    }

    /// Decides what happens in a stage after an action changed: wait for
    /// running actions, stop, fail, or start the next run order.
    pub(super) fn evaluate_stage(&mut self, id: &str, stage: usize) {
        let Some(execution) = self.executions.get(id) else {
            return;
        };
        if execution.position
            != Some(Position {
                stage,
                waiting: false,
            })
        {
            return;
        }
        let run = &execution.stages[stage];
        if run
            .actions
            .iter()
            .any(|a| a.status == Some(ActionStatus::InProgress))
        {
            return;
        }
        if execution.status == ExecutionStatus::Stopping {
            self.finish_stage(id, stage, StageStatus::Stopped);
            return;
        }
        if run.actions.iter().any(|a| {
            matches!(
                a.status,
                Some(ActionStatus::Failed) | Some(ActionStatus::Abandoned)
            )
        }) {
            self.finish_stage(id, stage, StageStatus::Failed);
            return;
        }
        self.start_next_run_order(id, stage);
    }

    /// Ends a stage run. Failed and stopped end the execution; succeeded
    /// moves it on, or ends it when this was the last stage. Either way
    /// the stage's lock is released.
    pub(super) fn finish_stage(&mut self, id: &str, stage: usize, status: StageStatus) {
        let now = self.now;
        let (pipeline, stage_name, last, failed_action) = {
            let execution = self.executions.get_mut(id).unwrap();
            let run = &mut execution.stages[stage];
            run.status = Some(status);
            run.ended_at = Some(now);
            let failed_action = run
                .actions
                .iter()
                .find(|a| a.status == Some(ActionStatus::Failed))
                .map(|a| {
                    let message = a
                        .error
                        .as_ref()
                        .map(|e| e.message.clone())
                        .unwrap_or_default();
                    format!("action `{}` failed: {message}", a.name)
                });
            (
                execution.pipeline.clone(),
                run.name.clone(),
                stage + 1 == execution.stages.len(),
                failed_action,
            )
        };
        self.touch_stage(id, stage);
        match status {
            StageStatus::Succeeded => {
                if last {
                    self.finish_execution(id, ExecutionStatus::Succeeded, None);
                } else {
                    let execution = self.executions.get_mut(id).unwrap();
                    execution.position = Some(Position {
                        stage: stage + 1,
                        waiting: true,
                    });
                }
                self.release(id, &pipeline, &stage_name);
                if !last {
                    self.try_enter(id);
                }
            }
            StageStatus::Failed => {
                let reason = format!(
                    "stage `{stage_name}` failed{}",
                    failed_action.map(|a| format!(": {a}")).unwrap_or_default()
                );
                self.finish_execution(id, ExecutionStatus::Failed, Some(reason));
                self.release(id, &pipeline, &stage_name);
            }
            StageStatus::Stopped => {
                let reason = self.executions[id]
                    .stop
                    .as_ref()
                    .and_then(|s| s.reason.clone())
                    .unwrap_or_else(|| format!("stopped in stage `{stage_name}`"));
                self.finish_execution(id, ExecutionStatus::Stopped, Some(reason));
                self.release(id, &pipeline, &stage_name);
            }
            StageStatus::InProgress | StageStatus::Stopping => {}
        }
    }
}
