//! The HTTP API (`/api/v1/...`) and the web console (`/`), served by
//! `sluice serve`.
//!
//! Every operation is one entry of the [`table`]: its method, path,
//! summary, parameters, body and answer types, and its handler, listed by
//! the module of its resource (`pipelines.rs`, `executions.rs`, `logs.rs`,
//! `events.rs`, `service.rs`) next to the handler. The router and the
//! OpenAPI document (`/api/v1/openapi.json`) are both built from that
//! table, so the document cannot drift from the handlers. The bodies the
//! command line's client shares are in [`dto`]. The engine's refusals
//! ([`CommandError`]) become statuses and fields in [`refused`], by
//! variant.
//!
//! Mutating calls need `Authorization: Bearer TOKEN` (the token in the
//! state directory's `api-token`); reads are open when the server listens
//! on loopback only, and need the token otherwise. Errors are JSON:
//! `{"error": {"code": "not_found", "message": "...", "field": "name"}}`.

pub mod console;
pub mod dto;
mod events;
mod executions;
mod logs;
pub mod openapi;
mod pipelines;
pub use pipelines::apply as apply_pipeline;
mod service;
pub mod table;
mod tokens;

use crate::engine::{CommandError, DriverHandle};
use crate::providers::Catalog;
use crate::queries::{ErrorCode, OpError};
use crate::sandbox::Sandbox;
use crate::store::Store;
use axum::extract::{FromRequest, FromRequestParts, Request, State};
use axum::http::{Method, StatusCode, request::Parts};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use serde::de::DeserializeOwned;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use tokio::sync::broadcast;

/// Most read connections kept open between requests.
pub const MAX_READERS: usize = 8;

/// What the handlers share.
#[derive(Clone)]
pub struct AppState {
    inner: Arc<Inner>,
}

struct Inner {
    engine: DriverHandle,
    ctx: crate::config::HostConfig,
    sandbox: Sandbox,
    /// Read connections to the store, taken one per request.
    readers: Mutex<Vec<Store>>,
    /// The bootstrap token (the state directory's `api-token`).
    token: String,
    /// The names this server answers to (`Host`), and its port.
    hosts: Vec<String>,
    port: u16,
    changes: broadcast::Sender<Change>,
    triggers: Option<crate::triggers::Triggers>,
    closing: tokio::sync::watch::Sender<bool>,
    /// The bucket hosts share artifacts in, when they do (custom actions'
    /// job zips are kept there too).
    remote: Option<crate::artifacts::Remote>,
}

/// A change the console hears about besides execution snapshots.
#[derive(Debug, Clone, serde::Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Change {
    /// A pipeline was applied, deleted, or a transition changed.
    Pipeline {
        /// The pipeline.
        name: String,
    },
}

impl AppState {
    /// The state for a server driving `ctx.state_dir` with `engine`,
    /// answering to `hosts` on `port`, with the bootstrap `token`.
    pub fn new(
        engine: DriverHandle,
        ctx: crate::config::HostConfig,
        sandbox: Sandbox,
        token: String,
        hosts: Vec<String>,
        port: u16,
        triggers: Option<crate::triggers::Triggers>,
    ) -> Result<AppState, String> {
        let store = ctx.store()?;
        let (changes, _) = broadcast::channel(256);
        let readers = Mutex::new(vec![store]);
        let (closing, _) = tokio::sync::watch::channel(false);
        let remote = ctx
            .engine
            .artifacts
            .as_ref()
            .map(crate::artifacts::Remote::new)
            .transpose()
            .map_err(|e| e.to_string())?;
        Ok(AppState {
            inner: Arc::new(Inner {
                engine,
                ctx,
                sandbox,
                readers,
                token,
                hosts,
                port,
                changes,
                triggers,
                closing,
                remote,
            }),
        })
    }

    /// The bucket hosts share artifacts in, if any.
    pub fn remote(&self) -> Option<&crate::artifacts::Remote> {
        self.inner.remote.as_ref()
    }

    /// The engine.
    pub fn engine(&self) -> &DriverHandle {
        &self.inner.engine
    }

    /// The URL clients reach this server at, as its own `Host` check
    /// allows: `http://NAME:PORT` with the first name it answers to (the
    /// first `--allow-host`, else its listening address).
    pub fn base_url(&self) -> String {
        let name = self.inner.hosts.first().map_or("localhost", String::as_str);
        format!("http://{name}:{}", self.inner.port)
    }

    /// The state directory.
    pub fn state_dir(&self) -> &std::path::Path {
        &self.inner.ctx.state_dir
    }

    /// Runs `f` with a read connection to the store, on a blocking thread
    /// (never on the runtime's workers): connections are pooled (WAL lets
    /// readers run beside each other and beside the engine's writes), one
    /// opened when none is free, at most [`MAX_READERS`] kept.
    pub async fn read<T: Send + 'static>(
        &self,
        f: impl FnOnce(&Store) -> Result<T, OpError> + Send + 'static,
    ) -> Result<T, ApiError> {
        self.write(move |store| f(store)).await
    }

    /// [`AppState::read`] for the few writes the API makes itself (tokens,
    /// the audit log): the engine's state is changed through the engine.
    pub async fn write<T: Send + 'static>(
        &self,
        f: impl FnOnce(&mut Store) -> Result<T, OpError> + Send + 'static,
    ) -> Result<T, ApiError> {
        let state = self.clone();
        tokio::task::spawn_blocking(move || {
            let taken = state
                .inner
                .readers
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .pop();
            let mut store = match taken {
                Some(store) => store,
                None => state.inner.ctx.store().map_err(OpError::internal)?,
            };
            let answer = f(&mut store);
            let mut readers = state
                .inner
                .readers
                .lock()
                .unwrap_or_else(|p| p.into_inner());
            if readers.len() < MAX_READERS {
                readers.push(store);
            }
            answer
        })
        .await
        .map_err(|e| OpError::internal(format!("a read failed: {e}")))?
        .map_err(ApiError)
    }

    /// A catalog resolving providers for definitions in `base_dir`.
    pub fn catalog(&self, base_dir: &std::path::Path) -> Result<Catalog, OpError> {
        self.inner
            .ctx
            .catalog(self.inner.sandbox.clone(), base_dir)
            .map_err(OpError::internal)
    }

    /// The host's secrets.
    pub fn secrets(&self) -> Result<crate::secrets::SecretStore, OpError> {
        self.inner.ctx.secret_store().map_err(OpError::internal)
    }

    /// Tells watchers something changed.
    pub fn changed(&self, change: Change) {
        let _ = self.inner.changes.send(change);
    }

    /// Other changes as they happen.
    pub fn changes(&self) -> broadcast::Receiver<Change> {
        self.inner.changes.subscribe()
    }

    /// Tells long-lived answers (event and log streams) to end: the
    /// server is stopping.
    pub fn close(&self) {
        let _ = self.inner.closing.send(true);
    }

    /// Resolves when the server is stopping.
    pub fn closed(&self) -> impl std::future::Future<Output = ()> + Send + use<> {
        let mut watch = self.inner.closing.subscribe();
        async move {
            let _ = watch.wait_for(|closing| *closing).await;
        }
    }

    /// The triggers, when the server runs them.
    pub fn triggers(&self) -> Option<&crate::triggers::Triggers> {
        self.inner.triggers.as_ref()
    }

    /// Who `token` is: the bootstrap token, or a named one.
    async fn principal(&self, token: &str) -> Result<Option<crate::access::Principal>, ApiError> {
        use crate::access::{BOOTSTRAP, Principal, Role, constant_time_eq, token_hash};
        if constant_time_eq(token.as_bytes(), self.inner.token.as_bytes()) {
            return Ok(Some(Principal {
                name: BOOTSTRAP.to_string(),
                role: Role::Admin,
            }));
        }
        let hash = token_hash(token);
        let found = self
            .read(move |s| s.token_by_hash(&hash).map_err(OpError::internal))
            .await?;
        Ok(found.and_then(|(name, role)| Role::parse(&role).map(|role| Principal { name, role })))
    }

    /// Appends to the audit log (a failure to is logged, not answered).
    pub async fn record(&self, actor: &str, action: &str, target: &str, outcome: &str) {
        let (actor, action, target, outcome) = (
            actor.to_string(),
            action.to_string(),
            target.to_string(),
            outcome.to_string(),
        );
        let written = self
            .write(move |s| {
                s.audit(&actor, &action, &target, &outcome)
                    .map_err(OpError::internal)
            })
            .await;
        if let Err(error) = written {
            tracing::warn!(error = %error.0, "cannot write the audit log");
        }
    }
}

/// The router: API, OpenAPI document, console. Every request is checked
/// for its `Host` (this server's own names only) and, for the API, its
/// token; each operation then checks the token's role and, when it changes
/// something, records it in the audit log.
pub fn router(state: AppState) -> axum::Router {
    // Operations on one path share one method router.
    let mut by_path: Vec<(&'static str, axum::routing::MethodRouter<AppState>)> = Vec::new();
    for entry in table::table() {
        let guard = Guard {
            state: state.clone(),
            op: entry.op,
        };
        let handler = entry
            .handler
            .route_layer(axum::middleware::from_fn_with_state(guard, check_role));
        match by_path.iter_mut().find(|(p, _)| *p == entry.op.path) {
            Some((_, existing)) => *existing = std::mem::take(existing).merge(handler),
            None => by_path.push((entry.op.path, handler)),
        }
    }
    let api = by_path
        .into_iter()
        .fold(axum::Router::new(), |router, (path, handler)| {
            router.route(path, handler)
        });
    // The CodePipeline API, signed with SigV4: AWS JSON 1.1 on `POST /`,
    // Smithy RPC v2 CBOR on `POST /service/<service>/operation/<operation>`;
    // and the URLs of its webhooks.
    let aws = axum::Router::new()
        .route("/", axum::routing::post(crate::aws::json::json_rpc))
        .route(
            crate::aws::cbor::ROUTE,
            axum::routing::post(crate::aws::cbor::rpc_v2_cbor),
        )
        // Custom actions' job artifacts, for workers' S3 clients.
        .route(
            crate::aws::s3::ROUTE,
            axum::routing::get(crate::aws::s3::object)
                .head(crate::aws::s3::object)
                .put(crate::aws::s3::object),
        )
        // Webhooks' URLs: each call is checked as its webhook says.
        .route(
            &format!("{}/{{url_id}}", crate::aws::webhooks::URL_PATH),
            axum::routing::post(crate::aws::webhooks::deliver),
        );
    api.merge(console::router())
        .merge(aws)
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            authenticate,
        ))
        .with_state(state)
}

/// Paths whose event streams browsers open without headers: their token
/// may come as `?access_token=`.
fn is_stream(path: &str) -> bool {
    path == "/api/v1/events" || (path.starts_with("/api/v1/executions/") && path.ends_with("/log"))
}

/// Checks the `Host` of every request, and the bearer token of every API
/// request but the health check and the OpenAPI document; the token's
/// principal goes with the request.
async fn authenticate(State(state): State<AppState>, mut request: Request, next: Next) -> Response {
    let host = request
        .headers()
        .get(axum::http::header::HOST)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    if !crate::access::host_allowed(host.as_deref(), &state.inner.hosts, state.inner.port) {
        return ApiError(OpError::new(
            ErrorCode::WrongHost,
            format!(
                "this server does not answer to `{}`: use one of its own names ({}), or start it with --allow-host NAME",
                crate::text::line(host.as_deref().unwrap_or("")),
                state.inner.hosts.join(", ")
            ),
        ).field("host"))
        .into_response();
    }
    let path = request.uri().path().to_string();
    let public = path == "/api/v1/openapi.json" || path == "/api/v1/health";
    if !path.starts_with("/api/") || public {
        return next.run(request).await;
    }
    let from_header = request
        .headers()
        .get(axum::http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(|t| t.trim().to_string());
    let from_query = (request.method() == Method::GET && is_stream(&path))
        .then(|| {
            request.uri().query().and_then(|q| {
                q.split('&')
                    .find_map(|pair| pair.strip_prefix("access_token="))
                    .map(str::to_string)
            })
        })
        .flatten();
    let Some(token) = from_header.or(from_query) else {
        return ApiError(OpError::new(
            ErrorCode::Unauthorized,
            "this call needs `Authorization: Bearer TOKEN` (the state directory's `api-token`, or one made with `sluice token create`)",
        ))
        .into_response();
    };
    match state.principal(&token).await {
        Ok(Some(principal)) => {
            request.extensions_mut().insert(principal);
            next.run(request).await
        }
        Ok(None) => ApiError(OpError::new(
            ErrorCode::Unauthorized,
            "the bearer token is not one of this server's (revoked, or never made)",
        ))
        .into_response(),
        Err(error) => error.into_response(),
    }
}

/// An operation's role check and audit.
#[derive(Clone)]
struct Guard {
    state: AppState,
    op: table::Op,
}

/// Refuses a token whose role is below the operation's; records every
/// change (and its outcome) in the audit log.
async fn check_role(State(guard): State<Guard>, request: Request, next: Next) -> Response {
    let Some(needed) = guard.op.role else {
        return next.run(request).await;
    };
    let Some(principal) = request
        .extensions()
        .get::<crate::access::Principal>()
        .cloned()
    else {
        return ApiError(OpError::new(ErrorCode::Unauthorized, "no token")).into_response();
    };
    let target = request.uri().path().to_string();
    let changes = guard.op.method != "get";
    if principal.role < needed {
        let refused = format!(
            "token `{}` has the {} role; {} needs {}",
            principal.name, principal.role, guard.op.id, needed
        );
        if changes {
            guard
                .state
                .record(&principal.name, guard.op.id, &target, "forbidden")
                .await;
        }
        return ApiError(OpError::new(ErrorCode::Forbidden, refused)).into_response();
    }
    let response = next.run(request).await;
    if changes {
        let status = response.status();
        let outcome = if status.is_success() {
            "ok".to_string()
        } else {
            format!("refused ({})", status.as_u16())
        };
        guard
            .state
            .record(&principal.name, guard.op.id, &target, &outcome)
            .await;
    }
    response
}

/// An error answer: JSON with a stable code, a message and the field.
#[derive(Debug)]
pub struct ApiError(pub OpError);

impl From<OpError> for ApiError {
    fn from(e: OpError) -> Self {
        ApiError(e)
    }
}

impl ApiError {
    /// The HTTP status for the error's code.
    pub fn status(&self) -> StatusCode {
        match self.0.code {
            ErrorCode::NotFound => StatusCode::NOT_FOUND,
            ErrorCode::InvalidRequest => StatusCode::BAD_REQUEST,
            ErrorCode::InvalidPipeline => StatusCode::UNPROCESSABLE_ENTITY,
            ErrorCode::Conflict => StatusCode::CONFLICT,
            ErrorCode::Unauthorized => StatusCode::UNAUTHORIZED,
            ErrorCode::Internal => StatusCode::INTERNAL_SERVER_ERROR,
            ErrorCode::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
            ErrorCode::Forbidden => StatusCode::FORBIDDEN,
            ErrorCode::WrongHost => StatusCode::MISDIRECTED_REQUEST,
        }
    }
}

/// A handler's answer: JSON, or an error answer.
pub type ApiResult<T> = Result<axum::Json<T>, ApiError>;

/// An engine's refusal as an error answer: things that do not exist are
/// `not_found`, bad values in the request `invalid_request` naming the
/// field, refusals the execution's state decides `conflict`, an engine
/// that cannot act `unavailable`.
pub fn refused(error: CommandError) -> ApiError {
    let message = error.to_string();
    let (code, field) = match &error {
        CommandError::UnknownPipeline { .. } => (ErrorCode::NotFound, Some("name")),
        CommandError::UnknownExecution { .. } => (ErrorCode::NotFound, Some("id")),
        CommandError::UnknownStage { .. } => (ErrorCode::NotFound, Some("stage")),
        CommandError::UnknownAction { .. } => (ErrorCode::NotFound, Some("action")),
        CommandError::UnknownVariable { .. } | CommandError::MissingVariable { .. } => {
            (ErrorCode::InvalidRequest, Some("variables"))
        }
        CommandError::UnknownSourceAction { .. } | CommandError::InvalidRevision { .. } => {
            (ErrorCode::InvalidRequest, Some("revisions"))
        }
        CommandError::NotRetryable { .. }
        | CommandError::AlreadyEnded { .. }
        | CommandError::NotAwaitingApproval { .. }
        | CommandError::NoTransition { .. }
        | CommandError::PipelineBusy { .. } => (ErrorCode::Conflict, None),
        CommandError::Unavailable { .. } => (ErrorCode::Unavailable, None),
    };
    let error = OpError::new(code, message);
    ApiError(match field {
        Some(field) => error.field(field),
        None => error,
    })
}

/// The body of every error answer.
#[derive(Debug, serde::Serialize, serde::Deserialize, schemars::JsonSchema)]
pub struct ErrorBody {
    /// The error.
    pub error: OpError,
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = self.status();
        let mut response = (status, axum::Json(ErrorBody { error: self.0 })).into_response();
        if status == StatusCode::UNAUTHORIZED {
            response.headers_mut().insert(
                axum::http::header::WWW_AUTHENTICATE,
                axum::http::HeaderValue::from_static("Bearer"),
            );
        }
        response
    }
}

/// A JSON body whose problems answer as [`ApiError`]s naming the field.
#[derive(Debug)]
pub struct ApiJson<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for ApiJson<T> {
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &S) -> Result<Self, Self::Rejection> {
        let bytes = axum::body::Bytes::from_request(request, state)
            .await
            .map_err(|e| ApiError(OpError::invalid("body", e.body_text())))?;
        if bytes.is_empty() {
            return Err(ApiError(OpError::invalid(
                "body",
                "the request needs a JSON body",
            )));
        }
        parse_json(&bytes).map(ApiJson)
    }
}

/// A JSON body that may be left out (an empty body is `T::default()`).
#[derive(Debug)]
pub struct OptionalJson<T>(pub T);

impl<T: DeserializeOwned + Default, S: Send + Sync> FromRequest<S> for OptionalJson<T> {
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &S) -> Result<Self, Self::Rejection> {
        let bytes = axum::body::Bytes::from_request(request, state)
            .await
            .map_err(|e| ApiError(OpError::invalid("body", e.body_text())))?;
        if bytes.iter().all(u8::is_ascii_whitespace) {
            return Ok(OptionalJson(T::default()));
        }
        parse_json(&bytes).map(OptionalJson)
    }
}

fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    let deserializer = &mut serde_json::Deserializer::from_slice(bytes);
    serde_path_to_error::deserialize(deserializer).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner();
        let field = if path == "." {
            "body".to_string()
        } else {
            path
        };
        ApiError(OpError::invalid(
            &field,
            format!("invalid JSON body at `{field}`: {inner}"),
        ))
    })
}

/// Query parameters whose problems answer as [`ApiError`]s.
#[derive(Debug)]
pub struct ApiQuery<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequestParts<S> for ApiQuery<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        let query = parts.uri.query().unwrap_or("");
        serde_urlencoded::from_str(query)
            .map(ApiQuery)
            .map_err(|e| ApiError(OpError::invalid("query", format!("invalid query: {e}"))))
    }
}

/// Where the server writes its address for the command line to find.
pub fn server_file(state_dir: &std::path::Path) -> PathBuf {
    crate::state_dir::StateDir::at(state_dir).server_file()
}

/// What `server.json` holds.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct ServerInfo {
    /// `http://HOST:PORT`.
    pub url: String,
    /// The server's process id.
    pub pid: u32,
}
