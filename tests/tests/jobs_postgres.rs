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

/// Whether a job of `execution`'s Build stage waits in the queue.
fn any_queued(state_dir: &Path, execution: &str) -> bool {
    [0, 1].iter().any(|&action| {
        jobs_of(state_dir, execution, action)
            .iter()
            .any(|j| j.state == "queued")
    })
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
    // attempts, under the next fencing token. A's own calls were never
    // recorded: the step that would have recorded them was refused.
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
        assert_eq!(
            jobs.iter()
                .map(|j| (j.attempt, j.fence, j.worker.as_deref(), j.state.as_str()))
                .collect::<Vec<_>>(),
            [(2, lease.token + 2, Some("host-b"), "done")],
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
    // (A's own call is recorded once it finishes; the queued one as B
    // claims it.)
    let on_b = |action: i64| {
        jobs_of(&a.state_dir, &id, action)
            .iter()
            .any(|j| j.state == "running" && j.worker.as_deref() == Some("host-b"))
    };
    wait_until("a job on host B", Duration::from_secs(30), || {
        on_b(0) || on_b(1)
    })
    .await;
    let moved = if on_b(0) { 0 } else { 1 };

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
        [(1, Some("host-b"), "lost"), (2, Some("host-c"), "done")],
        "{jobs:?}"
    );
    let stayed = jobs_of(&a.state_dir, &id, 1 - moved);
    assert_eq!(
        stayed
            .iter()
            .map(|j| (j.attempt, j.worker.as_deref(), j.state.as_str()))
            .collect::<Vec<_>>(),
        [(1, Some("host-a"), "done")],
        "{stayed:?}"
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
    // The log of the attempt host C ran reads the same from the driving
    // host, which never had the file: it is kept in the database.
    let state_dir = a.state_dir.clone();
    let id_for_logs = id.clone();
    let parts = tokio::task::spawn_blocking(move || {
        let store = Store::open(&state_dir).unwrap();
        sluice::queries::logs(
            &store,
            &state_dir,
            &id_for_logs,
            Some(&("Build".to_string(), name.to_string())),
            Some(2),
            Default::default(),
        )
        .unwrap()
    })
    .await
    .unwrap();
    let text: Vec<String> = parts
        .iter()
        .flat_map(|p| p.lines.iter().map(|l| l.text().to_string()))
        .collect();
    assert!(
        text.iter().any(|l| l.contains("attempt 2 waits for gate")),
        "{text:?}"
    );
    worker_c.shutdown().await;
    a.shutdown().await;
}

#[tokio::test]
async fn without_shared_artifacts_a_full_host_queues_calls_for_its_own_worker() {
    // No bucket: calls with artifacts may run only on the host that has
    // them. With one slot, the second of the pair waits in the queue for
    // the driving host's own worker, never for another host's.
    let settings = DriverSettings {
        slots: Slots::new(1),
        host_name: Some("alone".into()),
        ..fast_callbacks()
    };
    let a = Harness::with_settings(PAIR, settings).await;
    let b = other_host(&a, "host-b");
    let bucket = sluice_s3test::Server::shared().bucket();
    let other = Worker::start(
        &b,
        sluice_tests::sandbox().clone(),
        a.secrets.clone(),
        &host("host-b", 4, &bucket),
    )
    .unwrap();
    let id = a.start().await;
    let queued = || any_queued(&a.state_dir, &id);
    wait_until(
        "a call to wait in the queue",
        Duration::from_secs(30),
        queued,
    )
    .await;
    // Host B's worker, idle with four free slots, leaves it alone.
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(queued(), "the queued call waits for its own host");
    // Once the slot's call ends, the host's own worker takes it.
    a.open(&format!("{id}-left"));
    a.open(&format!("{id}-right"));
    a.wait_status(&id, ExecutionStatus::Succeeded).await;
    for action in [0, 1] {
        for job in jobs_of(&a.state_dir, &id, action) {
            assert_eq!(job.worker.as_deref(), Some("alone"), "{job:?}");
        }
    }
    other.shutdown().await;
}

/// Two gated actions that read and make no artifacts.
const BARE: &str = r##"
name: bare
execution_mode: parallel
stages:
{source_stage}
  - name: Build
    actions:
      - name: Left
        provider: "{gate}"
        configuration: { Behavior: block, Gate: "#{execution.id}-left" }
        grants: { paths: { gates: { path: "{gates}" } } }
      - name: Right
        provider: "{gate}"
        configuration: { Behavior: block, Gate: "#{execution.id}-right" }
        grants: { paths: { gates: { path: "{gates}" } } }
"##;

#[tokio::test]
async fn without_shared_artifacts_a_host_still_runs_queued_calls_that_need_none() {
    // A call without artifacts may run anywhere: the host's own worker,
    // which reaches no bucket, takes it once the slot is free.
    let settings = DriverSettings {
        slots: Slots::new(1),
        host_name: Some("alone".into()),
        ..fast_callbacks()
    };
    let a = Harness::with_settings(BARE, settings).await;
    let id = a.start().await;
    let queued = || any_queued(&a.state_dir, &id);
    wait_until(
        "a call to wait in the queue",
        Duration::from_secs(30),
        queued,
    )
    .await;
    a.open(&format!("{id}-left"));
    a.open(&format!("{id}-right"));
    a.wait_status(&id, ExecutionStatus::Succeeded).await;
    for action in [0, 1] {
        let jobs = jobs_of(&a.state_dir, &id, action);
        assert_eq!(
            jobs.iter()
                .map(|j| (j.worker.as_deref(), j.state.as_str()))
                .collect::<Vec<_>>(),
            [(Some("alone"), "done")]
        );
    }
}
