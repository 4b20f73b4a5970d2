//! Shared helpers for the end-to-end tests: the fixture components' paths
//! and a sandbox set up the way the tests need it.

/// Paths of the fixture components built from `tests/fixtures/`.
pub mod fixtures {
    include!(concat!(env!("OUT_DIR"), "/fixtures.rs"));
}
