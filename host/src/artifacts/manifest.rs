//! Reading an artifact folder back: its manifest.
//!
//! A provider controls what it writes into an output folder, so reading the
//! folder back must not trust it: it is walked through handles (see
//! [`crate::contain`]), symbolic links are recorded as links and never
//! followed; a link is judged by where it finally resolves, a chain of links
//! included, and one that leads out of the artifact or nowhere is dropped
//! and reported; special files (sockets, pipes, devices) are dropped too.
//! When the folder is being taken into the store ([`Tidy::Yes`]), what is
//! dropped is removed from it, unusual permission bits (set-user-id,
//! writable by others...) are cleared and files with other hard links get a
//! copy of their own, so the folder holds exactly what its manifest says
//! and shares nothing with anything else.
//!
//! A manifest records metadata only (paths, kinds, modes, sizes): reading
//! every byte is left to sealing ([`hash_file`]), off the hand-off's path.

use crate::contain::{Budget, BudgetError, LinkVerdict, Root};
use cap_std::fs::{Dir, MetadataExt};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::io::Read;
use std::path::{Path, PathBuf};

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
    /// Remove what the manifest leaves out, clear unusual permission bits
    /// and give files with other hard links a copy of their own: the folder
    /// is being taken into the store.
    Yes,
}

/// Why a folder could not be read back.
#[derive(Debug, thiserror::Error)]
pub enum ScanError {
    /// Reading or changing it failed.
    #[error("{}", crate::contain::describe(.0))]
    Io(#[from] std::io::Error),
    /// It holds more than the budget allows.
    #[error(transparent)]
    Budget(#[from] BudgetError),
    /// Folders are nested too deep.
    #[error("its folders are nested more than {MAX_DEPTH} deep")]
    TooDeep,
}

/// Deepest folder nesting read back.
pub const MAX_DEPTH: usize = 128;

/// Reads the folder at `root` into a manifest (metadata only: one `stat`
/// per entry, no file is read), counting every entry and byte against
/// `budget`. Every step goes through handles opened without following
/// links; a link is judged afterwards by where it finally resolves (a chain
/// of links included) and kept only when that is inside the folder.
pub fn scan(root: &Path, tidy: Tidy, budget: &mut Budget) -> Result<Manifest, ScanError> {
    let top = Root::open(root)?;
    let mut manifest = Manifest::default();
    let mut links: Vec<(String, PathBuf)> = Vec::new();
    let mut pending = vec![(top.dir().try_clone()?, PathBuf::new())];
    while let Some((dir, relative)) = pending.pop() {
        let mut children: Vec<_> = dir.entries()?.collect::<Result<_, _>>()?;
        children.sort_by_key(|e| e.file_name());
        for child in children {
            let name = PathBuf::from(child.file_name());
            let path = relative.join(&name);
            // Not followed: a link is reported as a link.
            let kind = child.file_type()?;
            let Some(text) = path_text(&path) else {
                manifest.skipped.push(Skipped {
                    path: path.to_string_lossy().into_owned(),
                    reason: "the name is not valid UTF-8".into(),
                });
                if tidy == Tidy::Yes {
                    remove(&dir, &name, kind.is_dir())?;
                }
                continue;
            };
            if kind.is_symlink() {
                budget.take(1, 0)?;
                links.push((text, path));
            } else if kind.is_dir() {
                budget.take(1, 0)?;
                if crate::contain::depth(&path) > MAX_DEPTH {
                    return Err(ScanError::TooDeep);
                }
                let sub = crate::contain::open_dir_in(&dir, &name)?;
                if tidy == Tidy::Yes {
                    set_mode(&sub.dir_metadata()?, 0o755, |mode| {
                        sub.set_permissions(".", mode)
                    })?;
                }
                manifest.entries.push(Entry {
                    path: text,
                    kind: EntryKind::Dir,
                });
                pending.push((sub, path));
            } else if kind.is_file() {
                let metadata = child.metadata()?;
                budget.take(1, metadata.len())?;
                let mode = normalized_mode(metadata.mode());
                if tidy == Tidy::Yes {
                    tidy_file(&dir, &name, &metadata, mode)?;
                }
                manifest.entries.push(Entry {
                    path: text,
                    kind: EntryKind::File {
                        mode,
                        size: metadata.len(),
                    },
                });
            } else {
                manifest.skipped.push(Skipped {
                    path: text,
                    reason: "not a regular file, folder or link (a socket, pipe or device)".into(),
                });
                if tidy == Tidy::Yes {
                    remove(&dir, &name, false)?;
                }
            }
        }
    }
    // Links last, judged in the folder as it now is (anything removed above
    // is gone): kept only when they resolve inside it.
    let mut dropped = Vec::new();
    for (text, path) in links {
        let target = top.dir().read_link_contents(&path)?;
        let shown = target.to_string_lossy().into_owned();
        let verdict = top.judge_link(&path);
        match (verdict, path_text(&target)) {
            (LinkVerdict::Inside(_), Some(target)) => manifest.entries.push(Entry {
                path: text,
                kind: EntryKind::Symlink { target },
            }),
            (verdict, _) => {
                let reason = match verdict {
                    LinkVerdict::Outside => format!(
                        "symbolic link to `{shown}` leads outside the artifact; not followed"
                    ),
                    LinkVerdict::Dangling => {
                        format!("symbolic link to `{shown}` leads nowhere inside the artifact")
                    }
                    LinkVerdict::Inside(_) => "the link's target is not valid UTF-8".into(),
                };
                manifest.skipped.push(Skipped { path: text, reason });
                dropped.push(path);
            }
        }
    }
    if tidy == Tidy::Yes {
        for path in dropped {
            top.dir().remove_file(&path)?;
        }
    }
    manifest.entries.sort_by(|a, b| a.path.cmp(&b.path));
    manifest.skipped.sort_by(|a, b| a.path.cmp(&b.path));
    Ok(manifest)
}

fn remove(dir: &Dir, name: &Path, is_dir: bool) -> std::io::Result<()> {
    if is_dir {
        dir.remove_dir_all(name)
    } else {
        dir.remove_file(name)
    }
}

/// Sets `mode` when the permission bits (set-user-id and the like
/// included) differ from it.
fn set_mode(
    metadata: &cap_std::fs::Metadata,
    mode: u32,
    apply: impl FnOnce(cap_std::fs::Permissions) -> std::io::Result<()>,
) -> std::io::Result<()> {
    use cap_std::fs::{MetadataExt, PermissionsExt};
    if metadata.mode() & 0o7777 != mode {
        apply(cap_std::fs::Permissions::from_mode(mode))?;
    }
    Ok(())
}

/// Normalises a file's mode through a handle opened without following a
/// link (so a link swapped in meanwhile is never changed), and gives a file
/// that has other hard links (an input's file, a granted folder's) a copy
/// of its own, so the stored artifact shares no inode with anything.
fn tidy_file(
    dir: &Dir,
    name: &Path,
    scanned: &cap_std::fs::Metadata,
    mode: u32,
) -> std::io::Result<()> {
    use cap_std::fs::MetadataExt;
    let file = crate::contain::open_file_in(dir, name)?;
    let metadata = file.metadata()?;
    if metadata.ino() != scanned.ino() {
        return Err(std::io::Error::other(format!(
            "`{}` changed while it was being stored",
            name.display()
        )));
    }
    if metadata.nlink() > 1 {
        let temporary = PathBuf::from(format!(".sluice-unlink-{}", metadata.ino()));
        let mut options = cap_std::fs::OpenOptions::new();
        options.write(true).create_new(true);
        let mut copy = dir.open_with(&temporary, &options)?;
        std::io::copy(&mut (&file).take(metadata.len()), &mut copy)?;
        set_mode(&copy.metadata()?, mode, |m| copy.set_permissions(m))?;
        dir.rename(&temporary, dir, name)?;
        return Ok(());
    }
    set_mode(&metadata, mode, |m| file.set_permissions(m))
}

/// Hex sha256 and size of the regular file `path` below `tree` (never
/// through a link, never waiting on a pipe).
pub fn hash_file(tree: &Root, path: &Path) -> std::io::Result<(String, u64)> {
    let mut file = tree.open_file(path)?;
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

/// `0o755` when any executable bit is set, else `0o644`.
fn normalized_mode(mode: u32) -> u32 {
    if mode & 0o111 != 0 { 0o755 } else { 0o644 }
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
        let manifest = scan(root, Tidy::No, &mut Budget::unlimited()).unwrap();
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
        let base = scan(one.path(), Tidy::No, &mut Budget::unlimited()).unwrap();
        assert_eq!(
            base.digest(),
            scan(one.path(), Tidy::No, &mut Budget::unlimited())
                .unwrap()
                .digest()
        );
        let mut other = base.clone();
        other.id = "another".into();
        assert_ne!(base.digest(), other.digest());
        std::fs::write(one.path().join("f"), "longer").unwrap();
        assert_ne!(
            base.digest(),
            scan(one.path(), Tidy::No, &mut Budget::unlimited())
                .unwrap()
                .digest()
        );
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
        let manifest = scan(root, Tidy::Yes, &mut Budget::unlimited()).unwrap();
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

    #[cfg(unix)]
    #[test]
    fn a_chain_of_links_that_leads_out_is_dropped_with_each_link_judged_where_it_resolves() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("out");
        std::fs::create_dir_all(root.join("a/b")).unwrap();
        std::fs::write(root.join("a/b/f"), "x").unwrap();
        // Each is harmless lexically: `y` is the artifact's root, so `x`
        // (`y/../..`) climbs two levels above it.
        std::os::unix::fs::symlink("../..", root.join("a/b/y")).unwrap();
        std::os::unix::fs::symlink("y/../..", root.join("a/b/x")).unwrap();
        std::os::unix::fs::symlink("y/a/b/f", root.join("a/b/z")).unwrap();
        std::os::unix::fs::symlink("nowhere", root.join("dangling")).unwrap();
        let manifest = scan(&root, Tidy::Yes, &mut Budget::unlimited()).unwrap();
        let kept: Vec<&str> = manifest.entries.iter().map(|e| e.path.as_str()).collect();
        assert_eq!(kept, ["a", "a/b", "a/b/f", "a/b/y", "a/b/z"]);
        let skipped: Vec<&str> = manifest.skipped.iter().map(|s| s.path.as_str()).collect();
        assert_eq!(skipped, ["a/b/x", "dangling"]);
        assert!(manifest.skipped[0].reason.contains("leads outside"));
        assert!(
            std::fs::symlink_metadata(root.join("a/b/x")).is_err(),
            "removed"
        );
        // Read again, the stored tree has no link that leads out.
        let again = scan(&root, Tidy::No, &mut Budget::unlimited()).unwrap();
        assert!(again.skipped.is_empty());
    }

    #[cfg(unix)]
    #[test]
    fn a_hard_link_becomes_a_file_of_its_own() {
        use std::os::unix::fs::MetadataExt;
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("out");
        std::fs::create_dir(&root).unwrap();
        std::fs::write(dir.path().join("elsewhere"), "shared").unwrap();
        std::fs::hard_link(dir.path().join("elsewhere"), root.join("linked")).unwrap();
        scan(&root, Tidy::Yes, &mut Budget::unlimited()).unwrap();
        let stored = std::fs::metadata(root.join("linked")).unwrap();
        assert_eq!(stored.nlink(), 1);
        assert_eq!(
            std::fs::read_to_string(root.join("linked")).unwrap(),
            "shared"
        );
        std::fs::write(dir.path().join("elsewhere"), "changed").unwrap();
        assert_eq!(
            std::fs::read_to_string(root.join("linked")).unwrap(),
            "shared"
        );
    }

    #[test]
    fn the_budget_stops_a_scan_of_too_many_entries() {
        let dir = tempfile::tempdir().unwrap();
        for i in 0..20 {
            std::fs::write(dir.path().join(format!("f{i}")), "1234").unwrap();
        }
        let mut few = Budget {
            max_entries: 10,
            ..Budget::unlimited()
        };
        let error = scan(dir.path(), Tidy::No, &mut few)
            .unwrap_err()
            .to_string();
        assert!(error.contains("limit of 10 files"), "{error}");
        let mut small = Budget {
            max_bytes: 40,
            ..Budget::unlimited()
        };
        let error = scan(dir.path(), Tidy::No, &mut small)
            .unwrap_err()
            .to_string();
        assert!(error.contains("limit of 40 bytes"), "{error}");
    }
}
