//! Stage locks and the inbound execution, in the three execution modes.
//!
//! - A stage holds at most one execution at a time (`superseded` and
//!   `queued` modes); in `parallel` mode stages are not locked.
//! - An execution that finds the next stage locked, or its transition
//!   disabled, waits in front of it: it is the stage's inbound execution.
//!   In `superseded` mode at most one waits (see [`super::supersede`]); in
//!   `queued` mode they wait in the order they started.
//! - A failed, stopped or finished execution releases the stage's lock,
//!   and the next waiting execution goes in.

use super::machine::Machine;
use crate::model::ExecutionMode;
use crate::records::*;
use std::collections::HashMap;

/// What the engine tracks per pipeline besides executions.
#[derive(Debug, Clone)]
pub struct PipelineSlot {
    /// The version new executions run.
    pub current: SharedVersion,
    /// Per stage name: who holds it and who waits.
    stages: HashMap<String, StageSlot>,
    /// Per stage name: its inbound transition, when it was ever changed.
    pub transitions: HashMap<String, TransitionState>,
}

impl PipelineSlot {
    /// A slot for a pipeline whose current version is `current`.
    pub fn new(current: SharedVersion) -> Self {
        PipelineSlot {
            current,
            stages: HashMap::new(),
            transitions: HashMap::new(),
        }
    }

    /// The pipeline's execution mode (the current version's).
    pub fn mode(&self) -> ExecutionMode {
        self.current.mode()
    }

    /// Whether executions may pass into `stage`.
    pub fn transition_enabled(&self, stage: &str) -> bool {
        self.transitions.get(stage).is_none_or(|t| t.enabled)
    }

    /// A stage's lock, when anyone ever entered or waited.
    pub fn stage(&self, name: &str) -> Option<&StageSlot> {
        self.stages.get(name)
    }

    /// The stages anyone ever entered or waited in front of.
    pub fn stage_names(&self) -> impl Iterator<Item = &String> {
        self.stages.keys()
    }
}

/// One stage's lock and the executions waiting in front of it.
#[derive(Debug, Clone, Default)]
pub struct StageSlot {
    /// Executions inside the stage: at most one unless in parallel mode.
    holders: Vec<ExecutionId>,
    /// Executions waiting in front of it, by start order (oldest first).
    waiting: Vec<(u64, ExecutionId)>,
    /// The execution that entered last, and its entry number. Only it may
    /// retry the stage.
    latest: Option<(u64, ExecutionId)>,
}

impl StageSlot {
    /// Whether the stage admits no one else now.
    pub fn is_locked(&self, mode: ExecutionMode) -> bool {
        mode != ExecutionMode::Parallel && !self.holders.is_empty()
    }

    /// The execution holding the stage, when it is locked.
    pub fn holder(&self, mode: ExecutionMode) -> Option<&ExecutionId> {
        self.holders.first().filter(|_| self.is_locked(mode))
    }

    /// The execution that entered the stage last.
    pub fn latest(&self) -> Option<&ExecutionId> {
        self.latest.as_ref().map(|(_, id)| id)
    }

    /// The newest waiting execution (by start order), and the older ones.
    pub(super) fn newest_waiting(&self) -> Option<(ExecutionId, Vec<ExecutionId>)> {
        let (newest, older) = self.waiting.split_last()?;
        Some((
            newest.1.clone(),
            older.iter().map(|(_, id)| id.clone()).collect(),
        ))
    }

    /// An execution no longer waits in front of the stage.
    pub(super) fn stop_waiting(&mut self, id: &str) {
        self.waiting.retain(|(_, w)| w != id);
    }

    /// Puts back an execution as the store had it: inside the stage, or
    /// waiting (`seq` is its start order).
    pub(super) fn restore(&mut self, id: &str, seq: u64, waiting: bool) {
        if waiting {
            if !self.waiting.iter().any(|(_, w)| w == id) {
                self.waiting.push((seq, id.to_string()));
                self.waiting.sort();
            }
        } else if !self.holders.iter().any(|h| h == id) {
            self.holders.push(id.to_string());
        }
    }

    /// Records an entry into the stage (its number, who), kept when it is
    /// the latest.
    pub(super) fn restore_latest(&mut self, entry: u64, id: &str) {
        if self.latest.as_ref().is_none_or(|(e, _)| *e < entry) {
            self.latest = Some((entry, id.to_string()));
        }
    }
}

/// What an execution entering a stage keeps of an earlier run of it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Keep {
    /// Nothing: every action runs (a first entry, or a retry of all).
    Nothing,
    /// Actions that succeeded (a retry of the failed ones).
    Succeeded,
}

impl Machine {
    pub(super) fn slot(&mut self, pipeline: &str, stage: &str) -> &mut StageSlot {
        self.pipelines
            .get_mut(pipeline)
            .expect("executions belong to known pipelines")
            .stages
            .entry(stage.to_string())
            .or_default()
    }

    /// An execution waiting in front of a stage tries to go in: it enters
    /// when the transition is enabled and the stage is not locked, and
    /// otherwise waits.
    pub(super) fn try_enter(&mut self, id: &str) {
        let Some(execution) = self.executions.get(id) else {
            return;
        };
        let Some(position) = execution.position.filter(|p| p.waiting) else {
            return;
        };
        let stage = execution.stages[position.stage].name.clone();
        let pipeline = execution.pipeline.clone();
        let mode = self.mode_of(id);
        let slot = &self.pipelines[&pipeline];
        let open = position.stage == 0 || slot.transition_enabled(&stage);
        let locked = slot.stages.get(&stage).is_some_and(|s| s.is_locked(mode));
        // Executions that were waiting first go first (queued mode).
        let queue_ahead = mode == ExecutionMode::Queued
            && slot.stages.get(&stage).is_some_and(|s| {
                s.waiting
                    .iter()
                    .any(|(seq, w)| w != id && *seq < execution.seq)
            });
        if open && !locked && !queue_ahead {
            self.enter(id, position.stage, Keep::Nothing);
        } else {
            self.wait(id, &pipeline, &stage);
        }
    }

    /// Puts an execution in front of a stage, applying the mode's rule for
    /// who else may wait there.
    fn wait(&mut self, id: &str, pipeline: &str, stage: &str) {
        let seq = self.executions[id].seq;
        let slot = self.slot(pipeline, stage);
        if !slot.waiting.iter().any(|(_, w)| w == id) {
            slot.waiting.push((seq, id.to_string()));
            slot.waiting.sort();
        }
        if self.mode_of(id) == ExecutionMode::Superseded {
            self.supersede_waiting(pipeline, stage);
        }
        self.touch(id);
    }

    /// Moves an execution into a stage (for the first time, or again for a
    /// retry) and starts its first run order not yet done: the stage's
    /// lock taken, a new stage attempt with a new entry number, its actions
    /// reset but for what `keep` says.
    pub(super) fn enter(&mut self, id: &str, stage_index: usize, keep: Keep) {
        let now = self.now;
        let entry = self.next_entry;
        self.next_entry += 1;
        let (pipeline, stage) = {
            let execution = self.executions.get_mut(id).unwrap();
            execution.position = Some(Position {
                stage: stage_index,
                waiting: false,
            });
            let run = &mut execution.stages[stage_index];
            run.status = Some(StageStatus::InProgress);
            run.attempt += 1;
            run.entered_seq = Some(entry);
            run.started_at = Some(now);
            run.ended_at = None;
            for action in &mut run.actions {
                let kept =
                    keep == Keep::Succeeded && action.status == Some(ActionStatus::Succeeded);
                if !kept {
                    action.reset();
                }
            }
            (execution.pipeline.clone(), run.name.clone())
        };
        let slot = self.slot(&pipeline, &stage);
        slot.waiting.retain(|(_, w)| w != id);
        if !slot.holders.iter().any(|h| h == id) {
            slot.holders.push(id.to_string());
        }
        slot.latest = Some((entry, id.to_string()));
        self.touch_stage(id, stage_index);
        let keys: Vec<ActionKey> = (0..self.executions[id].stages[stage_index].actions.len())
            .map(|action| ActionKey {
                execution: id.to_string(),
                stage: stage_index,
                action,
            })
            .collect();
        for key in keys {
            self.changes.actions.insert(key);
        }
        self.start_next_run_order(id, stage_index);
    }

    /// An execution leaves a stage: its lock is released and the next
    /// waiting execution goes in.
    pub(super) fn release(&mut self, id: &str, pipeline: &str, stage: &str) {
        let slot = self.slot(pipeline, stage);
        slot.holders.retain(|h| h != id);
        slot.waiting.retain(|(_, w)| w != id);
        self.admit(pipeline, stage);
    }

    /// Lets waiting executions into a stage while it has room (each by the
    /// rules of its own execution mode).
    pub(super) fn admit(&mut self, pipeline: &str, stage: &str) {
        loop {
            let Some(slot) = self.pipelines.get(pipeline) else {
                return;
            };
            let Some(stage_slot) = slot.stages.get(stage) else {
                return;
            };
            // Superseded mode keeps one waiting; queued mode takes the
            // oldest; parallel mode lets every one in.
            let Some((_, next)) = stage_slot.waiting.first().cloned() else {
                return;
            };
            let Some(position) = self.executions.get(&next).and_then(|e| e.position) else {
                self.slot(pipeline, stage)
                    .waiting
                    .retain(|(_, w)| w != &next);
                continue;
            };
            let slot = &self.pipelines[pipeline];
            if slot.stages[stage].is_locked(self.mode_of(&next)) {
                return;
            }
            if position.stage > 0 && !slot.transition_enabled(stage) {
                return;
            }
            self.enter(&next, position.stage, Keep::Nothing);
        }
    }
}
