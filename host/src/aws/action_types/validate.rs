//! Reading action-type inputs by the model's constraints.

use super::*;

/// An input object's members, read by the model's constraints; errors
/// name the member as AWS does (`configurationProperties.2.member.name`).
#[derive(Clone, Copy)]
pub(super) struct Members<'a> {
    pub(super) value: &'a Value,
    pub(super) path: &'a str,
}

impl<'a> Members<'a> {
    pub(super) fn of(value: &'a Value) -> Members<'a> {
        Members { value, path: "" }
    }

    pub(super) fn at(&self, member: &str) -> String {
        if self.path.is_empty() {
            member.to_string()
        } else {
            format!("{}.{member}", self.path)
        }
    }

    pub(super) fn get(&self, member: &str) -> Option<&'a Value> {
        self.value.get(member).filter(|v| !v.is_null())
    }

    pub(super) fn absent(&self, member: &str) -> AwsError {
        AwsError::validation(&self.at(member), "Member must not be null")
    }

    /// A string of `min` to `max` characters.
    pub(super) fn string(
        &self,
        member: &str,
        min: usize,
        max: usize,
    ) -> Result<Option<String>, AwsError> {
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

    pub(super) fn required_string(
        &self,
        member: &str,
        min: usize,
        max: usize,
    ) -> Result<String, AwsError> {
        self.string(member, min, max)?
            .ok_or_else(|| self.absent(member))
    }

    /// One of `values`.
    pub(super) fn choice(&self, member: &str, values: &[&str]) -> Result<String, AwsError> {
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
    pub(super) fn name(&self, member: &str, max: usize) -> Result<String, AwsError> {
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

    pub(super) fn boolean(&self, member: &str) -> Result<Option<bool>, AwsError> {
        self.get(member)
            .map(|v| {
                v.as_bool().ok_or_else(|| {
                    AwsError::validation(&self.at(member), "Member must be a boolean")
                })
            })
            .transpose()
    }

    pub(super) fn required_boolean(&self, member: &str) -> Result<bool, AwsError> {
        self.boolean(member)?.ok_or_else(|| self.absent(member))
    }

    /// An integer from `min` to `max`.
    pub(super) fn integer(
        &self,
        member: &str,
        min: i64,
        max: i64,
    ) -> Result<Option<i64>, AwsError> {
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
    pub(super) fn object<T>(
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

    pub(super) fn required_object<T>(
        &self,
        member: &str,
        read: impl FnOnce(Members<'_>) -> Result<T, AwsError>,
    ) -> Result<T, AwsError> {
        self.object(member, read)?
            .ok_or_else(|| self.absent(member))
    }

    /// Runs `read` on each item of the list `member` (`min` to `max`
    /// items when given), with its path.
    pub(super) fn list<T>(
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
    pub(super) fn strings(
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
pub(super) fn within(path: &str, n: i64, min: i64, max: i64, what: &str) -> Result<(), AwsError> {
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
pub(super) fn custom_id(input: &Value) -> Result<Id, AwsError> {
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
pub(super) fn any_id(m: Members<'_>) -> Result<Id, AwsError> {
    Ok(Id {
        category: m.choice("category", &CATEGORIES)?,
        owner: m.choice("owner", &OWNERS)?,
        provider: m.required_string("provider", 1, 1024)?,
        version: m.required_string("version", 1, 9)?,
    })
}

/// `ArtifactDetails` (0 to `most` each, the fewest not above the most).
pub(super) fn counts(m: Members<'_>, member: &str, most: i64) -> Result<Counts, AwsError> {
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
pub(super) fn from_create_input(input: &Value) -> Result<Definition, AwsError> {
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
pub(super) fn job_worker(configuration: Option<Value>) -> Value {
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
pub(super) fn from_declaration(
    m: Members<'_>,
    id: Id,
    old: &Definition,
) -> Result<Definition, AwsError> {
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
