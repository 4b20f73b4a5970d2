//! Webhooks: `PutWebhook`, `ListWebhooks`, `DeleteWebhook`,
//! `RegisterWebhookWithThirdParty`, `DeregisterWebhookWithThirdParty`.

use super::AwsError;
use crate::api::AppState;
use serde_json::Value;

pub async fn put(_state: &AppState, _input: &Value) -> Result<Value, AwsError> {
    Err(AwsError::new(
        "UnsupportedOperationException",
        "Sluice does not answer PutWebhook yet",
    ))
}

pub async fn list(_state: &AppState, _input: &Value) -> Result<Value, AwsError> {
    Err(AwsError::new(
        "UnsupportedOperationException",
        "Sluice does not answer ListWebhooks yet",
    ))
}

pub async fn delete(_state: &AppState, _input: &Value) -> Result<Value, AwsError> {
    Err(AwsError::new(
        "UnsupportedOperationException",
        "Sluice does not answer DeleteWebhook yet",
    ))
}

pub async fn register(
    _state: &AppState,
    _input: &Value,
    _register: bool,
) -> Result<Value, AwsError> {
    Err(AwsError::new(
        "UnsupportedOperationException",
        "Sluice does not answer this webhook operation yet",
    ))
}
