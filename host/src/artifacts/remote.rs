//! Artifacts in S3-compatible object storage, for hosts that share work:
//! each artifact is one object, `<prefix>/artifacts/<digest>.tar` (see
//! [`super::pack`]), written once when its action succeeds and read by any
//! host whose local store lacks it. The local store stays the cache: a
//! consumer on the producing host still gets the folder handed over, with
//! nothing fetched.
//!
//! One archive per artifact rather than one object per file: an artifact of
//! many small files costs one request each way, not one per file (see
//! BENCHMARKS.md). The client is `object_store` (Apache Arrow's), which
//! signs with SigV4 and streams multipart uploads.

use super::pack;
use super::store::{ArtifactError, ArtifactStore};
use crate::contain::Budget;
use futures_util::StreamExt;
use object_store::path::Path as ObjectPath;
use object_store::{ObjectStore, ObjectStoreExt};
use std::io::Write;
use std::path::Path;
use std::sync::Arc;

/// Where artifacts go, and how to reach it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RemoteSettings {
    /// `s3://BUCKET[/PREFIX]`.
    pub url: String,
    /// The endpoint of an S3-compatible server (`AWS_ENDPOINT_URL`); AWS
    /// itself when unset.
    pub endpoint: Option<String>,
    /// The region (`AWS_REGION`, else `AWS_DEFAULT_REGION`, else
    /// `us-east-1`).
    pub region: Option<String>,
    /// `AWS_ACCESS_KEY_ID`.
    pub access_key_id: Option<String>,
    /// `AWS_SECRET_ACCESS_KEY`.
    pub secret_access_key: Option<String>,
    /// `AWS_SESSION_TOKEN`.
    pub session_token: Option<String>,
}

impl RemoteSettings {
    /// The settings for `url` from AWS's usual environment variables, as
    /// `get` reads them.
    pub fn from_env<'a>(url: &str, get: impl Fn(&str) -> Option<&'a str>) -> RemoteSettings {
        let owned = |name: &str| get(name).map(str::to_string);
        RemoteSettings {
            url: url.to_string(),
            endpoint: owned("AWS_ENDPOINT_URL_S3").or_else(|| owned("AWS_ENDPOINT_URL")),
            region: owned("AWS_REGION").or_else(|| owned("AWS_DEFAULT_REGION")),
            access_key_id: owned("AWS_ACCESS_KEY_ID"),
            secret_access_key: owned("AWS_SECRET_ACCESS_KEY"),
            session_token: owned("AWS_SESSION_TOKEN"),
        }
    }
}

/// Artifacts in a bucket.
#[derive(Debug, Clone)]
pub struct Remote {
    store: Arc<dyn ObjectStore>,
    prefix: String,
    shown: String,
}

/// How big each part of a multipart upload is.
const PART_BYTES: usize = 8 << 20;

fn failed(what: String) -> impl FnOnce(object_store::Error) -> ArtifactError {
    move |e| ArtifactError::Io {
        what,
        source: std::io::Error::other(e.to_string()),
    }
}

impl Remote {
    /// A bucket's artifacts; `settings.url` must be `s3://BUCKET[/PREFIX]`.
    pub fn new(settings: &RemoteSettings) -> Result<Remote, ArtifactError> {
        let bad = |message: String| ArtifactError::Io {
            what: format!("artifacts at {}", settings.url),
            source: std::io::Error::other(message),
        };
        let rest = settings
            .url
            .strip_prefix("s3://")
            .ok_or_else(|| bad("only s3://BUCKET[/PREFIX] URLs are accepted".into()))?;
        let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
        if bucket.is_empty() {
            return Err(bad("the URL names no bucket".into()));
        }
        let prefix = prefix.trim_matches('/').to_string();
        let mut builder = object_store::aws::AmazonS3Builder::new()
            .with_bucket_name(bucket)
            .with_region(settings.region.as_deref().unwrap_or("us-east-1"));
        if let Some(endpoint) = &settings.endpoint {
            builder = builder
                .with_endpoint(endpoint)
                .with_allow_http(endpoint.starts_with("http://"))
                .with_virtual_hosted_style_request(false);
        }
        if let Some(key) = &settings.access_key_id {
            builder = builder.with_access_key_id(key);
        }
        if let Some(secret) = &settings.secret_access_key {
            builder = builder.with_secret_access_key(secret);
        }
        if let Some(token) = &settings.session_token {
            builder = builder.with_token(token);
        }
        let store = builder.build().map_err(|e| bad(e.to_string()))?;
        Ok(Remote {
            store: Arc::new(store),
            prefix,
            shown: settings.url.clone(),
        })
    }

    /// The object store and the prefix under which artifacts are kept
    /// (for benchmarks that compare other layouts).
    pub fn object_store(&self) -> (Arc<dyn ObjectStore>, String) {
        (self.store.clone(), self.prefix.clone())
    }

    /// Where artifacts are, for messages.
    pub fn url(&self) -> &str {
        &self.shown
    }

    fn key(&self, digest: &str) -> ObjectPath {
        if self.prefix.is_empty() {
            ObjectPath::from(format!("artifacts/{digest}.tar"))
        } else {
            ObjectPath::from(format!("{}/artifacts/{digest}.tar", self.prefix))
        }
    }

    /// Whether artifact `digest` is in the bucket.
    pub async fn has(&self, digest: &str) -> Result<bool, ArtifactError> {
        match self.store.head(&self.key(digest)).await {
            Ok(_) => Ok(true),
            Err(object_store::Error::NotFound { .. }) => Ok(false),
            Err(e) => Err(failed(format!(
                "looking for artifact sha256:{digest} in {}",
                self.shown
            ))(e)),
        }
    }

    /// Puts artifact `digest` from `local` into the bucket (once: an
    /// artifact already there stays).
    pub async fn push(&self, local: &ArtifactStore, digest: &str) -> Result<(), ArtifactError> {
        if self.has(digest).await? {
            return Ok(());
        }
        let what = format!("putting artifact sha256:{digest} into {}", self.shown);
        let archive = {
            let local = local.clone();
            let digest = digest.to_string();
            tokio::task::spawn_blocking(move || -> Result<std::fs::File, ArtifactError> {
                let file = tempfile::tempfile_in(local.trees_dir()).map_err(|source| {
                    ArtifactError::Io {
                        what: "making a file to pack an artifact into".into(),
                        source,
                    }
                })?;
                pack::pack(
                    &local,
                    &digest,
                    file.try_clone().map_err(|source| ArtifactError::Io {
                        what: "packing an artifact".into(),
                        source,
                    })?,
                )?;
                Ok(file)
            })
            .await
            .map_err(|e| ArtifactError::Io {
                what: what.clone(),
                source: std::io::Error::other(e.to_string()),
            })??
        };
        let mut reader = tokio::fs::File::from_std(archive);
        use tokio::io::AsyncSeekExt;
        reader
            .seek(std::io::SeekFrom::Start(0))
            .await
            .map_err(|source| ArtifactError::Io {
                what: what.clone(),
                source,
            })?;
        self.upload(&self.key(digest), reader, what).await
    }

    /// Streams `reader` into the object `key`, in parts, at most two in
    /// flight: memory stays bounded whatever the object's size.
    async fn upload(
        &self,
        key: &ObjectPath,
        mut reader: impl tokio::io::AsyncRead + Unpin,
        what: String,
    ) -> Result<(), ArtifactError> {
        use tokio::io::AsyncReadExt;
        let upload = self
            .store
            .put_multipart(key)
            .await
            .map_err(failed(what.clone()))?;
        let mut writer = object_store::WriteMultipart::new_with_chunk_size(upload, PART_BYTES);
        let mut buffer = vec![0u8; 1 << 20];
        loop {
            let n = reader
                .read(&mut buffer)
                .await
                .map_err(|source| ArtifactError::Io {
                    what: what.clone(),
                    source,
                })?;
            if n == 0 {
                break;
            }
            writer
                .wait_for_capacity(2)
                .await
                .map_err(failed(what.clone()))?;
            writer.write(&buffer[..n]);
        }
        writer.finish().await.map_err(failed(what))?;
        Ok(())
    }

    /// The object `name` (a path under the bucket's prefix, beside
    /// `artifacts/`) for objects hosts share that are not artifacts.
    fn object(&self, name: &str) -> ObjectPath {
        if self.prefix.is_empty() {
            ObjectPath::from(name)
        } else {
            ObjectPath::from(format!("{}/{name}", self.prefix))
        }
    }

    /// Puts the file `path` into the bucket as object `name` (under the
    /// prefix), replacing what was there.
    pub async fn put_file(&self, name: &str, path: &Path) -> Result<(), ArtifactError> {
        let what = format!("putting {name} into {}", self.shown);
        let file = tokio::fs::File::open(path)
            .await
            .map_err(|source| ArtifactError::Io {
                what: what.clone(),
                source,
            })?;
        self.upload(&self.object(name), file, what).await
    }

    /// Brings object `name` (under the prefix) to the file `path`, written
    /// beside it first and renamed into place whole; `false` when the
    /// bucket has no such object.
    pub async fn get_file(&self, name: &str, path: &Path) -> Result<bool, ArtifactError> {
        let what = format!("fetching {name} from {}", self.shown);
        let io = |source| ArtifactError::Io {
            what: what.clone(),
            source,
        };
        let got = match self.store.get(&self.object(name)).await {
            Ok(got) => got,
            Err(object_store::Error::NotFound { .. }) => return Ok(false),
            Err(e) => return Err(failed(what)(e)),
        };
        let parent = path.parent().unwrap_or(Path::new("."));
        tokio::fs::create_dir_all(parent).await.map_err(io)?;
        let partial = tempfile::NamedTempFile::new_in(parent).map_err(io)?;
        let mut file = tokio::fs::File::from_std(partial.reopen().map_err(io)?);
        let mut stream = got.into_stream();
        use tokio::io::AsyncWriteExt;
        while let Some(chunk) = stream.next().await {
            let chunk = chunk.map_err(failed(what.clone()))?;
            file.write_all(&chunk).await.map_err(io)?;
        }
        file.flush().await.map_err(io)?;
        drop(file);
        partial.persist(path).map_err(|e| io(e.error))?;
        Ok(true)
    }

    /// Removes every object under `folder` (under the prefix).
    pub async fn remove_under(&self, folder: &str) -> Result<(), ArtifactError> {
        let what = format!("removing {folder} from {}", self.shown);
        let prefix = self.object(folder.trim_end_matches('/'));
        let mut listed = self.store.list(Some(&prefix));
        while let Some(meta) = listed.next().await {
            let meta = meta.map_err(failed(what.clone()))?;
            match self.store.delete(&meta.location).await {
                Ok(()) | Err(object_store::Error::NotFound { .. }) => {}
                Err(e) => return Err(failed(what)(e)),
            }
        }
        Ok(())
    }

    /// Fetches artifact `name` (`digest`) into `local` unless it is there
    /// already; what the archive holds must match the digest and its sums
    /// (see [`pack::unpack`]), within `budget`.
    pub async fn fetch(
        &self,
        local: &ArtifactStore,
        name: &str,
        digest: &str,
        budget: Budget,
    ) -> Result<(), ArtifactError> {
        if local.has(digest) {
            return Ok(());
        }
        let what = format!(
            "fetching artifact `{name}` (sha256:{digest}) from {}",
            self.shown
        );
        let got = match self.store.get(&self.key(digest)).await {
            Ok(got) => got,
            Err(object_store::Error::NotFound { .. }) => {
                return Err(ArtifactError::Corrupt {
                    name: name.to_string(),
                    digest: digest.to_string(),
                    problem: format!("it is neither in this host's store nor in {}", self.shown),
                });
            }
            Err(e) => return Err(failed(what)(e)),
        };
        let mut file =
            tempfile::tempfile_in(local.trees_dir()).map_err(|source| ArtifactError::Io {
                what: what.clone(),
                source,
            })?;
        let mut stream = got.into_stream();
        while let Some(chunk) = stream.next().await {
            let chunk = chunk.map_err(failed(what.clone()))?;
            file.write_all(&chunk).map_err(|source| ArtifactError::Io {
                what: what.clone(),
                source,
            })?;
        }
        use std::io::Seek;
        file.seek(std::io::SeekFrom::Start(0))
            .map_err(|source| ArtifactError::Io {
                what: what.clone(),
                source,
            })?;
        let local = local.clone();
        let (name, digest) = (name.to_string(), digest.to_string());
        tokio::task::spawn_blocking(move || {
            let mut budget = budget;
            pack::unpack(&local, &name, &digest, file, &mut budget)
        })
        .await
        .map_err(|e| ArtifactError::Io {
            what,
            source: std::io::Error::other(e.to_string()),
        })?
    }

    /// Removes artifact `digest` from the bucket (nothing there is fine).
    pub async fn remove(&self, digest: &str) -> Result<(), ArtifactError> {
        match self.store.delete(&self.key(digest)).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(e) => Err(failed(format!(
                "removing artifact sha256:{digest} from {}",
                self.shown
            ))(e)),
        }
    }
}
