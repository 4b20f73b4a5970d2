//! The contract's plain types as every layer of the host uses them:
//! category, action type, descriptor (and the rules a descriptor must
//! keep), failure, outcome, source revision, approval, the folders a job
//! is given. Plain Rust, serialisable, independent of the generated
//! bindings (the sandbox converts between the two, in
//! `sandbox/convert.rs`).

use serde::{Deserialize, Serialize};
use std::path::PathBuf;
use std::time::Duration;

/// The kind of work an action does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Category {
    /// Detects and fetches source revisions.
    Source,
    /// Turns inputs into outputs.
    Build,
    /// Checks something and reports.
    Test,
    /// Puts an artifact where it is used.
    Deploy,
    /// Waits for a decision.
    Approval,
    /// Runs code and returns variables.
    Invoke,
}

impl std::fmt::Display for Category {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Category::Source => "source",
            Category::Build => "build",
            Category::Test => "test",
            Category::Deploy => "deploy",
            Category::Approval => "approval",
            Category::Invoke => "invoke",
        })
    }
}

/// A provider's identity.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct ActionType {
    /// What kind of action it performs.
    pub category: Category,
    /// Who publishes it.
    pub owner: String,
    /// Its name.
    pub provider: String,
    /// Its version.
    pub version: String,
}

/// One configuration property a provider understands.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Property {
    /// The property's name.
    pub name: String,
    /// Whether a pipeline must set it.
    pub required: bool,
    /// Whether its value is secret.
    pub secret: bool,
    /// What it means.
    pub description: String,
}

/// What a provider says about itself.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Descriptor {
    /// Its identity.
    pub action_type: ActionType,
    /// One sentence on what it does.
    pub description: String,
    /// The configuration it accepts.
    pub properties: Vec<Property>,
    /// Fewest input artifacts.
    pub min_inputs: u8,
    /// Most input artifacts.
    pub max_inputs: u8,
    /// Fewest output artifacts.
    pub min_outputs: u8,
    /// Most output artifacts.
    pub max_outputs: u8,
}

/// Why a job failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum FailureKind {
    /// The work failed (also: the provider crashed, ran out of time or memory).
    JobFailed,
    /// The configuration is wrong.
    ConfigurationError,
    /// A grant is missing.
    PermissionError,
    /// The source revision cannot be produced.
    RevisionUnavailable,
    /// Something outside is unavailable.
    SystemUnavailable,
}

impl std::fmt::Display for FailureKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            FailureKind::JobFailed => "job-failed",
            FailureKind::ConfigurationError => "configuration-error",
            FailureKind::PermissionError => "permission-error",
            FailureKind::RevisionUnavailable => "revision-unavailable",
            FailureKind::SystemUnavailable => "system-unavailable",
        })
    }
}

/// A failed job.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Failure {
    /// The kind of failure.
    pub kind: FailureKind,
    /// What went wrong.
    pub message: String,
}

impl Failure {
    /// A `job-failed` failure.
    pub fn job_failed(message: impl Into<String>) -> Self {
        Failure {
            kind: FailureKind::JobFailed,
            message: message.into(),
        }
    }
}

/// What a job came to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(tag = "status", rename_all = "kebab-case")]
pub enum Outcome {
    /// Finished successfully.
    Succeeded {
        /// A short summary.
        summary: Option<String>,
        /// For source actions, the revision produced.
        revision: Option<String>,
        /// Output variables, in the provider's order.
        variables: Vec<(String, String)>,
    },
    /// Finished and failed.
    Failed(Failure),
    /// Still going; call back later.
    InProgress {
        /// State to hand back on the next call.
        continuation: String,
        /// When to call back.
        #[serde(with = "millis")]
        #[schemars(with = "u64")]
        recheck_after: Duration,
        /// Progress so far.
        summary: Option<String>,
        /// Progress in percent.
        percent_complete: Option<u8>,
    },
}

impl Outcome {
    /// A short word for the outcome: `succeeded`, `failed`, `in-progress`.
    pub fn status(&self) -> &'static str {
        match self {
            Outcome::Succeeded { .. } => "succeeded",
            Outcome::Failed(_) => "failed",
            Outcome::InProgress { .. } => "in-progress",
        }
    }
}

/// A revision of a source object.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct SourceRevision {
    /// The revision's id.
    pub id: String,
    /// A short description.
    pub summary: Option<String>,
    /// Where to look at it.
    pub url: Option<String>,
}

/// A decision on a manual approval.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Approval {
    /// Approved or rejected.
    pub approved: bool,
    /// Who decided.
    pub by: String,
    /// Their comment.
    pub summary: Option<String>,
}

/// A host folder mounted into a job as an artifact.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mount {
    /// The artifact's name (also its folder name inside the sandbox).
    pub name: String,
    /// The folder on the host.
    pub host_path: PathBuf,
    /// The source revision it descends from.
    pub revision: Option<String>,
}

/// A host folder granted to a job (a `paths` grant): mounted at
/// `guest_path`, read-only unless `writable`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct HostMount {
    /// The grant's name.
    pub name: String,
    /// The folder on the host.
    pub host_path: PathBuf,
    /// Where the job sees it.
    pub guest_path: String,
    /// Whether the job may write to it.
    pub writable: bool,
}

/// Where inputs, outputs and scratch space appear inside the sandbox.
pub mod guest_paths {
    /// Parent of every input artifact's folder.
    pub const INPUTS: &str = "/inputs";
    /// Parent of every output artifact's folder.
    pub const OUTPUTS: &str = "/outputs";
    /// The job's scratch folder.
    pub const SCRATCH: &str = "/scratch";
    /// Parent of every granted host folder (`paths` grants).
    pub const PATHS: &str = "/paths";
}

/// Artifact names, as CodePipeline allows them; they double as folder names.
pub fn is_artifact_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 100
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
}

/// Secret names: upper-case letters, digits and `_`, as in environment
/// variables (`SLUICE_SECRET_<NAME>`).
pub fn is_secret_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 100
        && name
            .chars()
            .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_')
}

/// The largest memory a wasm32 instance can address; the most a per-action
/// memory limit can be.
pub const MAX_MEMORY_BYTES: u64 = 4096 << 20;

/// Most properties a provider may declare.
pub const MAX_PROPERTIES: usize = 200;
/// Longest description (the provider's or a property's), in bytes.
pub const MAX_DESCRIPTION_BYTES: usize = 4096;
/// Longest owner, provider, version or property name, in bytes.
pub const MAX_NAME_BYTES: usize = 128;

impl Descriptor {
    /// What makes this descriptor unusable, each naming the field; empty
    /// when it is fine. Checked wherever a component is described (every
    /// command and the engine ask through [`crate::sandbox::Provider::describe`]).
    pub fn problems(&self) -> Vec<String> {
        let mut problems = Vec::new();
        let shown = |s: &str| crate::text::line(crate::text::prefix(s, 64)).into_owned();
        let name_ok = |s: &str| {
            !s.is_empty()
                && s.len() <= MAX_NAME_BYTES
                && s.chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        };
        let t = &self.action_type;
        for (field, value) in [("owner", &t.owner), ("provider", &t.provider)] {
            if !name_ok(value) {
                problems.push(format!(
                    "{field} `{}` must be 1 to {MAX_NAME_BYTES} letters, digits, `-` or `_`",
                    shown(value)
                ));
            }
        }
        if t.version.len() > MAX_NAME_BYTES || semver::Version::parse(&t.version).is_err() {
            problems.push(format!(
                "version `{}` is not a semantic version (e.g. 1.0.0)",
                shown(&t.version)
            ));
        }
        let text_ok = |s: &str| s.len() <= MAX_DESCRIPTION_BYTES && crate::text::lines(s) == s;
        if !text_ok(&self.description) {
            problems.push(format!(
                "the description must be at most {MAX_DESCRIPTION_BYTES} bytes with no control characters"
            ));
        }
        if self.properties.len() > MAX_PROPERTIES {
            problems.push(format!(
                "{} properties, more than the {MAX_PROPERTIES} a provider may declare",
                self.properties.len()
            ));
        }
        let mut seen = std::collections::HashSet::new();
        let mut bad_properties = Vec::new();
        for (i, property) in self.properties.iter().take(MAX_PROPERTIES).enumerate() {
            let name = &property.name;
            if name.trim().is_empty()
                || name.len() > MAX_NAME_BYTES
                || crate::text::line(name) != *name
            {
                bad_properties.push(format!(
                    "property {} has a bad name `{}` (1 to {MAX_NAME_BYTES} bytes, no control characters)",
                    i + 1,
                    shown(name)
                ));
            } else if !seen.insert(name.as_str()) {
                bad_properties.push(format!("property `{name}` is declared twice"));
            }
            if !text_ok(&property.description) {
                bad_properties.push(format!(
                    "property `{}`: the description must be at most {MAX_DESCRIPTION_BYTES} bytes with no control characters",
                    shown(name)
                ));
            }
        }
        // A few examples, then a count: the message stays readable.
        const SHOWN: usize = 3;
        let more = bad_properties.len().saturating_sub(SHOWN);
        problems.extend(bad_properties.into_iter().take(SHOWN));
        if more > 0 {
            problems.push(format!("{more} more problems with properties"));
        }
        if self.min_inputs > self.max_inputs {
            problems.push(format!(
                "min-inputs {} is more than max-inputs {}",
                self.min_inputs, self.max_inputs
            ));
        }
        if self.min_outputs > self.max_outputs {
            problems.push(format!(
                "min-outputs {} is more than max-outputs {}",
                self.min_outputs, self.max_outputs
            ));
        }
        problems
    }
}

mod millis {
    use serde::{Deserialize, Deserializer, Serializer};
    use std::time::Duration;

    pub fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u64(d.as_millis() as u64)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        u64::deserialize(d).map(Duration::from_millis)
    }
}

/// A grant a provider's imports may ask for: each interface reaching beyond
/// the sandbox needs one (see `sandbox::host::INTERFACES`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Capability {
    /// Running programs on the host (`grants.process`).
    Process,
    /// HTTP requests (`grants.http`).
    Http,
    /// Reading secrets (`grants.secrets`).
    Secrets,
}

impl Capability {
    /// Its name, as grants and manifests write it.
    pub fn name(self) -> &'static str {
        match self {
            Capability::Process => "process",
            Capability::Http => "http",
            Capability::Secrets => "secrets",
        }
    }
}

impl std::fmt::Display for Capability {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}
