//! The pipeline commands as a user runs them: `run`, `validate`, `state`,
//! `execution`, `logs`, `start`, `drive`, `approve`, `transition`, and two
//! processes sharing one state directory.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

struct Cli {
    dir: tempfile::TempDir,
}

impl Cli {
    fn new() -> Cli {
        Cli {
            dir: tempfile::tempdir().unwrap(),
        }
    }

    fn state(&self) -> PathBuf {
        self.dir.path().join("state")
    }

    fn command(&self, args: &[&str]) -> Command {
        let mut c = Command::new(env!("CARGO_BIN_EXE_sluice"));
        c.arg("--state-dir")
            .arg(self.state())
            .arg("--cache-dir")
            .arg(self.dir.path().join("cache"))
            .args(args)
            .env("SLUICE_USER", "cli-test")
            // The fixtures wait for their gates polling every 10-20 ms.
            .env("SLUICE_RECHECK_FLOOR", "10ms")
            .stdin(Stdio::null());
        c
    }

    fn run(&self, args: &[&str]) -> (i32, String, String) {
        let Output {
            status,
            stdout,
            stderr,
        } = self.command(args).output().unwrap();
        (
            status.code().unwrap_or(-1),
            String::from_utf8_lossy(&stdout).into_owned(),
            String::from_utf8_lossy(&stderr).into_owned(),
        )
    }

    fn write(&self, name: &str, text: &str) -> String {
        let path = self.dir.path().join(name);
        std::fs::write(&path, text).unwrap();
        path.display().to_string()
    }
}

fn example() -> String {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../examples/hello/pipeline.yaml")
        .display()
        .to_string()
}

#[test]
fn run_carries_the_example_through_and_the_state_commands_show_it() {
    let cli = Cli::new();
    let (code, out, err) = cli.run(&["run", &example()]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("▶ hello v1 · execution "), "{out}");
    assert!(out.contains("Source     ✔ Site"), "{out}");
    assert!(out.contains("Build      ✔ Package"), "{out}");
    assert!(
        out.lines().last().unwrap().starts_with("✔ Succeeded in "),
        "{out}"
    );

    let (code, out, _) = cli.run(&["state", "hello", "--json"]);
    assert_eq!(code, 0);
    let state: serde_json::Value = serde_json::from_str(&out).unwrap();
    for stage in state["stages"].as_array().unwrap() {
        assert_eq!(
            stage["latest_execution"]["stage_status"], "Succeeded",
            "{stage}"
        );
        for action in stage["actions"].as_array().unwrap() {
            assert_eq!(action["status"], "Succeeded");
        }
    }
    let (_, out, _) = cli.run(&["executions", "hello", "--json"]);
    let executions: serde_json::Value = serde_json::from_str(&out).unwrap();
    let id = executions[0]["id"].as_str().unwrap().to_string();
    assert_eq!(executions[0]["status"], "Succeeded");

    let (code, out, _) = cli.run(&["execution", &id[..13]]);
    assert_eq!(code, 0);
    assert!(out.contains("artifacts"), "{out}");
    for artifact in ["SiteSource", "SitePackage", "Published"] {
        let line = out
            .lines()
            .find(|l| l.trim_start().starts_with(artifact))
            .unwrap_or_else(|| panic!("{out}"));
        assert!(
            line.contains("sha256:") && line.contains("2 files"),
            "{line}"
        );
    }
    let (code, out, _) = cli.run(&["logs", &id, "--action", "Build/Package"]);
    assert_eq!(code, 0);
    assert!(out.contains("── Build/Package attempt 1 ──"), "{out}");
    assert!(out.contains("[info] copied 2 files"), "{out}");
    assert!(!out.contains("Deploy/"), "{out}");

    // Running again with the same definition reuses the version.
    let (code, out, _) = cli.run(&["run", &example()]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("▶ hello v1 "), "{out}");
}

#[test]
fn a_failing_pipeline_exits_1() {
    let cli = Cli::new();
    cli.write("site", "");
    std::fs::remove_file(cli.dir.path().join("site")).unwrap();
    std::fs::create_dir(cli.dir.path().join("site")).unwrap();
    cli.write("site/index.html", "hi");
    let file = cli.write(
        "fail.yaml",
        r#"
name: failing
stages:
  - name: Source
    actions:
      - { name: Site, provider: "builtin:directory", outputs: [S], grants: { paths: { source: { path: "site" } } } }
  - name: Build
    actions:
      - { name: Copy, provider: "builtin:copy", inputs: [S], outputs: [C], configuration: { Subfolder: nowhere } }
"#,
    );
    let (code, out, err) = cli.run(&["run", &file]);
    assert_eq!(code, 1, "{out}{err}");
    assert!(out.contains("✘ Copy"), "{out}");
    assert!(
        out.contains("input artifact `S` has no folder `nowhere`"),
        "{out}"
    );
    assert!(
        out.lines().last().unwrap().starts_with("✘ Failed in"),
        "{out}"
    );
}

#[test]
fn validate_reports_every_error_with_its_place() {
    let cli = Cli::new();
    let file = cli.write(
        "broken.yaml",
        r##"name: broken
stages:
  - name: Source
    actions:
      - name: Site
        provider: builtin:copy
        outputs: [Src]
  - name: Build
    actions:
      - name: Pack
        provider: builtin:copy
        inputs: [Scr]
        outputs: [Out]
        configuration:
          Merge: "#{variables.nope}"
      - name: Nothing
        provider: builtin:nothing
"##,
    );
    let (code, _, err) = cli.run(&["validate", &file]);
    assert_eq!(code, 1, "{err}");
    let expected = [
        ":5:13: error: stages[0].actions[0].inputs: sluice/copy takes 1 to 20 input artifacts; this action has 0",
        ":6:19: error: stages[0].actions[0].provider: the first stage holds only source actions, but `Source/Site` uses builtin:copy, a build provider",
        ":12:18: error: stages[1].actions[0].inputs[0]: input artifact `Scr` is not produced by any action (did you mean `Src`?)",
        ":15:18: error: stages[1].actions[0].configuration.Merge: #{variables.nope} refers to pipeline variable `nope`, which is not declared",
        ":17:19: error: stages[1].actions[1].provider: there is no built-in provider `builtin:nothing`",
    ];
    for e in expected {
        assert!(
            err.contains(&format!("{file}{e}")),
            "missing {e} in:\n{err}"
        );
    }
    assert!(err.contains("5 errors"), "{err}");

    let (code, out, _) = cli.run(&["validate", &file, "--json"]);
    assert_eq!(code, 1);
    let answer: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(answer["valid"], false);
    assert_eq!(answer["diagnostics"].as_array().unwrap().len(), 5);

    let unknown = cli.write(
        "unknown.json",
        "{\"name\": \"x\", \"stages\": [], \"colour\": 1}",
    );
    let (code, _, err) = cli.run(&["validate", &unknown]);
    assert_eq!(code, 1);
    assert!(
        err.contains("unknown.json:1:") && err.contains("unknown field `colour`"),
        "{err}"
    );

    let (code, out, _) = cli.run(&["validate", &example()]);
    assert_eq!(code, 0);
    assert!(
        out.contains("valid; pipeline `hello`: 3 stages, 5 actions"),
        "{out}"
    );
}

const APPROVAL: &str = r#"
name: gated-release
stages:
  - name: Source
    actions:
      - { name: Site, provider: "builtin:directory", outputs: [S], grants: { paths: { source: { path: "site" } } } }
  - name: Approve
    actions:
      - { name: Manager, provider: "builtin:manual" }
  - name: Ship
    actions:
      - { name: Go, provider: "builtin:noop" }
"#;

#[test]
fn run_yes_approves_and_another_process_can_approve_instead() {
    let cli = Cli::new();
    std::fs::create_dir(cli.dir.path().join("site")).unwrap();
    cli.write("site/index.html", "hi");
    let file = cli.write("approval.yaml", APPROVAL);
    let (code, out, err) = cli.run(&["run", &file, "--yes"]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("✔ Manager"), "{out}");
    assert!(
        out.contains("approved by cli-test: approved with --yes"),
        "{out}"
    );

    // Without --yes and without a terminal, `run` waits; a second process
    // approves through the first one.
    let mut runner = cli
        .command(&["run", &file])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let started = Instant::now();
    let id = loop {
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "the execution did not reach its approval"
        );
        std::thread::sleep(Duration::from_millis(50));
        let (_, out, _) = cli.run(&["state", "gated-release", "--json"]);
        let Ok(state) = serde_json::from_str::<serde_json::Value>(&out) else {
            continue;
        };
        let stage = &state["stages"][1];
        if stage["actions"][0]["waiting_for_approval"] == true {
            break stage["latest_execution"]["id"]
                .as_str()
                .unwrap()
                .to_string();
        }
    };
    let (code, out, err) = cli.run(&["approve", &id, "Approve", "Manager", "--summary", "ship it"]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("approved `Approve/Manager`"), "{out}");
    let status = runner.wait().unwrap();
    let mut printed = String::new();
    std::io::Read::read_to_string(runner.stdout.as_mut().unwrap(), &mut printed).unwrap();
    assert!(status.success(), "{printed}");
    assert!(
        printed.contains("waiting for approval of Approve/Manager: run `sluice approve"),
        "{printed}"
    );
    assert!(
        printed.contains("approved by cli-test: ship it"),
        "{printed}"
    );
}

#[test]
fn requests_without_a_driver_are_queued_and_a_driver_applies_them() {
    let cli = Cli::new();
    let (code, _, err) = cli.run(&["pipeline", "apply", &example()]);
    assert_eq!(code, 0, "{err}");
    let (code, out, _) = cli.run(&[
        "transition",
        "disable",
        "hello",
        "Deploy",
        "--reason",
        "code freeze",
    ]);
    assert_eq!(code, 0);
    assert!(
        out.starts_with("queued: no sluice process is driving"),
        "{out}"
    );
    let (code, out, _) = cli.run(&["start", "hello"]);
    assert_eq!(code, 0);
    assert!(out.starts_with("queued"), "{out}");

    // A driver takes the queued requests in order: the transition is
    // disabled, then the execution starts and waits in front of Deploy.
    let mut driver = cli
        .command(&["drive"])
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let started = Instant::now();
    loop {
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "the execution did not reach Deploy"
        );
        std::thread::sleep(Duration::from_millis(50));
        let (_, out, _) = cli.run(&["state", "hello"]);
        if out.contains("inbound (waiting): ") {
            assert!(
                out.contains("⤫ transition DISABLED: code freeze (by cli-test)"),
                "{out}"
            );
            break;
        }
    }
    // With the driver running, a request is applied at once.
    let (code, out, err) = cli.run(&["transition", "enable", "hello", "Deploy"]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(out.trim(), "enabled the transition into `Deploy`");
    let started = Instant::now();
    loop {
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "the execution did not finish"
        );
        std::thread::sleep(Duration::from_millis(50));
        let (_, out, _) = cli.run(&["executions", "hello", "--json"]);
        let executions: serde_json::Value = serde_json::from_str(&out).unwrap();
        if executions[0]["status"] == "Succeeded" {
            break;
        }
    }
    // A refused request says why and exits 1.
    let (code, _, err) = cli.run(&["transition", "disable", "hello", "Source"]);
    assert_eq!(code, 1);
    assert!(
        err.contains("stage `Source` is the first stage: there is no transition into it"),
        "{err}"
    );
    driver.kill().unwrap();
    driver.wait().unwrap();
}

#[test]
fn the_published_schema_matches_the_model() {
    let cli = Cli::new();
    let (code, out, _) = cli.run(&["schema"]);
    assert_eq!(code, 0);
    let published = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/pipeline.schema.json"),
    )
    .expect("docs/pipeline.schema.json exists");
    assert_eq!(
        published.trim(),
        out.trim(),
        "docs/pipeline.schema.json is stale: regenerate it with `sluice schema > docs/pipeline.schema.json`"
    );
}

#[test]
fn validate_checks_grants_against_the_host_and_the_providers() {
    let cli = Cli::new();
    let file = cli.write(
        "grants.yaml",
        r##"name: grants
stages:
  - name: Source
    actions:
      - { name: Site, provider: "builtin:noop", outputs: [S] }
  - name: Build
    actions:
      - name: Compile
        provider: builtin:command
        inputs: [S]
        configuration: { Build: make }
      - name: Missing
        provider: builtin:command
        inputs: [S]
        configuration: { Build: "no-such-program-0xd1" }
        grants:
          process: { programs: [sh, no-such-program-0xd1] }
          secrets: [NOT_SET_ANYWHERE]
      - name: Hook
        provider: builtin:webhook
        configuration: { Url: "http://127.0.0.1:9/hook", Token: "plain-text-token" }
        grants:
          http: { allow: ["http://127.0.0.1:9/"] }
      - name: Bad
        provider: builtin:noop
        grants:
          paths: { "no spaces": { path: /tmp } }
      - { name: Unknown, provider: copy }
"##,
    );
    let (code, _, err) = cli.run(&["validate", &file]);
    assert_eq!(code, 1, "{err}");
    for expected in [
        "error: stages[1].actions[1].grants.process.programs[1]: program `no-such-program-0xd1` is not installed on this host",
        "error: stages[1].actions[1].grants.secrets[0]: secret `NOT_SET_ANYWHERE` is not set on this host: set SLUICE_SECRET_NOT_SET_ANYWHERE",
        "error: stages[1].actions[3].grants.paths.no spaces: grant name `no spaces` is not valid",
        "error: stages[1].actions[4].provider: `copy` is not a provider reference",
        "warning: stages[1].actions[0].grants: builtin:command can use `process` (it imports that interface) but action `Compile` grants no `process`",
        "warning: stages[1].actions[2].configuration.Token: property `Token` of action `Hook` is secret but holds a literal value",
    ] {
        assert!(err.contains(expected), "missing {expected} in:\n{err}");
    }
}
