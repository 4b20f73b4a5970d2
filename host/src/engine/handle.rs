//! The handle every other part of the host talks to the engine through:
//! commands, the event stream and source queries, whether this host's own
//! driver answers them or, while the host stands by, the driving host
//! through the database.

use super::command::{Answer, Command, CommandError};
use super::driver::{EngineEvent, Input, Reply};
use super::runner::ProviderCalls;
use crate::records::PipelineVersion;
use crate::sandbox::SourceRevision;
use std::sync::Arc;
use tokio::sync::{broadcast, mpsc, oneshot, watch};

/// A cheap, clonable way to talk to a running driver (for the HTTP API's
/// handlers and the triggers): commands, the event stream and source
/// queries, not shutdown.
#[derive(Clone)]
pub struct DriverHandle {
    pub(super) route: Route,
}

/// Where a handle's commands go.
#[derive(Clone)]
pub(super) enum Route {
    /// To a driver in this process.
    Local {
        inbox: mpsc::Sender<Input>,
        events: broadcast::Sender<EngineEvent>,
        failure: watch::Receiver<Option<String>>,
        calls: Arc<ProviderCalls>,
    },
    /// Through the database to the host that drives it, until this host
    /// takes over (see [`super::standby`]).
    Standby(Arc<super::standby::Shared>),
}

impl std::fmt::Debug for DriverHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DriverHandle").finish_non_exhaustive()
    }
}

impl DriverHandle {
    /// A handle that reaches the driving host through the database.
    pub(super) fn standby(shared: Arc<super::standby::Shared>) -> DriverHandle {
        DriverHandle {
            route: Route::Standby(shared),
        }
    }

    /// The local handle commands go to: this one, or the driver a standby
    /// host started when it took over.
    fn local(&self) -> Option<DriverHandle> {
        match &self.route {
            Route::Local { .. } => Some(self.clone()),
            Route::Standby(shared) => shared.leader(),
        }
    }

    /// Whether a driver in this process answers this handle's commands.
    pub fn drives(&self) -> bool {
        self.local().is_some()
    }

    /// Gives the engine a command and waits for its answer.
    pub async fn command(&self, command: Command) -> Answer {
        let Some(local) = self.local() else {
            let Route::Standby(shared) = &self.route else {
                unreachable!("a local route is local")
            };
            return shared.command(command).await;
        };
        let Route::Local { inbox, .. } = &local.route else {
            unreachable!("local() answers local handles")
        };
        let (reply, answer) = oneshot::channel();
        let stopped = || {
            let reason = self.failure().unwrap_or_else(|| "it was shut down".into());
            Err(CommandError::unavailable(format!(
                "the engine has stopped: {reason}"
            )))
        };
        if inbox
            .send(Input::Command(command, Reply::Waiting(reply)))
            .await
            .is_err()
        {
            return stopped();
        }
        answer.await.unwrap_or_else(|_| stopped())
    }

    /// Changes as they happen.
    pub fn subscribe(&self) -> broadcast::Receiver<EngineEvent> {
        match &self.route {
            Route::Local { events, .. } => events.subscribe(),
            Route::Standby(shared) => shared.subscribe(),
        }
    }

    /// Why the driver stopped on its own, if it did (its state could not
    /// be written).
    pub fn failure(&self) -> Option<String> {
        match &self.route {
            Route::Local { failure, .. } => failure.borrow().clone(),
            Route::Standby(shared) => shared.leader().and_then(|l| l.failure()),
        }
    }

    /// Waits until the driver stops on its own, and says why.
    pub async fn failed(&self) -> String {
        let failure = match &self.route {
            Route::Local { failure, .. } => failure,
            Route::Standby(shared) => {
                let leader = shared.wait_for_leader().await;
                return Box::pin(leader.failed()).await;
            }
        };
        let mut failure = failure.clone();
        let reason = failure
            .wait_for(Option::is_some)
            .await
            .map(|reason| reason.clone().unwrap_or_default());
        match reason {
            Ok(reason) => reason,
            // The driver is gone without failing: wait forever.
            Err(_) => std::future::pending().await,
        }
    }

    /// Asks source action `action` of `version`'s first stage for its
    /// latest revision (with the variables' defaults), as an execution's
    /// start would.
    pub async fn latest_revision(
        &self,
        version: &PipelineVersion,
        action: usize,
    ) -> Result<SourceRevision, String> {
        self.calls()?.latest_revision(version, None, action).await
    }

    /// What answers source queries: the driver's own calls, or, while
    /// the host stands by, its own.
    fn calls(&self) -> Result<Arc<ProviderCalls>, String> {
        match self.local().map(|l| l.route) {
            Some(Route::Local { calls, .. }) => Ok(calls),
            _ => match &self.route {
                Route::Standby(shared) => shared
                    .queries
                    .clone()
                    .ok_or_else(|| "this standby host cannot query sources".to_string()),
                Route::Local { .. } => unreachable!("a local handle is its own driver"),
            },
        }
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
        self.calls()?.changed_paths(version, action, from, to).await
    }
}
