//! Which files of the workspace make each output artifact and report.

use super::{Dialect, Files, Spec};
use sluice_sdk::fs::list_files;
use sluice_sdk::{Context, Failure, Job};
use std::collections::HashMap;
use std::path::{Path, PathBuf};

impl Files {
    /// The files picked: each with where it goes (relative to an output's
    /// root) and where it is. `None` when the base directory is not there.
    fn select(&self, workspace: &Path) -> Result<Option<Vec<(String, PathBuf)>>, Failure> {
        let base = if self.base_directory.is_empty() {
            workspace.to_path_buf()
        } else {
            workspace.join(&self.base_directory)
        };
        if !base.is_dir() {
            return Ok(None);
        }
        let mut picked = Vec::new();
        let mut seen: HashMap<String, String> = HashMap::new();
        for file in list_files(&base).context("listing the workspace")? {
            let text = file.to_string_lossy().replace('\\', "/");
            if !self.patterns.is_empty() && !self.patterns.iter().any(|p| p.matches(&text)) {
                continue;
            }
            if self.exclude.iter().any(|p| p.matches(&text)) {
                continue;
            }
            let from = base.join(&file);
            if !from.is_file() {
                continue;
            }
            let to = if self.discard_paths {
                let name = text.rsplit('/').next().unwrap_or(&text).to_string();
                if let Some(earlier) = seen.insert(name.clone(), text.clone()) {
                    return Err(Failure::job_failed(format!(
                        "`{earlier}` and `{text}` would both be `{name}` (discard-paths)"
                    )));
                }
                name
            } else {
                text
            };
            picked.push((to, from));
        }
        Ok(Some(picked))
    }
}

/// Copies the files the specification picks into each output, and returns
/// how many each got.
pub fn collect_artifacts(
    spec: &Spec,
    job: &Job,
    workspace: &Path,
) -> Result<Vec<(String, u64)>, Failure> {
    if job.outputs.is_empty() {
        return Ok(Vec::new());
    }
    let mut primary_taken_by: Option<&str> = None;
    let mut collected = Vec::new();
    for output in &job.outputs {
        let files = match spec.dialect {
            Dialect::Properties => files_of(spec, &output.name, job.outputs.len())?,
            Dialect::CodeBuild => match spec.artifacts.iter().find(|f| f.name == output.name) {
                Some(files) => files,
                None => match spec.artifacts.iter().find(|f| f.name.is_empty()) {
                    Some(files) if primary_taken_by.is_none() => {
                        primary_taken_by = Some(&output.name);
                        files
                    }
                    _ => {
                        return Err(Failure::configuration(format!(
                            "output `{0}`: the buildspec's `artifacts` has no `secondary-artifacts` entry `{0}`{1}",
                            output.name,
                            match primary_taken_by {
                                Some(other) =>
                                    format!(" (its primary `files` make output `{other}`)"),
                                None => String::new(),
                            }
                        )));
                    }
                },
            },
        };
        let Some(picked) = files.select(workspace)? else {
            return Err(Failure::job_failed(format!(
                "the commands made no folder `{}` to collect outputs from",
                files.base_directory
            )));
        };
        if picked.is_empty() {
            return Err(Failure::job_failed(format!(
                "output `{}`: no file in the workspace matches its patterns",
                output.name
            )));
        }
        for (to, from) in &picked {
            sluice_sdk::fs::copy_tree(from, &output.join(to))
                .context(format!("copying {to} into output `{}`", output.name))?;
        }
        collected.push((output.name.clone(), picked.len() as u64));
    }
    if spec.dialect == Dialect::CodeBuild {
        for files in spec.artifacts.iter().filter(|f| !f.name.is_empty()) {
            if !job.outputs.iter().any(|o| o.name == files.name) {
                sluice_sdk::warn!(
                    "secondary artifact `{}` is not an output of the action: left out",
                    files.name
                );
            }
        }
    }
    Ok(collected)
}

/// The `Artifacts` rule for output `name` of an action with `outputs`
/// outputs.
fn files_of<'a>(spec: &'a Spec, name: &str, outputs: usize) -> Result<&'a Files, Failure> {
    if let Some(files) = spec.artifacts.iter().find(|f| f.name == name) {
        return Ok(files);
    }
    if outputs == 1
        && let Some(files) = spec.artifacts.iter().find(|f| f.name.is_empty())
    {
        return Ok(files);
    }
    Err(Failure::configuration(if outputs == 1 {
        format!("configuration property `Artifacts` says nothing of output `{name}`")
    } else {
        format!(
            "configuration property `Artifacts` says nothing of output `{name}`: write `{name}: PATTERNS`"
        )
    }))
}

/// The files of the buildspec's report groups: each with its group and
/// path (a group whose folder is not there has none). A group of a format
/// other than JUnit XML is refused.
pub fn report_files(spec: &Spec, workspace: &Path) -> Result<Vec<(String, PathBuf)>, Failure> {
    let mut files = Vec::new();
    for report in &spec.reports {
        if report.format != "JUNITXML" {
            return Err(Failure::configuration(format!(
                "report group `{}`: file-format `{}` is not read; Sluice reads JUNITXML reports",
                report.files.name, report.format
            )));
        }
        let picked = report.files.select(workspace)?.unwrap_or_default();
        files.extend(
            picked
                .into_iter()
                .map(|(_, path)| (report.files.name.clone(), path)),
        );
    }
    Ok(files)
}
