//! Artifacts: the folders actions hand to each other.
//!
//! [`manifest`] reads a folder back after an action wrote it, without ever
//! following a symbolic link out of it, and describes it as a manifest of
//! paths, modes and digests with a digest of its own.

pub mod manifest;

pub use manifest::{Entry, EntryKind, Manifest, Skipped, scan};
