//! Action types: listed, read, and custom ones made, changed and deleted.

use super::*;

#[tokio::test]
async fn action_types_are_listed_read_and_custom_ones_created_updated_tagged_and_deleted() {
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
    let seen = run_script(
        &server,
        "action_types.py",
        &[
            &server.url,
            &admin.0,
            &admin.1,
            &reader.0,
            &reader.1,
            plugin,
        ],
    );
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
