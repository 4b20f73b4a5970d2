//! Two hosts, each with a state directory of its own, on one PostgreSQL
//! database: one drives it at a time (the database's driver lock), the
//! other's commands reach the driving host through the database, and when
//! the driving host goes the other takes over and finishes its work.

use sluice::engine::{Command, Driver, ExecutionStatus, Start, is_driven};
use sluice::store::Store;
use sluice_tests::harness::{Harness, fast_callbacks};
use std::time::{Duration, Instant};

const PIPELINE: &str = r##"
name: shared
execution_mode: parallel
stages:
{source_stage}
  - name: Build
    actions:
      - name: Wait
        provider: "{gate}"
        configuration: { Behavior: gate, Gate: "#{execution.id}" }
        grants: { paths: { gates: { path: "{gates}" } } }
"##;

/// A second host's state directory, on the database of `a`'s.
fn second_host(a: &Harness) -> std::path::PathBuf {
    let url = std::fs::read_to_string(sluice::state_dir::StateDir::at(&a.state_dir).database_url())
        .unwrap();
    let b = a.dir.path().join("host-b");
    sluice::store::use_database(&b, url.trim()).unwrap();
    b
}

/// Leaves `command` in the database from `state_dir` and waits for the
/// driving host's answer.
async fn through_the_database(state_dir: &std::path::Path, command: Command) -> String {
    let mut store = Store::open(state_dir).unwrap();
    let id = store.push_request(&command.to_json()).unwrap();
    let started = Instant::now();
    loop {
        if let Some(answer) = store.request_outcome(id).unwrap() {
            let done = sluice::engine::command::answer_from_json(&answer)
                .unwrap_or_else(|e| panic!("refused: {e}"));
            return done.execution.expect("a start names its execution");
        }
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "no host answered"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn one_host_drives_a_database_and_the_other_takes_over_when_it_goes() {
    assert!(sluice_tests::harness::on_postgres());
    let mut a = Harness::new(PIPELINE).await;
    let b = second_host(&a);

    // A drives: B cannot, and knows someone does.
    let Err(refused) = Driver::start_with(
        &b,
        sluice_tests::sandbox().clone(),
        a.secrets.clone(),
        fast_callbacks(),
    )
    .await
    else {
        panic!("a second driver on one database is refused")
    };
    assert!(
        refused
            .to_string()
            .contains("the driving lease of postgres://"),
        "{refused}"
    );
    assert!(is_driven(&b));

    // B's start reaches A through the database; A runs it.
    let start = Command::Start(Start {
        pipeline: "shared".into(),
        variables: Default::default(),
        revisions: Default::default(),
        trigger: "host b".into(),
        token: Some("from-b".into()),
    });
    let id = through_the_database(&b, start).await;
    a.wait_running(&id, "Build", "Wait").await;

    // A goes; B takes over and finishes the execution A left running,
    // while someone keeps asking whether the database is driven (asking
    // must never keep a driver from starting).
    a.shutdown().await;
    assert!(!is_driven(&b), "A's locks went with it");
    let asking = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(true));
    let asker = {
        let asking = asking.clone();
        let dir = a.state_dir.clone();
        std::thread::spawn(move || {
            let mut asked = 0u32;
            while asking.load(std::sync::atomic::Ordering::Relaxed) {
                let _ = is_driven(&dir);
                asked += 1;
            }
            asked
        })
    };
    let driver_b = Driver::start_with(
        &b,
        sluice_tests::sandbox().clone(),
        a.secrets.clone(),
        fast_callbacks(),
    )
    .await
    .unwrap();
    asking.store(false, std::sync::atomic::Ordering::Relaxed);
    assert!(asker.join().unwrap() > 0);
    assert!(is_driven(&a.state_dir), "A sees B drive the database");
    a.open(&id);
    a.wait_status(&id, ExecutionStatus::Succeeded).await;
    let attempts = Store::open(&b).unwrap().action_attempts(&id).unwrap();
    let waits: Vec<_> = attempts.iter().filter(|x| x.action == "Wait").collect();
    assert_eq!(
        waits.last().map(|w| w.run.status),
        Some(Some(sluice::engine::ActionStatus::Succeeded))
    );
    driver_b.shutdown().await.unwrap();
}

/// The source's output, read by the gated action that runs on whichever
/// host drives.
const WITH_ARTIFACT: &str = r##"
name: handed
execution_mode: parallel
stages:
{source_stage}
  - name: Build
    actions:
      - name: Wait
        provider: "{gate}"
        inputs: [Code]
        configuration: { Behavior: gate, Gate: "#{execution.id}" }
        grants: { paths: { gates: { path: "{gates}" } } }
"##;

/// Settings for a driver keeping artifacts in the test's S3 server.
fn on_s3(bucket: &str) -> sluice::engine::DriverSettings {
    let s3 = sluice_s3test::Server::shared();
    sluice::engine::DriverSettings {
        artifacts: Some(sluice::artifacts::RemoteSettings {
            url: format!("s3://{bucket}/sluice"),
            endpoint: Some(s3.endpoint()),
            region: Some("us-east-1".into()),
            access_key_id: Some(s3.access_key_id().into()),
            secret_access_key: Some(s3.secret_access_key().into()),
            session_token: None,
        }),
        ..fast_callbacks()
    }
}

#[tokio::test]
async fn a_host_taking_over_fetches_the_artifacts_another_made_from_object_storage() {
    let bucket = sluice_s3test::Server::shared().bucket();
    let mut a = Harness::with_settings(WITH_ARTIFACT, on_s3(&bucket)).await;
    let b = second_host(&a);

    // A runs the source (its output goes to the bucket as it is recorded)
    // and starts the action that reads it.
    let id = a.start().await;
    a.wait_running(&id, "Build", "Wait").await;
    let code = a.execution(&id).artifacts["Code"].digest.clone();
    let object = sluice_s3test::Server::shared()
        .root()
        .join(&bucket)
        .join(format!("sluice/artifacts/{code}.tar"));
    assert!(object.is_file(), "{} is in the bucket", object.display());
    a.shutdown().await;

    // B has no copy of its own: it fetches the artifact, checks it, and
    // runs the action again with it.
    let b_store =
        sluice::artifacts::ArtifactStore::open(&sluice::state_dir::StateDir::at(&b).artifacts())
            .unwrap();
    assert!(!b_store.has(&code));
    let driver_b = Driver::start_with(
        &b,
        sluice_tests::sandbox().clone(),
        a.secrets.clone(),
        on_s3(&bucket),
    )
    .await
    .unwrap();
    a.open(&id);
    a.wait_status(&id, ExecutionStatus::Succeeded).await;
    assert!(b_store.has(&code), "B fetched the source's output");
    b_store.verify("Code", &code).unwrap();
    driver_b.shutdown().await.unwrap();
}

#[tokio::test]
async fn without_object_storage_the_host_taking_over_says_which_artifact_it_lacks() {
    let mut a = Harness::new(WITH_ARTIFACT).await;
    let b = second_host(&a);
    let id = a.start().await;
    a.wait_running(&id, "Build", "Wait").await;
    a.shutdown().await;
    let driver_b = Driver::start_with(
        &b,
        sluice_tests::sandbox().clone(),
        a.secrets.clone(),
        fast_callbacks(),
    )
    .await
    .unwrap();
    a.wait_status(&id, ExecutionStatus::Failed).await;
    let wait = &a.execution(&id).stages[1].actions[0];
    let error = wait.error.as_ref().unwrap().message.clone();
    assert!(
        error.contains("artifact `Code`") && error.contains("not in this host's artifact store"),
        "{error}"
    );
    driver_b.shutdown().await.unwrap();
}

#[tokio::test]
async fn a_standby_host_passes_commands_on_shows_changes_and_takes_over_within_seconds() {
    let mut a = Harness::new(PIPELINE).await;
    let b = second_host(&a);
    let standby = sluice::engine::standby::Standby::start(
        b.clone(),
        sluice_tests::sandbox().clone(),
        a.secrets.clone(),
        fast_callbacks(),
    );
    let handle = standby.handle();
    let mut events = handle.subscribe();
    assert!(!standby.drives());

    // A start given to the standby host is run by A, and the standby host
    // hears of it.
    let start = |token: &str| {
        Command::Start(Start {
            pipeline: "shared".into(),
            variables: Default::default(),
            revisions: Default::default(),
            trigger: "standby".into(),
            token: Some(token.into()),
        })
    };
    let id = handle
        .command(start("one"))
        .await
        .unwrap()
        .execution
        .unwrap();
    a.wait_running(&id, "Build", "Wait").await;
    let heard = tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            match events.recv().await {
                Ok(sluice::engine::EngineEvent::Execution(e)) if e.id == id => return,
                Ok(_) | Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => continue,
                Err(e) => panic!("{e}"),
            }
        }
    })
    .await;
    assert!(heard.is_ok(), "the standby host saw the execution change");
    assert!(!standby.drives());

    // A goes: B takes over within seconds and finishes A's execution.
    a.shutdown().await;
    let gone = Instant::now();
    while !standby.drives() {
        assert!(gone.elapsed() < Duration::from_secs(30), "no takeover");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(
        gone.elapsed() < sluice::engine::standby::TAKE_OVER_EVERY * 3,
        "took over in {:?}",
        gone.elapsed()
    );
    a.open(&id);
    a.wait_status(&id, ExecutionStatus::Succeeded).await;
    // Commands now go to B's own driver.
    let second = handle
        .command(start("two"))
        .await
        .unwrap()
        .execution
        .unwrap();
    a.wait_running(&second, "Build", "Wait").await;
    a.open(&second);
    a.wait_status(&second, ExecutionStatus::Succeeded).await;
    standby.shutdown().await.unwrap();
}

#[tokio::test]
async fn commands_answers_and_steps_are_heard_by_other_hosts_as_they_happen() {
    let a = Harness::new(PIPELINE).await;
    let b = second_host(&a);
    // One connection listening on all three channels hears each (its
    // receivers hear whatever the connection hears).
    let listener = Store::open(&b).unwrap();
    let mut heard = listener.listen_for_requests().unwrap().expect("PostgreSQL");
    listener.listen_for_answers().unwrap().expect("PostgreSQL");
    listener.listen_for_changes().unwrap().expect("PostgreSQL");
    // B leaves a command: it is heard as it is left, A's answer as it is
    // recorded, and the execution's steps as they commit.
    let start = Command::Start(Start {
        pipeline: "shared".into(),
        variables: Default::default(),
        revisions: Default::default(),
        trigger: "heard".into(),
        token: None,
    });
    let id = through_the_database(&b, start).await;
    let mut names = std::collections::BTreeSet::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while names.len() < 3 {
        match tokio::time::timeout_at(deadline, heard.recv()).await {
            Ok(Ok(name)) => {
                names.insert(name);
            }
            Ok(Err(tokio::sync::broadcast::error::RecvError::Lagged(_))) => {}
            other => panic!("heard only {names:?}: {other:?}"),
        }
    }
    assert_eq!(
        names.into_iter().collect::<Vec<_>>(),
        ["sluice_answers", "sluice_changes", "sluice_requests"]
    );
    a.wait_running(&id, "Build", "Wait").await;
    // SQLite has nothing to listen to: its writers are all on one host.
    let lone = tempfile::tempdir().unwrap();
    assert!(
        Store::open(lone.path())
            .unwrap()
            .listen_for_requests()
            .unwrap()
            .is_none()
    );
}
