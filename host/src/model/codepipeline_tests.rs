use super::*;

fn host() -> Host {
    Host {
        role_arn: "arn:aws:iam::000000000000:role/sluice".into(),
        artifact_location: "sluice-local".into(),
    }
}

/// A declaration as `aws codepipeline get-pipeline` prints one, with every
/// member Sluice understands.
fn declaration() -> Value {
    json!({
        "name": "release",
        "roleArn": "arn:aws:iam::000000000000:role/sluice",
        "artifactStore": {"type": "S3", "location": "sluice-local"},
        "stages": [
            {"name": "Source", "actions": [{
                "name": "App",
                "actionTypeId": {"category": "Source", "owner": "AWS", "provider": "CodeCommit", "version": "1"},
                "runOrder": 1,
                "configuration": {"RepositoryName": "app", "BranchName": "main"},
                "inputArtifacts": [],
                "outputArtifacts": [{"name": "SourceOut"}],
                "namespace": "SourceVariables"
            }]},
            {"name": "Build", "actions": [{
                "name": "Compile",
                "actionTypeId": {"category": "Build", "owner": "AWS", "provider": "CodeBuild", "version": "1"},
                "runOrder": 1,
                "configuration": {"ProjectName": "app", "EnvironmentVariables": "[{\"name\":\"A\",\"value\":\"#{SourceVariables.CommitId}\"}]"},
                "inputArtifacts": [{"name": "SourceOut"}],
                "outputArtifacts": [{"name": "BuildOut"}],
                "timeoutInMinutes": 30
            }, {
                "name": "Lint",
                "actionTypeId": {"category": "Test", "owner": "Custom", "provider": "builtin:test-command", "version": "1"},
                "runOrder": 2,
                "configuration": {"Build": "make lint"},
                "inputArtifacts": [{"name": "SourceOut"}],
                "outputArtifacts": []
            }]},
            {"name": "Approve", "actions": [{
                "name": "Release",
                "actionTypeId": {"category": "Approval", "owner": "AWS", "provider": "Manual", "version": "1"},
                "runOrder": 1,
                "configuration": {"CustomData": "ship #{variables.Tag}?"},
                "inputArtifacts": [],
                "outputArtifacts": []
            }]},
            {"name": "Deploy", "actions": [{
                "name": "Publish",
                "actionTypeId": {"category": "Deploy", "owner": "Custom", "provider": "Publisher", "version": "2"},
                "runOrder": 1,
                "configuration": {},
                "inputArtifacts": [{"name": "BuildOut"}],
                "outputArtifacts": []
            }]}
        ],
        "version": 3,
        "executionMode": "QUEUED",
        "pipelineType": "V2",
        "variables": [{"name": "Tag", "defaultValue": "latest", "description": "what to tag"}],
        "triggers": [{"providerType": "CodeStarSourceConnection", "gitConfiguration": {
            "sourceActionName": "App",
            "push": [{"branches": {"includes": ["main", "release/*"]}, "filePaths": {"excludes": ["docs/**"]}}]
        }}]
    })
}

fn categories(pipeline: &Pipeline) -> Vec<Vec<Category>> {
    // What the providers would say: the category each action declares.
    pipeline
        .stages
        .iter()
        .map(|s| {
            s.actions
                .iter()
                .map(|a| match a.provider.as_str() {
                    "builtin:test-command" => Category::Test,
                    _ => Category::Build,
                })
                .collect()
        })
        .collect()
}

#[test]
fn a_declaration_converts_to_sluice_and_back_unchanged() {
    let original = declaration();
    let pipeline = from_declaration(&original).unwrap();
    assert_eq!(pipeline.execution_mode, ExecutionMode::Queued);
    let compile = &pipeline.stages[1].actions[0];
    assert_eq!(compile.provider, "aws:Build/AWS/CodeBuild/1");
    assert_eq!(compile.timeout.as_deref(), Some("30m"));
    assert_eq!(
        pipeline.stages[1].actions[1].provider,
        "builtin:test-command"
    );
    assert_eq!(pipeline.stages[1].actions[1].run_order, 2);
    assert_eq!(
        pipeline.stages[3].actions[0].provider,
        "aws:Deploy/Custom/Publisher/2"
    );
    assert_eq!(pipeline.triggers[0].source, "App");
    assert_eq!(
        pipeline.triggers[0].branches.as_ref().unwrap().include,
        ["main", "release/*"]
    );
    let back = to_declaration(&pipeline, &categories(&pipeline), 3, &host());
    assert_eq!(back, original, "{back:#}");
}

#[test]
fn a_get_pipeline_document_is_found_and_recognised() {
    let document = json!({"pipeline": declaration(), "metadata": {"pipelineArn": "x"}});
    assert!(is_declaration(&document));
    assert_eq!(declaration_of(&document), &declaration());
    let sluice = json!({"name": "p", "stages": [{"name": "S", "actions": [{"name": "A", "provider": "builtin:noop"}]}]});
    assert!(!is_declaration(&sluice));
}

#[test]
fn members_sluice_does_not_understand_are_refused_by_name() {
    type Change = Box<dyn Fn(&mut Value)>;
    let cases: Vec<(&str, Change)> = vec![
        (
            "pipeline.stages[1].actions[0].region",
            Box::new(|d| d["stages"][1]["actions"][0]["region"] = json!("eu-west-1")),
        ),
        (
            "pipeline.stages[2].onFailure",
            Box::new(|d| d["stages"][2]["onFailure"] = json!({"result": "ROLLBACK"})),
        ),
        (
            "pipeline.stages[0].blockers",
            Box::new(|d| d["stages"][0]["blockers"] = json!([{"name": "b", "type": "Schedule"}])),
        ),
        (
            "pipeline.artifactStores",
            Box::new(|d| {
                d["artifactStores"] = json!({"eu-west-1": {"type": "S3", "location": "b"}})
            }),
        ),
        (
            "pipeline.triggers[0].gitConfiguration.pullRequest",
            Box::new(|d| d["triggers"][0]["gitConfiguration"]["pullRequest"] = json!([{}])),
        ),
        (
            "pipeline.triggers[0].gitConfiguration.push[0].tags",
            Box::new(|d| {
                d["triggers"][0]["gitConfiguration"]["push"][0]["tags"] =
                    json!({"includes": ["v*"]})
            }),
        ),
        (
            "pipeline.stages[1].actions[0].actionTypeId",
            Box::new(|d| d["stages"][1]["actions"][0]["actionTypeId"]["owner"] = json!("Someone")),
        ),
        (
            "pipeline.stages[1].actions[0].timeoutInMinutes",
            Box::new(|d| d["stages"][1]["actions"][0]["timeoutInMinutes"] = json!(2)),
        ),
        (
            "pipeline.stages[1].actions[0].configuration.ProjectName",
            Box::new(|d| d["stages"][1]["actions"][0]["configuration"]["ProjectName"] = json!(7)),
        ),
        (
            "pipeline.stages[1].actions[0].colour",
            Box::new(|d| d["stages"][1]["actions"][0]["colour"] = json!("red")),
        ),
        (
            "pipeline.executionMode",
            Box::new(|d| d["executionMode"] = json!("SOMETIMES")),
        ),
        (
            "pipeline.stages[0].actions[0].name",
            Box::new(|d| d["stages"][0]["actions"][0]["name"] = json!("")),
        ),
    ];
    for (field, change) in cases {
        let mut d = declaration();
        change(&mut d);
        let refused = from_declaration(&d).unwrap_err();
        assert_eq!(refused.field, field, "{refused}");
        assert!(!refused.message.is_empty());
    }
}

#[test]
fn aws_infrastructure_members_are_accepted_and_answered_as_the_hosts() {
    let mut d = declaration();
    d["roleArn"] = json!("arn:aws:iam::123456789012:role/Pipeline");
    d["pipelineType"] = json!("V1");
    d["stages"][1]["actions"][0]["roleArn"] = json!("arn:aws:iam::123456789012:role/Build");
    let pipeline = from_declaration(&d).unwrap();
    let back = to_declaration(&pipeline, &categories(&pipeline), 3, &host());
    assert_eq!(back["roleArn"], host().role_arn);
    assert_eq!(back["pipelineType"], "V2");
    assert!(back["stages"][1]["actions"][0].get("roleArn").is_none());
}

#[test]
fn aws_references_parse_and_are_checked() {
    let id = ActionTypeId::from_reference("aws:Build/AWS/CodeBuild/1")
        .unwrap()
        .unwrap();
    assert_eq!(id.provider, "CodeBuild");
    assert_eq!(id.reference(), "aws:Build/AWS/CodeBuild/1");
    assert!(ActionTypeId::from_reference("builtin:git").is_none());
    assert!(
        ActionTypeId::from_reference("aws:Build/AWS/CodeBuild")
            .unwrap()
            .is_err()
    );
    assert!(
        ActionTypeId::from_reference("aws:Brew/AWS/CodeBuild/1")
            .unwrap()
            .is_err()
    );
    assert!(
        ActionTypeId::from_reference("aws:Build/AWS/Code Build/1")
            .unwrap()
            .is_err()
    );
}

#[test]
fn settings_codepipeline_cannot_say_are_kept_when_a_declaration_comes_back() {
    let yaml = r#"
name: p
stages:
  - name: Source
    actions:
      - name: Src
        provider: builtin:directory
        outputs: [Code]
        grants: { paths: { source: { path: /srv/src } } }
  - name: Build
    actions:
      - name: Make
        provider: builtin:command
        inputs: [Code]
        timeout: 90s
        memory: 256MiB
        configuration: { Build: make }
        grants: { process: { programs: [sh] } }
      - name: Other
        provider: builtin:noop
triggers:
  - { source: Src, poll: 5m }
retention: { executions: 10 }
notifications:
  - { url: "https://hooks.example/x" }
"#;
    let (current, _) =
        crate::model::parse::parse_with_map(yaml, crate::model::Format::Yaml).unwrap();
    let categories = vec![
        vec![Category::Source],
        vec![Category::Build, Category::Build],
    ];
    let shown = to_declaration(&current, &categories, 1, &host());
    assert_eq!(shown["stages"][1]["actions"][0]["timeoutInMinutes"], 5);
    assert_eq!(
        shown["stages"][1]["actions"][0]["actionTypeId"],
        json!({"category": "Build", "owner": "Custom", "provider": "builtin:command", "version": "1"})
    );
    // Round trip through the AWS view: nothing the host granted is lost.
    let mut back = from_declaration(&shown).unwrap();
    assert!(back.stages[1].actions[0].grants.is_empty());
    keep_host_settings(&current, &mut back);
    assert_eq!(back, current);
    // An action whose provider changed keeps nothing.
    let mut changed = shown.clone();
    changed["stages"][1]["actions"][0]["actionTypeId"]["provider"] = json!("builtin:test-command");
    let mut back = from_declaration(&changed).unwrap();
    keep_host_settings(&current, &mut back);
    assert!(back.stages[1].actions[0].grants.is_empty());
    assert_eq!(back.stages[1].actions[0].memory, None);
}
