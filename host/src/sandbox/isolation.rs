//! Starting, waiting for and ending granted programs.
//!
//! A program runs under `sluice-isolate`, a small launcher built from
//! `crates/isolate` and embedded in the binary: it is written to a sealed
//! memory file once per process and started from there, so nothing needs to
//! be installed and no file on disk can be swapped for it. The launcher
//! builds the program's namespaces, drops its capabilities, sets
//! `no_new_privs`, installs a seccomp filter and its limits (see that
//! crate). Its standard input is a Unix socket: the host writes what to run
//! and reads how it went, and closing it (a time limit, an abandoned action,
//! this process dying) kills the program's whole process tree.
//!
//! Whether this host can isolate programs is asked once ([`available`]): a
//! host that cannot (no namespaces for this user, say) refuses `process`
//! grants with the reason. Only an explicit host setting,
//! [`Isolation::Unsandboxed`], runs programs without isolation.
//!
//! Programs never outlive their job: a [`Running`] dropped mid-way (its
//! call cut off) hands its launcher to the job's [`Programs`], and the
//! sandbox waits for them all ([`Programs::settle`]) before the job's
//! outputs are read back, so nothing writes to an output after that.

use sluice_isolate_protocol::{Answer, CGROUP_PREFIX, PROBE, Report, Spec, to_line};
use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};

mod embedded {
    include!(concat!(env!("OUT_DIR"), "/launcher.rs"));
}

/// How long a launcher may take to end a program's tree once told to.
const KILL_GRACE: Duration = Duration::from_secs(10);

/// How granted programs run on this host.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Isolation {
    /// In namespaces, with no capabilities (the default).
    #[default]
    Namespaces,
    /// As plain child processes in their own process group, with the
    /// host's whole file system and network: only when the host asks for
    /// it explicitly (`--unsandboxed-programs`).
    Unsandboxed,
}

/// The launcher, where this process can start it.
struct Launcher {
    path: PathBuf,
    /// The sealed memory file it is in (or the temporary file).
    _keep: Option<OwnedFd>,
}

fn launcher() -> Result<&'static Launcher, String> {
    static LAUNCHER: OnceLock<Result<Launcher, String>> = OnceLock::new();
    LAUNCHER
        .get_or_init(write_launcher)
        .as_ref()
        .map_err(Clone::clone)
}

/// Puts the launcher in a sealed memory file (`/proc/self/fd/N`), or,
/// where memory files cannot be made, in a private temporary file.
fn write_launcher() -> Result<Launcher, String> {
    use rustix::fs::{MemfdFlags, SealFlags};
    use std::io::Write;
    let in_memory = (|| -> std::io::Result<Launcher> {
        let fd = rustix::fs::memfd_create(
            "sluice-isolate",
            MemfdFlags::CLOEXEC | MemfdFlags::ALLOW_SEALING,
        )?;
        let mut file = std::fs::File::from(fd);
        file.write_all(embedded::LAUNCHER)?;
        let fd = OwnedFd::from(file);
        rustix::fs::fcntl_add_seals(
            &fd,
            SealFlags::SEAL | SealFlags::SHRINK | SealFlags::GROW | SealFlags::WRITE,
        )?;
        use std::os::fd::AsRawFd;
        Ok(Launcher {
            path: PathBuf::from(format!("/proc/self/fd/{}", fd.as_raw_fd())),
            _keep: Some(fd),
        })
    })();
    if let Ok(launcher) = in_memory {
        return Ok(launcher);
    }
    let on_disk = (|| -> std::io::Result<Launcher> {
        use std::os::unix::fs::PermissionsExt;
        let mut file = tempfile::Builder::new()
            .prefix("sluice-isolate-")
            .permissions(std::fs::Permissions::from_mode(0o700))
            .tempfile()?;
        file.write_all(embedded::LAUNCHER)?;
        let (_, path) = file.keep().map_err(|e| e.error)?;
        Ok(Launcher { path, _keep: None })
    })();
    on_disk.map_err(|e| format!("cannot write the program launcher: {e}"))
}

/// Whether this host can isolate programs: asked once (the launcher sets
/// up a throw-away sandbox and confines a process in it), then remembered.
/// The error says why not.
pub fn available() -> Result<(), String> {
    static PROBED: OnceLock<Result<(), String>> = OnceLock::new();
    PROBED.get_or_init(probe).clone()
}

fn probe() -> Result<(), String> {
    use std::io::BufRead;
    let launcher = launcher()?;
    let (ours, theirs) = std::os::unix::net::UnixStream::pair()
        .map_err(|e| format!("cannot make a socket for the launcher: {e}"))?;
    let mut child = std::process::Command::new(&launcher.path)
        .arg(PROBE)
        .stdin(Stdio::from(OwnedFd::from(theirs)))
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("cannot start the program launcher: {e}"))?;
    let _ = ours.set_read_timeout(Some(Duration::from_secs(30)));
    let mut line = String::new();
    let read = std::io::BufReader::new(&ours).read_line(&mut line);
    let _ = child.kill();
    let output = child.wait_with_output();
    let stderr = output
        .map(|o| String::from_utf8_lossy(&o.stderr).trim().to_string())
        .unwrap_or_default();
    // The launcher has exited: its cgroups are empty.
    let answer = serde_json::from_str::<Answer>(&line);
    if let Ok(answer) = &answer {
        remove_cgroups(&answer.cgroups);
    }
    match (read, answer.map(|a| a.report)) {
        (Ok(_), Ok(Report::Exited(0))) => Ok(()),
        (Ok(_), Ok(Report::Failed(reason))) => Err(reason),
        (_, Ok(other)) => Err(format!(
            "the launcher's check ended with {other:?}: {stderr}"
        )),
        (Err(e), _) => Err(format!("the launcher did not answer ({e}): {stderr}")),
        (Ok(_), Err(_)) => Err(format!("the launcher did not answer: {stderr}")),
    }
}

/// Removes the cgroup folders a launcher made (only ones named as it names
/// them, under `/sys/fs/cgroup`).
fn remove_cgroups(folders: &[String]) {
    for folder in folders {
        let path = std::path::Path::new(folder);
        let named = path
            .file_name()
            .and_then(|n| n.to_str())
            .is_some_and(|n| n.starts_with(CGROUP_PREFIX));
        if named && path.starts_with("/sys/fs/cgroup") {
            let _ = std::fs::remove_dir(path);
        }
    }
}

/// A child process waited for without blocking a thread: through a pidfd
/// the runtime polls (created in whichever runtime waits, so a process
/// started ahead of need can be waited for by any).
pub(crate) struct Proc {
    child: std::process::Child,
}

impl Proc {
    fn pid(&self) -> Option<rustix::process::Pid> {
        rustix::process::Pid::from_raw(self.child.id() as i32)
    }

    /// Waits until it has exited, and reaps it.
    async fn wait(&mut self) -> std::io::Result<std::process::ExitStatus> {
        use tokio::io::unix::AsyncFd;
        if let Some(status) = self.child.try_wait()? {
            return Ok(status);
        }
        let pid = self
            .pid()
            .ok_or_else(|| std::io::Error::other("no process id"))?;
        let pidfd = rustix::process::pidfd_open(pid, rustix::process::PidfdFlags::empty())?;
        // `new` is deprecated for descriptors the `AsyncFd` does not own;
        // this one owns its pidfd for as long as it is registered.
        #[allow(deprecated)]
        let pidfd = AsyncFd::new(pidfd)?;
        loop {
            if let Some(status) = self.child.try_wait()? {
                return Ok(status);
            }
            let mut ready = pidfd.readable().await?;
            ready.clear_ready();
        }
    }

    fn kill(&mut self) {
        let _ = self.child.kill();
    }
}

/// The programs of one job that are still being ended.
#[derive(Clone, Default)]
pub(crate) struct Programs {
    orphans: Arc<Mutex<Vec<Proc>>>,
}

impl Programs {
    /// Waits until every program the job started has ended (each was told
    /// to when its call was cut off; one that does not end within
    /// [`KILL_GRACE`] has its launcher killed).
    pub(crate) async fn settle(&self) {
        let orphans: Vec<_> = std::mem::take(&mut *self.orphans.lock().unwrap());
        for mut child in orphans {
            if tokio::time::timeout(KILL_GRACE, child.wait())
                .await
                .is_err()
            {
                child.kill();
                let _ = child.wait().await;
            }
        }
    }
}

/// How a program ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Ended {
    /// It exited with this status.
    Exited(i32),
    /// A signal ended it.
    Signaled(i32),
    /// Its time limit passed; its process tree was killed.
    TimedOut,
}

/// A program's output stream.
pub(crate) type Output = tokio::net::unix::pipe::Receiver;

/// A program started, with its output streams to read.
pub(crate) struct Running {
    child: Option<Proc>,
    lifeline: Option<tokio::net::UnixStream>,
    group: Option<rustix::process::Pid>,
    programs: Programs,
    /// Its standard output.
    pub(crate) stdout: Option<Output>,
    /// Its standard error.
    pub(crate) stderr: Option<Output>,
}

impl Drop for Running {
    fn drop(&mut self) {
        let Some(child) = self.child.take() else {
            return;
        };
        // Cut off mid-way: closing the lifeline tells the launcher to kill
        // the tree; an unsandboxed program's group is killed here.
        self.lifeline.take();
        if let Some(group) = self.group {
            let _ = rustix::process::kill_process_group(group, rustix::process::Signal::KILL);
        }
        self.programs.orphans.lock().unwrap().push(child);
    }
}

/// Starts `spec` as `isolation` says, for a job whose programs are
/// `programs`.
pub(crate) async fn start(
    spec: &Spec,
    isolation: Isolation,
    programs: &Programs,
) -> Result<Running, String> {
    match isolation {
        Isolation::Namespaces => start_isolated(spec, programs).await,
        Isolation::Unsandboxed => start_unsandboxed(spec, programs),
    }
}

/// Top-level folders an isolated program has of its own (or the job's),
/// not the host's.
const PRIVATE_ROOTS: [&str; 8] = [
    "tmp", "run", "proc", "dev", "inputs", "outputs", "paths", "scratch",
];

/// The path to run `program` by: itself when an isolated program can see
/// it, else where it links to when that can be seen (a program on a PATH
/// folder of links under `/tmp`), else none. Unsandboxed programs run from
/// where they are.
pub(crate) fn visible_program(program: &Path, isolation: Isolation) -> Option<PathBuf> {
    let private = |path: &Path| {
        path.components()
            .nth(1)
            .and_then(|c| c.as_os_str().to_str())
            .is_some_and(|top| PRIVATE_ROOTS.contains(&top))
    };
    if isolation == Isolation::Unsandboxed || !private(program) {
        return Some(program.to_path_buf());
    }
    program.canonicalize().ok().filter(|real| !private(real))
}

/// A launcher started ahead of need: it moves into its cgroup (the slow
/// part of starting a program, a kernel grace period) while it waits to be
/// given a program.
struct Warm {
    child: std::process::Child,
    lifeline: std::os::unix::net::UnixStream,
}

/// Launchers are started again, several at once, when fewer than this
/// wait: moving a process into a cgroup waits for a kernel grace period,
/// and moves made together share one.
const WARM_LOW: usize = 2;

/// How many launchers wait at most.
const WARM_LAUNCHERS: usize = 6;

fn warm_launchers() -> &'static Mutex<Vec<Warm>> {
    static WARM: OnceLock<Mutex<Vec<Warm>>> = OnceLock::new();
    WARM.get_or_init(Default::default)
}

/// Starts a launcher that waits for its program.
fn spawn_launcher() -> Result<Warm, String> {
    let launcher = launcher()?;
    let (ours, theirs) = std::os::unix::net::UnixStream::pair()
        .map_err(|e| format!("cannot make a socket for the launcher: {e}"))?;
    let child = std::process::Command::new(&launcher.path)
        .stdin(Stdio::from(OwnedFd::from(theirs)))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("cannot start the program launcher: {e}"))?;
    Ok(Warm {
        child,
        lifeline: ours,
    })
}

/// A waiting launcher (or a new one), and others started to wait.
fn take_launcher() -> Result<Warm, String> {
    let mut waiting = warm_launchers().lock().unwrap();
    let mut taken = None;
    while let Some(mut warm) = waiting.pop() {
        if matches!(warm.child.try_wait(), Ok(None)) {
            taken = Some(warm);
            break;
        }
    }
    if waiting.len() < WARM_LOW {
        while waiting.len() < WARM_LAUNCHERS {
            match spawn_launcher() {
                Ok(warm) => waiting.push(warm),
                Err(_) => break,
            }
        }
    }
    drop(waiting);
    match taken {
        Some(warm) => Ok(warm),
        None => spawn_launcher(),
    }
}

fn output(stream: Option<impl Into<OwnedFd>>) -> Option<Output> {
    stream.and_then(|s| Output::from_owned_fd(s.into()).ok())
}

async fn start_isolated(spec: &Spec, programs: &Programs) -> Result<Running, String> {
    available().map_err(|reason| {
        format!(
            "programs cannot be isolated on this host ({reason}); running them without isolation \
             needs the host setting --unsandboxed-programs"
        )
    })?;
    let Warm {
        mut child,
        lifeline,
    } = take_launcher()?;
    let stdout = output(child.stdout.take());
    let stderr = output(child.stderr.take());
    let talk = |e: std::io::Error| format!("cannot talk to the program launcher: {e}");
    lifeline.set_nonblocking(true).map_err(talk)?;
    let mut lifeline = tokio::net::UnixStream::from_std(lifeline).map_err(talk)?;
    let mut running = Running {
        child: Some(Proc { child }),
        lifeline: None,
        group: None,
        programs: programs.clone(),
        stdout,
        stderr,
    };
    lifeline.write_all(&to_line(spec)).await.map_err(talk)?;
    running.lifeline = Some(lifeline);
    Ok(running)
}

fn start_unsandboxed(spec: &Spec, programs: &Programs) -> Result<Running, String> {
    use std::os::unix::process::CommandExt;
    let cwd = spec
        .binds
        .iter()
        .find_map(|b| {
            let rest = if spec.cwd == b.guest {
                Some("")
            } else {
                spec.cwd.strip_prefix(&format!("{}/", b.guest))
            }?;
            Some(PathBuf::from(&b.host).join(rest))
        })
        .ok_or_else(|| format!("working folder `{}` is not inside the job", spec.cwd))?;
    let mut child = std::process::Command::new(&spec.program)
        .args(&spec.args)
        .current_dir(cwd)
        .env_clear()
        .envs(spec.env.iter().cloned())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0)
        .spawn()
        .map_err(|e| format!("cannot start `{}`: {e}", spec.program))?;
    let group = rustix::process::Pid::from_raw(child.id() as i32);
    let stdout = output(child.stdout.take());
    let stderr = output(child.stderr.take());
    Ok(Running {
        child: Some(Proc { child }),
        lifeline: None,
        group,
        programs: programs.clone(),
        stdout,
        stderr,
    })
}

impl Running {
    /// Waits for the program to end, at most `limit`; past it, its whole
    /// process tree is killed. Returns once every process of the tree has
    /// ended.
    pub(crate) async fn wait(mut self, limit: Duration) -> Result<Ended, String> {
        // The child stays in `self` until it is reaped: if this future is
        // dropped meanwhile, `Drop` hands it to the job's programs.
        let lifeline = self.lifeline.take();
        let group = self.group;
        let child = self
            .child
            .as_mut()
            .expect("a running program has its child");
        let result = match lifeline {
            Some(lifeline) => wait_isolated(child, lifeline, limit).await,
            None => wait_unsandboxed(child, group, limit).await,
        };
        self.child = None;
        result
    }
}

async fn wait_unsandboxed(
    child: &mut Proc,
    group: Option<rustix::process::Pid>,
    limit: Duration,
) -> Result<Ended, String> {
    let ended = match tokio::time::timeout(limit, child.wait()).await {
        Ok(Ok(status)) => {
            use std::os::unix::process::ExitStatusExt;
            match (status.code(), status.signal()) {
                (Some(code), _) => Ended::Exited(code),
                (None, Some(signal)) => Ended::Signaled(signal),
                (None, None) => Ended::Exited(-1),
            }
        }
        Ok(Err(e)) => return Err(format!("waiting for the program: {e}")),
        Err(_) => Ended::TimedOut,
    };
    // Whatever it started in its group ends with it.
    if let Some(group) = group {
        let _ = rustix::process::kill_process_group(group, rustix::process::Signal::KILL);
    }
    let _ = child.wait().await;
    Ok(ended)
}

async fn wait_isolated(
    child: &mut Proc,
    lifeline: tokio::net::UnixStream,
    limit: Duration,
) -> Result<Ended, String> {
    let (reader, mut writer) = lifeline.into_split();
    let mut reader = BufReader::new(reader);
    let mut line = String::new();
    let timed_out = match tokio::time::timeout(limit, reader.read_line(&mut line)).await {
        Ok(_) => false,
        Err(_) => {
            // Closing our side tells the launcher to kill the tree; it
            // answers once the tree is gone.
            let _ = writer.shutdown().await;
            line.clear();
            if tokio::time::timeout(KILL_GRACE, reader.read_line(&mut line))
                .await
                .is_err()
            {
                child.kill();
            }
            true
        }
    };
    drop(writer);
    let _ = child.wait().await;
    let answer = serde_json::from_str::<Answer>(&line);
    if let Ok(answer) = &answer {
        // The launcher has exited: its cgroups are empty.
        remove_cgroups(&answer.cgroups);
    }
    match (timed_out, answer.map(|a| a.report)) {
        (true, _) => Ok(Ended::TimedOut),
        (false, Ok(Report::Exited(code))) => Ok(Ended::Exited(code)),
        (false, Ok(Report::Signaled(signal))) => Ok(Ended::Signaled(signal)),
        (false, Ok(Report::Killed)) => Ok(Ended::Signaled(9)),
        (false, Ok(Report::Failed(reason))) => Err(reason),
        (false, Err(_)) => Err("the program launcher ended without saying how".to_string()),
    }
}

#[cfg(test)]
mod visible_tests {
    use super::*;

    #[test]
    fn programs_under_a_private_folder_run_from_where_they_link_to() {
        let sh = Path::new("/bin/sh").canonicalize().unwrap();
        assert_eq!(
            visible_program(&sh, Isolation::Namespaces),
            Some(sh.clone())
        );
        let dir = tempfile::tempdir_in("/tmp").unwrap();
        let link = dir.path().join("sh");
        std::os::unix::fs::symlink(&sh, &link).unwrap();
        assert_eq!(visible_program(&link, Isolation::Namespaces), Some(sh));
        let real = dir.path().join("tool");
        std::fs::write(&real, "#!/bin/sh\n").unwrap();
        assert_eq!(visible_program(&real, Isolation::Namespaces), None);
        assert_eq!(
            visible_program(&real, Isolation::Unsandboxed),
            Some(real.clone())
        );
    }
}
