//! What the tests' throwaway servers (`sluice-pgtest`'s PostgreSQL,
//! `sluice-s3test`'s S3) share: starting a server that dies with the test
//! process however it ends, finding a free loopback port, removing the
//! folders of test processes that have ended, and reading a log's end for
//! a failure message.

use std::fs::{self, File};
use std::io::{self, Read, Seek, SeekFrom};
use std::net::TcpListener;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Child, Command};
use std::sync::mpsc;
use std::thread;

/// Starts `command` so that it gets `signal` when this process ends,
/// however it ends.
///
/// The parent-death signal is sent when the *thread* that started the child
/// ends, so the child is started from a thread that never does (named
/// `thread_name`). The signal is set up last in the child (after a change
/// of user, which would clear it), and, to close the race with this
/// process ending during the start, the child checks that its parent is
/// still this process.
#[allow(unsafe_code)]
pub fn spawn_tied_to_process(
    mut command: Command,
    signal: libc::c_int,
    thread_name: &str,
) -> io::Result<Child> {
    let parent = std::process::id();
    // SAFETY: the closure runs in the child between fork and exec, and only
    // makes async-signal-safe system calls; it builds its error without
    // allocating.
    unsafe {
        command.pre_exec(move || {
            if libc::prctl(libc::PR_SET_PDEATHSIG, signal as libc::c_ulong) == -1 {
                return Err(io::Error::last_os_error());
            }
            if libc::getppid() as u32 != parent {
                return Err(io::Error::from_raw_os_error(libc::ESRCH));
            }
            Ok(())
        });
    }
    let (sender, receiver) = mpsc::channel();
    thread::Builder::new()
        .name(thread_name.into())
        .spawn(move || {
            let _ = sender.send(command.spawn());
            loop {
                thread::park();
            }
        })?;
    receiver
        .recv()
        .map_err(|_| io::Error::other("the thread starting the server ended"))?
}

/// A free loopback port (free when asked; a server retries if another
/// process takes it first).
pub fn free_port() -> Result<u16, String> {
    TcpListener::bind(("127.0.0.1", 0))
        .and_then(|listener| listener.local_addr())
        .map(|address| address.port())
        .map_err(|e| format!("could not find a free port on 127.0.0.1: {e}"))
}

/// Removes the folders `<prefix><pid>-*` under `parent` of test processes
/// that have ended.
pub fn remove_stale_folders(parent: &Path, prefix: &str) {
    let Ok(entries) = fs::read_dir(parent) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(pid) = name
            .to_str()
            .and_then(|name| name.strip_prefix(prefix))
            .and_then(|rest| rest.split_once('-'))
            .and_then(|(pid, _)| pid.parse::<u32>().ok())
        else {
            continue;
        };
        if pid != std::process::id() && !Path::new(&format!("/proc/{pid}")).exists() {
            let _ = fs::remove_dir_all(entry.path());
        }
    }
}

/// The end of the log from byte `start` on (at most its last 40 lines).
pub fn log_tail(log: &Path, start: u64) -> String {
    let mut bytes = Vec::new();
    let read = File::open(log).and_then(|mut file| {
        file.seek(SeekFrom::Start(start))?;
        file.read_to_end(&mut bytes)
    });
    if let Err(e) = read {
        return format!("(could not read it: {e})");
    }
    let text = String::from_utf8_lossy(&bytes);
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(40)..].join("\n")
}

/// Whether process `pid` is gone (or a zombie waiting for whoever
/// inherited it).
pub fn is_gone(pid: u32) -> bool {
    match fs::read_to_string(format!("/proc/{pid}/stat")) {
        Err(_) => true,
        Ok(text) => text
            .rsplit(')')
            .next()
            .unwrap_or("")
            .trim_start()
            .starts_with('Z'),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_tied_child_runs_and_the_helpers_answer() {
        let mut child = spawn_tied_to_process(
            {
                let mut c = Command::new("sleep");
                c.arg("30");
                c
            },
            libc::SIGKILL,
            "testproc",
        )
        .unwrap();
        assert!(!is_gone(child.id()));
        child.kill().unwrap();
        child.wait().unwrap();
        assert!(is_gone(child.id()));
        assert!(free_port().unwrap() > 0);
        let dir = std::env::temp_dir().join(format!("sluice-testproc-{}", std::process::id()));
        fs::create_dir_all(&dir).unwrap();
        fs::create_dir_all(dir.join("x-999999999-a")).unwrap();
        fs::create_dir_all(dir.join(format!("x-{}-b", std::process::id()))).unwrap();
        remove_stale_folders(&dir, "x-");
        assert!(
            !dir.join("x-999999999-a").exists(),
            "a dead process's folder goes"
        );
        assert!(dir.join(format!("x-{}-b", std::process::id())).exists());
        fs::write(dir.join("log"), "one\ntwo\nthree\n").unwrap();
        assert_eq!(log_tail(&dir.join("log"), 4), "two\nthree");
        fs::remove_dir_all(&dir).unwrap();
    }
}
