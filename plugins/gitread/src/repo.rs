//! Opening a repository and resolving names to commits.

use std::fs;
use std::path::{Path, PathBuf};

use crate::objects::{Commit, Object, ObjectKind, TagTarget, Tree};
use crate::odb::Odb;
use crate::refs::{self, Lookup, Refs};
use crate::{Error, ObjectId};

/// Annotated tags can point at other tags; a longer chain than this is
/// taken as a loop in a corrupt repository.
const MAX_TAG_DEPTH: usize = 16;

/// A repository on disk, read without git.
pub struct Repository {
    /// The path as given to [`Repository::open`], for messages.
    path: PathBuf,
    /// The git folder: `.git`, a bare repository, or a linked worktree's
    /// folder under the main repository's `.git/worktrees/`.
    git_dir: PathBuf,
    /// Where objects and shared refs are: the git folder, or for a linked
    /// worktree the main repository's.
    common_dir: PathBuf,
    work_tree: Option<PathBuf>,
    refs: Refs,
    pub(crate) odb: Odb,
}

impl std::fmt::Debug for Repository {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Repository")
            .field("git_dir", &self.git_dir)
            .field("common_dir", &self.common_dir)
            .field("work_tree", &self.work_tree)
            .finish_non_exhaustive()
    }
}

impl Repository {
    /// Opens the repository at `path`: a working tree (with a `.git` folder,
    /// or a `.git` file saying `gitdir: ...` as worktrees and submodules
    /// have), or a bare repository. A `file://` URL is accepted too.
    ///
    /// The path must be the repository's top folder: parent folders are not
    /// searched, so a pipeline never silently reads a different repository.
    pub fn open(path: &Path) -> Result<Repository, Error> {
        let path = local_path(path)?;
        let not_a_repo = |reason: String| Error::NotARepository {
            path: path.clone(),
            reason,
        };
        if !path.exists() {
            return Err(not_a_repo("the path does not exist".to_string()));
        }
        let dot_git = path.join(".git");
        let (git_dir, work_tree) = if dot_git.is_dir() {
            (dot_git, Some(path.clone()))
        } else if dot_git.is_file() {
            (read_gitdir_file(&dot_git)?, Some(path.clone()))
        } else if is_git_dir(&path) {
            (path.clone(), None)
        } else {
            return Err(not_a_repo(
                "it has no `.git` folder or file and is not a bare repository".to_string(),
            ));
        };
        if !is_git_dir(&git_dir) {
            return Err(not_a_repo(format!(
                "{} has no HEAD and objects folder",
                git_dir.display()
            )));
        }
        let common_dir = match fs::read_to_string(git_dir.join("commondir")) {
            Ok(text) => git_dir.join(text.trim_end_matches(['\n', '\r'])),
            Err(_) => git_dir.clone(),
        };
        check_format(&common_dir)?;
        Ok(Repository {
            refs: Refs::new(&git_dir, &common_dir),
            odb: Odb::open(&common_dir.join("objects")),
            path,
            git_dir,
            common_dir,
            work_tree,
        })
    }

    /// The git folder (`.git` of a working tree, or the bare repository).
    pub fn git_dir(&self) -> &Path {
        &self.git_dir
    }

    /// The working tree, unless the repository is bare.
    pub fn work_tree(&self) -> Option<&Path> {
        self.work_tree.as_deref()
    }

    /// The commit that `name` stands for: `HEAD`, a branch (`main`,
    /// `feature/x`, `refs/heads/main`), a tag (`v1`, `refs/tags/v1`), a
    /// remote-tracking branch (`origin/main`), or a full 40-digit id.
    /// Annotated tags are peeled to the commit they tag.
    ///
    /// Where a branch and a tag share a name, the branch wins (git's
    /// `rev-parse` prefers the tag): callers here ask for branches.
    pub fn resolve(&self, name: &str) -> Result<ObjectId, Error> {
        if ObjectId::is_full_hex(name) {
            return self.peel_to_commit(name.parse()?);
        }
        if !refs::is_valid_name(name) {
            return Err(Error::InvalidName(name.to_string()));
        }
        let pseudo_ref = !name.contains('/')
            && name.ends_with("HEAD")
            && name.bytes().all(|b| b.is_ascii_uppercase() || b == b'_');
        let candidates = if pseudo_ref || name.starts_with("refs/") {
            vec![name.to_string()]
        } else {
            vec![
                format!("refs/heads/{name}"),
                format!("refs/tags/{name}"),
                format!("refs/{name}"),
                format!("refs/remotes/{name}"),
                format!("refs/remotes/{name}/HEAD"),
            ]
        };
        let mut dangling = None;
        for candidate in &candidates {
            match self.refs.follow(candidate)? {
                Lookup::Found(id) => return self.peel_to_commit(id),
                // A symbolic ref to a branch that does not exist (yet).
                Lookup::Missing(target) if target != *candidate => {
                    dangling.get_or_insert(target);
                }
                Lookup::Missing(_) => {}
            }
        }
        let missing = dangling.as_deref().unwrap_or(name);
        Err(Error::RefNotFound {
            name: missing
                .strip_prefix("refs/heads/")
                .unwrap_or(missing)
                .to_string(),
            repo: self.path.clone(),
            branches: self.branches().unwrap_or_default(),
        })
    }

    /// The local branch names, sorted, without `refs/heads/`.
    pub fn branches(&self) -> Result<Vec<String>, Error> {
        self.refs.branches()
    }

    /// Reads any object: its kind and content.
    pub fn read_object(&self, id: &ObjectId) -> Result<Object, Error> {
        self.odb.read(id)
    }

    pub fn commit(&self, id: &ObjectId) -> Result<Commit, Error> {
        let data = self.odb.read(id)?.into_kind(id, ObjectKind::Commit)?;
        Commit::parse(*id, &data)
    }

    pub fn tree(&self, id: &ObjectId) -> Result<Tree, Error> {
        let data = self.odb.read(id)?.into_kind(id, ObjectKind::Tree)?;
        Tree::parse(*id, &data)
    }

    /// The content of a file (or a symlink's target).
    pub fn blob(&self, id: &ObjectId) -> Result<Vec<u8>, Error> {
        self.odb.read(id)?.into_kind(id, ObjectKind::Blob)
    }

    /// Follows annotated tags from `id` to the commit they tag.
    fn peel_to_commit(&self, mut id: ObjectId) -> Result<ObjectId, Error> {
        for _ in 0..MAX_TAG_DEPTH {
            let object = self.odb.read(&id)?;
            match object.kind {
                ObjectKind::Commit => return Ok(id),
                ObjectKind::Tag => id = TagTarget::parse(id, &object.data)?.id,
                found => {
                    return Err(Error::WrongKind {
                        id,
                        expected: ObjectKind::Commit,
                        found,
                    });
                }
            }
        }
        Err(Error::corrupt(
            format!("tag {id}"),
            format!("tags point at tags more than {MAX_TAG_DEPTH} deep"),
        ))
    }
}

/// `path` itself, or the local path a `file://` URL names.
fn local_path(path: &Path) -> Result<PathBuf, Error> {
    let Some(text) = path.to_str() else {
        return Ok(path.to_path_buf());
    };
    let is_url = text
        .get(..7)
        .is_some_and(|scheme| scheme.eq_ignore_ascii_case("file://"));
    if !is_url {
        return Ok(path.to_path_buf());
    }
    let rest = &text[7..];
    let rest = rest.strip_prefix("localhost").unwrap_or(rest);
    if !rest.starts_with('/') {
        return Err(Error::NotARepository {
            path: path.to_path_buf(),
            reason: "only local `file:///path` URLs can be read".to_string(),
        });
    }
    Ok(PathBuf::from(percent_decode(rest)))
}

/// Decodes `%20`-style escapes; a `%` not followed by two hex digits is kept.
fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let escaped = (bytes[i] == b'%')
            .then(|| bytes.get(i + 1..i + 3))
            .flatten()
            .and_then(|hex| std::str::from_utf8(hex).ok())
            .and_then(|hex| u8::from_str_radix(hex, 16).ok());
        match escaped {
            Some(byte) => {
                out.push(byte);
                i += 3;
            }
            None => {
                out.push(bytes[i]);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The git folder named by a `.git` file (`gitdir: <path>`), relative to
/// the folder holding the file.
fn read_gitdir_file(dot_git: &Path) -> Result<PathBuf, Error> {
    let text = fs::read_to_string(dot_git).map_err(|e| Error::io("read", dot_git, e))?;
    let target = text
        .lines()
        .find_map(|line| line.strip_prefix("gitdir:"))
        .map(str::trim)
        .filter(|target| !target.is_empty())
        .ok_or_else(|| Error::NotARepository {
            path: dot_git.to_path_buf(),
            reason: "the `.git` file has no `gitdir: <path>` line".to_string(),
        })?;
    let base = dot_git.parent().unwrap_or(Path::new("."));
    Ok(base.join(target))
}

/// Whether `dir` looks like a git folder: it has `HEAD`, and objects of its
/// own or (for a linked worktree) a `commondir` saying where they are.
fn is_git_dir(dir: &Path) -> bool {
    dir.join("HEAD").is_file() && (dir.join("objects").is_dir() || dir.join("commondir").is_file())
}

/// Refuses repositories whose `config` turns on formats this crate cannot
/// read, rather than failing later with a misleading "not found".
fn check_format(common_dir: &Path) -> Result<(), Error> {
    let path = common_dir.join("config");
    let Ok(text) = fs::read_to_string(&path) else {
        return Ok(());
    };
    let mut section = String::new();
    for line in text.lines() {
        let line = line.trim();
        if let Some(header) = line.strip_prefix('[') {
            section = header
                .split([']', ' ', '"'])
                .next()
                .unwrap_or("")
                .to_ascii_lowercase();
            continue;
        }
        let Some((key, value)) = line.split_once('=') else {
            continue;
        };
        let key = key.trim().to_ascii_lowercase();
        let value = value
            .split(['#', ';'])
            .next()
            .unwrap_or("")
            .trim()
            .trim_matches('"')
            .to_ascii_lowercase();
        let unsupported = match (section.as_str(), key.as_str()) {
            ("extensions", "objectformat") if value != "sha1" => {
                Some(format!("object format `{value}`"))
            }
            ("extensions", "refstorage") if value != "files" => {
                Some(format!("ref storage `{value}`"))
            }
            _ => None,
        };
        if let Some(what) = unsupported {
            return Err(Error::Unsupported { path, what });
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_urls() {
        let open = |text: &str| local_path(Path::new(text));
        assert_eq!(
            open("file:///srv/repo.git").unwrap(),
            Path::new("/srv/repo.git")
        );
        assert_eq!(open("FILE://localhost/a%20b").unwrap(), Path::new("/a b"));
        assert_eq!(open("file:///100%").unwrap(), Path::new("/100%"));
        assert_eq!(open("/plain/path").unwrap(), Path::new("/plain/path"));
        assert!(open("file://server/share").is_err());
    }
}
