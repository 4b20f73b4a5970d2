//! `builtin:copy`: copies input artifacts into output artifacts.
//!
//! With one output, every input is copied into it (each under a folder named
//! after the input when there are several inputs, unless `Merge` is true).
//! With as many outputs as inputs, input N goes to output N.

use sluice_sdk::fs::copy_tree;
use sluice_sdk::{Category, Context, Descriptor, Failure, Job, Outcome, Property, Provider};

struct Copy;

impl Provider for Copy {
    fn describe() -> Descriptor {
        Descriptor::new(Category::Build, "sluice", "copy", "1.0.0")
            .description("Copies input artifacts into output artifacts.")
            .property(Property::optional(
                "Merge",
                "With several inputs and one output: copy all inputs into the output's \
                 root (true) instead of one folder per input (false, the default).",
            ))
            .property(Property::optional(
                "Subfolder",
                "Copy only this folder of each input (a relative path).",
            ))
            .inputs(1, 20)
            .outputs(1, 20)
    }

    fn validate(config: &sluice_sdk::Config) -> Result<(), Vec<String>> {
        Self::describe().check(config)?;
        // Values holding `#{...}` references are only known at run time.
        let known = |name: &str| config.get(name).is_some_and(|v| !v.contains("#{"));
        let mut problems = Vec::new();
        if known("Merge")
            && let Err(e) = config.flag("Merge", false)
        {
            problems.push(e.message);
        }
        if let Some(sub) = config.get("Subfolder").filter(|_| known("Subfolder"))
            && (sub.starts_with('/') || sub.split('/').any(|part| part == ".."))
        {
            problems.push(format!(
                "configuration property `Subfolder` must be a relative path inside the \
                     artifact, not `{sub}`"
            ));
        }
        if problems.is_empty() {
            Ok(())
        } else {
            Err(problems)
        }
    }

    fn run(job: Job) -> Result<Outcome, Failure> {
        let merge = job.config.flag("Merge", false)?;
        let subfolder = job.config.get("Subfolder").unwrap_or("");
        if job.inputs.is_empty() || job.outputs.is_empty() {
            return Err(Failure::configuration(
                "copy needs at least one input and one output artifact",
            ));
        }
        let pairs: Vec<_> = if job.outputs.len() == job.inputs.len() {
            job.inputs
                .iter()
                .zip(job.outputs.iter())
                .map(|(i, o)| (i, o.path.clone()))
                .collect()
        } else if job.outputs.len() == 1 {
            let out = &job.outputs[0];
            job.inputs
                .iter()
                .map(|i| {
                    let dest = if merge || job.inputs.len() == 1 {
                        out.path.clone()
                    } else {
                        out.join(&i.name)
                    };
                    (i, dest)
                })
                .collect()
        } else {
            return Err(Failure::configuration(format!(
                "copy takes one output, or as many outputs as inputs; this action has {} \
                 inputs and {} outputs",
                job.inputs.len(),
                job.outputs.len()
            )));
        };

        let (mut files, mut bytes, mut skipped) = (0, 0, 0);
        for (input, dest) in pairs {
            let source = input.join(subfolder);
            if !source.is_dir() {
                return Err(Failure::job_failed(format!(
                    "input artifact `{}` has no folder `{subfolder}`",
                    input.name
                )));
            }
            let stats = copy_tree(&source, &dest)
                .context(format!("copying input artifact `{}`", input.name))?;
            sluice_sdk::info!(
                "copied {} ({} bytes) from `{}` to {}",
                sluice_sdk::counted(stats.files, "file"),
                stats.bytes,
                input.name,
                dest.display()
            );
            files += stats.files;
            bytes += stats.bytes;
            skipped += stats.skipped_links;
        }
        if skipped > 0 {
            sluice_sdk::warn!("skipped {skipped} symbolic links pointing outside their artifact");
        }
        Ok(Outcome::success()
            .summary(format!("copied {files} files ({bytes} bytes)"))
            .variable("FileCount", files.to_string())
            .variable("ByteCount", bytes.to_string()))
    }
}

sluice_sdk::export_provider!(Copy);
