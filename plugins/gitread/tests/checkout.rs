//! Checkouts compared byte for byte with `git archive` extracted by tar,
//! from loose, packed (with deltas) and mixed object stores.

mod common;

use std::fs;

use common::{Fixture, assert_same_tree, git_with_input, noise, snapshot};
use gitread::{Error, ObjectId, Repository};

fn id(text: &str) -> ObjectId {
    text.parse().unwrap()
}

/// A small project: nested folders, an executable, a symlink, an empty
/// file, a binary file larger than one read chunk, and a text file that
/// changes a little in each of `commits` commits (so packs hold deltas).
/// Returns the commit ids, oldest first.
fn project(fx: &Fixture, commits: usize) -> Vec<String> {
    let mut lines: Vec<String> = (0..600)
        .map(|i| format!("line {i} of the evolving file\n"))
        .collect();
    fx.write("README.md", "# project\n");
    fx.write("empty", "");
    fx.write("src/main.rs", "fn main() {}\n");
    fx.write("src/nested/deep/leaf.txt", "leaf\n");
    fx.write("examples/app/app.txt", "the app\n");
    fx.write("examples/app/bin/run.sh", "#!/bin/sh\necho run\n");
    fx.write("assets/noise.bin", noise(300_000, 1));
    #[cfg(unix)]
    {
        fx.make_executable("examples/app/bin/run.sh", true);
        fx.symlink("examples/app/link-to-readme", "../../README.md");
        fx.symlink("dangling", "does/not/exist");
    }
    let mut ids = Vec::new();
    for round in 0..commits {
        let changed = (round * 37) % lines.len();
        lines[changed] = format!("line changed in round {round}\n");
        lines.push(format!("appended in round {round}\n"));
        fx.write("src/evolving.txt", lines.concat());
        if round % 5 == 4 {
            let mut bin = noise(300_000, 1);
            bin[round * 1000] ^= 0xff;
            fx.write("assets/noise.bin", bin);
        }
        ids.push(fx.commit(&format!("round {round}")));
    }
    ids
}

fn checkout_matches_archive(fx: &Fixture, repo: &Repository, rev: &str, subpath: Option<&str>) {
    let out = fx.out(&format!(
        "out-{rev}-{}",
        subpath.unwrap_or("").replace('/', "_")
    ));
    repo.checkout(&id(rev), subpath, &out).unwrap();
    assert_same_tree(&out, &fx.archive(rev, subpath));
}

fn loose_object_count(fx: &Fixture) -> usize {
    let objects = fx.path.join(".git/objects");
    fs::read_dir(objects)
        .unwrap()
        .map(|e| e.unwrap())
        .filter(|e| e.file_name().len() == 2)
        .map(|e| fs::read_dir(e.path()).unwrap().count())
        .sum()
}

#[test]
fn loose_objects() {
    let fx = Fixture::new();
    let ids = project(&fx, 3);
    assert!(
        !fx.path
            .join(".git/objects/pack")
            .read_dir()
            .unwrap()
            .any(|_| true)
    );
    let repo = Repository::open(&fx.path).unwrap();
    for rev in &ids {
        checkout_matches_archive(&fx, &repo, rev, None);
    }
}

#[test]
fn fully_packed_with_deltas() {
    let fx = Fixture::new();
    let ids = project(&fx, 30);
    fx.git(&["gc", "-q", "--aggressive", "--prune=now"]);
    assert_eq!(loose_object_count(&fx), 0);
    let pack_dir = fx.path.join(".git/objects/pack");
    let index = fs::read_dir(&pack_dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.extension().is_some_and(|e| e == "idx"))
        .unwrap();
    let verify = fx.git(&["verify-pack", "-v", index.to_str().unwrap()]);
    assert!(
        verify.contains("chain length = 2"),
        "the pack has delta chains:\n{verify}"
    );

    let repo = Repository::open(&fx.path).unwrap();
    for rev in [&ids[0], &ids[14], &ids[29]] {
        checkout_matches_archive(&fx, &repo, rev, None);
    }
    // Every version of the evolving file, each rebuilt through its chain.
    for rev in &ids {
        let blob = fx.git(&["rev-parse", &format!("{rev}:src/evolving.txt")]);
        let expected = fx.git(&["cat-file", "blob", &blob]);
        let actual = repo.blob(&id(&blob)).unwrap();
        assert_eq!(String::from_utf8(actual).unwrap().trim_end(), expected);
    }
}

#[test]
fn ref_deltas_index_v1_and_large_offsets() {
    let fx = Fixture::new();
    let ids = project(&fx, 12);
    // REF_DELTA entries instead of OFS_DELTA.
    fx.git(&[
        "-c",
        "repack.useDeltaBaseOffset=false",
        "repack",
        "-q",
        "-a",
        "-d",
        "-f",
    ]);
    fx.git(&["prune-packed"]);
    let pack_dir = fx.path.join(".git/objects/pack");
    let pack = fs::read_dir(&pack_dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.extension().is_some_and(|e| e == "pack"))
        .unwrap();
    let last = ids.last().unwrap();
    let expected = fx.archive(last, None);

    for index_version in ["1", "2,0"] {
        // `2,0` puts every offset in the 8-byte large-offset table.
        let index = pack.with_extension("idx");
        fs::remove_file(&index).unwrap();
        fx.git(&[
            "index-pack",
            &format!("--index-version={index_version}"),
            "-o",
            index.to_str().unwrap(),
            pack.to_str().unwrap(),
        ]);
        let repo = Repository::open(&fx.path).unwrap();
        let out = fx.out(&format!("out-v{index_version}"));
        repo.checkout(&repo.resolve("main").unwrap(), None, &out)
            .unwrap();
        assert_same_tree(&out, &expected);
    }
}

#[test]
fn mixed_packed_and_loose() {
    let fx = Fixture::new();
    project(&fx, 6);
    fx.git(&["gc", "-q"]);
    fx.write("src/evolving.txt", "rewritten after gc\n");
    fx.write("new/file.txt", "new\n");
    let head = fx.commit("after gc");
    assert!(loose_object_count(&fx) > 0);
    let repo = Repository::open(&fx.path).unwrap();
    checkout_matches_archive(&fx, &repo, &head, None);
}

#[test]
fn subfolder_checkout() {
    let fx = Fixture::new();
    let ids = project(&fx, 2);
    fx.git(&["gc", "-q"]);
    let repo = Repository::open(&fx.path).unwrap();
    let head = ids.last().unwrap();
    checkout_matches_archive(&fx, &repo, head, Some("examples/app"));
    checkout_matches_archive(&fx, &repo, head, Some("src/nested/"));

    let out = fx.out("sub");
    let stats = repo
        .checkout(&id(head), Some("/examples/./app/"), &out)
        .unwrap();
    assert_eq!(stats.files, 2);
    assert!(out.join("app.txt").is_file());

    let err = repo
        .checkout(&id(head), Some("examples/nope"), &fx.out("x1"))
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        format!("no folder `examples/nope` in commit {head}")
    );
    let err = repo
        .checkout(&id(head), Some("README.md"), &fx.out("x2"))
        .unwrap_err();
    assert!(err.to_string().contains("is a file, not a folder"), "{err}");
    let err = repo
        .checkout(&id(head), Some("../outside"), &fx.out("x3"))
        .unwrap_err();
    assert!(matches!(err, Error::InvalidSubpath(_)), "{err}");
    // Nothing was created for the failed checkouts.
    assert!(!fx.out("x1").exists());
}

#[cfg(unix)]
#[test]
fn executable_bits_and_symlinks() {
    use std::os::unix::fs::PermissionsExt;
    let fx = Fixture::new();
    project(&fx, 1);
    fx.make_executable("README.md", true);
    let head = fx.commit("make README executable");
    let repo = Repository::open(&fx.path).unwrap();
    let out = fx.out("out");
    let stats = repo.checkout(&id(&head), None, &out).unwrap();
    let mode = |p: &str| fs::metadata(out.join(p)).unwrap().permissions().mode();
    assert_ne!(mode("README.md") & 0o100, 0);
    assert_ne!(mode("examples/app/bin/run.sh") & 0o100, 0);
    assert_eq!(mode("src/main.rs") & 0o111, 0);
    assert_eq!(
        fs::read_link(out.join("examples/app/link-to-readme")).unwrap(),
        std::path::Path::new("../../README.md")
    );
    assert_eq!(
        fs::read_link(out.join("dangling")).unwrap(),
        std::path::Path::new("does/not/exist")
    );
    assert_eq!(stats.symlinks, 2);
    assert_eq!(stats.skipped_symlinks, 0);
    assert_eq!(stats.files, 8);
    let bytes: u64 = snapshot(&out)
        .values()
        .map(|node| match node {
            common::Node::File { content, .. } => content.len() as u64,
            _ => 0,
        })
        .sum();
    assert_eq!(stats.bytes, bytes);
}

#[test]
fn submodules_are_skipped_and_counted() {
    let fx = Fixture::new();
    fx.write("a.txt", "a\n");
    let inner = fx.commit("base");
    fx.git(&[
        "update-index",
        "--add",
        "--cacheinfo",
        &format!("160000,{inner},sub"),
    ]);
    fx.git(&[
        "update-index",
        "--add",
        "--cacheinfo",
        &format!("160000,{inner},deps/lib"),
    ]);
    fx.git(&["commit", "-q", "-m", "add submodules"]);
    let head = fx.git(&["rev-parse", "HEAD"]);
    let repo = Repository::open(&fx.path).unwrap();
    let out = fx.out("out");
    let stats = repo.checkout(&id(&head), None, &out).unwrap();
    assert_eq!(stats.skipped_submodules, 2);
    assert_eq!(stats.files, 1);
    assert!(!out.join("sub").exists());
    assert!(out.join("deps").is_dir());
    let err = repo
        .checkout(&id(&head), Some("sub"), &fx.out("x"))
        .unwrap_err();
    assert!(
        err.to_string().contains("is a submodule, not a folder"),
        "{err}"
    );
}

#[test]
fn destination_must_be_empty() {
    let fx = Fixture::new();
    fx.write("a.txt", "a\n");
    let head = fx.commit("base");
    let repo = Repository::open(&fx.path).unwrap();

    let existing = fx.out("existing-empty");
    fs::create_dir(&existing).unwrap();
    repo.checkout(&id(&head), None, &existing).unwrap();
    assert_eq!(fs::read(existing.join("a.txt")).unwrap(), b"a\n");

    let err = repo.checkout(&id(&head), None, &existing).unwrap_err();
    assert!(matches!(err, Error::DestinationNotEmpty { .. }), "{err}");

    let nested = fx.out("new/nested/dest");
    repo.checkout(&id(&head), None, &nested).unwrap();
    assert!(nested.join("a.txt").is_file());
    assert!(!nested.join(".git").exists());
}

/// Writes a tree object with the given raw entries, bypassing git's own
/// checks the way a hostile repository could.
fn raw_tree(fx: &Fixture, entries: &[(&str, &[u8], &str)]) -> String {
    let mut raw = Vec::new();
    for (mode, name, object) in entries {
        raw.extend_from_slice(mode.as_bytes());
        raw.push(b' ');
        raw.extend_from_slice(name);
        raw.push(0);
        raw.extend_from_slice(id(object).as_bytes());
    }
    git_with_input(
        &fx.path,
        &["hash-object", "-t", "tree", "-w", "--literally", "--stdin"],
        &raw,
    )
}

fn raw_commit(fx: &Fixture, tree: &str) -> String {
    let raw = format!(
        "tree {tree}\nauthor A <a@example.com> 1700000000 +0000\n\
         committer A <a@example.com> 1700000000 +0000\n\nhostile\n"
    );
    git_with_input(
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
    )
}

#[test]
fn hostile_names_never_escape_the_destination() {
    let fx = Fixture::new();
    fx.write("payload", "pwned\n");
    fx.commit("base");
    let blob = fx.git(&["rev-parse", "HEAD:payload"]);
    let repo = Repository::open(&fx.path).unwrap();
    let bad_names: &[&[u8]] = &[b"..", b".", b".git", b".GIT", b"a/b", b"", b".git. "];
    for (i, name) in bad_names.iter().enumerate() {
        let inner = raw_tree(&fx, &[("100644", name, &blob)]);
        // Put it one level down too: `..` in a subfolder is as bad.
        let outer = raw_tree(&fx, &[("40000", b"sub", &inner)]);
        for tree in [inner, outer] {
            let commit = raw_commit(&fx, &tree);
            let out = fx.out(&format!("hostile-{i}-{tree}"));
            let err = repo.checkout(&id(&commit), None, &out).unwrap_err();
            assert!(matches!(err, Error::UnsafeName { .. }), "{name:?}: {err}");
        }
    }
    assert!(!fx.root.path().join("payload").exists());
    assert!(!fx.path.join(".git/payload").exists());

    // A symlink and a folder of the same name: the folder must not be
    // created through the symlink.
    let link_target = git_with_input(
        &fx.path,
        &["hash-object", "-w", "--stdin"],
        fx.root.path().to_str().unwrap().as_bytes(),
    );
    let inner = raw_tree(&fx, &[("100644", b"payload", &blob)]);
    let tree = raw_tree(
        &fx,
        &[("120000", b"x", &link_target), ("40000", b"x", &inner)],
    );
    let commit = raw_commit(&fx, &tree);
    let out = fx.out("hostile-symlink");
    assert!(repo.checkout(&id(&commit), None, &out).is_err());
    assert!(!fx.root.path().join("payload").exists());
}
