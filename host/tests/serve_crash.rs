//! Crash safety of `sluice serve` under SIGKILL: many executions of
//! pipelines with actions of varied length (and approvals), the server
//! killed at random moments and restarted, again and again. Afterwards,
//! once idle: every execution that was started exists and has ended (or
//! waits on the approval it was waiting on), no action is left running,
//! every artifact matches its manifest and sums, and the database passes
//! `PRAGMA integrity_check`.
//!
//! `SLUICE_CRASH_KILLS` (default 5), `SLUICE_CRASH_STARTS` (executions
//! started per round, default 6) and `SLUICE_CRASH_SEED` tune it;
//! `tests/crash.sh` runs it longer.

use serde_json::json;
use sluice::engine::ActionStatus;
use sluice::store::Store;
use sluice_tests::chaos::{Random, setting};
use sluice_tests::fixtures;
use sluice_tests::server::ServerProcess;
use std::collections::BTreeMap;
use std::path::Path;
use std::time::{Duration, Instant};

fn exe() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_sluice"))
}

fn pipelines(src: &Path) -> Vec<(String, String)> {
    let source = format!(
        r#"  - name: Source
    actions:
      - name: Src
        provider: "{source}"
        outputs: [Code]
        grants: {{ paths: {{ source: {{ path: "{src}" }} }} }}"#,
        source = fixtures::GATED_SOURCE,
        src = src.display()
    );
    let gate = fixtures::GATE;
    vec![
        (
            "parallel-work".into(),
            format!(
                r##"
name: parallel-work
execution_mode: parallel
variables:
  - {{ name: ms, default: "100" }}
stages:
{source}
  - name: Build
    actions:
      - {{ name: A, provider: "{gate}", inputs: [Code], outputs: [Built], configuration: {{ Behavior: sleep, Millis: "#{{variables.ms}}" }} }}
      - {{ name: B, provider: "{gate}", configuration: {{ Behavior: sleep, Millis: "50" }} }}
      - {{ name: C, provider: "{gate}", run_order: 2, inputs: [Built], configuration: {{ Behavior: count, Count: "3" }} }}
  - name: Ship
    actions:
      - {{ name: D, provider: "{gate}", inputs: [Built], outputs: [Shipped], configuration: {{ Behavior: sleep, Millis: "#{{variables.ms}}" }} }}
"##
            ),
        ),
        (
            "queued-release".into(),
            format!(
                r##"
name: queued-release
execution_mode: queued
variables:
  - {{ name: ms, default: "100" }}
  - {{ name: outcome, default: "succeed" }}
stages:
{source}
  - name: Build
    actions:
      - {{ name: Compile, provider: "{gate}", inputs: [Code], outputs: [Built], configuration: {{ Behavior: sleep, Millis: "#{{variables.ms}}" }} }}
      - {{ name: Test, provider: "{gate}", run_order: 2, configuration: {{ Behavior: "#{{variables.outcome}}" }} }}
  - name: Deploy
    actions:
      - {{ name: Go, provider: "{gate}", inputs: [Built], configuration: {{ Behavior: sleep, Millis: "#{{variables.ms}}" }} }}
"##
            ),
        ),
        (
            "approved".into(),
            format!(
                r#"
name: approved
execution_mode: superseded
stages:
{source}
  - name: Build
    actions:
      - {{ name: Make, provider: "{gate}", inputs: [Code], configuration: {{ Behavior: sleep, Millis: "30" }} }}
  - name: Approve
    actions:
      - {{ name: Manager, provider: "builtin:manual" }}
"#
            ),
        ),
    ]
}

#[tokio::test(flavor = "multi_thread")]
async fn executions_survive_repeated_sigkills_of_the_server() {
    let kills = setting("SLUICE_CRASH_KILLS", 5);
    let per_round = setting("SLUICE_CRASH_STARTS", 6);
    let seed = setting(
        "SLUICE_CRASH_SEED",
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos() as u64
            | 1,
    );
    eprintln!("crash test: {kills} kills, {per_round} starts a round, seed {seed}");
    let mut random = Random(seed);
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state");
    let src = sluice_tests::gated_source_folder(dir.path(), &[("file.txt", "one")]);

    let mut server = ServerProcess::start(exe(), &state, &["--no-triggers"]);
    for (_, definition) in pipelines(&src) {
        server.apply(&definition, dir.path()).await;
    }
    let names: Vec<String> = pipelines(&src).into_iter().map(|(n, _)| n).collect();

    // Every start asked for, by token: the execution it answered, once it
    // answered.
    let mut starts: BTreeMap<String, (String, Option<String>)> = BTreeMap::new();
    let mut next_token = 0u64;
    for round in 0..=kills {
        // Starts whose answer a kill cut off are asked again, same token.
        let unanswered: Vec<(String, String)> = starts
            .iter()
            .filter(|(_, (_, id))| id.is_none())
            .map(|(t, (p, _))| (t.clone(), p.clone()))
            .collect();
        let fresh: Vec<(String, String)> = (0..per_round)
            .map(|_| {
                next_token += 1;
                let pipeline = names[random.below(names.len() as u64) as usize].clone();
                (format!("crash-{next_token}"), pipeline)
            })
            .collect();
        let killer_after = Duration::from_millis(100 + random.below(1200));
        // The kill comes on its own clock: during starts, or while the
        // executions run.
        let killer = (round < kills).then(|| {
            let pid = rustix::process::Pid::from_raw(server.pid() as i32).unwrap();
            tokio::spawn(async move {
                tokio::time::sleep(killer_after).await;
                let _ = rustix::process::kill_process(pid, rustix::process::Signal::KILL);
            })
        });
        for (token, pipeline) in unanswered.into_iter().chain(fresh) {
            let ms = (20 + random.below(400)).to_string();
            let outcome = if random.below(5) == 0 {
                "fail"
            } else {
                "succeed"
            };
            let variables = match pipeline.as_str() {
                "parallel-work" => json!({"ms": ms}),
                "queued-release" => json!({"ms": ms, "outcome": outcome}),
                _ => json!({}),
            };
            starts
                .entry(token.clone())
                .or_insert((pipeline.clone(), None));
            let url = format!("/pipelines/{pipeline}/executions");
            let body = json!({"client_token": token, "variables": variables});
            if let Ok((status, answer)) = server.try_call("POST", &url, Some(body)).await
                && (status == 200 || status == 201)
            {
                starts.get_mut(&token).unwrap().1 =
                    Some(answer["execution"].as_str().unwrap().to_string());
            }
            tokio::time::sleep(Duration::from_millis(random.below(150))).await;
        }
        // Some approvals are answered while the server may be killed.
        let known: Vec<String> = starts.values().filter_map(|(_, id)| id.clone()).collect();
        let budget = random.below(3) as usize;
        resolve_approvals(&server, &known, &mut random, Some(budget)).await;
        let Some(killer) = killer else { break };
        let _ = killer.await;
        server.kill9();
        eprintln!("round {round}: killed after {killer_after:?}");
        server = ServerProcess::start(exe(), &state, &["--no-triggers"]);
    }

    // Every start has its execution (asked again after kills, by token).
    for (token, (pipeline, id)) in starts.iter_mut() {
        if id.is_none() {
            let body = json!({"client_token": token});
            let (status, answer) = server
                .call(
                    "POST",
                    &format!("/pipelines/{pipeline}/executions"),
                    Some(body),
                )
                .await;
            assert!(status == 200 || status == 201, "{answer}");
            *id = Some(answer["execution"].as_str().unwrap().to_string());
        }
    }
    let ids: Vec<String> = starts.values().map(|(_, id)| id.clone().unwrap()).collect();
    let mut unique = ids.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(unique.len(), ids.len(), "a token started two executions");

    // Wait until idle: everything ended, or waits on its approval (or in
    // front of the stage an approval holds, in superseded mode).
    let idle_secs = setting("SLUICE_CRASH_IDLE_SECS", 300);
    wait_until_idle(&server, &ids, idle_secs, true).await;
    // The approvals waiting across the restarts still work: answer them
    // all, and then everything ends.
    let approved = resolve_approvals(&server, &ids, &mut random, None).await;
    wait_until_idle(&server, &ids, idle_secs, false).await;
    assert_eq!(server.terminate(), Some(0));

    // The state on disk.
    let store = Store::open(&state).unwrap();
    assert_eq!(store.integrity_check().unwrap(), ["ok"]);
    let mut outcomes: BTreeMap<String, usize> = BTreeMap::new();
    for id in &ids {
        let e = store
            .execution(id, |_, _| None)
            .unwrap()
            .expect("every started execution exists");
        for stage in &e.stages {
            for action in &stage.actions {
                assert_ne!(
                    action.status,
                    Some(ActionStatus::InProgress),
                    "{id}: {}/{} left in progress",
                    stage.name,
                    action.name
                );
            }
        }
        assert!(e.status.is_terminal(), "{id} is {:?}", e.status);
        *outcomes.entry(format!("{:?}", e.status)).or_insert(0) += 1;
    }
    let artifacts = sluice::artifacts::ArtifactStore::open(&state.join("artifacts")).unwrap();
    let all = store.all_artifacts().unwrap();
    for (_, artifact) in &all {
        artifacts.verify(&artifact.name, &artifact.digest).unwrap();
    }
    eprintln!(
        "crash test: {} executions ({outcomes:?}; {approved} approvals answered after the last restart), {} artifacts verified",
        ids.len(),
        all.len()
    );
}

/// Whether an execution (as the API shows it) has an action waiting on an
/// approval, and the stage it waits in front of, if it waits.
fn parked(execution: &serde_json::Value) -> (bool, Option<String>) {
    let stages = execution["stages"].as_array().unwrap();
    let awaiting = stages
        .iter()
        .flat_map(|s| s["actions"].as_array().unwrap().iter())
        .any(|a| a["awaiting_approval"] == true);
    let waiting_before = (execution["position"]["waiting"] == true).then(|| {
        let stage = execution["position"]["stage"].as_u64().unwrap() as usize;
        stages[stage]["name"].as_str().unwrap().to_string()
    });
    (awaiting, waiting_before)
}

/// Polls until every execution has ended; with `parking`, an execution
/// waiting on its approval, or waiting in front of a stage held by one
/// that does, counts as idle too.
async fn wait_until_idle(server: &ServerProcess, ids: &[String], secs: u64, parking: bool) {
    let deadline = Instant::now() + Duration::from_secs(secs);
    loop {
        let mut details = Vec::new();
        for id in ids {
            let (status, detail) = server.call("GET", &format!("/executions/{id}"), None).await;
            assert_eq!(status, 200, "execution {id} is lost: {detail}");
            details.push(detail["execution"].clone());
        }
        // Stages held by an execution waiting on an approval.
        let held: Vec<(String, String)> = details
            .iter()
            .filter(|e| parked(e).0)
            .filter_map(|e| {
                let stage = e["position"]["stage"].as_u64()? as usize;
                Some((
                    e["pipeline"].as_str()?.to_string(),
                    e["stages"][stage]["name"].as_str()?.to_string(),
                ))
            })
            .collect();
        let busy: Vec<String> = details
            .iter()
            .filter(|e| matches!(e["status"].as_str(), Some("InProgress") | Some("Stopping")))
            .filter(|e| {
                let (awaiting, waiting_before) = parked(e);
                let behind_approval = waiting_before.is_some_and(|stage| {
                    held.contains(&(e["pipeline"].as_str().unwrap().to_string(), stage))
                });
                !(parking && (awaiting || behind_approval))
            })
            .map(|e| serde_json::to_string_pretty(e).unwrap())
            .collect();
        if busy.is_empty() {
            return;
        }
        assert!(Instant::now() < deadline, "not idle: {busy:?}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Answers approvals that are waiting: all of them (until none is left)
/// when `budget` is `None`, else at most that many, best effort (the
/// server may be killed meanwhile). Approves four in five, rejects the
/// rest. Returns how many it answered.
async fn resolve_approvals(
    server: &ServerProcess,
    ids: &[String],
    random: &mut Random,
    budget: Option<usize>,
) -> usize {
    let mut answered = 0;
    loop {
        let mut found = false;
        for id in ids {
            if budget.is_some_and(|b| answered >= b) {
                return answered;
            }
            let Ok((200, detail)) = server
                .try_call("GET", &format!("/executions/{id}"), None)
                .await
            else {
                if budget.is_some() {
                    return answered;
                }
                continue;
            };
            let execution = &detail["execution"];
            for stage in execution["stages"].as_array().unwrap() {
                for action in stage["actions"].as_array().unwrap() {
                    if action["awaiting_approval"] != true {
                        continue;
                    }
                    found = true;
                    let decision = if random.below(5) == 0 {
                        "rejected"
                    } else {
                        "approved"
                    };
                    let path = format!(
                        "/executions/{id}/stages/{}/actions/{}/approval",
                        stage["name"].as_str().unwrap(),
                        action["name"].as_str().unwrap()
                    );
                    let body = json!({"status": decision, "summary": "crash test"});
                    if let Ok((200, _)) = server.try_call("PUT", &path, Some(body)).await {
                        answered += 1;
                    }
                }
            }
        }
        if !found || budget.is_some() {
            return answered;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
