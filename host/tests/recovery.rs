//! The recovery tests (recovery/cases.rs), on SQLite. `recovery_postgres`
//! runs the same tests on PostgreSQL.

#[path = "recovery/cases.rs"]
mod cases;
