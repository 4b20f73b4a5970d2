//! The folders of one action attempt on the host: its input artifacts
//! (the artifact store's own folders, mounted read-only), its empty output
//! folders (moved into the store when the attempt succeeds), its scratch
//! folder. They live while the attempt does (across call-backs of
//! an in-progress provider) and are given back when it ends.
//!
//! Folders are recycled rather than made and removed: on ext4, creating a
//! directory costs about as much as running a no-op action (more once many
//! inodes were freed recently), while renaming an empty one into place
//! costs little. Emptied folders wait in `spare/` for the next job.
//!
//! A driver that stops leaves the folders of in-progress attempts where
//! they are: the next one keeps those of actions still in progress (and
//! removes the rest), and an attempt run again after a call the host lost
//! takes over its predecessor's folders, so a provider resuming with its
//! continuation token finds its scratch files and partial outputs.

use crate::artifacts::{ArtifactError, ArtifactStore};
use crate::contain::Root;
use crate::engine::{ActionKey, ArtifactRecord};
use crate::sandbox::Mount;
use cap_std::fs::Dir;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

/// Most empty folders kept for reuse.
const MAX_SPARE: usize = 4096;

/// Where job folders are made.
#[derive(Debug)]
pub struct Workspaces {
    root: PathBuf,
    spare_dir: PathBuf,
    spare: Mutex<Vec<PathBuf>>,
    next: AtomicU64,
}

/// The folders of one attempt.
#[derive(Debug, Clone)]
pub struct JobFolders {
    /// The attempt's own folder (inputs and outputs live in it); `None`
    /// for a job with no artifacts.
    pub dir: Option<PathBuf>,
    /// Inputs, mounted.
    pub inputs: Vec<Mount>,
    /// Outputs, empty at first.
    pub outputs: Vec<Mount>,
    /// The scratch folder.
    pub scratch: PathBuf,
}

fn io(what: &str, path: &Path) -> impl FnOnce(std::io::Error) -> ArtifactError {
    let what = format!("{what} {}", path.display());
    move |source| ArtifactError::Io { what, source }
}

impl Workspaces {
    /// Job folders under `root`. Spare folders a previous process left are
    /// removed; its attempts' folders stay until [`Workspaces::keep_only`].
    pub fn open(root: &Path) -> std::io::Result<Self> {
        let spare_dir = root.join("spare");
        if spare_dir.exists() {
            std::fs::remove_dir_all(&spare_dir)?;
        }
        std::fs::create_dir_all(&spare_dir)?;
        Ok(Workspaces {
            root: root.to_path_buf(),
            spare_dir,
            spare: Mutex::new(Vec::new()),
            next: AtomicU64::new(0),
        })
    }

    /// Removes the folders a previous process left, but those of actions
    /// `in_progress` says are still running (by execution, stage and
    /// action index).
    pub fn keep_only(&self, in_progress: impl Fn(&str, usize, usize) -> bool) {
        let Ok(entries) = std::fs::read_dir(&self.root) else {
            return;
        };
        for entry in entries.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            if name == "spare" {
                continue;
            }
            let keep = parse_attempt(name.strip_prefix("scratch-").unwrap_or(&name))
                .is_some_and(|(execution, stage, action, _)| in_progress(execution, stage, action));
            if !keep {
                let _ = std::fs::remove_dir_all(entry.path());
            }
        }
    }

    /// The folder (attempt folder or kept scratch, by `folder_of`) an
    /// earlier attempt of the same action left, moved to this attempt's
    /// place: an attempt run again after a lost call resumes its
    /// predecessor's work.
    fn adopt(
        &self,
        key: &ActionKey,
        attempt: u32,
        target: &Path,
        folder_of: fn(&Self, &ActionKey, u32) -> PathBuf,
    ) {
        if target.exists() {
            return;
        }
        for earlier in (1..attempt).rev() {
            let left = folder_of(self, key, earlier);
            if left.exists() {
                let _ = std::fs::rename(&left, target);
                return;
            }
        }
    }

    /// One flat folder per attempt.
    fn attempt_dir(&self, key: &ActionKey, attempt: u32) -> PathBuf {
        self.root.join(format!(
            "{}-{}-{}-{attempt}",
            key.execution, key.stage, key.action
        ))
    }

    /// The scratch folder an in-progress attempt keeps between calls.
    fn kept_scratch(&self, key: &ActionKey, attempt: u32) -> PathBuf {
        self.root.join(format!(
            "scratch-{}-{}-{}-{attempt}",
            key.execution, key.stage, key.action
        ))
    }

    /// An empty folder at `target`: a spare one moved there, or a new one.
    fn take_dir(&self, target: &Path) -> std::io::Result<()> {
        let spare = self.spare.lock().unwrap().pop();
        if let Some(spare) = spare
            && std::fs::rename(&spare, target).is_ok()
        {
            return Ok(());
        }
        std::fs::create_dir(target)
    }

    /// An empty folder to use where it is.
    fn spare_dir(&self) -> std::io::Result<PathBuf> {
        if let Some(spare) = self.spare.lock().unwrap().pop() {
            return Ok(spare);
        }
        let n = self.next.fetch_add(1, Ordering::Relaxed);
        let path = self.spare_dir.join(format!("d{n}"));
        std::fs::create_dir(&path)?;
        Ok(path)
    }

    /// Empties `dir` (files unlinked, folders recycled) and keeps it for
    /// reuse; removes it when it cannot be emptied or the pool is full.
    /// What is inside was written by a provider: it is walked through
    /// handles opened without following links (see [`crate::contain`]), so
    /// a link planted in it is removed, never followed.
    fn recycle(&self, dir: &Path) {
        let parked = (|| -> std::io::Result<()> {
            let root = Root::open(dir)?;
            let spare = Root::open(&self.spare_dir)?;
            self.empty(root.dir(), spare.dir(), 0)?;
            let n = self.next.fetch_add(1, Ordering::Relaxed);
            let name = format!("d{n}");
            let mut pool = self.spare.lock().unwrap();
            if pool.len() >= MAX_SPARE {
                return Err(std::io::Error::other("the pool of spare folders is full"));
            }
            std::fs::rename(dir, self.spare_dir.join(&name))?;
            pool.push(self.spare_dir.join(name));
            Ok(())
        })();
        if parked.is_err() {
            let _ = std::fs::remove_dir_all(dir);
        }
    }

    /// Empties the open folder `dir`: files and links are unlinked,
    /// folders emptied in turn and moved into the spare pool (with a plain
    /// mode again).
    fn empty(&self, dir: &Dir, spare: &Dir, depth: usize) -> std::io::Result<()> {
        use cap_std::fs::PermissionsExt;
        for entry in dir.entries()? {
            let entry = entry?;
            let name = entry.file_name();
            if !entry.file_type()?.is_dir() {
                dir.remove_file(&name)?;
                continue;
            }
            let sub = crate::contain::open_dir_in(dir, Path::new(&name))?;
            if depth >= crate::contain::copy::MAX_DEPTH {
                drop(sub);
                dir.remove_dir_all(&name)?;
                continue;
            }
            sub.set_permissions(".", cap_std::fs::Permissions::from_mode(0o755))?;
            self.empty(&sub, spare, depth + 1)?;
            let mut pool = self.spare.lock().unwrap();
            if pool.len() >= MAX_SPARE {
                drop(pool);
                dir.remove_dir(&name)?;
                continue;
            }
            let n = self.next.fetch_add(1, Ordering::Relaxed);
            let parked = format!("d{n}");
            dir.rename(&name, spare, &parked)?;
            pool.push(self.spare_dir.join(parked));
        }
        Ok(())
    }

    /// The folders of an attempt: made (and inputs mounted) on its first
    /// call, found again on call-backs.
    pub fn prepare(
        &self,
        key: &ActionKey,
        attempt: u32,
        inputs: &[ArtifactRecord],
        outputs: &[String],
        artifacts: &ArtifactStore,
    ) -> Result<JobFolders, ArtifactError> {
        let kept = self.kept_scratch(key, attempt);
        self.adopt(key, attempt, &kept, Self::kept_scratch);
        let scratch = if kept.exists() {
            kept
        } else {
            self.spare_dir()
                .map_err(io("creating a scratch folder in", &self.spare_dir))?
        };
        if inputs.is_empty() && outputs.is_empty() {
            return Ok(JobFolders {
                dir: None,
                inputs: Vec::new(),
                outputs: Vec::new(),
                scratch,
            });
        }
        let dir = self.attempt_dir(key, attempt);
        self.adopt(key, attempt, &dir, Self::attempt_dir);
        let first_call = !dir.exists();
        if first_call {
            self.take_dir(&dir).map_err(io("creating", &dir))?;
        }
        // Inputs are the store's own folders, mounted read-only.
        let mut mounted = Vec::new();
        for input in inputs {
            mounted.push(Mount {
                name: input.name.clone(),
                host_path: artifacts.mount(&input.name, &input.digest)?,
                revision: input.revision.clone(),
            });
        }
        let mut made = Vec::new();
        for name in outputs {
            let path = dir.join(format!("out-{name}"));
            if first_call || !path.exists() {
                self.take_dir(&path).map_err(io("creating", &path))?;
            }
            made.push(Mount {
                name: name.clone(),
                host_path: path,
                revision: None,
            });
        }
        Ok(JobFolders {
            dir: Some(dir),
            inputs: mounted,
            outputs: made,
            scratch,
        })
    }

    /// An in-progress attempt keeps its scratch folder (and what the
    /// provider left in it) until its next call.
    pub fn keep_scratch(&self, key: &ActionKey, attempt: u32, folders: &JobFolders) {
        let kept = self.kept_scratch(key, attempt);
        if folders.scratch != kept {
            let _ = std::fs::rename(&folders.scratch, &kept);
        }
    }

    /// Gives an ended attempt's folders back.
    pub fn release(&self, folders: &JobFolders) {
        if let Some(dir) = &folders.dir {
            self.recycle(dir);
        }
        // A spare folder the job left empty goes straight back.
        let untouched = folders.scratch.parent() == Some(self.spare_dir.as_path())
            && std::fs::read_dir(&folders.scratch).is_ok_and(|mut d| d.next().is_none());
        if untouched {
            let mut spare = self.spare.lock().unwrap();
            if spare.len() < MAX_SPARE {
                spare.push(folders.scratch.clone());
                return;
            }
        }
        self.recycle(&folders.scratch);
    }

    /// Removes what is left of an execution's folders (those of calls
    /// dropped mid-way).
    pub fn forget_execution(&self, execution: &str) {
        let Ok(entries) = std::fs::read_dir(&self.root) else {
            return;
        };
        for entry in entries.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            let name = name.strip_prefix("scratch-").unwrap_or(&name);
            if name.starts_with(&format!("{execution}-")) {
                let _ = std::fs::remove_dir_all(entry.path());
            }
        }
    }
}

/// The execution, stage, action and attempt a folder name
/// (`EXECUTION-STAGE-ACTION-ATTEMPT`) is for.
fn parse_attempt(name: &str) -> Option<(&str, usize, usize, u32)> {
    let mut parts = name.rsplitn(4, '-');
    let attempt = parts.next()?.parse().ok()?;
    let action = parts.next()?.parse().ok()?;
    let stage = parts.next()?.parse().ok()?;
    Some((parts.next()?, stage, action, attempt))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn folders_are_recycled_not_remade() {
        let root = tempfile::tempdir().unwrap();
        let work = Workspaces::open(&root.path().join("work")).unwrap();
        let store = ArtifactStore::open(&root.path().join("store")).unwrap();
        let key = ActionKey {
            execution: "e".into(),
            stage: 1,
            action: 0,
        };
        let folders = work.prepare(&key, 1, &[], &["Out".into()], &store).unwrap();
        std::fs::create_dir_all(folders.outputs[0].host_path.join("sub")).unwrap();
        std::fs::write(folders.outputs[0].host_path.join("sub/f"), "x").unwrap();
        std::fs::write(folders.scratch.join("junk"), "x").unwrap();
        work.release(&folders);
        let spare = work.spare.lock().unwrap().len();
        assert_eq!(spare, 4, "attempt folder, output, its subfolder, scratch");
        let again = work.prepare(&key, 2, &[], &["Out".into()], &store).unwrap();
        assert_eq!(
            std::fs::read_dir(&again.outputs[0].host_path)
                .unwrap()
                .count(),
            0,
            "a reused folder is empty"
        );
        assert_eq!(std::fs::read_dir(&again.scratch).unwrap().count(), 0);
        assert_eq!(work.spare.lock().unwrap().len(), 1);
    }
}
