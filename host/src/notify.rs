//! Notifications: a pipeline's `notifications:` targets get a JSON POST
//! for each state change they asked for: an execution starting or ending,
//! a stage starting or ending, an approval waiting.
//!
//! The notifier follows the engine's execution snapshots on a task of its
//! own and compares each with the last it saw. Deliveries run on tasks of
//! their own too, retried with exponential backoff (1 s, 2 s, 4 s ... up
//! to 7 attempts) until the target answers 2xx; nothing waits for them,
//! least of all the engine. Deliveries are kept in memory: a restart loses
//! those still being retried.
//!
//! The payload (documented in the README):
//!
//! ```json
//! { "id": "01J...", "event": "stage.failed", "time": 1795668300123,
//!   "pipeline": "release", "version": 3, "execution": "01J...",
//!   "execution_status": "InProgress", "stage": "Build", "status": "Failed",
//!   "trigger": "api", "source_revisions": [...],
//!   "action": null, "custom_data": null,
//!   "approve": null, "reject": null }
//! ```

use crate::engine::{DriverHandle, EngineEvent, Execution, ExecutionStatus};
use crate::model::{Notification, NotificationEvent};
use crate::store::Store;
use std::collections::{HashMap, HashSet};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;
use tokio::sync::{Semaphore, broadcast};

/// Attempts per delivery.
const ATTEMPTS: u32 = 7;
/// Deliveries in flight at once.
const IN_FLIGHT: usize = 16;

/// What the notifier remembers of an execution.
#[derive(Debug, Default)]
struct Seen {
    status: Option<ExecutionStatus>,
    stages: Vec<(Option<crate::engine::StageStatus>, u32)>,
    approvals: HashSet<(usize, usize, u32)>,
}

/// One notification to send.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Payload {
    /// Unique per notification (retries keep it).
    pub id: String,
    /// `execution.started`, `execution.succeeded`, `execution.failed`,
    /// `execution.stopped`, `execution.superseded`, `stage.started`,
    /// `stage.succeeded`, `stage.failed`, `stage.stopped`,
    /// `approval.needed`.
    pub event: String,
    /// When it happened (ms since the Unix epoch).
    pub time: i64,
    /// The pipeline.
    pub pipeline: String,
    /// Its version.
    pub version: u32,
    /// The execution.
    pub execution: String,
    /// The execution's status.
    pub execution_status: String,
    /// Why the execution has its status, if said.
    pub reason: Option<String>,
    /// What started it.
    pub trigger: String,
    /// Its source revisions.
    pub source_revisions: Vec<crate::engine::RecordedRevision>,
    /// The stage, for stage and approval events.
    pub stage: Option<String>,
    /// The stage's (or execution's) new status.
    pub status: String,
    /// The action, for approval events.
    pub action: Option<String>,
    /// The approval's `CustomData`.
    pub custom_data: Option<String>,
    /// The approval's `ExternalEntityLink`.
    pub link: Option<String>,
    /// The approval's `NotificationArn` (an SNS topic, as a CodePipeline
    /// manual approval names one), for whoever forwards it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub topic: Option<String>,
    /// How to approve from the command line.
    pub approve: Option<String>,
    /// How to reject from the command line.
    pub reject: Option<String>,
}

/// Most deliveries waiting or under way at once.
const MAX_PENDING: usize = 10_000;

/// Follows the engine and delivers notifications until aborted.
pub fn spawn(engine: DriverHandle, state_dir: PathBuf) -> tokio::task::JoinHandle<()> {
    let mut events = engine.subscribe();
    tokio::spawn(async move {
        let started = crate::engine::now_millis();
        let mut seen: HashMap<String, Seen> = HashMap::new();
        let mut targets: HashMap<(String, u32), Arc<Vec<Notification>>> = HashMap::new();
        let slots = Arc::new(Semaphore::new(IN_FLIGHT));
        let pending = Arc::new(AtomicUsize::new(0));
        loop {
            let execution = match events.recv().await {
                Ok(EngineEvent::Execution(e)) => e,
                Err(broadcast::error::RecvError::Lagged(n)) => {
                    tracing::warn!("notifications: {n} engine events missed");
                    continue;
                }
                Err(broadcast::error::RecvError::Closed) => return,
            };
            // Only the driving host notifies (a standby once it takes
            // over): every host hears every change.
            if !engine.drives() {
                continue;
            }
            let key = (execution.pipeline.clone(), execution.version);
            let wanted = match targets.get(&key) {
                Some(t) => t.clone(),
                None => {
                    let loaded = Store::open(&state_dir)
                        .ok()
                        .and_then(|s| s.pipeline_version(&key.0, key.1).ok().flatten())
                        .map(|v| v.definition.notifications)
                        .unwrap_or_default();
                    let loaded = Arc::new(loaded);
                    targets.insert(key, loaded.clone());
                    loaded
                }
            };
            let previous = seen.remove(&execution.id);
            let fresh = previous.is_none() && execution.started_at >= started;
            let mut last = previous.unwrap_or_default();
            let payloads = changes(&execution, &mut last, fresh);
            if !execution.status.is_terminal() {
                seen.insert(execution.id.clone(), last);
            }
            for (kind, payload) in payloads {
                for target in wanted.iter() {
                    if !target.events.is_empty() && !target.events.contains(&kind) {
                        continue;
                    }
                    // Deliveries wait for a slot; past MAX_PENDING waiting,
                    // new ones are dropped (and said so) rather than kept.
                    if pending.load(Ordering::Relaxed) >= MAX_PENDING {
                        tracing::warn!(url = %target.url, "notifications: too many deliveries waiting; one dropped");
                        continue;
                    }
                    pending.fetch_add(1, Ordering::Relaxed);
                    let url = target.url.clone();
                    let payload = payload.clone();
                    let slots = slots.clone();
                    let pending = pending.clone();
                    tokio::spawn(async move {
                        let slot = slots.acquire_owned().await;
                        if slot.is_ok() {
                            deliver(&url, &payload).await;
                        }
                        pending.fetch_sub(1, Ordering::Relaxed);
                    });
                }
            }
        }
    })
}

/// The notifications a new snapshot makes, compared with what was seen.
fn changes(
    execution: &Execution,
    seen: &mut Seen,
    fresh: bool,
) -> Vec<(NotificationEvent, Payload)> {
    let mut out = Vec::new();
    let base = |event: String, status: String| Payload {
        id: uuid::Uuid::now_v7().to_string(),
        event,
        time: execution.updated_at,
        pipeline: execution.pipeline.clone(),
        version: execution.version,
        execution: execution.id.clone(),
        execution_status: execution.status.as_str().to_string(),
        reason: execution.status_reason.clone(),
        trigger: execution.trigger.clone(),
        source_revisions: execution.source_revisions.clone(),
        stage: None,
        status,
        action: None,
        custom_data: None,
        link: None,
        topic: None,
        approve: None,
        reject: None,
    };
    if seen.status.is_none() && fresh {
        out.push((
            NotificationEvent::Execution,
            base("execution.started".into(), "InProgress".into()),
        ));
    }
    seen.stages.resize(execution.stages.len(), (None, 0));
    for (index, stage) in execution.stages.iter().enumerate() {
        let before = seen.stages[index];
        let now = (stage.status, stage.attempt);
        if before != now
            && let Some(status) = stage.status
        {
            let word = match status {
                crate::engine::StageStatus::InProgress => "started",
                crate::engine::StageStatus::Succeeded => "succeeded",
                crate::engine::StageStatus::Failed => "failed",
                crate::engine::StageStatus::Stopped => "stopped",
                _ => "changed",
            };
            // A stage already running when the notifier started is not
            // "started" again.
            if !(word == "started" && seen.status.is_none() && !fresh) {
                let mut p = base(format!("stage.{word}"), status.as_str().to_string());
                p.stage = Some(stage.name.clone());
                out.push((NotificationEvent::Stage, p));
            }
        }
        seen.stages[index] = now;
        for (a, action) in stage.actions.iter().enumerate() {
            if action.awaiting_approval && seen.approvals.insert((index, a, action.attempt)) {
                let config = |name: &str| {
                    action
                        .configuration
                        .iter()
                        .find(|(k, _)| k == name)
                        .map(|(_, v)| v.clone())
                };
                let mut p = base("approval.needed".into(), "WaitingForApproval".into());
                p.stage = Some(stage.name.clone());
                p.action = Some(action.name.clone());
                p.custom_data = config("CustomData");
                p.link = config("ExternalEntityLink");
                p.topic = config("NotificationArn");
                p.approve = Some(format!(
                    "sluice approve {} {} {}",
                    execution.id, stage.name, action.name
                ));
                p.reject = Some(format!(
                    "sluice reject {} {} {}",
                    execution.id, stage.name, action.name
                ));
                out.push((NotificationEvent::Approval, p));
            }
        }
    }
    if execution.status.is_terminal() && seen.status != Some(execution.status) {
        let word = execution.status.as_str().to_ascii_lowercase();
        out.push((
            NotificationEvent::Execution,
            base(
                format!("execution.{word}"),
                execution.status.as_str().into(),
            ),
        ));
    }
    seen.status = Some(execution.status);
    out
}

/// POSTs one notification, retrying with backoff until a 2xx answer.
async fn deliver(url: &str, payload: &Payload) {
    let body = serde_json::to_vec(payload).expect("payloads serialise");
    let mut wait = Duration::from_secs(1);
    for attempt in 1..=ATTEMPTS {
        let headers = [
            ("content-type", "application/json".to_string()),
            ("x-sluice-event", payload.event.clone()),
            ("x-sluice-delivery", payload.id.clone()),
            ("x-sluice-attempt", attempt.to_string()),
        ];
        let answer = crate::http_client::request(
            "POST",
            url,
            &headers,
            Some(body.clone()),
            Duration::from_secs(10),
        )
        .await;
        match answer {
            Ok(r) if (200..300).contains(&r.status) => return,
            Ok(r) => tracing::warn!(%url, attempt, status = r.status, "notification refused"),
            Err(e) => tracing::warn!(%url, attempt, error = %e, "notification not delivered"),
        }
        if attempt < ATTEMPTS {
            tokio::time::sleep(wait).await;
            wait *= 2;
        }
    }
    tracing::warn!(%url, event = %payload.event, "notification dropped after {ATTEMPTS} attempts");
}
