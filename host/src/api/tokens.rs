//! Named tokens (make, list, revoke) and the audit log: admin only.

use super::table::{Answer, Entry, Op, QueryParam, schema};
use super::{ApiJson, ApiQuery, ApiResult, AppState};
use crate::access::{self, Principal, Role};
use crate::queries::{ErrorCode, OpError};
use crate::store::{AuditEntry, TokenInfo};
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::{delete, get, post};
use axum::{Extension, Json};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

pub(super) fn entries() -> Vec<Entry> {
    vec![
        Entry {
            op: Op {
                method: "post",
                path: "/api/v1/tokens",
                id: "CreateToken",
                summary: "Makes a named token with a role (`read`, `operate` or `admin`); its value is in this answer only.",
                path_params: &[],
                query: &[],
                body: Some(schema::<NewToken>),
                answer: Answer::Json(201, schema::<MadeToken>),
                role: Some(Role::Admin),
            },
            handler: post(create_token),
        },
        Entry {
            op: Op {
                method: "get",
                path: "/api/v1/tokens",
                id: "ListTokens",
                summary: "The named tokens and their roles (never their values).",
                path_params: &[],
                query: &[],
                body: None,
                answer: Answer::Json(200, schema::<Vec<TokenInfo>>),
                role: Some(Role::Admin),
            },
            handler: get(list_tokens),
        },
        Entry {
            op: Op {
                method: "delete",
                path: "/api/v1/tokens/{token}",
                id: "RevokeToken",
                summary: "Revokes a named token: requests carrying it are refused from now on.",
                path_params: &[("token", "The token's name.")],
                query: &[],
                body: None,
                answer: Answer::Json(200, schema::<super::dto::Message>),
                role: Some(Role::Admin),
            },
            handler: delete(revoke_token),
        },
        Entry {
            op: Op {
                method: "get",
                path: "/api/v1/audit",
                id: "GetAuditLog",
                summary: "Who changed what, newest first: every change made through the API (and the command line on the host), with its outcome.",
                path_params: &[],
                query: &[QueryParam {
                    name: "limit",
                    kind: "integer",
                    description: "At most this many (default 100, at most 10000).",
                }],
                body: None,
                answer: Answer::Json(200, schema::<Vec<AuditEntry>>),
                role: Some(Role::Admin),
            },
            handler: get(audit_log),
        },
    ]
}

/// A token to make.
#[derive(Debug, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct NewToken {
    /// Its name: recorded as who started, approved or changed something.
    pub name: String,
    /// `read`, `operate` or `admin`.
    pub role: Role,
    /// Also make an AWS access key pair for it (for the AWS CLI and SDKs,
    /// which sign with Signature Version 4).
    #[serde(default)]
    pub aws: bool,
}

/// A token just made.
#[derive(Debug, Serialize, Deserialize, JsonSchema)]
pub struct MadeToken {
    /// Its name.
    pub name: String,
    /// Its role.
    pub role: Role,
    /// Its value: shown this once, kept nowhere (the server keeps its
    /// sha256).
    pub token: String,
    /// Its AWS access key id, when asked for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub access_key_id: Option<String>,
    /// Its AWS secret access key, when asked for: shown this once (the
    /// server keeps it, as SigV4 needs it to check signatures).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret_access_key: Option<String>,
}

#[derive(Debug, Deserialize)]
struct AuditQuery {
    limit: Option<usize>,
}

async fn create_token(
    State(state): State<AppState>,
    Extension(by): Extension<Principal>,
    ApiJson(body): ApiJson<NewToken>,
) -> Result<(StatusCode, Json<MadeToken>), super::ApiError> {
    if !access::is_token_name(&body.name) || body.name == access::BOOTSTRAP {
        return Err(OpError::invalid(
            "name",
            format!(
                "`{}` cannot name a token: use 1 to 64 letters, digits, `.`, `_`, `-` or `@` (not `{}`)",
                crate::text::line(&body.name),
                access::BOOTSTRAP
            ),
        )
        .into());
    }
    let token = access::new_token().map_err(OpError::internal)?;
    let hash = access::token_hash(&token);
    let key = if body.aws {
        Some(access::new_aws_key().map_err(OpError::internal)?)
    } else {
        None
    };
    let (name, role, pair) = (body.name.clone(), body.role, key.clone());
    let added = state
        .write(move |s| {
            let added = s
                .add_token(&name, role.as_str(), &hash, &by.name)
                .map_err(OpError::internal)?;
            if added && let Some((id, secret)) = &pair {
                s.add_aws_key(&name, id, secret)
                    .map_err(OpError::internal)?;
            }
            Ok(added)
        })
        .await?;
    if !added {
        return Err(OpError::new(
            ErrorCode::Conflict,
            format!("there is already a token named `{}`", body.name),
        )
        .into());
    }
    Ok((
        StatusCode::CREATED,
        Json(MadeToken {
            name: body.name,
            role: body.role,
            token,
            access_key_id: key.as_ref().map(|k| k.0.clone()),
            secret_access_key: key.map(|k| k.1),
        }),
    ))
}

async fn list_tokens(State(state): State<AppState>) -> ApiResult<Vec<TokenInfo>> {
    Ok(Json(
        state
            .read(|s| s.tokens().map_err(OpError::internal))
            .await?,
    ))
}

async fn revoke_token(
    State(state): State<AppState>,
    Path(name): Path<String>,
) -> ApiResult<super::dto::Message> {
    let target = name.clone();
    let removed = state
        .write(move |s| s.revoke_token(&target).map_err(OpError::internal))
        .await?;
    if !removed {
        return Err(
            OpError::not_found("token", format!("there is no token named `{name}`")).into(),
        );
    }
    Ok(Json(super::dto::Message {
        message: format!("revoked token `{name}`"),
        execution: None,
    }))
}

async fn audit_log(
    State(state): State<AppState>,
    ApiQuery(query): ApiQuery<AuditQuery>,
) -> ApiResult<Vec<AuditEntry>> {
    let limit = query.limit.unwrap_or(100);
    if limit == 0 || limit > 10_000 {
        return Err(OpError::invalid("limit", "`limit` must be 1 to 10000").into());
    }
    Ok(Json(
        state
            .read(move |s| s.audit_log(limit).map_err(OpError::internal))
            .await?,
    ))
}
