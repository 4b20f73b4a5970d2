//! Reading an artifact folder back: its manifest.
//!
//! A provider controls what it writes into an output folder, so reading the
//! folder back must not trust it: symbolic links are recorded as links and
//! never followed; a link whose target leaves the artifact is dropped and
//! reported; special files (sockets, pipes, devices) are dropped too. When
//! the folder is being taken into the store ([`Tidy::Yes`]), what is
//! dropped is removed from it and unusual permission bits (set-user-id,
//! writable by others...) are cleared, so the folder holds exactly what its
//! manifest says.
//!
//! A manifest records metadata only (paths, kinds, modes, sizes): reading
//! every byte is left to sealing ([`hash_file`]), off the hand-off's path.

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
    /// Unique to one stored tree (two equal outputs are two artifacts).
    #[serde(default)]
    pub id: String,
    /// Every entry, sorted by path.
    pub entries: Vec<Entry>,
    /// What was left out.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub skipped: Vec<Skipped>,
}

impl Manifest {
    /// The artifact's digest: sha256 over its id and entries (paths,
    /// kinds, modes, sizes). Any change to the manifest changes it.
    pub fn digest(&self) -> String {
        let mut hasher = Sha256::new();
        hasher.update(format!("id {}\n", self.id));
        for entry in &self.entries {
            match &entry.kind {
                EntryKind::Dir => hasher.update(format!("d {}\n", entry.path)),
                EntryKind::File { mode, size } => {
                    hasher.update(format!("f {mode:o} {size} {}\n", entry.path))
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

/// Whether [`scan`] may change the folder.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tidy {
    /// Only read it.
    No,
    /// Remove what the manifest leaves out and clear unusual permission
    /// bits: the folder is being taken into the store.
    Yes,
}

/// Reads the folder at `root` into a manifest (metadata only: one `stat`
/// per entry, no file is read).
pub fn scan(root: &Path, tidy: Tidy) -> std::io::Result<Manifest> {
    let mut manifest = Manifest::default();
    let mut pending = vec![PathBuf::new()];
    while let Some(relative) = pending.pop() {
        let mut children: Vec<_> =
            std::fs::read_dir(root.join(&relative))?.collect::<Result<_, _>>()?;
        children.sort_by_key(|e| e.file_name());
        for child in children {
            let path = relative.join(child.file_name());
            // `DirEntry::file_type` does not follow links.
            let kind = child.file_type()?;
            let Some(name) = path_text(&path) else {
                manifest.skipped.push(Skipped {
                    path: path.to_string_lossy().into_owned(),
                    reason: "the name is not valid UTF-8".into(),
                });
                if tidy == Tidy::Yes {
                    remove(&child.path(), kind.is_dir())?;
                }
                continue;
            };
            if kind.is_symlink() {
                let target = std::fs::read_link(child.path())?;
                match inside_target(&path, &target) {
                    Some(target) => manifest.entries.push(Entry {
                        path: name,
                        kind: EntryKind::Symlink { target },
                    }),
                    None => {
                        manifest.skipped.push(Skipped {
                            path: name,
                            reason: format!(
                                "symbolic link to `{}` points outside the artifact; not followed",
                                target.display()
                            ),
                        });
                        if tidy == Tidy::Yes {
                            remove(&child.path(), false)?;
                        }
                    }
                }
            } else if kind.is_dir() {
                if tidy == Tidy::Yes {
                    normalize_mode(&child.path(), 0o755, true)?;
                }
                manifest.entries.push(Entry {
                    path: name,
                    kind: EntryKind::Dir,
                });
                pending.push(path);
            } else if kind.is_file() {
                let metadata = child.metadata()?;
                let mode = normalized_mode(&metadata);
                if tidy == Tidy::Yes && raw_mode(&metadata) != mode {
                    normalize_mode(&child.path(), mode, false)?;
                }
                manifest.entries.push(Entry {
                    path: name,
                    kind: EntryKind::File {
                        mode,
                        size: metadata.len(),
                    },
                });
            } else {
                manifest.skipped.push(Skipped {
                    path: name,
                    reason: "not a regular file, folder or link (a socket, pipe or device)".into(),
                });
                if tidy == Tidy::Yes {
                    remove(&child.path(), false)?;
                }
            }
        }
    }
    manifest.entries.sort_by(|a, b| a.path.cmp(&b.path));
    manifest.skipped.sort_by(|a, b| a.path.cmp(&b.path));
    Ok(manifest)
}

fn remove(path: &Path, dir: bool) -> std::io::Result<()> {
    if dir {
        std::fs::remove_dir_all(path)
    } else {
        std::fs::remove_file(path)
    }
}

#[cfg(unix)]
fn raw_mode(metadata: &std::fs::Metadata) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    metadata.permissions().mode() & 0o7777
}

#[cfg(not(unix))]
fn raw_mode(_metadata: &std::fs::Metadata) -> u32 {
    0o644
}

/// Sets `mode` on the file or folder at `path` without following a link
/// put in its place meanwhile: it is opened with `O_NOFOLLOW` (and
/// `O_NONBLOCK`, so a pipe cannot stall the host) and changed through the
/// open handle, only when it is still what was scanned.
#[cfg(unix)]
fn normalize_mode(path: &Path, mode: u32, dir: bool) -> std::io::Result<()> {
    use rustix::fs::{Mode, OFlags};
    let flags = OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::NONBLOCK | OFlags::CLOEXEC;
    let flags = if dir {
        flags | OFlags::DIRECTORY
    } else {
        flags
    };
    let fd = rustix::fs::open(path, flags, Mode::empty())?;
    let stat = rustix::fs::fstat(&fd)?;
    let kind = rustix::fs::FileType::from_raw_mode(stat.st_mode);
    let expected = if dir {
        rustix::fs::FileType::Directory
    } else {
        rustix::fs::FileType::RegularFile
    };
    if kind != expected {
        return Err(std::io::Error::other(format!(
            "{} changed while it was being stored",
            path.display()
        )));
    }
    if stat.st_mode & 0o7777 != mode {
        rustix::fs::fchmod(&fd, Mode::from_raw_mode(mode))?;
    }
    Ok(())
}

#[cfg(not(unix))]
fn normalize_mode(_path: &Path, _mode: u32, _dir: bool) -> std::io::Result<()> {
    Ok(())
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
        let manifest = scan(root, Tidy::No).unwrap();
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
    fn the_digest_covers_every_entry_and_the_id() {
        let one = tempfile::tempdir().unwrap();
        std::fs::write(one.path().join("f"), "same").unwrap();
        let base = scan(one.path(), Tidy::No).unwrap();
        assert_eq!(base.digest(), scan(one.path(), Tidy::No).unwrap().digest());
        let mut other = base.clone();
        other.id = "another".into();
        assert_ne!(base.digest(), other.digest());
        std::fs::write(one.path().join("f"), "longer").unwrap();
        assert_ne!(base.digest(), scan(one.path(), Tidy::No).unwrap().digest());
    }

    #[cfg(unix)]
    #[test]
    fn tidying_removes_what_is_left_out_and_clears_odd_modes() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        std::fs::write(root.join("tool"), "#!/bin/sh").unwrap();
        std::fs::set_permissions(root.join("tool"), std::fs::Permissions::from_mode(0o4777))
            .unwrap();
        std::os::unix::fs::symlink("/etc/passwd", root.join("evil")).unwrap();
        rustix::fs::mknodat(
            rustix::fs::CWD,
            root.join("pipe"),
            rustix::fs::FileType::Fifo,
            rustix::fs::Mode::from_raw_mode(0o644),
            0,
        )
        .unwrap();
        let manifest = scan(root, Tidy::Yes).unwrap();
        assert_eq!(manifest.entries.len(), 1);
        assert_eq!(manifest.skipped.len(), 2);
        assert!(
            !root.join("evil").exists() && std::fs::symlink_metadata(root.join("pipe")).is_err()
        );
        let mode = std::fs::metadata(root.join("tool"))
            .unwrap()
            .permissions()
            .mode()
            & 0o7777;
        assert_eq!(mode, 0o755);
    }
}
