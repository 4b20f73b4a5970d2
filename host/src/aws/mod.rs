//! The CodePipeline 2015-07-09 API as the AWS CLI and SDKs speak it, in
//! either protocol an SDK may pick: AWS JSON 1.1 ([`json`]: `POST /`,
//! `X-Amz-Target: CodePipeline_20150709.<Operation>`) and Smithy RPC v2
//! CBOR ([`cbor`]: `POST /service/CodePipeline_20150709/operation/<Operation>`).
//! A protocol only reads the operation and its input off the request and
//! writes the answer; the rest is `call`'s, the same for both: every
//! request signed with Signature Version 4 by an access key `sluice token
//! create NAME --role ROLE --aws` made ([`sigv4`]), the role checked, the
//! operation run, a change audited. The operations are in [`operations`]:
//! each says what it maps to in Sluice's engine and store.

pub mod action_types;
pub mod cbor;
pub mod conditions;
pub mod jobs;
pub mod json;
pub mod operations;
pub mod pipelines;
pub mod s3;
pub mod sigv4;
pub mod state;
pub mod tags;
pub mod webhooks;

use crate::access::{Principal, Role};
use crate::api::AppState;
use axum::body::Body;
use axum::extract::Request;
use axum::http::request::Parts;
use axum::http::{HeaderValue, StatusCode};
use serde_json::Value;

/// The service's name in the model (`X-Amz-Target`'s prefix, RPC v2's
/// service segment).
pub const TARGET_PREFIX: &str = "CodePipeline_20150709";

/// The name requests are signed for.
pub const SIGNING_NAME: &str = "codepipeline";

/// The largest request body taken.
const BODY_LIMIT: usize = 10 << 20;

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

/// What a protocol reads off a request.
pub struct Invocation {
    /// The operation's name (`ListPipelines`, ...), as the request gives it.
    pub operation: String,
    /// Its input, a JSON object as [`operations::run`] takes it.
    pub input: Value,
}

/// One call, whichever protocol carries it. The caller is authenticated
/// before `decode` reads the request, so an unsigned request learns
/// nothing of operations; then the role is checked, the operation run and
/// a change audited.
async fn call(
    state: &AppState,
    request: Request,
    decode: impl FnOnce(&Parts, &[u8]) -> Result<Invocation, AwsError>,
) -> Result<Value, AwsError> {
    let (parts, body) = request.into_parts();
    let body = read_body(body).await?;
    let principal = authenticate(state, &parts, &body).await?;
    let Invocation { operation, input } = decode(&parts, &body)?;
    let needs = permit(&principal, &operation)?;
    let outcome = operations::run(state, &principal, &operation, &input).await;
    if needs > Role::Read {
        audit(state, &principal, &operation, &input, &outcome).await;
    }
    outcome
}

/// The request's body, up to [`BODY_LIMIT`].
async fn read_body(body: Body) -> Result<axum::body::Bytes, AwsError> {
    axum::body::to_bytes(body, BODY_LIMIT).await.map_err(|e| {
        AwsError::new(
            "SerializationException",
            format!("cannot read the body: {e}"),
        )
    })
}

/// The role `operation` needs, if `principal` has it; an operation the
/// model lacks is `UnknownOperationException`.
fn permit(principal: &Principal, operation: &str) -> Result<Role, AwsError> {
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
    Ok(needs)
}

/// Records a change and its outcome under the caller's name, against the
/// pipeline the input names.
async fn audit(
    state: &AppState,
    principal: &Principal,
    operation: &str,
    input: &Value,
    outcome: &Result<Value, AwsError>,
) {
    let result = match outcome {
        Ok(_) => "ok".to_string(),
        Err(e) => format!("{}: {}", e.code, e.message),
    };
    // What the operation acts on, by the first member that names it.
    let target = [
        "/name",
        "/pipelineName",
        "/pipeline/name",
        "/webhook/name",
        "/webhookName",
        "/resourceArn",
        "/jobId",
        "/provider",
        "/actionType/id/provider",
    ]
    .iter()
    .find_map(|pointer| input.pointer(pointer).and_then(Value::as_str))
    .unwrap_or("");
    state
        .record(
            &principal.name,
            operation,
            &format!("aws:{target}"),
            &result,
        )
        .await;
}

/// A fresh `x-amzn-RequestId`, as AWS gives with every answer.
fn request_id() -> Option<HeaderValue> {
    HeaderValue::from_str(&uuid::Uuid::now_v7().to_string()).ok()
}

/// Checks the request's signature against the secret of the access key it
/// names; the key's token is the caller.
async fn authenticate(state: &AppState, parts: &Parts, body: &[u8]) -> Result<Principal, AwsError> {
    let request = sigv4::Request::of(parts, body);
    // The key is looked up before the signature is checked with it.
    let key_id = request.access_key_id().to_string();
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
