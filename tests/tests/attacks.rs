//! The attack suite: a provider written against the raw contract
//! (`tests/fixtures/attacker`, no SDK) tries every class of escape the
//! sandbox must hold against. Each test asserts both containment (nothing
//! outside was read, written or kept) and the reason the host gave. The
//! classes follow `docs/security.md`; what needs the `sluice` binary (the
//! terminal, the host killed) is in `host/tests/attacks_cli.rs`.

use sluice::artifacts::{EntryKind, Tidy, scan};
use sluice::contain::Budget;
use sluice::sandbox::{Limits, Outcome, SandboxBuilder};
use sluice_tests::{Workspace, builtin, fixture, fixtures, test_server};
use std::path::Path;
use std::time::{Duration, Instant};

fn attack(name: &str) -> Workspace {
    Workspace::new(&[("Attack", name)])
}

/// The host's reason, from an attack that was contained.
fn contained(outcome: &Outcome) -> String {
    match outcome {
        Outcome::Failed(f) => {
            assert!(!f.message.contains("BREACH"), "{}", f.message);
            f.message.clone()
        }
        Outcome::Succeeded { summary, .. } => panic!("not contained: {summary:?}"),
        other => panic!("not contained: {other:?}"),
    }
}

fn summary(outcome: &Outcome) -> String {
    match outcome {
        Outcome::Succeeded { summary, .. } => {
            let summary = summary.clone().unwrap_or_default();
            assert!(!summary.starts_with("BREACH"), "{summary}");
            summary
        }
        other => panic!("expected a success, got {other:?}"),
    }
}

/// The attacker's component put in an input artifact, so it can run itself.
fn with_own_component(ws: &mut Workspace) {
    let tools = ws.input("Tools", &[]);
    std::fs::copy(fixtures::ATTACKER, tools.join("attacker.wasm")).unwrap();
}

/// A folder outside every job folder, with a file in it.
fn outside(content: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("secret"), content).unwrap();
    dir
}

// ------------------------------------------------------------- class 1: roots

#[tokio::test]
async fn a_link_climbing_out_of_scratch_reads_and_writes_nothing_through_files_copy() {
    let victim = outside("SECRET");
    let target = victim.path().join("secret");
    let planted = victim.path().join("planted");
    let mut ws = attack("copy-through-climbing-link");
    ws.job.configuration.push((
        "Target".into(),
        target.display().to_string().trim_start_matches('/').into(),
    ));
    ws.job.configuration.push((
        "Path".into(),
        planted.display().to_string().trim_start_matches('/').into(),
    ));
    let (report, _) = ws
        .run(&fixture(fixtures::ATTACKER), &Limits::default())
        .await;
    let why = contained(&report.outcome);
    // Reading and writing through the link: escapes; copying the link
    // itself: links are never followed.
    assert_eq!(why.matches("leads outside its folder").count(), 2, "{why}");
    assert!(
        why.contains("`up` is a symbolic link: links are not followed"),
        "{why}"
    );
    assert!(!planted.exists());
    assert!(!ws.job.scratch.join("stolen").exists());
}

#[tokio::test]
async fn a_chain_of_two_harmless_links_is_judged_where_it_resolves() {
    let mut ws = attack("copy-through-chain");
    // The chain resolves to the scratch folder's parent.
    std::fs::write(ws.dir.path().join("secret"), "SECRET").unwrap();
    let (report, _) = ws
        .run(&fixture(fixtures::ATTACKER), &Limits::default())
        .await;
    let why = contained(&report.outcome);
    assert!(why.contains("leads outside its folder"), "{why}");
    assert!(!ws.job.scratch.join("stolen").exists());
    let _ = &mut ws;
}

#[tokio::test]
async fn dot_dot_is_refused_in_every_argument_of_every_host_function() {
    let mut ws = attack("dot-dot");
    ws.grant_programs(&["sh"]);
    let (report, _) = ws
        .run(&fixture(fixtures::ATTACKER), &Limits::default())
        .await;
    let why = contained(&report.outcome);
    for what in [
        "files.copy from",
        "files.copy to",
        "components.run-command",
        "components.run-provider",
        "process.run cwd",
    ] {
        assert!(why.contains(&format!("{what}: ")), "{what}: {why}");
    }
    assert_eq!(
        why.matches("leads outside its folder (`..`)").count(),
        5,
        "{why}"
    );
}

#[tokio::test]
async fn links_that_lead_out_of_an_output_are_dropped_at_read_back_and_never_stored() {
    let mut ws = attack("output-chain");
    let out = ws.output("Out");
    let (report, _) = ws
        .run(&fixture(fixtures::ATTACKER), &Limits::default())
        .await;
    summary(&report.outcome);
    let manifest = scan(&out, Tidy::Yes, &mut Budget::unlimited()).unwrap();
    let kept: Vec<&str> = manifest.entries.iter().map(|e| e.path.as_str()).collect();
    assert_eq!(kept, ["a", "a/b", "a/b/f", "a/b/y", "good"]);
    let skipped: Vec<(&str, &str)> = manifest
        .skipped
        .iter()
        .map(|s| (s.path.as_str(), s.reason.as_str()))
        .collect();
    assert_eq!(skipped.len(), 2, "{skipped:?}");
    assert!(
        skipped.iter().all(|(_, why)| why.contains("leads outside")),
        "{skipped:?}"
    );
    // What is stored holds no link that resolves outside it.
    let root = out.canonicalize().unwrap();
    for entry in &manifest.entries {
        if let EntryKind::Symlink { .. } = entry.kind {
            let resolved = out.join(&entry.path).canonicalize().unwrap();
            assert!(
                resolved.starts_with(&root),
                "{} -> {resolved:?}",
                entry.path
            );
        }
    }
}

#[tokio::test]
async fn a_component_path_linking_to_a_device_outside_is_refused_at_once() {
    let ws = attack("component-outside");
    let started = Instant::now();
    let (report, _) = ws
        .run(&fixture(fixtures::ATTACKER), &Limits::default())
        .await;
    let why = contained(&report.outcome);
    assert!(why.contains("leads outside its folder"), "{why}");
    assert!(started.elapsed() < Duration::from_secs(5));
}

#[tokio::test]
async fn a_link_swapped_in_while_the_host_copies_is_never_followed() {
    let secret = outside("SECRET");
    let mut ws = attack("copy-loop");
    ws.job.configuration.push(("Count".into(), "3000".into()));
    let shared = ws.dir.path().join("shared");
    std::fs::create_dir_all(shared.join("x")).unwrap();
    std::fs::write(shared.join("x/f"), "ok").unwrap();
    std::os::unix::fs::symlink(secret.path(), shared.join("y")).unwrap();
    std::fs::rename(secret.path().join("secret"), secret.path().join("f")).unwrap();
    ws.grant_path("shared", &shared, true);
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let swapper = {
        let stop = stop.clone();
        let shared = shared.clone();
        std::thread::spawn(move || {
            let mut swaps = 0u64;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                // `x` is the real folder, then the link out, atomically.
                rustix::fs::renameat_with(
                    rustix::fs::CWD,
                    shared.join("x"),
                    rustix::fs::CWD,
                    shared.join("y"),
                    rustix::fs::RenameFlags::EXCHANGE,
                )
                .unwrap();
                swaps += 1;
            }
            swaps
        })
    };
    let (report, _) = ws
        .run(&fixture(fixtures::ATTACKER), &Limits::default())
        .await;
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let swaps = swapper.join().unwrap();
    let done = summary(&report.outcome);
    // Both states were met while copying: the folder (copied) and the link
    // out (refused); the secret was never read.
    let counts: Vec<u64> = done.split(' ').filter_map(|w| w.parse().ok()).collect();
    assert!(
        swaps > 0 && counts.len() == 2 && counts[0] > 0 && counts[1] > 0,
        "{swaps} swaps: {done}"
    );
}

// ------------------------------------------------------------- class 2: bounds

#[tokio::test]
async fn a_sparse_terabyte_counts_its_apparent_size_and_is_refused_at_once() {
    let ws = attack("sparse-copy");
    let started = Instant::now();
    let (report, _) = ws
        .run(&fixture(fixtures::ATTACKER), &Limits::default())
        .await;
    let why = contained(&report.outcome);
    assert!(
        why.contains("holds more than the action's limit of 10 GiB (output_size)"),
        "{why}"
    );
    assert!(started.elapsed() < Duration::from_secs(5));
    assert!(!ws.job.scratch.join("copy").exists());
}

fn folder_bytes(dir: &Path) -> u64 {
    std::fs::read_dir(dir)
        .unwrap()
        .flatten()
        .map(|e| e.metadata().map(|m| m.len()).unwrap_or(0))
        .sum()
}

#[tokio::test]
async fn host_copies_stop_at_the_deadline_and_write_nothing_after_the_call() {
    let mut ws = attack("copy-until-deadline");
    ws.job.configuration.push(("Count".into(), "128".into()));
    let limits = Limits {
        timeout: Duration::from_secs(3),
        ..Limits::default()
    };
    let started = Instant::now();
    let (report, _) = ws.run(&fixture(fixtures::ATTACKER), &limits).await;
    let took = started.elapsed();
    let why = contained(&report.outcome);
    assert!(why.contains("deadline"), "{why}");
    assert!(took < Duration::from_secs(5), "{took:?}");
    let before = folder_bytes(&ws.job.scratch);
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(
        folder_bytes(&ws.job.scratch),
        before,
        "written after the call"
    );
}

#[tokio::test]
async fn host_copies_keep_within_the_action_s_file_cap() {
    let mut ws = attack("many-files");
    ws.output("Out");
    let limits = Limits {
        output_files: 20,
        ..Limits::default()
    };
    let (report, _) = ws.run(&fixture(fixtures::ATTACKER), &limits).await;
    let why = contained(&report.outcome);
    assert!(
        why.contains(
            "holds more than the action's limit of 20 files, folders and links (output_files)"
        ),
        "{why}"
    );
}

#[tokio::test]
async fn an_output_over_the_action_s_caps_is_not_stored_and_the_action_fails_saying_why() {
    let yaml = format!(
        r#"
name: caps
stages:
{{source_stage}}
  - name: Build
    actions:
      - name: Fill
        provider: "{attacker}"
        configuration: {{ Attack: fill-output, Count: "50" }}
        inputs: [Code]
        outputs: [Out]
        output_files: 10
"#,
        attacker = fixtures::ATTACKER
    );
    let h = sluice_tests::harness::Harness::new(&yaml).await;
    let id = h.start().await;
    h.wait_status(&id, sluice::engine::ExecutionStatus::Failed)
        .await;
    let execution = h.execution(&id);
    let fill = &execution.stages[1].actions[0];
    let error = fill.error.as_ref().unwrap().message.clone();
    assert_eq!(
        error,
        "cannot store output `Out`: it holds more than the action's limit of 10 files, folders and links (output_files)"
    );
    assert!(fill.outputs.is_empty());
}

#[tokio::test]
async fn a_nested_component_shares_the_action_s_memory_budget() {
    let mut ws = attack("hog-nested");
    with_own_component(&mut ws);
    ws.job.configuration.push(("Count".into(), "600".into()));
    let (report, _) = ws
        .run(&fixture(fixtures::ATTACKER), &Limits::default())
        .await;
    let why = contained(&report.outcome);
    assert!(
        why.contains("memory limit exceeded: the provider needed more than its limit of 1 GiB"),
        "{why}"
    );
    // Alone, the same amount is fine.
    let mut alone = attack("hog");
    alone.job.configuration.push(("Count".into(), "600".into()));
    let (report, _) = alone
        .run(&fixture(fixtures::ATTACKER), &Limits::default())
        .await;
    assert_eq!(summary(&report.outcome), "held 600 MiB");
}

#[tokio::test]
async fn open_files_are_capped_per_job() {
    let ws = attack("open-files");
    let (report, _) = ws
        .run(&fixture(fixtures::ATTACKER), &Limits::default())
        .await;
    let why = contained(&report.outcome);
    // Either the guest sees the refusal and says how far it got, or the
    // instance is stopped: both well under the host's own limits.
    if let Some(count) = why
        .split("after ")
        .nth(1)
        .and_then(|r| r.split(' ').next())
        .and_then(|n| n.parse::<u64>().ok())
    {
        assert!(count <= 1024, "{why}");
    } else {
        assert!(why.contains("resource"), "{why}");
    }
}

#[tokio::test]
async fn http_header_fields_are_capped_per_request() {
    let ws = attack("http-fields");
    let (report, _) = ws
        .run(&fixture(fixtures::ATTACKER), &Limits::default())
        .await;
    let why = contained(&report.outcome);
    // wasi:http stops the instance when a request's fields pass the limit
    // (64 KiB), or the guest hears of it first.
    match why
        .split("after ")
        .nth(1)
        .and_then(|r| r.split(' ').next())
        .and_then(|n| n.parse::<u64>().ok())
    {
        Some(count) => assert!(count <= 64, "{why}"),
        None => assert!(
            why.contains("the provider failed: total size of fields exceeds limit"),
            "{why}"
        ),
    }
}

// ------------------------------------------------------------- class 3: programs

/// Runs `script` through the attacker's `process.run` with `sh` granted.
async fn program(script: &str, timeout_ms: Option<u64>) -> (String, Duration) {
    let mut ws = attack("run");
    ws.grant_programs(&["sh"]);
    ws.job.configuration.push(("Script".into(), script.into()));
    if let Some(ms) = timeout_ms {
        ws.job
            .configuration
            .push(("Timeout".into(), ms.to_string()));
    }
    let started = Instant::now();
    let (report, _) = ws
        .run(&fixture(fixtures::ATTACKER), &Limits::default())
        .await;
    (summary(&report.outcome), started.elapsed())
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

#[tokio::test]
async fn a_granted_program_has_no_capabilities_no_new_privileges_and_a_filter() {
    let (out, _) = program(
        "grep -E '^(CapInh|CapPrm|CapEff|CapBnd|CapAmb|NoNewPrivs|Seccomp):' /proc/self/status",
        None,
    )
    .await;
    for line in [
        "CapInh:\t0000000000000000",
        "CapPrm:\t0000000000000000",
        "CapEff:\t0000000000000000",
        "CapBnd:\t0000000000000000",
        "CapAmb:\t0000000000000000",
        "NoNewPrivs:\t1",
        "Seccomp:\t2",
    ] {
        assert!(out.contains(line), "{line}: {out}");
    }
}

#[tokio::test]
async fn a_granted_program_cannot_remount_the_host_writable_or_make_namespaces() {
    let (out, _) = program(
        "mount -o remount,rw /usr 2>&1; touch /usr/sluice-was-here 2>&1; \
         unshare -U true 2>&1 || echo NO-USERNS; echo end",
        None,
    )
    .await;
    assert!(!Path::new("/usr/sluice-was-here").exists(), "{out}");
    assert!(out.contains("Read-only file system"), "{out}");
    assert!(out.contains("NO-USERNS") && out.contains("end"), "{out}");
}

#[tokio::test]
async fn a_granted_program_without_an_http_grant_has_no_network() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let port = listener.local_addr().unwrap().port();
    let (out, _) = program(
        &format!(
            "(exec 3<>/dev/tcp/127.0.0.1/{port}) 2>/dev/null && echo CONNECTED || echo NO-NET"
        ),
        None,
    )
    .await;
    assert!(out.contains("NO-NET"), "{out}");
    assert!(listener.accept().is_err(), "a connection arrived");
}

#[tokio::test]
async fn a_time_limit_ends_the_whole_process_tree_and_the_call_returns_at_once() {
    let id = std::process::id();
    for (timeout, marker) in [(300u64, format!("301.{id}1")), (0, format!("301.{id}2"))] {
        let (out, took) = program(
            &format!("sleep {marker} & sleep {marker}; echo never"),
            Some(timeout),
        )
        .await;
        assert!(out.contains("timed-out true"), "{out}");
        assert!(!out.contains("never"), "{out}");
        assert!(took < Duration::from_secs(3), "{took:?}");
        assert_eq!(sleeps_running(&marker), 0, "{out}");
    }
}

#[tokio::test]
async fn a_fork_bomb_meets_the_process_limit() {
    let mut ws = attack("run");
    ws.grant_programs(&["sh"]);
    ws.job.grants.process.as_mut().unwrap().limits.processes = 20;
    let marker = format!("1.{}", std::process::id());
    ws.job.configuration.push((
        "Script".into(),
        format!("i=0; while [ $i -lt 60 ]; do sleep {marker} & i=$((i+1)); done 2>&1 | tail -n 1; echo end"),
    ));
    let (report, _) = ws
        .run(&fixture(fixtures::ATTACKER), &Limits::default())
        .await;
    let out = summary(&report.outcome);
    assert!(out.contains("fork"), "{out}");
    assert_eq!(sleeps_running(&marker), 0, "{out}");
}

// ------------------------------------------------------------- class 4: secrets

fn with_secret(name: &str) -> Workspace {
    let mut ws = attack(name);
    ws.grant_secret("TOKEN", "s3cr3t-v4lue");
    ws
}

#[tokio::test]
async fn a_secret_in_a_variable_name_or_a_continuation_token_is_refused() {
    for (attack_name, what) in [
        (
            "secret-in-name",
            "an output variable's name holds a secret's value",
        ),
        ("secret-in-continuation", "its continuation token"),
    ] {
        let ws = with_secret(attack_name);
        let (report, log) = ws
            .run(&fixture(fixtures::ATTACKER), &Limits::default())
            .await;
        let why = contained(&report.outcome);
        assert!(why.contains(what), "{why}");
        assert!(!why.contains("s3cr3t") && !log.contains("s3cr3t"), "{why}");
    }
}

#[tokio::test]
async fn a_secret_is_redacted_from_every_string_that_leaves() {
    let ws = with_secret("secret-everywhere");
    let (report, log) = ws
        .run(&fixture(fixtures::ATTACKER), &Limits::default())
        .await;
    let Outcome::Succeeded {
        summary,
        revision,
        variables,
    } = &report.outcome
    else {
        panic!("{:?}", report.outcome);
    };
    assert_eq!(summary.as_deref(), Some("summary ****"));
    assert_eq!(revision.as_deref(), Some("rev-****"));
    assert_eq!(variables, &[("Leak".to_string(), "****".to_string())]);
    for line in ["stdout ****", "stderr ****", "[info] log ****"] {
        assert!(log.contains(line), "{line}: {log}");
    }
    assert!(!log.contains("s3cr3t"), "{log}");
}

#[tokio::test]
async fn a_granted_folder_holding_the_state_directory_is_never_mounted() {
    let mut ws = attack("write-granted");
    let state = ws.dir.path().join("repo/.sluice");
    std::fs::create_dir_all(&state).unwrap();
    std::fs::write(state.join("secrets"), "TOKEN=s3cr3t").unwrap();
    ws.grant_path("repo", &ws.dir.path().join("repo"), false);
    ws.job.hidden.push(state.canonicalize().unwrap());
    let error = fixture(fixtures::ATTACKER)
        .run(
            &ws.job,
            &Limits::default(),
            &sluice::sandbox::ActionLog::discard(),
        )
        .await
        .unwrap_err()
        .to_string();
    assert!(
        error.contains("holds the state directory") && error.contains("granted folder `repo`"),
        "{error}"
    );
}

// ------------------------------------------------------------- class 5: text

#[tokio::test]
async fn provider_text_cannot_pass_for_the_host_s_own_lines() {
    let ws = attack("forge");
    let (report, log) = ws
        .run(&fixture(fixtures::ATTACKER), &Limits::default())
        .await;
    summary(&report.outcome);
    let lines = sluice::text::log_lines(log.as_bytes());
    assert!(!lines.is_empty());
    assert!(
        lines.iter().all(|l| !l.is_host()),
        "a provider line passed for a host line: {lines:?}"
    );
    let shown = sluice::text::render_log(log.as_bytes());
    assert!(!shown.contains('\x1b') && !shown.contains('\r') && !shown.contains('\x07'));
    assert!(!shown.contains('\u{202e}'));
    assert!(
        shown.contains("│ \\x1b[2J\\x1b[H\\x0d[sluice] approved by admin"),
        "{shown}"
    );
    assert!(shown.contains("│ ── succeeded in 1ms"), "{shown}");
    assert!(
        shown.contains("│ \\x1e[sluice] forged host line"),
        "{shown}"
    );
    assert!(shown.contains("│ [sluice] denied nothing"), "{shown}");
}

// ------------------------------------------------------------- class 6: URLs

#[tokio::test]
async fn an_allow_list_prefix_cannot_be_left_through_dot_segments() {
    let server = test_server(200, "fine").await;
    for (path, allowed) in [
        ("/allowed/%2e%2e/secret", false),
        ("/allowed/../secret", false),
        ("/allowed/.%2E/secret", false),
        ("/allowed/..%2fsecret", false),
        ("/allowed/ok", true),
    ] {
        let mut ws = attack("http-get");
        ws.grant_url(&format!("{}/allowed/", server.url));
        ws.job
            .configuration
            .push(("Url".into(), format!("{}{path}", server.url)));
        let (report, log) = ws
            .run(&fixture(fixtures::ATTACKER), &Limits::default())
            .await;
        if allowed {
            assert!(summary(&report.outcome).contains("answered 200"));
        } else {
            let why = contained(&report.outcome);
            assert!(why.contains("HttpRequestDenied"), "{path}: {why}");
            assert!(log.contains("denied HTTP request"), "{path}: {log}");
        }
    }
    let received = server.received.lock().unwrap();
    assert_eq!(received.len(), 1, "{received:?}");
    assert_eq!(received[0].path, "/allowed/ok");
}

// ------------------------------------------------------------- class 7: descriptors

#[tokio::test]
async fn a_bad_descriptor_is_refused_with_every_problem_named() {
    let error = fixture(fixtures::BAD_DESCRIPTOR)
        .describe()
        .await
        .unwrap_err()
        .to_string();
    for problem in [
        "describes itself wrongly",
        "owner ``",
        "provider `bad\\x1b[31mname`",
        "version `one`",
        "the description must be",
        "5000 properties",
        "property `P0`: the description must be at most 4096 bytes",
        "197 more problems with properties",
        "min-inputs 3 is more than max-inputs 1",
    ] {
        assert!(error.contains(problem), "{problem}: {error}");
    }
    assert!(!error.contains('\x1b') && error.len() < 4096, "{error}");
}

#[tokio::test]
async fn describe_and_validate_stop_at_the_query_time_limit() {
    let sandbox = SandboxBuilder::new()
        .query_timeout(Duration::from_secs(1))
        .build()
        .unwrap();
    let source =
        sluice::sandbox::ComponentSource::from_file(Path::new(fixtures::SLOW_DESCRIBE)).unwrap();
    let (provider, _) = sandbox.load(&source).unwrap();
    let started = Instant::now();
    let error = provider.describe().await.unwrap_err().to_string();
    assert!(
        error.contains("failed in `describe`: deadline exceeded"),
        "{error}"
    );
    // Validation asks for the descriptor first, which never comes.
    let error = provider.validate(&[]).await.unwrap_err().to_string();
    assert!(error.contains("deadline exceeded"), "{error}");
    assert!(started.elapsed() < Duration::from_secs(5));
}

// ------------------------------------------------------------- class 8: nesting

#[tokio::test]
async fn a_nested_provider_sees_granted_folders_read_only_and_is_granted_nothing() {
    let mut ws = attack("nested");
    with_own_component(&mut ws);
    let shared = ws.dir.path().join("shared");
    ws.grant_path("shared", &shared, true);
    ws.grant_programs(&["sh"]);
    ws.grant_secret("TOKEN", "s3cr3t-v4lue");
    let (report, _) = ws
        .run(&fixture(fixtures::ATTACKER), &Limits::default())
        .await;
    let why = contained(&report.outcome);
    assert!(why.contains("write: "), "{why}");
    assert!(why.contains("may not run programs"), "{why}");
    assert!(why.contains("secret: "), "{why}");
    assert!(!shared.join("nested-wrote").exists());
    // The action itself may write there.
    let (report, _) = {
        let mut direct = attack("write-granted");
        direct.grant_path("shared", &shared, true);
        direct
            .run(&fixture(fixtures::ATTACKER), &Limits::default())
            .await
    };
    match report.outcome {
        Outcome::Succeeded { summary, .. } => {
            assert!(summary.unwrap().contains("wrote into /paths/shared"))
        }
        other => panic!("{other:?}"),
    }
}

/// After every attack the same process still runs a normal provider.
#[tokio::test]
async fn the_host_runs_a_normal_provider_after_the_attacks() {
    let mut ws = Workspace::new(&[]);
    ws.input("src", &[("a.txt", "still here")]);
    let out = ws.output("out");
    let (report, _) = ws.run(&builtin("copy"), &Limits::default()).await;
    summary(&report.outcome);
    assert_eq!(
        std::fs::read_to_string(out.join("a.txt")).unwrap(),
        "still here"
    );
}
