//! The engine's rule tests (engine/rules.rs), on a PostgreSQL server this
//! test process starts: the harness sees the target's name end in
//! `_postgres` (`sluice_tests::harness::on_postgres`).

#[path = "engine/rules.rs"]
mod rules;
