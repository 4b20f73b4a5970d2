//! File helpers for artifacts: copying trees and listing files.

use std::io;
use std::path::{Path, PathBuf};

/// Every regular file under `root`, as paths relative to `root`, sorted.
/// Symbolic links are listed but not followed.
pub fn list_files(root: &Path) -> io::Result<Vec<PathBuf>> {
    let mut files = Vec::new();
    let mut pending = vec![PathBuf::new()];
    while let Some(relative) = pending.pop() {
        for entry in std::fs::read_dir(root.join(&relative))? {
            let entry = entry?;
            let path = relative.join(entry.file_name());
            if entry.file_type()?.is_dir() {
                pending.push(path);
            } else {
                files.push(path);
            }
        }
    }
    files.sort();
    Ok(files)
}

/// Copies the tree under `from` into `to` (created when missing), file by
/// file; returns the number of files and bytes copied. Symbolic links are
/// not followed: they are copied as links when the link's target stays
/// inside the tree (and the platform can make links), and skipped otherwise.
pub fn copy_tree(from: &Path, to: &Path) -> io::Result<CopyStats> {
    let mut stats = CopyStats::default();
    std::fs::create_dir_all(to)?;
    let mut pending = vec![PathBuf::new()];
    while let Some(relative) = pending.pop() {
        for entry in std::fs::read_dir(from.join(&relative))? {
            let entry = entry?;
            let path = relative.join(entry.file_name());
            let kind = entry.file_type()?;
            if kind.is_dir() {
                std::fs::create_dir_all(to.join(&path))?;
                pending.push(path);
            } else if kind.is_file() {
                stats.bytes += std::fs::copy(from.join(&path), to.join(&path))?;
                stats.files += 1;
            } else if kind.is_symlink() {
                let target = std::fs::read_link(from.join(&path))?;
                if !stays_inside(&path, &target) {
                    stats.skipped_links += 1;
                    continue;
                }
                match symlink(&target, &to.join(&path)) {
                    Ok(()) => stats.links += 1,
                    Err(e) if e.kind() == io::ErrorKind::Unsupported => stats.skipped_links += 1,
                    Err(e) => return Err(e),
                }
            }
        }
    }
    Ok(stats)
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

/// Whether a link at `link` (relative to a tree's root) pointing at
/// `target` resolves inside the tree.
fn stays_inside(link: &Path, target: &Path) -> bool {
    if target.is_absolute() {
        return false;
    }
    let mut depth: i64 = link.components().count() as i64 - 1;
    for component in target.components() {
        match component {
            std::path::Component::ParentDir => depth -= 1,
            std::path::Component::Normal(_) => depth += 1,
            std::path::Component::CurDir => {}
            _ => return false,
        }
        if depth < 0 {
            return false;
        }
    }
    true
}

#[cfg(unix)]
fn symlink(target: &Path, link: &Path) -> io::Result<()> {
    std::os::unix::fs::symlink(target, link)
}

// Stable Rust has no way yet to make a link on WASI.
#[cfg(not(unix))]
fn symlink(_target: &Path, _link: &Path) -> io::Result<()> {
    Err(io::Error::new(io::ErrorKind::Unsupported, "symbolic links"))
}

#[cfg(test)]
mod tests {
    use super::stays_inside;
    use std::path::Path;

    #[test]
    fn links_that_escape_are_detected() {
        assert!(stays_inside(Path::new("a/b"), Path::new("c")));
        assert!(stays_inside(Path::new("a/b"), Path::new("../c")));
        assert!(!stays_inside(Path::new("a/b"), Path::new("../../c")));
        assert!(!stays_inside(Path::new("b"), Path::new("/etc/passwd")));
    }
}
