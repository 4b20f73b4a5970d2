//! `sluice:provider/components`: running other components found inside the
//! job, each in its own sandbox with the calling action's deadline, memory
//! budget and output caps (one budget for the action, however deep). A
//! command component gets no folders at all; a provider component gets the
//! job's artifacts and scratch folder, the granted folders read-only, and no
//! grant (no programs, network or secrets).

use super::context::{JobContext, MAX_DEPTH};
use crate::sandbox::bindings::sluice::provider::components::{CommandExit, Host};
use crate::sandbox::bindings::sluice::provider::types as wit;
use crate::sandbox::{ComponentSource, Limits, Outcome};
use std::sync::Arc;

/// The largest component file a provider may run (a Python component with
/// its interpreter is about 20 MiB).
const MAX_COMPONENT_BYTES: u64 = 256 << 20;
use wasmtime::component::HasData;

/// The slice of a job's state the `components` interface reaches.
pub(crate) struct ComponentsHost {
    pub(crate) ctx: Arc<JobContext>,
}

/// Names the `components` interface's view for the linker.
pub(crate) struct ComponentsInterface;

impl HasData for ComponentsInterface {
    type Data<'a> = &'a mut ComponentsHost;
}

impl ComponentsHost {
    fn source(&self, path: &str) -> Result<ComponentSource, String> {
        if self.ctx.depth >= MAX_DEPTH {
            return Err(format!(
                "components may run components only {MAX_DEPTH} deep"
            ));
        }
        let located = self.ctx.mounts.locate(path)?;
        let shown = path.escape_debug().to_string();
        let bytes = super::files::on_this_thread(|| -> std::io::Result<Vec<u8>> {
            use std::io::Read;
            let root = located.root()?;
            let file = root.open_file_inside(&located.relative)?;
            let size = file.metadata()?.len();
            if size > MAX_COMPONENT_BYTES {
                return Err(std::io::Error::other(format!(
                    "it is {}, over the limit of {} for a component",
                    crate::units::format_bytes(size),
                    crate::units::format_bytes(MAX_COMPONENT_BYTES)
                )));
            }
            let mut bytes = Vec::with_capacity(size as usize);
            file.take(MAX_COMPONENT_BYTES).read_to_end(&mut bytes)?;
            Ok(bytes)
        })
        .map_err(|e| format!("cannot read `{shown}`: {}", crate::contain::describe(&e)))?;
        Ok(ComponentSource {
            name: path.to_string(),
            bytes: std::borrow::Cow::Owned(bytes),
            sha256: None,
        })
    }

    fn limits(&self) -> Limits {
        Limits {
            deadline: Some(self.ctx.deadline),
            ..self.ctx.limits.clone()
        }
    }
}

impl Host for ComponentsHost {
    async fn run_command(
        &mut self,
        path: String,
        args: Vec<String>,
    ) -> Result<CommandExit, String> {
        let source = self.source(&path)?;
        let exit = self
            .ctx
            .sandbox
            .run_command(&source, &args, &self.limits(), &self.ctx.log, &self.ctx)
            .await
            .map_err(|e| e.to_string())?;
        Ok(CommandExit {
            success: exit.success,
            output_tail: exit.output_tail,
            duration_ms: exit.duration.as_millis() as u64,
        })
    }

    async fn run_provider(
        &mut self,
        path: String,
        configuration: Vec<(String, String)>,
    ) -> Result<wit::Outcome, String> {
        let source = self.source(&path)?;
        let sandbox = self.ctx.sandbox.clone();
        let (provider, _) = tokio::task::spawn_blocking(move || sandbox.load(&source))
            .await
            .map_err(|e| e.to_string())?
            .map_err(|e| e.to_string())?;
        let mut job = self.ctx.job.clone().ok_or("no job to run a provider on")?;
        job.configuration = configuration;
        // The component runs on the same artifacts (inputs read-only,
        // outputs and scratch read-write) and sees the granted folders
        // read-only; it is granted nothing else: no programs, no network,
        // no secrets.
        job.grants = Default::default();
        for mount in &mut job.mounts {
            mount.writable = false;
        }
        job.continuation = None;
        let report = provider
            .run_nested(&job, &self.limits(), &self.ctx.log, Some(&self.ctx))
            .await
            .map_err(|e| e.to_string())?;
        Ok(match report.outcome {
            Outcome::Succeeded {
                summary,
                revision,
                variables,
            } => wit::Outcome::Succeeded(wit::Success {
                summary,
                revision,
                output_variables: variables,
            }),
            Outcome::Failed(f) => wit::Outcome::Failed(wit::Failure {
                kind: match f.kind {
                    crate::sandbox::FailureKind::JobFailed => wit::FailureKind::JobFailed,
                    crate::sandbox::FailureKind::ConfigurationError => {
                        wit::FailureKind::ConfigurationError
                    }
                    crate::sandbox::FailureKind::PermissionError => {
                        wit::FailureKind::PermissionError
                    }
                    crate::sandbox::FailureKind::RevisionUnavailable => {
                        wit::FailureKind::RevisionUnavailable
                    }
                    crate::sandbox::FailureKind::SystemUnavailable => {
                        wit::FailureKind::SystemUnavailable
                    }
                },
                message: f.message,
            }),
            Outcome::InProgress {
                continuation,
                recheck_after,
                summary,
                percent_complete,
            } => wit::Outcome::InProgress(wit::Pending {
                continuation,
                recheck_after_ms: recheck_after.as_millis().min(u32::MAX as u128) as u32,
                summary,
                percent_complete,
            }),
        })
    }
}

/// Links the `components` interface.
pub(crate) fn link(
    linker: &mut wasmtime::component::Linker<crate::sandbox::call::JobState>,
) -> wasmtime::Result<()> {
    crate::sandbox::bindings::sluice::provider::components::add_to_linker::<_, ComponentsInterface>(
        linker,
        |state| &mut state.components,
    )
}
