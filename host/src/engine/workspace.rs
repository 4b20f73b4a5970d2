//! The folders of one action attempt on the host: its input artifacts
//! (mounted from the artifact store), its empty output folders, its
//! scratch folder. They live while the attempt does (across call-backs of
//! an in-progress provider) and are removed when it ends.

use crate::artifacts::{ArtifactError, ArtifactStore};
use crate::engine::{ActionKey, ArtifactRecord};
use crate::sandbox::Mount;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

/// Where job folders are made.
#[derive(Debug)]
pub struct Workspaces {
    root: PathBuf,
    /// Empty scratch folders left by earlier jobs, reused: making and
    /// removing a folder costs about as much as running a no-op action.
    spare_scratch: Mutex<Vec<PathBuf>>,
    next: std::sync::atomic::AtomicU64,
}

/// The folders of one attempt.
#[derive(Debug, Clone)]
pub struct JobFolders {
    /// The attempt's own folder (inputs and outputs live under it); `None`
    /// for a job with no artifacts, which needs only a scratch folder.
    pub dir: Option<PathBuf>,
    /// Inputs, mounted.
    pub inputs: Vec<Mount>,
    /// Outputs, empty at first.
    pub outputs: Vec<Mount>,
    /// The scratch folder.
    pub scratch: PathBuf,
}

impl Workspaces {
    /// Job folders under `root`; whatever a previous process left there is
    /// removed.
    pub fn open(root: &Path) -> std::io::Result<Self> {
        if root.exists() {
            std::fs::remove_dir_all(root)?;
        }
        std::fs::create_dir_all(root.join("scratch"))?;
        Ok(Workspaces {
            root: root.to_path_buf(),
            spare_scratch: Mutex::new(Vec::new()),
            next: std::sync::atomic::AtomicU64::new(0),
        })
    }

    fn attempt_dir(&self, key: &ActionKey, attempt: u32) -> PathBuf {
        self.root
            .join(&key.execution)
            .join(format!("{}-{}-{attempt}", key.stage, key.action))
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
        let io = |what: &str, path: &Path| {
            let what = format!("{what} {}", path.display());
            move |source| ArtifactError::Io { what, source }
        };
        if inputs.is_empty() && outputs.is_empty() {
            return Ok(JobFolders {
                dir: None,
                inputs: Vec::new(),
                outputs: Vec::new(),
                scratch: self.scratch_for(key, attempt)?,
            });
        }
        let dir = self.attempt_dir(key, attempt);
        let scratch = dir.join("scratch");
        let first_call = !scratch.exists();
        std::fs::create_dir_all(&scratch).map_err(io("creating", &scratch))?;
        let mut mounted = Vec::new();
        for input in inputs {
            let path = dir.join("in").join(&input.name);
            if first_call || !path.exists() {
                if path.exists() {
                    std::fs::remove_dir_all(&path).map_err(io("clearing", &path))?;
                }
                artifacts.mount(&input.name, &input.digest, &path)?;
            }
            mounted.push(Mount {
                name: input.name.clone(),
                host_path: path,
                revision: input.revision.clone(),
            });
        }
        let mut made = Vec::new();
        for name in outputs {
            let path = dir.join("out").join(name);
            std::fs::create_dir_all(&path).map_err(io("creating", &path))?;
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

    /// A scratch folder for an attempt without artifacts: a spare empty one
    /// when there is one. In-progress attempts keep theirs across calls.
    fn scratch_for(&self, key: &ActionKey, attempt: u32) -> Result<PathBuf, ArtifactError> {
        let kept = self.root.join("scratch").join(format!(
            "{}-{}-{}-{attempt}",
            key.execution, key.stage, key.action
        ));
        if kept.exists() {
            return Ok(kept);
        }
        if let Some(spare) = self.spare_scratch.lock().unwrap().pop() {
            return Ok(spare);
        }
        let n = self.next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let path = self.root.join("scratch").join(format!("s{n}"));
        std::fs::create_dir(&path).map_err(|source| ArtifactError::Io {
            what: format!("creating {}", path.display()),
            source,
        })?;
        Ok(path)
    }

    /// An in-progress attempt without artifacts keeps its scratch folder
    /// (and what the provider left in it) until its next call.
    pub fn keep_scratch(&self, key: &ActionKey, attempt: u32, folders: &JobFolders) {
        if folders.dir.is_some() {
            return;
        }
        let kept = self.root.join("scratch").join(format!(
            "{}-{}-{}-{attempt}",
            key.execution, key.stage, key.action
        ));
        if folders.scratch != kept {
            let _ = std::fs::rename(&folders.scratch, &kept);
        }
    }

    /// Removes an ended attempt's folders; an empty scratch folder is kept
    /// for the next job.
    pub fn release(&self, folders: &JobFolders) {
        if let Some(dir) = &folders.dir {
            let _ = std::fs::remove_dir_all(dir);
            return;
        }
        let empty = std::fs::read_dir(&folders.scratch)
            .map(|mut entries| entries.next().is_none())
            .unwrap_or(false);
        if empty {
            let mut spare = self.spare_scratch.lock().unwrap();
            if spare.len() < 1024 {
                spare.push(folders.scratch.clone());
                return;
            }
        }
        let _ = std::fs::remove_dir_all(&folders.scratch);
    }

    /// Removes what is left of an execution's folders.
    pub fn forget_execution(&self, execution: &str) {
        let _ = std::fs::remove_dir_all(self.root.join(execution));
    }
}
