//! The secrets the host holds: from `SLUICE_SECRET_<NAME>` environment
//! variables (read by `main`) and from the state directory's `secrets` file
//! (`NAME=value` lines), which must be readable by its owner only. Values
//! are handed only to actions granted them, and never written to the state
//! database or shown: logs, summaries, variables and answers get `****`.

use std::collections::BTreeMap;
use std::path::Path;

/// Secret values by name.
#[derive(Clone, Default)]
pub struct SecretStore {
    values: BTreeMap<String, String>,
}

impl std::fmt::Debug for SecretStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SecretStore")
            .field("names", &self.names())
            .finish()
    }
}

impl SecretStore {
    /// Secrets from environment variables named `SLUICE_SECRET_<NAME>`.
    pub fn from_env(vars: impl IntoIterator<Item = (String, String)>) -> Self {
        let values = vars
            .into_iter()
            .filter_map(|(k, v)| k.strip_prefix("SLUICE_SECRET_").map(|n| (n.to_string(), v)))
            .filter(|(n, _)| crate::contract::is_secret_name(n))
            .collect();
        SecretStore { values }
    }

    /// Adds the secrets of `state_dir/secrets`, if there is such a file.
    /// A file others can read is refused; environment variables win over
    /// the file.
    pub fn with_file(mut self, state_dir: &Path) -> Result<Self, String> {
        let path = crate::state_dir::StateDir::at(state_dir).secrets();
        let Ok(metadata) = std::fs::metadata(&path) else {
            return Ok(self);
        };
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = metadata.permissions().mode() & 0o777;
            if mode & 0o077 != 0 {
                return Err(format!(
                    "secrets file {} is readable by others (mode {mode:o}): make it private with `chmod 600 {}`",
                    path.display(),
                    path.display()
                ));
            }
        }
        let _ = metadata;
        let text = std::fs::read_to_string(&path)
            .map_err(|e| format!("cannot read secrets file {}: {e}", path.display()))?;
        for (number, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let Some((name, value)) = line.split_once('=') else {
                return Err(format!(
                    "{}:{}: expected NAME=value",
                    path.display(),
                    number + 1
                ));
            };
            let name = name.trim();
            if !crate::contract::is_secret_name(name) {
                return Err(format!(
                    "{}:{}: `{name}` is not a secret name (upper-case letters, digits, `_`)",
                    path.display(),
                    number + 1
                ));
            }
            self.values
                .entry(name.to_string())
                .or_insert_with(|| value.to_string());
        }
        Ok(self)
    }

    /// A secret's value.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.values.get(name).map(String::as_str)
    }

    /// Whether the host holds secret `name`.
    pub fn contains(&self, name: &str) -> bool {
        self.values.contains_key(name)
    }

    /// The names held.
    pub fn names(&self) -> Vec<&str> {
        self.values.keys().map(String::as_str).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_come_from_the_environment_and_a_private_file() {
        let env = SecretStore::from_env([
            ("SLUICE_SECRET_TOKEN".to_string(), "t0k".to_string()),
            ("PATH".to_string(), "/bin".to_string()),
        ]);
        assert_eq!(env.names(), ["TOKEN"]);
        let dir = tempfile::tempdir().unwrap();
        let file = crate::state_dir::StateDir::at(dir.path()).secrets();
        std::fs::write(&file, "# deploy\nDB_PASSWORD=s3cret=1\nTOKEN=from-file\n").unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o644)).unwrap();
            assert!(
                env.clone()
                    .with_file(dir.path())
                    .unwrap_err()
                    .contains("chmod 600")
            );
            std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o600)).unwrap();
        }
        let both = env.with_file(dir.path()).unwrap();
        assert_eq!(both.get("DB_PASSWORD"), Some("s3cret=1"));
        assert_eq!(both.get("TOKEN"), Some("t0k"), "the environment wins");
    }
}
