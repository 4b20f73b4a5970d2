//! The content-addressed artifact store.
//!
//! A file is stored once, as a read-only blob named by its sha256 (and a
//! `.x` suffix when executable). An artifact is a manifest of paths, modes
//! and digests; the manifest's own digest is the artifact's digest and its
//! file name. Ingesting an output links its files into the store (a copy
//! only across file systems); mounting an artifact into a job links the
//! blobs into the job's input folder, so handing an artifact on costs per
//! file, not per byte.
//!
//! Mounting checks the manifest against its digest and every blob's size;
//! [`ArtifactStore::verify`] re-hashes every blob's content.

use super::manifest::{self, EntryKind, Manifest};
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

/// The artifact store in one folder of the state directory.
#[derive(Debug, Clone)]
pub struct ArtifactStore {
    blobs: PathBuf,
    manifests: PathBuf,
}

impl ArtifactStore {
    /// A store in `dir` (created when missing).
    pub fn open(dir: &Path) -> Result<Self, ArtifactError> {
        let blobs = dir.join("blobs");
        let manifests = dir.join("manifests");
        for d in [&blobs, &manifests] {
            std::fs::create_dir_all(d).map_err(io(format!("creating {}", d.display())))?;
        }
        Ok(ArtifactStore { blobs, manifests })
    }

    fn blob_path(&self, sha256: &str, mode: u32) -> PathBuf {
        let suffix = if mode & 0o111 != 0 { ".x" } else { "" };
        self.blobs
            .join(&sha256[..2])
            .join(format!("{sha256}{suffix}"))
    }

    fn manifest_path(&self, digest: &str) -> PathBuf {
        self.manifests.join(format!("{digest}.json"))
    }

    /// Takes the folder `dir` into the store; returns its manifest and
    /// digest. The folder's files become the store's blobs (linked), so
    /// the caller must not change them afterwards.
    pub fn ingest(&self, dir: &Path) -> Result<(Manifest, String), ArtifactError> {
        let manifest = manifest::scan(dir).map_err(io(format!("reading {}", dir.display())))?;
        for entry in &manifest.entries {
            let EntryKind::File { mode, sha256, .. } = &entry.kind else {
                continue;
            };
            let blob = self.blob_path(sha256, *mode);
            if blob.exists() {
                continue;
            }
            let source = dir.join(&entry.path);
            let parent = blob.parent().expect("blobs live in a folder");
            std::fs::create_dir_all(parent)
                .map_err(io(format!("creating {}", parent.display())))?;
            set_read_only(&source, *mode)
                .map_err(io(format!("protecting {}", source.display())))?;
            match std::fs::hard_link(&source, &blob) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
                Err(_) => {
                    // Another file system, or too many links: copy.
                    copy_atomically(&source, &blob, *mode)?;
                }
            }
        }
        let digest = manifest.digest();
        let path = self.manifest_path(&digest);
        if !path.exists() {
            let body = serde_json::to_vec(&manifest).expect("manifests serialise");
            let mut temp = tempfile::NamedTempFile::new_in(&self.manifests)
                .map_err(io("writing a manifest"))?;
            temp.write_all(&body).map_err(io("writing a manifest"))?;
            temp.persist(&path).map_err(|e| ArtifactError::Io {
                what: "writing a manifest".into(),
                source: e.error,
            })?;
        }
        Ok((manifest, digest))
    }

    /// The manifest of artifact `name`, checked against `digest`.
    pub fn manifest(&self, name: &str, digest: &str) -> Result<Manifest, ArtifactError> {
        let corrupt = |problem: String| ArtifactError::Corrupt {
            name: name.to_string(),
            digest: digest.to_string(),
            problem,
        };
        let body = std::fs::read(self.manifest_path(digest))
            .map_err(|e| corrupt(format!("its manifest cannot be read ({e})")))?;
        let manifest: Manifest = serde_json::from_slice(&body)
            .map_err(|e| corrupt(format!("its manifest is not valid ({e})")))?;
        let actual = manifest.digest();
        if actual != digest {
            return Err(corrupt(format!("its manifest's digest is sha256:{actual}")));
        }
        Ok(manifest)
    }

    /// Puts artifact `name` (digest `digest`) into the folder `into`
    /// (created): folders made, files linked from their blobs, links made.
    /// A manifest that does not match its digest, or a missing or resized
    /// blob, is an error naming the artifact.
    pub fn mount(&self, name: &str, digest: &str, into: &Path) -> Result<Manifest, ArtifactError> {
        let manifest = self.manifest(name, digest)?;
        std::fs::create_dir_all(into).map_err(io(format!("creating {}", into.display())))?;
        for entry in &manifest.entries {
            let target = into.join(&entry.path);
            match &entry.kind {
                EntryKind::Dir => std::fs::create_dir_all(&target)
                    .map_err(io(format!("creating {}", target.display())))?,
                EntryKind::File { mode, size, sha256 } => {
                    let blob = self.blob_path(sha256, *mode);
                    let stored = std::fs::metadata(&blob).map(|m| m.len()).map_err(|_| {
                        ArtifactError::Corrupt {
                            name: name.to_string(),
                            digest: digest.to_string(),
                            problem: format!(
                                "the content of `{}` (sha256:{sha256}) is missing from the store",
                                entry.path
                            ),
                        }
                    })?;
                    if stored != *size {
                        return Err(ArtifactError::Corrupt {
                            name: name.to_string(),
                            digest: digest.to_string(),
                            problem: format!(
                                "the content of `{}` should be {size} bytes but the stored blob has {stored}",
                                entry.path
                            ),
                        });
                    }
                    if let Some(parent) = target.parent() {
                        std::fs::create_dir_all(parent)
                            .map_err(io(format!("creating {}", parent.display())))?;
                    }
                    if std::fs::hard_link(&blob, &target).is_err() {
                        copy_atomically(&blob, &target, *mode)?;
                    }
                }
                EntryKind::Symlink { target: link } => {
                    #[cfg(unix)]
                    std::os::unix::fs::symlink(link, &target)
                        .map_err(io(format!("linking {}", target.display())))?;
                    #[cfg(not(unix))]
                    let _ = link;
                }
            }
        }
        Ok(manifest)
    }

    /// Re-hashes every blob of an artifact; an error names the first one
    /// whose content does not match.
    pub fn verify(&self, name: &str, digest: &str) -> Result<(), ArtifactError> {
        let manifest = self.manifest(name, digest)?;
        for entry in &manifest.entries {
            let EntryKind::File { mode, sha256, .. } = &entry.kind else {
                continue;
            };
            let blob = self.blob_path(sha256, *mode);
            let (actual, _) = manifest::hash_file(&blob).map_err(|e| ArtifactError::Corrupt {
                name: name.to_string(),
                digest: digest.to_string(),
                problem: format!("the content of `{}` cannot be read ({e})", entry.path),
            })?;
            if &actual != sha256 {
                return Err(ArtifactError::Corrupt {
                    name: name.to_string(),
                    digest: digest.to_string(),
                    problem: format!(
                        "the content of `{}` has sha256:{actual}, not sha256:{sha256}",
                        entry.path
                    ),
                });
            }
        }
        Ok(())
    }
}

fn copy_atomically(from: &Path, to: &Path, mode: u32) -> Result<(), ArtifactError> {
    let parent = to.parent().expect("a file in a folder");
    let temp = tempfile::NamedTempFile::new_in(parent)
        .map_err(io(format!("copying into {}", parent.display())))?;
    std::fs::copy(from, temp.path()).map_err(io(format!("copying {}", from.display())))?;
    set_read_only(temp.path(), mode).map_err(io(format!("protecting {}", to.display())))?;
    temp.persist(to).map_err(|e| ArtifactError::Io {
        what: format!("copying to {}", to.display()),
        source: e.error,
    })?;
    Ok(())
}

#[cfg(unix)]
fn set_read_only(path: &Path, mode: u32) -> std::io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    let mode = if mode & 0o111 != 0 { 0o555 } else { 0o444 };
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
}

#[cfg(not(unix))]
fn set_read_only(path: &Path, _mode: u32) -> std::io::Result<()> {
    let mut permissions = std::fs::metadata(path)?.permissions();
    permissions.set_readonly(true);
    std::fs::set_permissions(path, permissions)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ingest_then_mount_gives_the_same_tree_and_stores_each_file_once() {
        let root = tempfile::tempdir().unwrap();
        let store = ArtifactStore::open(&root.path().join("store")).unwrap();
        let out = root.path().join("out");
        std::fs::create_dir_all(out.join("a/b")).unwrap();
        std::fs::write(out.join("a/b/one.txt"), "same").unwrap();
        std::fs::write(out.join("two.txt"), "same").unwrap();
        std::fs::create_dir_all(out.join("empty")).unwrap();
        let (manifest, digest) = store.ingest(&out).unwrap();
        assert_eq!(manifest.file_count(), 2);
        let blobs: usize = walk_count(&root.path().join("store/blobs"));
        assert_eq!(blobs, 1, "equal content is stored once");

        let mounted = root.path().join("in");
        store.mount("Out", &digest, &mounted).unwrap();
        assert_eq!(
            std::fs::read_to_string(mounted.join("a/b/one.txt")).unwrap(),
            "same"
        );
        assert!(mounted.join("empty").is_dir());
        assert_eq!(manifest::scan(&mounted).unwrap().digest(), digest);
        store.verify("Out", &digest).unwrap();
    }

    #[test]
    fn a_tampered_artifact_fails_to_mount_with_a_clear_error() {
        let root = tempfile::tempdir().unwrap();
        let store = ArtifactStore::open(&root.path().join("store")).unwrap();
        let out = root.path().join("out");
        std::fs::create_dir_all(&out).unwrap();
        std::fs::write(out.join("f.txt"), "content").unwrap();
        let (_, digest) = store.ingest(&out).unwrap();

        // Change the manifest: its digest no longer matches.
        let path = store.manifest_path(&digest);
        let body = std::fs::read_to_string(&path)
            .unwrap()
            .replace("f.txt", "g.txt");
        std::fs::write(&path, body).unwrap();
        let error = store
            .mount("Build", &digest, &root.path().join("in"))
            .unwrap_err();
        assert!(
            error.to_string().starts_with(&format!(
                "artifact `Build` (sha256:{digest}) is corrupt: its manifest's digest is sha256:"
            )),
            "{error}"
        );
    }

    #[test]
    fn a_changed_blob_is_found_by_size_on_mount_and_by_content_on_verify() {
        let root = tempfile::tempdir().unwrap();
        let store = ArtifactStore::open(&root.path().join("store")).unwrap();
        let out = root.path().join("out");
        std::fs::create_dir_all(&out).unwrap();
        std::fs::write(out.join("f.txt"), "content").unwrap();
        let (manifest, digest) = store.ingest(&out).unwrap();
        let EntryKind::File { sha256, mode, .. } = &manifest.entries[0].kind else {
            panic!()
        };
        let blob = store.blob_path(sha256, *mode);
        set_writable(&blob);
        std::fs::write(&blob, "CONTENT").unwrap();
        let error = store.verify("Build", &digest).unwrap_err().to_string();
        assert!(
            error.contains("the content of `f.txt` has sha256:"),
            "{error}"
        );
        std::fs::write(&blob, "longer content").unwrap();
        let error = store
            .mount("Build", &digest, &root.path().join("in"))
            .unwrap_err()
            .to_string();
        assert!(
            error.contains("should be 7 bytes but the stored blob has 14"),
            "{error}"
        );
    }

    fn set_writable(path: &Path) {
        let mut permissions = std::fs::metadata(path).unwrap().permissions();
        #[allow(clippy::permissions_set_readonly_false)]
        permissions.set_readonly(false);
        std::fs::set_permissions(path, permissions).unwrap();
    }

    fn walk_count(dir: &Path) -> usize {
        let mut count = 0;
        for entry in std::fs::read_dir(dir).unwrap() {
            let entry = entry.unwrap();
            if entry.file_type().unwrap().is_dir() {
                count += walk_count(&entry.path());
            } else {
                count += 1;
            }
        }
        count
    }
}
