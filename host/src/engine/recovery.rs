//! Recovery: a new engine on the same state continues what a dead one left.
//! Executions waiting stay waiting; in-progress actions between calls keep
//! their timers (an approval keeps waiting); an action whose call was under
//! way when the host died is run again as its next attempt, with the same
//! continuation token; the interrupted attempt is recorded as abandoned.
//! Nothing is left in progress forever.

use super::machine::Machine;
use super::progression::Carry;
use crate::records::*;
use crate::sandbox::{Failure, FailureKind};

impl Machine {
    /// Loads a running execution, as stored, before [`Machine::resume`].
    pub fn restore(&mut self, execution: Execution) {
        self.next_seq = self.next_seq.max(execution.seq + 1);
        for run in &execution.stages {
            if let Some(entry) = run.entered_seq {
                self.next_entry = self.next_entry.max(entry + 1);
            }
        }
        if let Some(position) = execution.position {
            let stage = execution.stages[position.stage].name.clone();
            let id = execution.id.clone();
            let seq = execution.seq;
            let pipeline = execution.pipeline.clone();
            if self.pipelines.contains_key(&pipeline) {
                self.slot(&pipeline, &stage)
                    .restore(&id, seq, position.waiting);
            }
        }
        self.executions.insert(execution.id.clone(), execution);
    }

    /// Records which execution entered a stage last (kept across restarts
    /// so that only it may retry the stage).
    pub fn restore_latest_entry(
        &mut self,
        pipeline: &str,
        stage: &str,
        entry: u64,
        execution: &str,
    ) {
        self.next_entry = self.next_entry.max(entry + 1);
        if self.pipelines.contains_key(pipeline) {
            self.slot(pipeline, stage).restore_latest(entry, execution);
        }
    }

    /// Keeps start order numbers above those already used.
    pub fn restore_seq(&mut self, last_seq: u64) {
        self.next_seq = self.next_seq.max(last_seq + 1);
    }

    /// Continues every restored execution: re-runs interrupted calls, arms
    /// timers, re-checks stages and lets waiting executions in.
    pub fn resume(&mut self) {
        let mut ids: Vec<(u64, ExecutionId)> = self
            .executions
            .values()
            .filter(|e| !e.status.is_terminal())
            .map(|e| (e.seq, e.id.clone()))
            .collect();
        ids.sort();
        for (_, id) in &ids {
            let Some(position) = self.executions[id].position else {
                continue;
            };
            if position.waiting {
                continue;
            }
            let stage = position.stage;
            let count = self.executions[id].stages[stage].actions.len();
            for action in 0..count {
                let key = ActionKey {
                    execution: id.clone(),
                    stage,
                    action,
                };
                let run = &self.executions[id].stages[stage].actions[action];
                if run.status != Some(ActionStatus::InProgress) {
                    continue;
                }
                if run.running {
                    // The call was under way when the host died: close that
                    // attempt and run the next one with the same token.
                    self.run_again(&key, "the host stopped");
                } else {
                    self.arm_timer(&key);
                }
            }
            self.touch(id);
            self.evaluate_stage(id, stage);
        }
        // Let waiting executions in where stages are free.
        let stages: Vec<(String, String)> = self
            .pipelines
            .iter()
            .flat_map(|(p, slot)| slot.stage_names().map(move |s| (p.clone(), s.clone())))
            .collect();
        for (pipeline, stage) in stages {
            self.admit(&pipeline, &stage);
        }
        self.tick();
    }

    /// Runs the call under way of action `key` again as a new attempt, when
    /// `token` is still its call: the host running it stopped (its worker
    /// stopped beating). The attempt is closed as abandoned, saying `why`.
    pub fn interrupted(&mut self, key: &ActionKey, token: u64, why: &str) {
        let Some(run) = self
            .executions
            .get(&key.execution)
            .and_then(|e| e.stages.get(key.stage))
            .and_then(|s| s.actions.get(key.action))
        else {
            return;
        };
        if run.status != Some(ActionStatus::InProgress) || !run.running || run.token != token {
            return;
        }
        self.run_again(key, why);
        self.touch(&key.execution);
    }

    /// Closes the attempt under way of action `key` as abandoned and starts
    /// the next, carrying its continuation, approval and deadline.
    fn run_again(&mut self, key: &ActionKey, why: &str) {
        let run = &self.executions[&key.execution].stages[key.stage].actions[key.action];
        let mut closed = run.clone();
        closed.status = Some(ActionStatus::Abandoned);
        closed.running = false;
        closed.ended_at = Some(self.now);
        closed.error = Some(Failure {
            kind: FailureKind::SystemUnavailable,
            message: format!(
                "{why} while attempt {} ran; it runs again as attempt {}",
                closed.attempt,
                closed.attempt + 1
            ),
        });
        let carry = Carry {
            continuation: closed.continuation.clone(),
            approval: closed.approval.clone(),
            deadline_at: closed.deadline_at,
        };
        self.changes.closed_attempts.push((key.clone(), closed));
        self.start_action(key, Some(carry));
    }
}
