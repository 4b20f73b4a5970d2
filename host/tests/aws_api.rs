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
        ("unsupported", "UnsupportedOperationException"),
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
