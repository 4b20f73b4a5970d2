//! The crash test across hosts: three `sluice serve` processes on one
//! PostgreSQL database and one S3 bucket run 300 executions of a pipeline
//! with parallel actions and a manual approval, while one host at a time
//! is killed with SIGKILL at random moments (at least five times, the
//! driving host among them) and started again. Starts, approvals,
//! rejections and stops go to whichever host is up.
//!
//! Then: every execution reached the status its decision gives (approved:
//! Succeeded, rejected: Failed, stopped: Stopped), so no approval or stop
//! was lost; no attempt of an action ran on two hosts at once (each job
//! records its host and the driver's fencing token); every succeeded
//! attempt has its job; no job is left queued or running; and every
//! artifact fetched back from the bucket matches its content digest.
//!
//! `SLUICE_CRASH_EXECUTIONS`, `SLUICE_CRASH_KILLS` and `SLUICE_CRASH_SEED`
//! change the run (`tests/crash-hosts.sh` runs a longer one).

use serde_json::{Value, json};
use sluice_tests::chaos::{Random, setting};
use sluice_tests::fixtures;
use sluice_tests::server::{ServerProcess, SharedHosts};
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

fn exe() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_sluice"))
}

/// What the test does with an execution once it waits for approval, and
/// the status that must come of it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Decision {
    Approve,
    Reject,
    Stop,
}

impl Decision {
    fn of(n: usize) -> Decision {
        match n % 10 {
            3 => Decision::Reject,
            7 => Decision::Stop,
            _ => Decision::Approve,
        }
    }

    fn status(self) -> &'static str {
        match self {
            Decision::Approve => "Succeeded",
            Decision::Reject => "Failed",
            Decision::Stop => "Stopped",
        }
    }
}

/// Where each host answers now (none while it is down).
type Addresses = Arc<Mutex<Vec<Option<(String, String)>>>>;

/// Calls the API of any host that is up, starting with host `first`,
/// until one answers with something other than "unavailable".
async fn call_any(
    hosts: &Addresses,
    first: usize,
    method: &str,
    path: &str,
    body: Option<Value>,
) -> (u16, Value) {
    let started = Instant::now();
    let mut i = first;
    loop {
        let address = hosts.lock().unwrap()[i % 3].clone();
        if let Some((url, token)) = address {
            let headers = vec![
                ("content-type", "application/json".to_string()),
                ("authorization", format!("Bearer {token}")),
            ];
            let answer = sluice::http_client::request(
                method,
                &format!("{url}/api/v1{path}"),
                &headers,
                body.as_ref().map(|b| serde_json::to_vec(b).unwrap()),
                Duration::from_secs(30),
            )
            .await;
            if let Ok(response) = answer
                && response.status != 503
                && response.status != 502
            {
                let value = serde_json::from_slice(&response.body).unwrap_or(Value::Null);
                return (response.status, value);
            }
        }
        assert!(
            started.elapsed() < Duration::from_secs(180),
            "no host answered {method} {path} for three minutes"
        );
        i += 1;
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// One execution's detail, from any host.
async fn detail(hosts: &Addresses, first: usize, id: &str) -> Value {
    loop {
        let (status, detail) =
            call_any(hosts, first, "GET", &format!("/executions/{id}"), None).await;
        if status == 200 {
            return detail["execution"].clone();
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Starts execution `n` (its idempotency token makes a start sent again,
/// after a host died before answering, find the same execution).
async fn start(hosts: &Addresses, n: usize) -> String {
    let (status, started) = call_any(
        hosts,
        n,
        "POST",
        "/pipelines/crash/executions",
        Some(json!({"client_token": format!("crash-{n}")})),
    )
    .await;
    assert!(
        status == 201 || status == 200,
        "start {n}: {status} {started}"
    );
    started["execution"].as_str().unwrap().to_string()
}

/// Waits for execution `n`'s approval, then gives it its decision through
/// any host, again until it is seen to have taken.
async fn decide(hosts: &Addresses, n: usize, id: &str) {
    let decision = Decision::of(n);
    loop {
        let execution = detail(hosts, n, id).await;
        let manager = &execution["stages"][2]["actions"][0];
        let status = execution["status"].as_str().unwrap_or_default();
        let decided = match decision {
            Decision::Stop => status == "Stopped" || status == "Stopping",
            _ => !manager["approval"].is_null(),
        };
        if decided {
            return;
        }
        if manager["awaiting_approval"] != true {
            tokio::time::sleep(Duration::from_millis(150)).await;
            continue;
        }
        let (method, path, body) = match decision {
            Decision::Approve | Decision::Reject => (
                "PUT",
                format!("/executions/{id}/stages/Approve/actions/Manager/approval"),
                json!({
                    "status": if decision == Decision::Approve { "approved" } else { "rejected" },
                    "summary": format!("decision {n}"),
                }),
            ),
            Decision::Stop => (
                "POST",
                format!("/executions/{id}/stop"),
                json!({"abandon": true, "reason": format!("stop {n}")}),
            ),
        };
        let (status, answer) = call_any(hosts, n + 1, method, &path, Some(body)).await;
        // A refusal here means it was applied already (a host died after
        // applying it, before answering): the next look shows it.
        assert!(status < 500, "deciding {id}: {status} {answer}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn three_hosts_lose_nothing_while_one_at_a_time_is_killed() {
    let executions = setting("SLUICE_CRASH_EXECUTIONS", 300) as usize;
    let want_kills = setting("SLUICE_CRASH_KILLS", 5) as usize;
    let seed = setting(
        "SLUICE_CRASH_SEED",
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos() as u64
            | 1,
    );
    eprintln!("crash test: {executions} executions, {want_kills} kills, seed {seed}");

    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("src");
    std::fs::create_dir_all(src.join("revisions/r1")).unwrap();
    std::fs::write(src.join("revisions/r1/file.txt"), "one").unwrap();
    std::fs::write(src.join("LATEST"), "r1").unwrap();
    let shared = SharedHosts::new("crash");
    let dirs: Vec<PathBuf> = ["a", "b", "c"].iter().map(|h| dir.path().join(h)).collect();
    let launch = {
        let shared = shared.clone();
        move |state: &Path| shared.start(exe(), state, &["--no-triggers", "--slots", "4"])
    };
    let mut servers: Vec<Option<ServerProcess>> = Vec::new();
    for state in &dirs {
        servers.push(Some(launch(state)));
    }
    let definition = format!(
        r##"
name: crash
execution_mode: parallel
stages:
  - name: Source
    actions:
      - name: Src
        provider: "{source}"
        outputs: [Code]
        grants: {{ paths: {{ source: {{ path: "{src}" }} }} }}
  - name: Build
    actions:
      - {{ name: Left, provider: "{gate}", inputs: [Code], outputs: [L], configuration: {{ Behavior: sleep, Millis: "40" }} }}
      - {{ name: Right, provider: "{gate}", inputs: [Code], outputs: [R], configuration: {{ Behavior: sleep, Millis: "40" }} }}
  - name: Approve
    actions:
      - {{ name: Manager, provider: "builtin:manual" }}
  - name: Deploy
    actions:
      - {{ name: Go, provider: "{gate}", inputs: [L, R], outputs: [Released] }}
"##,
        source = fixtures::GATED_SOURCE,
        gate = fixtures::GATE,
        src = src.display()
    );
    servers[0]
        .as_ref()
        .unwrap()
        .apply(&definition, dir.path())
        .await;
    let hosts: Addresses = Arc::new(Mutex::new(
        servers
            .iter()
            .map(|s| s.as_ref().map(|s| (s.url.clone(), s.token.clone())))
            .collect(),
    ));

    // The killer: one host at a time, at random moments, started again
    // after a moment; the second kill is always of the driving host.
    let kills = Arc::new(AtomicUsize::new(0));
    let done = Arc::new(AtomicBool::new(false));
    let killer = {
        let (hosts, kills, done) = (hosts.clone(), kills.clone(), done.clone());
        let dirs = dirs.clone();
        tokio::spawn(async move {
            let mut random = Random(seed);
            let mut log = Vec::new();
            while !done.load(Ordering::Relaxed) {
                tokio::time::sleep(Duration::from_millis(2000 + random.below(3000))).await;
                if done.load(Ordering::Relaxed) {
                    break;
                }
                let mut victim = random.below(3) as usize;
                if kills.load(Ordering::Relaxed) == 1 {
                    for (i, server) in servers.iter().enumerate() {
                        let Some(server) = server else { continue };
                        let url = format!("{}/readyz", server.url);
                        if let Ok(r) = sluice::http_client::request(
                            "GET",
                            &url,
                            &[],
                            None,
                            Duration::from_secs(5),
                        )
                        .await
                            && String::from_utf8_lossy(&r.body).contains("\"driving\"")
                        {
                            victim = i;
                        }
                    }
                }
                hosts.lock().unwrap()[victim] = None;
                let server = servers[victim].take().unwrap();
                log.push(format!(
                    "killed {} (pid {})",
                    ["a", "b", "c"][victim],
                    server.pid()
                ));
                server.kill9();
                kills.fetch_add(1, Ordering::Relaxed);
                tokio::time::sleep(Duration::from_millis(300 + random.below(1500))).await;
                let state = dirs[victim].clone();
                let launch = launch.clone();
                let server = tokio::task::spawn_blocking(move || launch(&state))
                    .await
                    .unwrap();
                hosts.lock().unwrap()[victim] = Some((server.url.clone(), server.token.clone()));
                servers[victim] = Some(server);
            }
            (servers, log)
        })
    };

    // Start every execution, then decide each once it waits for approval;
    // the decisions are spread over the kills, so the hosts die while
    // work of every kind is under way.
    let began = Instant::now();
    let mut ids = Vec::with_capacity(executions);
    let mut starting = tokio::task::JoinSet::new();
    for n in 0..executions {
        let hosts = hosts.clone();
        starting.spawn(async move { (n, start(&hosts, n).await) });
        if starting.len() >= 16 {
            let (n, id) = starting.join_next().await.unwrap().unwrap();
            ids.push((n, id));
        }
    }
    while let Some(started) = starting.join_next().await {
        ids.push(started.unwrap());
    }
    ids.sort();
    let unique: BTreeSet<&String> = ids.iter().map(|(_, id)| id).collect();
    assert_eq!(unique.len(), executions, "each start made one execution");

    let mut deciding = tokio::task::JoinSet::new();
    let mut finished = Vec::with_capacity(executions);
    for (n, id) in ids.clone() {
        // Execution n is decided once its share of the kills happened.
        while kills.load(Ordering::Relaxed) * executions < n * want_kills {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let hosts = hosts.clone();
        deciding.spawn(async move {
            decide(&hosts, n, &id).await;
            // Then until it ends.
            loop {
                let execution = detail(&hosts, n, &id).await;
                let status = execution["status"].as_str().unwrap_or_default().to_string();
                if ["Succeeded", "Failed", "Stopped", "Superseded"].contains(&status.as_str()) {
                    return (n, id, status, execution);
                }
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        });
        if deciding.len() >= 24 {
            finished.push(deciding.join_next().await.unwrap().unwrap());
        }
    }
    while let Some(ended) = deciding.join_next().await {
        finished.push(ended.unwrap());
    }
    done.store(true, Ordering::Relaxed);
    let (servers, log) = killer.await.unwrap();
    eprintln!(
        "crash test: {} executions ended in {:?}; {}",
        executions,
        began.elapsed(),
        log.join(", ")
    );
    assert!(log.len() >= want_kills, "only {} kills", log.len());

    // Every execution, read afresh, has the status its decision gives.
    let mut wrong = Vec::new();
    let mut digests = BTreeSet::new();
    for (n, id) in &ids {
        let execution = detail(&hosts, *n, id).await;
        let status = execution["status"].as_str().unwrap_or_default();
        if status != Decision::of(*n).status() {
            wrong.push(format!("{id} (#{n}, {:?}): {status}", Decision::of(*n)));
        }
        if let Some(artifacts) = execution["artifacts"].as_object() {
            for (name, artifact) in artifacts {
                digests.insert((
                    name.clone(),
                    artifact["digest"].as_str().unwrap().to_string(),
                ));
            }
        }
    }
    assert!(wrong.is_empty(), "wrong statuses:\n{}", wrong.join("\n"));

    // Each attempt ran on one host at a time, under a recorded fencing
    // token, and no job is left behind.
    let store = sluice::store::Store::open(&dirs[0]).unwrap();
    let mut jobs = store.job_records().unwrap();
    let started_wait = Instant::now();
    while jobs
        .iter()
        .any(|j| j.state == "queued" || j.state == "running")
        && started_wait.elapsed() < Duration::from_secs(30)
    {
        tokio::time::sleep(Duration::from_millis(500)).await;
        jobs = store.job_records().unwrap();
    }
    let left: Vec<_> = jobs
        .iter()
        .filter(|j| j.state == "queued" || j.state == "running")
        .collect();
    assert!(left.is_empty(), "jobs left behind: {left:#?}");
    let mut by_attempt: BTreeMap<(String, i64, i64, i64), Vec<&sluice::store::JobRecord>> =
        BTreeMap::new();
    for job in &jobs {
        assert!(job.fence > 0, "{job:?}");
        by_attempt
            .entry((job.execution.clone(), job.stage, job.action, job.attempt))
            .or_default()
            .push(job);
    }
    for (attempt, jobs) in &by_attempt {
        // Those a host ran (a job dropped while queued never ran).
        let mut ran: Vec<_> = jobs.iter().filter(|j| j.claimed_at.is_some()).collect();
        ran.sort_by_key(|j| j.claimed_at);
        for pair in ran.windows(2) {
            let (before, after) = (pair[0], pair[1]);
            let (Some(ended), Some(began)) = (before.finished_at, after.claimed_at) else {
                continue;
            };
            assert!(
                began >= ended,
                "attempt {attempt:?} ran on two hosts at once: {before:?} and {after:?}"
            );
        }
    }
    let workers: BTreeSet<_> = jobs.iter().filter_map(|j| j.worker.clone()).collect();
    let fences: BTreeSet<_> = jobs.iter().map(|j| j.fence).collect();
    assert!(workers.len() >= 3, "jobs ran on {workers:?}");
    assert!(fences.len() >= 2, "the driving host changed: {fences:?}");
    let mut missing = Vec::new();
    for (_, id) in &ids {
        for attempt in store.action_attempts(id).unwrap() {
            if attempt.run.status != Some(sluice::engine::ActionStatus::Succeeded) {
                continue;
            }
            let has_job = by_attempt
                .keys()
                .any(|(e, _, _, a)| e == id && *a == attempt.run.attempt as i64);
            if !has_job {
                missing.push(format!(
                    "{id} {} attempt {}",
                    attempt.action, attempt.run.attempt
                ));
            }
        }
    }
    assert!(
        missing.is_empty(),
        "succeeded attempts without a job: {missing:?}"
    );
    eprintln!(
        "crash test: {} jobs on {} hosts under {} fencing tokens",
        jobs.len(),
        workers.len(),
        fences.len()
    );

    // Every artifact, fetched back from the bucket, matches its digest.
    let fresh = sluice::artifacts::ArtifactStore::open(&dir.path().join("fresh")).unwrap();
    let remote = shared.remote();
    // Eight at a time.
    let remote = Arc::new(remote);
    let mut fetching = tokio::task::JoinSet::new();
    for (name, digest) in digests.clone() {
        let (remote, fresh) = (remote.clone(), fresh.clone());
        fetching.spawn(async move {
            remote
                .fetch(
                    &fresh,
                    &name,
                    &digest,
                    sluice::contain::Budget::caps(1 << 30, 100_000),
                )
                .await
                .unwrap_or_else(|e| panic!("artifact {name} {digest}: {e}"));
            fresh.verify(&name, &digest).unwrap();
        });
        if fetching.len() >= 8 {
            fetching.join_next().await.unwrap().unwrap();
        }
    }
    while let Some(fetched) = fetching.join_next().await {
        fetched.unwrap();
    }
    eprintln!("crash test: {} artifacts verified", digests.len());
    assert_eq!(finished.len(), executions);
    for server in servers.into_iter().flatten() {
        server.terminate();
    }
}
