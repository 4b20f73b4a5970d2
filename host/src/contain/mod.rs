//! Containment: every file operation the host does on a path a provider
//! could influence is resolved inside a capability root, never on a joined
//! string.
//!
//! A [`Root`] is an open handle on a folder (`cap_std::fs::Dir`). Every
//! operation through it is resolved beneath it by the kernel (`openat2` with
//! `RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS`, or cap-std's own
//! component-by-component walk where `openat2` is missing): a `..`, an
//! absolute path or a symbolic link (a chain of them included) that would
//! lead out is refused, whenever it was planted, so there is no window
//! between a check and a use. [`relative`] is the one place a guest's path
//! text becomes a path below a root; [`Root::judge_link`] is the one place a
//! link is judged, by where it finally resolves.
//!
//! Callers: the `files` and `components` host interfaces and programs'
//! working folders (`sandbox/host/`), reading outputs back and storing
//! artifacts (`artifacts/`), recycling job folders (`engine/workspace.rs`).

pub mod copy;

use cap_fs_ext::{DirExt, FollowSymlinks, OpenOptionsFollowExt};
use cap_std::fs::{Dir, File, OpenOptions};
use std::io;
use std::path::{Component, Path, PathBuf};
use std::time::Instant;

/// Why a guest's path was refused before anything was opened.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PathError {
    /// It climbs out with `..`.
    #[error("`{0}` leads outside its folder (`..`)")]
    Climbs(String),
    /// It holds a NUL byte.
    #[error("`{0}` holds a NUL character")]
    Nul(String),
}

/// A guest's path below a root, checked lexically: `.` and empty segments
/// dropped, `..` refused (even when it would come back down: a guest has no
/// reason to write it, and the kernel check below would need to follow links
/// to judge it). The result is relative (`.` for the root itself). This is
/// only the first check: every use goes through a [`Root`], which refuses
/// links that lead out.
pub fn relative(path: &str) -> Result<PathBuf, PathError> {
    if path.contains('\0') {
        return Err(PathError::Nul(path.escape_debug().to_string()));
    }
    let mut out = PathBuf::new();
    for part in path.split('/') {
        match part {
            "" | "." => {}
            ".." => return Err(PathError::Climbs(path.to_string())),
            name => out.push(name),
        }
    }
    if out.as_os_str().is_empty() {
        out.push(".");
    }
    Ok(out)
}

/// Whether an I/O error is cap-std's refusal of a path that leads out of
/// its root.
pub fn is_escape(error: &io::Error) -> bool {
    error.kind() == io::ErrorKind::PermissionDenied && error.raw_os_error().is_none()
}

/// An I/O error in a user's words: an escape says so.
pub fn describe(error: &io::Error) -> String {
    if is_escape(error) {
        "it leads outside its folder (through `..` or a symbolic link)".to_string()
    } else {
        error.to_string()
    }
}

/// What one copy (or a job's copies together) may use.
#[derive(Debug, Clone, Copy)]
pub struct Budget {
    /// When the copy must stop.
    pub deadline: Option<Instant>,
    /// Most bytes (apparent sizes: a sparse file counts whole).
    pub max_bytes: u64,
    /// Most files and folders.
    pub max_entries: u64,
    /// Bytes used so far.
    pub bytes: u64,
    /// Files and folders made so far.
    pub entries: u64,
}

impl Budget {
    /// No limit at all (the store copying its own trees).
    pub fn unlimited() -> Budget {
        Budget {
            deadline: None,
            max_bytes: u64::MAX,
            max_entries: u64::MAX,
            bytes: 0,
            entries: 0,
        }
    }

    /// Caps of `max_bytes` and `max_entries` with no deadline (reading
    /// outputs back is the host's own work, bounded by the caps).
    pub fn caps(max_bytes: u64, max_entries: u64) -> Budget {
        Budget {
            deadline: None,
            max_bytes,
            max_entries,
            bytes: 0,
            entries: 0,
        }
    }

    /// Fails once the deadline passed.
    pub fn in_time(&self) -> Result<(), BudgetError> {
        match self.deadline {
            Some(deadline) if Instant::now() >= deadline => Err(BudgetError::Deadline),
            _ => Ok(()),
        }
    }

    /// Takes `entries` files or folders and `bytes` bytes, or fails naming
    /// the cap they would pass.
    pub fn take(&mut self, entries: u64, bytes: u64) -> Result<(), BudgetError> {
        if self.entries.saturating_add(entries) > self.max_entries {
            return Err(BudgetError::TooManyEntries {
                limit: self.max_entries,
            });
        }
        if self.bytes.saturating_add(bytes) > self.max_bytes {
            return Err(BudgetError::TooManyBytes {
                limit: self.max_bytes,
            });
        }
        self.entries += entries;
        self.bytes += bytes;
        Ok(())
    }
}

/// Why work done for a guest stopped.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BudgetError {
    /// The deadline passed.
    #[error("the action's deadline passed")]
    Deadline,
    /// The byte cap is reached.
    #[error("it holds more than the action's limit of {} (output_size)", crate::units::format_bytes(*limit))]
    TooManyBytes {
        /// The limit.
        limit: u64,
    },
    /// The file cap is reached.
    #[error(
        "it holds more than the action's limit of {limit} files, folders and links (output_files)"
    )]
    TooManyEntries {
        /// The limit.
        limit: u64,
    },
}

/// Where a symbolic link finally leads, judged inside a root.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LinkVerdict {
    /// It resolves (through any chain of links) to something inside the
    /// root: the path of what it reaches, relative to the root.
    Inside(PathBuf),
    /// It leads out of the root (absolute, climbing, or through another
    /// link that does).
    Outside,
    /// It leads nowhere (its target does not exist, or the chain loops).
    Dangling,
}

/// A folder the host works in on a provider's behalf.
#[derive(Debug)]
pub struct Root {
    dir: Dir,
    host: PathBuf,
}

impl Root {
    /// Opens the folder at `host`, a path the host chose (a job's folder, a
    /// stored artifact). Links in `host` itself are followed: it is not the
    /// guest's.
    pub fn open(host: &Path) -> io::Result<Root> {
        let dir = Dir::open_ambient_dir(host, cap_std::ambient_authority())?;
        Ok(Root {
            dir,
            host: host.to_path_buf(),
        })
    }

    /// Opens the folder at `host` only when no component of the path is a
    /// symbolic link: for folders a pipeline grants by an absolute path
    /// that someone else could have turned into a link since it was
    /// checked (`host` must be absolute and canonical).
    pub fn open_exact(host: &Path) -> io::Result<Root> {
        let fd = open_exact(host)?;
        let dir = Dir::from_std_file(std::fs::File::from(fd));
        Ok(Root {
            dir,
            host: host.to_path_buf(),
        })
    }

    /// A root on a folder handle already open (`host` is where it is, for
    /// messages).
    pub fn from_dir(dir: Dir, host: PathBuf) -> Root {
        Root { dir, host }
    }

    /// The folder's handle: every path given to it resolves beneath it.
    pub fn dir(&self) -> &Dir {
        &self.dir
    }

    /// Where the folder is on the host, for messages and for the sandbox's
    /// own mounts (never for operations on what is inside it).
    pub fn host_path(&self) -> &Path {
        &self.host
    }

    /// The folder below this root at `relative`, as a root of its own
    /// (links inside it followed only while they stay inside).
    pub fn sub(&self, relative: &Path) -> io::Result<Root> {
        let dir = if relative == Path::new(".") {
            self.dir.try_clone()?
        } else {
            self.dir.open_dir(relative)?
        };
        Ok(Root {
            dir,
            host: self.host.join(relative),
        })
    }

    /// Judges the symbolic link at `link` (relative to this root) by where
    /// it finally resolves, following chains inside the root.
    pub fn judge_link(&self, link: &Path) -> LinkVerdict {
        match self.dir.canonicalize(link) {
            Ok(resolved) => LinkVerdict::Inside(resolved),
            Err(error) if is_escape(&error) => LinkVerdict::Outside,
            Err(_) => LinkVerdict::Dangling,
        }
    }

    /// Opens a regular file for reading without following a link at its
    /// last component and without blocking on a pipe; anything but a
    /// regular file is refused.
    pub fn open_file(&self, relative: &Path) -> io::Result<File> {
        open_file_in(&self.dir, relative)
    }

    /// Opens a regular file for reading, following links only while they
    /// stay inside the root (one that leads out is refused as an escape);
    /// a pipe or device is refused, never waited on.
    pub fn open_file_inside(&self, relative: &Path) -> io::Result<File> {
        let mut options = OpenOptions::new();
        options.read(true);
        {
            use cap_std::fs::OpenOptionsExt;
            options.custom_flags(rustix::fs::OFlags::NONBLOCK.bits() as i32);
        }
        let file = self.dir.open_with(relative, &options)?;
        if !file.metadata()?.is_file() {
            return Err(io::Error::other("not a regular file"));
        }
        Ok(file)
    }
}

/// Opens the regular file `relative` inside `dir` for reading (a final link
/// is not followed; a pipe or device is refused, never waited on).
pub fn open_file_in(dir: &Dir, relative: &Path) -> io::Result<File> {
    let mut options = OpenOptions::new();
    options.read(true).follow(FollowSymlinks::No);
    {
        use cap_std::fs::OpenOptionsExt;
        options.custom_flags(rustix::fs::OFlags::NONBLOCK.bits() as i32);
    }
    let file = dir.open_with(relative, &options)?;
    if !file.metadata()?.is_file() {
        return Err(io::Error::other("not a regular file"));
    }
    Ok(file)
}

/// Opens the folder `name` inside `dir` without following a link.
pub fn open_dir_in(dir: &Dir, name: &Path) -> io::Result<Dir> {
    dir.open_dir_nofollow(name)
}

/// Opens `path` (absolute) as a folder, refusing it if any component is a
/// symbolic link.
fn open_exact(path: &Path) -> io::Result<std::os::fd::OwnedFd> {
    use rustix::fs::{Mode, OFlags, ResolveFlags};
    if !path.is_absolute() {
        return Err(io::Error::other(format!(
            "{} is not an absolute path",
            path.display()
        )));
    }
    let flags = OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC;
    match rustix::fs::openat2(
        rustix::fs::CWD,
        path,
        flags,
        Mode::empty(),
        ResolveFlags::NO_SYMLINKS | ResolveFlags::NO_MAGICLINKS,
    ) {
        Ok(fd) => Ok(fd),
        Err(rustix::io::Errno::NOSYS) => {
            // No openat2 (Linux before 5.6): the canonical form must be
            // the path itself. This leaves a window between the check and
            // the open that openat2 closes.
            if std::fs::canonicalize(path)? != path {
                return Err(links_in(path));
            }
            Ok(rustix::fs::open(path, flags, Mode::empty())?)
        }
        Err(rustix::io::Errno::LOOP) => Err(links_in(path)),
        Err(errno) => Err(errno.into()),
    }
}

fn links_in(path: &Path) -> io::Error {
    io::Error::other(format!(
        "{} has a symbolic link in its path (it changed since it was granted)",
        path.display()
    ))
}

/// The lexical depth of `path` (number of normal components).
pub fn depth(path: &Path) -> usize {
    path.components()
        .filter(|c| matches!(c, Component::Normal(_)))
        .count()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::symlink;

    #[test]
    fn guest_paths_become_relative_or_are_refused() {
        assert_eq!(relative("a/./b//c").unwrap(), PathBuf::from("a/b/c"));
        assert_eq!(relative("").unwrap(), PathBuf::from("."));
        assert_eq!(relative("/").unwrap(), PathBuf::from("."));
        assert!(matches!(relative("a/../b"), Err(PathError::Climbs(_))));
        assert!(matches!(relative(".."), Err(PathError::Climbs(_))));
        assert!(matches!(relative("a\0b"), Err(PathError::Nul(_))));
    }

    /// A tree with links that stay inside, climb out, chain out, point at
    /// an absolute path or nowhere.
    fn tree() -> (tempfile::TempDir, Root) {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("root");
        std::fs::create_dir_all(root.join("sub/deeper")).unwrap();
        std::fs::write(root.join("sub/file.txt"), "inside").unwrap();
        std::fs::write(dir.path().join("secret"), "outside").unwrap();
        // Each harmless lexically; together they leave: `a` resolves to
        // the root, so `chain` (`a/..`) is the root's parent.
        symlink("..", root.join("sub/a")).unwrap();
        symlink("sub/a/..", root.join("chain")).unwrap();
        symlink("sub/file.txt", root.join("good")).unwrap();
        symlink("good", root.join("good2")).unwrap();
        symlink("../secret", root.join("climb")).unwrap();
        symlink(dir.path().join("secret"), root.join("absolute")).unwrap();
        symlink("missing", root.join("dangling")).unwrap();
        symlink("loop2", root.join("loop1")).unwrap();
        symlink("loop1", root.join("loop2")).unwrap();
        let opened = Root::open(&root).unwrap();
        (dir, opened)
    }

    #[test]
    fn links_are_judged_by_where_they_finally_resolve() {
        let (_dir, root) = tree();
        assert_eq!(
            root.judge_link(Path::new("good2")),
            LinkVerdict::Inside(PathBuf::from("sub/file.txt"))
        );
        assert_eq!(
            root.judge_link(Path::new("sub/a")),
            LinkVerdict::Inside(PathBuf::from("."))
        );
        for out in ["chain", "climb", "absolute"] {
            assert_eq!(
                root.judge_link(Path::new(out)),
                LinkVerdict::Outside,
                "{out}"
            );
        }
        for nowhere in ["dangling", "loop1"] {
            assert_eq!(
                root.judge_link(Path::new(nowhere)),
                LinkVerdict::Dangling,
                "{nowhere}"
            );
        }
    }

    #[test]
    fn opening_through_any_escaping_link_is_refused() {
        let (_dir, root) = tree();
        assert_eq!(
            std::io::read_to_string(root.open_file(Path::new("sub/file.txt")).unwrap()).unwrap(),
            "inside"
        );
        for path in ["chain/secret", "climb", "absolute", "sub/a/../secret"] {
            let error = root.dir().open(path).unwrap_err();
            assert!(is_escape(&error), "{path}: {error}");
        }
        // A link as the last component is not followed by `open_file`.
        assert!(root.open_file(Path::new("good")).is_err());
        // A pipe is refused at once, never waited on.
        rustix::fs::mknodat(
            rustix::fs::CWD,
            root.host_path().join("pipe"),
            rustix::fs::FileType::Fifo,
            rustix::fs::Mode::from_raw_mode(0o644),
            0,
        )
        .unwrap();
        assert!(root.open_file(Path::new("pipe")).is_err());
    }

    #[test]
    fn exact_opens_refuse_a_link_anywhere_in_the_path() {
        let dir = tempfile::tempdir().unwrap();
        let real = dir.path().canonicalize().unwrap().join("real");
        std::fs::create_dir(&real).unwrap();
        symlink(&real, dir.path().join("alias")).unwrap();
        assert!(Root::open_exact(&real).is_ok());
        let alias = dir.path().canonicalize().unwrap().join("alias");
        let error = Root::open_exact(&alias).unwrap_err().to_string();
        assert!(error.contains("symbolic link"), "{error}");
    }
}
