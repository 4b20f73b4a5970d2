//! `builtin:test-command`: a test action. Runs commands as
//! `builtin:command` does, then reads the JUnit XML reports named by
//! `Reports` and puts "N passed, M failed, K skipped" in its summary and
//! output variables. A failing command or a failed test fails it.
//!
//! With `BuildSpec` (what `Test/AWS/CodeBuild/1` runs as), the buildspec's
//! `reports` groups are read too (JUnit XML only).

use sluice_sdk::fs::list_files;
use sluice_sdk::{
    Category, Config, Context, Descriptor, Failure, Job, Outcome, Property, Provider,
};
use support::buildspec::{self, Setup};
use support::glob::Pattern;
use support::junit::{self, Counts};

struct TestCommand;

impl Provider for TestCommand {
    fn describe() -> Descriptor {
        let mut d = Descriptor::new(Category::Test, "sluice", "test-command", "1.0.0")
            .description("Runs test commands and counts the results in their JUnit reports; `NAME=value` lines appended to $SLUICE_OUTPUT_VARIABLES become output variables.")
            .inputs(0, 10)
            .outputs(0, 10);
        d.properties = buildspec::properties();
        d.properties.push(Property::optional(
            "Reports",
            "Globs of JUnit XML reports in the workspace, comma separated (e.g. `build/test-*.xml`); with `BuildSpec`, the buildspec's `reports` are read as well.",
        ));
        d
    }

    fn validate(config: &Config) -> Result<(), Vec<String>> {
        Self::describe().check(config)?;
        let mut problems = Vec::new();
        match Setup::from_config(config) {
            Ok(setup) if !setup.has_commands() => {
                problems.push("give at least one command (`Build`, or another phase)".into())
            }
            Ok(_) => {}
            Err(found) => problems.extend(found),
        }
        for pattern in config.list("Reports") {
            if let Err(e) = Pattern::new(&pattern) {
                problems.push(format!(
                    "configuration property `Reports`: pattern `{pattern}`: {e}"
                ));
            }
        }
        if problems.is_empty() {
            Ok(())
        } else {
            Err(problems)
        }
    }

    fn run(job: Job) -> Result<Outcome, Failure> {
        let setup =
            Setup::from_config(&job.config).map_err(|p| Failure::configuration(p.join("; ")))?;
        let workspace = buildspec::prepare_workspace(&job, setup.primary_source())?;
        let spec = setup.spec(&job, &workspace)?;
        // Tests that fail make their command fail: read the reports anyway.
        let ran = buildspec::run_phases(&spec, &workspace);
        let patterns: Vec<Pattern> = job
            .config
            .list("Reports")
            .iter()
            .map(|p| Pattern::new(p).map_err(|e| Failure::configuration(format!("`Reports`: {e}"))))
            .collect::<Result<_, _>>()?;
        let mut files: Vec<(String, std::path::PathBuf)> = Vec::new();
        if !patterns.is_empty() {
            for file in list_files(&workspace).context("listing the workspace")? {
                let text = file.to_string_lossy().replace('\\', "/");
                if patterns.iter().any(|p| p.matches(&text)) {
                    files.push((text, workspace.join(&file)));
                }
            }
        }
        for (group, path) in buildspec::report_files(&spec, &workspace)? {
            let shown = path
                .strip_prefix(&workspace)
                .unwrap_or(&path)
                .display()
                .to_string();
            files.push((format!("{shown} (report group {group})"), path));
        }
        let mut counts = Counts::default();
        let mut failed_tests = Vec::new();
        for (shown, path) in &files {
            let xml = std::fs::read_to_string(path).context(format!("reading report {shown}"))?;
            let (c, failed) = junit::count(&xml)
                .map_err(|e| Failure::job_failed(format!("report {shown}: {e}")))?;
            counts.add(c);
            failed_tests.extend(failed);
        }
        let reports = files.len();
        if reports == 0 && (!patterns.is_empty() || !spec.reports.is_empty()) {
            return Err(match ran {
                Err(f) => f,
                Ok(_) if patterns.is_empty() => {
                    Failure::job_failed("no JUnit report matches the buildspec's `reports`")
                }
                Ok(_) => Failure::job_failed("no JUnit report matches `Reports`"),
            });
        }
        let counted = if reports > 0 {
            format!("{counts}")
        } else {
            String::new()
        };
        if counts.failed > 0 {
            let names = failed_tests
                .iter()
                .take(10)
                .cloned()
                .collect::<Vec<_>>()
                .join(", ");
            return Err(Failure::job_failed(format!("{counted}; failed: {names}")));
        }
        let ran = ran?;
        buildspec::collect_artifacts(&spec, &job, &workspace)?;
        let mut outcome = Outcome::success()
            .summary(if reports > 0 {
                counted
            } else {
                buildspec::ran(ran)
            })
            .variable("Commands", ran.to_string());
        if reports > 0 {
            outcome = outcome
                .variable("Passed", counts.passed.to_string())
                .variable("Failed", counts.failed.to_string())
                .variable("Skipped", counts.skipped.to_string());
        }
        buildspec::with_exported(outcome, &spec, &["Commands", "Passed", "Failed", "Skipped"])
    }
}

sluice_sdk::export_provider!(TestCommand);
