//! The bodies the API takes and gives that the command line's HTTP
//! client ([`crate::client`]) shares: one definition for both sides.

use indexmap::IndexMap;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// The server.
#[derive(Debug, Serialize, Deserialize, JsonSchema)]
pub struct Health {
    /// Sluice's version.
    pub version: String,
    /// The state directory it drives.
    pub state_dir: String,
}

/// Whether the server is ready for requests (`/readyz`).
#[derive(Debug, Serialize, Deserialize, JsonSchema)]
pub struct Readiness {
    /// `driving` (its engine drives the database) or `standby` (another
    /// host drives it; commands pass through the database).
    pub role: String,
    /// `sqlite` or `postgres`.
    pub database: String,
    /// The database's schema version.
    pub schema_version: i64,
}

/// A short answer.
#[derive(Debug, Serialize, Deserialize, JsonSchema)]
pub struct Message {
    /// What was done.
    pub message: String,
    /// The execution it is about, when there is one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub execution: Option<String>,
}

impl From<crate::engine::Done> for Message {
    fn from(done: crate::engine::Done) -> Self {
        Message {
            message: done.message,
            execution: done.execution,
        }
    }
}

/// A pipeline definition to apply.
#[derive(Debug, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PutPipelineBody {
    /// The definition's text, YAML or JSON.
    pub definition: String,
    /// The file name it came from, for messages (its extension picks the
    /// format: `.json` is JSON, anything else YAML).
    #[serde(default)]
    pub file: Option<String>,
    /// The folder relative paths in the definition (grants, component
    /// files) are resolved against, on the server's machine (default: the
    /// server's working folder).
    #[serde(default)]
    pub base_dir: Option<String>,
}

/// How to start an execution.
#[derive(Debug, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct StartBody {
    /// Pipeline variable values.
    #[serde(default)]
    pub variables: IndexMap<String, String>,
    /// Source revisions to use instead of the latest, by source action.
    #[serde(default)]
    pub revisions: IndexMap<String, String>,
    /// An idempotency token: starting again with the same token answers
    /// the same execution.
    #[serde(default)]
    pub client_token: Option<String>,
}

/// A started execution.
#[derive(Debug, Serialize, Deserialize, JsonSchema)]
pub struct Started {
    /// Its id.
    pub execution: String,
    /// What happened.
    pub message: String,
}

/// How to stop.
#[derive(Debug, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct StopBody {
    /// Abandon running actions instead of letting them finish.
    #[serde(default)]
    pub abandon: bool,
    /// Why.
    #[serde(default)]
    pub reason: Option<String>,
}

/// Which actions to retry.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum RetryScope {
    /// The failed actions only.
    #[default]
    FailedActions,
    /// Every action of the stage.
    AllActions,
}

/// How to retry.
#[derive(Debug, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RetryBody {
    /// The failed actions (default) or all of them.
    #[serde(default)]
    pub mode: RetryScope,
}

/// An approval's result.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum ApprovalStatus {
    /// Approved: the action succeeds.
    Approved,
    /// Rejected: the action fails.
    Rejected,
}

/// An approval decision.
#[derive(Debug, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ApprovalBody {
    /// The decision.
    pub status: ApprovalStatus,
    /// A comment.
    #[serde(default)]
    pub summary: Option<String>,
}

/// A transition change.
#[derive(Debug, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TransitionBody {
    /// Enable (true) or disable (false) the transition into the stage.
    pub enabled: bool,
    /// Why (shown with a disabled transition).
    #[serde(default)]
    pub reason: Option<String>,
}
