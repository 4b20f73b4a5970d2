//! Webhooks: `PutWebhook`, `ListWebhooks`, `DeleteWebhook`,
//! `RegisterWebhookWithThirdParty`, `DeregisterWebhookWithThirdParty`,
//! and the URL each webhook answers at ([`delivery`]), which starts its
//! pipeline when a caller it trusts posts a payload its filters match.
//!
//! A webhook is kept in the store with its definition as given (the secret
//! too: the signatures of deliveries are checked with it) and answered
//! with the secret redacted. Its URL is the server's own address and a
//! random id; putting a webhook of the same name again keeps the URL,
//! deleting it and putting it again makes a new one, as on AWS.

mod delivery;

pub use delivery::deliver;

use super::AwsError;
use super::operations::{current, read_error, required, seconds};
use super::pipelines::{ACCOUNT, REGION};
use super::tags;
use crate::api::AppState;
use crate::contract::Category;
use crate::queries::OpError;
use crate::store::webhooks::Webhook;
use serde_json::{Value, json};

/// Where webhook URLs are, under the server's address.
pub const URL_PATH: &str = "/aws/webhooks";

/// What a secret is answered as.
const REDACTED: &str = "****";

/// The model's pattern for names (`WebhookName`, `PipelineName`,
/// `ActionName`): 1 to 100 of `[A-Za-z0-9.@\-_]`.
fn check_name(member: &str, value: &str) -> Result<(), AwsError> {
    let fits = value
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '@' | '-' | '_'));
    if value.chars().count() > 100 || !fits {
        return Err(AwsError::validation(
            member,
            "Member must have length less than or equal to 100 and satisfy regular expression pattern: [A-Za-z0-9.@\\-_]+",
        ));
    }
    Ok(())
}

/// A string member of `from` of 1 to `most` characters, if present.
fn optional<'a>(
    from: &'a Value,
    key: &str,
    member: &str,
    most: usize,
) -> Result<Option<&'a str>, AwsError> {
    match from.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) if !s.is_empty() && s.chars().count() <= most => Ok(Some(s)),
        Some(Value::String(_)) => Err(AwsError::validation(
            member,
            format!("Member must have length between 1 and {most}"),
        )),
        Some(_) => Err(AwsError::validation(member, "Member must be a string")),
    }
}

/// How a delivery proves who sent it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Authentication {
    /// Signed as GitHub signs: an HMAC-SHA256 of the body with this secret.
    GithubHmac(String),
    /// Sent from an address in this range.
    Ip(ipnet::IpNet),
    /// Anyone.
    Unauthenticated,
}

/// One filter rule: what `json_path` selects in the payload must equal
/// `match_equals`, its `{Property}` placeholders replaced by the target
/// action's configuration (without `match_equals`, it must select
/// something).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Filter {
    /// The JSONPath, as given.
    pub json_path: String,
    /// The value to match, as given.
    pub match_equals: Option<String>,
}

/// A `WebhookDefinition`, checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Definition {
    /// The webhook's name.
    pub name: String,
    /// The pipeline it starts.
    pub pipeline: String,
    /// The source action of its first stage whose configuration fills the
    /// filters' placeholders.
    pub action: String,
    /// Every one must match for an execution to start.
    pub filters: Vec<Filter>,
    /// Who may call it.
    pub authentication: Authentication,
}

impl Definition {
    /// Reads and checks `webhook` as the model constrains it; errors name
    /// the member at fault under `webhook.`.
    pub fn parse(webhook: &Value) -> Result<Definition, AwsError> {
        if !webhook.is_object() {
            return Err(AwsError::validation("webhook", "Member must not be null"));
        }
        let field = |key: &str| -> Result<String, AwsError> {
            let member = format!("webhook.{key}");
            let value = required(webhook, key)
                .map_err(|_| AwsError::validation(&member, "Member must not be null or empty"))?;
            check_name(&member, value)?;
            Ok(value.to_string())
        };
        let name = field("name")?;
        let pipeline = field("targetPipeline")?;
        let action = field("targetAction")?;
        let list = webhook
            .get("filters")
            .and_then(Value::as_array)
            .ok_or_else(|| AwsError::validation("webhook.filters", "Member must not be null"))?;
        if list.len() > 5 {
            return Err(AwsError::validation(
                "webhook.filters",
                "Member must have length less than or equal to 5",
            ));
        }
        let mut filters = Vec::new();
        for (i, rule) in list.iter().enumerate() {
            let member = |key: &str| format!("webhook.filters.{}.member.{key}", i + 1);
            let json_path =
                optional(rule, "jsonPath", &member("jsonPath"), 150)?.ok_or_else(|| {
                    AwsError::validation(&member("jsonPath"), "Member must not be null")
                })?;
            if let Err(e) = serde_json_path::JsonPath::parse(json_path) {
                return Err(AwsError::new(
                    "InvalidWebhookFilterPatternException",
                    format!(
                        "filter {} (`{}`) is not a JSONPath (RFC 9535): {e}",
                        i + 1,
                        crate::text::line(json_path)
                    ),
                ));
            }
            let match_equals = optional(rule, "matchEquals", &member("matchEquals"), 150)?;
            filters.push(Filter {
                json_path: json_path.to_string(),
                match_equals: match_equals.map(str::to_string),
            });
        }
        let kind = required(webhook, "authentication").map_err(|_| {
            AwsError::validation("webhook.authentication", "Member must not be null")
        })?;
        let config = webhook
            .get("authenticationConfiguration")
            .filter(|c| c.is_object())
            .ok_or_else(|| {
                AwsError::validation(
                    "webhook.authenticationConfiguration",
                    "Member must not be null",
                )
            })?;
        let secret = optional(
            config,
            "SecretToken",
            "webhook.authenticationConfiguration.SecretToken",
            100,
        )?;
        let range = optional(
            config,
            "AllowedIPRange",
            "webhook.authenticationConfiguration.AllowedIPRange",
            100,
        )?;
        let refuse = |message: &str| {
            Err(AwsError::new(
                "InvalidWebhookAuthenticationParametersException",
                message.to_string(),
            ))
        };
        let authentication = match (kind, secret, range) {
            ("GITHUB_HMAC", Some(secret), None) => Authentication::GithubHmac(secret.to_string()),
            ("GITHUB_HMAC", None, _) => return refuse("GITHUB_HMAC needs SecretToken"),
            ("GITHUB_HMAC", Some(_), Some(_)) => {
                return refuse("GITHUB_HMAC takes SecretToken only, not AllowedIPRange");
            }
            ("IP", None, Some(range)) => match range.parse::<ipnet::IpNet>() {
                Ok(net) => Authentication::Ip(net),
                Err(_) => {
                    return refuse(&format!(
                        "AllowedIPRange `{}` is not a CIDR range (e.g. 192.0.2.0/24)",
                        crate::text::line(range)
                    ));
                }
            },
            ("IP", _, None) => return refuse("IP needs AllowedIPRange"),
            ("IP", Some(_), Some(_)) => {
                return refuse("IP takes AllowedIPRange only, not SecretToken");
            }
            ("UNAUTHENTICATED", None, None) => Authentication::Unauthenticated,
            ("UNAUTHENTICATED", _, _) => {
                return refuse("UNAUTHENTICATED takes no authenticationConfiguration properties");
            }
            _ => {
                return Err(AwsError::validation(
                    "webhook.authentication",
                    "Member must satisfy enum value set: [GITHUB_HMAC, IP, UNAUTHENTICATED]",
                ));
            }
        };
        Ok(Definition {
            name,
            pipeline,
            action,
            filters,
            authentication,
        })
    }

    /// The definition as the model shapes it; the secret as given, or
    /// redacted.
    pub fn to_json(&self, redact: bool) -> Value {
        let (kind, config) = match &self.authentication {
            Authentication::GithubHmac(secret) => (
                "GITHUB_HMAC",
                json!({"SecretToken": if redact { REDACTED } else { secret }}),
            ),
            Authentication::Ip(range) => ("IP", json!({"AllowedIPRange": range.to_string()})),
            Authentication::Unauthenticated => ("UNAUTHENTICATED", json!({})),
        };
        let filters: Vec<Value> = self
            .filters
            .iter()
            .map(|f| match &f.match_equals {
                Some(value) => json!({"jsonPath": f.json_path, "matchEquals": value}),
                None => json!({"jsonPath": f.json_path}),
            })
            .collect();
        json!({
            "name": self.name,
            "targetPipeline": self.pipeline,
            "targetAction": self.action,
            "filters": filters,
            "authentication": kind,
            "authenticationConfiguration": config,
        })
    }

    /// The definition a stored webhook keeps.
    fn of(webhook: &Webhook) -> Result<Definition, AwsError> {
        let corrupt = |e: String| {
            AwsError::internal(format!(
                "the stored definition of webhook `{}` cannot be read: {e}",
                webhook.name
            ))
        };
        let value: Value =
            serde_json::from_str(&webhook.definition).map_err(|e| corrupt(e.to_string()))?;
        Definition::parse(&value).map_err(|e| corrupt(e.message))
    }
}

/// A webhook's ARN.
pub fn webhook_arn(name: &str) -> String {
    format!("arn:aws:codepipeline:{REGION}:{ACCOUNT}:webhook:{name}")
}

/// A webhook as `ListWebhookItem`.
async fn item(state: &AppState, webhook: &Webhook) -> Result<Value, AwsError> {
    let definition = Definition::of(webhook)?;
    let arn = webhook_arn(&webhook.name);
    let mut out = json!({
        "definition": definition.to_json(true),
        "url": format!("{}{URL_PATH}/{}", state.base_url(), webhook.url_id),
        "arn": arn,
        "tags": tags::of(state, &arn).await?,
    });
    if let Some(at) = webhook.last_triggered {
        out["lastTriggered"] = seconds(at);
    }
    if let Some(code) = &webhook.error_code {
        out["errorCode"] = json!(code);
    }
    if let Some(message) = &webhook.error_message {
        out["errorMessage"] = json!(message);
    }
    Ok(out)
}

/// A fresh URL id: 128 random bits, in hex.
fn url_id() -> Result<String, AwsError> {
    let mut bytes = [0u8; 16];
    getrandom::fill(&mut bytes)
        .map_err(|e| AwsError::internal(format!("cannot make a webhook URL: {e}")))?;
    Ok(hex::encode(bytes))
}

pub async fn put(state: &AppState, input: &Value) -> Result<Value, AwsError> {
    let given = input
        .get("webhook")
        .ok_or_else(|| AwsError::validation("webhook", "Member must not be null"))?;
    let definition = Definition::parse(given)?;
    let new_tags = match input.get("tags").filter(|t| !t.is_null()) {
        Some(list) => tags::check(list)?,
        None => Vec::new(),
    };
    let version = current(state, &definition.pipeline).await?;
    let source = version.definition.stages.first().and_then(|stage| {
        let at = stage
            .actions
            .iter()
            .position(|a| a.name == definition.action)?;
        let category = version.resolved.first()?.get(at)?.category;
        Some(category)
    });
    if source != Some(Category::Source) {
        return Err(AwsError::validation(
            "webhook.targetAction",
            format!(
                "`{}` is not a source action of the first stage of pipeline `{}`",
                definition.action, definition.pipeline
            ),
        ));
    }
    // The tags it would have, counted before anything is written.
    let name = definition.name.clone();
    let had = state
        .read(move |s| s.tags("webhook", &name).map_err(OpError::internal))
        .await
        .map_err(read_error)?;
    let mut keys: std::collections::BTreeSet<&str> = had.iter().map(|(k, _)| k.as_str()).collect();
    keys.extend(new_tags.iter().map(|(k, _)| k.as_str()));
    if keys.len() > crate::store::MAX_TAGS {
        return Err(AwsError::new(
            "TooManyTagsException",
            format!(
                "a resource may have at most {} tags; this would make {}",
                crate::store::MAX_TAGS,
                keys.len()
            ),
        ));
    }
    let (name, pipeline) = (definition.name.clone(), definition.pipeline.clone());
    let text = definition.to_json(false).to_string();
    let id = url_id()?;
    let stored = state
        .write(move |s| {
            s.put_webhook(&name, &pipeline, &text, &id)
                .map_err(OpError::internal)
        })
        .await
        .map_err(read_error)?;
    // The pipeline was deleted meanwhile.
    let Some(stored) = stored else {
        return Err(AwsError::new(
            "PipelineNotFoundException",
            format!(
                "Account does not have a pipeline with name '{}'",
                definition.pipeline
            ),
        ));
    };
    if let Some(list) = input.get("tags").filter(|_| !new_tags.is_empty()) {
        tags::tag(state, &webhook_arn(&stored.name), list).await?;
    }
    Ok(json!({"webhook": item(state, &stored).await?}))
}

pub async fn list(state: &AppState, input: &Value) -> Result<Value, AwsError> {
    // This operation's members are capitalised.
    let limit = match input.get("MaxResults") {
        None | Some(Value::Null) => 100,
        Some(v) => match v.as_u64() {
            Some(n @ 1..=100) => n as usize,
            _ => {
                return Err(AwsError::validation(
                    "MaxResults",
                    "Member must have value between 1 and 100",
                ));
            }
        },
    };
    let after = optional(input, "NextToken", "NextToken", 2048)?.map(str::to_string);
    let mut page = state
        .read(move |s| {
            s.webhooks(after.as_deref(), limit + 1)
                .map_err(OpError::internal)
        })
        .await
        .map_err(read_error)?;
    let more = page.len() > limit;
    page.truncate(limit);
    let mut webhooks = Vec::new();
    for webhook in &page {
        webhooks.push(item(state, webhook).await?);
    }
    let mut out = json!({"webhooks": webhooks});
    if more && let Some(last) = page.last() {
        out["NextToken"] = json!(last.name);
    }
    Ok(out)
}

pub async fn delete(state: &AppState, input: &Value) -> Result<Value, AwsError> {
    let name = required(input, "name")?.to_string();
    check_name("name", &name)?;
    // Deleting one that is not there succeeds, as on AWS.
    state
        .write(move |s| s.delete_webhook(&name).map_err(OpError::internal))
        .await
        .map_err(read_error)?;
    Ok(json!({}))
}

/// `RegisterWebhookWithThirdParty` (`register`) or
/// `DeregisterWebhookWithThirdParty`: there is no third party to call, so
/// only the webhook's registration is recorded.
pub async fn register(state: &AppState, input: &Value, register: bool) -> Result<Value, AwsError> {
    let name = required(input, "webhookName")?.to_string();
    check_name("webhookName", &name)?;
    let wanted = name.clone();
    let found = state
        .write(move |s| {
            s.register_webhook(&wanted, register)
                .map_err(OpError::internal)
        })
        .await
        .map_err(read_error)?;
    if !found {
        return Err(AwsError::new(
            "WebhookNotFoundException",
            format!("There is no webhook with name '{name}'"),
        ));
    }
    Ok(json!({}))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn webhook(authentication: &str, config: Value) -> Value {
        json!({
            "name": "gh-main",
            "targetPipeline": "release",
            "targetAction": "Source",
            "filters": [{"jsonPath": "$.ref", "matchEquals": "refs/heads/{Branch}"}],
            "authentication": authentication,
            "authenticationConfiguration": config,
        })
    }

    #[test]
    fn definitions_are_read_back_as_given_and_answered_redacted() {
        let given = webhook("GITHUB_HMAC", json!({"SecretToken": "s3cret"}));
        let definition = Definition::parse(&given).unwrap();
        assert_eq!(
            definition.authentication,
            Authentication::GithubHmac("s3cret".into())
        );
        assert_eq!(definition.to_json(false), given);
        assert_eq!(
            definition.to_json(true)["authenticationConfiguration"]["SecretToken"],
            REDACTED
        );
        let ip = webhook("IP", json!({"AllowedIPRange": "10.0.0.0/8"}));
        assert_eq!(Definition::parse(&ip).unwrap().to_json(true), ip);
        let open = webhook("UNAUTHENTICATED", json!({}));
        assert_eq!(Definition::parse(&open).unwrap().to_json(true), open);
    }

    #[test]
    fn definitions_are_refused_as_aws_refuses_them() {
        let code = |value: Value| Definition::parse(&value).unwrap_err();
        let hmac_without_secret = code(webhook("GITHUB_HMAC", json!({})));
        assert_eq!(
            hmac_without_secret.code,
            "InvalidWebhookAuthenticationParametersException"
        );
        assert_eq!(
            code(webhook("IP", json!({"AllowedIPRange": "10.0.0.300/8"}))).code,
            "InvalidWebhookAuthenticationParametersException"
        );
        assert_eq!(
            code(webhook("UNAUTHENTICATED", json!({"SecretToken": "x"}))).code,
            "InvalidWebhookAuthenticationParametersException"
        );
        let unknown_kind = code(webhook("BASIC", json!({})));
        assert!(
            unknown_kind.message.contains("'webhook.authentication'"),
            "{}",
            unknown_kind.message
        );
        let mut bad_path = webhook("UNAUTHENTICATED", json!({}));
        bad_path["filters"][0]["jsonPath"] = json!("$.[ref");
        assert_eq!(code(bad_path).code, "InvalidWebhookFilterPatternException");
        let mut no_path = webhook("UNAUTHENTICATED", json!({}));
        no_path["filters"][0] = json!({"matchEquals": "x"});
        let refused = code(no_path);
        assert!(
            refused
                .message
                .contains("'webhook.filters.1.member.jsonPath'"),
            "{}",
            refused.message
        );
        let mut six = webhook("UNAUTHENTICATED", json!({}));
        six["filters"] = json!(vec![json!({"jsonPath": "$.ref"}); 6]);
        assert!(code(six).message.contains("'webhook.filters'"));
        let mut bad_name = webhook("UNAUTHENTICATED", json!({}));
        bad_name["name"] = json!("no spaces");
        assert!(code(bad_name).message.contains("'webhook.name'"));
        let mut no_action = webhook("UNAUTHENTICATED", json!({}));
        no_action.as_object_mut().unwrap().remove("targetAction");
        assert!(code(no_action).message.contains("'webhook.targetAction'"));
    }

    #[test]
    fn urls_are_unguessable_and_fresh() {
        let (a, b) = (url_id().unwrap(), url_id().unwrap());
        assert_eq!(a.len(), 32);
        assert!(a.chars().all(|c| c.is_ascii_hexdigit()));
        assert_ne!(a, b);
    }
}
