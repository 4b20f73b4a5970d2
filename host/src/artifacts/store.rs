//! The artifact store.
//!
//! An artifact is kept as the folder its action wrote: ingesting an output
//! tidies the folder (see [`manifest::scan`]), writes its manifest (paths,
//! kinds, modes, sizes, and an id unique to this tree) and renames the
//! folder into `trees/<digest>`; the manifest's digest is the artifact's.
//! Mounting an artifact into a later job is then handing over that folder,
//! read-only (the sandbox's preopen and the launcher's bind are read-only):
//! nothing is copied or linked. Handing on an artifact costs one `stat`
//! per entry at ingest and nothing per byte.
//!
//! Content digests are computed afterwards, off the hand-off's path:
//! [`ArtifactStore::seal`] hashes every file and records the sums beside
//! the manifest, and [`ArtifactStore::verify`] checks a tree against its
//! manifest and, once sealed, every file's content against its sum.
//! Mounting checks the manifest against its digest and that the tree is
//! there.

use super::manifest::{self, EntryKind, Manifest, ScanError, Tidy};
use crate::contain::{Budget, Root, copy};
use serde::{Deserialize, Serialize};
use std::io::Write;
use std::path::{Path, PathBuf};

/// Why an artifact could not be stored or mounted.
#[derive(Debug, thiserror::Error)]
pub enum ArtifactError {
    /// Reading or writing files failed.
    #[error("{what}: {source}")]
    Io {
        /// What was being done.
        what: String,
        /// Why it failed.
        source: std::io::Error,
    },
    /// The output holds more than the action may store, or is nested too
    /// deep.
    #[error("{0}")]
    OverLimit(String),
    /// The artifact is not in this host's store at all.
    #[error(
        "artifact `{name}` (sha256:{digest}) is not in this host's artifact store: it was made on a host whose artifacts this one cannot reach (hosts that share work keep artifacts in object storage: --artifacts s3://BUCKET/PREFIX)"
    )]
    Missing {
        /// The artifact's name.
        name: String,
        /// Its recorded digest.
        digest: String,
    },
    /// The stored artifact does not match its digest.
    #[error("artifact `{name}` (sha256:{digest}) is corrupt: {problem}")]
    Corrupt {
        /// The artifact's name.
        name: String,
        /// Its recorded digest.
        digest: String,
        /// What does not match.
        problem: String,
    },
}

fn io(what: impl Into<String>) -> impl FnOnce(std::io::Error) -> ArtifactError {
    let what = what.into();
    move |source| ArtifactError::Io { what, source }
}

/// The content sums of a sealed artifact.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Sums {
    /// sha256 over every entry's path, kind, mode and content sum: equal
    /// trees have equal content digests.
    pub content_digest: String,
    /// Each regular file's path and hex sha256, sorted by path.
    pub files: Vec<(String, String)>,
}

/// Gives every folder under `dir` (itself included) its owner's write
/// permission, so what is inside can be removed; links are not followed.
fn make_writable(dir: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    let meta = std::fs::symlink_metadata(dir)?;
    if !meta.is_dir() {
        return Ok(());
    }
    let mode = meta.permissions().mode();
    if mode & 0o700 != 0o700 {
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(mode | 0o700))?;
    }
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        if entry.file_type()?.is_dir() {
            make_writable(&entry.path())?;
        }
    }
    Ok(())
}

/// The artifact store in one folder of the state directory.
#[derive(Debug, Clone)]
pub struct ArtifactStore {
    trees: PathBuf,
    manifests: PathBuf,
}

impl ArtifactStore {
    /// A store in `dir` (created when missing).
    pub fn open(dir: &Path) -> Result<Self, ArtifactError> {
        let trees = dir.join("trees");
        let manifests = dir.join("manifests");
        for d in [&trees, &manifests] {
            std::fs::create_dir_all(d).map_err(io(format!("creating {}", d.display())))?;
        }
        Ok(ArtifactStore { trees, manifests })
    }

    /// Where artifact `digest`'s files are.
    pub fn tree_path(&self, digest: &str) -> PathBuf {
        self.trees.join(digest)
    }

    fn manifest_path(&self, digest: &str) -> PathBuf {
        self.manifests.join(format!("{digest}.json"))
    }

    fn sums_path(&self, digest: &str) -> PathBuf {
        self.manifests.join(format!("{digest}.sums.json"))
    }

    /// Takes the folder `dir` into the store (it is moved: `dir` is gone
    /// afterwards), counting its entries and bytes against `budget` (an
    /// action's outputs share one); returns its manifest and digest.
    pub fn ingest(
        &self,
        dir: &Path,
        budget: &mut Budget,
    ) -> Result<(Manifest, String), ArtifactError> {
        let mut manifest = manifest::scan(dir, Tidy::Yes, budget).map_err(|e| match e {
            ScanError::Io(source) => ArtifactError::Io {
                what: format!("reading {}", dir.display()),
                source,
            },
            other => ArtifactError::OverLimit(other.to_string()),
        })?;
        manifest.id = uuid::Uuid::now_v7().to_string();
        let digest = manifest.digest();
        let body = serde_json::to_vec(&manifest).expect("manifests serialise");
        let mut temp =
            tempfile::NamedTempFile::new_in(&self.manifests).map_err(io("writing a manifest"))?;
        temp.write_all(&body).map_err(io("writing a manifest"))?;
        let tree = self.tree_path(&digest);
        if std::fs::rename(dir, &tree).is_err() {
            // Another file system: copy, then drop the original.
            copy_tree(dir, &tree)?;
            let _ = std::fs::remove_dir_all(dir);
        }
        temp.persist(self.manifest_path(&digest))
            .map_err(|e| ArtifactError::Io {
                what: "writing a manifest".into(),
                source: e.error,
            })?;
        Ok((manifest, digest))
    }

    /// The manifest of artifact `name`, checked against `digest`.
    pub fn manifest(&self, name: &str, digest: &str) -> Result<Manifest, ArtifactError> {
        let corrupt = |problem: String| ArtifactError::Corrupt {
            name: name.to_string(),
            digest: digest.to_string(),
            problem,
        };
        let body = std::fs::read(self.manifest_path(digest)).map_err(|e| {
            if e.kind() == std::io::ErrorKind::NotFound && !self.tree_path(digest).exists() {
                ArtifactError::Missing {
                    name: name.to_string(),
                    digest: digest.to_string(),
                }
            } else {
                corrupt(format!("its manifest cannot be read ({e})"))
            }
        })?;
        let manifest: Manifest = serde_json::from_slice(&body)
            .map_err(|e| corrupt(format!("its manifest is not valid ({e})")))?;
        let actual = manifest.digest();
        if actual != digest {
            return Err(corrupt(format!("its manifest's digest is sha256:{actual}")));
        }
        Ok(manifest)
    }

    /// Where artifact `name` (digest `digest`) can be mounted from,
    /// read-only, once its manifest matches its digest and its folder is
    /// there.
    pub fn mount(&self, name: &str, digest: &str) -> Result<PathBuf, ArtifactError> {
        self.manifest(name, digest)?;
        let tree = self.tree_path(digest);
        if !tree.is_dir() {
            return Err(ArtifactError::Corrupt {
                name: name.to_string(),
                digest: digest.to_string(),
                problem: format!("its files are missing from the store ({})", tree.display()),
            });
        }
        Ok(tree)
    }

    /// Hashes every file of an artifact and records the sums (once).
    pub fn seal(&self, name: &str, digest: &str) -> Result<Sums, ArtifactError> {
        if let Some(sums) = self.sums(digest) {
            return Ok(sums);
        }
        let manifest = self.manifest(name, digest)?;
        let tree = self.tree_path(digest);
        let sums = content_sums(&manifest, &tree)?;
        let body = serde_json::to_vec(&sums).expect("sums serialise");
        let mut temp =
            tempfile::NamedTempFile::new_in(&self.manifests).map_err(io("writing sums"))?;
        temp.write_all(&body).map_err(io("writing sums"))?;
        temp.persist(self.sums_path(digest))
            .map_err(|e| ArtifactError::Io {
                what: "writing sums".into(),
                source: e.error,
            })?;
        Ok(sums)
    }

    /// Removes an artifact: its folder, manifest and sums. Returns the
    /// bytes its files held. (Its folder's read-only modes are lifted
    /// first; links inside are removed, never followed.)
    pub fn remove(&self, digest: &str) -> Result<u64, ArtifactError> {
        let bytes = self
            .manifest("artifact", digest)
            .map(|m| m.total_bytes())
            .unwrap_or(0);
        let tree = self.tree_path(digest);
        if tree.exists() {
            make_writable(&tree).map_err(io(format!("removing {}", tree.display())))?;
            std::fs::remove_dir_all(&tree).map_err(io(format!("removing {}", tree.display())))?;
        }
        for path in [self.manifest_path(digest), self.sums_path(digest)] {
            match std::fs::remove_file(&path) {
                Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                    return Err(io(format!("removing {}", path.display()))(e));
                }
                _ => {}
            }
        }
        Ok(bytes)
    }

    /// The recorded sums of a sealed artifact.
    pub fn sums(&self, digest: &str) -> Option<Sums> {
        let body = std::fs::read(self.sums_path(digest)).ok()?;
        serde_json::from_slice(&body).ok()
    }

    /// Digests of every artifact in the store.
    pub fn digests(&self) -> Vec<String> {
        let Ok(entries) = std::fs::read_dir(&self.manifests) else {
            return Vec::new();
        };
        let mut found: Vec<String> = entries
            .flatten()
            .filter_map(|e| {
                let name = e.file_name().to_string_lossy().into_owned();
                let digest = name.strip_suffix(".json")?;
                (!digest.ends_with(".sums")).then(|| digest.to_string())
            })
            .collect();
        found.sort();
        found
    }

    /// How long ago an artifact was stored (its manifest written).
    pub fn age(&self, digest: &str) -> Option<std::time::Duration> {
        let written = std::fs::metadata(self.manifest_path(digest))
            .and_then(|m| m.modified())
            .ok()?;
        std::time::SystemTime::now().duration_since(written).ok()
    }

    /// Digests of the artifacts not sealed yet.
    pub fn unsealed(&self) -> Vec<String> {
        let Ok(entries) = std::fs::read_dir(&self.manifests) else {
            return Vec::new();
        };
        let mut found: Vec<String> = entries
            .flatten()
            .filter_map(|e| {
                let name = e.file_name().to_string_lossy().into_owned();
                let digest = name.strip_suffix(".json")?;
                (!digest.ends_with(".sums") && !self.sums_path(digest).exists())
                    .then(|| digest.to_string())
            })
            .collect();
        found.sort();
        found
    }

    /// Checks an artifact's folder against its manifest (every entry there,
    /// of its kind, mode and size, and nothing else) and, once sealed,
    /// every file's content against its sum. An error names the artifact
    /// and the first difference.
    pub fn verify(&self, name: &str, digest: &str) -> Result<(), ArtifactError> {
        let manifest = self.manifest(name, digest)?;
        let sums = self.sums(digest);
        check_tree(
            name,
            digest,
            &manifest,
            sums.as_ref(),
            &self.tree_path(digest),
        )
    }

    /// The folder trees are kept in.
    pub(crate) fn trees_dir(&self) -> &Path {
        &self.trees
    }

    /// Whether artifact `digest` is here: its manifest and its folder.
    pub fn has(&self, digest: &str) -> bool {
        self.manifest_path(digest).is_file() && self.tree_path(digest).is_dir()
    }

    /// Takes a fetched artifact into the store: `staging/tree` is checked
    /// against the manifest and sums first (nothing is kept when it does
    /// not match), then the manifest and sums are written and the tree
    /// moved into place. One fetched meanwhile by someone else stays.
    pub(crate) fn adopt(
        &self,
        name: &str,
        digest: &str,
        staging: tempfile::TempDir,
        manifest_body: &[u8],
        sums_body: &[u8],
    ) -> Result<(), ArtifactError> {
        let manifest: Manifest =
            serde_json::from_slice(manifest_body).map_err(|e| ArtifactError::Corrupt {
                name: name.to_string(),
                digest: digest.to_string(),
                problem: format!("its manifest is not valid ({e})"),
            })?;
        let sums: Sums = serde_json::from_slice(sums_body).map_err(|e| ArtifactError::Corrupt {
            name: name.to_string(),
            digest: digest.to_string(),
            problem: format!("its sums are not valid ({e})"),
        })?;
        let fetched = staging.path().join("tree");
        check_tree(name, digest, &manifest, Some(&sums), &fetched)?;
        for (path, body) in [
            (self.manifest_path(digest), manifest_body),
            (self.sums_path(digest), sums_body),
        ] {
            let mut temp = tempfile::NamedTempFile::new_in(&self.manifests)
                .map_err(io("writing a fetched manifest"))?;
            temp.write_all(body)
                .map_err(io("writing a fetched manifest"))?;
            temp.persist(&path).map_err(|e| ArtifactError::Io {
                what: "writing a fetched manifest".into(),
                source: e.error,
            })?;
        }
        match std::fs::rename(&fetched, self.tree_path(digest)) {
            Ok(()) => Ok(()),
            Err(_) if self.tree_path(digest).is_dir() => Ok(()),
            Err(e) => Err(io(format!("placing fetched artifact sha256:{digest}"))(e)),
        }
    }
}

/// Checks the folder `tree` against `manifest` (every entry there, of its
/// kind, mode and size, and nothing else) and, when given, every file's
/// content against `sums`. An error names the artifact and the first
/// difference.
fn check_tree(
    name: &str,
    digest: &str,
    manifest: &Manifest,
    sums: Option<&Sums>,
    tree: &Path,
) -> Result<(), ArtifactError> {
    let corrupt = |problem: String| ArtifactError::Corrupt {
        name: name.to_string(),
        digest: digest.to_string(),
        problem,
    };
    let found = manifest::scan(tree, Tidy::No, &mut Budget::unlimited())
        .map_err(|e| corrupt(format!("its files cannot be read ({e})")))?;
    let expected: std::collections::BTreeMap<&str, &EntryKind> = manifest
        .entries
        .iter()
        .map(|e| (e.path.as_str(), &e.kind))
        .collect();
    let actual: std::collections::BTreeMap<&str, &EntryKind> = found
        .entries
        .iter()
        .map(|e| (e.path.as_str(), &e.kind))
        .collect();
    for (path, kind) in &expected {
        match actual.get(path) {
            None => return Err(corrupt(format!("`{path}` is missing"))),
            Some(k) if k != kind => {
                return Err(corrupt(format!(
                    "`{path}` should be {} but is {}",
                    describe(kind),
                    describe(k)
                )));
            }
            Some(_) => {}
        }
    }
    if let Some(path) = actual.keys().find(|p| !expected.contains_key(*p)) {
        return Err(corrupt(format!("`{path}` is not part of it")));
    }
    if let Some(path) = found.skipped.first() {
        return Err(corrupt(format!("`{}` is not part of it", path.path)));
    }
    if let Some(sums) = sums {
        let root =
            Root::open(tree).map_err(|e| corrupt(format!("its files cannot be read ({e})")))?;
        for (path, sum) in &sums.files {
            let (actual, _) = manifest::hash_file(&root, Path::new(path))
                .map_err(|e| corrupt(format!("`{path}` cannot be read ({e})")))?;
            if &actual != sum {
                return Err(corrupt(format!(
                    "the content of `{path}` has sha256:{actual}, not sha256:{sum}"
                )));
            }
        }
    }
    Ok(())
}

fn describe(kind: &EntryKind) -> String {
    match kind {
        EntryKind::Dir => "a folder".into(),
        EntryKind::File { mode, size } => format!("a file of {size} bytes, mode {mode:o}"),
        EntryKind::Symlink { target } => format!("a link to `{target}`"),
    }
}

/// Hashes every file of `tree` as `manifest` lists it.
pub fn content_sums(manifest: &Manifest, tree: &Path) -> Result<Sums, ArtifactError> {
    use sha2::{Digest, Sha256};
    let mut files = Vec::new();
    let mut total = Sha256::new();
    let root = Root::open(tree).map_err(io(format!("opening {}", tree.display())))?;
    for entry in &manifest.entries {
        match &entry.kind {
            EntryKind::Dir => total.update(format!("d {}\n", entry.path)),
            EntryKind::File { mode, .. } => {
                let (sum, _) = manifest::hash_file(&root, Path::new(&entry.path))
                    .map_err(io(format!("hashing {}", tree.join(&entry.path).display())))?;
                total.update(format!("f {mode:o} {sum} {}\n", entry.path));
                files.push((entry.path.clone(), sum));
            }
            EntryKind::Symlink { target } => total.update(format!("l {target} {}\n", entry.path)),
        }
    }
    Ok(Sums {
        content_digest: hex::encode(total.finalize()),
        files,
    })
}

/// Copies a tree into place (used only when the output and the store are
/// on different file systems), through the same contained copy the `files`
/// interface uses; links that do not stay inside are not carried over.
fn copy_tree(from: &Path, to: &Path) -> Result<(), ArtifactError> {
    std::fs::create_dir_all(to).map_err(io(format!("creating {}", to.display())))?;
    let source = Root::open(from).map_err(io(format!("opening {}", from.display())))?;
    let target = Root::open(to).map_err(io(format!("opening {}", to.display())))?;
    copy::copy(
        &source,
        Path::new("."),
        &target,
        Path::new("."),
        &mut Budget::unlimited(),
    )
    .map_err(|e| ArtifactError::OverLimit(format!("copying {}: {e}", from.display())))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn output(root: &Path) -> PathBuf {
        let out = root.join("out");
        std::fs::create_dir_all(out.join("a/b")).unwrap();
        std::fs::write(out.join("a/b/one.txt"), "same").unwrap();
        std::fs::write(out.join("two.txt"), "same").unwrap();
        std::fs::create_dir_all(out.join("empty")).unwrap();
        out
    }

    #[test]
    fn ingest_moves_the_folder_and_mount_hands_it_over() {
        let root = tempfile::tempdir().unwrap();
        let store = ArtifactStore::open(&root.path().join("store")).unwrap();
        let out = output(root.path());
        let (manifest, digest) = store.ingest(&out, &mut Budget::unlimited()).unwrap();
        assert_eq!(manifest.file_count(), 2);
        assert!(!out.exists(), "the output folder was moved");
        let mounted = store.mount("Out", &digest).unwrap();
        assert_eq!(
            std::fs::read_to_string(mounted.join("a/b/one.txt")).unwrap(),
            "same"
        );
        assert!(mounted.join("empty").is_dir());
        store.verify("Out", &digest).unwrap();

        // Equal outputs are distinct artifacts with equal content digests.
        let (_, again) = store
            .ingest(&output(root.path()), &mut Budget::unlimited())
            .unwrap();
        assert_ne!(digest, again);
        assert_eq!(store.unsealed(), {
            let mut both = vec![digest.clone(), again.clone()];
            both.sort();
            both
        });
        let one = store.seal("Out", &digest).unwrap();
        let two = store.seal("Out", &again).unwrap();
        assert_eq!(one.content_digest, two.content_digest);
        assert_eq!(one.files.len(), 2);
        assert!(store.unsealed().is_empty());
        store.verify("Out", &digest).unwrap();
    }

    #[test]
    fn a_tampered_manifest_fails_to_mount_with_a_clear_error() {
        let root = tempfile::tempdir().unwrap();
        let store = ArtifactStore::open(&root.path().join("store")).unwrap();
        let (_, digest) = store
            .ingest(&output(root.path()), &mut Budget::unlimited())
            .unwrap();
        let path = store.manifest_path(&digest);
        let body = std::fs::read_to_string(&path)
            .unwrap()
            .replace("two.txt", "six.txt");
        std::fs::write(&path, body).unwrap();
        let error = store.mount("Build", &digest).unwrap_err();
        assert!(
            error.to_string().starts_with(&format!(
                "artifact `Build` (sha256:{digest}) is corrupt: its manifest's digest is sha256:"
            )),
            "{error}"
        );
        std::fs::remove_file(&path).unwrap();
        let error = store.mount("Build", &digest).unwrap_err().to_string();
        assert!(error.contains("its manifest cannot be read"), "{error}");
    }

    #[test]
    fn verify_finds_changed_added_and_missing_files() {
        let root = tempfile::tempdir().unwrap();
        let store = ArtifactStore::open(&root.path().join("store")).unwrap();
        let (_, digest) = store
            .ingest(&output(root.path()), &mut Budget::unlimited())
            .unwrap();
        store.seal("Build", &digest).unwrap();
        let tree = store.tree_path(&digest);

        // Same size, different content: only the sums can tell.
        std::fs::write(tree.join("two.txt"), "SAME").unwrap();
        let error = store.verify("Build", &digest).unwrap_err().to_string();
        assert!(
            error.contains("the content of `two.txt` has sha256:"),
            "{error}"
        );
        std::fs::write(tree.join("two.txt"), "longer").unwrap();
        let error = store.verify("Build", &digest).unwrap_err().to_string();
        assert!(
            error.contains("`two.txt` should be a file of 4 bytes"),
            "{error}"
        );
        std::fs::write(tree.join("two.txt"), "same").unwrap();
        std::fs::write(tree.join("extra"), "x").unwrap();
        let error = store.verify("Build", &digest).unwrap_err().to_string();
        assert!(error.contains("`extra` is not part of it"), "{error}");
        std::fs::remove_file(tree.join("extra")).unwrap();
        std::fs::remove_file(tree.join("a/b/one.txt")).unwrap();
        let error = store.verify("Build", &digest).unwrap_err().to_string();
        assert!(error.contains("`a/b/one.txt` is missing"), "{error}");
        std::fs::remove_dir_all(&tree).unwrap();
        let error = store.mount("Build", &digest).unwrap_err().to_string();
        assert!(
            error.contains("its files are missing from the store"),
            "{error}"
        );
    }
}
