//! Shared helpers for the end-to-end tests: the fixture components' paths,
//! one sandbox per test process, jobs with real folders, and the `sluice`
//! binary for tests that drive the command line.

use sluice::providers::ProviderRef;
use sluice::sandbox::{
    ActionLog, ComponentSource, Job, Limits, MemoryLog, Mount, Provider, RunReport, Sandbox,
    SandboxBuilder,
};
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

pub mod harness;

/// Paths of the fixture components built from `tests/fixtures/`.
pub mod fixtures {
    include!(concat!(env!("OUT_DIR"), "/fixtures.rs"));
}

/// The sandbox every test in this process shares, with a compile cache
/// kept between test runs.
pub fn sandbox() -> &'static Sandbox {
    static SANDBOX: OnceLock<Sandbox> = OnceLock::new();
    SANDBOX.get_or_init(|| {
        SandboxBuilder::new()
            .process_settings(sluice::sandbox::ProcessSettings::from_path_list(
                &std::env::var("PATH").unwrap_or_default(),
            ))
            .cache_dir(Path::new(env!("OUT_DIR")).join("compile-cache"))
            .build()
            .expect("the sandbox starts")
    })
}

/// Loads a fixture component by path.
pub fn fixture(path: &str) -> Provider {
    let source = ComponentSource::from_file(Path::new(path)).expect("fixture is built");
    sandbox().load(&source).expect("fixture loads").0
}

/// Loads a built-in provider.
pub fn builtin(name: &str) -> Provider {
    let source = ProviderRef::Builtin(name.into())
        .component()
        .expect("built-in exists");
    sandbox().load(&source).expect("built-in loads").0
}

/// Folders for one job: inputs, outputs, scratch, all under one temporary
/// folder removed when dropped.
pub struct Workspace {
    /// The temporary folder holding everything.
    pub dir: tempfile::TempDir,
    /// The job, with its scratch folder set.
    pub job: Job,
}

impl Workspace {
    /// A job with configuration `config` and no artifacts.
    pub fn new(config: &[(&str, &str)]) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let scratch = dir.path().join("scratch");
        std::fs::create_dir(&scratch).unwrap();
        let job = Job {
            id: "job-test".into(),
            execution_id: "exec-test".into(),
            pipeline: "test".into(),
            stage: "Test".into(),
            action: "Act".into(),
            attempt: 1,
            configuration: config
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            scratch,
            ..Job::default()
        };
        Workspace { dir, job }
    }

    /// Adds an input artifact holding `files` (path, content); returns its folder.
    pub fn input(&mut self, name: &str, files: &[(&str, &str)]) -> PathBuf {
        let path = self.dir.path().join("in").join(name);
        for (file, content) in files {
            let file = path.join(file);
            std::fs::create_dir_all(file.parent().unwrap()).unwrap();
            std::fs::write(file, content).unwrap();
        }
        std::fs::create_dir_all(&path).unwrap();
        self.job.inputs.push(Mount {
            name: name.into(),
            host_path: path.clone(),
            revision: None,
        });
        path
    }

    /// Adds an empty output artifact; returns its folder.
    pub fn output(&mut self, name: &str) -> PathBuf {
        let path = self.dir.path().join("out").join(name);
        std::fs::create_dir_all(&path).unwrap();
        self.job.outputs.push(Mount {
            name: name.into(),
            host_path: path.clone(),
            revision: None,
        });
        path
    }

    /// Runs the job on `provider` with `limits`; returns the report and the log.
    pub async fn run(&self, provider: &Provider, limits: &Limits) -> (RunReport, String) {
        let memory = MemoryLog::new();
        let log = ActionLog::new(memory.clone(), limits.log_bytes);
        let report = provider
            .run(&self.job, limits, &log)
            .await
            .expect("the job can be set up");
        (report, memory.contents())
    }
}
