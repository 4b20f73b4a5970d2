//! Executions driven by boto3 and the AWS CLI: start, get, list, stop,
//! retry, transitions, roles and signatures.

use super::*;

#[tokio::test]
async fn boto3_and_the_aws_cli_run_pipelines_with_signed_requests() {
    let clients = clients();
    let dir = tempfile::tempdir().unwrap();
    let src = sluice_tests::gated_source_folder(dir.path(), &[("file.txt", "one")]);
    let gates = dir.path().join("gates");
    std::fs::create_dir_all(&gates).unwrap();
    let state = dir.path().join("state");
    let server = ServerProcess::start(exe(), &state, &["--no-triggers"]);
    let definition = format!(
        r##"
name: relay
variables:
  - {{ name: Who, default: nobody }}
  - {{ name: Behave, default: succeed }}
stages:
  - name: Source
    actions:
      - name: Src
        provider: "{source}"
        outputs: [Code]
        grants: {{ paths: {{ source: {{ path: "{src}" }} }} }}
  - name: Build
    actions:
      - name: Make
        provider: "{gate}"
        inputs: [Code]
        configuration: {{ Behavior: "#{{variables.Behave}}", Gate: "#{{execution.id}}" }}
        grants: {{ paths: {{ gates: {{ path: "{gates}" }} }} }}
"##,
        source = fixtures::GATED_SOURCE,
        gate = fixtures::GATE,
        src = src.display(),
        gates = gates.display()
    );
    server.apply(&definition, dir.path()).await;
    let (key, secret) = aws_key(&state, "ci-bot", "operate");
    let (read_key, read_secret) = aws_key(&state, "auditor", "read");
    assert!(key.starts_with("AKIA") && key.len() == 20, "{key}");
    assert_eq!(secret.len(), 40);

    let seen = run_script(
        &server,
        "scenario.py",
        &[
            &server.url,
            "relay",
            &key,
            &secret,
            &read_key,
            &read_secret,
            &gates.display().to_string(),
        ],
    );
    assert_eq!(seen["pipelines"], serde_json::json!(["relay"]), "{seen}");
    assert_eq!(seen["same_execution"], true, "{seen}");
    assert_eq!(seen["status"], "Succeeded", "{seen}");
    assert_eq!(seen["revisions"], serde_json::json!(["r1"]), "{seen}");
    assert_eq!(seen["trigger"], "StartPipelineExecution", "{seen}");
    // Newest first, one per page, both found through the paginator.
    assert_eq!(
        seen["listed"],
        serde_json::json!([seen["second"], seen["first"]]),
        "{seen}"
    );
    for (what, code) in [
        ("stop_finished", "PipelineExecutionNotStoppableException"),
        ("missing_pipeline", "PipelineNotFoundException"),
        ("missing_execution", "PipelineExecutionNotFoundException"),
        ("unknown_action_type", "ActionTypeNotFoundException"),
        ("bad_secret", "InvalidSignatureException"),
        ("unknown_key", "UnrecognizedClientException"),
        ("reader_starts", "AccessDeniedException"),
    ] {
        assert_eq!(seen[what], code, "{what}: {seen}");
    }
    assert_eq!(seen["reader_lists"], 1, "{seen}");
    // A stage failed, then retried once its gate passes.
    assert_eq!(seen["before_retry"], "Failed", "{seen}");
    assert_eq!(seen["after_retry"], "Succeeded", "{seen}");
    assert_eq!(
        seen["retry_succeeded"], "StageNotRetryableException",
        "{seen}"
    );
    assert_eq!(seen["retry_mode"], "ValidationException", "{seen}");
    // Every attempt, or only the latest of each action.
    assert_eq!(
        seen["attempts"],
        serde_json::json!([
            ["Make", "Failed"],
            ["Make", "Succeeded"],
            ["Src", "Succeeded"]
        ]),
        "{seen}"
    );
    assert_eq!(
        seen["latest_attempts"],
        serde_json::json!([["Make", "Succeeded"], ["Src", "Succeeded"]]),
        "{seen}"
    );
    // Stopped waiting for the running action, or abandoning it.
    assert_eq!(seen["stopping"], "Stopping", "{seen}");
    assert_eq!(seen["stopped_after_wait"], "Stopped", "{seen}");
    assert_eq!(seen["waited_action"], "Succeeded", "{seen}");
    assert_eq!(seen["abandoned"], "Stopped", "{seen}");
    assert_eq!(seen["abandoned_action"], "Abandoned", "{seen}");
    assert!(
        seen["abandoned_summary"]
            .as_str()
            .unwrap_or("")
            .contains("now"),
        "{seen}"
    );
    // Filtered by the stage they succeeded in: the first and the retried
    // one did, the abandoned one did not; one per page.
    assert_eq!(seen["built"][0], true, "{seen}");
    assert_eq!(seen["built"][1], true, "{seen}");
    assert_eq!(seen["built"][2], false, "{seen}");
    assert_eq!(seen["filter_stage"], "StageNotFoundException", "{seen}");
    // A disabled transition holds an execution until it is enabled.
    assert_eq!(seen["while_disabled"], "InProgress", "{seen}");
    assert_eq!(seen["after_enabling"], "Succeeded", "{seen}");
    assert_eq!(seen["missing_stage"], "StageNotFoundException", "{seen}");

    // The AWS CLI, with --endpoint-url.
    let listed = aws_json(
        &clients,
        dir.path(),
        &server.url,
        &(key.clone(), secret.clone()),
        &["codepipeline", "list-pipelines"],
    );
    assert_eq!(listed["pipelines"][0]["name"], "relay", "{listed}");
    assert_eq!(listed["pipelines"][0]["pipelineType"], "V2", "{listed}");

    // Every change through the API is audited under the token's name.
    let (_, audit) = server.call("GET", "/audit", None).await;
    assert!(
        audit
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["actor"] == "ci-bot" && e["action"] == "StartPipelineExecution"),
        "{audit}"
    );
    server.terminate();
}
