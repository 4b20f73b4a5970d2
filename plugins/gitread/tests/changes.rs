//! `changed_paths` compared with `git diff --no-renames --name-only`.

mod common;

use common::Fixture;
use gitread::{ObjectId, Repository};

fn id(text: &str) -> ObjectId {
    text.parse().unwrap()
}

fn git_changes(fx: &Fixture, from: &str, to: &str) -> Vec<String> {
    let mut paths: Vec<String> = fx
        .git(&["diff", "--no-renames", "--name-only", from, to])
        .lines()
        .map(str::to_string)
        .collect();
    paths.sort();
    paths
}

#[test]
fn changed_paths_match_git_diff() {
    let fx = Fixture::new();
    fx.write("README.md", "readme\n");
    fx.write("docs/guide.md", "guide\n");
    fx.write("docs/api/index.md", "api\n");
    fx.write("src/lib.rs", "lib\n");
    fx.write("src/util/mod.rs", "util\n");
    fx.write("becomes-folder", "file for now\n");
    fx.write("tools/run.sh", "#!/bin/sh\n");
    let mut commits = vec![fx.commit("base")];

    // Edits, an added and a removed folder, a rename.
    fx.write("docs/guide.md", "guide v2\n");
    fx.remove("docs/api");
    fx.write("examples/demo/main.rs", "demo\n");
    fx.git(&["mv", "src/lib.rs", "src/core.rs"]);
    commits.push(fx.commit("edits"));

    // A file becomes a folder and a folder becomes a file.
    fx.remove("becomes-folder");
    fx.write("becomes-folder/inside.txt", "now a folder\n");
    fx.remove("src/util");
    fx.write("src/util", "now a file\n");
    commits.push(fx.commit("type changes"));

    // Only the executable bit changes.
    #[cfg(unix)]
    fx.make_executable("tools/run.sh", true);
    #[cfg(unix)]
    fx.symlink("docs/link", "guide.md");
    commits.push(fx.commit("mode change"));

    // A submodule entry appears.
    let sub = commits[0].clone();
    fx.git(&[
        "update-index",
        "--add",
        "--cacheinfo",
        &format!("160000,{sub},vendor/sub"),
    ]);
    fx.git(&["commit", "-q", "-m", "submodule"]);
    commits.push(fx.git(&["rev-parse", "HEAD"]));

    fx.git(&["gc", "-q"]);
    let repo = Repository::open(&fx.path).unwrap();
    for from in &commits {
        for to in &commits {
            let actual = repo.changed_paths(&id(from), &id(to)).unwrap();
            assert_eq!(actual, git_changes(&fx, from, to), "{from}..{to}");
        }
    }
    assert!(
        repo.changed_paths(&id(&commits[1]), &id(&commits[1]))
            .unwrap()
            .is_empty()
    );
    let edits = repo
        .changed_paths(&id(&commits[0]), &id(&commits[1]))
        .unwrap();
    assert_eq!(
        edits,
        [
            "docs/api/index.md",
            "docs/guide.md",
            "examples/demo/main.rs",
            "src/core.rs",
            "src/lib.rs"
        ]
    );
}
