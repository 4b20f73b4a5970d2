//! The CodePipeline API with the real clients: boto3 and the AWS CLI from
//! the virtual environment `scripts/aws-clients.sh` makes, unmodified,
//! against `sluice serve`, with access keys `sluice token create --aws`
//! made. Signatures are checked for real: a wrong secret and an unknown
//! key get AWS's errors.

use serde_json::Value;
use sluice_tests::fixtures;
use sluice_tests::server::ServerProcess;
use std::path::{Path, PathBuf};
use std::process::Command;

fn exe() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_sluice"))
}

/// The clients' virtual environment.
fn clients() -> PathBuf {
    let dir = std::env::var_os("SLUICE_AWS_CLIENTS")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            let cache = std::env::var_os("XDG_CACHE_HOME")
                .map(PathBuf::from)
                .unwrap_or_else(|| PathBuf::from(std::env::var_os("HOME").unwrap()).join(".cache"));
            cache.join("sluice/aws-clients")
        });
    assert!(
        dir.join("bin/python").exists() && dir.join("bin/aws").exists(),
        "boto3 and the AWS CLI are not installed in {}: run scripts/aws-clients.sh (scripts/test.sh does)",
        dir.display()
    );
    dir
}

/// `sluice token create NAME --role ROLE --aws` through the server: the
/// key pair it prints.
fn aws_key(state: &Path, name: &str, role: &str) -> (String, String) {
    let out = Command::new(exe())
        .arg("--state-dir")
        .arg(state)
        .args(["token", "create", name, "--role", role, "--aws"])
        .output()
        .unwrap();
    let text =
        String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{text}");
    let field = |key: &str| {
        text.lines()
            .find_map(|l| l.trim().strip_prefix(key))
            .map(|v| v.trim_start_matches([' ', '=']).trim().to_string())
            .unwrap_or_else(|| panic!("no {key} in: {text}"))
    };
    (field("aws_access_key_id"), field("aws_secret_access_key"))
}

#[tokio::test]
async fn boto3_and_the_aws_cli_run_pipelines_with_signed_requests() {
    let clients = clients();
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("src");
    std::fs::create_dir_all(src.join("revisions/r1")).unwrap();
    std::fs::write(src.join("revisions/r1/file.txt"), "one").unwrap();
    std::fs::write(src.join("LATEST"), "r1").unwrap();
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

    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/aws/scenario.py");
    let url = server.url.clone();
    let out = Command::new(clients.join("bin/python"))
        .arg(&script)
        .args([&url, "relay", &key, &secret, &read_key, &read_secret])
        .arg(&gates)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}\n{}\nserver: {}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
        server.output()
    );
    let seen: Value = serde_json::from_slice(&out.stdout).unwrap();
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
    // A disabled transition holds an execution until it is enabled.
    assert_eq!(seen["while_disabled"], "InProgress", "{seen}");
    assert_eq!(seen["after_enabling"], "Succeeded", "{seen}");
    assert_eq!(seen["missing_stage"], "StageNotFoundException", "{seen}");

    // The AWS CLI, with --endpoint-url.
    let aws = Command::new(clients.join("bin/aws"))
        .args([
            "codepipeline",
            "list-pipelines",
            "--endpoint-url",
            &url,
            "--output",
            "json",
        ])
        .env("AWS_ACCESS_KEY_ID", &key)
        .env("AWS_SECRET_ACCESS_KEY", &secret)
        .env("AWS_DEFAULT_REGION", "eu-west-1")
        .env_remove("AWS_PROFILE")
        .env("AWS_CONFIG_FILE", dir.path().join("no-config"))
        .env(
            "AWS_SHARED_CREDENTIALS_FILE",
            dir.path().join("no-credentials"),
        )
        .output()
        .unwrap();
    assert!(
        aws.status.success(),
        "{}",
        String::from_utf8_lossy(&aws.stderr)
    );
    let listed: Value = serde_json::from_slice(&aws.stdout).unwrap();
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

/// Runs `aws ARGS... --endpoint-url URL --output json` with `key`.
fn aws_cli(
    clients: &Path,
    dir: &Path,
    url: &str,
    key: &(String, String),
    args: &[&str],
) -> std::process::Output {
    Command::new(clients.join("bin/aws"))
        .args(args)
        .args(["--endpoint-url", url, "--output", "json"])
        .env("AWS_ACCESS_KEY_ID", &key.0)
        .env("AWS_SECRET_ACCESS_KEY", &key.1)
        .env("AWS_DEFAULT_REGION", "eu-west-1")
        .env_remove("AWS_PROFILE")
        .env("AWS_CONFIG_FILE", dir.join("no-config"))
        .env("AWS_SHARED_CREDENTIALS_FILE", dir.join("no-credentials"))
        .output()
        .unwrap()
}

#[tokio::test]
async fn codepipeline_declarations_are_created_run_approved_and_read_back() {
    let clients = clients();
    let dir = tempfile::tempdir().unwrap();
    // The repository a CodeCommit source names, mapped by the host.
    let repo = dir.path().join("app");
    std::fs::create_dir_all(&repo).unwrap();
    std::fs::write(repo.join("index.html"), "hello").unwrap();
    for args in [
        &["init", "-q", "-b", "main"][..],
        &["add", "."],
        &[
            "-c",
            "user.name=t",
            "-c",
            "user.email=t@example.com",
            "commit",
            "-qm",
            "one",
        ],
    ] {
        let status = Command::new("git")
            .args(args)
            .current_dir(&repo)
            .status()
            .unwrap();
        assert!(status.success(), "git {args:?}");
    }
    let state = dir.path().join("state");
    std::fs::create_dir_all(&state).unwrap();
    std::fs::write(
        state.join("aws-actions.yaml"),
        format!("repositories:\n  app: {}\n", repo.display()),
    )
    .unwrap();
    let server = ServerProcess::start(exe(), &state, &["--no-triggers"]);
    let admin = aws_key(&state, "release-admin", "admin");
    let operator = aws_key(&state, "release-bot", "operate");
    let out_file = dir.path().join("shipit.json");
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/aws/declarations.py");
    let url = server.url.clone();
    let out = Command::new(clients.join("bin/python"))
        .arg(&script)
        .args([&url, &admin.0, &admin.1, &operator.0, &operator.1])
        .arg(&out_file)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}\n{}\nserver: {}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
        server.output()
    );
    let seen: Value = serde_json::from_slice(&out.stdout).unwrap();
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
    let cli = aws_cli(
        &clients,
        dir.path(),
        &url,
        &admin,
        &["codepipeline", "get-pipeline", "--name", "shipit"],
    );
    assert!(
        cli.status.success(),
        "{}",
        String::from_utf8_lossy(&cli.stderr)
    );
    let got: Value = serde_json::from_slice(&cli.stdout).unwrap();
    assert_eq!(got["pipeline"]["version"], 3, "{got}");
    assert_eq!(
        got["pipeline"]["stages"][2]["actions"][0]["configuration"]["CustomData"],
        "Release #{SourceVariables.CommitId}?"
    );
    let cli = aws_cli(
        &clients,
        dir.path(),
        &url,
        &admin,
        &["codepipeline", "delete-pipeline", "--name", "shipit"],
    );
    assert!(
        cli.status.success(),
        "{}",
        String::from_utf8_lossy(&cli.stderr)
    );
    let cli = aws_cli(
        &clients,
        dir.path(),
        &url,
        &admin,
        &["codepipeline", "get-pipeline", "--name", "shipit"],
    );
    assert!(!cli.status.success());
    assert!(String::from_utf8_lossy(&cli.stderr).contains("PipelineNotFoundException"));
    server.terminate();
}

#[tokio::test]
async fn boto3_speaks_rpc_v2_cbor_and_json_to_the_same_api() {
    let clients = clients();
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("src");
    std::fs::create_dir_all(src.join("revisions/r1")).unwrap();
    std::fs::write(src.join("revisions/r1/file.txt"), "one").unwrap();
    std::fs::write(src.join("LATEST"), "r1").unwrap();
    let gates = dir.path().join("gates");
    std::fs::create_dir_all(&gates).unwrap();
    let state = dir.path().join("state");
    let server = ServerProcess::start(exe(), &state, &["--no-triggers"]);
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
      - name: Make
        provider: "{gate}"
        inputs: [Code]
        configuration: {{ Behavior: succeed, Gate: "#{{execution.id}}" }}
        grants: {{ paths: {{ gates: {{ path: "{gates}" }} }} }}
"##,
        source = fixtures::GATED_SOURCE,
        gate = fixtures::GATE,
        src = src.display(),
        gates = gates.display()
    );
    server.apply(&definition, dir.path()).await;
    let (cbor_key, cbor_secret) = aws_key(&state, "cbor-bot", "operate");
    let (json_key, json_secret) = aws_key(&state, "json-bot", "operate");

    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/aws/cbor.py");
    let out = Command::new(clients.join("bin/python"))
        .arg(&script)
        .args([&server.url, "relay", &cbor_key, &cbor_secret])
        .args([&json_key, &json_secret])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}\n{}\nserver: {}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
        server.output()
    );
    let seen: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(seen["cbor_protocol"], "smithy-rpc-v2-cbor", "{seen}");
    assert_eq!(seen["json_protocol"], "json", "{seen}");
    // The same calls, the same answers, in either protocol; timestamps
    // reach boto3 as datetimes (in CBOR only if they are tag 1).
    for protocol in ["cbor", "json"] {
        let got = &seen[protocol];
        assert_eq!(
            got["pipelines"],
            serde_json::json!(["relay"]),
            "{protocol}: {got}"
        );
        assert_eq!(got["status"], "Succeeded", "{protocol}: {got}");
        for member in ["updated", "start_time", "last_update_time"] {
            assert_eq!(got[member], "datetime", "{protocol} {member}: {got}");
        }
        assert_eq!(got["ordered"], true, "{protocol}: {got}");
        assert_eq!(got["transitions"], "ok", "{protocol}: {got}");
        assert_eq!(
            got["missing_pipeline"], "PipelineNotFoundException",
            "{protocol}: {got}"
        );
        assert_eq!(
            got["bad_secret"], "InvalidSignatureException",
            "{protocol}: {got}"
        );
    }
    assert_eq!(
        seen["cbor"]["unknown_operation"], "UnknownOperationException",
        "{seen}"
    );
    // What went over the wire: CBOR to the operation's path, answered in
    // CBOR; JSON 1.1 to `/`.
    let cbor_wire = seen["cbor_wire"].as_array().unwrap();
    assert!(cbor_wire.len() >= 8, "{seen}");
    for exchange in cbor_wire {
        let path = exchange["path"].as_str().unwrap();
        assert!(
            path.starts_with("/service/CodePipeline_20150709/operation/"),
            "{exchange}"
        );
        assert_eq!(exchange["content_type"], "application/cbor", "{exchange}");
        assert_eq!(exchange["smithy_protocol"], "rpc-v2-cbor", "{exchange}");
        assert_eq!(exchange["answer_protocol"], "rpc-v2-cbor", "{exchange}");
        // An operation without output is answered without a body.
        let no_output =
            path.ends_with("/EnableStageTransition") || path.ends_with("/DisableStageTransition");
        let content_type = &exchange["answer_content_type"];
        if no_output && exchange["status"] == 200 {
            assert!(content_type.is_null(), "{exchange}");
        } else {
            assert_eq!(content_type, "application/cbor", "{exchange}");
        }
    }
    assert!(
        cbor_wire.iter().any(|e| e["path"]
            == "/service/CodePipeline_20150709/operation/SluiceNoSuchOperation"
            && e["status"] == 400),
        "{seen}"
    );
    for exchange in seen["json_wire"].as_array().unwrap() {
        assert_eq!(exchange["path"], "/", "{exchange}");
        assert_eq!(
            exchange["content_type"], "application/x-amz-json-1.1",
            "{exchange}"
        );
        assert_eq!(
            exchange["answer_content_type"], "application/x-amz-json-1.1",
            "{exchange}"
        );
    }

    // A change made in CBOR is audited under its key's token, as in JSON.
    let (_, audit) = server.call("GET", "/audit", None).await;
    for actor in ["cbor-bot", "json-bot"] {
        assert!(
            audit
                .as_array()
                .unwrap()
                .iter()
                .any(|e| e["actor"] == actor && e["action"] == "StartPipelineExecution"),
            "{actor}: {audit}"
        );
    }
    server.terminate();
}

/// `sluice ARGS` on `state` (with the server's cache folder); its output.
fn sluice_ok(state: &Path, args: &[&str]) -> String {
    let out = Command::new(exe())
        .arg("--state-dir")
        .arg(state)
        .arg("--cache-dir")
        .arg(state.join("../cache"))
        .args(args)
        .output()
        .unwrap();
    let text =
        String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "sluice {args:?}: {text}");
    text
}

#[tokio::test]
async fn action_types_are_listed_read_and_custom_ones_created_updated_tagged_and_deleted() {
    let clients = clients();
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state");
    // A plugin installed: the built-in noop as acmeco/noop 1.0.0 (its
    // owner and version rewritten in place, as tests/plugin_cli.rs does).
    let noop = sluice::providers::builtins()
        .iter()
        .find(|b| b.name == "noop")
        .unwrap();
    let (from, to) = (b"sluice1.0.0Does nothing", b"acmeco1.0.0Does nothing");
    let mut bytes = noop.bytes.to_vec();
    let at = bytes.windows(from.len()).position(|w| w == from).unwrap();
    bytes[at..at + from.len()].copy_from_slice(to);
    let component = dir.path().join("acmeco-noop.wasm");
    std::fs::write(&component, bytes).unwrap();
    let package = dir.path().join("acmeco-noop");
    sluice_ok(
        &state,
        &[
            "plugin",
            "pack",
            component.to_str().unwrap(),
            "--out",
            package.to_str().unwrap(),
        ],
    );
    sluice_ok(&state, &["plugin", "install", package.to_str().unwrap()]);
    let plugin = "acmeco/noop@=1.0.0";

    let server = ServerProcess::start(exe(), &state, &["--no-triggers"]);
    let admin = aws_key(&state, "types-admin", "admin");
    let reader = aws_key(&state, "types-reader", "read");
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/aws/action_types.py");
    let out = Command::new(clients.join("bin/python"))
        .arg(&script)
        .args([
            &server.url,
            &admin.0,
            &admin.1,
            &reader.0,
            &reader.1,
            plugin,
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}\n{}\nserver: {}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
        server.output()
    );
    let seen: Value = serde_json::from_slice(&out.stdout).unwrap();
    eprintln!(
        "ListActionTypes: first call {}s (describes every built-in), second {}s",
        seen["first_list_seconds"], seen["second_list_seconds"]
    );
    let code = |key: &str| seen[key][0].as_str().unwrap_or("no error").to_string();

    // Every built-in, the plugin and the AWS types the host runs, each
    // under its owner.
    let all: Vec<&str> = seen["all"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    let builtins = sluice::providers::builtins();
    for builtin in builtins {
        let name = format!("builtin:{}", builtin.name);
        assert!(
            all.iter()
                .any(|id| id.starts_with("Custom/") && id.ends_with(&format!("/{name}/1"))),
            "{name}: {all:?}"
        );
    }
    for id in [
        "AWS/Source/CodeCommit/1",
        "ThirdParty/Source/GitHub/1",
        "AWS/Approval/Manual/1",
        "Custom/Build/acmeco/noop@=1.0.0/1",
        "Custom/Source/builtin:git/1",
    ] {
        assert!(all.contains(&id), "{id}: {all:?}");
    }
    assert_eq!(seen["all_has_next_token"], false);
    assert_eq!(seen["git"]["inputArtifactDetails"]["minimumCount"], 0);
    assert!(
        seen["git"]["actionConfigurationProperties"]
            .as_array()
            .unwrap()
            .iter()
            .any(|p| p["name"] == "Branch" && p["required"] == false && p["secret"] == false),
        "{seen}"
    );
    for owner in ["AWS", "ThirdParty", "Custom"] {
        assert_eq!(seen[format!("owners_{owner}")], serde_json::json!([owner]));
    }
    assert_eq!(seen["count_Custom"], builtins.len() + 1, "{seen}");
    assert_eq!(
        seen["count_AWS"].as_u64().unwrap()
            + seen["count_ThirdParty"].as_u64().unwrap()
            + seen["count_Custom"].as_u64().unwrap(),
        all.len() as u64
    );
    assert_eq!(code("bad_owner"), "ValidationException", "{seen}");
    assert_eq!(code("bad_token"), "InvalidNextTokenException", "{seen}");

    // GetActionType for the host's types: an executor nobody polls.
    let builtin = &seen["get_builtin"];
    assert_eq!(builtin["id"]["provider"], "builtin:git", "{builtin}");
    assert_eq!(builtin["executor"]["type"], "JobWorker");
    assert!(builtin["description"].as_str().unwrap().len() > 1);
    assert!(
        builtin["properties"][0]["optional"].is_boolean(),
        "{builtin}"
    );
    let aws = &seen["get_aws"];
    assert_eq!(aws["properties"][0]["name"], "RepositoryName", "{aws}");
    assert_eq!(aws["properties"][0]["optional"], false);
    assert!(aws["description"].as_str().unwrap().contains("builtin:git"));
    assert_eq!(seen["get_plugin"]["id"]["provider"], plugin);
    assert_eq!(code("get_unknown"), "ActionTypeNotFoundException", "{seen}");
    assert_eq!(code("get_wrong_category"), "ActionTypeNotFoundException");

    // Created with its tags; again as it is; not otherwise.
    assert_eq!(code("reader_creates"), "AccessDeniedException", "{seen}");
    let created = &seen["created"];
    assert_eq!(
        created["id"],
        serde_json::json!({"category": "Deploy", "owner": "Custom", "provider": "MyDeployer", "version": "1"})
    );
    assert_eq!(
        created["actionConfigurationProperties"][0]["type"],
        "String"
    );
    assert_eq!(
        seen["created_tags"],
        serde_json::json!([{"key": "team", "value": "ops"}])
    );
    assert_eq!(seen["created_again"], true, "{seen}");
    assert_eq!(code("created_otherwise"), "ValidationException", "{seen}");
    assert!(
        seen["created_otherwise"][1]
            .as_str()
            .unwrap()
            .contains("UpdateActionType"),
        "{seen}"
    );
    assert!(
        seen["too_many_inputs"][1]
            .as_str()
            .unwrap()
            .contains("inputArtifactDetails.maximumCount"),
        "{seen}"
    );
    for refused in ["two_queryable", "bad_category", "bad_provider"] {
        assert_eq!(code(refused), "ValidationException", "{refused}: {seen}");
    }
    assert_eq!(code("reserved_tag"), "InvalidTagsException", "{seen}");
    let custom = &seen["get_custom"];
    assert_eq!(
        custom["executor"]["configuration"]["jobWorkerExecutorConfiguration"]["pollingAccounts"],
        serde_json::json!(["000000000000"]),
        "{custom}"
    );
    assert_eq!(custom["properties"][0]["queryable"], true);
    assert_eq!(custom["properties"][1]["noEcho"], true);
    assert_eq!(
        custom["urls"]["entityUrlTemplate"],
        "https://deploy.example.com/envs/{Config:Environment}"
    );
    assert_eq!(seen["listed_custom"][0], seen["created"], "{seen}");

    // Tagged by its ARN.
    assert_eq!(
        seen["tags"],
        serde_json::json!([{"key": "team", "value": "ops"}])
    );
    assert_eq!(
        seen["tags_after"],
        serde_json::json!([{"key": "tier", "value": "1"}])
    );

    // Updated from its declaration; a property's type stays by name.
    let updated = &seen["updated"];
    assert_eq!(updated["description"], "Deploys to our fleet", "{updated}");
    assert_eq!(updated["properties"][1]["name"], "Region");
    assert_eq!(
        updated["urls"],
        serde_json::json!({"configurationUrl": "https://deploy.example.com/setup"})
    );
    assert_eq!(updated["outputArtifactDetails"]["maximumCount"], 1);
    let listed = &seen["updated_listed"];
    assert_eq!(
        listed["settings"],
        serde_json::json!({"thirdPartyConfigurationUrl": "https://deploy.example.com/setup"})
    );
    assert_eq!(
        listed["actionConfigurationProperties"][0]["type"], "String",
        "{listed}"
    );
    assert!(
        listed["actionConfigurationProperties"][1]
            .get("type")
            .is_none()
    );
    for refused in ["update_builtin", "update_aws"] {
        assert_eq!(code(refused), "ValidationException", "{refused}: {seen}");
        assert!(
            seen[refused][1]
                .as_str()
                .unwrap()
                .contains("defined by the host"),
            "{seen}"
        );
    }
    assert_eq!(code("update_unknown"), "ActionTypeNotFoundException");
    assert_eq!(code("update_lambda"), "ValidationException", "{seen}");

    // Pages of 100, each type once.
    let sizes: Vec<u64> = seen["page_sizes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_u64().unwrap())
        .collect();
    assert!(sizes.len() >= 2 && sizes[0] == 100, "{sizes:?}");
    assert_eq!(seen["paged_unique"], true);
    assert_eq!(seen["paged_pagers"], 100);
    assert_eq!(seen["paged_total"], all.len() + 101, "{seen}");

    // Deleted with its tags.
    assert_eq!(code("reader_deletes"), "AccessDeniedException");
    assert_eq!(code("get_deleted"), "ActionTypeNotFoundException");
    assert_eq!(code("tags_deleted"), "ResourceNotFoundException", "{seen}");
    assert!(seen["delete_again"].is_null(), "{seen}");
    assert_eq!(code("delete_builtin"), "ValidationException");
    assert_eq!(seen["recreated_tags"], serde_json::json!([]));

    // Admin changes are audited.
    let (_, audit) = server.call("GET", "/audit", None).await;
    assert!(
        audit
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["actor"] == "types-admin" && e["action"] == "CreateCustomActionType"),
        "{audit}"
    );
    server.terminate();
}

#[tokio::test]
async fn webhooks_put_through_boto3_start_their_pipeline_when_called() {
    let clients = clients();
    let dir = tempfile::tempdir().unwrap();
    // The repository the CodeCommit source names, mapped by the host.
    let repo = dir.path().join("app");
    std::fs::create_dir_all(&repo).unwrap();
    std::fs::write(repo.join("index.html"), "hello").unwrap();
    for args in [
        &["init", "-q", "-b", "main"][..],
        &["add", "."],
        &[
            "-c",
            "user.name=t",
            "-c",
            "user.email=t@example.com",
            "commit",
            "-qm",
            "one",
        ],
    ] {
        let status = Command::new("git")
            .args(args)
            .current_dir(&repo)
            .status()
            .unwrap();
        assert!(status.success(), "git {args:?}");
    }
    let state = dir.path().join("state");
    std::fs::create_dir_all(&state).unwrap();
    std::fs::write(
        state.join("aws-actions.yaml"),
        format!("repositories:\n  app: {}\n", repo.display()),
    )
    .unwrap();
    let server = ServerProcess::start(exe(), &state, &["--no-triggers"]);
    let (key, secret) = aws_key(&state, "hook-admin", "admin");
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/aws/webhooks.py");
    let out = Command::new(clients.join("bin/python"))
        .arg(&script)
        .args([&server.url, &key, &secret])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}\n{}\nserver: {}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
        server.output()
    );
    let seen: Value = serde_json::from_slice(&out.stdout).unwrap();
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
