//! `builtin:deploy-http`: sends an artifact to a URL the action's `http`
//! grant allows: as a tar archive (the default) or as a JSON description of
//! its files. A 2xx answer is success.

use serde_json::json;
use sluice_sdk::{
    Category, Config, Context, Descriptor, Failure, Job, Outcome, Property, Provider,
};

struct DeployHttp;

impl Provider for DeployHttp {
    fn describe() -> Descriptor {
        Descriptor::new(Category::Deploy, "sluice", "deploy-http", "1.0.0")
            .description("Sends an artifact (tar) or a JSON description of it to a granted URL; 2xx is success.")
            .property(Property::required("Url", "Where to send it; the action's http grant must allow it."))
            .property(Property::optional("Format", "`tar` (default) or `json`."))
            .property(Property::optional("Method", "`POST` (default) or `PUT`."))
            .property(Property::optional("Token", "A bearer token for the Authorization header (use #{secrets.NAME}).").secret())
            .inputs(1, 1)
    }

    fn validate(config: &Config) -> Result<(), Vec<String>> {
        Self::describe().check(config)?;
        let mut problems = Vec::new();
        if let Some(f) = config.get("Format")
            && !["tar", "json"].contains(&f)
        {
            problems.push(format!(
                "configuration property `Format` must be `tar` or `json`, not `{f}`"
            ));
        }
        if let Some(m) = config.get("Method")
            && !["POST", "PUT"].contains(&m.to_ascii_uppercase().as_str())
        {
            problems.push(format!(
                "configuration property `Method` must be POST or PUT, not `{m}`"
            ));
        }
        if let Some(u) = config.get("Url")
            && !u.contains("#{")
            && !(u.starts_with("http://") || u.starts_with("https://"))
        {
            problems.push(format!(
                "configuration property `Url` must be an http:// or https:// URL, not `{u}`"
            ));
        }
        if problems.is_empty() {
            Ok(())
        } else {
            Err(problems)
        }
    }

    fn run(job: Job) -> Result<Outcome, Failure> {
        let url = job.config.require("Url")?;
        let method = job.config.get_or("Method", "POST").to_ascii_uppercase();
        let input = job.first_input()?;
        let mut headers = vec![];
        let auth;
        if let Some(token) = job.config.get("Token") {
            auth = format!("Bearer {token}");
            headers.push(("authorization", auth.as_str()));
        }
        let (response, sent) = match job.config.get_or("Format", "tar") {
            "json" => {
                let files: Vec<serde_json::Value> = sluice_sdk::fs::list_files(input.path())
                    .context("listing the artifact")?
                    .iter()
                    .map(|f| {
                        let size = std::fs::metadata(input.join(f))
                            .map(|m| m.len())
                            .unwrap_or(0);
                        json!({ "path": f.to_string_lossy(), "size": size })
                    })
                    .collect();
                let doc = json!({
                    "pipeline": job.pipeline, "execution": job.execution_id, "stage": job.stage,
                    "action": job.action, "artifact": input.name, "revision": input.revision,
                    "files": files,
                })
                .to_string();
                headers.push(("content-type", "application/json"));
                let response = sluice_sdk::http::request(&method, url, &headers, doc.as_bytes())?;
                (response, doc.len() as u64)
            }
            _ => {
                // The archive is written into the request as it is made:
                // an artifact of any size costs a few kilobytes of memory.
                headers.push(("content-type", "application/x-tar"));
                let mut sent = 0;
                let response =
                    sluice_sdk::http::request_streaming(&method, url, &headers, |body| {
                        support::tar::write_archive(input.path(), body)?;
                        sent = body.written();
                        Ok(())
                    })?;
                (response, sent)
            }
        };
        if !response.is_success() {
            let text = response.text();
            return Err(Failure::job_failed(format!(
                "{url} answered {}: {}",
                response.status,
                text.chars().take(500).collect::<String>()
            )));
        }
        Ok(Outcome::success()
            .summary(format!("sent {} bytes to {url}: {}", sent, response.status))
            .variable("StatusCode", response.status.to_string()))
    }
}

sluice_sdk::export_provider!(DeployHttp);
