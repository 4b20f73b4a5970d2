//! Prometheus metrics (`GET /metrics`): what the engine did, counted as it
//! happens (provider calls and how long they took), and what the database
//! holds, read when scraped (executions by status, actions running,
//! requests waiting, whether this host drives). The text is the OpenMetrics
//! format, written by `prometheus-client` (the Prometheus project's own
//! Rust crate).

use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;
use std::sync::OnceLock;

type Labels = Vec<(String, String)>;
type CallTimes = Family<Labels, Histogram, fn() -> Histogram>;

/// What is counted as it happens, for the whole process.
struct Counted {
    calls: CallTimes,
}

fn counted() -> &'static Counted {
    static COUNTED: OnceLock<Counted> = OnceLock::new();
    COUNTED.get_or_init(|| Counted {
        calls: Family::new_with_constructor(|| {
            // 1 ms to about 4.6 hours, each bucket four times the last.
            Histogram::new(exponential_buckets(0.001, 4.0, 12))
        }),
    })
}

/// Records one provider call of `provider` that ended as `outcome`
/// (`succeeded`, `failed`, `in-progress`) after `seconds`.
pub fn observe_call(provider: &str, outcome: &str, seconds: f64) {
    counted()
        .calls
        .get_or_create(&vec![
            ("provider".to_string(), provider.to_string()),
            ("outcome".to_string(), outcome.to_string()),
        ])
        .observe(seconds);
}

/// What the database holds, read when scraped.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Snapshot {
    /// Executions by status.
    pub executions: Vec<(String, i64)>,
    /// Action attempts in progress.
    pub actions_running: i64,
    /// Commands left for the driver and not yet answered (the queue).
    pub requests_pending: i64,
    /// Whether this host drives the database (holds its driver lock).
    pub driving: bool,
    /// Provider calls queued for any host with a free slot (PostgreSQL).
    pub jobs_queued: i64,
    /// The driving lease: its holder and fencing token (PostgreSQL, once
    /// a host drove).
    pub lease: Option<(String, i64)>,
    /// This host's slots for provider calls: taken, and in all.
    pub slots: (usize, usize),
}

/// The metrics as OpenMetrics text.
pub fn render(snapshot: &Snapshot) -> String {
    let mut registry = Registry::with_prefix("sluice");
    let executions = Family::<Labels, Gauge>::default();
    for (status, count) in &snapshot.executions {
        executions
            .get_or_create(&vec![("status".to_string(), status.clone())])
            .set(*count);
    }
    registry.register("executions", "Executions by status", executions);
    let running = Gauge::<i64>::default();
    running.set(snapshot.actions_running);
    registry.register("actions_running", "Action attempts in progress", running);
    let pending = Gauge::<i64>::default();
    pending.set(snapshot.requests_pending);
    registry.register(
        "requests_pending",
        "Commands waiting for the driving host (the queue's depth)",
        pending,
    );
    let driving = Gauge::<i64>::default();
    driving.set(i64::from(snapshot.driving));
    registry.register(
        "driving",
        "1 when this host drives the database (holds its lock), 0 when it stands by",
        driving,
    );
    let queued = Gauge::<i64>::default();
    queued.set(snapshot.jobs_queued);
    registry.register(
        "jobs_queued",
        "Provider calls waiting for a host with a free slot",
        queued,
    );
    let lease = Family::<Labels, Gauge>::default();
    if let Some((holder, token)) = &snapshot.lease {
        lease
            .get_or_create(&vec![("holder".to_string(), holder.clone())])
            .set(*token);
    }
    registry.register(
        "lease_token",
        "The driving lease's fencing token, by the host holding it",
        lease,
    );
    let busy = Gauge::<i64>::default();
    busy.set(snapshot.slots.0 as i64);
    registry.register(
        "slots_busy",
        "This host's slots running a provider call",
        busy,
    );
    let slots = Gauge::<i64>::default();
    slots.set(snapshot.slots.1 as i64);
    registry.register("slots", "Provider calls this host runs at once", slots);
    registry.register(
        "provider_call_seconds",
        "Provider calls by provider and outcome, and how long they took",
        counted().calls.clone(),
    );
    let mut out = String::new();
    encode(&mut out, &registry).expect("writing to a string cannot fail");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_text_holds_every_metric_with_its_labels() {
        observe_call("builtin:noop", "succeeded", 0.002);
        let text = render(&Snapshot {
            executions: vec![("Succeeded".into(), 3), ("InProgress".into(), 1)],
            actions_running: 2,
            requests_pending: 5,
            driving: true,
            jobs_queued: 4,
            lease: Some(("ci:42".into(), 7)),
            slots: (3, 16),
        });
        for line in [
            "sluice_executions{status=\"Succeeded\"} 3",
            "sluice_executions{status=\"InProgress\"} 1",
            "sluice_actions_running 2",
            "sluice_requests_pending 5",
            "sluice_driving 1",
            "sluice_jobs_queued 4",
            "sluice_lease_token{holder=\"ci:42\"} 7",
            "sluice_slots_busy 3",
            "sluice_slots 16",
            "sluice_provider_call_seconds_count{provider=\"builtin:noop\",outcome=\"succeeded\"} 1",
        ] {
            assert!(text.contains(line), "{line} missing from:\n{text}");
        }
        assert!(text.ends_with("# EOF\n"), "{text}");
    }
}
