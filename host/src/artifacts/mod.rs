//! Artifacts: the folders actions hand to each other.
//!
//! [`manifest`] reads a folder back after an action wrote it, without ever
//! following a symbolic link out of it, and describes it as a manifest of
//! paths, modes and digests with a digest of its own. [`store`] keeps
//! artifacts content-addressed and mounts them into the jobs that read them.

pub mod manifest;
pub mod store;

pub use manifest::{Entry, EntryKind, Manifest, Skipped, scan};
pub use store::{ArtifactError, ArtifactStore};
