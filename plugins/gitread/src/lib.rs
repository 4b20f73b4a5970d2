//! Reading git repositories without git.
//!
//! A pipeline's git source runs inside a WebAssembly sandbox (wasm32-wasip2),
//! where there is no git binary to call and no C library to link. This crate
//! reads the repository's files with plain `std::fs` instead: refs (loose and
//! `packed-refs`), loose objects, and pack files with their deltas, to do the
//! few things the provider needs:
//!
//! - [`Repository::resolve`]: the commit a branch, tag or `HEAD` points to;
//! - [`Repository::checkout`]: the files of one commit (or one folder of it)
//!   written to a folder, without `.git`;
//! - [`Repository::changed_paths`]: which files differ between two commits.
//!
//! ```no_run
//! use std::path::Path;
//! use gitread::Repository;
//!
//! let repo = Repository::open(Path::new("/src/app"))?;
//! let commit = repo.resolve("main")?;
//! let stats = repo.checkout(&commit, Some("services/api"), Path::new("/out/source"))?;
//! println!("{commit}: {} files", stats.files);
//! # Ok::<(), gitread::Error>(())
//! ```
//!
//! Not read: SHA-256 repositories, the reftable ref backend (both refused
//! with [`Error::Unsupported`]), multi-pack indexes and bitmaps (the per-pack
//! indexes they sit beside are used instead), shallow-clone grafts and
//! `replace` refs.

mod checkout;
mod delta;
mod diff;
mod error;
mod id;
mod objects;
mod odb;
mod refs;
mod repo;

pub use checkout::CheckoutStats;
pub use error::Error;
pub use id::ObjectId;
pub use objects::{Commit, EntryKind, Object, ObjectKind, Signature, Tree, TreeEntry};
pub use repo::Repository;

#[cfg(test)]
mod tests {
    /// The provider may keep a repository in a static or hand it to another
    /// thread on native hosts; errors travel through `anyhow`-style boxes.
    #[test]
    fn shareable_across_threads() {
        fn assert_send_sync<T: Send + Sync>() {}
        assert_send_sync::<crate::Repository>();
        assert_send_sync::<crate::Error>();
    }
}
