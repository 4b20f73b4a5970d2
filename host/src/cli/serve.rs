//! `sluice serve`: listens where asked (loopback unless `--public`), runs
//! the server until SIGINT or SIGTERM, and says where it serves and where
//! its token is.

use super::{Context, EXIT_OK, fail};
use crate::server::{Ready, ServeOptions};
use clap::Args;

/// `sluice serve`.
#[derive(Debug, Clone, Args)]
pub struct ServeArgs {
    /// Where to listen.
    #[arg(long, default_value = "127.0.0.1:7878")]
    pub listen: std::net::SocketAddr,
    /// Allow an address other than loopback (reads then need the token
    /// too).
    #[arg(long)]
    pub public: bool,
    /// Do not poll sources or answer hooks.
    #[arg(long)]
    pub no_triggers: bool,
    /// A host name clients reach the server by (repeatable): requests
    /// naming any other host are refused [default: its own address, and
    /// `localhost` on loopback]
    #[arg(long = "allow-host", value_name = "NAME")]
    pub allow_hosts: Vec<String>,
    /// Provider calls this host runs at once (on a shared database, the
    /// rest wait in the queue for any host with a free slot)
    #[arg(long, default_value_t = crate::engine::jobs::DEFAULT_SLOTS as u64, value_parser = clap::value_parser!(u64).range(1..=1024))]
    pub slots: u64,
}

/// Runs the server. Returns the exit code.
pub async fn serve(ctx: &Context, args: ServeArgs) -> u8 {
    let (listen, public) = (args.listen, args.public);
    let options = ServeOptions {
        token_file: ctx.token_file.clone(),
        triggers: !args.no_triggers,
        allow_hosts: args.allow_hosts.clone(),
    };
    if !listen.ip().is_loopback() && !public {
        return fail(format!(
            "{listen} is not a loopback address: pass --public to listen where other machines can reach the server (mutating calls need the token; reads need it too)"
        ));
    }
    let listener = match tokio::net::TcpListener::bind(listen).await {
        Ok(l) => l,
        Err(e) => return fail(format!("cannot listen on {listen}: {e}")),
    };
    let state_dir = ctx.host.state_dir.clone();
    let ready = move |ready: &Ready| {
        println!("sluice serving {} on {}", state_dir.display(), ready.url);
        match &ready.new_token {
            Some(token) => {
                println!(
                    "API token (saved in {}; shown once):\n  {token}",
                    ready.token_file.display()
                );
                println!("console: {}/#token={token}", ready.url);
            }
            None => println!(
                "console: {}/ (API token in {})",
                ready.url,
                ready.token_file.display()
            ),
        }
        use std::io::Write;
        let _ = std::io::stdout().flush();
    };
    match crate::server::run(
        crate::config::HostConfig {
            engine: crate::engine::DriverSettings {
                slots: crate::engine::jobs::Slots::new(args.slots as usize),
                ..ctx.host.engine.clone()
            },
            ..ctx.host.clone()
        },
        options,
        listener,
        shutdown_signal(),
        ready,
    )
    .await
    {
        Ok(()) => {
            println!("sluice stopped");
            EXIT_OK
        }
        Err(e) => fail(e),
    }
}

/// SIGINT or SIGTERM.
async fn shutdown_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = match signal(SignalKind::terminate()) {
        Ok(s) => s,
        Err(_) => {
            let _ = tokio::signal::ctrl_c().await;
            return;
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
    }
}
