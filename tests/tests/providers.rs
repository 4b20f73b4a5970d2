//! The built-in providers, each run for real in the sandbox: success, a
//! configuration it rejects, and a failure; and the grants they need,
//! refused with the grant to add when missing.

use sluice::sandbox::{FailureKind, Limits, Outcome};
use sluice_tests::{Workspace, builtin, fixtures, test_server};
use std::path::Path;
use std::process::Command;

fn success(outcome: &Outcome) -> (String, Vec<(String, String)>) {
    match outcome {
        Outcome::Succeeded {
            summary, variables, ..
        } => (summary.clone().unwrap_or_default(), variables.clone()),
        other => panic!("expected success, got {other:?}"),
    }
}

fn failure(outcome: &Outcome) -> (FailureKind, String) {
    match outcome {
        Outcome::Failed(f) => (f.kind, f.message.clone()),
        other => panic!("expected failure, got {other:?}"),
    }
}

fn var<'a>(vars: &'a [(String, String)], name: &str) -> &'a str {
    vars.iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
        .unwrap_or_else(|| panic!("no {name} in {vars:?}"))
}

async fn rejected(provider: &str, config: &[(&str, &str)]) -> Vec<String> {
    let config: Vec<(String, String)> = config
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    builtin(provider)
        .validate(&config)
        .await
        .unwrap()
        .unwrap_err()
}

fn git(dir: &Path, args: &[&str]) -> String {
    let output = Command::new("git")
        .current_dir(dir)
        .args([
            "-c",
            "user.name=Tester",
            "-c",
            "user.email=t@example.com",
            "-c",
            "init.defaultBranch=main",
            "-c",
            "commit.gpgsign=false",
        ])
        .args(args)
        .env("GIT_AUTHOR_DATE", "2026-11-20T10:00:00+01:00")
        .env("GIT_COMMITTER_DATE", "2026-11-20T10:00:00+01:00")
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).trim().to_string()
}

// ---------------------------------------------------------------- source: git

fn repository() -> (tempfile::TempDir, String, String) {
    let dir = tempfile::tempdir().unwrap();
    let repo = dir.path();
    git(repo, &["init", "-q"]);
    std::fs::create_dir_all(repo.join("app")).unwrap();
    std::fs::write(repo.join("app/main.txt"), "first").unwrap();
    git(repo, &["add", "."]);
    git(
        repo,
        &["commit", "-q", "-m", "First commit\n\nWith a body."],
    );
    let first = git(repo, &["rev-parse", "HEAD"]);
    std::fs::write(repo.join("app/main.txt"), "second").unwrap();
    git(repo, &["commit", "-q", "-am", "Second commit"]);
    let second = git(repo, &["rev-parse", "HEAD"]);
    (dir, first, second)
}

#[tokio::test]
async fn git_writes_exactly_the_recorded_commit_with_its_variables() {
    let (repo, first, second) = repository();
    let git_source = builtin("git");
    let config = [("Branch".to_string(), "main".to_string())];
    let mut ws = Workspace::new(&[("Branch", "main"), ("Path", "app")]);
    ws.grant_path("repo", repo.path(), false);
    let latest = git_source
        .latest_revision_with(
            &config,
            &ws.job.mounts,
            &Limits::default(),
            &sluice::sandbox::ActionLog::discard(),
        )
        .await
        .unwrap()
        .unwrap();
    assert_eq!(latest.id, second);
    assert_eq!(latest.summary.as_deref(), Some("Second commit"));

    // The execution recorded the first commit: that is what it gets.
    ws.job.revision = Some(first.clone());
    let out = ws.output("src");
    let (report, _) = ws.run(&git_source, &Limits::default()).await;
    let (summary, vars) = success(&report.outcome);
    assert!(summary.starts_with("1 file at "), "{summary}");
    assert_eq!(
        std::fs::read_to_string(out.join("main.txt")).unwrap(),
        "first"
    );
    assert!(!out.join(".git").exists());
    assert_eq!(var(&vars, "CommitId"), first);
    assert_eq!(var(&vars, "BranchName"), "main");
    assert_eq!(var(&vars, "AuthorDate"), "2026-11-20T10:00:00+01:00");
    assert_eq!(var(&vars, "CommitMessage"), "First commit\n\nWith a body.");
}

#[tokio::test]
async fn git_rejects_bad_configuration_and_fails_on_an_unknown_branch() {
    let problems = rejected("git", &[("Path", "/etc"), ("Branch", "a b")]).await;
    assert_eq!(problems.len(), 2, "{problems:?}");
    assert!(problems[0].contains("`Path` must be a folder inside the repository"));

    let (repo, _, _) = repository();
    let mut ws = Workspace::new(&[("Branch", "nope")]);
    ws.grant_path("repo", repo.path(), false);
    ws.output("src");
    let (report, _) = ws.run(&builtin("git"), &Limits::default()).await;
    let (kind, message) = failure(&report.outcome);
    assert_eq!(kind, FailureKind::RevisionUnavailable);
    assert!(
        message.contains("nope") && message.contains("main"),
        "{message}"
    );

    // Without the grant, the message says which to add.
    let mut ws = Workspace::new(&[]);
    ws.output("src");
    let (report, _) = ws.run(&builtin("git"), &Limits::default()).await;
    let (kind, message) = failure(&report.outcome);
    assert_eq!(kind, FailureKind::PermissionError);
    assert!(message.contains("grants: { paths: { repo:"), "{message}");
}

// ---------------------------------------------------------------- source: directory

#[tokio::test]
async fn directory_takes_included_files_and_fails_when_the_folder_changed() {
    let folder = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(folder.path().join("src")).unwrap();
    std::fs::write(folder.path().join("src/a.rs"), "fn a() {}").unwrap();
    std::fs::write(folder.path().join("notes.tmp"), "scratch").unwrap();
    std::fs::create_dir_all(folder.path().join(".git")).unwrap();
    std::fs::write(folder.path().join(".git/HEAD"), "x").unwrap();
    let mut ws = Workspace::new(&[("Exclude", "*.tmp")]);
    ws.grant_path("source", folder.path(), false);
    let out = ws.output("src");
    let (report, _) = ws.run(&builtin("directory"), &Limits::default()).await;
    let (summary, vars) = success(&report.outcome);
    assert!(summary.starts_with("1 file at revision "), "{summary}");
    assert!(
        out.join("src/a.rs").is_file()
            && !out.join("notes.tmp").exists()
            && !out.join(".git").exists()
    );

    // An execution that recorded this revision fails once the folder changes.
    let revision = var(&vars, "Revision").to_string();
    std::fs::write(folder.path().join("src/a.rs"), "fn b() {}").unwrap();
    let mut ws = Workspace::new(&[("Exclude", "*.tmp")]);
    ws.grant_path("source", folder.path(), false);
    ws.output("src");
    ws.job.revision = Some(revision);
    let (report, _) = ws.run(&builtin("directory"), &Limits::default()).await;
    let (kind, message) = failure(&report.outcome);
    assert_eq!(kind, FailureKind::RevisionUnavailable);
    assert!(
        message.starts_with("the folder is no longer the revision this execution recorded"),
        "{message}"
    );

    let problems = rejected("directory", &[("Include", "[oops")]).await;
    assert!(
        problems[0].contains("`Include`: pattern `[oops`"),
        "{problems:?}"
    );
}

// ---------------------------------------------------------------- build: command

#[tokio::test]
async fn command_builds_in_the_workspace_and_collects_outputs_with_their_modes() {
    let mut ws = Workspace::new(&[
        ("Install", "echo installing"),
        ("Build", "cc -o app main.c\n./app > made.txt"),
        ("Artifacts", "app, made.txt"),
    ]);
    ws.input(
        "src",
        &[(
            "main.c",
            "#include <stdio.h>\nint main(){puts(\"built\");return 0;}\n",
        )],
    );
    let out = ws.output("bin");
    ws.grant_programs(&["sh"]);
    let (report, log) = ws.run(&builtin("command"), &Limits::default()).await;
    let (summary, _) = success(&report.outcome);
    assert_eq!(summary, "ran 3 commands; bin: 2 files");
    assert!(log.contains("[info] [build] $ cc -o app main.c"), "{log}");
    assert_eq!(
        std::fs::read_to_string(out.join("made.txt")).unwrap(),
        "built\n"
    );
    use std::os::unix::fs::PermissionsExt;
    assert_ne!(
        std::fs::metadata(out.join("app"))
            .unwrap()
            .permissions()
            .mode()
            & 0o111,
        0,
        "still executable"
    );
}

#[tokio::test]
async fn a_failing_command_fails_with_the_command_and_its_last_lines() {
    let mut ws = Workspace::new(&[(
        "Build",
        "echo preparing\necho 'cc: error: no input files' >&2; exit 2\necho never",
    )]);
    ws.grant_programs(&["sh"]);
    let (report, log) = ws.run(&builtin("command"), &Limits::default()).await;
    let (kind, message) = failure(&report.outcome);
    assert_eq!(kind, FailureKind::JobFailed);
    assert_eq!(
        message,
        "build command `echo 'cc: error: no input files' >&2; exit 2` exited with status 2\ncc: error: no input files"
    );
    assert!(!log.contains("never"), "{log}");
    let problems = rejected("command", &[("Environment", "NOEQUALS")]).await;
    assert_eq!(
        problems,
        ["configuration property `Environment`: `NOEQUALS` is not NAME=value"]
    );
    let problems = rejected("command", &[]).await;
    assert_eq!(
        problems,
        ["give at least one command (`Build`, or another phase)"]
    );
}

#[tokio::test]
async fn programs_need_a_process_grant_naming_them() {
    let ws = Workspace::new(&[("Build", "true")]);
    let (report, _) = ws.run(&builtin("command"), &Limits::default()).await;
    assert_eq!(
        failure(&report.outcome),
        (FailureKind::PermissionError, "action `Act` may not run programs: add `grants: { process: { programs: [sh] } }` to it".to_string())
    );
    let mut ws = Workspace::new(&[("Build", "true"), ("Shell", "bash")]);
    ws.grant_programs(&["sh"]);
    let (report, _) = ws.run(&builtin("command"), &Limits::default()).await;
    assert_eq!(
        failure(&report.outcome).1,
        "action `Act` may not run `bash`: its process grant lists sh; add it to `grants.process.programs`"
    );
}

#[tokio::test]
async fn a_granted_program_cannot_write_outside_the_workspace() {
    if let Err(reason) = sluice::sandbox::isolation::available() {
        panic!("this host cannot isolate programs: {reason}");
    }
    let outside = tempfile::tempdir().unwrap();
    let victim = outside.path().join("planted");
    let script = format!(
        "touch {victim} 2>/dev/null && echo WROTE''-OUTSIDE; touch /etc/sluice-was-here 2>/dev/null && echo WROTE''-ETC; \
         touch {home}/sluice-was-here 2>/dev/null && echo WROTE''-HOME; \
         echo inside > /scratch/workspace/ok.txt && echo wrote''-inside; \
         (exec 3<>/dev/tcp/127.0.0.1/9) 2>/dev/null && echo NET''WORK; true",
        victim = victim.display(),
        home = std::env::var("HOME").unwrap_or_else(|_| "/root".into()),
    );
    let mut ws = Workspace::new(&[("Build", &script)]);
    ws.grant_programs(&["sh"]);
    let (report, log) = ws.run(&builtin("command"), &Limits::default()).await;
    success(&report.outcome);
    assert!(log.contains("wrote-inside"), "{log}");
    assert!(!log.contains("WROTE-OUTSIDE") && !victim.exists(), "{log}");
    assert!(
        !log.contains("WROTE-ETC") && !Path::new("/etc/sluice-was-here").exists(),
        "{log}"
    );
    assert!(!log.contains("WROTE-HOME"), "{log}");
    assert!(!log.contains("NETWORK"), "{log}");
}

#[tokio::test]
async fn the_state_directory_is_hidden_from_programs() {
    if let Err(reason) = sluice::sandbox::isolation::available() {
        panic!("this host cannot isolate programs: {reason}");
    }
    // Outside /tmp (programs get a private /tmp, which hides it anyway),
    // where the host file system is visible to programs.
    let state = [
        "/var/tmp".to_string(),
        std::env::var("HOME").unwrap_or_default(),
    ]
    .iter()
    .filter(|d| !d.is_empty() && !d.starts_with("/tmp"))
    .find_map(|d| tempfile::tempdir_in(d).ok())
    .expect("a writable folder outside /tmp (/var/tmp or $HOME)");
    std::fs::write(state.path().join("secrets"), "DEPLOY_KEY=hunter2\n").unwrap();
    let script = format!("cat {}/secrets; true", state.path().display());
    let run = |hide: bool| {
        let script = script.clone();
        let state = state.path().to_path_buf();
        async move {
            let mut ws = Workspace::new(&[("Build", &script)]);
            ws.grant_programs(&["sh", "cat"]);
            if hide {
                ws.job.hidden.push(state);
            }
            let (report, log) = ws.run(&builtin("command"), &Limits::default()).await;
            success(&report.outcome);
            log
        }
    };
    // Not hidden, the host file system is readable: the check can fail.
    assert!(run(false).await.contains("DEPLOY_KEY=hunter2"));
    let log = run(true).await;
    assert!(
        !log.contains("DEPLOY_KEY") && log.contains("No such file"),
        "{log}"
    );
}

// ---------------------------------------------------------------- test: command and wasm

#[tokio::test]
async fn test_command_counts_junit_results() {
    let report_xml = r#"<testsuite><testcase name="a"/><testcase name="b"/><testcase name="c"><skipped/></testcase></testsuite>"#;
    let mut ws = Workspace::new(&[
        (
            "Build",
            &format!("mkdir -p out && echo '{report_xml}' > out/results.xml"),
        ),
        ("Reports", "out/*.xml"),
    ]);
    ws.grant_programs(&["sh"]);
    let (report, _) = ws.run(&builtin("test-command"), &Limits::default()).await;
    let (summary, vars) = success(&report.outcome);
    assert_eq!(summary, "2 passed, 0 failed, 1 skipped");
    assert_eq!(
        (
            var(&vars, "Passed"),
            var(&vars, "Failed"),
            var(&vars, "Skipped")
        ),
        ("2", "0", "1")
    );

    let failing = r#"<testsuite><testcase name="ok"/><testcase name="broken"><failure/></testcase></testsuite>"#;
    let mut ws = Workspace::new(&[
        ("Build", &format!("echo '{failing}' > r.xml; exit 1")),
        ("Reports", "r.xml"),
    ]);
    ws.grant_programs(&["sh"]);
    let (report, _) = ws.run(&builtin("test-command"), &Limits::default()).await;
    assert_eq!(
        failure(&report.outcome).1,
        "1 passed, 1 failed, 0 skipped; failed: broken"
    );
    let problems = rejected("test-command", &[("Build", "x"), ("Reports", "[")]).await;
    assert!(
        problems[0].starts_with("configuration property `Reports`"),
        "{problems:?}"
    );
}

#[tokio::test]
async fn test_wasm_runs_command_components_with_nothing_granted() {
    let mut ws = Workspace::new(&[]);
    let tests = ws.input("tests", &[]);
    std::fs::copy(fixtures::WASM_CHECK, tests.join("check.wasm")).unwrap();
    let (report, log) = ws.run(&builtin("test-wasm"), &Limits::default()).await;
    assert_eq!(
        success(&report.outcome).0,
        "1 test components passed",
        "{log}"
    );
    assert!(
        log.contains("wasm-check: args [], files false, env false"),
        "{log}"
    );

    let mut ws = Workspace::new(&[("Arguments", "fail")]);
    let tests = ws.input("tests", &[]);
    std::fs::copy(fixtures::WASM_CHECK, tests.join("check.wasm")).unwrap();
    let (report, _) = ws.run(&builtin("test-wasm"), &Limits::default()).await;
    assert_eq!(
        failure(&report.outcome).1,
        "1 of 1 test components failed: tests/check.wasm"
    );
    let problems = rejected("test-wasm", &[("Pattern", "[")]).await;
    assert!(
        problems[0].starts_with("configuration property `Pattern`"),
        "{problems:?}"
    );
}

// ---------------------------------------------------------------- deploy: directory and http

#[tokio::test]
async fn deploy_directory_swaps_releases_keeps_some_and_rolls_back() {
    let target = tempfile::tempdir().unwrap();
    let mut releases = Vec::new();
    for (n, content) in ["one", "two", "three"].iter().enumerate() {
        let mut ws = Workspace::new(&[("Keep", "2"), ("Release", &format!("r{n}"))]);
        ws.input("build", &[("bin/app", content)]);
        ws.grant_path("target", target.path(), true);
        let (report, _) = ws
            .run(&builtin("deploy-directory"), &Limits::default())
            .await;
        let (_, vars) = success(&report.outcome);
        assert_eq!(
            var(&vars, "DeployedPath"),
            format!(
                "{}/current",
                target.path().canonicalize().unwrap().display()
            )
        );
        releases.push(var(&vars, "Release").to_string());
        assert_eq!(
            std::fs::read_to_string(target.path().join("current/bin/app")).unwrap(),
            *content
        );
    }
    let kept: Vec<String> = std::fs::read_dir(target.path().join("releases"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(kept.len(), 2, "{kept:?}");
    let mut ws = Workspace::new(&[("Rollback", "previous")]);
    ws.grant_path("target", target.path(), true);
    let (report, _) = ws
        .run(&builtin("deploy-directory"), &Limits::default())
        .await;
    assert_eq!(var(&success(&report.outcome).1, "Release"), "r1");
    assert_eq!(
        std::fs::read_to_string(target.path().join("current/bin/app")).unwrap(),
        "two"
    );

    let mut ws = Workspace::new(&[]);
    ws.input("build", &[("a", "b")]);
    ws.grant_path("target", target.path(), false);
    let (report, _) = ws
        .run(&builtin("deploy-directory"), &Limits::default())
        .await;
    assert_eq!(failure(&report.outcome).0, FailureKind::PermissionError);
    assert_eq!(
        rejected("deploy-directory", &[("Keep", "0")]).await,
        ["configuration property `Keep` must be at least 1"]
    );
}

#[tokio::test]
async fn deploying_the_same_release_again_never_touches_the_live_one() {
    let target = tempfile::tempdir().unwrap();
    let deploy = |content: &'static str| {
        let mut ws = Workspace::new(&[("Release", "same")]);
        ws.input("build", &[("bin/app", content)]);
        ws.grant_path("target", target.path(), true);
        ws
    };
    let (report, _) = deploy("first")
        .run(&builtin("deploy-directory"), &Limits::default())
        .await;
    assert_eq!(var(&success(&report.outcome).1, "Release"), "same");
    // A retry of the stage deploys the release again: into a folder of its
    // own, the live one left as it is until `current` no longer names it.
    let (report, _) = deploy("second")
        .run(&builtin("deploy-directory"), &Limits::default())
        .await;
    assert_eq!(var(&success(&report.outcome).1, "Release"), "same-2");
    assert_eq!(
        std::fs::read_to_string(target.path().join("releases/same/bin/app")).unwrap(),
        "first"
    );
    assert_eq!(
        std::fs::read_to_string(target.path().join("current/bin/app")).unwrap(),
        "second"
    );
}

#[tokio::test]
async fn deploy_http_streams_an_artifact_larger_than_its_memory() {
    let server = test_server(200, "{}").await;
    let url = format!("{}/upload", server.url);
    let mut ws = Workspace::new(&[("Url", &url), ("Method", "PUT")]);
    let big = "x".repeat(40 << 20);
    ws.input("build", &[("site.bin", big.as_str())]);
    ws.grant_url(&format!("{}/", server.url));
    let limits = Limits {
        memory_bytes: 24 << 20,
        ..Limits::default()
    };
    let (report, _) = ws.run(&builtin("deploy-http"), &limits).await;
    let (summary, _) = success(&report.outcome);
    assert!(summary.starts_with("sent 41944"), "{summary}");
    let received = server.received.lock().unwrap().clone();
    assert_eq!(received[0].method, "PUT");
    assert_eq!(received[0].body.len(), 512 + (40 << 20) + 1024);
}

#[tokio::test]
async fn deploy_http_sends_a_tar_to_a_granted_url_only() {
    let server = test_server(201, "{}").await;
    let url = format!("{}/deploy", server.url);
    let mut ws = Workspace::new(&[("Url", &url)]);
    ws.input("build", &[("index.html", "<h1>hi</h1>")]);
    ws.grant_url(&format!("{}/", server.url));
    let (report, _) = ws.run(&builtin("deploy-http"), &Limits::default()).await;
    let (_, vars) = success(&report.outcome);
    assert_eq!(var(&vars, "StatusCode"), "201");
    let received = server.received.lock().unwrap().clone();
    assert_eq!(
        (received[0].method.as_str(), received[0].path.as_str()),
        ("POST", "/deploy")
    );
    let tar = &received[0].body;
    assert!(tar.len() % 512 == 0 && tar.windows(10).any(|w| w == b"index.html"));

    // Not granted: refused, and the log names the grant.
    let mut ws = Workspace::new(&[("Url", &url)]);
    ws.input("build", &[("a", "b")]);
    let (report, log) = ws.run(&builtin("deploy-http"), &Limits::default()).await;
    let (kind, message) = failure(&report.outcome);
    assert_eq!(kind, FailureKind::PermissionError);
    assert!(
        message.contains("needs an `http` grant allowing it"),
        "{message}"
    );
    assert!(
        log.contains(&format!("denied HTTP request to {url}")),
        "{log}"
    );
    assert_eq!(
        server.received.lock().unwrap().len(),
        1,
        "nothing reached the server"
    );

    let failing = test_server(500, "broken").await;
    let mut ws = Workspace::new(&[("Url", &failing.url)]);
    ws.input("build", &[("a", "b")]);
    ws.grant_url(&failing.url);
    let (report, _) = ws.run(&builtin("deploy-http"), &Limits::default()).await;
    assert!(
        failure(&report.outcome).1.ends_with("answered 500: broken"),
        "{:?}",
        report.outcome
    );
    assert_eq!(
        rejected("deploy-http", &[("Url", "http://x"), ("Format", "zip")]).await,
        ["configuration property `Format` must be `tar` or `json`, not `zip`"]
    );
}

// ---------------------------------------------------------------- approval notifications

#[tokio::test]
async fn manual_approval_notifies_a_granted_url() {
    let server = test_server(200, "{}").await;
    let mut ws = Workspace::new(&[
        ("NotificationUrl", &server.url),
        ("ExternalEntityLink", "https://staging.example"),
    ]);
    ws.grant_url(&server.url);
    let (report, _) = ws.run(&builtin("manual"), &Limits::default()).await;
    assert!(
        matches!(report.outcome, Outcome::InProgress { .. }),
        "{:?}",
        report.outcome
    );
    let received = server.received.lock().unwrap().clone();
    let note: serde_json::Value = serde_json::from_slice(&received[0].body).unwrap();
    assert_eq!(note["event"], "approval-needed");
    assert_eq!(note["approve"], "sluice approve exec-test Test Act");
    assert_eq!(note["link"], "https://staging.example");

    // The decision, delivered by a call-back.
    let decide = |approved: bool| {
        let mut ws = Workspace::new(&[]);
        ws.job.continuation = Some("waiting-for-approval".into());
        ws.job.approval = Some(sluice::sandbox::Approval {
            approved,
            by: "alice".into(),
            summary: Some("looks right".into()),
        });
        ws
    };
    let (report, _) = decide(true)
        .run(&builtin("manual"), &Limits::default())
        .await;
    let (summary, vars) = success(&report.outcome);
    assert_eq!(summary, "approved by alice: looks right");
    assert_eq!(
        (var(&vars, "ApprovedBy"), var(&vars, "Comment")),
        ("alice", "looks right")
    );
    let (report, _) = decide(false)
        .run(&builtin("manual"), &Limits::default())
        .await;
    assert_eq!(
        failure(&report.outcome),
        (
            FailureKind::JobFailed,
            "rejected by alice: looks right".into()
        )
    );

    assert_eq!(
        rejected("manual", &[("NotificationUrl", "mailto:ops@example.com")]).await,
        [
            "configuration property `NotificationUrl` must be an http:// or https:// URL, not `mailto:ops@example.com`"
        ]
    );
}

// ---------------------------------------------------------------- invoke: wasm and webhook

#[tokio::test]
async fn invoke_wasm_runs_a_user_component_and_returns_its_variables() {
    let mut ws = Workspace::new(&[
        ("Component", "fns/gate.wasm"),
        ("Parameters", "Behavior=succeed\nSet=Answer=42"),
    ]);
    let fns = ws.input("fns", &[]);
    std::fs::copy(fixtures::GATE, fns.join("gate.wasm")).unwrap();
    let (report, _) = ws.run(&builtin("invoke-wasm"), &Limits::default()).await;
    let (_, vars) = success(&report.outcome);
    assert_eq!(var(&vars, "Answer"), "42");

    let mut ws = Workspace::new(&[
        ("Component", "fns/gate.wasm"),
        ("Parameters", "Behavior=fail\nMessage=no luck"),
    ]);
    let fns = ws.input("fns", &[]);
    std::fs::copy(fixtures::GATE, fns.join("gate.wasm")).unwrap();
    let (report, _) = ws.run(&builtin("invoke-wasm"), &Limits::default()).await;
    assert_eq!(failure(&report.outcome).1, "no luck");
    assert_eq!(
        rejected("invoke-wasm", &[]).await,
        ["missing required configuration property `Component`"]
    );
}

#[tokio::test]
async fn webhook_maps_the_answer_to_variables() {
    let server = test_server(
        200,
        r#"{"version": "1.4.2", "build": {"id": 77}, "ok": true}"#,
    )
    .await;
    let mut ws = Workspace::new(&[
        ("Url", &server.url),
        ("Map", "Version=version\nBuildId=build.id"),
    ]);
    ws.grant_url(&server.url);
    let (report, _) = ws.run(&builtin("webhook"), &Limits::default()).await;
    let (_, vars) = success(&report.outcome);
    assert_eq!(
        (var(&vars, "Version"), var(&vars, "BuildId")),
        ("1.4.2", "77")
    );
    let sent: serde_json::Value =
        serde_json::from_slice(&server.received.lock().unwrap()[0].body).unwrap();
    assert_eq!(sent["execution"], "exec-test");

    let not_json = test_server(200, "<html>").await;
    let mut ws = Workspace::new(&[("Url", &not_json.url)]);
    ws.grant_url(&not_json.url);
    let (report, _) = ws.run(&builtin("webhook"), &Limits::default()).await;
    assert!(
        failure(&report.outcome).1.contains("did not answer JSON"),
        "{:?}",
        report.outcome
    );
    assert_eq!(
        rejected("webhook", &[("Url", "http://x"), ("Body", "{nope")]).await,
        ["configuration property `Body` is not valid JSON"]
    );
}

// ---------------------------------------------------------------- secrets

#[tokio::test]
async fn a_secret_is_redacted_from_the_log_and_the_outcome() {
    let secret = "pa55-w0rd-xyz";
    let mut ws = Workspace::new(&[
        ("Environment", &format!("TOKEN={secret}")),
        (
            "Build",
            "echo \"token is $TOKEN\"; printf 'split pa55-'; printf 'w0rd-xyz\\n'; exit 3",
        ),
    ]);
    ws.grant_programs(&["sh"]);
    ws.grant_secret("TOKEN", secret);
    let (report, log) = ws.run(&builtin("command"), &Limits::default()).await;
    assert!(!log.contains(secret), "{log}");
    assert!(
        log.contains("token is ****") && log.contains("split ****"),
        "{log}"
    );
    let (_, message) = failure(&report.outcome);
    assert!(
        !message.contains(secret) && message.contains("token is ****"),
        "{message}"
    );
}
