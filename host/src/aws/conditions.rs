//! The V2 operations on stage conditions, rules, rollbacks and deployment
//! targets: `ListRuleTypes`, `ListRuleExecutions`, `OverrideStageCondition`,
//! `RollbackStage`, `ListDeployActionExecutionTargets`. Sluice's engine has
//! no stage conditions, rules, rollbacks or deployment targets yet, so each
//! answers what AWS answers for a pipeline that has none of them: empty
//! lists, and the error AWS gives when there is nothing to override or
//! roll back; never a made-up success. Each still checks what it names
//! (pipeline, stage, execution), as AWS does.

use super::AwsError;
use super::operations::{current, execution_of, max_results, read_error, required};
use crate::api::AppState;
use serde_json::{Value, json};

/// The stage `stage` of pipeline `pipeline`, or `StageNotFoundException`.
async fn stage_of(state: &AppState, pipeline: &str, stage: &str) -> Result<(), AwsError> {
    let version = current(state, pipeline).await?;
    if version.definition.stages.iter().any(|s| s.name == stage) {
        Ok(())
    } else {
        Err(AwsError::new(
            "StageNotFoundException",
            format!("Stage '{stage}' does not exist in pipeline '{pipeline}'"),
        ))
    }
}

pub async fn list_rule_types(_state: &AppState, input: &Value) -> Result<Value, AwsError> {
    if let Some(owner) = input.get("ruleOwnerFilter").and_then(Value::as_str)
        && owner != "AWS"
    {
        return Err(AwsError::validation(
            "ruleOwnerFilter",
            "Member must satisfy enum value set: [AWS]",
        ));
    }
    // Sluice runs no rules: there are no rule types to list.
    Ok(json!({"ruleTypes": []}))
}

pub async fn list_rule_executions(state: &AppState, input: &Value) -> Result<Value, AwsError> {
    let pipeline = required(input, "pipelineName")?;
    max_results(input, 100, 100)?;
    current(state, pipeline).await?;
    if let Some(id) = input
        .get("filter")
        .and_then(|f| f.get("pipelineExecutionId"))
        .and_then(Value::as_str)
    {
        execution_of(state, pipeline, id).await?;
    }
    Ok(json!({"ruleExecutionDetails": []}))
}

pub async fn override_stage_condition(state: &AppState, input: &Value) -> Result<Value, AwsError> {
    let pipeline = required(input, "pipelineName")?;
    let stage = required(input, "stageName")?;
    let execution = required(input, "pipelineExecutionId")?;
    let kind = required(input, "conditionType")?;
    if !matches!(kind, "BEFORE_ENTRY" | "ON_SUCCESS") {
        return Err(AwsError::validation(
            "conditionType",
            "Member must satisfy enum value set: [BEFORE_ENTRY, ON_SUCCESS]",
        ));
    }
    stage_of(state, pipeline, stage).await?;
    execution_of(state, pipeline, execution).await?;
    Err(AwsError::new(
        "ConditionNotOverridableException",
        format!(
            "Stage '{stage}' has no {kind} condition in effect to override: Sluice's stages have no conditions yet"
        ),
    ))
}

pub async fn rollback_stage(state: &AppState, input: &Value) -> Result<Value, AwsError> {
    let pipeline = required(input, "pipelineName")?;
    let stage = required(input, "stageName")?;
    let target = required(input, "targetPipelineExecutionId")?;
    stage_of(state, pipeline, stage).await?;
    execution_of(state, pipeline, target).await?;
    Err(AwsError::new(
        "UnableToRollbackStageException",
        format!(
            "Unable to roll back stage '{stage}' to execution {target}: Sluice cannot roll back stages yet (retry or start an execution with that execution's sourceRevisions instead)"
        ),
    ))
}

pub async fn list_deploy_targets(state: &AppState, input: &Value) -> Result<Value, AwsError> {
    let id = required(input, "actionExecutionId")?.to_string();
    max_results(input, 100, 100)?;
    // The action execution must be one of the pipeline's (AWS's pipeline
    // name is optional; Sluice looks through the given pipeline's newest
    // executions, or every pipeline's).
    let pipelines: Vec<String> = match input.get("pipelineName").and_then(Value::as_str) {
        Some(name) => {
            current(state, name).await?;
            vec![name.to_string()]
        }
        None => state
            .read(|s| {
                s.list_pipelines()
                    .map_err(crate::queries::OpError::internal)
            })
            .await
            .map_err(read_error)?
            .into_iter()
            .map(|p| p.name)
            .collect(),
    };
    for pipeline in pipelines {
        let name = pipeline.clone();
        let recent = state
            .read(move |s| crate::queries::list_executions(s, &name, 100))
            .await
            .map_err(read_error)?;
        for summary in recent {
            let e = execution_of(state, &pipeline, &summary.id).await?;
            let found = e.stages.iter().any(|s| {
                s.actions.iter().any(|a| {
                    a.status.is_some()
                        && crate::records::action_execution_id(&e.id, &s.name, &a.name, a.attempt)
                            == id
                })
            });
            if found {
                // Sluice's deploy actions report no deployment targets.
                return Ok(json!({"targets": []}));
            }
        }
    }
    Err(AwsError::new(
        "ActionExecutionNotFoundException",
        format!("Action execution {id} was not found"),
    ))
}
