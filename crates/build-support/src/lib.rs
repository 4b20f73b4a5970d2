//! Used by the build scripts of `sluice` (built-in providers) and of the
//! test crate (fixture providers): compiles a cargo workspace of provider
//! crates to `wasm32-wasip2` components and reports where they landed.
//!
//! Building from a build script means running a second cargo. It gets its
//! own target folder (a second cargo must never share the outer one's lock)
//! and none of the outer cargo's per-build environment, which describes the
//! host crate being built, not the guests.

use sha2::{Digest, Sha256};
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// The target every provider is built for.
pub const WASM_TARGET: &str = "wasm32-wasip2";

/// One component produced by a build.
#[derive(Debug, Clone)]
pub struct BuiltComponent {
    /// The crate's library or binary name (underscores, as cargo names the file).
    pub name: String,
    /// Absolute path of the `.wasm` component.
    pub path: PathBuf,
    /// Hex sha256 of the component's bytes.
    pub sha256: String,
}

/// Makes sure the standard library for [`WASM_TARGET`] is installed, adding
/// it with rustup when it is missing.
pub fn ensure_wasm_target() {
    let rustc = std::env::var("RUSTC").unwrap_or_else(|_| "rustc".into());
    let sysroot = Command::new(&rustc)
        .args(["--print", "sysroot"])
        .output()
        .unwrap_or_else(|e| panic!("cannot run `{rustc} --print sysroot`: {e}"));
    let sysroot = String::from_utf8_lossy(&sysroot.stdout).trim().to_string();
    let target_lib = Path::new(&sysroot).join("lib/rustlib").join(WASM_TARGET);
    if target_lib.is_dir() {
        return;
    }
    println!("cargo:warning=installing the {WASM_TARGET} target with rustup (one time)");
    let status = Command::new("rustup")
        .args(["target", "add", WASM_TARGET])
        .status()
        .unwrap_or_else(|e| {
            panic!(
                "the {WASM_TARGET} target is not installed and rustup could not be run ({e}); \
                 install it with `rustup target add {WASM_TARGET}`"
            )
        });
    assert!(
        status.success(),
        "`rustup target add {WASM_TARGET}` failed ({status}); providers cannot be built"
    );
}

/// The outer build's target folder, found from `OUT_DIR`
/// (`<target>/[<triple>/]<profile>/build/<crate>-<hash>/out`).
pub fn outer_target_dir() -> PathBuf {
    let out_dir = PathBuf::from(std::env::var("OUT_DIR").expect("OUT_DIR is set by cargo"));
    out_dir
        .ancestors()
        .find(|dir| dir.join("CACHEDIR.TAG").is_file())
        .map(Path::to_path_buf)
        .unwrap_or_else(|| {
            // Fall back to the layout without a triple folder.
            out_dir
                .ancestors()
                .nth(4)
                .expect("OUT_DIR has the usual depth")
                .to_path_buf()
        })
}

/// Builds every crate of the cargo workspace at `workspace` for
/// [`WASM_TARGET`] in release mode, into `target_dir`, and returns the
/// components it produced, sorted by name. Panics with cargo's own
/// diagnostics when the build fails, which is what a build script should do.
pub fn build_workspace(workspace: &Path, target_dir: &Path) -> Vec<BuiltComponent> {
    ensure_wasm_target();
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let mut cmd = Command::new(cargo);
    cmd.current_dir(workspace)
        .args(["build", "--release", "--workspace", "--target", WASM_TARGET])
        .args(["--message-format", "json-render-diagnostics"])
        .arg("--target-dir")
        .arg(target_dir)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit());
    scrub_outer_build_env(&mut cmd);

    let mut child = cmd
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run cargo for {}: {e}", workspace.display()));
    let stdout = child.stdout.take().expect("piped stdout");
    let mut components = Vec::new();
    for line in BufReader::new(stdout).lines() {
        let line = line.expect("cargo's output is readable");
        let Ok(message) = serde_json::from_str::<serde_json::Value>(&line) else {
            continue;
        };
        if message["reason"] != "compiler-artifact" {
            continue;
        }
        let Some(files) = message["filenames"].as_array() else {
            continue;
        };
        for file in files.iter().filter_map(|f| f.as_str()) {
            let path = PathBuf::from(file);
            if path.extension().is_some_and(|e| e == "wasm") {
                let name = path.file_stem().unwrap().to_string_lossy().into_owned();
                let bytes = std::fs::read(&path)
                    .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
                let sha256 = hex::encode(Sha256::digest(&bytes));
                components.push(BuiltComponent { name, path, sha256 });
            }
        }
    }
    let status = child.wait().expect("cargo ran");
    assert!(
        status.success(),
        "building the providers in {} failed (see the errors above)",
        workspace.display()
    );
    components.sort_by(|a, b| a.name.cmp(&b.name));
    components.dedup_by(|a, b| a.name == b.name);
    components
}

/// Builds the binary crate at `crate_dir` (its own workspace) for the
/// machine the build runs on, in release mode, into `target_dir`, and
/// returns the path of the binary named `bin`. Panics with cargo's own
/// diagnostics when the build fails.
pub fn build_native_binary(crate_dir: &Path, bin: &str, target_dir: &Path) -> PathBuf {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let mut cmd = Command::new(cargo);
    cmd.current_dir(crate_dir)
        .args(["build", "--release", "--bin", bin])
        .arg("--target-dir")
        .arg(target_dir)
        .stdout(Stdio::inherit())
        .stderr(Stdio::inherit());
    scrub_outer_build_env(&mut cmd);
    let status = cmd
        .status()
        .unwrap_or_else(|e| panic!("cannot run cargo for {}: {e}", crate_dir.display()));
    assert!(
        status.success(),
        "building {} failed (see the errors above)",
        crate_dir.display()
    );
    let binary = target_dir.join("release").join(bin);
    assert!(binary.is_file(), "{} was not built", binary.display());
    binary
}

/// Tells cargo to re-run the build script when any of `paths` changes.
/// Folders are scanned recursively by cargo.
pub fn rerun_if_changed(paths: &[&Path]) {
    for path in paths {
        println!("cargo:rerun-if-changed={}", path.display());
    }
}

/// Removes the variables the outer cargo sets for the crate it is building:
/// they describe the host build (its flags, profile, target, wrappers) and
/// would leak into the guest build.
fn scrub_outer_build_env(cmd: &mut Command) {
    const KEEP: &[&str] = &["CARGO_HOME", "CARGO_MAKEFLAGS"];
    const KEEP_PREFIXES: &[&str] = &["CARGO_NET_", "CARGO_HTTP_", "CARGO_REGISTR"];
    for (key, _) in std::env::vars_os() {
        let Some(key) = key.to_str() else { continue };
        let cargo_var = key.starts_with("CARGO_")
            && !KEEP.contains(&key)
            && !KEEP_PREFIXES.iter().any(|p| key.starts_with(p));
        let per_build = matches!(
            key,
            "RUSTFLAGS"
                | "RUSTDOCFLAGS"
                | "RUSTC_WORKSPACE_WRAPPER"
                | "TARGET"
                | "HOST"
                | "OUT_DIR"
                | "OPT_LEVEL"
                | "PROFILE"
                | "DEBUG"
                | "NUM_JOBS"
        );
        if cargo_var || per_build {
            cmd.env_remove(key);
        }
    }
}
