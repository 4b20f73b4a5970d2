//! Copying a file or a folder from one root to another, as the `files`
//! host interface and the artifact store do it: never leaving either root,
//! keeping permission bits, recreating only the symbolic links that resolve
//! inside what was copied (judged again where they land), within a budget
//! of time, files and bytes.

use super::{Budget, BudgetError, LinkVerdict, Root, describe, open_dir_in, open_file_in};
use cap_fs_ext::{DirExt, FollowSymlinks, OpenOptionsFollowExt};
use cap_std::fs::{Dir, OpenOptions};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};

/// Deepest folder nesting a copy follows.
pub const MAX_DEPTH: usize = 128;

/// Bytes copied between two looks at the deadline.
const CHUNK: usize = 8 << 20;

/// What a copy did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CopyStats {
    /// Regular files copied.
    pub files: u64,
    /// Bytes in them.
    pub bytes: u64,
    /// Links recreated.
    pub links: u64,
    /// Links left out: they lead out of what was copied, or nowhere.
    pub skipped_links: u64,
}

/// Why a copy stopped.
#[derive(Debug, thiserror::Error)]
pub enum CopyError {
    /// The deadline passed, or a cap was reached.
    #[error(transparent)]
    Budget(#[from] BudgetError),
    /// The source is a pipe, a device.
    #[error("`{0}` is not a file or a folder")]
    NotFileOrFolder(String),
    /// The source is a symbolic link (never followed).
    #[error("`{0}` is a symbolic link: links are not followed")]
    IsLink(String),
    /// Something is in the way at the target.
    #[error("`{0}` is in the way: {1}")]
    InTheWay(String, &'static str),
    /// Folders nested deeper than [`MAX_DEPTH`].
    #[error("folders are nested more than {MAX_DEPTH} deep")]
    TooDeep,
    /// Reading or writing failed.
    #[error("{what}: {}", describe(source))]
    Io {
        /// What was being done, naming the path.
        what: String,
        /// Why it failed.
        source: io::Error,
    },
}

fn io_error(what: impl Into<String>) -> impl FnOnce(io::Error) -> CopyError {
    let what = what.into();
    move |source| CopyError::Io { what, source }
}

/// Copies the file or folder `from` (below `source`) to `to` (below
/// `target`), creating folders as needed and replacing files in the way.
pub fn copy(
    source: &Root,
    from: &Path,
    target: &Root,
    to: &Path,
    budget: &mut Budget,
) -> Result<CopyStats, CopyError> {
    let shown = |p: &Path| p.display().to_string();
    let kind = source
        .dir()
        .symlink_metadata(from)
        .map_err(io_error(format!("reading `{}`", shown(from))))?
        .file_type();
    let mut stats = CopyStats::default();
    if kind.is_file() {
        if let Some(parent) = to.parent().filter(|p| !p.as_os_str().is_empty()) {
            target
                .dir()
                .create_dir_all(parent)
                .map_err(io_error(format!("creating `{}`", shown(parent))))?;
        }
        let (src_dir, src_name) = parent_and_name(source.dir(), from)?;
        let (dst_dir, dst_name) = parent_and_name(target.dir(), to)?;
        copy_file(
            &src_dir, &src_name, &dst_dir, &dst_name, to, budget, &mut stats,
        )?;
        return Ok(stats);
    }
    if kind.is_symlink() {
        return Err(CopyError::IsLink(shown(from)));
    }
    if !kind.is_dir() {
        return Err(CopyError::NotFileOrFolder(shown(from)));
    }
    if to != Path::new(".") {
        target
            .dir()
            .create_dir_all(to)
            .map_err(io_error(format!("creating `{}`", shown(to))))?;
    }
    let src_top = source.sub_nofollow(from)?;
    let dst_top = target.sub_nofollow(to)?;
    let mut links: Vec<(PathBuf, PathBuf)> = Vec::new();
    let mut pending = vec![(
        src_top.dir().try_clone().map_err(io_error("opening"))?,
        dst_top.dir().try_clone().map_err(io_error("opening"))?,
        PathBuf::new(),
    )];
    while let Some((src, dst, relative)) = pending.pop() {
        budget.in_time()?;
        let entries = src.entries().map_err(io_error(format!(
            "listing `{}`",
            shown(&from.join(&relative))
        )))?;
        for entry in entries {
            let entry = entry.map_err(io_error("listing a folder"))?;
            let name = PathBuf::from(entry.file_name());
            let path = relative.join(&name);
            let kind = entry
                .file_type()
                .map_err(io_error(format!("reading `{}`", shown(&path))))?;
            if kind.is_dir() {
                if super::depth(&path) > MAX_DEPTH {
                    return Err(CopyError::TooDeep);
                }
                budget.take(1, 0)?;
                ensure_dir(&dst, &name, &path)?;
                let next_src = open_dir_in(&src, &name)
                    .map_err(io_error(format!("opening `{}`", shown(&path))))?;
                let next_dst = open_dir_in(&dst, &name)
                    .map_err(io_error(format!("opening `{}`", shown(&to.join(&path)))))?;
                pending.push((next_src, next_dst, path));
            } else if kind.is_file() {
                copy_file(
                    &src,
                    &name,
                    &dst,
                    &name,
                    &to.join(&path),
                    budget,
                    &mut stats,
                )?;
            } else if kind.is_symlink() {
                match src_top.judge_link(&path) {
                    LinkVerdict::Inside(_) => {
                        let target_text = src
                            .read_link_contents(&name)
                            .map_err(io_error(format!("reading link `{}`", shown(&path))))?;
                        links.push((path, target_text));
                    }
                    LinkVerdict::Outside | LinkVerdict::Dangling => stats.skipped_links += 1,
                }
            }
            // Pipes, sockets and devices are not copied.
        }
    }
    // Links last, once everything they may point at is there, each judged
    // again where it lands.
    for (path, target_text) in links {
        budget.take(1, 0)?;
        match dst_top.dir().symlink_metadata(&path) {
            Ok(existing) if existing.is_dir() => {
                stats.skipped_links += 1;
                continue;
            }
            Ok(_) => dst_top
                .dir()
                .remove_file(&path)
                .map_err(io_error(format!("replacing `{}`", shown(&to.join(&path)))))?,
            Err(_) => {}
        }
        if dst_top.dir().symlink(&target_text, &path).is_err() {
            stats.skipped_links += 1;
            continue;
        }
        if matches!(dst_top.judge_link(&path), LinkVerdict::Inside(_)) {
            stats.links += 1;
        } else {
            let _ = dst_top.dir().remove_file(&path);
            stats.skipped_links += 1;
        }
    }
    Ok(stats)
}

/// The folder holding `path` (opened inside `dir`) and its last name.
fn parent_and_name(dir: &Dir, path: &Path) -> Result<(Dir, PathBuf), CopyError> {
    let name = path
        .file_name()
        .ok_or_else(|| CopyError::NotFileOrFolder(path.display().to_string()))?;
    let parent = match path.parent().filter(|p| !p.as_os_str().is_empty()) {
        Some(parent) => dir
            .open_dir(parent)
            .map_err(io_error(format!("opening `{}`", parent.display())))?,
        None => dir.try_clone().map_err(io_error("opening"))?,
    };
    Ok((parent, PathBuf::from(name)))
}

/// Makes sure `name` in `dir` is a real folder (a file or link in the way
/// is replaced).
fn ensure_dir(dir: &Dir, name: &Path, shown: &Path) -> Result<(), CopyError> {
    match dir.symlink_metadata(name) {
        Ok(existing) if existing.is_dir() => return Ok(()),
        Ok(_) => dir
            .remove_file(name)
            .map_err(io_error(format!("replacing `{}`", shown.display())))?,
        Err(_) => {}
    }
    dir.create_dir(name)
        .map_err(io_error(format!("creating `{}`", shown.display())))
}

/// Copies one regular file between two open folders, keeping its
/// executable bits, within the budget.
fn copy_file(
    src_dir: &Dir,
    src_name: &Path,
    dst_dir: &Dir,
    dst_name: &Path,
    shown: &Path,
    budget: &mut Budget,
    stats: &mut CopyStats,
) -> Result<(), CopyError> {
    use cap_std::fs::{MetadataExt, PermissionsExt};
    budget.in_time()?;
    let what = || format!("copying to `{}`", shown.display());
    let source = open_file_in(src_dir, src_name).map_err(io_error(what()))?;
    let metadata = source.metadata().map_err(io_error(what()))?;
    let size = metadata.len();
    budget.take(1, size)?;
    match dst_dir.symlink_metadata(dst_name) {
        Ok(existing) if existing.is_dir() => {
            return Err(CopyError::InTheWay(
                shown.display().to_string(),
                "a folder has that name",
            ));
        }
        Ok(_) => dst_dir.remove_file(dst_name).map_err(io_error(what()))?,
        Err(_) => {}
    }
    let mut options = OpenOptions::new();
    options
        .write(true)
        .create_new(true)
        .follow(FollowSymlinks::No);
    let mut target = dst_dir
        .open_with(dst_name, &options)
        .map_err(io_error(what()))?;
    // At most the size counted: a file growing while it is copied does
    // not get past the budget.
    copy_bytes(&source, &mut target, size, budget).map_err(|e| match e {
        CopyError::Io { source, .. } => CopyError::Io {
            what: what(),
            source,
        },
        other => other,
    })?;
    // Executable bits kept; the copy is the owner's to change (artifact
    // files are stored read-only).
    let mode = metadata.mode() & 0o755 | 0o600;
    target
        .set_permissions(cap_std::fs::Permissions::from_mode(mode))
        .map_err(io_error(what()))?;
    stats.files += 1;
    stats.bytes += size;
    Ok(())
}

/// Copies `size` bytes in chunks (in the kernel where it can), looking at
/// the deadline between chunks.
fn copy_bytes(
    source: &cap_std::fs::File,
    target: &mut cap_std::fs::File,
    size: u64,
    budget: &Budget,
) -> Result<(), CopyError> {
    let mut copied = 0u64;
    while copied < size {
        budget.in_time()?;
        let want = (size - copied).min(CHUNK as u64) as usize;
        match rustix::fs::copy_file_range(source, None, &*target, None, want) {
            Ok(0) => return Ok(()),
            Ok(n) => copied += n as u64,
            Err(_) => break,
        }
    }
    // Where the kernel cannot copy between these files: read and write.
    let mut rest = source.take(size - copied);
    let mut buffer = vec![0u8; 256 << 10];
    let mut since_check = 0usize;
    loop {
        let n = rest.read(&mut buffer).map_err(io_error("reading"))?;
        if n == 0 {
            return Ok(());
        }
        target
            .write_all(&buffer[..n])
            .map_err(io_error("writing"))?;
        since_check += n;
        if since_check >= CHUNK {
            since_check = 0;
            budget.in_time()?;
        }
    }
}

impl Root {
    /// The folder `relative` below this root as a root of its own, refusing
    /// a link as its last component.
    pub fn sub_nofollow(&self, relative: &Path) -> Result<Root, CopyError> {
        if relative == Path::new(".") {
            return self.sub(relative).map_err(io_error("opening"));
        }
        let (parent, name) = parent_and_name(self.dir(), relative)?;
        let dir = parent.open_dir_nofollow(&name).map_err(|source| {
            if parent
                .symlink_metadata(&name)
                .is_ok_and(|m| m.file_type().is_symlink())
            {
                CopyError::InTheWay(relative.display().to_string(), "it is a symbolic link")
            } else {
                CopyError::Io {
                    what: format!("opening `{}`", relative.display()),
                    source,
                }
            }
        })?;
        Ok(Root::from_dir(dir, self.host_path().join(relative)))
    }
}
