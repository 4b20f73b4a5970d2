//! `sluice:provider/process`: running a granted program on the host.
//!
//! The program runs isolated by the `sluice` binary itself (see
//! [`crate::sandbox::isolation`]): its own namespaces with the host's
//! top-level folders read-only, the state directory covered, the job's
//! folders bound at the same paths the provider sees them (`/scratch` and
//! `/outputs/<name>` writable, `/inputs/<name>` read-only, `/paths/<name>`
//! as granted), no network unless the action also has an `http` grant, no
//! capabilities, `no_new_privs`, a seccomp filter and resource limits. Its
//! environment is the grant's `env` plus what the provider sets, and `PATH`
//! (the host's search path) unless one of those sets it; nothing else from
//! the host. When its time limit passes, or its call is cut off, its whole
//! process tree is killed and the call returns.

use super::context::JobContext;
use crate::sandbox::bindings::sluice::provider::process::{Command, Error, ErrorKind, Exit, Host};
use crate::sandbox::isolation::{self, Ended};
use crate::sandbox::log::LogSource;
use sluice_isolate_protocol::{Bind, Spec};
use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::io::AsyncReadExt;
use wasmtime::component::HasData;

/// Bytes of output kept for `exit.output-tail`.
const TAIL_BYTES: usize = 4096;

/// How long the output streams may stay open once the program ended
/// (nothing of the tree is left to write to them by then).
const DRAIN: Duration = Duration::from_secs(2);

/// The slice of a job's state the `process` interface reaches.
pub(crate) struct ProcessHost {
    pub(crate) ctx: Arc<JobContext>,
}

/// Names the `process` interface's view for the linker.
pub(crate) struct ProcessInterface;

impl HasData for ProcessInterface {
    type Data<'a> = &'a mut ProcessHost;
}

fn error(kind: ErrorKind, message: impl Into<String>) -> Error {
    Error {
        kind,
        message: message.into(),
    }
}

impl Host for ProcessHost {
    async fn run(&mut self, command: Command) -> Result<Exit, Error> {
        let ctx = self.ctx.clone();
        let shown = command.program.escape_debug().to_string();
        let Some(grant) = &ctx.grants.process else {
            return Err(error(
                ErrorKind::NotGranted,
                format!(
                    "action `{}` may not run programs: add `grants: {{ process: {{ programs: [{shown}] }} }}` to it",
                    ctx.action
                ),
            ));
        };
        if !grant.programs.contains(&command.program) {
            return Err(error(
                ErrorKind::NotGranted,
                format!(
                    "action `{}` may not run `{shown}`: its process grant lists {}; add it to `grants.process.programs`",
                    ctx.action,
                    grant.programs.join(", ")
                ),
            ));
        }
        let Some(program) = ctx.settings.find(&command.program) else {
            return Err(error(
                ErrorKind::NotFound,
                format!("`{shown}` is granted but not installed on this host"),
            ));
        };
        let Some(program) =
            crate::sandbox::isolation::visible_program(&program, ctx.settings.isolation)
        else {
            return Err(error(
                ErrorKind::NotFound,
                format!(
                    "`{shown}` is found at {}, where isolated programs cannot see it (their /tmp and /run are their own): install it elsewhere",
                    crate::text::line(&program.display().to_string())
                ),
            ));
        };
        let cwd = command.cwd.clone().unwrap_or_else(|| "/scratch".into());
        ctx.mounts.locate(&cwd).map_err(|problem| {
            error(
                ErrorKind::Invalid,
                format!("working folder `{}`: {problem}", cwd.escape_debug()),
            )
        })?;
        let mut env: Vec<(String, String)> = grant.env.clone();
        env.extend(command.env.iter().cloned());
        if let Some((name, _)) = env
            .iter()
            .find(|(k, v)| k.is_empty() || k.contains(['=', '\0']) || v.contains('\0'))
        {
            return Err(error(
                ErrorKind::Invalid,
                format!(
                    "`{}` is not an environment variable name",
                    name.escape_debug()
                ),
            ));
        }
        if command.args.iter().any(|a| a.contains('\0')) {
            return Err(error(
                ErrorKind::Invalid,
                "an argument holds a NUL character",
            ));
        }
        // Tools run other tools (a compiler its linker): without a search
        // path they cannot. PATH is the one variable given by default.
        if !env.iter().any(|(k, _)| k == "PATH") {
            let path = std::env::join_paths(&ctx.settings.search_path)
                .map(|p| p.to_string_lossy().into_owned())
                .unwrap_or_default();
            env.push(("PATH".into(), path));
        }
        let spec = Spec {
            program: program.display().to_string(),
            args: command.args.clone(),
            env,
            cwd,
            binds: ctx
                .mounts
                .bindings()
                .into_iter()
                .map(|b| Bind {
                    // Bound from another process: absolute.
                    host: std::path::absolute(&b.host)
                        .unwrap_or(b.host)
                        .display()
                        .to_string(),
                    guest: b.guest,
                    writable: b.writable,
                    exact: b.granted,
                })
                .collect(),
            hide: ctx
                .job
                .iter()
                .flat_map(|j| j.hidden.iter())
                .filter_map(|h| h.canonicalize().ok())
                .map(|h| h.display().to_string())
                .collect(),
            network: ctx.grants.http.is_some(),
            limits: grant.limits,
        };

        // The earliest of the call's, the grant's and the action's limits.
        let mut limit = ctx.deadline.saturating_duration_since(Instant::now());
        if let Some(t) = grant.timeout {
            limit = limit.min(t);
        }
        if let Some(ms) = command.timeout_ms {
            limit = limit.min(Duration::from_millis(ms));
        }

        let started = Instant::now();
        let mut running = isolation::start(&spec, ctx.settings.isolation, &ctx.programs)
            .await
            .map_err(|e| error(ErrorKind::Failed, format!("cannot run `{shown}`: {e}")))?;
        let tail = Arc::new(Mutex::new(VecDeque::<u8>::new()));
        let pump = |mut stream: Box<dyn tokio::io::AsyncRead + Unpin + Send>, source: LogSource| {
            let log = ctx.log.clone();
            let tail = tail.clone();
            tokio::spawn(async move {
                let mut buffer = vec![0u8; 16 * 1024];
                while let Ok(n) = stream.read(&mut buffer).await {
                    if n == 0 {
                        break;
                    }
                    log.append(source, &buffer[..n]);
                    let mut tail = tail.lock().unwrap();
                    tail.extend(&buffer[..n]);
                    let excess = tail.len().saturating_sub(TAIL_BYTES);
                    tail.drain(..excess);
                }
            })
        };
        let out = running
            .stdout
            .take()
            .map(|s| pump(Box::new(s), LogSource::Stdout));
        let err = running
            .stderr
            .take()
            .map(|s| pump(Box::new(s), LogSource::Stderr));
        let ended = running
            .wait(limit)
            .await
            .map_err(|e| error(ErrorKind::Failed, format!("cannot run `{shown}`: {e}")))?;
        for pump in [out, err].into_iter().flatten() {
            let _ = tokio::time::timeout(DRAIN, pump).await;
        }
        let (code, timed_out) = match ended {
            Ended::Exited(code) => (Some(code), false),
            Ended::Signaled(_) => (None, false),
            Ended::TimedOut => {
                ctx.log.host_line(&format!(
                    "`{shown}` ran past its time limit of {} and was killed with every process it started",
                    crate::units::format_duration(limit)
                ));
                (None, true)
            }
        };
        let tail: Vec<u8> = tail.lock().unwrap().iter().copied().collect();
        let output_tail = ctx.log.redacted(&String::from_utf8_lossy(&tail));
        Ok(Exit {
            code,
            timed_out,
            output_tail,
            duration_ms: started.elapsed().as_millis() as u64,
        })
    }
}

/// Links the `process` interface.
pub(crate) fn link(
    linker: &mut wasmtime::component::Linker<crate::sandbox::call::JobState>,
) -> wasmtime::Result<()> {
    crate::sandbox::bindings::sluice::provider::process::add_to_linker::<_, ProcessInterface>(
        linker,
        |state| &mut state.process,
    )
}
