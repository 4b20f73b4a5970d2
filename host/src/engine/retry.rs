//! Retrying a failed or stopped stage: its failed actions only (succeeded
//! ones keep their results) or all of them. Refused, with the reason, when
//! another execution entered the stage since (this one was superseded in
//! it), when the pipeline changed since the execution started, or when the
//! execution is still running (a retry is already under way).

use super::command::CommandError;
use super::machine::Machine;
use super::stage_lock::Keep;
use crate::records::*;

impl Machine {
    /// Loads a finished execution back into memory so it can be retried.
    pub fn restore_finished(&mut self, execution: Execution) {
        self.executions
            .entry(execution.id.clone())
            .or_insert(execution);
    }

    /// Retries `stage` of a failed or stopped execution.
    pub fn retry(&mut self, id: &str, stage: &str, mode: RetryMode) -> Result<(), CommandError> {
        let execution = self
            .executions
            .get(id)
            .ok_or_else(|| CommandError::UnknownExecution {
                execution: id.to_string(),
            })?;
        let index = execution
            .stages
            .iter()
            .position(|s| s.name == stage)
            .ok_or_else(|| CommandError::UnknownStage {
                pipeline: execution.pipeline.clone(),
                stage: stage.to_string(),
            })?;
        match execution.status {
            ExecutionStatus::Failed | ExecutionStatus::Stopped => {}
            ExecutionStatus::InProgress | ExecutionStatus::Stopping => {
                return Err(not_retryable(
                    id,
                    stage,
                    format!(
                        "execution {id} is still {}: a retry can start only once it has failed or stopped",
                        execution.status.as_str()
                    ),
                ));
            }
            ExecutionStatus::Succeeded => {
                return Err(not_retryable(
                    id,
                    stage,
                    format!("execution {id} succeeded: there is nothing to retry"),
                ));
            }
            ExecutionStatus::Superseded => {
                return Err(not_retryable(
                    id,
                    stage,
                    format!("execution {id} was superseded: start a new execution instead"),
                ));
            }
        }
        let run = &execution.stages[index];
        match run.status {
            Some(StageStatus::Failed) | Some(StageStatus::Stopped) => {}
            other => {
                return Err(not_retryable(
                    id,
                    stage,
                    format!(
                        "stage `{stage}` of execution {id} is {}: only a failed or stopped stage can be retried",
                        other.map(|s| s.as_str()).unwrap_or("not started")
                    ),
                ));
            }
        }
        let slot = self.pipelines.get(&execution.pipeline).ok_or_else(|| {
            CommandError::UnknownPipeline {
                pipeline: execution.pipeline.clone(),
            }
        })?;
        if let Some(latest) = slot.stage(stage).and_then(|s| s.latest())
            && latest != id
        {
            return Err(not_retryable(
                id,
                stage,
                format!(
                    "execution {latest} has entered stage `{stage}` since, superseding execution {id} there: only the latest execution of a stage can be retried"
                ),
            ));
        }
        if slot.current.version != execution.version {
            return Err(not_retryable(
                id,
                stage,
                format!(
                    "pipeline `{}` changed since execution {id} started (version {} then, {} now): start a new execution instead",
                    execution.pipeline, execution.version, slot.current.version
                ),
            ));
        }
        if let Some(holder) = slot.stage(stage).and_then(|s| s.holder(self.mode_of(id))) {
            return Err(not_retryable(
                id,
                stage,
                format!("stage `{stage}` is running execution {holder}"),
            ));
        }

        {
            let execution = self.executions.get_mut(id).unwrap();
            execution.status = ExecutionStatus::InProgress;
            execution.status_reason = None;
            execution.ended_at = None;
            execution.stop = None;
        }
        let keep = match mode {
            RetryMode::FailedActions => Keep::Succeeded,
            RetryMode::AllActions => Keep::Nothing,
        };
        self.enter(id, index, keep);
        self.touch(id);
        Ok(())
    }
}

/// A retry refused, and why.
fn not_retryable(execution: &str, stage: &str, reason: String) -> CommandError {
    CommandError::NotRetryable {
        execution: execution.to_string(),
        stage: stage.to_string(),
        reason,
    }
}
