//! The compile cache: native code for each component, on disk, so a second
//! process (or a second load) skips compilation.
//!
//! An entry is keyed by the component's sha256 and by the engine's
//! precompile-compatibility hash (wasmtime version, compiler settings,
//! target CPU features), so a changed engine never loads stale code; it
//! just compiles once more. Entries are written to a temporary file and
//! renamed into place, so a reader never sees half an entry.
//!
//! Loading native code is only as safe as the folder it comes from: the
//! cache folder is created private to its owner, and it belongs to the same
//! user as the `sluice` binary itself.

use sha2::{Digest, Sha256};
use std::hash::{Hash, Hasher};
use std::io::Write;
use std::path::{Path, PathBuf};
use wasmtime::Engine;
use wasmtime::component::Component;

/// The on-disk compile cache of one engine configuration.
#[derive(Debug, Clone)]
pub(crate) struct CompileCache {
    dir: PathBuf,
    engine_key: String,
}

impl CompileCache {
    /// A cache in `dir` (created when missing, mode 0700 on Unix) for `engine`.
    pub(crate) fn open(dir: &Path, engine: &Engine) -> std::io::Result<Self> {
        create_private_dir(dir)?;
        let mut hasher = Sha256Hasher(Sha256::new());
        engine.precompile_compatibility_hash().hash(&mut hasher);
        let engine_key = hex::encode(&hasher.0.finalize()[..8]);
        Ok(CompileCache {
            dir: dir.to_path_buf(),
            engine_key,
        })
    }

    fn entry(&self, sha256: &str) -> PathBuf {
        self.dir.join(format!("{sha256}-{}.cwasm", self.engine_key))
    }

    /// The cached component, if there is a usable entry. A corrupt or
    /// incompatible entry is removed and reported as a miss.
    pub(crate) fn load(&self, engine: &Engine, sha256: &str) -> Option<Component> {
        let path = self.entry(sha256);
        if !path.is_file() {
            return None;
        }
        // SAFETY: the entry was written by `store` below from a component
        // this engine configuration compiled, in a folder private to the
        // user running Sluice; wasmtime checks the header and the engine's
        // compatibility before using it.
        #[allow(unsafe_code)]
        let loaded = unsafe { Component::deserialize_file(engine, &path) };
        match loaded {
            Ok(component) => Some(component),
            Err(error) => {
                tracing::warn!(path = %path.display(), %error, "dropping unusable compile-cache entry");
                let _ = std::fs::remove_file(&path);
                None
            }
        }
    }

    /// Stores the native code of `component`. Failing to write the cache
    /// is not an error for the caller: the component is loaded anyway.
    pub(crate) fn store(&self, sha256: &str, component: &Component) {
        let result = (|| -> anyhow::Result<()> {
            let bytes = component.serialize()?;
            let mut temp = tempfile::NamedTempFile::new_in(&self.dir)?;
            temp.write_all(&bytes)?;
            temp.as_file().sync_all()?;
            temp.persist(self.entry(sha256))?;
            Ok(())
        })();
        if let Err(error) = result {
            tracing::warn!(dir = %self.dir.display(), %error, "could not write the compile cache");
        }
    }
}

fn create_private_dir(dir: &Path) -> std::io::Result<()> {
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        builder.mode(0o700);
    }
    builder.create(dir)
}

/// Feeds `Hash` output into sha256, which (unlike `DefaultHasher`) is the
/// same in every build of Sluice.
struct Sha256Hasher(Sha256);

impl Hasher for Sha256Hasher {
    fn finish(&self) -> u64 {
        unreachable!("only the digest is read")
    }

    fn write(&mut self, bytes: &[u8]) {
        self.0.update(bytes);
    }
}
