//! Pipelines made, run and changed from CodePipeline declarations.

use super::*;

#[tokio::test]
async fn codepipeline_declarations_are_created_run_approved_and_read_back() {
    let clients = clients();
    let dir = tempfile::tempdir().unwrap();
    // The repository a CodeCommit source names, mapped by the host.
    let state = dir.path().join("state");
    sluice_tests::aws::mapped_repository(
        &dir.path().join("app"),
        &state,
        &[("index.html", "hello")],
    );
    let server = ServerProcess::start(exe(), &state, &["--no-triggers"]);
    let admin = aws_key(&state, "release-admin", "admin");
    let operator = aws_key(&state, "release-bot", "operate");
    let out_file = dir.path().join("shipit.json");
    let seen = run_script(
        &server,
        "declarations.py",
        &[
            &server.url,
            &admin.0,
            &admin.1,
            &operator.0,
            &operator.1,
            &out_file.display().to_string(),
        ],
    );
    // Read back as sent; what AWS owns answered as the host's.
    assert_eq!(seen["same_declaration"], true, "{seen}");
    assert_eq!(
        seen["role"], "arn:aws:iam::000000000000:role/sluice-host",
        "{seen}"
    );
    assert_eq!(seen["store"]["location"], "sluice-local", "{seen}");
    assert_eq!(seen["version"], 1, "{seen}");
    assert_eq!(
        seen["arn"], "arn:aws:codepipeline:local:000000000000:shipit",
        "{seen}"
    );
    assert_eq!(
        seen["created_tags"],
        serde_json::json!([{"key": "team", "value": "web"}])
    );
    assert_eq!(
        seen["name_in_use"][0], "PipelineNameInUseException",
        "{seen}"
    );
    assert_eq!(
        seen["operator_creates"][0], "AccessDeniedException",
        "{seen}"
    );
    // Watched, approved with the token, superseded in front of the approval.
    assert_eq!(seen["approval_status"], "InProgress", "{seen}");
    assert_eq!(seen["build_state"], "Succeeded", "{seen}");
    assert_eq!(seen["transition_state"], true, "{seen}");
    assert_eq!(seen["superseded"], "Superseded", "{seen}");
    assert_eq!(
        seen["wrong_token"][0], "InvalidApprovalTokenException",
        "{seen}"
    );
    assert_eq!(seen["approved_at"], true, "{seen}");
    assert_eq!(
        seen["token_used"][0], "ApprovalAlreadyCompletedException",
        "{seen}"
    );
    assert_eq!(seen["first"], "Succeeded", "{seen}");
    assert_eq!(seen["new_token"], true, "{seen}");
    assert_eq!(seen["third"], "Failed", "{seen}");
    assert_eq!(
        seen["actions_of_first"],
        serde_json::json!([
            ["Approve", "Release", "Succeeded"],
            ["Build", "Package", "Succeeded"],
            ["Deploy", "Publish", "Succeeded"],
            ["Source", "App", "Succeeded"]
        ]),
        "{seen}"
    );
    assert_eq!(
        seen["approval_input"],
        serde_json::json!({"category": "Approval", "owner": "AWS", "provider": "Manual", "version": "1"})
    );
    // The variable the git source exported, resolved in the approval's text.
    let resolved = seen["approval_resolved"].as_str().unwrap();
    assert!(
        resolved.starts_with("Release ") && resolved.len() == "Release ?".len() + 40,
        "{resolved}"
    );
    // Three executions: 4 + 2 (superseded after Build) + 3 (rejected).
    assert_eq!(seen["all_actions"], 9, "{seen}");
    assert_eq!(seen["rule_types"], serde_json::json!([]), "{seen}");
    assert_eq!(seen["rule_executions"], serde_json::json!([]), "{seen}");
    assert_eq!(
        seen["override"][0], "ConditionNotOverridableException",
        "{seen}"
    );
    assert_eq!(
        seen["rollback"][0], "UnableToRollbackStageException",
        "{seen}"
    );
    assert_eq!(seen["targets"], serde_json::json!([]), "{seen}");
    assert_eq!(
        seen["no_targets"][0], "ActionExecutionNotFoundException",
        "{seen}"
    );
    assert_eq!(
        seen["same_revision"],
        serde_json::json!([false, true]),
        "{seen}"
    );
    assert_eq!(
        seen["revision_not_source"][0], "ActionNotFoundException",
        "{seen}"
    );
    assert_eq!(
        seen["tags"],
        serde_json::json!([{"key": "team", "value": "api"}]),
        "{seen}"
    );
    assert_eq!(seen["reserved_tag"][0], "InvalidTagsException", "{seen}");
    assert_eq!(
        seen["missing_resource"][0], "ResourceNotFoundException",
        "{seen}"
    );
    assert_eq!(seen["updated_version"], 2, "{seen}");
    assert_eq!(
        seen["update_missing"][0], "PipelineNotFoundException",
        "{seen}"
    );
    for (what, field) in [
        ("region", "pipeline.stages[1].actions[0].region"),
        ("unmapped", "pipeline.stages[3].actions[0].actionTypeId"),
        (
            "unmapped_repository",
            "pipeline.stages[0].actions[0].actionTypeId",
        ),
        (
            "bad_input",
            "pipeline.stages[1].actions[0].inputArtifacts[0]",
        ),
    ] {
        assert_eq!(seen[what][0], "ValidationException", "{what}: {seen}");
        let message = seen[what][1].as_str().unwrap();
        assert!(message.contains(&format!("'{field}'")), "{what}: {message}");
    }
    let unmapped = seen["unmapped"][1].as_str().unwrap();
    assert!(
        unmapped.contains("Source/AWS/CodeCommit/1") && unmapped.contains("Approval/AWS/Manual/1"),
        "{unmapped}"
    );
    assert_eq!(seen["listed"], serde_json::json!(["shipit"]), "{seen}");

    // The same pipeline in Sluice's own views.
    let (status, state_view) = server.call("GET", "/pipelines/shipit/state", None).await;
    assert_eq!(status, 200, "{state_view}");
    assert_eq!(
        state_view["stages"].as_array().unwrap().len(),
        4,
        "{state_view}"
    );
    assert_eq!(
        state_view["stages"][0]["actions"][0]["provider"], "aws:Source/AWS/CodeCommit/1",
        "{state_view}"
    );

    // `sluice pipeline apply` takes the `get-pipeline` output as it is.
    let applied = Command::new(exe())
        .arg("--state-dir")
        .arg(&state)
        .args(["pipeline", "apply"])
        .arg(&out_file)
        .output()
        .unwrap();
    assert!(
        applied.status.success(),
        "{}",
        String::from_utf8_lossy(&applied.stderr)
    );
    let got = aws_json(
        &clients,
        dir.path(),
        &server.url,
        &admin,
        &["codepipeline", "get-pipeline", "--name", "shipit"],
    );
    assert_eq!(got["pipeline"]["version"], 3, "{got}");
    assert_eq!(
        got["pipeline"]["stages"][2]["actions"][0]["configuration"]["CustomData"],
        "Release #{SourceVariables.CommitId}?"
    );
    aws_json(
        &clients,
        dir.path(),
        &server.url,
        &admin,
        &["codepipeline", "delete-pipeline", "--name", "shipit"],
    );
    let cli = aws_cli(
        &clients,
        dir.path(),
        &server.url,
        &admin,
        &["codepipeline", "get-pipeline", "--name", "shipit"],
    );
    assert!(!cli.status.success());
    assert!(String::from_utf8_lossy(&cli.stderr).contains("PipelineNotFoundException"));
    server.terminate();
}
