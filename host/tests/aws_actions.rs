//! AWS action types on Sluice's providers, end to end, as a pipeline
//! created through the CodePipeline API holds them: a CodeCommit source on
//! a git repository the host maps, a CodeBuild build running the
//! repository's `buildspec.yml` (two output artifacts, exported
//! variables), a CodeBuild test running a buildspec the host's project
//! gives (a JUnit report), and a Lambda invocation of a component the host
//! maps, whose outputs are deployed where the test can read them.

use serde_json::Value;
use std::path::Path;
use std::process::{Command, Stdio};

fn sluice(state: &Path, cache: &Path, args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_sluice"))
        .arg("--state-dir")
        .arg(state)
        .arg("--cache-dir")
        .arg(cache)
        .args(args)
        .env("SLUICE_USER", "aws-actions-test")
        .stdin(Stdio::null())
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn git(repo: &Path, args: &[&str]) -> String {
    let out = Command::new("git")
        .args(["-c", "user.name=t", "-c", "user.email=t@example.com"])
        .args(args)
        .current_dir(repo)
        .output()
        .unwrap();
    assert!(out.status.success(), "git {args:?}: {out:?}");
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// The repository's buildspec: variables and the folder carry from one
/// command (and phase) to the next, the action's `EnvironmentVariables`
/// reach the commands, two output artifacts come from
/// `secondary-artifacts`, and two variables are exported.
const BUILDSPEC: &str = r#"version: 0.2
env:
  variables:
    GREETING: hello
  exported-variables:
    - APP_VERSION
    - BUILT_FROM
phases:
  install:
    runtime-versions:
      nodejs: 20
    commands:
      - echo "installing for $CODEBUILD_INITIATOR"
  pre_build:
    commands:
      - APP_VERSION=$(cat VERSION)
      - mkdir -p dist
      - cd dist
  build:
    commands:
      - echo "$GREETING $STAGE $APP_VERSION" > app.txt
      - cd "$CODEBUILD_SRC_DIR"
    finally:
      - echo "commit $COMMIT" > dist/commit.txt
  post_build:
    commands:
      - BUILT_FROM=$CODEBUILD_RESOLVED_SOURCE_VERSION
      - echo "$CODEBUILD_BUILD_SUCCEEDING" > dist/succeeding.txt
artifacts:
  files:
    - '**/*'
  secondary-artifacts:
    Binaries:
      base-directory: dist
      files:
        - '**/*'
    Docs:
      base-directory: $CODEBUILD_SRC_DIR/docs
      files:
        - '**/*.md'
      discard-paths: yes
"#;

/// The host's mapping: the repository, the programs CodeBuild actions may
/// run, a project with its own (inline) buildspec, and the function.
fn mapping(repo: &Path, function: &Path) -> String {
    format!(
        r#"repositories:
  app: {repo}
codebuild:
  programs: [sh]
  env: {{ LANG: C.UTF-8 }}
  projects:
    unit-tests:
      buildspec: |
        version: 0.2
        phases:
          build:
            commands:
              - mkdir -p reports
              - printf '<testsuite name="unit" tests="2"><testcase name="adds"/><testcase name="greets"/></testsuite>' > reports/unit.xml
        reports:
          unit:
            files: ['*.xml']
            base-directory: reports
functions:
  notify: {function}
"#,
        repo = repo.display(),
        function = function.display(),
    )
}

/// What a CodePipeline declaration of these actions converts to.
fn pipeline(deploy: &Path) -> String {
    format!(
        r##"name: aws-actions
stages:
  - name: Source
    actions:
      - name: App
        provider: aws:Source/AWS/CodeCommit/1
        configuration: {{ RepositoryName: app, BranchName: main }}
        outputs: [SourceCode]
        namespace: SourceVariables
  - name: Build
    actions:
      - name: Build
        provider: aws:Build/AWS/CodeBuild/1
        configuration:
          ProjectName: app
          EnvironmentVariables: '[{{"name":"STAGE","value":"prod","type":"PLAINTEXT"}},{{"name":"COMMIT","value":"#{{SourceVariables.CommitId}}"}}]'
        inputs: [SourceCode]
        outputs: [Binaries, Docs]
        namespace: BuildVariables
      - name: UnitTests
        provider: aws:Test/AWS/CodeBuild/1
        configuration: {{ ProjectName: unit-tests }}
        inputs: [SourceCode]
        namespace: TestVariables
  - name: Notify
    actions:
      - name: Notify
        provider: aws:Invoke/AWS/Lambda/1
        configuration:
          FunctionName: notify
          UserParameters: "release #{{BuildVariables.APP_VERSION}}"
        inputs: [Binaries, Docs]
        outputs: [Bundle]
        namespace: NotifyVariables
  - name: Deploy
    actions:
      - name: Publish
        provider: builtin:deploy-directory
        inputs: [Bundle]
        grants:
          paths:
            target: {{ path: {deploy}, access: read-write }}
"##,
        deploy = deploy.display()
    )
}

/// An action's output variables in `sluice execution --json`.
fn variables(detail: &Value, action: &str) -> Vec<(String, String)> {
    let run = detail["attempts"]
        .as_array()
        .unwrap()
        .iter()
        .rev()
        .find(|a| a["action"] == action)
        .unwrap_or_else(|| panic!("no attempt of {action} in {detail}"));
    assert_eq!(run["run"]["status"], "Succeeded", "{run}");
    serde_json::from_value(run["run"]["variables"].clone()).unwrap()
}

fn variable<'a>(variables: &'a [(String, String)], name: &str) -> &'a str {
    variables
        .iter()
        .find(|(n, _)| n == name)
        .map(|(_, v)| v.as_str())
        .unwrap_or_else(|| panic!("no variable {name} in {variables:?}"))
}

#[test]
fn codebuild_and_lambda_actions_run_on_the_hosts_mapping_end_to_end() {
    let dir = tempfile::tempdir().unwrap();
    let repo = dir.path().join("app");
    std::fs::create_dir_all(repo.join("docs/old")).unwrap();
    std::fs::write(repo.join("VERSION"), "1.4.2\n").unwrap();
    std::fs::write(repo.join("buildspec.yml"), BUILDSPEC).unwrap();
    std::fs::write(repo.join("docs/guide.md"), "# Guide\n").unwrap();
    std::fs::write(repo.join("docs/old/notes.md"), "# Notes\n").unwrap();
    std::fs::write(repo.join("docs/logo.svg"), "<svg/>").unwrap();
    git(&repo, &["init", "-q", "-b", "main"]);
    git(&repo, &["add", "."]);
    git(&repo, &["commit", "-qm", "one"]);
    let commit = git(&repo, &["rev-parse", "HEAD"]);

    // The function: a component exporting the provider interface (the
    // `gate` fixture echoes its UserParameters and copies its inputs into
    // its outputs), in a folder of its own.
    let functions = dir.path().join("functions");
    std::fs::create_dir_all(&functions).unwrap();
    let function = functions.join("notify.wasm");
    std::fs::copy(sluice_tests::fixtures::GATE, &function).unwrap();

    let state = dir.path().join("state");
    let cache = dir.path().join("cache");
    std::fs::create_dir_all(&state).unwrap();
    std::fs::write(state.join("aws-actions.yaml"), mapping(&repo, &function)).unwrap();
    let deploy = dir.path().join("deploy");
    let definition = dir.path().join("pipeline.yaml");
    std::fs::write(&definition, pipeline(&deploy)).unwrap();

    let (code, stdout, stderr) = sluice(&state, &cache, &["run", definition.to_str().unwrap()]);
    assert_eq!(code, 0, "{stdout}\n{stderr}");

    let (_, listing, _) = sluice(&state, &cache, &["executions", "aws-actions", "--json"]);
    let executions: Value = serde_json::from_str(&listing).unwrap();
    assert_eq!(executions[0]["status"], "Succeeded", "{executions}");
    let id = executions[0]["id"].as_str().unwrap();
    let (_, detail, _) = sluice(&state, &cache, &["execution", id, "--json"]);
    let detail: Value = serde_json::from_str(&detail).unwrap();

    // The build: the buildspec's exported variables, the last values its
    // commands gave them; the source revision CodeBuild names.
    let build = variables(&detail, "Build");
    assert_eq!(variable(&build, "APP_VERSION"), "1.4.2");
    assert_eq!(variable(&build, "BUILT_FROM"), commit);
    assert_eq!(variable(&build, "Commands"), "9");

    // The test: the JUnit report of the project's buildspec, counted.
    let tests = variables(&detail, "UnitTests");
    assert_eq!(
        (variable(&tests, "Passed"), variable(&tests, "Failed")),
        ("2", "0")
    );

    // The function got its UserParameters, variables resolved.
    let notify = variables(&detail, "Notify");
    assert_eq!(variable(&notify, "UserParameters"), "release 1.4.2");

    // The outputs, as the function passed them on and the deployment
    // placed them: `Binaries` is `dist` (made in a folder a command of
    // another phase went to), `Docs` the Markdown files, flattened.
    let current = deploy.join("current");
    let read = |path: &str| {
        std::fs::read_to_string(current.join(path))
            .unwrap_or_else(|e| panic!("{path}: {e}\n{stdout}"))
    };
    assert_eq!(read("Binaries/app.txt"), "hello prod 1.4.2\n");
    assert_eq!(read("Binaries/commit.txt"), format!("commit {commit}\n"));
    assert_eq!(read("Binaries/succeeding.txt"), "1\n");
    assert_eq!(read("Docs/guide.md"), "# Guide\n");
    assert_eq!(read("Docs/notes.md"), "# Notes\n");
    let mut binaries: Vec<String> = std::fs::read_dir(current.join("Binaries"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    binaries.sort();
    assert_eq!(binaries, ["app.txt", "commit.txt", "succeeding.txt"]);
    let mut docs: Vec<String> = std::fs::read_dir(current.join("Docs"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    docs.sort();
    assert_eq!(docs, ["guide.md", "notes.md"]);
    assert_eq!(read("made-by.txt"), "Notify/Notify attempt 1\n");

    // A build the host gives no programs to is refused when applied,
    // naming what to add; so is a function it does not map.
    std::fs::write(
        state.join("aws-actions.yaml"),
        format!("repositories:\n  app: {}\n", repo.display()),
    )
    .unwrap();
    let (code, stdout, stderr) = sluice(
        &state,
        &cache,
        &["pipeline", "apply", definition.to_str().unwrap()],
    );
    assert_ne!(code, 0, "{stdout}");
    let said = format!("{stdout}{stderr}");
    assert!(said.contains("add `codebuild.programs`"), "{said}");
    assert!(
        said.contains("function `notify` is not one this host maps")
            && said.contains("(it maps: none)"),
        "{said}"
    );
}

#[test]
fn a_failed_codebuild_build_still_runs_post_build_and_fails_with_its_command() {
    let dir = tempfile::tempdir().unwrap();
    let repo = dir.path().join("app");
    std::fs::create_dir_all(&repo).unwrap();
    std::fs::write(
        repo.join("buildspec.yml"),
        "version: 0.2\nphases:\n  pre_build:\n    commands: ['STEP=compiling']\n  build:\n    commands:\n      - >-\n        echo \"$STEP\" >&2; echo 'cc: error: no input files' >&2; exit 3\n      - echo never\n    finally:\n      - echo tidied\n  post_build:\n    commands:\n      - echo \"succeeding=$CODEBUILD_BUILD_SUCCEEDING\"\n",
    )
    .unwrap();
    git(&repo, &["init", "-q", "-b", "main"]);
    git(&repo, &["add", "."]);
    git(&repo, &["commit", "-qm", "one"]);
    let state = dir.path().join("state");
    let cache = dir.path().join("cache");
    std::fs::create_dir_all(&state).unwrap();
    std::fs::write(
        state.join("aws-actions.yaml"),
        format!(
            "repositories:\n  app: {}\ncodebuild:\n  programs: [sh]\n",
            repo.display()
        ),
    )
    .unwrap();
    let definition = dir.path().join("pipeline.yaml");
    std::fs::write(
        &definition,
        "name: failing\nstages:\n  - name: Source\n    actions:\n      - { name: App, provider: aws:Source/AWS/CodeCommit/1, configuration: { RepositoryName: app, BranchName: main }, outputs: [Code] }\n  - name: Build\n    actions:\n      - { name: Build, provider: aws:Build/AWS/CodeBuild/1, configuration: { ProjectName: anything }, inputs: [Code], outputs: [Out] }\n",
    )
    .unwrap();
    let (code, stdout, stderr) = sluice(&state, &cache, &["run", definition.to_str().unwrap()]);
    assert_eq!(code, 1, "{stdout}\n{stderr}");

    let (_, listing, _) = sluice(&state, &cache, &["executions", "failing", "--json"]);
    let executions: Value = serde_json::from_str(&listing).unwrap();
    let id = executions[0]["id"].as_str().unwrap();
    let (_, detail, _) = sluice(&state, &cache, &["execution", id, "--json"]);
    let detail: Value = serde_json::from_str(&detail).unwrap();
    let build = detail["attempts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["action"] == "Build")
        .unwrap();
    assert_eq!(build["run"]["status"], "Failed", "{build}");
    assert_eq!(
        build["run"]["error"]["message"],
        "build command `echo \"$STEP\" >&2; echo 'cc: error: no input files' >&2; exit 3` exited with status 3\ncompiling\ncc: error: no input files",
        "{build}"
    );
    // The phase's `finally` and then `post_build` ran, told the build
    // failed; nothing after the failing command of its phase did.
    let (_, log, _) = sluice(&state, &cache, &["logs", id, "--action", "Build/Build"]);
    for line in ["[build finally] $ echo tidied", "tidied", "succeeding=0"] {
        assert!(log.contains(line), "{line} missing from:\n{log}");
    }
    assert!(!log.contains("never"), "{log}");
}
