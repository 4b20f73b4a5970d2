//! The sandbox's policy in one place: the wasmtime engine's configuration,
//! the pooling allocator (and the fall-back to on-demand allocation), the
//! epoch ticker behind deadlines, the compile cache, and the host
//! interfaces linked in (from the table in [`super::host`]).

use super::*;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use wasmtime::{Config, Enabled, InstanceAllocationStrategy, OptLevel, PoolingAllocationConfig};

/// How often the epoch advances; deadlines are checked (and long-running
/// guests yield to the runtime) this often.
const EPOCH_TICK: Duration = Duration::from_millis(10);

/// How long `describe` and `validate` may take, unless the host says
/// otherwise ([`SandboxBuilder::query_timeout`]).
pub const QUERY_TIMEOUT: Duration = Duration::from_secs(60);

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

    /// Where granted programs are looked up, and how they are isolated.
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
        for group in host::INTERFACES {
            (group.link)(&mut linker)
                .map_err(|e| SandboxError::Engine(format!("linking {}: {e}", group.what)))?;
        }
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

/// Advances the engine's epoch every [`EPOCH_TICK`] until dropped.
pub(super) struct EpochTicker {
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
