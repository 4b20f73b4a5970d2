//! Custom actions and the job-worker protocol: a
//! worker written against boto3's `codepipeline` and `s3` clients,
//! unmodified, polls for a custom action's jobs on `sluice serve`,
//! fetches the input zip and puts the output zip with the job's own
//! credentials, continues once, and succeeds; a second job fails. Then
//! the same worker against the standby of two hosts sharing PostgreSQL
//! and a bucket, while the other host runs the calls.

use super::*;
use sluice_tests::aws::mapped_repository;
use sluice_tests::server::SharedHosts;

/// Runs `worker.py` against `server` (keys made in `state`; with `other`,
/// a draft output put through that host first), checks what it saw and
/// the artifact the worker's last output became; returns what it saw.
async fn serve_the_custom_action(
    server: &ServerProcess,
    state: &Path,
    other: Option<&ServerProcess>,
) -> Value {
    let admin = aws_key(state, "release-admin", "admin");
    let worker = aws_key(state, "worker", "operate");
    let mut args = vec![
        server.url.as_str(),
        &admin.0,
        &admin.1,
        &worker.0,
        &worker.1,
    ];
    args.extend(other.map(|o| o.url.as_str()));
    let seen = run_script(server, "worker.py", &args);
    assert_eq!(
        seen["unknown_type"], "ActionTypeNotFoundException",
        "{seen}"
    );
    assert_eq!(seen["other_query"], serde_json::json!([]), "{seen}");
    assert_eq!(seen["wrong_nonce"], "InvalidNonceException", "{seen}");
    assert_eq!(seen["ack"], "InProgress", "{seen}");
    assert_eq!(seen["configuration"], serde_json::json!({"Target": "prod"}));
    assert_eq!(
        seen["context"],
        serde_json::json!(["publish", "Publish", "Publish", true])
    );
    assert_eq!(
        seen["input_files"],
        serde_json::json!(["index.html"]),
        "{seen}"
    );
    assert_eq!(
        seen["input_revision"].as_str().map(str::len),
        Some(40),
        "{seen}"
    );
    assert_eq!(seen["other_key"], "AccessDenied", "{seen}");
    assert_eq!(seen["own_output_read"], "AccessDenied", "{seen}");
    assert_eq!(seen["forged_token"], "InvalidToken", "{seen}");
    assert_eq!(seen["put_twice"], "InvalidJobStateException", "{seen}");
    assert_eq!(seen["continuation"], "step-2", "{seen}");
    assert_eq!(seen["details_same"], true, "{seen}");
    assert_eq!(seen["first"], "Succeeded", "{seen}");
    let first = seen["first_id"].as_str().unwrap();
    assert_eq!(
        seen["variables"],
        serde_json::json!({"Url": format!("https://example.test/{first}")}),
        "{seen}"
    );
    assert_eq!(seen["summary"], "published", "{seen}");
    assert_eq!(seen["second"], "Failed", "{seen}");
    assert_eq!(seen["error"], "the target refused", "{seen}");
    assert_eq!(seen["unknown_job"], "JobNotFoundException", "{seen}");
    assert_eq!(seen["third"], "Stopped", "{seen}");
    assert_eq!(seen["abandoned_jobs"], serde_json::json!([]), "{seen}");
    // The worker's output is the artifact the next stage took.
    let (status, execution) = server
        .call("GET", &format!("/executions/{first}"), None)
        .await;
    assert_eq!(status, 200, "{execution}");
    let published = &execution["execution"]["artifacts"]["Published"];
    assert!(published.is_object(), "{execution}");
    assert_eq!(published["files"], 1, "{published}");
    assert_eq!(
        published["bytes"].as_u64(),
        Some(format!("published {first}").len() as u64)
    );
    seen
}

#[tokio::test]
async fn a_boto3_worker_serves_a_custom_action() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state");
    mapped_repository(&dir.path().join("app"), &state, &[("index.html", "hello")]);
    let server = ServerProcess::start(exe(), &state, &["--no-triggers"]);
    serve_the_custom_action(&server, &state, None).await;
    // Ended jobs leave no zips behind; the abandoned one's wait for
    // retention's collection (an hour).
    let left: Vec<_> = walk(&state.join("aws-jobs"));
    assert_eq!(left.len(), 1, "{left:?}");
    assert!(left[0].ends_with("in/Code.zip"), "{left:?}");
    server.terminate();
}

/// Two hosts on one database and one bucket: A drives and runs the calls
/// (it has free slots), so the jobs' input zips are made on A; the worker
/// talks to B (but for one draft output put through A). B brings the
/// inputs from the bucket, puts the outputs there, and A's call-back
/// takes the last one put from it.
#[tokio::test]
async fn a_worker_talking_to_another_host_reaches_its_jobs_through_the_shared_bucket() {
    let dir = tempfile::tempdir().unwrap();
    let (state_a, state_b) = (dir.path().join("a"), dir.path().join("b"));
    mapped_repository(
        &dir.path().join("app"),
        &state_a,
        &[("index.html", "hello")],
    );
    std::fs::create_dir_all(&state_b).unwrap();
    std::fs::copy(
        state_a.join("aws-actions.yaml"),
        state_b.join("aws-actions.yaml"),
    )
    .unwrap();
    let shared = SharedHosts::new("hosts");
    let a = shared.start(exe(), &state_a, &["--no-triggers"]);
    let b = shared.start(exe(), &state_b, &["--no-triggers"]);
    assert!(
        std::fs::read_to_string(&b.log)
            .unwrap_or_default()
            .contains("stands by"),
        "B stands by: {}",
        b.output()
    );

    // A draft of the output goes through A, the real one through B: A's
    // call-back takes the real one.
    let seen = serve_the_custom_action(&b, &state_b, Some(&a)).await;
    let first = seen["first_id"].as_str().unwrap();
    // B served the first job's input from the bucket (A made it) ...
    let fetched = walk(&state_b.join("aws-jobs"));
    assert!(
        fetched
            .iter()
            .any(|p| p.ends_with("in/Code.zip") && p.starts_with(state_b.join("aws-jobs"))),
        "{fetched:?}"
    );
    // ... and the bucket keeps only the abandoned job's input: every
    // ended job's objects went with it.
    let kept: Vec<_> = walk(&shared.bucket_folder().join("hosts/aws-jobs"))
        .into_iter()
        .filter(|p| p.extension().is_some_and(|e| e == "zip"))
        .collect();
    assert_eq!(kept.len(), 1, "{kept:?}");
    assert!(kept[0].ends_with("in/Code.zip"), "{kept:?}");
    // A ran the calls: the first execution's output was extracted there.
    let (_, execution) = a.call("GET", &format!("/executions/{first}"), None).await;
    assert_eq!(execution["execution"]["status"], "Succeeded", "{execution}");
    b.terminate();
    a.terminate();
}

fn walk(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    if let Ok(entries) = std::fs::read_dir(dir) {
        for entry in entries.flatten() {
            let path = entry.path();
            if path.is_dir() {
                out.extend(walk(&path));
            } else {
                out.push(path);
            }
        }
    }
    out
}
