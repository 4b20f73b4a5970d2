//! Commands that show state: `sluice state`, `sluice executions`,
//! `sluice execution`, `sluice logs`. They read the state database (or a
//! server's API, when one runs) and never change it.

use super::{Context, EXIT_OK, fail};
use crate::engine::ActionStatus;
use crate::units::{format_bytes, format_duration, format_timestamp};
use clap::Args;
use std::time::Duration;

/// `sluice state`.
#[derive(Debug, Clone, Args)]
pub struct StateArgs {
    /// The pipeline.
    pub name: String,
    #[command(flatten)]
    pub output: super::JsonFlag,
}

/// `sluice executions`.
#[derive(Debug, Clone, Args)]
pub struct ExecutionsArgs {
    /// The pipeline.
    pub name: String,
    /// How many.
    #[arg(long, default_value_t = 20)]
    pub limit: usize,
    #[command(flatten)]
    pub output: super::JsonFlag,
}

/// `sluice execution`.
#[derive(Debug, Clone, Args)]
pub struct ExecutionArgs {
    /// The execution's id (or a unique prefix).
    pub id: String,
    #[command(flatten)]
    pub output: super::JsonFlag,
}

/// `sluice logs`.
#[derive(Debug, Clone, Args)]
pub struct LogsArgs {
    /// The execution's id (or a unique prefix).
    pub id: String,
    /// Only this action, STAGE/ACTION.
    #[arg(long)]
    pub action: Option<String>,
}

fn took(start: Option<i64>, end: Option<i64>) -> String {
    match (start, end) {
        (Some(a), Some(b)) => format_duration(Duration::from_millis((b - a).max(0) as u64)),
        _ => String::new(),
    }
}

/// Resolves an id or unique prefix to a full execution id.
pub async fn resolve_id(ctx: &Context, id: &str) -> Result<String, String> {
    ctx.reader()?.resolve(id).await.map_err(|e| e.to_string())
}

/// `sluice state NAME`: each stage's latest execution, the inbound
/// execution waiting in front of it, transitions, action statuses.
pub async fn state(ctx: &Context, args: StateArgs) -> u8 {
    match state_inner(ctx, &args.name, args.output.json).await {
        Ok(()) => EXIT_OK,
        Err(e) => fail(e),
    }
}

async fn state_inner(ctx: &Context, pipeline: &str, as_json: bool) -> Result<(), String> {
    let state = ctx
        .reader()?
        .state(pipeline)
        .await
        .map_err(|e| e.to_string())?;
    if as_json {
        println!("{}", serde_json::to_string_pretty(&state).unwrap());
        return Ok(());
    }
    say!(
        "pipeline {pipeline}  version {}  mode {}",
        state.version,
        state.execution_mode
    );
    for stage in &state.stages {
        if let Some(t) = &stage.transition {
            if t.enabled {
                say!("  ↓ transition enabled");
            } else {
                say!(
                    "  ⤫ transition DISABLED{}{}",
                    t.reason
                        .as_ref()
                        .map(|r| format!(": {r}"))
                        .unwrap_or_default(),
                    t.changed_by
                        .as_ref()
                        .map(|b| format!(" (by {b})"))
                        .unwrap_or_default()
                );
            }
        }
        if !stage.inbound_executions.is_empty() {
            say!(
                "    inbound (waiting): {}",
                stage.inbound_executions.join(", ")
            );
        }
        match &stage.latest_execution {
            None => say!("{:<12} no execution yet", stage.name),
            Some(latest) => say!(
                "{:<12} {}  execution {} ({})",
                stage.name,
                latest.stage_status.map(|s| s.as_str()).unwrap_or("-"),
                latest.id,
                latest.execution_status.as_str()
            ),
        }
        for action in &stage.actions {
            let status = if action.waiting_for_approval {
                "WaitingForApproval"
            } else {
                action.status.map(|s| s.as_str()).unwrap_or("-")
            };
            let detail = action
                .error
                .as_ref()
                .or(action.summary.as_ref())
                .cloned()
                .unwrap_or_default();
            say!(
                "  {:<3} {:<18} {:<18} {:>8}  {detail}",
                action.run_order,
                action.name,
                status,
                took(action.started_at, action.ended_at),
            );
        }
    }
    Ok(())
}

/// `sluice executions NAME`.
pub async fn executions(ctx: &Context, args: ExecutionsArgs) -> u8 {
    let (pipeline, limit, json) = (args.name.as_str(), args.limit, args.output.json);
    let reader = match ctx.reader() {
        Ok(r) => r,
        Err(e) => return fail(e),
    };
    let list = match reader.executions(pipeline, limit).await {
        Ok(l) => l,
        Err(e) => return fail(e),
    };
    if json {
        println!("{}", serde_json::to_string_pretty(&list).unwrap());
        return EXIT_OK;
    }
    if list.is_empty() {
        say!("no executions of `{pipeline}`");
        return EXIT_OK;
    }
    say!(
        "{:<38} {:>3} {:<11} {:<20} {:>9}  TRIGGER / REASON",
        "EXECUTION",
        "V",
        "STATUS",
        "STARTED",
        "DURATION"
    );
    for e in list {
        let duration = e
            .ended_at
            .map(|end| format_duration(Duration::from_millis((end - e.started_at).max(0) as u64)))
            .unwrap_or_else(|| "-".into());
        say!(
            "{:<38} {:>3} {:<11} {:<20} {:>9}  {}{}",
            e.id,
            e.version,
            e.status,
            format_timestamp(e.started_at),
            duration,
            e.trigger,
            e.status_reason
                .map(|r| format!(" — {r}"))
                .unwrap_or_default()
        );
    }
    EXIT_OK
}

/// `sluice execution ID`: stages and actions with statuses, summaries,
/// output variables, errors; artifacts with digests.
pub async fn execution(ctx: &Context, args: ExecutionArgs) -> u8 {
    let (id, json) = (args.id.as_str(), args.output.json);
    let reader = match ctx.reader() {
        Ok(r) => r,
        Err(e) => return fail(e),
    };
    let detail = match reader.execution(id).await {
        Ok(d) => d,
        Err(e) => return fail(e),
    };
    if json {
        println!("{}", serde_json::to_string_pretty(&detail).unwrap());
        return EXIT_OK;
    }
    let execution = detail.execution;
    let attempts = detail.attempts;
    say!("execution {}", execution.id);
    say!(
        "  pipeline  {} (version {})",
        execution.pipeline,
        execution.version
    );
    say!(
        "  status    {}{}",
        execution.status.as_str(),
        execution
            .status_reason
            .as_ref()
            .map(|r| format!(": {r}"))
            .unwrap_or_default()
    );
    say!("  trigger   {}", execution.trigger);
    say!(
        "  started   {}{}",
        format_timestamp(execution.started_at),
        execution
            .ended_at
            .map(|e| format!(
                "  ended {}  ({})",
                format_timestamp(e),
                took(Some(execution.started_at), Some(e))
            ))
            .unwrap_or_default()
    );
    for r in &execution.source_revisions {
        match (&r.revision, &r.error) {
            (Some(rev), _) => say!(
                "  revision  {}: {}{}",
                r.action,
                rev.id,
                rev.summary
                    .as_ref()
                    .map(|s| format!(" ({s})"))
                    .unwrap_or_default()
            ),
            (None, Some(e)) => say!("  revision  {}: unknown ({e})", r.action),
            _ => {}
        }
    }
    if !execution.variables.is_empty() {
        let vars: Vec<String> = execution
            .variables
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect();
        say!("  variables {}", vars.join(", "));
    }
    for stage in &execution.stages {
        say!(
            "{:<12} {}{}",
            stage.name,
            stage.status.map(|s| s.as_str()).unwrap_or("not started"),
            if stage.attempt > 1 {
                format!(" (attempt {})", stage.attempt)
            } else {
                String::new()
            }
        );
        for action in &stage.actions {
            let earlier: Vec<_> = attempts
                .iter()
                .filter(|a| {
                    a.stage == stage.name && a.action == action.name && a.attempt < action.attempt
                })
                .collect();
            let status = match action.status {
                Some(ActionStatus::InProgress) if action.awaiting_approval => "WaitingForApproval",
                Some(s) => s.as_str(),
                None => "-",
            };
            say!(
                "  {:<3} {:<18} {:<18} {:>8}  {}",
                action.run_order,
                action.name,
                status,
                took(action.started_at, action.ended_at),
                if action.attempt > 1 {
                    format!("attempt {}", action.attempt)
                } else {
                    String::new()
                }
            );
            if let Some(summary) = &action.summary {
                say!("        summary: {summary}");
            }
            if let Some(error) = &action.error {
                say!("        error ({}): {}", error.kind, error.message);
            }
            if let Some(approval) = &action.approval {
                say!(
                    "        {} by {}{}",
                    if approval.approved {
                        "approved"
                    } else {
                        "rejected"
                    },
                    approval.by,
                    approval
                        .summary
                        .as_ref()
                        .map(|s| format!(": {s}"))
                        .unwrap_or_default()
                );
            }
            for (k, v) in &action.variables {
                say!("        variable {k} = {v}");
            }
            for (name, digest) in &action.inputs {
                say!(
                    "        input  {name} sha256:{}",
                    &digest[..digest.len().min(16)]
                );
            }
            for earlier in earlier {
                say!(
                    "        attempt {}: {}{}",
                    earlier.attempt,
                    earlier.run.status.map(|s| s.as_str()).unwrap_or("-"),
                    earlier
                        .run
                        .error
                        .as_ref()
                        .map(|e| format!(": {}", e.message))
                        .unwrap_or_default()
                );
            }
        }
    }
    if !execution.artifacts.is_empty() {
        say!("artifacts");
        for a in execution.artifacts.values() {
            say!(
                "  {:<18} sha256:{}  {} files, {}  from {}",
                a.name,
                a.digest,
                a.files,
                format_bytes(a.bytes),
                a.producer
            );
        }
    }
    EXIT_OK
}

/// `sluice logs ID [--action STAGE/ACTION]`: the logs of an execution's
/// actions (every attempt), in order.
pub async fn logs(ctx: &Context, args: LogsArgs) -> u8 {
    let (id, action) = (args.id.as_str(), args.action.as_deref());
    let reader = match ctx.reader() {
        Ok(r) => r,
        Err(e) => return fail(e),
    };
    let range = crate::queries::LogRange::default();
    let parts = match reader.logs(id, action, None, range).await {
        Ok(p) => p,
        Err(e) => return fail(e),
    };
    if parts.is_empty() {
        say!("no logs yet");
        return EXIT_OK;
    }
    for part in parts {
        say!(
            "── {}/{} attempt {}{} ──",
            part.stage,
            part.action,
            part.attempt,
            if part.running { " (running)" } else { "" }
        );
        // A long log is read a range at a time, never whole.
        let name = format!("{}/{}", part.stage, part.action);
        let mut range_part = part;
        loop {
            for line in &range_part.lines {
                println!("{}", line.render());
            }
            if range_part.next_offset >= range_part.size
                || range_part.next_offset == range_part.offset
            {
                break;
            }
            let next = crate::queries::LogRange {
                offset: range_part.next_offset,
                ..range
            };
            let attempt = Some(range_part.attempt);
            match reader.logs(id, Some(&name), attempt, next).await {
                Ok(mut more) if !more.is_empty() => range_part = more.remove(0),
                Ok(_) => break,
                Err(e) => return fail(e),
            }
        }
    }
    EXIT_OK
}
