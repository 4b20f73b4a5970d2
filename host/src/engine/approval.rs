//! Manual approvals: an approval action answers `in-progress` until
//! someone approves or rejects it. The decision (who, when, and a summary)
//! is recorded and the provider called back at once with it (a routine
//! call-back under way is dropped for this one); every later call carries
//! it too. The provider then succeeds (approved) or fails (rejected).

use super::command::CommandError;
use super::machine::{Effect, Machine};
use crate::records::*;

impl Machine {
    /// Records a decision on an approval action waiting for one.
    pub fn decide(
        &mut self,
        id: &str,
        stage: &str,
        action: &str,
        approved: bool,
        by: &str,
        summary: Option<String>,
    ) -> Result<(), CommandError> {
        let execution = self
            .executions
            .get(id)
            .ok_or_else(|| CommandError::UnknownExecution {
                execution: id.to_string(),
            })?;
        let stage_index = execution
            .stages
            .iter()
            .position(|s| s.name == stage)
            .ok_or_else(|| CommandError::UnknownStage {
                pipeline: execution.pipeline.clone(),
                stage: stage.to_string(),
            })?;
        let action_index = execution.stages[stage_index]
            .actions
            .iter()
            .position(|a| a.name == action)
            .ok_or_else(|| CommandError::UnknownAction {
                stage: stage.to_string(),
                action: action.to_string(),
            })?;
        let key = ActionKey {
            execution: id.to_string(),
            stage: stage_index,
            action: action_index,
        };
        let run = &execution.stages[stage_index].actions[action_index];
        if !run.awaiting_approval || run.status != Some(ActionStatus::InProgress) {
            let state = match run.status {
                Some(ActionStatus::InProgress) if run.approval.is_some() => {
                    "already decided".to_string()
                }
                Some(s) => s.as_str().to_string(),
                None => "not started".to_string(),
            };
            return Err(CommandError::NotAwaitingApproval {
                execution: id.to_string(),
                stage: stage.to_string(),
                action: action.to_string(),
                state: state.to_string(),
            });
        }
        let now = self.now;
        {
            let run = self.action_mut(&key).unwrap();
            run.approval = Some(ApprovalRecord {
                approved,
                by: by.to_string(),
                summary,
                at: now,
            });
            run.awaiting_approval = false;
            run.recheck_at = Some(now);
            // A routine call-back under way does not carry the decision:
            // drop it and call again with it.
            if std::mem::take(&mut run.running) {
                let token = run.token;
                self.effects.push(Effect::Cancel {
                    key: key.clone(),
                    token,
                });
            }
        }
        self.changes.actions.insert(key.clone());
        self.touch(id);
        self.disarm_timer(&key);
        self.call_back(&key);
        Ok(())
    }

    /// Actions waiting for a decision.
    pub fn awaiting_approval(&self) -> Vec<ActionKey> {
        let mut keys = Vec::new();
        for execution in self.executions.values() {
            for (s, stage) in execution.stages.iter().enumerate() {
                for (a, action) in stage.actions.iter().enumerate() {
                    if action.awaiting_approval && action.status == Some(ActionStatus::InProgress) {
                        keys.push(ActionKey {
                            execution: execution.id.clone(),
                            stage: s,
                            action: a,
                        });
                    }
                }
            }
        }
        keys.sort();
        keys
    }
}
