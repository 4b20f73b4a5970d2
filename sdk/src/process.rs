//! Running programs on the host, as far as the action's `process` grant
//! allows: only the programs it names, each isolated by the host, seeing
//! the job's folders at the same paths as the provider.
//!
//! ```no_run
//! use sluice_sdk::process::Command;
//! # fn f() -> Result<(), sluice_sdk::Failure> {
//! let exit = Command::new("make").arg("test").cwd("/scratch/work").run()?;
//! if !exit.success() {
//!     return Err(sluice_sdk::Failure::job_failed(format!("make test failed:\n{}", exit.output_tail)));
//! }
//! # Ok(()) }
//! ```

use crate::Failure;
use crate::bindings::process as host;

/// A program to run.
#[derive(Debug, Clone, Default)]
pub struct Command {
    program: String,
    args: Vec<String>,
    cwd: Option<String>,
    env: Vec<(String, String)>,
    timeout_ms: Option<u64>,
}

/// How a program ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Exit {
    /// Its exit status; `None` when it was killed.
    pub code: Option<i32>,
    /// Whether a time limit killed it.
    pub timed_out: bool,
    /// The last lines of its output (at most 4 KiB).
    pub output_tail: String,
    /// How long it ran, in milliseconds.
    pub duration_ms: u64,
}

impl Exit {
    /// Whether it exited with status 0.
    pub fn success(&self) -> bool {
        self.code == Some(0)
    }
}

impl Command {
    /// Runs `program` (a name the grant lists).
    pub fn new(program: impl Into<String>) -> Self {
        Command {
            program: program.into(),
            ..Command::default()
        }
    }

    /// Adds an argument.
    pub fn arg(mut self, arg: impl Into<String>) -> Self {
        self.args.push(arg.into());
        self
    }

    /// Adds arguments.
    pub fn args<I: IntoIterator<Item = S>, S: Into<String>>(mut self, args: I) -> Self {
        self.args.extend(args.into_iter().map(Into::into));
        self
    }

    /// Sets the working folder (a path inside the job).
    pub fn cwd(mut self, path: impl Into<String>) -> Self {
        self.cwd = Some(path.into());
        self
    }

    /// Sets an environment variable for this call.
    pub fn env(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.env.push((name.into(), value.into()));
        self
    }

    /// Sets a time limit in milliseconds.
    pub fn timeout_ms(mut self, millis: u64) -> Self {
        self.timeout_ms = Some(millis);
        self
    }

    /// Runs it to its end. A program that could not be started is a
    /// failure (a permission failure, naming the grant, when not granted);
    /// a program that ran and failed is an `Exit` without success.
    pub fn run(self) -> Result<Exit, Failure> {
        let command = host::Command {
            program: self.program.clone(),
            args: self.args,
            cwd: self.cwd,
            env: self.env,
            timeout_ms: self.timeout_ms,
        };
        match host::run(&command) {
            Ok(exit) => Ok(Exit {
                code: exit.code,
                timed_out: exit.timed_out,
                output_tail: exit.output_tail,
                duration_ms: exit.duration_ms,
            }),
            Err(e) => Err(match e.kind {
                host::ErrorKind::NotGranted => Failure::permission(e.message),
                host::ErrorKind::Invalid => Failure::configuration(e.message),
                host::ErrorKind::NotFound | host::ErrorKind::Failed => {
                    Failure::job_failed(e.message)
                }
            }),
        }
    }
}
