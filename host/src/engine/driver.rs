//! The driver: runs the state machine for one state directory. One task
//! owns the machine and the store; each step (a command, a provider's
//! result, a timer) is applied to the machine, written to the store in one
//! transaction, and only then acted upon (answers sent, providers called,
//! calls cancelled). Provider calls run as tasks of their own
//! (`runner.rs`) and report back.
//!
//! One process drives a state directory at a time: the driver holds
//! `driver.lock` for its lifetime. Other processes leave commands in the
//! store, which the driver polls, and read their answers there.
//!
//! When a step cannot be written the driver stops: every waiting command
//! is answered [`CommandError::Unavailable`], and [`Driver::failure`]
//! says why (the server then reports itself unhealthy and exits).

use super::command::{Answer, Command, CommandError, answer_to_json};
pub use super::handle::DriverHandle;
use super::handle::Route;
use super::machine::{CallResult, Effect, Machine, RunRequest};
use super::runner::ProviderCalls;
use super::start::Started;
use super::startup::{load, take_lock};
use super::workspace::Workspaces;
use crate::artifacts::ArtifactStore;
use crate::providers::Catalog;
use crate::records::*;
use crate::sandbox::Sandbox;
pub use crate::state_dir::StateDir;
use crate::store::{Store, StoreError};
use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{broadcast, mpsc, oneshot, watch};

/// How often the driver looks for commands left by other processes.
const REQUEST_POLL: Duration = Duration::from_millis(50);

/// How often the stored commands are read anyway when they are heard as
/// they are left (PostgreSQL): a notification lost with a connection is
/// made up for.
const REQUEST_FALLBACK_POLL: Duration = Duration::from_secs(2);

/// Waits for the next notification (any: a missed one counts too); never
/// when there is nothing to listen to.
pub(super) async fn notified(heard: &mut Option<tokio::sync::broadcast::Receiver<String>>) {
    match heard {
        Some(receiver) => match receiver.recv().await {
            Ok(_) | Err(broadcast::error::RecvError::Lagged(_)) => {}
            Err(broadcast::error::RecvError::Closed) => {
                *heard = None;
                std::future::pending::<()>().await
            }
        },
        None => std::future::pending().await,
    }
}

/// Most inputs one step takes, so one transaction covers a burst of
/// results without starving timers.
const BATCH: usize = 256;

/// Most inputs waiting for the loop: senders (commands, results of provider
/// calls) wait beyond that, so a flood slows its sources down instead of
/// growing memory.
const INBOX: usize = 4096;

/// Why the driver could not start.
#[derive(Debug, thiserror::Error)]
pub enum DriverError {
    /// Another process drives this state directory.
    #[error("another sluice process is driving {} (it holds {lock})", dir.display())]
    Busy {
        /// The state directory.
        dir: PathBuf,
        /// The lock it holds: the lock file, or the database's driver lock.
        lock: String,
    },
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A folder of the state directory could not be used.
    #[error("{what}: {source}")]
    Io {
        /// What was being done.
        what: String,
        /// Why it failed.
        source: std::io::Error,
    },
}

/// Something that happened in the engine, for whoever watches.
#[derive(Debug, Clone)]
pub enum EngineEvent {
    /// An execution changed (a snapshot after the step).
    Execution(Box<Execution>),
}

/// Where a command's answer goes.
pub(super) enum Reply {
    /// A task of this process waits for it.
    Waiting(oneshot::Sender<Answer>),
    /// Another process left the command in the store, under this number.
    Stored(i64),
}

/// What the driver's loop takes.
pub(super) enum Input {
    Command(Command, Reply),
    Started(Box<Started>),
    Finished {
        key: ActionKey,
        token: u64,
        result: CallResult,
    },
    /// The host running a call stopped: run it again as a new attempt.
    Interrupted {
        key: ActionKey,
        token: u64,
        why: String,
    },
    Shutdown(oneshot::Sender<()>),
}

/// Host settings of a driver.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DriverSettings {
    /// How soon in-progress providers may be called back.
    pub recheck: super::timeouts::RecheckPolicy,
    /// Object storage every artifact is also kept in, for hosts that share
    /// work (`--artifacts s3://...`).
    pub artifacts: Option<crate::artifacts::RemoteSettings>,
    /// The provider calls this host runs at once (its driver's and its
    /// worker's together).
    pub slots: super::jobs::Slots,
    /// The host runs a [`super::jobs::Worker`] of its own beside the
    /// driver (`sluice serve`); otherwise a driver on PostgreSQL starts one.
    pub host_runs_worker: bool,
    /// This host's name in leases and jobs, when not
    /// [`super::jobs::host_name`] (tests running several hosts in one
    /// process).
    pub host_name: Option<String>,
}

/// A running driver. Dropping it without [`Driver::shutdown`] leaves
/// running actions to be run again by the next driver.
pub struct Driver {
    handle: DriverHandle,
    task: tokio::task::JoinHandle<()>,
    collector: tokio::task::JoinHandle<()>,
    /// Hears results of jobs other hosts run (PostgreSQL).
    watcher: Option<tokio::task::JoinHandle<()>>,
    /// This driver's own worker (PostgreSQL, when the host runs none).
    worker: Option<super::jobs::Worker>,
    state_dir: StateDir,
    damaged: Vec<(String, String)>,
}

impl std::fmt::Debug for Driver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Driver")
            .field("state_dir", &self.state_dir)
            .finish()
    }
}

impl Driver {
    /// Takes the driver lock of `state_dir`, loads its state, continues
    /// what a previous driver left, and starts driving, with default
    /// settings.
    pub async fn start(
        state_dir: &Path,
        sandbox: Sandbox,
        secrets: crate::secrets::SecretStore,
    ) -> Result<Driver, DriverError> {
        Self::start_with(state_dir, sandbox, secrets, DriverSettings::default()).await
    }

    /// [`Driver::start`] with `settings`.
    pub async fn start_with(
        state_dir: &Path,
        sandbox: Sandbox,
        secrets: crate::secrets::SecretStore,
        settings: DriverSettings,
    ) -> Result<Driver, DriverError> {
        let dir = StateDir::new(state_dir);
        let io = |what: String| move |source| DriverError::Io { what, source };
        std::fs::create_dir_all(&dir.root)
            .map_err(io(format!("creating {}", dir.root.display())))?;
        let lock = take_lock(&dir)?;
        let mut store = Store::open(&dir.root)?;
        let host = settings
            .host_name
            .clone()
            .unwrap_or_else(super::jobs::host_name);
        // The driver lock says the last holder's session is gone; without
        // it the lease is taken only once it has lapsed.
        let locked = store.take_driver_lock()?;
        let ttl = super::jobs::LEASE_TTL.as_millis() as i64;
        let Some(fence) = store.take_lease(&host, ttl, locked)? else {
            return Err(DriverError::Busy {
                dir: dir.root.clone(),
                lock: format!("the driving lease of {}", store.path().display()),
            });
        };
        // Calls queued by the last holder run again as new attempts.
        store.drop_earlier_jobs()?;
        let artifacts = ArtifactStore::open(&dir.artifacts()).map_err(|e| DriverError::Io {
            what: "opening the artifact store".into(),
            source: std::io::Error::other(e.to_string()),
        })?;
        let components = super::components::component_store(&dir)
            .map_err(io("opening the component store".into()))?;
        let workspaces =
            Workspaces::open(&dir.work()).map_err(io("preparing job folders".into()))?;
        let (calls_sandbox, calls_secrets) = (sandbox.clone(), secrets.clone());
        let catalog = Catalog::new(sandbox, &dir.root, Some(components));

        let mut machine = Machine::new();
        machine.set_recheck_policy(settings.recheck);
        machine.set_now(now_millis());
        let damaged = load(&mut machine, &store)?;
        machine.resume();
        let changes = machine.take_changes();
        store.write_step(&changes.records(&machine))?;
        // Folders of actions still in progress stay for their call-backs.
        workspaces.keep_only(|execution, stage, action| {
            machine.execution(execution).is_some_and(|e| {
                e.stages
                    .get(stage)
                    .and_then(|s| s.actions.get(action))
                    .is_some_and(|a| a.status == Some(ActionStatus::InProgress))
            })
        });

        let (inbox, receiver) = mpsc::channel(INBOX);
        let (events, _) = broadcast::channel(4096);
        let (failure, failure_seen) = watch::channel(None);
        let remote = settings
            .artifacts
            .as_ref()
            .map(crate::artifacts::Remote::new)
            .transpose()
            .map_err(|e| DriverError::Io {
                what: "reaching the artifact storage".into(),
                source: std::io::Error::other(e.to_string()),
            })?;
        // On PostgreSQL logs go to the database too, for every host.
        let log_store = if store.is_postgres() {
            Some(Store::open(&dir.root)?)
        } else {
            None
        };
        let calls = Arc::new(
            ProviderCalls::new(dir.clone(), catalog, artifacts, remote, workspaces, secrets)
                .with_shared_logs(log_store),
        );
        let postgres = store.is_postgres();
        let waiting: super::jobs::Waiting = Default::default();
        let queue = postgres.then(|| Queue {
            host: host.clone(),
            fence,
            slots: settings.slots.clone(),
            only_here: settings.artifacts.is_none(),
            waiting: waiting.clone(),
            calls: HashMap::new(),
            finished_here: Vec::new(),
            holds_lock: locked,
        });
        let watcher = postgres.then(|| {
            tokio::spawn(super::jobs::watch(
                dir.root.clone(),
                fence,
                waiting,
                inbox.clone(),
            ))
        });
        let worker = if postgres && !settings.host_runs_worker {
            Some(super::jobs::Worker::start(
                &dir.root,
                calls_sandbox,
                calls_secrets,
                &settings,
            )?)
        } else {
            None
        };
        let driver = DriverLoop {
            queue,
            machine,
            store,
            calls: calls.clone(),
            inbox: inbox.clone(),
            events: events.clone(),
            running: HashMap::new(),
            replies: Vec::new(),
            cancelled: HashSet::new(),
            starting: HashMap::new(),
            taken: HashSet::new(),
            failure,
            _lock: lock,
        };
        // The loop writes to the store between awaits: it runs on a thread
        // of its own, never on the runtime's workers.
        let runtime = tokio::runtime::Handle::current();
        let task = tokio::task::spawn_blocking(move || runtime.block_on(driver.run(receiver)));
        let collector = tokio::spawn(crate::retention::collect_every(dir.clone(), COLLECT_EVERY));
        Ok(Driver {
            handle: DriverHandle {
                route: Route::Local {
                    inbox,
                    events,
                    failure: failure_seen,
                    calls,
                },
            },
            task,
            collector,
            watcher,
            worker,
            state_dir: dir,
            damaged,
        })
    }

    /// The state directory it drives.
    pub fn state_dir(&self) -> &StateDir {
        &self.state_dir
    }

    /// Running executions it found but could not read back (by id, with
    /// the reason): left as they are while the rest run.
    pub fn damaged(&self) -> &[(String, String)] {
        &self.damaged
    }

    /// Gives the engine a command and waits for its answer.
    pub async fn command(&self, command: Command) -> Answer {
        self.handle.command(command).await
    }

    /// A handle for other tasks.
    pub fn handle(&self) -> DriverHandle {
        self.handle.clone()
    }

    /// Changes as they happen.
    pub fn subscribe(&self) -> broadcast::Receiver<EngineEvent> {
        self.handle.subscribe()
    }

    /// Why the driver stopped on its own, if it did.
    pub fn failure(&self) -> Option<String> {
        self.handle.failure()
    }

    /// Stops driving: provider calls under way are dropped (the next
    /// driver runs them again) and the lock is released. Returns why the
    /// driver had stopped on its own, if it had.
    pub async fn shutdown(self) -> Result<(), String> {
        self.collector.abort();
        if let Some(watcher) = &self.watcher {
            watcher.abort();
        }
        if let Some(worker) = self.worker {
            worker.shutdown().await;
        }
        let (done, wait) = oneshot::channel();
        let Route::Local { inbox, .. } = &self.handle.route else {
            unreachable!("a driver's own handle is local")
        };
        if inbox.send(Input::Shutdown(done)).await.is_ok() {
            let _ = wait.await;
        }
        let _ = self.task.await;
        match self.handle.failure() {
            Some(reason) => Err(reason),
            None => Ok(()),
        }
    }
}

/// The driver's side of the job queue (PostgreSQL).
struct Queue {
    /// This host.
    host: String,
    /// The lease's fencing token this driver writes under.
    fence: i64,
    slots: super::jobs::Slots,
    /// Artifacts are not shared: only this host may run its jobs.
    only_here: bool,
    /// Jobs other hosts run, which the watcher waits for.
    waiting: super::jobs::Waiting,
    /// Every call under way.
    calls: HashMap<(ActionKey, u64), Call>,
    /// Calls this host ran, recorded with the next step (its results').
    finished_here: Vec<crate::store::NewJob>,
    /// Whether this driver holds the driver lock (it took the lease over
    /// from a silent holder that still held it: it asks again).
    holds_lock: bool,
}

/// A call under way, on PostgreSQL.
enum Call {
    /// This host runs it (its job is recorded once it finished).
    Here {
        job: crate::store::NewJob,
        started: std::time::Instant,
    },
    /// A queued job, by id.
    Queued(String),
}

/// The driver's loop and everything it owns.
pub(super) struct DriverLoop {
    queue: Option<Queue>,
    pub(super) machine: Machine,
    pub(super) store: Store,
    pub(super) calls: Arc<ProviderCalls>,
    pub(super) inbox: mpsc::Sender<Input>,
    events: broadcast::Sender<EngineEvent>,
    running: HashMap<(ActionKey, u64), tokio::task::AbortHandle>,
    /// Answers to send once the step is written.
    replies: Vec<(Reply, Answer)>,
    cancelled: HashSet<ExecutionId>,
    /// Starts under way with an idempotency token (pipeline, token), and
    /// the starts with the same token that wait for them.
    pub(super) starting: HashMap<(String, String), Vec<Reply>>,
    /// Commands from the store being applied now (not taken again).
    taken: HashSet<i64>,
    failure: watch::Sender<Option<String>>,
    _lock: std::fs::File,
}

impl DriverLoop {
    async fn run(mut self, mut receiver: mpsc::Receiver<Input>) {
        // On PostgreSQL commands from other hosts are heard as they are
        // left (LISTEN/NOTIFY), and the poll is only a fallback.
        let mut heard = self.store.listen_for_requests().unwrap_or_else(|e| {
            tracing::warn!("cannot listen for commands, polling instead: {e}");
            None
        });
        let every = if heard.is_some() {
            REQUEST_FALLBACK_POLL
        } else {
            REQUEST_POLL
        };
        let mut poll = tokio::time::interval(every);
        poll.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut renew = tokio::time::interval(super::jobs::RENEW_EVERY);
        renew.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            let timer = self.machine.next_timer().map(|at| {
                let wait = (at - now_millis()).max(0) as u64;
                tokio::time::Instant::now() + Duration::from_millis(wait)
            });
            let input = tokio::select! {
                input = receiver.recv() => match input {
                    Some(input) => Some(input),
                    None => break,
                },
                _ = async { tokio::time::sleep_until(timer.unwrap()).await }, if timer.is_some() => None,
                _ = poll.tick() => {
                    self.take_stored_commands();
                    None
                }
                _ = notified(&mut heard) => {
                    self.take_stored_commands();
                    None
                }
                _ = renew.tick(), if self.queue.is_some() => {
                    if let Err(reason) = self.renew_lease() {
                        self.fail(reason, &mut receiver);
                        break;
                    }
                    None
                }
            };
            self.machine.set_now(now_millis());
            let mut shutdown = None;
            if let Some(input) = input {
                shutdown = self.handle(input);
            }
            let mut batch = 0;
            while shutdown.is_none() && batch < BATCH {
                match receiver.try_recv() {
                    Ok(input) => {
                        shutdown = self.handle(input);
                        batch += 1;
                    }
                    Err(_) => break,
                }
            }
            self.machine.tick();
            if let Err(reason) = self.commit() {
                self.fail(reason, &mut receiver);
                break;
            }
            if let Some(done) = shutdown {
                self.abort_calls();
                if let Err(error) = self.store.release_lease() {
                    tracing::warn!(%error, "cannot let the lease go");
                }
                let _ = done.send(());
                break;
            }
        }
    }

    /// Writes the step and acts on it.
    fn commit(&mut self) -> Result<(), String> {
        let changes = self.machine.take_changes();
        let effects = self.machine.take_effects();
        // The calls this step makes become jobs in its own transaction:
        // run here while this host has free slots, queued for any host
        // otherwise.
        // Calls this host has no free slot for are queued in the step's own
        // transaction; those it runs itself are recorded, as done, in the
        // step that records their result (a host that dies mid-call leaves
        // no job: its driver's successor runs the call again anyway).
        let mut slots = Vec::new();
        let mut jobs = Vec::new();
        if let Some(queue) = &mut self.queue {
            jobs = std::mem::take(&mut queue.finished_here);
            for effect in &effects {
                let Effect::Run(request) = effect else {
                    continue;
                };
                let slot = queue.slots.try_take();
                let has_artifacts = !(request.inputs.is_empty() && request.outputs.is_empty());
                let job = crate::store::NewJob {
                    id: format!("{}.{}", queue.fence, request.token),
                    execution: request.key.execution.clone(),
                    stage: request.key.stage,
                    action: request.key.action,
                    attempt: request.attempt,
                    request: String::new(),
                    // A call with artifacts to read or make runs where
                    // they are, unless hosts share them.
                    only_host: (queue.only_here && has_artifacts).then(|| queue.host.clone()),
                    artifacts: has_artifacts,
                    ran: None,
                };
                if slot.is_none() {
                    jobs.push(crate::store::NewJob {
                        request: serde_json::to_string(request).expect("a call is JSON"),
                        ..job.clone()
                    });
                }
                slots.push((slot, job));
            }
        }
        let host = self.queue.as_ref().map(|q| q.host.as_str()).unwrap_or("");
        self.store
            .write_step_with_jobs(&changes.records(&self.machine), &jobs, host)
            .map_err(|error| format!("cannot write the state database: {error}"))?;
        if self.events.receiver_count() > 0 {
            for id in &changes.executions {
                if let Some(execution) = self.machine.execution(id) {
                    let _ = self
                        .events
                        .send(EngineEvent::Execution(Box::new(execution.clone())));
                }
            }
        }
        for (reply, answer) in std::mem::take(&mut self.replies) {
            self.send(reply, answer);
        }
        let mut slots = slots.into_iter();
        for effect in effects {
            match effect {
                Effect::Run(request) => match &mut self.queue {
                    None => self.spawn_call(request, None),
                    Some(queue) => {
                        let (slot, job) = slots.next().expect("a job for each call");
                        let call = (request.key.clone(), request.token);
                        match slot {
                            Some(slot) => {
                                let started = std::time::Instant::now();
                                queue.calls.insert(call, Call::Here { job, started });
                                self.spawn_call(request, Some(slot));
                            }
                            None => {
                                queue
                                    .calls
                                    .insert(call.clone(), Call::Queued(job.id.clone()));
                                queue
                                    .waiting
                                    .lock()
                                    .expect("waiting jobs")
                                    .insert(job.id, call);
                            }
                        }
                    }
                },
                Effect::Cancel { key, token } => {
                    if let Some(handle) = self.running.remove(&(key.clone(), token)) {
                        handle.abort();
                    }
                    self.drop_job(&key, token);
                    self.cancelled.insert(key.execution);
                }
                Effect::Finished { execution, .. } => {
                    // Calls dropped mid-way leave their folders behind.
                    if self.cancelled.remove(&execution) {
                        self.calls.workspaces.forget_execution(&execution);
                    }
                }
            }
        }
        self.machine.evict_finished();
        Ok(())
    }

    /// Stops the driver after a step could not be written: nothing of the
    /// step is acted on, and everyone waiting is told why.
    fn fail(&mut self, reason: String, receiver: &mut mpsc::Receiver<Input>) {
        tracing::error!(%reason, "the engine stops");
        let _ = self.failure.send(Some(reason.clone()));
        self.abort_calls();
        let refused = || {
            Err(CommandError::unavailable(format!(
                "the engine stopped: {reason}"
            )))
        };
        let mut waiting: Vec<Reply> = std::mem::take(&mut self.replies)
            .into_iter()
            .map(|(reply, _)| reply)
            .collect();
        waiting.extend(self.starting.drain().flat_map(|(_, w)| w));
        receiver.close();
        while let Ok(input) = receiver.try_recv() {
            match input {
                Input::Command(_, reply) => waiting.push(reply),
                Input::Started(started) => waiting.push(started.into_reply()),
                Input::Shutdown(done) => {
                    let _ = done.send(());
                }
                Input::Finished { .. } | Input::Interrupted { .. } => {}
            }
        }
        for reply in waiting {
            // A stored command stays as it is: the next driver takes it.
            if let Reply::Waiting(reply) = reply {
                let _ = reply.send(refused());
            }
        }
    }

    fn abort_calls(&mut self) {
        for (_, handle) in self.running.drain() {
            handle.abort();
        }
    }

    fn handle(&mut self, input: Input) -> Option<oneshot::Sender<()>> {
        match input {
            Input::Command(command, reply) => self.apply(command, reply),
            Input::Started(started) => self.started(*started),
            Input::Finished { key, token, result } => {
                self.running.remove(&(key.clone(), token));
                if let Some(queue) = &mut self.queue
                    && let Some(Call::Here { job, started }) =
                        queue.calls.remove(&(key.clone(), token))
                {
                    queue.finished_here.push(crate::store::NewJob {
                        ran: Some(started.elapsed()),
                        ..job
                    });
                }
                self.machine.action_finished(&key, token, result);
            }
            Input::Interrupted { key, token, why } => {
                if let Some(queue) = &mut self.queue {
                    queue.calls.remove(&(key.clone(), token));
                }
                self.machine.interrupted(&key, token, &why);
            }
            Input::Shutdown(done) => return Some(done),
        }
        None
    }

    /// Answers `reply` once the step is written.
    pub(super) fn answer(&mut self, reply: Reply, answer: Answer) {
        self.replies.push((reply, answer));
    }

    fn send(&mut self, reply: Reply, answer: Answer) {
        match reply {
            Reply::Waiting(reply) => {
                let _ = reply.send(answer);
            }
            Reply::Stored(id) => {
                if let Err(error) = self.store.complete_request(id, &answer_to_json(&answer)) {
                    tracing::warn!(%error, "cannot record a command's answer");
                }
                self.taken.remove(&id);
            }
        }
    }

    /// Takes the commands other processes left in the store. A command is
    /// answered (and so leaves the queue) once the step it made is written:
    /// a driver that dies before leaves it pending, and the next one
    /// applies it. A start is applied once even so: it carries an
    /// idempotency token (the request's own number when it came without
    /// one), so a start applied again finds the execution it made.
    fn take_stored_commands(&mut self) {
        let pending = match self.store.pending_requests() {
            Ok(p) => p,
            Err(error) => {
                tracing::warn!(%error, "cannot read commands left in the store");
                return;
            }
        };
        for (id, body) in pending {
            if !self.taken.insert(id) {
                continue;
            }
            let command = match Command::from_json(&body) {
                Ok(Command::Start(mut start)) => {
                    start.token.get_or_insert_with(|| format!("request-{id}"));
                    Command::Start(start)
                }
                Ok(command) => command,
                Err(reason) => {
                    self.send(Reply::Stored(id), Err(CommandError::unavailable(reason)));
                    continue;
                }
            };
            self.machine.set_now(now_millis());
            self.apply(command, Reply::Stored(id));
        }
    }

    /// Renews the lease (PostgreSQL); an error once another host has
    /// taken it over. A driver that took the lease over from a silent
    /// holder asks for the driver lock again, which is free once that
    /// holder's session ends.
    fn renew_lease(&mut self) -> Result<(), String> {
        let ttl = super::jobs::LEASE_TTL.as_millis() as i64;
        match self.store.renew_lease(ttl) {
            Ok(true) => {}
            Ok(false) | Err(StoreError::Fenced { .. }) => {
                return Err("another host took over this host's lease".into());
            }
            // A passing failure: the lease lasts a while, and the fence
            // stops this driver's writes once another host has taken it.
            Err(error) => tracing::warn!(%error, "cannot renew the lease"),
        }
        if let Some(queue) = &mut self.queue
            && !queue.holds_lock
        {
            queue.holds_lock = self.store.take_driver_lock().unwrap_or(false);
        }
        Ok(())
    }

    /// Drops the job of call `token` of `key`, if it has one: its worker
    /// stops it.
    fn drop_job(&mut self, key: &ActionKey, token: u64) {
        let Some(queue) = &mut self.queue else {
            return;
        };
        let Some(Call::Queued(id)) = queue.calls.remove(&(key.clone(), token)) else {
            return;
        };
        queue.waiting.lock().expect("waiting jobs").remove(&id);
        if let Err(error) = self.store.drop_jobs(std::slice::from_ref(&id)) {
            tracing::warn!(%error, job = %id, "cannot drop a job");
        }
    }

    fn spawn_call(&mut self, request: RunRequest, slot: Option<tokio::sync::OwnedSemaphorePermit>) {
        let key = request.key.clone();
        let token = request.token;
        let calls = self.calls.clone();
        let inbox = self.inbox.clone();
        let task = tokio::spawn(async move {
            let result = calls.call(&request).await;
            drop(slot);
            let _ = inbox
                .send(Input::Finished {
                    key: request.key,
                    token: request.token,
                    result,
                })
                .await;
        });
        self.running.insert((key, token), task.abort_handle());
    }
}

/// How often the driver lets go of what retention says.
const COLLECT_EVERY: Duration = Duration::from_secs(600);
