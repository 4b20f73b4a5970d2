//! Action types: `ListActionTypes`, `GetActionType`,
//! `CreateCustomActionType`, `UpdateActionType`, `DeleteCustomActionType`.
//!
//! What the host defines is listed and read, never changed: every
//! built-in provider and installed plugin (owner `Custom`, the provider
//! reference as a declaration writes it as the provider's name, version
//! `1`), and the AWS-owned types the host runs on them
//! ([`crate::aws_types::SUPPORTED`], with AWS's documented configuration).
//! Custom action types are kept in the store, each as a [`Definition`]:
//! CodePipeline's `ActionType` shape, with what only `GetActionType`
//! answers (description, executor, permissions) beside it.

use super::AwsError;
use super::operations::read_error;
use super::pipelines::{ACCOUNT, REGION};
use crate::api::AppState;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

/// `ListActionTypes`' page (the model gives it no `maxResults`).
const PAGE: usize = 100;

/// The model's action categories (`ActionCategory`).
const CATEGORIES: [&str; 7] = [
    "Source", "Build", "Deploy", "Test", "Invoke", "Approval", "Compute",
];

/// The model's action owners (`ActionOwner`).
const OWNERS: [&str; 3] = ["AWS", "ThirdParty", "Custom"];

/// An action type's identity.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct Id {
    category: String,
    owner: String,
    provider: String,
    version: String,
}

impl Id {
    /// `Owner/Category/Provider/Version`: how its ARN names it, and the
    /// name its tags are kept under.
    fn resource_name(&self) -> String {
        format!(
            "{}/{}/{}/{}",
            self.owner, self.category, self.provider, self.version
        )
    }

    fn arn(&self) -> String {
        format!(
            "arn:aws:codepipeline:{REGION}:{ACCOUNT}:actiontype:{}",
            self.resource_name()
        )
    }

    fn not_found(&self) -> AwsError {
        AwsError::new(
            "ActionTypeNotFoundException",
            format!(
                "there is no action type with category {}, owner {}, provider {} and version {}",
                self.category,
                self.owner,
                crate::text::line(&self.provider),
                crate::text::line(&self.version)
            ),
        )
    }
}

/// The URLs of a custom action type (`ActionTypeSettings`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Settings {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    third_party_configuration_url: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    entity_url_template: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    execution_url_template: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    revision_url_template: Option<String>,
}

impl Settings {
    fn is_empty(&self) -> bool {
        *self == Settings::default()
    }

    /// The URL templates, by the member that holds each.
    fn templates(&self) -> [(&'static str, Option<&str>); 3] {
        [
            ("entityUrlTemplate", self.entity_url_template.as_deref()),
            (
                "executionUrlTemplate",
                self.execution_url_template.as_deref(),
            ),
            ("revisionUrlTemplate", self.revision_url_template.as_deref()),
        ]
    }
}

/// A configuration property (`ActionConfigurationProperty`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct Property {
    name: String,
    required: bool,
    key: bool,
    secret: bool,
    #[serde(default)]
    queryable: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    description: Option<String>,
    #[serde(rename = "type", default, skip_serializing_if = "Option::is_none")]
    kind: Option<String>,
}

/// Fewest and most artifacts (`ArtifactDetails`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Counts {
    minimum_count: u8,
    maximum_count: u8,
}

impl Counts {
    fn new(minimum_count: u8, maximum_count: u8) -> Counts {
        Counts {
            minimum_count,
            maximum_count,
        }
    }
}

/// An action type: what the store keeps of a custom one, and what the
/// host's own are made into to be listed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Definition {
    id: Id,
    #[serde(default, skip_serializing_if = "Settings::is_empty")]
    settings: Settings,
    #[serde(default)]
    action_configuration_properties: Vec<Property>,
    input_artifact_details: Counts,
    output_artifact_details: Counts,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    description: Option<String>,
    /// `ActionTypeExecutor`; `None` for a type the host runs itself.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    executor: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    permissions: Option<Value>,
}

impl Definition {
    /// As `ListActionTypes` and `CreateCustomActionType` answer it
    /// (`ActionType`).
    fn action_type(&self) -> Value {
        let mut out = json!({
            "id": self.id,
            "actionConfigurationProperties": self.action_configuration_properties,
            "inputArtifactDetails": self.input_artifact_details,
            "outputArtifactDetails": self.output_artifact_details,
        });
        if !self.settings.is_empty() {
            out["settings"] = json!(self.settings);
        }
        out
    }

    /// As `GetActionType` answers it (`ActionTypeDeclaration`).
    fn declaration(&self) -> Value {
        let properties: Vec<Value> = self
            .action_configuration_properties
            .iter()
            .map(|p| {
                let mut out = json!({
                    "name": p.name,
                    "optional": !p.required,
                    "key": p.key,
                    "noEcho": p.secret,
                    "queryable": p.queryable,
                });
                if let Some(description) = &p.description {
                    out["description"] = json!(description);
                }
                out
            })
            .collect();
        // A type the host runs has no job workers: nobody polls for it.
        let executor = self.executor.clone().unwrap_or_else(|| {
            json!({"configuration": {"jobWorkerExecutorConfiguration": {}}, "type": "JobWorker"})
        });
        let mut out = json!({
            "executor": executor,
            "id": self.id,
            "inputArtifactDetails": self.input_artifact_details,
            "outputArtifactDetails": self.output_artifact_details,
            "properties": properties,
        });
        if let Some(description) = &self.description {
            out["description"] = json!(description);
        }
        if let Some(permissions) = &self.permissions {
            out["permissions"] = permissions.clone();
        }
        let s = &self.settings;
        let mut urls = Map::new();
        for (member, value) in [
            ("configurationUrl", &s.third_party_configuration_url),
            ("entityUrlTemplate", &s.entity_url_template),
            ("executionUrlTemplate", &s.execution_url_template),
            ("revisionUrlTemplate", &s.revision_url_template),
        ] {
            if let Some(value) = value {
                urls.insert(member.into(), json!(value));
            }
        }
        if !urls.is_empty() {
            out["urls"] = Value::Object(urls);
        }
        out
    }

    /// AWS's rules across members: property names unique, at most one
    /// queryable property and that one required and not secret, and URL
    /// templates naming (`{Config:NAME}`) only required, non-secret
    /// properties. `properties` is the member the properties came in.
    fn check(&self, properties: &str, settings: &str) -> Result<(), AwsError> {
        let props = &self.action_configuration_properties;
        for (i, p) in props.iter().enumerate() {
            if props[..i].iter().any(|q| q.name == p.name) {
                return Err(AwsError::validation(
                    &format!("{properties}.{}.member.name", i + 1),
                    format!("property `{}` is given twice", p.name),
                ));
            }
        }
        let queryable: Vec<usize> = (0..props.len()).filter(|&i| props[i].queryable).collect();
        if queryable.len() > 1 {
            return Err(AwsError::validation(
                properties,
                "an action type may have at most one queryable property",
            ));
        }
        if let Some(&i) = queryable.first()
            && (!props[i].required || props[i].secret)
        {
            return Err(AwsError::validation(
                &format!("{properties}.{}.member.queryable", i + 1),
                format!(
                    "the queryable property `{}` must be required and not secret",
                    props[i].name
                ),
            ));
        }
        for (member, template) in self.settings.templates() {
            for name in template.into_iter().flat_map(config_references) {
                let usable = props
                    .iter()
                    .any(|p| p.name == name && p.required && !p.secret);
                if !usable {
                    return Err(AwsError::validation(
                        &format!("{settings}.{member}"),
                        format!(
                            "{{Config:{name}}} must name a configuration property that is required and not secret"
                        ),
                    ));
                }
            }
        }
        Ok(())
    }
}

/// The property names a URL template refers to as `{Config:NAME}`.
fn config_references(template: &str) -> Vec<&str> {
    let mut names = Vec::new();
    let mut rest = template;
    while let Some(at) = rest.find("{Config:") {
        rest = &rest[at + "{Config:".len()..];
        let Some(end) = rest.find('}') else { break };
        names.push(&rest[..end]);
        rest = &rest[end + 1..];
    }
    names
}

mod catalog;
mod validate;

pub(crate) use catalog::is_kept;
use catalog::*;
use validate::*;

pub async fn list(state: &AppState, input: &Value) -> Result<Value, AwsError> {
    let m = Members::of(input);
    let owner = match m.get("actionOwnerFilter") {
        None => None,
        Some(_) => Some(m.choice("actionOwnerFilter", &OWNERS)?),
    };
    let start = match m.get("nextToken") {
        None => 0,
        Some(token) => token
            .as_str()
            .and_then(|t| t.parse::<usize>().ok())
            .ok_or_else(|| {
                AwsError::new(
                    "InvalidNextTokenException",
                    "the next token is not one ListActionTypes gave",
                )
            })?,
    };
    // `regionFilter` is not read: this host is one region.
    let wants = |o: &str| owner.as_deref().is_none_or(|w| w == o);
    let mut all: Vec<Definition> = aws_types()
        .into_iter()
        .filter(|d| wants(&d.id.owner))
        .collect();
    if wants("Custom") {
        all.extend(builtins(state).await?.iter().cloned());
        all.extend(plugins(state).await?);
        all.extend(custom_types(state).await?);
    }
    if start > all.len() {
        return Err(AwsError::new(
            "InvalidNextTokenException",
            "the next token is not one ListActionTypes gave",
        ));
    }
    let end = (start + PAGE).min(all.len());
    let mut out = json!({
        "actionTypes": all[start..end].iter().map(Definition::action_type).collect::<Vec<_>>(),
    });
    if end < all.len() {
        out["nextToken"] = json!(end.to_string());
    }
    Ok(out)
}

pub async fn get(state: &AppState, input: &Value) -> Result<Value, AwsError> {
    let id = any_id(Members::of(input))?;
    let (definition, _) = find(state, &id).await?.ok_or_else(|| id.not_found())?;
    Ok(json!({"actionType": definition.declaration()}))
}

pub async fn create(state: &AppState, input: &Value) -> Result<Value, AwsError> {
    let definition = from_create_input(input)?;
    let arn = definition.id.arn();
    let tags = input.get("tags").filter(|t| !t.is_null());
    if let Some(tags) = tags {
        let checked = super::tags::check(tags)?;
        if checked.len() > crate::store::MAX_TAGS {
            return Err(AwsError::new(
                "TooManyTagsException",
                format!(
                    "a resource may have at most {} tags; this would make {}",
                    crate::store::MAX_TAGS,
                    checked.len()
                ),
            ));
        }
    }
    let text = serde_json::to_string(&definition)
        .map_err(|e| AwsError::internal(format!("cannot write the action type: {e}")))?;
    let id = definition.id.clone();
    let existing = state
        .write(move |s| {
            s.create_action_type(&id.category, &id.owner, &id.provider, &id.version, &text)
                .map_err(crate::queries::OpError::internal)
        })
        .await
        .map_err(read_error)?;
    // Created again as it is, it stays (as AWS restores a deleted type
    // from the same definition); another definition needs a new version.
    let current = match existing {
        None => definition,
        Some(text) => {
            let kept: Definition = serde_json::from_str(&text).map_err(|e| corrupt(&text, e))?;
            if kept.action_type() != definition.action_type() {
                return Err(AwsError::new(
                    "ValidationException",
                    format!(
                        "the custom action type {} exists with another definition: change it with UpdateActionType, or create it under a new version",
                        definition.id.resource_name()
                    ),
                ));
            }
            kept
        }
    };
    if let Some(tags) = tags {
        super::tags::tag(state, &arn, tags).await?;
    }
    Ok(json!({
        "actionType": current.action_type(),
        "tags": super::tags::of(state, &arn).await?,
    }))
}

pub async fn update(state: &AppState, input: &Value) -> Result<Value, AwsError> {
    let m = Members::of(input);
    let Some(declaration) = m.get("actionType") else {
        return Err(m.absent("actionType"));
    };
    if !declaration.is_object() {
        return Err(AwsError::validation(
            "actionType",
            "Member must be a structure",
        ));
    }
    let d = Members {
        value: declaration,
        path: "actionType",
    };
    let id = d.required_object("id", any_id)?;
    let defined_by_host = || {
        AwsError::validation(
            "actionType.id",
            format!(
                "the action type {} is defined by the host (a built-in provider, an installed plugin or an AWS type Sluice runs) and cannot be changed; only custom action types can",
                crate::text::line(&id.resource_name())
            ),
        )
    };
    let old = match find(state, &id).await? {
        Some((_, true)) => return Err(defined_by_host()),
        Some((old, false)) => old,
        None => return Err(id.not_found()),
    };
    let definition = from_declaration(d, id.clone(), &old)?;
    let text = serde_json::to_string(&definition)
        .map_err(|e| AwsError::internal(format!("cannot write the action type: {e}")))?;
    let key = id.clone();
    let updated = state
        .write(move |s| {
            s.update_action_type(
                &key.category,
                &key.owner,
                &key.provider,
                &key.version,
                &text,
            )
            .map_err(crate::queries::OpError::internal)
        })
        .await
        .map_err(read_error)?;
    if !updated {
        return Err(id.not_found());
    }
    Ok(json!({}))
}

pub async fn delete(state: &AppState, input: &Value) -> Result<Value, AwsError> {
    let id = custom_id(input)?;
    // Deleting a type that is not there succeeds: the model gives the
    // operation no not-found error.
    state
        .write(move |s| {
            s.delete_action_type(&id.category, &id.owner, &id.provider, &id.version)
                .map_err(crate::queries::OpError::internal)
        })
        .await
        .map_err(read_error)?;
    Ok(json!({}))
}

#[cfg(test)]
mod tests;
