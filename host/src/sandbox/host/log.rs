//! `sluice:provider/log`: providers append messages to their action's log.

use crate::sandbox::bindings::sluice::provider::log::{Host, Level};
use crate::sandbox::log::ActionLog;
use wasmtime::component::HasData;

/// The slice of a job's state the `log` interface reaches.
pub(crate) struct LogHost {
    pub(crate) log: ActionLog,
}

impl Host for LogHost {
    fn log(&mut self, level: Level, message: String) {
        let level = match level {
            Level::Trace => "trace",
            Level::Debug => "debug",
            Level::Info => "info",
            Level::Warn => "warn",
            Level::Error => "error",
        };
        self.log.message(level, &message);
    }
}

/// Names the `log` interface's view for the linker.
pub(crate) struct LogInterface;

impl HasData for LogInterface {
    type Data<'a> = &'a mut LogHost;
}

/// Links the `log` interface.
pub(crate) fn link(
    linker: &mut wasmtime::component::Linker<crate::sandbox::call::JobState>,
) -> wasmtime::Result<()> {
    crate::sandbox::bindings::sluice::provider::log::add_to_linker::<_, LogInterface>(
        linker,
        |state| &mut state.log,
    )
}
