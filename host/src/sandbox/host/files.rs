//! `sluice:provider/files`: copies within the job's folders, done by the
//! host so that permission bits (the executable bit above all) survive.
//!
//! Both paths are resolved inside the job's folders through capability
//! roots ([`crate::contain`]): `..` is refused, and a symbolic link that
//! leads out of its folder (or a chain of links that does) is never
//! followed. The copy runs on the calling thread, so it ends with the call:
//! it stops at the action's deadline and within the action's output caps,
//! and nothing is written after the call returned.

use super::context::JobContext;
use crate::contain::BudgetError;
use crate::contain::copy::{self, CopyError};
use crate::sandbox::bindings::sluice::provider::files::{CopyStats, Host};
use std::sync::Arc;
use wasmtime::component::HasData;

/// The slice of a job's state the `files` interface reaches.
pub(crate) struct FilesHost {
    pub(crate) ctx: Arc<JobContext>,
}

/// Names the `files` interface's view for the linker.
pub(crate) struct FilesInterface;

impl HasData for FilesInterface {
    type Data<'a> = &'a mut FilesHost;
}

impl Host for FilesHost {
    async fn copy(&mut self, from: String, to: String) -> Result<CopyStats, String> {
        let shown_from = from.escape_debug().to_string();
        let shown_to = to.escape_debug().to_string();
        let source = self.ctx.mounts.locate(&from)?;
        let target = self.ctx.mounts.locate(&to)?;
        if !target.binding.writable {
            return Err(format!(
                "`{shown_to}` is not in a writable folder (use /scratch, /outputs/NAME or a read-write /paths/NAME)"
            ));
        }
        let ctx = self.ctx.clone();
        let run = move || -> Result<CopyStats, String> {
            let opened = |located: &super::context::Located| {
                located.root().map_err(|e| {
                    format!(
                        "cannot open `{}`: {}",
                        located.binding.guest,
                        crate::contain::describe(&e)
                    )
                })
            };
            let source_root = opened(&source)?;
            let target_root = opened(&target)?;
            let mut budget = ctx.copies.lock().unwrap();
            copy::copy(
                &source_root,
                &source.relative,
                &target_root,
                &target.relative,
                &mut budget,
            )
            .map(|stats| CopyStats {
                files: stats.files,
                bytes: stats.bytes,
                links: stats.links,
                skipped_links: stats.skipped_links,
            })
            .map_err(|error| match error {
                CopyError::Budget(BudgetError::Deadline) => format!(
                    "copying `{shown_from}` to `{shown_to}` stopped: the action's deadline passed"
                ),
                other => format!("copying `{shown_from}` to `{shown_to}`: {other}"),
            })
        };
        on_this_thread(run)
    }
}

/// Runs blocking file work on the calling thread, telling a multi-threaded
/// runtime to move its other tasks elsewhere meanwhile. The work is never
/// handed to another thread, so it cannot outlive the call that asked for
/// it.
pub(crate) fn on_this_thread<T>(work: impl FnOnce() -> T) -> T {
    match tokio::runtime::Handle::try_current() {
        Ok(handle) if handle.runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread => {
            tokio::task::block_in_place(work)
        }
        _ => work(),
    }
}

/// Links the `files` interface.
pub(crate) fn link(
    linker: &mut wasmtime::component::Linker<crate::sandbox::call::JobState>,
) -> wasmtime::Result<()> {
    crate::sandbox::bindings::sluice::provider::files::add_to_linker::<_, FilesInterface>(
        linker,
        |state| &mut state.files,
    )
}
