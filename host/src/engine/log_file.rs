//! Action logs on disk: a file made on the first write, so actions that
//! say nothing leave no file behind (and cost no file-system work).

use std::path::PathBuf;

/// A log file made on the first write.
pub(super) struct LazyFile {
    path: PathBuf,
    file: Option<std::fs::File>,
    failed: bool,
}

impl LazyFile {
    pub(super) fn new(path: PathBuf) -> Self {
        LazyFile {
            path,
            file: None,
            failed: false,
        }
    }
}

impl crate::sandbox::LogWriter for LazyFile {
    fn write_log(&mut self, bytes: &[u8]) {
        use std::io::Write;
        if self.file.is_none() && !self.failed {
            let opened = self
                .path
                .parent()
                .map_or(Ok(()), std::fs::create_dir_all)
                .and_then(|_| {
                    std::fs::OpenOptions::new()
                        .create(true)
                        .append(true)
                        .open(&self.path)
                });
            match opened {
                Ok(f) => self.file = Some(f),
                Err(error) => {
                    tracing::warn!(path = %self.path.display(), %error, "cannot write an action log");
                    self.failed = true;
                }
            }
        }
        if let Some(file) = &mut self.file {
            let _ = file.write_all(bytes);
        }
    }
}
