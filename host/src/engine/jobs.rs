//! Provider calls as jobs that hosts sharing a PostgreSQL database take
//! (the queue itself is `store/jobs.rs`).
//!
//! While the driving host has a free slot it runs a call itself, and
//! records its job, done, in the step that records the result (no extra
//! round trip). Otherwise the job is written `queued` in the same
//! transaction as the step that makes the call, and waits until a
//! [`Worker`] with a free slot, on any host, claims it. A worker
//! beats for each job it runs; the driver's [`watch`] hears results as
//! workers record them (LISTEN/NOTIFY) and marks `lost` the jobs whose
//! worker fell silent, whose actions then run again as new attempts.
//!
//! On SQLite nothing here is used: the one host runs every call itself.

use super::driver::{DriverError, DriverSettings, Input, notified};
use super::machine::{CallResult, RunRequest};
use super::runner::ProviderCalls;
use super::workspace::Workspaces;
use crate::artifacts::ArtifactStore;
use crate::providers::Catalog;
use crate::records::ActionKey;
use crate::sandbox::{FailureKind, Sandbox};
use crate::state_dir::StateDir;
use crate::store::{ClaimedJob, JobOutcome, Store};
use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::{OwnedSemaphorePermit, Semaphore, mpsc};

/// How long a lease lasts unrenewed.
pub const LEASE_TTL: Duration = Duration::from_secs(15);

/// How often the driving host renews its lease.
pub const RENEW_EVERY: Duration = Duration::from_secs(3);

/// How often a worker beats for each job it runs.
pub const BEAT_EVERY: Duration = Duration::from_secs(3);

/// How long a worker may stay silent before its job counts as lost.
pub const LOST_AFTER: Duration = Duration::from_secs(15);

/// How often the driver looks for silent workers, and reads results it
/// may not have heard of.
const SWEEP_EVERY: Duration = Duration::from_secs(2);

/// How often an idle worker looks for jobs it may not have heard of.
const CLAIM_FALLBACK: Duration = Duration::from_secs(5);

/// Provider calls one host runs at once, by default.
pub const DEFAULT_SLOTS: usize = 16;

/// The provider calls one host may run at once, shared by its driver and
/// its worker.
#[derive(Clone)]
pub struct Slots {
    semaphore: Arc<Semaphore>,
    count: usize,
}

impl Slots {
    /// `count` slots (at least one).
    pub fn new(count: usize) -> Slots {
        let count = count.max(1);
        Slots {
            semaphore: Arc::new(Semaphore::new(count)),
            count,
        }
    }

    /// How many there are.
    pub fn count(&self) -> usize {
        self.count
    }

    /// How many are taken now.
    pub fn busy(&self) -> usize {
        self.count - self.semaphore.available_permits()
    }

    /// A free slot now, if there is one.
    pub(super) fn try_take(&self) -> Option<OwnedSemaphorePermit> {
        self.semaphore.clone().try_acquire_owned().ok()
    }

    /// The next free slot.
    async fn take(&self) -> OwnedSemaphorePermit {
        self.semaphore
            .clone()
            .acquire_owned()
            .await
            .expect("the slots are never closed")
    }
}

impl Default for Slots {
    fn default() -> Self {
        Slots::new(DEFAULT_SLOTS)
    }
}

impl std::fmt::Debug for Slots {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Slots({})", self.count)
    }
}

impl PartialEq for Slots {
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.semaphore, &other.semaphore)
    }
}
impl Eq for Slots {}

/// This host's name in leases and jobs: `SLUICE_HOST_NAME`, or the
/// machine's name and the process id (a restarted host is a new holder).
pub fn host_name() -> String {
    static NAME: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    NAME.get_or_init(|| {
        if let Ok(name) = std::env::var("SLUICE_HOST_NAME")
            && !name.trim().is_empty()
        {
            return crate::text::line(name.trim()).into_owned();
        }
        let machine = std::fs::read_to_string("/proc/sys/kernel/hostname")
            .map(|s| s.trim().to_string())
            .unwrap_or_else(|_| "host".into());
        format!("{machine}:{}", std::process::id())
    })
    .clone()
}

/// The jobs a driver waits for on other hosts, by id: which call each is.
pub(super) type Waiting = Arc<Mutex<HashMap<String, (ActionKey, u64)>>>;

/// Runs `f` on the shared store on a blocking thread.
async fn on_store<R: Send + 'static>(
    store: &Arc<Mutex<Store>>,
    f: impl FnOnce(&mut Store) -> R + Send + 'static,
) -> Option<R> {
    let store = store.clone();
    tokio::task::spawn_blocking(move || f(&mut store.lock().expect("job store")))
        .await
        .ok()
}

/// The driver's side: hears results of the jobs it waits for, as workers
/// record them, and marks lost those of silent workers (the fence keeps a
/// driver whose lease was taken over from losing the new driver's jobs).
pub(super) async fn watch(
    state_dir: std::path::PathBuf,
    fence: i64,
    waiting: Waiting,
    inbox: mpsc::Sender<Input>,
) {
    let opened = tokio::task::spawn_blocking(move || Store::open(&state_dir)).await;
    let store = match opened {
        Ok(Ok(store)) => store,
        Ok(Err(e)) => {
            tracing::error!("the job watcher cannot open the store: {e}");
            return;
        }
        Err(_) => return,
    };
    let mut heard = store.listen_for_finished_jobs().ok().flatten();
    let store = Arc::new(Mutex::new(store));
    let mut sweep = tokio::time::interval(SWEEP_EVERY);
    sweep.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = sweep.tick() => {
                let silent = LOST_AFTER.as_millis() as i64;
                if let Some(Err(e)) = on_store(&store, move |s| s.lose_silent_jobs(fence, silent)).await {
                    tracing::warn!("cannot look for silent workers: {e}");
                }
            }
            _ = notified(&mut heard) => {}
        }
        let ids: Vec<String> = waiting
            .lock()
            .expect("waiting jobs")
            .keys()
            .cloned()
            .collect();
        if ids.is_empty() {
            continue;
        }
        let ended = match on_store(&store, move |s| s.ended_jobs(&ids)).await {
            Some(Ok(ended)) => ended,
            Some(Err(e)) => {
                tracing::warn!("cannot read finished jobs: {e}");
                continue;
            }
            None => return,
        };
        for (id, outcome) in ended {
            let Some((key, token)) = waiting.lock().expect("waiting jobs").remove(&id) else {
                continue;
            };
            let input = match outcome {
                JobOutcome::Done(json) => Input::Finished {
                    key,
                    token,
                    result: serde_json::from_str(&json).unwrap_or_else(|e| {
                        CallResult::failed(
                            FailureKind::SystemUnavailable,
                            format!("job {id}: its worker's result cannot be read: {e}"),
                        )
                    }),
                },
                JobOutcome::Lost { worker } => Input::Interrupted {
                    key,
                    token,
                    why: match worker {
                        Some(worker) => format!("host {worker} stopped answering"),
                        None => "its job was dropped".into(),
                    },
                },
            };
            if inbox.send(input).await.is_err() {
                return;
            }
        }
    }
}

/// A host's worker: claims queued jobs while the host has free slots,
/// runs them, beats for them and records their results.
pub struct Worker {
    task: tokio::task::JoinHandle<()>,
}

impl Worker {
    /// Starts working for the database `state_dir` names, with the slots
    /// of `settings` (shared with this host's driver, if it has one). Jobs
    /// whose artifacts only their driving host has are taken only when
    /// that host is this one, unless `settings` names the shared storage.
    pub fn start(
        state_dir: &Path,
        sandbox: Sandbox,
        secrets: crate::secrets::SecretStore,
        settings: &DriverSettings,
    ) -> Result<Worker, DriverError> {
        let dir = StateDir::new(state_dir);
        let io = |what: &str| {
            let what = what.to_string();
            move |source| DriverError::Io { what, source }
        };
        let store = Store::open(&dir.root)?;
        let heard = store.listen_for_jobs()?;
        let artifacts = ArtifactStore::open(&dir.artifacts()).map_err(|e| DriverError::Io {
            what: "opening the artifact store".into(),
            source: std::io::Error::other(e.to_string()),
        })?;
        let components =
            super::components::component_store(&dir).map_err(io("opening the component store"))?;
        // Job folders of their own: the driver's are cleared as it starts.
        let workspaces =
            Workspaces::open(&dir.root.join("worker")).map_err(io("preparing job folders"))?;
        workspaces.keep_only(|_, _, _| false);
        let remote = settings
            .artifacts
            .as_ref()
            .map(crate::artifacts::Remote::new)
            .transpose()
            .map_err(|e| DriverError::Io {
                what: "reaching the artifact storage".into(),
                source: std::io::Error::other(e.to_string()),
            })?;
        let shared = remote.is_some();
        let catalog = Catalog::new(sandbox, &dir.root, Some(components));
        let log_store = Store::open(&dir.root)?;
        let calls = Arc::new(
            ProviderCalls::new(dir, catalog, artifacts, remote, workspaces, secrets)
                .with_shared_logs(Some(log_store)),
        );
        let host = settings.host_name.clone().unwrap_or_else(host_name);
        let task = tokio::spawn(work(
            host,
            calls,
            Arc::new(Mutex::new(store)),
            heard,
            settings.slots.clone(),
            shared,
        ));
        Ok(Worker { task })
    }

    /// Stops claiming, and stops the jobs under way (their drivers run
    /// them again once the beats stop).
    pub async fn shutdown(self) {
        self.task.abort();
        let _ = self.task.await;
    }
}

async fn work(
    host: String,
    calls: Arc<ProviderCalls>,
    store: Arc<Mutex<Store>>,
    mut heard: Option<tokio::sync::broadcast::Receiver<String>>,
    slots: Slots,
    shared: bool,
) {
    // Dropped (and so stopped) with this task.
    let mut running = tokio::task::JoinSet::new();
    loop {
        while running.try_join_next().is_some() {}
        let slot = slots.take().await;
        let me = host.clone();
        match on_store(&store, move |s| s.claim_job(&me, shared)).await {
            Some(Ok(Some(job))) => {
                running.spawn(run(calls.clone(), store.clone(), host.clone(), job, slot));
            }
            Some(Ok(None)) => {
                drop(slot);
                let _ = tokio::time::timeout(CLAIM_FALLBACK, notified(&mut heard)).await;
            }
            Some(Err(e)) => {
                drop(slot);
                tracing::warn!("cannot claim a job: {e}");
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
            None => return,
        }
    }
}

/// Runs one claimed job, beating for it; stops it when it is no longer
/// this host's (lost or dropped).
async fn run(
    calls: Arc<ProviderCalls>,
    store: Arc<Mutex<Store>>,
    host: String,
    job: ClaimedJob,
    _slot: OwnedSemaphorePermit,
) {
    let id = job.id.clone();
    let result = match serde_json::from_str::<RunRequest>(&job.request) {
        Err(e) => Some(CallResult::failed(
            FailureKind::SystemUnavailable,
            format!("job {id} cannot be read: {e}"),
        )),
        Ok(request) => {
            let call = calls.call(&request);
            tokio::pin!(call);
            let mut beat = tokio::time::interval(BEAT_EVERY);
            beat.tick().await;
            loop {
                tokio::select! {
                    result = &mut call => break Some(result),
                    _ = beat.tick() => {
                        let (id, me) = (id.clone(), host.clone());
                        if let Some(Ok(false)) = on_store(&store, move |s| s.beat(&id, &me)).await {
                            break None;
                        }
                    }
                }
            }
        }
    };
    match result {
        Some(result) => {
            let json = serde_json::to_string(&result).expect("a call's result is JSON");
            let (job, me) = (id.clone(), host.clone());
            match on_store(&store, move |s| s.finish_job(&job, &me, &json)).await {
                Some(Ok(true)) => {}
                Some(Ok(false)) => {
                    tracing::warn!(job = %id, "the job was taken from this host; its result is dropped")
                }
                Some(Err(e)) => tracing::warn!(job = %id, "cannot record the job's result: {e}"),
                None => {}
            }
        }
        None => tracing::warn!(job = %id, "the job was taken from this host; stopped"),
    }
}
