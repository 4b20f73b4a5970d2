//! A host standing by: another host drives the (PostgreSQL) database this
//! one shares. Commands go through the database to the driving host (as
//! requests, which it polls) and their answers come back the same way;
//! changes are read from the database as they are written; and every few
//! seconds the host tries to take the database's driver lock. Once it has
//! it (the driving host stopped or died: its lock went with its
//! connection), it starts a driver of its own, which runs the interrupted
//! actions again as new attempts, and its handles go to that driver.

use super::command::{Answer, Command, CommandError, answer_from_json};
use super::driver::{Driver, DriverError, DriverHandle, DriverSettings, EngineEvent};
use crate::sandbox::Sandbox;
use crate::store::Store;
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::{broadcast, watch};

/// How often a standby host tries to take over.
pub const TAKE_OVER_EVERY: Duration = Duration::from_secs(2);

/// How often a standby host reads what changed when it cannot hear steps
/// as they commit.
const READ_CHANGES_EVERY: Duration = Duration::from_millis(250);

/// How often it reads anyway when it hears them.
const READ_CHANGES_FALLBACK: Duration = Duration::from_secs(5);

/// How long a command waits for the driving host's answer.
const ANSWER_WITHIN: Duration = Duration::from_secs(15 * 60);

/// What a standby host's handles share.
pub struct Shared {
    state_dir: PathBuf,
    /// Source queries (triggers' latest revisions, changed paths) this
    /// host answers itself while it stands by.
    pub(super) queries: Option<Arc<super::runner::ProviderCalls>>,
    events: broadcast::Sender<EngineEvent>,
    leader: watch::Sender<Option<DriverHandle>>,
}

impl Shared {
    /// The driver this host started when it took over, if it has.
    pub(super) fn leader(&self) -> Option<DriverHandle> {
        self.leader.borrow().clone()
    }

    /// Waits until this host drives.
    pub(super) async fn wait_for_leader(&self) -> DriverHandle {
        let mut leader = self.leader.subscribe();
        let found = leader
            .wait_for(Option::is_some)
            .await
            .ok()
            .and_then(|handle| handle.clone());
        match found {
            Some(handle) => handle,
            None => std::future::pending().await,
        }
    }

    /// Changes as this host learns of them.
    pub(super) fn subscribe(&self) -> broadcast::Receiver<EngineEvent> {
        self.events.subscribe()
    }

    /// Leaves `command` in the database for the driving host and waits for
    /// its answer (a host that takes over meanwhile answers it, this one
    /// included).
    pub(super) async fn command(&self, command: Command) -> Answer {
        let state_dir = self.state_dir.clone();
        let body = command.to_json();
        let unavailable = |e: String| CommandError::unavailable(e);
        // One connection for the whole wait, hearing answers as they are
        // recorded (LISTEN/NOTIFY); it reads anyway every second.
        let (store, id, mut heard) = tokio::task::spawn_blocking(move || {
            let mut store = Store::open(&state_dir)?;
            let heard = store.listen_for_answers()?;
            let id = store.push_request(&body)?;
            Ok::<_, crate::store::StoreError>((store, id, heard))
        })
        .await
        .map_err(|e| unavailable(e.to_string()))?
        .map_err(|e| unavailable(e.to_string()))?;
        let started = tokio::time::Instant::now();
        let mut store = Some(store);
        loop {
            let owned = store.take().expect("the store comes back");
            let (owned, outcome) = tokio::task::spawn_blocking(move || {
                let outcome = owned.request_outcome(id);
                (owned, outcome)
            })
            .await
            .map_err(|e| unavailable(e.to_string()))?;
            store = Some(owned);
            if let Some(answer) = outcome.map_err(|e| unavailable(e.to_string()))? {
                return answer_from_json(&answer);
            }
            if started.elapsed() > ANSWER_WITHIN {
                return Err(unavailable(format!(
                    "no host answered request {id} within {} minutes",
                    ANSWER_WITHIN.as_secs() / 60
                )));
            }
            let wait = if heard.is_some() {
                Duration::from_secs(1)
            } else {
                Duration::from_millis(50)
            };
            let _ = tokio::time::timeout(wait, super::driver::notified(&mut heard)).await;
        }
    }
}

/// A host standing by, ready to take over.
pub struct Standby {
    shared: Arc<Shared>,
    task: tokio::task::JoinHandle<()>,
    driver: Arc<Mutex<Option<Driver>>>,
}

impl Standby {
    /// Stands by on `state_dir` (whose database another host drives), with
    /// what this host would drive with once it takes over.
    pub fn start(
        state_dir: PathBuf,
        sandbox: Sandbox,
        secrets: crate::secrets::SecretStore,
        settings: DriverSettings,
    ) -> Standby {
        let (events, _) = broadcast::channel(4096);
        let (leader, _) = watch::channel(None);
        let queries = source_queries(&state_dir, sandbox.clone(), secrets.clone())
            .map_err(|e| tracing::warn!("this standby host cannot query sources: {e}"))
            .ok();
        let shared = Arc::new(Shared {
            queries,
            state_dir: state_dir.clone(),
            events,
            leader,
        });
        let driver = Arc::new(Mutex::new(None));
        let task = tokio::spawn(stand_by(
            shared.clone(),
            driver.clone(),
            sandbox,
            secrets,
            settings,
        ));
        Standby {
            shared,
            task,
            driver,
        }
    }

    /// A handle for other tasks: through the database while standing by,
    /// to this host's own driver once it took over.
    pub fn handle(&self) -> DriverHandle {
        DriverHandle::standby(self.shared.clone())
    }

    /// Whether this host has taken over.
    pub fn drives(&self) -> bool {
        self.shared.leader().is_some()
    }

    /// Stops standing by, and the driver if this host took over.
    pub async fn shutdown(self) -> Result<(), String> {
        self.task.abort();
        let _ = self.task.await;
        let driver = self.driver.lock().expect("standby driver").take();
        match driver {
            Some(driver) => driver.shutdown().await,
            None => Ok(()),
        }
    }
}

/// What a standby host asks sources with: the components the database
/// shares, its own job folders (`queries/`), no artifacts to hand on.
fn source_queries(
    state_dir: &std::path::Path,
    sandbox: Sandbox,
    secrets: crate::secrets::SecretStore,
) -> std::io::Result<Arc<super::runner::ProviderCalls>> {
    let dir = crate::state_dir::StateDir::new(state_dir);
    let artifacts = crate::artifacts::ArtifactStore::open(&dir.artifacts())
        .map_err(|e| std::io::Error::other(e.to_string()))?;
    let components = super::components::component_store(&dir)?;
    let workspaces = super::workspace::Workspaces::open(&dir.root.join("queries"))?;
    let catalog = crate::providers::Catalog::new(sandbox, &dir.root, Some(components));
    Ok(Arc::new(super::runner::ProviderCalls::new(
        dir, catalog, artifacts, None, workspaces, secrets,
    )))
}

async fn stand_by(
    shared: Arc<Shared>,
    slot: Arc<Mutex<Option<Driver>>>,
    sandbox: Sandbox,
    secrets: crate::secrets::SecretStore,
    settings: DriverSettings,
) {
    let mut changes = Changes::default();
    let mut take_over = tokio::time::interval(TAKE_OVER_EVERY);
    // Steps are heard as they commit (LISTEN/NOTIFY); the timer reads
    // anyway, for a notification lost with a connection.
    let listener = Store::open(&shared.state_dir).ok();
    let mut heard = listener
        .as_ref()
        .and_then(|store| store.listen_for_changes().ok().flatten());
    let mut read = tokio::time::interval(if heard.is_some() {
        READ_CHANGES_FALLBACK
    } else {
        READ_CHANGES_EVERY
    });
    loop {
        tokio::select! {
            _ = read.tick() => changes.read(&shared).await,
            _ = super::driver::notified(&mut heard) => {
                // Many steps at once are read together.
                tokio::time::sleep(Duration::from_millis(20)).await;
                changes.read(&shared).await
            }
            _ = take_over.tick() => {
                match Driver::start_with(
                    &shared.state_dir,
                    sandbox.clone(),
                    secrets.clone(),
                    settings.clone(),
                )
                .await
                {
                    Ok(driver) => {
                        tracing::warn!("this host now drives the database (the driving host is gone)");
                        let mut own = driver.subscribe();
                        let handle = driver.handle();
                        *slot.lock().expect("standby driver") = Some(driver);
                        shared.leader.send_replace(Some(handle));
                        // From now on the driver's own events.
                        loop {
                            match own.recv().await {
                                Ok(event) => {
                                    let _ = shared.events.send(event);
                                }
                                Err(broadcast::error::RecvError::Lagged(_)) => continue,
                                Err(broadcast::error::RecvError::Closed) => return,
                            }
                        }
                    }
                    Err(DriverError::Busy { .. }) => {}
                    Err(e) => tracing::error!("cannot take over driving: {e}"),
                }
            }
        }
    }
}

/// What a standby host has told its watchers about: each execution's last
/// change, by id.
#[derive(Default)]
struct Changes {
    /// The newest change time read, by the driving host's clock.
    since: i64,
    seen: HashMap<String, i64>,
}

impl Changes {
    /// Reads executions changed since the last read and tells watchers.
    async fn read(&mut self, shared: &Shared) {
        if shared.events.receiver_count() == 0 && self.since > 0 {
            return;
        }
        // A second's overlap: a change committed late with an earlier
        // time is still seen; `seen` keeps it from being told twice.
        let since = (self.since - 1000).max(0);
        let state_dir = shared.state_dir.clone();
        let read = tokio::task::spawn_blocking(move || {
            let store = Store::open(&state_dir)?;
            let changed = store.executions_changed_since(since)?;
            let mut out = Vec::with_capacity(changed.len());
            for (id, at) in changed {
                if let Some(execution) = store.execution(&id, |_, _| None)? {
                    out.push((at, execution));
                }
            }
            Ok::<_, crate::store::StoreError>(out)
        })
        .await;
        let Ok(Ok(changed)) = read else {
            return;
        };
        for (at, execution) in changed {
            self.since = self.since.max(at);
            if self.seen.get(&execution.id) == Some(&at) {
                continue;
            }
            self.seen.insert(execution.id.clone(), at);
            let _ = shared
                .events
                .send(EngineEvent::Execution(Box::new(execution)));
        }
        let horizon = self.since - 5000;
        self.seen.retain(|_, at| *at >= horizon);
    }
}
