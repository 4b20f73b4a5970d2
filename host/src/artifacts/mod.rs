//! Artifacts: the folders actions hand to each other.
//!
//! [`manifest`] reads a folder back after an action wrote it, without ever
//! following a symbolic link out of it, and describes it as a manifest of
//! paths, kinds, modes and sizes with a digest of its own. [`store`] takes
//! output folders in whole, hands them to the jobs that read them
//! read-only, and seals them with content sums afterwards. [`remote`]
//! keeps them in S3-compatible object storage too, for hosts that share
//! work, each packed as one archive ([`pack`]).

pub mod manifest;
pub mod pack;
pub mod remote;
pub mod store;

pub use manifest::{Entry, EntryKind, Manifest, Skipped, Tidy, scan};
pub use remote::{Remote, RemoteSettings};
pub use store::{ArtifactError, ArtifactStore, Sums};
