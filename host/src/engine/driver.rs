//! The driver: runs the state machine for one state directory. One task
//! owns the machine and the store; each step (a request, a provider's
//! result, a timer) is applied to the machine, written to the store in one
//! transaction, and only then acted upon (providers called, calls
//! cancelled). Provider calls run as their own tasks and report back.
//!
//! One process drives a state directory at a time: the driver holds
//! `driver.lock` for its lifetime. Other processes leave requests in the
//! store, which the driver polls.

use super::machine::{CallResult, Effect, EngineError, Machine, RunRequest};
use super::workspace::{JobFolders, Workspaces};
use crate::artifacts::ArtifactStore;
use crate::providers::{Catalog, ComponentStore};
use crate::records::*;
use crate::sandbox::{
    ActionLog, Approval, FailureKind, Grants, HttpGrant, Job, Limits, Outcome, ProcessGrant,
    ProgramLimits, Provider, Sandbox, Secret, SourceRevision, UrlRule,
};
pub use crate::state_dir::StateDir;
use crate::store::{Request, RequestOutcome, Store, StoreError};
use indexmap::IndexMap;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::{broadcast, mpsc, oneshot};

/// How often the driver looks for requests left by other processes.
const REQUEST_POLL: Duration = Duration::from_millis(50);

/// Why the engine could not start.
#[derive(Debug, thiserror::Error)]
pub enum DriverError {
    /// Another process drives this state directory.
    #[error("another sluice process is driving {} (it holds {})", dir.display(), lock.display())]
    Busy {
        /// The state directory.
        dir: PathBuf,
        /// The lock file.
        lock: PathBuf,
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

enum Input {
    Request(Request, oneshot::Sender<RequestOutcome>),
    Started {
        id: ExecutionId,
        pipeline: String,
        trigger: String,
        variables: IndexMap<String, String>,
        revisions: Vec<RecordedRevision>,
        token: Option<String>,
        reply: oneshot::Sender<RequestOutcome>,
    },
    Finished {
        key: ActionKey,
        token: u64,
        result: CallResult,
    },
    Shutdown(oneshot::Sender<()>),
}

/// A cheap, clonable way to talk to a running engine (for the HTTP API's
/// handlers): requests and the event stream, not shutdown.
#[derive(Clone)]
pub struct EngineHandle {
    inbox: mpsc::UnboundedSender<Input>,
    events: broadcast::Sender<EngineEvent>,
    runner: Arc<Runner>,
}

impl std::fmt::Debug for EngineHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EngineHandle").finish_non_exhaustive()
    }
}

impl EngineHandle {
    /// Asks the engine to do something and waits for the answer.
    pub async fn request(&self, request: Request) -> RequestOutcome {
        send_request(&self.inbox, request).await
    }

    /// Changes as they happen.
    pub fn subscribe(&self) -> broadcast::Receiver<EngineEvent> {
        self.events.subscribe()
    }

    /// Asks source action `action` of `version`'s first stage for its
    /// latest revision (with the variables' defaults), as an execution's
    /// start would.
    pub async fn latest_revision(
        &self,
        version: &PipelineVersion,
        action: usize,
    ) -> Result<SourceRevision, String> {
        let variables: IndexMap<String, String> = version
            .definition
            .variables
            .iter()
            .filter_map(|v| v.default.clone().map(|d| (v.name.clone(), d)))
            .collect();
        self.runner
            .latest_revision(version, &variables, "", action)
            .await
    }

    /// Asks source action `action` which paths differ between two of its
    /// revisions (`None`: it cannot tell).
    pub async fn changed_paths(
        &self,
        version: &PipelineVersion,
        action: usize,
        from: &str,
        to: &str,
    ) -> Result<Option<Vec<String>>, String> {
        self.runner.changed_paths(version, action, from, to).await
    }
}

async fn send_request(inbox: &mpsc::UnboundedSender<Input>, request: Request) -> RequestOutcome {
    let (reply, answer) = oneshot::channel();
    if inbox.send(Input::Request(request, reply)).is_err() {
        return RequestOutcome {
            ok: false,
            message: "the engine has stopped".into(),
            execution: None,
        };
    }
    answer.await.unwrap_or(RequestOutcome {
        ok: false,
        message: "the engine stopped before answering".into(),
        execution: None,
    })
}

/// A running engine. Dropping it without [`Engine::shutdown`] leaves
/// running actions to be run again by the next driver.
pub struct Engine {
    inbox: mpsc::UnboundedSender<Input>,
    events: broadcast::Sender<EngineEvent>,
    runner: Arc<Runner>,
    task: tokio::task::JoinHandle<()>,
    state_dir: StateDir,
}

impl std::fmt::Debug for Engine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Engine")
            .field("state_dir", &self.state_dir)
            .finish()
    }
}

/// What the provider calls share.
struct Runner {
    state_dir: StateDir,
    /// The state directory, absolute and canonical: no granted folder may
    /// hold it, and programs see it covered.
    hidden: PathBuf,
    catalog: Catalog,
    artifacts: ArtifactStore,
    workspaces: Workspaces,
    providers: Mutex<HashMap<String, Provider>>,
    secrets: crate::secrets::SecretStore,
    /// Artifacts to seal (hash) in the background, off the hand-off's path.
    sealer: Mutex<std::sync::mpsc::Sender<String>>,
}

/// Seals artifacts one at a time on a thread of its own: those left
/// unsealed by an earlier driver first, then each new one. It stops when
/// the engine is dropped.
fn start_sealer(artifacts: &ArtifactStore) -> std::sync::mpsc::Sender<String> {
    let (sender, receiver) = std::sync::mpsc::channel::<String>();
    for digest in artifacts.unsealed() {
        let _ = sender.send(digest);
    }
    let artifacts = artifacts.clone();
    let _ = std::thread::Builder::new()
        .name("sluice-sealer".into())
        .spawn(move || {
            for digest in receiver {
                // A failure shows when the artifact is verified.
                let _ = artifacts.seal("artifact", &digest);
            }
        });
    sender
}

/// Host settings of an engine.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct EngineSettings {
    /// How soon in-progress providers may be called back.
    pub recheck: super::timeouts::RecheckPolicy,
}

impl Engine {
    /// Takes the driver lock of `state_dir`, loads its state, continues
    /// what a previous driver left, and starts driving, with default
    /// settings.
    pub async fn start(
        state_dir: &Path,
        sandbox: Sandbox,
        secrets: crate::secrets::SecretStore,
    ) -> Result<Engine, DriverError> {
        Self::start_with(state_dir, sandbox, secrets, EngineSettings::default()).await
    }

    /// [`Engine::start`] with `settings`.
    pub async fn start_with(
        state_dir: &Path,
        sandbox: Sandbox,
        secrets: crate::secrets::SecretStore,
        settings: EngineSettings,
    ) -> Result<Engine, DriverError> {
        let dir = StateDir::new(state_dir);
        std::fs::create_dir_all(&dir.root).map_err(|source| DriverError::Io {
            what: format!("creating {}", dir.root.display()),
            source,
        })?;
        let lock = take_lock(&dir)?;
        let mut store = Store::open(&dir.root)?;
        let io = |what: &str| {
            let what = what.to_string();
            move |source| DriverError::Io { what, source }
        };
        let artifacts = ArtifactStore::open(&dir.artifacts()).map_err(|e| DriverError::Io {
            what: "opening the artifact store".into(),
            source: std::io::Error::other(e.to_string()),
        })?;
        let components =
            ComponentStore::open(&dir.components()).map_err(io("opening the component store"))?;
        let workspaces = Workspaces::open(&dir.work()).map_err(io("preparing job folders"))?;
        let catalog = Catalog::new(sandbox, &dir.root, Some(components));

        let mut machine = Machine::new();
        machine.set_recheck_policy(settings.recheck);
        machine.set_now(now_millis());
        load(&mut machine, &store)?;
        machine.resume();
        let changes = machine.take_changes();
        store.write_step(&changes.records(&machine))?;

        let (inbox, receiver) = mpsc::unbounded_channel();
        let (events, _) = broadcast::channel(4096);
        let sealer = Mutex::new(start_sealer(&artifacts));
        let runner = Arc::new(Runner {
            hidden: std::path::absolute(&dir.root)
                .map(|p| p.canonicalize().unwrap_or(p))
                .unwrap_or_else(|_| dir.root.clone()),
            state_dir: dir.clone(),
            catalog,
            sealer,
            artifacts,
            workspaces,
            providers: Mutex::new(HashMap::new()),
            secrets,
        });
        let driver = Driver {
            machine,
            store,
            runner: runner.clone(),
            inbox: inbox.clone(),
            events: events.clone(),
            running: HashMap::new(),
            replies: Vec::new(),
            cancelled: Default::default(),
            completions: Vec::new(),
            tokens: HashMap::new(),
            _lock: lock,
        };
        let task = tokio::spawn(driver.run(receiver));
        Ok(Engine {
            inbox,
            events,
            runner,
            task,
            state_dir: dir,
        })
    }

    /// The state directory it drives.
    pub fn state_dir(&self) -> &StateDir {
        &self.state_dir
    }

    /// Asks the engine to do something and waits for the answer.
    pub async fn request(&self, request: Request) -> RequestOutcome {
        send_request(&self.inbox, request).await
    }

    /// A handle for other tasks.
    pub fn handle(&self) -> EngineHandle {
        EngineHandle {
            inbox: self.inbox.clone(),
            events: self.events.clone(),
            runner: self.runner.clone(),
        }
    }

    /// Changes as they happen.
    pub fn subscribe(&self) -> broadcast::Receiver<EngineEvent> {
        self.events.subscribe()
    }

    /// Stops driving: provider calls under way are dropped (the next
    /// driver runs them again) and the lock is released.
    pub async fn shutdown(self) {
        let (done, wait) = oneshot::channel();
        if self.inbox.send(Input::Shutdown(done)).is_ok() {
            let _ = wait.await;
        }
        let _ = self.task.await;
    }
}

/// Takes the driver lock, or says who holds it.
fn take_lock(dir: &StateDir) -> Result<std::fs::File, DriverError> {
    let path = dir.lock_file();
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .map_err(|source| DriverError::Io {
            what: format!("opening {}", path.display()),
            source,
        })?;
    match file.try_lock() {
        Ok(()) => Ok(file),
        Err(std::fs::TryLockError::WouldBlock) => Err(DriverError::Busy {
            dir: dir.root.clone(),
            lock: path,
        }),
        Err(std::fs::TryLockError::Error(source)) => Err(DriverError::Io {
            what: format!("locking {}", path.display()),
            source,
        }),
    }
}

/// Whether a process drives `state_dir` now.
pub fn is_driven(state_dir: &Path) -> bool {
    let dir = StateDir::new(state_dir);
    match std::fs::OpenOptions::new()
        .write(true)
        .open(dir.lock_file())
    {
        Ok(file) => matches!(file.try_lock(), Err(std::fs::TryLockError::WouldBlock)),
        Err(_) => false,
    }
}

/// Loads pipelines, transitions and running executions into the machine.
fn load(machine: &mut Machine, store: &Store) -> Result<(), StoreError> {
    for version in store.current_pipelines()? {
        machine.add_version(version);
    }
    for version in store.versions_in_use()? {
        machine.add_version(version);
    }
    let pipelines: Vec<String> = store
        .current_pipelines()?
        .into_iter()
        .map(|p| p.name)
        .collect();
    for pipeline in &pipelines {
        for transition in store.transitions(pipeline)? {
            machine.restore_transition(transition);
        }
    }
    let (last_seq, _) = store.last_numbers()?;
    machine.restore_seq(last_seq);
    for (pipeline, stage, entry, execution) in store.latest_stage_entries()? {
        machine.restore_latest_entry(&pipeline, &stage, entry, &execution);
    }
    let versions: HashMap<(String, u32), SharedVersion> = machine_versions(machine);
    for execution in store.active_executions(|p, v| versions.get(&(p.to_string(), v)).cloned())? {
        machine.restore(execution);
    }
    Ok(())
}

fn machine_versions(machine: &Machine) -> HashMap<(String, u32), SharedVersion> {
    let mut versions = HashMap::new();
    for execution in machine.executions() {
        if let Some(v) = machine.version(&execution.pipeline, execution.version) {
            versions.insert((execution.pipeline.clone(), execution.version), v.clone());
        }
    }
    versions
}

struct Driver {
    machine: Machine,
    store: Store,
    runner: Arc<Runner>,
    inbox: mpsc::UnboundedSender<Input>,
    events: broadcast::Sender<EngineEvent>,
    running: HashMap<(ActionKey, u64), tokio::task::AbortHandle>,
    replies: Vec<(oneshot::Sender<RequestOutcome>, RequestOutcome)>,
    cancelled: std::collections::HashSet<ExecutionId>,
    completions: Vec<(i64, RequestOutcome)>,
    /// Starts under way with an idempotency token, and who else asked.
    tokens: HashMap<(String, String), Vec<oneshot::Sender<RequestOutcome>>>,
    _lock: std::fs::File,
}

impl Driver {
    async fn run(mut self, mut receiver: mpsc::UnboundedReceiver<Input>) {
        let mut poll = tokio::time::interval(REQUEST_POLL);
        poll.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
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
                    self.take_external_requests();
                    None
                }
            };
            self.machine.set_now(now_millis());
            let mut shutdown = None;
            if let Some(input) = input {
                shutdown = self.handle(input);
            }
            // Take whatever else is waiting, so one transaction covers a
            // burst of results.
            let mut batch = 0;
            while shutdown.is_none() && batch < 256 {
                match receiver.try_recv() {
                    Ok(input) => {
                        shutdown = self.handle(input);
                        batch += 1;
                    }
                    Err(_) => break,
                }
            }
            self.machine.tick();
            self.commit();
            if let Some(done) = shutdown {
                for (_, handle) in self.running.drain() {
                    handle.abort();
                }
                let _ = done.send(());
                break;
            }
        }
    }

    /// Writes the step and acts on it.
    fn commit(&mut self) {
        let changes = self.machine.take_changes();
        if let Err(error) = self.store.write_step(&changes.records(&self.machine)) {
            // Without durable state the engine must not go on.
            tracing::error!(%error, "cannot write the state database; the engine stops");
            eprintln!("error: cannot write the state database ({error}); the engine stops");
            std::process::exit(3);
        }
        if self.events.receiver_count() > 0 {
            for id in &changes.executions {
                if let Some(execution) = self.machine.execution(id) {
                    let _ = self
                        .events
                        .send(EngineEvent::Execution(Box::new(execution.clone())));
                }
            }
        }
        for (reply, outcome) in self.replies.drain(..) {
            let _ = reply.send(outcome);
        }
        for (id, outcome) in std::mem::take(&mut self.completions) {
            if let Err(error) = self.store.complete_request(id, &outcome) {
                tracing::warn!(%error, "cannot record a request's outcome");
            }
        }
        for effect in self.machine.take_effects() {
            match effect {
                Effect::Run(request) => self.spawn_call(request),
                Effect::Cancel { key, token } => {
                    if let Some(handle) = self.running.remove(&(key.clone(), token)) {
                        handle.abort();
                    }
                    self.cancelled.insert(key.execution);
                }
                Effect::Finished { execution, .. } => {
                    // Calls dropped mid-way leave their folders behind.
                    if self.cancelled.remove(&execution) {
                        self.runner.workspaces.forget_execution(&execution);
                    }
                }
            }
        }
        self.machine.evict_finished();
    }

    fn handle(&mut self, input: Input) -> Option<oneshot::Sender<()>> {
        match input {
            Input::Request(request, reply) => {
                if let Some(outcome) = self.apply(request, Some(reply)) {
                    tracing::debug!(?outcome, "request handled");
                }
            }
            Input::Started {
                id,
                pipeline,
                trigger,
                variables,
                revisions,
                token,
                reply,
            } => {
                let key = token.clone().map(|t| (pipeline.clone(), t));
                let outcome = match self
                    .machine
                    .start(id, &pipeline, &trigger, variables, revisions, token)
                {
                    Ok(id) => RequestOutcome {
                        ok: true,
                        message: format!("started execution {id}"),
                        execution: Some(id),
                    },
                    Err(e) => refused(e),
                };
                // Starts that came with the same token meanwhile get the
                // same answer.
                if let Some(key) = key {
                    for waiter in self.tokens.remove(&key).unwrap_or_default() {
                        self.replies.push((waiter, outcome.clone()));
                    }
                }
                self.replies.push((reply, outcome));
            }
            Input::Finished { key, token, result } => {
                self.running.remove(&(key.clone(), token));
                self.machine.action_finished(&key, token, result);
            }
            Input::Shutdown(done) => return Some(done),
        }
        None
    }

    /// Applies a request; the answer goes to `reply`, or is returned when
    /// there is none to send it to.
    fn apply(
        &mut self,
        request: Request,
        reply: Option<oneshot::Sender<RequestOutcome>>,
    ) -> Option<RequestOutcome> {
        let outcome = match request {
            Request::Start {
                pipeline,
                variables,
                revisions,
                trigger,
                token,
            } => {
                if let Some(t) = &token {
                    let key = (pipeline.clone(), t.clone());
                    if let Some(waiters) = self.tokens.get_mut(&key) {
                        return match reply {
                            Some(r) => {
                                waiters.push(r);
                                None
                            }
                            None => Some(RequestOutcome {
                                ok: true,
                                message: "starting (a start with this token is under way)".into(),
                                execution: None,
                            }),
                        };
                    }
                    match self.store.execution_by_token(&pipeline, t) {
                        Ok(Some(id)) => {
                            return self.answer(
                                reply,
                                RequestOutcome {
                                    ok: true,
                                    message: format!(
                                        "execution {id} was already started with this token"
                                    ),
                                    execution: Some(id),
                                },
                            );
                        }
                        Ok(None) => {}
                        Err(e) => {
                            return self.answer(
                                reply,
                                RequestOutcome {
                                    ok: false,
                                    message: e.to_string(),
                                    execution: None,
                                },
                            );
                        }
                    }
                    self.tokens.insert(key, Vec::new());
                }
                match self.prepare_start(&pipeline, variables) {
                    Ok((version, variables)) => {
                        let (reply, answer) = match reply {
                            Some(r) => (r, None),
                            None => {
                                let (tx, rx) = oneshot::channel();
                                (tx, Some(rx))
                            }
                        };
                        let id = uuid::Uuid::now_v7().to_string();
                        let runner = self.runner.clone();
                        let inbox = self.inbox.clone();
                        tokio::spawn(async move {
                            let revisions = runner
                                .record_revisions(&version, &variables, &id, &revisions)
                                .await;
                            let _ = inbox.send(Input::Started {
                                id,
                                pipeline: version.name.clone(),
                                trigger,
                                variables,
                                revisions,
                                token,
                                reply,
                            });
                        });
                        // A request from another process is answered when it
                        // has been recorded; see `take_external_requests`.
                        return answer.map(|_| RequestOutcome {
                            ok: true,
                            message: "starting".into(),
                            execution: None,
                        });
                    }
                    Err(message) => {
                        let outcome = RequestOutcome {
                            ok: false,
                            message,
                            execution: None,
                        };
                        if let Some(t) = token {
                            for waiter in self.tokens.remove(&(pipeline, t)).unwrap_or_default() {
                                self.replies.push((waiter, outcome.clone()));
                            }
                        }
                        outcome
                    }
                }
            }
            Request::Stop {
                execution,
                abandon,
                reason,
            } => {
                let mode = if abandon {
                    StopMode::Abandon
                } else {
                    StopMode::Wait
                };
                let ok = self.ensure_loaded(&execution).and_then(|_| {
                    self.machine
                        .stop(&execution, mode, reason)
                        .map_err(|e| e.to_string())
                });
                outcome(ok, format!("stopping execution {execution}"), &execution)
            }
            Request::Retry {
                execution,
                stage,
                all,
            } => {
                let mode = if all {
                    RetryMode::AllActions
                } else {
                    RetryMode::FailedActions
                };
                let ok = self.ensure_loaded(&execution).and_then(|_| {
                    self.machine
                        .retry(&execution, &stage, mode)
                        .map_err(|e| e.to_string())
                });
                outcome(
                    ok,
                    format!("retrying stage `{stage}` of execution {execution}"),
                    &execution,
                )
            }
            Request::Decide {
                execution,
                stage,
                action,
                approved,
                by,
                summary,
            } => {
                let ok = self.ensure_loaded(&execution).and_then(|_| {
                    self.machine
                        .decide(&execution, &stage, &action, approved, &by, summary)
                        .map_err(|e| e.to_string())
                });
                let verb = if approved { "approved" } else { "rejected" };
                outcome(
                    ok,
                    format!("{verb} `{stage}/{action}` of execution {execution}"),
                    &execution,
                )
            }
            Request::Transition {
                pipeline,
                stage,
                enabled,
                reason,
                by,
            } => {
                let ok = self
                    .machine
                    .set_transition(&pipeline, &stage, enabled, reason, &by)
                    .map_err(|e| e.to_string());
                let verb = if enabled { "enabled" } else { "disabled" };
                match ok {
                    Ok(()) => RequestOutcome {
                        ok: true,
                        message: format!("{verb} the transition into `{stage}`"),
                        execution: None,
                    },
                    Err(message) => RequestOutcome {
                        ok: false,
                        message,
                        execution: None,
                    },
                }
            }
            Request::Reload { pipeline } => match self.store.current_pipeline(&pipeline) {
                Ok(Some(version)) => {
                    let number = version.version;
                    self.machine.add_version(version);
                    RequestOutcome {
                        ok: true,
                        message: format!("pipeline `{pipeline}` is at version {number}"),
                        execution: None,
                    }
                }
                Ok(None) => {
                    let _ = self.machine.remove_pipeline(&pipeline);
                    RequestOutcome {
                        ok: true,
                        message: format!("pipeline `{pipeline}` is gone"),
                        execution: None,
                    }
                }
                Err(e) => RequestOutcome {
                    ok: false,
                    message: e.to_string(),
                    execution: None,
                },
            },
        };
        // Answered once the step is written: an answer never names state
        // a reader cannot see yet.
        self.answer(reply, outcome)
    }

    /// Sends `outcome` to `reply` once the step is written, or returns it
    /// when there is no one to send it to.
    fn answer(
        &mut self,
        reply: Option<oneshot::Sender<RequestOutcome>>,
        outcome: RequestOutcome,
    ) -> Option<RequestOutcome> {
        match reply {
            Some(reply) => {
                self.replies.push((reply, outcome));
                None
            }
            None => Some(outcome),
        }
    }

    /// Loads a finished execution back into memory (for a retry, or to
    /// answer about it).
    fn ensure_loaded(&mut self, id: &str) -> Result<(), String> {
        if self.machine.execution(id).is_some() {
            return Ok(());
        }
        let Some((pipeline, version)) = self
            .store
            .execution_version(id)
            .map_err(|e| e.to_string())?
        else {
            return Err(EngineError::UnknownExecution(id.to_string()).to_string());
        };
        if self.machine.version(&pipeline, version).is_none() {
            match self
                .store
                .pipeline_version(&pipeline, version)
                .map_err(|e| e.to_string())?
            {
                Some(v) => self.machine.add_version(v),
                None => return Err(format!("pipeline `{pipeline}` version {version} is gone")),
            }
        }
        let shared = self.machine.version(&pipeline, version).cloned();
        let execution = self
            .store
            .execution(id, |_, _| shared.clone())
            .map_err(|e| e.to_string())?
            .ok_or_else(|| EngineError::UnknownExecution(id.to_string()).to_string())?;
        self.machine.restore_finished(execution);
        Ok(())
    }

    /// Checks a start request's variables against the current version.
    fn prepare_start(
        &self,
        pipeline: &str,
        overrides: IndexMap<String, String>,
    ) -> Result<(SharedVersion, IndexMap<String, String>), String> {
        let version = self
            .machine
            .current_version(pipeline)
            .cloned()
            .ok_or_else(|| EngineError::UnknownPipeline(pipeline.to_string()).to_string())?;
        let declared = &version.definition.variables;
        for name in overrides.keys() {
            if !declared.iter().any(|v| &v.name == name) {
                let known: Vec<&str> = declared.iter().map(|v| v.name.as_str()).collect();
                return Err(format!(
                    "pipeline `{pipeline}` has no variable `{name}` (it has: {})",
                    if known.is_empty() {
                        "none".to_string()
                    } else {
                        known.join(", ")
                    }
                ));
            }
        }
        let mut variables = IndexMap::new();
        for declaration in declared {
            match overrides
                .get(&declaration.name)
                .or(declaration.default.as_ref())
            {
                Some(value) => {
                    variables.insert(declaration.name.clone(), value.clone());
                }
                None => {
                    return Err(format!(
                        "variable `{}` of pipeline `{pipeline}` has no default: give it a value (--var {}=VALUE)",
                        declaration.name, declaration.name
                    ));
                }
            }
        }
        Ok((version, variables))
    }

    /// Takes the requests other processes left in the store.
    fn take_external_requests(&mut self) {
        let pending = match self.store.pending_requests() {
            Ok(p) => p,
            Err(error) => {
                tracing::warn!(%error, "cannot read requests");
                return;
            }
        };
        for (id, request) in pending {
            self.machine.set_now(now_millis());
            if matches!(request, Request::Start { .. }) {
                // The answer (the new execution's id) comes once the start
                // is written; a task records it. Mark the request taken now
                // so it is never started twice.
                let taken = RequestOutcome {
                    ok: true,
                    message: "starting".into(),
                    execution: None,
                };
                if let Err(error) = self.store.complete_request(id, &taken) {
                    tracing::warn!(%error, "cannot mark a request taken");
                    continue;
                }
                let (reply, answer) = oneshot::channel();
                let _ = self.apply(request, Some(reply));
                let state_dir = self.runner.state_dir.root.clone();
                tokio::spawn(async move {
                    if let Ok(outcome) = answer.await
                        && let Ok(mut store) = Store::open(&state_dir)
                    {
                        let _ = store.complete_request(id, &outcome);
                    }
                });
            } else {
                let outcome = self.apply(request, None).unwrap_or(RequestOutcome {
                    ok: true,
                    message: "done".into(),
                    execution: None,
                });
                // Recorded after the step is written, like every answer.
                self.completions.push((id, outcome));
            }
        }
    }

    fn spawn_call(&mut self, request: RunRequest) {
        let key = request.key.clone();
        let token = request.token;
        let runner = self.runner.clone();
        let inbox = self.inbox.clone();
        let task = tokio::spawn(async move {
            let result = runner.call(&request).await;
            let _ = inbox.send(Input::Finished {
                key: request.key.clone(),
                token: request.token,
                result,
            });
        });
        self.running.insert((key, token), task.abort_handle());
    }
}

/// A process grant's limits as the sandbox enforces them: each one the
/// definition sets (validated when it was applied), the default for the
/// rest.
fn program_limits(limits: Option<&crate::model::definition::ProcessLimits>) -> ProgramLimits {
    use crate::units::{parse_bytes, parse_duration};
    let mut out = ProgramLimits::default();
    let Some(limits) = limits else {
        return out;
    };
    let bytes = |v: &Option<String>| v.as_deref().and_then(|v| parse_bytes(v).ok());
    if let Some(v) = bytes(&limits.memory) {
        out.memory_bytes = v;
    }
    if let Some(v) = bytes(&limits.file_size) {
        out.file_bytes = v;
    }
    if let Some(v) = bytes(&limits.tmp_size) {
        out.tmp_bytes = v;
    }
    if let Some(v) = limits
        .cpu_time
        .as_deref()
        .and_then(|v| parse_duration(v).ok())
    {
        out.cpu_seconds = v.as_secs().max(1);
    }
    if let Some(v) = limits.processes {
        out.processes = v;
    }
    if let Some(v) = limits.open_files {
        out.open_files = v;
    }
    out
}

fn refused(error: EngineError) -> RequestOutcome {
    RequestOutcome {
        ok: false,
        message: error.to_string(),
        execution: None,
    }
}

fn outcome(result: Result<(), String>, done: String, execution: &str) -> RequestOutcome {
    match result {
        Ok(()) => RequestOutcome {
            ok: true,
            message: done,
            execution: Some(execution.to_string()),
        },
        Err(message) => RequestOutcome {
            ok: false,
            message,
            execution: Some(execution.to_string()),
        },
    }
}

impl Runner {
    /// The provider with this digest, loaded once.
    async fn provider(&self, sha256: &str, reference: &str) -> Result<Provider, String> {
        if let Some(p) = self.providers.lock().unwrap().get(sha256) {
            return Ok(p.clone());
        }
        let resolved = self
            .catalog
            .by_digest(sha256, reference)
            .await
            .map_err(|e| e.to_string())?;
        self.providers
            .lock()
            .unwrap()
            .insert(sha256.to_string(), resolved.provider.clone());
        Ok(resolved.provider)
    }

    /// Asks each source action of `version` for its latest revision, unless
    /// the start request names one.
    async fn record_revisions(
        &self,
        version: &PipelineVersion,
        variables: &IndexMap<String, String>,
        execution: &str,
        overrides: &IndexMap<String, String>,
    ) -> Vec<RecordedRevision> {
        let mut recorded = Vec::new();
        let Some(stage) = version.definition.stages.first() else {
            return recorded;
        };
        for (index, action) in stage.actions.iter().enumerate() {
            if let Some(id) = overrides.get(&action.name) {
                recorded.push(RecordedRevision {
                    action: action.name.clone(),
                    revision: Some(SourceRevision {
                        id: id.clone(),
                        summary: Some("given when the execution started".into()),
                        url: None,
                    }),
                    error: None,
                });
                continue;
            }
            let answer = self
                .latest_revision(version, variables, execution, index)
                .await;
            recorded.push(match answer {
                Ok(revision) => RecordedRevision {
                    action: action.name.clone(),
                    revision: Some(revision),
                    error: None,
                },
                Err(error) => RecordedRevision {
                    action: action.name.clone(),
                    revision: None,
                    error: Some(error),
                },
            });
        }
        recorded
    }

    /// A source action's configuration with variables resolved (secrets
    /// stay unresolved: a source's revision must not depend on them).
    fn source_configuration(
        version: &PipelineVersion,
        variables: &IndexMap<String, String>,
        execution: &str,
        index: usize,
    ) -> Vec<(String, String)> {
        version.definition.stages[0].actions[index]
            .configuration
            .iter()
            .map(|(k, v)| {
                let value = crate::model::variables::resolve(v, |r| match r.namespace.as_str() {
                    "variables" => variables.get(&r.key).cloned(),
                    "execution" => Some(execution.to_string()),
                    _ => None,
                })
                .unwrap_or_else(|_| v.clone());
                (k.clone(), value)
            })
            .collect()
    }

    /// Asks source action `index` of the first stage for its latest
    /// revision.
    async fn latest_revision(
        &self,
        version: &PipelineVersion,
        variables: &IndexMap<String, String>,
        execution: &str,
        index: usize,
    ) -> Result<SourceRevision, String> {
        let action = &version.definition.stages[0].actions[index];
        let resolved = &version.resolved[0][index];
        let configuration = Self::source_configuration(version, variables, execution, index);
        let provider = self.provider(&resolved.sha256, &action.provider).await?;
        let limits = Limits {
            timeout: Duration::from_secs(300),
            ..Limits::default()
        };
        provider
            .latest_revision_with(
                &configuration,
                &resolved.mounts,
                &limits,
                &ActionLog::discard(),
            )
            .await
            .map_err(|e| e.to_string())
            .and_then(|r| r.map_err(|f| f.message))
    }

    /// Asks source action `index` which paths differ between two of its
    /// revisions (`None`: it cannot tell).
    async fn changed_paths(
        &self,
        version: &PipelineVersion,
        index: usize,
        from: &str,
        to: &str,
    ) -> Result<Option<Vec<String>>, String> {
        let action = &version.definition.stages[0].actions[index];
        let resolved = &version.resolved[0][index];
        let variables: IndexMap<String, String> = version
            .definition
            .variables
            .iter()
            .filter_map(|v| v.default.clone().map(|d| (v.name.clone(), d)))
            .collect();
        let configuration = Self::source_configuration(version, &variables, "", index);
        let provider = self.provider(&resolved.sha256, &action.provider).await?;
        let limits = Limits {
            timeout: Duration::from_secs(300),
            ..Limits::default()
        };
        provider
            .changed_paths_with(
                &configuration,
                &resolved.mounts,
                from,
                to,
                &limits,
                &ActionLog::discard(),
            )
            .await
            .map_err(|e| e.to_string())
            .and_then(|r| r.map_err(|f| f.message))
    }

    /// Makes one call of a provider, with its folders and log, and ingests
    /// what it produced.
    async fn call(&self, request: &RunRequest) -> CallResult {
        let key = &request.key;
        let log_rel = format!(
            "logs/{}/{}.{}.{}.log",
            key.execution, request.stage, request.action, request.attempt
        );
        let provider = match self
            .provider(&request.provider.sha256, &request.provider_reference)
            .await
        {
            Ok(p) => p,
            Err(message) => return CallResult::failed(FailureKind::SystemUnavailable, message),
        };
        let folders = match self.runner_folders(request) {
            Ok(f) => f,
            Err(message) => return CallResult::failed(FailureKind::JobFailed, message),
        };
        let (grants, configuration) = match self.grants(request) {
            Ok(g) => g,
            Err(message) => {
                self.workspaces.release(&folders);
                return CallResult::failed(FailureKind::PermissionError, message);
            }
        };
        let log_path = self.state_dir.root.join(&log_rel);
        let log = ActionLog::new(LazyFile::new(log_path), Limits::default().log_bytes);
        let deadline = Instant::now()
            + Duration::from_millis((request.deadline_at - now_millis()).max(0) as u64);
        let mut limits = Limits {
            deadline: Some(deadline),
            ..Limits::default()
        };
        if let Some(memory) = request.memory {
            limits.memory_bytes = memory;
        }
        if let Some(bytes) = request.output_bytes {
            limits.output_bytes = bytes;
        }
        if let Some(files) = request.output_files {
            limits.output_files = files;
        }
        let job = Job {
            id: format!(
                "{}-{}-{}-{}",
                key.execution, key.stage, key.action, request.attempt
            ),
            execution_id: key.execution.clone(),
            pipeline: request.pipeline.clone(),
            stage: request.stage.clone(),
            action: request.action.clone(),
            attempt: request.attempt,
            configuration,
            inputs: folders.inputs.clone(),
            outputs: folders.outputs.clone(),
            scratch: folders.scratch.clone(),
            continuation: request.continuation.clone(),
            revision: request.revision.clone(),
            approval: request.approval.as_ref().map(|a| Approval {
                approved: a.approved,
                by: a.by.clone(),
                summary: a.summary.clone(),
            }),
            mounts: request.provider.mounts.clone(),
            grants,
            deadline_ms: request.deadline_at.max(0) as u64,
            hidden: vec![self.hidden.clone()],
        };
        let report = match provider.run(&job, &limits, &log).await {
            Ok(r) => r,
            Err(e) => {
                self.workspaces.release(&folders);
                return CallResult {
                    log: Some(log_rel),
                    ..CallResult::failed(FailureKind::JobFailed, e.to_string())
                };
            }
        };
        let wrote = log.written() > 0 || log.dropped() > 0;
        let mut result = CallResult {
            outcome: report.outcome,
            outputs: Vec::new(),
            log: wrote.then_some(log_rel),
        };
        match &result.outcome {
            Outcome::Succeeded { revision, .. } => {
                let revision = revision.clone().or_else(|| request.source_revision.clone());
                // One budget for all of the action's outputs.
                let mut budget =
                    crate::contain::Budget::caps(limits.output_bytes, limits.output_files);
                for mount in &folders.outputs {
                    match self.artifacts.ingest(&mount.host_path, &mut budget) {
                        Ok((manifest, digest)) => {
                            let _ = self.sealer.lock().unwrap().send(digest.clone());
                            for skipped in &manifest.skipped {
                                log.host_line(&format!(
                                    "output `{}`: skipped {}: {}",
                                    mount.name,
                                    crate::text::line(&skipped.path),
                                    crate::text::line(&skipped.reason)
                                ));
                            }
                            result.outputs.push(ArtifactRecord {
                                name: mount.name.clone(),
                                digest,
                                files: manifest.file_count() as u64,
                                bytes: manifest.total_bytes(),
                                producer: format!("{}/{}", request.stage, request.action),
                                revision: revision.clone(),
                            });
                        }
                        Err(e) => {
                            result = CallResult {
                                log: result.log,
                                ..CallResult::failed(
                                    FailureKind::JobFailed,
                                    format!("cannot store output `{}`: {e}", mount.name),
                                )
                            };
                            break;
                        }
                    }
                }
                self.workspaces.release(&folders);
            }
            Outcome::Failed(_) => self.workspaces.release(&folders),
            Outcome::InProgress { .. } => {
                self.workspaces.keep_scratch(key, request.attempt, &folders)
            }
        }
        result
    }

    /// What the action is granted, secret values looked up, and its
    /// configuration with `#{secrets.NAME}` resolved.
    fn grants(&self, request: &RunRequest) -> Result<(Grants, Vec<(String, String)>), String> {
        let granted = &request.provider.grants;
        let mut grants = Grants::default();
        if let Some(process) = &granted.process {
            grants.process = Some(ProcessGrant {
                programs: process.programs.clone(),
                env: process
                    .env
                    .iter()
                    .map(|(k, v)| (k.clone(), v.clone()))
                    .collect(),
                timeout: process
                    .timeout
                    .as_deref()
                    .and_then(|t| crate::units::parse_duration(t).ok()),
                limits: program_limits(process.limits.as_ref()),
            });
        }
        if let Some(http) = &granted.http {
            grants.http = Some(HttpGrant {
                allow: http
                    .allow
                    .iter()
                    .filter_map(|u| UrlRule::parse(u).ok())
                    .collect(),
            });
        }
        for name in &granted.secrets {
            let value = self.secrets.get(name).ok_or_else(|| {
                format!(
                    "secret `{name}` granted to action `{}` is not set on this host: set SLUICE_SECRET_{name} or add it to the state directory's `secrets` file",
                    request.action
                )
            })?;
            grants.secrets.push(Secret {
                name: name.clone(),
                value: value.to_string(),
            });
        }
        let mut configuration = Vec::with_capacity(request.configuration.len());
        for (key, value) in &request.configuration {
            let resolved = if value.contains("#{secrets.") {
                crate::model::variables::resolve(value, |r| {
                    if r.namespace == crate::model::variables::SECRETS {
                        grants
                            .secrets
                            .iter()
                            .find(|s| s.name == r.key)
                            .map(|s| s.value.clone())
                    } else {
                        Some(r.to_string())
                    }
                })
                .map_err(|e| format!("configuration property `{key}`: {e}"))?
            } else {
                value.clone()
            };
            configuration.push((key.clone(), resolved));
        }
        Ok((grants, configuration))
    }

    fn runner_folders(&self, request: &RunRequest) -> Result<JobFolders, String> {
        self.workspaces
            .prepare(
                &request.key,
                request.attempt,
                &request.inputs,
                &request.outputs,
                &self.artifacts,
            )
            .map_err(|e| e.to_string())
    }
}

/// A log file made on the first write: actions that say nothing leave no
/// file behind (and cost no file-system work).
struct LazyFile {
    path: PathBuf,
    file: Option<std::fs::File>,
    failed: bool,
}

impl LazyFile {
    fn new(path: PathBuf) -> Self {
        LazyFile {
            path,
            file: None,
            failed: false,
        }
    }
}

impl crate::sandbox::LogWriter for LazyFile {
    fn write_log(&mut self, bytes: &[u8]) {
        use std::io::Write;
        if self.file.is_none() && !self.failed {
            let opened = self
                .path
                .parent()
                .map_or(Ok(()), std::fs::create_dir_all)
                .and_then(|_| {
                    std::fs::OpenOptions::new()
                        .create(true)
                        .append(true)
                        .open(&self.path)
                });
            match opened {
                Ok(f) => self.file = Some(f),
                Err(error) => {
                    tracing::warn!(path = %self.path.display(), %error, "cannot write an action log");
                    self.failed = true;
                }
            }
        }
        if let Some(file) = &mut self.file {
            let _ = file.write_all(bytes);
        }
    }
}
