//! Two `sluice serve` hosts on one PostgreSQL database and one S3 bucket:
//! one drives, the other stands by and passes commands on; the driving one
//! is killed with SIGKILL while an execution waits for an approval, the
//! approval is given to the standby host, which takes over within seconds,
//! answers it, and finishes the execution with the artifact the dead host
//! made.

use serde_json::json;
use sluice_tests::fixtures;
use sluice_tests::server::{ServerProcess, SharedHosts};
use std::path::Path;
use std::time::{Duration, Instant};

fn exe() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_sluice"))
}

/// A server's `/metrics` (no token).
async fn metrics(server: &ServerProcess) -> String {
    let response = sluice::http_client::request(
        "GET",
        &format!("{}/metrics", server.url),
        &[],
        None,
        Duration::from_secs(10),
    )
    .await
    .unwrap();
    assert_eq!(response.status, 200);
    String::from_utf8(response.body).unwrap()
}

/// A server's `/readyz` (no token): status and answer.
async fn readiness(server: &ServerProcess) -> (u16, serde_json::Value) {
    let response = sluice::http_client::request(
        "GET",
        &format!("{}/readyz", server.url),
        &[],
        None,
        Duration::from_secs(10),
    )
    .await
    .unwrap();
    (
        response.status,
        serde_json::from_slice(&response.body).unwrap_or_default(),
    )
}

#[tokio::test]
async fn a_standby_server_takes_over_from_a_killed_one_and_loses_no_approval() {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("src");
    std::fs::create_dir_all(src.join("revisions/r1")).unwrap();
    std::fs::write(src.join("revisions/r1/file.txt"), "one").unwrap();
    std::fs::write(src.join("LATEST"), "r1").unwrap();
    let shared = SharedHosts::new("hosts");
    let (state_a, state_b) = (dir.path().join("a"), dir.path().join("b"));
    let a = shared.start(exe(), &state_a, &["--no-triggers"]);
    let definition = format!(
        r##"
name: relay
stages:
  - name: Source
    actions:
      - name: Src
        provider: "{source}"
        outputs: [Code]
        grants: {{ paths: {{ source: {{ path: "{src}" }} }} }}
  - name: Build
    actions:
      - {{ name: Make, provider: "{gate}", inputs: [Code], outputs: [Built], configuration: {{ Behavior: sleep, Millis: "50" }} }}
  - name: Approve
    actions:
      - {{ name: Manager, provider: "builtin:manual" }}
  - name: Deploy
    actions:
      - {{ name: Go, provider: "{gate}", inputs: [Built] }}
"##,
        source = fixtures::GATED_SOURCE,
        gate = fixtures::GATE,
        src = src.display()
    );
    a.apply(&definition, dir.path()).await;
    let b = shared.start(exe(), &state_b, &["--no-triggers"]);
    assert!(
        std::fs::read_to_string(&b.log)
            .unwrap_or_default()
            .contains("stands by"),
        "B stands by: {}",
        b.output()
    );

    let (status, ready) = readiness(&a).await;
    assert_eq!(
        (status, ready["role"].as_str(), ready["database"].as_str()),
        (200, Some("driving"), Some("postgres")),
        "{ready}"
    );
    let (status, ready) = readiness(&b).await;
    assert_eq!(
        (status, ready["role"].as_str()),
        (200, Some("standby")),
        "{ready}"
    );
    assert!(metrics(&b).await.contains("sluice_driving 0"));

    // Started on B, run by A.
    let (status, started) = b
        .call("POST", "/pipelines/relay/executions", Some(json!({})))
        .await;
    assert_eq!(status, 201, "{started}");
    let id = started["execution"].as_str().unwrap().to_string();
    b.wait_for("the approval to wait", &format!("/executions/{id}"), |d| {
        d["execution"]["stages"][2]["actions"][0]["awaiting_approval"] == true
    })
    .await;

    // A dies; the approval goes to B, which takes over and answers it.
    a.kill9();
    let killed = Instant::now();
    let (status, answer) = b
        .call(
            "PUT",
            &format!("/executions/{id}/stages/Approve/actions/Manager/approval"),
            Some(json!({"status": "approved", "summary": "after the crash"})),
        )
        .await;
    assert_eq!(status, 200, "{answer}");
    assert!(
        killed.elapsed() < Duration::from_secs(30),
        "answered {:?} after the kill",
        killed.elapsed()
    );
    let detail = b
        .wait_for(
            "the execution to succeed",
            &format!("/executions/{id}"),
            |d| d["execution"]["status"] == "Succeeded",
        )
        .await;
    let manager = &detail["execution"]["stages"][2]["actions"][0];
    assert_eq!(manager["approval"]["summary"], "after the crash");
    let (status, ready) = readiness(&b).await;
    assert_eq!(
        (status, ready["role"].as_str()),
        (200, Some("driving")),
        "{ready}"
    );
    let text = metrics(&b).await;
    for line in [
        "sluice_driving 1",
        "sluice_executions{status=\"Succeeded\"} 1",
        "sluice_actions_running 0",
        "sluice_requests_pending 0",
        "sluice_provider_call_seconds_count{provider=",
    ] {
        assert!(text.contains(line), "{line} missing from:\n{text}");
    }
    // Deploy ran on B with the artifact A made, fetched from the bucket.
    let built = detail["execution"]["artifacts"]["Built"]["digest"]
        .as_str()
        .unwrap()
        .to_string();
    let fetched = sluice::artifacts::ArtifactStore::open(&state_b.join("artifacts")).unwrap();
    fetched.verify("Built", &built).unwrap();
    b.terminate();
}

/// A source folder with one revision, for the gated source.
fn source_folder(dir: &Path, name: &str) -> std::path::PathBuf {
    let src = dir.join(name);
    std::fs::create_dir_all(src.join("revisions/r1")).unwrap();
    std::fs::write(src.join("revisions/r1/file.txt"), "one").unwrap();
    std::fs::write(src.join("LATEST"), "r1").unwrap();
    src
}

/// Executions of `pipeline` as a host lists them.
async fn executions(server: &ServerProcess, pipeline: &str) -> Vec<serde_json::Value> {
    let (status, list) = server
        .call("GET", &format!("/pipelines/{pipeline}/executions"), None)
        .await;
    assert_eq!(status, 200, "{list}");
    list.as_array().cloned().unwrap_or_default()
}

#[tokio::test]
async fn a_standby_server_takes_hooks_and_polls_sources_once_it_drives() {
    let dir = tempfile::tempdir().unwrap();
    let hooked = source_folder(dir.path(), "hooked-src");
    let polled = source_folder(dir.path(), "polled-src");
    let database = sluice_pgtest::Server::shared().database();
    let (state_a, state_b) = (dir.path().join("a"), dir.path().join("b"));
    for state in [&state_a, &state_b] {
        sluice::store::use_database(state, &database).unwrap();
    }
    let a = ServerProcess::start(exe(), &state_a, &[]);
    let pipeline = |name: &str, src: &Path, poll: &str| {
        format!(
            r##"
name: {name}
stages:
  - name: Source
    actions:
      - name: Src
        provider: "{source}"
        outputs: [Code]
        grants: {{ paths: {{ source: {{ path: "{src}" }} }} }}
  - name: Build
    actions:
      - {{ name: Make, provider: "{gate}", inputs: [Code] }}
triggers:
  - {{ source: Src, poll: "{poll}" }}
"##,
            source = fixtures::GATED_SOURCE,
            gate = fixtures::GATE,
            src = src.display()
        )
    };
    a.apply(&pipeline("hooked", &hooked, "off"), dir.path())
        .await;
    a.apply(&pipeline("polled", &polled, "1s"), dir.path())
        .await;
    let b = ServerProcess::start(exe(), &state_b, &[]);
    assert!(b.output().contains("stands by"), "{}", b.output());

    // A hook sent to the standby host: it asks the source itself and the
    // start reaches the driving host through the database.
    let (status, answer) = b.call("POST", "/hooks/hooked", Some(json!({}))).await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["checked"][0]["outcome"], "started", "{answer}");
    let id = answer["checked"][0]["execution"]
        .as_str()
        .unwrap()
        .to_string();
    b.wait_for("the hooked execution", &format!("/executions/{id}"), |d| {
        d["execution"]["status"] == "Succeeded"
    })
    .await;

    // A polls its source; once A is gone, B polls it.
    let polled_once = Instant::now();
    while executions(&b, "polled").await.is_empty() {
        assert!(
            polled_once.elapsed() < Duration::from_secs(30),
            "A never polled"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    a.kill9();
    std::fs::create_dir_all(polled.join("revisions/r2")).unwrap();
    std::fs::write(polled.join("revisions/r2/file.txt"), "two").unwrap();
    std::fs::write(polled.join("LATEST"), "r2").unwrap();
    let killed = Instant::now();
    while executions(&b, "polled").await.len() < 2 {
        assert!(
            killed.elapsed() < Duration::from_secs(30),
            "B did not poll after taking over: {}",
            b.output()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    b.terminate();
}
