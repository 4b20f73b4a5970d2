//! The CodePipeline API with the real clients: boto3 and the AWS CLI from
//! the virtual environment `scripts/aws-clients.sh` makes, unmodified,
//! against `sluice serve`, with access keys `sluice token create --aws`
//! made. Signatures are checked for real: a wrong secret and an unknown
//! key get AWS's errors. One module per part of the API; one binary.

mod action_types;
mod cbor;
mod declarations;
mod model;
mod scenario;
mod webhooks;
mod workers;

use serde_json::Value;
use sluice_tests::fixtures;
use sluice_tests::server::ServerProcess;
use std::path::{Path, PathBuf};
use std::process::Command;

fn exe() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_sluice"))
}

/// The clients' virtual environment.
fn clients() -> PathBuf {
    sluice_tests::aws::clients()
}

/// `sluice token create NAME --role ROLE --aws`: the key pair it prints.
fn aws_key(state: &Path, name: &str, role: &str) -> (String, String) {
    sluice_tests::aws::aws_key(exe(), state, name, role)
}

/// Runs `aws ARGS... --endpoint-url URL --output json` with `key`.
fn aws_cli(
    clients: &Path,
    dir: &Path,
    url: &str,
    key: &(String, String),
    args: &[&str],
) -> std::process::Output {
    Command::new(clients.join("bin/aws"))
        .args(args)
        .args(["--endpoint-url", url, "--output", "json"])
        .env("AWS_ACCESS_KEY_ID", &key.0)
        .env("AWS_SECRET_ACCESS_KEY", &key.1)
        .env("AWS_DEFAULT_REGION", "eu-west-1")
        .env_remove("AWS_PROFILE")
        .env("AWS_CONFIG_FILE", dir.join("no-config"))
        .env("AWS_SHARED_CREDENTIALS_FILE", dir.join("no-credentials"))
        .output()
        .unwrap()
}

/// Runs `tests/aws/NAME` with the clients' Python against `server`: the
/// JSON object it prints of what it saw (its output and the server's
/// shown when it fails).
fn run_script(server: &ServerProcess, name: &str, args: &[&str]) -> Value {
    let out = sluice_tests::aws::script(name, args);
    assert!(
        out.status.success(),
        "{}\n{}\nserver: {}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
        server.output()
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

/// [`aws_cli`] that must succeed: its JSON answer.
fn aws_json(clients: &Path, dir: &Path, url: &str, key: &(String, String), args: &[&str]) -> Value {
    let out = aws_cli(clients, dir, url, key, args);
    assert!(
        out.status.success(),
        "aws {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap_or(Value::Null)
}

/// `sluice ARGS` on `state` (with the server's cache folder); its output.
fn sluice_ok(state: &Path, args: &[&str]) -> String {
    let out = Command::new(exe())
        .arg("--state-dir")
        .arg(state)
        .arg("--cache-dir")
        .arg(state.join("../cache"))
        .args(args)
        .output()
        .unwrap();
    let text =
        String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "sluice {args:?}: {text}");
    text
}
