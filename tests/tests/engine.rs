//! The engine's rule tests (engine/rules.rs), on SQLite. `engine_postgres`
//! runs the same tests on PostgreSQL.

#[path = "engine/rules.rs"]
mod rules;
