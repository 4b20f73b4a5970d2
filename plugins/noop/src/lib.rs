//! `builtin:noop`: succeeds at once and writes nothing. Useful as a
//! placeholder action and for measuring the cost of running an action.

use sluice_sdk::{Category, Descriptor, Failure, Job, Outcome, Provider};

struct Noop;

impl Provider for Noop {
    fn describe() -> Descriptor {
        Descriptor::new(Category::Build, "sluice", "noop", "1.0.0")
            .description("Does nothing and succeeds; any inputs are ignored, outputs stay empty.")
            .inputs(0, 100)
            .outputs(0, 100)
    }

    fn run(_job: Job) -> Result<Outcome, Failure> {
        Ok(Outcome::success())
    }
}

sluice_sdk::export_provider!(Noop);
