//! `sluice worker`: a host that only runs provider calls for the hosts
//! driving a shared (PostgreSQL) database: it claims queued jobs while it
//! has free slots, beats for them, and records their results. It serves no
//! API and drives nothing.

use super::{Context, EXIT_OK, EXIT_USAGE, fail};
use clap::Args;

/// `sluice worker`.
#[derive(Debug, Clone, Args)]
pub struct WorkerArgs {
    /// Provider calls it runs at once.
    #[arg(long, default_value_t = crate::engine::jobs::DEFAULT_SLOTS as u64, value_parser = clap::value_parser!(u64).range(1..=1024))]
    pub slots: u64,
}

/// Works until SIGINT or SIGTERM; returns the exit code.
pub async fn worker(ctx: &Context, args: WorkerArgs) -> u8 {
    if !ctx.host.layout().database_url().exists() {
        eprintln!(
            "error: a worker serves a shared database: give --database postgres://... (or SLUICE_DATABASE)"
        );
        return EXIT_USAGE;
    }
    if ctx.host.engine.artifacts.is_none() {
        eprintln!(
            "error: a worker needs the artifact storage hosts share: give --artifacts s3://BUCKET/PREFIX (or SLUICE_ARTIFACTS)"
        );
        return EXIT_USAGE;
    }
    let sandbox = match ctx.host.sandbox() {
        Ok(s) => s,
        Err(e) => return fail(e),
    };
    let secrets = match ctx.host.secret_store() {
        Ok(s) => s,
        Err(e) => return fail(e),
    };
    let settings = crate::engine::DriverSettings {
        slots: crate::engine::jobs::Slots::new(args.slots as usize),
        ..ctx.host.engine.clone()
    };
    let worker = match crate::engine::jobs::Worker::start(
        &ctx.host.state_dir,
        sandbox,
        secrets,
        &settings,
    ) {
        Ok(w) => w,
        Err(e) => return fail(e),
    };
    eprintln!(
        "sluice worker {} running up to {} provider calls at once (Ctrl-C to stop)",
        crate::engine::jobs::host_name(),
        args.slots
    );
    let mut terminate =
        tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).ok();
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = async {
            match &mut terminate {
                Some(t) => { t.recv().await; }
                None => std::future::pending::<()>().await,
            }
        } => {}
    }
    worker.shutdown().await;
    EXIT_OK
}
