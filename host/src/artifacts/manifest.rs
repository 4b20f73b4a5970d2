//! Reading an artifact folder back: its manifest.
//!
//! A provider controls what it writes into an output folder, so reading the
//! folder back must not trust it: symbolic links are recorded as links and
//! never followed; a link whose target leaves the artifact is dropped and
//! reported; special files (sockets, pipes, devices) are dropped too.

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::io::Read;
use std::path::{Component, Path, PathBuf};

/// One entry of an artifact.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Entry {
    /// Path relative to the artifact's root, `/`-separated.
    pub path: String,
    /// What it is.
    #[serde(flatten)]
    pub kind: EntryKind,
}

/// What an entry is.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "lowercase")]
pub enum EntryKind {
    /// A folder.
    Dir,
    /// A regular file.
    File {
        /// `0o755` when executable, else `0o644`.
        mode: u32,
        /// Its size in bytes.
        size: u64,
        /// Hex sha256 of its content.
        sha256: String,
    },
    /// A symbolic link that stays inside the artifact.
    Symlink {
        /// The link's target, relative.
        target: String,
    },
}

/// Something left out of a manifest, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Skipped {
    /// Path relative to the artifact's root.
    pub path: String,
    /// Why it was left out.
    pub reason: String,
}

/// An artifact's content: its entries, sorted by path.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Manifest {
    /// Every entry, sorted by path.
    pub entries: Vec<Entry>,
    /// What was left out.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub skipped: Vec<Skipped>,
}

impl Manifest {
    /// The artifact's digest: sha256 over its entries (paths, kinds, modes,
    /// content digests), so equal trees have equal digests.
    pub fn digest(&self) -> String {
        let mut hasher = Sha256::new();
        for entry in &self.entries {
            match &entry.kind {
                EntryKind::Dir => hasher.update(format!("d {}\n", entry.path)),
                EntryKind::File { mode, sha256, .. } => {
                    hasher.update(format!("f {mode:o} {sha256} {}\n", entry.path))
                }
                EntryKind::Symlink { target } => {
                    hasher.update(format!("l {target} {}\n", entry.path))
                }
            }
        }
        hex::encode(hasher.finalize())
    }

    /// Number of regular files.
    pub fn file_count(&self) -> usize {
        self.entries
            .iter()
            .filter(|e| matches!(e.kind, EntryKind::File { .. }))
            .count()
    }

    /// Bytes in regular files.
    pub fn total_bytes(&self) -> u64 {
        self.entries
            .iter()
            .map(|e| match e.kind {
                EntryKind::File { size, .. } => size,
                _ => 0,
            })
            .sum()
    }
}

/// Reads the folder at `root` into a manifest, hashing every file.
pub fn scan(root: &Path) -> std::io::Result<Manifest> {
    let mut manifest = Manifest::default();
    let mut pending = vec![PathBuf::new()];
    while let Some(relative) = pending.pop() {
        let mut children: Vec<_> =
            std::fs::read_dir(root.join(&relative))?.collect::<Result<_, _>>()?;
        children.sort_by_key(|e| e.file_name());
        for child in children {
            let path = relative.join(child.file_name());
            let Some(name) = path_text(&path) else {
                manifest.skipped.push(Skipped {
                    path: path.to_string_lossy().into_owned(),
                    reason: "the name is not valid UTF-8".into(),
                });
                continue;
            };
            // `DirEntry::file_type` does not follow links.
            let kind = child.file_type()?;
            if kind.is_symlink() {
                let target = std::fs::read_link(child.path())?;
                match inside_target(&path, &target) {
                    Some(target) => manifest.entries.push(Entry {
                        path: name,
                        kind: EntryKind::Symlink { target },
                    }),
                    None => manifest.skipped.push(Skipped {
                        path: name,
                        reason: format!(
                            "symbolic link to `{}` points outside the artifact; not followed",
                            target.display()
                        ),
                    }),
                }
            } else if kind.is_dir() {
                manifest.entries.push(Entry {
                    path: name,
                    kind: EntryKind::Dir,
                });
                pending.push(path);
            } else if kind.is_file() {
                let metadata = child.metadata()?;
                let (sha256, size) = hash_file(&child.path())?;
                manifest.entries.push(Entry {
                    path: name,
                    kind: EntryKind::File {
                        mode: normalized_mode(&metadata),
                        size,
                        sha256,
                    },
                });
            } else {
                manifest.skipped.push(Skipped {
                    path: name,
                    reason: "not a regular file, folder or link (a socket, pipe or device)".into(),
                });
            }
        }
    }
    manifest.entries.sort_by(|a, b| a.path.cmp(&b.path));
    manifest.skipped.sort_by(|a, b| a.path.cmp(&b.path));
    Ok(manifest)
}

/// Hex sha256 and size of a file's content.
pub fn hash_file(path: &Path) -> std::io::Result<(String, u64)> {
    let mut file = std::fs::File::open(path)?;
    let mut hasher = Sha256::new();
    let mut buffer = vec![0u8; 64 * 1024];
    let mut size = 0u64;
    loop {
        let read = file.read(&mut buffer)?;
        if read == 0 {
            break;
        }
        hasher.update(&buffer[..read]);
        size += read as u64;
    }
    Ok((hex::encode(hasher.finalize()), size))
}

fn path_text(path: &Path) -> Option<String> {
    let parts: Option<Vec<&str>> = path.components().map(|c| c.as_os_str().to_str()).collect();
    parts.map(|p| p.join("/"))
}

#[cfg(unix)]
fn normalized_mode(metadata: &std::fs::Metadata) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    if metadata.permissions().mode() & 0o111 != 0 {
        0o755
    } else {
        0o644
    }
}

#[cfg(not(unix))]
fn normalized_mode(_metadata: &std::fs::Metadata) -> u32 {
    0o644
}

/// The link's target as text when, resolved from the link's folder, it
/// stays inside the artifact; `None` when it is absolute or climbs out.
fn inside_target(link: &Path, target: &Path) -> Option<String> {
    let mut depth = link.components().count() as i64 - 1;
    for component in target.components() {
        match component {
            Component::Normal(_) => depth += 1,
            Component::CurDir => {}
            Component::ParentDir => {
                depth -= 1;
                if depth < 0 {
                    return None;
                }
            }
            Component::RootDir | Component::Prefix(_) => return None,
        }
    }
    path_text(target)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scan_records_files_dirs_and_inside_links_only() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        std::fs::create_dir_all(root.join("a/b")).unwrap();
        std::fs::write(root.join("a/b/file.txt"), "hello").unwrap();
        std::fs::write(root.join("top"), "x").unwrap();
        #[cfg(unix)]
        {
            std::os::unix::fs::symlink("b/file.txt", root.join("a/link")).unwrap();
            std::os::unix::fs::symlink("/etc/passwd", root.join("evil")).unwrap();
            std::os::unix::fs::symlink("../../outside", root.join("a/sneaky")).unwrap();
        }
        let manifest = scan(root).unwrap();
        let paths: Vec<&str> = manifest.entries.iter().map(|e| e.path.as_str()).collect();
        #[cfg(unix)]
        assert_eq!(paths, ["a", "a/b", "a/b/file.txt", "a/link", "top"]);
        assert_eq!(manifest.file_count(), 2);
        assert_eq!(manifest.total_bytes(), 6);
        #[cfg(unix)]
        {
            let skipped: Vec<&str> = manifest.skipped.iter().map(|s| s.path.as_str()).collect();
            assert_eq!(skipped, ["a/sneaky", "evil"]);
            assert!(manifest.skipped[1].reason.contains("/etc/passwd"));
        }
    }

    #[test]
    fn equal_trees_have_equal_digests() {
        let one = tempfile::tempdir().unwrap();
        let two = tempfile::tempdir().unwrap();
        for dir in [one.path(), two.path()] {
            std::fs::write(dir.join("f"), "same").unwrap();
        }
        assert_eq!(
            scan(one.path()).unwrap().digest(),
            scan(two.path()).unwrap().digest()
        );
        std::fs::write(two.path().join("f"), "different").unwrap();
        assert_ne!(
            scan(one.path()).unwrap().digest(),
            scan(two.path()).unwrap().digest()
        );
    }
}
