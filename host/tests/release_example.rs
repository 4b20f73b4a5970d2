//! The release example end to end, as a user runs it: `sluice run
//! examples/release/pipeline.yaml --yes` builds this repository's committed
//! example application, tests it, deploys it to staging, tests it there,
//! passes the approval and deploys it to production. The binary in
//! production must report exactly the source revision the execution
//! recorded.

use std::path::Path;
use std::process::{Command, Stdio};

fn sluice(state: &Path, cache: &Path, args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_sluice"))
        .arg("--state-dir")
        .arg(state)
        .arg("--cache-dir")
        .arg(cache)
        .args(args)
        .env("SLUICE_USER", "release-test")
        .stdin(Stdio::null())
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn the_release_example_puts_the_recorded_commit_in_production() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .canonicalize()
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let deploy = dir.path().join("deploy");
    // The example as shipped, with its repository and deployment folders
    // pointed at absolute places so the test runs from anywhere.
    let text = std::fs::read_to_string(root.join("examples/release/pipeline.yaml")).unwrap();
    assert!(text.contains("path: ../..") && text.contains(".deploy/production"));
    let text = text
        .replace("path: ../..", &format!("path: {}", root.display()))
        .replace(".deploy/", &format!("{}/", deploy.display()));
    let pipeline = dir.path().join("pipeline.yaml");
    std::fs::write(&pipeline, text).unwrap();
    let state = dir.path().join("state");
    let cache = dir.path().join("cache");

    let (code, stdout, stderr) = sluice(
        &state,
        &cache,
        &["run", pipeline.to_str().unwrap(), "--yes"],
    );
    assert_eq!(code, 0, "{stdout}\n{stderr}");
    for line in [
        "Source",
        "Build",
        "Staging",
        "Approval",
        "Production",
        "approved by",
        "Succeeded",
    ] {
        assert!(stdout.contains(line), "{line} missing from:\n{stdout}");
    }

    let (_, listing, _) = sluice(&state, &cache, &["executions", "release", "--json"]);
    let executions: serde_json::Value = serde_json::from_str(&listing).unwrap();
    let execution = &executions[0];
    assert_eq!(execution["status"], "Succeeded");
    let recorded = execution["source_revisions"][0]["revision"]["id"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(recorded.len(), 40, "a full commit id: {recorded}");

    // The commit is the repository's HEAD when git is at hand to say so.
    if let Ok(out) = Command::new("git")
        .arg("-C")
        .arg(&root)
        .args(["rev-parse", "HEAD"])
        .output()
        && out.status.success()
    {
        assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), recorded);
    }

    for environment in ["staging", "production"] {
        let binary = deploy.join(environment).join("current/bin/hello");
        let out = Command::new(&binary).arg("--revision").output().unwrap();
        assert!(out.status.success(), "{}", binary.display());
        assert_eq!(
            String::from_utf8_lossy(&out.stdout).trim(),
            recorded,
            "{environment}"
        );
        let greeting = Command::new(&binary).arg("Sluice").output().unwrap();
        assert!(String::from_utf8_lossy(&greeting.stdout).contains("Sluice"));
    }
    // The release folder is named after the execution.
    let current = std::fs::read_link(deploy.join("production/current")).unwrap();
    assert!(
        current
            .to_string_lossy()
            .ends_with(execution["id"].as_str().unwrap()),
        "{}",
        current.display()
    );

    // The approval is on record with who gave it.
    let id = execution["id"].as_str().unwrap();
    let (_, detail, _) = sluice(&state, &cache, &["execution", id, "--json"]);
    let detail: serde_json::Value = serde_json::from_str(&detail).unwrap();
    let approval = detail["attempts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["action"] == "Release")
        .expect("the approval's attempt");
    assert_eq!(
        approval["run"]["approval"]["by"], "release-test",
        "{approval}"
    );
    assert_eq!(approval["run"]["status"], "Succeeded", "{approval}");
}
