//! Hostile providers are contained, each with the exact outcome a user
//! would see, and after each the same process runs a normal provider.

use sluice::sandbox::{Failure, FailureKind, Limits, Outcome, SandboxError};
use sluice_tests::{Workspace, builtin, fixture, fixtures, sandbox};
use std::time::{Duration, Instant};

fn failure(outcome: &Outcome) -> &Failure {
    match outcome {
        Outcome::Failed(f) => f,
        other => panic!("expected a failure, got {other:?}"),
    }
}

/// The sandbox still runs a well-behaved provider.
async fn host_survives() {
    let mut ws = Workspace::new(&[]);
    ws.input("src", &[("a.txt", "still here")]);
    let out = ws.output("out");
    let (report, _) = ws.run(&builtin("copy"), &Limits::default()).await;
    assert!(
        matches!(report.outcome, Outcome::Succeeded { .. }),
        "{:?}",
        report.outcome
    );
    assert_eq!(
        std::fs::read_to_string(out.join("a.txt")).unwrap(),
        "still here"
    );
}

fn limits(timeout: Duration) -> Limits {
    Limits {
        timeout,
        ..Limits::default()
    }
}

#[tokio::test]
async fn an_infinite_loop_fails_with_deadline_exceeded_within_the_timeout() {
    let ws = Workspace::new(&[("Do", "spin")]);
    let started = Instant::now();
    let (report, _) = ws
        .run(&fixture(fixtures::HOSTILE), &limits(Duration::from_secs(1)))
        .await;
    let elapsed = started.elapsed();
    let f = failure(&report.outcome);
    assert_eq!(f.kind, FailureKind::JobFailed);
    assert_eq!(
        f.message,
        "deadline exceeded: the action did not finish within its timeout of 1.0s"
    );
    assert!(
        elapsed >= Duration::from_secs(1),
        "stopped early: {elapsed:?}"
    );
    assert!(
        elapsed < Duration::from_secs(3),
        "stopped late: {elapsed:?}"
    );
    host_survives().await;
}

#[tokio::test]
async fn unbounded_memory_growth_fails_naming_the_memory_limit() {
    let ws = Workspace::new(&[("Do", "hog")]);
    let limits = Limits {
        memory_bytes: 64 << 20,
        ..Limits::default()
    };
    let (report, _) = ws.run(&fixture(fixtures::HOSTILE), &limits).await;
    let f = failure(&report.outcome);
    assert!(
        f.message.starts_with(
            "memory limit exceeded: the provider needed more than its limit of 64 MiB"
        ),
        "{}",
        f.message
    );
    host_survives().await;
}

#[tokio::test]
async fn deep_recursion_fails_and_the_host_survives() {
    let ws = Workspace::new(&[("Do", "recurse")]);
    let (report, _) = ws
        .run(&fixture(fixtures::HOSTILE), &Limits::default())
        .await;
    let f = failure(&report.outcome);
    // A Rust guest's stack lives in its linear memory: overflowing it is an
    // out-of-bounds access rather than a native stack overflow.
    assert_eq!(
        f.message,
        "the provider crashed: out-of-bounds memory access (a guest whose stack overflows ends this way)"
    );
    host_survives().await;
}

#[tokio::test]
async fn a_panic_fails_with_the_guests_message() {
    let ws = Workspace::new(&[("Do", "panic")]);
    let (report, log) = ws
        .run(&fixture(fixtures::HOSTILE), &Limits::default())
        .await;
    let f = failure(&report.outcome);
    assert!(
        f.message.starts_with(
            "the provider crashed (it aborted, as a panic does): panicked at hostile/src/lib.rs:"
        ),
        "{}",
        f.message
    );
    assert!(
        f.message
            .ends_with(": boom: the fixture panicked on purpose"),
        "{}",
        f.message
    );
    assert!(
        log.contains("[error] panicked at hostile/src/lib.rs:"),
        "{log}"
    );
    host_survives().await;
}

#[tokio::test]
async fn exiting_instead_of_answering_fails_with_the_status() {
    let ws = Workspace::new(&[("Do", "exit")]);
    let (report, _) = ws
        .run(&fixture(fixtures::HOSTILE), &Limits::default())
        .await;
    assert_eq!(
        failure(&report.outcome).message,
        "the provider exited with status 1 instead of returning an outcome"
    );
    host_survives().await;
}

#[tokio::test]
async fn writing_into_an_input_artifact_is_denied() {
    let mut ws = Workspace::new(&[("Do", "write-input")]);
    let input = ws.input("src", &[("victim.txt", "original")]);
    let (report, _) = ws
        .run(&fixture(fixtures::HOSTILE), &Limits::default())
        .await;
    let f = failure(&report.outcome);
    assert!(f.message.starts_with("denied: "), "{}", f.message);
    assert_eq!(
        std::fs::read_to_string(input.join("victim.txt")).unwrap(),
        "original"
    );
    assert!(!input.join("planted.txt").exists());
    host_survives().await;
}

#[tokio::test]
async fn opening_etc_passwd_is_denied() {
    let ws = Workspace::new(&[("Do", "read-file"), ("Target", "/etc/passwd")]);
    let (report, _) = ws
        .run(&fixture(fixtures::HOSTILE), &Limits::default())
        .await;
    let f = failure(&report.outcome);
    assert!(f.message.starts_with("denied: "), "{}", f.message);
    host_survives().await;
}

#[tokio::test]
async fn absolute_host_paths_are_not_found() {
    let dir = tempfile::tempdir().unwrap();
    let secret = dir.path().join("secret.txt");
    std::fs::write(&secret, "host secret").unwrap();
    let target = secret.display().to_string();
    let ws = Workspace::new(&[("Do", "read-file"), ("Target", &target)]);
    let (report, _) = ws
        .run(&fixture(fixtures::HOSTILE), &Limits::default())
        .await;
    let f = failure(&report.outcome);
    assert!(f.message.starts_with("denied: "), "{}", f.message);
    host_survives().await;
}

#[tokio::test]
async fn dot_dot_paths_cannot_leave_a_mounted_folder() {
    let mut ws = Workspace::new(&[("Do", "escape")]);
    ws.input("src", &[("a", "b")]);
    let (report, _) = ws
        .run(&fixture(fixtures::HOSTILE), &Limits::default())
        .await;
    let f = failure(&report.outcome);
    assert!(f.message.starts_with("denied: "), "{}", f.message);
    assert_eq!(f.message.matches("/etc/").count(), 2, "{}", f.message);
    host_survives().await;
}

#[tokio::test]
async fn a_symlink_pointing_outside_an_output_is_not_followed_when_read_back() {
    let mut ws = Workspace::new(&[("Do", "symlink-out")]);
    let out = ws.output("out");
    let (report, _) = ws
        .run(&fixture(fixtures::HOSTILE), &Limits::default())
        .await;
    let Outcome::Succeeded {
        summary, variables, ..
    } = &report.outcome
    else {
        panic!("{:?}", report.outcome);
    };
    // Inside the sandbox, no link leads out.
    assert_eq!(
        variables,
        &[("Followed".to_string(), "false".to_string())],
        "{summary:?}"
    );

    // Reading the output back never follows a link out of it.
    let manifest = sluice::artifacts::scan(
        &out,
        sluice::artifacts::Tidy::Yes,
        &mut sluice::contain::Budget::unlimited(),
    )
    .unwrap();
    let sums = sluice::artifacts::store::content_sums(&manifest, &out).unwrap();
    let passwd = std::fs::read("/etc/passwd").unwrap_or_default();
    let passwd_digest = sluice::contain::Root::open(std::path::Path::new("/etc"))
        .and_then(|etc| {
            sluice::artifacts::manifest::hash_file(&etc, std::path::Path::new("passwd"))
        })
        .ok();
    for entry in &manifest.entries {
        assert!(
            !entry.path.contains("absolute") && !entry.path.contains("climbing"),
            "{entry:?}"
        );
        if let sluice::artifacts::EntryKind::File { size, .. } = &entry.kind {
            assert!(*size < 1000, "{entry:?}");
        }
    }
    for (path, sha256) in &sums.files {
        assert!(
            Some(sha256.clone()) != passwd_digest.as_ref().map(|d| d.0.clone())
                || passwd.is_empty(),
            "{path}"
        );
    }
    let paths: Vec<&str> = manifest.entries.iter().map(|e| e.path.as_str()).collect();
    assert!(paths.contains(&"real.txt"), "{paths:?}");
    // Whatever links the guest managed to make that lead out were dropped
    // and said so.
    let made = summary.as_deref().unwrap_or_default();
    for name in ["absolute", "climbing"] {
        if made.contains(&format!("made: {name}")) || made.contains(&format!(",{name}")) {
            assert!(
                manifest
                    .skipped
                    .iter()
                    .any(|s| s.path == name && s.reason.contains("not followed"))
            );
        }
    }
    host_survives().await;
}

#[tokio::test]
async fn a_log_flood_is_truncated_at_the_cap() {
    let ws = Workspace::new(&[("Do", "flood"), ("Target", "20")]);
    let limits = Limits {
        log_bytes: 1 << 20,
        ..Limits::default()
    };
    let (report, log) = ws.run(&fixture(fixtures::HOSTILE), &limits).await;
    assert!(
        matches!(report.outcome, Outcome::Succeeded { .. }),
        "{:?}",
        report.outcome
    );
    // Host lines, each on a line of its own: the cut, then at the end of
    // the call how much was dropped.
    let tail = &log[log.len().saturating_sub(300)..];
    assert!(
        tail.contains("\n\x1e[sluice] log truncated: the action's log reached its cap of 1 MiB; further output is dropped\n\x1e[sluice] 19.0 MiB of log dropped past the cap of 1 MiB\n"),
        "{tail:?}"
    );
    assert_eq!(log.matches("log truncated").count(), 1);
    assert!(log.len() < (1 << 20) + 300, "{}", log.len());
    assert!(!log.contains("flood done"));
    host_survives().await;
}

#[tokio::test]
async fn an_oversized_outcome_is_rejected_with_a_clear_error() {
    let ws = Workspace::new(&[("Do", "big-summary")]);
    let (report, _) = ws
        .run(&fixture(fixtures::HOSTILE), &Limits::default())
        .await;
    assert_eq!(
        failure(&report.outcome).message,
        "the provider's outcome was rejected: its summary is 1 MiB long, over the limit of 2 KiB"
    );
    let ws = Workspace::new(&[("Do", "many-variables")]);
    let (report, _) = ws
        .run(&fixture(fixtures::HOSTILE), &Limits::default())
        .await;
    assert_eq!(
        failure(&report.outcome).message,
        "the provider's outcome was rejected: it has 5000 output variables, over the limit of 100"
    );
    host_survives().await;
}

#[tokio::test]
async fn an_import_the_host_does_not_provide_is_refused_before_running() {
    let source =
        sluice::sandbox::ComponentSource::from_file(std::path::Path::new(fixtures::SMUGGLER))
            .unwrap();
    let error = sandbox().load(&source).unwrap_err();
    assert!(
        matches!(error, SandboxError::UnsupportedImport { .. }),
        "{error:?}"
    );
    assert_eq!(
        error.to_string(),
        format!(
            "provider `{}` imports `example:forbidden/teleport@1.0.0`, which this host does not \
             provide; it was refused before running (providers may import WASI 0.2 and \
             sluice:provider@0.1)",
            fixtures::SMUGGLER
        )
    );
    host_survives().await;
}

#[tokio::test]
async fn no_environment_arguments_or_network() {
    let ws = Workspace::new(&[("Do", "env")]);
    let (report, _) = ws
        .run(&fixture(fixtures::HOSTILE), &Limits::default())
        .await;
    let Outcome::Succeeded { variables, .. } = &report.outcome else {
        panic!("{:?}", report.outcome)
    };
    assert_eq!(
        variables,
        &[
            ("EnvCount".into(), "0".into()),
            ("ArgCount".into(), "0".into())
        ]
    );

    let ws = Workspace::new(&[("Do", "connect")]);
    let (report, _) = ws
        .run(&fixture(fixtures::HOSTILE), &Limits::default())
        .await;
    assert!(
        failure(&report.outcome).message.starts_with("denied: "),
        "{:?}",
        report.outcome
    );
    host_survives().await;
}

#[tokio::test]
async fn many_jobs_run_concurrently_on_one_provider() {
    let provider = builtin("noop");
    let mut tasks = Vec::new();
    for _ in 0..200 {
        let provider = provider.clone();
        tasks.push(tokio::spawn(async move {
            let ws = Workspace::new(&[]);
            ws.run(&provider, &Limits::default()).await.0.outcome
        }));
    }
    for task in tasks {
        assert!(matches!(task.await.unwrap(), Outcome::Succeeded { .. }));
    }
}
