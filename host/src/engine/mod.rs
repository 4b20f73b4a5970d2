//! The pipeline engine: executions moving through stages under every rule
//! of CodePipeline's model, durable in the store, actions run in the
//! sandbox.
//!
//! The front door is [`command`]: the commands users and triggers give
//! (start, stop, retry, approve or reject, transitions, delete), the typed
//! answer, and why one is refused.
//!
//! [`machine`] holds the rules as a state machine without I/O, one file per
//! rule: [`start`] (variables, revisions, idempotency), [`stage_lock`]
//! (entering and leaving stages), [`supersede`], [`progression`] (run
//! orders inside a stage, and on to the next stage), [`transitions`],
//! [`stop`], [`retry`], [`approval`], [`timeouts`], [`variables`],
//! [`recovery`].
//!
//! [`driver`] runs the machine: it takes over a state directory
//! ([`startup`]), persists each step in one transaction, answers commands
//! once their step is written, and hands provider calls to the runner
//! (`runner.rs`: jobs, grants, logs, outputs, source queries). Job folders
//! are in [`workspace`]; the handle everything else talks to the engine
//! through (`handle.rs`) reaches this host's driver or, on a standby
//! host, the driving one; [`jobs`] is the queue hosts share on
//! PostgreSQL; [`pipeline_state`] reads a pipeline's state (the
//! `GetPipelineState` view) back from the store.

pub mod approval;
pub mod command;
pub mod components;
pub mod driver;
pub mod external;
mod handle;
pub mod jobs;
mod log_file;
pub mod machine;
pub mod pipeline_state;
pub mod progression;
pub mod recovery;
pub mod retry;
mod runner;
pub mod stage_lock;
pub mod standby;
pub mod start;
pub mod startup;
pub mod stop;
pub mod supersede;
pub mod timeouts;
pub mod transitions;
pub mod variables;
pub mod workspace;

pub use crate::records::*;
pub use command::{Answer, Command, CommandError, Done, Start};
pub use driver::{Driver, DriverError, DriverHandle, DriverSettings, EngineEvent, StateDir};
pub use machine::{CallResult, Changes, Effect, Machine, RunRequest};
pub use startup::is_driven;
pub use timeouts::RecheckPolicy;
