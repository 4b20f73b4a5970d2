//! The sandbox: runs provider components under wasmtime with nothing but
//! what the host grants.
//!
//! All policy lives in [`SandboxBuilder`] (`builder.rs`): the engine's
//! configuration, the pooling allocator (and the fall-back to on-demand
//! allocation when its address-space reservation fails), the epoch ticker
//! behind deadlines, the compile cache, the host interfaces linked (from
//! the table in `host`). A [`Provider`] (`provider.rs`) is a loaded
//! component (`load.rs`): compiled once (or loaded from the cache), its
//! imports checked once, an `InstancePre` kept. Every call gets a fresh
//! `Store` (`call.rs`) with its own WASI context (`wasi.rs`), memory
//! limiter, deadline and log, dropped when the call returns.
//!
//! What a job can touch: its input artifacts (read-only), its output
//! artifacts (read-write), its scratch folder; no environment variables,
//! no arguments, no network (socket and name-lookup calls are denied), no
//! host stdio (standard output and error go to the action log).

pub(crate) mod bindings;
mod builder;
mod cache;
mod call;
mod command;
mod convert;
mod error;
pub mod grants;
mod host;
pub mod imports;
pub mod isolation;
pub mod limits;
mod load;
pub mod log;
mod outcome;
mod provider;
mod stdio;
mod wasi;

// The contract's plain types, for the sandbox's users.
pub use crate::contract::{
    ActionType, Approval, Category, Descriptor, Failure, FailureKind, HostMount, Mount, Outcome,
    Property, SourceRevision, guest_paths, is_artifact_name,
};
pub use builder::{Allocator, QUERY_TIMEOUT, SandboxBuilder};
pub use command::CommandExit;
pub use convert::Job;
pub use error::SandboxError;
pub use grants::{
    Grants, HttpGrant, ProcessGrant, ProcessSettings, ProgramLimits, Secret, UrlRule,
};
pub use isolation::Isolation;
pub use limits::{Limits, OutcomeLimits};
pub use load::{ComponentSource, LoadedFrom};
pub use log::{ActionLog, LogSource, LogWriter, MemoryLog};
pub use outcome::is_variable_name;
pub use provider::{Provider, RunReport};

use builder::EpochTicker;
use cache::CompileCache;
use call::JobState;
use load::Core;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use wasmtime::Engine;
use wasmtime::component::Linker;

/// The runtime that loads and runs providers. Cheap to clone.
#[derive(Clone)]
pub struct Sandbox {
    shared: Arc<Shared>,
}

impl std::fmt::Debug for Sandbox {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sandbox")
            .field("allocator", &self.shared.allocator)
            .finish_non_exhaustive()
    }
}

struct Shared {
    engine: Engine,
    linker: Linker<JobState>,
    cache: Option<CompileCache>,
    loaded: Mutex<HashMap<String, Arc<Core>>>,
    allocator: Allocator,
    slots: Arc<tokio::sync::Semaphore>,
    process: Arc<ProcessSettings>,
    query_timeout: Duration,
    _ticker: EpochTicker,
}

impl Sandbox {
    /// A sandbox with default settings.
    pub fn new() -> Result<Sandbox, SandboxError> {
        SandboxBuilder::new().build()
    }

    /// The instance allocator in use.
    pub fn allocator(&self) -> &Allocator {
        &self.shared.allocator
    }

    /// Where granted programs are looked up, and how they are isolated.
    pub fn process_settings(&self) -> &ProcessSettings {
        &self.shared.process
    }
}
