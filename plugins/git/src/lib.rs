//! `builtin:git`: a local git repository is the source. `latest-revision`
//! gives the commit a branch points to; `run` writes the tree of exactly the
//! commit recorded for the execution (no `.git`) as the output artifact,
//! with the commit's id, branch, author date and message as variables.
//!
//! The repository is read inside the sandbox, with no git binary: it is
//! granted read-only (`grants.paths.repo`, or the grant `Repository`
//! names) and read by the pure-Rust `gitread` crate.

use gitread::{ObjectId, Repository};
use sluice_sdk::{
    Category, Config, Descriptor, Failure, Job, Outcome, Property, Provider, Source, SourceRevision,
};
use std::path::PathBuf;

struct Git;

impl Provider for Git {
    fn describe() -> Descriptor {
        Descriptor::new(Category::Source, "sluice", "git", "1.0.0")
            .description("A branch of a local git repository is the source; the output is the tree of one commit.")
            .property(Property::optional(
                "Repository",
                "The `paths` grant holding the repository (default `repo`): grant the repository's folder \
                 (a path or file:// URL) read-only.",
            ))
            .property(Property::optional(
                "Branch",
                "The branch to follow (default `main`); `HEAD` follows whatever is checked out.",
            ))
            .property(Property::optional(
                "Path",
                "Only this folder of the repository becomes the artifact (default: all of it).",
            ))
            .outputs(1, 1)
    }

    fn validate(config: &Config) -> Result<(), Vec<String>> {
        Self::describe().check(config)?;
        let mut problems = Vec::new();
        if let Some(path) = config.get("Path")
            && (path.starts_with('/') || path.split('/').any(|p| p == ".."))
        {
            problems.push(format!(
                "configuration property `Path` must be a folder inside the repository, not `{path}`"
            ));
        }
        if let Some(branch) = config.get("Branch")
            && (branch.is_empty() || branch.contains(char::is_whitespace) || branch.contains(".."))
        {
            problems.push(format!(
                "configuration property `Branch`: `{branch}` is not a branch name"
            ));
        }
        if problems.is_empty() {
            Ok(())
        } else {
            Err(problems)
        }
    }

    fn run(job: Job) -> Result<Outcome, Failure> {
        let repository = open(&job.config)?;
        let branch = job.config.get_or("Branch", "main");
        let commit_id = match &job.revision {
            Some(id) => id
                .parse::<ObjectId>()
                .map_err(|_| Failure::revision_unavailable(format!("`{id}` is not a commit id")))?,
            None => resolve(&repository, branch)?,
        };
        let commit = repository
            .commit(&commit_id)
            .map_err(|e| Failure::revision_unavailable(format!("commit {commit_id}: {e}")))?;
        let output = job.first_output()?;
        let subpath = job
            .config
            .get("Path")
            .map(|p| p.trim_matches('/'))
            .filter(|p| !p.is_empty());
        let stats = repository
            .checkout(&commit_id, subpath, output.path())
            .map_err(|e| Failure::job_failed(format!("writing commit {commit_id}: {e}")))?;
        if stats.skipped_submodules > 0 {
            sluice_sdk::warn!(
                "{} submodules were left out (their commits are in other repositories)",
                stats.skipped_submodules
            );
        }
        if stats.symlinks > 0 {
            sluice_sdk::info!("{} symbolic links", stats.symlinks);
        }
        if stats.skipped_symlinks > 0 {
            sluice_sdk::warn!(
                "{} symbolic links were left out: providers cannot create links yet",
                stats.skipped_symlinks
            );
        }
        let first_line = commit.message.lines().next().unwrap_or("").to_string();
        let id = commit_id.to_string();
        Ok(Outcome::success()
            .summary(format!(
                "{} at {} ({})",
                sluice_sdk::counted(stats.files, "file"),
                &id[..12],
                truncate(&first_line, 80)
            ))
            .revision(id.clone())
            .variable("CommitId", id)
            .variable("BranchName", branch)
            .variable(
                "AuthorDate",
                rfc3339(commit.author.time, commit.author.offset_minutes),
            )
            .variable("AuthorName", commit.author.name.clone())
            .variable("CommitMessage", truncate(commit.message.trim_end(), 4096)))
    }
}

impl Source for Git {
    fn latest_revision(config: &Config) -> Result<SourceRevision, Failure> {
        let repository = open(config)?;
        let branch = config.get_or("Branch", "main");
        let id = resolve(&repository, branch)?;
        let commit = repository
            .commit(&id)
            .map_err(|e| Failure::revision_unavailable(format!("commit {id}: {e}")))?;
        Ok(SourceRevision::new(id.to_string())
            .summary(truncate(commit.message.lines().next().unwrap_or(""), 200)))
    }

    fn changed_paths(
        config: &Config,
        from: &str,
        to: &str,
    ) -> Result<Option<Vec<String>>, Failure> {
        let repository = open(config)?;
        let parse = |text: &str| {
            text.parse::<ObjectId>().map_err(|e| {
                Failure::revision_unavailable(format!("`{text}` is not a commit id: {e}"))
            })
        };
        let paths = repository
            .changed_paths(&parse(from)?, &parse(to)?)
            .map_err(|e| {
                Failure::revision_unavailable(format!("comparing {from} with {to}: {e}"))
            })?;
        // With `Path`, the source is that folder: paths relative to it.
        Ok(Some(
            match config.get("Path").map(|p| p.trim_matches('/')) {
                Some(folder) if !folder.is_empty() => {
                    let prefix = format!("{folder}/");
                    paths
                        .into_iter()
                        .filter_map(|p| p.strip_prefix(&prefix).map(str::to_owned))
                        .collect()
                }
                _ => paths,
            },
        ))
    }
}

fn open(config: &Config) -> Result<Repository, Failure> {
    let grant = config.get_or("Repository", "repo");
    let path = PathBuf::from("/paths").join(grant);
    if !path.is_dir() {
        return Err(Failure::permission(format!(
            "no repository is granted as `{grant}`: add `grants: {{ paths: {{ {grant}: {{ path: /path/to/repo }} }} }}`"
        )));
    }
    Repository::open(&path)
        .map_err(|e| Failure::configuration(format!("the repository granted as `{grant}`: {e}")))
}

fn resolve(repository: &Repository, branch: &str) -> Result<ObjectId, Failure> {
    repository
        .resolve(branch)
        .map_err(|e| Failure::revision_unavailable(e.to_string()))
}

fn truncate(text: &str, max: usize) -> String {
    if text.len() <= max {
        return text.to_string();
    }
    let mut end = max;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &text[..end])
}

/// `2026-11-26T04:06:16+01:00` from seconds since the epoch and an offset.
fn rfc3339(seconds: i64, offset_minutes: i32) -> String {
    let local = seconds + offset_minutes as i64 * 60;
    let days = local.div_euclid(86_400);
    let secs = local.rem_euclid(86_400);
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    let sign = if offset_minutes < 0 { '-' } else { '+' };
    let offset = offset_minutes.abs();
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}{sign}{:02}:{:02}",
        secs / 3600,
        (secs % 3600) / 60,
        secs % 60,
        offset / 60,
        offset % 60
    )
}

sluice_sdk::export_source_provider!(Git);
