//! Webhooks: put, listed, called, deleted.

use super::*;

#[tokio::test]
async fn webhooks_put_through_boto3_start_their_pipeline_when_called() {
    let dir = tempfile::tempdir().unwrap();
    // The repository a CodeCommit source names, mapped by the host.
    let state = dir.path().join("state");
    sluice_tests::aws::mapped_repository(
        &dir.path().join("app"),
        &state,
        &[("index.html", "hello")],
    );
    let server = ServerProcess::start(exe(), &state, &["--no-triggers"]);
    let (key, secret) = aws_key(&state, "hook-admin", "admin");
    let seen = run_script(&server, "webhooks.py", &[&server.url, &key, &secret]);
    // Answered as the model shapes it: the secret redacted, an ARN, a URL
    // of its own on the server's address, kept when put again.
    assert_eq!(seen["answered_secret"], "****", "{seen}");
    assert_eq!(
        seen["answered_filters"],
        serde_json::json!([{"jsonPath": "$.ref", "matchEquals": "refs/heads/{BranchName}"}])
    );
    assert_eq!(
        seen["arn"], "arn:aws:codepipeline:local:000000000000:webhook:gh-signed",
        "{seen}"
    );
    assert_eq!(
        seen["created_tags"],
        serde_json::json!([{"key": "team", "value": "web"}])
    );
    for what in [
        "urls_on_endpoint",
        "urls_distinct",
        "same_url_when_put_again",
    ] {
        assert_eq!(seen[what], true, "{what}: {seen}");
    }
    for (what, code, names) in [
        ("missing_pipeline", "PipelineNotFoundException", ""),
        (
            "not_a_source",
            "ValidationException",
            "'webhook.targetAction'",
        ),
        (
            "no_secret",
            "InvalidWebhookAuthenticationParametersException",
            "SecretToken",
        ),
        (
            "bad_range",
            "InvalidWebhookAuthenticationParametersException",
            "the lab",
        ),
        ("bad_path", "InvalidWebhookFilterPatternException", "$.[ref"),
        ("six_filters", "ValidationException", "'webhook.filters'"),
    ] {
        assert_eq!(seen[what][0], code, "{what}: {seen}");
        let message = seen[what][1].as_str().unwrap();
        assert!(message.contains(names), "{what}: {message}");
    }
    // One a page, by name, through NextToken.
    assert_eq!(
        seen["listed"],
        serde_json::json!(["anyone", "from-elsewhere", "from-lab", "gh-signed"]),
        "{seen}"
    );
    assert_eq!(seen["pages"], 4, "{seen}");
    assert_eq!(
        seen["tags"],
        serde_json::json!([{"key": "stage", "value": "prod"}, {"key": "team", "value": "web"}]),
        "{seen}"
    );

    // A signed push to `main` ran the pipeline, triggered by the webhook.
    assert_eq!(
        seen["signed_push"],
        serde_json::json!([200, true]),
        "{seen}"
    );
    assert_eq!(seen["status"], "Succeeded", "{seen}");
    assert_eq!(
        seen["trigger"],
        serde_json::json!({"triggerType": "Webhook", "triggerDetail": "webhook gh-signed"}),
        "{seen}"
    );
    assert_eq!(seen["last_triggered"], true, "{seen}");
    // Another branch: 200, nothing started, and why.
    assert_eq!(seen["other_branch"][0], 200, "{seen}");
    assert_eq!(seen["other_branch"][1], false, "{seen}");
    let why = seen["other_branch"][2].as_str().unwrap();
    assert!(
        why.contains("`refs/heads/dev`") && why.contains("not `refs/heads/main`"),
        "{why}"
    );
    assert_eq!(seen["started_by_other_branch"], 0, "{seen}");
    // Refused callers: 403, saying why; nothing started.
    assert_eq!(seen["wrong_secret"][0], 403, "{seen}");
    assert!(
        seen["wrong_secret"][1]
            .as_str()
            .unwrap()
            .contains("not that of this body"),
        "{seen}"
    );
    assert_eq!(seen["unsigned"][0], 403, "{seen}");
    assert!(
        seen["unsigned"][1]
            .as_str()
            .unwrap()
            .contains("X-Hub-Signature-256"),
        "{seen}"
    );
    assert_eq!(seen["tampered"], 403, "{seen}");
    assert_eq!(seen["started_by_refused"], 0, "{seen}");
    assert_eq!(seen["form_push"], serde_json::json!([200, true]), "{seen}");
    assert_eq!(
        seen["anyone_push"],
        serde_json::json!([200, true]),
        "{seen}"
    );
    assert_eq!(seen["anyone_trigger"], "Webhook", "{seen}");
    assert_eq!(seen["not_json"], 400, "{seen}");
    assert_eq!(seen["too_large"], 413, "{seen}");
    // An IP range is checked against the connection's address.
    assert_eq!(seen["by_ip"], serde_json::json!([200, true]), "{seen}");
    assert_eq!(seen["by_other_ip"][0], 403, "{seen}");

    assert_eq!(seen["register"], 200, "{seen}");
    assert_eq!(seen["deregister"], 200, "{seen}");
    for what in ["register_unknown", "deregister_unknown"] {
        assert_eq!(seen[what][0], "WebhookNotFoundException", "{what}: {seen}");
    }
    // Deleted: its URL is gone and its tags with it; deleting again
    // succeeds; put again, it has a new URL and no tags.
    assert_eq!(seen["deleted_url"], 404, "{seen}");
    assert_eq!(
        seen["deleted_tags"][0], "ResourceNotFoundException",
        "{seen}"
    );
    assert!(seen["delete_again"].is_null(), "{seen}");
    assert_eq!(
        seen["after_delete"],
        serde_json::json!(["anyone", "from-elsewhere", "from-lab"]),
        "{seen}"
    );
    assert_eq!(seen["new_url"], true, "{seen}");
    assert_eq!(seen["renewed_tags"], serde_json::json!([]), "{seen}");
    assert_eq!(
        seen["after_pipeline_deleted"],
        serde_json::json!([]),
        "{seen}"
    );

    // Each start is in the audit log under the webhook's name.
    let (_, audit) = server.call("GET", "/audit", None).await;
    assert!(
        audit
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["actor"] == "webhook gh-signed" && e["action"] == "StartPipelineExecution"),
        "{audit}"
    );
    server.terminate();
}
