//! Writing providers: `sluice plugin new` (a project from a template),
//! `sluice plugin build` (the language's toolchain) and `sluice plugin test`
//! (a conformance run of a component against the contract). Packages,
//! installing and trust are in [`crate::packages`].

pub mod conformance;
pub mod scaffold;
pub mod toolchain;

use crate::sandbox::{Job, Mount, is_artifact_name};
use std::path::{Path, PathBuf};

/// A language providers are written in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Language {
    /// Rust with `sluice-sdk`.
    Rust,
    /// Python with componentize-py.
    Python,
    /// JavaScript with componentize-js.
    Js,
}

impl Language {
    /// Its name as templates and messages use it.
    pub fn name(self) -> &'static str {
        match self {
            Language::Rust => "rust",
            Language::Python => "python",
            Language::Js => "js",
        }
    }

    /// The language of the provider project in `dir`, from the files that
    /// mark each kind of project.
    pub fn detect(dir: &Path) -> Result<Language, String> {
        if dir.join("Cargo.toml").is_file() {
            Ok(Language::Rust)
        } else if dir.join("package.json").is_file() {
            Ok(Language::Js)
        } else if dir.join("app.py").is_file() || dir.join("pyproject.toml").is_file() {
            Ok(Language::Python)
        } else {
            Err(format!(
                "{} is not a provider project: it has no Cargo.toml (Rust), package.json (JavaScript) or app.py (Python)",
                dir.display()
            ))
        }
    }
}

/// Where `sluice plugin build` leaves the component, in every language.
pub const COMPONENT_FILE: &str = "provider.wasm";

/// The file a project keeps its conformance settings in.
pub const TEST_FILE: &str = "sluice-test.json";

/// A job on fixture folders, as `sluice plugin test` and `sluice bench
/// action --component` run one: `config`, the `inputs` folders mounted as
/// they are (read-only, like every input), `outputs` fresh output folders
/// named `out`, `out2`, ... under `outputs_dir`, and `scratch`. `label`
/// names the job, its execution and its pipeline.
pub fn fixture_job(
    label: &str,
    config: &[(String, String)],
    inputs: &[(String, PathBuf)],
    outputs: usize,
    outputs_dir: &Path,
    scratch: &Path,
) -> Result<Job, String> {
    let mut job = Job {
        id: label.into(),
        execution_id: label.into(),
        pipeline: label.into(),
        stage: "Test".into(),
        action: "Provider".into(),
        attempt: 1,
        configuration: config.to_vec(),
        scratch: scratch.to_path_buf(),
        ..Job::default()
    };
    for (name, dir) in inputs {
        if !is_artifact_name(name) {
            return Err(format!(
                "input `{name}`: artifact names use letters, digits, `_` and `-`"
            ));
        }
        job.inputs.push(Mount {
            name: name.clone(),
            host_path: dir
                .canonicalize()
                .map_err(|e| format!("input `{name}` = {}: {e}", dir.display()))?,
            revision: None,
        });
    }
    for index in 0..outputs {
        let name = match index {
            0 => "out".to_string(),
            _ => format!("out{}", index + 1),
        };
        let host_path = outputs_dir.join(&name);
        std::fs::create_dir_all(&host_path).map_err(|e| format!("{}: {e}", host_path.display()))?;
        job.outputs.push(Mount {
            name,
            host_path,
            revision: None,
        });
    }
    Ok(job)
}
