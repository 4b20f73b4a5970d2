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
pub mod driver;
pub mod machine;
pub mod recovery;
pub mod retry;
pub mod run_order;
pub mod stage_lock;
pub mod stop;
pub mod supersede;
pub mod timeouts;
pub mod transitions;
pub mod variables;
pub mod view;
pub mod workspace;

pub use crate::records::*;
pub use driver::{
    DriverError, Engine, EngineEvent, EngineHandle, EngineSettings, StateDir, is_driven,
};
pub use machine::{CallResult, Changes, Effect, EngineError, Machine, RunRequest};
pub use timeouts::RecheckPolicy;
