//! Action deadlines and call-backs of in-progress actions.
//!
//! Every attempt has a deadline: the action's `timeout` (default 1 hour,
//! 7 days for approvals) from when the attempt started. While a provider
//! call is under way the sandbox enforces it; between calls, a timer fails
//! the action when it passes. An in-progress action is called back, on a
//! fresh instance, when its `recheck-after` delay ends, but never sooner
//! than the host's [`RecheckPolicy`] allows: a floor, and a back-off that
//! grows with the time the attempt has been going, so a provider answering
//! "in progress, call back in 0 ms" forever is polled less and less often,
//! never in a busy loop.

use super::machine::{Effect, Machine};
use crate::model::Action;
use crate::records::*;
use crate::sandbox::{Category, Failure, FailureKind};
use std::time::Duration;

/// Default timeout of an action.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(3600);
/// Default timeout of an approval action.
pub const DEFAULT_APPROVAL_TIMEOUT: Duration = Duration::from_secs(7 * 24 * 3600);

/// How soon an in-progress provider may be called back.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RecheckPolicy {
    /// The shortest delay, whatever the provider asks (default 1 s).
    pub floor: Duration,
    /// The back-off: an attempt running for `t` is called back no sooner
    /// than `t / 8`, up to this (default 60 s).
    pub ceiling: Duration,
}

impl Default for RecheckPolicy {
    fn default() -> Self {
        RecheckPolicy::with_floor(Duration::from_secs(1))
    }
}

impl RecheckPolicy {
    /// A floor and a back-off up to 60 times it.
    pub fn with_floor(floor: Duration) -> Self {
        RecheckPolicy {
            floor,
            ceiling: floor * 60,
        }
    }

    /// The delay before calling back a provider that asked for `requested`,
    /// in an attempt that has been going for `running`.
    pub fn delay(&self, requested: Duration, running: Duration) -> Duration {
        let backoff = (running / 8).min(self.ceiling);
        requested.max(self.floor).max(backoff)
    }
}

/// The timeout of an action: its own, or its category's default.
pub fn action_timeout(action: &Action, category: Category) -> Duration {
    action
        .timeout
        .as_deref()
        .and_then(|t| crate::units::parse_duration(t).ok())
        .unwrap_or(if category == Category::Approval {
            DEFAULT_APPROVAL_TIMEOUT
        } else {
            DEFAULT_TIMEOUT
        })
}

impl Machine {
    /// Sets the timer of an in-progress action between calls: its
    /// call-back, or its deadline if sooner.
    pub(super) fn arm_timer(&mut self, key: &ActionKey) {
        self.disarm_timer(key);
        let Some(run) = self
            .executions
            .get(&key.execution)
            .map(|e| &e.stages[key.stage].actions[key.action])
        else {
            return;
        };
        let at = match (run.recheck_at, run.deadline_at) {
            (Some(r), Some(d)) => r.min(d),
            (Some(r), None) => r,
            (None, Some(d)) => d,
            (None, None) => return,
        };
        self.timers.insert((at, key.clone()));
        self.timer_of.insert(key.clone(), at);
    }

    pub(super) fn disarm_timer(&mut self, key: &ActionKey) {
        if let Some(at) = self.timer_of.remove(key) {
            self.timers.remove(&(at, key.clone()));
        }
    }

    /// When the next timer is due.
    pub fn next_timer(&self) -> Option<Millis> {
        self.timers.first().map(|(at, _)| *at)
    }

    /// Handles every timer due by now: deadlines passed fail their
    /// actions; call-backs due call their providers again.
    pub fn tick(&mut self) {
        while let Some((at, key)) = self.timers.first().cloned() {
            if at > self.now {
                break;
            }
            self.disarm_timer(&key);
            let Some(run) = self
                .executions
                .get(&key.execution)
                .map(|e| &e.stages[key.stage].actions[key.action])
            else {
                continue;
            };
            if run.status != Some(ActionStatus::InProgress) || run.running {
                continue;
            }
            if run.deadline_at.is_some_and(|d| d <= self.now) {
                self.time_out(&key);
            } else {
                self.call_back(&key);
            }
        }
    }

    /// Fails an action whose deadline passed.
    fn time_out(&mut self, key: &ActionKey) {
        let Some(version) = self.version_of(&key.execution) else {
            return;
        };
        let definition = &version.definition.stages[key.stage].actions[key.action];
        let timeout = action_timeout(definition, version.resolved[key.stage][key.action].category);
        let failure = Failure {
            kind: FailureKind::JobFailed,
            message: format!(
                "deadline exceeded: the action did not finish within its timeout of {}",
                crate::units::format_duration(timeout)
            ),
        };
        self.end_attempt(key, ActionStatus::Failed, failure);
        self.touch(&key.execution);
        self.evaluate_stage(&key.execution, key.stage);
    }

    /// Calls an in-progress provider again, with its continuation token.
    pub(super) fn call_back(&mut self, key: &ActionKey) {
        let token = self.token();
        {
            let Some(run) = self.action_mut(key) else {
                return;
            };
            run.token = token;
            run.running = true;
            run.recheck_at = None;
        }
        match self.prepare_call(key) {
            Ok(request) => self.effects.push(Effect::Run(request)),
            Err(failure) => {
                self.end_attempt(key, ActionStatus::Failed, failure);
                self.evaluate_stage(&key.execution, key.stage);
            }
        }
        self.changes.actions.insert(key.clone());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn call_backs_have_a_floor_and_back_off_with_the_time_an_attempt_runs() {
        let policy = RecheckPolicy::default();
        let s = Duration::from_secs;
        // Asking for nothing gets the floor.
        assert_eq!(policy.delay(Duration::ZERO, s(0)), s(1));
        // A longer wait asked for is kept.
        assert_eq!(policy.delay(s(30), s(0)), s(30));
        // The longer it runs, the longer the wait: an eighth of it...
        assert_eq!(policy.delay(Duration::ZERO, s(80)), s(10));
        assert_eq!(policy.delay(s(5), s(80)), s(10));
        // ...up to a minute.
        assert_eq!(policy.delay(Duration::ZERO, s(3600)), s(60));
        assert_eq!(policy.delay(s(300), s(3600)), s(300));
        // An hour of a provider answering "0 ms" is a couple of hundred
        // calls, not a busy loop.
        let (mut at, mut calls) = (Duration::ZERO, 0);
        while at < s(3600) {
            at += policy.delay(Duration::ZERO, at);
            calls += 1;
        }
        assert!((50..=150).contains(&calls), "{calls} calls");
    }
}
