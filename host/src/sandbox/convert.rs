//! The job as the sandbox takes it, and the conversions between the
//! contract's plain types ([`crate::contract`]) and the generated bindings:
//! here and nowhere else.

use super::bindings::sluice::provider::types as wit;
use crate::contract::*;
use std::path::PathBuf;
use std::time::Duration;

/// One job to run: who it is for, what it is given.
#[derive(Debug, Clone, Default)]
pub struct Job {
    /// Unique id of this job.
    pub id: String,
    /// The execution it belongs to.
    pub execution_id: String,
    /// The pipeline.
    pub pipeline: String,
    /// The stage.
    pub stage: String,
    /// The action.
    pub action: String,
    /// Attempt number, from 1.
    pub attempt: u32,
    /// Configuration, variables resolved.
    pub configuration: Vec<(String, String)>,
    /// Input artifacts, mounted read-only.
    pub inputs: Vec<Mount>,
    /// Output artifacts, mounted read-write.
    pub outputs: Vec<Mount>,
    /// The host folder mounted as the scratch folder.
    pub scratch: PathBuf,
    /// Token from the last in-progress outcome.
    pub continuation: Option<String>,
    /// For source actions: the revision to produce.
    pub revision: Option<String>,
    /// For approval actions: the decision.
    pub approval: Option<Approval>,
    /// Host folders granted to the action.
    pub mounts: Vec<HostMount>,
    /// Programs, URLs and secrets granted to the action.
    pub grants: super::grants::Grants,
    /// When the action's time runs out, in milliseconds since the Unix
    /// epoch (0: unknown).
    pub deadline_ms: u64,
    /// Host folders the job's programs must not see even read-only (the
    /// state directory: its database, secrets file and other jobs'
    /// folders). Never shown to the provider.
    pub hidden: Vec<PathBuf>,
}

impl Job {
    pub(crate) fn to_wit(&self) -> wit::Job {
        let artifact = |m: &Mount, parent: &str| wit::Artifact {
            name: m.name.clone(),
            path: format!("{parent}/{}", m.name),
            revision: m.revision.clone(),
        };
        wit::Job {
            id: self.id.clone(),
            execution_id: self.execution_id.clone(),
            pipeline: self.pipeline.clone(),
            stage: self.stage.clone(),
            action: self.action.clone(),
            attempt: self.attempt,
            configuration: self.configuration.clone(),
            inputs: self
                .inputs
                .iter()
                .map(|m| artifact(m, guest_paths::INPUTS))
                .collect(),
            outputs: self
                .outputs
                .iter()
                .map(|m| artifact(m, guest_paths::OUTPUTS))
                .collect(),
            scratch: guest_paths::SCRATCH.to_string(),
            continuation: self.continuation.clone(),
            revision: self.revision.clone(),
            approval: self.approval.as_ref().map(|a| wit::Approval {
                approved: a.approved,
                by: a.by.clone(),
                summary: a.summary.clone(),
            }),
            paths: self
                .mounts
                .iter()
                .map(|m| wit::GrantedPath {
                    name: m.name.clone(),
                    path: m.guest_path.clone(),
                    host_path: m.host_path.display().to_string(),
                    writable: m.writable,
                })
                .collect(),
            deadline_ms: self.deadline_ms,
        }
    }
}

impl From<wit::Category> for Category {
    fn from(c: wit::Category) -> Self {
        match c {
            wit::Category::Source => Category::Source,
            wit::Category::Build => Category::Build,
            wit::Category::Test => Category::Test,
            wit::Category::Deploy => Category::Deploy,
            wit::Category::Approval => Category::Approval,
            wit::Category::Invoke => Category::Invoke,
        }
    }
}

impl From<wit::FailureKind> for FailureKind {
    fn from(k: wit::FailureKind) -> Self {
        match k {
            wit::FailureKind::JobFailed => FailureKind::JobFailed,
            wit::FailureKind::ConfigurationError => FailureKind::ConfigurationError,
            wit::FailureKind::PermissionError => FailureKind::PermissionError,
            wit::FailureKind::RevisionUnavailable => FailureKind::RevisionUnavailable,
            wit::FailureKind::SystemUnavailable => FailureKind::SystemUnavailable,
        }
    }
}

impl From<wit::Failure> for Failure {
    fn from(f: wit::Failure) -> Self {
        Failure {
            kind: f.kind.into(),
            message: f.message,
        }
    }
}

impl From<wit::Descriptor> for Descriptor {
    fn from(d: wit::Descriptor) -> Self {
        Descriptor {
            action_type: ActionType {
                category: d.action_type.category.into(),
                owner: d.action_type.owner,
                provider: d.action_type.provider,
                version: d.action_type.version,
            },
            description: d.description,
            properties: d
                .properties
                .into_iter()
                .map(|p| Property {
                    name: p.name,
                    required: p.required,
                    secret: p.secret,
                    description: p.description,
                })
                .collect(),
            min_inputs: d.min_inputs,
            max_inputs: d.max_inputs,
            min_outputs: d.min_outputs,
            max_outputs: d.max_outputs,
        }
    }
}

impl From<wit::SourceRevision> for SourceRevision {
    fn from(r: wit::SourceRevision) -> Self {
        SourceRevision {
            id: r.id,
            summary: r.summary,
            url: r.url,
        }
    }
}

impl From<wit::Outcome> for Outcome {
    fn from(o: wit::Outcome) -> Self {
        match o {
            wit::Outcome::Succeeded(s) => Outcome::Succeeded {
                summary: s.summary,
                revision: s.revision,
                variables: s.output_variables,
            },
            wit::Outcome::Failed(f) => Outcome::Failed(f.into()),
            wit::Outcome::InProgress(p) => Outcome::InProgress {
                continuation: p.continuation,
                recheck_after: Duration::from_millis(p.recheck_after_ms.into()),
                summary: p.summary,
                percent_complete: p.percent_complete,
            },
        }
    }
}
