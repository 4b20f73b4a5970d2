//! The WASI context of a call: output to the action log, nothing mounted
//! for queries, the job's folders (and granted folders) for a run.

use super::*;
use std::path::{Path, PathBuf};
use wasmtime_wasi::{FsPerms, WasiCtx, WasiCtxBuilder};

/// A WASI context builder with nothing mounted, output going to `log`.
///
/// File system calls run on the calling thread rather than on tokio's
/// blocking pool: a job's files are on local disk, and handing each call
/// to another thread and back cost more than the call (a provider that
/// walks a folder and writes a file spent about 1 ms per job switching
/// threads; see BENCHMARKS.md).
pub(super) fn output_to(log: &ActionLog) -> WasiCtxBuilder {
    let mut builder = WasiCtxBuilder::new();
    builder
        .stdout(stdio::LogStream::new(log.clone(), LogSource::Stdout))
        .stderr(stdio::LogStream::new(log.clone(), LogSource::Stderr))
        .allow_blocking_current_thread(true);
    builder
}

/// A WASI context with nothing mounted, output going to `log`.
pub(super) fn quiet_wasi(log: &ActionLog) -> WasiCtx {
    output_to(log).build()
}

/// Mounts the host folders granted to an action.
pub(super) fn mount_granted(
    builder: &mut WasiCtxBuilder,
    mounts: &[HostMount],
) -> Result<(), SandboxError> {
    for mount in mounts {
        let perms = if mount.writable {
            FsPerms::ReadWrite
        } else {
            FsPerms::ReadOnly
        };
        builder
            .preopened_dir(&mount.host_path, &mount.guest_path, perms)
            .map_err(|e| SandboxError::Mount {
                what: format!("granted folder `{}`", mount.name),
                path: mount.host_path.clone(),
                message: format!("{e:#}"),
            })?;
    }
    Ok(())
}

/// The WASI context of a job: its artifacts, scratch folder and granted
/// folders, output going to `log`, nothing else.
pub(super) fn job_wasi(job: &Job, log: &ActionLog) -> Result<WasiCtx, SandboxError> {
    let mut builder = output_to(log);
    let hidden: Vec<&Path> = job.hidden.iter().map(PathBuf::as_path).collect();
    for mount in &job.mounts {
        grants::hides_nothing(&mount.host_path, &hidden).map_err(|message| {
            SandboxError::Mount {
                what: format!("granted folder `{}`", mount.name),
                path: mount.host_path.clone(),
                message,
            }
        })?;
    }
    mount_granted(&mut builder, &job.mounts)?;
    let mounts = [
        (&job.inputs, guest_paths::INPUTS, FsPerms::ReadOnly, "input"),
        (
            &job.outputs,
            guest_paths::OUTPUTS,
            FsPerms::ReadWrite,
            "output",
        ),
    ];
    for (artifacts, parent, perms, kind) in mounts {
        for mount in artifacts {
            let what = format!("{kind} artifact `{}`", mount.name);
            if !is_artifact_name(&mount.name) {
                return Err(SandboxError::Mount {
                    what,
                    path: mount.host_path.clone(),
                    message: "artifact names use letters, digits, `_` and `-` (at most 100)".into(),
                });
            }
            builder
                .preopened_dir(&mount.host_path, format!("{parent}/{}", mount.name), perms)
                .map_err(|e| SandboxError::Mount {
                    what,
                    path: mount.host_path.clone(),
                    message: format!("{e:#}"),
                })?;
        }
    }
    builder
        .preopened_dir(&job.scratch, guest_paths::SCRATCH, FsPerms::ReadWrite)
        .map_err(|e| SandboxError::Mount {
            what: "the scratch folder".into(),
            path: job.scratch.clone(),
            message: format!("{e:#}"),
        })?;
    Ok(builder.build())
}
