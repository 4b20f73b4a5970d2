//! Transitions: the way into a stage (other than the first) can be
//! disabled, with a reason. Executions that reach a disabled transition
//! wait in front of the stage (superseding each other in the default mode,
//! queueing in queued mode, all waiting in parallel mode); enabling it lets
//! the waiting ones in, as the stage's lock allows.

use super::command::CommandError;
use super::machine::Machine;
use crate::records::*;

impl Machine {
    /// Enables or disables the transition into `stage` of `pipeline`.
    pub fn set_transition(
        &mut self,
        pipeline: &str,
        stage: &str,
        enabled: bool,
        reason: Option<String>,
        by: &str,
    ) -> Result<(), CommandError> {
        let slot =
            self.pipelines
                .get_mut(pipeline)
                .ok_or_else(|| CommandError::UnknownPipeline {
                    pipeline: pipeline.to_string(),
                })?;
        let stages = &slot.current.definition.stages;
        let index = stages.iter().position(|s| s.name == stage).ok_or_else(|| {
            CommandError::UnknownStage {
                pipeline: pipeline.to_string(),
                stage: stage.to_string(),
            }
        })?;
        if index == 0 {
            return Err(CommandError::NoTransition {
                pipeline: pipeline.to_string(),
                stage: stage.to_string(),
            });
        }
        slot.transitions.insert(
            stage.to_string(),
            TransitionState {
                pipeline: pipeline.to_string(),
                stage: stage.to_string(),
                enabled,
                reason,
                changed_by: Some(by.to_string()),
                changed_at: Some(self.now),
            },
        );
        self.changes
            .transitions
            .insert((pipeline.to_string(), stage.to_string()));
        if enabled {
            self.admit(pipeline, stage);
        }
        Ok(())
    }

    /// Restores a transition's state (when loading from the store).
    pub fn restore_transition(&mut self, transition: TransitionState) {
        if let Some(slot) = self.pipelines.get_mut(&transition.pipeline) {
            slot.transitions
                .insert(transition.stage.clone(), transition);
        }
    }

    /// The transitions of a pipeline that were ever changed.
    pub fn transitions(&self, pipeline: &str) -> Vec<TransitionState> {
        self.pipelines
            .get(pipeline)
            .map(|p| p.transitions.values().cloned().collect())
            .unwrap_or_default()
    }
}
