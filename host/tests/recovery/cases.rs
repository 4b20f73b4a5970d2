//! Recovery: a driver killed with SIGKILL mid-execution (no clean
//! shutdown) leaves its state directory; a new driver on the same files
//! continues: waiting executions keep waiting, an approval keeps waiting,
//! the action that was running runs again as its next attempt, and every
//! execution reaches the status it should.

use sluice::engine::{ActionStatus, Execution, ExecutionStatus};
use sluice::store::Store;
use sluice_tests::fixtures;
use std::path::PathBuf;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

struct Setup {
    dir: tempfile::TempDir,
    state: PathBuf,
    gates: PathBuf,
    /// The PostgreSQL database, for `recovery_postgres` (given to every
    /// command as `SLUICE_DATABASE`).
    database: Option<String>,
}

/// The crash test's pipeline: a slow and a gated action, an approval.
const CRASHY: &str = r##"
name: crashy
execution_mode: queued
stages:
  - name: Source
    actions:
      - name: Src
        provider: "{source}"
        outputs: [Code]
        grants: { paths: { source: { path: "{src}" }, gates: { path: "{gates}" } } }
  - name: Build
    actions:
      - name: Wait
        provider: "{gate}"
        inputs: [Code]
        outputs: [Built]
        configuration: { Behavior: gate, Gate: "#{execution.id}" }
        grants: { paths: { gates: { path: "{gates}" } } }
      - { name: Slow, provider: "{gate}", configuration: { Behavior: sleep, Millis: "3000" } }
  - name: Approve
    actions:
      - { name: Manager, provider: "builtin:manual" }
  - name: Deploy
    actions:
      - { name: Go, provider: "{gate}", inputs: [Built] }
"##;

impl Setup {
    fn new() -> Setup {
        Setup::with(CRASHY)
    }

    /// A state directory with `yaml` applied (placeholders: `{source}`,
    /// `{gate}`, `{src}`, `{gates}`); the stub source's latest is `r1`.
    fn with(yaml: &str) -> Setup {
        let dir = tempfile::tempdir().unwrap();
        let gates = dir.path().join("gates");
        let src = dir.path().join("src");
        std::fs::create_dir_all(&gates).unwrap();
        std::fs::create_dir_all(src.join("revisions/r1")).unwrap();
        std::fs::write(src.join("revisions/r1/file.txt"), "one").unwrap();
        std::fs::write(src.join("LATEST"), "r1").unwrap();
        let yaml = yaml
            .replace("{source}", fixtures::GATED_SOURCE)
            .replace("{gate}", fixtures::GATE)
            .replace("{hostile}", fixtures::HOSTILE)
            .replace("{src}", &src.display().to_string())
            .replace("{gates}", &gates.display().to_string());
        std::fs::write(dir.path().join("pipeline.yaml"), yaml).unwrap();
        let state = dir.path().join("state");
        let database = sluice_tests::harness::on_postgres()
            .then(|| sluice_pgtest::Server::shared().database());
        let setup = Setup {
            dir,
            state,
            gates,
            database,
        };
        let applied = setup.sluice(&[
            "pipeline",
            "apply",
            &setup.dir.path().join("pipeline.yaml").display().to_string(),
        ]);
        assert!(
            applied.status.success(),
            "{}",
            String::from_utf8_lossy(&applied.stderr)
        );
        setup
    }

    fn command(&self, args: &[&str]) -> Command {
        let mut command = Command::new(env!("CARGO_BIN_EXE_sluice"));
        command
            .arg("--state-dir")
            .arg(&self.state)
            .arg("--cache-dir")
            .arg(self.dir.path().join("cache"))
            .args(args)
            .env("SLUICE_USER", "recovery-test")
            // The fixtures wait for their gates polling every 10-20 ms.
            .env("SLUICE_RECHECK_FLOOR", "10ms");
        if let Some(url) = &self.database {
            command.env("SLUICE_DATABASE", url);
        }
        command
    }

    /// Runs SQL on the state database behind the store's back.
    fn sql(&self, sql: &str) {
        match &self.database {
            None => {
                let db = rusqlite::Connection::open(self.state.join("state.db")).unwrap();
                db.execute_batch(sql).unwrap();
            }
            Some(url) => {
                let psql = sluice_pgtest::Server::shared().bin_dir().join("psql");
                let out = Command::new(psql)
                    .args(["-X", "-v", "ON_ERROR_STOP=1", "-d", url, "-c", sql])
                    .output()
                    .unwrap();
                assert!(
                    out.status.success(),
                    "{}",
                    String::from_utf8_lossy(&out.stderr)
                );
            }
        }
    }

    fn sluice(&self, args: &[&str]) -> Output {
        self.command(args).output().unwrap()
    }

    fn drive(&self) -> Child {
        let child = self
            .command(&["drive"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let started = Instant::now();
        while !sluice::engine::is_driven(&self.state) {
            assert!(
                started.elapsed() < Duration::from_secs(30),
                "the driver did not start"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        child
    }

    fn start(&self) -> String {
        self.start_pipeline("crashy")
    }

    fn start_pipeline(&self, name: &str) -> String {
        let output = self.sluice(&["start", name]);
        let text = String::from_utf8_lossy(&output.stdout).to_string();
        assert!(
            output.status.success(),
            "{text}{}",
            String::from_utf8_lossy(&output.stderr)
        );
        text.trim()
            .strip_prefix("started execution ")
            .expect("an id")
            .to_string()
    }

    fn execution(&self, id: &str) -> Execution {
        let store = Store::open(&self.state).unwrap();
        store.execution(id, |_, _| None).unwrap().unwrap()
    }

    fn wait(&self, what: &str, check: impl Fn(&Setup) -> bool) {
        let started = Instant::now();
        while !check(self) {
            assert!(
                started.elapsed() < Duration::from_secs(60),
                "timed out waiting for {what}"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

fn running(e: &Execution, stage: usize, action: usize) -> bool {
    let a = &e.stages[stage].actions[action];
    a.status == Some(ActionStatus::InProgress) && a.running
}

fn waiting_for_approval(e: &Execution) -> bool {
    e.stages[2].actions[0].awaiting_approval
}

fn kill(mut driver: Child) {
    driver.kill().unwrap(); // SIGKILL
    driver.wait().unwrap();
}

#[test]
fn a_new_driver_continues_what_a_killed_one_left() {
    let setup = Setup::new();
    let driver = setup.drive();
    let a = setup.start();
    setup.wait("A in Build", |s| running(&s.execution(&a), 1, 1));
    let b = setup.start();
    let c = setup.start();
    setup.wait("B and C waiting", |s| {
        [&b, &c].iter().all(|id| {
            s.execution(id)
                .position
                .is_some_and(|p| p.waiting && p.stage == 1)
        })
    });

    // Kill the driver while A's slow action is mid-call, its other action
    // waits between calls, and B and C wait in front of the stage.
    kill(driver);
    let store = Store::open(&setup.state).unwrap();
    assert_eq!(store.integrity_check().unwrap(), ["ok"]);
    let before = setup.execution(&a);
    assert_eq!(before.status, ExecutionStatus::InProgress);
    assert!(
        before.stages[1].actions[1].running,
        "the slow call was under way"
    );
    std::fs::write(setup.gates.join(&a), "pass").unwrap();

    let driver = setup.drive();
    setup.wait("A to wait for approval", |s| {
        waiting_for_approval(&s.execution(&a))
    });
    let build = setup.execution(&a).stages[1].clone();
    let (wait, slow) = (&build.actions[0], &build.actions[1]);
    // The gated action is called back every 10-20 ms: the kill found it
    // between calls (called back, same attempt) or, less often, inside
    // one (run again as the next attempt).
    let wait_was_in_a_call = before.stages[1].actions[0].running;
    assert_eq!(
        (wait.status, wait.attempt),
        (
            Some(ActionStatus::Succeeded),
            if wait_was_in_a_call { 2 } else { 1 }
        ),
        "called back (same attempt) when between calls, else the next attempt"
    );
    assert_eq!(
        (slow.status, slow.attempt),
        (Some(ActionStatus::Succeeded), 2),
        "run again as the next attempt"
    );
    let attempts = Store::open(&setup.state)
        .unwrap()
        .action_attempts(&a)
        .unwrap();
    let first = attempts
        .iter()
        .find(|x| x.action == "Slow" && x.attempt == 1)
        .unwrap();
    assert_eq!(first.run.status, Some(ActionStatus::Abandoned));
    assert_eq!(
        first.run.error.as_ref().unwrap().message,
        "the host stopped while attempt 1 ran; it runs again as attempt 2"
    );

    // Kill it again while A waits for approval and B is in Build.
    setup.wait("B in Build", |s| running(&s.execution(&b), 1, 0));
    kill(driver);
    let driver = setup.drive();
    std::thread::sleep(Duration::from_millis(300));
    let a_now = setup.execution(&a);
    assert!(waiting_for_approval(&a_now), "the approval still waits");
    assert_eq!(
        a_now.stages[2].actions[0].attempt, 1,
        "a waiting approval is not re-run"
    );
    assert!(
        setup.execution(&c).position.is_some_and(|p| p.waiting),
        "C still waits"
    );

    for id in [&b, &c] {
        std::fs::write(setup.gates.join(id), "pass").unwrap();
    }
    for id in [&a, &b, &c] {
        setup.wait("an approval", |s| waiting_for_approval(&s.execution(id)));
        let approved = setup.sluice(&[
            "approve",
            id,
            "Approve",
            "Manager",
            "--summary",
            "after the crash",
        ]);
        assert!(
            approved.status.success(),
            "{}",
            String::from_utf8_lossy(&approved.stderr)
        );
    }
    for id in [&a, &b, &c] {
        setup.wait("every execution to succeed", |s| {
            s.execution(id).status == ExecutionStatus::Succeeded
        });
        let e = setup.execution(id);
        for stage in &e.stages {
            for action in &stage.actions {
                assert_ne!(
                    action.status,
                    Some(ActionStatus::InProgress),
                    "{}/{}",
                    stage.name,
                    action.name
                );
            }
        }
    }
    kill(driver);
    let store = Store::open(&setup.state).unwrap();
    assert_eq!(store.integrity_check().unwrap(), ["ok"]);
    assert_eq!(store.active_count().unwrap(), 0);
    let artifacts = sluice::artifacts::ArtifactStore::open(&setup.state.join("artifacts")).unwrap();
    for (_, artifact) in store.all_artifacts().unwrap() {
        artifacts.verify(&artifact.name, &artifact.digest).unwrap();
    }
}

#[test]
fn a_start_the_driver_took_but_never_recorded_is_applied_once_by_the_next_driver() {
    let setup = Setup::new();
    let driver = setup.drive();
    // The source holds the start while it records revisions.
    std::fs::write(setup.dir.path().join("src/HOLD"), "").unwrap();
    let mut waiting = setup
        .command(&["start", "crashy"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let store = Store::open(&setup.state).unwrap();
    setup.wait("the start to be left for the driver", |_| {
        !store.pending_requests().unwrap().is_empty()
    });
    std::thread::sleep(Duration::from_millis(500));
    kill(driver);
    let _ = waiting.kill();
    let _ = waiting.wait();
    assert_eq!(store.list_executions("crashy", 10).unwrap().len(), 0);
    assert_eq!(
        store.pending_requests().unwrap().len(),
        1,
        "the start stays pending"
    );
    std::fs::remove_file(setup.dir.path().join("src/HOLD")).unwrap();
    let driver = setup.drive();
    setup.wait("the start to be applied", |_| {
        store.list_executions("crashy", 10).unwrap().len() == 1
    });
    setup.wait("the start to be answered", |_| {
        store.pending_requests().unwrap().is_empty()
    });
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(
        store.list_executions("crashy", 10).unwrap().len(),
        1,
        "applied once"
    );
    kill(driver);
}

#[test]
fn an_in_progress_action_keeps_its_scratch_and_partial_outputs_across_a_restart() {
    let setup = Setup::with(
        r##"
name: resuming
stages:
  - name: Source
    actions:
      - name: Src
        provider: "{source}"
        outputs: [Code]
        grants: { paths: { source: { path: "{src}" } } }
  - name: Build
    actions:
      - { name: Long, provider: "{gate}", outputs: [Half], configuration: { Behavior: resume, Millis: "2500" } }
"##,
    );
    let driver = setup.drive();
    let a = setup.start_pipeline("resuming");
    setup.wait("the action to be between calls", |s| {
        let action = &s.execution(&a).stages[1].actions[0];
        action.status == Some(ActionStatus::InProgress) && !action.running
    });
    kill(driver);
    let driver = setup.drive();
    setup.wait("the execution to end", |s| {
        s.execution(&a).status.is_terminal()
    });
    let long = &setup.execution(&a).stages[1].actions[0];
    assert_eq!(
        (long.status, long.summary.as_deref(), long.attempt),
        (
            Some(ActionStatus::Succeeded),
            Some("resumed with its scratch and partial output"),
            1
        ),
        "{:?}",
        long.error
    );
    kill(driver);
}

#[test]
fn a_driver_starts_past_a_damaged_execution_names_it_and_runs_the_rest() {
    let setup = Setup::with(
        r##"
name: pair
execution_mode: parallel
stages:
  - name: Source
    actions:
      - name: Src
        provider: "{source}"
        outputs: [Code]
        grants: { paths: { source: { path: "{src}" } } }
  - name: Build
    actions:
      - name: Wait
        provider: "{gate}"
        configuration: { Behavior: gate, Gate: "#{execution.id}" }
        grants: { paths: { gates: { path: "{gates}" } } }
"##,
    );
    let driver = setup.drive();
    let a = setup.start_pipeline("pair");
    let b = setup.start_pipeline("pair");
    for id in [&a, &b] {
        setup.wait("both in Build", |s| {
            running(&s.execution(id), 1, 0) || {
                let w = &s.execution(id).stages[1].actions[0];
                w.status == Some(ActionStatus::InProgress)
            }
        });
    }
    kill(driver);
    // A's row is damaged: its variables are no longer JSON.
    setup.sql(&format!(
        "UPDATE executions SET variables = 'not json' WHERE id = '{a}'"
    ));
    let child = setup
        .command(&["drive"])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    std::fs::write(setup.gates.join(&b), "pass").unwrap();
    setup.wait("B to succeed", |s| {
        s.execution(&b).status == ExecutionStatus::Succeeded
    });
    kill_and_read(child, &a);
}

/// Kills a driver and checks it named the damaged execution `id`.
fn kill_and_read(mut driver: Child, id: &str) {
    use std::io::Read;
    driver.kill().unwrap();
    driver.wait().unwrap();
    let mut stderr = String::new();
    driver
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut stderr)
        .unwrap();
    assert!(
        stderr.contains(&format!("execution {id} cannot be read back")),
        "{stderr}"
    );
}

#[test]
fn logs_with_bytes_that_are_not_utf8_and_a_character_cut_at_the_cap_print_and_read_in_ranges() {
    let setup = Setup::with(
        r##"
name: noisy
stages:
  - name: Source
    actions:
      - name: Src
        provider: "{source}"
        outputs: [Code]
        grants: { paths: { source: { path: "{src}" } } }
  - name: Build
    actions:
      - { name: Loud, provider: "{hostile}", configuration: { Do: bad-bytes } }
"##,
    );
    let output = setup.sluice(&[
        "run",
        &setup.dir.path().join("pipeline.yaml").display().to_string(),
    ]);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let id = {
        let store = Store::open(&setup.state).unwrap();
        store.list_executions("noisy", 1).unwrap()[0].id.clone()
    };
    let logs = setup.sluice(&["logs", &id, "--action", "Build/Loud"]);
    assert!(
        logs.status.success(),
        "{}",
        String::from_utf8_lossy(&logs.stderr)
    );
    let text = String::from_utf8(logs.stdout).expect("printed as UTF-8");
    assert!(
        text.contains("bad: \u{fffd} end"),
        "the bad byte shows as U+FFFD"
    );
    let cut = text
        .lines()
        .find(|l| l.contains("dropped past the cap"))
        .expect("the cap's marker");
    assert!(
        cut.contains("of log dropped past the cap of 10 MiB"),
        "{cut}"
    );
    assert!(!text.contains("last line"), "nothing past the cap");
    // Every byte up to the cap came through, a range at a time: 10 MiB of
    // two-byte characters print as 5 Mi characters (the one cut shows as
    // U+FFFD).
    let letters = text.chars().filter(|c| *c == '\u{e9}').count();
    assert!(
        ((5 << 20) - 8..=5 << 20).contains(&letters),
        "{letters} characters"
    );
    // The store's reader never reads past the range it is asked for.
    let store = Store::open(&setup.state).unwrap();
    let filter = ("Build".to_string(), "Loud".to_string());
    let range = sluice::queries::LogRange::new(Some(0), Some(4096)).unwrap();
    let parts =
        sluice::queries::logs(&store, &setup.state, &id, Some(&filter), None, range).unwrap();
    assert_eq!(parts.len(), 1);
    assert_eq!(parts[0].offset, 0);
    assert!(parts[0].next_offset <= 4096 && parts[0].size > 10 << 20);
}
