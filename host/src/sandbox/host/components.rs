//! `sluice:provider/components`: running other components found inside the
//! job, each in its own sandbox with nothing granted and the calling
//! action's deadline.

use super::context::{JobContext, MAX_DEPTH};
use crate::sandbox::bindings::sluice::provider::components::{CommandExit, Host};
use crate::sandbox::bindings::sluice::provider::types as wit;
use crate::sandbox::{ComponentSource, Limits, Outcome};
use std::sync::Arc;
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
        let host = self
            .ctx
            .mounts
            .to_host(path)
            .ok_or_else(|| format!("`{path}` is not inside the job (use /inputs/NAME/..., /paths/NAME/... or /scratch/...)"))?;
        let mut source = ComponentSource::from_file(&host).map_err(|e| e.to_string())?;
        source.name = path.to_string();
        Ok(source)
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
            .run_command(&source, &args, &self.limits(), &self.ctx.log)
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
        // The component runs on the same artifacts, with nothing granted.
        job.grants = Default::default();
        job.continuation = None;
        let report = provider
            .run_nested(&job, &self.limits(), &self.ctx.log, self.ctx.depth + 1)
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
