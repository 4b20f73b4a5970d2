//! The job a provider is given: configuration, artifacts, scratch space.

use crate::bindings::types as wit;
use crate::{Config, Failure};
use std::path::{Path, PathBuf};

/// One named artifact: a folder of files inside the sandbox.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Artifact {
    /// The artifact's name in the pipeline.
    pub name: String,
    /// The folder holding its files. Inputs are read-only.
    pub path: PathBuf,
    /// The source revision it descends from, when known.
    pub revision: Option<String>,
}

impl Artifact {
    /// The folder holding the artifact's files.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// A path inside the artifact. `relative` must be relative; leading `/`
    /// are ignored so that a configured path cannot point elsewhere.
    pub fn join(&self, relative: impl AsRef<Path>) -> PathBuf {
        let relative = relative.as_ref();
        let relative = relative.strip_prefix("/").unwrap_or(relative);
        self.path.join(relative)
    }
}

/// A host folder granted to the action (`grants.paths`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GrantedPath {
    /// The grant's name.
    pub name: String,
    /// Where the provider reaches it: `/paths/<name>`.
    pub path: PathBuf,
    /// Where it is on the host (for messages and output variables only).
    pub host_path: String,
    /// Whether the provider may write to it.
    pub writable: bool,
}

/// The decision on a manual approval.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Approval {
    /// True when approved, false when rejected.
    pub approved: bool,
    /// Who decided.
    pub by: String,
    /// The comment given, if any.
    pub summary: Option<String>,
}

/// One unit of work: a single attempt of one action of one execution.
#[derive(Debug, Clone)]
pub struct Job {
    /// Unique id of this job.
    pub id: String,
    /// Id of the pipeline execution.
    pub execution_id: String,
    /// Name of the pipeline.
    pub pipeline: String,
    /// Name of the stage.
    pub stage: String,
    /// Name of the action.
    pub action: String,
    /// Attempt number, from 1.
    pub attempt: u32,
    /// The action's configuration, variables resolved.
    pub config: Config,
    /// Input artifacts, read-only, in the action's order.
    pub inputs: Vec<Artifact>,
    /// Output artifacts, empty folders to fill, in the action's order.
    pub outputs: Vec<Artifact>,
    /// A private scratch folder, deleted when the action ends.
    pub scratch: PathBuf,
    /// The token returned by the last `in-progress` outcome, on a call-back.
    pub continuation: Option<String>,
    /// For source actions: the revision to produce.
    pub revision: Option<String>,
    /// For approval actions: the decision, once made.
    pub approval: Option<Approval>,
    /// Host folders granted to the action.
    pub paths: Vec<GrantedPath>,
    /// When the action's time runs out, in milliseconds since the Unix epoch.
    pub deadline_ms: u64,
}

impl Job {
    /// The input artifact called `name`, or a configuration error naming it.
    pub fn input(&self, name: &str) -> Result<&Artifact, Failure> {
        find(&self.inputs, name, "input")
    }

    /// The output artifact called `name`, or a configuration error naming it.
    pub fn output(&self, name: &str) -> Result<&Artifact, Failure> {
        find(&self.outputs, name, "output")
    }

    /// The host folder granted as `name`, or a permission error naming the
    /// grant to add.
    pub fn path_grant(&self, name: &str) -> Result<&GrantedPath, Failure> {
        self.paths.iter().find(|p| p.name == name).ok_or_else(|| {
            Failure::permission(format!(
                "action `{}` has no folder granted as `{name}`: add `grants: {{ paths: {{ {name}: {{ path: ... }} }} }}`",
                self.action
            ))
        })
    }

    /// The first input artifact, or a configuration error if there is none.
    pub fn first_input(&self) -> Result<&Artifact, Failure> {
        self.inputs.first().ok_or_else(|| {
            Failure::configuration(format!("action `{}` has no input artifact", self.action))
        })
    }

    /// The first output artifact, or a configuration error if there is none.
    pub fn first_output(&self) -> Result<&Artifact, Failure> {
        self.outputs.first().ok_or_else(|| {
            Failure::configuration(format!("action `{}` has no output artifact", self.action))
        })
    }

    pub(crate) fn from_wit(job: wit::Job) -> Self {
        let artifact = |a: wit::Artifact| Artifact {
            name: a.name,
            path: PathBuf::from(a.path),
            revision: a.revision,
        };
        Job {
            id: job.id,
            execution_id: job.execution_id,
            pipeline: job.pipeline,
            stage: job.stage,
            action: job.action,
            attempt: job.attempt,
            config: Config::from_pairs(job.configuration),
            inputs: job.inputs.into_iter().map(artifact).collect(),
            outputs: job.outputs.into_iter().map(artifact).collect(),
            scratch: PathBuf::from(job.scratch),
            continuation: job.continuation,
            revision: job.revision,
            approval: job.approval.map(|a| Approval {
                approved: a.approved,
                by: a.by,
                summary: a.summary,
            }),
            paths: job
                .paths
                .into_iter()
                .map(|p| GrantedPath {
                    name: p.name,
                    path: PathBuf::from(p.path),
                    host_path: p.host_path,
                    writable: p.writable,
                })
                .collect(),
            deadline_ms: job.deadline_ms,
        }
    }
}

fn find<'a>(artifacts: &'a [Artifact], name: &str, kind: &str) -> Result<&'a Artifact, Failure> {
    artifacts.iter().find(|a| a.name == name).ok_or_else(|| {
        let names: Vec<&str> = artifacts.iter().map(|a| a.name.as_str()).collect();
        Failure::configuration(format!(
            "no {kind} artifact named `{name}` (this action has: {})",
            if names.is_empty() {
                "none".to_string()
            } else {
                names.join(", ")
            }
        ))
    })
}
