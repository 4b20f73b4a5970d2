//! `builtin:webhook`: an invoke action that POSTs JSON to a URL the
//! action's `http` grant allows and maps fields of the JSON answer to
//! output variables.

use serde_json::{Value, json};
use sluice_sdk::{Category, Config, Descriptor, Failure, Job, Outcome, Property, Provider};

struct Webhook;

impl Provider for Webhook {
    fn describe() -> Descriptor {
        Descriptor::new(Category::Invoke, "sluice", "webhook", "1.0.0")
            .description("POSTs JSON to a granted URL and turns fields of the JSON answer into output variables.")
            .property(Property::required("Url", "Where to POST; the action's http grant must allow it."))
            .property(Property::optional(
                "Body",
                "The JSON to send (variables resolved); default: the pipeline, stage, action and execution.",
            ))
            .property(Property::optional(
                "Map",
                "Output variables from the answer, `Name=path.to.field` per line; default: every top-level \
                 string, number or boolean field.",
            ))
            .property(Property::optional("Token", "A bearer token for the Authorization header (use #{secrets.NAME}).").secret())
    }

    fn validate(config: &Config) -> Result<(), Vec<String>> {
        Self::describe().check(config)?;
        let mut problems = Vec::new();
        if let Some(body) = config.get("Body")
            && !body.contains("#{")
            && serde_json::from_str::<Value>(body).is_err()
        {
            problems.push("configuration property `Body` is not valid JSON".to_string());
        }
        for line in config
            .get("Map")
            .unwrap_or("")
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty())
        {
            if line
                .split_once('=')
                .is_none_or(|(k, v)| k.trim().is_empty() || v.trim().is_empty())
            {
                problems.push(format!(
                    "configuration property `Map`: `{line}` is not Name=path"
                ));
            }
        }
        if problems.is_empty() {
            Ok(())
        } else {
            Err(problems)
        }
    }

    fn run(job: Job) -> Result<Outcome, Failure> {
        let url = job.config.require("Url")?;
        let body = match job.config.get("Body") {
            Some(b) => {
                serde_json::from_str::<Value>(b).map_err(|e| {
                    Failure::configuration(format!("`Body` is not valid JSON once resolved: {e}"))
                })?;
                b.to_string()
            }
            None => json!({
                "pipeline": job.pipeline, "stage": job.stage, "action": job.action,
                "execution": job.execution_id, "attempt": job.attempt,
            })
            .to_string(),
        };
        let auth;
        let mut headers = vec![("content-type", "application/json")];
        if let Some(token) = job.config.get("Token") {
            auth = format!("Bearer {token}");
            headers.push(("authorization", &auth));
        }
        let response = sluice_sdk::http::request("POST", url, &headers, body.as_bytes())?;
        if !response.is_success() {
            return Err(Failure::job_failed(format!(
                "{url} answered {}: {}",
                response.status,
                response.text().chars().take(500).collect::<String>()
            )));
        }
        let answer: Value = if response.body.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(&response.body)
                .map_err(|e| Failure::job_failed(format!("{url} did not answer JSON: {e}")))?
        };
        let mut outcome = Outcome::success().summary(format!("{url} answered {}", response.status));
        let map: Vec<(String, String)> = job
            .config
            .get("Map")
            .unwrap_or("")
            .lines()
            .filter_map(|l| l.split_once('='))
            .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
            .collect();
        if map.is_empty() {
            if let Value::Object(fields) = &answer {
                for (k, v) in fields {
                    if let Some(text) = scalar(v)
                        && k.chars()
                            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
                    {
                        outcome = outcome.variable(k.clone(), text);
                    }
                }
            }
        } else {
            for (name, path) in map {
                let mut value = &answer;
                for part in path.split('.') {
                    value = match value {
                        Value::Object(o) => o.get(part).unwrap_or(&Value::Null),
                        Value::Array(a) => part
                            .parse::<usize>()
                            .ok()
                            .and_then(|i| a.get(i))
                            .unwrap_or(&Value::Null),
                        _ => &Value::Null,
                    };
                }
                let text = scalar(value).ok_or_else(|| {
                    Failure::job_failed(format!("the answer has no value at `{path}` for `{name}`"))
                })?;
                outcome = outcome.variable(name, text);
            }
        }
        Ok(outcome.variable("StatusCode", response.status.to_string()))
    }
}

fn scalar(value: &Value) -> Option<String> {
    match value {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

sluice_sdk::export_provider!(Webhook);
