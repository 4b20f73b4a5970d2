//! The job-worker protocol of custom actions.

use super::AwsError;
use crate::api::AppState;
use serde_json::Value;

pub async fn poll(
    _state: &AppState,
    _input: &Value,
    _third_party: bool,
) -> Result<Value, AwsError> {
    Err(AwsError::new(
        "UnsupportedOperationException",
        "Sluice does not answer PollForJobs yet",
    ))
}

pub async fn acknowledge(
    _state: &AppState,
    _input: &Value,
    _third_party: bool,
) -> Result<Value, AwsError> {
    Err(AwsError::new(
        "UnsupportedOperationException",
        "Sluice does not answer AcknowledgeJob yet",
    ))
}

pub async fn details(
    _state: &AppState,
    _input: &Value,
    _third_party: bool,
) -> Result<Value, AwsError> {
    Err(AwsError::new(
        "UnsupportedOperationException",
        "Sluice does not answer GetJobDetails yet",
    ))
}

pub async fn succeed(
    _state: &AppState,
    _input: &Value,
    _third_party: bool,
) -> Result<Value, AwsError> {
    Err(AwsError::new(
        "UnsupportedOperationException",
        "Sluice does not answer PutJobSuccessResult yet",
    ))
}

pub async fn fail(
    _state: &AppState,
    _input: &Value,
    _third_party: bool,
) -> Result<Value, AwsError> {
    Err(AwsError::new(
        "UnsupportedOperationException",
        "Sluice does not answer PutJobFailureResult yet",
    ))
}
