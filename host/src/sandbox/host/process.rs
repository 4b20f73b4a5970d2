//! `sluice:provider/process`: running a granted program on the host.
//!
//! With bubblewrap the program runs in a fresh mount namespace: the host's
//! top-level folders bound read-only, a private `/tmp`, `/dev` and `/proc`,
//! and the job's folders bound at the same paths the provider sees them
//! (`/scratch` and `/outputs/<name>` writable, `/inputs/<name>` read-only,
//! `/paths/<name>` as granted); its own process, IPC, UTS and user
//! namespaces; no network unless the action also has an `http` grant. Its
//! environment is the grant's `env` plus what the provider sets, and `PATH`
//! (the host's search path) unless one of those sets it; nothing else from
//! the host. Without bubblewrap it runs as a plain child process (the
//! log says so) with its working folder translated to the host path.

use super::context::JobContext;
use crate::sandbox::bindings::sluice::provider::process::{Command, Error, ErrorKind, Exit, Host};
use crate::sandbox::log::LogSource;
use std::collections::VecDeque;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::io::AsyncReadExt;
use wasmtime::component::HasData;

/// Bytes of output kept for `exit.output-tail`.
const TAIL_BYTES: usize = 4096;

/// The slice of a job's state the `process` interface reaches.
pub(crate) struct ProcessHost {
    pub(crate) ctx: Arc<JobContext>,
    pub(crate) warned_unsandboxed: bool,
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
        let Some(grant) = &ctx.grants.process else {
            return Err(error(
                ErrorKind::NotGranted,
                format!(
                    "action `{}` may not run programs: add `grants: {{ process: {{ programs: [{}] }} }}` to it",
                    ctx.action, command.program
                ),
            ));
        };
        if !grant.programs.contains(&command.program) {
            return Err(error(
                ErrorKind::NotGranted,
                format!(
                    "action `{}` may not run `{}`: its process grant lists {}; add it to `grants.process.programs`",
                    ctx.action,
                    command.program,
                    grant.programs.join(", ")
                ),
            ));
        }
        let Some(program) = ctx.settings.find(&command.program) else {
            return Err(error(
                ErrorKind::NotFound,
                format!(
                    "`{}` is granted but not installed on this host",
                    command.program
                ),
            ));
        };
        let cwd = command.cwd.clone().unwrap_or_else(|| "/scratch".into());
        let Some(host_cwd) = ctx.mounts.to_host(&cwd) else {
            return Err(error(
                ErrorKind::Invalid,
                format!(
                    "working folder `{cwd}` is not inside the job (use /scratch, /outputs/NAME, /inputs/NAME or /paths/NAME)"
                ),
            ));
        };
        let mut env: Vec<(String, String)> = grant.env.clone();
        env.extend(command.env.iter().cloned());
        // Tools run other tools (a compiler its linker): without a search
        // path they cannot. PATH is the one variable given by default.
        if !env.iter().any(|(k, _)| k == "PATH") {
            let path = std::env::join_paths(&ctx.settings.search_path)
                .map(|p| p.to_string_lossy().into_owned())
                .unwrap_or_default();
            env.push(("PATH".into(), path));
        }

        let mut process = match &ctx.settings.bubblewrap {
            Some(bwrap) => {
                let mut p = tokio::process::Command::new(bwrap);
                p.args(bubblewrap_args(&ctx, &cwd, &env, ctx.grants.http.is_some()));
                p.arg("--").arg(&program).args(&command.args);
                p
            }
            None => {
                if !self.warned_unsandboxed {
                    self.warned_unsandboxed = true;
                    ctx.log.append(
                        LogSource::Host,
                        b"[sluice] bubblewrap (bwrap) is not installed: programs run without a sandbox \
                          (they can write anywhere this user can and reach the network)\n",
                    );
                }
                let mut p = tokio::process::Command::new(&program);
                p.args(&command.args)
                    .current_dir(&host_cwd)
                    .env_clear()
                    .envs(env.iter().cloned());
                p.process_group(0);
                p
            }
        };
        process
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .kill_on_drop(true);
        let started = Instant::now();
        let mut child = process.spawn().map_err(|e| {
            error(
                ErrorKind::Failed,
                format!("cannot start `{}`: {e}", command.program),
            )
        })?;

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
        let out = pump(
            Box::new(child.stdout.take().expect("piped")),
            LogSource::Stdout,
        );
        let err = pump(
            Box::new(child.stderr.take().expect("piped")),
            LogSource::Stderr,
        );

        // The earliest of the call's, the grant's and the action's limits.
        let mut limit = ctx.deadline.saturating_duration_since(Instant::now());
        if let Some(t) = grant.timeout {
            limit = limit.min(t);
        }
        if let Some(ms) = command.timeout_ms {
            limit = limit.min(Duration::from_millis(ms));
        }
        let status = tokio::time::timeout(limit, child.wait()).await;
        let (code, timed_out) = match status {
            Ok(Ok(status)) => (status.code(), false),
            Ok(Err(e)) => {
                return Err(error(
                    ErrorKind::Failed,
                    format!("waiting for `{}`: {e}", command.program),
                ));
            }
            Err(_) => {
                if let Some(pid) = child
                    .id()
                    .and_then(|p| rustix::process::Pid::from_raw(p as i32))
                {
                    // The program's whole group: a shell's children too.
                    let _ = rustix::process::kill_process_group(pid, rustix::process::Signal::KILL);
                }
                let _ = child.kill().await;
                ctx.log.append(
                    LogSource::Host,
                    format!(
                        "[sluice] `{}` ran past its time limit of {} and was killed\n",
                        command.program,
                        crate::units::format_duration(limit)
                    )
                    .as_bytes(),
                );
                (None, true)
            }
        };
        let _ = out.await;
        let _ = err.await;
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

/// The bubblewrap arguments for one program of a job.
fn bubblewrap_args(
    ctx: &JobContext,
    cwd: &str,
    env: &[(String, String)],
    network: bool,
) -> Vec<String> {
    let mut args: Vec<String> = vec![
        "--die-with-parent".into(),
        "--new-session".into(),
        "--unshare-all".into(),
    ];
    if network {
        args.push("--share-net".into());
    }
    args.push("--clearenv".into());
    // The host's top-level folders, read-only.
    if let Ok(entries) = std::fs::read_dir("/") {
        let mut entries: Vec<_> = entries.flatten().collect();
        entries.sort_by_key(|e| e.file_name());
        for entry in entries {
            let name = entry.file_name().to_string_lossy().into_owned();
            if matches!(name.as_str(), "proc" | "dev" | "tmp" | "run") {
                continue;
            }
            let path = format!("/{name}");
            match entry.file_type() {
                Ok(t) if t.is_symlink() => {
                    if let Ok(target) = std::fs::read_link(&path) {
                        args.extend(["--symlink".into(), target.display().to_string(), path]);
                    }
                }
                Ok(t) if t.is_dir() => args.extend(["--ro-bind".into(), path.clone(), path]),
                _ => {}
            }
        }
    }
    args.extend([
        "--dev".into(),
        "/dev".into(),
        "--proc".into(),
        "/proc".into(),
    ]);
    args.extend([
        "--tmpfs".into(),
        "/tmp".into(),
        "--tmpfs".into(),
        "/run".into(),
    ]);
    // The state directory (secrets file, database, other jobs' folders)
    // is covered; the job's own folders are bound below at their guest
    // paths.
    for hidden in ctx.job.iter().flat_map(|j| j.hidden.iter()) {
        if let Ok(real) = hidden.canonicalize()
            && real.is_dir()
        {
            args.extend(["--tmpfs".into(), real.display().to_string()]);
        }
    }
    for (guest, host, writable) in ctx.mounts.bindings() {
        let flag = if writable { "--bind" } else { "--ro-bind" };
        args.extend([flag.into(), host.display().to_string(), guest]);
    }
    for (name, value) in env {
        args.extend(["--setenv".into(), name.clone(), value.clone()]);
    }
    args.extend(["--chdir".into(), cwd.to_string()]);
    args
}

/// Where a guest path is on the host, for the folders a job has.
pub(crate) fn join_below(base: &std::path::Path, rest: &str) -> Option<PathBuf> {
    let mut path = base.to_path_buf();
    for part in rest.split('/').filter(|p| !p.is_empty() && *p != ".") {
        if part == ".." {
            return None;
        }
        path.push(part);
    }
    Some(path)
}
