//! Custom actions, run by external job workers (CodePipeline's job-worker
//! protocol): where a provider call would be, the first call queues a job
//! (`aws_jobs`) with the action's configuration and its input artifacts
//! zipped, as CodePipeline hands them over, and answers in progress; each
//! call-back reads the job. A worker's success with a continuation token
//! queues the next job of the same action; a success without one has its
//! output zips extracted into the action's output folders (then ingested
//! like any provider's outputs, with the same limits); a failure fails the
//! action with the worker's kind and message. The engine's deadline of the
//! action holds as for any provider.
//!
//! The zips live in the state directory, `aws-jobs/JOB/{in,out}/NAME.zip`,
//! served to the job's worker (with the job's own credentials only) by
//! the API's S3 endpoint, and removed when the job ends. When hosts share
//! an artifact bucket, each zip is also kept there under the same name
//! (input zips before the job is queued, output zips as a worker puts
//! them), so any host's endpoint serves any job and a call-back on any
//! host reads the outputs: [`local_object`] and [`share_object`] are the
//! one way either side reaches a job's object.

use super::machine::RunRequest;
use crate::artifacts::Remote;
use crate::records::now_millis;
use crate::sandbox::{Failure, FailureKind, Job, Limits, Outcome};
use crate::store::{AwsJob, Store, aws_job_state as state};
use serde_json::{Value, json};
use std::io::{Read, Write};
use std::path::{Component, Path, PathBuf};
use std::time::Duration;

/// The bucket artifacts of jobs are in, as workers see it.
pub const BUCKET: &str = "sluice-jobs";

/// The folder of the state directory the jobs' zips are in (ended jobs'
/// are removed as they end; those of actions stopped, abandoned or timed
/// out by retention's collection, after an hour).
pub const JOBS_DIR: &str = crate::state_dir::AWS_JOBS;

/// How soon a waiting action reads its job again.
const RECHECK: Duration = Duration::from_secs(1);

/// A job's artifact `name`, in `direction`, in the bucket hosts share
/// (under its prefix, beside the artifacts).
fn object_name(job: &str, direction: &str, name: &str) -> String {
    format!("{JOBS_DIR}/{job}/{direction}/{name}.zip")
}

/// The file of a job's artifact `name` in `direction` on this host,
/// brought from the bucket hosts share when another host made it; `None`
/// when neither has it.
pub async fn local_object(
    remote: Option<&Remote>,
    state_dir: &Path,
    job: &str,
    direction: &str,
    name: &str,
) -> Result<Option<PathBuf>, String> {
    let path = zip_path(state_dir, job, direction, name);
    if path.is_file() {
        return Ok(Some(path));
    }
    let Some(remote) = remote else {
        return Ok(None);
    };
    let found = remote
        .get_file(&object_name(job, direction, name), &path)
        .await
        .map_err(|e| e.to_string())?;
    Ok(found.then_some(path))
}

/// Shares a job's artifact file `path` (`name` in `direction`), just
/// written on this host, with the other hosts (nothing to do without a
/// shared bucket). An output shared is then read from the bucket only:
/// its local file goes, so that no host takes an older copy of an output
/// a worker put again through another host.
pub async fn share_object(
    remote: Option<&Remote>,
    job: &str,
    direction: &str,
    name: &str,
    path: &Path,
) -> Result<(), String> {
    let Some(remote) = remote else {
        return Ok(());
    };
    remote
        .put_file(&object_name(job, direction, name), path)
        .await
        .map_err(|e| e.to_string())?;
    if direction == "out" {
        let _ = tokio::fs::remove_file(path).await;
    }
    Ok(())
}

/// Where a job's artifact `name` is, in `direction` (`in` or `out`).
pub fn zip_path(state_dir: &Path, job: &str, direction: &str, name: &str) -> PathBuf {
    state_dir
        .join(JOBS_DIR)
        .join(job)
        .join(direction)
        .join(format!("{name}.zip"))
}

/// One call of a custom action of `action_type`
/// (`Category/Owner/Provider/Version`).
pub(super) async fn call(
    state_dir: &Path,
    remote: Option<&Remote>,
    store: &JobStore,
    request: &RunRequest,
    job: &Job,
    action_type: &str,
    limits: &Limits,
) -> Outcome {
    let calls = Calls {
        state_dir: state_dir.to_path_buf(),
        remote: remote.cloned(),
        runtime: tokio::runtime::Handle::current(),
        store: store.clone(),
    };
    let request = request.clone();
    let job = job.clone();
    let action_type = action_type.to_string();
    let limits = limits.clone();
    tokio::task::spawn_blocking(move || {
        call_blocking(&calls, &request, &job, &action_type, &limits)
    })
    .await
    .unwrap_or_else(|e| Err(format!("the job's call panicked: {e}")))
    .unwrap_or_else(|message| {
        Outcome::Failed(Failure {
            kind: FailureKind::SystemUnavailable,
            message,
        })
    })
}

/// The store connection custom actions' calls share (opened on the first
/// call, not on each call-back every second; dropped after an error, so
/// the next call opens a new one).
pub(super) type JobStore = std::sync::Arc<std::sync::Mutex<Option<Store>>>;

/// Where a call's zips go: this host's state directory and, when hosts
/// share one, the bucket (reached from the blocking call through the
/// runtime it came from); and its store connection.
struct Calls {
    state_dir: PathBuf,
    remote: Option<Remote>,
    runtime: tokio::runtime::Handle,
    store: JobStore,
}

impl Calls {
    /// Runs `f` on the shared store connection, opening it if need be.
    fn with_store<T>(
        &self,
        f: impl FnOnce(&mut Store) -> Result<T, crate::store::StoreError>,
    ) -> Result<T, String> {
        let mut held = self.store.lock().unwrap_or_else(|e| e.into_inner());
        if held.is_none() {
            *held = Some(Store::open(&self.state_dir).map_err(|e| e.to_string())?);
        }
        let result = f(held.as_mut().expect("opened above"));
        if result.is_err() {
            *held = None;
        }
        result.map_err(|e| e.to_string())
    }

    fn local_object(
        &self,
        job: &str,
        direction: &str,
        name: &str,
    ) -> Result<Option<PathBuf>, String> {
        self.runtime.block_on(local_object(
            self.remote.as_ref(),
            &self.state_dir,
            job,
            direction,
            name,
        ))
    }

    fn share_object(
        &self,
        job: &str,
        direction: &str,
        name: &str,
        path: &Path,
    ) -> Result<(), String> {
        self.runtime.block_on(share_object(
            self.remote.as_ref(),
            job,
            direction,
            name,
            path,
        ))
    }

    /// Removes an ended job's zips, here and in the bucket. A zip the
    /// bucket keeps after a failed removal costs space, not correctness:
    /// no key reaches an ended job's objects.
    fn forget(&self, job: &str) {
        let _ = std::fs::remove_dir_all(self.state_dir.join(JOBS_DIR).join(job));
        if let Some(remote) = &self.remote
            && let Err(e) = self
                .runtime
                .block_on(remote.remove_under(&format!("{JOBS_DIR}/{job}")))
        {
            tracing::warn!("job {job}: {e}");
        }
    }
}

fn call_blocking(
    calls: &Calls,
    request: &RunRequest,
    job: &Job,
    action_type: &str,
    limits: &Limits,
) -> Result<Outcome, String> {
    let Some(id) = &job.continuation else {
        let queued = queue(calls, request, job, action_type, None)?;
        return Ok(waiting(queued, "waiting for a job worker"));
    };
    let found = calls
        .with_store(|s| s.aws_job(id))?
        .ok_or_else(|| format!("job {id} of this action is gone"))?;
    let result: Value = found
        .result
        .as_deref()
        .and_then(|r| serde_json::from_str(r).ok())
        .unwrap_or(Value::Null);
    let outcome = match found.state.as_str() {
        state::SUCCEEDED => {
            if let Some(token) = result.get("continuationToken").and_then(Value::as_str) {
                let next = queue(calls, request, job, action_type, Some(token))?;
                let summary = result
                    .pointer("/executionDetails/summary")
                    .and_then(Value::as_str)
                    .unwrap_or("continuing");
                calls.forget(id);
                return Ok(waiting(next, summary));
            }
            match extract_outputs(calls, id, job, limits) {
                Ok(()) => Outcome::Succeeded {
                    summary: result
                        .pointer("/executionDetails/summary")
                        .and_then(Value::as_str)
                        .map(str::to_string),
                    revision: result
                        .pointer("/currentRevision/revision")
                        .and_then(Value::as_str)
                        .map(str::to_string),
                    variables: result
                        .get("outputVariables")
                        .and_then(Value::as_object)
                        .map(|vars| {
                            vars.iter()
                                .filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_string())))
                                .collect()
                        })
                        .unwrap_or_default(),
                },
                Err(message) => Outcome::Failed(Failure {
                    kind: FailureKind::JobFailed,
                    message,
                }),
            }
        }
        state::FAILED => Outcome::Failed(Failure {
            kind: match result
                .pointer("/failureDetails/type")
                .and_then(Value::as_str)
            {
                Some("ConfigurationError") => FailureKind::ConfigurationError,
                Some("PermissionError") => FailureKind::PermissionError,
                Some("RevisionUnavailable") | Some("RevisionOutOfSync") => {
                    FailureKind::RevisionUnavailable
                }
                Some("SystemUnavailable") => FailureKind::SystemUnavailable,
                _ => FailureKind::JobFailed,
            },
            message: result
                .pointer("/failureDetails/message")
                .and_then(Value::as_str)
                .unwrap_or("the job worker reported a failure")
                .to_string(),
        }),
        other => return Ok(waiting(found.id, &format!("job {other}"))),
    };
    calls.forget(id);
    Ok(outcome)
}

fn waiting(job: String, summary: &str) -> Outcome {
    Outcome::InProgress {
        continuation: job,
        recheck_after: RECHECK,
        summary: Some(crate::text::line(summary).chars().take(200).collect()),
        percent_complete: None,
    }
}

/// Queues a job for this call: its input artifacts zipped, its data as a
/// worker gets it, credentials that reach only its own artifacts.
fn queue(
    calls: &Calls,
    request: &RunRequest,
    job: &Job,
    action_type: &str,
    continuation: Option<&str>,
) -> Result<String, String> {
    let id = uuid::Uuid::now_v7().to_string();
    let location = |direction: &str, name: &str| {
        json!({"type": "S3", "s3Location": {
            "bucketName": BUCKET,
            "objectKey": format!("{id}/{direction}/{name}.zip"),
        }})
    };
    let mut inputs = Vec::new();
    for input in &job.inputs {
        let zip = zip_path(&calls.state_dir, &id, "in", &input.name);
        zip_folder(&input.host_path, &zip)
            .map_err(|e| format!("cannot zip input artifact `{}`: {e}", input.name))?;
        // In the bucket before the job is queued: no worker can ask any
        // host for it before it is there.
        calls
            .share_object(&id, "in", &input.name, &zip)
            .map_err(|e| format!("cannot share input artifact `{}`: {e}", input.name))?;
        inputs.push(json!({
            "name": input.name,
            "revision": input.revision,
            "location": location("in", &input.name),
        }));
    }
    std::fs::create_dir_all(calls.state_dir.join(JOBS_DIR).join(&id).join("out"))
        .map_err(|e| format!("cannot make the job's folder: {e}"))?;
    let outputs: Vec<Value> = job
        .outputs
        .iter()
        .map(|o| json!({"name": o.name, "location": location("out", &o.name)}))
        .collect();
    // Temporary credentials, as AWS's start `ASIA`.
    let (key, secret) = crate::access::new_aws_key()?;
    let access_key_id = key.replacen("AKIA", "ASIA", 1);
    let mut parts = action_type.splitn(4, '/');
    let (category, owner, provider, version) = (
        parts.next().unwrap_or_default(),
        parts.next().unwrap_or_default(),
        parts.next().unwrap_or_default(),
        parts.next().unwrap_or_default(),
    );
    let mut data = json!({
        "actionTypeId": {"category": category, "owner": owner, "provider": provider, "version": version},
        "actionConfiguration": {"configuration": job.configuration.iter()
            .map(|(k, v)| (k.clone(), json!(v)))
            .collect::<serde_json::Map<String, Value>>()},
        "pipelineContext": {
            "pipelineName": request.pipeline,
            "stage": {"name": request.stage},
            "action": {
                "name": request.action,
                "actionExecutionId": crate::records::action_execution_id(
                    &request.key.execution, &request.stage, &request.action, request.attempt),
            },
            "pipelineExecutionId": request.key.execution,
        },
        "inputArtifacts": inputs,
        "outputArtifacts": outputs,
        "artifactCredentials": {
            "accessKeyId": access_key_id,
            "secretAccessKey": secret,
            "sessionToken": crate::access::new_token()?,
        },
    });
    if let Some(token) = continuation {
        data["continuationToken"] = json!(token);
    }
    let queued = AwsJob {
        id: id.clone(),
        nonce: String::new(),
        action_type: action_type.to_string(),
        execution_id: request.key.execution.clone(),
        stage: request.stage.clone(),
        action: request.action.clone(),
        attempt: request.attempt,
        state: state::QUEUED.to_string(),
        data: data.to_string(),
        client_token: None,
        access_key_id,
        result: None,
        created_at: now_millis(),
    };
    calls.with_store(|s| s.queue_aws_job(&queued))?;
    Ok(id)
}

/// Zips a folder's files (links are left out: an artifact's links stay
/// inside it, and a zip handed to a worker carries files).
fn zip_folder(folder: &Path, zip: &Path) -> std::io::Result<()> {
    if let Some(parent) = zip.parent() {
        std::fs::create_dir_all(parent)?;
    }
    let file = std::fs::File::create(zip)?;
    let mut writer = zip::ZipWriter::new(std::io::BufWriter::new(file));
    let options = zip::write::SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Deflated);
    let mut stack = vec![folder.to_path_buf()];
    while let Some(dir) = stack.pop() {
        let mut entries: Vec<_> = std::fs::read_dir(&dir)?.collect::<Result<_, _>>()?;
        entries.sort_by_key(|e| e.file_name());
        for entry in entries {
            let path = entry.path();
            let kind = entry.file_type()?;
            let Ok(relative) = path.strip_prefix(folder) else {
                continue;
            };
            let name = relative.to_string_lossy().replace('\\', "/");
            if kind.is_dir() {
                writer.add_directory(format!("{name}/"), options)?;
                stack.push(path);
            } else if kind.is_file() {
                writer.start_file(name, options)?;
                std::io::copy(&mut std::fs::File::open(&path)?, &mut writer)?;
            }
        }
    }
    writer.finish()?.flush()
}

/// Extracts each output's zip, as the worker put it, into the output's
/// folder. The zip is the worker's, so hostile: entries must stay inside
/// the folder (no absolute paths, no `..`), links are refused, and the
/// bytes and entries written are held to the action's output limits.
fn extract_outputs(calls: &Calls, id: &str, job: &Job, limits: &Limits) -> Result<(), String> {
    let mut bytes_left = limits.output_bytes;
    let mut files_left = limits.output_files;
    for output in &job.outputs {
        let Some(zip) = calls.local_object(id, "out", &output.name)? else {
            return Err(format!(
                "the job worker put no object for output artifact `{}` (s3://{BUCKET}/{id}/out/{}.zip)",
                output.name, output.name
            ));
        };
        extract(&zip, &output.host_path, &mut bytes_left, &mut files_left)
            .map_err(|e| format!("output artifact `{}`: {e}", output.name))?;
    }
    Ok(())
}

fn extract(
    zip: &Path,
    target: &Path,
    bytes_left: &mut u64,
    files_left: &mut u64,
) -> Result<(), String> {
    let file = std::fs::File::open(zip).map_err(|e| e.to_string())?;
    let mut archive =
        zip::ZipArchive::new(file).map_err(|e| format!("the object is not a zip: {e}"))?;
    for index in 0..archive.len() {
        let mut entry = archive.by_index(index).map_err(|e| e.to_string())?;
        let shown = crate::text::line(entry.name()).to_string();
        let relative = safe_relative(entry.name())
            .ok_or_else(|| format!("entry `{shown}` would land outside the artifact"))?;
        if entry.is_symlink() {
            return Err(format!(
                "entry `{shown}` is a link; artifacts from workers hold files and folders only"
            ));
        }
        *files_left = files_left.checked_sub(1).ok_or_else(|| {
            "the zip holds more entries than the action's output limit".to_string()
        })?;
        let path = target.join(&relative);
        if entry.is_dir() {
            std::fs::create_dir_all(&path).map_err(|e| e.to_string())?;
            continue;
        }
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).map_err(|e| e.to_string())?;
        }
        let mut out = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&path)
            .map_err(|e| format!("entry `{shown}`: {e}"))?;
        // Read at most one byte past what is left: a larger entry fails,
        // whatever its header claims.
        let mut limited = (&mut entry).take(bytes_left.saturating_add(1));
        let written =
            std::io::copy(&mut limited, &mut out).map_err(|e| format!("entry `{shown}`: {e}"))?;
        if written > *bytes_left {
            return Err("the zip holds more bytes than the action's output limit".into());
        }
        *bytes_left -= written;
    }
    Ok(())
}

/// A zip entry's name as a path inside the artifact, when it stays inside.
fn safe_relative(name: &str) -> Option<PathBuf> {
    let path = Path::new(name);
    let mut out = PathBuf::new();
    for component in path.components() {
        match component {
            Component::Normal(part) => out.push(part),
            Component::CurDir => {}
            _ => return None,
        }
    }
    (!out.as_os_str().is_empty()).then_some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_must_stay_inside_the_artifact() {
        assert_eq!(safe_relative("a/b.txt"), Some(PathBuf::from("a/b.txt")));
        assert_eq!(safe_relative("./a"), Some(PathBuf::from("a")));
        for bad in ["../x", "/etc/passwd", "a/../../x", "", "."] {
            assert_eq!(safe_relative(bad), None, "{bad}");
        }
    }

    #[test]
    fn a_folder_zips_and_extracts_within_limits() {
        let dir = tempfile::tempdir().unwrap();
        let src = dir.path().join("src");
        std::fs::create_dir_all(src.join("sub")).unwrap();
        std::fs::write(src.join("a.txt"), "alpha").unwrap();
        std::fs::write(src.join("sub/b.txt"), "beta").unwrap();
        let zip = dir.path().join("x.zip");
        zip_folder(&src, &zip).unwrap();
        let out = dir.path().join("out");
        std::fs::create_dir_all(&out).unwrap();
        let (mut bytes, mut files) = (100, 10);
        extract(&zip, &out, &mut bytes, &mut files).unwrap();
        assert_eq!(
            std::fs::read_to_string(out.join("sub/b.txt")).unwrap(),
            "beta"
        );
        assert_eq!(bytes, 100 - 9);
        // The same zip over a smaller budget fails.
        let again = dir.path().join("again");
        std::fs::create_dir_all(&again).unwrap();
        let (mut bytes, mut files) = (6, 10);
        assert!(
            extract(&zip, &again, &mut bytes, &mut files)
                .unwrap_err()
                .contains("bytes")
        );
    }

    #[test]
    fn a_hostile_zip_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let zip = dir.path().join("evil.zip");
        let mut writer = zip::ZipWriter::new(std::fs::File::create(&zip).unwrap());
        let options = zip::write::SimpleFileOptions::default();
        writer.start_file("../escape.txt", options).unwrap();
        writer.write_all(b"x").unwrap();
        writer.finish().unwrap();
        let out = dir.path().join("out");
        std::fs::create_dir_all(&out).unwrap();
        let (mut bytes, mut files) = (100, 10);
        let error = extract(&zip, &out, &mut bytes, &mut files).unwrap_err();
        assert!(error.contains("outside"), "{error}");
        assert!(!dir.path().join("escape.txt").exists());
        let zip = dir.path().join("link.zip");
        let mut writer = zip::ZipWriter::new(std::fs::File::create(&zip).unwrap());
        writer.add_symlink("l", "/etc/passwd", options).unwrap();
        writer.finish().unwrap();
        let error = extract(&zip, &out, &mut bytes, &mut files).unwrap_err();
        assert!(error.contains("link"), "{error}");
    }
}
