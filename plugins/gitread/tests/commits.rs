//! Commit fields compared with `git log --format`.

mod common;

use common::{Fixture, git_with_input};
use gitread::{Commit, ObjectId, Repository};

fn id(text: &str) -> ObjectId {
    text.parse().unwrap()
}

/// Checks every field of `commit` against what git prints for it.
fn assert_matches_git(fx: &Fixture, commit: &Commit) {
    let rev = commit.id.to_string();
    let field = |format: &str| fx.git(&["log", "-1", &format!("--format={format}"), &rev]);
    assert_eq!(commit.tree, id(&field("%T")));
    let parents: Vec<ObjectId> = field("%P").split_whitespace().map(id).collect();
    assert_eq!(commit.parents, parents);
    assert_eq!(commit.author.name, field("%an"));
    assert_eq!(commit.author.email, field("%ae"));
    assert_eq!(commit.author.time.to_string(), field("%at"));
    assert_eq!(commit.committer.name, field("%cn"));
    assert_eq!(commit.committer.email, field("%ce"));
    assert_eq!(commit.committer.time.to_string(), field("%ct"));
    // `%ai` ends with the zone as `+hhmm`.
    for (signature, format) in [(&commit.author, "%ai"), (&commit.committer, "%ci")] {
        let zone = field(format).rsplit(' ').next().unwrap().to_string();
        let sign = if zone.starts_with('-') { -1 } else { 1 };
        let minutes = zone[1..3].parse::<i32>().unwrap() * 60 + zone[3..5].parse::<i32>().unwrap();
        assert_eq!(signature.offset_minutes, sign * minutes, "{format}");
    }
    // The raw message: `cat-file` shows it after the header's blank line.
    let raw = fx.git(&["cat-file", "commit", &rev]);
    let message = raw.split_once("\n\n").map(|(_, m)| m).unwrap_or("");
    assert_eq!(commit.message.trim_end(), message.trim_end());
}

#[test]
fn commit_fields_match_git_log() {
    let fx = Fixture::new();
    fx.write("a.txt", "a\n");
    let first = fx.commit("first commit");
    fx.write("a.txt", "b\n");
    let second = fx.commit("Second: with a body\n\nThe body has\nseveral lines.\n\nÜnïcödé too.");
    fx.git(&[
        "-c",
        "user.name=Grace Hopper",
        "-c",
        "user.email=grace@example.org",
        "commit",
        "-q",
        "--allow-empty",
        "-m",
        "by someone else",
    ]);
    let third = fx.git(&["rev-parse", "HEAD"]);

    let repo = Repository::open(&fx.path).unwrap();
    for rev in [&first, &second, &third] {
        let commit = repo.commit(&id(rev)).unwrap();
        assert_eq!(commit.id, id(rev));
        assert_matches_git(&fx, &commit);
    }
    let first = repo.commit(&id(&first)).unwrap();
    assert!(first.parents.is_empty());
    assert_eq!(first.author.offset_minutes, 90);
    assert_eq!(first.committer.offset_minutes, -480);
    assert_eq!(first.message, "first commit\n");
    assert_eq!(
        repo.commit(&id(&third)).unwrap().author.name,
        "Grace Hopper"
    );
}

#[test]
fn merge_commit_has_two_parents() {
    let fx = Fixture::new();
    fx.write("a.txt", "a\n");
    fx.commit("base");
    fx.git(&["checkout", "-q", "-b", "side"]);
    fx.write("side.txt", "side\n");
    fx.commit("side");
    fx.git(&["checkout", "-q", "main"]);
    fx.write("main.txt", "main\n");
    fx.commit("main");
    fx.git(&["merge", "-q", "--no-ff", "-m", "merge side", "side"]);
    let repo = Repository::open(&fx.path).unwrap();
    let merge = repo.commit(&repo.resolve("HEAD").unwrap()).unwrap();
    assert_eq!(merge.parents.len(), 2);
    assert_matches_git(&fx, &merge);
}

#[test]
fn signed_commit_headers_do_not_break_parsing() {
    let fx = Fixture::new();
    fx.write("a.txt", "a\n");
    let parent = fx.commit("base");
    let tree = fx.git(&["rev-parse", "HEAD^{tree}"]);
    // What `git commit -S` writes, with a signature body whose lines look
    // like headers and a blank-looking (single space) line.
    let raw = format!(
        "tree {tree}\nparent {parent}\n\
         author Ada Lovelace <ada@example.com> 1700000000 +0130\n\
         committer Ada Lovelace <ada@example.com> 1700000060 -0800\n\
         gpgsig -----BEGIN PGP SIGNATURE-----\n \n \
         parent 0000000000000000000000000000000000000000\n \
         iQEzBAABCAAdFiEE\n -----END PGP SIGNATURE-----\n\
         \nsigned message\n"
    );
    let signed = git_with_input(
        &fx.path,
        &["hash-object", "-t", "commit", "-w", "--stdin"],
        raw.as_bytes(),
    );
    let repo = Repository::open(&fx.path).unwrap();
    let commit = repo.commit(&id(&signed)).unwrap();
    assert_eq!(commit.parents, vec![id(&parent)]);
    assert_eq!(commit.message, "signed message\n");
    assert_matches_git(&fx, &commit);
}

#[test]
fn reading_a_tree_as_a_commit_is_an_error() {
    let fx = Fixture::new();
    fx.write("a.txt", "a\n");
    fx.commit("base");
    let tree = fx.git(&["rev-parse", "HEAD^{tree}"]);
    let repo = Repository::open(&fx.path).unwrap();
    let err = repo.commit(&id(&tree)).unwrap_err();
    assert_eq!(
        err.to_string(),
        format!("object {tree} is a tree, not a commit")
    );
}
