//! The operation table: every API operation's documentation (method,
//! path, summary, parameters, body and answer types) with its handler.
//! Each resource's module lists its own operations next to their handlers;
//! the router and the OpenAPI document are both built from [`table`].

use super::AppState;
use crate::access::Role;
use axum::routing::MethodRouter;
use schemars::{JsonSchema, SchemaGenerator};

/// Makes a type's schema (a reference into the document's components).
pub type SchemaFn = fn(&mut SchemaGenerator) -> schemars::Schema;

/// The schema of `T`, for an [`Op`].
pub fn schema<T: JsonSchema>(generator: &mut SchemaGenerator) -> schemars::Schema {
    generator.subschema_for::<T>()
}
/// What an operation answers.
#[derive(Clone, Copy)]
pub enum Answer {
    /// JSON of this type, with this status.
    Json(u16, SchemaFn),
    /// A stream of server-sent events.
    EventStream(&'static str),
    /// Text of this media type.
    Text(&'static str),
}

/// A query parameter.
#[derive(Clone, Copy)]
pub struct QueryParam {
    /// Its name.
    pub name: &'static str,
    /// `string`, `integer` or `boolean`.
    pub kind: &'static str,
    /// What it does.
    pub description: &'static str,
}

/// One operation, as documented.
#[derive(Clone, Copy)]
pub struct Op {
    /// `get`, `post`, `put`, `delete`.
    pub method: &'static str,
    /// The path, with `{param}`s.
    pub path: &'static str,
    /// The operation id.
    pub id: &'static str,
    /// One line; names the CodePipeline operation it implements.
    pub summary: &'static str,
    /// Its path parameters' descriptions, in order.
    pub path_params: &'static [(&'static str, &'static str)],
    /// Its query parameters.
    pub query: &'static [QueryParam],
    /// The body's type.
    pub body: Option<SchemaFn>,
    /// What it answers on success.
    pub answer: Answer,
    /// The role a token needs for it (`None`: public, no token).
    pub role: Option<Role>,
}

/// An operation and its handler.
pub struct Entry {
    /// The documentation.
    pub op: Op,
    /// The handler.
    pub handler: MethodRouter<AppState>,
}

/// A pipeline's name, as a path parameter.
pub const NAME: (&str, &str) = ("name", "The pipeline's name.");
/// An execution's id, as a path parameter.
pub const ID: (&str, &str) = ("id", "The execution's id, or a unique prefix of it.");
/// A stage's name, as a path parameter.
pub const STAGE: (&str, &str) = ("stage", "The stage's name.");
/// An action's name, as a path parameter.
pub const ACTION: (&str, &str) = ("action", "The action's name.");

/// The operations, in the order the document lists them.
pub fn table() -> Vec<Entry> {
    let mut all = super::service::entries();
    all.extend(super::pipelines::entries());
    all.extend(super::executions::entries());
    all.extend(super::logs::entries());
    all.extend(super::events::entries());
    all.extend(super::tokens::entries());
    all.extend(super::service::document_entries());
    all
}
