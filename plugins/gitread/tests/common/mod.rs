//! Fixture repositories made with the real `git`, isolated from the
//! machine's git configuration and with fixed dates, so every run builds
//! the same objects.

#![allow(dead_code)]

use std::cell::Cell;
use std::collections::BTreeMap;
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use tempfile::TempDir;

pub struct Fixture {
    /// Holds the repository and anything else a test puts beside it.
    pub root: TempDir,
    /// The working tree (or the bare repository) that tests open.
    pub path: PathBuf,
    clock: Cell<u64>,
}

/// Runs git in `dir` with only the settings given here.
pub fn git_in(dir: &Path, args: &[&str]) -> String {
    let output = git_command(dir, args, 0).output().expect("run git");
    assert!(
        output.status.success(),
        "git {args:?} failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout)
        .expect("git output is UTF-8")
        .trim_end()
        .to_string()
}

/// Runs git with `input` on stdin.
pub fn git_with_input(dir: &Path, args: &[&str], input: &[u8]) -> String {
    let mut child = git_command(dir, args, 0)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run git");
    child.stdin.take().unwrap().write_all(input).unwrap();
    let output = child.wait_with_output().unwrap();
    assert!(
        output.status.success(),
        "git {args:?} failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout)
        .unwrap()
        .trim_end()
        .to_string()
}

fn git_command(dir: &Path, args: &[&str], time: u64) -> Command {
    let mut command = Command::new("git");
    command
        .current_dir(dir)
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .env("HOME", dir)
        .env("GIT_AUTHOR_DATE", format!("{} +0130", 1_700_000_000 + time))
        .env(
            "GIT_COMMITTER_DATE",
            format!("{} -0800", 1_700_000_000 + time + 7),
        )
        .env_remove("GIT_DIR")
        .env_remove("GIT_WORK_TREE")
        .env_remove("GIT_INDEX_FILE")
        .env_remove("GIT_OBJECT_DIRECTORY")
        .env_remove("GIT_ALTERNATE_OBJECT_DIRECTORIES")
        .args([
            "-c",
            "user.name=Ada Lovelace",
            "-c",
            "user.email=ada@example.com",
            "-c",
            "init.defaultBranch=main",
            "-c",
            "commit.gpgsign=false",
            "-c",
            "tag.gpgsign=false",
            "-c",
            "core.autocrlf=false",
            "-c",
            "gc.auto=0",
            "-c",
            "protocol.file.allow=always",
        ])
        .args(args);
    command
}

impl Fixture {
    /// An empty repository with a working tree.
    pub fn new() -> Fixture {
        let root = tempfile::tempdir().unwrap();
        let path = root.path().join("repo");
        fs::create_dir(&path).unwrap();
        git_in(&path, &["init", "-q"]);
        Fixture {
            root,
            path,
            clock: Cell::new(0),
        }
    }

    pub fn git(&self, args: &[&str]) -> String {
        self.clock.set(self.clock.get() + 60);
        let output = git_command(&self.path, args, self.clock.get())
            .output()
            .expect("run git");
        assert!(
            output.status.success(),
            "git {args:?} failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        String::from_utf8(output.stdout)
            .unwrap()
            .trim_end()
            .to_string()
    }

    pub fn write(&self, relative: &str, content: impl AsRef<[u8]>) {
        let path = self.path.join(relative);
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        fs::write(path, content).unwrap();
    }

    pub fn remove(&self, relative: &str) {
        let path = self.path.join(relative);
        if path.is_dir() {
            fs::remove_dir_all(path).unwrap();
        } else {
            fs::remove_file(path).unwrap();
        }
    }

    #[cfg(unix)]
    pub fn make_executable(&self, relative: &str, executable: bool) {
        use std::os::unix::fs::PermissionsExt;
        let path = self.path.join(relative);
        let mode = if executable { 0o755 } else { 0o644 };
        fs::set_permissions(path, fs::Permissions::from_mode(mode)).unwrap();
    }

    #[cfg(unix)]
    pub fn symlink(&self, relative: &str, target: &str) {
        let path = self.path.join(relative);
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::os::unix::fs::symlink(target, path).unwrap();
    }

    /// Stages everything and commits; returns the new commit's id.
    pub fn commit(&self, message: &str) -> String {
        self.git(&["add", "-A"]);
        self.git(&["commit", "-q", "--allow-empty", "-m", message]);
        self.git(&["rev-parse", "HEAD"])
    }

    /// A fresh folder under the fixture's root, not yet created.
    pub fn out(&self, name: &str) -> PathBuf {
        self.root.path().join(name)
    }

    /// `git archive` of `rev` (optionally only `subpath`, re-rooted like a
    /// checkout of it), extracted with tar into a new folder.
    pub fn archive(&self, rev: &str, subpath: Option<&str>) -> PathBuf {
        let dest = self.out(&format!(
            "archive-{rev}-{}",
            subpath.unwrap_or("").replace('/', "_")
        ));
        fs::create_dir_all(&dest).unwrap();
        let tree = match subpath {
            Some(sub) => format!("{rev}:{sub}"),
            None => rev.to_string(),
        };
        let tar = self.out("archive.tar");
        git_in(
            &self.path,
            &[
                "archive",
                "--format=tar",
                "-o",
                tar.to_str().unwrap(),
                &tree,
            ],
        );
        let status = Command::new("tar")
            .arg("-xf")
            .arg(&tar)
            .arg("-C")
            .arg(&dest)
            .status()
            .unwrap();
        assert!(status.success());
        fs::remove_file(tar).unwrap();
        dest
    }
}

/// What a path in a checked-out folder is, for comparing two folders.
#[derive(Debug, PartialEq, Eq)]
pub enum Node {
    Folder,
    File { content: Vec<u8>, executable: bool },
    Symlink(PathBuf),
}

/// Every path under `root` (relative, `/`-separated) and what it is.
pub fn snapshot(root: &Path) -> BTreeMap<String, Node> {
    let mut nodes = BTreeMap::new();
    let mut pending = vec![(root.to_path_buf(), String::new())];
    while let Some((dir, prefix)) = pending.pop() {
        for entry in fs::read_dir(&dir).unwrap() {
            let entry = entry.unwrap();
            let name = entry.file_name().into_string().unwrap();
            let relative = if prefix.is_empty() {
                name
            } else {
                format!("{prefix}/{name}")
            };
            let meta = fs::symlink_metadata(entry.path()).unwrap();
            let node = if meta.file_type().is_symlink() {
                Node::Symlink(fs::read_link(entry.path()).unwrap())
            } else if meta.is_dir() {
                pending.push((entry.path(), relative.clone()));
                Node::Folder
            } else {
                Node::File {
                    content: fs::read(entry.path()).unwrap(),
                    executable: is_executable(&meta),
                }
            };
            nodes.insert(relative, node);
        }
    }
    nodes
}

#[cfg(unix)]
fn is_executable(meta: &fs::Metadata) -> bool {
    use std::os::unix::fs::PermissionsExt;
    meta.permissions().mode() & 0o100 != 0
}

#[cfg(not(unix))]
fn is_executable(_meta: &fs::Metadata) -> bool {
    false
}

/// Asserts two folders hold the same paths with the same content, naming
/// the first difference rather than dumping both trees.
pub fn assert_same_tree(actual: &Path, expected: &Path) {
    let actual = snapshot(actual);
    let expected = snapshot(expected);
    let actual_paths: Vec<_> = actual.keys().collect();
    let expected_paths: Vec<_> = expected.keys().collect();
    assert_eq!(actual_paths, expected_paths, "different paths");
    for (path, node) in &expected {
        assert!(actual[path] == *node, "`{path}` differs");
    }
}

/// Deterministic bytes that do not compress well, for large-file fixtures.
pub fn noise(len: usize, seed: u64) -> Vec<u8> {
    let mut state = seed
        .wrapping_mul(6364136223846793005)
        .wrapping_add(1442695040888963407);
    (0..len)
        .map(|_| {
            state = state
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (state >> 33) as u8
        })
        .collect()
}
