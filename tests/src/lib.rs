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

pub mod aws;
pub mod browser;
pub mod chaos;
pub mod harness;
pub mod server;

/// Paths of the fixture components built from `tests/fixtures/`.
pub mod fixtures {
    include!(concat!(env!("OUT_DIR"), "/fixtures.rs"));
}

/// Makes `dir/src`, a source folder for the `gated-source` fixture (grant
/// it as `source`) holding revision `r1` with `files`, and returns it.
pub fn gated_source_folder(dir: &Path, files: &[(&str, &str)]) -> PathBuf {
    let src = dir.join("src");
    let revision = src.join("revisions/r1");
    std::fs::create_dir_all(&revision).unwrap();
    for (name, content) in files {
        std::fs::write(revision.join(name), content).unwrap();
    }
    std::fs::write(src.join("LATEST"), "r1").unwrap();
    src
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

    /// Grants a host folder at `/paths/NAME`.
    pub fn grant_path(&mut self, name: &str, dir: &Path, writable: bool) {
        std::fs::create_dir_all(dir).unwrap();
        self.job.mounts.push(sluice::sandbox::HostMount {
            name: name.into(),
            host_path: dir.canonicalize().unwrap(),
            guest_path: format!("/paths/{name}"),
            writable,
        });
    }

    /// Grants programs.
    pub fn grant_programs(&mut self, programs: &[&str]) {
        self.job.grants.process = Some(sluice::sandbox::ProcessGrant {
            programs: programs.iter().map(|p| p.to_string()).collect(),
            ..Default::default()
        });
    }

    /// Allows a URL prefix.
    pub fn grant_url(&mut self, url: &str) {
        let rule = sluice::sandbox::UrlRule::parse(url).unwrap();
        self.job
            .grants
            .http
            .get_or_insert_with(Default::default)
            .allow
            .push(rule);
    }

    /// Grants a secret with its value.
    pub fn grant_secret(&mut self, name: &str, value: &str) {
        self.job.grants.secrets.push(sluice::sandbox::Secret {
            name: name.into(),
            value: value.into(),
        });
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

/// A request a [`TestServer`] received.
#[derive(Debug, Clone)]
pub struct Received {
    /// The method.
    pub method: String,
    /// The path and query.
    pub path: String,
    /// The headers, names in lower case.
    pub headers: Vec<(String, String)>,
    /// The body.
    pub body: Vec<u8>,
}

/// An HTTP server on loopback answering every request the same way, and
/// keeping what it received.
pub struct TestServer {
    /// `http://127.0.0.1:PORT`.
    pub url: String,
    /// What it received, in order.
    pub received: std::sync::Arc<std::sync::Mutex<Vec<Received>>>,
}

/// Starts a [`TestServer`] answering `status` with `body`.
pub async fn test_server(status: u16, answer_body: &'static str) -> TestServer {
    flaky_server(0, status, answer_body).await
}

/// A [`TestServer`] answering 500 to its first `failures` requests, then
/// `status` with `answer_body`.
pub async fn flaky_server(failures: usize, status: u16, answer_body: &'static str) -> TestServer {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let answered = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let received = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let log = received.clone();
    tokio::spawn(async move {
        while let Ok((mut socket, _)) = listener.accept().await {
            let log = log.clone();
            let answered = answered.clone();
            tokio::spawn(async move {
                let mut data = Vec::new();
                let mut buffer = [0u8; 8192];
                let head_end = loop {
                    let n = socket.read(&mut buffer).await.unwrap_or(0);
                    if n == 0 {
                        return;
                    }
                    data.extend_from_slice(&buffer[..n]);
                    if let Some(i) = data.windows(4).position(|w| w == b"\r\n\r\n") {
                        break i;
                    }
                };
                let head = String::from_utf8_lossy(&data[..head_end]).to_string();
                let mut lines = head.lines();
                let first: Vec<&str> = lines.next().unwrap_or("").split_whitespace().collect();
                let headers: Vec<(String, String)> = lines
                    .filter_map(|l| l.split_once(':'))
                    .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
                    .collect();
                let length: usize = headers
                    .iter()
                    .find(|(k, _)| k == "content-length")
                    .and_then(|(_, v)| v.parse().ok())
                    .unwrap_or(0);
                let chunked = headers
                    .iter()
                    .any(|(k, v)| k == "transfer-encoding" && v.contains("chunked"));
                let mut body = data[head_end + 4..].to_vec();
                if chunked {
                    while !body.ends_with(b"0\r\n\r\n") {
                        let n = socket.read(&mut buffer).await.unwrap_or(0);
                        if n == 0 {
                            break;
                        }
                        body.extend_from_slice(&buffer[..n]);
                    }
                    body = dechunk(&body);
                } else {
                    while body.len() < length {
                        let n = socket.read(&mut buffer).await.unwrap_or(0);
                        if n == 0 {
                            break;
                        }
                        body.extend_from_slice(&buffer[..n]);
                    }
                }
                log.lock().unwrap().push(Received {
                    method: first.first().unwrap_or(&"").to_string(),
                    path: first.get(1).unwrap_or(&"").to_string(),
                    headers,
                    body,
                });
                let n = answered.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                let status = if n < failures { 500 } else { status };
                let answer = format!(
                    "HTTP/1.1 {status} Answer\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{answer_body}",
                    answer_body.len()
                );
                let _ = socket.write_all(answer.as_bytes()).await;
                let _ = socket.shutdown().await;
            });
        }
    });
    TestServer { url, received }
}

fn dechunk(data: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    let mut rest = data;
    while let Some(line_end) = rest.windows(2).position(|w| w == b"\r\n") {
        let size = usize::from_str_radix(String::from_utf8_lossy(&rest[..line_end]).trim(), 16)
            .unwrap_or(0);
        if size == 0 {
            break;
        }
        let start = line_end + 2;
        out.extend_from_slice(&rest[start..(start + size).min(rest.len())]);
        rest = &rest[(start + size + 2).min(rest.len())..];
    }
    out
}
