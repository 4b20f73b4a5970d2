//! File helpers for artifacts: copying trees (by the host, keeping
//! permission bits) and listing files.

use std::io;
use std::path::{Path, PathBuf};

/// Every file under `root` that is not a folder (regular files and links),
/// as paths relative to `root`, sorted. Links are not followed.
pub fn list_files(root: &Path) -> io::Result<Vec<PathBuf>> {
    list_files_skipping(root, |_| false)
}

/// Like [`list_files`], but folders for which `skip` (given the folder's
/// path relative to `root`) answers true are not entered at all.
pub fn list_files_skipping(root: &Path, skip: impl Fn(&Path) -> bool) -> io::Result<Vec<PathBuf>> {
    let mut files = Vec::new();
    let mut pending = vec![PathBuf::new()];
    while let Some(relative) = pending.pop() {
        for entry in std::fs::read_dir(root.join(&relative))? {
            let entry = entry?;
            let path = relative.join(entry.file_name());
            if entry.file_type()?.is_dir() {
                if !skip(&path) {
                    pending.push(path);
                }
            } else {
                files.push(path);
            }
        }
    }
    files.sort();
    Ok(files)
}

/// Copies the file or folder `from` to `to` (created as needed). The host
/// does the copy, so executable bits survive (WASI itself cannot see or
/// set them). Symbolic links are recreated when they stay inside the tree
/// and skipped otherwise; `to` must be in a writable folder of the job.
pub fn copy_tree(from: &Path, to: &Path) -> io::Result<CopyStats> {
    let from = from.to_string_lossy();
    let to = to.to_string_lossy();
    crate::bindings::files::copy(&from, &to)
        .map(|s| CopyStats {
            files: s.files,
            bytes: s.bytes,
            links: s.links,
            skipped_links: s.skipped_links,
        })
        .map_err(io::Error::other)
}

/// What [`copy_tree`] copied.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CopyStats {
    /// Regular files copied.
    pub files: u64,
    /// Bytes in those files.
    pub bytes: u64,
    /// Symbolic links copied.
    pub links: u64,
    /// Symbolic links skipped because they pointed outside the tree.
    pub skipped_links: u64,
}
