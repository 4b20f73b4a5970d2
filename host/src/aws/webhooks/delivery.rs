//! `POST /aws/webhooks/{url_id}`: a webhook called. The caller is checked
//! as the webhook's `authentication` says (a GitHub signature, an address
//! range, or nobody); the payload (JSON, or GitHub's form encoding of it)
//! must match every filter; then the webhook's pipeline is started.
//!
//! A payload its filters do not match is answered 200 (`"started":
//! false`, and why), as a source host expects 2xx of a delivery that
//! arrived; a caller not trusted 403, an unknown URL 404, a payload that is
//! not JSON 400.

use super::{Authentication, Definition, Filter};
use crate::api::{ApiError, AppState};
use crate::engine::{Command, Start};
use crate::queries::{ErrorCode, OpError};
use crate::records::{Millis, now_millis};
use axum::extract::{Path, Request, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use hmac::{Hmac, Mac};
use indexmap::IndexMap;
use serde_json::{Value, json};
use sha2::Sha256;
use std::net::IpAddr;

/// The largest payload taken (GitHub caps its own at 25 MB; a push
/// payload is a few KiB).
const BODY_LIMIT: usize = 1 << 20;

/// The handler of a webhook's URL.
pub async fn deliver(
    State(state): State<AppState>,
    Path(url_id): Path<String>,
    request: Request,
) -> Response {
    match run(&state, &url_id, request).await {
        Ok(answer) => axum::Json(answer).into_response(),
        Err(refusal) => refusal,
    }
}

fn refuse(code: ErrorCode, message: impl Into<String>) -> Response {
    ApiError(OpError::new(code, message)).into_response()
}

async fn run(state: &AppState, url_id: &str, request: Request) -> Result<Value, Response> {
    let wanted = url_id.to_string();
    let webhook = state
        .read(move |s| s.webhook_at(&wanted).map_err(OpError::internal))
        .await
        .map_err(IntoResponse::into_response)?
        .ok_or_else(|| refuse(ErrorCode::NotFound, "there is no webhook at this URL"))?;
    let definition =
        Definition::of(&webhook).map_err(|e| refuse(ErrorCode::Internal, e.message))?;
    // The address the connection comes from, when the server gives it:
    // never a header a caller writes (`X-Forwarded-For`).
    let peer = request
        .extensions()
        .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
        .map(|info| info.0.ip());
    let (parts, body) = request.into_parts();
    let body = axum::body::to_bytes(body, BODY_LIMIT).await.map_err(|_| {
        let error = OpError::new(
            ErrorCode::InvalidRequest,
            format!("the payload is larger than {BODY_LIMIT} bytes"),
        );
        (
            StatusCode::PAYLOAD_TOO_LARGE,
            axum::Json(crate::api::ErrorBody { error }),
        )
            .into_response()
    })?;
    authorize(&definition.authentication, &parts.headers, &body, peer).map_err(|why| {
        refuse(
            ErrorCode::Forbidden,
            format!("webhook `{}` refuses this call: {why}", definition.name),
        )
    })?;
    let payload =
        payload(&parts.headers, &body).map_err(|why| refuse(ErrorCode::InvalidRequest, why))?;

    let version = super::current(state, &definition.pipeline)
        .await
        .map_err(|e| refuse(ErrorCode::NotFound, e.message))?;
    let Some(action) = version
        .definition
        .stages
        .first()
        .and_then(|stage| stage.actions.iter().find(|a| a.name == definition.action))
    else {
        let message = format!(
            "pipeline `{}` has no action `{}` in its first stage any more: put the webhook again with its new source action",
            definition.pipeline, definition.action
        );
        record(
            state,
            &webhook.name,
            Err(("ActionNotFoundException", message.clone())),
        )
        .await;
        return Err(refuse(ErrorCode::Conflict, message));
    };
    if let Err(why) = matches(&definition.filters, &payload, &action.configuration) {
        return Ok(json!({
            "started": false,
            "webhook": definition.name,
            "pipeline": definition.pipeline,
            "message": format!("nothing started: {why}"),
        }));
    }

    let start = Command::Start(Start {
        pipeline: definition.pipeline.clone(),
        variables: Default::default(),
        revisions: Default::default(),
        trigger: format!("webhook {}", definition.name),
        token: None,
    });
    let done = match state.engine().command(start).await {
        Ok(done) => done,
        Err(error) => {
            let refused = super::super::operations::refused(error.clone());
            record(state, &webhook.name, Err((refused.code, refused.message))).await;
            return Err(crate::api::refused(error).into_response());
        }
    };
    record(state, &webhook.name, Ok(now_millis())).await;
    state
        .record(
            &format!("webhook {}", definition.name),
            "StartPipelineExecution",
            &format!("aws:{}", definition.pipeline),
            "ok",
        )
        .await;
    Ok(json!({
        "started": true,
        "webhook": definition.name,
        "pipeline": definition.pipeline,
        "pipelineExecutionId": done.execution,
    }))
}

/// Records what a call did on the webhook: when it started an execution,
/// or why it could not (a failure to record is logged).
async fn record(state: &AppState, name: &str, outcome: Result<Millis, (&'static str, String)>) {
    let name = name.to_string();
    let written = state
        .write(move |s| {
            let outcome = outcome
                .as_ref()
                .map(|at| *at)
                .map_err(|(code, message)| (*code, message.as_str()));
            s.webhook_called(&name, outcome).map_err(OpError::internal)
        })
        .await;
    if let Err(error) = written {
        tracing::warn!(error = %error.0, "cannot record a webhook's call");
    }
}

/// Whether the caller is one the webhook trusts; if not, why.
fn authorize(
    authentication: &Authentication,
    headers: &HeaderMap,
    body: &[u8],
    peer: Option<IpAddr>,
) -> Result<(), String> {
    match authentication {
        Authentication::Unauthenticated => Ok(()),
        Authentication::GithubHmac(secret) => {
            let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
            match header("x-hub-signature-256") {
                Some(signature) => check_signature(secret, signature, body),
                None if header("x-hub-signature").is_some() => Err(
                    "it is signed with SHA-1 only (X-Hub-Signature); this host checks SHA-256 signatures (X-Hub-Signature-256), which GitHub sends with every delivery".into(),
                ),
                None => Err(
                    "it is not signed: send X-Hub-Signature-256: sha256=HEX, the HMAC-SHA256 of the body keyed with the webhook's SecretToken".into(),
                ),
            }
        }
        Authentication::Ip(range) => {
            let Some(peer) = peer else {
                return Err(
                    "this server does not see callers' addresses, so it cannot check AllowedIPRange (X-Forwarded-For is not trusted)".into(),
                );
            };
            // An IPv4 caller of a server listening on IPv6.
            let peer = match peer {
                IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(peer, IpAddr::V4),
                v4 => v4,
            };
            if range.contains(&peer) {
                Ok(())
            } else {
                Err(format!("{peer} is not in {range}"))
            }
        }
    }
}

/// Checks `signature` (`sha256=HEX`) against the HMAC-SHA256 of `body`
/// keyed with `secret`, in constant time.
fn check_signature(secret: &str, signature: &str, body: &[u8]) -> Result<(), String> {
    let given = signature
        .trim()
        .strip_prefix("sha256=")
        .and_then(|hex_text| hex::decode(hex_text).ok())
        .ok_or("X-Hub-Signature-256 is not `sha256=` and a hex digest")?;
    let mut mac =
        Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("HMAC takes keys of any length");
    mac.update(body);
    mac.verify_slice(&given)
        .map_err(|_| "the signature is not that of this body with the webhook's secret".into())
}

/// The payload: the body as JSON, or the `payload` field of a form
/// (GitHub's `application/x-www-form-urlencoded` content type).
fn payload(headers: &HeaderMap, body: &[u8]) -> Result<Value, String> {
    let form = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|t| t.starts_with("application/x-www-form-urlencoded"));
    let text = if form {
        let fields: Vec<(String, String)> = serde_urlencoded::from_bytes(body)
            .map_err(|e| format!("the form body cannot be read: {e}"))?;
        let Some((_, payload)) = fields.into_iter().find(|(k, _)| k == "payload") else {
            return Err("the form body has no `payload` field".into());
        };
        payload.into_bytes()
    } else {
        body.to_vec()
    };
    serde_json::from_slice(&text).map_err(|e| format!("the payload is not JSON: {e}"))
}

/// Whether every filter matches `payload`; if not, which does not and why.
/// Placeholders (`{Branch}`) are filled from `configuration`, the target
/// action's.
fn matches(
    filters: &[Filter],
    payload: &Value,
    configuration: &IndexMap<String, String>,
) -> Result<(), String> {
    for (i, filter) in filters.iter().enumerate() {
        let number = i + 1;
        let path = serde_json_path::JsonPath::parse(&filter.json_path)
            .map_err(|e| format!("filter {number}: {e}"))?;
        let selected = path.query(payload).all();
        let Some(pattern) = &filter.match_equals else {
            if selected.is_empty() {
                return Err(format!(
                    "filter {number}: `{}` selects nothing in the payload",
                    filter.json_path
                ));
            }
            continue;
        };
        let wanted =
            substitute(pattern, configuration).map_err(|why| format!("filter {number}: {why}"))?;
        if !selected.iter().any(|value| text(value) == wanted) {
            let got: Vec<String> = selected.iter().map(|v| text(v)).collect();
            return Err(format!(
                "filter {number}: `{}` selects {}, not `{wanted}`",
                filter.json_path,
                if got.is_empty() {
                    "nothing".to_string()
                } else {
                    format!("`{}`", crate::text::line(&got.join("`, `")))
                }
            ));
        }
    }
    Ok(())
}

/// A selected value as `matchEquals` compares it: a string as it is,
/// anything else as JSON (`true`, `42`).
fn text(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// `pattern` with each `{Name}` replaced by the configuration property
/// `Name`; braces around anything but a property name are kept.
fn substitute(pattern: &str, configuration: &IndexMap<String, String>) -> Result<String, String> {
    let mut out = String::new();
    let mut rest = pattern;
    while let Some(open) = rest.find('{') {
        out.push_str(&rest[..open]);
        let after = &rest[open + 1..];
        let name = after.find('}').map(|close| &after[..close]).filter(|name| {
            !name.is_empty() && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
        });
        match name {
            Some(name) => {
                let value = configuration.get(name).ok_or_else(|| {
                    format!(
                        "the target action has no configuration property `{name}` for `{{{name}}}`"
                    )
                })?;
                out.push_str(value);
                rest = &after[name.len() + 1..];
            }
            None => {
                out.push('{');
                rest = after;
            }
        }
    }
    out.push_str(rest);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(pairs: &[(&str, &str)]) -> IndexMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn filter(path: &str, equals: Option<&str>) -> Filter {
        Filter {
            json_path: path.into(),
            match_equals: equals.map(str::to_string),
        }
    }

    #[test]
    fn placeholders_are_filled_from_the_actions_configuration() {
        let c = config(&[("Branch", "main"), ("BranchName", "release")]);
        assert_eq!(
            substitute("refs/heads/{Branch}", &c).unwrap(),
            "refs/heads/main"
        );
        assert_eq!(
            substitute("{BranchName}-{Branch}", &c).unwrap(),
            "release-main"
        );
        // Braces around no property name are text.
        assert_eq!(substitute("a{b c}{}{", &c).unwrap(), "a{b c}{}{");
        let missing = substitute("refs/heads/{Repo}", &c).unwrap_err();
        assert!(missing.contains("`Repo`"), "{missing}");
    }

    #[test]
    fn every_filter_must_match_the_payload() {
        let push = json!({
            "ref": "refs/heads/main",
            "deleted": false,
            "repository": {"full_name": "acme/app", "size": 42},
            "commits": [{"id": "a1"}, {"id": "b2"}],
        });
        let c = config(&[("Branch", "main")]);
        let on_main = filter("$.ref", Some("refs/heads/{Branch}"));
        assert_eq!(matches(std::slice::from_ref(&on_main), &push, &c), Ok(()));
        assert_eq!(matches(&[], &push, &c), Ok(()));
        // Values that are not strings compare as JSON; any selected node
        // may match; without matchEquals something must be selected.
        let more = [
            on_main.clone(),
            filter("$.deleted", Some("false")),
            filter("$.repository.size", Some("42")),
            filter("$.commits[*].id", Some("b2")),
            filter("$.repository.full_name", None),
        ];
        assert_eq!(matches(&more, &push, &c), Ok(()));
        let other_branch =
            matches(&[on_main.clone()], &push, &config(&[("Branch", "dev")])).unwrap_err();
        assert!(
            other_branch.contains("selects `refs/heads/main`, not `refs/heads/dev`"),
            "{other_branch}"
        );
        let second_fails = matches(
            &[on_main, filter("$.repository.full_name", Some("acme/web"))],
            &push,
            &c,
        )
        .unwrap_err();
        assert!(second_fails.starts_with("filter 2:"), "{second_fails}");
        let absent = matches(&[filter("$.zen", None)], &push, &c).unwrap_err();
        assert!(absent.contains("selects nothing"), "{absent}");
        let ping = json!({"zen": "Keep it logically awesome.", "hook_id": 1});
        let not_a_push = matches(&[filter("$.ref", Some("refs/heads/{Branch}"))], &ping, &c);
        assert!(not_a_push.unwrap_err().contains("selects nothing"));
    }

    fn signed(secret: &str, body: &[u8]) -> String {
        let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).unwrap();
        mac.update(body);
        format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
    }

    #[test]
    fn github_signatures_are_checked() {
        let body = br#"{"ref":"refs/heads/main"}"#;
        let hmac = Authentication::GithubHmac("s3cret".into());
        let with = |name: &'static str, value: &str| {
            let mut headers = HeaderMap::new();
            headers.insert(name, value.parse().unwrap());
            headers
        };
        let good = with("x-hub-signature-256", &signed("s3cret", body));
        assert_eq!(authorize(&hmac, &good, body, None), Ok(()));
        // GitHub's own example: secret and payload from its documentation.
        assert_eq!(
            check_signature(
                "It's a Secret to Everybody",
                "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17",
                b"Hello, World!"
            ),
            Ok(())
        );
        for (headers, why) in [
            (
                with("x-hub-signature-256", &signed("other", body)),
                "is not that of this body",
            ),
            (
                with("x-hub-signature-256", "sha256=zz"),
                "not `sha256=` and a hex digest",
            ),
            (with("x-hub-signature", "sha1=00"), "SHA-1 only"),
            (HeaderMap::new(), "not signed"),
        ] {
            let refused = authorize(&hmac, &headers, body, None).unwrap_err();
            assert!(refused.contains(why), "{refused}");
        }
        let tampered = br#"{"ref":"refs/heads/evil"}"#;
        assert!(authorize(&hmac, &good, tampered, None).is_err());
    }

    #[test]
    fn ip_ranges_are_checked_against_the_connections_address() {
        let range = Authentication::Ip("192.0.2.0/24".parse().unwrap());
        let none = HeaderMap::new();
        let ip = |s: &str| Some(s.parse::<IpAddr>().unwrap());
        assert_eq!(authorize(&range, &none, b"{}", ip("192.0.2.7")), Ok(()));
        assert_eq!(
            authorize(&range, &none, b"{}", ip("::ffff:192.0.2.7")),
            Ok(())
        );
        let outside = authorize(&range, &none, b"{}", ip("198.51.100.1")).unwrap_err();
        assert!(
            outside.contains("198.51.100.1 is not in 192.0.2.0/24"),
            "{outside}"
        );
        // A header naming a trusted address is not the connection's.
        let mut forwarded = HeaderMap::new();
        forwarded.insert("x-forwarded-for", "192.0.2.7".parse().unwrap());
        assert!(authorize(&range, &forwarded, b"{}", None).is_err());
        assert_eq!(
            authorize(&Authentication::Unauthenticated, &none, b"{}", None),
            Ok(())
        );
    }

    #[test]
    fn payloads_are_json_or_githubs_form_encoding_of_it() {
        let json_body = br#"{"ref":"refs/heads/main"}"#;
        assert_eq!(
            payload(&HeaderMap::new(), json_body).unwrap()["ref"],
            "refs/heads/main"
        );
        let mut form = HeaderMap::new();
        form.insert(
            header::CONTENT_TYPE,
            "application/x-www-form-urlencoded".parse().unwrap(),
        );
        let encoded =
            serde_urlencoded::to_string([("payload", r#"{"ref":"refs/heads/main"}"#)]).unwrap();
        assert_eq!(
            payload(&form, encoded.as_bytes()).unwrap()["ref"],
            "refs/heads/main"
        );
        assert!(
            payload(&HeaderMap::new(), b"ref=main")
                .unwrap_err()
                .contains("not JSON")
        );
        assert!(
            payload(&form, b"other=1")
                .unwrap_err()
                .contains("no `payload`")
        );
    }
}
