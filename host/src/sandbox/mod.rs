//! The sandbox: runs provider components under wasmtime with nothing but
//! what the host grants.
//!
//! All policy lives in [`SandboxBuilder`]: the engine's configuration, the
//! pooling allocator (and the fall-back to on-demand allocation when its
//! address-space reservation fails), the epoch ticker behind deadlines, the
//! compile cache. A [`Provider`] is a loaded component: compiled once (or
//! loaded from the cache), its imports checked once, an `InstancePre` kept.
//! Every call gets a fresh `Store` with its own WASI context, memory
//! limiter, deadline and log, dropped when the call returns.
//!
//! What a job can touch: its input artifacts (read-only), its output
//! artifacts (read-write), its scratch folder; no environment variables,
//! no arguments, no network (socket and name-lookup calls are denied), no
//! host stdio (standard output and error go to the action log).

pub(crate) mod bindings;
mod cache;
mod convert;
mod error;
pub mod grants;
mod host;
pub mod imports;
pub mod isolation;
pub mod limits;
pub mod log;
mod outcome;
mod stdio;

// The contract's plain types, for the sandbox's users.
pub use crate::contract::{
    ActionType, Approval, Category, Descriptor, Failure, FailureKind, HostMount, Mount, Outcome,
    Property, SourceRevision, guest_paths, is_artifact_name,
};
pub use convert::Job;
pub use error::SandboxError;
pub use grants::{
    Grants, HttpGrant, ProcessGrant, ProcessSettings, ProgramLimits, Secret, UrlRule,
};
pub use isolation::Isolation;
pub use limits::{Limits, OutcomeLimits};
pub use log::{ActionLog, LogSource, LogWriter, MemoryLog};
pub use outcome::is_variable_name;

use bindings::exports::sluice::provider::{provider as provider_export, source as source_export};
use cache::CompileCache;
use host::components::{ComponentsHost, ComponentsInterface};
use host::context::{JobContext, JobMounts};
use host::files::{FilesHost, FilesInterface};
use host::http::HttpHooks;
use host::log::{LogHost, LogInterface};
use host::process::{ProcessHost, ProcessInterface};
use host::secrets::{SecretsHost, SecretsInterface};
use limits::MemoryLimiter;
use sha2::{Digest, Sha256};
use std::borrow::Cow;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use wasmtime::component::{Component, InstancePre, Linker, ResourceTable};
use wasmtime::{
    Config, Enabled, Engine, InstanceAllocationStrategy, OptLevel, PoolingAllocationConfig, Store,
    Trap, UpdateDeadline,
};
use wasmtime_wasi::{FsPerms, WasiCtx, WasiCtxBuilder, WasiCtxView, WasiView};

/// How often the epoch advances; deadlines are checked (and long-running
/// guests yield to the runtime) this often.
const EPOCH_TICK: Duration = Duration::from_millis(10);

/// How long `describe` and `validate` may take, unless the host says
/// otherwise ([`SandboxBuilder::query_timeout`]).
pub const QUERY_TIMEOUT: Duration = Duration::from_secs(60);

/// Grace given past a deadline to a guest blocked inside a host call (where
/// epoch checks cannot reach it) before its call is dropped.
const DEADLINE_GRACE: Duration = Duration::from_millis(250);

/// Builds a [`Sandbox`]. Every setting has a sensible default.
#[derive(Debug, Clone)]
pub struct SandboxBuilder {
    cache_dir: Option<PathBuf>,
    max_instances: u32,
    pooling: bool,
    process: ProcessSettings,
    query_timeout: Duration,
}

impl Default for SandboxBuilder {
    fn default() -> Self {
        SandboxBuilder {
            cache_dir: None,
            max_instances: 128,
            pooling: true,
            process: ProcessSettings::default(),
            query_timeout: QUERY_TIMEOUT,
        }
    }
}

impl SandboxBuilder {
    /// Default settings: pooling allocator for 128 concurrent instances, no
    /// compile cache.
    pub fn new() -> Self {
        Self::default()
    }

    /// Keeps compiled native code in `dir` (created when missing).
    pub fn cache_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.cache_dir = Some(dir.into());
        self
    }

    /// How many jobs may hold an instance at once. Further calls wait for a
    /// free slot.
    pub fn max_instances(mut self, count: u32) -> Self {
        self.max_instances = count.max(1);
        self
    }

    /// Whether to try the pooling allocator (default true). Off, or when
    /// its reservation fails, instances are allocated on demand.
    pub fn pooling(mut self, enabled: bool) -> Self {
        self.pooling = enabled;
        self
    }

    /// Where granted programs are looked up, and bubblewrap.
    pub fn process_settings(mut self, settings: ProcessSettings) -> Self {
        self.process = settings;
        self
    }

    /// How long `describe` and `validate` calls may take (default 60 s).
    pub fn query_timeout(mut self, timeout: Duration) -> Self {
        self.query_timeout = timeout;
        self
    }

    /// Creates the engine, the linker and the epoch ticker.
    pub fn build(self) -> Result<Sandbox, SandboxError> {
        let (engine, allocator) = self.engine()?;
        let mut linker: Linker<JobState> = Linker::new(&engine);
        wasmtime_wasi::p2::add_to_linker_async(&mut linker)
            .map_err(|e| SandboxError::Engine(format!("linking WASI: {e}")))?;
        bindings::sluice::provider::log::add_to_linker::<JobState, LogInterface>(
            &mut linker,
            |state| &mut state.log,
        )
        .map_err(|e| SandboxError::Engine(format!("linking the log interface: {e}")))?;
        let link =
            |what: &str, e: wasmtime::Error| SandboxError::Engine(format!("linking {what}: {e}"));
        wasmtime_wasi_http::p2::add_only_http_to_linker_async(&mut linker)
            .map_err(|e| link("wasi:http", e))?;
        bindings::sluice::provider::process::add_to_linker::<JobState, ProcessInterface>(
            &mut linker,
            |s| &mut s.process,
        )
        .map_err(|e| link("the process interface", e))?;
        bindings::sluice::provider::secrets::add_to_linker::<JobState, SecretsInterface>(
            &mut linker,
            |s| &mut s.secrets,
        )
        .map_err(|e| link("the secrets interface", e))?;
        bindings::sluice::provider::components::add_to_linker::<JobState, ComponentsInterface>(
            &mut linker,
            |s| &mut s.components,
        )
        .map_err(|e| link("the components interface", e))?;
        bindings::sluice::provider::files::add_to_linker::<JobState, FilesInterface>(
            &mut linker,
            |s| &mut s.files,
        )
        .map_err(|e| link("the files interface", e))?;
        let cache = match &self.cache_dir {
            Some(dir) => Some(CompileCache::open(dir, &engine).map_err(|e| {
                SandboxError::Engine(format!(
                    "cannot create the compile cache in {}: {e}",
                    dir.display()
                ))
            })?),
            None => None,
        };
        let ticker = EpochTicker::start(engine.clone());
        Ok(Sandbox {
            shared: Arc::new(Shared {
                engine,
                linker,
                cache,
                loaded: Mutex::new(HashMap::new()),
                allocator,
                slots: Arc::new(tokio::sync::Semaphore::new(self.max_instances as usize)),
                process: Arc::new(self.process.clone()),
                query_timeout: self.query_timeout,
                _ticker: ticker,
            }),
        })
    }

    fn engine(&self) -> Result<(Engine, Allocator), SandboxError> {
        if self.pooling {
            let mut config = base_config();
            config.allocation_strategy(InstanceAllocationStrategy::Pooling(self.pool()));
            match Engine::new(&config) {
                Ok(engine) => return Ok((engine, Allocator::Pooling)),
                Err(error) => {
                    let reason = format!("{error:#}");
                    tracing::warn!(%reason, "pooling allocator unavailable; allocating on demand");
                    let engine = Engine::new(&base_config())
                        .map_err(|e| SandboxError::Engine(format!("{e:#}")))?;
                    return Ok((
                        engine,
                        Allocator::OnDemand {
                            reason: Some(reason),
                        },
                    ));
                }
            }
        }
        let engine =
            Engine::new(&base_config()).map_err(|e| SandboxError::Engine(format!("{e:#}")))?;
        Ok((engine, Allocator::OnDemand { reason: None }))
    }

    fn pool(&self) -> PoolingAllocationConfig {
        let n = self.max_instances;
        let mut pool = PoolingAllocationConfig::new();
        // Components made by Rust, Python and JavaScript toolchains hold
        // from a few to a few dozen core instances, tables and memories.
        pool.total_component_instances(n)
            .total_core_instances(n.saturating_mul(16))
            .total_memories(n.saturating_mul(2))
            .total_tables(n.saturating_mul(16))
            .total_stacks(n)
            .max_memory_size(limits::MAX_MEMORY_BYTES as usize)
            .max_memories_per_module(2)
            .max_tables_per_module(4)
            .table_elements(200_000)
            .max_component_instance_size(4 << 20)
            .max_core_instance_size(4 << 20)
            // Reusing a slot's first pages instead of returning them to
            // the kernel makes the next instance cheaper: no page faults
            // and copy-on-write copies for what it touches again. 32 MiB
            // covers what a Python or JavaScript provider dirties in a job
            // (their per-job cost halved going from 1 MiB; see
            // BENCHMARKS.md); only dirtied pages are reset.
            .linear_memory_keep_resident(32 << 20)
            .table_keep_resident(1 << 20)
            // Where the kernel can say which pages a job dirtied (Linux
            // 6.7+), only those are reset.
            .pagemap_scan(Enabled::Auto);
        pool
    }
}

fn base_config() -> Config {
    let mut config = Config::new();
    config.wasm_component_model(true);
    config.epoch_interruption(true);
    config.cranelift_opt_level(OptLevel::Speed);
    config
}

/// Which instance allocator the engine ended up with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Allocator {
    /// Instances come from pre-reserved pools of memory, tables and stacks.
    Pooling,
    /// Instances are allocated when created; `reason` says why pooling is
    /// not in use, when it was asked for.
    OnDemand {
        /// Why the pooling allocator could not be used.
        reason: Option<String>,
    },
}

/// Where a provider's compiled code came from when it was loaded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LoadedFrom {
    /// Already loaded in this process.
    Memory,
    /// Read from the on-disk compile cache.
    CompileCache,
    /// Compiled now.
    Compiled,
}

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

/// A component's bytes and the name to report it by.
#[derive(Debug, Clone)]
pub struct ComponentSource {
    /// `builtin:copy`, a file path: how errors name the provider.
    pub name: String,
    /// The component.
    pub bytes: Cow<'static, [u8]>,
    /// Its sha256, when already known.
    pub sha256: Option<String>,
}

impl ComponentSource {
    /// Reads a component file.
    pub fn from_file(path: &Path) -> Result<Self, SandboxError> {
        let bytes = std::fs::read(path).map_err(|source| SandboxError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        Ok(ComponentSource {
            name: path.display().to_string(),
            bytes: Cow::Owned(bytes),
            sha256: None,
        })
    }

    /// The sha256 of the component, hex.
    pub fn digest(&self) -> String {
        self.sha256
            .clone()
            .unwrap_or_else(|| hex::encode(Sha256::digest(&self.bytes)))
    }
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

    /// Where granted programs are looked up, and bubblewrap.
    pub fn process_settings(&self) -> &ProcessSettings {
        &self.shared.process
    }

    /// Loads a provider: from memory if this sandbox loaded it before, else
    /// from the compile cache, else by compiling it. Its imports are checked
    /// here, once; a component importing anything the host does not provide
    /// is refused, naming the import. Compiling takes a while for large
    /// components: call this from a blocking context.
    pub fn load(&self, source: &ComponentSource) -> Result<(Provider, LoadedFrom), SandboxError> {
        let sha256 = source.digest();
        if let Some(core) = self.shared.loaded.lock().unwrap().get(&sha256) {
            let provider = Provider {
                core: core.clone(),
                shared: self.shared.clone(),
                name: source.name.clone(),
            };
            return Ok((provider, LoadedFrom::Memory));
        }
        let (component, from, imports) = self.component(source, &sha256)?;
        let pre = self
            .shared
            .linker
            .instantiate_pre(&component)
            .map_err(|e| SandboxError::Compile {
                provider: source.name.clone(),
                message: format!("{e:#}"),
            })?;
        let provider_exports =
            provider_export::GuestIndices::new(&pre).map_err(|e| SandboxError::NotAProvider {
                provider: source.name.clone(),
                message: format!("{e:#}"),
            })?;
        let source_exports = source_export::GuestIndices::new(&pre).ok();
        let core = Arc::new(Core {
            sha256: sha256.clone(),
            pre,
            provider_exports,
            source_exports,
            imports,
            descriptor: tokio::sync::OnceCell::new(),
        });
        self.shared
            .loaded
            .lock()
            .unwrap()
            .insert(sha256, core.clone());
        Ok((
            Provider {
                core,
                shared: self.shared.clone(),
                name: source.name.clone(),
            },
            from,
        ))
    }

    /// Compiles a component (or reads it from the compile cache) and
    /// checks its imports.
    fn component(
        &self,
        source: &ComponentSource,
        sha256: &str,
    ) -> Result<(Component, LoadedFrom, Vec<String>), SandboxError> {
        let engine = &self.shared.engine;
        let cached = self
            .shared
            .cache
            .as_ref()
            .and_then(|cache| cache.load(engine, sha256));
        let (component, from) = match cached {
            Some(component) => (component, LoadedFrom::CompileCache),
            None => {
                let component =
                    Component::new(engine, &source.bytes).map_err(|e| SandboxError::Compile {
                        provider: source.name.clone(),
                        message: format!("{e:#}"),
                    })?;
                if let Some(cache) = &self.shared.cache {
                    cache.store(sha256, &component);
                }
                (component, LoadedFrom::Compiled)
            }
        };
        let imports = imports::imports_of(engine, &component);
        if let Some(import) = imports::first_unsupported(&imports) {
            return Err(SandboxError::UnsupportedImport {
                provider: source.name.clone(),
                import: import.to_string(),
            });
        }
        Ok((component, from, imports))
    }

    /// Runs a WASI command component (`wasi:cli/run`) with `args` and
    /// nothing else: no folders, no environment, no grants. Its output goes
    /// to `log`; the deadline and memory limit of `limits` apply.
    pub(crate) async fn run_command(
        &self,
        source: &ComponentSource,
        args: &[String],
        limits: &Limits,
        log: &ActionLog,
        parent: &JobContext,
    ) -> Result<CommandExit, SandboxError> {
        let started = Instant::now();
        let sandbox = self.clone();
        let owned = source.clone();
        let (component, _, _) = tokio::task::spawn_blocking(move || {
            let sha256 = owned.digest();
            sandbox.component(&owned, &sha256)
        })
        .await
        .map_err(|e| SandboxError::Engine(format!("loading a component panicked: {e}")))??;
        let pre = self
            .shared
            .linker
            .instantiate_pre(&component)
            .map_err(|e| SandboxError::Compile {
                provider: source.name.clone(),
                message: format!("{e:#}"),
            })?;
        let command = wasmtime_wasi::p2::bindings::CommandPre::new(pre).map_err(|e| {
            SandboxError::NotAProvider {
                provider: source.name.clone(),
                message: format!(
                    "it is not a WASI command (it does not export wasi:cli/run): {e:#}"
                ),
            }
        })?;
        let tail = stdio::Tail::default();
        let mut builder = WasiCtxBuilder::new();
        builder
            .stdout(stdio::LogStream::new(log.clone(), LogSource::Stdout).with_tail(tail.clone()))
            .stderr(stdio::LogStream::new(log.clone(), LogSource::Stderr).with_tail(tail.clone()))
            .allow_blocking_current_thread(true);
        let mut argv = vec![source.name.clone()];
        argv.extend(args.iter().cloned());
        builder.args(&argv);
        let ctx = JobContext {
            action: source.name.clone(),
            mounts: JobMounts::default(),
            grants: Grants::default(),
            deadline: limits.call_deadline(),
            log: log.clone(),
            settings: self.shared.process.clone(),
            sandbox: self.clone(),
            limits: limits.clone(),
            job: None,
            depth: host::context::MAX_DEPTH,
            memory: parent.memory.clone(),
            copies: parent.copies.clone(),
            programs: Default::default(),
        };
        let mut store = new_store(&self.shared.engine, builder.build(), limits, log, ctx);
        let _slot = self
            .shared
            .slots
            .clone()
            .acquire_owned()
            .await
            .expect("the instance semaphore is never closed");
        let result = within(limits.call_deadline(), async {
            let instance = command.instantiate_async(&mut store).await?;
            instance.wasi_cli_run().call_run(&mut store).await
        })
        .await;
        log.flush();
        let success = match result {
            Ok(Ok(())) => true,
            Ok(Err(())) => false,
            Err(error) => match error.downcast_ref::<wasmtime_wasi::I32Exit>() {
                Some(exit) => exit.0 == 0,
                None => {
                    let message = crash_message(&error, store.data(), limits, log);
                    log.host_line(&format!(
                        "{}: {}",
                        crate::text::line(&source.name),
                        crate::text::line(&message)
                    ));
                    false
                }
            },
        };
        Ok(CommandExit {
            success,
            output_tail: log.redacted(&tail.text()),
            duration: started.elapsed(),
        })
    }

    /// Forgets every provider loaded in memory, so the next load reads the
    /// compile cache (used to measure cold loads).
    pub fn forget_loaded(&self) {
        self.shared.loaded.lock().unwrap().clear();
    }
}

/// What is shared by every handle on one loaded component.
struct Core {
    sha256: String,
    pre: InstancePre<JobState>,
    provider_exports: provider_export::GuestIndices,
    source_exports: Option<source_export::GuestIndices>,
    imports: Vec<String>,
    descriptor: tokio::sync::OnceCell<Descriptor>,
}

/// A loaded provider, ready to run jobs. Cheap to clone.
#[derive(Clone)]
pub struct Provider {
    core: Arc<Core>,
    shared: Arc<Shared>,
    name: String,
}

impl std::fmt::Debug for Provider {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Provider")
            .field("name", &self.name)
            .field("sha256", &self.core.sha256)
            .finish_non_exhaustive()
    }
}

/// How a command component ended.
#[derive(Debug, Clone)]
pub struct CommandExit {
    /// Whether it exited successfully.
    pub success: bool,
    /// The last lines of its output (at most 4 KiB).
    pub output_tail: String,
    /// How long it took.
    pub duration: Duration,
}

/// The result of running one job.
#[derive(Debug, Clone)]
pub struct RunReport {
    /// What the job came to (crashes, deadlines and limits are failures).
    pub outcome: Outcome,
    /// Wall time of the call, instantiation included.
    pub elapsed: Duration,
}

impl Provider {
    /// The name it was loaded under (`builtin:copy`, a path).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The component's sha256.
    pub fn sha256(&self) -> &str {
        &self.core.sha256
    }

    /// The component's imports, as `namespace:package/interface@version`.
    pub fn imports(&self) -> &[String] {
        &self.core.imports
    }

    /// The grants its imports may ask for (`process`, `http`, `secrets`).
    pub fn capabilities(&self) -> Vec<&'static str> {
        imports::capabilities(&self.core.imports)
    }

    /// Whether it exports the `source` interface.
    pub fn is_source(&self) -> bool {
        self.core.source_exports.is_some()
    }

    /// What the provider says about itself (asked once, then remembered),
    /// checked ([`Descriptor::problems`]): a component whose descriptor is
    /// refused is refused by every other call too.
    pub async fn describe(&self) -> Result<Descriptor, SandboxError> {
        self.core
            .descriptor
            .get_or_try_init(|| async {
                let limits = query_limits(self.shared.query_timeout);
                let log = ActionLog::discard();
                let ctx = self.query_context(&limits, &log, &[]);
                let mut store = self.store(quiet_wasi(&log), &limits, &log, ctx);
                let _slot = self.slot().await;
                let result = within(limits.call_deadline(), async {
                    let instance = self.core.pre.instantiate_async(&mut store).await?;
                    let guest = self.core.provider_exports.load(&mut store, &instance)?;
                    guest.call_describe(&mut store).await
                })
                .await;
                match result {
                    Ok(descriptor) => {
                        let descriptor = Descriptor::from(descriptor);
                        let problems = descriptor.problems();
                        if problems.is_empty() {
                            Ok(descriptor)
                        } else {
                            Err(SandboxError::BadDescriptor {
                                provider: self.name.clone(),
                                problems,
                            })
                        }
                    }
                    Err(error) => Err(self.call_error("describe", &error, &store, &limits, &log)),
                }
            })
            .await
            .cloned()
    }

    /// Asks the provider whether `configuration` is acceptable: `Ok(Err(problems))`
    /// lists what it rejects.
    pub async fn validate(
        &self,
        configuration: &[(String, String)],
    ) -> Result<Result<(), Vec<String>>, SandboxError> {
        self.describe().await?;
        let limits = query_limits(self.shared.query_timeout);
        let log = ActionLog::discard();
        let ctx = self.query_context(&limits, &log, &[]);
        let mut store = self.store(quiet_wasi(&log), &limits, &log, ctx);
        let _slot = self.slot().await;
        let configuration = configuration.to_vec();
        let result = within(limits.call_deadline(), async {
            let instance = self.core.pre.instantiate_async(&mut store).await?;
            let guest = self.core.provider_exports.load(&mut store, &instance)?;
            guest.call_validate(&mut store, &configuration).await
        })
        .await;
        result.map_err(|error| self.call_error("validate", &error, &store, &limits, &log))
    }

    /// Asks a source provider for the newest revision of its source object.
    pub async fn latest_revision(
        &self,
        configuration: &[(String, String)],
        limits: &Limits,
        log: &ActionLog,
    ) -> Result<Result<SourceRevision, Failure>, SandboxError> {
        self.latest_revision_with(configuration, &[], limits, log)
            .await
    }

    /// [`Provider::latest_revision`] with the action's granted folders mounted.
    pub async fn latest_revision_with(
        &self,
        configuration: &[(String, String)],
        mounts: &[HostMount],
        limits: &Limits,
        log: &ActionLog,
    ) -> Result<Result<SourceRevision, Failure>, SandboxError> {
        self.describe().await?;
        let Some(exports) = &self.core.source_exports else {
            return Err(SandboxError::NotASource {
                provider: self.name.clone(),
            });
        };
        let mut builder = output_to(log);
        mount_granted(&mut builder, mounts)?;
        let ctx = self.query_context(limits, log, mounts);
        let mut store = self.store(builder.build(), limits, log, ctx);
        let _slot = self.slot().await;
        let configuration = configuration.to_vec();
        let result = within(limits.call_deadline(), async {
            let instance = self.core.pre.instantiate_async(&mut store).await?;
            let guest = exports.load(&mut store, &instance)?;
            guest.call_latest_revision(&mut store, &configuration).await
        })
        .await;
        match result {
            Ok(answer) => Ok(answer.map(SourceRevision::from).map_err(Failure::from)),
            Err(error) => Err(self.call_error("latest-revision", &error, &store, limits, log)),
        }
    }

    /// Asks a source provider which paths differ between two revisions it
    /// returned (`None`: it cannot tell), with the action's granted
    /// folders mounted.
    pub async fn changed_paths_with(
        &self,
        configuration: &[(String, String)],
        mounts: &[HostMount],
        from: &str,
        to: &str,
        limits: &Limits,
        log: &ActionLog,
    ) -> Result<Result<Option<Vec<String>>, Failure>, SandboxError> {
        self.describe().await?;
        let Some(exports) = &self.core.source_exports else {
            return Err(SandboxError::NotASource {
                provider: self.name.clone(),
            });
        };
        let mut builder = output_to(log);
        mount_granted(&mut builder, mounts)?;
        let ctx = self.query_context(limits, log, mounts);
        let mut store = self.store(builder.build(), limits, log, ctx);
        let _slot = self.slot().await;
        let configuration = configuration.to_vec();
        let result = within(limits.call_deadline(), async {
            let instance = self.core.pre.instantiate_async(&mut store).await?;
            let guest = exports.load(&mut store, &instance)?;
            guest
                .call_changed_paths(&mut store, &configuration, from, to)
                .await
        })
        .await;
        match result {
            Ok(answer) => Ok(answer.map_err(Failure::from)),
            Err(error) => Err(self.call_error("changed-paths", &error, &store, limits, log)),
        }
    }

    /// Runs one job. The job's folders are mounted (inputs read-only); the
    /// guest's output goes to `log`. A crash, a deadline, a memory limit or
    /// an oversized outcome is a failed outcome, with a message saying
    /// which; only a job that cannot be set up at all is an error.
    pub async fn run(
        &self,
        job: &Job,
        limits: &Limits,
        log: &ActionLog,
    ) -> Result<RunReport, SandboxError> {
        log.set_cap(limits.log_bytes);
        self.run_nested(job, limits, log, None).await
    }

    /// [`Provider::run`], or for a component another one runs (`parent`):
    /// one level deeper, on the parent's memory and copy budgets.
    pub(crate) async fn run_nested(
        &self,
        job: &Job,
        limits: &Limits,
        log: &ActionLog,
        parent: Option<&JobContext>,
    ) -> Result<RunReport, SandboxError> {
        // A component whose descriptor the host refuses never runs (asked
        // once per loaded component, then remembered).
        self.describe().await?;
        let (depth, (memory, copies)) = match parent {
            Some(parent) => (
                parent.depth + 1,
                (parent.memory.clone(), parent.copies.clone()),
            ),
            None => (0, JobContext::budgets(limits)),
        };
        let started = Instant::now();
        for secret in &job.grants.secrets {
            log.redact(secret.value.clone());
        }
        let wasi = job_wasi(job, log)?;
        let ctx = JobContext {
            action: job.action.clone(),
            mounts: JobMounts {
                scratch: Some(job.scratch.clone()),
                inputs: job.inputs.clone(),
                outputs: job.outputs.clone(),
                paths: job.mounts.clone(),
            },
            grants: job.grants.clone(),
            deadline: limits.call_deadline(),
            log: log.clone(),
            settings: self.shared.process.clone(),
            sandbox: Sandbox {
                shared: self.shared.clone(),
            },
            limits: limits.clone(),
            job: Some(job.clone()),
            depth,
            memory,
            copies,
            programs: Default::default(),
        };
        let programs = ctx.programs.clone();
        let mut store = self.store(wasi, limits, log, ctx);
        let _slot = self.slot().await;
        let wit_job = job.to_wit();
        let result = within(limits.call_deadline(), async {
            let instance = self.core.pre.instantiate_async(&mut store).await?;
            let guest = self.core.provider_exports.load(&mut store, &instance)?;
            guest.call_run(&mut store, &wit_job).await
        })
        .await;
        // Every program the call started has ended before anything reads
        // the job's folders back.
        programs.settle().await;
        log.flush();
        let outcome = match result {
            Ok(outcome) => outcome::enforce(Outcome::from(outcome), &limits.outcome),
            Err(error) => Outcome::Failed(Failure::job_failed(crash_message(
                &error,
                store.data(),
                limits,
                log,
            ))),
        };
        // Secrets never leave in clear, whatever the provider put where.
        let outcome = outcome::redact(outcome, log);
        Ok(RunReport {
            outcome,
            elapsed: started.elapsed(),
        })
    }

    /// The context of a call that is not a job (`describe`, `validate`,
    /// `latest-revision`): no artifacts, nothing granted but folders.
    fn query_context(&self, limits: &Limits, log: &ActionLog, paths: &[HostMount]) -> JobContext {
        let (memory, copies) = JobContext::budgets(limits);
        JobContext {
            action: self.name.clone(),
            mounts: JobMounts {
                paths: paths.to_vec(),
                ..JobMounts::default()
            },
            grants: Grants::default(),
            deadline: limits.call_deadline(),
            log: log.clone(),
            settings: self.shared.process.clone(),
            sandbox: Sandbox {
                shared: self.shared.clone(),
            },
            limits: limits.clone(),
            job: None,
            depth: 0,
            memory,
            copies,
            programs: Default::default(),
        }
    }

    fn store(
        &self,
        wasi: WasiCtx,
        limits: &Limits,
        log: &ActionLog,
        ctx: JobContext,
    ) -> Store<JobState> {
        new_store(&self.shared.engine, wasi, limits, log, ctx)
    }

    async fn slot(&self) -> tokio::sync::OwnedSemaphorePermit {
        self.shared
            .slots
            .clone()
            .acquire_owned()
            .await
            .expect("the instance semaphore is never closed")
    }

    fn call_error(
        &self,
        function: &'static str,
        error: &wasmtime::Error,
        store: &Store<JobState>,
        limits: &Limits,
        log: &ActionLog,
    ) -> SandboxError {
        SandboxError::Call {
            provider: self.name.clone(),
            function,
            message: crash_message(error, store.data(), limits, log),
        }
    }
}

/// A fresh store for one call: its WASI context, memory limiter, deadline
/// and the host interfaces' view of the job.
fn new_store(
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

fn query_limits(timeout: Duration) -> Limits {
    Limits {
        timeout,
        ..Limits::default()
    }
}

/// Runs `call` with a wall-clock limit as well as the epoch deadline: the
/// epoch stops a guest computing, this stops one blocked in a host call.
async fn within<T>(
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
fn crash_message(
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
    memory: MemoryLimiter,
    log: LogHost,
    http: wasmtime_wasi_http::WasiHttpCtx,
    http_hooks: HttpHooks,
    process: ProcessHost,
    secrets: SecretsHost,
    files: FilesHost,
    components: ComponentsHost,
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

/// A WASI context builder with nothing mounted, output going to `log`.
///
/// File system calls run on the calling thread rather than on tokio's
/// blocking pool: a job's files are on local disk, and handing each call
/// to another thread and back cost more than the call (a provider that
/// walks a folder and writes a file spent about 1 ms per job switching
/// threads; see BENCHMARKS.md).
fn output_to(log: &ActionLog) -> WasiCtxBuilder {
    let mut builder = WasiCtxBuilder::new();
    builder
        .stdout(stdio::LogStream::new(log.clone(), LogSource::Stdout))
        .stderr(stdio::LogStream::new(log.clone(), LogSource::Stderr))
        .allow_blocking_current_thread(true);
    builder
}

/// A WASI context with nothing mounted, output going to `log`.
fn quiet_wasi(log: &ActionLog) -> WasiCtx {
    output_to(log).build()
}

/// Mounts the host folders granted to an action.
fn mount_granted(builder: &mut WasiCtxBuilder, mounts: &[HostMount]) -> Result<(), SandboxError> {
    for mount in mounts {
        let perms = if mount.writable {
            FsPerms::ReadWrite
        } else {
            FsPerms::ReadOnly
        };
        builder
            .preopened_dir(&mount.host_path, &mount.guest_path, perms)
            .map_err(|e| SandboxError::Mount {
                what: format!("granted folder `{}`", mount.name),
                path: mount.host_path.clone(),
                message: format!("{e:#}"),
            })?;
    }
    Ok(())
}

/// The WASI context of a job: its artifacts, scratch folder and granted
/// folders, output going to `log`, nothing else.
fn job_wasi(job: &Job, log: &ActionLog) -> Result<WasiCtx, SandboxError> {
    let mut builder = output_to(log);
    let hidden: Vec<&Path> = job.hidden.iter().map(PathBuf::as_path).collect();
    for mount in &job.mounts {
        grants::hides_nothing(&mount.host_path, &hidden).map_err(|message| {
            SandboxError::Mount {
                what: format!("granted folder `{}`", mount.name),
                path: mount.host_path.clone(),
                message,
            }
        })?;
    }
    mount_granted(&mut builder, &job.mounts)?;
    let mounts = [
        (&job.inputs, guest_paths::INPUTS, FsPerms::ReadOnly, "input"),
        (
            &job.outputs,
            guest_paths::OUTPUTS,
            FsPerms::ReadWrite,
            "output",
        ),
    ];
    for (artifacts, parent, perms, kind) in mounts {
        for mount in artifacts {
            let what = format!("{kind} artifact `{}`", mount.name);
            if !is_artifact_name(&mount.name) {
                return Err(SandboxError::Mount {
                    what,
                    path: mount.host_path.clone(),
                    message: "artifact names use letters, digits, `_` and `-` (at most 100)".into(),
                });
            }
            builder
                .preopened_dir(&mount.host_path, format!("{parent}/{}", mount.name), perms)
                .map_err(|e| SandboxError::Mount {
                    what,
                    path: mount.host_path.clone(),
                    message: format!("{e:#}"),
                })?;
        }
    }
    builder
        .preopened_dir(&job.scratch, guest_paths::SCRATCH, FsPerms::ReadWrite)
        .map_err(|e| SandboxError::Mount {
            what: "the scratch folder".into(),
            path: job.scratch.clone(),
            message: format!("{e:#}"),
        })?;
    Ok(builder.build())
}

/// Advances the engine's epoch every [`EPOCH_TICK`] until dropped.
struct EpochTicker {
    stop: Arc<AtomicBool>,
}

impl EpochTicker {
    fn start(engine: Engine) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        std::thread::Builder::new()
            .name("sluice-epoch".into())
            .spawn(move || {
                while !flag.load(Ordering::Relaxed) {
                    std::thread::sleep(EPOCH_TICK);
                    engine.increment_epoch();
                }
            })
            .expect("can start the epoch thread");
        EpochTicker { stop }
    }
}

impl Drop for EpochTicker {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}
