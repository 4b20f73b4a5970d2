//! `builtin:directory`: a folder on the host is the source object. Its
//! revision is a digest of its content (paths, modes and file contents),
//! like an object version: any change makes a new revision. `run` copies
//! the folder into the output artifact and fails if the content is no
//! longer the revision recorded when the execution started.
//!
//! The folder is reached through a `paths` grant (default name `source`,
//! mounted at `/paths/source`).

use sluice_sdk::{
    Category, Config, Context, Descriptor, Failure, Job, Outcome, Property, Provider, Source,
    SourceRevision,
};
use std::io::Read;
use std::path::{Path, PathBuf};

use support::glob;

struct Directory;

const DEFAULT_PATH: &str = "/paths/source";

impl Provider for Directory {
    fn describe() -> Descriptor {
        Descriptor::new(Category::Source, "sluice", "directory", "1.0.0")
            .description(
                "A folder is the source: its revision is the digest of its content; the output \
                 is a copy of it.",
            )
            .property(Property::optional(
                "Path",
                "The folder inside the sandbox; grant it with `grants.paths.source` \
                 (default /paths/source).",
            ))
            .property(Property::optional(
                "Include",
                "Glob patterns of files to take (comma or newline separated; default: all).",
            ))
            .property(Property::optional(
                "Exclude",
                "Glob patterns of files to leave out (e.g. `target/**, *.tmp`); `.git/` and \
                 `.sluice/` (Sluice's own state) are always left out.",
            ))
            .inputs(0, 0)
            .outputs(1, 1)
    }

    fn validate(config: &Config) -> Result<(), Vec<String>> {
        Self::describe().check(config)?;
        let mut problems = Vec::new();
        for property in ["Include", "Exclude"] {
            for pattern in config.list(property) {
                if let Err(e) = glob::Pattern::new(&pattern) {
                    problems.push(format!(
                        "configuration property `{property}`: pattern `{pattern}`: {e}"
                    ));
                }
            }
        }
        if let Some(path) = config.get("Path")
            && !path.contains("#{")
            && !path.starts_with('/')
        {
            problems.push(format!(
                "configuration property `Path` must be a folder inside the sandbox such as `/paths/source`, not `{path}`"
            ));
        }
        if problems.is_empty() {
            Ok(())
        } else {
            Err(problems)
        }
    }

    fn run(job: Job) -> Result<Outcome, Failure> {
        let selection = Selection::from(&job.config)?;
        let files = selection.files()?;
        // Copy first, then digest the copy: what the output holds is
        // exactly the revision reported, even if the folder changes while
        // it is copied.
        let output = job.first_output()?;
        let mut bytes = 0u64;
        for file in &files {
            let from = selection.root.join(file);
            let to = output.join(file);
            if let Some(parent) = to.parent() {
                std::fs::create_dir_all(parent)
                    .context(format!("creating {}", parent.display()))?;
            }
            bytes += std::fs::copy(&from, &to).context(format!("copying {}", file.display()))?;
        }
        let revision = digest(output.path(), &files)?;
        if let Some(expected) = &job.revision
            && *expected != revision.id
        {
            return Err(Failure::revision_unavailable(format!(
                "the folder is no longer the revision this execution recorded ({}; it is now {}): a folder keeps no history, so start a new execution",
                short(expected),
                short(&revision.id)
            )));
        }
        Ok(Outcome::success()
            .summary(format!(
                "{} at revision {}",
                sluice_sdk::counted(files.len() as u64, "file"),
                short(&revision.id)
            ))
            .revision(revision.id.clone())
            .variable("Revision", revision.id)
            .variable("FileCount", files.len().to_string())
            .variable("ByteCount", bytes.to_string()))
    }
}

impl Source for Directory {
    fn latest_revision(config: &Config) -> Result<SourceRevision, Failure> {
        let selection = Selection::from(config)?;
        let files = selection.files()?;
        digest(&selection.root, &files)
    }
}

struct Selection {
    root: PathBuf,
    include: Vec<glob::Pattern>,
    exclude: Vec<glob::Pattern>,
}

impl Selection {
    fn from(config: &Config) -> Result<Self, Failure> {
        let patterns = |property: &str| -> Result<Vec<glob::Pattern>, Failure> {
            config
                .list(property)
                .iter()
                .map(|p| {
                    glob::Pattern::new(p).map_err(|e| {
                        Failure::configuration(format!(
                            "configuration property `{property}`: pattern `{p}`: {e}"
                        ))
                    })
                })
                .collect()
        };
        let root = PathBuf::from(config.get_or("Path", DEFAULT_PATH));
        if !root.is_dir() {
            return Err(Failure::configuration(format!(
                "the source folder {} is not there: grant it to the action (grants: paths: source: {{ path: ... }})",
                root.display()
            )));
        }
        Ok(Selection {
            root,
            include: patterns("Include")?,
            exclude: patterns("Exclude")?,
        })
    }

    /// The files taken, relative to the root, sorted.
    fn files(&self) -> Result<Vec<PathBuf>, Failure> {
        // `.git` folders anywhere and Sluice's own `.sluice` state at the
        // top are never part of a source: they are not even walked.
        let all = sluice_sdk::fs::list_files_skipping(&self.root, |folder| {
            folder.file_name().is_some_and(|n| n == ".git") || folder == Path::new(".sluice")
        })
        .context(format!("listing {}", self.root.display()))?;
        Ok(all
            .into_iter()
            .filter(|f| self.root.join(f).is_file() && f.file_name().is_some_and(|n| n != ".git"))
            .filter(|f| {
                let text = f.to_string_lossy();
                (self.include.is_empty() || self.include.iter().any(|p| p.matches(&text)))
                    && !self.exclude.iter().any(|p| p.matches(&text))
            })
            .collect())
    }
}

/// The content digest: sha256 over each file's path, size and content.
fn digest(root: &Path, files: &[PathBuf]) -> Result<SourceRevision, Failure> {
    use sha2::{Digest, Sha256};
    let mut total = Sha256::new();
    let mut bytes = 0u64;
    let mut buffer = vec![0u8; 64 * 1024];
    for file in files {
        let mut f =
            std::fs::File::open(root.join(file)).context(format!("reading {}", file.display()))?;
        let mut content = Sha256::new();
        let mut size = 0u64;
        loop {
            let n = f
                .read(&mut buffer)
                .context(format!("reading {}", file.display()))?;
            if n == 0 {
                break;
            }
            content.update(&buffer[..n]);
            size += n as u64;
        }
        bytes += size;
        let content = hex(&content.finalize());
        total.update(format!("{}\0{size}\0{content}\n", file.display()).as_bytes());
    }
    Ok(SourceRevision::new(hex(&total.finalize())).summary(format!(
        "{}, {bytes} bytes",
        sluice_sdk::counted(files.len() as u64, "file")
    )))
}

fn short(revision: &str) -> &str {
    &revision[..revision.len().min(12)]
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

sluice_sdk::export_source_provider!(Directory);
