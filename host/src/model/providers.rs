//! Validation against the providers a pipeline names: each must load,
//! be of the right category for its stage, accept the number of artifacts
//! it is given, and accept its configuration (required properties present,
//! no unknown ones, and its own `validate`). The model does not load
//! providers: whoever validates passes a [`Providers`] that does (the
//! catalog, in `providers/`).

use super::definition::Pipeline;
use super::diagnostic::Diagnostic;
use crate::contract::{Category, Descriptor};
use std::collections::HashMap;

/// Where validation learns about the providers a pipeline names.
pub trait Providers {
    /// A provider resolved (loaded, described).
    type Resolved;

    /// Checks how `reference` is written, without loading anything.
    fn parse(&self, reference: &str) -> Result<(), String>;

    /// Loads the provider `reference` names and asks what it is.
    fn resolve(
        &self,
        reference: &str,
    ) -> impl Future<Output = Result<Self::Resolved, String>> + Send;

    /// What a resolved provider says about itself.
    fn descriptor(resolved: &Self::Resolved) -> &Descriptor;

    /// Whether a resolved provider exports the `source` interface.
    fn is_source(resolved: &Self::Resolved) -> bool;

    /// The provider's own check of a configuration: `Ok(Err(problems))`
    /// when it rejects it.
    fn validate(
        resolved: &Self::Resolved,
        configuration: &[(String, String)],
    ) -> impl Future<Output = Result<Result<(), Vec<String>>, String>> + Send;
}

/// Every provider the pipeline names, resolved, keyed by the reference as
/// written; and the problems found. Actions `runs_without_provider` says
/// so of (custom actions, run by external workers) are left out.
pub async fn validate<P: Providers>(
    pipeline: &Pipeline,
    providers: &P,
    runs_without_provider: impl Fn(usize, usize) -> bool,
) -> (HashMap<String, P::Resolved>, Vec<Diagnostic>) {
    let mut out = Vec::new();
    let mut resolved: HashMap<String, P::Resolved> = HashMap::new();
    let mut failed: HashMap<String, String> = HashMap::new();
    for (s, stage) in pipeline.stages.iter().enumerate() {
        for (a, action) in stage.actions.iter().enumerate() {
            if runs_without_provider(s, a) {
                continue;
            }
            let path = format!("stages[{s}].actions[{a}]");
            let reference = &action.provider;
            if let Err(message) = providers.parse(reference) {
                out.push(Diagnostic::error(format!("{path}.provider"), message));
                continue;
            }
            if let Some(message) = failed.get(reference) {
                out.push(Diagnostic::error(
                    format!("{path}.provider"),
                    message.clone(),
                ));
                continue;
            }
            if !resolved.contains_key(reference) {
                match providers.resolve(reference).await {
                    Ok(r) => {
                        resolved.insert(reference.clone(), r);
                    }
                    Err(message) => {
                        failed.insert(reference.clone(), message.clone());
                        out.push(Diagnostic::error(format!("{path}.provider"), message));
                        continue;
                    }
                }
            }
            let provider = &resolved[reference];
            let descriptor = P::descriptor(provider);
            check_category(
                s,
                &stage.name,
                &action.name,
                reference,
                descriptor.action_type.category,
                P::is_source(provider),
                &path,
                &mut out,
            );
            check_counts(
                descriptor,
                action.inputs.len(),
                action.outputs.len(),
                &path,
                &mut out,
            );
            check_properties(descriptor, &action.configuration, &path, &mut out);
            let configuration: Vec<(String, String)> = action
                .configuration
                .iter()
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect();
            match P::validate(provider, &configuration).await {
                Ok(Ok(())) => {}
                Ok(Err(problems)) => {
                    for problem in problems {
                        if !already_reported(&out, &path, &problem) {
                            out.push(Diagnostic::error(
                                format!("{path}.configuration"),
                                format!("{}: {problem}", action.provider),
                            ));
                        }
                    }
                }
                Err(e) => out.push(Diagnostic::error(format!("{path}.provider"), e)),
            }
        }
    }
    (resolved, out)
}

#[allow(clippy::too_many_arguments)]
fn check_category(
    stage_index: usize,
    stage: &str,
    action: &str,
    name: &str,
    category: Category,
    is_source: bool,
    path: &str,
    out: &mut Vec<Diagnostic>,
) {
    if stage_index == 0 && category != Category::Source {
        out.push(Diagnostic::error(
            format!("{path}.provider"),
            format!(
                "the first stage holds only source actions, but `{stage}/{action}` uses {name}, a {category} provider"
            ),
        ));
    } else if stage_index == 0 && !is_source {
        out.push(Diagnostic::error(
            format!("{path}.provider"),
            format!(
                "{name} says it is a source provider but does not export the `source` interface"
            ),
        ));
    } else if stage_index > 0 && category == Category::Source {
        out.push(Diagnostic::error(
            format!("{path}.provider"),
            format!(
                "source actions belong in the first stage only, but `{stage}/{action}` uses {name}, a source provider"
            ),
        ));
    }
}

fn check_counts(
    descriptor: &Descriptor,
    inputs: usize,
    outputs: usize,
    path: &str,
    out: &mut Vec<Diagnostic>,
) {
    let name = format!(
        "{}/{}",
        descriptor.action_type.owner, descriptor.action_type.provider
    );
    for (kind, count, min, max) in [
        (
            "input",
            inputs,
            descriptor.min_inputs,
            descriptor.max_inputs,
        ),
        (
            "output",
            outputs,
            descriptor.min_outputs,
            descriptor.max_outputs,
        ),
    ] {
        if count < min as usize || count > max as usize {
            let range = if min == max {
                format!("exactly {min}")
            } else {
                format!("{min} to {max}")
            };
            out.push(Diagnostic::error(
                format!("{path}.{kind}s"),
                format!("{name} takes {range} {kind} artifacts; this action has {count}"),
            ));
        }
    }
}

fn check_properties(
    descriptor: &Descriptor,
    configuration: &indexmap::IndexMap<String, String>,
    path: &str,
    out: &mut Vec<Diagnostic>,
) {
    let name = format!(
        "{}/{}",
        descriptor.action_type.owner, descriptor.action_type.provider
    );
    for property in descriptor.properties.iter().filter(|p| p.required) {
        if !configuration.contains_key(&property.name) {
            out.push(Diagnostic::error(
                format!("{path}.configuration"),
                format!(
                    "{name} requires configuration property `{}` ({})",
                    property.name, property.description
                ),
            ));
        }
    }
    for key in configuration.keys() {
        if !descriptor.properties.iter().any(|p| &p.name == key) {
            let known: Vec<&str> = descriptor
                .properties
                .iter()
                .map(|p| p.name.as_str())
                .collect();
            out.push(Diagnostic::error(
                format!("{path}.configuration.{key}"),
                if known.is_empty() {
                    format!("{name} takes no configuration, so `{key}` is unknown")
                } else {
                    format!(
                        "{name} has no configuration property `{key}` (it has: {})",
                        known.join(", ")
                    )
                },
            ));
        }
    }
}

/// The provider's own validation often repeats the host's property checks;
/// report each problem once.
fn already_reported(out: &[Diagnostic], path: &str, problem: &str) -> bool {
    let property = problem.split('`').nth(1).unwrap_or_default();
    (problem.starts_with("missing required configuration property")
        || problem.starts_with("unknown configuration property"))
        && out
            .iter()
            .any(|d| d.path.starts_with(path) && d.message.contains(&format!("`{property}`")))
}
