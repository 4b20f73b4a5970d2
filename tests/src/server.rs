//! A `sluice serve` process for tests: started on a free loopback port,
//! found through its `server.json`, called through the host's own HTTP
//! client, stopped with SIGTERM or killed with SIGKILL.

use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A running server.
pub struct ServerProcess {
    /// The process.
    pub child: Child,
    /// `http://127.0.0.1:PORT`.
    pub url: String,
    /// The API token.
    pub token: String,
    /// Its state directory.
    pub state_dir: PathBuf,
    /// Where its standard output and error go.
    pub log: PathBuf,
}

impl ServerProcess {
    /// Starts `exe serve` on `state_dir` with `args` (after `serve`), and
    /// waits until it answers.
    pub fn start(exe: &Path, state_dir: &Path, args: &[&str]) -> ServerProcess {
        ServerProcess::start_with_env(exe, state_dir, args, &[])
    }

    /// As [`ServerProcess::start`], with more environment variables.
    pub fn start_with_env(
        exe: &Path,
        state_dir: &Path,
        args: &[&str],
        env: &[(&str, &str)],
    ) -> ServerProcess {
        std::fs::create_dir_all(state_dir).unwrap();
        let info = state_dir.join("server.json");
        let _ = std::fs::remove_file(&info);
        let log = state_dir.with_extension(format!("serve-{}.log", std::process::id()));
        let out = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log)
            .unwrap();
        let child = Command::new(exe)
            .arg("--state-dir")
            .arg(state_dir)
            .arg("--cache-dir")
            .arg(state_dir.join("../cache"))
            .arg("serve")
            .args(["--listen", "127.0.0.1:0"])
            .args(args)
            .env("SLUICE_USER", "server-test")
            // The fixtures wait for their gates polling every 10-20 ms.
            .env("SLUICE_RECHECK_FLOOR", "10ms")
            .env_remove("SLUICE_SERVER")
            .envs(env.iter().copied())
            .stdin(Stdio::null())
            .stdout(out.try_clone().unwrap())
            .stderr(out)
            .spawn()
            .unwrap();
        let deadline = Instant::now() + Duration::from_secs(60);
        let url = loop {
            if let Ok(text) = std::fs::read_to_string(&info)
                && let Ok(v) = serde_json::from_str::<Value>(&text)
                && v["pid"] == child.id()
            {
                break v["url"].as_str().unwrap().to_string();
            }
            assert!(
                Instant::now() < deadline,
                "the server did not start: {}",
                std::fs::read_to_string(&log).unwrap_or_default()
            );
            std::thread::sleep(Duration::from_millis(20));
        };
        let token = std::fs::read_to_string(state_dir.join("api-token"))
            .unwrap()
            .trim()
            .to_string();
        ServerProcess {
            child,
            url,
            token,
            state_dir: state_dir.to_path_buf(),
            log,
        }
    }

    /// Calls the API with the token: status and JSON answer.
    pub async fn call(&self, method: &str, path: &str, body: Option<Value>) -> (u16, Value) {
        self.call_as(method, path, body, Some(&self.token)).await
    }

    /// Calls the API with the token; a connection failure (the server was
    /// killed) is an error rather than a panic.
    pub async fn try_call(
        &self,
        method: &str,
        path: &str,
        body: Option<Value>,
    ) -> Result<(u16, Value), String> {
        let headers = vec![
            ("content-type", "application/json".to_string()),
            ("authorization", format!("Bearer {}", self.token)),
        ];
        let url = format!("{}/api/v1{path}", self.url);
        let response = sluice::http_client::request(
            method,
            &url,
            &headers,
            body.map(|b| serde_json::to_vec(&b).unwrap()),
            Duration::from_secs(30),
        )
        .await?;
        let value = serde_json::from_slice(&response.body).unwrap_or(Value::Null);
        Ok((response.status, value))
    }

    /// Creates or updates a pipeline (paths in it relative to `base_dir`)
    /// and returns the answer; anything but 200 fails the test.
    pub async fn apply(&self, definition: &str, base_dir: &Path) -> Value {
        let body = serde_json::json!({"definition": definition, "base_dir": base_dir});
        let (status, answer) = self.call("PUT", "/pipelines", Some(body)).await;
        assert_eq!(status, 200, "applying a pipeline: {answer}");
        answer
    }

    /// The server's process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Calls the API with `token` (or none).
    pub async fn call_as(
        &self,
        method: &str,
        path: &str,
        body: Option<Value>,
        token: Option<&str>,
    ) -> (u16, Value) {
        let mut headers = vec![("content-type", "application/json".to_string())];
        if let Some(t) = token {
            headers.push(("authorization", format!("Bearer {t}")));
        }
        let url = format!("{}/api/v1{path}", self.url);
        let response = sluice::http_client::request(
            method,
            &url,
            &headers,
            body.map(|b| serde_json::to_vec(&b).unwrap()),
            Duration::from_secs(30),
        )
        .await
        .unwrap_or_else(|e| panic!("{method} {path}: {e}"));
        let value = if response.body.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(&response.body).unwrap_or_else(|_| {
                Value::String(String::from_utf8_lossy(&response.body).into_owned())
            })
        };
        (response.status, value)
    }

    /// Polls `GET path` until `check` holds.
    pub async fn wait_for(&self, what: &str, path: &str, check: impl Fn(&Value) -> bool) -> Value {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let (status, value) = self.call("GET", path, None).await;
            if status == 200 && check(&value) {
                return value;
            }
            assert!(
                Instant::now() < deadline,
                "timed out waiting for {what}; last answer {status}: {value}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// SIGTERM, then waits for the process; returns its exit code.
    pub fn terminate(mut self) -> Option<i32> {
        let pid = rustix::process::Pid::from_child(&self.child);
        let _ = rustix::process::kill_process(pid, rustix::process::Signal::TERM);
        self.child.wait().ok().and_then(|s| s.code())
    }

    /// SIGKILL: no clean shutdown at all.
    pub fn kill9(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// What the server printed.
    pub fn output(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Hosts that share work: one database on the test PostgreSQL server and
/// one bucket on the test S3 server, with what each host's `serve` needs
/// to use them (its state directory pointed at the database, the
/// bucket's `--artifacts` URL and credentials).
#[derive(Debug, Clone)]
pub struct SharedHosts {
    /// The database's URL.
    pub database: String,
    /// The bucket's name.
    pub bucket: String,
    /// `s3://BUCKET/PREFIX`, given as `--artifacts`.
    pub artifacts: String,
    /// The S3 server's endpoint.
    pub endpoint: String,
    env: Vec<(&'static str, String)>,
}

impl SharedHosts {
    /// A new database and bucket; artifacts go under `prefix`.
    pub fn new(prefix: &str) -> SharedHosts {
        let database = sluice_pgtest::Server::shared().database();
        let s3 = sluice_s3test::Server::shared();
        let bucket = s3.bucket();
        let endpoint = s3.endpoint();
        SharedHosts {
            database,
            artifacts: format!("s3://{bucket}/{prefix}"),
            bucket,
            env: vec![
                ("AWS_ENDPOINT_URL", endpoint.clone()),
                ("AWS_ACCESS_KEY_ID", s3.access_key_id().to_string()),
                ("AWS_SECRET_ACCESS_KEY", s3.secret_access_key().to_string()),
                ("AWS_REGION", "us-east-1".to_string()),
            ],
            endpoint,
        }
    }

    /// The folder the S3 server keeps this bucket's objects in.
    pub fn bucket_folder(&self) -> PathBuf {
        sluice_s3test::Server::shared().root().join(&self.bucket)
    }

    /// The S3 credentials, as the environment gives them.
    pub fn env(&self) -> Vec<(&str, &str)> {
        self.env.iter().map(|(k, v)| (*k, v.as_str())).collect()
    }

    /// The bucket, as a host reaches it.
    pub fn remote(&self) -> sluice::artifacts::Remote {
        let env = self.env();
        let settings = sluice::artifacts::RemoteSettings::from_env(&self.artifacts, |k| {
            env.iter().find(|(name, _)| *name == k).map(|(_, v)| *v)
        });
        sluice::artifacts::Remote::new(&settings).unwrap()
    }

    /// Starts `exe serve` on `state_dir` (pointed at the database first)
    /// with the bucket as `--artifacts` and `args`.
    pub fn start(&self, exe: &Path, state_dir: &Path, args: &[&str]) -> ServerProcess {
        sluice::store::use_database(state_dir, &self.database).unwrap();
        let mut all = vec!["--artifacts", self.artifacts.as_str()];
        all.extend_from_slice(args);
        ServerProcess::start_with_env(exe, state_dir, &all, &self.env())
    }
}
