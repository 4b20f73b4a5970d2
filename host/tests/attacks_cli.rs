//! The attack suite's part that needs the `sluice` binary: what reaches a
//! terminal, the host killed while a program runs, a provider polling in a
//! loop, bad descriptors and slow queries wherever a component is loaded,
//! and grants of the state directory. The rest is in
//! `tests/tests/attacks.rs`.

use sluice_tests::fixtures;
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

fn sluice(cwd: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_sluice"))
        .current_dir(cwd)
        .args(args)
        .env("SLUICE_CACHE_DIR", cache())
        .env_remove("SLUICE_RECHECK_FLOOR")
        .output()
        .expect("sluice runs")
}

fn cache() -> std::path::PathBuf {
    Path::new(env!("CARGO_TARGET_TMPDIR")).join("attacks-cli-cache")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[test]
fn action_run_shows_provider_text_escaped_and_behind_the_gutter() {
    let dir = tempfile::tempdir().unwrap();
    let out = sluice(
        dir.path(),
        &[
            "action",
            "run",
            "--provider",
            fixtures::ATTACKER,
            "--config",
            "Attack=forge",
        ],
    );
    let stdout = text(&out.stdout);
    assert!(out.status.success(), "{stdout}{}", text(&out.stderr));
    for forbidden in ['\x1b', '\r', '\x07', '\u{202e}', '\x1e'] {
        assert!(
            !stdout.contains(forbidden),
            "{forbidden:?} reached the terminal: {stdout:?}"
        );
    }
    // No line a provider wrote starts like one of the host's.
    for line in stdout.lines() {
        if line.starts_with("[sluice]") || line.starts_with("──") {
            assert!(
                !line.contains("approved by admin")
                    && !line.contains("forged")
                    && !line.contains("denied nothing")
                    && !line.contains("succeeded in 1ms"),
                "a provider line passed for the host's: {line}"
            );
        }
    }
    assert!(
        stdout.contains("│ \\x1b[2J\\x1b[H\\x0d[sluice] approved by admin"),
        "{stdout}"
    );
    assert!(stdout.contains("│ ── succeeded in 1ms"), "{stdout}");
    assert!(
        stdout.contains("summary:  \\x1b[31mred\\x0d✔ Succeeded"),
        "{stdout}"
    );
    assert!(stdout.contains("Text = \\x1b]0;title\\x07"), "{stdout}");
}

#[test]
fn sluice_logs_shows_provider_lines_escaped_and_marked() {
    let dir = tempfile::tempdir().unwrap();
    let pipeline = dir.path().join("forge.yaml");
    std::fs::write(
        &pipeline,
        format!(
            r#"
name: forge
stages:
  - name: Source
    actions:
      - name: Src
        provider: builtin:directory
        grants: {{ paths: {{ source: {{ path: src }} }} }}
        outputs: [Code]
  - name: Test
    actions:
      - name: Forge
        provider: "{attacker}"
        configuration: {{ Attack: forge }}
        inputs: [Code]
"#,
            attacker = fixtures::ATTACKER
        ),
    )
    .unwrap();
    std::fs::create_dir(dir.path().join("src")).unwrap();
    std::fs::write(dir.path().join("src/a.txt"), "a").unwrap();
    let run = sluice(dir.path(), &["run", "forge.yaml"]);
    assert!(
        run.status.success(),
        "{}{}",
        text(&run.stdout),
        text(&run.stderr)
    );
    let shown = text(&run.stdout);
    let id = shown
        .split("execution ")
        .nth(1)
        .and_then(|r| r.split_whitespace().next())
        .unwrap()
        .to_string();
    // The progress view escapes the summary too.
    assert!(
        !shown.contains('\x1b') && !shown.contains('\r'),
        "{shown:?}"
    );
    let logs = sluice(dir.path(), &["logs", &id, "--action", "Test/Forge"]);
    let logs = text(&logs.stdout);
    assert!(!logs.contains('\x1b') && !logs.contains('\r'), "{logs:?}");
    assert!(logs.contains("│ \\x1e[sluice] forged host line"), "{logs}");
    assert!(logs.contains("│ [sluice] denied nothing"), "{logs}");
    assert!(
        !logs.lines().any(|l| l.starts_with("[sluice] forged")),
        "{logs}"
    );
}

/// How many processes run exactly `sleep SECONDS` (their arguments, which
/// are NUL-separated in `/proc`).
fn sleeps_running(seconds: &str) -> usize {
    let wanted = format!("sleep\0{seconds}\0");
    std::fs::read_dir("/proc")
        .unwrap()
        .flatten()
        .filter(|e| std::fs::read(e.path().join("cmdline")).is_ok_and(|c| c == wanted.as_bytes()))
        .count()
}

#[test]
fn killing_the_host_ends_every_program_it_started() {
    let dir = tempfile::tempdir().unwrap();
    // Unique to this run, so nothing else matches it.
    let marker = format!("302.{}", std::process::id());
    struct Kill(std::process::Child);
    impl Drop for Kill {
        fn drop(&mut self) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
    let host = Command::new(env!("CARGO_BIN_EXE_sluice"))
        .current_dir(dir.path())
        .args([
            "action",
            "run",
            "--provider",
            fixtures::ATTACKER,
            "--grant-program",
            "sh",
            "--config",
            "Attack=run",
            "--config",
            &format!("Script=sleep {marker} & sleep {marker} & sleep {marker}"),
        ])
        .env("SLUICE_CACHE_DIR", cache())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut host = Kill(host);
    let started = Instant::now();
    while sleeps_running(&marker) < 3 {
        assert!(started.elapsed() < Duration::from_secs(60), "never started");
        std::thread::sleep(Duration::from_millis(50));
    }
    host.0.kill().unwrap();
    host.0.wait().unwrap();
    let killed = Instant::now();
    while sleeps_running(&marker) > 0 {
        assert!(
            killed.elapsed() < Duration::from_secs(5),
            "programs outlived the host"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn a_provider_in_progress_forever_at_zero_ms_is_not_a_busy_loop() {
    let dir = tempfile::tempdir().unwrap();
    let out = sluice(
        dir.path(),
        &[
            "action",
            "run",
            "--provider",
            fixtures::ATTACKER,
            "--config",
            "Attack=in-progress-forever",
            "--timeout",
            "4s",
            "--json",
        ],
    );
    let answer: serde_json::Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}{}", text(&out.stdout), text(&out.stderr)));
    let calls = answer["calls"].as_u64().unwrap();
    // At the host's floor of 1 s: about one call a second.
    assert!((2..=5).contains(&calls), "{calls} calls in 4 s");
    assert!(
        answer["outcome"]["message"]
            .as_str()
            .unwrap()
            .contains("deadline exceeded"),
        "{answer}"
    );
}

#[test]
fn a_bad_descriptor_is_refused_wherever_the_component_is_loaded() {
    let dir = tempfile::tempdir().unwrap();
    let expect = |out: &Output, what: &str| {
        let all = format!("{}{}", text(&out.stdout), text(&out.stderr));
        assert!(!out.status.success(), "{what}: {all}");
        assert!(
            all.contains("describes itself wrongly") && all.contains("bad_descriptor.wasm"),
            "{what}: {all}"
        );
        assert!(!all.contains('\x1b'), "{what}: {all:?}");
        assert!(!all.contains("BREACH"), "{what}: {all}");
    };
    let describe = sluice(
        dir.path(),
        &["action", "describe", "--provider", fixtures::BAD_DESCRIPTOR],
    );
    expect(&describe, "action describe");
    let run = sluice(
        dir.path(),
        &["action", "run", "--provider", fixtures::BAD_DESCRIPTOR],
    );
    expect(&run, "action run");
    std::fs::write(
        dir.path().join("bad.yaml"),
        format!(
            r#"
name: bad
stages:
  - name: Source
    actions:
      - name: Src
        provider: builtin:directory
        grants: {{ paths: {{ source: {{ path: . }} }} }}
        outputs: [Code]
  - name: Build
    actions:
      - name: Bad
        provider: "{bad}"
        inputs: [Code]
"#,
            bad = fixtures::BAD_DESCRIPTOR
        ),
    )
    .unwrap();
    expect(
        &sluice(
            dir.path(),
            &["--state-dir", "/var/tmp/none", "validate", "bad.yaml"],
        ),
        "validate",
    );
    expect(
        &sluice(
            dir.path(),
            &[
                "plugin",
                "pack",
                fixtures::BAD_DESCRIPTOR,
                "--out",
                "bad.tar",
            ],
        ),
        "plugin pack",
    );
}

#[test]
fn describe_stops_at_the_query_time_limit_set_on_the_command_line() {
    let dir = tempfile::tempdir().unwrap();
    let started = Instant::now();
    let out = sluice(
        dir.path(),
        &[
            "--query-timeout",
            "1s",
            "action",
            "describe",
            "--provider",
            fixtures::SLOW_DESCRIBE,
        ],
    );
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("failed in `describe`: deadline exceeded"),
        "{stderr}"
    );
    assert!(started.elapsed() < Duration::from_secs(30));
}

#[test]
fn no_folder_holding_the_state_directory_can_be_granted() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join(".sluice")).unwrap();
    std::fs::write(dir.path().join(".sluice/secrets"), "TOKEN=s3cr3t\n").unwrap();
    std::fs::set_permissions(
        dir.path().join(".sluice/secrets"),
        std::os::unix::fs::PermissionsExt::from_mode(0o600),
    )
    .unwrap();
    std::fs::write(
        dir.path().join("p.yaml"),
        r#"
name: greedy
stages:
  - name: Source
    actions:
      - name: Src
        provider: builtin:directory
        grants: { paths: { source: { path: . } } }
        outputs: [Code]
  - name: Build
    actions:
      - name: Copy
        provider: builtin:copy
        inputs: [Code]
        outputs: [Out]
"#,
    )
    .unwrap();
    let validate = sluice(dir.path(), &["validate", "p.yaml"]);
    let stderr = text(&validate.stderr);
    assert!(!validate.status.success(), "{stderr}");
    assert!(
        stderr.contains("stages[0].actions[0].grants.paths.source.path")
            && stderr.contains("holds the state directory"),
        "{stderr}"
    );
    let run = sluice(
        dir.path(),
        &[
            "action",
            "run",
            "--provider",
            "builtin:directory",
            "--grant-path",
            "source=.",
            "--output",
            "Out=out",
        ],
    );
    let stderr = text(&run.stderr);
    assert_eq!(run.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("--grant-path source: the folder")
            && stderr.contains("holds the state directory"),
        "{stderr}"
    );
    assert!(!dir.path().join("out/.sluice").exists());
}

#[test]
fn a_host_that_cannot_isolate_programs_refuses_process_grants_unless_told_otherwise() {
    use std::os::unix::fs::MetadataExt;
    // Root with every capability dropped cannot make namespaces (and is not
    // given a user namespace): the probe fails. As another user, isolation
    // goes through a user namespace and this host state cannot be made
    // from here.
    if std::fs::metadata("/proc/self").unwrap().uid() != 0 {
        eprintln!("skipped: needs root to run sluice with its capabilities dropped");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let run = |extra: &[&str]| {
        let mut command = Command::new("setpriv");
        command
            .args(["--bounding-set=-all", "--inh-caps=-all"])
            .arg(env!("CARGO_BIN_EXE_sluice"))
            .args(extra)
            .args([
                "action",
                "run",
                "--provider",
                fixtures::ATTACKER,
                "--grant-program",
                "sh",
                "--config",
                "Attack=run",
                "--config",
                "Script=echo ran",
            ])
            .current_dir(dir.path())
            .env("SLUICE_CACHE_DIR", cache());
        command.output().expect("setpriv runs")
    };
    let refused = run(&[]);
    let stdout = text(&refused.stdout);
    assert_eq!(
        refused.status.code(),
        Some(1),
        "{stdout}{}",
        text(&refused.stderr)
    );
    assert!(
        stdout.contains("programs cannot be isolated on this host (")
            && stdout.contains("needs the host setting --unsandboxed-programs"),
        "{stdout}"
    );
    assert!(!stdout.contains("│ ran"), "{stdout}");
    let allowed = run(&["--unsandboxed-programs"]);
    let stdout = text(&allowed.stdout);
    assert!(
        allowed.status.success(),
        "{stdout}{}",
        text(&allowed.stderr)
    );
    assert!(stdout.contains("│ ran"), "{stdout}");
}
