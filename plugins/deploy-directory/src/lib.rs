//! `builtin:deploy-directory`: deploys an artifact to a granted folder,
//! atomically. Each deployment is copied to `releases/<release>` (via a
//! temporary name, renamed when complete), then the `current` link is
//! swapped to it in one rename, so readers see the old release or the new
//! one, never a mix. The newest `Keep` releases are kept; `Rollback` points
//! `current` back at an earlier one.

use sluice_sdk::{
    Category, Config, Context, Descriptor, Failure, Job, Outcome, Property, Provider,
};
use std::path::Path;
use wasip2::filesystem::preopens::get_directories;
use wasip2::filesystem::types::Descriptor as Dir;

struct DeployDirectory;

impl Provider for DeployDirectory {
    fn describe() -> Descriptor {
        Descriptor::new(Category::Deploy, "sluice", "deploy-directory", "1.0.0")
            .description("Deploys an artifact into a granted folder atomically, keeping earlier releases for rollback.")
            .property(Property::optional(
                "Target",
                "The `paths` grant to deploy into (default `target`); it must be read-write.",
            ))
            .property(Property::optional("Keep", "How many releases to keep, the current one included (default 3)."))
            .property(Property::optional(
                "Release",
                "The release's name (default: the execution's id, so releases sort by time).",
            ))
            .property(Property::optional(
                "Rollback",
                "Instead of deploying, point `current` at this earlier release (`previous` for the one before).",
            ))
            .inputs(0, 1)
    }

    fn validate(config: &Config) -> Result<(), Vec<String>> {
        Self::describe().check(config)?;
        let mut problems = Vec::new();
        if let Err(e) = config.parse::<usize>("Keep") {
            problems.push(e.message);
        } else if config.parse::<usize>("Keep").ok().flatten() == Some(0) {
            problems.push("configuration property `Keep` must be at least 1".into());
        }
        if let Some(r) = config.get("Release")
            && !r.contains("#{")
            && !is_release_name(r)
        {
            problems.push(format!(
                "configuration property `Release`: `{r}` is not a valid folder name"
            ));
        }
        if problems.is_empty() {
            Ok(())
        } else {
            Err(problems)
        }
    }

    fn run(job: Job) -> Result<Outcome, Failure> {
        let grant_name = job.config.get_or("Target", "target").to_string();
        let grant = job.path_grant(&grant_name)?.clone();
        if !grant.writable {
            return Err(Failure::permission(format!(
                "folder `{grant_name}` is granted read-only: deploying needs `access: read-write`"
            )));
        }
        let root = grant.path.clone();
        let dir = preopen(&root)?;
        let releases = root.join("releases");
        std::fs::create_dir_all(&releases).context("creating releases/")?;
        let keep: usize = job.config.parse("Keep")?.unwrap_or(3);

        let release = if let Some(target) = job.config.get("Rollback") {
            let existing = list_releases(&releases)?;
            let current = current_release(&root);
            let chosen = if target == "previous" {
                let position = current
                    .as_ref()
                    .and_then(|c| existing.iter().position(|r| r == c));
                match position {
                    Some(p) if p > 0 => existing[p - 1].clone(),
                    _ => {
                        return Err(Failure::job_failed(
                            "there is no release before the current one to roll back to",
                        ));
                    }
                }
            } else {
                existing
                    .iter()
                    .find(|r| *r == target)
                    .cloned()
                    .ok_or_else(|| {
                        Failure::job_failed(format!(
                            "there is no release `{target}` (releases: {})",
                            existing.join(", ")
                        ))
                    })?
            };
            switch_current(&dir, &chosen)?;
            sluice_sdk::info!("rolled back to release {chosen}");
            chosen
        } else {
            let input = job.first_input()?;
            let release = job
                .config
                .get("Release")
                .map(str::to_owned)
                .unwrap_or_else(|| job.execution_id.clone());
            if !is_release_name(&release) {
                return Err(Failure::configuration(format!(
                    "`{release}` is not a valid release name"
                )));
            }
            // A release deployed again (a retry) goes into a folder of its
            // own (`NAME-2`, `NAME-3`...): the live one is never removed or
            // changed under its readers; it is pruned once no longer
            // current.
            let release = (1..)
                .map(|n| {
                    if n == 1 {
                        release.clone()
                    } else {
                        format!("{release}-{n}")
                    }
                })
                .find(|name| !releases.join(name).exists())
                .expect("a free name");
            let staging = releases.join(format!(".{release}.incoming"));
            let _ = std::fs::remove_dir_all(&staging);
            let stats = sluice_sdk::fs::copy_tree(input.path(), &staging)
                .context("copying the artifact")?;
            let final_path = releases.join(&release);
            std::fs::rename(&staging, &final_path).context("moving the release into place")?;
            switch_current(&dir, &release)?;
            sluice_sdk::info!(
                "deployed {} ({} bytes) as release {release}",
                sluice_sdk::counted(stats.files, "file"),
                stats.bytes
            );
            prune(&releases, keep, &release)?;
            release
        };
        let deployed = format!("{}/current", grant.host_path.trim_end_matches('/'));
        Ok(Outcome::success()
            .summary(format!(
                "release {release} is current in {}",
                grant.host_path
            ))
            .variable("DeployedPath", deployed)
            .variable("Release", release.clone())
            .variable(
                "ReleasePath",
                format!(
                    "{}/releases/{release}",
                    grant.host_path.trim_end_matches('/')
                ),
            ))
    }
}

fn is_release_name(name: &str) -> bool {
    !name.is_empty()
        && !name.starts_with('.')
        && name.len() <= 100
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
}

/// The preopened folder for `root`, to make and rename links in it.
fn preopen(root: &Path) -> Result<Dir, Failure> {
    let wanted = root.display().to_string();
    get_directories()
        .into_iter()
        .find(|(_, path)| *path == wanted)
        .map(|(dir, _)| dir)
        .ok_or_else(|| Failure::job_failed(format!("{wanted} is not a granted folder")))
}

/// Points `current` at `releases/<release>` in one rename.
fn switch_current(dir: &Dir, release: &str) -> Result<(), Failure> {
    let _ = dir.unlink_file_at("current.incoming");
    dir.symlink_at(&format!("releases/{release}"), "current.incoming")
        .map_err(|e| Failure::job_failed(format!("making the `current` link: {e:?}")))?;
    dir.rename_at("current.incoming", dir, "current")
        .map_err(|e| Failure::job_failed(format!("switching `current`: {e:?}")))
}

fn current_release(root: &Path) -> Option<String> {
    let target = std::fs::read_link(root.join("current")).ok()?;
    target.file_name().map(|n| n.to_string_lossy().into_owned())
}

fn list_releases(releases: &Path) -> Result<Vec<String>, Failure> {
    let mut names: Vec<String> = std::fs::read_dir(releases)
        .context("listing releases")?
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| !n.starts_with('.'))
        .collect();
    names.sort();
    Ok(names)
}

/// Removes the oldest releases beyond `keep` (never the current one).
fn prune(releases: &Path, keep: usize, current: &str) -> Result<(), Failure> {
    let names = list_releases(releases)?;
    let excess = names.len().saturating_sub(keep);
    for name in names.iter().take(excess) {
        if name != current {
            std::fs::remove_dir_all(releases.join(name))
                .context(format!("removing old release {name}"))?;
            sluice_sdk::info!("removed old release {name}");
        }
    }
    Ok(())
}

sluice_sdk::export_provider!(DeployDirectory);
