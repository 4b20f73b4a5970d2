//! AWS JSON 1.1, the protocol botocore's model of CodePipeline names:
//! `POST /`, the operation in `X-Amz-Target:
//! CodePipeline_20150709.<Operation>`, the input a JSON object (an empty
//! body is an empty one), answers `application/x-amz-json-1.1`, errors
//! `{"__type": code, "message"}` with their HTTP status. Timestamps are
//! epoch seconds, as the operations write them.

use super::{AwsError, Invocation, TARGET_PREFIX};
use crate::api::AppState;
use axum::extract::{Request, State};
use axum::http::request::Parts;
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::Value;

/// The content type of JSON 1.1 answers.
const JSON_11: &str = "application/x-amz-json-1.1";

/// `POST /`: one CodePipeline call.
pub async fn json_rpc(State(state): State<AppState>, request: Request) -> Response {
    match super::call(&state, request, decode).await {
        Ok(output) => answer(StatusCode::OK, &output),
        Err(error) => answer(error.status, &error_body(&error)),
    }
}

/// The operation `X-Amz-Target` names and the body's input.
fn decode(parts: &Parts, body: &[u8]) -> Result<Invocation, AwsError> {
    let operation = target(parts)?.to_string();
    let input = input_of(body)?;
    Ok(Invocation { operation, input })
}

/// The operation in `X-Amz-Target: CodePipeline_20150709.<Operation>`.
fn target(parts: &Parts) -> Result<&str, AwsError> {
    let target = parts
        .headers
        .get("x-amz-target")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    target
        .strip_prefix(TARGET_PREFIX)
        .and_then(|t| t.strip_prefix('.'))
        .ok_or_else(|| {
            AwsError::new(
                "UnknownOperationException",
                format!(
                    "X-Amz-Target must be {TARGET_PREFIX}.<Operation>, not `{}`",
                    crate::text::line(target)
                ),
            )
        })
}

/// The input: a JSON object, or nothing for an empty one.
fn input_of(body: &[u8]) -> Result<Value, AwsError> {
    if body.is_empty() {
        return Ok(Value::Object(Default::default()));
    }
    let input: Value = serde_json::from_slice(body).map_err(|e| {
        AwsError::new(
            "SerializationException",
            format!("the body is not JSON: {e}"),
        )
    })?;
    if !input.is_object() {
        return Err(AwsError::new(
            "SerializationException",
            "the body must be a JSON object",
        ));
    }
    Ok(input)
}

/// An error's body: its name in `__type`, as JSON 1.1 has it.
fn error_body(error: &AwsError) -> Value {
    serde_json::json!({"__type": error.code, "message": error.message})
}

/// A JSON 1.1 answer with a request id, as AWS gives.
fn answer(status: StatusCode, body: &Value) -> Response {
    let mut response = (status, body.to_string()).into_response();
    let headers = response.headers_mut();
    headers.insert(
        axum::http::header::CONTENT_TYPE,
        HeaderValue::from_static(JSON_11),
    );
    if let Some(id) = super::request_id() {
        headers.insert("x-amzn-requestid", id);
    }
    response
}
