//! Triggers and notifications: what starts executions without anyone
//! asking, and where state changes are told.

use super::super::definition::Pipeline;
use super::super::diagnostic::Diagnostic;
use super::*;

/// A trigger's polling interval: `None` for `off`.
pub fn poll_interval(
    trigger: &crate::model::Trigger,
) -> Result<Option<std::time::Duration>, String> {
    match trigger.poll.as_deref().map(str::trim) {
        None => Ok(Some(std::time::Duration::from_secs(60))),
        Some("off") => Ok(None),
        Some(text) => {
            let d = crate::units::parse_duration(text)?;
            if d < MIN_POLL {
                return Err(format!("`{text}` is shorter than the minimum of 1s"));
            }
            Ok(Some(d))
        }
    }
}

pub(super) fn check_triggers(pipeline: &Pipeline, out: &mut Vec<Diagnostic>) {
    let sources: Vec<&String> = pipeline
        .stages
        .first()
        .map(|s| s.actions.iter().map(|a| &a.name).collect())
        .unwrap_or_default();
    let mut seen = std::collections::HashSet::new();
    for (t, trigger) in pipeline.triggers.iter().enumerate() {
        let path = format!("triggers[{t}]");
        if !sources.contains(&&trigger.source) {
            out.push(Diagnostic::error(
                format!("{path}.source"),
                format!(
                    "`{}` is not an action of the first stage{}",
                    trigger.source,
                    suggestion(&trigger.source, sources.iter().copied())
                        .map(|s| format!(" (did you mean `{s}`?)"))
                        .unwrap_or_default()
                ),
            ));
        } else if !seen.insert(&trigger.source) {
            out.push(Diagnostic::error(
                format!("{path}.source"),
                format!("source action `{}` has two triggers", trigger.source),
            ));
        }
        if let Err(e) = poll_interval(trigger) {
            out.push(Diagnostic::error(
                format!("{path}.poll"),
                format!("not a polling interval: {e} (write e.g. `60s`, `5m`, or `off`)"),
            ));
        }
        for (name, filter) in [
            ("branches", &trigger.branches),
            ("file_paths", &trigger.file_paths),
        ] {
            let Some(filter) = filter else { continue };
            for (list, globs) in [("include", &filter.include), ("exclude", &filter.exclude)] {
                for (g, glob) in globs.iter().enumerate() {
                    if let Err(e) = sluice_glob::Pattern::new(glob) {
                        out.push(Diagnostic::error(
                            format!("{path}.{name}.{list}[{g}]"),
                            format!("`{glob}` is not a glob: {e}"),
                        ));
                    }
                }
            }
        }
    }
}

pub(super) fn check_notifications(pipeline: &Pipeline, out: &mut Vec<Diagnostic>) {
    for (n, target) in pipeline.notifications.iter().enumerate() {
        let url = target.url.trim();
        let ok = (url.starts_with("http://") || url.starts_with("https://"))
            && url.split("://").nth(1).is_some_and(|rest| !rest.is_empty());
        if !ok {
            out.push(Diagnostic::error(
                format!("notifications[{n}].url"),
                format!("`{url}` is not an http:// or https:// URL"),
            ));
        }
    }
}
