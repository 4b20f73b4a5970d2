//! Waiting for the program's process tree, and killing it when the host
//! lets go of the lifeline.

use rustix::event::{PollFd, PollFlags, poll};
use rustix::process::{Pid, PidfdFlags, Signal, pidfd_open, pidfd_send_signal};
use std::io::Read;
use std::os::unix::net::UnixStream;

/// Waits until hakoniwa's supervisor (`supervisor`, the program's parent,
/// which reaps it) has ended, or the host closed the lifeline; in the
/// second case kills the program (the first process of its PID namespace,
/// so the kernel ends every other process in it) and waits for the
/// supervisor all the same. Returns whether it killed.
pub fn wait(supervisor: u32, lifeline: &UnixStream) -> Result<bool, String> {
    let pid = Pid::from_raw(supervisor as i32).ok_or("no supervisor process")?;
    let supervisor_fd =
        pidfd_open(pid, PidfdFlags::empty()).map_err(|e| format!("watching the program: {e}"))?;
    loop {
        let mut fds = [
            PollFd::new(&supervisor_fd, PollFlags::IN),
            PollFd::new(lifeline, PollFlags::IN),
        ];
        match poll(&mut fds, None) {
            Ok(_) => {}
            Err(rustix::io::Errno::INTR) => continue,
            Err(e) => return Err(format!("waiting for the program: {e}")),
        }
        if !fds[0].revents().is_empty() {
            return Ok(false);
        }
        if !fds[1].revents().is_empty() {
            let mut byte = [0u8; 1];
            match (&*lifeline).read(&mut byte) {
                Ok(1) => continue,
                _ => {
                    kill_program(supervisor);
                    return Ok(true);
                }
            }
        }
    }
}

/// Kills the supervisor's child (the program); when it has none (not
/// started yet, or gone), kills the supervisor, whose death kills the
/// program through its parent-death signal.
fn kill_program(supervisor: u32) {
    for _ in 0..100 {
        if let Some(child) = child_of(supervisor)
            && let Some(pid) = Pid::from_raw(child as i32)
            && let Ok(fd) = pidfd_open(pid, PidfdFlags::empty())
            // Still the supervisor's child now that it is pinned by the
            // descriptor: the pid was not reused.
            && child_of(supervisor) == Some(child)
        {
            let _ = pidfd_send_signal(&fd, Signal::KILL);
            return;
        }
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    if let Some(pid) = Pid::from_raw(supervisor as i32) {
        let _ = rustix::process::kill_process(pid, Signal::KILL);
    }
}

/// The first process found whose parent is `parent`.
fn child_of(parent: u32) -> Option<u32> {
    for entry in std::fs::read_dir("/proc").ok()?.flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|n| n.parse::<u32>().ok())
        else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
            continue;
        };
        // `pid (comm) state ppid ...`: the name may hold spaces and
        // parentheses, so read after the last `)`.
        let ppid = stat
            .rsplit_once(')')
            .and_then(|(_, rest)| rest.split_whitespace().nth(1))
            .and_then(|p| p.parse::<u32>().ok());
        if ppid == Some(parent) {
            return Some(pid);
        }
    }
    None
}

/// How many processes this user runs now (the process limit counts from
/// there).
pub fn processes_of_this_user() -> u64 {
    use std::os::unix::fs::MetadataExt;
    let me = rustix::process::getuid().as_raw();
    std::fs::read_dir("/proc")
        .map(|entries| {
            entries
                .flatten()
                .filter(|e| {
                    e.file_name()
                        .to_str()
                        .is_some_and(|n| n.parse::<u32>().is_ok())
                })
                .filter(|e| e.metadata().is_ok_and(|m| m.uid() == me))
                .count() as u64
        })
        .unwrap_or(0)
}
