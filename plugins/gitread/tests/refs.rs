//! Resolving names to commits, compared with `git rev-parse`.

mod common;

use std::fs;
use std::path::Path;

use common::{Fixture, git_in};
use gitread::{Error, ObjectId, Repository};

fn id(text: &str) -> ObjectId {
    text.parse().unwrap()
}

/// A repository with two branches (one with a slash), a lightweight and an
/// annotated tag, and a tag of a tag.
fn branches_and_tags() -> Fixture {
    let fx = Fixture::new();
    fx.write("a.txt", "one\n");
    fx.commit("first");
    fx.git(&["tag", "light"]);
    fx.write("a.txt", "two\n");
    fx.commit("second");
    fx.git(&["tag", "-a", "v1.0", "-m", "release 1.0"]);
    fx.git(&["tag", "-a", "nested", "-m", "tag of a tag", "v1.0"]);
    fx.git(&["checkout", "-q", "-b", "feature/x"]);
    fx.write("b.txt", "feature\n");
    fx.commit("feature work");
    fx.git(&["checkout", "-q", "main"]);
    fx
}

fn assert_resolves_like_git(fx: &Fixture, repo: &Repository, names: &[&str]) {
    for name in names {
        let expected = fx.git(&["rev-parse", &format!("{name}^{{commit}}")]);
        let actual = repo
            .resolve(name)
            .unwrap_or_else(|e| panic!("resolve {name}: {e}"));
        assert_eq!(actual, id(&expected), "{name}");
    }
}

const NAMES: &[&str] = &[
    "HEAD",
    "main",
    "feature/x",
    "refs/heads/main",
    "refs/heads/feature/x",
    "light",
    "v1.0",
    "nested",
    "refs/tags/v1.0",
    "refs/tags/light",
];

#[test]
fn resolves_loose_refs() {
    let fx = branches_and_tags();
    let repo = Repository::open(&fx.path).unwrap();
    assert_resolves_like_git(&fx, &repo, NAMES);
}

#[test]
fn resolves_packed_refs_including_peeled_lines() {
    let fx = branches_and_tags();
    fx.git(&["pack-refs", "--all"]);
    let packed = fs::read_to_string(fx.path.join(".git/packed-refs")).unwrap();
    assert!(
        packed.contains("\n^"),
        "packed-refs has peeled lines:\n{packed}"
    );
    assert!(!fx.path.join(".git/refs/heads/main").exists());
    let repo = Repository::open(&fx.path).unwrap();
    assert_resolves_like_git(&fx, &repo, NAMES);
    assert_eq!(repo.branches().unwrap(), ["feature/x", "main"]);
}

#[test]
fn loose_ref_overrides_packed_one() {
    let fx = branches_and_tags();
    fx.git(&["pack-refs", "--all"]);
    // Moving the branch writes a loose ref; the packed line goes stale.
    fx.write("c.txt", "three\n");
    fx.commit("third");
    let repo = Repository::open(&fx.path).unwrap();
    assert_resolves_like_git(&fx, &repo, &["main", "HEAD"]);
}

#[test]
fn resolves_full_ids_of_commits_and_tags() {
    let fx = branches_and_tags();
    let repo = Repository::open(&fx.path).unwrap();
    let head = fx.git(&["rev-parse", "HEAD"]);
    assert_eq!(repo.resolve(&head).unwrap(), id(&head));
    assert_eq!(repo.resolve(&head.to_uppercase()).unwrap(), id(&head));
    // The id of an annotated tag object peels to its commit.
    let tag_object = fx.git(&["rev-parse", "v1.0"]);
    assert_ne!(tag_object, fx.git(&["rev-parse", "v1.0^{commit}"]));
    assert_eq!(
        repo.resolve(&tag_object).unwrap(),
        id(&fx.git(&["rev-parse", "v1.0^{commit}"]))
    );
    let missing = "0123456789012345678901234567890123456789";
    let err = repo.resolve(missing).unwrap_err();
    assert!(matches!(err, Error::ObjectNotFound { .. }), "{err}");
    assert!(err.to_string().contains(missing), "{err}");
}

#[test]
fn detached_head() {
    let fx = branches_and_tags();
    fx.git(&["checkout", "-q", "--detach", "light"]);
    let head = fs::read_to_string(fx.path.join(".git/HEAD")).unwrap();
    assert!(!head.starts_with("ref:"));
    let repo = Repository::open(&fx.path).unwrap();
    assert_resolves_like_git(&fx, &repo, &["HEAD", "main"]);
}

#[test]
fn unknown_branch_lists_branches() {
    let fx = branches_and_tags();
    let repo = Repository::open(&fx.path).unwrap();
    let err = repo.resolve("mian").unwrap_err();
    assert!(matches!(err, Error::RefNotFound { .. }));
    let message = err.to_string();
    assert_eq!(
        message,
        format!(
            "no branch `mian` in {} (branches: feature/x, main)",
            fx.path.display()
        )
    );
    let err = repo.resolve("refs/tags/v9").unwrap_err();
    assert!(
        err.to_string().starts_with("no ref `refs/tags/v9`"),
        "{err}"
    );
}

#[test]
fn invalid_names_are_rejected_before_touching_files() {
    let fx = branches_and_tags();
    let repo = Repository::open(&fx.path).unwrap();
    for name in [
        "../../etc/passwd",
        "",
        "main~1",
        "a b",
        "refs/heads/../HEAD",
        "/abs",
    ] {
        let err = repo.resolve(name).unwrap_err();
        assert!(matches!(err, Error::InvalidName(_)), "{name}: {err}");
    }
}

#[test]
fn unborn_head_names_its_branch() {
    let fx = Fixture::new();
    let repo = Repository::open(&fx.path).unwrap();
    let err = repo.resolve("HEAD").unwrap_err();
    assert!(err.to_string().starts_with("no branch `main` in"), "{err}");
    assert!(err.to_string().contains("it has no branches"), "{err}");
    assert!(repo.branches().unwrap().is_empty());
}

#[test]
fn tag_of_a_tree_is_not_a_commit() {
    let fx = branches_and_tags();
    let tree = fx.git(&["rev-parse", "HEAD^{tree}"]);
    fx.git(&["tag", "-a", "treetag", "-m", "a tree", &tree]);
    let repo = Repository::open(&fx.path).unwrap();
    let err = repo.resolve("treetag").unwrap_err();
    assert!(err.to_string().contains("is a tree, not a commit"), "{err}");
}

#[test]
fn remote_tracking_branches() {
    let fx = branches_and_tags();
    let clone = fx.out("clone");
    git_in(
        fx.root.path(),
        &[
            "clone",
            "-q",
            fx.path.to_str().unwrap(),
            clone.to_str().unwrap(),
        ],
    );
    let repo = Repository::open(&clone).unwrap();
    let expected = git_in(&clone, &["rev-parse", "origin/feature/x"]);
    assert_eq!(repo.resolve("origin/feature/x").unwrap(), id(&expected));
    // `origin` alone is `refs/remotes/origin/HEAD`, a symbolic ref.
    let expected = git_in(&clone, &["rev-parse", "origin"]);
    assert_eq!(repo.resolve("origin").unwrap(), id(&expected));
    assert_eq!(repo.branches().unwrap(), ["main"]);
}

#[test]
fn opens_bare_repositories_and_file_urls() {
    let fx = branches_and_tags();
    let bare = fx.out("bare.git");
    git_in(
        fx.root.path(),
        &[
            "clone",
            "-q",
            "--bare",
            fx.path.to_str().unwrap(),
            bare.to_str().unwrap(),
        ],
    );
    let expected = git_in(&bare, &["rev-parse", "feature/x"]);
    let repo = Repository::open(&bare).unwrap();
    assert!(repo.work_tree().is_none());
    assert_eq!(repo.resolve("feature/x").unwrap(), id(&expected));

    let url = format!("file://{}", bare.display());
    let repo = Repository::open(Path::new(&url)).unwrap();
    assert_eq!(repo.resolve("feature/x").unwrap(), id(&expected));
}

#[test]
fn linked_worktree_has_its_own_head() {
    let fx = branches_and_tags();
    let worktree = fx.out("wt");
    fx.git(&[
        "worktree",
        "add",
        "-q",
        worktree.to_str().unwrap(),
        "feature/x",
    ]);
    assert!(worktree.join(".git").is_file());
    fx.write("d.txt", "main moves on\n");
    fx.commit("main only");

    let repo = Repository::open(&worktree).unwrap();
    let head = git_in(&worktree, &["rev-parse", "HEAD"]);
    assert_eq!(repo.resolve("HEAD").unwrap(), id(&head));
    assert_eq!(
        repo.resolve("HEAD").unwrap(),
        repo.resolve("feature/x").unwrap()
    );
    // Branches and objects are shared with the main repository.
    assert_eq!(
        repo.resolve("main").unwrap(),
        id(&fx.git(&["rev-parse", "main"]))
    );
    assert_eq!(repo.branches().unwrap(), ["feature/x", "main"]);
    repo.commit(&repo.resolve("main").unwrap()).unwrap();
}

#[test]
fn alternates_are_followed() {
    let fx = branches_and_tags();
    fx.git(&["gc", "-q"]);
    let shared = fx.out("shared");
    git_in(
        fx.root.path(),
        &[
            "clone",
            "-q",
            "--shared",
            fx.path.to_str().unwrap(),
            shared.to_str().unwrap(),
        ],
    );
    assert!(shared.join(".git/objects/info/alternates").is_file());
    let repo = Repository::open(&shared).unwrap();
    let head = repo.resolve("HEAD").unwrap();
    assert_eq!(head, id(&git_in(&shared, &["rev-parse", "HEAD"])));
    let out = fx.out("checkout");
    let stats = repo.checkout(&head, None, &out).unwrap();
    assert_eq!(stats.files, 1);
}

#[test]
fn missing_and_non_repositories() {
    let fx = Fixture::new();
    let missing = fx.out("nowhere");
    let err = Repository::open(&missing).unwrap_err();
    assert!(matches!(err, Error::NotARepository { .. }));
    assert!(err.to_string().contains("does not exist"), "{err}");
    assert!(
        err.to_string().contains(&missing.display().to_string()),
        "{err}"
    );

    let plain = fx.out("plain");
    fs::create_dir(&plain).unwrap();
    let err = Repository::open(&plain).unwrap_err();
    assert!(err.to_string().contains("no `.git`"), "{err}");

    let broken = fx.out("broken");
    fs::create_dir(&broken).unwrap();
    fs::write(broken.join(".git"), "nonsense\n").unwrap();
    assert!(Repository::open(&broken).is_err());
}

#[test]
fn sha256_repositories_are_refused() {
    let fx = Fixture::new();
    let sha256 = fx.out("sha256");
    fs::create_dir(&sha256).unwrap();
    git_in(&sha256, &["init", "-q", "--object-format=sha256"]);
    let err = Repository::open(&sha256).unwrap_err();
    assert!(matches!(err, Error::Unsupported { .. }), "{err}");
    assert!(err.to_string().contains("sha256"), "{err}");
}
