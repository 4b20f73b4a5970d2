//! `sluice:provider/files`: copies within the job's folders, done by the
//! host so that permission bits (the executable bit above all) survive.

use super::context::JobContext;
use crate::sandbox::bindings::sluice::provider::files::{CopyStats, Host};
use std::path::{Component, Path, PathBuf};
use std::sync::Arc;
use wasmtime::component::HasData;

/// The slice of a job's state the `files` interface reaches.
pub(crate) struct FilesHost {
    pub(crate) ctx: Arc<JobContext>,
}

/// Names the `files` interface's view for the linker.
pub(crate) struct FilesInterface;

impl HasData for FilesInterface {
    type Data<'a> = &'a mut FilesHost;
}

impl Host for FilesHost {
    async fn copy(&mut self, from: String, to: String) -> Result<CopyStats, String> {
        let source = self
            .ctx
            .mounts
            .to_host(&from)
            .ok_or_else(|| format!("`{from}` is not inside the job"))?;
        let (target, writable) = self
            .ctx
            .mounts
            .to_host_writable(&to)
            .ok_or_else(|| format!("`{to}` is not inside the job"))?;
        if !writable {
            return Err(format!(
                "`{to}` is not in a writable folder (use /scratch, /outputs/NAME or a read-write /paths/NAME)"
            ));
        }
        tokio::task::spawn_blocking(move || copy(&source, &target))
            .await
            .map_err(|e| e.to_string())?
            .map_err(|e| format!("copying `{from}` to `{to}`: {e}"))
    }
}

fn copy(source: &Path, target: &Path) -> std::io::Result<CopyStats> {
    let mut stats = CopyStats {
        files: 0,
        bytes: 0,
        links: 0,
        skipped_links: 0,
    };
    let kind = std::fs::symlink_metadata(source)?.file_type();
    if kind.is_file() {
        copy_file(source, target, &mut stats)?;
        return Ok(stats);
    }
    if !kind.is_dir() {
        return Err(std::io::Error::other(
            "only files and folders can be copied",
        ));
    }
    let mut pending = vec![PathBuf::new()];
    std::fs::create_dir_all(target)?;
    while let Some(relative) = pending.pop() {
        for entry in std::fs::read_dir(source.join(&relative))? {
            let entry = entry?;
            let path = relative.join(entry.file_name());
            let kind = entry.file_type()?;
            if kind.is_dir() {
                std::fs::create_dir_all(target.join(&path))?;
                pending.push(path);
            } else if kind.is_file() {
                copy_file(&source.join(&path), &target.join(&path), &mut stats)?;
            } else if kind.is_symlink() {
                let link = std::fs::read_link(source.join(&path))?;
                if stays_inside(&path, &link) {
                    let destination = target.join(&path);
                    let _ = std::fs::remove_file(&destination);
                    std::os::unix::fs::symlink(&link, &destination)?;
                    stats.links += 1;
                } else {
                    stats.skipped_links += 1;
                }
            }
        }
    }
    Ok(stats)
}

fn copy_file(source: &Path, target: &Path, stats: &mut CopyStats) -> std::io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    if let Some(parent) = target.parent() {
        std::fs::create_dir_all(parent)?;
    }
    if std::fs::symlink_metadata(target).is_ok() {
        std::fs::remove_file(target)?;
    }
    stats.bytes += std::fs::copy(source, target)?;
    // Keep the executable bits; make the copy the owner's to change
    // (artifact files are stored read-only).
    let mode = std::fs::metadata(source)?.permissions().mode() & 0o755 | 0o600;
    std::fs::set_permissions(target, std::fs::Permissions::from_mode(mode))?;
    stats.files += 1;
    Ok(())
}

fn stays_inside(link: &Path, target: &Path) -> bool {
    let mut depth: i64 = link.components().count() as i64 - 1;
    for component in target.components() {
        match component {
            Component::Normal(_) => depth += 1,
            Component::CurDir => {}
            Component::ParentDir => {
                depth -= 1;
                if depth < 0 {
                    return false;
                }
            }
            _ => return false,
        }
    }
    true
}
