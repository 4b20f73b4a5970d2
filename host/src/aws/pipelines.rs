//! Pipeline CRUD in CodePipeline's shape: `GetPipeline`, `CreatePipeline`,
//! `UpdatePipeline`, `DeletePipeline`. One set of pipelines, two views: a
//! declaration is converted to Sluice's definition
//! ([`crate::model::codepipeline`]) and applied like any other, checked
//! against its providers (and, for AWS action types, the host's mapping);
//! a pipeline applied from YAML is answered in CodePipeline's shape.

use super::AwsError;
use super::operations::{current, read_error, required, seconds};
use crate::api::AppState;
use crate::engine::{Command, CommandError};
use crate::model::codepipeline::{self, Host};
use crate::model::{Loaded, Pipeline};
use crate::records::PipelineVersion;
use serde_json::{Value, json};

/// The account id in the ARNs Sluice answers.
pub const ACCOUNT: &str = "000000000000";

/// The region in the ARNs Sluice answers.
pub const REGION: &str = "local";

/// A pipeline's ARN.
pub fn pipeline_arn(name: &str) -> String {
    format!("arn:aws:codepipeline:{REGION}:{ACCOUNT}:{name}")
}

/// What this host answers for `roleArn` and `artifactStore`.
fn host(state: &AppState) -> Host {
    let location = crate::state_dir::StateDir::new(state.state_dir())
        .recorded_artifacts_url()
        .and_then(|url| {
            url.strip_prefix("s3://")
                .map(|rest| rest.split('/').next().unwrap_or_default().to_string())
        })
        .filter(|bucket| !bucket.is_empty())
        .unwrap_or_else(|| "sluice-local".to_string());
    Host {
        role_arn: format!("arn:aws:iam::{ACCOUNT}:role/sluice-host"),
        artifact_location: location,
    }
}

/// A version in CodePipeline's shape.
pub fn declaration(state: &AppState, version: &PipelineVersion) -> Value {
    let categories: Vec<Vec<_>> = version
        .resolved
        .iter()
        .map(|stage| stage.iter().map(|a| a.category).collect())
        .collect();
    codepipeline::to_declaration(
        &version.definition,
        &categories,
        version.version,
        &host(state),
    )
}

pub async fn get(state: &AppState, input: &Value) -> Result<Value, AwsError> {
    let name = required(input, "name")?.to_string();
    let latest = current(state, &name).await?;
    let version = match input.get("version").filter(|v| !v.is_null()) {
        None => latest.clone(),
        Some(v) => {
            let number = v
                .as_u64()
                .filter(|n| *n >= 1)
                .ok_or_else(|| AwsError::validation("version", "Member must be at least 1"))?;
            let wanted = name.clone();
            state
                .read(move |s| {
                    s.pipeline_version(&wanted, number as u32)
                        .map_err(crate::queries::OpError::internal)
                })
                .await
                .map_err(read_error)?
                .ok_or_else(|| {
                    AwsError::new(
                        "PipelineVersionNotFoundException",
                        format!("Pipeline '{name}' has no version {number}"),
                    )
                })?
        }
    };
    let first = {
        let wanted = name.clone();
        state
            .read(move |s| {
                s.pipeline_version(&wanted, 1)
                    .map_err(crate::queries::OpError::internal)
            })
            .await
            .map_err(read_error)?
    };
    Ok(json!({
        "pipeline": declaration(state, &version),
        "metadata": {
            "pipelineArn": pipeline_arn(&name),
            "created": seconds(first.map_or(latest.created_at, |v| v.created_at)),
            "updated": seconds(latest.created_at),
        },
    }))
}

/// The declaration of `input.pipeline`, converted; a member Sluice cannot
/// take is a `ValidationException` naming it.
fn converted(input: &Value) -> Result<Pipeline, AwsError> {
    let declaration = input
        .get("pipeline")
        .filter(|p| p.is_object())
        .ok_or_else(|| AwsError::validation("pipeline", "Member must not be null"))?;
    codepipeline::from_declaration(declaration)
        .map_err(|refused| AwsError::validation(&refused.field, refused.message))
}

/// Applies a converted declaration; the definition's first error is the
/// `ValidationException`, naming the member in CodePipeline's terms.
async fn apply(state: &AppState, pipeline: Pipeline, operation: &str) -> Result<u32, AwsError> {
    let base_dir = std::env::current_dir().map_err(|e| AwsError::internal(e.to_string()))?;
    let loaded = Loaded {
        pipeline,
        file: operation.to_string(),
        base_dir,
        map: Default::default(),
        warnings: Vec::new(),
    };
    match crate::api::apply_pipeline(state, &loaded).await {
        Ok(applied) => Ok(applied.version),
        Err(error) => {
            let error = error.0;
            let Some(first) = error
                .diagnostics
                .iter()
                .find(|d| d.severity == crate::model::Severity::Error)
            else {
                return Err(AwsError::new("InvalidStructureException", error.message));
            };
            let member = if first.path.is_empty() {
                "pipeline".to_string()
            } else {
                format!("pipeline.{}", aws_path(&first.path))
            };
            let more = error.diagnostics.len().saturating_sub(1);
            let message = if more > 0 {
                format!("{} ({more} more problems)", first.message)
            } else {
                first.message.clone()
            };
            Err(AwsError::validation(&member, message))
        }
    }
}

/// A definition path (`stages[1].actions[0].inputs[0]`) in CodePipeline's
/// member names (`stages[1].actions[0].inputArtifacts[0]`).
fn aws_path(path: &str) -> String {
    path.split('.')
        .map(|part| {
            let (name, index) = part.split_at(part.find('[').unwrap_or(part.len()));
            let name = match name {
                "inputs" => "inputArtifacts",
                "outputs" => "outputArtifacts",
                "provider" => "actionTypeId",
                "run_order" => "runOrder",
                "execution_mode" => "executionMode",
                "timeout" => "timeoutInMinutes",
                "default" => "defaultValue",
                "source" => "gitConfiguration.sourceActionName",
                other => other,
            };
            format!("{name}{index}")
        })
        .collect::<Vec<_>>()
        .join(".")
}

/// Whether pipeline `name` exists.
async fn exists(state: &AppState, name: &str) -> Result<bool, AwsError> {
    match current(state, name).await {
        Ok(_) => Ok(true),
        Err(e) if e.code == "PipelineNotFoundException" => Ok(false),
        Err(e) => Err(e),
    }
}

pub async fn create(state: &AppState, input: &Value) -> Result<Value, AwsError> {
    let pipeline = converted(input)?;
    let name = pipeline.name.clone();
    if exists(state, &name).await? {
        return Err(AwsError::new(
            "PipelineNameInUseException",
            format!("A pipeline with the name '{name}' already exists in the account"),
        ));
    }
    if let Some(tags) = input.get("tags").filter(|t| !t.is_null()) {
        super::tags::check(tags)?;
    }
    apply(state, pipeline, "CreatePipeline").await?;
    if let Some(tags) = input.get("tags").filter(|t| !t.is_null()) {
        super::tags::tag(state, &pipeline_arn(&name), tags).await?;
    }
    let version = current(state, &name).await?;
    Ok(
        json!({"pipeline": declaration(state, &version), "tags": super::tags::of(state, &pipeline_arn(&name)).await?}),
    )
}

pub async fn update(state: &AppState, input: &Value) -> Result<Value, AwsError> {
    let mut pipeline = converted(input)?;
    let now = current(state, &pipeline.name).await?;
    codepipeline::keep_host_settings(&now.definition, &mut pipeline);
    let name = pipeline.name.clone();
    apply(state, pipeline, "UpdatePipeline").await?;
    let version = current(state, &name).await?;
    Ok(json!({"pipeline": declaration(state, &version)}))
}

pub async fn delete(state: &AppState, input: &Value) -> Result<Value, AwsError> {
    let name = required(input, "name")?.to_string();
    // Deleting a pipeline that is not there succeeds, as on AWS.
    if !exists(state, &name).await? {
        return Ok(json!({}));
    }
    // As on AWS, executions in progress do not keep a pipeline: they are
    // stopped (their running actions abandoned) first.
    let delete = Command::Delete {
        pipeline: name.clone(),
        force: true,
    };
    match state.engine().command(delete).await {
        Ok(_) | Err(CommandError::UnknownPipeline { .. }) => {}
        Err(other) => return Err(super::operations::refused(other)),
    }
    super::tags::forget(state, &pipeline_arn(&name)).await?;
    state.changed(crate::api::Change::Pipeline { name });
    Ok(json!({}))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn definition_paths_are_named_as_codepipeline_names_them() {
        assert_eq!(
            aws_path("stages[1].actions[0].inputs[0]"),
            "stages[1].actions[0].inputArtifacts[0]"
        );
        assert_eq!(
            aws_path("stages[0].actions[2].provider"),
            "stages[0].actions[2].actionTypeId"
        );
        assert_eq!(
            aws_path("triggers[0].source"),
            "triggers[0].gitConfiguration.sourceActionName"
        );
        assert_eq!(aws_path("name"), "name");
    }
}
