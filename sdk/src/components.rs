//! Running other components found inside the job, each in its own sandbox
//! with no grant of its own: a command component gets no folders, a
//! provider component the job's artifacts and scratch folder and the
//! granted folders read-only. Both share this action's deadline, memory and
//! output budgets.

use crate::bindings::components as host;
use crate::{Config, Failure, Outcome};

/// How a command component ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommandExit {
    /// Whether it exited successfully.
    pub success: bool,
    /// The last lines of its output.
    pub output_tail: String,
    /// How long it ran, in milliseconds.
    pub duration_ms: u64,
}

/// Runs the WASI command component at `path` (inside the job) with `args`.
pub fn run_command(path: &str, args: &[&str]) -> Result<CommandExit, Failure> {
    let args: Vec<String> = args.iter().map(|a| a.to_string()).collect();
    host::run_command(path, &args)
        .map(|e| CommandExit {
            success: e.success,
            output_tail: e.output_tail,
            duration_ms: e.duration_ms,
        })
        .map_err(Failure::job_failed)
}

/// Runs the provider component at `path` (inside the job) on this job's
/// artifacts with `config`; its failure is the `Err` side.
pub fn run_provider(path: &str, config: &Config) -> Result<Outcome, Failure> {
    let configuration: Vec<(String, String)> = config
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    let outcome = host::run_provider(path, &configuration).map_err(Failure::job_failed)?;
    crate::outcome::outcome_from_wit(outcome)
}
