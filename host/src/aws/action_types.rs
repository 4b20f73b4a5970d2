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

/// An input object's members, read by the model's constraints; errors
/// name the member as AWS does (`configurationProperties.2.member.name`).
#[derive(Clone, Copy)]
struct Members<'a> {
    value: &'a Value,
    path: &'a str,
}

impl<'a> Members<'a> {
    fn of(value: &'a Value) -> Members<'a> {
        Members { value, path: "" }
    }

    fn at(&self, member: &str) -> String {
        if self.path.is_empty() {
            member.to_string()
        } else {
            format!("{}.{member}", self.path)
        }
    }

    fn get(&self, member: &str) -> Option<&'a Value> {
        self.value.get(member).filter(|v| !v.is_null())
    }

    fn absent(&self, member: &str) -> AwsError {
        AwsError::validation(&self.at(member), "Member must not be null")
    }

    /// A string of `min` to `max` characters.
    fn string(&self, member: &str, min: usize, max: usize) -> Result<Option<String>, AwsError> {
        let Some(value) = self.get(member) else {
            return Ok(None);
        };
        let text = value
            .as_str()
            .ok_or_else(|| AwsError::validation(&self.at(member), "Member must be a string"))?;
        within(
            &self.at(member),
            text.chars().count() as i64,
            min as i64,
            max as i64,
            "length",
        )?;
        Ok(Some(text.to_string()))
    }

    fn required_string(&self, member: &str, min: usize, max: usize) -> Result<String, AwsError> {
        self.string(member, min, max)?
            .ok_or_else(|| self.absent(member))
    }

    /// One of `values`.
    fn choice(&self, member: &str, values: &[&str]) -> Result<String, AwsError> {
        let text = self.required_string(member, 1, 1024)?;
        if !values.contains(&text.as_str()) {
            return Err(AwsError::validation(
                &self.at(member),
                format!(
                    "Member must satisfy enum value set: [{}]",
                    values.join(", ")
                ),
            ));
        }
        Ok(text)
    }

    /// 1 to `max` characters of `[0-9A-Za-z_-]`: a provider's name or a
    /// version.
    fn name(&self, member: &str, max: usize) -> Result<String, AwsError> {
        let text = self.required_string(member, 1, max)?;
        if !text
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
        {
            return Err(AwsError::validation(
                &self.at(member),
                "Member must satisfy regular expression pattern: [0-9A-Za-z_-]+",
            ));
        }
        Ok(text)
    }

    fn boolean(&self, member: &str) -> Result<Option<bool>, AwsError> {
        self.get(member)
            .map(|v| {
                v.as_bool().ok_or_else(|| {
                    AwsError::validation(&self.at(member), "Member must be a boolean")
                })
            })
            .transpose()
    }

    fn required_boolean(&self, member: &str) -> Result<bool, AwsError> {
        self.boolean(member)?.ok_or_else(|| self.absent(member))
    }

    /// An integer from `min` to `max`.
    fn integer(&self, member: &str, min: i64, max: i64) -> Result<Option<i64>, AwsError> {
        let Some(value) = self.get(member) else {
            return Ok(None);
        };
        let n = value
            .as_i64()
            .ok_or_else(|| AwsError::validation(&self.at(member), "Member must be an integer"))?;
        within(&self.at(member), n, min, max, "value")?;
        Ok(Some(n))
    }

    /// Runs `read` on the object `member`, with its path.
    fn object<T>(
        &self,
        member: &str,
        read: impl FnOnce(Members<'_>) -> Result<T, AwsError>,
    ) -> Result<Option<T>, AwsError> {
        let Some(value) = self.get(member) else {
            return Ok(None);
        };
        let path = self.at(member);
        if !value.is_object() {
            return Err(AwsError::validation(&path, "Member must be a structure"));
        }
        read(Members { value, path: &path }).map(Some)
    }

    fn required_object<T>(
        &self,
        member: &str,
        read: impl FnOnce(Members<'_>) -> Result<T, AwsError>,
    ) -> Result<T, AwsError> {
        self.object(member, read)?
            .ok_or_else(|| self.absent(member))
    }

    /// Runs `read` on each item of the list `member` (`min` to `max`
    /// items when given), with its path.
    fn list<T>(
        &self,
        member: &str,
        min: usize,
        max: usize,
        mut read: impl FnMut(Members<'_>) -> Result<T, AwsError>,
    ) -> Result<Option<Vec<T>>, AwsError> {
        let Some(value) = self.get(member) else {
            return Ok(None);
        };
        let path = self.at(member);
        let items = value
            .as_array()
            .ok_or_else(|| AwsError::validation(&path, "Member must be a list"))?;
        within(&path, items.len() as i64, min as i64, max as i64, "length")?;
        let mut out = Vec::with_capacity(items.len());
        for (i, item) in items.iter().enumerate() {
            let path = format!("{path}.{}.member", i + 1);
            out.push(read(Members {
                value: item,
                path: &path,
            })?);
        }
        Ok(Some(out))
    }

    /// A list of strings, each checked by `check`.
    fn strings(
        &self,
        member: &str,
        min: usize,
        max: usize,
        check: impl Fn(&str) -> Result<(), String>,
    ) -> Result<Option<Vec<String>>, AwsError> {
        self.list(member, min, max, |item| {
            let text = item
                .value
                .as_str()
                .ok_or_else(|| AwsError::validation(item.path, "Member must be a string"))?;
            check(text).map_err(|message| AwsError::validation(item.path, message))?;
            Ok(text.to_string())
        })
    }
}

/// Checks that `n`, the `what` (length, value) of the member at `path`, is
/// from `min` to `max`.
fn within(path: &str, n: i64, min: i64, max: i64, what: &str) -> Result<(), AwsError> {
    if n < min {
        return Err(AwsError::validation(
            path,
            format!("Member must have {what} greater than or equal to {min}"),
        ));
    }
    if n > max {
        return Err(AwsError::validation(
            path,
            format!("Member must have {what} less than or equal to {max}"),
        ));
    }
    Ok(())
}

/// The identity `CreateCustomActionType` and `DeleteCustomActionType`
/// take: category, provider and version of a type owned `Custom`.
fn custom_id(input: &Value) -> Result<Id, AwsError> {
    let m = Members::of(input);
    Ok(Id {
        category: m.choice("category", &CATEGORIES)?,
        owner: "Custom".into(),
        provider: m.name("provider", 35)?,
        version: m.name("version", 9)?,
    })
}

/// An identity as `GetActionType` and `UpdateActionType` take it: any
/// owner, and a provider that may be a Sluice reference.
fn any_id(m: Members<'_>) -> Result<Id, AwsError> {
    Ok(Id {
        category: m.choice("category", &CATEGORIES)?,
        owner: m.choice("owner", &OWNERS)?,
        provider: m.required_string("provider", 1, 1024)?,
        version: m.required_string("version", 1, 9)?,
    })
}

/// `ArtifactDetails` (0 to `most` each, the fewest not above the most).
fn counts(m: Members<'_>, member: &str, most: i64) -> Result<Counts, AwsError> {
    m.required_object(member, |d| {
        let min = d
            .integer("minimumCount", 0, most)?
            .ok_or_else(|| d.absent("minimumCount"))?;
        let max = d
            .integer("maximumCount", 0, most)?
            .ok_or_else(|| d.absent("maximumCount"))?;
        if min > max {
            return Err(AwsError::validation(
                &d.at("minimumCount"),
                format!("the minimum count ({min}) is above the maximum count ({max})"),
            ));
        }
        Ok(Counts::new(min as u8, max as u8))
    })
}

/// `CreateCustomActionType`'s input as the definition kept.
fn from_create_input(input: &Value) -> Result<Definition, AwsError> {
    let m = Members::of(input);
    let id = custom_id(input)?;
    let settings = m
        .object("settings", |s| {
            Ok(Settings {
                third_party_configuration_url: s.string("thirdPartyConfigurationUrl", 1, 2048)?,
                entity_url_template: s.string("entityUrlTemplate", 1, 2048)?,
                execution_url_template: s.string("executionUrlTemplate", 1, 2048)?,
                revision_url_template: s.string("revisionUrlTemplate", 1, 2048)?,
            })
        })?
        .unwrap_or_default();
    let properties = m
        .list("configurationProperties", 0, 10, |p| {
            Ok(Property {
                name: p.required_string("name", 1, 50)?,
                required: p.required_boolean("required")?,
                key: p.required_boolean("key")?,
                secret: p.required_boolean("secret")?,
                queryable: p.boolean("queryable")?.unwrap_or(false),
                description: p.string("description", 1, 160)?,
                kind: match p.get("type") {
                    None => None,
                    Some(_) => Some(p.choice("type", &["String", "Number", "Boolean"])?),
                },
            })
        })?
        .unwrap_or_default();
    let definition = Definition {
        id,
        settings,
        action_configuration_properties: properties,
        input_artifact_details: counts(m, "inputArtifactDetails", 5)?,
        output_artifact_details: counts(m, "outputArtifactDetails", 5)?,
        description: None,
        executor: Some(job_worker(None)),
        permissions: None,
    };
    definition.check("configurationProperties", "settings")?;
    Ok(definition)
}

/// A job-worker executor; by default polled by this host's account.
fn job_worker(configuration: Option<Value>) -> Value {
    json!({
        "configuration": {
            "jobWorkerExecutorConfiguration": configuration
                .unwrap_or_else(|| json!({"pollingAccounts": [ACCOUNT]})),
        },
        "type": "JobWorker",
    })
}

/// `UpdateActionType`'s declaration as the definition kept, in place of
/// `old` (whose properties' `type`, which a declaration cannot say, stays
/// with a property of the same name).
fn from_declaration(m: Members<'_>, id: Id, old: &Definition) -> Result<Definition, AwsError> {
    let executor = m.required_object("executor", |e| {
        let kind = e.choice("type", &["JobWorker", "Lambda"])?;
        if kind == "Lambda" {
            return Err(AwsError::validation(
                &e.at("type"),
                "Sluice runs no Lambda functions: a custom action type's executor is JobWorker, its jobs polled with PollForJobs",
            ));
        }
        let worker = e.required_object("configuration", |c| {
            if c.get("lambdaExecutorConfiguration").is_some() {
                return Err(AwsError::validation(
                    &c.at("lambdaExecutorConfiguration"),
                    "a JobWorker executor has no Lambda configuration",
                ));
            }
            c.object("jobWorkerExecutorConfiguration", |w| {
                let mut out = Map::new();
                let account = |s: &str| {
                    (s.len() == 12 && s.bytes().all(|b| b.is_ascii_digit()))
                        .then_some(())
                        .ok_or_else(|| {
                            "Member must satisfy regular expression pattern: [0-9]{12}".to_string()
                        })
                };
                if let Some(accounts) = w.strings("pollingAccounts", 1, 1000, account)? {
                    out.insert("pollingAccounts".into(), json!(accounts));
                }
                let principal = |s: &str| {
                    (1..=128)
                        .contains(&s.chars().count())
                        .then_some(())
                        .ok_or_else(|| "Member must have length from 1 to 128".to_string())
                };
                if let Some(principals) = w.strings("pollingServicePrincipals", 1, 10, principal)? {
                    out.insert("pollingServicePrincipals".into(), json!(principals));
                }
                Ok(Value::Object(out))
            })
        })?;
        let mut executor = job_worker(Some(worker.unwrap_or_else(|| json!({}))));
        if let Some(template) = e.string("policyStatementsTemplate", 1, 2048)? {
            executor["policyStatementsTemplate"] = json!(template);
        }
        if let Some(timeout) = e.integer("jobTimeout", 60, 43200)? {
            executor["jobTimeout"] = json!(timeout);
        }
        Ok(executor)
    })?;
    let properties = m
        .list("properties", 0, 10, |p| {
            let name = p.required_string("name", 1, 50)?;
            let kind = old
                .action_configuration_properties
                .iter()
                .find(|o| o.name == name)
                .and_then(|o| o.kind.clone());
            Ok(Property {
                required: !p.required_boolean("optional")?,
                key: p.required_boolean("key")?,
                secret: p.required_boolean("noEcho")?,
                queryable: p.boolean("queryable")?.unwrap_or(false),
                description: p.string("description", 1, 250)?,
                kind,
                name,
            })
        })?
        .unwrap_or_default();
    let settings = m
        .object("urls", |u| {
            Ok(Settings {
                third_party_configuration_url: u.string("configurationUrl", 1, 2048)?,
                entity_url_template: u.string("entityUrlTemplate", 1, 2048)?,
                execution_url_template: u.string("executionUrlTemplate", 1, 2048)?,
                revision_url_template: u.string("revisionUrlTemplate", 1, 2048)?,
            })
        })?
        .unwrap_or_default();
    let permissions = m.object("permissions", |p| {
        let account = |s: &str| {
            (s == "*" || (s.len() == 12 && s.bytes().all(|b| b.is_ascii_digit())))
                .then_some(())
                .ok_or_else(|| {
                    "Member must satisfy regular expression pattern: [0-9]{12}|\\*".to_string()
                })
        };
        let accounts = p
            .strings("allowedAccounts", 1, 1000, account)?
            .ok_or_else(|| p.absent("allowedAccounts"))?;
        Ok(json!({"allowedAccounts": accounts}))
    })?;
    let definition = Definition {
        id,
        settings,
        action_configuration_properties: properties,
        input_artifact_details: counts(m, "inputArtifactDetails", 10)?,
        output_artifact_details: counts(m, "outputArtifactDetails", 10)?,
        description: m.string("description", 1, 1024)?,
        executor: Some(executor),
        permissions,
    };
    definition.check(&m.at("properties"), &m.at("urls"))?;
    Ok(definition)
}

/// A configuration property of an AWS-owned type, as AWS documents it:
/// name, required, key, secret, type, description.
type AwsProperty = (&'static str, bool, bool, bool, &'static str, &'static str);

/// An AWS-owned type: its name (`Category/Owner/Provider/Version`), its
/// properties, and its fewest and most inputs and outputs.
type AwsType = (&'static str, &'static [AwsProperty], [u8; 2], [u8; 2]);

/// Each AWS-owned type of [`crate::aws_types::SUPPORTED`].
#[rustfmt::skip]
const AWS_TYPES: &[AwsType] = &[
    ("Source/AWS/CodeCommit/1", &[
        ("RepositoryName", true, true, false, "String", "The name of the repository where source changes are to be detected."),
        ("BranchName", true, true, false, "String", "The name of the branch where source changes are to be detected."),
        ("PollForSourceChanges", false, false, false, "Boolean", "Whether CodePipeline polls the repository for source changes."),
        ("OutputArtifactFormat", false, false, false, "String", "CODE_ZIP (the default) or CODEBUILD_CLONE_REF."),
    ], [0, 0], [1, 1]),
    ("Source/AWS/CodeStarSourceConnection/1", &[
        ("ConnectionArn", true, true, false, "String", "The ARN of the connection to the repository's provider."),
        ("FullRepositoryId", true, true, false, "String", "The owner and name of the repository, as owner/name."),
        ("BranchName", true, true, false, "String", "The name of the branch where source changes are to be detected."),
        ("OutputArtifactFormat", false, false, false, "String", "CODE_ZIP (the default) or CODEBUILD_CLONE_REF."),
        ("DetectChanges", false, false, false, "Boolean", "Whether a change on the branch starts the pipeline."),
    ], [0, 0], [1, 1]),
    ("Source/ThirdParty/GitHub/1", &[
        ("Owner", true, true, false, "String", "The GitHub user or organization that owns the repository."),
        ("Repo", true, true, false, "String", "The name of the repository."),
        ("Branch", true, true, false, "String", "The name of the branch where source changes are to be detected."),
        ("OAuthToken", true, false, true, "String", "The token that authenticates CodePipeline to GitHub."),
        ("PollForSourceChanges", false, false, false, "Boolean", "Whether CodePipeline polls the repository for source changes."),
    ], [0, 0], [1, 1]),
    ("Approval/AWS/Manual/1", &[
        ("NotificationArn", false, false, false, "String", "The ARN of the SNS topic told that approval is needed."),
        ("CustomData", false, false, false, "String", "Comments shown to the reviewer."),
        ("ExternalEntityLink", false, false, false, "String", "A URL the reviewer is asked to look at."),
    ], [0, 0], [0, 0]),
    ("Build/AWS/CodeBuild/1", &[
        ("ProjectName", true, true, false, "String", "The name of the build project."),
        ("PrimarySource", false, false, false, "String", "The input artifact the buildspec is read from, when there are several."),
        ("EnvironmentVariables", false, false, false, "String", "A JSON array of environment variables for the build."),
        ("BatchEnabled", false, false, false, "Boolean", "Whether the build runs as a batch."),
        ("CombineArtifacts", false, false, false, "Boolean", "Whether a batch's artifacts are combined into one."),
    ], [1, 5], [0, 5]),
    ("Test/AWS/CodeBuild/1", &[
        ("ProjectName", true, true, false, "String", "The name of the build project."),
        ("PrimarySource", false, false, false, "String", "The input artifact the buildspec is read from, when there are several."),
        ("EnvironmentVariables", false, false, false, "String", "A JSON array of environment variables for the build."),
        ("BatchEnabled", false, false, false, "Boolean", "Whether the build runs as a batch."),
        ("CombineArtifacts", false, false, false, "Boolean", "Whether a batch's artifacts are combined into one."),
    ], [1, 5], [0, 5]),
    ("Invoke/AWS/Lambda/1", &[
        ("FunctionName", true, true, false, "String", "The name of the function to invoke."),
        ("UserParameters", false, false, false, "String", "A string given to the function as its parameters."),
    ], [0, 5], [0, 5]),
];

/// The AWS-owned types the host runs, as definitions.
fn aws_types() -> Vec<Definition> {
    crate::aws_types::SUPPORTED
        .iter()
        .filter_map(|(name, runs_on)| {
            let parts: Vec<&str> = name.split('/').collect();
            let [category, owner, provider, version] = parts[..] else {
                return None;
            };
            let known = AWS_TYPES.iter().find(|(n, ..)| n == name);
            // A type the table lacks is still listed, with its category's
            // usual artifacts and no properties.
            let (properties, inputs, outputs) = match known {
                Some((_, properties, inputs, outputs)) => (*properties, *inputs, *outputs),
                None if category == "Source" => (&[][..], [0, 0], [1, 1]),
                None => (&[][..], [0, 5], [0, 5]),
            };
            Some(Definition {
                id: Id {
                    category: category.into(),
                    owner: owner.into(),
                    provider: provider.into(),
                    version: version.into(),
                },
                settings: Settings::default(),
                action_configuration_properties: properties
                    .iter()
                    .map(
                        |&(name, required, key, secret, kind, description)| Property {
                            name: name.into(),
                            required,
                            key,
                            secret,
                            queryable: false,
                            description: Some(description.into()),
                            kind: Some(kind.into()),
                        },
                    )
                    .collect(),
                input_artifact_details: Counts::new(inputs[0], inputs[1]),
                output_artifact_details: Counts::new(outputs[0], outputs[1]),
                description: Some(format!("Runs on {runs_on}.")),
                executor: None,
                permissions: None,
            })
        })
        .collect()
}

/// A provider of the host (a built-in or an installed plugin) as an
/// action type.
fn host_type(
    reference: String,
    descriptor_category: crate::contract::Category,
    description: &str,
    properties: &[crate::contract::Property],
    inputs: [u8; 2],
    outputs: [u8; 2],
) -> Definition {
    Definition {
        id: Id {
            category: crate::model::codepipeline::category_name(descriptor_category).into(),
            owner: "Custom".into(),
            provider: reference,
            version: "1".into(),
        },
        settings: Settings::default(),
        action_configuration_properties: properties
            .iter()
            .map(|p| Property {
                name: p.name.clone(),
                required: p.required,
                key: false,
                secret: p.secret,
                queryable: false,
                description: (!p.description.is_empty()).then(|| p.description.clone()),
                kind: None,
            })
            .collect(),
        input_artifact_details: Counts::new(inputs[0], inputs[1]),
        output_artifact_details: Counts::new(outputs[0], outputs[1]),
        description: (!description.is_empty()).then(|| description.to_string()),
        executor: None,
        permissions: None,
    }
}

/// The built-in providers as action types. Describing them loads
/// (compiles) each component, so it is done once per process.
async fn builtins(state: &AppState) -> Result<&'static [Definition], AwsError> {
    static BUILTINS: tokio::sync::OnceCell<Vec<Definition>> = tokio::sync::OnceCell::const_new();
    let described = BUILTINS
        .get_or_try_init(|| async {
            let started = std::time::Instant::now();
            let base = state.state_dir().to_path_buf();
            let sandbox = state
                .catalog(&base)
                .map_err(|e| AwsError::internal(e.message))?
                .sandbox()
                .clone();
            // No component store: listing keeps nothing.
            let catalog = crate::providers::Catalog::new(sandbox, &base, None);
            let resolving = crate::providers::builtins().iter().map(|builtin| {
                let reference = format!("builtin:{}", builtin.name);
                let catalog = &catalog;
                async move {
                    let resolved = catalog.resolve(&reference).await.map_err(|e| {
                        AwsError::internal(format!("cannot describe {reference}: {e}"))
                    })?;
                    let d = &resolved.descriptor;
                    Ok::<_, AwsError>(host_type(
                        reference,
                        d.action_type.category,
                        &d.description,
                        &d.properties,
                        [d.min_inputs, d.max_inputs],
                        [d.min_outputs, d.max_outputs],
                    ))
                }
            });
            let described = futures_util::future::try_join_all(resolving).await?;
            tracing::info!(
                providers = described.len(),
                elapsed_ms = started.elapsed().as_millis() as u64,
                "described the built-in providers for ListActionTypes"
            );
            Ok(described)
        })
        .await?;
    Ok(described)
}

/// The installed plugins as action types, each version its own
/// (`owner/name@=VERSION`), from its install record.
async fn plugins(state: &AppState) -> Result<Vec<Definition>, AwsError> {
    let registry = crate::packages::PluginRegistry::new(state.state_dir());
    let installed = tokio::task::spawn_blocking(move || registry.list())
        .await
        .map_err(|e| AwsError::internal(format!("listing the plugins failed: {e}")))?
        .map_err(|e| AwsError::internal(e.to_string()))?;
    Ok(installed
        .iter()
        .map(|i| {
            let m = &i.manifest;
            host_type(
                format!("{}@={}", i.name, i.version),
                m.action_type.category,
                &m.description,
                &m.properties,
                m.inputs,
                m.outputs,
            )
        })
        .collect())
}

fn corrupt(text: &str, e: serde_json::Error) -> AwsError {
    AwsError::internal(format!(
        "a stored custom action type cannot be read ({e}): {}",
        crate::text::line(text)
    ))
}

/// Every custom action type the store keeps.
async fn custom_types(state: &AppState) -> Result<Vec<Definition>, AwsError> {
    let texts = state
        .read(|s| s.action_types().map_err(crate::queries::OpError::internal))
        .await
        .map_err(read_error)?;
    texts
        .iter()
        .map(|t| serde_json::from_str(t).map_err(|e| corrupt(t, e)))
        .collect()
}

/// The custom action type `id` names, if the store keeps it.
async fn custom_type(state: &AppState, id: &Id) -> Result<Option<Definition>, AwsError> {
    let wanted = id.clone();
    let text = state
        .read(move |s| {
            s.action_type(
                &wanted.category,
                &wanted.owner,
                &wanted.provider,
                &wanted.version,
            )
            .map_err(crate::queries::OpError::internal)
        })
        .await
        .map_err(read_error)?;
    text.map(|t| serde_json::from_str(&t).map_err(|e| corrupt(&t, e)))
        .transpose()
}

/// Whether a provider's name is a Sluice provider reference, which no
/// custom action type's name (`[0-9A-Za-z_-]+`) is.
fn is_reference(provider: &str) -> bool {
    provider.contains(':') || provider.contains('/') || provider.ends_with(".wasm")
}

/// The action type `id` names, and whether the host defines it.
async fn find(state: &AppState, id: &Id) -> Result<Option<(Definition, bool)>, AwsError> {
    let host = match (id.owner.as_str(), id.provider.as_str()) {
        ("Custom", p) if p.starts_with("builtin:") => builtins(state).await?.to_vec(),
        ("Custom", p) if is_reference(p) => plugins(state).await?,
        ("Custom", _) => return Ok(custom_type(state, id).await?.map(|d| (d, false))),
        _ => aws_types(),
    };
    Ok(host.into_iter().find(|d| d.id == *id).map(|d| (d, true)))
}

/// Whether the store keeps the custom action type an ARN's
/// `Owner/Category/Provider/Version` names (for its tags).
pub(super) async fn is_kept(state: &AppState, name: &str) -> Result<bool, AwsError> {
    let parts: Vec<&str> = name.split('/').collect();
    let [owner, category, provider, version] = parts[..] else {
        return Ok(false);
    };
    let id = Id {
        category: category.into(),
        owner: owner.into(),
        provider: provider.into(),
        version: version.into(),
    };
    Ok(owner == "Custom" && custom_type(state, &id).await?.is_some())
}

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
mod tests {
    use super::*;

    fn deployer() -> Value {
        json!({
            "category": "Deploy",
            "provider": "MyDeployer",
            "version": "1",
            "settings": {
                "entityUrlTemplate": "https://deploy.example.com/{Config:Environment}",
                "executionUrlTemplate": "https://deploy.example.com/runs/{ExternalExecutionId}",
            },
            "configurationProperties": [
                {"name": "Environment", "required": true, "key": true, "secret": false,
                 "queryable": true, "description": "Where to deploy", "type": "String"},
                {"name": "Token", "required": false, "key": false, "secret": true},
            ],
            "inputArtifactDetails": {"minimumCount": 1, "maximumCount": 1},
            "outputArtifactDetails": {"minimumCount": 0, "maximumCount": 0},
        })
    }

    /// The member a refused input names, and its error code.
    fn refusal(input: &Value) -> (String, &'static str) {
        let e = from_create_input(input).unwrap_err();
        let member = e.message.split('\'').nth(1).unwrap_or_default().to_string();
        (member, e.code)
    }

    /// `input` with the member at `pointer` set to `value`.
    fn with(mut input: Value, pointer: &str, value: Value) -> Value {
        let (parent, last) = pointer.rsplit_once('/').unwrap();
        match input.pointer_mut(parent).unwrap() {
            Value::Array(items) => items[last.parse::<usize>().unwrap()] = value,
            object => object[last] = value,
        }
        input
    }

    #[test]
    fn a_custom_action_type_is_kept_in_the_action_type_shape() {
        let d = from_create_input(&deployer()).unwrap();
        assert_eq!(d.id.owner, "Custom");
        assert_eq!(d.id.resource_name(), "Custom/Deploy/MyDeployer/1");
        assert_eq!(
            d.id.arn(),
            "arn:aws:codepipeline:local:000000000000:actiontype:Custom/Deploy/MyDeployer/1"
        );
        let shape = d.action_type();
        assert_eq!(shape["id"]["provider"], "MyDeployer");
        assert_eq!(shape["actionConfigurationProperties"][0]["type"], "String");
        assert_eq!(
            shape["actionConfigurationProperties"][1]["queryable"],
            false
        );
        assert_eq!(shape["inputArtifactDetails"]["maximumCount"], 1);
        assert!(shape.get("executor").is_none(), "{shape}");
        // What the store keeps reads back the same.
        let text = serde_json::to_string(&d).unwrap();
        assert_eq!(serde_json::from_str::<Definition>(&text).unwrap(), d);
        // As GetActionType answers it.
        let decl = d.declaration();
        assert_eq!(decl["properties"][0]["optional"], false);
        assert_eq!(decl["properties"][1]["noEcho"], true);
        assert!(decl["properties"][0].get("type").is_none());
        assert_eq!(
            decl["urls"]["entityUrlTemplate"],
            "https://deploy.example.com/{Config:Environment}"
        );
        assert_eq!(decl["executor"]["type"], "JobWorker");
        assert_eq!(
            decl["executor"]["configuration"]["jobWorkerExecutorConfiguration"]["pollingAccounts"],
            json!([ACCOUNT])
        );
    }

    #[test]
    fn create_inputs_are_refused_by_the_models_rules_naming_the_member() {
        let v = ValidationCase::new;
        for case in [
            v("/category", json!("Lint"), "category"),
            v("/provider", json!("my deployer"), "provider"),
            v("/provider", json!("x".repeat(36)), "provider"),
            v("/version", json!("1234567890"), "version"),
            v("/version", json!(""), "version"),
            v(
                "/inputArtifactDetails/maximumCount",
                json!(6),
                "inputArtifactDetails.maximumCount",
            ),
            v(
                "/outputArtifactDetails/minimumCount",
                json!(-1),
                "outputArtifactDetails.minimumCount",
            ),
            v(
                "/inputArtifactDetails",
                json!({"minimumCount": 2, "maximumCount": 1}),
                "inputArtifactDetails.minimumCount",
            ),
            v(
                "/outputArtifactDetails",
                Value::Null,
                "outputArtifactDetails",
            ),
            v(
                "/configurationProperties/0/name",
                json!("x".repeat(51)),
                "configurationProperties.1.member.name",
            ),
            v(
                "/configurationProperties/1/secret",
                Value::Null,
                "configurationProperties.2.member.secret",
            ),
            v(
                "/configurationProperties/0/description",
                json!("d".repeat(161)),
                "configurationProperties.1.member.description",
            ),
            v(
                "/configurationProperties/0/type",
                json!("List"),
                "configurationProperties.1.member.type",
            ),
            // Names are unique.
            v(
                "/configurationProperties/1/name",
                json!("Environment"),
                "configurationProperties.2.member.name",
            ),
            // At most one queryable property, required and not secret.
            v(
                "/configurationProperties/1/queryable",
                json!(true),
                "configurationProperties",
            ),
            v(
                "/configurationProperties/0/required",
                json!(false),
                "configurationProperties.1.member.queryable",
            ),
            // Templates name required, non-secret properties only.
            v(
                "/settings/entityUrlTemplate",
                json!("https://x/{Config:Token}"),
                "settings.entityUrlTemplate",
            ),
            v(
                "/settings/revisionUrlTemplate",
                json!(""),
                "settings.revisionUrlTemplate",
            ),
        ] {
            let input = with(deployer(), case.pointer, case.value.clone());
            assert_eq!(
                refusal(&input),
                (case.member.to_string(), "ValidationException"),
                "{} = {}",
                case.pointer,
                case.value
            );
        }
        let mut many = deployer();
        many["configurationProperties"] = (0..11)
            .map(|i| json!({"name": format!("P{i}"), "required": false, "key": false, "secret": false}))
            .collect();
        assert_eq!(
            refusal(&many),
            ("configurationProperties".into(), "ValidationException")
        );
        // Counts of 0 to 5, none given, no properties: all fine.
        let mut least = deployer();
        least.as_object_mut().unwrap().remove("settings");
        least
            .as_object_mut()
            .unwrap()
            .remove("configurationProperties");
        least["inputArtifactDetails"] = json!({"minimumCount": 0, "maximumCount": 5});
        assert!(from_create_input(&least).is_ok());
    }

    struct ValidationCase {
        pointer: &'static str,
        value: Value,
        member: &'static str,
    }

    impl ValidationCase {
        fn new(pointer: &'static str, value: Value, member: &'static str) -> ValidationCase {
            ValidationCase {
                pointer,
                value,
                member,
            }
        }
    }

    fn declaration_of(d: &Definition) -> Value {
        d.declaration()
    }

    #[test]
    fn an_update_replaces_the_definition_from_a_declaration() {
        let old = from_create_input(&deployer()).unwrap();
        let mut decl = declaration_of(&old);
        decl["description"] = json!("Deploys to our fleet");
        decl["properties"] = json!([
            {"name": "Environment", "optional": false, "key": true, "noEcho": false, "queryable": true},
            {"name": "Region", "optional": true, "key": false, "noEcho": false},
        ]);
        decl["inputArtifactDetails"] = json!({"minimumCount": 0, "maximumCount": 10});
        decl["urls"] = json!({"configurationUrl": "https://deploy.example.com/setup"});
        decl["executor"]["jobTimeout"] = json!(600);
        let m = Members {
            value: &decl,
            path: "actionType",
        };
        let new = from_declaration(m, old.id.clone(), &old).unwrap();
        // A property's type stays with its name; a new one has none.
        assert_eq!(
            new.action_configuration_properties[0].kind.as_deref(),
            Some("String")
        );
        assert_eq!(new.action_configuration_properties[1].kind, None);
        assert!(!new.action_configuration_properties[1].required);
        assert_eq!(new.input_artifact_details, Counts::new(0, 10));
        assert_eq!(
            new.settings.third_party_configuration_url.as_deref(),
            Some("https://deploy.example.com/setup")
        );
        assert_eq!(new.settings.entity_url_template, None);
        assert_eq!(new.description.as_deref(), Some("Deploys to our fleet"));
        assert_eq!(new.executor.as_ref().unwrap()["jobTimeout"], 600);
        let back = new.declaration();
        assert_eq!(back["description"], "Deploys to our fleet");
        assert_eq!(back["properties"][1]["optional"], true);

        let refused = |pointer: &str, value: Value| {
            let decl = with(decl.clone(), pointer, value);
            let m = Members {
                value: &decl,
                path: "actionType",
            };
            let e = from_declaration(m, old.id.clone(), &old).unwrap_err();
            (
                e.code,
                e.message.split('\'').nth(1).unwrap_or_default().to_string(),
            )
        };
        assert_eq!(
            refused("/executor/type", json!("Lambda")),
            ("ValidationException", "actionType.executor.type".into())
        );
        assert_eq!(
            refused(
                "/executor/configuration/jobWorkerExecutorConfiguration",
                json!({"pollingAccounts": ["12345"]})
            ),
            (
                "ValidationException",
                "actionType.executor.configuration.jobWorkerExecutorConfiguration.pollingAccounts.1.member"
                    .into()
            )
        );
        assert_eq!(
            refused("/executor/jobTimeout", json!(30)),
            (
                "ValidationException",
                "actionType.executor.jobTimeout".into()
            )
        );
        assert_eq!(
            refused("/outputArtifactDetails/maximumCount", json!(11)),
            (
                "ValidationException",
                "actionType.outputArtifactDetails.maximumCount".into()
            )
        );
        assert_eq!(
            refused("/properties/1/queryable", json!(true)),
            ("ValidationException", "actionType.properties".into())
        );
        assert_eq!(
            refused("/permissions", json!({"allowedAccounts": ["me"]})),
            (
                "ValidationException",
                "actionType.permissions.allowedAccounts.1.member".into()
            )
        );
    }

    #[test]
    fn every_aws_type_the_host_runs_has_its_documented_configuration() {
        let listed = aws_types();
        assert_eq!(listed.len(), crate::aws_types::SUPPORTED.len());
        for (name, _) in crate::aws_types::SUPPORTED {
            assert!(
                AWS_TYPES.iter().any(|(n, ..)| n == name),
                "{name} needs its properties in AWS_TYPES"
            );
        }
        let github = listed.iter().find(|d| d.id.provider == "GitHub").unwrap();
        assert_eq!(github.id.owner, "ThirdParty");
        assert!(
            github
                .action_configuration_properties
                .iter()
                .any(|p| p.name == "OAuthToken" && p.secret)
        );
        assert_eq!(github.output_artifact_details, Counts::new(1, 1));
        // The host runs it: GetActionType shows an executor nobody polls.
        assert_eq!(
            github.declaration()["executor"],
            json!({"configuration": {"jobWorkerExecutorConfiguration": {}}, "type": "JobWorker"})
        );
    }

    #[test]
    fn url_templates_name_properties_as_config() {
        assert_eq!(
            config_references("https://x/{Config:A}/{ExternalExecutionId}?b={Config:B}"),
            vec!["A", "B"]
        );
        assert!(config_references("https://x/{Config:").is_empty());
    }
}
