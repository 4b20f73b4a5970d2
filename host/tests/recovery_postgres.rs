//! The recovery tests (recovery/cases.rs), on a PostgreSQL server this test
//! process starts: every command gets it as `SLUICE_DATABASE` when the
//! target's name ends in `_postgres` (`sluice_tests::harness::on_postgres`).

#[path = "recovery/cases.rs"]
mod cases;
