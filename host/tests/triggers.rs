//! Change detection and notifications under `sluice serve`: a commit to a
//! git source starts an execution with exactly that commit (by polling and
//! by the hook), filters on branches and changed files hold back what they
//! should, and a notification target gets its events, retried until it
//! answers.

use serde_json::json;
use sluice_tests::server::ServerProcess;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

fn exe() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_sluice"))
}

fn git(dir: &Path, args: &[&str]) -> String {
    let out = Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(args)
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_AUTHOR_NAME", "Test")
        .env("GIT_AUTHOR_EMAIL", "test@example.com")
        .env("GIT_COMMITTER_NAME", "Test")
        .env("GIT_COMMITTER_EMAIL", "test@example.com")
        .output()
        .expect("git runs (scripts/test.sh installs it)");
    assert!(
        out.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// `git push origin main` from `repo`, which must succeed; what the remote
/// said (a hook's output comes back on standard error).
fn push(repo: &Path) -> String {
    let out = Command::new("git")
        .arg("-C")
        .arg(repo)
        .args(["push", "-q", "origin", "main"])
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .output()
        .unwrap();
    let said = String::from_utf8_lossy(&out.stderr).to_string();
    assert!(out.status.success(), "git push: {said}");
    said
}

fn commit(repo: &Path, file: &str, content: &str, message: &str) -> String {
    let path = repo.join(file);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, content).unwrap();
    git(repo, &["add", "-A"]);
    git(repo, &["commit", "-q", "-m", message]);
    git(repo, &["rev-parse", "HEAD"])
}

/// The revision of `App` each execution recorded, newest first.
async fn revisions(server: &ServerProcess) -> Vec<String> {
    let (_, list) = server
        .call("GET", "/pipelines/triggered/executions", None)
        .await;
    list.as_array()
        .unwrap()
        .iter()
        .map(|e| {
            e["source_revisions"][0]["revision"]["id"]
                .as_str()
                .unwrap_or("")
                .to_string()
        })
        .collect()
}

async fn wait_revisions(server: &ServerProcess, what: &str, count: usize) -> Vec<String> {
    for _ in 0..600 {
        let found = revisions(server).await;
        if found.len() >= count {
            return found;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!(
        "timed out waiting for {what}: {:?}",
        revisions(server).await
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn commits_start_executions_through_polling_and_the_hook_with_filters() {
    let dir = tempfile::tempdir().unwrap();
    let repo = dir.path().join("repo");
    std::fs::create_dir_all(&repo).unwrap();
    git(&repo, &["init", "-q", "-b", "main"]);
    let c1 = commit(&repo, "src/main.c", "int main() { return 0; }\n", "first");
    let hooks = sluice_tests::flaky_server(2, 200, "{}").await;
    let definition = format!(
        r#"
name: triggered
stages:
  - name: Source
    actions:
      - name: App
        provider: builtin:git
        outputs: [Code]
        grants: {{ paths: {{ repo: {{ path: "{repo}" }} }} }}
  - name: Build
    actions:
      - {{ name: Check, provider: builtin:noop, inputs: [Code] }}
triggers:
  - source: App
    poll: 1s
    branches: {{ include: [main, "release/*"] }}
    file_paths: {{ include: ["src/**"], exclude: ["src/**/*.md"] }}
notifications:
  - url: "{hooks}/sluice"
    events: [execution]
"#,
        repo = repo.display(),
        hooks = hooks.url,
    );
    let server = ServerProcess::start(exe(), &dir.path().join("state"), &[]);
    server.apply(&definition, dir.path()).await;

    // The first poll: no execution yet, so the branch's commit starts one.
    let found = wait_revisions(&server, "the first triggered execution", 1).await;
    assert_eq!(found, [c1.clone()]);
    let (_, list) = server
        .call("GET", "/pipelines/triggered/executions", None)
        .await;
    assert!(
        list[0]["trigger"]
            .as_str()
            .unwrap()
            .starts_with("poll: App"),
        "{list}"
    );

    // A commit touching only files outside the filter starts nothing.
    let c2 = commit(&repo, "docs/guide.md", "# guide\n", "docs only");
    let c2b = commit(&repo, "src/notes.md", "notes\n", "excluded markdown");
    tokio::time::sleep(Duration::from_millis(2500)).await;
    assert_eq!(
        revisions(&server).await.len(),
        1,
        "{c2} {c2b} started something"
    );
    let (status, answer) = server
        .call("POST", "/hooks/triggered", Some(json!({})))
        .await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["checked"][0]["outcome"], "filtered", "{answer}");

    // A commit touching src/ does, with exactly that commit.
    let c3 = commit(
        &repo,
        "src/main.c",
        "int main() { return 1; }\n",
        "change the code",
    );
    let found = wait_revisions(&server, "the execution of the source change", 2).await;
    assert_eq!(found[0], c3);

    // The hook: a push to a branch outside the filter starts nothing; one
    // to release/* starts the pushed commit, once.
    git(&repo, &["checkout", "-q", "-b", "release/1"]);
    let c4 = commit(&repo, "src/release.c", "int release;\n", "release fix");
    git(&repo, &["checkout", "-q", "main"]);
    let (_, answer) = server
        .call(
            "POST",
            "/hooks/triggered",
            Some(json!({"ref": "refs/heads/feature/x", "after": c4})),
        )
        .await;
    assert_eq!(answer["checked"][0]["outcome"], "filtered", "{answer}");
    assert!(
        answer["checked"][0]["message"]
            .as_str()
            .unwrap()
            .contains("feature/x")
    );
    let push = json!({"ref": "refs/heads/release/1", "before": c3, "after": c4});
    let (_, answer) = server
        .call("POST", "/hooks/triggered", Some(push.clone()))
        .await;
    assert_eq!(answer["checked"][0]["outcome"], "started", "{answer}");
    let started = answer["checked"][0]["execution"]
        .as_str()
        .unwrap()
        .to_string();
    let (_, again) = server.call("POST", "/hooks/triggered", Some(push)).await;
    assert_ne!(again["checked"][0]["outcome"], "started", "{again}");
    let detail = server
        .wait_for(
            "the pushed commit's execution",
            &format!("/executions/{started}"),
            |d| d["execution"]["status"] == "Succeeded",
        )
        .await;
    assert_eq!(
        detail["execution"]["source_revisions"][0]["revision"]["id"],
        c4.as_str()
    );
    let app = &detail["execution"]["stages"][0]["actions"][0];
    let commit_id = app["variables"]
        .as_array()
        .unwrap()
        .iter()
        .find(|v| v[0] == "CommitId")
        .unwrap();
    assert_eq!(
        commit_id[1],
        c4.as_str(),
        "the artifact is the pushed commit's tree"
    );

    // Bad hook calls name their field.
    let (status, answer) = server
        .call("POST", "/hooks/triggered", Some(json!({"source": "Nope"})))
        .await;
    assert_eq!(
        (status, answer["error"]["field"].as_str()),
        (404, Some("source"))
    );
    let (status, answer) = server.call("POST", "/hooks/nowhere", None).await;
    assert_eq!(
        (status, answer["error"]["field"].as_str()),
        (404, Some("name"))
    );
    let (status, _) = server.call_as("POST", "/hooks/triggered", None, None).await;
    assert_eq!(status, 401);

    // Notifications: every execution started and ended, the first two
    // deliveries refused (500) and retried.
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    loop {
        let received = hooks.received.lock().unwrap().clone();
        let events: Vec<String> = received
            .iter()
            .filter_map(|r| serde_json::from_slice::<serde_json::Value>(&r.body).ok())
            .map(|v| v["event"].as_str().unwrap_or("").to_string())
            .collect();
        let ok = events
            .iter()
            .filter(|e| *e == "execution.succeeded")
            .count()
            >= 3
            && events.iter().filter(|e| *e == "execution.started").count() >= 3;
        if ok {
            assert!(
                events.iter().all(|e| e.starts_with("execution.")),
                "{events:?}"
            );
            let retried = received.iter().any(|r| {
                r.headers
                    .iter()
                    .any(|(k, v)| k == "x-sluice-attempt" && v != "1")
            });
            assert!(retried, "a refused delivery is retried");
            let first: serde_json::Value = serde_json::from_slice(&received[0].body).unwrap();
            assert_eq!(first["pipeline"], "triggered");
            assert!(
                first["execution"].is_string() && first["time"].is_i64(),
                "{first}"
            );
            assert_eq!(received[0].path, "/sluice");
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "notifications so far: {events:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(server.terminate(), Some(0));
}

/// The example post-receive hook in `examples/hooks/`, installed in a bare
/// repository: a push starts an execution of the pushed commit at once
/// (polling is off), and a push the server cannot be told about still
/// succeeds.
#[tokio::test(flavor = "multi_thread")]
async fn the_example_post_receive_hook_starts_the_pushed_commit() {
    let dir = tempfile::tempdir().unwrap();
    let central = dir.path().join("central.git");
    git(
        dir.path(),
        &[
            "init",
            "-q",
            "--bare",
            "-b",
            "main",
            central.to_str().unwrap(),
        ],
    );
    let work = dir.path().join("work");
    git(
        dir.path(),
        &[
            "clone",
            "-q",
            central.to_str().unwrap(),
            work.to_str().unwrap(),
        ],
    );
    git(&work, &["checkout", "-q", "-b", "main"]);
    let definition = format!(
        r#"
name: pushed
stages:
  - name: Source
    actions:
      - name: App
        provider: builtin:git
        outputs: [Code]
        configuration: {{ Branch: main }}
        grants: {{ paths: {{ repo: {{ path: "{central}" }} }} }}
  - name: Build
    actions:
      - {{ name: Check, provider: builtin:noop, inputs: [Code] }}
triggers:
  - {{ source: App, poll: "off" }}
"#,
        central = central.display(),
    );
    let state = dir.path().join("state");
    let server = ServerProcess::start(exe(), &state, &[]);
    server.apply(&definition, dir.path()).await;

    let hook = central.join("hooks/post-receive");
    let example = Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/hooks/post-receive");
    std::fs::copy(&example, &hook).unwrap();
    git(&central, &["config", "sluice.url", &server.url]);
    git(&central, &["config", "sluice.pipeline", "pushed"]);
    let token_file = state.join("api-token");
    git(
        &central,
        &["config", "sluice.tokenFile", token_file.to_str().unwrap()],
    );

    let c1 = commit(&work, "app.txt", "one\n", "first");
    let said = push(&work);
    assert!(
        said.contains("sluice: pushed checked refs/heads/main"),
        "{said}"
    );
    let (_, list) = server
        .call("GET", "/pipelines/pushed/executions", None)
        .await;
    assert_eq!(list.as_array().unwrap().len(), 1, "{list}");
    assert_eq!(
        list[0]["source_revisions"][0]["revision"]["id"],
        c1.as_str()
    );
    assert!(
        list[0]["trigger"].as_str().unwrap().starts_with("hook"),
        "{list}"
    );

    // The server gone: the push still goes through, with a word about it.
    drop(server);
    let _c2 = commit(&work, "app.txt", "two\n", "second");
    let said = push(&work);
    assert!(said.contains("could not notify pushed"), "{said}");
}
