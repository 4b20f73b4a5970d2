//! The command line as a client of `sluice serve`: every verb that reads
//! or changes state calls the HTTP API instead of opening the database
//! when a server drives the state directory (its `server.json`), or when
//! `--server URL` / `SLUICE_SERVER` names one.

use crate::api::dto::{
    ApprovalBody, ApprovalStatus, Message, PutPipelineBody, RetryBody, RetryScope, StartBody,
    Started, StopBody, TransitionBody,
};
use crate::definitions::Applied;
use crate::engine::pipeline_state::PipelineState;
use crate::engine::{Command, Done, Execution, PipelineVersion};
use crate::queries::{ErrorCode, ExecutionDetail, LogPart, OpError};
use crate::store::{ExecutionSummary, PipelineSummary};
use serde::de::DeserializeOwned;
use std::time::Duration;

/// A server to talk to.
#[derive(Debug, Clone)]
pub struct Client {
    /// `http://host:port`, no trailing slash.
    pub base: String,
    /// The bearer token for mutating calls.
    pub token: Option<String>,
    /// Who acts on this side (the server records the token's name).
    pub user: String,
}

const TIMEOUT: Duration = Duration::from_secs(30);

/// How long a start may take to answer (its source revisions recorded).
const START_TIMEOUT: Duration = Duration::from_secs(15 * 60);

fn enc(text: &str) -> String {
    let mut out = String::new();
    for b in text.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

impl Client {
    /// A client of the server at `base`.
    pub fn new(base: &str, token: Option<String>, user: &str) -> Client {
        Client {
            base: base.trim_end_matches('/').to_string(),
            token,
            user: user.to_string(),
        }
    }

    fn headers(&self, json: bool) -> Vec<(&'static str, String)> {
        let mut headers = vec![("accept", "application/json".to_string())];
        if json {
            headers.push(("content-type", "application/json".to_string()));
        }
        if let Some(t) = &self.token {
            headers.push(("authorization", format!("Bearer {t}")));
        }
        headers
    }

    async fn call<T: DeserializeOwned>(
        &self,
        method: &str,
        path: &str,
        body: Option<&impl serde::Serialize>,
    ) -> Result<T, OpError> {
        self.call_within(method, path, body, TIMEOUT).await
    }

    async fn call_within<T: DeserializeOwned>(
        &self,
        method: &str,
        path: &str,
        body: Option<&impl serde::Serialize>,
        timeout: Duration,
    ) -> Result<T, OpError> {
        let url = format!("{}/api/v1{path}", self.base);
        let body = body.map(|b| serde_json::to_vec(b).expect("bodies serialise"));
        let response =
            crate::http_client::request(method, &url, &self.headers(body.is_some()), body, timeout)
                .await
                .map_err(|e| OpError::new(ErrorCode::Internal, e))?;
        if (200..300).contains(&response.status) {
            return serde_json::from_slice(&response.body).map_err(|e| {
                OpError::internal(format!(
                    "the server's answer to {method} {path} is not understood: {e}"
                ))
            });
        }
        #[derive(serde::Deserialize)]
        struct Wrapped {
            error: OpError,
        }
        match serde_json::from_slice::<Wrapped>(&response.body) {
            Ok(w) => Err(w.error),
            Err(_) => Err(OpError::internal(format!(
                "{method} {url} answered {}: {}",
                response.status,
                String::from_utf8_lossy(&response.body)
            ))),
        }
    }

    async fn get<T: DeserializeOwned>(&self, path: &str) -> Result<T, OpError> {
        self.call::<T>("GET", path, None::<&()>).await
    }

    /// `GET /pipelines`.
    pub async fn list_pipelines(&self) -> Result<Vec<PipelineSummary>, OpError> {
        self.get("/pipelines").await
    }

    /// `GET /pipelines/{name}`.
    pub async fn get_pipeline(
        &self,
        name: &str,
        version: Option<u32>,
    ) -> Result<PipelineVersion, OpError> {
        let query = version.map(|v| format!("?version={v}")).unwrap_or_default();
        self.get(&format!("/pipelines/{}{query}", enc(name))).await
    }

    /// `PUT /pipelines`: the definition's text, its file name and folder.
    pub async fn apply(
        &self,
        definition: String,
        file: &str,
        base_dir: &std::path::Path,
    ) -> Result<Applied, OpError> {
        let body = PutPipelineBody {
            definition,
            file: Some(file.to_string()),
            base_dir: Some(base_dir.display().to_string()),
        };
        self.call("PUT", "/pipelines", Some(&body)).await
    }

    /// `GET /pipelines/{name}/state`.
    pub async fn state(&self, name: &str) -> Result<PipelineState, OpError> {
        self.get(&format!("/pipelines/{}/state", enc(name))).await
    }

    /// `GET /pipelines/{name}/executions`.
    pub async fn executions(
        &self,
        name: &str,
        limit: usize,
    ) -> Result<Vec<ExecutionSummary>, OpError> {
        self.get(&format!(
            "/pipelines/{}/executions?limit={limit}",
            enc(name)
        ))
        .await
    }

    /// `GET /executions/{id}`.
    pub async fn execution(&self, id: &str) -> Result<ExecutionDetail, OpError> {
        self.get(&format!("/executions/{}", enc(id))).await
    }

    /// `GET /executions/{id}/logs`.
    pub async fn logs(
        &self,
        id: &str,
        action: Option<&str>,
        attempt: Option<u32>,
        range: crate::queries::LogRange,
    ) -> Result<Vec<LogPart>, OpError> {
        let mut query = format!("?offset={}&limit={}", range.offset, range.limit);
        if let Some(a) = action {
            query.push_str(&format!("&action={}", enc(a)));
        }
        if let Some(n) = attempt {
            query.push_str(&format!("&attempt={n}"));
        }
        self.get(&format!("/executions/{}/logs{query}", enc(id)))
            .await
    }

    /// `POST /tokens`: makes a named token; its value is in the answer only.
    pub async fn create_token(
        &self,
        name: &str,
        role: crate::access::Role,
        aws: bool,
    ) -> Result<serde_json::Value, OpError> {
        let body = serde_json::json!({ "name": name, "role": role, "aws": aws });
        self.call("POST", "/tokens", Some(&body)).await
    }

    /// `GET /tokens`.
    pub async fn tokens(&self) -> Result<Vec<crate::store::TokenInfo>, OpError> {
        self.get("/tokens").await
    }

    /// `DELETE /tokens/{name}`.
    pub async fn revoke_token(&self, name: &str) -> Result<Message, OpError> {
        self.call("DELETE", &format!("/tokens/{}", enc(name)), None::<&()>)
            .await
    }

    /// `GET /audit`.
    pub async fn audit(&self, limit: usize) -> Result<Vec<crate::store::AuditEntry>, OpError> {
        self.get(&format!("/audit?limit={limit}")).await
    }

    /// Gives the server's engine a command through the matching API call.
    /// A command the server does itself (reloading an applied pipeline)
    /// answers at once.
    pub async fn command(&self, command: &Command) -> Result<Done, OpError> {
        let message: Message = match command {
            Command::Start(start) => {
                let body = StartBody {
                    variables: start.variables.clone(),
                    revisions: start.revisions.clone(),
                    client_token: start.token.clone(),
                };
                let path = format!("/pipelines/{}/executions", enc(&start.pipeline));
                let started: Started = self.start(&path, &body).await?;
                Message {
                    message: started.message,
                    execution: Some(started.execution),
                }
            }
            Command::Stop {
                execution,
                abandon,
                reason,
            } => {
                let body = StopBody {
                    abandon: *abandon,
                    reason: reason.clone(),
                };
                let path = format!("/executions/{}/stop", enc(execution));
                self.call("POST", &path, Some(&body)).await?
            }
            Command::Retry {
                execution,
                stage,
                all,
            } => {
                let mode = if *all {
                    RetryScope::AllActions
                } else {
                    RetryScope::FailedActions
                };
                let path = format!("/executions/{}/stages/{}/retry", enc(execution), enc(stage));
                self.call("POST", &path, Some(&RetryBody { mode })).await?
            }
            Command::Decide {
                execution,
                stage,
                action,
                approved,
                summary,
                ..
            } => {
                let body = ApprovalBody {
                    status: if *approved {
                        ApprovalStatus::Approved
                    } else {
                        ApprovalStatus::Rejected
                    },
                    summary: summary.clone(),
                };
                let path = format!(
                    "/executions/{}/stages/{}/actions/{}/approval",
                    enc(execution),
                    enc(stage),
                    enc(action)
                );
                self.call("PUT", &path, Some(&body)).await?
            }
            Command::Transition {
                pipeline,
                stage,
                enabled,
                reason,
                ..
            } => {
                let body = TransitionBody {
                    enabled: *enabled,
                    reason: reason.clone(),
                };
                let path = format!(
                    "/pipelines/{}/stages/{}/transition",
                    enc(pipeline),
                    enc(stage)
                );
                self.call("PUT", &path, Some(&body)).await?
            }
            Command::Delete { pipeline, force } => {
                let force = if *force { "?force=true" } else { "" };
                let path = format!("/pipelines/{}{force}", enc(pipeline));
                self.call("DELETE", &path, None::<&()>).await?
            }
            Command::Reload { pipeline } => Message {
                message: format!("the server reloads pipeline `{pipeline}` itself"),
                execution: None,
            },
        };
        Ok(Done {
            message: message.message,
            execution: message.execution,
            created: false,
        })
    }

    /// Starts an execution through the server. The answer comes once the
    /// start's source revisions are recorded, which may take minutes: the
    /// call waits long, says every 10 s that it still waits, and is sent
    /// again (with the same idempotency token, so it never starts twice)
    /// when the connection fails before an answer.
    async fn start(&self, path: &str, body: &StartBody) -> Result<Started, OpError> {
        let mut tries = 0;
        loop {
            tries += 1;
            let call = self.call_within::<Started>("POST", path, Some(body), START_TIMEOUT);
            tokio::pin!(call);
            let started = std::time::Instant::now();
            let mut ticker = tokio::time::interval(Duration::from_secs(10));
            ticker.tick().await;
            let answer = loop {
                tokio::select! {
                    answer = &mut call => break answer,
                    _ = ticker.tick() => eprintln!(
                        "waiting for the server to start the execution ({}s: it records the source revisions first)",
                        started.elapsed().as_secs()
                    ),
                }
            };
            match answer {
                Err(error)
                    if error.code == ErrorCode::Internal
                        && body.client_token.is_some()
                        && tries < 3 =>
                {
                    eprintln!("the server did not answer ({error}); asking again");
                }
                other => return other,
            }
        }
    }

    /// Follows one execution: its snapshots as the server's event stream
    /// sends them.
    pub async fn follow(&self, execution: &str) -> Result<Following, OpError> {
        let url = format!("{}/api/v1/events?execution={}", self.base, enc(execution));
        let stream = crate::http_client::open_stream(&url, &self.headers(false), TIMEOUT)
            .await
            .map_err(|e| OpError::new(ErrorCode::Internal, e))?;
        if stream.status != 200 {
            return Err(OpError::internal(format!(
                "the event stream answered {}",
                stream.status
            )));
        }
        Ok(Following {
            stream,
            buffer: String::new(),
        })
    }
}

/// An execution's snapshots from the server's event stream.
#[derive(Debug)]
pub struct Following {
    stream: crate::http_client::HttpStream,
    buffer: String,
}

/// One thing the event stream said.
#[derive(Debug)]
pub enum Followed {
    /// A snapshot.
    Execution(Box<Execution>),
    /// Events were missed (or the stream just opened): re-read.
    Reread,
}

impl Following {
    /// The next event; `None` when the stream ends.
    pub async fn next(&mut self) -> Option<Followed> {
        loop {
            if let Some(end) = self.buffer.find("\n\n") {
                let block: String = self.buffer[..end].to_string();
                self.buffer.drain(..end + 2);
                let mut event = "message";
                let mut data = String::new();
                for line in block.lines() {
                    if let Some(e) = line.strip_prefix("event:") {
                        event = if e.trim() == "execution" {
                            "execution"
                        } else if e.trim() == "lagged" || e.trim() == "ready" {
                            "reread"
                        } else {
                            "other"
                        };
                    } else if let Some(d) = line.strip_prefix("data:") {
                        if !data.is_empty() {
                            data.push('\n');
                        }
                        data.push_str(d.strip_prefix(' ').unwrap_or(d));
                    }
                }
                match event {
                    "execution" => {
                        if let Ok(e) = serde_json::from_str::<Execution>(&data) {
                            return Some(Followed::Execution(Box::new(e)));
                        }
                    }
                    "reread" => return Some(Followed::Reread),
                    _ => {}
                }
                continue;
            }
            match self.stream.next_chunk().await? {
                Ok(bytes) => self
                    .buffer
                    .push_str(&String::from_utf8_lossy(&bytes).replace("\r\n", "\n")),
                Err(_) => return None,
            }
        }
    }
}
