//! Writing one commit's files into a folder, the way a build wants them:
//! just the files, no `.git`, nothing outside the destination.

use std::ffi::OsStr;
use std::fs::{self, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use crate::objects::{EntryKind, TreeEntry};
use crate::{Error, ObjectId, Repository};

/// What a checkout wrote and what it left out.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CheckoutStats {
    /// Regular files written, executable or not.
    pub files: u64,
    /// Their total size.
    pub bytes: u64,
    /// Symlinks created.
    pub symlinks: u64,
    /// Symlinks left out because the platform cannot create them (wasm32-wasip2,
    /// Windows).
    pub skipped_symlinks: u64,
    /// Submodules left out: their content is in another repository.
    pub skipped_submodules: u64,
}

impl Repository {
    /// Writes the files of `commit` into `dest`, or only those under the
    /// folder `subpath` (e.g. `examples/app`, whose content then lands at
    /// `dest`'s root).
    ///
    /// `dest` is created if missing and must otherwise be an empty folder.
    /// Files marked executable (100755) get the executable bit on Unix.
    /// Symlinks are created where the platform can, otherwise counted in
    /// [`CheckoutStats::skipped_symlinks`]; submodules are left out and counted.
    ///
    /// A tree entry whose name could reach outside `dest` or into a `.git`
    /// folder (`..`, `.`, `.git`, a name with `/`) fails the checkout, which
    /// may then have written part of the files: write to a fresh folder.
    pub fn checkout(
        &self,
        commit: &ObjectId,
        subpath: Option<&str>,
        dest: &Path,
    ) -> Result<CheckoutStats, Error> {
        let root = self.commit(commit)?.tree;
        let root = match subpath {
            Some(subpath) => self.find_folder(commit, root, subpath)?,
            None => root,
        };
        prepare_destination(dest)?;

        let mut stats = CheckoutStats::default();
        // Folders still to write: tree, folder on disk, path in the repository.
        // A stack rather than recursion, so a deeply nested tree cannot
        // overflow the (small, on wasm) call stack.
        let mut pending: Vec<(ObjectId, PathBuf, String)> =
            vec![(root, dest.to_path_buf(), String::new())];
        while let Some((tree_id, dir, repo_path)) = pending.pop() {
            for entry in self.tree(&tree_id)?.entries {
                let name = safe_name(&entry, &repo_path, &tree_id)?;
                let path = dir.join(name);
                match entry.kind {
                    EntryKind::Tree => {
                        // `create_dir`, not `create_dir_all`: it fails on
                        // anything already there, such as a symlink of the
                        // same name in a crafted tree, instead of following it.
                        fs::create_dir(&path)
                            .map_err(|e| write_error("create folder", &path, e))?;
                        let child = join(&repo_path, &entry.name_lossy());
                        pending.push((entry.id, path, child));
                    }
                    EntryKind::File | EntryKind::Executable => {
                        let content = self.blob(&entry.id)?;
                        write_file(&path, &content, entry.kind == EntryKind::Executable)?;
                        stats.files += 1;
                        stats.bytes += content.len() as u64;
                    }
                    EntryKind::Symlink => {
                        let target = self.blob(&entry.id)?;
                        if create_symlink(&path, &target)? {
                            stats.symlinks += 1;
                        } else {
                            stats.skipped_symlinks += 1;
                        }
                    }
                    EntryKind::Submodule => stats.skipped_submodules += 1,
                }
            }
        }
        Ok(stats)
    }

    /// The tree of the folder `subpath` in the tree `root` of `commit`.
    fn find_folder(
        &self,
        commit: &ObjectId,
        root: ObjectId,
        subpath: &str,
    ) -> Result<ObjectId, Error> {
        let parts: Vec<&str> = subpath
            .split('/')
            .filter(|part| !part.is_empty() && *part != ".")
            .collect();
        if parts.contains(&"..") {
            return Err(Error::InvalidSubpath(subpath.to_string()));
        }
        let mut tree = root;
        for (depth, part) in parts.iter().enumerate() {
            let walked = parts[..=depth].join("/");
            let entry = self
                .tree(&tree)?
                .entries
                .into_iter()
                .find(|entry| entry.name == part.as_bytes())
                .ok_or_else(|| Error::PathNotFound {
                    path: walked.clone(),
                    commit: *commit,
                })?;
            if entry.kind != EntryKind::Tree {
                return Err(Error::NotAFolder {
                    path: walked,
                    commit: *commit,
                    found: entry.kind.describe(),
                });
            }
            tree = entry.id;
        }
        Ok(tree)
    }
}

/// Makes sure `dest` is an empty folder, creating it if missing.
fn prepare_destination(dest: &Path) -> Result<(), Error> {
    match fs::metadata(dest) {
        Ok(meta) if meta.is_dir() => {
            let mut listing = fs::read_dir(dest).map_err(|e| Error::io("list", dest, e))?;
            if listing.next().is_some() {
                return Err(Error::DestinationNotEmpty {
                    path: dest.to_path_buf(),
                });
            }
            Ok(())
        }
        Ok(_) => Err(Error::DestinationNotEmpty {
            path: dest.to_path_buf(),
        }),
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            fs::create_dir_all(dest).map_err(|e| Error::io("create folder", dest, e))
        }
        Err(e) => Err(Error::io("read", dest, e)),
    }
}

/// The entry's name as a single path component, or an error if writing it
/// could leave the folder it belongs in or touch a `.git` folder.
fn safe_name<'a>(entry: &'a TreeEntry, parent: &str, tree: &ObjectId) -> Result<&'a OsStr, Error> {
    let name = entry.name.as_slice();
    let unsafe_name = || Error::UnsafeName {
        name: entry.name_lossy().into_owned(),
        parent: parent.to_string(),
        tree: *tree,
    };
    // Windows (and so a wasi host on Windows) drops trailing dots and
    // spaces, so `.git.` would land in `.git` there.
    let trimmed = name
        .iter()
        .rposition(|&b| b != b'.' && b != b' ')
        .map_or(&name[..0], |last| &name[..=last]);
    if name.is_empty()
        || name == b"."
        || name == b".."
        || name.contains(&b'/')
        || name.contains(&0)
        || (cfg!(windows) && name.contains(&b'\\'))
        || trimmed.eq_ignore_ascii_case(b".git")
    {
        return Err(unsafe_name());
    }
    os_name(name).ok_or_else(|| Error::Unsupported {
        path: PathBuf::from(join(parent, &entry.name_lossy())),
        what: "a file name that is not UTF-8 on this platform".to_string(),
    })
}

#[cfg(unix)]
fn os_name(name: &[u8]) -> Option<&OsStr> {
    use std::os::unix::ffi::OsStrExt;
    Some(OsStr::from_bytes(name))
}

#[cfg(not(unix))]
fn os_name(name: &[u8]) -> Option<&OsStr> {
    std::str::from_utf8(name).ok().map(OsStr::new)
}

fn join(parent: &str, name: &str) -> String {
    if parent.is_empty() {
        name.to_string()
    } else {
        format!("{parent}/{name}")
    }
}

/// Writes a new file; `create_new` so that a name seen twice in a crafted
/// tree, or a symlink written earlier, is never written through.
fn write_file(path: &Path, content: &[u8], executable: bool) -> Result<(), Error> {
    let mut options = OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        // As git does: the umask decides the final bits.
        options.mode(if executable { 0o777 } else { 0o666 });
    }
    #[cfg(not(unix))]
    let _ = executable;
    let mut file = options
        .open(path)
        .map_err(|e| write_error("create", path, e))?;
    file.write_all(content)
        .map_err(|e| Error::io("write", path, e))
}

/// Creates a symlink to `target`, or returns `false` where the platform
/// has no way to (std cannot create symlinks on wasi with stable Rust).
#[cfg(unix)]
fn create_symlink(path: &Path, target: &[u8]) -> Result<bool, Error> {
    use std::os::unix::ffi::OsStrExt;
    std::os::unix::fs::symlink(OsStr::from_bytes(target), path)
        .map_err(|e| write_error("create symlink", path, e))?;
    Ok(true)
}

#[cfg(not(unix))]
fn create_symlink(_path: &Path, _target: &[u8]) -> Result<bool, Error> {
    Ok(false)
}

/// An I/O error, where "already exists" means the tree named one path twice.
fn write_error(action: &'static str, path: &Path, e: io::Error) -> Error {
    if e.kind() == io::ErrorKind::AlreadyExists {
        Error::corrupt(
            format!("tree entry {}", path.display()),
            "the same name appears twice in one folder",
        )
    } else {
        Error::io(action, path, e)
    }
}
