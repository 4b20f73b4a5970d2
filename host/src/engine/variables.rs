//! Variables, resolved just before an action runs: `#{variables.NAME}`
//! (pipeline variables, overridable when an execution starts),
//! `#{execution.id}`, and `#{Namespace.Key}` (output variables of an
//! earlier action that declares that namespace).

use super::machine::Machine;
use crate::model::variables::{self, EXECUTION, PIPELINE_VARIABLES, Reference, SECRETS};
use crate::records::*;
use crate::sandbox::{Failure, FailureKind};

impl Machine {
    /// The action's configuration with every reference replaced.
    pub(super) fn resolve_configuration(
        &self,
        key: &ActionKey,
    ) -> Result<Vec<(String, String)>, Failure> {
        let version = self.version_of(&key.execution).expect("known version");
        let execution = &self.executions[&key.execution];
        let configuration = version.configuration(key.stage, key.action);
        let lookup = |r: &Reference| -> Option<String> {
            match r.namespace.as_str() {
                PIPELINE_VARIABLES => execution.variables.get(&r.key).cloned(),
                EXECUTION if r.key == "id" => Some(execution.id.clone()),
                // Secret values never enter the engine's state: the
                // reference stays and is resolved just before the call.
                SECRETS => Some(format!("#{{{SECRETS}.{}}}", r.key)),
                namespace => {
                    let (s, a) = find_namespace(&version.definition, namespace)?;
                    let run = &execution.stages[s].actions[a];
                    if run.status != Some(ActionStatus::Succeeded) {
                        return None;
                    }
                    run.variables
                        .iter()
                        .find(|(k, _)| *k == r.key)
                        .map(|(_, v)| v.clone())
                }
            }
        };
        let mut resolved = Vec::with_capacity(configuration.len());
        for (name, value) in configuration {
            let value = variables::resolve(value, lookup).map_err(|problem| Failure {
                kind: FailureKind::ConfigurationError,
                message: format!(
                    "configuration property `{name}`: {problem}{}",
                    explain(execution, &version.definition, value)
                ),
            })?;
            resolved.push((name.clone(), value));
        }
        Ok(resolved)
    }
}

fn find_namespace(pipeline: &crate::model::Pipeline, namespace: &str) -> Option<(usize, usize)> {
    pipeline.stages.iter().enumerate().find_map(|(s, stage)| {
        stage
            .actions
            .iter()
            .position(|a| a.namespace.as_deref() == Some(namespace))
            .map(|a| (s, a))
    })
}

/// Says what the namespaces referred to in `value` do hold, to help fix a
/// reference to a variable an action did not produce.
fn explain(execution: &Execution, pipeline: &crate::model::Pipeline, value: &str) -> String {
    let Ok(references) = variables::references(value) else {
        return String::new();
    };
    for r in references {
        if [PIPELINE_VARIABLES, EXECUTION].contains(&r.namespace.as_str()) {
            continue;
        }
        if let Some((s, a)) = find_namespace(pipeline, &r.namespace) {
            let run = &execution.stages[s].actions[a];
            if run.status == Some(ActionStatus::Succeeded)
                && !run.variables.iter().any(|(k, _)| *k == r.key)
            {
                let names: Vec<&str> = run.variables.iter().map(|(k, _)| k.as_str()).collect();
                return format!(
                    " (action `{}` set: {})",
                    run.name,
                    if names.is_empty() {
                        "no variables".to_string()
                    } else {
                        names.join(", ")
                    }
                );
            }
        }
    }
    String::new()
}
