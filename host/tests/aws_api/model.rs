//! Sluice's side of the API checked against botocore's model of it (as
//! the installed clients have it): the operations routed, the timestamp
//! and no-output tables of the CBOR protocol, and declarations converted
//! from Sluice's definitions, member by member.

use sluice::model::codepipeline;
use sluice_tests::aws::{mismatches, service_model};
use std::collections::BTreeSet;

#[test]
fn every_operation_of_the_model_is_routed_and_no_other() {
    let model = service_model();
    let in_model: BTreeSet<&str> = model["operations"]
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    let routed: BTreeSet<&str> = sluice::aws::operations::names().collect();
    assert_eq!(routed, in_model);
    assert_eq!(routed.len(), 44);
}

#[test]
fn the_cbor_tables_are_the_models() {
    let model = service_model();
    let shapes = model["shapes"].as_object().unwrap();
    // Every member whose shape is a timestamp, by name.
    let mut timestamps = BTreeSet::new();
    for shape in shapes.values() {
        for (name, member) in shape["members"].as_object().into_iter().flatten() {
            if shapes[member["shape"].as_str().unwrap()]["type"] == "timestamp" {
                timestamps.insert(name.as_str());
            }
        }
    }
    let table: BTreeSet<&str> = sluice::aws::cbor::TIMESTAMP_MEMBERS
        .iter()
        .copied()
        .collect();
    assert_eq!(table, timestamps);
    let no_output: BTreeSet<&str> = model["operations"]
        .as_object()
        .unwrap()
        .iter()
        .filter(|(_, op)| op.get("output").is_none())
        .map(|(name, _)| name.as_str())
        .collect();
    let table: BTreeSet<&str> = sluice::aws::cbor::NO_OUTPUT.iter().copied().collect();
    assert_eq!(table, no_output);
}

#[test]
fn declarations_of_sluice_definitions_match_the_model() {
    let model = service_model();
    let yaml = r#"
name: full
execution_mode: queued
variables:
  - { name: Tag, default: latest, description: what to tag }
  - { name: Who }
stages:
  - name: Source
    actions:
      - { name: App, provider: "aws:Source/AWS/CodeCommit/1", outputs: [Code], namespace: Src,
          configuration: { RepositoryName: app, BranchName: main } }
  - name: Build
    actions:
      - { name: Make, provider: "builtin:command", inputs: [Code], outputs: [Out], timeout: 90s,
          configuration: { Build: make } }
      - { name: Lint, provider: "acme/lint@^1", run_order: 2, inputs: [Code] }
  - name: Ship
    actions:
      - { name: Publish, provider: "aws:Deploy/Custom/Publisher/1", inputs: [Out],
          configuration: { Target: prod } }
triggers:
  - { source: App, branches: { include: [main], exclude: [wip/*] }, file_paths: { include: ["src/**"] } }
"#;
    let (pipeline, _) =
        sluice::model::parse::parse_with_map(yaml, sluice::model::Format::Yaml).unwrap();
    use sluice::contract::Category;
    let categories = vec![
        vec![Category::Source],
        vec![Category::Build, Category::Test],
        vec![Category::Deploy],
    ];
    let host = codepipeline::Host {
        role_arn: "arn:aws:iam::000000000000:role/sluice-host".into(),
        artifact_location: "sluice-local".into(),
    };
    let declaration = codepipeline::to_declaration(&pipeline, &categories, 3, &host);
    let problems = mismatches(&model, "PipelineDeclaration", &declaration);
    assert!(problems.is_empty(), "{problems:#?}\n{declaration:#}");
    // And back: unchanged once what CodePipeline cannot say (the 90 s
    // timeout, shown as 5 minutes) is kept from the definition.
    let mut back = codepipeline::from_declaration(&declaration).unwrap();
    assert_eq!(back.stages[1].actions[0].timeout.as_deref(), Some("5m"));
    codepipeline::keep_host_settings(&pipeline, &mut back);
    assert_eq!(back, pipeline);
    // The checker itself finds what is wrong.
    let mut wrong = declaration.clone();
    wrong["stages"][0]["actions"][0]["runOrder"] = serde_json::json!("1");
    wrong["executionMode"] = serde_json::json!("SOMETIMES");
    wrong["colour"] = serde_json::json!("red");
    assert_eq!(mismatches(&model, "PipelineDeclaration", &wrong).len(), 3);
}
