//! Providers in three languages, end to end with their real toolchains:
//! `sluice plugin new` scaffolds a Rust, a Python (componentize-py) and a
//! JavaScript (componentize-js) provider, `plugin build` builds each,
//! `plugin test` finds each conformant, `plugin pack` and `plugin install`
//! package and install them, and one pipeline runs all three, passing an
//! artifact and variables along. A tampered package is refused.
//!
//! The Python and JavaScript toolchains come from `scripts/toolchains.sh`
//! (which `scripts/test.sh` runs first).

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn exe() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_sluice"))
}

fn sluice(state: &Path, args: &[&str]) -> Output {
    Command::new(exe())
        .arg("--state-dir")
        .arg(state)
        .args(args)
        .env_remove("SLUICE_SERVER")
        // The Rust template's build shares one target folder across runs.
        .env(
            "CARGO_TARGET_DIR",
            Path::new(env!("CARGO_TARGET_TMPDIR")).join("polyglot-target"),
        )
        .output()
        .unwrap()
}

fn ok(output: Output, what: &str) -> String {
    let stdout = String::from_utf8_lossy(&output.stdout).to_string();
    assert!(
        output.status.success(),
        "{what} failed ({}):\n{stdout}\n{}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    stdout
}

#[test]
fn rust_python_and_js_providers_scaffold_build_pass_pack_install_and_run_together() {
    let toolchains = std::env::var_os("SLUICE_TOOLCHAINS")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(std::env::var_os("HOME").unwrap()).join(".cache/sluice/toolchains")
        });
    assert!(
        toolchains.join("python/bin/componentize-py").is_file()
            && toolchains
                .join("js/node_modules/.bin/componentize-js")
                .exists(),
        "the Python and JS toolchains are missing from {}: run scripts/toolchains.sh (scripts/test.sh does)",
        toolchains.display()
    );
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let state = root.join("state");
    let mut packages = Vec::new();
    for language in ["rust", "python", "js"] {
        let project = root.join(language);
        let name = format!("{language}-count");
        ok(
            sluice(
                &state,
                &[
                    "plugin",
                    "new",
                    &name,
                    "--lang",
                    language,
                    "--dir",
                    project.to_str().unwrap(),
                ],
            ),
            "plugin new",
        );
        let built = ok(
            sluice(&state, &["plugin", "build", project.to_str().unwrap()]),
            &format!("plugin build ({language})"),
        );
        assert!(built.contains("provider.wasm"), "{built}");
        let tested = ok(
            sluice(&state, &["plugin", "test", project.to_str().unwrap()]),
            &format!("plugin test ({language})"),
        );
        assert!(tested.contains("conformant: 7 checks"), "{tested}");
        assert!(!tested.contains("skip"), "every check ran: {tested}");
        let package = root.join(format!("{language}.tar"));
        ok(
            sluice(
                &state,
                &[
                    "plugin",
                    "pack",
                    project.join("provider.wasm").to_str().unwrap(),
                    "--out",
                    package.to_str().unwrap(),
                ],
            ),
            "plugin pack",
        );
        let installed = ok(
            sluice(&state, &["plugin", "install", package.to_str().unwrap()]),
            "plugin install",
        );
        assert!(
            installed.contains(&format!("custom/{name}@^1")),
            "{installed}"
        );
        packages.push(package);
    }

    // One pipeline: source, then Rust, Python and JavaScript in turn, each
    // reading the one before's artifact and variables, then a deployment.
    std::fs::create_dir_all(root.join("site")).unwrap();
    std::fs::write(root.join("site/README.md"), "# Site\n").unwrap();
    std::fs::write(root.join("site/index.html"), "<p>hello</p>\n").unwrap();
    let pipeline = root.join("pipeline.yaml");
    std::fs::write(
        &pipeline,
        r#"
name: polyglot
stages:
  - name: Source
    actions:
      - name: Site
        provider: builtin:directory
        grants: { paths: { source: { path: site } } }
        outputs: [Code]
  - name: Build
    actions:
      - name: Rust
        provider: custom/rust-count@^1
        inputs: [Code]
        outputs: [RustOut]
        namespace: RustVars
        configuration: { Greeting: "rust first" }
      - name: Python
        provider: custom/python-count@^1.0
        run_order: 2
        inputs: [RustOut]
        outputs: [PyOut]
        namespace: PyVars
        configuration: { Greeting: "python after #{RustVars.Language} counted #{RustVars.Files} files" }
      - name: Js
        provider: custom/js-count@1
        run_order: 3
        inputs: [PyOut]
        outputs: [JsOut]
        configuration: { Greeting: "js after #{PyVars.Language} (#{PyVars.Files} file) and #{RustVars.Language}" }
  - name: Deploy
    actions:
      - name: Publish
        provider: builtin:deploy-directory
        inputs: [JsOut]
        grants: { paths: { target: { path: published, access: read-write } } }
"#,
    )
    .unwrap();
    let validated = sluice(&state, &["validate", pipeline.to_str().unwrap()]);
    let said = String::from_utf8_lossy(&validated.stderr).to_string()
        + &String::from_utf8_lossy(&validated.stdout);
    assert!(validated.status.success(), "{said}");
    assert!(
        !said.contains("warning"),
        "the templates ask for no capability: {said}"
    );
    ok(
        sluice(&state, &["run", pipeline.to_str().unwrap(), "--yes"]),
        "the pipeline",
    );
    let report = std::fs::read_to_string(root.join("published/current/report.txt")).unwrap();
    assert!(
        report.starts_with("js after python (1 file) and rust from js-count (js)"),
        "{report}"
    );
    assert!(report.contains("input `PyOut`: 1 files"), "{report}");

    // The Python provider's own report came through JS's input unchanged.
    let executions = ok(
        sluice(&state, &["executions", "polyglot", "--json"]),
        "executions",
    );
    let list: serde_json::Value = serde_json::from_str(&executions).unwrap();
    assert_eq!(list[0]["status"], "Succeeded", "{list}");

    // A flipped byte in the component blob of a package: refused, always.
    let tampered = root.join("tampered");
    ok(
        sluice(
            &state,
            &[
                "plugin",
                "pack",
                root.join("python/provider.wasm").to_str().unwrap(),
                "--out",
                tampered.to_str().unwrap(),
            ],
        ),
        "plugin pack (folder)",
    );
    let blobs = tampered.join("blobs/sha256");
    let biggest = std::fs::read_dir(&blobs)
        .unwrap()
        .flatten()
        .max_by_key(|e| e.metadata().unwrap().len())
        .unwrap()
        .path();
    let mut bytes = std::fs::read(&biggest).unwrap();
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0x01;
    std::fs::write(&biggest, bytes).unwrap();
    let refused = sluice(&state, &["plugin", "install", tampered.to_str().unwrap()]);
    let said = String::from_utf8_lossy(&refused.stderr).to_string();
    assert!(!refused.status.success(), "a tampered package installs");
    let blob_name = biggest.file_name().unwrap().to_string_lossy().to_string();
    assert!(said.contains(&blob_name[..12]), "{said}");
}
