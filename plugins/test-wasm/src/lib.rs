//! `builtin:test-wasm`: runs every WASI command component (`*.wasm`) found
//! in its input artifacts, each in its own sandbox with nothing granted
//! (no folders, no network). Any that exits unsuccessfully fails the
//! action; the summary counts them.

use sluice_sdk::fs::list_files;
use sluice_sdk::{
    Category, Config, Context, Descriptor, Failure, Job, Outcome, Property, Provider,
};

struct TestWasm;

impl Provider for TestWasm {
    fn describe() -> Descriptor {
        Descriptor::new(Category::Test, "sluice", "test-wasm", "1.0.0")
            .description("Runs the WASI command components in its inputs as tests, sandboxed, with nothing granted.")
            .property(Property::optional(
                "Arguments",
                "Arguments for every test component, space separated.",
            ))
            .property(Property::optional(
                "Pattern",
                "Which files are tests, a glob over each input (default `**/*.wasm`).",
            ))
            .inputs(1, 10)
    }

    fn validate(config: &Config) -> Result<(), Vec<String>> {
        Self::describe().check(config)?;
        if let Some(p) = config.get("Pattern")
            && let Err(e) = support::glob::Pattern::new(p)
        {
            return Err(vec![format!("configuration property `Pattern`: {e}")]);
        }
        Ok(())
    }

    fn run(job: Job) -> Result<Outcome, Failure> {
        let pattern = support::glob::Pattern::new(job.config.get_or("Pattern", "**/*.wasm"))
            .map_err(|e| Failure::configuration(format!("`Pattern`: {e}")))?;
        let args: Vec<&str> = job
            .config
            .get_or("Arguments", "")
            .split_whitespace()
            .collect();
        let (mut passed, mut failed) = (Vec::new(), Vec::new());
        for input in &job.inputs {
            for file in
                list_files(input.path()).context(format!("listing input `{}`", input.name))?
            {
                let text = file.to_string_lossy().replace('\\', "/");
                if !pattern.matches(&text) {
                    continue;
                }
                let path = input.join(&file).display().to_string();
                sluice_sdk::info!("running {}/{text}", input.name);
                let exit = sluice_sdk::components::run_command(&path, &args)?;
                let name = format!("{}/{text}", input.name);
                if exit.success {
                    sluice_sdk::info!("{name}: passed in {}ms", exit.duration_ms);
                    passed.push(name);
                } else {
                    sluice_sdk::error!("{name}: failed");
                    failed.push(name);
                }
            }
        }
        let total = passed.len() + failed.len();
        if total == 0 {
            return Err(Failure::job_failed(format!(
                "no test component matches `{}` in the inputs",
                job.config.get_or("Pattern", "**/*.wasm")
            )));
        }
        if !failed.is_empty() {
            return Err(Failure::job_failed(format!(
                "{} of {total} test components failed: {}",
                failed.len(),
                failed.join(", ")
            )));
        }
        Ok(Outcome::success()
            .summary(format!("{total} test components passed"))
            .variable("Passed", passed.len().to_string())
            .variable("Failed", "0"))
    }
}

sluice_sdk::export_provider!(TestWasm);
