//! Superseding (the default mode): at most one execution waits in front of
//! a stage. When another arrives, the newer of them (the one that started
//! later) stays and the older becomes `Superseded`. It happens only between
//! stages: an execution inside a stage is never superseded.

use super::machine::Machine;
use crate::records::ExecutionStatus;

impl Machine {
    /// Keeps only the newest execution waiting in front of `stage`.
    pub(super) fn supersede_waiting(&mut self, pipeline: &str, stage: &str) {
        let Some((newest, older)) = self.slot(pipeline, stage).keep_newest_waiting() else {
            return;
        };
        for id in older {
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
