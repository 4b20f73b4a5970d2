//! A pipeline definition, as written in YAML or JSON: one serde model,
//! unknown fields rejected. `sluice schema` prints its JSON Schema.

use indexmap::IndexMap;
use schemars::JsonSchema;
use serde::{Deserialize, Deserializer, Serialize};

/// A pipeline: stages of actions that every execution goes through in order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Pipeline {
    /// The pipeline's name: letters, digits, `.`, `@`, `_`, `-`; at most 100 characters.
    pub name: String,
    /// How executions share stages: `superseded` (default), `queued` or `parallel`.
    #[serde(default, skip_serializing_if = "ExecutionMode::is_default")]
    pub execution_mode: ExecutionMode,
    /// Pipeline variables, readable as `#{variables.NAME}`; each may be
    /// overridden when an execution starts.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub variables: Vec<Variable>,
    /// The stages, in order. The first holds only source actions; there are at least two.
    pub stages: Vec<Stage>,
    /// What starts executions without anyone asking: source actions polled
    /// for new revisions, or told by a hook (`sluice serve`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub triggers: Vec<Trigger>,
    /// Where to send notifications of state changes (`sluice serve`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub notifications: Vec<Notification>,
    /// How long ended executions are kept, with their logs and the
    /// artifacts nothing else uses (defaults: the newest 1000, at most 365
    /// days). Running and waiting executions are always kept.
    #[serde(default, skip_serializing_if = "Retention::is_default")]
    pub retention: Retention,
}

/// How long ended executions are kept: an ended execution goes when either
/// limit says so (the latest execution of each stage always stays).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Retention {
    /// Keep at most this many executions (the newest). Default 1000.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub executions: Option<u32>,
    /// Keep ended executions at most this many days. Default 365.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub days: Option<u32>,
}

impl Retention {
    /// Executions kept when the definition does not say.
    pub const DEFAULT_EXECUTIONS: u32 = 1000;
    /// Days kept when the definition does not say.
    pub const DEFAULT_DAYS: u32 = 365;

    fn is_default(&self) -> bool {
        *self == Retention::default()
    }

    /// How many executions are kept.
    pub fn executions(&self) -> u32 {
        self.executions.unwrap_or(Self::DEFAULT_EXECUTIONS)
    }

    /// How many days ended executions are kept.
    pub fn days(&self) -> u32 {
        self.days.unwrap_or(Self::DEFAULT_DAYS)
    }
}

impl Pipeline {
    /// Each variable that has a default, with it (what an execution gets
    /// when nothing overrides them).
    pub fn variable_defaults(&self) -> indexmap::IndexMap<String, String> {
        self.variables
            .iter()
            .filter_map(|v| v.default.clone().map(|d| (v.name.clone(), d)))
            .collect()
    }
}

/// A trigger: new revisions of one source action start executions.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Trigger {
    /// The source action (of the first stage) to watch.
    pub source: String,
    /// How often to ask it for its latest revision: a duration (`60s` by
    /// default, at least `1s`), or `off` to start only when the hook
    /// (`POST /api/v1/hooks/PIPELINE`) is called.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub poll: Option<String>,
    /// Git sources: which branches a push reported to the hook may start
    /// an execution for (globs; the pushed commit is used).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub branches: Option<Filter>,
    /// Only a revision that changes a file matching these globs (relative
    /// to the source's root) starts an execution.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file_paths: Option<Filter>,
}

/// Globs to take and to leave out.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Filter {
    /// Taken when any matches (empty: everything is taken).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub include: Vec<String>,
    /// Left out when any matches, even if included.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub exclude: Vec<String>,
}

impl Filter {
    /// Whether `text` passes: included (or no includes) and not excluded.
    /// Bad globs never match (validation reports them).
    pub fn passes(&self, text: &str) -> bool {
        let matches = |globs: &[String]| {
            globs.iter().any(|g| {
                sluice_glob::Pattern::new(g)
                    .map(|p| p.matches(text))
                    .unwrap_or(false)
            })
        };
        (self.include.is_empty() || matches(&self.include)) && !matches(&self.exclude)
    }
}

/// A notification target: a URL that receives JSON events.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Notification {
    /// Where to POST the events (`http://` or `https://`).
    pub url: String,
    /// Which events: `execution` (an execution started or ended),
    /// `stage` (a stage started or ended), `approval` (an approval waits);
    /// default all.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub events: Vec<NotificationEvent>,
}

/// Kinds of notification events.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum NotificationEvent {
    /// An execution started, succeeded, failed, was stopped or superseded.
    Execution,
    /// A stage of an execution started or ended.
    Stage,
    /// A manual approval waits for a decision.
    Approval,
}

/// How executions of one pipeline share its stages.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum ExecutionMode {
    /// A stage holds one execution at a time; one execution may wait in
    /// front of it, and a newer one arriving supersedes the waiting one.
    #[default]
    Superseded,
    /// A stage holds one execution at a time; the others wait in front of
    /// it in the order they started.
    Queued,
    /// Executions do not lock stages: each runs independently.
    Parallel,
}

impl ExecutionMode {
    fn is_default(&self) -> bool {
        *self == ExecutionMode::Superseded
    }

    /// The mode's name as written in a definition.
    pub fn as_str(&self) -> &'static str {
        match self {
            ExecutionMode::Superseded => "superseded",
            ExecutionMode::Queued => "queued",
            ExecutionMode::Parallel => "parallel",
        }
    }
}

/// A pipeline variable.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Variable {
    /// Its name: letters, digits, `_`, `-`.
    pub name: String,
    /// Its value when an execution does not set one. A variable without a
    /// default must be given a value when an execution starts.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "optional_scalar"
    )]
    #[schemars(with = "Option<String>")]
    pub default: Option<String>,
    /// What it is for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
}

/// A stage: actions that run together, in run orders.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Stage {
    /// The stage's name, unique in the pipeline.
    pub name: String,
    /// Its actions (at least one).
    pub actions: Vec<Action>,
}

/// An action: one provider doing one piece of work.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Action {
    /// The action's name, unique in its stage.
    pub name: String,
    /// The provider that does the work: `builtin:NAME`, or a path to a
    /// `.wasm` component (relative to the pipeline file).
    pub provider: String,
    /// Actions with the same run order run in parallel; a higher run order
    /// runs after every lower one succeeded. 1 to 999, default 1.
    #[serde(
        default = "default_run_order",
        skip_serializing_if = "is_default_run_order"
    )]
    pub run_order: u32,
    /// The provider's configuration: property names and values. Values may
    /// refer to variables: `#{variables.NAME}`, `#{execution.id}`,
    /// `#{Namespace.Key}`.
    #[serde(
        default,
        skip_serializing_if = "IndexMap::is_empty",
        deserialize_with = "scalar_map"
    )]
    #[schemars(with = "IndexMap<String, String>")]
    pub configuration: IndexMap<String, String>,
    /// Names of the artifacts it reads, each produced by an earlier stage or
    /// a lower run order of this stage.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub inputs: Vec<String>,
    /// Names of the artifacts it produces, unique in the pipeline.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub outputs: Vec<String>,
    /// Makes the action's output variables readable by later actions as
    /// `#{NAMESPACE.Key}`. Unique in the pipeline.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    /// How long the action may take, e.g. `30s`, `10m`, `2h`. Default: 1h
    /// (7 days for approvals).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout: Option<String>,
    /// Memory limit of the provider's instance, e.g. `256MiB`. Default: 1GiB.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memory: Option<String>,
    /// Most bytes the action's outputs may hold together, e.g. `2GiB`
    /// (apparent sizes: a sparse file counts whole). Default: 10GiB.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub output_size: Option<String>,
    /// Most files, folders and links the action's outputs may hold
    /// together. Default: 100000.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub output_files: Option<u64>,
    /// What the provider may reach beyond its artifacts. Nothing unless granted.
    #[serde(default, skip_serializing_if = "Grants::is_empty")]
    pub grants: Grants,
}

/// Capabilities granted to one action. Each is refused unless listed.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Grants {
    /// Host folders the provider may reach, by name: each is mounted at
    /// `/paths/NAME` inside the sandbox.
    #[serde(default, skip_serializing_if = "IndexMap::is_empty")]
    pub paths: IndexMap<String, PathGrant>,
    /// Programs the provider may run on the host.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub process: Option<ProcessGrant>,
    /// URLs the provider may reach over HTTP.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub http: Option<HttpGrant>,
    /// Secrets the provider may read (by the `secrets` interface, or as
    /// `#{secrets.NAME}` in its configuration).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub secrets: Vec<String>,
}

impl Grants {
    /// Whether nothing is granted.
    pub fn is_empty(&self) -> bool {
        self.paths.is_empty()
            && self.process.is_none()
            && self.http.is_none()
            && self.secrets.is_empty()
    }
}

/// A `process` grant: programs the provider may run, each isolated (see
/// the README's "What a process grant exposes").
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ProcessGrant {
    /// Program names found on the host's `PATH` (`sh`, `make`), or absolute
    /// paths. Granting a shell grants whatever the shell can run.
    pub programs: Vec<String>,
    /// The environment the programs get; nothing else comes from the host.
    #[serde(
        default,
        skip_serializing_if = "IndexMap::is_empty",
        deserialize_with = "scalar_map"
    )]
    #[schemars(with = "IndexMap<String, String>")]
    pub env: IndexMap<String, String>,
    /// Longest one program may run, e.g. `10m` (the action's timeout
    /// applies anyway).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout: Option<String>,
    /// Resource limits on each program and what it starts (defaults in
    /// the README).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limits: Option<ProcessLimits>,
}

/// Resource limits on granted programs; each left out keeps its default.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ProcessLimits {
    /// Memory of the program's processes, e.g. `2GiB` (default 4 GiB; the
    /// whole tree where the host has a cgroup for it, else each process).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memory: Option<String>,
    /// CPU time of each process, e.g. `30m` (default 1 hour).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cpu_time: Option<String>,
    /// Processes the program may start (default 512).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub processes: Option<u64>,
    /// Files each process may have open (default 4,096).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub open_files: Option<u64>,
    /// Largest file a program may write, e.g. `1GiB` (default 10 GiB).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file_size: Option<String>,
    /// Size of the program's private `/tmp`, e.g. `256MiB` (default 1 GiB).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tmp_size: Option<String>,
}

/// An `http` grant: the URLs the provider may reach.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct HttpGrant {
    /// URL prefixes, `https://host[:port]/path/`: scheme, host and port
    /// must match, the path must start with the prefix.
    pub allow: Vec<String>,
}

/// A host folder granted to an action.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PathGrant {
    /// The folder on the host; relative paths are relative to the pipeline file.
    pub path: String,
    /// `read-only` (default) or `read-write`. A read-write folder is
    /// created when missing.
    #[serde(default)]
    pub access: PathAccess,
}

/// How a granted folder may be used.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum PathAccess {
    /// Read only.
    #[default]
    ReadOnly,
    /// Read and write.
    ReadWrite,
}

fn default_run_order() -> u32 {
    1
}

fn is_default_run_order(order: &u32) -> bool {
    *order == 1
}

/// Configuration values are strings; numbers and booleans written without
/// quotes are taken as their text, as people expect.
struct ScalarText;

impl<'de> serde::de::Visitor<'de> for ScalarText {
    type Value = String;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a string (or a number or boolean, taken as text)")
    }

    fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<String, E> {
        Ok(v.to_string())
    }

    fn visit_string<E: serde::de::Error>(self, v: String) -> Result<String, E> {
        Ok(v)
    }

    fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<String, E> {
        Ok(v.to_string())
    }

    fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<String, E> {
        Ok(v.to_string())
    }

    fn visit_f64<E: serde::de::Error>(self, v: f64) -> Result<String, E> {
        Ok(v.to_string())
    }

    fn visit_bool<E: serde::de::Error>(self, v: bool) -> Result<String, E> {
        Ok(v.to_string())
    }
}

struct Text(String);

impl<'de> Deserialize<'de> for Text {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(ScalarText).map(Text)
    }
}

fn scalar_map<'de, D: Deserializer<'de>>(d: D) -> Result<IndexMap<String, String>, D::Error> {
    let raw: Option<IndexMap<String, Text>> = Option::deserialize(d)?;
    Ok(raw
        .unwrap_or_default()
        .into_iter()
        .map(|(k, v)| (k, v.0))
        .collect())
}

fn optional_scalar<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    let raw: Option<Text> = Option::deserialize(d)?;
    Ok(raw.map(|t| t.0))
}
