//! The job-worker protocol of custom actions: `PollForJobs`,
//! `AcknowledgeJob`, `GetJobDetails`, `PutJobSuccessResult`,
//! `PutJobFailureResult`, and their third-party variants. The engine
//! queues the jobs ([`crate::engine::external`]); a worker takes one
//! with the nonce a poll gave it, fetches its inputs and puts its outputs
//! through the S3 endpoint ([`super::s3`]) with the job's own
//! credentials, and puts its result, which the engine reads when it next
//! calls the action.
//!
//! A job dispatched and not acknowledged within [`REDELIVER_AFTER`] is
//! given to the next poll again, with a new nonce. A third-party job is
//! bound to the client token of its first acknowledgement: every later
//! call about it must give the same token.

use super::AwsError;
use super::operations::{read_error, required};
use super::pipelines::ACCOUNT;
use crate::api::AppState;
use crate::model::codepipeline::ActionTypeId;
use crate::queries::OpError;
use crate::records::now_millis;
use crate::store::AwsJob;
use serde_json::{Value, json};

/// How long a dispatched job waits for its acknowledgement before the
/// next poll is given it again.
pub const REDELIVER_AFTER: i64 = 60_000;

/// The action type a poll names.
fn polled_type(input: &Value, third_party: bool) -> Result<ActionTypeId, AwsError> {
    let id = input
        .get("actionTypeId")
        .filter(|v| v.is_object())
        .ok_or_else(|| AwsError::validation("actionTypeId", "Member must not be null"))?;
    let id = ActionTypeId {
        category: required(id, "category")?.to_string(),
        owner: required(id, "owner")?.to_string(),
        provider: required(id, "provider")?.to_string(),
        version: required(id, "version")?.to_string(),
    };
    id.check()
        .map_err(|m| AwsError::validation("actionTypeId", m))?;
    let wanted = if third_party { "ThirdParty" } else { "Custom" };
    if id.owner != wanted || !id.is_job_worker_type() {
        return Err(AwsError::validation(
            "actionTypeId.owner",
            format!(
                "{} polls for jobs of owner {wanted} only",
                if third_party {
                    "PollForThirdPartyJobs"
                } else {
                    "PollForJobs"
                }
            ),
        ));
    }
    Ok(id)
}

fn batch_size(input: &Value) -> Result<usize, AwsError> {
    match input.get("maxBatchSize") {
        None | Some(Value::Null) => Ok(1),
        Some(v) => v
            .as_u64()
            .filter(|n| (1..=100).contains(n))
            .map(|n| n as usize)
            .ok_or_else(|| AwsError::validation("maxBatchSize", "Member must be 1 to 100")),
    }
}

fn store_error(e: crate::store::StoreError) -> OpError {
    OpError::internal(e)
}

fn nonce() -> String {
    uuid::Uuid::now_v7().simple().to_string()
}

/// The job `jobId` names, or `JobNotFoundException`.
async fn job_of(state: &AppState, input: &Value) -> Result<AwsJob, AwsError> {
    let id = required(input, "jobId")?.to_string();
    let wanted = id.clone();
    state
        .read(move |s| s.aws_job(&wanted).map_err(store_error))
        .await
        .map_err(read_error)?
        .ok_or_else(|| AwsError::new("JobNotFoundException", format!("Job {id} was not found")))
}

/// A third-party call's client token, checked against the job's.
async fn check_client(state: &AppState, job: &AwsJob, input: &Value) -> Result<(), AwsError> {
    let token = required(input, "clientToken")?.to_string();
    let id = job.id.clone();
    let bound = state
        .write(move |s| s.bind_client_token(&id, &token).map_err(store_error))
        .await
        .map_err(read_error)?;
    if bound {
        Ok(())
    } else {
        Err(AwsError::new(
            "InvalidClientTokenException",
            format!("The client token does not match job {}'s", job.id),
        ))
    }
}

/// The job `jobId` names; for a third-party call, with its client token
/// checked.
async fn job_for(state: &AppState, input: &Value, third_party: bool) -> Result<AwsJob, AwsError> {
    let job = job_of(state, input).await?;
    if third_party {
        check_client(state, &job, input).await?;
    }
    Ok(job)
}

fn data(job: &AwsJob) -> Value {
    serde_json::from_str(&job.data).unwrap_or(Value::Null)
}

/// Whether the job's action configuration matches every `queryParam`.
fn matches_query(job: &AwsJob, query: &serde_json::Map<String, Value>) -> bool {
    let data = data(job);
    query.iter().all(|(k, v)| {
        data.pointer(&format!("/actionConfiguration/configuration/{k}"))
            .is_some_and(|have| have == v)
    })
}

pub async fn poll(state: &AppState, input: &Value, third_party: bool) -> Result<Value, AwsError> {
    let id = polled_type(input, third_party)?;
    let most = batch_size(input)?;
    let query = input
        .get("queryParam")
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default();
    if query.len() > 1 {
        return Err(AwsError::validation(
            "queryParam",
            "Member must have at most 1 entry",
        ));
    }
    let key = id.key();
    let known = {
        let (category, owner, provider, version) = (
            id.category.clone(),
            id.owner.clone(),
            id.provider.clone(),
            id.version.clone(),
        );
        state
            .read(move |s| {
                s.action_type(&category, &owner, &provider, &version)
                    .map_err(store_error)
            })
            .await
            .map_err(read_error)?
            .is_some()
    };
    if !known && !third_party {
        return Err(AwsError::new(
            "ActionTypeNotFoundException",
            format!("Action type {key} does not exist: CreateCustomActionType first"),
        ));
    }
    let now = now_millis();
    // A poll with a query only takes the jobs it matches.
    let jobs = state
        .write(move |s| {
            let mut taken = Vec::new();
            let candidates = s
                .dispatch_aws_jobs(
                    &key,
                    if query.is_empty() { most } else { 100 },
                    now,
                    now - REDELIVER_AFTER,
                    nonce,
                )
                .map_err(store_error)?;
            for job in candidates {
                if taken.len() < most && matches_query(&job, &query) {
                    taken.push(job);
                }
            }
            Ok(taken)
        })
        .await
        .map_err(read_error)?;
    let out: Vec<Value> = jobs
        .iter()
        .map(|job| {
            if third_party {
                json!({"clientId": job.id, "jobId": job.id})
            } else {
                json!({"id": job.id, "data": data(job), "nonce": job.nonce, "accountId": ACCOUNT})
            }
        })
        .collect();
    Ok(json!({"jobs": out}))
}

pub async fn acknowledge(
    state: &AppState,
    input: &Value,
    third_party: bool,
) -> Result<Value, AwsError> {
    let given = required(input, "nonce")?.to_string();
    let job = job_for(state, input, third_party).await?;
    let id = job.id.clone();
    let answer = state
        .write(move |s| {
            s.acknowledge_aws_job(&id, &given, now_millis())
                .map_err(store_error)
        })
        .await
        .map_err(read_error)?;
    match answer {
        None => Err(AwsError::new(
            "JobNotFoundException",
            format!("Job {} was not found", job.id),
        )),
        Some((_, false)) => Err(AwsError::new(
            "InvalidNonceException",
            format!("The nonce is not the one job {}'s latest poll gave", job.id),
        )),
        Some((status, true)) => Ok(json!({"status": status})),
    }
}

pub async fn details(
    state: &AppState,
    input: &Value,
    third_party: bool,
) -> Result<Value, AwsError> {
    let job = job_for(state, input, third_party).await?;
    Ok(if third_party {
        json!({"jobDetails": {"id": job.id, "data": data(&job), "nonce": job.nonce}})
    } else {
        json!({"jobDetails": {"id": job.id, "data": data(&job), "accountId": ACCOUNT}})
    })
}

/// Records a worker's result, refused unless the job is still the
/// worker's to finish.
async fn finish(
    state: &AppState,
    job: &AwsJob,
    succeeded: bool,
    result: Value,
) -> Result<(), AwsError> {
    let id = job.id.clone();
    let text = result.to_string();
    let done = state
        .write(move |s| {
            s.finish_aws_job(&id, succeeded, &text, now_millis())
                .map_err(store_error)
        })
        .await
        .map_err(read_error)?;
    if done {
        Ok(())
    } else {
        Err(AwsError::new(
            "InvalidJobStateException",
            format!(
                "Job {} cannot take a result now: it has one, or its action is no longer in progress (it was {})",
                job.id, job.state
            ),
        ))
    }
}

pub async fn succeed(
    state: &AppState,
    input: &Value,
    third_party: bool,
) -> Result<Value, AwsError> {
    let job = job_for(state, input, third_party).await?;
    let mut result = json!({});
    for member in ["currentRevision", "continuationToken", "executionDetails"] {
        if let Some(v) = input.get(member).filter(|v| !v.is_null()) {
            result[member] = v.clone();
        }
    }
    if let Some(variables) = input.get("outputVariables").filter(|v| !v.is_null()) {
        if third_party {
            return Err(AwsError::validation(
                "outputVariables",
                "is not a member of this operation",
            ));
        }
        if result.get("continuationToken").is_some() {
            return Err(AwsError::new(
                "OutputVariablesSizeExceededException",
                "outputVariables may be given only with no continuationToken",
            ));
        }
        let map = variables
            .as_object()
            .ok_or_else(|| AwsError::validation("outputVariables", "Member must be a map"))?;
        if map.values().any(|v| !v.is_string()) {
            return Err(AwsError::validation(
                "outputVariables",
                "values must be strings",
            ));
        }
        let size: usize = map
            .iter()
            .map(|(k, v)| k.len() + v.as_str().unwrap_or("").len())
            .sum();
        if size > 122_880 {
            return Err(AwsError::new(
                "OutputVariablesSizeExceededException",
                "outputVariables exceed 122,880 characters",
            ));
        }
        result["outputVariables"] = variables.clone();
    }
    finish(state, &job, true, result).await?;
    Ok(json!({}))
}

pub async fn fail(state: &AppState, input: &Value, third_party: bool) -> Result<Value, AwsError> {
    let job = job_for(state, input, third_party).await?;
    let details = input
        .get("failureDetails")
        .filter(|v| v.is_object())
        .ok_or_else(|| AwsError::validation("failureDetails", "Member must not be null"))?;
    let kind = required(details, "type")?;
    const KINDS: [&str; 6] = [
        "JobFailed",
        "ConfigurationError",
        "PermissionError",
        "RevisionOutOfSync",
        "RevisionUnavailable",
        "SystemUnavailable",
    ];
    if !KINDS.contains(&kind) {
        return Err(AwsError::validation(
            "failureDetails.type",
            format!("Member must satisfy enum value set: [{}]", KINDS.join(", ")),
        ));
    }
    required(details, "message")?;
    finish(state, &job, false, json!({"failureDetails": details})).await?;
    Ok(json!({}))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn polls_name_a_job_worker_type_of_their_owner() {
        let input = |owner: &str, provider: &str| json!({"actionTypeId": {"category": "Deploy", "owner": owner, "provider": provider, "version": "1"}});
        assert!(polled_type(&input("Custom", "Mine"), false).is_ok());
        assert!(polled_type(&input("ThirdParty", "Partner"), true).is_ok());
        assert!(polled_type(&input("AWS", "CodeDeploy"), false).is_err());
        assert!(polled_type(&input("Custom", "Mine"), true).is_err());
        assert!(polled_type(&input("ThirdParty", "GitHub"), true).is_err());
        assert_eq!(
            batch_size(&json!({"maxBatchSize": 0})).unwrap_err().code,
            "ValidationException"
        );
        assert_eq!(batch_size(&json!({})).unwrap(), 1);
    }
}
