//! The layout of a state directory: every path Sluice keeps there, in one
//! place. The engine, the store, the server, secrets and plugin packages
//! all find their files through [`StateDir`].
//!
//! ```text
//! <state>/state.db              the database (SQLite, WAL), unless...
//! <state>/database-url          ...this names a PostgreSQL database, owner-only
//! <state>/artifacts-url         object storage artifacts are also kept in
//! <state>/driver.lock           held by the process driving the engine
//! <state>/artifacts/            the artifact store (trees/, manifests/)
//! <state>/components/           components pipelines were applied with
//! <state>/logs/                 action logs
//! <state>/work/                 job folders (recycled, spare/)
//! <state>/secrets               NAME=value lines, owner-only
//! <state>/api-token             the server's bearer token, owner-only
//! <state>/server.json           the running server's address and pid
//! <state>/plugins/              installed plugin packages
//! <state>/aws-jobs/             custom actions' jobs: their artifacts as zips
//! <state>/aws-actions.yaml      what AWS action types may reach, optional
//! <state>/trusted-keys/         public keys `plugin trust add` accepted
//! <state>/plugin-policy.json    the plugin trust policy, optional
//! ```

use std::path::{Path, PathBuf};

/// The folder of custom actions' jobs (their artifacts' zips, as job
/// workers fetch and put them), by job id.
pub const AWS_JOBS: &str = "aws-jobs";

/// A state directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StateDir {
    /// The folder.
    pub root: PathBuf,
}

impl StateDir {
    /// The state directory at `root`.
    pub fn new(root: impl Into<PathBuf>) -> Self {
        StateDir { root: root.into() }
    }

    /// The state directory at `root` (a borrowed path).
    pub fn at(root: &Path) -> Self {
        StateDir::new(root)
    }

    /// The database.
    pub fn database(&self) -> PathBuf {
        self.root.join("state.db")
    }

    /// The file naming the PostgreSQL database this state directory uses
    /// instead of `state.db` (owner-only: the URL may hold a password).
    pub fn database_url(&self) -> PathBuf {
        self.root.join("database-url")
    }

    /// The file naming the object storage (`s3://BUCKET/PREFIX`) this state
    /// directory also keeps its artifacts in.
    pub fn artifacts_url(&self) -> PathBuf {
        self.root.join("artifacts-url")
    }

    /// The object storage recorded in [`StateDir::artifacts_url`], if any.
    pub fn recorded_artifacts_url(&self) -> Option<String> {
        std::fs::read_to_string(self.artifacts_url())
            .ok()
            .map(|u| u.trim().to_string())
            .filter(|u| !u.is_empty())
    }

    /// Records that artifacts are also kept at `url` (`s3://BUCKET/PREFIX`):
    /// refused when another is recorded already (a state directory's
    /// artifacts never move under its executions).
    pub fn record_artifacts_url(&self, url: &str) -> Result<(), String> {
        let file = self.artifacts_url();
        if !url.starts_with("s3://") || url.len() <= "s3://".len() {
            return Err(format!(
                "--artifacts {url}: only s3://BUCKET[/PREFIX] is accepted"
            ));
        }
        match self.recorded_artifacts_url() {
            Some(existing) if existing == url => Ok(()),
            Some(existing) => Err(format!(
                "{}: this state directory keeps its artifacts in {existing}, not {url}",
                file.display()
            )),
            None => std::fs::create_dir_all(&self.root)
                .and_then(|()| std::fs::write(&file, format!("{url}\n")))
                .map_err(|e| format!("{}: {e}", file.display())),
        }
    }

    /// The driver's lock file.
    pub fn lock_file(&self) -> PathBuf {
        self.root.join("driver.lock")
    }

    /// The artifact store.
    pub fn artifacts(&self) -> PathBuf {
        self.root.join("artifacts")
    }

    /// Components pipelines were applied with.
    pub fn components(&self) -> PathBuf {
        self.root.join("components")
    }

    /// Action logs.
    pub fn logs(&self) -> PathBuf {
        self.root.join("logs")
    }

    /// The log of one action attempt, relative to the state directory (as
    /// execution records name it).
    pub fn action_log(&self, execution: &str, stage: &str, action: &str, attempt: u32) -> String {
        format!("logs/{execution}/{stage}.{action}.{attempt}.log")
    }

    /// Job folders.
    pub fn work(&self) -> PathBuf {
        self.root.join("work")
    }

    /// The host's secrets file.
    pub fn secrets(&self) -> PathBuf {
        self.root.join("secrets")
    }

    /// The server's API token.
    pub fn api_token(&self) -> PathBuf {
        self.root.join("api-token")
    }

    /// What the running server writes about itself.
    pub fn server_file(&self) -> PathBuf {
        self.root.join("server.json")
    }

    /// Installed plugin packages.
    pub fn plugins(&self) -> PathBuf {
        self.root.join("plugins")
    }

    /// Public keys trusted for plugin signatures.
    pub fn trusted_keys(&self) -> PathBuf {
        self.root.join("trusted-keys")
    }

    /// The plugin trust policy.
    pub fn plugin_policy(&self) -> PathBuf {
        self.root.join("plugin-policy.json")
    }
}
