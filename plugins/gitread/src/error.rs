//! The one error type of the crate.
//!
//! Messages are read by people looking at a failed pipeline run, so each one
//! names what was looked for and where (the repository, the file, the object).

use std::fmt;
use std::io;
use std::path::{Path, PathBuf};

use crate::ObjectId;
use crate::objects::ObjectKind;

/// Everything that can go wrong reading a repository or writing a checkout.
#[derive(Debug)]
#[non_exhaustive]
pub enum Error {
    /// A file or folder could not be read or written.
    Io {
        /// What was being done, as a verb phrase: "read", "create folder", ...
        action: &'static str,
        path: PathBuf,
        source: io::Error,
    },
    /// The path given to [`Repository::open`](crate::Repository::open) holds
    /// no repository.
    NotARepository { path: PathBuf, reason: String },
    /// The repository uses a format this crate does not read (SHA-256 ids,
    /// reftable refs, a pack version it does not know).
    Unsupported { path: PathBuf, what: String },
    /// No ref matches a branch or tag name. `branches` lists what the
    /// repository does have, so a typo can be spotted from the message alone.
    RefNotFound {
        name: String,
        repo: PathBuf,
        branches: Vec<String>,
    },
    /// A name that is neither a valid ref name nor a full object id.
    InvalidName(String),
    /// A string that should have been 40 hex digits.
    InvalidObjectId(String),
    /// An object is in none of the object folders (the repository's own and
    /// its alternates).
    ObjectNotFound { id: ObjectId, objects: PathBuf },
    /// Bytes on disk that do not decode: a truncated loose object, a pack
    /// entry with a bad delta, a commit without a tree, ...
    Corrupt { location: String, detail: String },
    /// An object of one kind was found where another was needed, e.g. a tag
    /// that points to a tree where a commit was asked for.
    WrongKind {
        id: ObjectId,
        expected: ObjectKind,
        found: ObjectKind,
    },
    /// A subfolder path that climbs out of the repository (`..`).
    InvalidSubpath(String),
    /// The subfolder asked for is not in the commit's tree.
    PathNotFound { path: String, commit: ObjectId },
    /// The subfolder asked for is a file, symlink or submodule in the commit.
    NotAFolder {
        path: String,
        commit: ObjectId,
        found: &'static str,
    },
    /// The checkout destination already has something in it.
    DestinationNotEmpty { path: PathBuf },
    /// A tree entry whose name could make a checkout write outside its
    /// destination or into a `.git` folder.
    UnsafeName {
        name: String,
        parent: String,
        tree: ObjectId,
    },
}

impl Error {
    pub(crate) fn io(action: &'static str, path: &Path, source: io::Error) -> Error {
        Error::Io {
            action,
            path: path.to_path_buf(),
            source,
        }
    }

    pub(crate) fn corrupt(location: impl Into<String>, detail: impl Into<String>) -> Error {
        Error::Corrupt {
            location: location.into(),
            detail: detail.into(),
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Io {
                action,
                path,
                source,
            } => write!(f, "could not {action} {}: {source}", path.display()),
            Error::NotARepository { path, reason } => {
                write!(f, "no git repository at {}: {reason}", path.display())
            }
            Error::Unsupported { path, what } => {
                write!(f, "{what} is not supported (in {})", path.display())
            }
            Error::RefNotFound {
                name,
                repo,
                branches,
            } => {
                let what = if name.starts_with("refs/") && !name.starts_with("refs/heads/") {
                    "ref"
                } else {
                    "branch"
                };
                write!(f, "no {what} `{name}` in {} ", repo.display())?;
                if branches.is_empty() {
                    write!(f, "(it has no branches)")
                } else {
                    write!(f, "(branches: {})", branches.join(", "))
                }
            }
            Error::InvalidName(name) => {
                write!(f, "`{name}` is not a valid branch, tag or commit name")
            }
            Error::InvalidObjectId(text) => {
                write!(f, "`{text}` is not an object id (40 hex digits)")
            }
            Error::ObjectNotFound { id, objects } => {
                write!(f, "object {id} not found in {}", objects.display())
            }
            Error::Corrupt { location, detail } => write!(f, "corrupt {location}: {detail}"),
            Error::WrongKind {
                id,
                expected,
                found,
            } => write!(f, "object {id} is a {found}, not a {expected}"),
            Error::InvalidSubpath(path) => {
                write!(f, "`{path}` is not a folder path inside the repository")
            }
            Error::PathNotFound { path, commit } => {
                write!(f, "no folder `{path}` in commit {commit}")
            }
            Error::NotAFolder {
                path,
                commit,
                found,
            } => write!(f, "`{path}` in commit {commit} is a {found}, not a folder"),
            Error::DestinationNotEmpty { path } => {
                write!(
                    f,
                    "checkout destination {} is not an empty folder",
                    path.display()
                )
            }
            Error::UnsafeName { name, parent, tree } => {
                let parent = if parent.is_empty() { "/" } else { parent };
                write!(
                    f,
                    "refusing to write tree entry `{}` under `{parent}` (tree {tree}): \
                     the name could escape the destination or write into `.git`",
                    name.escape_debug()
                )
            }
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Error::Io { source, .. } => Some(source),
            _ => None,
        }
    }
}
