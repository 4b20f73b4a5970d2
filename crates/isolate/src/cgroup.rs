//! A cgroup of the program's own, where the host lets us make one: it caps
//! the processes and the memory of the whole tree (rlimits count per
//! process, and the process limit does not apply to root at all).
//!
//! The launcher moves itself into a new cgroup below its own before
//! starting the program, so everything the program starts is in it. It
//! does not move back (moving a process between cgroups is the costly part,
//! milliseconds): it names the cgroups in its answer and the host removes
//! them once the launcher has exited and they are empty. cgroup v2 is used where the
//! launcher's cgroup delegates `pids` and `memory`; otherwise the v1
//! `pids` and `memory` hierarchies where they are mounted and writable.
//! Where neither works, the rlimits are all there is.

use sluice_isolate_protocol::ProgramLimits;
use std::path::{Path, PathBuf};

/// The cgroups the launcher moved into.
pub struct JobCgroup {
    /// The job's cgroup folders, which kind each is, and the cgroup each
    /// was made in.
    joined: Vec<(PathBuf, Version, PathBuf)>,
}

/// Which hierarchy a cgroup is in.
#[derive(Clone, Copy)]
enum Version {
    /// cgroup v2 (`pids` and `memory` together).
    V2,
    /// cgroup v1's `pids` hierarchy.
    V1Pids,
    /// cgroup v1's `memory` hierarchy.
    V1Memory,
}

impl JobCgroup {
    /// Makes and joins the job's cgroup(s), or `None` when the host lets us
    /// make none. Moving into a cgroup is the slow part (a grace period of
    /// the kernel's), so it happens before the launcher is given a program
    /// (see `sluice::sandbox::isolation`); the limits come with the program
    /// ([`JobCgroup::limit`]).
    pub fn enter() -> Option<JobCgroup> {
        let own = std::fs::read_to_string("/proc/self/cgroup").ok()?;
        let name = sluice_isolate_protocol::cgroup_name(std::process::id());
        let mut joined = Vec::new();
        // cgroup v2: one hierarchy, the `0::/path` line.
        if let Some(path) = own.lines().find_map(|l| l.strip_prefix("0::")) {
            for mount in ["/sys/fs/cgroup", "/sys/fs/cgroup/unified"] {
                let parent = Path::new(mount).join(path.trim_start_matches('/'));
                let delegated = std::fs::read_to_string(parent.join("cgroup.subtree_control"))
                    .is_ok_and(|c| c.contains("pids") && c.contains("memory"));
                if delegated && let Some(dir) = make(&parent, &name) {
                    joined.push((dir, Version::V2, parent));
                    return Some(JobCgroup { joined });
                }
            }
        }
        // cgroup v1: a hierarchy per controller.
        for line in own.lines() {
            let mut parts = line.splitn(3, ':');
            let (Some(_), Some(controller), Some(path)) =
                (parts.next(), parts.next(), parts.next())
            else {
                continue;
            };
            let version = match controller {
                "pids" => Version::V1Pids,
                "memory" => Version::V1Memory,
                _ => continue,
            };
            let parent = Path::new("/sys/fs/cgroup")
                .join(controller)
                .join(path.trim_start_matches('/'));
            if let Some(dir) = make(&parent, &name) {
                joined.push((dir, version, parent));
            }
        }
        (!joined.is_empty()).then_some(JobCgroup { joined })
    }

    /// Sets the job's limits; `false` when one could not be set (the
    /// launcher then refuses to run the program).
    pub fn limit(&self, limits: &ProgramLimits) -> bool {
        self.joined.iter().all(|(dir, version, _)| {
            let settings: &[(&str, u64)] = match version {
                Version::V2 => &[
                    ("pids.max", limits.processes),
                    ("memory.max", limits.memory_bytes),
                ],
                Version::V1Pids => &[("pids.max", limits.processes)],
                Version::V1Memory => &[("memory.limit_in_bytes", limits.memory_bytes)],
            };
            settings
                .iter()
                .all(|(file, value)| std::fs::write(dir.join(file), value.to_string()).is_ok())
        })
    }

    /// The job's cgroup folders, for the host to remove.
    pub fn folders(&self) -> Vec<String> {
        self.joined
            .iter()
            .map(|(dir, _, _)| dir.display().to_string())
            .collect()
    }

    /// Moves back out and removes the cgroups: the launcher was never given
    /// a program (its host let go first), so no one waits for this.
    pub fn abandon(self) {
        let me = std::process::id().to_string();
        for (dir, _, parent) in &self.joined {
            let _ = std::fs::write(parent.join("cgroup.procs"), &me);
            let _ = std::fs::remove_dir(dir);
        }
    }
}

/// Removes the empty cgroups of launchers that are gone (their host died
/// before it could remove them), beside this process's own cgroups.
pub fn sweep() {
    let Ok(own) = std::fs::read_to_string("/proc/self/cgroup") else {
        return;
    };
    let mut parents = Vec::new();
    for line in own.lines() {
        let mut parts = line.splitn(3, ':');
        let (Some(_), Some(controllers), Some(path)) = (parts.next(), parts.next(), parts.next())
        else {
            continue;
        };
        let path = path.trim_start_matches('/');
        match controllers {
            "" => {
                parents.push(Path::new("/sys/fs/cgroup").join(path));
                parents.push(Path::new("/sys/fs/cgroup/unified").join(path));
            }
            "pids" | "memory" => {
                parents.push(Path::new("/sys/fs/cgroup").join(controllers).join(path))
            }
            _ => {}
        }
    }
    for parent in parents {
        let Ok(entries) = std::fs::read_dir(&parent) else {
            continue;
        };
        for entry in entries.flatten() {
            let name = entry.file_name();
            let Some(pid) = name
                .to_str()
                .and_then(|n| n.strip_prefix(sluice_isolate_protocol::CGROUP_PREFIX))
                .and_then(|p| p.parse::<u32>().ok())
            else {
                continue;
            };
            if !Path::new(&format!("/proc/{pid}")).exists() {
                // Fails, harmlessly, while processes are still in it.
                let _ = std::fs::remove_dir(entry.path());
            }
        }
    }
}

/// Makes `parent/name` and moves this process into it.
fn make(parent: &Path, name: &str) -> Option<PathBuf> {
    let dir = parent.join(name);
    std::fs::create_dir(&dir).ok()?;
    if std::fs::write(dir.join("cgroup.procs"), std::process::id().to_string()).is_ok() {
        Some(dir)
    } else {
        let _ = std::fs::remove_dir(&dir);
        None
    }
}
