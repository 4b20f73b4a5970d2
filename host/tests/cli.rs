//! `sluice action run` and `sluice action describe` as a user runs them:
//! output, JSON, exit codes, and the compile cache across processes.

use sluice_tests::fixtures;
use std::process::{Command, Output};

fn sluice(cache: &std::path::Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_sluice"))
        .arg("--cache-dir")
        .arg(cache)
        .args(args)
        .env_remove("SLUICE_CACHE_DIR")
        .output()
        .expect("sluice runs")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[test]
fn copy_runs_prints_its_log_and_outcome_and_exits_0() {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("src");
    std::fs::create_dir_all(src.join("sub")).unwrap();
    std::fs::write(src.join("a.txt"), "alpha").unwrap();
    std::fs::write(src.join("sub/b.txt"), "beta").unwrap();
    let out = dir.path().join("out");
    let output = sluice(
        &dir.path().join("cache"),
        &[
            "action",
            "run",
            "--provider",
            "builtin:copy",
            "--input",
            &format!("src={}", src.display()),
            "--output",
            &format!("out={}", out.display()),
        ],
    );
    let stdout = text(&output.stdout);
    assert_eq!(
        output.status.code(),
        Some(0),
        "{stdout}{}",
        text(&output.stderr)
    );
    assert!(
        stdout.contains("[info] copied 2 files (9 bytes) from `src` to /outputs/out"),
        "{stdout}"
    );
    assert!(stdout.contains("── succeeded in"), "{stdout}");
    assert!(
        stdout.contains("summary:  copied 2 files (9 bytes)"),
        "{stdout}"
    );
    assert!(stdout.contains("FileCount = 2"), "{stdout}");
    assert!(
        stdout.contains("out  2 files, 9 bytes  sha256:"),
        "{stdout}"
    );
    assert_eq!(
        std::fs::read_to_string(out.join("sub/b.txt")).unwrap(),
        "beta"
    );
}

#[test]
fn json_outcome_goes_to_stdout_and_a_failure_exits_1() {
    let dir = tempfile::tempdir().unwrap();
    let output = sluice(
        &dir.path().join("cache"),
        &[
            "action",
            "run",
            "--provider",
            fixtures::HOSTILE,
            "--config",
            "Do=panic",
            "--json",
        ],
    );
    assert_eq!(output.status.code(), Some(1), "{}", text(&output.stderr));
    let answer: serde_json::Value = serde_json::from_slice(&output.stdout).expect("JSON on stdout");
    assert_eq!(answer["outcome"]["status"], "failed");
    assert_eq!(answer["outcome"]["kind"], "job-failed");
    assert!(
        answer["outcome"]["message"]
            .as_str()
            .unwrap()
            .contains("boom: the fixture panicked on purpose")
    );
    // The log went to stderr.
    assert!(
        text(&output.stderr).contains("[error] panicked at"),
        "{}",
        text(&output.stderr)
    );
}

#[test]
fn timeout_and_memory_flags_apply() {
    let dir = tempfile::tempdir().unwrap();
    let cache = dir.path().join("cache");
    let output = sluice(
        &cache,
        &[
            "action",
            "run",
            "--provider",
            fixtures::HOSTILE,
            "--config",
            "Do=spin",
            "--timeout",
            "500ms",
        ],
    );
    assert_eq!(output.status.code(), Some(1));
    assert!(
        text(&output.stdout)
            .contains("deadline exceeded: the action did not finish within its timeout of 500ms"),
        "{}",
        text(&output.stdout)
    );
    let output = sluice(
        &cache,
        &[
            "action",
            "run",
            "--provider",
            fixtures::HOSTILE,
            "--config",
            "Do=hog",
            "--memory",
            "32MiB",
        ],
    );
    assert_eq!(output.status.code(), Some(1));
    assert!(
        text(&output.stdout)
            .contains("memory limit exceeded: the provider needed more than its limit of 32 MiB"),
        "{}",
        text(&output.stdout)
    );
}

#[test]
fn usage_and_sandbox_errors_exit_2_with_a_clear_message() {
    let dir = tempfile::tempdir().unwrap();
    let cache = dir.path().join("cache");
    let cases: &[(&[&str], &str)] = &[
        (
            &["action", "run", "--provider", "builtin:nope"],
            "there is no built-in provider `builtin:nope`",
        ),
        (
            &[
                "action",
                "run",
                "--provider",
                "builtin:copy",
                "--input",
                "src=/no/such/folder",
                "--output",
                "out=/tmp/x",
            ],
            "--input src=/no/such/folder: no such folder",
        ),
        (
            &[
                "action",
                "run",
                "--provider",
                "builtin:copy",
                "--config",
                "Colour=blue",
            ],
            "unknown configuration property `Colour`",
        ),
        (
            &["action", "run", "--provider", fixtures::SMUGGLER],
            "imports `example:forbidden/teleport@1.0.0`, which this host does not provide",
        ),
        (
            &[
                "action",
                "run",
                "--provider",
                "builtin:noop",
                "--timeout",
                "5 fortnights",
            ],
            "unknown duration unit",
        ),
        (
            &["action", "run", "--provider", "/no/such.wasm"],
            "cannot read provider component /no/such.wasm",
        ),
        (
            &[
                "action",
                "run",
                "--provider",
                "builtin:copy",
                "--input",
                "bad/name=/tmp",
            ],
            "artifact names use letters",
        ),
    ];
    for (args, expected) in cases {
        let output = sluice(&cache, args);
        let stderr = text(&output.stderr);
        assert_eq!(output.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(
            stderr.contains(expected),
            "{args:?}: expected `{expected}` in:\n{stderr}"
        );
    }
}

#[test]
fn describe_prints_the_descriptor_and_a_second_process_loads_from_the_compile_cache() {
    let dir = tempfile::tempdir().unwrap();
    let cache = dir.path().join("cache");
    let first = sluice(
        &cache,
        &["action", "describe", "--provider", "builtin:copy", "--json"],
    );
    assert_eq!(first.status.code(), Some(0), "{}", text(&first.stderr));
    let first: serde_json::Value = serde_json::from_slice(&first.stdout).unwrap();
    assert_eq!(first["loaded_from"], "compiled");
    assert_eq!(first["descriptor"]["action_type"]["provider"], "copy");
    assert_eq!(first["descriptor"]["action_type"]["category"], "build");
    let second = sluice(
        &cache,
        &["action", "describe", "--provider", "builtin:copy", "--json"],
    );
    let second: serde_json::Value = serde_json::from_slice(&second.stdout).unwrap();
    assert_eq!(second["loaded_from"], "compile-cache");
    let entries: Vec<_> = std::fs::read_dir(cache.join("compiled")).unwrap().collect();
    assert_eq!(entries.len(), 1, "one cache entry per component and engine");

    let human = sluice(
        &cache,
        &["action", "describe", "--provider", "builtin:copy"],
    );
    let human = text(&human.stdout);
    assert!(
        human.starts_with("builtin:copy  (build sluice/copy 1.0.0)"),
        "{human}"
    );
    assert!(human.contains("Merge (optional):"), "{human}");
}

/// Output into a pipe nobody reads any more (`sluice ... | head -1`) ends
/// the command quietly, as SIGPIPE does for any Unix tool, rather than
/// with a panic message.
#[test]
fn a_closed_output_pipe_ends_the_command_quietly() {
    use std::os::unix::process::ExitStatusExt;
    let (reader, writer) = std::io::pipe().unwrap();
    drop(reader);
    let out = Command::new(env!("CARGO_BIN_EXE_sluice"))
        .args(["action", "describe", "--provider", "builtin:copy"])
        .stdout(writer)
        .stderr(std::process::Stdio::piped())
        .output()
        .unwrap();
    assert_eq!(out.status.signal(), Some(13), "{:?}", out.status);
    assert!(
        !text(&out.stderr).contains("panicked"),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn migrate_creates_the_schema_and_refuses_a_newer_one_on_both_databases() {
    let dir = tempfile::tempdir().unwrap();
    let cache = dir.path().join("cache");
    // SQLite in the state directory.
    let state = dir.path().join("state");
    let state_arg = state.display().to_string();
    let made = sluice(&cache, &["--state-dir", &state_arg, "migrate", "--json"]);
    assert!(made.status.success(), "{}", text(&made.stderr));
    let answer: serde_json::Value = serde_json::from_slice(&made.stdout).unwrap();
    assert_eq!(answer["database"], "sqlite");
    let known = answer["schema_version"].as_i64().unwrap();
    assert!(known >= 7, "{answer}");
    let db = rusqlite::Connection::open(state.join("state.db")).unwrap();
    db.execute_batch(&format!("PRAGMA user_version = {}", known + 1))
        .unwrap();
    drop(db);
    let refused = sluice(&cache, &["--state-dir", &state_arg, "migrate"]);
    assert!(!refused.status.success(), "{}", text(&refused.stdout));
    assert!(
        text(&refused.stderr).contains("newer than this sluice understands"),
        "{}",
        text(&refused.stderr)
    );

    // PostgreSQL, named once and remembered by the state directory.
    let url = sluice_pgtest::Server::shared().database();
    let pg_state = dir.path().join("pg-state");
    let pg_arg = pg_state.display().to_string();
    let made = sluice(
        &cache,
        &[
            "--state-dir",
            &pg_arg,
            "--database",
            &url,
            "migrate",
            "--json",
        ],
    );
    assert!(made.status.success(), "{}", text(&made.stderr));
    let answer: serde_json::Value = serde_json::from_slice(&made.stdout).unwrap();
    assert_eq!(answer["database"], "postgres");
    let known = answer["schema_version"].as_i64().unwrap();
    let psql = sluice_pgtest::Server::shared().bin_dir().join("psql");
    let set = Command::new(psql)
        .args(["-X", "-d", &url, "-c"])
        .arg(format!("UPDATE sluice_schema SET version = {}", known + 1))
        .output()
        .unwrap();
    assert!(set.status.success(), "{}", text(&set.stderr));
    let refused = sluice(&cache, &["--state-dir", &pg_arg, "migrate"]);
    assert!(!refused.status.success());
    assert!(
        text(&refused.stderr).contains("newer than this sluice understands"),
        "{}",
        text(&refused.stderr)
    );
    // Another database for the same state directory is refused.
    let other = sluice_pgtest::Server::shared().database();
    let moved = sluice(
        &cache,
        &["--state-dir", &pg_arg, "--database", &other, "migrate"],
    );
    assert_eq!(moved.status.code(), Some(2));
    assert!(text(&moved.stderr).contains("give each host a state directory of its own"));
}
