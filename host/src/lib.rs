//! Sluice: a self-hosted continuous-delivery pipeline host whose action
//! providers are sandboxed WebAssembly components.
//!
//! Module map:
//!
//! - [`contract`]: the contract's plain types (category, descriptor,
//!   failure, outcome, ...), shared by every layer.
//! - [`model`]: pipeline definitions: the serde model (YAML, JSON),
//!   positions of values in files, validation.
//! - [`sandbox`]: wasmtime engine, limits, compile cache, and running one
//!   provider call with only what the host grants (the one place that
//!   touches wasmtime).
//! - [`component_store`]: the exact components pipeline versions were
//!   applied with, by digest.
//! - [`providers`]: where providers come from: built-ins embedded in the
//!   binary, component files, installed plugins.
//! - [`packages`]: plugin packages (OCI image layouts): pack, sign, verify,
//!   install, and the registry of installed plugins.
//! - [`artifacts`]: the folders actions hand to each other, read back as
//!   manifests of paths, modes and digests.
//! - [`records`]: execution records (executions, stage and action runs,
//!   artifacts, pipeline versions): plain data the engine changes and the
//!   store keeps.
//! - [`engine`]: executions under CodePipeline's rules: a state machine
//!   (one file per rule) and the driver that persists it and runs actions.
//! - [`store`]: durable state in SQLite (WAL, migrations);
//!   [`state_dir`]: every path a state directory has.
//! - [`contain`]: file operations on paths a provider could influence,
//!   confined to a capability root (links judged where they resolve).
//! - [`secrets`]: the secrets the host holds, for actions granted them.
//! - [`urls`]: URLs normalised, and the `http` grant's allow-list rules;
//! - [`units`]: sizes and durations as people write them; [`text`]:
//!   provider text made safe to show, host and provider log lines told
//!   apart.
//! - [`ops`]: the operations the command line and the HTTP API share.
//! - [`api`]: the HTTP API and the web console; [`server`]: `sluice serve`;
//!   [`triggers`]: change detection; [`notify`]: notifications;
//!   [`http_client`]: the host's own HTTP client; [`client`]: the command
//!   line talking to a server.
//! - [`config`]: the host's configuration (state directory, caches,
//!   secrets, process settings), built once by `main.rs`.
//! - [`cli`]: what each `sluice` command does and prints; `main.rs` only
//!   parses flags and the environment and calls in here.

pub mod api;
pub mod artifacts;
pub mod authoring;
pub mod cli;
pub mod client;
pub mod component_store;
pub mod config;
pub mod contain;
pub mod contract;
pub mod definitions;
pub mod engine;
pub mod grants;
pub mod http_client;
pub mod model;
pub mod notify;
pub mod packages;
pub mod providers;
pub mod queries;
pub mod records;
pub mod sandbox;
pub mod secrets;
pub mod server;
pub mod state_dir;
pub mod store;
pub mod text;
pub mod triggers;
pub mod units;
pub mod urls;
