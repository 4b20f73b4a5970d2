use super::*;

fn deployer() -> Value {
    json!({
        "category": "Deploy",
        "provider": "MyDeployer",
        "version": "1",
        "settings": {
            "entityUrlTemplate": "https://deploy.example.com/{Config:Environment}",
            "executionUrlTemplate": "https://deploy.example.com/runs/{ExternalExecutionId}",
        },
        "configurationProperties": [
            {"name": "Environment", "required": true, "key": true, "secret": false,
             "queryable": true, "description": "Where to deploy", "type": "String"},
            {"name": "Token", "required": false, "key": false, "secret": true},
        ],
        "inputArtifactDetails": {"minimumCount": 1, "maximumCount": 1},
        "outputArtifactDetails": {"minimumCount": 0, "maximumCount": 0},
    })
}

/// The member a refused input names, and its error code.
fn refusal(input: &Value) -> (String, &'static str) {
    let e = from_create_input(input).unwrap_err();
    let member = e.message.split('\'').nth(1).unwrap_or_default().to_string();
    (member, e.code)
}

/// `input` with the member at `pointer` set to `value`.
fn with(mut input: Value, pointer: &str, value: Value) -> Value {
    let (parent, last) = pointer.rsplit_once('/').unwrap();
    match input.pointer_mut(parent).unwrap() {
        Value::Array(items) => items[last.parse::<usize>().unwrap()] = value,
        object => object[last] = value,
    }
    input
}

#[test]
fn a_custom_action_type_is_kept_in_the_action_type_shape() {
    let d = from_create_input(&deployer()).unwrap();
    assert_eq!(d.id.owner, "Custom");
    assert_eq!(d.id.resource_name(), "Custom/Deploy/MyDeployer/1");
    assert_eq!(
        d.id.arn(),
        "arn:aws:codepipeline:local:000000000000:actiontype:Custom/Deploy/MyDeployer/1"
    );
    let shape = d.action_type();
    assert_eq!(shape["id"]["provider"], "MyDeployer");
    assert_eq!(shape["actionConfigurationProperties"][0]["type"], "String");
    assert_eq!(
        shape["actionConfigurationProperties"][1]["queryable"],
        false
    );
    assert_eq!(shape["inputArtifactDetails"]["maximumCount"], 1);
    assert!(shape.get("executor").is_none(), "{shape}");
    // What the store keeps reads back the same.
    let text = serde_json::to_string(&d).unwrap();
    assert_eq!(serde_json::from_str::<Definition>(&text).unwrap(), d);
    // As GetActionType answers it.
    let decl = d.declaration();
    assert_eq!(decl["properties"][0]["optional"], false);
    assert_eq!(decl["properties"][1]["noEcho"], true);
    assert!(decl["properties"][0].get("type").is_none());
    assert_eq!(
        decl["urls"]["entityUrlTemplate"],
        "https://deploy.example.com/{Config:Environment}"
    );
    assert_eq!(decl["executor"]["type"], "JobWorker");
    assert_eq!(
        decl["executor"]["configuration"]["jobWorkerExecutorConfiguration"]["pollingAccounts"],
        json!([ACCOUNT])
    );
}

#[test]
fn create_inputs_are_refused_by_the_models_rules_naming_the_member() {
    let v = ValidationCase::new;
    for case in [
        v("/category", json!("Lint"), "category"),
        v("/provider", json!("my deployer"), "provider"),
        v("/provider", json!("x".repeat(36)), "provider"),
        v("/version", json!("1234567890"), "version"),
        v("/version", json!(""), "version"),
        v(
            "/inputArtifactDetails/maximumCount",
            json!(6),
            "inputArtifactDetails.maximumCount",
        ),
        v(
            "/outputArtifactDetails/minimumCount",
            json!(-1),
            "outputArtifactDetails.minimumCount",
        ),
        v(
            "/inputArtifactDetails",
            json!({"minimumCount": 2, "maximumCount": 1}),
            "inputArtifactDetails.minimumCount",
        ),
        v(
            "/outputArtifactDetails",
            Value::Null,
            "outputArtifactDetails",
        ),
        v(
            "/configurationProperties/0/name",
            json!("x".repeat(51)),
            "configurationProperties.1.member.name",
        ),
        v(
            "/configurationProperties/1/secret",
            Value::Null,
            "configurationProperties.2.member.secret",
        ),
        v(
            "/configurationProperties/0/description",
            json!("d".repeat(161)),
            "configurationProperties.1.member.description",
        ),
        v(
            "/configurationProperties/0/type",
            json!("List"),
            "configurationProperties.1.member.type",
        ),
        // Names are unique.
        v(
            "/configurationProperties/1/name",
            json!("Environment"),
            "configurationProperties.2.member.name",
        ),
        // At most one queryable property, required and not secret.
        v(
            "/configurationProperties/1/queryable",
            json!(true),
            "configurationProperties",
        ),
        v(
            "/configurationProperties/0/required",
            json!(false),
            "configurationProperties.1.member.queryable",
        ),
        // Templates name required, non-secret properties only.
        v(
            "/settings/entityUrlTemplate",
            json!("https://x/{Config:Token}"),
            "settings.entityUrlTemplate",
        ),
        v(
            "/settings/revisionUrlTemplate",
            json!(""),
            "settings.revisionUrlTemplate",
        ),
    ] {
        let input = with(deployer(), case.pointer, case.value.clone());
        assert_eq!(
            refusal(&input),
            (case.member.to_string(), "ValidationException"),
            "{} = {}",
            case.pointer,
            case.value
        );
    }
    let mut many = deployer();
    many["configurationProperties"] = (0..11)
        .map(|i| json!({"name": format!("P{i}"), "required": false, "key": false, "secret": false}))
        .collect();
    assert_eq!(
        refusal(&many),
        ("configurationProperties".into(), "ValidationException")
    );
    // Counts of 0 to 5, none given, no properties: all fine.
    let mut least = deployer();
    least.as_object_mut().unwrap().remove("settings");
    least
        .as_object_mut()
        .unwrap()
        .remove("configurationProperties");
    least["inputArtifactDetails"] = json!({"minimumCount": 0, "maximumCount": 5});
    assert!(from_create_input(&least).is_ok());
}

struct ValidationCase {
    pointer: &'static str,
    value: Value,
    member: &'static str,
}

impl ValidationCase {
    fn new(pointer: &'static str, value: Value, member: &'static str) -> ValidationCase {
        ValidationCase {
            pointer,
            value,
            member,
        }
    }
}

fn declaration_of(d: &Definition) -> Value {
    d.declaration()
}

#[test]
fn an_update_replaces_the_definition_from_a_declaration() {
    let old = from_create_input(&deployer()).unwrap();
    let mut decl = declaration_of(&old);
    decl["description"] = json!("Deploys to our fleet");
    decl["properties"] = json!([
        {"name": "Environment", "optional": false, "key": true, "noEcho": false, "queryable": true},
        {"name": "Region", "optional": true, "key": false, "noEcho": false},
    ]);
    decl["inputArtifactDetails"] = json!({"minimumCount": 0, "maximumCount": 10});
    decl["urls"] = json!({"configurationUrl": "https://deploy.example.com/setup"});
    decl["executor"]["jobTimeout"] = json!(600);
    let m = Members {
        value: &decl,
        path: "actionType",
    };
    let new = from_declaration(m, old.id.clone(), &old).unwrap();
    // A property's type stays with its name; a new one has none.
    assert_eq!(
        new.action_configuration_properties[0].kind.as_deref(),
        Some("String")
    );
    assert_eq!(new.action_configuration_properties[1].kind, None);
    assert!(!new.action_configuration_properties[1].required);
    assert_eq!(new.input_artifact_details, Counts::new(0, 10));
    assert_eq!(
        new.settings.third_party_configuration_url.as_deref(),
        Some("https://deploy.example.com/setup")
    );
    assert_eq!(new.settings.entity_url_template, None);
    assert_eq!(new.description.as_deref(), Some("Deploys to our fleet"));
    assert_eq!(new.executor.as_ref().unwrap()["jobTimeout"], 600);
    let back = new.declaration();
    assert_eq!(back["description"], "Deploys to our fleet");
    assert_eq!(back["properties"][1]["optional"], true);

    let refused = |pointer: &str, value: Value| {
        let decl = with(decl.clone(), pointer, value);
        let m = Members {
            value: &decl,
            path: "actionType",
        };
        let e = from_declaration(m, old.id.clone(), &old).unwrap_err();
        (
            e.code,
            e.message.split('\'').nth(1).unwrap_or_default().to_string(),
        )
    };
    assert_eq!(
        refused("/executor/type", json!("Lambda")),
        ("ValidationException", "actionType.executor.type".into())
    );
    assert_eq!(
        refused(
            "/executor/configuration/jobWorkerExecutorConfiguration",
            json!({"pollingAccounts": ["12345"]})
        ),
        (
            "ValidationException",
            "actionType.executor.configuration.jobWorkerExecutorConfiguration.pollingAccounts.1.member"
                .into()
        )
    );
    assert_eq!(
        refused("/executor/jobTimeout", json!(30)),
        (
            "ValidationException",
            "actionType.executor.jobTimeout".into()
        )
    );
    assert_eq!(
        refused("/outputArtifactDetails/maximumCount", json!(11)),
        (
            "ValidationException",
            "actionType.outputArtifactDetails.maximumCount".into()
        )
    );
    assert_eq!(
        refused("/properties/1/queryable", json!(true)),
        ("ValidationException", "actionType.properties".into())
    );
    assert_eq!(
        refused("/permissions", json!({"allowedAccounts": ["me"]})),
        (
            "ValidationException",
            "actionType.permissions.allowedAccounts.1.member".into()
        )
    );
}

#[test]
fn every_aws_type_the_host_runs_has_its_documented_configuration() {
    let listed = aws_types();
    assert_eq!(listed.len(), crate::aws_types::SUPPORTED.len());
    for (name, _) in crate::aws_types::SUPPORTED {
        assert!(
            AWS_TYPES.iter().any(|(n, ..)| n == name),
            "{name} needs its properties in AWS_TYPES"
        );
    }
    let github = listed.iter().find(|d| d.id.provider == "GitHub").unwrap();
    assert_eq!(github.id.owner, "ThirdParty");
    assert!(
        github
            .action_configuration_properties
            .iter()
            .any(|p| p.name == "OAuthToken" && p.secret)
    );
    assert_eq!(github.output_artifact_details, Counts::new(1, 1));
    // The host runs it: GetActionType shows an executor nobody polls.
    assert_eq!(
        github.declaration()["executor"],
        json!({"configuration": {"jobWorkerExecutorConfiguration": {}}, "type": "JobWorker"})
    );
}

#[test]
fn url_templates_name_properties_as_config() {
    assert_eq!(
        config_references("https://x/{Config:A}/{ExternalExecutionId}?b={Config:B}"),
        vec!["A", "B"]
    );
    assert!(config_references("https://x/{Config:").is_empty());
}
