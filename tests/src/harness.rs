//! An engine on a temporary state directory, driven by the tests: apply a
//! pipeline, start executions, open gates, wait for what `sluice state`
//! would show.

use crate::{fixtures, sandbox};
use sluice::engine::pipeline_state::{PipelineState, pipeline_state};
use sluice::engine::{Answer, Command, Driver, DriverSettings, Execution, ExecutionStatus, Start};
use sluice::model;
use sluice::providers::Catalog;
use sluice::store::Store;
use std::path::PathBuf;
use std::time::{Duration, Instant};

/// The source stage most test pipelines start with: the gated stub source.
pub const SOURCE_STAGE: &str = r#"
  - name: Source
    actions:
      - name: Src
        provider: "{source}"
        outputs: [Code]
        grants:
          paths:
            source: { path: "{src}" }
            gates: { path: "{gates}" }
"#;

/// A test's engine and folders.
pub struct Harness {
    /// Everything lives under here.
    pub dir: tempfile::TempDir,
    /// The state directory.
    pub state_dir: PathBuf,
    /// Where gate files go.
    pub gates: PathBuf,
    /// The stub source's folder.
    pub src: PathBuf,
    /// The pipeline's name.
    pub pipeline: String,
    /// The engine.
    pub engine: Option<Driver>,
    /// The secrets the host holds.
    pub secrets: sluice::secrets::SecretStore,
}

/// Whether this test process runs its state on PostgreSQL: test targets
/// whose name ends in `_postgres` (the same sources as their SQLite twin,
/// built again under that name in tests/Cargo.toml) do.
pub fn on_postgres() -> bool {
    std::env::current_exe()
        .ok()
        .and_then(|exe| exe.file_name().map(|n| n.to_string_lossy().into_owned()))
        .is_some_and(|name| {
            name.rsplit_once('-')
                .map_or(name.as_str(), |(target, _hash)| target)
                .ends_with("_postgres")
        })
}

/// Points `state_dir` at a fresh PostgreSQL database when the test process
/// runs on PostgreSQL ([`on_postgres`]); leaves it on SQLite otherwise.
pub fn choose_database(state_dir: &std::path::Path) {
    if on_postgres() {
        let url = sluice_pgtest::Server::shared().database();
        sluice::store::use_database(state_dir, &url).unwrap();
    }
}

impl Harness {
    /// Applies `yaml` (placeholders: `{gate}`, `{source}`, `{gates}`,
    /// `{src}`) and starts an engine. The stub source's latest revision is `r1`.
    pub async fn new(yaml: &str) -> Harness {
        Harness::with_settings(yaml, fast_callbacks()).await
    }

    /// As [`Harness::new`], with these driver settings.
    pub async fn with_settings(yaml: &str, settings: DriverSettings) -> Harness {
        let dir = tempfile::tempdir().unwrap();
        let gates = dir.path().join("gates");
        let src = dir.path().join("src");
        std::fs::create_dir_all(&gates).unwrap();
        std::fs::create_dir_all(&src).unwrap();
        let mut harness = Harness {
            state_dir: dir.path().join("state"),
            gates,
            src,
            pipeline: String::new(),
            engine: None,
            secrets: sluice::secrets::SecretStore::from_env([(
                "SLUICE_SECRET_TEST_TOKEN".to_string(),
                "s3cr3t-v4lue-42".to_string(),
            )]),
            dir,
        };
        harness.set_revision("r1", &[("file.txt", "one")]);
        choose_database(&harness.state_dir);
        harness.pipeline = harness.apply(yaml).await;
        harness.engine = Some(
            Driver::start_with(
                &harness.state_dir,
                sandbox().clone(),
                harness.secrets.clone(),
                settings,
            )
            .await
            .unwrap(),
        );
        harness
    }

    /// Fills in placeholders.
    pub fn expand(&self, yaml: &str) -> String {
        yaml.replace("{source_stage}", SOURCE_STAGE)
            .replace("{gate}", fixtures::GATE)
            .replace("{source}", fixtures::GATED_SOURCE)
            .replace("{gates}", &self.gates.display().to_string())
            .replace("{src}", &self.src.display().to_string())
    }

    /// Applies a definition; returns the pipeline's name. Panics with the
    /// report when it is not valid.
    pub async fn apply(&self, yaml: &str) -> String {
        let file = self.dir.path().join("pipeline.yaml");
        std::fs::write(&file, self.expand(yaml)).unwrap();
        let loaded = model::load(&file).unwrap_or_else(|r| panic!("{r}"));
        let components = sluice::engine::components::component_store(
            &sluice::state_dir::StateDir::at(&self.state_dir),
        )
        .unwrap();
        let catalog = Catalog::new(sandbox().clone(), &loaded.base_dir, Some(components));
        let mut store = Store::open(&self.state_dir).unwrap();
        sluice::definitions::apply(&loaded, &catalog, &self.secrets, &mut store)
            .await
            .unwrap_or_else(|r| panic!("{r}"));
        if let Some(engine) = &self.engine {
            let reload = Command::Reload {
                pipeline: loaded.pipeline.name.clone(),
            };
            let answer = engine.command(reload).await;
            assert!(answer.is_ok(), "{answer:?}");
        }
        loaded.pipeline.name
    }

    /// The engine.
    pub fn engine(&self) -> &Driver {
        self.engine.as_ref().expect("the engine runs")
    }

    /// Gives the engine a command.
    pub async fn command(&self, command: Command) -> Answer {
        self.engine().command(command).await
    }

    /// Starts an execution; returns its id.
    pub async fn start(&self) -> String {
        self.start_with(&[]).await
    }

    /// Starts an execution with variables; returns its id.
    pub async fn start_with(&self, variables: &[(&str, &str)]) -> String {
        let answer = self
            .command(Command::Start(Start {
                pipeline: self.pipeline.clone(),
                variables: variables
                    .iter()
                    .map(|(k, v)| (k.to_string(), v.to_string()))
                    .collect(),
                revisions: Default::default(),
                trigger: "test".into(),
                token: None,
            }))
            .await;
        let done = answer.unwrap_or_else(|e| panic!("start refused: {e}"));
        done.execution.expect("a start names its execution")
    }

    /// Writes revision `id` of the stub source and makes it the latest.
    pub fn set_revision(&self, id: &str, files: &[(&str, &str)]) {
        let folder = self.src.join("revisions").join(id);
        std::fs::create_dir_all(&folder).unwrap();
        for (name, content) in files {
            std::fs::write(folder.join(name), content).unwrap();
        }
        std::fs::write(self.src.join("LATEST"), id).unwrap();
    }

    /// Opens a gate: actions waiting on it succeed.
    pub fn open(&self, gate: &str) {
        std::fs::write(self.gates.join(gate), "pass").unwrap();
    }

    /// Opens a gate that fails the actions waiting on it.
    pub fn fail(&self, gate: &str) {
        std::fs::write(self.gates.join(gate), "fail").unwrap();
    }

    /// The pipeline's state, as `sluice state` shows it.
    pub fn state(&self) -> PipelineState {
        let store = Store::open(&self.state_dir).unwrap();
        pipeline_state(&store, &self.pipeline)
            .unwrap()
            .expect("the pipeline exists")
    }

    /// An execution as stored.
    pub fn execution(&self, id: &str) -> Execution {
        let store = Store::open(&self.state_dir).unwrap();
        store
            .execution(id, |_, _| None)
            .unwrap()
            .expect("the execution exists")
    }

    /// The status of an execution.
    pub fn status(&self, id: &str) -> ExecutionStatus {
        self.execution(id).status
    }

    /// Waits (up to 30 s) until `check` holds, then returns; panics with
    /// the pipeline's state otherwise.
    pub async fn wait_for(&self, what: &str, check: impl Fn(&Harness) -> bool) {
        let started = Instant::now();
        while started.elapsed() < Duration::from_secs(30) {
            if check(self) {
                return;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        panic!(
            "timed out waiting for {what}; state:\n{}",
            serde_json::to_string_pretty(&self.state()).unwrap()
        );
    }

    /// Waits until an execution has `status`.
    pub async fn wait_status(&self, id: &str, status: ExecutionStatus) {
        self.wait_for(&format!("execution {id} to be {}", status.as_str()), |h| {
            h.status(id) == status
        })
        .await;
    }

    /// Waits until `stage`'s latest execution is `id` with its action
    /// `action` in progress.
    pub async fn wait_running(&self, id: &str, stage: &str, action: &str) {
        self.wait_for(&format!("{stage}/{action} of {id} to run"), |h| {
            let e = h.execution(id);
            e.stages
                .iter()
                .find(|s| s.name == stage)
                .and_then(|s| s.actions.iter().find(|a| a.name == action))
                .is_some_and(|a| a.status == Some(sluice::engine::ActionStatus::InProgress))
        })
        .await;
    }

    /// Stops the engine cleanly.
    pub async fn shutdown(&mut self) {
        if let Some(engine) = self.engine.take() {
            engine
                .shutdown()
                .await
                .expect("the engine ran without failing");
        }
    }
}

/// The fixtures answer "in progress, call back in 10-20 ms" while they wait
/// for their gates: the tests of the rules call them back that soon (the
/// host's default floor of 1 s and its back-off are tested on their own).
pub fn fast_callbacks() -> DriverSettings {
    DriverSettings {
        recheck: sluice::engine::RecheckPolicy::with_floor(std::time::Duration::from_millis(10)),
        ..Default::default()
    }
}

/// Another process holding the state database's write lock, so that the
/// engine's next step cannot be written: SQLite's immediate transaction,
/// or on PostgreSQL a `psql` session holding the writers' advisory lock.
pub enum WriteLock {
    /// A SQLite connection inside `BEGIN IMMEDIATE`.
    Sqlite(rusqlite::Connection),
    /// A `psql` holding the lock until it is killed.
    Postgres(std::process::Child),
}

impl WriteLock {
    /// Takes the lock of `state_dir`'s database; returns once it is held.
    pub fn take(state_dir: &std::path::Path) -> WriteLock {
        let url_file = sluice::state_dir::StateDir::at(state_dir).database_url();
        let Ok(url) = std::fs::read_to_string(&url_file) else {
            let blocker = rusqlite::Connection::open(state_dir.join("state.db")).unwrap();
            blocker.execute_batch("BEGIN IMMEDIATE").unwrap();
            return WriteLock::Sqlite(blocker);
        };
        use std::io::BufRead;
        let psql = sluice_pgtest::Server::shared().bin_dir().join("psql");
        let mut child = std::process::Command::new(psql)
            .args(["-X", "-At", "-d", url.trim()])
            // A backend asleep notices its client gone only when told to
            // look: then killing psql lets the lock go at once.
            .args(["-c", "SET client_connection_check_interval = 100"])
            .arg("-c")
            .arg(format!(
                "SELECT pg_advisory_lock({}), 'held'",
                sluice::store::WRITER_LOCK
            ))
            .args(["-c", "SELECT pg_sleep(600)"])
            .stdout(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let out = child.stdout.take().unwrap();
        let mut reader = std::io::BufReader::new(out);
        let mut said = String::new();
        while !said.contains("held") {
            let before = said.len();
            reader.read_line(&mut said).unwrap();
            assert!(said.len() > before, "psql did not take the lock: {said:?}");
        }
        WriteLock::Postgres(child)
    }

    /// Lets go.
    pub fn release(self) {
        match self {
            WriteLock::Sqlite(blocker) => blocker.execute_batch("ROLLBACK").unwrap(),
            WriteLock::Postgres(mut child) => {
                let _ = child.kill();
                let _ = child.wait();
            }
        }
    }
}
