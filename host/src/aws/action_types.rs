//! Action types: `ListActionTypes`, `GetActionType`,
//! `CreateCustomActionType`, `UpdateActionType`, `DeleteCustomActionType`.

use super::AwsError;
use crate::api::AppState;
use serde_json::Value;

pub async fn list(_state: &AppState, _input: &Value) -> Result<Value, AwsError> {
    Err(AwsError::new(
        "UnsupportedOperationException",
        "Sluice does not answer ListActionTypes yet",
    ))
}

pub async fn get(_state: &AppState, _input: &Value) -> Result<Value, AwsError> {
    Err(AwsError::new(
        "UnsupportedOperationException",
        "Sluice does not answer GetActionType yet",
    ))
}

pub async fn create(_state: &AppState, _input: &Value) -> Result<Value, AwsError> {
    Err(AwsError::new(
        "UnsupportedOperationException",
        "Sluice does not answer CreateCustomActionType yet",
    ))
}

pub async fn update(_state: &AppState, _input: &Value) -> Result<Value, AwsError> {
    Err(AwsError::new(
        "UnsupportedOperationException",
        "Sluice does not answer UpdateActionType yet",
    ))
}

pub async fn delete(_state: &AppState, _input: &Value) -> Result<Value, AwsError> {
    Err(AwsError::new(
        "UnsupportedOperationException",
        "Sluice does not answer DeleteCustomActionType yet",
    ))
}
