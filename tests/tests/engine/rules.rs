//! One test per execution rule, each driving real executions through real
//! components (fixture providers that succeed, fail, wait for a gate, or
//! answer in progress), asserting what `sluice state` shows.

use sluice::engine::{ActionStatus, ExecutionStatus as S, StageStatus};
use sluice::engine::{Command, CommandError, Start};
use sluice_tests::harness::Harness;

/// Source, then a stage whose action waits for a gate named after the
/// execution, then a last stage.
fn gated(mode: &str) -> String {
    format!(
        r##"
name: gated
execution_mode: {mode}
stages:
{{source_stage}}
  - name: Build
    actions:
      - name: Wait
        provider: "{{gate}}"
        configuration: {{ Behavior: gate, Gate: "#{{execution.id}}" }}
        grants: {{ paths: {{ gates: {{ path: "{{gates}}" }} }} }}
  - name: Deploy
    actions:
      - name: Go
        provider: "{{gate}}"
"##
    )
}

fn stop(execution: &str, abandon: bool) -> Command {
    Command::Stop {
        execution: execution.into(),
        abandon,
        reason: Some("testing".into()),
    }
}

/// The reason of a retry's refusal.
fn not_retryable(answer: sluice::engine::Answer) -> String {
    match answer {
        Err(CommandError::NotRetryable { reason, .. }) => reason,
        other => panic!("expected a refused retry, got {other:?}"),
    }
}

fn retry(execution: &str, stage: &str, all: bool) -> Command {
    Command::Retry {
        execution: execution.into(),
        stage: stage.into(),
        all,
    }
}

#[tokio::test]
async fn a_stage_holds_one_execution_and_the_next_waits_in_front_of_it() {
    let h = Harness::new(&gated("superseded")).await;
    let a = h.start().await;
    h.wait_running(&a, "Build", "Wait").await;
    let b = h.start().await;
    h.wait_for("B to wait in front of Build", |h| {
        h.state().stage("Build").inbound_executions == [b.clone()]
    })
    .await;

    let state = h.state();
    let build = state.stage("Build");
    let latest = build.latest_execution.as_ref().unwrap();
    assert_eq!(
        (latest.id.as_str(), latest.stage_status),
        (a.as_str(), Some(StageStatus::InProgress))
    );
    assert_eq!(
        state.stage("Source").latest_execution.as_ref().unwrap().id,
        b,
        "B went through Source"
    );

    h.open(&a);
    h.wait_status(&a, S::Succeeded).await;
    h.wait_running(&b, "Build", "Wait").await;
    assert!(h.state().stage("Build").inbound_executions.is_empty());
    h.open(&b);
    h.wait_status(&b, S::Succeeded).await;
}

#[tokio::test]
async fn a_newer_execution_supersedes_the_one_waiting_but_never_one_inside_a_stage() {
    let h = Harness::new(&gated("superseded")).await;
    let a = h.start().await;
    h.wait_running(&a, "Build", "Wait").await;
    let b = h.start().await;
    h.wait_for("B inbound", |h| {
        h.state().stage("Build").inbound_executions == [b.clone()]
    })
    .await;
    let c = h.start().await;
    h.wait_status(&b, S::Superseded).await;
    let reason = h.execution(&b).status_reason.unwrap();
    assert_eq!(
        reason,
        format!("superseded by execution {c} while waiting in front of stage `Build`")
    );
    assert_eq!(h.state().stage("Build").inbound_executions, [c.clone()]);
    assert_eq!(
        h.status(&a),
        S::InProgress,
        "A is inside Build: never superseded"
    );

    h.open(&a);
    h.wait_status(&a, S::Succeeded).await;
    h.wait_running(&c, "Build", "Wait").await;
    h.open(&c);
    h.wait_status(&c, S::Succeeded).await;
    assert_eq!(h.status(&b), S::Superseded, "a final status stays final");
}

#[tokio::test]
async fn queued_mode_lets_waiting_executions_in_in_the_order_they_started() {
    let h = Harness::new(&gated("queued")).await;
    let a = h.start().await;
    h.wait_running(&a, "Build", "Wait").await;
    let b = h.start().await;
    h.wait_for("B inbound", |h| {
        h.state().stage("Build").inbound_executions == [b.clone()]
    })
    .await;
    let c = h.start().await;
    h.wait_for("B and C inbound", |h| {
        h.state().stage("Build").inbound_executions == [b.clone(), c.clone()]
    })
    .await;

    h.open(&a);
    h.wait_running(&b, "Build", "Wait").await;
    assert_eq!(h.state().stage("Build").inbound_executions, [c.clone()]);
    h.open(&c); // C's gate opens first, but C is not in the stage yet
    h.open(&b);
    for id in [&a, &b, &c] {
        h.wait_status(id, S::Succeeded).await;
    }
    let entered = |id: &str| h.execution(id).stages[1].started_at.unwrap();
    assert!(entered(&b) <= entered(&c), "B entered Build before C");
}

#[tokio::test]
async fn parallel_mode_does_not_lock_stages() {
    let h = Harness::new(&gated("parallel")).await;
    let a = h.start().await;
    let b = h.start().await;
    h.wait_running(&a, "Build", "Wait").await;
    h.wait_running(&b, "Build", "Wait").await;
    assert!(h.state().stage("Build").inbound_executions.is_empty());
    h.open(&b);
    h.wait_status(&b, S::Succeeded).await;
    assert_eq!(h.status(&a), S::InProgress);
    h.open(&a);
    h.wait_status(&a, S::Succeeded).await;
}

const RUN_ORDERS: &str = r#"
name: orders
stages:
{source_stage}
  - name: Build
    actions:
      - { name: One, provider: "{gate}", configuration: { Behavior: gate, Gate: one }, grants: { paths: { gates: { path: "{gates}" } } } }
      - { name: Two, provider: "{gate}", configuration: { Behavior: gate, Gate: two }, grants: { paths: { gates: { path: "{gates}" } } } }
      - { name: Last, provider: "{gate}", run_order: 2 }
"#;

#[tokio::test]
async fn equal_run_orders_run_together_and_a_higher_one_waits_for_all_of_them() {
    let h = Harness::new(RUN_ORDERS).await;
    let a = h.start().await;
    h.wait_running(&a, "Build", "One").await;
    h.wait_running(&a, "Build", "Two").await;
    assert_eq!(h.state().stage("Build").action("Last").status, None);
    h.open("one");
    h.wait_for("One to succeed", |h| {
        h.state().stage("Build").action("One").status == Some(ActionStatus::Succeeded)
    })
    .await;
    assert_eq!(
        h.state().stage("Build").action("Last").status,
        None,
        "Two still runs"
    );
    h.open("two");
    h.wait_status(&a, S::Succeeded).await;
    let build = h.execution(&a).stages[1].clone();
    assert!(build.actions[2].started_at >= build.actions[1].ended_at);
}

#[tokio::test]
async fn a_failed_action_fails_the_stage_once_the_running_actions_finish() {
    let h = Harness::new(RUN_ORDERS).await;
    let a = h.start().await;
    h.wait_running(&a, "Build", "Two").await;
    h.fail("one");
    h.wait_for("One to fail", |h| {
        h.state().stage("Build").action("One").status == Some(ActionStatus::Failed)
    })
    .await;
    let state = h.state();
    assert_eq!(
        state
            .stage("Build")
            .latest_execution
            .as_ref()
            .unwrap()
            .stage_status,
        Some(StageStatus::InProgress)
    );
    assert_eq!(
        state.stage("Build").action("Two").status,
        Some(ActionStatus::InProgress)
    );
    h.open("two");
    h.wait_status(&a, S::Failed).await;
    let state = h.state();
    assert_eq!(
        state.stage("Build").action("Two").status,
        Some(ActionStatus::Succeeded)
    );
    assert_eq!(
        state.stage("Build").action("Last").status,
        None,
        "a later run order never starts"
    );
    assert_eq!(
        h.execution(&a).status_reason.unwrap(),
        "stage `Build` failed: action `One` failed: gate one said fail"
    );
}

#[tokio::test]
async fn a_disabled_transition_holds_executions_and_enabling_it_lets_the_newest_in() {
    let h = Harness::new(&gated("superseded")).await;
    let outcome = h
        .command(Command::Transition {
            pipeline: "gated".into(),
            stage: "Build".into(),
            enabled: false,
            reason: Some("freeze for the release".into()),
            by: "tester".into(),
        })
        .await;
    assert!(outcome.is_ok(), "{outcome:?}");
    let a = h.start().await;
    h.wait_for("A to wait at the transition", |h| {
        h.state().stage("Build").inbound_executions == [a.clone()]
    })
    .await;
    let transition = h.state().stage("Build").transition.clone().unwrap();
    assert!(!transition.enabled);
    assert_eq!(transition.reason.as_deref(), Some("freeze for the release"));
    assert_eq!(transition.changed_by.as_deref(), Some("tester"));

    let b = h.start().await;
    h.wait_status(&a, S::Superseded).await;
    assert_eq!(h.state().stage("Build").inbound_executions, [b.clone()]);
    let refused = h
        .command(Command::Transition {
            pipeline: "gated".into(),
            stage: "Source".into(),
            enabled: false,
            reason: None,
            by: "t".into(),
        })
        .await;
    assert_eq!(
        refused,
        Err(CommandError::NoTransition {
            pipeline: "gated".into(),
            stage: "Source".into()
        })
    );

    h.command(Command::Transition {
        pipeline: "gated".into(),
        stage: "Build".into(),
        enabled: true,
        reason: None,
        by: "tester".into(),
    })
    .await
    .expect("the engine takes it");
    h.wait_running(&b, "Build", "Wait").await;
    h.open(&b);
    h.wait_status(&b, S::Succeeded).await;
}

#[tokio::test]
async fn stop_and_wait_lets_running_actions_finish_and_starts_nothing_new() {
    let h = Harness::new(&gated("superseded")).await;
    let a = h.start().await;
    h.wait_running(&a, "Build", "Wait").await;
    assert!(h.command(stop(&a, false)).await.is_ok());
    h.wait_status(&a, S::Stopping).await;
    assert_eq!(
        h.state()
            .stage("Build")
            .latest_execution
            .as_ref()
            .unwrap()
            .stage_status,
        Some(StageStatus::Stopping)
    );
    assert_eq!(
        h.state().stage("Build").action("Wait").status,
        Some(ActionStatus::InProgress)
    );
    h.open(&a);
    h.wait_status(&a, S::Stopped).await;
    let e = h.execution(&a);
    assert_eq!(
        e.stages[1].actions[0].status,
        Some(ActionStatus::Succeeded),
        "the running action finished"
    );
    assert_eq!(e.stages[1].status, Some(StageStatus::Stopped));
    assert_eq!(e.stages[2].status, None, "nothing new started");
    assert_eq!(e.status_reason.as_deref(), Some("testing"));
}

#[tokio::test]
async fn stop_and_abandon_marks_running_actions_abandoned_at_once() {
    let yaml = r#"
name: abandon
stages:
{source_stage}
  - name: Build
    actions:
      - { name: Sleep, provider: "{gate}", configuration: { Behavior: sleep, Millis: "20000" } }
      - { name: Wait, provider: "{gate}", configuration: { Behavior: gate, Gate: never }, grants: { paths: { gates: { path: "{gates}" } } } }
"#;
    let h = Harness::new(yaml).await;
    let a = h.start().await;
    h.wait_running(&a, "Build", "Sleep").await;
    h.wait_running(&a, "Build", "Wait").await;
    let started = std::time::Instant::now();
    assert!(h.command(stop(&a, true)).await.is_ok());
    h.wait_status(&a, S::Stopped).await;
    assert!(
        started.elapsed() < std::time::Duration::from_secs(5),
        "did not wait for the sleeping action"
    );
    let e = h.execution(&a);
    for action in &e.stages[1].actions {
        assert_eq!(
            action.status,
            Some(ActionStatus::Abandoned),
            "{}",
            action.name
        );
        assert_eq!(
            action.error.as_ref().unwrap().message,
            "abandoned: the execution was stopped (testing)"
        );
    }
    // A stopped execution cannot be stopped again.
    let again = h.command(stop(&a, false)).await;
    assert_eq!(
        again,
        Err(CommandError::AlreadyEnded {
            execution: a.clone(),
            status: "Stopped".into()
        })
    );
    assert_eq!(
        again.unwrap_err().to_string(),
        format!("execution {a} has already ended (Stopped)")
    );
}

const FLAKY: &str = r#"
name: flaky
stages:
{source_stage}
  - name: Build
    actions:
      - { name: Steady, provider: "{gate}" }
      - { name: Flaky, provider: "{gate}", configuration: { Behavior: gate, Gate: flaky }, grants: { paths: { gates: { path: "{gates}" } } } }
"#;

#[tokio::test]
async fn retrying_failed_actions_reruns_only_them() {
    let h = Harness::new(FLAKY).await;
    let a = h.start().await;
    h.wait_running(&a, "Build", "Flaky").await;
    h.fail("flaky");
    h.wait_status(&a, S::Failed).await;
    std::fs::remove_file(h.gates.join("flaky")).unwrap();
    let outcome = h.command(retry(&a, "Build", false)).await;
    assert!(outcome.is_ok(), "{outcome:?}");
    h.wait_running(&a, "Build", "Flaky").await;
    let build = h.state().stage("Build").clone();
    assert_eq!(
        (
            build.action("Flaky").attempt,
            build.action("Steady").attempt
        ),
        (2, 1)
    );
    assert_eq!(build.action("Steady").status, Some(ActionStatus::Succeeded));
    h.open("flaky");
    h.wait_status(&a, S::Succeeded).await;
    assert_eq!(h.execution(&a).stages[1].attempt, 2);
}

#[tokio::test]
async fn retrying_all_actions_reruns_every_one() {
    let h = Harness::new(FLAKY).await;
    let a = h.start().await;
    h.wait_running(&a, "Build", "Flaky").await;
    h.fail("flaky");
    h.wait_status(&a, S::Failed).await;
    std::fs::write(h.gates.join("flaky"), "pass").unwrap();
    assert!(h.command(retry(&a, "Build", true)).await.is_ok());
    h.wait_status(&a, S::Succeeded).await;
    let build = h.state().stage("Build").clone();
    assert_eq!(
        (
            build.action("Flaky").attempt,
            build.action("Steady").attempt
        ),
        (2, 2)
    );
}

#[tokio::test]
async fn a_retry_is_refused_while_running_after_being_superseded_in_the_stage_or_after_a_pipeline_change()
 {
    let h = Harness::new(&gated("superseded")).await;
    let a = h.start().await;
    h.wait_running(&a, "Build", "Wait").await;
    let running = h.command(retry(&a, "Build", false)).await;
    assert_eq!(
        not_retryable(running),
        format!(
            "execution {a} is still InProgress: a retry can start only once it has failed or stopped"
        )
    );
    let not_failed = h.command(retry(&a, "Source", false)).await;
    assert!(
        matches!(&not_failed, Err(CommandError::NotRetryable { stage, .. }) if stage == "Source"),
        "{not_failed:?}"
    );

    h.fail(&a);
    h.wait_status(&a, S::Failed).await;
    // B enters Build after A failed there.
    let b = h.start().await;
    h.wait_running(&b, "Build", "Wait").await;
    let superseded = h.command(retry(&a, "Build", false)).await;
    assert_eq!(
        not_retryable(superseded),
        format!(
            "execution {b} has entered stage `Build` since, superseding execution {a} there: only the latest execution of a stage can be retried"
        )
    );
    h.fail(&b);
    h.wait_status(&b, S::Failed).await;

    // The pipeline changes: B's retry is refused.
    h.apply(&gated("superseded").replace("name: Go", "name: GoGo"))
        .await;
    let changed = h.command(retry(&b, "Build", false)).await;
    assert_eq!(
        not_retryable(changed),
        format!(
            "pipeline `gated` changed since execution {b} started (version 1 then, 2 now): start a new execution instead"
        )
    );
}

#[tokio::test]
async fn an_action_past_its_timeout_fails() {
    let yaml = r#"
name: slow
stages:
{source_stage}
  - name: Build
    actions:
      - { name: Wait, provider: "{gate}", timeout: 1s, configuration: { Behavior: gate, Gate: never }, grants: { paths: { gates: { path: "{gates}" } } } }
"#;
    let h = Harness::new(yaml).await;
    let a = h.start().await;
    h.wait_status(&a, S::Failed).await;
    assert_eq!(
        h.state().stage("Build").action("Wait").error.as_deref(),
        Some("deadline exceeded: the action did not finish within its timeout of 1.0s")
    );
}

#[tokio::test]
async fn an_in_progress_provider_is_called_back_with_its_continuation_token() {
    let yaml = r#"
name: poll
stages:
{source_stage}
  - name: Deploy
    actions:
      - { name: Poll, provider: "{gate}", configuration: { Behavior: count, Count: "4" } }
"#;
    let h = Harness::new(yaml).await;
    let a = h.start().await;
    h.wait_status(&a, S::Succeeded).await;
    let action = &h.execution(&a).stages[1].actions[0];
    let variables: Vec<(&str, &str)> = action
        .variables
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    assert_eq!(
        variables,
        [("Calls", "4"), ("LastToken", "3"), ("Attempt", "1")]
    );
    assert_eq!(action.attempt, 1, "call-backs are the same attempt");
}

const APPROVAL: &str = r#"
name: release
stages:
{source_stage}
  - name: Approve
    actions:
      - { name: Manager, provider: "builtin:manual", configuration: { CustomData: "check staging" } }
  - name: Ship
    actions:
      - { name: Go, provider: "{gate}" }
"#;

#[tokio::test]
async fn an_approval_waits_for_a_decision_and_records_it() {
    let h = Harness::new(APPROVAL).await;
    let a = h.start().await;
    h.wait_for("the approval to wait", |h| {
        h.state()
            .stage("Approve")
            .action("Manager")
            .waiting_for_approval
    })
    .await;
    let early = h
        .command(Command::Decide {
            execution: a.clone(),
            stage: "Ship".into(),
            action: "Go".into(),
            approved: true,
            by: "x".into(),
            summary: None,
        })
        .await;
    assert_eq!(
        early,
        Err(CommandError::NotAwaitingApproval {
            execution: a.clone(),
            stage: "Ship".into(),
            action: "Go".into(),
            state: "not started".into()
        })
    );
    let outcome = h
        .command(Command::Decide {
            execution: a.clone(),
            stage: "Approve".into(),
            action: "Manager".into(),
            approved: true,
            by: "alice".into(),
            summary: Some("looks good".into()),
        })
        .await;
    assert!(outcome.is_ok(), "{outcome:?}");
    h.wait_status(&a, S::Succeeded).await;
    let manager = &h.execution(&a).stages[1].actions[0];
    assert_eq!(
        manager.summary.as_deref(),
        Some("approved by alice: looks good")
    );
    let approval = manager.approval.as_ref().unwrap();
    assert_eq!(
        (
            approval.approved,
            approval.by.as_str(),
            approval.summary.as_deref()
        ),
        (true, "alice", Some("looks good"))
    );
}

#[tokio::test]
async fn a_rejection_fails_the_stage() {
    let h = Harness::new(APPROVAL).await;
    let a = h.start().await;
    h.wait_for("the approval to wait", |h| {
        h.state()
            .stage("Approve")
            .action("Manager")
            .waiting_for_approval
    })
    .await;
    h.command(Command::Decide {
        execution: a.clone(),
        stage: "Approve".into(),
        action: "Manager".into(),
        approved: false,
        by: "bob".into(),
        summary: Some("not today".into()),
    })
    .await
    .expect("the engine takes it");
    h.wait_status(&a, S::Failed).await;
    assert_eq!(
        h.state()
            .stage("Approve")
            .action("Manager")
            .error
            .as_deref(),
        Some("rejected by bob: not today")
    );
    assert_eq!(h.execution(&a).stages[2].status, None);
}

#[tokio::test]
async fn variables_resolve_before_an_action_runs() {
    let yaml = r##"
name: vars
variables:
  - { name: tag, default: dev }
  - { name: region }
stages:
  - name: Source
    actions:
      - name: Src
        provider: "{source}"
        namespace: SourceVars
        outputs: [Code]
        grants: { paths: { source: { path: "{src}" }, gates: { path: "{gates}" } } }
  - name: Build
    actions:
      - { name: Echo, provider: "{gate}", configuration: { Echo: "#{variables.tag}@#{variables.region}/#{execution.id}/#{SourceVars.Revision}" } }
"##;
    let h = Harness::new(yaml).await;
    let missing = h
        .command(Command::Start(Start {
            pipeline: "vars".into(),
            variables: Default::default(),
            revisions: Default::default(),
            trigger: "t".into(),
            token: None,
        }))
        .await;
    assert_eq!(
        missing,
        Err(CommandError::MissingVariable {
            pipeline: "vars".into(),
            variable: "region".into()
        })
    );
    let unknown = h
        .command(Command::Start(Start {
            pipeline: "vars".into(),
            variables: [("colour".to_string(), "red".to_string())]
                .into_iter()
                .collect(),
            revisions: Default::default(),
            trigger: "t".into(),
            token: None,
        }))
        .await;
    assert_eq!(
        unknown.unwrap_err().to_string(),
        "pipeline `vars` has no variable `colour` (it has: tag, region)"
    );

    let a = h.start_with(&[("tag", "v1"), ("region", "eu")]).await;
    h.wait_status(&a, S::Succeeded).await;
    let echo = &h.execution(&a).stages[1].actions[0];
    let value = echo
        .variables
        .iter()
        .find(|(k, _)| k == "Echo")
        .map(|(_, v)| v.clone());
    assert_eq!(value, Some(format!("v1@eu/{a}/r1")));
}

#[tokio::test]
async fn an_execution_carries_the_source_revisions_recorded_when_it_started() {
    let yaml = r#"
name: revisions
stages:
  - name: Source
    actions:
      - name: Src
        provider: "{source}"
        configuration: { Gate: source }
        outputs: [Code]
        grants: { paths: { source: { path: "{src}" }, gates: { path: "{gates}" } } }
  - name: Build
    actions:
      - { name: Pack, provider: "{gate}", inputs: [Code], outputs: [Packed] }
"#;
    let h = Harness::new(yaml).await;
    let a = h.start().await;
    h.wait_running(&a, "Source", "Src").await;
    assert_eq!(
        h.execution(&a).source_revisions[0]
            .revision
            .as_ref()
            .unwrap()
            .id,
        "r1"
    );
    // A new revision lands while the source action has not fetched yet.
    h.set_revision("r2", &[("file.txt", "two")]);
    h.open("source");
    h.wait_status(&a, S::Succeeded).await;
    let e = h.execution(&a);
    assert_eq!(e.stages[0].actions[0].revision.as_deref(), Some("r1"));
    let packed = &e.artifacts["Packed"];
    assert_eq!(packed.revision.as_deref(), Some("r1"));
    let store = sluice::artifacts::ArtifactStore::open(&h.state_dir.join("artifacts")).unwrap();
    let out = store.mount("Packed", &packed.digest).unwrap();
    assert_eq!(
        std::fs::read_to_string(out.join("Code/file.txt")).unwrap(),
        "one"
    );

    let b = h.start().await;
    h.wait_status(&b, S::Succeeded).await;
    assert_eq!(
        h.execution(&b).source_revisions[0]
            .revision
            .as_ref()
            .unwrap()
            .id,
        "r2"
    );
}

#[tokio::test]
async fn an_engine_that_cannot_write_its_state_stops_and_says_why_and_the_next_one_carries_on() {
    let mut h = Harness::new(&gated("superseded")).await;
    let a = h.start().await;
    h.wait_running(&a, "Build", "Wait").await;
    // Another process holds the database's write lock longer than the
    // store waits for it: the step that records the action's end fails.
    let blocker = sluice_tests::harness::WriteLock::take(&h.state_dir);
    h.open(&a);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while h.engine().failure().is_none() {
        assert!(std::time::Instant::now() < deadline, "the engine went on");
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    let failure = h.engine().failure().unwrap();
    assert!(
        failure.contains("cannot write the state database"),
        "{failure}"
    );
    // Commands are refused as unavailable, naming the cause.
    match h.command(stop(&a, false)).await {
        Err(CommandError::Unavailable { reason }) => {
            assert!(
                reason.contains("cannot write the state database"),
                "{reason}"
            )
        }
        other => panic!("expected an unavailable engine, got {other:?}"),
    }
    let stopped = h.engine.take().unwrap().shutdown().await;
    assert_eq!(stopped, Err(failure));
    blocker.release();
    // Nothing the failed step did was kept or acted on: the next engine
    // runs the action again and the execution finishes.
    h.engine = Some(
        sluice::engine::Driver::start_with(
            &h.state_dir,
            sluice_tests::sandbox().clone(),
            h.secrets.clone(),
            sluice_tests::harness::fast_callbacks(),
        )
        .await
        .unwrap(),
    );
    h.wait_status(&a, S::Succeeded).await;
}

#[tokio::test]
async fn a_start_takes_its_revisions_variables_and_version_from_one_version() {
    let v1 = r##"
name: pinned
variables:
  - { name: tag, default: one }
stages:
{source_stage}
  - name: Build
    actions:
      - { name: Echo, provider: "{gate}", configuration: { Echo: "#{variables.tag}" } }
"##;
    let h = Harness::new(v1).await;
    // The source holds the start while it records revisions; meanwhile the
    // pipeline gets a new version with another stage and variable default.
    std::fs::write(h.src.join("HOLD"), "").unwrap();
    let handle = h.engine().handle();
    let start = tokio::spawn(async move {
        handle
            .command(Command::Start(Start {
                pipeline: "pinned".into(),
                variables: Default::default(),
                revisions: Default::default(),
                trigger: "test".into(),
                token: None,
            }))
            .await
    });
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    h.apply(
        &v1.replace("default: one", "default: two")
            .replace("name: Build", "name: Compile"),
    )
    .await;
    std::fs::remove_file(h.src.join("HOLD")).unwrap();
    let done = start.await.unwrap().expect("the start is taken");
    let a = done.execution.unwrap();
    h.wait_status(&a, S::Succeeded).await;
    let e = h.execution(&a);
    assert_eq!(e.version, 1, "the version the start was accepted under");
    assert_eq!(e.stages[1].name, "Build");
    assert_eq!(e.variables.get("tag").map(String::as_str), Some("one"));
    let b = h.start().await;
    h.wait_status(&b, S::Succeeded).await;
    assert_eq!(h.execution(&b).version, 2);
}

#[tokio::test]
async fn an_execution_keeps_the_execution_mode_it_started_with() {
    let h = Harness::new(&gated("queued")).await;
    let a = h.start().await;
    h.wait_running(&a, "Build", "Wait").await;
    let b = h.start().await;
    h.wait_for("B to queue in front of Build", |h| {
        h.state().stage("Build").inbound_executions == [b.clone()]
    })
    .await;
    // The pipeline changes to superseded mode; C (of the new version)
    // arrives behind B (of the old one): B was queued and stays queued.
    h.apply(&gated("superseded")).await;
    let c = h.start().await;
    h.wait_for("C to wait in front of Build", |h| {
        h.execution(&c)
            .position
            .is_some_and(|p| p.waiting && p.stage == 1)
    })
    .await;
    assert_eq!(h.execution(&b).status, S::InProgress, "B is not superseded");
    h.open(&a);
    h.wait_running(&b, "Build", "Wait").await;
    h.open(&b);
    h.open(&c);
    for id in [&a, &b, &c] {
        h.wait_status(id, S::Succeeded).await;
    }
}

#[tokio::test]
async fn every_attempt_of_a_stage_is_kept_across_retries() {
    let h = Harness::new(FLAKY).await;
    let a = h.start().await;
    h.wait_running(&a, "Build", "Flaky").await;
    h.fail("flaky");
    h.wait_status(&a, S::Failed).await;
    std::fs::write(h.gates.join("flaky"), "pass").unwrap();
    h.command(retry(&a, "Build", false))
        .await
        .expect("the retry is taken");
    h.wait_status(&a, S::Succeeded).await;
    let store = sluice::store::Store::open(&h.state_dir).unwrap();
    let attempts: Vec<(String, u32, Option<StageStatus>)> = store
        .stage_attempts(&a)
        .unwrap()
        .into_iter()
        .map(|s| (s.stage, s.attempt, s.status))
        .collect();
    assert_eq!(
        attempts,
        [
            ("Source".to_string(), 1, Some(StageStatus::Succeeded)),
            ("Build".to_string(), 1, Some(StageStatus::Failed)),
            ("Build".to_string(), 2, Some(StageStatus::Succeeded)),
        ]
    );
}

#[tokio::test]
async fn deleting_a_pipeline_is_refused_while_it_runs_unless_forced_and_leaves_nothing_behind() {
    let h = Harness::new(&gated("queued")).await;
    let a = h.start().await;
    h.wait_running(&a, "Build", "Wait").await;
    let b = h.start().await;
    h.wait_for("B to wait", |h| {
        h.execution(&b).position.is_some_and(|p| p.waiting)
    })
    .await;
    let delete = |force| Command::Delete {
        pipeline: "gated".into(),
        force,
    };
    match h.command(delete(false)).await {
        Err(CommandError::PipelineBusy { execution, .. }) => {
            assert!(execution == a || execution == b, "{execution}")
        }
        other => panic!("expected a refusal, got {other:?}"),
    }
    let done = h.command(delete(true)).await.expect("a forced delete");
    assert_eq!(done.message, "deleted pipeline `gated` and its history");
    let store = sluice::store::Store::open(&h.state_dir).unwrap();
    assert!(store.current_pipeline("gated").unwrap().is_none());
    assert!(store.list_executions("gated", 10).unwrap().is_empty());
    assert!(store.execution(&a, |_, _| None).unwrap().is_none());
    // Nothing written after the delete brings a row back.
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    assert!(store.execution(&b, |_, _| None).unwrap().is_none());
    assert_eq!(store.active_count().unwrap(), 0);
}

#[tokio::test]
async fn retention_lets_old_executions_go_with_their_logs_and_artifacts_and_keeps_running_ones() {
    let yaml = r##"
name: kept
retention: { executions: 2, days: 30 }
stages:
{source_stage}
  - name: Build
    actions:
      - name: Wait
        provider: "{gate}"
        outputs: [Out]
        configuration: { Behavior: gate, Gate: "#{execution.id}", Message: "logged" }
        grants: { paths: { gates: { path: "{gates}" } } }
"##;
    let h = Harness::new(yaml).await;
    let mut done = Vec::new();
    for _ in 0..4 {
        let id = h.start().await;
        h.open(&id);
        h.wait_status(&id, S::Succeeded).await;
        done.push(id);
    }
    let running = h.start().await;
    h.wait_running(&running, "Build", "Wait").await;
    let dir = sluice::state_dir::StateDir::new(&h.state_dir);
    let store = sluice::store::Store::open(&h.state_dir).unwrap();
    let artifacts = sluice::artifacts::ArtifactStore::open(&dir.artifacts()).unwrap();
    let digests_of = |id: &str| -> Vec<String> {
        h.execution(id)
            .artifacts
            .values()
            .map(|a| a.digest.clone())
            .collect()
    };
    let old_digests = digests_of(&done[0]);
    assert!(!old_digests.is_empty());
    let now = sluice::engine::now_millis();

    // A dry run removes nothing.
    let would = sluice::retention::collect(&dir, now, true).unwrap();
    assert_eq!(would.executions, [("kept".to_string(), 3)]);
    assert!(store.execution(&done[0], |_, _| None).unwrap().is_some());

    // The newest two (the running one and the last to succeed) stay; the
    // older three go with their artifacts.
    let collected = sluice::retention::collect(&dir, now, false).unwrap();
    assert_eq!(collected.executions, [("kept".to_string(), 3)]);
    for id in &done[..3] {
        assert!(store.execution(id, |_, _| None).unwrap().is_none(), "{id}");
    }
    for digest in &old_digests {
        assert!(!artifacts.digests().contains(digest), "{digest} is gone");
    }
    assert!(store.execution(&done[3], |_, _| None).unwrap().is_some());
    for digest in digests_of(&done[3]) {
        artifacts.verify("kept", &digest).unwrap();
    }

    // Thirty days later the last succeeded one goes too, but not the
    // running one, nor the latest execution of each stage.
    let later = now + 31 * 86_400_000;
    sluice::retention::collect(&dir, later, false).unwrap();
    assert!(store.execution(&running, |_, _| None).unwrap().is_some());
    h.open(&running);
    h.wait_status(&running, S::Succeeded).await;
    let state = h.state();
    assert_eq!(
        state.stage("Build").latest_execution.as_ref().unwrap().id,
        running
    );
}
