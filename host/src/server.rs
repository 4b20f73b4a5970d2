//! The server: the engine as a long-lived process, with the HTTP API, the
//! web console, triggers and notifications. [`run`] takes a listener and a
//! shutdown future (the command line gives it SIGINT and SIGTERM; a test
//! can give it anything) and returns a `Result`.
//!
//! At start it takes the state directory's driver lock (one driver per
//! state directory), reads or creates the API token (`api-token`, mode
//! 0600, printed once when created), listens, and writes `server.json`
//! (its URL and process id) so the command line finds it. SIGINT or
//! SIGTERM stops it: the listener closes, the engine stops (provider calls
//! under way are recorded and run again by the next driver) and
//! `server.json` is removed.

use crate::api::{self, AppState, ServerInfo};
use crate::config::HostConfig;
use crate::engine::{Driver, DriverError};
use std::path::{Path, PathBuf};

/// How to serve.
#[derive(Debug, Clone)]
pub struct ServeOptions {
    /// A file holding the token to use instead of the state directory's.
    pub token_file: Option<PathBuf>,
    /// Run the triggers (default true).
    pub triggers: bool,
    /// Host names the server answers to besides its own address (and, on
    /// loopback, `localhost`): the names clients reach it by.
    pub allow_hosts: Vec<String>,
}

/// The token file in a state directory.
pub fn token_path(state_dir: &Path) -> PathBuf {
    crate::state_dir::StateDir::at(state_dir).api_token()
}

/// Reads the token from `file`, or from the state directory's
/// `api-token`, creating it (mode 0600) when missing. Returns the token
/// and whether it was created.
pub fn load_or_create_token(
    state_dir: &Path,
    file: Option<&Path>,
) -> Result<(String, bool), String> {
    if let Some(file) = file {
        let text = std::fs::read_to_string(file)
            .map_err(|e| format!("cannot read the token file {}: {e}", file.display()))?;
        let token = text.trim().to_string();
        if token.len() < 16 {
            return Err(format!(
                "the token in {} is too short: use at least 16 characters",
                file.display()
            ));
        }
        return Ok((token, false));
    }
    let path = token_path(state_dir);
    match std::fs::read_to_string(&path) {
        Ok(text) if !text.trim().is_empty() => {
            check_private(&path)?;
            return Ok((text.trim().to_string(), false));
        }
        Ok(_) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(format!("cannot read {}: {e}", path.display())),
    }
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).map_err(|e| format!("cannot make a token: {e}"))?;
    let token = hex::encode(bytes);
    std::fs::create_dir_all(state_dir)
        .map_err(|e| format!("cannot create {}: {e}", state_dir.display()))?;
    write_private(&path, &token)?;
    Ok((token, true))
}

#[cfg(unix)]
fn write_private(path: &Path, text: &str) -> Result<(), String> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .map_err(|e| format!("cannot create {}: {e}", path.display()))?;
    writeln!(file, "{text}").map_err(|e| format!("cannot write {}: {e}", path.display()))
}

#[cfg(not(unix))]
fn write_private(path: &Path, text: &str) -> Result<(), String> {
    std::fs::write(path, format!("{text}\n"))
        .map_err(|e| format!("cannot write {}: {e}", path.display()))
}

#[cfg(unix)]
fn check_private(path: &Path) -> Result<(), String> {
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(path)
        .map_err(|e| format!("cannot read {}: {e}", path.display()))?
        .permissions()
        .mode();
    if mode & 0o077 != 0 {
        return Err(format!(
            "{} is readable by others (mode {:o}): `chmod 600` it",
            path.display(),
            mode & 0o777
        ));
    }
    Ok(())
}

#[cfg(not(unix))]
fn check_private(_path: &Path) -> Result<(), String> {
    Ok(())
}

/// Why the server could not run.
#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    /// Another process drives the state directory.
    #[error(
        "another sluice process drives {} (sluice serve, run, drive or start --wait): stop it first",
        .0.display()
    )]
    Busy(PathBuf),
    /// The engine could not start.
    #[error(transparent)]
    Engine(#[from] DriverError),
    /// Setting up failed (the sandbox, the token, the server file...).
    #[error("{0}")]
    Setup(String),
    /// Serving failed.
    #[error("the server failed: {0}")]
    Serve(std::io::Error),
    /// The engine stopped (its state could not be written); the server
    /// stopped with it.
    #[error("the engine stopped: {0}")]
    EngineStopped(String),
}

/// What a started server tells whoever started it.
#[derive(Debug, Clone)]
pub struct Ready {
    /// Its URL.
    pub url: String,
    /// The API token, when it was created now (show it once).
    pub new_token: Option<String>,
    /// Where the token is kept.
    pub token_file: PathBuf,
}

/// Serves `listener` for the host `config` until `shutdown` completes:
/// the engine, the API, the console, triggers and notifications. `ready`
/// is called once it serves. Requests under way get 5 s to finish.
pub async fn run(
    config: HostConfig,
    options: ServeOptions,
    listener: tokio::net::TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
    ready: impl FnOnce(&Ready),
) -> Result<(), ServerError> {
    let setup = ServerError::Setup;
    let sandbox = config.sandbox().map_err(setup)?;
    let secrets = config.secret_store().map_err(setup)?;
    // On a shared database the host runs one worker, for its own driver
    // and for every other host's.
    let shared_database = config.layout().database_url().exists();
    let mut engine_settings = config.engine.clone();
    engine_settings.host_runs_worker = shared_database;
    let engine = match Driver::start_with(
        &config.state_dir,
        sandbox.clone(),
        secrets.clone(),
        engine_settings.clone(),
    )
    .await
    {
        Ok(engine) => Engine::Driving(engine),
        // Another host drives the database this state directory shares:
        // serve as a standby, ready to take over.
        Err(DriverError::Busy { .. })
            if config.layout().database_url().exists()
                && !crate::engine::startup::locked_here(&config.state_dir) =>
        {
            tracing::warn!("another host drives the database: this one stands by");
            Engine::Standby(crate::engine::standby::Standby::start(
                config.state_dir.clone(),
                sandbox.clone(),
                secrets.clone(),
                engine_settings.clone(),
            ))
        }
        Err(DriverError::Busy { .. }) => {
            return Err(ServerError::Busy(config.state_dir.clone()));
        }
        Err(e) => return Err(e.into()),
    };
    let worker = if shared_database {
        Some(crate::engine::jobs::Worker::start(
            &config.state_dir,
            sandbox.clone(),
            secrets,
            &engine_settings,
        )?)
    } else {
        None
    };
    // Sources are polled and notifications sent by whichever host drives:
    // a standby starts both once it takes over.
    let (token, created) =
        load_or_create_token(&config.state_dir, options.token_file.as_deref()).map_err(setup)?;
    let address = listener
        .local_addr()
        .map_err(|e| setup(format!("cannot read the listening address: {e}")))?;
    let url = format!("http://{address}");
    let triggers = options
        .triggers
        .then(|| crate::triggers::Triggers::new(engine.handle(), config.state_dir.clone()));
    let polling = triggers.as_ref().map(|t| t.spawn_polling());
    let notifier = Some(crate::notify::spawn(
        engine.handle(),
        config.state_dir.clone(),
    ));
    let state = AppState::new(
        engine.handle(),
        config.clone(),
        sandbox,
        token.clone(),
        crate::access::own_names(address, &options.allow_hosts),
        address.port(),
        triggers,
    )
    .map_err(setup)?;
    let info = ServerInfo {
        url: url.clone(),
        pid: std::process::id(),
    };
    ready(&Ready {
        url,
        new_token: created.then(|| token.clone()),
        token_file: options
            .token_file
            .clone()
            .unwrap_or_else(|| token_path(&config.state_dir)),
    });
    // Written once the server has said it serves (its URL, a new token):
    // whoever finds this file finds that said too.
    let info_path = api::server_file(&config.state_dir);
    std::fs::write(
        &info_path,
        serde_json::to_vec_pretty(&info).expect("serialises"),
    )
    .map_err(|e| setup(format!("cannot write {}: {e}", info_path.display())))?;

    // On shutdown, or when the engine stops on its own: stop accepting,
    // end the event streams, give requests under way a moment, then stop
    // regardless.
    let (stopping, stopped) = tokio::sync::oneshot::channel::<()>();
    let closer = state.clone();
    let failing = engine.handle();
    let server = axum::serve(
        listener,
        api::router(state).into_make_service_with_connect_info::<std::net::SocketAddr>(),
    )
    .with_graceful_shutdown(async move {
        tokio::select! {
            _ = shutdown => {}
            reason = failing.failed() => {
                tracing::error!(%reason, "the engine stopped; the server stops");
            }
        }
        closer.close();
        let _ = stopping.send(());
    });
    let served = tokio::select! {
        r = server => r,
        _ = async {
            let _ = stopped.await;
            tokio::time::sleep(std::time::Duration::from_secs(5)).await;
        } => Ok(()),
    };
    if let Some(p) = polling {
        p.abort();
    }
    if let Some(n) = notifier {
        n.abort();
    }
    let engine_stopped = engine.shutdown().await;
    if let Some(worker) = worker {
        worker.shutdown().await;
    }
    let _ = std::fs::remove_file(&info_path);
    served.map_err(ServerError::Serve)?;
    engine_stopped.map_err(ServerError::EngineStopped)
}

/// What a server runs: a driver, or a standby ready to take over.
enum Engine {
    Driving(Driver),
    Standby(crate::engine::standby::Standby),
}

impl Engine {
    fn handle(&self) -> crate::engine::DriverHandle {
        match self {
            Engine::Driving(d) => d.handle(),
            Engine::Standby(s) => s.handle(),
        }
    }

    async fn shutdown(self) -> Result<(), String> {
        match self {
            Engine::Driving(d) => d.shutdown().await,
            Engine::Standby(s) => s.shutdown().await,
        }
    }
}

/// The server driving `state_dir`, when one runs: its `server.json`, if
/// the process it names is alive.
pub fn running_server(state_dir: &Path) -> Option<ServerInfo> {
    let text = std::fs::read_to_string(api::server_file(state_dir)).ok()?;
    let info: ServerInfo = serde_json::from_str(&text).ok()?;
    let alive = Path::new("/proc").join(info.pid.to_string()).exists()
        && crate::engine::is_driven(state_dir);
    alive.then_some(info)
}
