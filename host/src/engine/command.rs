//! The engine's front door: the commands users (and triggers) give it,
//! what it answers, and why it refuses, all typed. The API maps
//! [`CommandError`] variants to HTTP statuses and fields, the command line
//! to messages and exit codes; nothing decides by the text of a message.
//!
//! Commands from other processes travel through the store as JSON (see
//! [`Command::to_json`]), and so do their answers.
//!
//! A user-triggered rule is a variant here, its arm in
//! `DriverLoop::apply` below, and its rule file (`stop.rs`, `retry.rs`, ...).

use super::driver::{DriverLoop, Reply};
use crate::records::{RetryMode, StopMode};
use crate::store::Deletion;
use indexmap::IndexMap;
use serde::{Deserialize, Serialize};

/// Something asked of the engine.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum Command {
    /// Start an execution.
    Start(Start),
    /// Stop an execution.
    Stop {
        /// The execution.
        execution: String,
        /// Abandon running actions rather than wait for them.
        abandon: bool,
        /// Why.
        reason: Option<String>,
    },
    /// Retry a failed or stopped stage.
    Retry {
        /// The execution.
        execution: String,
        /// The stage.
        stage: String,
        /// All actions rather than the failed ones.
        all: bool,
    },
    /// Approve or reject an approval action.
    Decide {
        /// The execution.
        execution: String,
        /// The stage.
        stage: String,
        /// The approval action.
        action: String,
        /// Approve (true) or reject.
        approved: bool,
        /// Who.
        by: String,
        /// Their comment.
        summary: Option<String>,
    },
    /// Enable or disable the transition into a stage.
    Transition {
        /// The pipeline.
        pipeline: String,
        /// The stage the transition leads into.
        stage: String,
        /// Enable (true) or disable.
        enabled: bool,
        /// Why.
        reason: Option<String>,
        /// Who.
        by: String,
    },
    /// Delete a pipeline and its history: refused while it has executions
    /// in progress or waiting, unless `force`, which stops them first
    /// (abandoning their running actions).
    Delete {
        /// The pipeline.
        pipeline: String,
        /// Stop its executions in progress first.
        #[serde(default)]
        force: bool,
    },
    /// A pipeline was applied by another connection: load it again.
    Reload {
        /// The pipeline.
        pipeline: String,
    },
}

/// A start request (see `engine/start.rs` for its rule).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Start {
    /// The pipeline.
    pub pipeline: String,
    /// Pipeline variables for this execution.
    #[serde(default)]
    pub variables: IndexMap<String, String>,
    /// Source revisions to use instead of the latest, by source action.
    #[serde(default)]
    pub revisions: IndexMap<String, String>,
    /// What started it (`cli (alice)`, `api (bob)`, a trigger).
    pub trigger: String,
    /// An idempotency token: a second start of the same pipeline with the
    /// same token answers the first one's execution instead of starting
    /// another.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token: Option<String>,
}

/// What the engine did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Done {
    /// What happened, for people.
    pub message: String,
    /// The execution it concerned (for a start: the new one, or the one
    /// its token started earlier).
    pub execution: Option<String>,
    /// Whether the command made something new (a start that started an
    /// execution, not one answered by its token).
    #[serde(default)]
    pub created: bool,
}

impl Done {
    /// Done, about `execution`.
    pub fn about(message: impl Into<String>, execution: impl Into<String>) -> Done {
        Done {
            message: message.into(),
            execution: Some(execution.into()),
            created: false,
        }
    }

    /// Done, about no execution in particular.
    pub fn said(message: impl Into<String>) -> Done {
        Done {
            message: message.into(),
            execution: None,
            created: false,
        }
    }
}

/// Why the engine refused a command. Each says what to do instead.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, Serialize, Deserialize)]
#[serde(tag = "error", rename_all = "kebab-case")]
pub enum CommandError {
    /// No such pipeline.
    #[error("there is no pipeline `{pipeline}`")]
    UnknownPipeline {
        /// The pipeline asked for.
        pipeline: String,
    },
    /// No such execution.
    #[error("there is no execution `{execution}`")]
    UnknownExecution {
        /// The execution asked for.
        execution: String,
    },
    /// No such stage.
    #[error("pipeline `{pipeline}` has no stage `{stage}`")]
    UnknownStage {
        /// The pipeline.
        pipeline: String,
        /// The stage asked for.
        stage: String,
    },
    /// No such action.
    #[error("stage `{stage}` has no action `{action}`")]
    UnknownAction {
        /// The stage.
        stage: String,
        /// The action asked for.
        action: String,
    },
    /// A start names a variable the pipeline does not declare.
    #[error(
        "pipeline `{pipeline}` has no variable `{variable}` (it has: {})",
        if known.is_empty() { "none".to_string() } else { known.join(", ") }
    )]
    UnknownVariable {
        /// The pipeline.
        pipeline: String,
        /// The variable given.
        variable: String,
        /// The variables it declares.
        known: Vec<String>,
    },
    /// A variable with no default was not given.
    #[error(
        "variable `{variable}` of pipeline `{pipeline}` has no default: give it a value (--var {variable}=VALUE)"
    )]
    MissingVariable {
        /// The pipeline.
        pipeline: String,
        /// The variable.
        variable: String,
    },
    /// A start gives a revision for an action that is not a source action.
    #[error(
        "pipeline `{pipeline}` has no source action `{action}` to give a revision for (its source actions: {})",
        sources.join(", ")
    )]
    UnknownSourceAction {
        /// The pipeline.
        pipeline: String,
        /// The action named.
        action: String,
        /// Its source actions.
        sources: Vec<String>,
    },
    /// A start names a revision no source could have returned.
    #[error("the revision given for source action `{action}` is not valid: {reason}")]
    InvalidRevision {
        /// The source action.
        action: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The stage cannot be retried now.
    #[error("{reason}")]
    NotRetryable {
        /// The execution.
        execution: String,
        /// The stage.
        stage: String,
        /// Why, and what to do instead.
        reason: String,
    },
    /// The execution has already ended.
    #[error("execution {execution} has already ended ({status})")]
    AlreadyEnded {
        /// The execution.
        execution: String,
        /// How it ended.
        status: String,
    },
    /// The action is not waiting for a decision.
    #[error(
        "action `{stage}/{action}` of execution {execution} is not waiting for approval ({state})"
    )]
    NotAwaitingApproval {
        /// The execution.
        execution: String,
        /// The stage.
        stage: String,
        /// The action.
        action: String,
        /// What it is doing instead.
        state: String,
    },
    /// The first stage has no inbound transition.
    #[error("stage `{stage}` is the first stage: there is no transition into it")]
    NoTransition {
        /// The pipeline.
        pipeline: String,
        /// The stage.
        stage: String,
    },
    /// The pipeline has executions in progress.
    #[error(
        "pipeline `{pipeline}` has an execution in progress ({execution}): stop it first (`sluice stop {execution}`)"
    )]
    PipelineBusy {
        /// The pipeline.
        pipeline: String,
        /// One of its executions in progress.
        execution: String,
    },
    /// The engine could not do it (its state could not be read or written,
    /// it stopped, it did not answer).
    #[error("{reason}")]
    Unavailable {
        /// What went wrong.
        reason: String,
    },
}

impl CommandError {
    /// An engine that could not do what it was asked.
    pub fn unavailable(reason: impl std::fmt::Display) -> Self {
        CommandError::Unavailable {
            reason: reason.to_string(),
        }
    }
}

/// The engine's answer to a command.
pub type Answer = Result<Done, CommandError>;

impl Command {
    /// The command as it is stored for the driver.
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).expect("commands serialise")
    }

    /// A stored command.
    pub fn from_json(text: &str) -> Result<Command, String> {
        serde_json::from_str(text).map_err(|e| format!("an unreadable request ({e})"))
    }
}

/// An answer as it is stored for the process waiting for it.
pub fn answer_to_json(answer: &Answer) -> String {
    serde_json::to_string(answer).expect("answers serialise")
}

/// A stored answer.
pub fn answer_from_json(text: &str) -> Answer {
    serde_json::from_str(text).unwrap_or_else(|e| {
        Err(CommandError::unavailable(format!(
            "the driver's answer cannot be read ({e})"
        )))
    })
}

impl DriverLoop {
    /// Applies a command; the answer goes to `reply` once the step it made
    /// is written (an answer never names state a reader cannot see yet).
    pub(super) fn apply(&mut self, command: Command, reply: Reply) {
        let answer = match command {
            Command::Start(start) => return self.start(start, reply),
            Command::Stop {
                execution,
                abandon,
                reason,
            } => {
                let mode = if abandon {
                    StopMode::Abandon
                } else {
                    StopMode::Wait
                };
                self.load_execution(&execution)
                    .and_then(|()| self.machine.stop(&execution, mode, reason))
                    .map(|()| Done::about(format!("stopping execution {execution}"), &execution))
            }
            Command::Retry {
                execution,
                stage,
                all,
            } => {
                let mode = if all {
                    RetryMode::AllActions
                } else {
                    RetryMode::FailedActions
                };
                self.load_execution(&execution)
                    .and_then(|()| self.machine.retry(&execution, &stage, mode))
                    .map(|()| {
                        let message = format!("retrying stage `{stage}` of execution {execution}");
                        Done::about(message, &execution)
                    })
            }
            Command::Decide {
                execution,
                stage,
                action,
                approved,
                by,
                summary,
            } => self
                .load_execution(&execution)
                .and_then(|()| {
                    self.machine
                        .decide(&execution, &stage, &action, approved, &by, summary)
                })
                .map(|()| {
                    let verb = if approved { "approved" } else { "rejected" };
                    let message = format!("{verb} `{stage}/{action}` of execution {execution}");
                    Done::about(message, &execution)
                }),
            Command::Transition {
                pipeline,
                stage,
                enabled,
                reason,
                by,
            } => self
                .machine
                .set_transition(&pipeline, &stage, enabled, reason, &by)
                .map(|()| {
                    let verb = if enabled { "enabled" } else { "disabled" };
                    Done::said(format!("{verb} the transition into `{stage}`"))
                }),
            Command::Delete { pipeline, force } => self.delete(&pipeline, force),
            Command::Reload { pipeline } => self.reload(&pipeline),
        };
        self.answer(reply, answer);
    }

    /// Loads a finished execution back into memory (for a retry, or to
    /// answer about it).
    fn load_execution(&mut self, id: &str) -> Result<(), CommandError> {
        if self.machine.execution(id).is_some() {
            return Ok(());
        }
        let unknown = || CommandError::UnknownExecution {
            execution: id.to_string(),
        };
        let (pipeline, version) = self
            .store
            .execution_version(id)
            .map_err(CommandError::unavailable)?
            .ok_or_else(unknown)?;
        if self.machine.version(&pipeline, version).is_none() {
            let stored = self
                .store
                .pipeline_version(&pipeline, version)
                .map_err(CommandError::unavailable)?
                .ok_or_else(|| CommandError::UnknownPipeline {
                    pipeline: pipeline.clone(),
                })?;
            self.machine.add_version(stored);
        }
        let shared = self.machine.version(&pipeline, version).cloned();
        let execution = self
            .store
            .execution(id, |_, _| shared.clone())
            .map_err(CommandError::unavailable)?
            .ok_or_else(unknown)?;
        self.machine.restore_finished(execution);
        Ok(())
    }

    /// Deletes a pipeline and its history, unless it has executions in
    /// progress.
    fn delete(&mut self, pipeline: &str, force: bool) -> Answer {
        if force {
            let running: Vec<String> = self
                .machine
                .executions()
                .filter(|e| e.pipeline == pipeline && !e.status.is_terminal())
                .map(|e| e.id.clone())
                .collect();
            for id in running {
                let reason = Some(format!("pipeline `{pipeline}` is being deleted"));
                self.machine.stop(&id, StopMode::Abandon, reason)?;
            }
        }
        // The machine knows of executions this step started, not yet
        // written; the store refuses in the same transaction otherwise.
        self.machine.check_removable(pipeline)?;
        let deletion = self
            .store
            .delete_pipeline(pipeline, force)
            .map_err(CommandError::unavailable)?;
        deleted(pipeline, deletion)?;
        let _ = self.machine.remove_pipeline(pipeline);
        Ok(Done::said(format!(
            "deleted pipeline `{pipeline}` and its history"
        )))
    }

    /// Loads a pipeline's current version as another connection left it.
    fn reload(&mut self, pipeline: &str) -> Answer {
        match self
            .store
            .current_pipeline(pipeline)
            .map_err(CommandError::unavailable)?
        {
            Some(version) => {
                let number = version.version;
                self.machine.add_version(version);
                Ok(Done::said(format!(
                    "pipeline `{pipeline}` is at version {number}"
                )))
            }
            None => {
                self.machine.check_removable(pipeline)?;
                let _ = self.machine.remove_pipeline(pipeline);
                Ok(Done::said(format!("pipeline `{pipeline}` is gone")))
            }
        }
    }
}

/// A store's deletion as the engine answers it.
pub fn deleted(pipeline: &str, deletion: Deletion) -> Result<(), CommandError> {
    match deletion {
        Deletion::Deleted => Ok(()),
        Deletion::NoSuchPipeline => Err(CommandError::UnknownPipeline {
            pipeline: pipeline.to_string(),
        }),
        Deletion::InProgress(execution) => Err(CommandError::PipelineBusy {
            pipeline: pipeline.to_string(),
            execution,
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commands_and_answers_round_trip_as_stored() {
        let start = Command::Start(Start {
            pipeline: "p".into(),
            variables: [("tag".to_string(), "v1".to_string())]
                .into_iter()
                .collect(),
            revisions: IndexMap::new(),
            trigger: "cli (alice)".into(),
            token: Some("t-1".into()),
        });
        let json = start.to_json();
        assert!(
            json.starts_with(r#"{"kind":"start","pipeline":"p""#),
            "{json}"
        );
        assert_eq!(Command::from_json(&json).unwrap(), start);
        let error = CommandError::UnknownVariable {
            pipeline: "p".into(),
            variable: "tga".into(),
            known: vec!["tag".into()],
        };
        assert_eq!(
            error.to_string(),
            "pipeline `p` has no variable `tga` (it has: tag)"
        );
        let refused: Answer = Err(error);
        assert_eq!(answer_from_json(&answer_to_json(&refused)), refused);
        assert!(answer_to_json(&refused).contains(r#""error":"unknown-variable""#));
        assert_eq!(
            refused.map(|d| d.message).unwrap_or_else(|e| e.to_string()),
            "pipeline `p` has no variable `tga` (it has: tag)"
        );
        let done: Answer = Ok(Done {
            created: true,
            ..Done::about("started execution e1", "e1")
        });
        assert_eq!(answer_from_json(&answer_to_json(&done)), done);
    }
}
