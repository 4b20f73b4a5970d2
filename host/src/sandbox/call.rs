//! One call's store: its WASI context, memory limiter, resource table,
//! host interfaces and deadline (the epoch for a guest computing, a
//! wall-clock limit for one blocked in a host call), and the words a call
//! that ended without an answer is reported in.

use super::host::components::ComponentsHost;
use super::host::context::JobContext;
use super::host::files::FilesHost;
use super::host::http::HttpHooks;
use super::host::log::LogHost;
use super::host::process::ProcessHost;
use super::host::secrets::SecretsHost;
use super::limits::MemoryLimiter;
use super::*;
use std::time::Instant;
use wasmtime::component::ResourceTable;
use wasmtime::{Store, Trap, UpdateDeadline};
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};

/// Grace given past a deadline to a guest blocked inside a host call (where
/// epoch checks cannot reach it) before its call is dropped.
const DEADLINE_GRACE: Duration = Duration::from_millis(250);

/// A fresh store for one call: its WASI context, memory limiter, deadline
/// and the host interfaces' view of the job.
pub(super) fn new_store(
    engine: &Engine,
    wasi: WasiCtx,
    limits: &Limits,
    log: &ActionLog,
    ctx: JobContext,
) -> Store<JobState> {
    let ctx = Arc::new(ctx);
    let mut table = ResourceTable::new();
    table.set_max_capacity(limits.host_resources);
    let mut http = wasmtime_wasi_http::WasiHttpCtx::new();
    http.set_field_size_limit(limits.http_field_bytes);
    let state = JobState {
        wasi,
        table,
        memory: MemoryLimiter::new(ctx.memory.clone(), limits.table_elements),
        log: LogHost { log: log.clone() },
        http,
        http_hooks: HttpHooks {
            grant: ctx.grants.http.clone(),
            log: log.clone(),
            action: ctx.action.clone(),
        },
        process: ProcessHost { ctx: ctx.clone() },
        secrets: SecretsHost { ctx: ctx.clone() },
        files: FilesHost { ctx: ctx.clone() },
        components: ComponentsHost { ctx },
    };
    let mut store = Store::new(engine, state);
    store.limiter(|state| &mut state.memory);
    let deadline = limits.call_deadline();
    store.epoch_deadline_callback(move |_| {
        if Instant::now() >= deadline {
            Err(wasmtime::Error::new(DeadlineExceeded))
        } else {
            Ok(UpdateDeadline::Yield(1))
        }
    });
    store.set_epoch_deadline(1);
    store
}

pub(super) fn query_limits(timeout: Duration) -> Limits {
    Limits {
        timeout,
        ..Limits::default()
    }
}

/// Runs `call` with a wall-clock limit as well as the epoch deadline: the
/// epoch stops a guest computing, this stops one blocked in a host call.
pub(super) async fn within<T>(
    deadline: Instant,
    call: impl Future<Output = wasmtime::Result<T>>,
) -> wasmtime::Result<T> {
    let deadline = tokio::time::Instant::from_std(deadline + DEADLINE_GRACE);
    match tokio::time::timeout_at(deadline, call).await {
        Ok(result) => result,
        Err(_) => Err(wasmtime::Error::new(DeadlineExceeded)),
    }
}

/// Raised when a job runs past its deadline.
#[derive(Debug)]
struct DeadlineExceeded;

impl std::fmt::Display for DeadlineExceeded {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("deadline exceeded")
    }
}

impl std::error::Error for DeadlineExceeded {}

/// Says in a user's words why a call ended without an answer.
pub(super) fn crash_message(
    error: &wasmtime::Error,
    state: &JobState,
    limits: &Limits,
    log: &ActionLog,
) -> String {
    use crate::units::{format_bytes, format_duration};
    if error.is::<DeadlineExceeded>() {
        return format!(
            "deadline exceeded: the action did not finish within its timeout of {}",
            format_duration(limits.timeout)
        );
    }
    if let Some(asked) = state.memory.refused {
        return format!(
            "memory limit exceeded: the provider needed more than its limit of {} \
             (it asked for {})",
            format_bytes(state.memory.limit()),
            format_bytes(asked)
        );
    }
    let what = if let Some(trap) = error.downcast_ref::<Trap>() {
        match trap {
            Trap::StackOverflow => "the provider overflowed its call stack".to_string(),
            Trap::UnreachableCodeReached => {
                "the provider crashed (it aborted, as a panic does)".to_string()
            }
            Trap::MemoryOutOfBounds => "the provider crashed: out-of-bounds memory access \
                                        (a guest whose stack overflows ends this way)"
                .to_string(),
            other => format!("the provider crashed: {other}"),
        }
    } else if let Some(exit) = error.downcast_ref::<wasmtime_wasi::I32Exit>() {
        format!(
            "the provider exited with status {} instead of returning an outcome",
            exit.0
        )
    } else {
        // The cause, without the wasm backtrace wasmtime attaches.
        format!("the provider failed: {}", error.root_cause())
    };
    match log.last_words() {
        Some(words) => format!("{what}: {words}"),
        None => what,
    }
}

/// The state of one store: one call of one provider.
pub(crate) struct JobState {
    wasi: WasiCtx,
    table: ResourceTable,
    pub(super) memory: MemoryLimiter,
    pub(super) log: LogHost,
    http: wasmtime_wasi_http::WasiHttpCtx,
    http_hooks: HttpHooks,
    pub(super) process: ProcessHost,
    pub(super) secrets: SecretsHost,
    pub(super) files: FilesHost,
    pub(super) components: ComponentsHost,
}

impl WasiView for JobState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

impl wasmtime_wasi_http::WasiHttpView for JobState {
    fn http(&mut self) -> wasmtime_wasi_http::WasiHttpCtxView<'_> {
        wasmtime_wasi_http::WasiHttpCtxView {
            ctx: &mut self.http,
            table: &mut self.table,
            hooks: &mut self.http_hooks,
        }
    }
}
