//! Commands that change executions: `run`, `start`, `stop`, `retry`,
//! `approve`, `reject`, `transition`, `drive`.
//!
//! One process drives a state directory (holding its lock). A command
//! either becomes that driver (when it must see an execution through and
//! no one else drives), or leaves a request the driver picks up and waits
//! for its answer. With no driver, a request is queued and the command
//! says so.

use super::progress::{Feed, follow};
use super::{Context, EXIT_FAILED, EXIT_OK, EXIT_USAGE, fail};
use crate::engine::{Engine, ExecutionStatus, is_driven};
use crate::store::{Request, RequestOutcome, Store};
use indexmap::IndexMap;
use std::path::Path;
use std::time::Duration;

/// How a command reaches the engine.
pub enum Controller {
    /// This process drives.
    Local(Engine),
    /// Another process drives; requests go through the store.
    Remote(Store),
    /// No one drives; requests are queued in the store.
    Queued(Store),
    /// A server drives; requests go through its API.
    Server(crate::client::Client),
}

impl Controller {
    /// Becomes the driver if no one drives and `drive` is true; otherwise
    /// talks to the driver, or queues.
    pub async fn connect(ctx: &Context, drive: bool) -> Result<Controller, String> {
        if let Some(client) = &ctx.server {
            return Ok(Controller::Server(client.clone()));
        }
        if is_driven(&ctx.host.state_dir) {
            return Ok(Controller::Remote(ctx.host.store()?));
        }
        if drive {
            let sandbox = ctx.host.sandbox()?;
            let secrets = ctx.host.secret_store()?;
            match Engine::start_with(&ctx.host.state_dir, sandbox, secrets, ctx.host.engine).await {
                Ok(engine) => return Ok(Controller::Local(engine)),
                Err(crate::engine::DriverError::Busy { .. }) => {
                    return Ok(Controller::Remote(ctx.host.store()?));
                }
                Err(e) => return Err(e.to_string()),
            }
        }
        Ok(Controller::Queued(ctx.host.existing_store()?))
    }

    /// Sends a request and waits for its answer (a queued one is answered
    /// at once, saying it is queued).
    pub async fn request(&mut self, request: Request) -> RequestOutcome {
        match self {
            Controller::Local(engine) => engine.request(request).await,
            Controller::Remote(store) => remote_request(store, &request).await,
            Controller::Server(client) => client.request(&request).await,
            Controller::Queued(store) => match store.push_request(&request) {
                Ok(_) => RequestOutcome {
                    ok: true,
                    message: "queued: no sluice process is driving this state directory; the request \
                              is applied when one starts (`sluice drive`, `sluice run`, `sluice start --wait`)"
                        .into(),
                    execution: None,
                },
                Err(e) => RequestOutcome { ok: false, message: e.to_string(), execution: None },
            },
        }
    }

    /// Where to follow an execution's progress.
    pub fn feed(&self, ctx: &Context, execution: &str) -> Result<Feed, String> {
        match self {
            Controller::Local(engine) => Ok(Feed::events(
                engine.subscribe(),
                execution,
                ctx.host.store()?,
            )),
            Controller::Remote(_) | Controller::Queued(_) => {
                Ok(Feed::poll(ctx.host.store()?, execution))
            }
            Controller::Server(client) => Ok(Feed::remote(client.clone(), execution)),
        }
    }

    /// Stops driving, if this process drives.
    pub async fn finish(self, ctx: &Context) {
        if let Controller::Local(engine) = self {
            engine.shutdown().await;
            if let Ok(store) = ctx.host.store()
                && let Ok(n) = store.active_count()
                && n > 0
            {
                eprintln!(
                    "note: {n} other execution{} still in progress; {} when a driver runs (`sluice drive`)",
                    if n == 1 { " is" } else { "s are" },
                    if n == 1 {
                        "it continues"
                    } else {
                        "they continue"
                    }
                );
            }
        }
    }
}

/// Leaves a request for the driver and waits for the answer.
async fn remote_request(store: &mut Store, request: &Request) -> RequestOutcome {
    let id = match store.push_request(request) {
        Ok(id) => id,
        Err(e) => {
            return RequestOutcome {
                ok: false,
                message: e.to_string(),
                execution: None,
            };
        }
    };
    let is_start = matches!(request, Request::Start { .. });
    for _ in 0..2400 {
        tokio::time::sleep(Duration::from_millis(25)).await;
        if let Ok(Some(outcome)) = store.request_outcome(id)
            && (!is_start || !outcome.ok || outcome.execution.is_some())
        {
            return outcome;
        }
    }
    RequestOutcome {
        ok: false,
        message: "the driving process did not answer within 60s".into(),
        execution: None,
    }
}

/// Options of `sluice run` and `sluice start`.
#[derive(Debug, Clone, Default)]
pub struct StartArgs {
    /// Variable overrides.
    pub variables: Vec<(String, String)>,
    /// Source revision overrides: action and revision.
    pub revisions: Vec<(String, String)>,
    /// Approve approvals without asking.
    pub yes: bool,
    /// Follow the execution until it ends.
    pub wait: bool,
}

/// `sluice run FILE`: applies the pipeline, starts an execution and shows
/// it through to the end. Exit 0 when it succeeded, 1 otherwise.
pub async fn run(ctx: &Context, file: &Path, args: StartArgs) -> u8 {
    let loaded = match crate::model::load(file) {
        Ok(l) => l,
        Err(report) => {
            super::pipeline::print_report(&report);
            return EXIT_USAGE;
        }
    };
    let applied = match &ctx.server {
        Some(client) => super::pipeline::apply_remote(client, file, &loaded).await,
        None => match ctx.host.sandbox() {
            Ok(sandbox) => super::pipeline::apply_loaded(ctx, &loaded, sandbox).await,
            Err(e) => return fail(e),
        },
    };
    let name = match applied {
        Ok((name, _, _)) => name,
        Err(code) => return code,
    };
    start(ctx, &name, StartArgs { wait: true, ..args }, "sluice run").await
}

/// `sluice start NAME`: starts an execution; with `--wait`, follows it.
pub async fn start(ctx: &Context, pipeline: &str, args: StartArgs, trigger: &str) -> u8 {
    let mut controller = match Controller::connect(ctx, args.wait).await {
        Ok(c) => c,
        Err(e) => return fail(e),
    };
    let request = Request::Start {
        pipeline: pipeline.to_string(),
        variables: args.variables.iter().cloned().collect::<IndexMap<_, _>>(),
        revisions: args.revisions.iter().cloned().collect::<IndexMap<_, _>>(),
        trigger: trigger.to_string(),
        token: None,
    };
    let feed_before = match &controller {
        // Subscribe before starting so no change is missed.
        Controller::Local(engine) => Some(engine.subscribe()),
        _ => None,
    };
    let outcome = controller.request(request).await;
    if !outcome.ok {
        controller.finish(ctx).await;
        return fail(outcome.message);
    }
    let Some(id) = outcome.execution else {
        say_lines!("{}", outcome.message);
        controller.finish(ctx).await;
        return EXIT_OK;
    };
    if !args.wait {
        println!("started execution {id}");
        controller.finish(ctx).await;
        return EXIT_OK;
    }
    let feed = match feed_before.map(|events| (events, ctx.host.store())) {
        Some((events, Ok(store))) => Feed::events(events, &id, store),
        _ => match controller.feed(ctx, &id) {
            Ok(f) => f,
            Err(e) => return fail(e),
        },
    };
    let status = follow(ctx, &mut controller, feed, &id, args.yes).await;
    controller.finish(ctx).await;
    match status {
        Some(ExecutionStatus::Succeeded) => EXIT_OK,
        Some(_) => EXIT_FAILED,
        None => fail("lost track of the execution"),
    }
}

/// Sends one request (stop, retry, approve, reject, transition) and prints
/// how it went. Exit 0 when done (or queued), 1 when refused.
pub async fn send(ctx: &Context, request: Request) -> u8 {
    let mut controller = match Controller::connect(ctx, false).await {
        Ok(c) => c,
        Err(e) => return fail(e),
    };
    let outcome = controller.request(request).await;
    controller.finish(ctx).await;
    if outcome.ok {
        say_lines!("{}", outcome.message);
        EXIT_OK
    } else {
        warn_lines!("error: {}", outcome.message);
        EXIT_FAILED
    }
}

/// `sluice drive`: drives the state directory in the foreground until
/// interrupted (or, with `until_idle`, until nothing is left to do).
pub async fn drive(ctx: &Context, until_idle: bool) -> u8 {
    if let Some(client) = &ctx.server {
        return fail(format!(
            "the server at {} drives this state directory already",
            client.base
        ));
    }
    let sandbox = match ctx.host.sandbox() {
        Ok(s) => s,
        Err(e) => return fail(e),
    };
    let secrets = match ctx.host.secret_store() {
        Ok(s) => s,
        Err(e) => return fail(e),
    };
    let engine =
        match Engine::start_with(&ctx.host.state_dir, sandbox, secrets, ctx.host.engine).await {
            Ok(e) => e,
            Err(e) => return fail(e),
        };
    eprintln!("driving {} (Ctrl-C to stop)", ctx.host.state_dir.display());
    let store = match ctx.host.store() {
        Ok(s) => s,
        Err(e) => return fail(e),
    };
    loop {
        tokio::select! {
            _ = tokio::signal::ctrl_c() => break,
            _ = tokio::time::sleep(Duration::from_millis(200)) => {
                if until_idle
                    && store.active_count().unwrap_or(1) == 0
                    && store.pending_requests().map(|p| p.is_empty()).unwrap_or(false)
                {
                    break;
                }
            }
        }
    }
    engine.shutdown().await;
    EXIT_OK
}
