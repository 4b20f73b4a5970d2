//! Damaged repositories give errors that say what and where, never panics.

mod common;

use std::fs;
use std::path::{Path, PathBuf};

use common::{Fixture, noise};
use gitread::{Error, ObjectId, Repository};

fn id(text: &str) -> ObjectId {
    text.parse().unwrap()
}

fn loose_path(fx: &Fixture, object: &str) -> PathBuf {
    fx.path
        .join(".git/objects")
        .join(&object[..2])
        .join(&object[2..])
}

fn files_with_extension(dir: &Path, extension: &str) -> Vec<PathBuf> {
    fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == extension))
        .collect()
}

/// Everything a provider does with a repository, then reading every
/// object in `all` (so damage to any entry is found).
fn exercise(repo_path: &Path, out: &Path, all: &[ObjectId]) -> Result<(), Error> {
    let repo = Repository::open(repo_path)?;
    for object in all {
        repo.read_object(object)?;
    }
    let head = repo.resolve("main")?;
    let commit = repo.commit(&head)?;
    if let Some(parent) = commit.parents.first() {
        repo.changed_paths(parent, &head)?;
    }
    repo.checkout(&head, None, out)?;
    Ok(())
}

#[test]
fn truncated_loose_object() {
    let fx = Fixture::new();
    fx.write(
        "file.txt",
        "some content that compresses into a few dozen bytes\n".repeat(20),
    );
    let head = fx.commit("base");
    let blob = fx.git(&["rev-parse", "HEAD:file.txt"]);
    let path = loose_path(&fx, &blob);
    let full = fs::read(&path).unwrap();
    let repo = Repository::open(&fx.path).unwrap();
    for len in [0, 1, 2, 5, full.len() / 2, full.len() - 1] {
        fs::write(&path, &full[..len]).unwrap();
        let err = repo.blob(&id(&blob)).unwrap_err();
        let message = err.to_string();
        assert!(matches!(err, Error::Corrupt { .. }), "{message}");
        assert!(
            message.contains(&blob) && message.contains("loose object"),
            "{message}"
        );
        let out = fx.out(&format!("out-{len}"));
        assert!(repo.checkout(&id(&head), None, &out).is_err());
    }
    // Trailing garbage and a wrong header are errors too.
    let mut long = full.clone();
    long.extend_from_slice(b"extra");
    fs::write(&path, &long).unwrap();
    // zlib stops at its own end; bytes after it are ignored, as git does.
    assert!(repo.blob(&id(&blob)).is_ok());
    fs::write(&path, zlib_stored(b"blob 99\0short")).unwrap();
    assert!(repo.blob(&id(&blob)).is_err());
    fs::write(&path, zlib_stored(b"blub 5\0short")).unwrap();
    assert!(repo.blob(&id(&blob)).is_err());
    fs::write(&path, zlib_stored(b"no header at all")).unwrap();
    assert!(repo.blob(&id(&blob)).is_err());
}

/// A valid zlib stream of `data` (one stored deflate block), so loose
/// objects with bad headers can be written without a compressor.
fn zlib_stored(data: &[u8]) -> Vec<u8> {
    let mut out = vec![0x78, 0x01];
    out.push(0x01); // final block, stored
    let len = data.len() as u16;
    out.extend_from_slice(&len.to_le_bytes());
    out.extend_from_slice(&(!len).to_le_bytes());
    out.extend_from_slice(data);
    let (mut a, mut b) = (1u32, 0u32);
    for &byte in data {
        a = (a + u32::from(byte)) % 65521;
        b = (b + a) % 65521;
    }
    out.extend_from_slice(&((b << 16) | a).to_be_bytes());
    out
}

#[test]
fn missing_object() {
    let fx = Fixture::new();
    fx.write("file.txt", "content\n");
    let head = fx.commit("base");
    let blob = fx.git(&["rev-parse", "HEAD:file.txt"]);
    fs::remove_file(loose_path(&fx, &blob)).unwrap();
    let repo = Repository::open(&fx.path).unwrap();
    let err = repo.checkout(&id(&head), None, &fx.out("out")).unwrap_err();
    assert!(matches!(err, Error::ObjectNotFound { .. }));
    assert!(
        err.to_string()
            .starts_with(&format!("object {blob} not found")),
        "{err}"
    );
}

/// A packed repository with deltas, and the bytes of its pack and index.
fn packed_repo() -> (Fixture, PathBuf, PathBuf) {
    let fx = Fixture::new();
    let mut text: Vec<String> = (0..200).map(|i| format!("line {i}\n")).collect();
    fx.write("bin", noise(20_000, 3));
    for round in 0..6 {
        text[round * 13] = format!("changed {round}\n");
        fx.write("text.txt", text.concat());
        fx.write(&format!("dir{round}/f.txt"), format!("{round}\n"));
        fx.commit(&format!("round {round}"));
    }
    fx.git(&["gc", "-q", "--aggressive", "--prune=now"]);
    let pack_dir = fx.path.join(".git/objects/pack");
    let pack = files_with_extension(&pack_dir, "pack").remove(0);
    let index = files_with_extension(&pack_dir, "idx").remove(0);
    (fx, pack, index)
}

/// Every object id reachable in the fixture, as git lists them.
fn all_objects(fx: &Fixture) -> Vec<ObjectId> {
    fx.git(&["rev-list", "--objects", "--all"])
        .lines()
        .map(|line| id(&line[..40]))
        .collect()
}

#[test]
fn damaged_pack_bytes_never_panic() {
    let (fx, pack, _) = packed_repo();
    let original = fs::read(&pack).unwrap();
    let all = all_objects(&fx);
    exercise(&fx.path, &fx.out("baseline"), &all).unwrap();
    // Flip bytes across the whole pack: headers, zlib data, delta data.
    let step = (original.len() / 400).max(1);
    let (mut tries, mut unnoticed) = (0, Vec::new());
    for (n, at) in (12..original.len() - 20).step_by(step).enumerate() {
        let mut damaged = original.clone();
        damaged[at] ^= 0x5a;
        fs::write(&pack, &damaged).unwrap();
        tries += 1;
        match exercise(&fx.path, &fx.out(&format!("flip-{n}")), &all) {
            Err(err) => assert!(err.to_string().contains("pack"), "{err}"),
            Ok(()) => unnoticed.push(at),
        }
    }
    // Zlib's checksum covers every inflated byte; only unused padding bits
    // at the end of a deflate stream could change unnoticed.
    assert!(
        unnoticed.len() * 50 <= tries,
        "unnoticed flips at {unnoticed:?}"
    );
    // Truncations.
    for (n, len) in [0, 11, 12, 100, original.len() / 2, original.len() - 21]
        .into_iter()
        .enumerate()
    {
        fs::write(&pack, &original[..len]).unwrap();
        let err = exercise(&fx.path, &fx.out(&format!("cut-{n}")), &all).unwrap_err();
        assert!(err.to_string().contains("pack"), "{err}");
    }
}

#[test]
fn damaged_pack_index_never_panics() {
    let (fx, _, index) = packed_repo();
    let original = fs::read(&index).unwrap();
    let all = all_objects(&fx);
    for (n, len) in [0, 7, 8, 1000, 1032, original.len() / 2, original.len() - 1]
        .into_iter()
        .enumerate()
    {
        fs::write(&index, &original[..len]).unwrap();
        let err = exercise(&fx.path, &fx.out(&format!("cut-{n}")), &all).unwrap_err();
        assert!(err.to_string().contains("pack index"), "{err}");
    }
    let step = (original.len() / 300).max(1);
    for (n, at) in (0..original.len()).step_by(step).enumerate() {
        let mut damaged = original.clone();
        damaged[at] ^= 0xa5;
        fs::write(&index, &damaged).unwrap();
        let _ = exercise(&fx.path, &fx.out(&format!("flip-{n}")), &all);
    }
}

#[test]
fn damaged_refs_and_trees() {
    let fx = Fixture::new();
    fx.write("a.txt", "a\n");
    let head = fx.commit("base");
    fs::write(fx.path.join(".git/refs/heads/broken"), "not an id\n").unwrap();
    let repo = Repository::open(&fx.path).unwrap();
    let err = repo.resolve("broken").unwrap_err();
    assert!(err.to_string().contains("refs/heads/broken"), "{err}");
    fs::write(fx.path.join(".git/packed-refs"), "garbage line\n").unwrap();
    let err = repo.resolve("nope").unwrap_err();
    assert!(err.to_string().contains("packed-refs"), "{err}");
    fs::remove_file(fx.path.join(".git/packed-refs")).unwrap();

    // A symbolic ref loop.
    fs::write(
        fx.path.join(".git/refs/heads/loop1"),
        "ref: refs/heads/loop2\n",
    )
    .unwrap();
    fs::write(
        fx.path.join(".git/refs/heads/loop2"),
        "ref: refs/heads/loop1\n",
    )
    .unwrap();
    assert!(repo.resolve("loop1").is_err());

    // A commit whose tree is really a blob.
    let blob = fx.git(&["rev-parse", "HEAD:a.txt"]);
    let raw = format!("tree {blob}\nauthor A <a@b> 1 +0000\ncommitter A <a@b> 1 +0000\n\nbad\n");
    let bad = common::git_with_input(
        &fx.path,
        &[
            "hash-object",
            "-t",
            "commit",
            "-w",
            "--literally",
            "--stdin",
        ],
        raw.as_bytes(),
    );
    let err = repo.checkout(&id(&bad), None, &fx.out("bad")).unwrap_err();
    assert!(err.to_string().contains("is a blob, not a tree"), "{err}");
    repo.checkout(&id(&head), None, &fx.out("good")).unwrap();
}
