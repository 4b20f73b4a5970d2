//! The CodePipeline 2015-07-09 API as the AWS CLI and SDKs speak it: AWS
//! JSON 1.1 (`POST /`, `X-Amz-Target: CodePipeline_20150709.<Operation>`,
//! `Content-Type: application/x-amz-json-1.1`), every request signed with
//! Signature Version 4 by an access key `sluice token create NAME --role
//! ROLE --aws` made ([`sigv4`]), errors in AWS's shape (`__type`,
//! `message`). The operations are in [`operations`]: each says what it
//! maps to in Sluice's engine and store.

pub mod operations;
pub mod sigv4;

use crate::access::{Principal, Role};
use crate::api::AppState;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::Value;

/// The prefix of `X-Amz-Target`.
pub const TARGET_PREFIX: &str = "CodePipeline_20150709";

/// The name requests are signed for.
pub const SIGNING_NAME: &str = "codepipeline";

/// The largest request body taken.
const BODY_LIMIT: usize = 10 << 20;

/// The content type of JSON 1.1 answers.
const JSON_11: &str = "application/x-amz-json-1.1";

/// An error as AWS answers it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AwsError {
    /// The HTTP status.
    pub status: StatusCode,
    /// The error's name (`PipelineNotFoundException`, ...).
    pub code: &'static str,
    /// What is wrong.
    pub message: String,
}

impl AwsError {
    /// A 400 error named `code`.
    pub fn new(code: &'static str, message: impl Into<String>) -> AwsError {
        AwsError {
            status: StatusCode::BAD_REQUEST,
            code,
            message: message.into(),
        }
    }

    /// `ValidationException` naming the input member at fault.
    pub fn validation(member: &str, message: impl std::fmt::Display) -> AwsError {
        AwsError::new(
            "ValidationException",
            format!(
                "1 validation error detected: Value at '{member}' failed to satisfy constraint: {message}"
            ),
        )
    }

    /// A failure of Sluice itself.
    pub fn internal(message: impl Into<String>) -> AwsError {
        AwsError {
            status: StatusCode::INTERNAL_SERVER_ERROR,
            code: "InternalFailure",
            message: message.into(),
        }
    }
}

impl IntoResponse for AwsError {
    fn into_response(self) -> Response {
        let body = serde_json::json!({"__type": self.code, "message": self.message});
        answer(self.status, &body)
    }
}

/// A JSON 1.1 answer with a request id, as AWS gives.
fn answer(status: StatusCode, body: &Value) -> Response {
    let mut response = (status, body.to_string()).into_response();
    let headers = response.headers_mut();
    headers.insert(
        axum::http::header::CONTENT_TYPE,
        HeaderValue::from_static(JSON_11),
    );
    if let Ok(id) = HeaderValue::from_str(&uuid::Uuid::now_v7().to_string()) {
        headers.insert("x-amzn-requestid", id);
    }
    response
}

/// `POST /`: one CodePipeline call.
pub async fn json_rpc(State(state): State<AppState>, request: Request) -> Response {
    match call(&state, request).await {
        Ok(body) => answer(StatusCode::OK, &body),
        Err(error) => error.into_response(),
    }
}

async fn call(state: &AppState, request: Request) -> Result<Value, AwsError> {
    let (parts, body) = request.into_parts();
    let target = parts
        .headers
        .get("x-amz-target")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string();
    let body = axum::body::to_bytes(Body::new(body), BODY_LIMIT)
        .await
        .map_err(|e| {
            AwsError::new(
                "SerializationException",
                format!("cannot read the body: {e}"),
            )
        })?;
    let principal = authenticate(state, &parts, &body).await?;
    let Some(operation) = target
        .strip_prefix(TARGET_PREFIX)
        .and_then(|t| t.strip_prefix('.'))
    else {
        return Err(AwsError::new(
            "UnknownOperationException",
            format!(
                "X-Amz-Target must be {TARGET_PREFIX}.<Operation>, not `{}`",
                crate::text::line(&target)
            ),
        ));
    };
    let input: Value = if body.is_empty() {
        Value::Object(Default::default())
    } else {
        serde_json::from_slice(&body).map_err(|e| {
            AwsError::new(
                "SerializationException",
                format!("the body is not JSON: {e}"),
            )
        })?
    };
    if !input.is_object() {
        return Err(AwsError::new(
            "SerializationException",
            "the body must be a JSON object",
        ));
    }
    let Some(needs) = operations::role_of(operation) else {
        return Err(AwsError::new(
            "UnknownOperationException",
            format!(
                "`{}` is not an operation of CodePipeline 2015-07-09",
                crate::text::line(operation)
            ),
        ));
    };
    if principal.role < needs {
        return Err(AwsError {
            status: StatusCode::BAD_REQUEST,
            code: "AccessDeniedException",
            message: format!(
                "token `{}` ({}) may not call {operation}: it needs the {} role",
                principal.name,
                principal.role.as_str(),
                needs.as_str()
            ),
        });
    }
    let outcome = operations::run(state, &principal, operation, &input).await;
    if needs > Role::Read {
        let result = match &outcome {
            Ok(_) => "ok".to_string(),
            Err(e) => format!("{}: {}", e.code, e.message),
        };
        let target = input
            .get("name")
            .or_else(|| input.get("pipelineName"))
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string();
        state
            .record(
                &principal.name,
                operation,
                &format!("aws:{target}"),
                &result,
            )
            .await;
    }
    outcome
}

/// Checks the request's signature against the secret of the access key it
/// names; the key's token is the caller.
async fn authenticate(
    state: &AppState,
    parts: &axum::http::request::Parts,
    body: &[u8],
) -> Result<Principal, AwsError> {
    let headers: Vec<(&str, &str)> = parts
        .headers
        .iter()
        .filter_map(|(n, v)| v.to_str().ok().map(|v| (n.as_str(), v)))
        .collect();
    let request = sigv4::Request {
        method: parts.method.as_str(),
        path: parts.uri.path(),
        query: parts.uri.query().unwrap_or(""),
        headers,
        body,
    };
    // The key is looked up before the signature is checked with it.
    let key_id = request
        .headers
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case("authorization"))
        .and_then(|(_, v)| v.split("Credential=").nth(1))
        .and_then(|c| c.split('/').next())
        .unwrap_or("")
        .to_string();
    let found = if key_id.is_empty() {
        None
    } else {
        state
            .read(move |s| {
                s.aws_key(&key_id)
                    .map_err(crate::queries::OpError::internal)
            })
            .await
            .map_err(|e| AwsError::internal(e.0.message))?
    };
    let secret = found.as_ref().map(|(secret, _, _)| secret.clone());
    let auth_error = |e: sigv4::AuthError| AwsError::new(e.code(), e.message());
    sigv4::verify(&request, SIGNING_NAME, std::time::SystemTime::now(), |_| {
        secret
    })
    .map_err(auth_error)?;
    let (_, name, role) = found.ok_or_else(|| auth_error(sigv4::AuthError::UnknownKey))?;
    let role = Role::parse(&role).ok_or_else(|| auth_error(sigv4::AuthError::UnknownKey))?;
    Ok(Principal { name, role })
}
