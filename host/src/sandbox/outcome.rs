//! Checks what a provider returned against the outcome limits before the
//! host keeps any of it.

use super::limits::OutcomeLimits;
use crate::contract::{Failure, Outcome};
use crate::units::format_bytes;

/// The outcome as the host will keep it: within limits, or replaced by a
/// failure saying which limit was broken. Failure messages are cut rather
/// than rejected, so a failure is never lost.
pub(crate) fn enforce(outcome: Outcome, limits: &OutcomeLimits) -> Outcome {
    match check(&outcome, limits) {
        Ok(()) => match outcome {
            Outcome::Failed(failure) => Outcome::Failed(Failure {
                kind: failure.kind,
                message: cut(failure.message, limits.failure_message_bytes)
                    .replace('\0', "\u{fffd}"),
            }),
            other => other,
        },
        Err(problem) => Outcome::Failed(Failure::job_failed(format!(
            "the provider's outcome was rejected: {problem}"
        ))),
    }
}

fn check(outcome: &Outcome, limits: &OutcomeLimits) -> Result<(), String> {
    // The host stores what a provider says as text, which holds no NUL
    // (PostgreSQL's cannot): refused, naming the field, rather than
    // altered (a failure message has its NULs replaced instead, so that a
    // failure is never lost).
    let nul = |field: &str, text: &str| {
        if text.contains('\0') {
            Err(format!("its {field} holds a NUL character"))
        } else {
            Ok(())
        }
    };
    match outcome {
        Outcome::Succeeded {
            summary,
            revision,
            variables,
        } => {
            nul("summary", summary.as_deref().unwrap_or(""))?;
            nul("revision", revision.as_deref().unwrap_or(""))?;
            for (name, value) in variables {
                nul("output variable", name)?;
                nul(&format!("output variable `{}`", name.escape_debug()), value)?;
            }
        }
        Outcome::InProgress {
            summary,
            continuation,
            ..
        } => {
            nul("summary", summary.as_deref().unwrap_or(""))?;
            nul("continuation token", continuation)?;
        }
        Outcome::Failed(_) => {}
    }
    let summary = match outcome {
        Outcome::Succeeded { summary, .. } | Outcome::InProgress { summary, .. } => summary,
        Outcome::Failed(_) => &None,
    };
    if let Some(summary) = summary
        && summary.len() > limits.summary_bytes
    {
        return Err(format!(
            "its summary is {} long, over the limit of {}",
            format_bytes(summary.len() as u64),
            format_bytes(limits.summary_bytes as u64)
        ));
    }
    match outcome {
        Outcome::Succeeded { variables, .. } => check_variables(variables, limits),
        Outcome::InProgress { continuation, .. } => {
            if continuation.len() > limits.continuation_bytes {
                return Err(format!(
                    "its continuation token is {} long, over the limit of {}",
                    format_bytes(continuation.len() as u64),
                    format_bytes(limits.continuation_bytes as u64)
                ));
            }
            Ok(())
        }
        Outcome::Failed(_) => Ok(()),
    }
}

fn check_variables(variables: &[(String, String)], limits: &OutcomeLimits) -> Result<(), String> {
    if variables.len() > limits.variables {
        return Err(format!(
            "it has {} output variables, over the limit of {}",
            variables.len(),
            limits.variables
        ));
    }
    let total: usize = variables.iter().map(|(k, v)| k.len() + v.len()).sum();
    if total > limits.variables_bytes {
        return Err(format!(
            "its output variables take {}, over the limit of {}",
            format_bytes(total as u64),
            format_bytes(limits.variables_bytes as u64)
        ));
    }
    for (index, (name, _)) in variables.iter().enumerate() {
        if !is_variable_name(name) {
            return Err(format!(
                "output variable name `{}` is not valid (use letters, digits, `_` and `-`, \
                 at most 128 characters)",
                name.escape_debug()
            ));
        }
        if variables[..index]
            .iter()
            .any(|(earlier, _)| earlier == name)
        {
            return Err(format!("output variable `{name}` is set twice"));
        }
    }
    Ok(())
}

/// Makes sure no secret value the job could know leaves it: replaced by
/// `****` in summaries, revisions, failure messages and variable values; an
/// outcome that would carry one where it cannot be replaced (a variable's
/// name, a continuation token the host must store and hand back) is
/// refused instead.
pub(crate) fn redact(outcome: Outcome, log: &super::log::ActionLog) -> Outcome {
    let r = |text: String| log.redacted(&text);
    let ro = |text: Option<String>| text.map(|t| log.redacted(&t));
    let refused = |what: &str| {
        Outcome::Failed(Failure::job_failed(format!(
            "the provider's outcome was rejected: {what} holds a secret's value, which the host \
             must never store"
        )))
    };
    match outcome {
        Outcome::Succeeded {
            summary,
            revision,
            variables,
        } => {
            if variables.iter().any(|(k, _)| log.redacted(k) != *k) {
                return refused("an output variable's name");
            }
            Outcome::Succeeded {
                summary: ro(summary),
                revision: ro(revision),
                variables: variables.into_iter().map(|(k, v)| (k, r(v))).collect(),
            }
        }
        Outcome::Failed(f) => Outcome::Failed(Failure {
            kind: f.kind,
            message: r(f.message),
        }),
        Outcome::InProgress {
            continuation,
            recheck_after,
            summary,
            percent_complete,
        } => {
            if log.redacted(&continuation) != continuation {
                return refused(
                    "its continuation token (read the secret again on the next call instead)",
                );
            }
            Outcome::InProgress {
                continuation,
                recheck_after,
                summary: ro(summary),
                percent_complete,
            }
        }
    }
}

pub fn is_variable_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 128
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
}

fn cut(mut text: String, max: usize) -> String {
    if text.len() <= max {
        return text;
    }
    let mut end = max;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    text.truncate(end);
    text.push_str(" [cut]");
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nul_characters_never_reach_the_store() {
        let limits = OutcomeLimits::default();
        let refused = |outcome: Outcome| match enforce(outcome, &limits) {
            Outcome::Failed(f) => f.message,
            other => panic!("kept: {other:?}"),
        };
        assert!(refused(success("a\0b", vec![])).contains("summary holds a NUL"));
        assert!(
            refused(success("ok", vec![("v", "x\0")])).contains("output variable `v` holds a NUL")
        );
        assert!(
            refused(Outcome::Succeeded {
                summary: None,
                revision: Some("r\0".into()),
                variables: vec![],
            })
            .contains("revision holds a NUL")
        );
        let failed = enforce(Outcome::Failed(Failure::job_failed("bad\0byte")), &limits);
        assert_eq!(
            failed,
            Outcome::Failed(Failure::job_failed("bad\u{fffd}byte"))
        );
    }

    fn success(summary: &str, variables: Vec<(&str, &str)>) -> Outcome {
        Outcome::Succeeded {
            summary: Some(summary.into()),
            revision: None,
            variables: variables
                .into_iter()
                .map(|(k, v)| (k.into(), v.into()))
                .collect(),
        }
    }

    fn rejection(outcome: Outcome) -> String {
        match enforce(outcome, &OutcomeLimits::default()) {
            Outcome::Failed(f) => f.message,
            other => panic!("expected a failure, got {other:?}"),
        }
    }

    #[test]
    fn each_limit_is_named() {
        assert!(rejection(success(&"x".repeat(3000), vec![])).contains("summary is 2.9 KiB"));
        let many: Vec<(String, String)> = (0..101).map(|i| (format!("v{i}"), "1".into())).collect();
        let outcome = Outcome::Succeeded {
            summary: None,
            revision: None,
            variables: many,
        };
        assert!(rejection(outcome).contains("101 output variables, over the limit of 100"));
        let big = "y".repeat(200 * 1024);
        assert!(rejection(success("", vec![("Big", &big)])).contains("over the limit of 100 KiB"));
        assert!(rejection(success("", vec![("a b", "1")])).contains("`a b` is not valid"));
        assert!(rejection(success("", vec![("A", "1"), ("A", "2")])).contains("set twice"));
    }

    #[test]
    fn good_outcomes_pass_and_long_failures_are_cut() {
        let ok = success("done", vec![("Count", "3")]);
        assert_eq!(enforce(ok.clone(), &OutcomeLimits::default()), ok);
        let long = Outcome::Failed(Failure::job_failed("z".repeat(10_000)));
        match enforce(long, &OutcomeLimits::default()) {
            Outcome::Failed(f) => assert!(f.message.len() < 4200 && f.message.ends_with("[cut]")),
            other => panic!("{other:?}"),
        }
    }
}
