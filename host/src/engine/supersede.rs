//! Superseding (the default mode): at most one execution waits in front of
//! a stage. When another arrives, the newer of them (the one that started
//! later) stays and the older becomes `Superseded`. It happens only between
//! stages: an execution inside a stage is never superseded.

use super::machine::Machine;
use crate::records::ExecutionStatus;

impl Machine {
    /// Keeps only the newest execution waiting in front of `stage`.
    pub(super) fn supersede_waiting(&mut self, pipeline: &str, stage: &str) {
        let slot = self.slot(pipeline, stage);
        if slot.waiting.len() <= 1 {
            return;
        }
        // `waiting` is sorted by start order: the last one is the newest.
        let newest = slot.waiting.pop().expect("more than one");
        let older: Vec<_> = std::mem::take(&mut slot.waiting);
        slot.waiting.push(newest.clone());
        for (_, id) in older {
            self.finish_execution(
                &id,
                ExecutionStatus::Superseded,
                Some(format!(
                    "superseded by execution {} while waiting in front of stage `{stage}`",
                    newest.1
                )),
            );
        }
    }
}
