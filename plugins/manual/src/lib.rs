//! `builtin:manual`: a manual approval. It waits (in progress) until
//! someone approves or rejects it; approval succeeds, rejection fails. The
//! host records who decided and why; the action's timeout (7 days by
//! default) ends the wait.

use sluice_sdk::{Category, Config, Descriptor, Failure, Job, Outcome, Property, Provider};

struct Manual;

/// How long to wait between checks when nothing has been decided. The
/// host calls back at once when a decision arrives, and fails the action
/// at its deadline, so this only bounds how long a waiting action goes
/// without being looked at.
const RECHECK_MS: u32 = 3_600_000;

impl Provider for Manual {
    fn describe() -> Descriptor {
        Descriptor::new(Category::Approval, "sluice", "manual", "1.0.0")
            .description("Waits until a person approves or rejects; rejection fails the stage.")
            .property(Property::optional(
                "CustomData",
                "What the approver should look at, shown with the request.",
            ))
            .property(Property::optional(
                "ExternalEntityLink",
                "A link for the approver (the staging site, a change request).",
            ))
            .property(Property::optional(
                "NotificationArn",
                "An SNS topic's ARN, as CodePipeline's manual approvals name one: carried in the \
                 approval's notifications (Sluice sends to NotificationUrl and to the pipeline's \
                 notification URLs, not to SNS).",
            ))
            .property(Property::optional(
                "NotificationUrl",
                "Where to POST a JSON notification when approval is needed; the action's http grant must \
                 allow it.",
            ))
    }

    fn validate(config: &Config) -> Result<(), Vec<String>> {
        Self::describe().check(config)?;
        let mut problems = Vec::new();
        for property in ["NotificationUrl", "ExternalEntityLink"] {
            if let Some(u) = config.get(property)
                && !(u.starts_with("http://") || u.starts_with("https://"))
                && !u.contains("#{")
            {
                problems.push(format!(
                    "configuration property `{property}` must be an http:// or https:// URL, not `{u}`"
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
        match &job.approval {
            Some(decision) if decision.approved => {
                let comment = decision.summary.clone().unwrap_or_default();
                Ok(Outcome::success()
                    .summary(match comment.as_str() {
                        "" => format!("approved by {}", decision.by),
                        c => format!("approved by {}: {c}", decision.by),
                    })
                    .variable("ApprovedBy", &decision.by)
                    .variable("Comment", comment))
            }
            Some(decision) => Err(Failure::job_failed(match &decision.summary {
                Some(c) if !c.is_empty() => format!("rejected by {}: {c}", decision.by),
                _ => format!("rejected by {}", decision.by),
            })),
            None => {
                if job.continuation.is_none() {
                    let what = job.config.get("CustomData").unwrap_or("");
                    let link = job.config.get("ExternalEntityLink").unwrap_or("");
                    if let Some(url) = job.config.get("NotificationUrl") {
                        notify(&job, url, what, link);
                    }
                    sluice_sdk::info!(
                        "waiting for approval of {}/{} in execution {}{}{}",
                        job.stage,
                        job.action,
                        job.execution_id,
                        if what.is_empty() {
                            String::new()
                        } else {
                            format!(": {what}")
                        },
                        if link.is_empty() {
                            String::new()
                        } else {
                            format!(" ({link})")
                        }
                    );
                }
                Ok(Outcome::in_progress("waiting-for-approval", RECHECK_MS)
                    .summary("waiting for approval"))
            }
        }
    }
}

/// Tells someone that an approval waits. A notification that cannot be
/// delivered is logged; the approval waits anyway.
fn notify(job: &Job, url: &str, custom_data: &str, link: &str) {
    let approve = format!(
        "sluice approve {} {} {}",
        job.execution_id, job.stage, job.action
    );
    let reject = format!(
        "sluice reject {} {} {}",
        job.execution_id, job.stage, job.action
    );
    let body = serde_json::json!({
        "event": "approval-needed",
        "pipeline": job.pipeline,
        "stage": job.stage,
        "action": job.action,
        "execution": job.execution_id,
        "custom_data": custom_data,
        "link": link,
        "topic": job.config.get("NotificationArn"),
        "approve": approve,
        "reject": reject,
        "expires_at_ms": job.deadline_ms,
    });
    match sluice_sdk::http::post_json(url, &body.to_string()) {
        Ok(r) if r.is_success() => sluice_sdk::info!("notified {url}"),
        Ok(r) => sluice_sdk::warn!("notifying {url} failed: it answered {}", r.status),
        Err(e) => sluice_sdk::warn!("notifying {url} failed: {}", e.message),
    }
}

sluice_sdk::export_provider!(Manual);
