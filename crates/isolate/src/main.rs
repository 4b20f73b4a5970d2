//! `sluice-isolate`: runs one program granted to a Sluice action, isolated.
//!
//! The host starts it with a Unix socket as standard input and writes one
//! [`Spec`] line (see `sluice-isolate-protocol`). The program then runs in
//! new mount, PID, user, IPC, UTS and cgroup namespaces (and a network
//! namespace of its own unless the action may use HTTP), built by
//! `hakoniwa`:
//!
//! - the host's top-level folders bound read-only (not recursively: other
//!   file systems mounted below them are not visible), the state directory
//!   covered by an empty read-only folder, a private `/tmp` (sized), `/run`,
//!   a minimal `/dev` and the namespace's own `/proc`;
//! - the job's folders bound at the paths the provider sees them;
//! - every capability dropped (bounding, ambient, inheritable, effective,
//!   permitted), `no_new_privs` set, a seccomp filter refusing mounts,
//!   namespaces, module loading, kexec, BPF, keyrings, ptrace and the like;
//! - resource limits: data memory, CPU time, open files, file size, and the
//!   process count; with a writable cgroup (v1 `pids`/`memory`, or v2), the
//!   processes and memory of the whole tree as well.
//!
//! The program is the first process of its PID namespace, so when it ends
//! (or is killed) every process it started ends with it; the launcher
//! reports only once the whole tree is gone. When the host closes the
//! socket (a time limit, an abandoned action, the host killed), the
//! launcher kills the program and so the tree.

mod cgroup;
mod filter;
mod tree;

use hakoniwa::{Container, MountOptions, Namespace, Rlimit, Stdio};
use sluice_isolate_protocol::{Answer, PROBE, ProgramLimits, Report, Spec, to_line};
use std::io::{BufRead, BufReader, Write};
use std::os::fd::AsFd;
use std::os::unix::net::UnixStream;
use std::path::Path;

/// Top-level names the job's folders use; host folders of the same name
/// are not bound.
const GUEST_ROOTS: [&str; 4] = ["inputs", "outputs", "paths", "scratch"];

fn main() {
    let probe = std::env::args().nth(1).as_deref() == Some(PROBE);
    let lifeline = match std::io::stdin().as_fd().try_clone_to_owned() {
        Ok(fd) => UnixStream::from(fd),
        Err(error) => {
            eprintln!("sluice-isolate: no lifeline on standard input: {error}");
            std::process::exit(2);
        }
    };
    let mut cgroups = Vec::new();
    let report = run(probe, &lifeline, &mut cgroups).unwrap_or_else(Report::Failed);
    let _ = (&lifeline).write_all(&to_line(&Answer { report, cgroups }));
}

fn run(probe: bool, lifeline: &UnixStream, cgroups: &mut Vec<String>) -> Result<Report, String> {
    if probe {
        // Once per host process: cgroups left by launchers whose host died
        // before it could remove them.
        cgroup::sweep();
    }
    // Into a cgroup of its own first: the host starts launchers ahead of
    // need, so this (the slow part) is done before a program is asked for.
    let cgroup = cgroup::JobCgroup::enter();
    if let Some(cgroup) = &cgroup {
        cgroups.extend(cgroup.folders());
    }
    let spec = if probe {
        Spec {
            program: String::new(),
            args: Vec::new(),
            env: Vec::new(),
            cwd: "/".into(),
            binds: Vec::new(),
            hide: Vec::new(),
            network: false,
            limits: ProgramLimits {
                memory_bytes: 256 << 20,
                cpu_seconds: 10,
                processes: 16,
                open_files: 64,
                file_bytes: 1 << 20,
                tmp_bytes: 1 << 20,
            },
        }
    } else {
        let mut line = String::new();
        BufReader::new(lifeline)
            .read_line(&mut line)
            .map_err(|e| format!("reading the program to run: {e}"))?;
        if line.is_empty() {
            // The host let go before asking for anything.
            if let Some(cgroup) = cgroup {
                cgroups.clear();
                cgroup.abandon();
            }
            return Ok(Report::Killed);
        }
        serde_json::from_str(&line).map_err(|e| format!("reading the program to run: {e}"))?
    };
    if let Some(cgroup) = &cgroup
        && !cgroup.limit(&spec.limits)
    {
        return Err("cannot set the program's limits in its cgroup".into());
    }
    let exact = exact_binds(&spec)?;
    let container = container(&spec, cgroup.is_some())?;
    let mut command = if probe {
        // SAFETY: the launcher is single-threaded, so the closure runs in a
        // child forked from a process with no other threads.
        #[allow(unsafe_code)]
        unsafe {
            container.command_from_closure(|| match filter::confine() {
                Ok(()) => 0,
                Err(error) => {
                    eprintln!("sluice-isolate: {error}");
                    126
                }
            })
        }
    } else {
        let program = spec.program.clone();
        let args = spec.args.clone();
        let env = spec.env.clone();
        let cwd = spec.cwd.clone();
        // SAFETY: as above.
        #[allow(unsafe_code)]
        unsafe {
            container.command_from_closure(move || exec(&program, &args, &env, &cwd, &exact))
        }
    };
    command
        .current_dir(&spec.cwd)
        .stdin(Stdio::from(
            std::fs::File::open("/dev/null").map_err(|e| format!("opening /dev/null: {e}"))?,
        ))
        .stdout(Stdio::inherit())
        .stderr(Stdio::inherit());
    let mut child = command
        .spawn()
        .map_err(|e| format!("cannot set up the isolation: {e}"))?;
    let killed = tree::wait(child.id(), lifeline)?;
    let status = child
        .wait()
        .map_err(|e| format!("waiting for the program: {e}"))?;
    if killed {
        return Ok(Report::Killed);
    }
    Ok(match status.exit_code {
        Some(code) if probe && code != 0 => Report::Failed(format!(
            "the isolated process could not confine itself (status {code})"
        )),
        Some(code) => Report::Exited(code),
        None if status.code > 128 && status.code < 128 + 65 => Report::Signaled(status.code - 128),
        None => Report::Failed(status.reason),
    })
}

/// The program's view of the host, and its limits.
fn container(spec: &Spec, in_cgroup: bool) -> Result<Container, String> {
    let mut c = Container::new();
    // As root the program needs no user namespace (its capabilities are
    // dropped before it starts), and without one the host's mounts are not
    // locked, so folders can be bound without what is mounted below them.
    // Any other user needs one to make the other namespaces at all.
    let rootless = !rustix::process::getuid().is_root();
    if !rootless {
        c.share(Namespace::User);
    }
    let below = mounted_below();
    c.unshare(Namespace::Ipc)
        .unshare(Namespace::Uts)
        .unshare(Namespace::Cgroup)
        .hostname("sluice");
    if !spec.network {
        c.unshare(Namespace::Network);
    }
    let read_only =
        MountOptions::BIND | MountOptions::NOSUID | MountOptions::NODEV | MountOptions::RDONLY;
    let mut tops: Vec<_> = std::fs::read_dir("/")
        .map_err(|e| format!("listing /: {e}"))?
        .flatten()
        .collect();
    tops.sort_by_key(|e| e.file_name());
    for entry in tops {
        let Some(name) = entry.file_name().to_str().map(str::to_string) else {
            continue;
        };
        if matches!(name.as_str(), "proc" | "dev" | "tmp" | "run")
            || GUEST_ROOTS.contains(&name.as_str())
        {
            continue;
        }
        let path = format!("/{name}");
        match entry.file_type() {
            Ok(kind) if kind.is_symlink() => {
                if let Ok(target) = std::fs::read_link(&path) {
                    c.symlink(&target.to_string_lossy(), &path);
                }
            }
            Ok(kind) if kind.is_dir() => {
                // In a user namespace a mount with locked mounts below it
                // can only be bound with them (they keep their own
                // flags; the user's own permissions still apply).
                let nested = rootless && below.iter().any(|m| m.starts_with(&format!("{path}/")));
                let options = if nested {
                    read_only | MountOptions::REC
                } else {
                    read_only
                };
                c.mount(&path, &path, "", options, None);
            }
            _ => {}
        }
    }
    c.devfsmount("/dev");
    c.mount(
        "tmpfs",
        "/tmp",
        "tmpfs",
        MountOptions::NOSUID | MountOptions::NODEV,
        Some(format!(
            "size={},mode=1777",
            spec.limits.tmp_bytes.max(4096)
        )),
    );
    c.mount(
        "tmpfs",
        "/run",
        "tmpfs",
        MountOptions::NOSUID | MountOptions::NODEV | MountOptions::NOEXEC,
        Some("size=1m,mode=755".into()),
    );
    for hidden in &spec.hide {
        if Path::new(hidden).is_dir() {
            c.mount(
                "tmpfs",
                hidden,
                "tmpfs",
                MountOptions::RDONLY
                    | MountOptions::NOSUID
                    | MountOptions::NODEV
                    | MountOptions::NOEXEC,
                Some("size=4k,mode=555".into()),
            );
        }
    }
    for bind in &spec.binds {
        let mut options = MountOptions::BIND | MountOptions::NOSUID | MountOptions::NODEV;
        if !bind.writable {
            options |= MountOptions::RDONLY;
        }
        c.mount(&bind.host, &bind.guest, "", options, None);
    }
    let l = &spec.limits;
    for (resource, value) in [
        (Rlimit::Data, l.memory_bytes),
        (Rlimit::Cpu, l.cpu_seconds),
        (Rlimit::Nofile, l.open_files),
        (Rlimit::Fsize, l.file_bytes),
        (Rlimit::Core, 0),
    ] {
        c.setrlimit(resource, value, value);
    }
    // The process limit counts every process of the user, and root is
    // exempt from it: it is the limit only for another user with no cgroup
    // of its own (a cgroup counts the tree exactly).
    if rootless && !in_cgroup {
        let processes = tree::processes_of_this_user().saturating_add(l.processes);
        c.setrlimit(Rlimit::Nproc, processes, processes);
    }
    Ok(c)
}

/// Every mount point on the host (from `/proc/self/mountinfo`).
fn mounted_below() -> Vec<String> {
    std::fs::read_to_string("/proc/self/mountinfo")
        .unwrap_or_default()
        .lines()
        .filter_map(|line| line.split(' ').nth(4).map(str::to_string))
        .collect()
}

/// The folders granted by path, each opened only if no component of its
/// path is a symbolic link: where the program will see it and which folder
/// it must be (device and inode).
fn exact_binds(spec: &Spec) -> Result<Vec<(String, u64, u64)>, String> {
    use rustix::fs::{Mode, OFlags, ResolveFlags};
    let mut checked = Vec::new();
    for bind in spec.binds.iter().filter(|b| b.exact) {
        let fd = rustix::fs::openat2(
            rustix::fs::CWD,
            bind.host.as_str(),
            OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC,
            Mode::empty(),
            ResolveFlags::NO_SYMLINKS | ResolveFlags::NO_MAGICLINKS,
        )
        .map_err(|e| {
            format!(
                "the granted folder {} cannot be used ({e}): is part of its path a symbolic link now?",
                bind.host
            )
        })?;
        let stat = rustix::fs::fstat(&fd).map_err(|e| format!("{}: {e}", bind.host))?;
        checked.push((bind.guest.clone(), stat.st_dev, stat.st_ino));
    }
    Ok(checked)
}

/// In the program's own process, just before it starts: checks that each
/// folder granted by path is bound where it should be (the very folder
/// checked, not one a link swapped in meanwhile), confines the process, then
/// replaces it with the program.
fn exec(
    program: &str,
    args: &[String],
    env: &[(String, String)],
    cwd: &str,
    exact: &[(String, u64, u64)],
) -> i32 {
    use std::os::unix::process::CommandExt;
    for (guest, dev, ino) in exact {
        match rustix::fs::stat(guest.as_str()) {
            Ok(stat) if stat.st_dev == *dev && stat.st_ino == *ino => {}
            _ => {
                eprintln!(
                    "sluice-isolate: {guest} changed while it was being bound; not running {program}"
                );
                return 126;
            }
        }
    }
    if let Err(error) = filter::confine() {
        eprintln!("sluice-isolate: {error}");
        return 126;
    }
    let error = std::process::Command::new(program)
        .args(args)
        .env_clear()
        .envs(env.iter().cloned())
        .current_dir(cwd)
        .exec();
    eprintln!("sluice-isolate: cannot run {program}: {error}");
    127
}
