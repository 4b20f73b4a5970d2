//! What a job comes to: success, still in progress, or a failure.

use crate::bindings::types as wit;
use std::fmt::Display;

/// Why a job failed.
pub use crate::bindings::types::FailureKind;

/// A finished or still-running job. Failures are the `Err` side of
/// [`crate::Provider::run`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// The job finished successfully.
    Succeeded(Success),
    /// The job is still going: the host calls `run` again later.
    InProgress(Pending),
}

/// A successful job's results.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Success {
    /// A short summary for people (at most 2048 bytes).
    pub summary: Option<String>,
    /// For source actions: the revision the output holds.
    pub revision: Option<String>,
    /// Output variables, in the order added.
    pub variables: Vec<(String, String)>,
}

/// A job that is still going.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pending {
    /// Opaque state to pick up from on the next call.
    pub continuation: String,
    /// How long the host should wait before calling back, in milliseconds.
    pub recheck_after_ms: u32,
    /// Progress so far, for people.
    pub summary: Option<String>,
    /// Progress in percent, when known.
    pub percent_complete: Option<u8>,
}

impl Outcome {
    /// A success with no summary and no variables; add them with the
    /// builder methods.
    pub fn success() -> Self {
        Outcome::Succeeded(Success::default())
    }

    /// A job still going: call back after `recheck_after_ms` with `continuation`.
    pub fn in_progress(continuation: impl Into<String>, recheck_after_ms: u32) -> Self {
        Outcome::InProgress(Pending {
            continuation: continuation.into(),
            recheck_after_ms,
            summary: None,
            percent_complete: None,
        })
    }

    /// Sets the summary.
    pub fn summary(mut self, summary: impl Into<String>) -> Self {
        match &mut self {
            Outcome::Succeeded(s) => s.summary = Some(summary.into()),
            Outcome::InProgress(p) => p.summary = Some(summary.into()),
        }
        self
    }

    /// Adds an output variable (ignored on an in-progress outcome).
    pub fn variable(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        if let Outcome::Succeeded(s) = &mut self {
            s.variables.push((name.into(), value.into()));
        }
        self
    }

    /// Sets the revision a source action produced (ignored when in progress).
    pub fn revision(mut self, revision: impl Into<String>) -> Self {
        if let Outcome::Succeeded(s) = &mut self {
            s.revision = Some(revision.into());
        }
        self
    }

    /// Sets the progress in percent (ignored on a success).
    pub fn percent_complete(mut self, percent: u8) -> Self {
        if let Outcome::InProgress(p) = &mut self {
            p.percent_complete = Some(percent.min(100));
        }
        self
    }

    pub(crate) fn into_wit(self) -> wit::Outcome {
        match self {
            Outcome::Succeeded(s) => wit::Outcome::Succeeded(wit::Success {
                summary: s.summary,
                revision: s.revision,
                output_variables: s.variables,
            }),
            Outcome::InProgress(p) => wit::Outcome::InProgress(wit::Pending {
                continuation: p.continuation,
                recheck_after_ms: p.recheck_after_ms,
                summary: p.summary,
                percent_complete: p.percent_complete,
            }),
        }
    }
}

/// An outcome coming back from another provider (`components::run_provider`).
pub(crate) fn outcome_from_wit(outcome: wit::Outcome) -> Result<Outcome, Failure> {
    match outcome {
        wit::Outcome::Succeeded(s) => Ok(Outcome::Succeeded(Success {
            summary: s.summary,
            revision: s.revision,
            variables: s.output_variables,
        })),
        wit::Outcome::InProgress(p) => Ok(Outcome::InProgress(Pending {
            continuation: p.continuation,
            recheck_after_ms: p.recheck_after_ms,
            summary: p.summary,
            percent_complete: p.percent_complete,
        })),
        wit::Outcome::Failed(f) => Err(Failure {
            kind: f.kind,
            message: f.message,
        }),
    }
}

/// A failed job: its kind and a short message for people.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    /// What kind of failure.
    pub kind: FailureKind,
    /// What went wrong.
    pub message: String,
}

impl Failure {
    /// A failure of the given kind.
    pub fn new(kind: FailureKind, message: impl Into<String>) -> Self {
        Failure {
            kind,
            message: message.into(),
        }
    }

    /// The work itself failed.
    pub fn job_failed(message: impl Into<String>) -> Self {
        Failure::new(FailureKind::JobFailed, message)
    }

    /// The configuration is wrong.
    pub fn configuration(message: impl Into<String>) -> Self {
        Failure::new(FailureKind::ConfigurationError, message)
    }

    /// Something needed was denied (a grant is missing).
    pub fn permission(message: impl Into<String>) -> Self {
        Failure::new(FailureKind::PermissionError, message)
    }

    /// The requested revision cannot be produced.
    pub fn revision_unavailable(message: impl Into<String>) -> Self {
        Failure::new(FailureKind::RevisionUnavailable, message)
    }

    /// Something outside the provider is unavailable.
    pub fn system_unavailable(message: impl Into<String>) -> Self {
        Failure::new(FailureKind::SystemUnavailable, message)
    }

    pub(crate) fn into_wit(self) -> wit::Failure {
        wit::Failure {
            kind: self.kind,
            message: self.message,
        }
    }
}

impl Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Failure {}

/// Turns any error into a [`Failure`] with a message saying what was being
/// done: `fs::read(&path).context(format!("reading {}", path.display()))?`.
pub trait Context<T> {
    /// On error, a `job-failed` failure: "`what`: `error`".
    fn context(self, what: impl Display) -> Result<T, Failure>;
}

impl<T, E: Display> Context<T> for Result<T, E> {
    fn context(self, what: impl Display) -> Result<T, Failure> {
        self.map_err(|e| Failure::job_failed(format!("{what}: {e}")))
    }
}

/// One revision of a source object, returned by [`crate::Source::latest_revision`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceRevision {
    /// The revision's id (a commit id, a content digest).
    pub id: String,
    /// A short description for people.
    pub summary: Option<String>,
    /// Where people can look at it.
    pub url: Option<String>,
}

impl SourceRevision {
    /// A revision with just an id.
    pub fn new(id: impl Into<String>) -> Self {
        SourceRevision {
            id: id.into(),
            summary: None,
            url: None,
        }
    }

    /// Sets the summary.
    pub fn summary(mut self, summary: impl Into<String>) -> Self {
        self.summary = Some(summary.into());
        self
    }

    pub(crate) fn into_wit(self) -> wit::SourceRevision {
        wit::SourceRevision {
            id: self.id,
            summary: self.summary,
            url: self.url,
        }
    }
}
