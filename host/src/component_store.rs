//! The component store: every provider component a pipeline version was
//! applied with, kept by sha256 in the state directory, so an execution
//! always runs the exact component its pipeline version names, whatever
//! happens to the file or the binary later.

use crate::sandbox::ComponentSource;
use std::borrow::Cow;
use std::io::Write;
use std::path::{Path, PathBuf};

/// Components by sha256, in one folder.
#[derive(Debug, Clone)]
pub struct ComponentStore {
    dir: PathBuf,
}

impl ComponentStore {
    /// A store in `dir` (created when missing).
    pub fn open(dir: &Path) -> std::io::Result<Self> {
        std::fs::create_dir_all(dir)?;
        Ok(ComponentStore {
            dir: dir.to_path_buf(),
        })
    }

    fn path(&self, sha256: &str) -> PathBuf {
        self.dir.join(format!("{sha256}.wasm"))
    }

    /// Keeps `source` (by its digest) unless it is already kept.
    pub fn keep(&self, source: &ComponentSource) -> std::io::Result<String> {
        let sha256 = source.digest();
        let path = self.path(&sha256);
        if !path.exists() {
            let mut temp = tempfile::NamedTempFile::new_in(&self.dir)?;
            temp.write_all(&source.bytes)?;
            temp.as_file().sync_all()?;
            temp.persist(&path)?;
        }
        Ok(sha256)
    }

    /// The component with this digest, named `name` in errors.
    pub fn get(&self, sha256: &str, name: &str) -> std::io::Result<ComponentSource> {
        let bytes = std::fs::read(self.path(sha256))?;
        Ok(ComponentSource {
            name: name.to_string(),
            bytes: Cow::Owned(bytes),
            sha256: Some(sha256.to_string()),
        })
    }
}
