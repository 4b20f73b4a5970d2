//! One artifact as one archive, for object storage: its manifest, its
//! sums and its files (a tar: `manifest.json`, `sums.json`, `tree/...`).
//!
//! Packing reads the stored tree as its manifest lists it, through a
//! contained root (nothing outside the tree is read, whatever its links
//! say). Unpacking treats the archive as hostile: only those three kinds of
//! names, every path checked by [`crate::contain::relative`], files created
//! anew beneath a contained root (never through a link), links made last,
//! sizes capped by the header and the budget; then the tree is checked
//! against the manifest and every file against its sum before it takes its
//! place in the store.

use super::manifest::{EntryKind, Manifest};
use super::store::{ArtifactError, ArtifactStore, Sums};
use crate::contain::{Budget, Root};
use std::io::{BufReader, BufWriter, Read, Write};
use std::path::{Path, PathBuf};

/// The largest manifest or sums file an archive may hold.
const MAX_INDEX_BYTES: u64 = 64 << 20;

fn io(what: impl Into<String>) -> impl FnOnce(std::io::Error) -> ArtifactError {
    let what = what.into();
    move |source| ArtifactError::Io { what, source }
}

/// Writes artifact `digest` (sealed first, if it is not yet) into `out`.
pub fn pack(store: &ArtifactStore, digest: &str, out: std::fs::File) -> Result<(), ArtifactError> {
    let manifest = store.manifest("artifact", digest)?;
    let sums = store.seal("artifact", digest)?;
    let tree = store.tree_path(digest);
    let root = Root::open(&tree).map_err(io(format!("opening {}", tree.display())))?;
    let mut archive = tar::Builder::new(BufWriter::new(out));
    archive.mode(tar::HeaderMode::Deterministic);
    let what = format!("packing artifact sha256:{digest}");
    let manifest_body = serde_json::to_vec(&manifest).expect("manifests serialise");
    let sums_body = serde_json::to_vec(&sums).expect("sums serialise");
    for (name, body) in [("manifest.json", &manifest_body), ("sums.json", &sums_body)] {
        let mut header = tar::Header::new_gnu();
        header.set_size(body.len() as u64);
        header.set_mode(0o644);
        header.set_entry_type(tar::EntryType::Regular);
        archive
            .append_data(&mut header, name, body.as_slice())
            .map_err(io(what.clone()))?;
    }
    for entry in &manifest.entries {
        let name = format!("tree/{}", entry.path);
        let mut header = tar::Header::new_gnu();
        match &entry.kind {
            EntryKind::Dir => {
                header.set_entry_type(tar::EntryType::Directory);
                header.set_mode(0o755);
                header.set_size(0);
                archive
                    .append_data(&mut header, &name, std::io::empty())
                    .map_err(io(what.clone()))?;
            }
            EntryKind::File { mode, size } => {
                let file = root
                    .open_file(Path::new(&entry.path))
                    .map_err(io(format!("{what}: reading `{}`", entry.path)))?;
                header.set_entry_type(tar::EntryType::Regular);
                header.set_mode(*mode);
                header.set_size(*size);
                // Exactly the size the manifest says: a file that changed
                // since is caught when the archive is unpacked and checked.
                archive
                    .append_data(&mut header, &name, file.take(*size))
                    .map_err(io(format!("{what}: `{}`", entry.path)))?;
            }
            EntryKind::Symlink { target } => {
                header.set_entry_type(tar::EntryType::Symlink);
                header.set_mode(0o777);
                header.set_size(0);
                archive
                    .append_link(&mut header, &name, target)
                    .map_err(io(what.clone()))?;
            }
        }
    }
    let mut out = archive.into_inner().map_err(io(what.clone()))?;
    out.flush().map_err(io(what.clone()))?;
    out.get_ref().sync_all().map_err(io(what))
}

/// Reads the archive `input` into the store as artifact `name` (digest
/// `digest`): refused, and nothing kept, unless its manifest has that
/// digest and its files are exactly what the manifest and sums say.
/// `budget` caps what the archive may write.
pub fn unpack(
    store: &ArtifactStore,
    name: &str,
    digest: &str,
    input: std::fs::File,
    budget: &mut Budget,
) -> Result<(), ArtifactError> {
    let corrupt = |problem: String| ArtifactError::Corrupt {
        name: name.to_string(),
        digest: digest.to_string(),
        problem,
    };
    let staging = tempfile::Builder::new()
        .prefix(".fetch-")
        .tempdir_in(store.trees_dir())
        .map_err(io("making a folder to fetch an artifact into"))?;
    let tree = staging.path().join("tree");
    std::fs::create_dir(&tree).map_err(io(format!("creating {}", tree.display())))?;
    let root = Root::open(&tree).map_err(io(format!("opening {}", tree.display())))?;
    let mut manifest_body = None;
    let mut sums_body = None;
    let mut links: Vec<(PathBuf, String)> = Vec::new();
    let mut archive = tar::Archive::new(BufReader::new(input));
    let entries = archive
        .entries()
        .map_err(|e| corrupt(format!("its archive cannot be read ({e})")))?;
    for entry in entries {
        let mut entry = entry.map_err(|e| corrupt(format!("its archive cannot be read ({e})")))?;
        let path = entry
            .path()
            .map_err(|e| corrupt(format!("its archive holds a bad name ({e})")))?
            .to_string_lossy()
            .into_owned();
        let size = entry.header().size().unwrap_or(u64::MAX);
        let kind = entry.header().entry_type();
        if path == "manifest.json" || path == "sums.json" {
            if size > MAX_INDEX_BYTES || !kind.is_file() {
                return Err(corrupt(format!(
                    "its archive's `{path}` is not a small file"
                )));
            }
            let mut body = Vec::with_capacity(size as usize);
            entry
                .by_ref()
                .take(MAX_INDEX_BYTES)
                .read_to_end(&mut body)
                .map_err(|e| corrupt(format!("its archive cannot be read ({e})")))?;
            if path == "manifest.json" {
                manifest_body = Some(body);
            } else {
                sums_body = Some(body);
            }
            continue;
        }
        let Some(inside) = path.strip_prefix("tree/") else {
            return Err(corrupt(format!(
                "its archive holds `{}`, which is not part of an artifact",
                crate::text::line(&path)
            )));
        };
        let inside = inside.trim_end_matches('/');
        if inside.is_empty() {
            continue;
        }
        let relative = crate::contain::relative(inside).map_err(|e| {
            corrupt(format!(
                "its archive holds `{}`: {e}",
                crate::text::line(inside)
            ))
        })?;
        budget
            .take(1, if kind.is_file() { size } else { 0 })
            .map_err(|e| ArtifactError::OverLimit(format!("fetching `{name}`: {e}")))?;
        let dir = root.dir();
        if let Some(parent) = relative.parent().filter(|p| !p.as_os_str().is_empty()) {
            dir.create_dir_all(parent)
                .map_err(|e| corrupt(format!("`{inside}` cannot be made ({e})")))?;
        }
        if kind.is_dir() {
            dir.create_dir_all(&relative)
                .map_err(|e| corrupt(format!("`{inside}` cannot be made ({e})")))?;
        } else if kind.is_file() {
            let mut options = cap_std::fs::OpenOptions::new();
            options.write(true).create_new(true);
            let mut file = dir
                .open_with(&relative, &options)
                .map_err(|e| corrupt(format!("`{inside}` cannot be made ({e})")))?;
            let copied = std::io::copy(&mut entry.by_ref().take(size), &mut file)
                .map_err(|e| corrupt(format!("`{inside}` cannot be written ({e})")))?;
            if copied != size {
                return Err(corrupt(format!("`{inside}` is cut short in its archive")));
            }
            let mode = entry.header().mode().unwrap_or(0o644) & 0o755;
            use cap_std::fs::PermissionsExt;
            file.set_permissions(cap_std::fs::Permissions::from_mode(mode))
                .map_err(|e| corrupt(format!("`{inside}` cannot be made ({e})")))?;
        } else if kind == tar::EntryType::Symlink {
            let target = entry
                .link_name()
                .ok()
                .flatten()
                .map(|t| t.to_string_lossy().into_owned())
                .ok_or_else(|| corrupt(format!("the link `{inside}` has no target")))?;
            links.push((relative, target));
        } else {
            return Err(corrupt(format!(
                "its archive holds `{inside}`, which is neither a file, a folder nor a link"
            )));
        }
    }
    // Links last: nothing above was written through one.
    for (relative, target) in links {
        root.dir().symlink(&target, &relative).map_err(|e| {
            corrupt(format!(
                "the link `{}` cannot be made ({e})",
                relative.display()
            ))
        })?;
    }
    let manifest_body =
        manifest_body.ok_or_else(|| corrupt("its archive has no manifest".into()))?;
    let sums_body = sums_body.ok_or_else(|| corrupt("its archive has no sums".into()))?;
    let manifest: Manifest = serde_json::from_slice(&manifest_body)
        .map_err(|e| corrupt(format!("its manifest is not valid ({e})")))?;
    let _: Sums = serde_json::from_slice(&sums_body)
        .map_err(|e| corrupt(format!("its sums are not valid ({e})")))?;
    if manifest.digest() != digest {
        return Err(corrupt(format!(
            "the manifest fetched has sha256:{}",
            manifest.digest()
        )));
    }
    store.adopt(name, digest, staging, &manifest_body, &sums_body)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Seek;

    /// A store holding one artifact: files, an empty folder, a link.
    fn stored() -> (tempfile::TempDir, ArtifactStore, String) {
        let root = tempfile::tempdir().unwrap();
        let store = ArtifactStore::open(&root.path().join("store")).unwrap();
        let out = root.path().join("out");
        std::fs::create_dir_all(out.join("bin")).unwrap();
        std::fs::create_dir_all(out.join("empty")).unwrap();
        std::fs::write(out.join("bin/tool"), "#!/bin/sh\necho hi\n").unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(out.join("bin/tool"), std::fs::Permissions::from_mode(0o755))
            .unwrap();
        std::fs::write(out.join("readme.txt"), "x".repeat(70_000)).unwrap();
        std::os::unix::fs::symlink("bin/tool", out.join("run")).unwrap();
        let (_, digest) = store.ingest(&out, &mut Budget::unlimited()).unwrap();
        (root, store, digest)
    }

    fn packed(store: &ArtifactStore, digest: &str) -> std::fs::File {
        let mut file = tempfile::tempfile().unwrap();
        pack(store, digest, file.try_clone().unwrap()).unwrap();
        file.rewind().unwrap();
        file
    }

    fn other_store() -> (tempfile::TempDir, ArtifactStore) {
        let root = tempfile::tempdir().unwrap();
        let store = ArtifactStore::open(root.path()).unwrap();
        (root, store)
    }

    #[test]
    fn an_artifact_packed_on_one_host_unpacks_the_same_on_another() {
        let (_dir, here, digest) = stored();
        let (_other, there) = other_store();
        unpack(
            &there,
            "Out",
            &digest,
            packed(&here, &digest),
            &mut Budget::unlimited(),
        )
        .unwrap();
        there.verify("Out", &digest).unwrap();
        let tree = there.mount("Out", &digest).unwrap();
        assert_eq!(
            std::fs::read_link(tree.join("run")).unwrap(),
            Path::new("bin/tool")
        );
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(
            std::fs::metadata(tree.join("bin/tool"))
                .unwrap()
                .permissions()
                .mode()
                & 0o777,
            0o755
        );
        assert_eq!(
            there.sums(&digest).unwrap().content_digest,
            here.sums(&digest).unwrap().content_digest
        );
    }

    /// Rewrites the archive of `digest`: `change` gets each entry's name,
    /// header and body and may alter them; `extra` entries are appended.
    fn rewritten(
        store: &ArtifactStore,
        digest: &str,
        change: impl Fn(&str, &mut tar::Header, &mut Vec<u8>),
        extra: &[(&str, tar::EntryType, &[u8], Option<&str>)],
    ) -> std::fs::File {
        let mut original = tar::Archive::new(packed(store, digest));
        let mut out = tar::Builder::new(tempfile::tempfile().unwrap());
        for entry in original.entries().unwrap() {
            let mut entry = entry.unwrap();
            let name = entry.path().unwrap().to_string_lossy().into_owned();
            let mut header = entry.header().clone();
            let mut body = Vec::new();
            entry.read_to_end(&mut body).unwrap();
            change(&name, &mut header, &mut body);
            header.set_size(body.len() as u64);
            if header.entry_type() == tar::EntryType::Symlink {
                let target = entry.link_name().unwrap().unwrap().into_owned();
                out.append_link(&mut header, &name, target).unwrap();
            } else {
                out.append_data(&mut header, &name, body.as_slice())
                    .unwrap();
            }
        }
        for (name, kind, body, link) in extra {
            let mut header = tar::Header::new_gnu();
            header.set_entry_type(*kind);
            header.set_mode(0o644);
            header.set_size(body.len() as u64);
            // Raw names: the builder's own checks would refuse `..`.
            let bytes = name.as_bytes();
            header.as_gnu_mut().unwrap().name[..bytes.len()].copy_from_slice(bytes);
            if let Some(link) = link {
                header.set_link_name(link).unwrap();
            }
            header.set_cksum();
            out.append(&header, *body).unwrap();
        }
        let mut file = out.into_inner().unwrap();
        file.rewind().unwrap();
        file
    }

    fn refused(archive: std::fs::File, digest: &str) -> (String, tempfile::TempDir) {
        let (dir, there) = other_store();
        let error = unpack(&there, "Out", digest, archive, &mut Budget::unlimited())
            .unwrap_err()
            .to_string();
        assert!(!there.has(digest), "nothing kept after: {error}");
        let left: Vec<_> = std::fs::read_dir(there.trees_dir()).unwrap().collect();
        assert!(left.is_empty(), "no staging left after: {error}");
        (error, dir)
    }

    #[test]
    fn a_changed_file_is_refused_by_its_sum() {
        let (_dir, here, digest) = stored();
        let archive = rewritten(
            &here,
            &digest,
            |name, _, body| {
                if name == "tree/readme.txt" {
                    body[0] = b'y';
                }
            },
            &[],
        );
        let (error, _keep) = refused(archive, &digest);
        assert!(error.contains("the content of `readme.txt`"), "{error}");
    }

    #[test]
    fn names_that_climb_out_or_are_not_part_of_an_artifact_are_refused() {
        let (dir, here, digest) = stored();
        for (name, kind, link, expected) in [
            (
                "tree/../../escape",
                tar::EntryType::Regular,
                None,
                "leads outside its folder",
            ),
            (
                "/etc/owned",
                tar::EntryType::Regular,
                None,
                "not part of an artifact",
            ),
            (
                "other.txt",
                tar::EntryType::Regular,
                None,
                "not part of an artifact",
            ),
            ("tree/fifo", tar::EntryType::Fifo, None, "neither a file"),
            // A link out of the tree.
            (
                "tree/out",
                tar::EntryType::Symlink,
                Some("/tmp"),
                "the link `out` cannot be made",
            ),
        ] {
            let archive = rewritten(&here, &digest, |_, _, _| {}, &[(name, kind, b"x", link)]);
            let (error, _keep) = refused(archive, &digest);
            assert!(error.contains(expected), "{name}: {error}");
        }
        assert!(!dir.path().join("escape").exists());
    }

    #[test]
    fn a_manifest_of_another_artifact_is_refused() {
        let (_dir, here, digest) = stored();
        let (_dir2, _, other) = stored();
        let (error, _keep) = refused(packed(&here, &digest), &other);
        assert!(error.contains("the manifest fetched has"), "{error}");
    }

    #[test]
    fn an_archive_larger_than_the_budget_is_refused() {
        let (_dir, here, digest) = stored();
        let (_other, there) = other_store();
        let error = unpack(
            &there,
            "Out",
            &digest,
            packed(&here, &digest),
            &mut Budget::caps(10_000, 100),
        )
        .unwrap_err();
        assert!(matches!(error, ArtifactError::OverLimit(_)), "{error}");
    }
}
