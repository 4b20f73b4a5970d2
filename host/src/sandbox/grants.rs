//! What a job is granted beyond its artifacts, as the sandbox enforces it.
//! Deny by default: a job with `Grants::default()` may run no program,
//! reach no URL and read no secret.

pub use crate::urls::{NormalUrl, UrlRule, normalise};
pub use sluice_isolate_protocol::ProgramLimits;
use std::path::PathBuf;
use std::time::Duration;

/// The capabilities granted to one job.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Grants {
    /// Programs it may run.
    pub process: Option<ProcessGrant>,
    /// URLs it may reach over HTTP.
    pub http: Option<HttpGrant>,
    /// Secrets it may read, with their values.
    pub secrets: Vec<Secret>,
}

/// A `process` grant.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ProcessGrant {
    /// Program names it may run (`sh`, `make`), or absolute paths.
    pub programs: Vec<String>,
    /// The environment every program gets (nothing else from the host).
    pub env: Vec<(String, String)>,
    /// Longest a single program may run.
    pub timeout: Option<Duration>,
    /// Resource limits on each program and what it starts.
    pub limits: ProgramLimits,
}

/// An `http` grant: requests go only to URLs matching one of these.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HttpGrant {
    /// The allowed URL prefixes.
    pub allow: Vec<UrlRule>,
}

/// Refuses a folder to grant when it holds one of the `hidden` folders (the
/// state directory: its secrets, tokens and database) or lies inside one:
/// a provider mounting it could read them, whatever the sandbox covers.
/// Both are compared as absolute paths without `..`.
pub fn hides_nothing(folder: &std::path::Path, hidden: &[&std::path::Path]) -> Result<(), String> {
    for hidden in hidden {
        if hidden.starts_with(folder) {
            return Err(format!(
                "the folder {} holds the state directory {} (its secrets, tokens and database): \
                 grant a folder that does not (for a git repository, its .git folder), or keep \
                 the state directory elsewhere (--state-dir)",
                folder.display(),
                hidden.display()
            ));
        }
        if folder.starts_with(hidden) {
            return Err(format!(
                "the folder {} is inside the state directory {}: grant a folder outside it",
                folder.display(),
                hidden.display()
            ));
        }
    }
    Ok(())
}

/// A secret and its value.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret {
    /// Its name.
    pub name: String,
    /// Its value.
    pub value: String,
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Secret({}: ****)", self.name)
    }
}

/// Host-wide settings for running programs.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ProcessSettings {
    /// Folders searched for granted programs named without a path (the
    /// host's `PATH`).
    pub search_path: Vec<PathBuf>,
    /// How programs are isolated (by default in namespaces; unsandboxed
    /// only when the host says so).
    pub isolation: super::isolation::Isolation,
}

impl ProcessSettings {
    /// Settings from a `PATH`-style list, programs isolated.
    pub fn from_path_list(path: &str) -> Self {
        ProcessSettings {
            search_path: std::env::split_paths(path).collect(),
            isolation: super::isolation::Isolation::Namespaces,
        }
    }

    /// The absolute path of a granted program, if installed.
    pub fn find(&self, program: &str) -> Option<PathBuf> {
        if program.contains('/') {
            let path = PathBuf::from(program);
            return path.is_file().then_some(path);
        }
        self.search_path
            .iter()
            .map(|d| d.join(program))
            .find(|p| p.is_file())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    #[test]
    fn a_folder_holding_or_inside_the_state_directory_is_refused() {
        let state = Path::new("/work/repo/.sluice");
        assert!(hides_nothing(Path::new("/work/repo/.git"), &[state]).is_ok());
        assert!(hides_nothing(Path::new("/work/other"), &[state]).is_ok());
        let holds = hides_nothing(Path::new("/work/repo"), &[state]).unwrap_err();
        assert!(holds.contains("holds the state directory"), "{holds}");
        assert!(hides_nothing(Path::new("/"), &[state]).is_err());
        let inside = hides_nothing(Path::new("/work/repo/.sluice/work"), &[state]).unwrap_err();
        assert!(inside.contains("inside the state directory"), "{inside}");
    }
}
