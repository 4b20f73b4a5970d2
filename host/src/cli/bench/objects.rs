//! `sluice bench objects`: putting an artifact into object storage and
//! fetching it back, as one archive per artifact (what Sluice does) and as
//! one object per file (the alternative), against `cp -r` of the same tree.

use super::handoff::{HandoffMeasurement, make_tree};
use super::median;
use clap::Args;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Settings of the object storage benchmark.
#[derive(Debug, Clone, Args)]
pub struct ObjectsArgs {
    /// Files in the artifact.
    #[arg(long, default_value_t = 1000)]
    pub files: u32,
    /// Bytes in the artifact, spread evenly over the files.
    #[arg(long, default_value = "64MiB", value_parser = crate::cli::parse_bytes)]
    pub bytes: u64,
    /// Times each measurement runs.
    #[arg(long, default_value_t = 3)]
    pub iterations: u32,
    /// Requests in flight at once for one object per file.
    #[arg(long, default_value_t = 8)]
    pub concurrency: usize,
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
}

/// Runs the benchmark against the object storage `--artifacts` names.
pub async fn objects(args: ObjectsArgs, remote: Option<crate::artifacts::RemoteSettings>) -> u8 {
    let Some(remote) = remote else {
        return crate::cli::fail(
            "sluice bench objects needs --artifacts s3://BUCKET/PREFIX (and AWS_ENDPOINT_URL, AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY for the server)",
        );
    };
    super::handoff::report(objects_inner(&args, &remote).await, args.json)
}

async fn objects_inner(
    args: &ObjectsArgs,
    settings: &crate::artifacts::RemoteSettings,
) -> Result<Vec<HandoffMeasurement>, String> {
    use crate::artifacts::{ArtifactStore, Remote};
    use futures_util::StreamExt;
    use object_store::ObjectStoreExt;
    if args.files == 0 || args.iterations == 0 || args.concurrency == 0 {
        return Err("--files, --iterations and --concurrency must be at least 1".into());
    }
    let remote = Remote::new(settings).map_err(|e| e.to_string())?;
    let (objects, prefix) = remote.object_store();
    let temp = tempfile::tempdir().map_err(|e| format!("making a work folder: {e}"))?;
    let work = temp.path().to_path_buf();
    let source = work.join("source");
    eprintln!(
        "making {} in {} files; object storage at {}...",
        crate::units::format_bytes(args.bytes),
        args.files,
        remote.url()
    );
    make_tree(&source, args.files, args.bytes).map_err(|e| format!("making the tree: {e}"))?;
    let files: Vec<(String, std::path::PathBuf)> = walk(&source)
        .map_err(|e| format!("reading the tree: {e}"))?
        .into_iter()
        .map(|p| {
            let name = p
                .strip_prefix(&source)
                .expect("inside")
                .to_string_lossy()
                .into_owned();
            (name, p)
        })
        .collect();
    let run = uuid::Uuid::now_v7().to_string();
    let mut copies = Vec::new();
    let mut locals = Vec::new();
    let mut pushes = Vec::new();
    let mut fetches = Vec::new();
    let mut puts = Vec::new();
    let mut gets = Vec::new();
    for i in 0..args.iterations {
        let copy = work.join(format!("copy-{i}"));
        let started = Instant::now();
        let status = std::process::Command::new("cp")
            .arg("-r")
            .arg(&source)
            .arg(&copy)
            .status()
            .map_err(|e| format!("running cp: {e}"))?;
        if !status.success() {
            return Err(format!("cp -r failed: {status}"));
        }
        copies.push(started.elapsed());

        // One archive: the store's own push and fetch.
        let store =
            ArtifactStore::open(&work.join(format!("store-{i}"))).map_err(|e| e.to_string())?;
        // The hand-off on one host, for comparison: ingest and mount.
        let started = Instant::now();
        let (_, digest) = store
            .ingest(&copy, &mut crate::contain::Budget::unlimited())
            .map_err(|e| e.to_string())?;
        store.mount("Bench", &digest).map_err(|e| e.to_string())?;
        locals.push(started.elapsed());
        store.seal("Bench", &digest).map_err(|e| e.to_string())?;
        let started = Instant::now();
        remote
            .push(&store, &digest)
            .await
            .map_err(|e| e.to_string())?;
        pushes.push(started.elapsed());
        let other =
            ArtifactStore::open(&work.join(format!("fetched-{i}"))).map_err(|e| e.to_string())?;
        let started = Instant::now();
        remote
            .fetch(
                &other,
                "Bench",
                &digest,
                crate::contain::Budget::unlimited(),
            )
            .await
            .map_err(|e| e.to_string())?;
        fetches.push(started.elapsed());
        remote.remove(&digest).await.map_err(|e| e.to_string())?;

        // One object per file, `concurrency` requests in flight.
        let key =
            |name: &str| object_store::path::Path::from(format!("{prefix}/bench/{run}/{i}/{name}"));
        let started = Instant::now();
        let results: Vec<Result<(), String>> = futures_util::stream::iter(files.iter())
            .map(|(name, path)| {
                let objects = Arc::clone(&objects);
                let key = key(name);
                async move {
                    let bytes = tokio::fs::read(path).await.map_err(|e| e.to_string())?;
                    objects
                        .put(&key, bytes.into())
                        .await
                        .map(|_| ())
                        .map_err(|e| e.to_string())
                }
            })
            .buffer_unordered(args.concurrency)
            .collect()
            .await;
        results.into_iter().collect::<Result<(), String>>()?;
        puts.push(started.elapsed());
        let into = work.join(format!("objects-{i}"));
        let started = Instant::now();
        let results: Vec<Result<(), String>> = futures_util::stream::iter(files.iter())
            .map(|(name, _)| {
                let objects = Arc::clone(&objects);
                let key = key(name);
                let to = into.join(name);
                async move {
                    let bytes = objects
                        .get(&key)
                        .await
                        .map_err(|e| e.to_string())?
                        .bytes()
                        .await
                        .map_err(|e| e.to_string())?;
                    if let Some(parent) = to.parent() {
                        tokio::fs::create_dir_all(parent)
                            .await
                            .map_err(|e| e.to_string())?;
                    }
                    tokio::fs::write(&to, &bytes)
                        .await
                        .map_err(|e| e.to_string())
                }
            })
            .buffer_unordered(args.concurrency)
            .collect()
            .await;
        results.into_iter().collect::<Result<(), String>>()?;
        gets.push(started.elapsed());
        for (name, _) in &files {
            let _ = objects.delete(&key(name)).await;
        }
    }
    let base = median(&copies).as_secs_f64();
    let figure = |name: String, samples: &[Duration]| HandoffMeasurement {
        name,
        iterations: args.iterations,
        median_ms: median(samples).as_secs_f64() * 1e3,
        ratio_to_cp: median(samples).as_secs_f64() / base,
    };
    Ok(vec![
        figure("cp -r (baseline)".into(), &copies),
        figure(
            "hand-off on one host (ingest + mount, no copy)".into(),
            &locals,
        ),
        figure("put, one archive (pack + multipart upload)".into(), &pushes),
        figure(
            "fetch, one archive (download + unpack + check sums)".into(),
            &fetches,
        ),
        figure(
            format!("put, one object per file ({} in flight)", args.concurrency),
            &puts,
        ),
        figure(
            format!(
                "get, one object per file ({} in flight, no checks)",
                args.concurrency
            ),
            &gets,
        ),
    ])
}

/// Every regular file under `dir`.
fn walk(dir: &Path) -> std::io::Result<Vec<std::path::PathBuf>> {
    let mut out = Vec::new();
    let mut todo = vec![dir.to_path_buf()];
    while let Some(d) = todo.pop() {
        for entry in std::fs::read_dir(&d)? {
            let entry = entry?;
            let kind = entry.file_type()?;
            if kind.is_dir() {
                todo.push(entry.path());
            } else if kind.is_file() {
                out.push(entry.path());
            }
        }
    }
    out.sort();
    Ok(out)
}
