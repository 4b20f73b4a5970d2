//! Plugin packages as a user handles them: `sluice plugin pack` into an OCI
//! image layout (folder and tar), `install` with every blob checked,
//! `list`, `inspect`, `remove`; keys, signatures and the trust policy; and
//! pipelines naming an installed provider as `owner/provider@^1`, which
//! keep running the exact component they were applied with.
//!
//! The components are the built-in `noop` provider's bytes with the owner
//! and version its `describe` returns rewritten in place (same length), so
//! two versions of a third-party provider exist without another toolchain.

use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

struct Cli {
    dir: tempfile::TempDir,
}

impl Cli {
    fn new() -> Cli {
        Cli {
            dir: tempfile::tempdir().unwrap(),
        }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    fn run(&self, args: &[&str]) -> (i32, String, String) {
        let output = Command::new(env!("CARGO_BIN_EXE_sluice"))
            .arg("--state-dir")
            .arg(self.path("state"))
            .arg("--cache-dir")
            .arg(self.path("cache"))
            .args(args)
            .current_dir(self.dir.path())
            .env("SLUICE_USER", "plugin-test")
            // The fixtures wait for their gates polling every 10-20 ms.
            .env("SLUICE_RECHECK_FLOOR", "10ms")
            .env_remove("SLUICE_STATE_DIR")
            .env_remove("SLUICE_SERVER")
            .stdin(Stdio::null())
            .output()
            .unwrap();
        (
            output.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&output.stdout).into_owned(),
            String::from_utf8_lossy(&output.stderr).into_owned(),
        )
    }

    /// Runs a command that must succeed; returns its standard output.
    fn ok(&self, args: &[&str]) -> String {
        let (code, out, err) = self.run(args);
        assert_eq!(code, 0, "sluice {args:?} failed:\n{out}{err}");
        out
    }

    fn json(&self, args: &[&str]) -> serde_json::Value {
        let out = self.ok(args);
        serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}"))
    }

    /// Writes `acmeco/noop` at `version` (`1.0.0`, `1.2.0`: five
    /// characters) as a component file; returns its path.
    fn component(&self, version: &str) -> String {
        let noop = sluice::providers::builtins()
            .iter()
            .find(|b| b.name == "noop")
            .unwrap();
        let from = b"sluice1.0.0Does nothing";
        let to = format!("acmeco{version}Does nothing");
        assert_eq!(from.len(), to.len());
        let mut bytes = noop.bytes.to_vec();
        let at: Vec<usize> = bytes
            .windows(from.len())
            .enumerate()
            .filter(|(_, w)| w == from)
            .map(|(i, _)| i)
            .collect();
        assert_eq!(
            at.len(),
            1,
            "the noop component should hold its owner and version once, side by side"
        );
        bytes[at[0]..at[0] + from.len()].copy_from_slice(to.as_bytes());
        let path = self.path(&format!("acmeco-noop-{version}.wasm"));
        std::fs::write(&path, bytes).unwrap();
        path.display().to_string()
    }

    /// Packs `acmeco/noop` at `version` into `out`.
    fn pack(&self, version: &str, out: &str) -> String {
        let component = self.component(version);
        let out = self.path(out).display().to_string();
        self.ok(&["plugin", "pack", &component, "--out", &out]);
        out
    }
}

fn read_json(path: &Path) -> serde_json::Value {
    serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap()
}

fn blob_path(layout: &Path, digest: &serde_json::Value) -> PathBuf {
    let digest = digest.as_str().unwrap();
    layout
        .join("blobs/sha256")
        .join(digest.strip_prefix("sha256:").unwrap())
}

fn sha256(bytes: &[u8]) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(bytes)))
}

const PIPELINE: &str = r#"
name: words
stages:
  - name: Source
    actions:
      - { name: Site, provider: "builtin:directory", outputs: [S], grants: { paths: { source: { path: "site" } } } }
  - name: Build
    actions:
      - { name: Count, provider: "acmeco/noop@^1", inputs: [S] }
"#;

#[test]
fn pack_writes_an_oci_image_layout_as_a_folder_and_as_a_tar() {
    let cli = Cli::new();
    let layout = PathBuf::from(cli.pack("1.0.0", "acmeco-noop"));

    assert_eq!(
        read_json(&layout.join("oci-layout"))["imageLayoutVersion"],
        "1.0.0"
    );
    let index = read_json(&layout.join("index.json"));
    assert_eq!(
        index["mediaType"],
        "application/vnd.oci.image.index.v1+json"
    );
    let entry = &index["manifests"][0];
    assert_eq!(index["manifests"].as_array().unwrap().len(), 1);
    assert_eq!(
        entry["annotations"]["org.opencontainers.image.ref.name"],
        "acmeco/noop:1.0.0"
    );
    assert_eq!(
        entry["mediaType"],
        "application/vnd.oci.image.manifest.v1+json"
    );

    // Every blob is named by the sha256 of its content.
    for blob in std::fs::read_dir(layout.join("blobs/sha256")).unwrap() {
        let blob = blob.unwrap();
        let name = format!("sha256:{}", blob.file_name().to_string_lossy());
        assert_eq!(sha256(&std::fs::read(blob.path()).unwrap()), name);
    }

    let manifest = read_json(&blob_path(&layout, &entry["digest"]));
    assert_eq!(manifest["schemaVersion"], 2);
    assert_eq!(
        manifest["artifactType"],
        "application/vnd.wasm.config.v0+json"
    );
    assert_eq!(
        manifest["config"]["mediaType"],
        "application/vnd.wasm.config.v0+json"
    );
    let layers = manifest["layers"].as_array().unwrap();
    assert_eq!(layers[0]["mediaType"], "application/wasm");
    assert_eq!(
        layers[1]["mediaType"],
        "application/vnd.sluice.provider.manifest.v1+json"
    );
    let component = std::fs::read(blob_path(&layout, &layers[0]["digest"])).unwrap();
    assert_eq!(
        component,
        std::fs::read(cli.component("1.0.0")).unwrap(),
        "the component layer is the component, unchanged"
    );
    assert_eq!(layers[0]["size"], component.len() as u64);

    let config = read_json(&blob_path(&layout, &manifest["config"]["digest"]));
    assert_eq!(config["architecture"], "wasm");
    assert_eq!(config["os"], "wasip2");
    assert!(
        config["created"].as_str().unwrap().ends_with('Z'),
        "{config}"
    );
    assert_eq!(
        config["layerDigests"],
        serde_json::json!([layers[0]["digest"], layers[1]["digest"]])
    );
    let exports = config["component"]["exports"].as_array().unwrap();
    assert!(
        exports.contains(&serde_json::json!("sluice:provider/provider@0.1.0")),
        "{config}"
    );
    assert!(
        config["component"]["imports"]
            .as_array()
            .unwrap()
            .iter()
            .any(|i| i.as_str().unwrap().starts_with("sluice:provider/log@")),
        "{config}"
    );
    assert_eq!(
        config["component"]["target"],
        "sluice:provider/action-provider@0.1.0"
    );

    let sluice = read_json(&blob_path(&layout, &layers[1]["digest"]));
    assert_eq!(sluice["contract"], "sluice:provider@0.1.0");
    assert_eq!(
        sluice["action_type"],
        serde_json::json!({"category": "build", "owner": "acmeco", "provider": "noop", "version": "1.0.0"})
    );
    assert_eq!(sluice["grants"], serde_json::json!([]));
    assert_eq!(sluice["component"]["digest"], layers[0]["digest"]);

    // The same package as a tar; `inspect` reads either.
    let tar = cli.path("acmeco-noop.tar");
    let component_file = cli.component("1.0.0");
    cli.ok(&[
        "plugin",
        "pack",
        &component_file,
        "--out",
        tar.to_str().unwrap(),
    ]);
    let mut names = Vec::new();
    let mut archive = tar::Archive::new(std::fs::File::open(&tar).unwrap());
    for entry in archive.entries().unwrap() {
        names.push(entry.unwrap().path().unwrap().display().to_string());
    }
    for expected in ["oci-layout", "index.json"] {
        assert!(names.iter().any(|n| n == expected), "{names:?}");
    }
    assert!(
        names.iter().any(|n| n.starts_with("blobs/sha256/")),
        "{names:?}"
    );
    let inspected = cli.json(&["plugin", "inspect", tar.to_str().unwrap(), "--json"]);
    assert_eq!(inspected["form"], "tar");
    assert_eq!(inspected["reference"], "acmeco/noop:1.0.0");
    assert_eq!(
        inspected["manifest"]["layers"][0]["digest"],
        layers[0]["digest"]
    );
    assert_eq!(inspected["signatures"], serde_json::json!([]));

    // An existing package is not overwritten without --force.
    let (code, _, err) = cli.run(&[
        "plugin",
        "pack",
        &component_file,
        "--out",
        tar.to_str().unwrap(),
    ]);
    assert_eq!(code, 2);
    assert!(err.contains("already exists"), "{err}");
}

#[test]
fn installed_providers_resolve_by_requirement_and_pipelines_keep_their_component() {
    let cli = Cli::new();
    let v1 = cli.pack("1.0.0", "v1");
    let v12 = cli.pack("1.2.0", "v12.tar");

    let out = cli.ok(&["plugin", "install", &v1]);
    assert!(out.contains("installed acmeco/noop 1.0.0"), "{out}");
    let out = cli.ok(&["plugin", "install", &v1]);
    assert!(out.contains("already installed"), "{out}");
    let out = cli.ok(&["plugin", "list"]);
    assert!(
        out.contains("acmeco/noop") && out.contains("1.0.0"),
        "{out}"
    );
    let v1_record = cli.json(&["plugin", "inspect", "acmeco/noop", "--json"]);
    assert_eq!(v1_record["version"], "1.0.0");
    let v1_sha = v1_record["component_sha256"].as_str().unwrap().to_string();
    assert_eq!(
        format!("sha256:{v1_sha}"),
        sha256(&std::fs::read(cli.component("1.0.0")).unwrap())
    );
    assert!(
        cli.path("state/plugins/acmeco/noop/1.0.0/plugin.json")
            .is_file(),
        "the install record"
    );
    assert!(
        cli.path(&format!("state/components/{v1_sha}.wasm"))
            .is_file(),
        "the component, kept by digest"
    );
    let out = cli.ok(&["plugin", "inspect", "acmeco/noop@1.0.0"]);
    assert!(out.contains("build acmeco/noop 1.0.0"), "{out}");
    assert!(out.contains("contract: sluice:provider@0.1.0"), "{out}");

    // A pipeline names it by requirement; it validates and runs.
    std::fs::create_dir(cli.path("site")).unwrap();
    std::fs::write(cli.path("site/words.txt"), "one two three").unwrap();
    std::fs::write(cli.path("words.yaml"), PIPELINE).unwrap();
    let out = cli.ok(&["validate", "words.yaml"]);
    assert!(out.contains("valid"), "{out}");
    let out = cli.ok(&["run", "words.yaml"]);
    assert!(out.contains("✔ Count"), "{out}");
    let recorded = |cli: &Cli| {
        cli.json(&["pipeline", "get", "words", "--json"])["resolved"][1][0]["sha256"]
            .as_str()
            .unwrap()
            .to_string()
    };
    assert_eq!(recorded(&cli), v1_sha);

    // No installed version matches: the error lists those there are.
    cli.ok(&["plugin", "install", &v12]);
    std::fs::write(
        cli.path("nine.yaml"),
        PIPELINE.replace("acmeco/noop@^1", "acmeco/noop@^9"),
    )
    .unwrap();
    let (code, _, err) = cli.run(&["validate", "nine.yaml"]);
    assert_eq!(code, 1, "{err}");
    assert!(
        err.contains(
            "no installed version of acmeco/noop matches ^9 (installed versions: 1.0.0, 1.2.0)"
        ),
        "{err}"
    );
    std::fs::write(
        cli.path("other.yaml"),
        PIPELINE.replace("acmeco/noop@^1", "acmeco/nothing@^1"),
    )
    .unwrap();
    let (code, _, err) = cli.run(&["validate", "other.yaml"]);
    assert_eq!(code, 1, "{err}");
    assert!(
        err.contains("plugin acmeco/nothing is not installed"),
        "{err}"
    );

    // A newer version installed, then every version removed: the applied
    // pipeline version still runs the component it recorded.
    let v12_sha = cli.json(&["plugin", "inspect", "acmeco/noop", "--json"])["component_sha256"]
        .as_str()
        .unwrap()
        .to_string();
    assert_ne!(v12_sha, v1_sha);
    let out = cli.ok(&["start", "words", "--wait"]);
    assert!(out.contains("✔ Count"), "{out}");
    assert_eq!(recorded(&cli), v1_sha);
    let out = cli.ok(&["plugin", "remove", "acmeco/noop@1.0.0"]);
    assert!(out.contains("removed acmeco/noop 1.0.0"), "{out}");
    cli.ok(&["plugin", "remove", "acmeco/noop@1.2.0"]);
    assert!(cli.ok(&["plugin", "list"]).contains("no plugins installed"));
    let out = cli.ok(&["start", "words", "--wait"]);
    assert!(out.contains("✔ Count"), "{out}");
    let executions = cli.json(&["executions", "words", "--json"]);
    assert_eq!(executions.as_array().unwrap().len(), 3);
    for execution in executions.as_array().unwrap() {
        assert_eq!(execution["status"], "Succeeded", "{executions}");
    }
    let (code, _, err) = cli.run(&["plugin", "remove", "acmeco/noop@1.0.0"]);
    assert_eq!(code, 2);
    assert!(err.contains("plugin acmeco/noop is not installed"), "{err}");

    // Applying again now needs an installed version; with 1.2.0 back the
    // new pipeline version records 1.2.0's component.
    let (code, _, err) = cli.run(&["pipeline", "apply", "words.yaml"]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("acmeco/noop@^1"), "{err}");
    cli.ok(&["plugin", "install", &v12]);
    let out = cli.ok(&["pipeline", "apply", "words.yaml"]);
    assert!(out.contains("version 2"), "{out}");
    assert_eq!(recorded(&cli), v12_sha);
}

#[test]
fn a_tampered_blob_is_refused_naming_the_blob() {
    let cli = Cli::new();
    let layout = PathBuf::from(cli.pack("1.0.0", "tampered"));
    let index = read_json(&layout.join("index.json"));
    let manifest = read_json(&blob_path(&layout, &index["manifests"][0]["digest"]));
    let wasm = &manifest["layers"][0]["digest"];
    let path = blob_path(&layout, wasm);
    let mut bytes = std::fs::read(&path).unwrap();
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0x01;
    std::fs::write(&path, bytes).unwrap();

    let (code, out, err) = cli.run(&["plugin", "install", layout.to_str().unwrap()]);
    assert_eq!(code, 2, "{out}{err}");
    let digest = wasm.as_str().unwrap();
    assert!(
        err.contains(&format!(
            "blob {digest} (the component layer, application/wasm) does not match its digest"
        )),
        "{err}"
    );
    assert!(cli.ok(&["plugin", "list"]).contains("no plugins installed"));

    // A blob that lost bytes is refused by its size.
    let sluice = blob_path(&layout, &manifest["layers"][1]["digest"]);
    let mut bytes = std::fs::read(&path).unwrap();
    bytes[middle] ^= 0x01;
    std::fs::write(&path, bytes).unwrap();
    let text = std::fs::read(&sluice).unwrap();
    std::fs::write(&sluice, &text[..text.len() - 1]).unwrap();
    let (code, _, err) = cli.run(&["plugin", "install", layout.to_str().unwrap()]);
    assert_eq!(code, 2);
    assert!(err.contains("the Sluice manifest layer"), "{err}");
    assert!(err.contains("bytes where its descriptor says"), "{err}");
}

#[test]
fn signatures_and_the_trust_policy_decide_what_installs() {
    let cli = Cli::new();
    let package = cli.pack("1.0.0", "signed.tar");
    let key = cli.path("alice.key").display().to_string();
    let out = cli.ok(&["plugin", "keygen", "--out", &key]);
    assert!(out.contains("key id:"), "{out}");
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&key).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600, "the private key is private");
    }
    let public = format!("{key}.pub");
    assert!(
        std::fs::read_to_string(&public)
            .unwrap()
            .starts_with("ed25519:")
    );
    let (code, _, err) = cli.run(&["plugin", "keygen", "--out", &key]);
    assert_eq!(code, 2);
    assert!(err.contains("never overwritten"), "{err}");

    // Unsigned: refused under --require-signed, accepted with a warning
    // otherwise.
    let (code, _, err) = cli.run(&["plugin", "install", &package, "--require-signed"]);
    assert_eq!(code, 2);
    assert!(
        err.contains("it is not signed, and the trust policy requires"),
        "{err}"
    );

    // Signed by a key not (yet) trusted: refused under the policy.
    let out = cli.ok(&["plugin", "sign", &package, "--key", &key]);
    assert!(out.contains("signed acmeco/noop:1.0.0"), "{out}");
    let inspected = cli.json(&["plugin", "inspect", &package, "--json"]);
    assert_eq!(inspected["signatures"][0]["valid"], true, "{inspected}");
    let (code, _, err) = cli.run(&["plugin", "install", &package, "--require-signed"]);
    assert_eq!(code, 2);
    assert!(err.contains("which is not trusted"), "{err}");

    // Trusted: accepted, and recorded as signed.
    let out = cli.ok(&["plugin", "trust", "add", &public]);
    assert!(out.contains("trusting key"), "{out}");
    let out = cli.ok(&["plugin", "install", &package, "--require-signed"]);
    assert!(out.contains("signed by trusted key"), "{out}");
    let record = cli.json(&["plugin", "inspect", "acmeco/noop@1.0.0", "--json"]);
    assert_eq!(record["signed_by"].as_array().unwrap().len(), 1);
    cli.ok(&["plugin", "remove", "acmeco/noop@1.0.0"]);

    // The policy file requires signatures without the flag; another
    // package signed by an untrusted key is refused.
    std::fs::write(
        cli.path("state/plugin-policy.json"),
        r#"{"require_signed": true}"#,
    )
    .unwrap();
    let mallory = cli.path("mallory.key").display().to_string();
    cli.ok(&["plugin", "keygen", "--out", &mallory]);
    let other = cli.pack("1.2.0", "other");
    cli.ok(&["plugin", "sign", &other, "--key", &mallory]);
    let (code, _, err) = cli.run(&["plugin", "install", &other]);
    assert_eq!(code, 2);
    assert!(err.contains("which is not trusted"), "{err}");
    let (code, _, err) = cli.run(&["plugin", "install", &cli.pack("1.2.0", "unsigned")]);
    assert_eq!(code, 2);
    assert!(err.contains("it is not signed"), "{err}");

    // A signature that does not verify refuses the package whatever the
    // policy: here a trusted signature moved onto another package.
    std::fs::remove_file(cli.path("state/plugin-policy.json")).unwrap();
    cli.ok(&["plugin", "sign", &other, "--key", &key]);
    let other = PathBuf::from(other);
    let index = read_json(&other.join("index.json"));
    let signature = index["manifests"]
        .as_array()
        .unwrap()
        .last()
        .unwrap()
        .clone();
    assert_eq!(
        signature["artifactType"],
        "application/vnd.sluice.signature.v1+json"
    );
    let sig_manifest = read_json(&blob_path(&other, &signature["digest"]));
    let layer = blob_path(&other, &sig_manifest["layers"][0]["digest"]);
    let mut blob = read_json(&layer);
    let mut bytes = hex::decode(blob["signature"].as_str().unwrap()).unwrap();
    bytes[0] ^= 0x01;
    blob["signature"] = serde_json::json!(hex::encode(bytes));
    // Rewrite the signature blob and every digest that names it, as a
    // forger would, so only the signature itself is wrong.
    let blob_bytes = serde_json::to_vec_pretty(&blob).unwrap();
    std::fs::remove_file(&layer).unwrap();
    let blob_digest = sha256(&blob_bytes);
    std::fs::write(
        blob_path(&other, &serde_json::json!(blob_digest)),
        &blob_bytes,
    )
    .unwrap();
    let mut sig_manifest = sig_manifest;
    sig_manifest["layers"][0]["digest"] = serde_json::json!(blob_digest);
    sig_manifest["layers"][0]["size"] = serde_json::json!(blob_bytes.len());
    let manifest_bytes = serde_json::to_vec_pretty(&sig_manifest).unwrap();
    std::fs::remove_file(blob_path(&other, &signature["digest"])).unwrap();
    let manifest_digest = sha256(&manifest_bytes);
    std::fs::write(
        blob_path(&other, &serde_json::json!(manifest_digest)),
        &manifest_bytes,
    )
    .unwrap();
    let mut index = index;
    for m in index["manifests"].as_array_mut().unwrap() {
        if m["digest"] == signature["digest"] {
            m["digest"] = serde_json::json!(manifest_digest);
            m["size"] = serde_json::json!(manifest_bytes.len());
        }
    }
    std::fs::write(
        other.join("index.json"),
        serde_json::to_vec(&index).unwrap(),
    )
    .unwrap();
    let (code, _, err) = cli.run(&["plugin", "install", other.to_str().unwrap()]);
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains("is bad: the signature does not verify"),
        "{err}"
    );

    let out = cli.ok(&["plugin", "trust", "list"]);
    assert!(out.contains("ed25519:"), "{out}");
}

/// `sluice plugin test` reports each check, and fails (exit 1) on the one
/// that fails: here the `gate` fixture, a run that fails when it should
/// succeed, and one that succeeds when it should fail.
#[test]
fn conformance_checks_report_what_fails() {
    let cli = Cli::new();
    let gate = sluice_tests::fixtures::GATE;
    let fixture = cli.path("fixture");
    std::fs::create_dir_all(&fixture).unwrap();
    std::fs::write(fixture.join("a.txt"), "a").unwrap();
    let input = format!("src={}", fixture.display());

    let report = |args: &[&str]| {
        let (code, out, err) = cli.run(args);
        let report: serde_json::Value =
            serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}{err}"));
        let checks: Vec<(String, String, String)> = report["checks"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| {
                (
                    c["name"].as_str().unwrap().to_string(),
                    c["result"].as_str().unwrap().to_string(),
                    c["detail"].as_str().unwrap().to_string(),
                )
            })
            .collect();
        (code, checks)
    };
    let result = |checks: &[(String, String, String)], name: &str| {
        checks
            .iter()
            .find(|(n, _, _)| n == name)
            .map(|(_, r, d)| (r.clone(), d.clone()))
            .unwrap_or_else(|| panic!("no check `{name}` in {checks:?}"))
    };

    // Everything passes, or is skipped with its reason.
    let (code, checks) = report(&[
        "plugin",
        "test",
        gate,
        "--config",
        "Behavior=succeed",
        "--fail-config",
        "Behavior=fail",
        "--input",
        &input,
        "--json",
    ]);
    assert_eq!(code, 0, "{checks:?}");
    assert_eq!(checks.len(), 7, "{checks:?}");
    assert_eq!(result(&checks, "run on the fixtures succeeds").0, "pass");
    assert_eq!(result(&checks, "outputs land where declared").0, "pass");
    let (verdict, detail) = result(&checks, "a failed outcome carries a message");
    assert_eq!(verdict, "pass");
    assert!(detail.contains("failed on purpose"), "{detail}");
    let (verdict, detail) = result(&checks, "validate rejects a missing required property");
    assert_eq!(
        (verdict.as_str(), detail.as_str()),
        ("skip", "it declares no required property")
    );

    // A run that fails, and a failing configuration that succeeds.
    let (code, checks) = report(&[
        "plugin",
        "test",
        gate,
        "--config",
        "Behavior=fail",
        "--input",
        &input,
        "--json",
    ]);
    assert_eq!(code, 1);
    let (verdict, detail) = result(&checks, "run on the fixtures succeeds");
    assert_eq!(verdict, "fail");
    assert!(detail.contains("failed on purpose"), "{detail}");
    assert_eq!(result(&checks, "outputs land where declared").0, "skip");
    let (code, checks) = report(&[
        "plugin",
        "test",
        gate,
        "--config",
        "Behavior=succeed",
        "--fail-config",
        "Behavior=succeed",
        "--input",
        &input,
        "--json",
    ]);
    assert_eq!(code, 1);
    let (verdict, detail) = result(&checks, "a failed outcome carries a message");
    assert_eq!(verdict, "fail");
    assert!(detail.contains("succeeded instead of failing"), "{detail}");

    // Not a component at all.
    std::fs::write(cli.path("junk.wasm"), "not wasm").unwrap();
    let junk = cli.path("junk.wasm");
    let (code, checks) = report(&["plugin", "test", junk.to_str().unwrap(), "--json"]);
    assert_eq!(code, 1);
    assert_eq!(checks.len(), 1);
    assert_eq!(result(&checks, "loads against the contract").0, "fail");
}
