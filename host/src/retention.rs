//! Retention: what a state directory lets go, so it does not grow without
//! bound. Each pipeline keeps its newest executions and those that ended
//! recently (its definition's `retention`, defaults 1000 and 365 days); an
//! ended execution past either limit goes with its logs and the artifacts
//! nothing else uses. Running and waiting executions always stay, and so
//! does the latest execution of each stage. Answered requests go after an
//! hour; artifacts and logs nothing refers to (a deleted pipeline's) after
//! an hour too, so nothing just made is taken.
//!
//! The driver collects every ten minutes; `sluice gc [--dry-run]` does it
//! on demand.

use crate::artifacts::ArtifactStore;
use crate::state_dir::StateDir;
use crate::store::Store;
use std::time::{Duration, SystemTime};

/// How long answered requests, and artifacts and logs nothing refers to,
/// are kept.
const GRACE: Duration = Duration::from_secs(3600);

/// What a collection removed (or, in a dry run, would remove).
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct Collected {
    /// Executions, by pipeline.
    pub executions: Vec<(String, usize)>,
    /// Artifacts.
    pub artifacts: usize,
    /// Bytes those artifacts held.
    pub artifact_bytes: u64,
    /// Executions' log folders.
    pub logs: usize,
    /// Answered requests.
    pub requests: usize,
    /// Folders of custom actions' jobs no worker will take.
    pub jobs: usize,
}

impl Collected {
    /// Executions in all.
    pub fn execution_count(&self) -> usize {
        self.executions.iter().map(|(_, n)| n).sum()
    }
}

/// Collects in `state_dir` as of `now` (milliseconds); with `dry_run`,
/// says what would go and removes nothing.
pub fn collect(state_dir: &StateDir, now: i64, dry_run: bool) -> Result<Collected, String> {
    let mut store = Store::open(&state_dir.root).map_err(|e| e.to_string())?;
    let artifacts = ArtifactStore::open(&state_dir.artifacts()).map_err(|e| e.to_string())?;
    let mut collected = Collected::default();
    let grace = GRACE.as_millis() as i64;

    for pipeline in store.pipeline_names().map_err(|e| e.to_string())? {
        let retention = store
            .current_pipeline(&pipeline)
            .map_err(|e| e.to_string())?
            .map(|v| v.definition.retention)
            .unwrap_or_default();
        let ended_before = now - i64::from(retention.days()) * 86_400_000;
        let expired = store
            .expired_executions(&pipeline, retention.executions(), ended_before)
            .map_err(|e| e.to_string())?;
        if expired.is_empty() {
            continue;
        }
        let ids: Vec<String> = expired.iter().map(|e| e.id.clone()).collect();
        let removed = if dry_run {
            ids.len()
        } else {
            store.remove_executions(&ids).map_err(|e| e.to_string())?
        };
        collected.executions.push((pipeline.clone(), removed));
        for execution in &expired {
            let logs = state_dir.logs().join(&execution.id);
            if logs.exists() {
                collected.logs += 1;
                if !dry_run {
                    let _ = std::fs::remove_dir_all(&logs);
                }
            }
            for digest in &execution.digests {
                if dry_run {
                    collected.artifacts += 1;
                    collected.artifact_bytes += artifacts
                        .manifest("artifact", digest)
                        .map(|m| m.total_bytes())
                        .unwrap_or(0);
                } else if !store.digest_in_use(digest).map_err(|e| e.to_string())? {
                    collected.artifact_bytes +=
                        artifacts.remove(digest).map_err(|e| e.to_string())?;
                    collected.artifacts += 1;
                }
            }
        }
    }

    // What nothing refers to any more (a deleted pipeline's), once old.
    let old = |path: &std::path::Path| {
        std::fs::metadata(path)
            .and_then(|m| m.modified())
            .ok()
            .and_then(|t| SystemTime::now().duration_since(t).ok())
            .is_some_and(|age| age > GRACE)
    };
    for digest in artifacts.digests() {
        if artifacts.age(&digest).is_some_and(|age| age > GRACE)
            && !store.digest_in_use(&digest).map_err(|e| e.to_string())?
        {
            collected.artifacts += 1;
            if !dry_run {
                collected.artifact_bytes += artifacts.remove(&digest).map_err(|e| e.to_string())?;
            }
        }
    }
    if let Ok(entries) = std::fs::read_dir(state_dir.logs()) {
        for entry in entries.flatten() {
            let id = entry.file_name().to_string_lossy().into_owned();
            let known = store
                .execution_version(&id)
                .map_err(|e| e.to_string())?
                .is_some();
            if !known && old(&entry.path()) {
                collected.logs += 1;
                if !dry_run {
                    let _ = std::fs::remove_dir_all(entry.path());
                }
            }
        }
    }
    // The zips of custom actions' jobs no worker will take any more (their
    // action was stopped, abandoned or timed out), once old.
    if let Ok(entries) = std::fs::read_dir(state_dir.root.join(crate::state_dir::AWS_JOBS)) {
        for entry in entries.flatten() {
            let id = entry.file_name().to_string_lossy().into_owned();
            if old(&entry.path()) && !store.aws_job_live(&id).map_err(|e| e.to_string())? {
                collected.jobs += 1;
                if !dry_run {
                    let _ = std::fs::remove_dir_all(entry.path());
                }
            }
        }
    }
    collected.requests = if dry_run {
        0
    } else {
        // Ended jobs go with answered requests (their results are in the
        // steps that recorded them).
        store.prune_jobs(now - grace).map_err(|e| e.to_string())?;
        store
            .prune_requests(now - grace)
            .map_err(|e| e.to_string())?
    };
    Ok(collected)
}

/// Collects a minute after the start, then every
/// `every`, on a blocking thread with a connection of its own.
pub async fn collect_every(dir: StateDir, every: Duration) {
    tokio::time::sleep(Duration::from_secs(60)).await;
    let mut ticks = tokio::time::interval(every);
    loop {
        ticks.tick().await;
        let dir = dir.clone();
        let collected =
            tokio::task::spawn_blocking(move || collect(&dir, crate::records::now_millis(), false))
                .await;
        match collected {
            Ok(Ok(c)) if c.execution_count() + c.artifacts + c.logs > 0 => {
                tracing::info!(
                    executions = c.execution_count(),
                    artifacts = c.artifacts,
                    bytes = c.artifact_bytes,
                    "retention: collected"
                );
            }
            Ok(Ok(_)) => {}
            Ok(Err(error)) => tracing::warn!(%error, "retention: cannot collect"),
            Err(error) => tracing::warn!(%error, "retention: the collection panicked"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_zips_of_jobs_no_worker_will_take_go_once_old() {
        let dir = tempfile::tempdir().unwrap();
        let state = StateDir::new(dir.path());
        Store::open(dir.path()).unwrap();
        let jobs = dir.path().join(crate::state_dir::AWS_JOBS);
        for id in ["old", "new"] {
            std::fs::create_dir_all(jobs.join(id).join("in")).unwrap();
            std::fs::write(jobs.join(id).join("in/Code.zip"), "zip").unwrap();
        }
        let long_ago = SystemTime::now() - 2 * GRACE;
        std::fs::File::open(jobs.join("old"))
            .unwrap()
            .set_modified(long_ago)
            .unwrap();
        let now = crate::records::now_millis();
        assert_eq!(collect(&state, now, true).unwrap().jobs, 1);
        assert!(jobs.join("old").exists(), "a dry run removes nothing");
        assert_eq!(collect(&state, now, false).unwrap().jobs, 1);
        assert!(!jobs.join("old").exists());
        assert!(jobs.join("new").exists(), "a job just made stays");
    }
}
