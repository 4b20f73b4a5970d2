//! Stopping an execution. Stop-and-wait lets the running actions finish
//! and starts nothing new (`Stopping`, then `Stopped`); stop-and-abandon
//! marks the running actions `Abandoned` at once (`Stopped`). An execution
//! waiting between stages just stops.

use super::command::CommandError;
use super::machine::{Effect, Machine};
use crate::records::*;
use crate::sandbox::{Failure, FailureKind};

impl Machine {
    /// Stops an execution.
    pub fn stop(
        &mut self,
        id: &str,
        mode: StopMode,
        reason: Option<String>,
    ) -> Result<(), CommandError> {
        let execution = self
            .executions
            .get(id)
            .ok_or_else(|| CommandError::UnknownExecution {
                execution: id.to_string(),
            })?;
        if execution.status.is_terminal() {
            return Err(CommandError::AlreadyEnded {
                execution: id.to_string(),
                status: execution.status.as_str().to_string(),
            });
        }
        if execution.status == ExecutionStatus::Stopping && mode == StopMode::Wait {
            return Ok(());
        }
        let position = execution
            .position
            .expect("running executions have a position");
        let pipeline = execution.pipeline.clone();
        let stage_name = execution.stages[position.stage].name.clone();
        if position.waiting {
            self.slot(&pipeline, &stage_name).stop_waiting(id);
            let reason = reason.or_else(|| {
                Some(format!(
                    "stopped while waiting in front of stage `{stage_name}`"
                ))
            });
            self.finish_execution(id, ExecutionStatus::Stopped, reason);
            return Ok(());
        }
        {
            let execution = self.executions.get_mut(id).unwrap();
            execution.stop = Some(StopRequest {
                mode,
                reason: reason.clone(),
            });
            execution.status = ExecutionStatus::Stopping;
            execution.stages[position.stage].status = Some(StageStatus::Stopping);
        }
        self.touch_stage(id, position.stage);
        if mode == StopMode::Abandon {
            self.abandon_running(id, position.stage, reason.as_deref());
        }
        self.evaluate_stage(id, position.stage);
        Ok(())
    }

    /// Marks every in-progress action of a stage abandoned, cancelling
    /// calls under way.
    fn abandon_running(&mut self, id: &str, stage: usize, reason: Option<&str>) {
        let count = self.executions[id].stages[stage].actions.len();
        for action in 0..count {
            let key = ActionKey {
                execution: id.to_string(),
                stage,
                action,
            };
            let run = self.action_mut(&key).unwrap();
            if run.status != Some(ActionStatus::InProgress) {
                continue;
            }
            if run.running {
                let token = run.token;
                self.effects.push(Effect::Cancel {
                    key: key.clone(),
                    token,
                });
            }
            let failure = Failure {
                kind: FailureKind::JobFailed,
                message: match reason {
                    Some(r) => format!("abandoned: the execution was stopped ({r})"),
                    None => "abandoned: the execution was stopped".to_string(),
                },
            };
            self.end_attempt(&key, ActionStatus::Abandoned, failure);
        }
    }
}
