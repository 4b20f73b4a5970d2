//! Tags on what the CodePipeline API names by ARN: `TagResource`,
//! `UntagResource`, `ListTagsForResource`, and the `tags` of
//! `CreatePipeline`. Kept in the store by the resource's kind and name, so
//! a pipeline's go with it however it is deleted.

use super::AwsError;
use super::operations::{read_error, required};
use super::pipelines::{ACCOUNT, REGION};
use crate::api::AppState;
use serde_json::{Value, json};

/// What an ARN names: its kind (`pipeline`, `webhook`, `actiontype`) and name.
fn resource(arn: &str) -> Result<(&'static str, String), AwsError> {
    let invalid = || {
        AwsError::new(
            "InvalidArnException",
            format!(
                "`{}` is not the ARN of a pipeline, webhook or action type of this host (arn:aws:codepipeline:{REGION}:{ACCOUNT}:NAME)",
                crate::text::line(arn)
            ),
        )
    };
    let rest = arn
        .strip_prefix(&format!("arn:aws:codepipeline:{REGION}:{ACCOUNT}:"))
        .ok_or_else(invalid)?;
    let (kind, name) = if let Some(name) = rest.strip_prefix("webhook:") {
        ("webhook", name)
    } else if let Some(name) = rest.strip_prefix("actiontype:") {
        ("actiontype", name)
    } else {
        ("pipeline", rest)
    };
    if name.is_empty() {
        return Err(invalid());
    }
    Ok((kind, name.to_string()))
}

/// Finds the resource, or `ResourceNotFoundException`.
async fn existing(state: &AppState, arn: &str) -> Result<(&'static str, String), AwsError> {
    let (kind, name) = resource(arn)?;
    let found = match kind {
        "pipeline" => {
            let wanted = name.clone();
            state
                .read(move |s| {
                    s.current_pipeline(&wanted)
                        .map_err(crate::queries::OpError::internal)
                })
                .await
                .map_err(read_error)?
                .is_some()
        }
        "actiontype" => super::action_types::is_kept(state, &name).await?,
        "webhook" => {
            let wanted = name.clone();
            state
                .read(move |s| {
                    s.webhook(&wanted)
                        .map_err(crate::queries::OpError::internal)
                })
                .await
                .map_err(read_error)?
                .is_some()
        }
        _ => false,
    };
    if !found {
        return Err(AwsError::new(
            "ResourceNotFoundException",
            format!("The {kind} `{name}` was not found"),
        ));
    }
    Ok((kind, name))
}

/// Checks a `tags` list: `{key, value}` each, keys 1 to 128 characters and
/// not `aws:`-prefixed, values at most 256.
pub fn check(tags: &Value) -> Result<Vec<(String, String)>, AwsError> {
    let list = tags
        .as_array()
        .ok_or_else(|| AwsError::validation("tags", "Member must be a list"))?;
    let mut out = Vec::new();
    for tag in list {
        let key = required(tag, "key")?;
        let value = tag
            .get("value")
            .and_then(Value::as_str)
            .ok_or_else(|| AwsError::validation("tags.member.value", "Member must not be null"))?;
        if key.chars().count() > 128 || value.chars().count() > 256 {
            return Err(AwsError::validation(
                "tags.member",
                "keys are at most 128 characters, values at most 256",
            ));
        }
        if key.starts_with("aws:") {
            return Err(AwsError::new(
                "InvalidTagsException",
                format!("Tag key `{key}` is reserved: keys may not begin with aws:"),
            ));
        }
        out.push((key.to_string(), value.to_string()));
    }
    Ok(out)
}

/// Sets `tags` on the resource `arn` names (which must exist).
pub async fn tag(state: &AppState, arn: &str, tags: &Value) -> Result<(), AwsError> {
    let tags = check(tags)?;
    let (kind, name) = existing(state, arn).await?;
    let done = state
        .write(move |s| {
            s.tag(kind, &name, &tags)
                .map_err(crate::queries::OpError::internal)
        })
        .await
        .map_err(read_error)?;
    done.map_err(|count| {
        AwsError::new(
            "TooManyTagsException",
            format!(
                "a resource may have at most {} tags; this would make {count}",
                crate::store::MAX_TAGS
            ),
        )
    })
}

/// The resource's tags as the model lists them.
pub async fn of(state: &AppState, arn: &str) -> Result<Value, AwsError> {
    let (kind, name) = resource(arn)?;
    let tags = state
        .read(move |s| {
            s.tags(kind, &name)
                .map_err(crate::queries::OpError::internal)
        })
        .await
        .map_err(read_error)?;
    Ok(tags
        .into_iter()
        .map(|(key, value)| json!({"key": key, "value": value}))
        .collect())
}

/// Drops every tag of a resource that is gone.
pub async fn forget(state: &AppState, arn: &str) -> Result<(), AwsError> {
    let (kind, name) = resource(arn)?;
    state
        .write(move |s| {
            s.forget_tags(kind, &name)
                .map_err(crate::queries::OpError::internal)
        })
        .await
        .map_err(read_error)
}

pub async fn tag_resource(state: &AppState, input: &Value) -> Result<Value, AwsError> {
    let arn = required(input, "resourceArn")?;
    let tags = input
        .get("tags")
        .ok_or_else(|| AwsError::validation("tags", "Member must not be null"))?;
    tag(state, arn, tags).await?;
    Ok(json!({}))
}

pub async fn untag_resource(state: &AppState, input: &Value) -> Result<Value, AwsError> {
    let arn = required(input, "resourceArn")?;
    let keys: Vec<String> = input
        .get("tagKeys")
        .and_then(Value::as_array)
        .ok_or_else(|| AwsError::validation("tagKeys", "Member must not be null"))?
        .iter()
        .map(|k| {
            k.as_str()
                .map(str::to_string)
                .ok_or_else(|| AwsError::validation("tagKeys", "Member must be a list of strings"))
        })
        .collect::<Result<_, _>>()?;
    let (kind, name) = existing(state, arn).await?;
    state
        .write(move |s| {
            s.untag(kind, &name, &keys)
                .map_err(crate::queries::OpError::internal)
        })
        .await
        .map_err(read_error)?;
    Ok(json!({}))
}

pub async fn list(state: &AppState, input: &Value) -> Result<Value, AwsError> {
    let arn = required(input, "resourceArn")?;
    existing(state, arn).await?;
    // At most 50 tags: one page always holds them.
    Ok(json!({"tags": of(state, arn).await?}))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arns_name_a_kind_and_a_name() {
        let arn = |rest: &str| format!("arn:aws:codepipeline:{REGION}:{ACCOUNT}:{rest}");
        assert_eq!(
            resource(&arn("release")).unwrap(),
            ("pipeline", "release".into())
        );
        assert_eq!(
            resource(&arn("webhook:gh")).unwrap(),
            ("webhook", "gh".into())
        );
        assert_eq!(
            resource(&arn("actiontype:Custom/Deploy/X/1")).unwrap(),
            ("actiontype", "Custom/Deploy/X/1".into())
        );
        for bad in [arn(""), "arn:aws:s3:::bucket".into(), "release".into()] {
            assert_eq!(
                resource(&bad).unwrap_err().code,
                "InvalidArnException",
                "{bad}"
            );
        }
    }

    #[test]
    fn tags_are_checked() {
        assert_eq!(
            check(&json!([{"key": "team", "value": "a"}]))
                .unwrap()
                .len(),
            1
        );
        assert_eq!(
            check(&json!([{"key": "aws:x", "value": "a"}]))
                .unwrap_err()
                .code,
            "InvalidTagsException"
        );
        assert_eq!(
            check(&json!([{"key": "", "value": "a"}])).unwrap_err().code,
            "ValidationException"
        );
        assert_eq!(
            check(&json!({"key": "k"})).unwrap_err().code,
            "ValidationException"
        );
    }
}
