//! The launcher protocol: how the host asks `sluice-isolate` to run one
//! granted program in isolation, and how the launcher answers.
//!
//! The host starts the launcher with a Unix socket as its standard input.
//! It writes one [`Spec`] as a JSON line; the launcher sets up the
//! isolation, runs the program and writes one [`Report`] as a JSON line
//! when the program (and every process it started) has ended. The socket
//! is also the program's lifeline: when the host closes its end (a time
//! limit, an abandoned action, the host itself killed), the launcher kills
//! the program's whole process tree and reports that. The program's own
//! standard output and error are the launcher's; its standard input is
//! empty.

#![deny(missing_docs)]

use serde::{Deserialize, Serialize};

/// One program to run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Spec {
    /// The program's absolute path on the host.
    pub program: String,
    /// Its arguments (not counting the program itself).
    pub args: Vec<String>,
    /// Its whole environment.
    pub env: Vec<(String, String)>,
    /// Its working folder, as it sees it.
    pub cwd: String,
    /// The job's folders, bound where the program sees them.
    pub binds: Vec<Bind>,
    /// Host folders covered by an empty read-only folder (the state
    /// directory), absolute and canonical.
    pub hide: Vec<String>,
    /// Whether it may use the host's network (otherwise it has a network
    /// of its own with nothing in it).
    pub network: bool,
    /// Its resource limits.
    pub limits: ProgramLimits,
}

/// A job folder bound into the program's view.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Bind {
    /// The folder on the host.
    pub host: String,
    /// Where the program sees it (`/scratch`, `/inputs/NAME`...).
    pub guest: String,
    /// Whether the program may write to it.
    pub writable: bool,
    /// A folder a pipeline granted by path: bound only if no component of
    /// `host` is a symbolic link, and checked once bound to be the folder
    /// that was checked.
    pub exact: bool,
}

/// Resource limits on the program and everything it starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProgramLimits {
    /// Data memory of each process (`RLIMIT_DATA`), bytes.
    pub memory_bytes: u64,
    /// CPU time of each process (`RLIMIT_CPU`), seconds.
    pub cpu_seconds: u64,
    /// Processes it may start beyond what its user already runs
    /// (`RLIMIT_NPROC`).
    pub processes: u64,
    /// Open files of each process (`RLIMIT_NOFILE`).
    pub open_files: u64,
    /// Largest file it may write (`RLIMIT_FSIZE`), bytes.
    pub file_bytes: u64,
    /// Size of its private `/tmp`, bytes.
    pub tmp_bytes: u64,
}

impl Default for ProgramLimits {
    /// 4 GiB of data memory and an hour of CPU time per process, 512
    /// processes, 4,096 open files, files of up to 10 GiB, a `/tmp` of
    /// 1 GiB.
    fn default() -> Self {
        ProgramLimits {
            memory_bytes: 4 << 30,
            cpu_seconds: 3600,
            processes: 512,
            open_files: 4096,
            file_bytes: 10 << 30,
            tmp_bytes: 1 << 30,
        }
    }
}

/// How it went, and the cgroups the launcher made for it (empty once the
/// launcher has exited; the host removes them then, which is cheaper than
/// the launcher moving itself out first).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Answer {
    /// How the program ended.
    pub report: Report,
    /// Cgroup folders to remove once the launcher has exited.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub cgroups: Vec<String>,
}

/// How the program ended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub enum Report {
    /// The program exited with this status.
    Exited(i32),
    /// The program was ended by this signal.
    Signaled(i32),
    /// The host closed the lifeline; the program's process tree was killed.
    Killed,
    /// The program could not be started: the isolation could not be set
    /// up, or the program could not be run. Says why.
    Failed(String),
}

/// The argument that makes the launcher only check that it can isolate a
/// program on this host (it reports [`Report::Exited`] with 0, or
/// [`Report::Failed`] with the reason).
pub const PROBE: &str = "--probe";

/// The name of the launcher's cgroup folders: `sluice-<launcher pid>`.
pub fn cgroup_name(launcher: u32) -> String {
    format!("{CGROUP_PREFIX}{launcher}")
}

/// What every cgroup folder of a launcher's starts with.
pub const CGROUP_PREFIX: &str = "sluice-";

/// Writes a value as one JSON line.
pub fn to_line<T: Serialize>(value: &T) -> Vec<u8> {
    let mut line = serde_json::to_vec(value).expect("protocol values serialise");
    line.push(b'\n');
    line
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_round_trip_as_lines() {
        let answer = Answer {
            report: Report::Exited(0),
            cgroups: vec!["/sys/fs/cgroup/pids/sluice-1".into()],
        };
        let back: Answer = serde_json::from_slice(&to_line(&answer)).unwrap();
        assert_eq!(back, answer);
    }

    #[test]
    fn reports_round_trip_as_lines() {
        for report in [
            Report::Exited(3),
            Report::Signaled(9),
            Report::Killed,
            Report::Failed("no namespaces".into()),
        ] {
            let line = to_line(&report);
            assert_eq!(line.last(), Some(&b'\n'));
            let back: Report = serde_json::from_slice(&line).unwrap();
            assert_eq!(back, report);
        }
    }
}
