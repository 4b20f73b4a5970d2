//! `builtin:command`: a build action. Phases of shell commands (`Install`,
//! `PreBuild`, `Build`, `PostBuild`) run through the action's `process`
//! grant in a workspace made of its input artifacts; output artifacts are
//! collected from the workspace by globs (`Artifacts`). A command that
//! exits non-zero fails the action with that command and its last lines of
//! output. Lines `NAME=value` the commands append to the file named by
//! `$SLUICE_OUTPUT_VARIABLES` become output variables.
//!
//! `BuildSpec` gives a CodeBuild buildspec instead (what
//! `Build/AWS/CodeBuild/1` runs as): read from the primary source when the
//! action runs, its `exported-variables` becoming output variables and its
//! `artifacts` and `secondary-artifacts` the outputs.

use sluice_sdk::{Category, Config, Descriptor, Failure, Job, Outcome, Provider};
use support::buildspec::{self, Setup};

struct Command;

impl Provider for Command {
    fn describe() -> Descriptor {
        let mut d = Descriptor::new(Category::Build, "sluice", "command", "1.0.0")
            .description("Runs build commands on the input artifacts and collects output artifacts by globs; `NAME=value` lines the commands append to $SLUICE_OUTPUT_VARIABLES become output variables.")
            .inputs(0, 10)
            .outputs(0, 10);
        d.properties = buildspec::properties();
        d
    }

    fn validate(config: &Config) -> Result<(), Vec<String>> {
        Self::describe().check(config)?;
        let setup = Setup::from_config(config)?;
        if !setup.has_commands() {
            return Err(vec![
                "give at least one command (`Build`, or another phase)".into(),
            ]);
        }
        Ok(())
    }

    fn run(job: Job) -> Result<Outcome, Failure> {
        let setup =
            Setup::from_config(&job.config).map_err(|p| Failure::configuration(p.join("; ")))?;
        let workspace = buildspec::prepare_workspace(&job, setup.primary_source())?;
        let spec = setup.spec(&job, &workspace)?;
        if !spec.reports.is_empty() {
            sluice_sdk::info!("the buildspec's reports are read by test actions only");
        }
        let ran = buildspec::run_phases(&spec, &workspace)?;
        let collected = buildspec::collect_artifacts(&spec, &job, &workspace)?;

        let outputs: Vec<String> = collected
            .iter()
            .map(|(n, c)| format!("{n}: {c} file{}", if *c == 1 { "" } else { "s" }))
            .collect();
        let outcome = Outcome::success()
            .summary(if outputs.is_empty() {
                buildspec::ran(ran)
            } else {
                format!("{}; {}", buildspec::ran(ran), outputs.join(", "))
            })
            .variable("Commands", ran.to_string());
        buildspec::with_exported(outcome, &spec, &["Commands"])
    }
}

sluice_sdk::export_provider!(Command);
