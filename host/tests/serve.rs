//! `sluice serve` as its users meet it: the HTTP API (every operation,
//! errors with codes and fields, the token), the OpenAPI document, the
//! event and log streams, the command line as a client, and a clean stop.

use serde_json::json;
use sluice_tests::fixtures;
use sluice_tests::server::ServerProcess;
use std::path::Path;
use std::process::{Command, Stdio};

fn exe() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_sluice"))
}

/// A pipeline: a stub source, a build that waits for a gate file named
/// after the execution, an approval, a deploy.
fn definition(gates: &Path, src: &Path) -> String {
    format!(
        r##"
name: served
execution_mode: queued
stages:
  - name: Source
    actions:
      - name: Src
        provider: "{source}"
        outputs: [Code]
        grants: {{ paths: {{ source: {{ path: "{src}" }}, gates: {{ path: "{gates}" }} }} }}
  - name: Build
    actions:
      - name: Compile
        provider: "{gate}"
        inputs: [Code]
        outputs: [Built]
        configuration: {{ Behavior: gate, Gate: "#{{execution.id}}" }}
        grants: {{ paths: {{ gates: {{ path: "{gates}" }} }} }}
  - name: Approve
    actions:
      - {{ name: Manager, provider: "builtin:manual", configuration: {{ CustomData: "look at it" }} }}
  - name: Deploy
    actions:
      - {{ name: Go, provider: "{gate}", inputs: [Built] }}
"##,
        source = fixtures::GATED_SOURCE,
        gate = fixtures::GATE,
        src = src.display(),
        gates = gates.display(),
    )
}

fn cli(state: &Path, args: &[&str]) -> (i32, String, String) {
    let out = Command::new(exe())
        .arg("--state-dir")
        .arg(state)
        .args(args)
        .env("SLUICE_USER", "cli-user")
        .env_remove("SLUICE_SERVER")
        .stdin(Stdio::null())
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[tokio::test(flavor = "multi_thread")]
async fn the_api_runs_pipelines_and_the_cli_talks_to_it() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state");
    let gates = dir.path().join("gates");
    std::fs::create_dir_all(&gates).unwrap();
    let src = sluice_tests::gated_source_folder(dir.path(), &[("file.txt", "one")]);
    let server = ServerProcess::start(exe(), &state, &[]);
    assert!(server.output().contains("API token"), "{}", server.output());
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(state.join("api-token"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }

    // Health is open; every other call needs a token, reads included.
    let (status, health) = server.call_as("GET", "/health", None, None).await;
    assert_eq!(status, 200, "{health}");
    let (status, answer) = server.call_as("GET", "/pipelines", None, None).await;
    assert_eq!(
        (status, answer["error"]["code"].as_str()),
        (401, Some("unauthorized"))
    );
    // A request naming another host (DNS rebinding) is refused.
    let rebound = {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let address = server.url.trim_start_matches("http://");
        let mut socket = tokio::net::TcpStream::connect(address).await.unwrap();
        let request = format!(
            "GET /api/v1/pipelines HTTP/1.1\r\nHost: evil.example\r\nAuthorization: Bearer {}\r\nConnection: close\r\n\r\n",
            server.token
        );
        socket.write_all(request.as_bytes()).await.unwrap();
        let mut answer = String::new();
        socket.read_to_string(&mut answer).await.unwrap();
        answer
    };
    assert!(rebound.starts_with("HTTP/1.1 421"), "{rebound}");
    assert!(rebound.contains("wrong_host"), "{rebound}");
    let (status, answer) = server
        .call_as("PUT", "/pipelines", Some(json!({"definition": "x"})), None)
        .await;
    assert_eq!(
        (status, answer["error"]["code"].as_str()),
        (401, Some("unauthorized"))
    );
    let (status, _) = server
        .call_as(
            "PUT",
            "/pipelines",
            Some(json!({"definition": "x"})),
            Some("not-the-token"),
        )
        .await;
    assert_eq!(status, 401);

    // A definition with errors: 422, each finding with its path.
    let broken = definition(&gates, &src).replace("inputs: [Built]", "inputs: [Bulit]");
    let (status, answer) = server
        .call(
            "PUT",
            "/pipelines",
            Some(json!({"definition": broken, "file": "served.yaml", "base_dir": dir.path()})),
        )
        .await;
    assert_eq!(status, 422, "{answer}");
    assert_eq!(answer["error"]["code"], "invalid_pipeline");
    assert_eq!(answer["error"]["field"], "definition");
    let findings = answer["error"]["diagnostics"].as_array().unwrap();
    assert!(
        findings
            .iter()
            .any(|d| d["path"] == "stages[3].actions[0].inputs[0]"
                && d["message"]
                    .as_str()
                    .unwrap()
                    .contains("did you mean `Built`")),
        "{answer}"
    );
    let (status, answer) = server
        .call("PUT", "/pipelines", Some(json!({"definition": 5})))
        .await;
    assert_eq!(
        (status, answer["error"]["field"].as_str()),
        (400, Some("definition")),
        "{answer}"
    );

    // Create, then an unchanged update keeps the version.
    let body = json!({"definition": definition(&gates, &src), "file": "served.yaml", "base_dir": dir.path()});
    let (status, applied) = server.call("PUT", "/pipelines", Some(body.clone())).await;
    assert_eq!(
        (
            status,
            applied["version"].as_u64(),
            applied["changed"].as_bool()
        ),
        (200, Some(1), Some(true)),
        "{applied}"
    );
    let (_, again) = server.call("PUT", "/pipelines", Some(body)).await;
    assert_eq!(
        (again["version"].as_u64(), again["changed"].as_bool()),
        (Some(1), Some(false))
    );
    let (_, list) = server.call("GET", "/pipelines", None).await;
    assert_eq!(list[0]["name"], "served");
    let (_, got) = server.call("GET", "/pipelines/served", None).await;
    assert_eq!(got["definition"]["stages"][1]["name"], "Build");
    let (_, versions) = server.call("GET", "/pipelines/served/versions", None).await;
    assert_eq!(versions[0]["version"], 1);
    let (status, missing) = server
        .call("GET", "/pipelines/served?version=9", None)
        .await;
    assert_eq!(
        (status, missing["error"]["field"].as_str()),
        (404, Some("version"))
    );

    // Start with an idempotency token: the second start answers the first.
    let (status, started) = server
        .call(
            "POST",
            "/pipelines/served/executions",
            Some(json!({"client_token": "build-42", "variables": {}})),
        )
        .await;
    assert_eq!(status, 201, "{started}");
    let id = started["execution"].as_str().unwrap().to_string();
    let (status, repeated) = server
        .call(
            "POST",
            "/pipelines/served/executions",
            Some(json!({"client_token": "build-42"})),
        )
        .await;
    assert_eq!(
        (status, repeated["execution"].as_str()),
        (200, Some(id.as_str()))
    );
    let (status, bad) = server
        .call(
            "POST",
            "/pipelines/served/executions",
            Some(json!({"colour": "red"})),
        )
        .await;
    assert_eq!(
        (status, bad["error"]["code"].as_str()),
        (400, Some("invalid_request")),
        "{bad}"
    );
    // Refusals by the engine come back typed: the status and the field
    // follow the kind of refusal, never the message's words.
    for (body, path, want) in [
        (
            json!({"variables": {"colour": "red"}}),
            "/pipelines/served/executions",
            (400, "invalid_request", "variables"),
        ),
        (
            json!({"revisions": {"Compile": "abc123"}}),
            "/pipelines/served/executions",
            (400, "invalid_request", "revisions"),
        ),
        (
            json!({"revisions": {"Src": "line\nbreak"}}),
            "/pipelines/served/executions",
            (400, "invalid_request", "revisions"),
        ),
        (
            json!({}),
            "/pipelines/nope/executions",
            (404, "not_found", "name"),
        ),
        (
            json!({"mode": "failed_actions"}),
            &*format!("/executions/{id}/stages/Nope/retry"),
            (404, "not_found", "stage"),
        ),
        (
            json!({"mode": "failed_actions"}),
            &*format!("/executions/{id}/stages/Build/retry"),
            (409, "conflict", ""),
        ),
    ] {
        let (status, refused) = server.call("POST", path, Some(body.clone())).await;
        let error = &refused["error"];
        assert_eq!(
            (
                status,
                error["code"].as_str().unwrap_or_default(),
                error["field"].as_str().unwrap_or_default()
            ),
            want,
            "{path} {body}: {refused}"
        );
    }
    // A pipeline with an execution in progress is not deleted.
    let (status, busy) = server.call("DELETE", "/pipelines/served", None).await;
    assert_eq!(
        (status, busy["error"]["code"].as_str()),
        (409, Some("conflict")),
        "{busy}"
    );
    assert!(
        busy["error"]["message"]
            .as_str()
            .unwrap()
            .contains(&format!("has an execution in progress ({id})")),
        "{busy}"
    );

    // The state shows it in Build; the command line reads it through the
    // server (the database is the server's alone).
    server
        .wait_for("the build to run", "/pipelines/served/state", |s| {
            s["stages"][1]["latest_execution"]["id"] == id.as_str()
        })
        .await;
    let (code, out, err) = cli(&state, &["state", "served"]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("Build") && out.contains(&id), "{out}");
    let (code, _, err) = cli(&state, &["drive"]);
    assert_ne!(code, 0);
    assert!(err.contains("drives this state directory already"), "{err}");

    // The log streams while the action waits, and ends when it ends.
    let log_url = format!(
        "{}/api/v1/executions/{id}/stages/Build/actions/Compile/log",
        server.url
    );
    let mut events = sluice::http_client::open_stream(
        &format!(
            "{}/api/v1/events?execution={id}&access_token={}",
            server.url, server.token
        ),
        &[],
        std::time::Duration::from_secs(10),
    )
    .await
    .unwrap();
    std::fs::write(gates.join(&id), "open").unwrap();
    let mut seen = String::new();
    while !seen.contains("\"WaitingForApproval\"") && !seen.contains("\"awaiting_approval\":true") {
        let chunk = tokio::time::timeout(std::time::Duration::from_secs(30), events.next_chunk())
            .await
            .expect("an event in time")
            .unwrap()
            .unwrap();
        seen.push_str(&String::from_utf8_lossy(&chunk));
    }
    assert!(
        seen.contains("event: ready") && seen.contains("event: execution"),
        "{seen}"
    );
    let mut log = sluice::http_client::open_stream(
        &log_url,
        &[("authorization", format!("Bearer {}", server.token))],
        std::time::Duration::from_secs(10),
    )
    .await
    .unwrap();
    let mut text = String::new();
    while let Some(chunk) = log.next_chunk().await {
        text.push_str(&String::from_utf8_lossy(&chunk.unwrap()));
        if text.contains("event: end") {
            break;
        }
    }
    assert!(text.contains("event: end"), "{text}");

    // ListActionExecutions, with filters.
    let (_, actions) = server
        .call(
            "GET",
            &format!("/executions/{id}/actions?stage=Build"),
            None,
        )
        .await;
    let actions = actions.as_array().unwrap();
    assert_eq!(actions.len(), 1);
    assert_eq!(actions[0]["run"]["status"], "Succeeded");
    assert_eq!(actions[0]["run"]["outputs"][0][0], "Built");

    // The approval: a bad action is a 404 naming the field; then approve
    // from the command line, through the server.
    let (status, bad) = server
        .call(
            "PUT",
            &format!("/executions/{id}/stages/Approve/actions/Nobody/approval"),
            Some(json!({"status": "approved"})),
        )
        .await;
    assert_eq!(
        (status, bad["error"]["field"].as_str()),
        (404, Some("action"))
    );
    let (status, bad) = server
        .call(
            "PUT",
            &format!("/executions/{id}/stages/Approve/actions/Manager/approval"),
            Some(json!({"status": "maybe"})),
        )
        .await;
    assert_eq!(
        (status, bad["error"]["field"].as_str()),
        (400, Some("status")),
        "{bad}"
    );
    let (code, out, err) = cli(
        &state,
        &[
            "approve",
            &id[..13],
            "Approve",
            "Manager",
            "--summary",
            "fine by me",
        ],
    );
    assert_eq!(code, 0, "{out}{err}");
    let detail = server
        .wait_for(
            "the execution to succeed",
            &format!("/executions/{id}"),
            |d| d["execution"]["status"] == "Succeeded",
        )
        .await;
    let manager = &detail["execution"]["stages"][2]["actions"][0];
    // Through a server the approver is the token's name.
    assert_eq!(manager["approval"]["by"], "admin", "{manager}");
    assert_eq!(manager["approval"]["summary"], "fine by me");
    let (_, executions) = server
        .call("GET", "/pipelines/served/executions?limit=5", None)
        .await;
    assert_eq!(executions[0]["id"], id.as_str());
    let (status, bad) = server
        .call("GET", "/pipelines/served/executions?limit=0", None)
        .await;
    assert_eq!(
        (status, bad["error"]["field"].as_str()),
        (400, Some("limit"))
    );
    let (_, logs) = server
        .call(
            "GET",
            &format!("/executions/{id}/logs?action=Approve/Manager"),
            None,
        )
        .await;
    // Lines come with their source: the provider's told from the host's.
    let lines = logs[0]["lines"].as_array().unwrap();
    assert!(
        lines.iter().any(|l| l["source"] == "provider"
            && l["text"].as_str().unwrap().contains("waiting for approval")),
        "{logs}"
    );

    // Transitions: disabled with a reason, an execution waits in front;
    // enabled, it goes through.
    let (status, answer) = server
        .call(
            "PUT",
            "/pipelines/served/stages/Deploy/transition",
            Some(json!({"enabled": false, "reason": "freeze"})),
        )
        .await;
    assert_eq!(status, 200, "{answer}");
    let (status, answer) = server
        .call(
            "PUT",
            "/pipelines/served/stages/Nowhere/transition",
            Some(json!({"enabled": false})),
        )
        .await;
    assert_eq!(
        (status, answer["error"]["field"].as_str()),
        (404, Some("stage"))
    );
    let (code, out, _) = cli(&state, &["start", "served"]);
    assert_eq!(code, 0);
    let second = out.trim().rsplit(' ').next().unwrap().to_string();
    std::fs::write(gates.join(&second), "open").unwrap();
    let state_json = server
        .wait_for(
            "the approval of the second execution",
            "/pipelines/served/state",
            |s| s["stages"][2]["latest_execution"]["id"] == second.as_str(),
        )
        .await;
    assert_eq!(state_json["stages"][3]["transition"]["enabled"], false);
    assert_eq!(state_json["stages"][3]["transition"]["reason"], "freeze");
    server
        .call(
            "PUT",
            &format!("/executions/{second}/stages/Approve/actions/Manager/approval"),
            Some(json!({"status": "approved"})),
        )
        .await;
    server
        .wait_for(
            "the execution to wait at the transition",
            "/pipelines/served/state",
            |s| s["stages"][3]["inbound_executions"][0] == second.as_str(),
        )
        .await;
    server
        .call(
            "PUT",
            "/pipelines/served/stages/Deploy/transition",
            Some(json!({"enabled": true})),
        )
        .await;
    server
        .wait_for(
            "the second execution to succeed",
            &format!("/executions/{second}"),
            |d| d["execution"]["status"] == "Succeeded",
        )
        .await;

    // A failed stage retried; a stop with abandon.
    let (_, third) = server
        .call("POST", "/pipelines/served/executions", Some(json!({})))
        .await;
    let third = third["execution"].as_str().unwrap().to_string();
    std::fs::write(gates.join(&third), "fail").unwrap();
    server
        .wait_for("the build to fail", &format!("/executions/{third}"), |d| {
            d["execution"]["status"] == "Failed"
        })
        .await;
    let (status, bad) = server
        .call(
            "POST",
            &format!("/executions/{third}/stages/Build/retry"),
            Some(json!({"mode": "some"})),
        )
        .await;
    assert_eq!(
        (status, bad["error"]["field"].as_str()),
        (400, Some("mode")),
        "{bad}"
    );
    std::fs::remove_file(gates.join(&third)).unwrap();
    let (status, answer) = server
        .call(
            "POST",
            &format!("/executions/{third}/stages/Build/retry"),
            Some(json!({"mode": "failed_actions"})),
        )
        .await;
    assert_eq!(status, 200, "{answer}");
    server
        .wait_for(
            "the retried build to run",
            &format!("/executions/{third}"),
            |d| {
                d["execution"]["status"] == "InProgress"
                    && d["execution"]["stages"][1]["attempt"] == 2
            },
        )
        .await;
    let (status, answer) = server
        .call(
            "POST",
            &format!("/executions/{third}/stop"),
            Some(json!({"abandon": true, "reason": "enough"})),
        )
        .await;
    assert_eq!(status, 200, "{answer}");
    server
        .wait_for("the stop", &format!("/executions/{third}"), |d| {
            d["execution"]["status"] == "Stopped"
        })
        .await;
    let (status, answer) = server
        .call("POST", &format!("/executions/{third}/stop"), None)
        .await;
    assert_eq!(
        (status, answer["error"]["code"].as_str()),
        (409, Some("conflict")),
        "{answer}"
    );

    // The document lists every operation; the console is served.
    let (_, doc) = server.call("GET", "/openapi.json", None).await;
    assert_eq!(doc["openapi"], "3.1.0");
    for (path, method) in [
        ("/api/v1/pipelines", "put"),
        ("/api/v1/pipelines/{name}/executions", "post"),
        (
            "/api/v1/executions/{id}/stages/{stage}/actions/{action}/approval",
            "put",
        ),
        ("/api/v1/hooks/{name}", "post"),
    ] {
        assert!(
            doc["paths"][path][method]["operationId"].is_string(),
            "{path} {method}"
        );
    }
    let page = sluice::http_client::request(
        "GET",
        &format!("{}/", server.url),
        &[],
        None,
        std::time::Duration::from_secs(5),
    )
    .await
    .unwrap();
    assert!(String::from_utf8_lossy(&page.body).contains("/console/app.js"));

    // Deleting while nothing runs; a clean stop removes server.json.
    let (status, _) = server.call("DELETE", "/pipelines/served", None).await;
    assert_eq!(status, 200);
    let (status, _) = server.call("GET", "/pipelines/served", None).await;
    assert_eq!(status, 404);
    let code = server.terminate();
    assert_eq!(code, Some(0));
    assert!(!state.join("server.json").exists());
    let (code, out, _) = cli(&state, &["pipeline", "list"]);
    assert_eq!(code, 0);
    assert!(out.contains("no pipelines"), "{out}");
}

#[tokio::test(flavor = "multi_thread")]
async fn listening_beyond_loopback_needs_a_flag_and_a_second_server_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state");
    let out = Command::new(exe())
        .arg("--state-dir")
        .arg(&state)
        .args(["serve", "--listen", "0.0.0.0:0"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--public"));

    let first = ServerProcess::start(exe(), &state, &[]);
    let out = Command::new(exe())
        .arg("--state-dir")
        .arg(&state)
        .args(["serve", "--listen", "127.0.0.1:0"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("another sluice process drives"));
    // The token is kept across restarts, and not printed again.
    let token = first.token.clone();
    assert_eq!(first.terminate(), Some(0));
    let second = ServerProcess::start(exe(), &state, &[]);
    assert_eq!(second.token, token);
    assert!(
        !second
            .output()
            .split("sluice stopped")
            .last()
            .unwrap()
            .contains(&token)
    );
}

/// `sluice start NAME --wait` beside a running server follows the
/// execution through the API's event stream, as `sluice run` does: each
/// action as it ends, the approval answered (`--yes`), the final status.
#[tokio::test(flavor = "multi_thread")]
async fn start_wait_follows_the_execution_through_the_server() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state");
    let src = sluice_tests::gated_source_folder(dir.path(), &[("file.txt", "one")]);
    let server = ServerProcess::start(exe(), &state, &["--no-triggers"]);
    let definition = format!(
        r#"
name: followed
stages:
  - name: Source
    actions:
      - name: Src
        provider: "{source}"
        outputs: [Code]
        grants: {{ paths: {{ source: {{ path: "{src}" }} }} }}
  - name: Build
    actions:
      - {{ name: Slow, provider: "{gate}", inputs: [Code], configuration: {{ Behavior: sleep, Millis: "400" }} }}
  - name: Approve
    actions:
      - {{ name: Manager, provider: "builtin:manual" }}
"#,
        source = fixtures::GATED_SOURCE,
        gate = fixtures::GATE,
        src = src.display()
    );
    server.apply(&definition, dir.path()).await;

    let (code, out, err) = cli(&state, &["start", "followed", "--wait", "--yes"]);
    assert_eq!(code, 0, "{out}{err}");
    for line in [
        "Src",
        "Slow",
        "Manager",
        // The approver is the token's name (the bootstrap token), whatever
        // the command line's user is.
        "approved by admin",
        "Succeeded",
    ] {
        assert!(out.contains(line), "`{line}` missing from:\n{out}");
    }
    let (_, list) = server
        .call("GET", "/pipelines/followed/executions", None)
        .await;
    assert_eq!(list[0]["status"], "Succeeded", "{list}");
    assert_eq!(list[0]["trigger"], "api (admin)", "{list}");
}

#[tokio::test(flavor = "multi_thread")]
async fn named_tokens_have_roles_approvers_are_token_names_and_changes_are_audited() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state");
    let src = sluice_tests::gated_source_folder(dir.path(), &[("file.txt", "one")]);
    let server = ServerProcess::start(exe(), &state, &["--no-triggers"]);
    let definition = format!(
        r#"
name: guarded
stages:
  - name: Source
    actions:
      - name: Src
        provider: "{source}"
        outputs: [Code]
        grants: {{ paths: {{ source: {{ path: "{src}" }} }} }}
  - name: Approve
    actions:
      - {{ name: Manager, provider: "builtin:manual" }}
"#,
        source = fixtures::GATED_SOURCE,
        src = src.display()
    );
    server.apply(&definition, dir.path()).await;
    let mut tokens = std::collections::HashMap::new();
    for (name, role) in [("reader", "read"), ("operator", "operate")] {
        let (status, made) = server
            .call("POST", "/tokens", Some(json!({"name": name, "role": role})))
            .await;
        assert_eq!(status, 201, "{made}");
        tokens.insert(name, made["token"].as_str().unwrap().to_string());
    }
    let reader = Some(tokens["reader"].as_str());
    let operator = Some(tokens["operator"].as_str());

    // A reader reads, and nothing more.
    let (status, _) = server.call_as("GET", "/pipelines", None, reader).await;
    assert_eq!(status, 200);
    let (status, refused) = server
        .call_as(
            "POST",
            "/pipelines/guarded/executions",
            Some(json!({})),
            reader,
        )
        .await;
    assert_eq!(
        (status, refused["error"]["code"].as_str()),
        (403, Some("forbidden")),
        "{refused}"
    );
    // An operator runs pipelines but cannot change them (nor their grants).
    let body = json!({"definition": definition, "base_dir": dir.path()});
    let (status, _) = server
        .call_as("PUT", "/pipelines", Some(body), operator)
        .await;
    assert_eq!(status, 403);
    let (status, started) = server
        .call_as(
            "POST",
            "/pipelines/guarded/executions",
            Some(json!({})),
            operator,
        )
        .await;
    assert_eq!(status, 201, "{started}");
    let id = started["execution"].as_str().unwrap().to_string();
    let path = format!("/executions/{id}");
    server
        .wait_for("the approval", &path, |e| {
            e["execution"]["stages"][1]["actions"][0]["awaiting_approval"] == true
        })
        .await;
    let (status, _) = server
        .call_as(
            "PUT",
            &format!("/executions/{id}/stages/Approve/actions/Manager/approval"),
            Some(json!({"status": "approved", "summary": "fine"})),
            operator,
        )
        .await;
    assert_eq!(status, 200);
    let done = server
        .wait_for("the execution to end", &path, |e| {
            e["execution"]["status"] == "Succeeded"
        })
        .await;
    // The approver is the token's name.
    assert_eq!(
        done["execution"]["stages"][1]["actions"][0]["summary"],
        "approved by operator: fine"
    );

    // The audit log (admin only) says who did what and how it went.
    let (status, _) = server.call_as("GET", "/audit", None, operator).await;
    assert_eq!(status, 403);
    let (_, audit) = server.call("GET", "/audit", None).await;
    let entries: Vec<(String, String, String)> = audit
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["actor"].as_str().unwrap().to_string(),
                e["action"].as_str().unwrap().to_string(),
                e["outcome"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    for expected in [
        ("admin", "CreateToken", "ok"),
        ("reader", "StartPipelineExecution", "forbidden"),
        ("operator", "PutPipeline", "forbidden"),
        ("operator", "StartPipelineExecution", "ok"),
        ("operator", "PutApprovalResult", "ok"),
    ] {
        let found = entries
            .iter()
            .any(|(a, b, c)| (a.as_str(), b.as_str(), c.as_str()) == expected);
        assert!(found, "{expected:?} missing from {entries:?}");
    }

    // A revoked token is refused; the command line lists what is left.
    let (status, _) = server.call("DELETE", "/tokens/reader", None).await;
    assert_eq!(status, 200);
    let (status, _) = server.call_as("GET", "/pipelines", None, reader).await;
    assert_eq!(status, 401);
    let (code, out, err) = cli(&state, &["token", "list"]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("operator") && !out.contains("reader"), "{out}");
}
