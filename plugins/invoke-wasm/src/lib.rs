//! `builtin:invoke-wasm`: the Lambda analogue. Runs a user component that
//! exports the provider interface (found in an input artifact or a granted
//! folder) under the same sandbox, with no grant of its own (granted
//! folders read-only), on this action's artifacts, and returns its outcome:
//! summary and output variables.
//!
//! `UserParameters` reaches the component unchanged as its configuration
//! property `UserParameters`, as CodePipeline hands a Lambda function its
//! action's `UserParameters` (what `Invoke/AWS/Lambda/1` runs as).

use sluice_sdk::{Category, Config, Descriptor, Failure, Job, Outcome, Property, Provider};

struct InvokeWasm;

impl Provider for InvokeWasm {
    fn describe() -> Descriptor {
        Descriptor::new(Category::Invoke, "sluice", "invoke-wasm", "1.0.0")
            .description("Runs a user component (a provider) from an input artifact or a granted folder, sandboxed.")
            .property(Property::required(
                "Component",
                "The component: `ArtifactName/path/to/fn.wasm` (an input artifact) or `/paths/NAME/fn.wasm`.",
            ))
            .property(Property::optional(
                "Parameters",
                "The component's configuration, `Name=value` per line.",
            ))
            .property(Property::optional(
                "UserParameters",
                "A string given to the component unchanged, as its configuration property \
                 `UserParameters` (as CodePipeline gives a Lambda function its action's); it wins \
                 over a `UserParameters` line of `Parameters`.",
            ))
            .inputs(0, 10)
            .outputs(0, 10)
    }

    fn validate(config: &Config) -> Result<(), Vec<String>> {
        Self::describe().check(config)?;
        let mut problems = Vec::new();
        for line in config
            .get("Parameters")
            .unwrap_or("")
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty())
        {
            if line
                .split_once('=')
                .is_none_or(|(k, _)| k.trim().is_empty())
            {
                problems.push(format!(
                    "configuration property `Parameters`: `{line}` is not Name=value"
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
        let component = job.config.require("Component")?;
        let path = if component.starts_with('/') {
            component.to_string()
        } else {
            let (artifact, rest) = component.split_once('/').ok_or_else(|| {
                Failure::configuration(format!(
                    "`Component` must be ARTIFACT/path or /paths/NAME/path, not `{component}`"
                ))
            })?;
            job.input(artifact)?.join(rest).display().to_string()
        };
        let mut parameters: Vec<(String, String)> = job
            .config
            .get("Parameters")
            .unwrap_or("")
            .lines()
            .filter_map(|l| l.split_once('='))
            .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
            .collect();
        if let Some(user) = job.config.get("UserParameters") {
            parameters.retain(|(k, _)| k != "UserParameters");
            parameters.push(("UserParameters".to_string(), user.to_string()));
        }
        let parameters = Config::from_pairs(parameters);
        sluice_sdk::info!("invoking {path}");
        sluice_sdk::components::run_provider(&path, &parameters)
    }
}

sluice_sdk::export_provider!(InvokeWasm);
