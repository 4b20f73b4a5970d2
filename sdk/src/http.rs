//! Outbound HTTP through `wasi:http`, to the URLs the action's `http` grant
//! allows (everything else is denied by the host).
//!
//! ```no_run
//! # fn f() -> Result<(), sluice_sdk::Failure> {
//! let response = sluice_sdk::http::post_json("https://deploy.example.com/hooks", r#"{"ok":true}"#)?;
//! if !response.is_success() {
//!     return Err(sluice_sdk::Failure::job_failed(format!("status {}", response.status)));
//! }
//! # Ok(()) }
//! ```

use crate::Failure;
use std::io::Write;
use wasip2::http::outgoing_handler;
use wasip2::http::types::{ErrorCode, Fields, Method, OutgoingBody, OutgoingRequest, Scheme};

/// An HTTP response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response {
    /// The status code.
    pub status: u16,
    /// The headers, names in lower case.
    pub headers: Vec<(String, String)>,
    /// The body.
    pub body: Vec<u8>,
}

impl Response {
    /// Whether the status is 2xx.
    pub fn is_success(&self) -> bool {
        (200..300).contains(&self.status)
    }

    /// The body as text (invalid UTF-8 replaced).
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// A header's value.
    pub fn header(&self, name: &str) -> Option<&str> {
        let name = name.to_ascii_lowercase();
        self.headers
            .iter()
            .find(|(k, _)| *k == name)
            .map(|(_, v)| v.as_str())
    }
}

/// Largest response body read.
const MAX_BODY: usize = 64 << 20;

/// Sends `body` to `url` with `method` (`GET`, `POST`, `PUT`...) and
/// `headers`; returns the response, whatever its status. A denied URL is a
/// permission failure naming the grant to add.
pub fn request(
    method: &str,
    url: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> Result<Response, Failure> {
    request_streaming(method, url, headers, |out| out.write_all(body))
}

/// The body of a request as it is sent: written a piece at a time, never
/// held whole.
pub struct BodyWriter<'a> {
    stream: &'a wasip2::io::streams::OutputStream,
    written: u64,
}

impl BodyWriter<'_> {
    /// Bytes written so far.
    pub fn written(&self) -> u64 {
        self.written
    }
}

impl std::io::Write for BodyWriter<'_> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let chunk = &buf[..buf.len().min(4096)];
        self.stream
            .blocking_write_and_flush(chunk)
            .map_err(|e| std::io::Error::other(format!("{e:?}")))?;
        self.written += chunk.len() as u64;
        Ok(chunk.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.stream
            .blocking_flush()
            .map_err(|e| std::io::Error::other(format!("{e:?}")))
    }
}

/// [`request`] with a body `write_body` writes as it goes (a large
/// artifact streamed rather than read into memory first).
pub fn request_streaming(
    method: &str,
    url: &str,
    headers: &[(&str, &str)],
    write_body: impl FnOnce(&mut BodyWriter<'_>) -> std::io::Result<()>,
) -> Result<Response, Failure> {
    let (scheme, authority, path) = split_url(url)?;
    let fields: Vec<(String, Vec<u8>)> = headers
        .iter()
        .map(|(k, v)| (k.to_string(), v.as_bytes().to_vec()))
        .collect();
    let fields = Fields::from_list(&fields)
        .map_err(|e| Failure::configuration(format!("invalid HTTP header for {url}: {e:?}")))?;
    let request = OutgoingRequest::new(fields);
    let method = match method.to_ascii_uppercase().as_str() {
        "GET" => Method::Get,
        "POST" => Method::Post,
        "PUT" => Method::Put,
        "DELETE" => Method::Delete,
        "PATCH" => Method::Patch,
        "HEAD" => Method::Head,
        other => Method::Other(other.to_string()),
    };
    let refused =
        |what: &str| Failure::configuration(format!("invalid HTTP request to {url}: {what}"));
    request.set_method(&method).map_err(|_| refused("method"))?;
    request
        .set_scheme(Some(&scheme))
        .map_err(|_| refused("scheme"))?;
    request
        .set_authority(Some(&authority))
        .map_err(|_| refused("host"))?;
    request
        .set_path_with_query(Some(&path))
        .map_err(|_| refused("path"))?;
    let outgoing = request.body().map_err(|_| refused("body"))?;
    // Send first, then stream the body: the host buffers little of it.
    let future = outgoing_handler::handle(request, None).map_err(|e| error(url, e))?;
    {
        let stream = outgoing.write().map_err(|_| refused("body"))?;
        let mut writer = BodyWriter {
            stream: &stream,
            written: 0,
        };
        if let Err(e) = write_body(&mut writer) {
            // The host closes the body when it refuses or fails the
            // request: its own answer says why, so prefer it.
            drop(stream);
            future.subscribe().block();
            return Err(match future.get() {
                Some(Ok(Err(code))) => error(url, code),
                _ => Failure::system_unavailable(format!("sending the body to {url}: {e}")),
            });
        }
    }
    OutgoingBody::finish(outgoing, None).map_err(|e| error(url, e))?;
    future.subscribe().block();
    let response = match future.get() {
        Some(Ok(Ok(response))) => response,
        Some(Ok(Err(e))) => return Err(error(url, e)),
        _ => {
            return Err(Failure::system_unavailable(format!(
                "no response from {url}"
            )));
        }
    };
    let status = response.status();
    let headers = response
        .headers()
        .entries()
        .into_iter()
        .map(|(k, v)| {
            (
                k.to_ascii_lowercase(),
                String::from_utf8_lossy(&v).into_owned(),
            )
        })
        .collect();
    let incoming = response
        .consume()
        .map_err(|_| Failure::system_unavailable(format!("cannot read the response from {url}")))?;
    let mut body = Vec::new();
    {
        let stream = incoming.stream().map_err(|_| {
            Failure::system_unavailable(format!("cannot read the response from {url}"))
        })?;
        while let Ok(chunk) = stream.blocking_read(64 * 1024) {
            body.extend_from_slice(&chunk);
            if body.len() > MAX_BODY {
                return Err(Failure::job_failed(format!(
                    "the response from {url} is larger than 64 MiB"
                )));
            }
        }
    }
    Ok(Response {
        status,
        headers,
        body,
    })
}

/// `POST`s a JSON document.
pub fn post_json(url: &str, json: &str) -> Result<Response, Failure> {
    request(
        "POST",
        url,
        &[("content-type", "application/json")],
        json.as_bytes(),
    )
}

/// `GET`s a URL.
pub fn get(url: &str) -> Result<Response, Failure> {
    request("GET", url, &[], &[])
}

fn error(url: &str, code: ErrorCode) -> Failure {
    match code {
        ErrorCode::HttpRequestDenied => Failure::permission(format!(
            "the HTTP request to {url} was denied: the action needs an `http` grant allowing it \
             (grants: {{ http: {{ allow: [\"{url}\"] }} }})"
        )),
        ErrorCode::DnsError(_) | ErrorCode::ConnectionRefused | ErrorCode::ConnectionTimeout => {
            Failure::system_unavailable(format!("cannot reach {url}: {code:?}"))
        }
        other => Failure::system_unavailable(format!("HTTP request to {url} failed: {other:?}")),
    }
}

/// Splits `url` into scheme, authority and path-with-query.
fn split_url(url: &str) -> Result<(Scheme, String, String), Failure> {
    let (scheme, rest) = url.split_once("://").ok_or_else(|| {
        Failure::configuration(format!("`{url}` is not an http:// or https:// URL"))
    })?;
    let scheme = match scheme.to_ascii_lowercase().as_str() {
        "http" => Scheme::Http,
        "https" => Scheme::Https,
        other => {
            return Err(Failure::configuration(format!(
                "`{url}` uses `{other}`; only http and https are supported"
            )));
        }
    };
    let (authority, path) = match rest.find(['/', '?']) {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, "/"),
    };
    if authority.is_empty() {
        return Err(Failure::configuration(format!("`{url}` has no host")));
    }
    let path = if path.starts_with('?') {
        format!("/{path}")
    } else {
        path.to_string()
    };
    Ok((scheme, authority.to_string(), path))
}
