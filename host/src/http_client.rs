//! The host's own HTTP client (notifications, the command line talking to
//! a server): HTTP/1.1 over TCP, or TLS for `https://` URLs, through the
//! same connector the sandbox's `wasi:http` uses.

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use std::time::Duration;
use wasmtime_wasi_http::{Error, RequestOptions};

/// An answer.
#[derive(Debug, Clone)]
pub struct HttpResponse {
    /// The status code.
    pub status: u16,
    /// The body.
    pub body: Vec<u8>,
}

/// An answer whose body is read as it arrives.
pub struct HttpStream {
    /// The status code.
    pub status: u16,
    body: http_body_util::combinators::UnsyncBoxBody<Bytes, Error>,
    _io: tokio::task::JoinHandle<()>,
}

impl std::fmt::Debug for HttpStream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HttpStream")
            .field("status", &self.status)
            .finish()
    }
}

impl HttpStream {
    /// The next piece of the body; `None` at its end.
    pub async fn next_chunk(&mut self) -> Option<Result<Bytes, String>> {
        loop {
            match self.body.frame().await? {
                Ok(frame) => {
                    if let Ok(data) = frame.into_data() {
                        return Some(Ok(data));
                    }
                }
                Err(e) => return Some(Err(format!("{e:?}"))),
            }
        }
    }
}

async fn send(
    method: &str,
    url: &str,
    headers: &[(&str, String)],
    body: Option<Vec<u8>>,
    timeout: Duration,
) -> Result<HttpStream, String> {
    let uri: http::Uri = url
        .parse()
        .map_err(|e| format!("`{url}` is not a URL: {e}"))?;
    let authority = uri
        .authority()
        .ok_or_else(|| format!("`{url}` has no host"))?
        .clone();
    let method: http::Method = method
        .parse()
        .map_err(|_| format!("`{method}` is not an HTTP method"))?;
    let mut builder = http::Request::builder()
        .method(method)
        .uri(uri)
        .header(http::header::HOST, authority.as_str())
        .header(
            http::header::USER_AGENT,
            concat!("sluice/", env!("CARGO_PKG_VERSION")),
        );
    for (name, value) in headers {
        builder = builder.header(*name, value);
    }
    let body = Full::new(Bytes::from(body.unwrap_or_default())).map_err(|never| match never {});
    let request = builder
        .body(body)
        .map_err(|e| format!("cannot make the request to {url}: {e}"))?;
    let options = RequestOptions {
        connect_timeout: Some(timeout),
        first_byte_timeout: Some(timeout),
        between_bytes_timeout: None,
    };
    let (response, io) = wasmtime_wasi_http::default_send_request(request, Some(options))
        .await
        .map_err(|e| describe(url, &e))?;
    let io = tokio::spawn(async move {
        let _ = io.await;
    });
    let status = response.status().as_u16();
    Ok(HttpStream {
        status,
        body: response.into_body().boxed_unsync(),
        _io: io,
    })
}

/// Sends a request and reads the whole answer (at most `timeout` for the
/// connection and the first byte, and again for the body).
pub async fn request(
    method: &str,
    url: &str,
    headers: &[(&str, String)],
    body: Option<Vec<u8>>,
    timeout: Duration,
) -> Result<HttpResponse, String> {
    let mut stream = send(method, url, headers, body, timeout).await?;
    let mut collected = Vec::new();
    let read = async {
        while let Some(chunk) = stream.next_chunk().await {
            collected.extend_from_slice(&chunk?);
        }
        Ok::<_, String>(())
    };
    tokio::time::timeout(timeout.max(Duration::from_secs(30)), read)
        .await
        .map_err(|_| format!("{url} did not finish its answer in time"))??;
    Ok(HttpResponse {
        status: stream.status,
        body: collected,
    })
}

/// Sends a request and gives the answer's body as it arrives (for
/// server-sent events).
pub async fn open_stream(
    url: &str,
    headers: &[(&str, String)],
    timeout: Duration,
) -> Result<HttpStream, String> {
    send("GET", url, headers, None, timeout).await
}

fn describe(url: &str, error: &Error) -> String {
    match error {
        Error::Connect(e) => format!("cannot connect to {url}: {e}"),
        Error::ConnectionRefused => format!("{url} refused the connection"),
        Error::ConnectionTimeout => format!("{url} did not answer in time"),
        other => format!("request to {url} failed: {other:?}"),
    }
}
