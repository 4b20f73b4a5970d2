//! Superseding (the default mode): at most one execution waits in front of
//! a stage. When another arrives, the newer of them (the one that started
//! later) stays and the older becomes `Superseded`. It happens only between
//! stages: an execution inside a stage is never superseded, and neither is
//! one that started under another mode (it keeps its version's rules).

use super::machine::Machine;
use crate::model::ExecutionMode;
use crate::records::ExecutionStatus;

impl Machine {
    /// Keeps only the newest execution waiting in front of `stage`.
    pub(super) fn supersede_waiting(&mut self, pipeline: &str, stage: &str) {
        let Some((newest, older)) = self.slot(pipeline, stage).newest_waiting() else {
            return;
        };
        for id in older {
            if self.mode_of(&id) != ExecutionMode::Superseded {
                continue;
            }
            self.slot(pipeline, stage).stop_waiting(&id);
            self.finish_execution(
                &id,
                ExecutionStatus::Superseded,
                Some(format!(
                    "superseded by execution {newest} while waiting in front of stage `{stage}`"
                )),
            );
        }
    }
}
