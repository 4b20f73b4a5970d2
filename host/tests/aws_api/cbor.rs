//! The Smithy RPC v2 CBOR protocol beside AWS JSON 1.1.

use super::*;

#[tokio::test]
async fn boto3_speaks_rpc_v2_cbor_and_json_to_the_same_api() {
    let dir = tempfile::tempdir().unwrap();
    let src = sluice_tests::gated_source_folder(dir.path(), &[("file.txt", "one")]);
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

    let seen = run_script(
        &server,
        "cbor.py",
        &[
            &server.url,
            "relay",
            &cbor_key,
            &cbor_secret,
            &json_key,
            &json_secret,
        ],
    );
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
