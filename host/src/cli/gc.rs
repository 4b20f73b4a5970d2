//! `sluice gc`: lets go of what retention says (old executions, their logs
//! and artifacts, answered requests) now; `--dry-run` only says what.

use super::{Context, EXIT_OK, fail};
use clap::Args;

/// `sluice gc`.
#[derive(Debug, Clone, Args)]
pub struct GcArgs {
    /// Say what would go; remove nothing.
    #[arg(long)]
    pub dry_run: bool,
    #[command(flatten)]
    pub output: super::JsonFlag,
}

/// Runs a collection; returns the exit code.
pub async fn gc(ctx: &Context, args: GcArgs) -> u8 {
    if let Some(client) = &ctx.server {
        return fail(format!(
            "the server at {} collects every ten minutes; run `sluice gc` where the state directory is, with the server stopped, to collect now",
            client.base
        ));
    }
    if let Err(e) = ctx.host.existing_store() {
        return fail(e);
    }
    let dir = ctx.host.layout();
    let dry_run = args.dry_run;
    let now = crate::records::now_millis();
    let collected =
        match tokio::task::spawn_blocking(move || crate::retention::collect(&dir, now, dry_run))
            .await
        {
            Ok(Ok(c)) => c,
            Ok(Err(e)) => return fail(e),
            Err(e) => return fail(e),
        };
    if args.output.json {
        println!("{}", serde_json::to_string_pretty(&collected).unwrap());
        return EXIT_OK;
    }
    let verb = if args.dry_run {
        "would remove"
    } else {
        "removed"
    };
    say!(
        "{verb} {} execution{}, {} artifact{} ({}), {} log folder{}, {} answered request{}, {} abandoned job folder{}",
        collected.execution_count(),
        if collected.execution_count() == 1 {
            ""
        } else {
            "s"
        },
        collected.artifacts,
        if collected.artifacts == 1 { "" } else { "s" },
        crate::units::format_bytes(collected.artifact_bytes),
        collected.logs,
        if collected.logs == 1 { "" } else { "s" },
        collected.requests,
        if collected.requests == 1 { "" } else { "s" },
        collected.jobs,
        if collected.jobs == 1 { "" } else { "s" },
    );
    for (pipeline, n) in &collected.executions {
        say!("  {pipeline}: {n}");
    }
    EXIT_OK
}
