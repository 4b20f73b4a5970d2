//! Refs: branch, tag and `HEAD` names pointing at commits, stored as loose
//! files under `refs/` or as lines of `packed-refs`.
//!
//! Only the files backend is read; repositories using reftable are refused
//! when opened (see `repo.rs`).

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use crate::{Error, ObjectId};

/// Git gives up after 5 levels of `ref: ...` indirection; so do we.
const MAX_SYMREF_DEPTH: usize = 5;

/// What a ref holds.
#[derive(Debug, PartialEq, Eq)]
enum RefValue {
    Direct(ObjectId),
    /// `ref: refs/heads/main`, as `HEAD` usually is.
    Symbolic(String),
}

/// Where following a ref ended.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Lookup {
    Found(ObjectId),
    /// No ref of this name: either the one asked for, or the one a symbolic
    /// ref points to (an unborn branch, as `HEAD` is in a new repository).
    Missing(String),
}

pub(crate) struct Refs {
    /// Holds `HEAD` and the other per-worktree refs.
    git_dir: PathBuf,
    /// Holds `refs/`, `packed-refs`, shared by all worktrees.
    common_dir: PathBuf,
}

impl Refs {
    pub(crate) fn new(git_dir: &Path, common_dir: &Path) -> Refs {
        Refs {
            git_dir: git_dir.to_path_buf(),
            common_dir: common_dir.to_path_buf(),
        }
    }

    /// Follows `name` (a full ref name such as `HEAD` or `refs/heads/main`)
    /// through symbolic refs to an object id.
    pub(crate) fn follow(&self, name: &str) -> Result<Lookup, Error> {
        let mut packed = None;
        let mut current = name.to_string();
        for _ in 0..=MAX_SYMREF_DEPTH {
            match self.read(&current, &mut packed)? {
                Some(RefValue::Direct(id)) => return Ok(Lookup::Found(id)),
                Some(RefValue::Symbolic(target)) => current = target,
                None => return Ok(Lookup::Missing(current)),
            }
        }
        Err(Error::corrupt(
            format!("ref {name}"),
            format!("symbolic refs nest more than {MAX_SYMREF_DEPTH} deep"),
        ))
    }

    /// The names of all local branches, without `refs/heads/`, sorted.
    pub(crate) fn branches(&self) -> Result<Vec<String>, Error> {
        let mut names = Vec::new();
        let heads = self.common_dir.join("refs").join("heads");
        collect_loose(&heads, "", &mut names)?;
        for (name, _) in self.packed()? {
            if let Some(branch) = name.strip_prefix("refs/heads/") {
                names.push(branch.to_string());
            }
        }
        names.sort();
        names.dedup();
        Ok(names)
    }

    /// Per-worktree refs live in the worktree's own git folder; git lists
    /// these prefixes as such (see `git help worktree`, "REFS").
    fn dir_for(&self, name: &str) -> &Path {
        let per_worktree = !name.contains('/')
            || ["refs/bisect/", "refs/worktree/", "refs/rewritten/"]
                .iter()
                .any(|prefix| name.starts_with(prefix));
        if per_worktree {
            &self.git_dir
        } else {
            &self.common_dir
        }
    }

    /// The ref `name` from its loose file, or else from `packed-refs`
    /// (read once per lookup into `packed`).
    fn read(
        &self,
        name: &str,
        packed: &mut Option<Vec<(String, ObjectId)>>,
    ) -> Result<Option<RefValue>, Error> {
        if let Some(value) = self.read_loose(name)? {
            return Ok(Some(value));
        }
        if !name.starts_with("refs/") {
            return Ok(None);
        }
        if packed.is_none() {
            *packed = Some(self.packed()?);
        }
        Ok(packed
            .iter()
            .flatten()
            .find(|(packed_name, _)| packed_name == name)
            .map(|(_, id)| RefValue::Direct(*id)))
    }

    fn read_loose(&self, name: &str) -> Result<Option<RefValue>, Error> {
        let path = self.dir_for(name).join(name);
        let text = match fs::read(&path) {
            Ok(text) => text,
            // A folder of that name (`refs/heads/feature` when
            // `feature/x` exists) is no ref either.
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::NotFound | io::ErrorKind::NotADirectory
                ) =>
            {
                return Ok(None);
            }
            Err(_) if path.is_dir() => return Ok(None),
            Err(e) => return Err(Error::io("read", &path, e)),
        };
        let corrupt = |detail: &str| Error::corrupt(format!("ref file {}", path.display()), detail);
        let text = String::from_utf8(text).map_err(|_| corrupt("not text"))?;
        let text = text.trim_end();
        if let Some(target) = text.strip_prefix("ref:") {
            let target = target.trim();
            if !is_valid_name(target) {
                return Err(corrupt("symbolic ref to an invalid name"));
            }
            return Ok(Some(RefValue::Symbolic(target.to_string())));
        }
        // `FETCH_HEAD` and friends put more after the id on the same line.
        let id_ends =
            text.len() == 40 || text.as_bytes().get(40).is_some_and(u8::is_ascii_whitespace);
        match ObjectId::from_hex_prefix(text.as_bytes()) {
            Some(id) if id_ends => Ok(Some(RefValue::Direct(id))),
            _ => Err(corrupt("holds neither an object id nor `ref: <name>`")),
        }
    }

    /// The entries of `packed-refs`: `<id> <name>` lines, with `^<id>` lines
    /// (the peeled target of the tag above) skipped since tags are peeled by
    /// reading them.
    fn packed(&self) -> Result<Vec<(String, ObjectId)>, Error> {
        let path = self.common_dir.join("packed-refs");
        let text = match fs::read(&path) {
            Ok(text) => text,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(Error::io("read", &path, e)),
        };
        let mut refs = Vec::new();
        for (number, line) in text.split(|&b| b == b'\n').enumerate() {
            let line = line.strip_suffix(b"\r").unwrap_or(line);
            if line.is_empty() || line[0] == b'#' || line[0] == b'^' {
                continue;
            }
            let id = ObjectId::from_hex_prefix(line).filter(|_| line.get(40) == Some(&b' '));
            let name = line
                .get(41..)
                .and_then(|name| std::str::from_utf8(name).ok());
            match (id, name) {
                (Some(id), Some(name)) => refs.push((name.to_string(), id)),
                _ => {
                    return Err(Error::corrupt(
                        format!("packed-refs {}", path.display()),
                        format!("line {} is not `<id> <ref name>`", number + 1),
                    ));
                }
            }
        }
        Ok(refs)
    }
}

/// Adds the ref files under `dir` to `names`, as `prefix` + their path.
fn collect_loose(dir: &Path, prefix: &str, names: &mut Vec<String>) -> Result<(), Error> {
    let listing = match fs::read_dir(dir) {
        Ok(listing) => listing,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(Error::io("list", dir, e)),
    };
    for entry in listing {
        let entry = entry.map_err(|e| Error::io("list", dir, e))?;
        // Names that are not UTF-8 cannot be valid ref names.
        let Ok(file_name) = entry.file_name().into_string() else {
            continue;
        };
        let name = format!("{prefix}{file_name}");
        let file_type = entry.file_type().map_err(|e| Error::io("list", dir, e))?;
        if file_type.is_dir() {
            collect_loose(&entry.path(), &format!("{name}/"), names)?;
        } else if is_valid_name(&name) {
            // `.lock` files of an update in progress fail this check.
            names.push(name);
        }
    }
    Ok(())
}

/// Whether `name` follows git's ref name rules (`git check-ref-format`),
/// which also keeps it from reaching outside the git folder as a path.
pub(crate) fn is_valid_name(name: &str) -> bool {
    let bad_char =
        |c: char| c.is_control() || matches!(c, ' ' | '~' | '^' | ':' | '?' | '*' | '[' | '\\');
    !name.is_empty()
        && name != "@"
        && !name.ends_with('.')
        && !name.contains("..")
        && !name.contains("@{")
        && !name.chars().any(bad_char)
        && name
            .split('/')
            .all(|part| !part.is_empty() && !part.starts_with('.') && !part.ends_with(".lock"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ref_name_rules() {
        for good in ["main", "feature/x", "refs/heads/a-b_c", "v1.0", "HEAD"] {
            assert!(is_valid_name(good), "{good}");
        }
        for bad in [
            "", "/main", "main/", "a//b", "../x", "a/../b", ".hidden", "a/.b", "x.lock", "a b",
            "a~1", "a^", "a:b", "a?", "a*", "a[", "a\\b", "a@{1}", "@", "end.", "a\u{7}",
        ] {
            assert!(!is_valid_name(bad), "{bad}");
        }
    }
}
