//! WASI command components (`wasi:cli/run`) that a provider runs through
//! the `components` interface: arguments and nothing else (no folders, no
//! environment, no grants), on the calling job's memory budget.

use super::call::{crash_message, new_store, within};
use super::host::context::{JobContext, JobMounts};
use super::*;
use std::time::Instant;
use wasmtime_wasi::WasiCtxBuilder;

/// How a command component ended.
#[derive(Debug, Clone)]
pub struct CommandExit {
    /// Whether it exited successfully.
    pub success: bool,
    /// The last lines of its output (at most 4 KiB).
    pub output_tail: String,
    /// How long it took.
    pub duration: Duration,
}

impl Sandbox {
    /// Runs a WASI command component (`wasi:cli/run`) with `args` and
    /// nothing else: no folders, no environment, no grants. Its output goes
    /// to `log`; the deadline and memory limit of `limits` apply.
    pub(crate) async fn run_command(
        &self,
        source: &ComponentSource,
        args: &[String],
        limits: &Limits,
        log: &ActionLog,
        parent: &JobContext,
    ) -> Result<CommandExit, SandboxError> {
        let started = Instant::now();
        let sandbox = self.clone();
        let owned = source.clone();
        let (component, _, _) = tokio::task::spawn_blocking(move || {
            let sha256 = owned.digest();
            sandbox.component(&owned, &sha256)
        })
        .await
        .map_err(|e| SandboxError::Engine(format!("loading a component panicked: {e}")))??;
        let pre = self
            .shared
            .linker
            .instantiate_pre(&component)
            .map_err(|e| SandboxError::Compile {
                provider: source.name.clone(),
                message: format!("{e:#}"),
            })?;
        let command = wasmtime_wasi::p2::bindings::CommandPre::new(pre).map_err(|e| {
            SandboxError::NotAProvider {
                provider: source.name.clone(),
                message: format!(
                    "it is not a WASI command (it does not export wasi:cli/run): {e:#}"
                ),
            }
        })?;
        let tail = stdio::Tail::default();
        let mut builder = WasiCtxBuilder::new();
        builder
            .stdout(stdio::LogStream::new(log.clone(), LogSource::Stdout).with_tail(tail.clone()))
            .stderr(stdio::LogStream::new(log.clone(), LogSource::Stderr).with_tail(tail.clone()))
            .allow_blocking_current_thread(true);
        let mut argv = vec![source.name.clone()];
        argv.extend(args.iter().cloned());
        builder.args(&argv);
        let ctx = JobContext {
            action: source.name.clone(),
            mounts: JobMounts::default(),
            grants: Grants::default(),
            deadline: limits.call_deadline(),
            log: log.clone(),
            settings: self.shared.process.clone(),
            sandbox: self.clone(),
            limits: limits.clone(),
            job: None,
            depth: host::context::MAX_DEPTH,
            memory: parent.memory.clone(),
            copies: parent.copies.clone(),
            programs: Default::default(),
        };
        let mut store = new_store(&self.shared.engine, builder.build(), limits, log, ctx);
        let _slot = self
            .shared
            .slots
            .clone()
            .acquire_owned()
            .await
            .expect("the instance semaphore is never closed");
        let result = within(limits.call_deadline(), async {
            let instance = command.instantiate_async(&mut store).await?;
            instance.wasi_cli_run().call_run(&mut store).await
        })
        .await;
        log.flush();
        let success = match result {
            Ok(Ok(())) => true,
            Ok(Err(())) => false,
            Err(error) => match error.downcast_ref::<wasmtime_wasi::I32Exit>() {
                Some(exit) => exit.0 == 0,
                None => {
                    let message = crash_message(&error, store.data(), limits, log);
                    log.host_line(&format!(
                        "{}: {}",
                        crate::text::line(&source.name),
                        crate::text::line(&message)
                    ));
                    false
                }
            },
        };
        Ok(CommandExit {
            success,
            output_tail: log.redacted(&tail.text()),
            duration: started.elapsed(),
        })
    }
}
