//! The driving lease and the job queue hosts share on one PostgreSQL
//! database: a host whose lease was taken over is fenced and writes
//! nothing more; a call the driving host has no slot for waits in the
//! queue and runs on another host's worker; a worker that goes silent
//! loses its job, which runs again as a new attempt on another host.

use sluice::engine::jobs::{LOST_AFTER, Slots, Worker};
use sluice::engine::{ActionStatus, Driver, DriverSettings, ExecutionStatus};
use sluice::store::{JobRecord, Store};
use sluice_tests::harness::{Harness, fast_callbacks};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// Two gated actions side by side: with one slot on the driving host, one
/// of them has to wait in the queue.
const PAIR: &str = r##"
name: pair
execution_mode: parallel
stages:
{source_stage}
  - name: Build
    actions:
      - name: Left
        provider: "{gate}"
        inputs: [Code]
        configuration: { Behavior: block, Gate: "#{execution.id}-left" }
        grants: { paths: { gates: { path: "{gates}" } } }
      - name: Right
        provider: "{gate}"
        inputs: [Code]
        configuration: { Behavior: block, Gate: "#{execution.id}-right" }
        grants: { paths: { gates: { path: "{gates}" } } }
"##;

/// Settings for host `name` with `slots`, its artifacts shared through the
/// test's S3 bucket.
fn host(name: &str, slots: usize, bucket: &str) -> DriverSettings {
    let s3 = sluice_s3test::Server::shared();
    DriverSettings {
        artifacts: Some(sluice::artifacts::RemoteSettings {
            url: format!("s3://{bucket}/jobs"),
            endpoint: Some(s3.endpoint()),
            region: Some("us-east-1".into()),
            access_key_id: Some(s3.access_key_id().into()),
            secret_access_key: Some(s3.secret_access_key().into()),
            session_token: None,
        }),
        slots: Slots::new(slots),
        host_name: Some(name.into()),
        ..fast_callbacks()
    }
}

/// Another host's state directory on the database of `a`'s.
fn other_host(a: &Harness, name: &str) -> PathBuf {
    let url = std::fs::read_to_string(sluice::state_dir::StateDir::at(&a.state_dir).database_url())
        .unwrap();
    let dir = a.dir.path().join(name);
    sluice::store::use_database(&dir, url.trim()).unwrap();
    dir
}

/// The jobs of one action of `execution`, oldest first.
fn jobs_of(state_dir: &Path, execution: &str, action: i64) -> Vec<JobRecord> {
    Store::open(state_dir)
        .unwrap()
        .job_records()
        .unwrap()
        .into_iter()
        .filter(|j| j.execution == execution && j.stage == 1 && j.action == action)
        .collect()
}

async fn wait_until(what: &str, within: Duration, check: impl Fn() -> bool) {
    let started = Instant::now();
    while !check() {
        assert!(started.elapsed() < within, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn a_host_whose_lease_was_taken_over_is_fenced_and_writes_nothing_more() {
    assert!(sluice_tests::harness::on_postgres());
    let bucket = sluice_s3test::Server::shared().bucket();
    let mut a = Harness::with_settings(PAIR, host("host-a", 8, &bucket)).await;
    let id = a.start().await;
    a.wait_running(&id, "Build", "Left").await;
    let lease = Store::open(&a.state_dir).unwrap().lease().unwrap().unwrap();
    assert_eq!(lease.holder, "host-a");
    assert!(lease.remaining_ms > 0);

    // Another host takes the lease (as one does once A has gone silent
    // and the lease lapsed): A's next step is refused by the fence.
    let b = other_host(&a, "host-b");
    let mut usurper = Store::open(&b).unwrap();
    let taken = usurper.take_lease("usurper", 60_000, true).unwrap();
    assert_eq!(taken, Some(lease.token + 1));
    let before = a.execution(&id);
    a.open(&format!("{id}-left"));
    a.open(&format!("{id}-right"));
    let engine = a.engine.take().unwrap();
    wait_until("A to stop", Duration::from_secs(30), || {
        engine.failure().is_some()
    })
    .await;
    let reason = engine.failure().unwrap();
    assert!(
        reason.contains("fenced") || reason.contains("took over"),
        "{reason}"
    );
    assert_eq!(
        a.execution(&id),
        before,
        "nothing A did after the takeover was written"
    );
    assert!(engine.shutdown().await.is_err());

    // A host that starts driving runs A's interrupted calls again as new
    // attempts, under the next fencing token.
    drop(usurper);
    let driver_b = Driver::start_with(
        &b,
        sluice_tests::sandbox().clone(),
        a.secrets.clone(),
        host("host-b", 8, &bucket),
    )
    .await
    .unwrap();
    a.wait_status(&id, ExecutionStatus::Succeeded).await;
    for action in [0, 1] {
        let jobs = jobs_of(&b, &id, action);
        let first = &jobs[0];
        assert_eq!(
            (first.attempt, first.fence, first.driver.as_str()),
            (1, lease.token, "host-a")
        );
        assert_eq!(first.state, "dropped", "{jobs:?}");
        let last = jobs.last().unwrap();
        assert_eq!(
            (last.attempt, last.fence, last.state.as_str()),
            (2, lease.token + 2, "done"),
            "{jobs:?}"
        );
    }
    driver_b.shutdown().await.unwrap();
}

#[tokio::test]
async fn a_call_without_a_free_slot_runs_on_another_host_and_a_silent_worker_loses_it() {
    let bucket = sluice_s3test::Server::shared().bucket();
    let mut a = Harness::with_settings(PAIR, host("host-a", 1, &bucket)).await;
    let b = other_host(&a, "host-b");
    let worker_b = Worker::start(
        &b,
        sluice_tests::sandbox().clone(),
        a.secrets.clone(),
        &host("host-b", 1, &bucket),
    )
    .unwrap();

    // A's one slot runs one of the pair; the other waits in the queue and
    // B's worker claims it (fetching the source's output from the bucket).
    let id = a.start().await;
    let both = || {
        let e = a.execution(&id);
        e.stages[1]
            .actions
            .iter()
            .all(|x| x.status == Some(ActionStatus::InProgress))
    };
    wait_until("both actions to run", Duration::from_secs(30), both).await;
    let on = |action: i64| -> Option<String> {
        jobs_of(&a.state_dir, &id, action)
            .last()
            .and_then(|j| (j.state == "running").then(|| j.worker.clone()).flatten())
    };
    wait_until("a job on each host", Duration::from_secs(30), || {
        let mut hosts = [on(0), on(1)];
        hosts.sort();
        hosts == [Some("host-a".into()), Some("host-b".into())]
    })
    .await;
    let moved = if on(0).as_deref() == Some("host-b") { 0 } else { 1 };

    // B goes silent (its worker stops, beats and all): after LOST_AFTER
    // the driver counts the job lost and runs the action again as a new
    // attempt, which a worker on a third host takes.
    let silent = Instant::now();
    worker_b.shutdown().await;
    let c = other_host(&a, "host-c");
    let worker_c = Worker::start(
        &c,
        sluice_tests::sandbox().clone(),
        a.secrets.clone(),
        &host("host-c", 1, &bucket),
    )
    .unwrap();
    wait_until("the action to run again", Duration::from_secs(60), || {
        jobs_of(&a.state_dir, &id, moved).len() == 2
    })
    .await;
    let again = silent.elapsed();
    assert!(again >= LOST_AFTER, "lost after {again:?}");
    assert!(again < Duration::from_secs(30), "lost after {again:?}");
    a.open(&format!("{id}-left"));
    a.open(&format!("{id}-right"));
    a.wait_status(&id, ExecutionStatus::Succeeded).await;

    let jobs = jobs_of(&a.state_dir, &id, moved);
    assert_eq!(
        jobs.iter()
            .map(|j| (j.attempt, j.worker.as_deref(), j.state.as_str()))
            .collect::<Vec<_>>(),
        [
            (1, Some("host-b"), "lost"),
            (2, Some("host-c"), "done")
        ],
        "{jobs:?}"
    );
    let attempts = Store::open(&a.state_dir)
        .unwrap()
        .action_attempts(&id)
        .unwrap();
    let name = if moved == 0 { "Left" } else { "Right" };
    let runs: Vec<_> = attempts
        .iter()
        .filter(|x| x.action == name)
        .map(|x| (x.run.attempt, x.run.status))
        .collect();
    assert_eq!(
        runs,
        [
            (1, Some(ActionStatus::Abandoned)),
            (2, Some(ActionStatus::Succeeded))
        ]
    );
    worker_c.shutdown().await;
    a.shutdown().await;
}
