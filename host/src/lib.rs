//! Sluice: a self-hosted continuous-delivery pipeline host whose action
//! providers are sandboxed WebAssembly components.
//!
//! Module map (the layering rules between them are in
//! `docs/architecture.md` and checked by `host/tests/layers.rs`):
//!
//! - [`contract`]: the contract's plain types (category, descriptor,
//!   failure, outcome, mounts, capabilities), shared by every layer.
//! - [`model`]: pipeline definitions: the serde model (YAML, JSON),
//!   positions of values in files, validation (against providers through
//!   a trait).
//! - [`records`]: execution records (executions, stage and action runs,
//!   artifacts, pipeline versions): plain data the engine changes and the
//!   store keeps.
//! - [`sandbox`]: wasmtime: limits, compile cache, the host interfaces,
//!   and running one provider call with only what the host grants (the one
//!   place that touches wasmtime).
//! - [`grants`]: the grants policy: what a definition or `sluice action
//!   run` grants, as the sandbox enforces it.
//! - [`component_store`]: the exact components pipeline versions were
//!   applied with, by digest.
//! - [`providers`]: where providers come from: built-ins embedded in the
//!   binary, component files, installed plugins.
//! - [`packages`]: plugin packages (OCI image layouts): pack, sign,
//!   verify, install, and the registry of installed plugins.
//! - [`artifacts`]: the folders actions hand to each other, read back as
//!   manifests of paths, modes and digests.
//! - [`engine`]: executions under CodePipeline's rules: the typed front
//!   door ([`engine::command`]), a state machine (one file per rule), the
//!   driver that persists it and the runner that calls providers.
//! - [`store`]: durable state in SQLite (WAL, migrations);
//!   [`state_dir`]: every path a state directory has.
//! - [`definitions`]: checking and applying pipeline definitions;
//!   [`retention`]: what a state directory lets go (old executions, their
//!   logs and artifacts, answered requests).
//! - [`contain`]: file operations on paths a provider could influence,
//!   confined to a capability root (links judged where they resolve).
//! - [`secrets`]: the secrets the host holds, for actions granted them.
//! - [`urls`]: URLs normalised, and the `http` grant's allow-list rules;
//!   [`units`]: sizes and durations as people write them; [`text`]:
//!   provider text made safe to show, host and provider log lines told
//!   apart.
//! - [`queries`]: the reads the command line and the HTTP API share, and
//!   their error type.
//! - [`access`]: who may do what on a shared server (token roles, the
//!   host names a server answers to); [`api`]: the HTTP API and the web
//!   console; [`server`]: `sluice serve`;
//!   [`triggers`]: change detection; [`notify`]: notifications;
//!   [`http_client`]: the host's own HTTP client; [`client`]: the command
//!   line talking to a server; [`metrics`]: Prometheus metrics.
//! - [`config`]: the host's configuration, built once from the flags and
//!   the environment `main.rs` hands over.
//! - [`authoring`]: `sluice plugin new`, `build` and `test`.
//! - [`cli`]: every `sluice` command: its arguments, what it does and
//!   prints; `main.rs` only parses the global flags, reads the
//!   environment and runs the command.

pub mod access;
pub mod api;
pub mod artifacts;
pub mod authoring;
pub mod aws;
pub mod aws_types;
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
pub mod metrics;
pub mod model;
pub mod notify;
pub mod packages;
pub mod providers;
pub mod queries;
pub mod records;
pub mod retention;
pub mod sandbox;
pub mod secrets;
pub mod server;
pub mod state_dir;
pub mod store;
pub mod text;
pub mod triggers;
pub mod units;
pub mod urls;
