//! The component store: every provider component a pipeline version was
//! applied with, kept by sha256 in the state directory, so an execution
//! always runs the exact component its pipeline version names, whatever
//! happens to the file or the binary later.

use crate::sandbox::ComponentSource;
use std::borrow::Cow;
use std::io::Write;
use std::path::{Path, PathBuf};

/// Where hosts sharing one database keep components for each other: a
/// component kept on one host is found by the others when their folder
/// lacks it.
pub trait SharedComponents: Send + Sync {
    /// Keeps `bytes` under `sha256` (again is fine).
    fn put(&self, sha256: &str, bytes: &[u8]) -> std::io::Result<()>;
    /// The component kept under `sha256`, if any.
    fn get(&self, sha256: &str) -> std::io::Result<Option<Vec<u8>>>;
}

/// Components by sha256, in one folder (and, for hosts sharing a database,
/// also there).
#[derive(Clone)]
pub struct ComponentStore {
    dir: PathBuf,
    shared: Option<std::sync::Arc<dyn SharedComponents>>,
}

impl std::fmt::Debug for ComponentStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ComponentStore")
            .field("dir", &self.dir)
            .field("shared", &self.shared.is_some())
            .finish()
    }
}

impl ComponentStore {
    /// A store in `dir` (created when missing).
    pub fn open(dir: &Path) -> std::io::Result<Self> {
        std::fs::create_dir_all(dir)?;
        Ok(ComponentStore {
            dir: dir.to_path_buf(),
            shared: None,
        })
    }

    /// The same store, also keeping components in (and finding missing
    /// ones from) `shared`.
    pub fn with_shared(self, shared: std::sync::Arc<dyn SharedComponents>) -> Self {
        ComponentStore {
            shared: Some(shared),
            ..self
        }
    }

    fn path(&self, sha256: &str) -> PathBuf {
        self.dir.join(format!("{sha256}.wasm"))
    }

    /// Keeps `source` (by its digest) unless it is already kept.
    pub fn keep(&self, source: &ComponentSource) -> std::io::Result<String> {
        let sha256 = source.digest();
        self.write(&sha256, &source.bytes)?;
        if let Some(shared) = &self.shared {
            shared.put(&sha256, &source.bytes)?;
        }
        Ok(sha256)
    }

    fn write(&self, sha256: &str, bytes: &[u8]) -> std::io::Result<()> {
        let path = self.path(sha256);
        if !path.exists() {
            let mut temp = tempfile::NamedTempFile::new_in(&self.dir)?;
            temp.write_all(bytes)?;
            temp.as_file().sync_all()?;
            temp.persist(&path)?;
        }
        Ok(())
    }

    /// The component with this digest, named `name` in errors: from the
    /// folder, else from the shared store (checked against its digest and
    /// then kept in the folder).
    pub fn get(&self, sha256: &str, name: &str) -> std::io::Result<ComponentSource> {
        let bytes = match std::fs::read(self.path(sha256)) {
            Ok(bytes) => bytes,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let Some(bytes) = self
                    .shared
                    .as_ref()
                    .map(|s| s.get(sha256))
                    .transpose()?
                    .flatten()
                else {
                    return Err(e);
                };
                let found = hex::encode(<sha2::Sha256 as sha2::Digest>::digest(&bytes));
                if found != sha256 {
                    return Err(std::io::Error::other(format!(
                        "the shared copy of component sha256:{sha256} has sha256:{found}"
                    )));
                }
                self.write(sha256, &bytes)?;
                bytes
            }
            Err(e) => return Err(e),
        };
        Ok(ComponentSource {
            name: name.to_string(),
            bytes: Cow::Owned(bytes),
            sha256: Some(sha256.to_string()),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;
    use std::sync::{Arc, Mutex};

    #[derive(Default)]
    struct Memory(Mutex<HashMap<String, Vec<u8>>>);

    impl SharedComponents for Memory {
        fn put(&self, sha256: &str, bytes: &[u8]) -> std::io::Result<()> {
            self.0.lock().unwrap().insert(sha256.into(), bytes.to_vec());
            Ok(())
        }
        fn get(&self, sha256: &str) -> std::io::Result<Option<Vec<u8>>> {
            Ok(self.0.lock().unwrap().get(sha256).cloned())
        }
    }

    fn source(bytes: &'static [u8]) -> ComponentSource {
        ComponentSource {
            name: "test".into(),
            bytes: Cow::Borrowed(bytes),
            sha256: None,
        }
    }

    #[test]
    fn a_component_kept_on_one_host_is_found_by_another_and_checked() {
        let shared = Arc::new(Memory::default());
        let one = tempfile::tempdir().unwrap();
        let two = tempfile::tempdir().unwrap();
        let here = ComponentStore::open(one.path())
            .unwrap()
            .with_shared(shared.clone());
        let there = ComponentStore::open(two.path())
            .unwrap()
            .with_shared(shared.clone());
        let digest = here.keep(&source(b"component bytes")).unwrap();
        let found = there.get(&digest, "p").unwrap();
        assert_eq!(&*found.bytes, b"component bytes");
        assert!(
            two.path().join(format!("{digest}.wasm")).exists(),
            "kept locally"
        );

        // A shared copy that is not what its digest says is refused.
        let three = tempfile::tempdir().unwrap();
        let other = ComponentStore::open(three.path())
            .unwrap()
            .with_shared(shared.clone());
        shared.put(&"0".repeat(64), b"something else").unwrap();
        let refused = other.get(&"0".repeat(64), "p").unwrap_err();
        assert!(refused.to_string().contains("has sha256:"), "{refused}");
        // And without a shared store a missing component stays missing.
        let four = tempfile::tempdir().unwrap();
        let alone = ComponentStore::open(four.path()).unwrap();
        assert_eq!(
            alone.get(&digest, "p").unwrap_err().kind(),
            std::io::ErrorKind::NotFound
        );
    }
}
