//! The AWS clients the CodePipeline API's tests drive: boto3 and the AWS
//! CLI from the virtual environment `scripts/aws-clients.sh` makes, access
//! keys `sluice token create --aws` makes, and a git repository a
//! CodeCommit source maps to.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// The clients' virtual environment (`$SLUICE_AWS_CLIENTS`, else
/// `~/.cache/sluice/aws-clients`); panics naming the script that makes it.
pub fn clients() -> PathBuf {
    let dir = std::env::var_os("SLUICE_AWS_CLIENTS")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            let cache = std::env::var_os("XDG_CACHE_HOME")
                .map(PathBuf::from)
                .unwrap_or_else(|| PathBuf::from(std::env::var_os("HOME").unwrap()).join(".cache"));
            cache.join("sluice/aws-clients")
        });
    assert!(
        dir.join("bin/python").exists() && dir.join("bin/aws").exists(),
        "boto3 and the AWS CLI are not installed in {}: run scripts/aws-clients.sh (scripts/test.sh does)",
        dir.display()
    );
    dir
}

/// `sluice token create NAME --role ROLE --aws` on `state` (through its
/// server when one serves it): the key pair it prints.
pub fn aws_key(exe: &Path, state: &Path, name: &str, role: &str) -> (String, String) {
    let out = Command::new(exe)
        .arg("--state-dir")
        .arg(state)
        .args(["token", "create", name, "--role", role, "--aws"])
        .output()
        .unwrap();
    let text =
        String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{text}");
    let field = |key: &str| {
        text.lines()
            .find_map(|l| l.trim().strip_prefix(key))
            .map(|v| v.trim_start_matches([' ', '=']).trim().to_string())
            .unwrap_or_else(|| panic!("no {key} in: {text}"))
    };
    (field("aws_access_key_id"), field("aws_secret_access_key"))
}

/// Runs one of the `tests/aws/` scripts with the clients' Python.
pub fn script(name: &str, args: &[&str]) -> Output {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("aws").join(name);
    Command::new(clients().join("bin/python"))
        .arg(path)
        .args(args)
        .output()
        .unwrap()
}

/// A git repository at `dir` with `files` committed on branch `main`, and
/// the state directory's `aws-actions.yaml` mapping it as `app`.
pub fn mapped_repository(dir: &Path, state: &Path, files: &[(&str, &str)]) {
    std::fs::create_dir_all(dir).unwrap();
    for (path, body) in files {
        let path = dir.join(path);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, body).unwrap();
    }
    for args in [
        &["init", "-q", "-b", "main"][..],
        &["add", "."],
        &[
            "-c",
            "user.name=t",
            "-c",
            "user.email=t@example.com",
            "commit",
            "-qm",
            "one",
        ],
    ] {
        let status = Command::new("git")
            .args(args)
            .current_dir(dir)
            .status()
            .unwrap();
        assert!(status.success(), "git {args:?}");
    }
    std::fs::create_dir_all(state).unwrap();
    std::fs::write(
        state.join("aws-actions.yaml"),
        format!("repositories:\n  app: {}\n", dir.display()),
    )
    .unwrap();
}
