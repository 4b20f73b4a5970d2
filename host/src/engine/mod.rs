//! The pipeline engine: executions moving through stages under every rule
//! of CodePipeline's model, durable in the store, actions run in the
//! sandbox.
//!
//! [`machine`] holds the rules as a state machine without I/O (one file per
//! rule: [`stage_lock`], [`supersede`], [`run_order`], [`transitions`],
//! [`stop`], [`retry`], [`approval`], [`timeouts`], [`variables`],
//! [`recovery`]); [`driver`] runs it: it persists each step in one
//! transaction, calls providers, and feeds their results back.

pub mod approval;
pub mod command;
pub mod driver;
mod log_file;
pub mod machine;
pub mod recovery;
pub mod retry;
pub mod run_order;
mod runner;
pub mod stage_lock;
pub mod start;
mod startup;
pub mod stop;
pub mod supersede;
pub mod timeouts;
pub mod transitions;
pub mod variables;
pub mod view;
pub mod workspace;

pub use crate::records::*;
pub use command::{Answer, Command, CommandError, Done, Start};
pub use driver::{Driver, DriverError, DriverHandle, DriverSettings, EngineEvent, StateDir};
pub use machine::{CallResult, Changes, Effect, Machine, RunRequest};
pub use startup::is_driven;
pub use timeouts::RecheckPolicy;
