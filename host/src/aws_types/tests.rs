use super::*;

fn pipeline(actions: &str) -> Pipeline {
    let yaml = format!(
        "name: p\nstages:\n  - name: Source\n    actions:\n{actions}\n  - name: Approve\n    actions:\n      - name: Ok\n        provider: aws:Approval/AWS/Manual/1\n        configuration: {{ CustomData: look, NotificationArn: arn:aws:sns:x }}\n"
    );
    crate::model::parse::parse_with_map(&yaml, crate::model::Format::Yaml)
        .unwrap()
        .0
}

fn mapping() -> Mapping {
    serde_yaml::from_str("repositories:\n  app: /srv/git/app\n  org/app: /srv/git/org-app\n")
        .unwrap()
}

#[test]
fn git_sources_run_on_the_repositories_the_host_maps() {
    for (source, folder) in [
        (
            "{ provider: aws:Source/AWS/CodeCommit/1, configuration: { RepositoryName: app, BranchName: main } }",
            "/srv/git/app",
        ),
        (
            "{ provider: aws:Source/AWS/CodeStarSourceConnection/1, configuration: { ConnectionArn: arn:c, FullRepositoryId: org/app, BranchName: main } }",
            "/srv/git/org-app",
        ),
        (
            "{ provider: aws:Source/ThirdParty/GitHub/1, configuration: { Owner: org, Repo: app, Branch: main, OAuthToken: x } }",
            "/srv/git/org-app",
        ),
    ] {
        let p = pipeline(&format!(
            "      - {{ name: App, outputs: [Code], {} ",
            &source[2..]
        ));
        let (effective, adapted, problems) = adapt(&p, &mapping());
        assert!(problems.is_empty(), "{problems:?}");
        assert_eq!(adapted, vec![vec![true], vec![true]]);
        let action = &effective.stages[0].actions[0];
        assert_eq!(action.provider, "builtin:git");
        assert_eq!(action.configuration["Branch"], "main");
        assert_eq!(action.grants.paths["repo"].path, folder);
        assert_eq!(action.grants.paths["repo"].access, PathAccess::ReadOnly);
        let approve = &effective.stages[1].actions[0];
        assert_eq!(approve.provider, "builtin:manual");
        // The SNS topic goes with the approval's notifications.
        assert_eq!(approve.configuration["CustomData"], "look");
        assert_eq!(approve.configuration["NotificationArn"], "arn:aws:sns:x");
        // The definition itself is left as written.
        assert!(p.stages[0].actions[0].provider.starts_with("aws:"));
    }
}

#[test]
fn what_the_host_does_not_map_is_refused_naming_it() {
    let cases = [
        (
            "{ provider: aws:Source/AWS/CodeCommit/1, configuration: { RepositoryName: other, BranchName: main } }",
            "stages[0].actions[0].provider",
            "repository `other`",
        ),
        (
            "{ provider: aws:Source/AWS/CodeCommit/1, configuration: { RepositoryName: app } }",
            "stages[0].actions[0].configuration.BranchName",
            "requires `BranchName`",
        ),
        (
            "{ provider: aws:Source/AWS/CodeCommit/1, configuration: { RepositoryName: app, BranchName: main, Colour: red } }",
            "stages[0].actions[0].configuration.Colour",
            "no configuration property",
        ),
        (
            "{ provider: aws:Source/AWS/S3/1, configuration: { S3Bucket: b } }",
            "stages[0].actions[0].provider",
            "Approval/AWS/Manual/1",
        ),
        (
            "{ provider: aws:Source/AWS/CodeCommit/1, configuration: { RepositoryName: app, BranchName: main }, grants: { process: { programs: [sh] } } }",
            "stages[0].actions[0].grants",
            "cannot grant itself",
        ),
    ];
    for (source, path, words) in cases {
        let p = pipeline(&format!(
            "      - {{ name: App, outputs: [Code], {} ",
            &source[2..]
        ));
        let (_, _, problems) = adapt(&p, &mapping());
        assert_eq!(problems.len(), 1, "{problems:?}");
        assert_eq!(problems[0].path, path);
        assert!(
            problems[0].message.contains(words),
            "{}",
            problems[0].message
        );
    }
}

/// The one action `action` (YAML flow mapping, with a name) adapted
/// with `mapping`, or its problems.
fn adapted(action: &str, mapping: &str) -> Result<Action, Vec<Diagnostic>> {
    let yaml = format!("name: p\nstages:\n  - name: S\n    actions:\n      - {action}\n");
    let p = crate::model::parse::parse_with_map(&yaml, crate::model::Format::Yaml)
        .unwrap()
        .0;
    let mapping: Mapping = serde_yaml::from_str(mapping).unwrap();
    let (effective, flags, problems) = adapt(&p, &mapping);
    assert_eq!(flags, vec![vec![true]]);
    if problems.is_empty() {
        Ok(effective.stages[0].actions[0].clone())
    } else {
        Err(problems)
    }
}

const CODEBUILD: &str = "codebuild:\n  programs: [sh, make]\n  env: { LANG: C.UTF-8, JOBS: 4 }\n  timeout: 20m\n  projects:\n    app: { buildspec: ci/buildspec.yml }\n";

#[test]
fn codebuild_runs_the_projects_buildspec_with_the_hosts_codebuild_grant() {
    let build = adapted(
        r##"{ name: B, inputs: [Code, Assets], outputs: [Out], provider: aws:Build/AWS/CodeBuild/1, configuration: { ProjectName: app, PrimarySource: Code, BatchEnabled: "false", EnvironmentVariables: '[{"name":"STAGE","value":"prod","type":"PLAINTEXT"},{"name":"REV","value":"#{Source.CommitId}"}]' } }"##,
        CODEBUILD,
    )
    .unwrap();
    assert_eq!(build.provider, "builtin:command");
    assert_eq!(
        build.configuration,
        [
            ("BuildSpec", "ci/buildspec.yml"),
            ("PrimarySource", "Code"),
            ("Environment", "STAGE=prod\nREV=#{Source.CommitId}"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect::<IndexMap<_, _>>()
    );
    let process = build.grants.process.as_ref().unwrap();
    assert_eq!(process.programs, ["sh", "make"]);
    assert_eq!(process.env["JOBS"], "4");
    assert_eq!(process.timeout.as_deref(), Some("20m"));
    assert!(build.grants.paths.is_empty() && build.grants.secrets.is_empty());

    // A project the host does not list runs the primary source's
    // buildspec.yml; a test runs on builtin:test-command.
    let test = adapted(
        "{ name: T, inputs: [Code], provider: aws:Test/AWS/CodeBuild/1, configuration: { ProjectName: other } }",
        CODEBUILD,
    )
    .unwrap();
    assert_eq!(test.provider, "builtin:test-command");
    assert_eq!(test.configuration.len(), 1);
    assert_eq!(test.configuration["BuildSpec"], DEFAULT_BUILDSPEC);
}

#[test]
fn lambda_invokes_the_component_the_host_maps_for_the_function() {
    let mapping = "functions:\n  notify: /srv/fn/notify.wasm\n  audit: /srv/fn/audit.wasm\n";
    for name in [
        "notify",
        "arn:aws:lambda:eu-west-1:123456789012:function:notify:3",
    ] {
        let invoke = adapted(
            &format!(
                "{{ name: L, provider: aws:Invoke/AWS/Lambda/1, configuration: {{ FunctionName: '{name}', UserParameters: '{{\"env\": \"prod\"}}' }} }}"
            ),
            mapping,
        )
        .unwrap();
        assert_eq!(invoke.provider, "builtin:invoke-wasm");
        assert_eq!(
            invoke.configuration["Component"],
            "/paths/function/notify.wasm"
        );
        assert_eq!(invoke.configuration["UserParameters"], r#"{"env": "prod"}"#);
        let folder = &invoke.grants.paths["function"];
        assert_eq!(folder.path, "/srv/fn");
        assert_eq!(folder.access, PathAccess::ReadOnly);
        assert!(invoke.grants.process.is_none());
    }
}

#[test]
fn codebuild_and_lambda_refuse_what_they_cannot_do_naming_it() {
    let functions = "functions:\n  notify: /srv/fn/notify.wasm\n  audit: /srv/fn/audit.wasm\n";
    let cases = [
        (
            "{ name: B, provider: aws:Build/AWS/CodeBuild/1, configuration: { ProjectName: app } }",
            "repositories: {}",
            "stages[0].actions[0].provider",
            "add `codebuild.programs`",
        ),
        (
            "{ name: B, provider: aws:Build/AWS/CodeBuild/1, configuration: { ProjectName: app } }",
            "codebuild: { programs: [] }",
            "stages[0].actions[0].provider",
            "add `codebuild.programs`",
        ),
        (
            "{ name: B, provider: aws:Build/AWS/CodeBuild/1, configuration: { PrimarySource: x } }",
            CODEBUILD,
            "stages[0].actions[0].configuration.ProjectName",
            "requires `ProjectName`",
        ),
        (
            r#"{ name: B, provider: aws:Build/AWS/CodeBuild/1, configuration: { ProjectName: app, EnvironmentVariables: '[{"name":"DB_PASSWORD","value":"/prod/db","type":"PARAMETER_STORE"}]' } }"#,
            CODEBUILD,
            "stages[0].actions[0].configuration.EnvironmentVariables",
            "variable `DB_PASSWORD` is of type PARAMETER_STORE",
        ),
        (
            r#"{ name: B, provider: aws:Build/AWS/CodeBuild/1, configuration: { ProjectName: app, EnvironmentVariables: '[{"name":"KEY","value":"arn:x","type":"SECRETS_MANAGER"}]' } }"#,
            CODEBUILD,
            "stages[0].actions[0].configuration.EnvironmentVariables",
            "variable `KEY` is of type SECRETS_MANAGER",
        ),
        (
            "{ name: B, provider: aws:Build/AWS/CodeBuild/1, configuration: { ProjectName: app, EnvironmentVariables: 'STAGE=prod' } }",
            CODEBUILD,
            "stages[0].actions[0].configuration.EnvironmentVariables",
            "must be a JSON list",
        ),
        (
            "{ name: B, provider: aws:Build/AWS/CodeBuild/1, configuration: { ProjectName: app, BatchEnabled: 'true' } }",
            CODEBUILD,
            "stages[0].actions[0].configuration.BatchEnabled",
            "batch builds are not supported",
        ),
        (
            "{ name: B, provider: aws:Build/AWS/CodeBuild/1, configuration: { ProjectName: app, CombineArtifacts: 'true' } }",
            CODEBUILD,
            "stages[0].actions[0].configuration.CombineArtifacts",
            "batch builds are not supported",
        ),
        (
            "{ name: B, inputs: [Code, Assets], provider: aws:Build/AWS/CodeBuild/1, configuration: { ProjectName: app } }",
            CODEBUILD,
            "stages[0].actions[0].configuration.PrimarySource",
            "requires `PrimarySource`, the one holding the buildspec (one of: Code, Assets)",
        ),
        (
            "{ name: B, inputs: [Code], provider: aws:Test/AWS/CodeBuild/1, configuration: { ProjectName: app, PrimarySource: Src } }",
            CODEBUILD,
            "stages[0].actions[0].configuration.PrimarySource",
            "`Src` is not an input artifact of the action (its inputs: Code)",
        ),
        (
            "{ name: L, provider: aws:Invoke/AWS/Lambda/1, configuration: { FunctionName: deploy } }",
            functions,
            "stages[0].actions[0].configuration.FunctionName",
            "function `deploy` is not one this host maps: add it to `functions` in the state directory's aws-actions.yaml (it maps: notify, audit)",
        ),
        (
            "{ name: L, provider: aws:Invoke/AWS/Lambda/1, configuration: { FunctionName: deploy } }",
            "repositories: {}",
            "stages[0].actions[0].configuration.FunctionName",
            "(it maps: none)",
        ),
        (
            "{ name: L, provider: aws:Invoke/AWS/Lambda/1, configuration: { FunctionName: rel } }",
            "functions: { rel: fn.wasm }",
            "stages[0].actions[0].provider",
            "must be the absolute path of a .wasm file",
        ),
        (
            "{ name: L, provider: aws:Invoke/AWS/Lambda/1, configuration: { UserParameters: x } }",
            functions,
            "stages[0].actions[0].configuration.FunctionName",
            "requires `FunctionName`",
        ),
        (
            "{ name: L, provider: aws:Invoke/AWS/Lambda/1, configuration: { FunctionName: notify, Qualifier: '3' } }",
            functions,
            "stages[0].actions[0].configuration.Qualifier",
            "no configuration property `Qualifier`",
        ),
    ];
    for (action, mapping, path, words) in cases {
        let problems = adapted(action, mapping).unwrap_err();
        assert_eq!(problems.len(), 1, "{problems:?}");
        assert_eq!(problems[0].path, path, "{action}");
        assert!(
            problems[0].message.contains(words),
            "{words:?} not in: {}",
            problems[0].message
        );
    }
}

#[test]
fn the_refusal_of_an_unmapped_type_lists_every_supported_one() {
    let problems = adapted(
        "{ name: D, provider: aws:Deploy/AWS/ECS/1, configuration: { ClusterName: c } }",
        "repositories: {}",
    )
    .unwrap_err();
    for (supported, _) in SUPPORTED {
        assert!(problems[0].message.contains(supported), "{supported}");
    }
    assert!(problems[0].message.contains("Invoke/AWS/Lambda/1"));
}

#[test]
fn the_codebuild_section_denies_unknown_fields() {
    let wrong: Result<Mapping, _> =
        serde_yaml::from_str("codebuild: { programs: [sh], projcts: {} }");
    assert!(wrong.unwrap_err().to_string().contains("projcts"));
}
