//! The server itself: its health and the API's OpenAPI document.

use super::dto::Health;
use super::table::{Answer, Entry, Op, schema};
use super::{ApiError, AppState};
use crate::queries::{ErrorCode, OpError};
use axum::Json;
use axum::extract::State;
use axum::routing::get;

pub(super) fn entries() -> Vec<Entry> {
    vec![
        Entry {
            op: Op {
                method: "get",
                path: "/healthz",
                id: "Liveness",
                summary: "Liveness, for orchestrators: 200 while the process serves (no token needed).",
                path_params: &[],
                query: &[],
                body: None,
                answer: Answer::Json(200, schema::<super::dto::Message>),
                role: None,
            },
            handler: get(liveness),
        },
        Entry {
            op: Op {
                method: "get",
                path: "/metrics",
                id: "Metrics",
                summary: "Prometheus metrics in the OpenMetrics text format: executions by status, action attempts in progress, commands waiting for the driving host, whether this host drives, provider calls and their durations (no token needed).",
                path_params: &[],
                query: &[],
                body: None,
                answer: Answer::Text("application/openmetrics-text; version=1.0.0; charset=utf-8"),
                role: None,
            },
            handler: get(metrics),
        },
        Entry {
            op: Op {
                method: "get",
                path: "/readyz",
                id: "Readiness",
                summary: "Readiness, for orchestrators and load balancers: 200 with the server's role (driving or standby) once its engine runs and its database answers; 503 (`unavailable`) otherwise (no token needed).",
                path_params: &[],
                query: &[],
                body: None,
                answer: Answer::Json(200, schema::<super::dto::Readiness>),
                role: None,
            },
            handler: get(readiness),
        },
        Entry {
            op: Op {
                method: "get",
                path: "/api/v1/health",
                id: "Health",
                summary: "The server's version and state directory; 503 (`unavailable`) once its engine has stopped (its state could not be written).",
                path_params: &[],
                query: &[],
                body: None,
                answer: Answer::Json(200, schema::<Health>),
                role: None,
            },
            handler: get(health),
        },
    ]
}

async fn metrics(State(state): State<AppState>) -> Result<axum::response::Response, ApiError> {
    let driving = state.engine().drives();
    let (counts, jobs_queued, lease) = state
        .read(|store| {
            let counts = store.counts().map_err(OpError::internal)?;
            let queued = store.queue_depth().map_err(OpError::internal)?;
            let lease = store.lease().map_err(OpError::internal)?;
            Ok((counts, queued, lease))
        })
        .await?;
    let slots = &state.inner.ctx.engine.slots;
    let text = crate::metrics::render(&crate::metrics::Snapshot {
        executions: counts.executions,
        actions_running: counts.actions_running,
        requests_pending: counts.requests_pending,
        driving,
        jobs_queued,
        lease: lease.map(|l| (l.holder, l.token)),
        slots: (slots.busy(), slots.count()),
    });
    Ok(axum::response::Response::builder()
        .header(
            axum::http::header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )
        .body(axum::body::Body::from(text))
        .expect("a valid response"))
}

async fn liveness() -> Json<super::dto::Message> {
    Json(super::dto::Message {
        message: "alive".into(),
        execution: None,
    })
}

async fn readiness(State(state): State<AppState>) -> Result<Json<super::dto::Readiness>, ApiError> {
    if let Some(reason) = state.engine().failure() {
        return Err(OpError::new(
            ErrorCode::Unavailable,
            format!("the engine has stopped: {reason}"),
        )
        .into());
    }
    let role = if state.engine().drives() {
        "driving"
    } else {
        "standby"
    };
    let (database, schema_version) = state
        .read(|store| {
            let version = store.schema_version().map_err(|e| {
                OpError::new(
                    ErrorCode::Unavailable,
                    format!("the database does not answer: {e}"),
                )
            })?;
            Ok((
                if store.is_postgres() {
                    "postgres"
                } else {
                    "sqlite"
                },
                version,
            ))
        })
        .await?;
    Ok(Json(super::dto::Readiness {
        role: role.into(),
        database: database.into(),
        schema_version,
    }))
}

pub(super) fn document_entries() -> Vec<Entry> {
    vec![Entry {
        op: Op {
            method: "get",
            path: "/api/v1/openapi.json",
            id: "OpenApi",
            summary: "This document.",
            path_params: &[],
            query: &[],
            body: None,
            answer: Answer::Json(200, schema::<serde_json::Value>),
            role: None,
        },
        handler: get(openapi_document),
    }]
}

async fn health(State(state): State<AppState>) -> Result<Json<Health>, ApiError> {
    if let Some(reason) = state.engine().failure() {
        return Err(OpError::new(
            ErrorCode::Unavailable,
            format!("the engine has stopped: {reason}"),
        )
        .into());
    }
    Ok(Json(Health {
        version: env!("CARGO_PKG_VERSION").to_string(),
        state_dir: state.state_dir().display().to_string(),
    }))
}

async fn openapi_document() -> Json<serde_json::Value> {
    Json(super::openapi::document())
}
