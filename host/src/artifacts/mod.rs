//! Artifacts: the folders actions hand to each other.
//!
//! [`manifest`] reads a folder back after an action wrote it, without ever
//! following a symbolic link out of it, and describes it as a manifest of
//! paths, kinds, modes and sizes with a digest of its own. [`store`] takes
//! output folders in whole, hands them to the jobs that read them
//! read-only, and seals them with content sums afterwards.

pub mod manifest;
pub mod store;

pub use manifest::{Entry, EntryKind, Manifest, Skipped, Tidy, scan};
pub use store::{ArtifactError, ArtifactStore, Sums};
