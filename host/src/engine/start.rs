//! The start rule. A start names the pipeline, overrides some of its
//! variables and, for some source actions, the revision to use instead of
//! the latest. Every variable the pipeline declares gets a value (the
//! override, else its default; one with neither refuses the start); a
//! variable it does not declare, a revision for an action that is not one
//! of its source actions, or a revision id that no source could have
//! returned refuses it too.
//!
//! A start may carry an idempotency token: a second start of the same
//! pipeline with the same token answers the execution the first started
//! (or will start: starts under way wait for it) instead of starting
//! another.
//!
//! Asking each source action for its latest revision takes time, so it
//! happens off the driver's loop; the execution is created when the
//! answers are back (`Started`), under the pipeline's version of that
//! moment's definition as checked here.

use super::command::{Answer, CommandError, Done, Start};
use super::driver::{DriverLoop, Input, Reply};
use crate::records::*;
use indexmap::IndexMap;

/// Longest revision id a start may name.
const MAX_REVISION_LEN: usize = 1024;

/// A start whose revisions are known, back on the driver's loop.
pub(super) struct Started {
    id: ExecutionId,
    start: Start,
    version: SharedVersion,
    variables: IndexMap<String, String>,
    revisions: Vec<RecordedRevision>,
    reply: Reply,
}

impl Started {
    /// Where its answer goes.
    pub(super) fn into_reply(self) -> Reply {
        self.reply
    }
}

/// The variables an execution of `version` started by `start` gets, or why
/// the start is refused.
pub(super) fn check(
    version: &PipelineVersion,
    start: &Start,
) -> Result<IndexMap<String, String>, CommandError> {
    let pipeline = &version.name;
    let declared = &version.definition.variables;
    if let Some(name) = start
        .variables
        .keys()
        .find(|name| !declared.iter().any(|v| &v.name == *name))
    {
        return Err(CommandError::UnknownVariable {
            pipeline: pipeline.clone(),
            variable: name.clone(),
            known: declared.iter().map(|v| v.name.clone()).collect(),
        });
    }
    let mut variables = IndexMap::new();
    for declaration in declared {
        let value = start
            .variables
            .get(&declaration.name)
            .or(declaration.default.as_ref())
            .ok_or_else(|| CommandError::MissingVariable {
                pipeline: pipeline.clone(),
                variable: declaration.name.clone(),
            })?;
        variables.insert(declaration.name.clone(), value.clone());
    }
    let sources: Vec<&str> = version
        .definition
        .stages
        .first()
        .map(|s| s.actions.iter().map(|a| a.name.as_str()).collect())
        .unwrap_or_default();
    for (action, revision) in &start.revisions {
        if !sources.contains(&action.as_str()) {
            return Err(CommandError::UnknownSourceAction {
                pipeline: pipeline.clone(),
                action: action.clone(),
                sources: sources.iter().map(|s| s.to_string()).collect(),
            });
        }
        if let Some(reason) = revision_problem(revision) {
            return Err(CommandError::InvalidRevision {
                action: action.clone(),
                reason,
            });
        }
    }
    Ok(variables)
}

/// What is wrong with a revision id a start names, if anything.
fn revision_problem(revision: &str) -> Option<String> {
    if revision.trim().is_empty() {
        Some("it is empty".into())
    } else if revision.len() > MAX_REVISION_LEN {
        Some(format!("it is longer than {MAX_REVISION_LEN} bytes"))
    } else if revision.chars().any(char::is_control) {
        Some("it holds control characters".into())
    } else {
        None
    }
}

impl DriverLoop {
    /// Takes a start: answered at once when refused or when its token
    /// already started an execution, else once the execution is created.
    pub(super) fn start(&mut self, start: Start, reply: Reply) {
        let token = start
            .token
            .as_ref()
            .map(|t| (start.pipeline.clone(), t.clone()));
        if let Some(key) = &token {
            if let Some(waiting) = self.starting.get_mut(key) {
                waiting.push(reply);
                return;
            }
            match self.store.execution_by_token(&key.0, &key.1) {
                Ok(Some(id)) => {
                    let done = Done::about(
                        format!("execution {id} was already started with this token"),
                        id,
                    );
                    return self.answer(reply, Ok(done));
                }
                Ok(None) => {}
                Err(e) => return self.answer(reply, Err(CommandError::unavailable(e))),
            }
        }
        let Some(version) = self.machine.current_version(&start.pipeline).cloned() else {
            let pipeline = start.pipeline.clone();
            return self.answer(reply, Err(CommandError::UnknownPipeline { pipeline }));
        };
        let variables = match check(&version, &start) {
            Ok(v) => v,
            Err(refused) => return self.answer(reply, Err(refused)),
        };
        if let Some(key) = token {
            self.starting.insert(key, Vec::new());
        }
        let id = uuid::Uuid::now_v7().to_string();
        let calls = self.calls.clone();
        let inbox = self.inbox.clone();
        tokio::spawn(async move {
            let revisions = calls
                .record_revisions(&version, &variables, &id, &start.revisions)
                .await;
            let _ = inbox
                .send(Input::Started(Box::new(Started {
                    id,
                    start,
                    version,
                    variables,
                    revisions,
                    reply,
                })))
                .await;
        });
    }

    /// Creates the execution of a start whose revisions are known, and
    /// answers it and every start that came with the same token meanwhile.
    pub(super) fn started(&mut self, started: Started) {
        let Started {
            id,
            start,
            version,
            variables,
            revisions,
            reply,
        } = started;
        let key = start.token.clone().map(|t| (start.pipeline.clone(), t));
        let answer: Answer = self
            .machine
            .start(
                id,
                version,
                &start.trigger,
                variables,
                revisions,
                start.token,
            )
            .map(|id| Done {
                created: true,
                ..Done::about(format!("started execution {id}"), id)
            });
        if let Some(key) = key {
            for waiting in self.starting.remove(&key).unwrap_or_default() {
                let same = answer.clone().map(|done| Done {
                    created: false,
                    ..done
                });
                self.answer(waiting, same);
            }
        }
        self.answer(reply, answer);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model;

    fn version() -> PipelineVersion {
        let loaded = model::load_text(
            r#"
name: app
variables:
  - name: tag
    default: latest
  - name: target
stages:
  - name: Source
    actions:
      - name: Code
        provider: builtin:git
        outputs: [src]
        configuration: { repository: /r }
  - name: Build
    actions:
      - name: Make
        provider: builtin:shell
        inputs: [src]
        configuration: { command: make }
"#,
            "app.yaml",
            std::path::Path::new("/"),
        )
        .unwrap();
        PipelineVersion {
            name: "app".into(),
            version: 1,
            definition: loaded.pipeline,
            resolved: Vec::new(),
            created_at: 0,
        }
    }

    fn start(variables: &[(&str, &str)], revisions: &[(&str, &str)]) -> Start {
        let pairs = |p: &[(&str, &str)]| {
            p.iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect()
        };
        Start {
            pipeline: "app".into(),
            variables: pairs(variables),
            revisions: pairs(revisions),
            trigger: "test".into(),
            token: None,
        }
    }

    #[test]
    fn every_declared_variable_gets_its_override_or_default() {
        let variables = check(&version(), &start(&[("target", "prod")], &[])).unwrap();
        assert_eq!(
            variables.into_iter().collect::<Vec<_>>(),
            [
                ("tag".to_string(), "latest".to_string()),
                ("target".to_string(), "prod".to_string())
            ]
        );
    }

    #[test]
    fn unknown_and_missing_variables_are_refused_by_name() {
        let unknown = check(&version(), &start(&[("target", "x"), ("tga", "v1")], &[]));
        assert_eq!(
            unknown.unwrap_err(),
            CommandError::UnknownVariable {
                pipeline: "app".into(),
                variable: "tga".into(),
                known: vec!["tag".into(), "target".into()],
            }
        );
        let missing = check(&version(), &start(&[], &[]));
        assert_eq!(
            missing.unwrap_err(),
            CommandError::MissingVariable {
                pipeline: "app".into(),
                variable: "target".into(),
            }
        );
    }

    #[test]
    fn revisions_must_name_a_source_action_and_look_like_a_revision() {
        let given = [("target", "x")];
        assert!(check(&version(), &start(&given, &[("Code", "abc123")])).is_ok());
        assert_eq!(
            check(&version(), &start(&given, &[("Make", "abc123")])).unwrap_err(),
            CommandError::UnknownSourceAction {
                pipeline: "app".into(),
                action: "Make".into(),
                sources: vec!["Code".into()],
            }
        );
        for (bad, why) in [
            ("", "empty"),
            ("abc\n123", "control"),
            (&"a".repeat(2000)[..], "longer"),
        ] {
            match check(&version(), &start(&given, &[("Code", bad)])) {
                Err(CommandError::InvalidRevision { action, reason }) => {
                    assert_eq!(action, "Code");
                    assert!(reason.contains(why), "{reason}");
                }
                other => panic!("{bad:?}: {other:?}"),
            }
        }
    }
}
