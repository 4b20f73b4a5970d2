//! `sluice bench handoff`: handing a large artifact from one action to the
//! next, against `cp -r` of the same tree.

use super::median;
use clap::Args;
use std::path::Path;
use std::time::{Duration, Instant};

/// Settings of the hand-off benchmark.
#[derive(Debug, Clone, Args)]
pub struct HandoffArgs {
    /// Files in the artifact.
    #[arg(long, default_value_t = 10_000)]
    pub files: u32,
    /// Bytes in the artifact, spread evenly over the files (e.g. 1GiB,
    /// 64MiB).
    #[arg(long, default_value = "1GiB", value_parser = crate::cli::parse_bytes)]
    pub bytes: u64,
    /// Times each measurement runs.
    #[arg(long, default_value_t = 5)]
    pub iterations: u32,
    /// Where to make the trees (default: a temporary folder).
    #[arg(long)]
    pub dir: Option<std::path::PathBuf>,
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
}

/// One figure of the hand-off benchmark.
#[derive(Debug, Clone, serde::Serialize)]
pub struct HandoffMeasurement {
    /// What was measured.
    pub name: String,
    /// How many times.
    pub iterations: u32,
    /// Median, in milliseconds.
    pub median_ms: f64,
    /// Median as a multiple of `cp -r`'s median.
    pub ratio_to_cp: f64,
}

/// Hands a large artifact from one action to the next, as the engine does
/// between a producer's success and its consumer's start (ingest the
/// output folder into the store, then mount it for the consumer), against
/// `cp -r` of the same tree in the same run. Sealing (hashing every byte,
/// done in the background afterwards) is measured too.
pub fn handoff(args: HandoffArgs) -> u8 {
    report(handoff_inner(&args), args.json)
}

/// Prints figures measured against `cp -r` (a table, or JSON); returns
/// the exit code.
pub(super) fn report(results: Result<Vec<HandoffMeasurement>, String>, json: bool) -> u8 {
    match results {
        Ok(results) => {
            if json {
                println!("{}", serde_json::to_string_pretty(&results).unwrap());
            } else {
                println!(
                    "{:<58} {:>5} {:>11} {:>9}",
                    "measurement", "runs", "median", "x cp -r"
                );
                for m in &results {
                    println!(
                        "{:<58} {:>5} {:>9.1}ms {:>8.3}x",
                        m.name, m.iterations, m.median_ms, m.ratio_to_cp
                    );
                }
            }
            crate::cli::EXIT_OK
        }
        Err(e) => crate::cli::fail(e),
    }
}

fn handoff_inner(args: &HandoffArgs) -> Result<Vec<HandoffMeasurement>, String> {
    use crate::artifacts::ArtifactStore;
    if args.files == 0 || args.iterations == 0 {
        return Err("--files and --iterations must be at least 1".into());
    }
    let temp = match &args.dir {
        Some(d) => tempfile::tempdir_in(d),
        None => tempfile::tempdir(),
    }
    .map_err(|e| format!("making a work folder: {e}"))?;
    let work = temp.path();
    let source = work.join("source");
    eprintln!(
        "making {} in {} files under {}...",
        crate::units::format_bytes(args.bytes),
        args.files,
        source.display()
    );
    make_tree(&source, args.files, args.bytes).map_err(|e| format!("making the tree: {e}"))?;
    let store = ArtifactStore::open(&work.join("artifacts")).map_err(|e| e.to_string())?;
    let cp = |to: &Path| -> Result<Duration, String> {
        let started = Instant::now();
        let status = std::process::Command::new("cp")
            .arg("-r")
            .arg(&source)
            .arg(to)
            .status()
            .map_err(|e| format!("running cp: {e}"))?;
        if !status.success() {
            return Err(format!("cp -r failed: {status}"));
        }
        Ok(started.elapsed())
    };

    let mut copies = Vec::new();
    let mut ingests = Vec::new();
    let mut mounts = Vec::new();
    let mut handoffs = Vec::new();
    let mut seals = Vec::new();
    for i in 0..args.iterations {
        // The baseline: copying the tree.
        let copy = work.join(format!("copy-{i}"));
        copies.push(cp(&copy)?);
        // The producer's output folder, as it left it (not timed).
        let output = work.join(format!("output-{i}"));
        std::fs::rename(&copy, &output).map_err(|e| e.to_string())?;
        let started = Instant::now();
        let (manifest, digest) = store
            .ingest(&output, &mut crate::contain::Budget::unlimited())
            .map_err(|e| e.to_string())?;
        let ingested = started.elapsed();
        let mounted_at = Instant::now();
        let tree = store.mount("Big", &digest).map_err(|e| e.to_string())?;
        let mounted = mounted_at.elapsed();
        handoffs.push(started.elapsed());
        ingests.push(ingested);
        mounts.push(mounted);
        if manifest.file_count() != args.files as usize || !tree.is_dir() {
            return Err(format!(
                "the artifact has {} files, not {}",
                manifest.file_count(),
                args.files
            ));
        }
        let sealing = Instant::now();
        store.seal("Big", &digest).map_err(|e| e.to_string())?;
        seals.push(sealing.elapsed());
        std::fs::remove_dir_all(&tree).map_err(|e| e.to_string())?;
    }
    let base = median(&copies).as_secs_f64();
    let figure = |name: String, samples: &[Duration]| HandoffMeasurement {
        name,
        iterations: samples.len() as u32,
        median_ms: median(samples).as_secs_f64() * 1e3,
        ratio_to_cp: median(samples).as_secs_f64() / base,
    };
    let what = format!(
        "{} in {} files",
        crate::units::format_bytes(args.bytes),
        args.files
    );
    Ok(vec![
        figure(format!("cp -r, {what} (baseline)"), &copies),
        figure(format!("hand-off (ingest + mount), {what}"), &handoffs),
        figure(
            "  ingest: tidy, manifest, move into the store".into(),
            &ingests,
        ),
        figure(
            "  mount: manifest checked, folder handed over".into(),
            &mounts,
        ),
        figure(
            "seal (background, after hand-off): sha256 of every byte".into(),
            &seals,
        ),
    ])
}

/// `files` files of pseudo-random bytes (incompressible, all distinct),
/// `bytes` in all, 100 to a folder.
pub(super) fn make_tree(root: &Path, files: u32, bytes: u64) -> std::io::Result<()> {
    use std::io::Write;
    let per_file = bytes / u64::from(files);
    let mut state = 0x9E37_79B9_7F4A_7C15u64;
    let mut buffer = vec![0u8; per_file.min(1 << 20) as usize];
    for i in 0..files {
        let folder = root.join(format!("d{:03}", i / 100));
        if i % 100 == 0 {
            std::fs::create_dir_all(&folder)?;
        }
        let mut file =
            std::io::BufWriter::new(std::fs::File::create(folder.join(format!("f{i:05}.bin")))?);
        let mut left = per_file + if i == 0 { bytes % u64::from(files) } else { 0 };
        while left > 0 {
            for chunk in buffer.chunks_mut(8) {
                // xorshift64*
                state ^= state >> 12;
                state ^= state << 25;
                state ^= state >> 27;
                let word = state.wrapping_mul(0x2545_F491_4F6C_DD1D).to_le_bytes();
                chunk.copy_from_slice(&word[..chunk.len()]);
            }
            let n = left.min(buffer.len() as u64) as usize;
            file.write_all(&buffer[..n])?;
            left -= n as u64;
        }
        file.flush()?;
    }
    Ok(())
}
