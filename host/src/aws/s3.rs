//! The S3 endpoint of custom actions' jobs: a worker fetches its job's
//! input artifacts (`GetObject`, `HeadObject`) and puts its outputs
//! (`PutObject`) as zips at the locations the job's data gives
//! (`s3://sluice-jobs/JOB/{in,out}/NAME.zip`, path-style on this server),
//! signed with the job's own `artifactCredentials` and nothing else: a
//! key reaches its own job's inputs (read) and outputs (write) only, and
//! only while the job is the worker's. Errors are S3's XML.

use super::sigv4;
use crate::api::AppState;
use crate::engine::external;
use crate::store::{AwsJob, aws_job_state as state};
use axum::body::Body;
use axum::extract::{Path, Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use futures_util::StreamExt;
use serde_json::Value;
use sha2::{Digest, Sha256};
use tokio::io::{AsyncReadExt, AsyncSeekExt, AsyncWriteExt};

/// The route: the jobs' bucket, path-style.
pub const ROUTE: &str = "/sluice-jobs/{*key}";

/// The largest object a worker may put (an artifact's default cap).
const MAX_OBJECT: u64 = 10 << 30;

/// An error as S3 answers it.
struct S3Error {
    status: StatusCode,
    code: &'static str,
    message: String,
}

fn s3_error(status: StatusCode, code: &'static str, message: impl Into<String>) -> S3Error {
    S3Error {
        status,
        code,
        message: message.into(),
    }
}

/// S3's `InternalError`: the host failed, not the request.
fn internal(error: impl std::fmt::Display) -> S3Error {
    s3_error(
        StatusCode::INTERNAL_SERVER_ERROR,
        "InternalError",
        error.to_string(),
    )
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

impl IntoResponse for S3Error {
    fn into_response(self) -> Response {
        let body = format!(
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>{}</Code><Message>{}</Message></Error>",
            self.code,
            escape(&self.message)
        );
        let mut response = (self.status, body).into_response();
        response.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/xml"),
        );
        response
    }
}

/// `GET`, `HEAD` and `PUT` of one object.
pub async fn object(
    State(state): State<AppState>,
    Path(key): Path<String>,
    request: Request,
) -> Response {
    match serve(&state, &key, request).await {
        Ok(response) => response,
        Err(error) => error.into_response(),
    }
}

async fn serve(state: &AppState, key: &str, request: Request) -> Result<Response, S3Error> {
    let (parts, body) = request.into_parts();
    let job = authenticate(state, &parts).await?;
    // JOB/in/NAME.zip or JOB/out/NAME.zip, of this job only.
    let mut segments = key.splitn(3, '/');
    let (id, direction, file) = (
        segments.next().unwrap_or_default(),
        segments.next().unwrap_or_default(),
        segments.next().unwrap_or_default(),
    );
    let denied = || {
        s3_error(
            StatusCode::FORBIDDEN,
            "AccessDenied",
            format!("these credentials reach only job {}'s artifacts", job.id),
        )
    };
    if id != job.id {
        return Err(denied());
    }
    let name = file.strip_suffix(".zip").unwrap_or("");
    let data: Value = serde_json::from_str(&job.data).unwrap_or(Value::Null);
    let listed = |member: &str| {
        data.get(member).and_then(Value::as_array).is_some_and(|a| {
            a.iter()
                .any(|x| x.get("name").and_then(Value::as_str) == Some(name))
        })
    };
    match (&parts.method, direction) {
        (&Method::GET | &Method::HEAD, "in") if listed("inputArtifacts") => {
            let path =
                external::local_object(state.remote(), state.state_dir(), &job.id, "in", name)
                    .await
                    .map_err(internal)?
                    .unwrap_or_else(|| external::zip_path(state.state_dir(), &job.id, "in", name));
            read(&path, &parts.method, &parts.headers, key).await
        }
        (&Method::PUT, "out") if listed("outputArtifacts") => {
            if job.state != state::DISPATCHED && job.state != state::IN_PROGRESS {
                return Err(s3_error(
                    StatusCode::FORBIDDEN,
                    "AccessDenied",
                    format!(
                        "job {} is {}: its outputs can no longer be put",
                        job.id, job.state
                    ),
                ));
            }
            let path = external::zip_path(state.state_dir(), &job.id, "out", name);
            let response = write(&path, &parts.headers, body).await?;
            // For a call-back on another host (the put is answered once
            // every host can read it).
            external::share_object(state.remote(), &job.id, "out", name, &path)
                .await
                .map_err(internal)?;
            Ok(response)
        }
        (&Method::GET | &Method::HEAD | &Method::PUT, _) => Err(denied()),
        _ => Err(s3_error(
            StatusCode::METHOD_NOT_ALLOWED,
            "MethodNotAllowed",
            "only GetObject, HeadObject and PutObject are answered here",
        )),
    }
}

/// The job whose credentials signed the request (SigV4 for `s3`, with the
/// job's session token).
async fn authenticate(
    state: &AppState,
    parts: &axum::http::request::Parts,
) -> Result<AwsJob, S3Error> {
    let request = sigv4::Request::of(parts, &[]);
    let key_id = request.access_key_id().to_string();
    let denied =
        |code: &'static str, message: String| s3_error(StatusCode::FORBIDDEN, code, message);
    let lookup = key_id.clone();
    let job = if key_id.is_empty() {
        None
    } else {
        state
            .read(move |s| {
                s.aws_job_by_key(&lookup)
                    .map_err(crate::queries::OpError::internal)
            })
            .await
            .map_err(|e| internal(e.0.message))?
    };
    let data: Value = job
        .as_ref()
        .and_then(|j| serde_json::from_str(&j.data).ok())
        .unwrap_or(Value::Null);
    let credential = |name: &str| {
        data.pointer(&format!("/artifactCredentials/{name}"))
            .and_then(Value::as_str)
            .map(str::to_string)
    };
    sigv4::verify(&request, "s3", std::time::SystemTime::now(), |_| {
        credential("secretAccessKey")
    })
    .map_err(|e| match e {
        sigv4::AuthError::UnknownKey => denied(
            "InvalidAccessKeyId",
            "The AWS access key Id you provided is not one of a job's".into(),
        ),
        sigv4::AuthError::Invalid(m) if m.contains("Signature expired") => {
            denied("RequestTimeTooSkewed", m)
        }
        other => denied("SignatureDoesNotMatch", other.message()),
    })?;
    let job = job.ok_or_else(|| denied("InvalidAccessKeyId", "unknown key".into()))?;
    let token = parts
        .headers
        .get("x-amz-security-token")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let expected = credential("sessionToken").unwrap_or_default();
    if !sigv4::constant_time_eq(token.as_bytes(), expected.as_bytes()) || token.is_empty() {
        return Err(denied(
            "InvalidToken",
            "The provided token is malformed or otherwise invalid.".into(),
        ));
    }
    Ok(job)
}

/// `GetObject` (one byte range, when asked) or `HeadObject`. The object
/// is streamed from its file in chunks, never held whole in memory (an
/// input artifact may be as large as any artifact); its ETag comes from
/// the file's size and modification time, which change whenever it does.
async fn read(
    path: &std::path::Path,
    method: &Method,
    headers: &HeaderMap,
    key: &str,
) -> Result<Response, S3Error> {
    let mut file = tokio::fs::File::open(path).await.map_err(|_| {
        s3_error(
            StatusCode::NOT_FOUND,
            "NoSuchKey",
            format!("The specified key does not exist: {key}"),
        )
    })?;
    let metadata = file.metadata().await.map_err(internal)?;
    let total = metadata.len();
    let (status, range) = match headers.get(header::RANGE).and_then(|v| v.to_str().ok()) {
        Some(text) => match byte_range(text, total) {
            Some(r) => (StatusCode::PARTIAL_CONTENT, r),
            None => {
                return Err(s3_error(
                    StatusCode::RANGE_NOT_SATISFIABLE,
                    "InvalidRange",
                    "The requested range is not satisfiable",
                ));
            }
        },
        None => (StatusCode::OK, 0..total),
    };
    let modified = metadata
        .modified()
        .ok()
        .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
        .map_or(0, |d| d.as_nanos());
    let etag = format!(
        "\"{}\"",
        &hex::encode(Sha256::digest(format!("{total}:{modified}")))[..32]
    );
    let mut response = Response::builder()
        .status(status)
        .header(header::CONTENT_TYPE, "application/zip")
        .header(header::CONTENT_LENGTH, range.end - range.start)
        .header(header::ETAG, etag)
        .header(header::ACCEPT_RANGES, "bytes");
    if status == StatusCode::PARTIAL_CONTENT {
        response = response.header(
            header::CONTENT_RANGE,
            format!(
                "bytes {}-{}/{total}",
                range.start,
                range.end.saturating_sub(1)
            ),
        );
    }
    let body = if method == Method::HEAD {
        Body::empty()
    } else {
        file.seek(std::io::SeekFrom::Start(range.start))
            .await
            .map_err(internal)?;
        Body::from_stream(chunks(file.take(range.end - range.start)))
    };
    response.body(body).map_err(internal)
}

/// A reader as a stream of chunks of at most 64 KiB.
fn chunks(
    reader: impl tokio::io::AsyncRead + Unpin + Send + 'static,
) -> impl futures_util::Stream<Item = std::io::Result<Vec<u8>>> + Send {
    futures_util::stream::unfold(reader, |mut reader| async move {
        let mut buffer = vec![0; 64 << 10];
        match reader.read(&mut buffer).await {
            Ok(0) => None,
            Ok(n) => {
                buffer.truncate(n);
                Some((Ok(buffer), reader))
            }
            Err(e) => Some((Err(e), reader)),
        }
    })
}

/// `bytes=A-B`, `bytes=A-` or `bytes=-N` of an object of `total` bytes.
fn byte_range(text: &str, total: u64) -> Option<std::ops::Range<u64>> {
    let spec = text.strip_prefix("bytes=")?;
    let (start, end) = spec.split_once('-')?;
    let range = match (start.trim(), end.trim()) {
        ("", n) => {
            let n: u64 = n.parse().ok()?;
            total.saturating_sub(n)..total
        }
        (a, "") => a.parse().ok()?..total,
        (a, b) => a.parse().ok()?..(b.parse::<u64>().ok()?.saturating_add(1)).min(total),
    };
    (range.start < range.end && range.start < total).then_some(range)
}

/// `PutObject`: the body streamed to the job's folder, its SHA-256 checked
/// against the one signed, at most [`MAX_OBJECT`] bytes; an object put
/// again replaces the last.
async fn write(
    path: &std::path::Path,
    headers: &HeaderMap,
    body: Body,
) -> Result<Response, S3Error> {
    let signed = headers
        .get("x-amz-content-sha256")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("UNSIGNED-PAYLOAD")
        .to_string();
    let chunked = headers
        .get(header::CONTENT_ENCODING)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|p| p.trim() == "aws-chunked"));
    if chunked || signed.starts_with("STREAMING-") {
        return Err(s3_error(
            StatusCode::NOT_IMPLEMENTED,
            "NotImplemented",
            "aws-chunked uploads are not taken here: put the object in one body",
        ));
    }
    let parent = path.parent().expect("a job's object has a folder");
    // On a host other than the one that queued the job, its folder is new.
    tokio::fs::create_dir_all(parent).await.map_err(internal)?;
    // Each put writes its own partial file, so two puts of one key at once
    // cannot mix: the last to finish is the object.
    let partial = parent.join(format!(
        ".{}.{}.part",
        path.file_name()
            .and_then(|n| n.to_str())
            .unwrap_or("object"),
        uuid::Uuid::now_v7().simple()
    ));
    let result = receive(&partial, body, &signed).await;
    let digest = match result {
        Ok(digest) => digest,
        Err(error) => {
            let _ = tokio::fs::remove_file(&partial).await;
            return Err(error);
        }
    };
    tokio::fs::rename(&partial, path).await.map_err(internal)?;
    let mut response = StatusCode::OK.into_response();
    if let Ok(etag) = HeaderValue::from_str(&format!("\"{}\"", &digest[..32])) {
        response.headers_mut().insert(header::ETAG, etag);
    }
    Ok(response)
}

/// Writes a put's body to `partial`, at most [`MAX_OBJECT`] bytes, and
/// checks it against the SHA-256 `signed` (unless `UNSIGNED-PAYLOAD`);
/// returns that digest in hex. The caller removes `partial` on an error.
async fn receive(partial: &std::path::Path, body: Body, signed: &str) -> Result<String, S3Error> {
    let mut file = tokio::fs::File::create(partial).await.map_err(internal)?;
    let mut hasher = Sha256::new();
    let mut size: u64 = 0;
    let mut stream = body.into_data_stream();
    while let Some(chunk) = stream.next().await {
        let chunk = chunk
            .map_err(|e| s3_error(StatusCode::BAD_REQUEST, "IncompleteBody", e.to_string()))?;
        size += chunk.len() as u64;
        if size > MAX_OBJECT {
            return Err(s3_error(
                StatusCode::BAD_REQUEST,
                "EntityTooLarge",
                format!("an object may hold at most {MAX_OBJECT} bytes"),
            ));
        }
        hasher.update(&chunk);
        file.write_all(&chunk).await.map_err(internal)?;
    }
    // tokio writes in the background: flush before the file is renamed.
    file.flush().await.map_err(internal)?;
    let digest = hex::encode(hasher.finalize());
    if signed != "UNSIGNED-PAYLOAD" && !signed.eq_ignore_ascii_case(&digest) {
        return Err(s3_error(
            StatusCode::BAD_REQUEST,
            "XAmzContentSHA256Mismatch",
            "The provided 'x-amz-content-sha256' header does not match what was computed.",
        ));
    }
    Ok(digest)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn byte_ranges_are_read_as_s3_reads_them() {
        assert_eq!(byte_range("bytes=0-9", 100), Some(0..10));
        assert_eq!(byte_range("bytes=90-", 100), Some(90..100));
        assert_eq!(byte_range("bytes=-5", 100), Some(95..100));
        assert_eq!(byte_range("bytes=95-200", 100), Some(95..100));
        assert_eq!(byte_range("bytes=100-", 100), None);
        assert_eq!(byte_range("lines=1-2", 100), None);
    }

    async fn body_of(response: Response) -> Vec<u8> {
        axum::body::to_bytes(response.into_body(), usize::MAX)
            .await
            .unwrap()
            .to_vec()
    }

    #[tokio::test]
    async fn objects_are_streamed_whole_or_by_range_and_heads_carry_no_body() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("Code.zip");
        // More than one chunk, each byte telling its place.
        let content: Vec<u8> = (0..200_000u32).map(|i| (i % 251) as u8).collect();
        std::fs::write(&path, &content).unwrap();
        let whole = read(&path, &Method::GET, &HeaderMap::new(), "k")
            .await
            .ok()
            .unwrap();
        assert_eq!(whole.status(), StatusCode::OK);
        assert_eq!(whole.headers()[header::CONTENT_LENGTH], "200000");
        let etag = whole.headers()[header::ETAG].clone();
        assert_eq!(body_of(whole).await, content);

        let mut headers = HeaderMap::new();
        headers.insert(
            header::RANGE,
            HeaderValue::from_static("bytes=70000-140001"),
        );
        let part = read(&path, &Method::GET, &headers, "k").await.ok().unwrap();
        assert_eq!(part.status(), StatusCode::PARTIAL_CONTENT);
        assert_eq!(
            part.headers()[header::CONTENT_RANGE],
            "bytes 70000-140001/200000"
        );
        assert_eq!(part.headers()[header::ETAG], etag);
        assert_eq!(body_of(part).await, content[70000..140002]);

        let head = read(&path, &Method::HEAD, &HeaderMap::new(), "k")
            .await
            .ok()
            .unwrap();
        assert_eq!(head.headers()[header::CONTENT_LENGTH], "200000");
        assert!(body_of(head).await.is_empty());

        headers.insert(header::RANGE, HeaderValue::from_static("bytes=200000-"));
        let beyond = read(&path, &Method::GET, &headers, "k")
            .await
            .err()
            .unwrap();
        assert_eq!(beyond.code, "InvalidRange");
        let missing = read(
            &dir.path().join("Other.zip"),
            &Method::GET,
            &HeaderMap::new(),
            "k",
        )
        .await
        .err()
        .unwrap();
        assert_eq!(missing.code, "NoSuchKey");
    }

    #[tokio::test]
    async fn a_put_whose_body_does_not_match_its_signed_digest_changes_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("Out.zip");
        std::fs::write(&path, b"before").unwrap();
        let mut headers = HeaderMap::new();
        headers.insert(
            "x-amz-content-sha256",
            HeaderValue::from_str(&hex::encode(Sha256::digest(b"something else"))).unwrap(),
        );
        let refused = write(&path, &headers, Body::from("after"))
            .await
            .err()
            .unwrap();
        assert_eq!(refused.code, "XAmzContentSHA256Mismatch");
        assert_eq!(std::fs::read(&path).unwrap(), b"before");
        // No partial file is left beside it.
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);

        headers.insert(
            "x-amz-content-sha256",
            HeaderValue::from_str(&hex::encode(Sha256::digest(b"after"))).unwrap(),
        );
        let put = write(&path, &headers, Body::from("after"))
            .await
            .ok()
            .unwrap();
        assert_eq!(put.status(), StatusCode::OK);
        assert_eq!(std::fs::read(&path).unwrap(), b"after");
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
    }
}
