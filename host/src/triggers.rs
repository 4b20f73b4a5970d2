//! Change detection: a pipeline's `triggers:` start executions when a
//! source action has a new revision, found by polling `latest-revision`
//! at the trigger's interval or when the hook (`POST /api/v1/hooks/NAME`,
//! for a git post-receive hook) asks for a check now.
//!
//! A revision is new when it differs from the one the pipeline's latest
//! execution recorded for that source action. It starts an execution only
//! if it passes the trigger's filters: branches (for pushes reported to
//! the hook) and changed file paths (asked of the source provider). Each
//! start carries the idempotency token `trigger:ACTION:REVISION`, so a
//! revision starts at most one execution however many polls, hooks and
//! restarts see it.

use crate::engine::{Command, DriverHandle, PipelineVersion, Start};
use crate::model::Trigger;
use crate::model::validate::poll_interval;
use crate::queries::{ErrorCode, OpError};
use crate::store::Store;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use std::collections::{HashMap, HashSet};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// What a hook may say about a push (git's post-receive gives
/// `OLD NEW REF` per updated ref). Every field is optional: an empty body
/// checks every trigger of the pipeline now.
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct HookBody {
    /// The ref that moved, e.g. `refs/heads/main`.
    #[serde(default, rename = "ref")]
    pub ref_name: Option<String>,
    /// The commit it moved from.
    #[serde(default)]
    pub before: Option<String>,
    /// The commit it moved to: used as the source revision when the
    /// branch passes the trigger's branch filter.
    #[serde(default)]
    pub after: Option<String>,
    /// Only this source action's trigger (default: all of them).
    #[serde(default)]
    pub source: Option<String>,
}

/// What a check of one trigger found.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum CheckOutcome {
    /// A new revision started an execution.
    Started,
    /// No new revision (or its execution was started already).
    Unchanged,
    /// A new revision, filtered out (branch or file paths).
    Filtered,
    /// The source could not be asked.
    Failed,
}

/// One trigger's check.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct CheckResult {
    /// The source action.
    pub source: String,
    /// What happened.
    pub outcome: CheckOutcome,
    /// The revision looked at.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revision: Option<String>,
    /// The execution started (or already started for it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub execution: Option<String>,
    /// Why, for people.
    pub message: String,
}

/// The hook's answer: one result per trigger checked.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct HookAnswer {
    /// Each trigger checked.
    pub checked: Vec<CheckResult>,
}

/// The triggers of every pipeline of one state directory.
#[derive(Clone)]
pub struct Triggers {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Triggers {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Triggers").finish_non_exhaustive()
    }
}

struct Inner {
    engine: DriverHandle,
    state_dir: PathBuf,
    /// Checks under way, by (pipeline, source): one at a time each.
    busy: Mutex<HashSet<(String, String)>>,
    /// Revisions found filtered out, by (pipeline, source): not asked again.
    filtered: Mutex<HashMap<(String, String), String>>,
}

impl Triggers {
    /// Triggers for the pipelines of `state_dir`, starting executions
    /// through `engine`.
    pub fn new(engine: DriverHandle, state_dir: PathBuf) -> Triggers {
        Triggers {
            inner: Arc::new(Inner {
                engine,
                state_dir,
                busy: Mutex::new(HashSet::new()),
                filtered: Mutex::new(HashMap::new()),
            }),
        }
    }

    /// Polls every trigger at its interval until the task is dropped.
    pub fn spawn_polling(&self) -> tokio::task::JoinHandle<()> {
        let triggers = self.clone();
        tokio::spawn(async move {
            let mut next: HashMap<(String, String), Instant> = HashMap::new();
            let mut tick = tokio::time::interval(Duration::from_millis(500));
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tick.tick().await;
                // Only the driving host polls (a standby once it takes over).
                if !triggers.inner.engine.drives() {
                    continue;
                }
                let Ok(store) = Store::open(&triggers.inner.state_dir) else {
                    continue;
                };
                let Ok(pipelines) = store.current_pipelines() else {
                    continue;
                };
                drop(store);
                let now = Instant::now();
                let mut live = HashSet::new();
                for version in pipelines {
                    let version = Arc::new(version);
                    for trigger in &version.definition.triggers {
                        let Ok(Some(every)) = poll_interval(trigger) else {
                            continue;
                        };
                        let key = (version.name.clone(), trigger.source.clone());
                        live.insert(key.clone());
                        // The first check comes at once, then every interval.
                        let due = next.entry(key.clone()).or_insert(now);
                        if *due > now {
                            continue;
                        }
                        *due = now + every;
                        let triggers = triggers.clone();
                        let version = version.clone();
                        let trigger = trigger.clone();
                        tokio::spawn(async move {
                            let result = triggers
                                .check(&version, &trigger, &HookBody::default(), "poll")
                                .await;
                            if result.outcome == CheckOutcome::Failed {
                                tracing::warn!(pipeline = %version.name, source = %trigger.source, "{}", result.message);
                            }
                        });
                    }
                }
                next.retain(|k, _| live.contains(k));
            }
        })
    }

    /// The hook: checks the pipeline's triggers now (or the one `body`
    /// names), with what the push reported.
    pub async fn hook(&self, pipeline: &str, body: HookBody) -> Result<HookAnswer, OpError> {
        let store = Store::open(&self.inner.state_dir).map_err(OpError::internal)?;
        let version = store
            .current_pipeline(pipeline)
            .map_err(OpError::internal)?
            .ok_or_else(|| {
                OpError::not_found("name", format!("there is no pipeline `{pipeline}`"))
            })?;
        drop(store);
        let triggers: Vec<&Trigger> = version
            .definition
            .triggers
            .iter()
            .filter(|t| body.source.as_ref().is_none_or(|s| *s == t.source))
            .collect();
        if triggers.is_empty() {
            return Err(match &body.source {
                Some(s) => OpError::not_found(
                    "source",
                    format!("pipeline `{pipeline}` has no trigger on source action `{s}`"),
                ),
                None => OpError::new(
                    ErrorCode::Conflict,
                    format!(
                        "pipeline `{pipeline}` declares no triggers: add `triggers: [{{ source: ACTION }}]`"
                    ),
                ),
            });
        }
        let mut checked = Vec::new();
        for trigger in triggers {
            checked.push(self.check(&version, trigger, &body, "hook").await);
        }
        Ok(HookAnswer { checked })
    }

    /// Checks one trigger: finds the candidate revision, compares it with
    /// the latest execution's, applies the filters, starts an execution.
    pub async fn check(
        &self,
        version: &PipelineVersion,
        trigger: &Trigger,
        hint: &HookBody,
        how: &str,
    ) -> CheckResult {
        let key = (version.name.clone(), trigger.source.clone());
        if !self.inner.busy.lock().unwrap().insert(key.clone()) {
            return result(
                trigger,
                CheckOutcome::Unchanged,
                None,
                None,
                "a check is already under way",
            );
        }
        let answer = self.check_inner(version, trigger, hint, how).await;
        self.inner.busy.lock().unwrap().remove(&key);
        answer
    }

    async fn check_inner(
        &self,
        version: &PipelineVersion,
        trigger: &Trigger,
        hint: &HookBody,
        how: &str,
    ) -> CheckResult {
        let Some(index) = version.definition.stages[0]
            .actions
            .iter()
            .position(|a| a.name == trigger.source)
        else {
            return result(
                trigger,
                CheckOutcome::Failed,
                None,
                None,
                "no such source action",
            );
        };
        // A push to a branch the trigger does not take starts nothing.
        let branch = hint
            .ref_name
            .as_deref()
            .map(|r| r.strip_prefix("refs/heads/").unwrap_or(r).to_string());
        if let (Some(filter), Some(branch)) = (&trigger.branches, &branch)
            && !filter.passes(branch)
        {
            return result(
                trigger,
                CheckOutcome::Filtered,
                hint.after.clone(),
                None,
                &format!("branch `{branch}` is not taken by the trigger's branch filter"),
            );
        }
        let candidate = match (&hint.after, &branch) {
            // The pushed commit itself, when the push names one.
            (Some(after), Some(_)) if !after.chars().all(|c| c == '0') => after.clone(),
            _ => match self.inner.engine.latest_revision(version, index).await {
                Ok(r) => r.id,
                Err(e) => {
                    return result(
                        trigger,
                        CheckOutcome::Failed,
                        None,
                        None,
                        &format!("asking `{}` for its latest revision: {e}", trigger.source),
                    );
                }
            },
        };
        let previous = match self.previous_revision(&version.name, &trigger.source) {
            Ok(p) => p,
            Err(e) => return result(trigger, CheckOutcome::Failed, Some(candidate), None, &e),
        };
        if previous.as_deref() == Some(candidate.as_str()) {
            return result(
                trigger,
                CheckOutcome::Unchanged,
                Some(candidate),
                None,
                "the latest execution has this revision already",
            );
        }
        let key = (version.name.clone(), trigger.source.clone());
        if self.inner.filtered.lock().unwrap().get(&key) == Some(&candidate) {
            return result(
                trigger,
                CheckOutcome::Filtered,
                Some(candidate),
                None,
                "no changed file matches the trigger's file_paths filter",
            );
        }
        if let (Some(filter), Some(previous)) = (&trigger.file_paths, &previous) {
            match self
                .inner
                .engine
                .changed_paths(version, index, previous, &candidate)
                .await
            {
                Ok(Some(paths)) if !paths.iter().any(|p| filter.passes(p)) => {
                    self.inner
                        .filtered
                        .lock()
                        .unwrap()
                        .insert(key, candidate.clone());
                    return result(
                        trigger,
                        CheckOutcome::Filtered,
                        Some(candidate),
                        None,
                        &format!(
                            "no changed file matches the trigger's file_paths filter ({} changed)",
                            paths.len()
                        ),
                    );
                }
                Ok(_) => {}
                Err(e) => {
                    return result(
                        trigger,
                        CheckOutcome::Failed,
                        Some(candidate),
                        None,
                        &format!("asking `{}` what changed: {e}", trigger.source),
                    );
                }
            }
        }
        let start = Command::Start(Start {
            pipeline: version.name.clone(),
            variables: Default::default(),
            revisions: [(trigger.source.clone(), candidate.clone())]
                .into_iter()
                .collect(),
            trigger: format!("{how}: {} {}", trigger.source, short(&candidate)),
            token: Some(format!("trigger:{}:{candidate}", trigger.source)),
        });
        match self.inner.engine.command(start).await {
            Ok(done) => {
                // A start answered by its token found the execution an
                // earlier check started for this revision.
                let outcome = if done.created {
                    CheckOutcome::Started
                } else {
                    CheckOutcome::Unchanged
                };
                result(
                    trigger,
                    outcome,
                    Some(candidate),
                    done.execution,
                    &done.message,
                )
            }
            Err(refused) => result(
                trigger,
                CheckOutcome::Failed,
                Some(candidate),
                None,
                &refused.to_string(),
            ),
        }
    }

    /// The revision the pipeline's latest execution recorded for `source`.
    fn previous_revision(&self, pipeline: &str, source: &str) -> Result<Option<String>, String> {
        let store = Store::open(&self.inner.state_dir).map_err(|e| e.to_string())?;
        let latest = store
            .list_executions(pipeline, 20)
            .map_err(|e| e.to_string())?;
        Ok(latest.iter().find_map(|e| {
            e.source_revisions
                .iter()
                .find(|r| r.action == source)
                .and_then(|r| r.revision.as_ref())
                .map(|r| r.id.clone())
        }))
    }
}

fn short(revision: &str) -> &str {
    crate::text::prefix(revision, 12)
}

fn result(
    trigger: &Trigger,
    outcome: CheckOutcome,
    revision: Option<String>,
    execution: Option<String>,
    message: &str,
) -> CheckResult {
    CheckResult {
        source: trigger.source.clone(),
        outcome,
        revision,
        execution,
        message: message.to_string(),
    }
}
