//! Checks a definition on its own, before any provider is consulted: names
//! and counts within limits, artifact flow, namespaces, variable
//! references, timeouts. Every problem is reported, not just the first.
//! What needs the providers (categories, properties, their own `validate`)
//! is checked by [`super::providers`].

mod actions;
mod triggers;

use super::definition::{Action, Pipeline};
use super::diagnostic::Diagnostic;
use super::variables::{self, EXECUTION, EXECUTION_KEYS, PIPELINE_VARIABLES, SECRETS};
use crate::contract::{is_artifact_name, is_secret_name};
use actions::{check_action_fields, check_grants};
use std::collections::{HashMap, HashSet};
use std::time::Duration;
pub use triggers::poll_interval;
use triggers::{check_notifications, check_triggers};

/// Most stages a pipeline may have.
pub const MAX_STAGES: usize = 50;
/// Most actions a stage may have.
pub const MAX_ACTIONS_PER_STAGE: usize = 50;
/// Most pipeline variables.
pub const MAX_VARIABLES: usize = 50;
/// Most configuration properties per action.
pub const MAX_PROPERTIES: usize = 100;
/// Longest configuration value, in bytes.
pub const MAX_VALUE_BYTES: usize = 10_000;
/// Longest action timeout.
pub const MAX_TIMEOUT: Duration = Duration::from_secs(7 * 24 * 3600);
/// Shortest action timeout.
pub const MIN_TIMEOUT: Duration = Duration::from_secs(1);

/// Pipeline, stage and action names: letters, digits, `.`, `@`, `_`, `-`.
pub fn is_entity_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 100
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '@' | '_' | '-'))
}

/// Variable and namespace names: letters, digits, `@`, `_`, `-`.
pub fn is_variable_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 128
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '@' | '_' | '-'))
}

/// Where an artifact or namespace comes from: the stage and run order of
/// the action that produces it.
#[derive(Debug, Clone, Copy)]
struct Origin {
    stage: usize,
    run_order: u32,
}

impl Origin {
    /// Whether something produced here is available to an action at
    /// `stage` and `run_order`.
    fn precedes(&self, stage: usize, run_order: u32) -> bool {
        self.stage < stage || (self.stage == stage && self.run_order < run_order)
    }
}

/// Every problem with `pipeline` that can be found without its providers.
pub fn validate(pipeline: &Pipeline) -> Vec<Diagnostic> {
    let mut out = Vec::new();
    if !is_entity_name(&pipeline.name) {
        out.push(Diagnostic::error(
            "name",
            format!(
                "pipeline name `{}` is not valid: use 1 to 100 letters, digits, `.`, `@`, `_` or `-`",
                pipeline.name
            ),
        ));
    }
    check_variables(pipeline, &mut out);
    check_stages(pipeline, &mut out);
    check_triggers(pipeline, &mut out);
    check_notifications(pipeline, &mut out);
    if pipeline.retention.executions == Some(0) {
        out.push(Diagnostic::error(
            "retention.executions",
            "keep at least 1 execution",
        ));
    }
    if pipeline
        .retention
        .days
        .is_some_and(|d| d == 0 || d > 36_500)
    {
        out.push(Diagnostic::error(
            "retention.days",
            "keep executions 1 to 36500 days",
        ));
    }

    let artifacts = check_outputs(pipeline, &mut out);
    let namespaces = check_namespaces(pipeline, &artifacts, &mut out);
    for (s, stage) in pipeline.stages.iter().enumerate() {
        for (a, action) in stage.actions.iter().enumerate() {
            let path = format!("stages[{s}].actions[{a}]");
            check_action_fields(action, &path, &mut out);
            check_grants(action, &path, &mut out);
            check_inputs(action, s, &path, &artifacts, &mut out);
            check_references(pipeline, action, s, &path, &namespaces, &mut out);
        }
    }
    out
}

/// The shortest polling interval.
pub const MIN_POLL: std::time::Duration = std::time::Duration::from_secs(1);

fn check_variables(pipeline: &Pipeline, out: &mut Vec<Diagnostic>) {
    if pipeline.variables.len() > MAX_VARIABLES {
        out.push(Diagnostic::error(
            "variables",
            format!(
                "{} variables; a pipeline may have at most {MAX_VARIABLES}",
                pipeline.variables.len()
            ),
        ));
    }
    let mut seen = HashSet::new();
    for (i, variable) in pipeline.variables.iter().enumerate() {
        let path = format!("variables[{i}].name");
        if !is_variable_name(&variable.name) {
            out.push(Diagnostic::error(
                &path,
                format!(
                    "variable name `{}` is not valid: use letters, digits, `@`, `_` or `-`",
                    variable.name
                ),
            ));
        }
        if !seen.insert(variable.name.as_str()) {
            out.push(Diagnostic::error(
                &path,
                format!("variable `{}` is declared twice", variable.name),
            ));
        }
        if let Some(default) = &variable.default
            && default.len() > MAX_VALUE_BYTES
        {
            out.push(Diagnostic::error(
                format!("variables[{i}].default"),
                format!("the default is longer than {MAX_VALUE_BYTES} bytes"),
            ));
        }
    }
}

fn check_stages(pipeline: &Pipeline, out: &mut Vec<Diagnostic>) {
    let count = pipeline.stages.len();
    if count < 2 {
        out.push(Diagnostic::error(
            "stages",
            format!(
                "a pipeline needs at least 2 stages (a source stage and one more); this one has {count}"
            ),
        ));
    }
    if count > MAX_STAGES {
        out.push(Diagnostic::error(
            "stages",
            format!("{count} stages; a pipeline may have at most {MAX_STAGES}"),
        ));
    }
    let mut stage_names = HashSet::new();
    for (s, stage) in pipeline.stages.iter().enumerate() {
        let path = format!("stages[{s}]");
        if !is_entity_name(&stage.name) {
            out.push(Diagnostic::error(
                format!("{path}.name"),
                format!(
                    "stage name `{}` is not valid: use 1 to 100 letters, digits, `.`, `@`, `_` or `-`",
                    stage.name
                ),
            ));
        }
        if !stage_names.insert(stage.name.as_str()) {
            out.push(Diagnostic::error(
                format!("{path}.name"),
                format!("stage name `{}` is used twice", stage.name),
            ));
        }
        if stage.actions.is_empty() {
            out.push(Diagnostic::error(
                format!("{path}.actions"),
                format!(
                    "stage `{}` has no actions; it needs at least one",
                    stage.name
                ),
            ));
        }
        if stage.actions.len() > MAX_ACTIONS_PER_STAGE {
            out.push(Diagnostic::error(
                format!("{path}.actions"),
                format!(
                    "stage `{}` has {} actions; a stage may have at most {MAX_ACTIONS_PER_STAGE}",
                    stage.name,
                    stage.actions.len()
                ),
            ));
        }
        let mut action_names = HashSet::new();
        for (a, action) in stage.actions.iter().enumerate() {
            let path = format!("{path}.actions[{a}]");
            if !is_entity_name(&action.name) {
                out.push(Diagnostic::error(
                    format!("{path}.name"),
                    format!(
                        "action name `{}` is not valid: use 1 to 100 letters, digits, `.`, `@`, `_` or `-`",
                        action.name
                    ),
                ));
            }
            if !action_names.insert(action.name.as_str()) {
                out.push(Diagnostic::error(
                    format!("{path}.name"),
                    format!(
                        "action name `{}` is used twice in stage `{}`",
                        action.name, stage.name
                    ),
                ));
            }
            if !(1..=999).contains(&action.run_order) {
                out.push(Diagnostic::error(
                    format!("{path}.run_order"),
                    format!(
                        "run_order must be between 1 and 999, not {}",
                        action.run_order
                    ),
                ));
            }
        }
    }
}

/// Output artifact names, checked for validity and uniqueness; returns
/// where each is produced.
fn check_outputs(pipeline: &Pipeline, out: &mut Vec<Diagnostic>) -> HashMap<String, Origin> {
    let mut produced: HashMap<String, Origin> = HashMap::new();
    let mut producer_names: HashMap<String, String> = HashMap::new();
    for (s, stage) in pipeline.stages.iter().enumerate() {
        for (a, action) in stage.actions.iter().enumerate() {
            for (o, name) in action.outputs.iter().enumerate() {
                let path = format!("stages[{s}].actions[{a}].outputs[{o}]");
                if !is_artifact_name(name) {
                    out.push(Diagnostic::error(
                        &path,
                        format!(
                            "artifact name `{name}` is not valid: use 1 to 100 letters, digits, `_` or `-`"
                        ),
                    ));
                    continue;
                }
                if let Some(other) = producer_names.get(name) {
                    out.push(Diagnostic::error(
                        &path,
                        format!(
                            "output artifact `{name}` is already produced by {other}; output names are unique in a pipeline"
                        ),
                    ));
                    continue;
                }
                producer_names.insert(name.clone(), format!("`{}/{}`", stage.name, action.name));
                produced.insert(
                    name.clone(),
                    Origin {
                        stage: s,
                        run_order: action.run_order,
                    },
                );
            }
        }
    }
    produced
}

fn check_namespaces(
    pipeline: &Pipeline,
    artifacts: &HashMap<String, Origin>,
    out: &mut Vec<Diagnostic>,
) -> HashMap<String, Origin> {
    let mut namespaces: HashMap<String, Origin> = HashMap::new();
    for (s, stage) in pipeline.stages.iter().enumerate() {
        for (a, action) in stage.actions.iter().enumerate() {
            let Some(namespace) = &action.namespace else {
                continue;
            };
            let path = format!("stages[{s}].actions[{a}].namespace");
            if !is_variable_name(namespace) {
                out.push(Diagnostic::error(
                    &path,
                    format!(
                        "namespace `{namespace}` is not valid: use letters, digits, `@`, `_` or `-`"
                    ),
                ));
            } else if [PIPELINE_VARIABLES, EXECUTION, SECRETS].contains(&namespace.as_str()) {
                out.push(Diagnostic::error(
                    &path,
                    format!("namespace `{namespace}` is reserved"),
                ));
            } else if namespaces.contains_key(namespace) {
                out.push(Diagnostic::error(
                    &path,
                    format!(
                        "namespace `{namespace}` is used twice; namespaces are unique in a pipeline"
                    ),
                ));
            } else if artifacts.contains_key(namespace) {
                out.push(Diagnostic::error(
                    &path,
                    format!(
                        "namespace `{namespace}` has the name of an artifact; use another name"
                    ),
                ));
            } else {
                namespaces.insert(
                    namespace.clone(),
                    Origin {
                        stage: s,
                        run_order: action.run_order,
                    },
                );
            }
        }
    }
    namespaces
}

fn check_inputs(
    action: &Action,
    stage: usize,
    path: &str,
    artifacts: &HashMap<String, Origin>,
    out: &mut Vec<Diagnostic>,
) {
    let mut seen = HashSet::new();
    for (i, input) in action.inputs.iter().enumerate() {
        let path = format!("{path}.inputs[{i}]");
        if !seen.insert(input.as_str()) {
            out.push(Diagnostic::error(
                &path,
                format!("input `{input}` is listed twice"),
            ));
            continue;
        }
        if action.outputs.contains(input) {
            out.push(Diagnostic::error(
                &path,
                format!("`{input}` is both an input and an output of this action"),
            ));
            continue;
        }
        match artifacts.get(input) {
            Some(origin) if origin.precedes(stage, action.run_order) => {}
            Some(_) => out.push(Diagnostic::error(
                &path,
                format!(
                    "input artifact `{input}` is produced later: an input must come from an earlier stage or a lower run order of the same stage"
                ),
            )),
            None => {
                let hint = suggestion(input, artifacts.keys())
                    .map(|s| format!(" (did you mean `{s}`?)"))
                    .unwrap_or_default();
                out.push(Diagnostic::error(
                    &path,
                    format!("input artifact `{input}` is not produced by any action{hint}"),
                ));
            }
        }
    }
}

fn check_references(
    pipeline: &Pipeline,
    action: &Action,
    stage: usize,
    path: &str,
    namespaces: &HashMap<String, Origin>,
    out: &mut Vec<Diagnostic>,
) {
    for (key, value) in &action.configuration {
        let path = format!("{path}.configuration.{key}");
        let references = match variables::references(value) {
            Ok(r) => r,
            Err(e) => {
                out.push(Diagnostic::error(&path, e));
                continue;
            }
        };
        for reference in references {
            let problem = match reference.namespace.as_str() {
                PIPELINE_VARIABLES => {
                    (!pipeline.variables.iter().any(|v| v.name == reference.key)).then(|| {
                        let hint = suggestion(&reference.key, pipeline.variables.iter().map(|v| &v.name))
                            .map(|s| format!(" (did you mean `{s}`?)"))
                            .unwrap_or_default();
                        format!("{reference} refers to pipeline variable `{}`, which is not declared{hint}", reference.key)
                    })
                }
                EXECUTION => (!EXECUTION_KEYS.contains(&reference.key.as_str())).then(|| {
                    format!("{reference}: the execution namespace has only `id`")
                }),
                SECRETS => (!action.grants.secrets.contains(&reference.key)).then(|| {
                    format!(
                        "{reference}: the action is not granted secret `{}`; add it to `grants.secrets`",
                        reference.key
                    )
                }),
                namespace => match namespaces.get(namespace) {
                    Some(origin) if origin.precedes(stage, action.run_order) => None,
                    Some(_) => Some(format!(
                        "{reference} refers to namespace `{namespace}`, whose action runs later: it must be in an earlier stage or a lower run order"
                    )),
                    None => {
                        let hint = suggestion(namespace, namespaces.keys())
                            .map(|s| format!(" (did you mean `{s}`?)"))
                            .unwrap_or_default();
                        Some(format!(
                            "{reference} refers to namespace `{namespace}`, which no action declares{hint}"
                        ))
                    }
                },
            };
            if let Some(message) = problem {
                out.push(Diagnostic::error(&path, message));
            }
        }
    }
}

/// The known name closest to `name`, if one is close enough to be a typo.
fn suggestion<'a>(name: &str, known: impl Iterator<Item = &'a String>) -> Option<&'a String> {
    known
        .map(|k| (edit_distance(&name.to_lowercase(), &k.to_lowercase()), k))
        .filter(|(d, k)| *d <= 2.max(k.len() / 4))
        .min_by_key(|(d, _)| *d)
        .map(|(_, k)| k)
}

fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut previous = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let current = row[j + 1];
            row[j + 1] = if ca == *cb {
                previous
            } else {
                1 + previous.min(row[j]).min(current)
            };
            previous = current;
        }
    }
    row[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::parse::{Format, parse};

    fn problems(yaml: &str) -> Vec<String> {
        let pipeline = parse(yaml, Format::Yaml).expect("parses");
        validate(&pipeline)
            .into_iter()
            .map(|d| format!("{}: {}", d.path, d.message))
            .collect()
    }

    #[test]
    fn a_good_pipeline_has_no_problems() {
        let yaml = r##"
name: good
variables: [{ name: tag, default: "1.0" }]
stages:
  - name: Source
    actions:
      - { name: Fetch, provider: "builtin:directory", outputs: [Src], namespace: SourceVars }
  - name: Build
    actions:
      - { name: Compile, provider: "builtin:copy", inputs: [Src], outputs: [Bin], configuration: { Label: "#{variables.tag}-#{SourceVars.Revision}-#{execution.id}" } }
      - { name: Package, provider: "builtin:copy", run_order: 2, inputs: [Bin], outputs: [Pkg], timeout: 10m }
"##;
        assert_eq!(problems(yaml), Vec::<String>::new());
    }

    #[test]
    fn every_problem_is_reported_with_its_path() {
        let yaml = r##"
name: "bad name"
variables: [{ name: tag }, { name: tag }]
stages:
  - name: Source
    actions:
      - { name: Fetch, provider: "builtin:directory", outputs: [Src], namespace: Src }
  - name: Source
    actions:
      - { name: A, provider: "builtin:copy", inputs: [Scr], outputs: [Out], run_order: 0 }
      - { name: A, provider: "copy", inputs: [Later], outputs: [Src], timeout: 30 fortnights }
      - { name: C, provider: "builtin:copy", run_order: 5, outputs: [Later], configuration: { X: "#{variables.tga}", Y: "#{Nope.k}", Z: "#{oops" } }
"##;
        let found = problems(yaml);
        let expected = [
            "name: pipeline name `bad name` is not valid",
            "variables[1].name: variable `tag` is declared twice",
            "stages[1].name: stage name `Source` is used twice",
            "stages[1].actions[1].name: action name `A` is used twice in stage `Source`",
            "stages[1].actions[0].run_order: run_order must be between 1 and 999, not 0",
            "stages[1].actions[1].outputs[0]: output artifact `Src` is already produced by `Source/Fetch`",
            "stages[0].actions[0].namespace: namespace `Src` has the name of an artifact",
            "stages[1].actions[0].inputs[0]: input artifact `Scr` is not produced by any action (did you mean `Src`?)",
            "stages[1].actions[1].timeout: unknown duration unit",
            "stages[1].actions[1].inputs[0]: input artifact `Later` is produced later",
            "stages[1].actions[2].configuration.X: #{variables.tga} refers to pipeline variable `tga`, which is not declared (did you mean `tag`?)",
            "stages[1].actions[2].configuration.Y: #{Nope.k} refers to namespace `Nope`, which no action declares",
            "stages[1].actions[2].configuration.Z: `#{oops` is not closed",
        ];
        for e in expected {
            assert!(
                found.iter().any(|f| f.starts_with(e)),
                "missing `{e}` in:\n{}",
                found.join("\n")
            );
        }
        assert_eq!(found.len(), expected.len(), "{}", found.join("\n"));
    }

    #[test]
    fn a_single_stage_is_not_a_pipeline() {
        let yaml = "name: p\nstages:\n  - name: S\n    actions: []\n";
        let found = problems(yaml);
        assert!(
            found
                .iter()
                .any(|f| f.starts_with("stages: a pipeline needs at least 2 stages"))
        );
        assert!(
            found
                .iter()
                .any(|f| f.starts_with("stages[0].actions: stage `S` has no actions"))
        );
    }
}
