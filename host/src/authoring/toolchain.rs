//! `sluice plugin build [DIR]`: runs the project's toolchain and leaves the
//! component at `DIR/provider.wasm`, whatever the language.
//!
//! - Rust: `cargo build --release --target wasm32-wasip2` (the target is
//!   added with rustup when missing), then the crate's `.wasm` is copied.
//! - Python: `componentize-py -d wit -w WORLD componentize app`, found on
//!   `PATH` or in `$SLUICE_TOOLCHAINS/python/bin`; WORLD is named by a
//!   `# sluice-world: NAME` line in `app.py` (default `plain-provider`).
//! - JavaScript: `npm run build` (the template's `build.mjs` finds
//!   componentize-js in `node_modules` or the shared toolchain folder).

use super::{COMPONENT_FILE, Language};
use crate::sandbox::ProcessSettings;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

/// What a build produced.
#[derive(Debug)]
pub struct Built {
    /// The component.
    pub component: PathBuf,
    /// Its size in bytes.
    pub bytes: u64,
    /// How long the toolchain took.
    pub took: Duration,
}

/// Where the toolchains that build providers are.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Toolchains {
    /// The folder `scripts/toolchains.sh` installs into.
    pub dir: PathBuf,
    /// The `cargo` to build Rust providers with.
    pub cargo: PathBuf,
    /// Where cargo puts what it builds, when not in the project.
    pub cargo_target_dir: Option<PathBuf>,
}

impl Default for Toolchains {
    fn default() -> Self {
        Toolchains {
            dir: PathBuf::from(".cache/sluice/toolchains"),
            cargo: PathBuf::from("cargo"),
            cargo_target_dir: None,
        }
    }
}

impl Toolchains {
    /// `$SLUICE_TOOLCHAINS` (else `~/.cache/sluice/toolchains`), `$CARGO`
    /// (else `cargo`), `$CARGO_TARGET_DIR`.
    pub fn from_env(env: &crate::config::Environment) -> Self {
        let home = env.get("HOME").unwrap_or(".");
        Toolchains {
            dir: env.get("SLUICE_TOOLCHAINS").map_or_else(
                || Path::new(home).join(".cache/sluice/toolchains"),
                PathBuf::from,
            ),
            cargo: PathBuf::from(env.get("CARGO").unwrap_or("cargo")),
            cargo_target_dir: env.get("CARGO_TARGET_DIR").map(PathBuf::from),
        }
    }
}

fn run(command: &mut Command, what: &str) -> Result<(), String> {
    let status = command
        .status()
        .map_err(|e| format!("cannot run {what}: {e}"))?;
    if status.success() {
        Ok(())
    } else {
        Err(format!("{what} failed ({status})"))
    }
}

/// Builds the project in `dir`, finding toolchain programs on `programs`'
/// search path.
pub fn build(
    dir: &Path,
    language: Option<Language>,
    programs: &ProcessSettings,
    toolchains: &Toolchains,
) -> Result<Built, String> {
    let language = match language {
        Some(l) => l,
        None => Language::detect(dir)?,
    };
    let component = dir.join(COMPONENT_FILE);
    let started = Instant::now();
    match language {
        Language::Rust => build_rust(dir, &component, toolchains)?,
        Language::Python => {
            let program = programs
                .find("componentize-py")
                .or_else(|| {
                    let p = toolchains.dir.join("python/bin/componentize-py");
                    p.is_file().then_some(p)
                })
                .ok_or_else(|| {
                    format!(
                        "componentize-py is not installed: `pip install componentize-py==0.25.1`, or `scripts/toolchains.sh python` in a Sluice checkout (it installs into {})",
                        toolchains.dir.join("python").display()
                    )
                })?;
            if !dir.join("wit/worlds.wit").is_file() {
                return Err(format!(
                    "{}: no wit/worlds.wit: the project needs the contract's WIT files in wit/ (`sluice plugin new` puts them there)",
                    dir.display()
                ));
            }
            let app = std::fs::read_to_string(dir.join("app.py")).unwrap_or_default();
            let world = python_world(&app);
            run(
                Command::new(program).current_dir(dir).args([
                    "-d",
                    "wit",
                    "-w",
                    world,
                    "componentize",
                    "app",
                    "-o",
                    COMPONENT_FILE,
                ]),
                "componentize-py",
            )?;
        }
        Language::Js => {
            let npm = programs
                .find("npm")
                .ok_or("npm is not installed (Node.js 20 or later)")?;
            run(
                Command::new(npm)
                    .current_dir(dir)
                    .args(["run", "--silent", "build"]),
                "npm run build",
            )?;
        }
    }
    let bytes = std::fs::metadata(&component)
        .map_err(|e| format!("the build left no {}: {e}", component.display()))?
        .len();
    Ok(Built {
        component,
        bytes,
        took: started.elapsed(),
    })
}

fn build_rust(dir: &Path, component: &Path, toolchains: &Toolchains) -> Result<(), String> {
    let cargo = &toolchains.cargo;
    let installed = Command::new("rustup")
        .args(["target", "list", "--installed"])
        .output()
        .map(|o| {
            String::from_utf8_lossy(&o.stdout)
                .lines()
                .any(|l| l == "wasm32-wasip2")
        })
        .unwrap_or(true);
    if !installed {
        run(
            Command::new("rustup").args(["target", "add", "wasm32-wasip2"]),
            "rustup target add wasm32-wasip2",
        )?;
    }
    run(
        Command::new(cargo).current_dir(dir).args([
            "build",
            "--release",
            "--target",
            "wasm32-wasip2",
        ]),
        "cargo build",
    )?;
    let manifest = std::fs::read_to_string(dir.join("Cargo.toml"))
        .map_err(|e| format!("{}: {e}", dir.join("Cargo.toml").display()))?;
    let name = package_name(&manifest)
        .ok_or_else(|| format!("{}: no [package] name", dir.join("Cargo.toml").display()))?;
    let target = toolchains
        .cargo_target_dir
        .clone()
        .unwrap_or_else(|| dir.join("target"));
    let built = target
        .join("wasm32-wasip2/release")
        .join(format!("{}.wasm", name.replace('-', "_")));
    std::fs::copy(&built, component)
        .map_err(|e| format!("cannot copy {}: {e}", built.display()))?;
    Ok(())
}

/// The world a Python provider is built for: a `# sluice-world: NAME` line
/// of `app.py`, else `plain-provider`.
fn python_world(app: &str) -> &str {
    app.lines()
        .find_map(|l| l.trim().strip_prefix("# sluice-world:"))
        .map(str::trim)
        .filter(|w| !w.is_empty())
        .unwrap_or("plain-provider")
}

/// The `name` of a Cargo.toml's `[package]` table.
fn package_name(manifest: &str) -> Option<String> {
    let mut in_package = false;
    for line in manifest.lines() {
        let line = line.trim();
        if line.starts_with('[') {
            in_package = line == "[package]";
        } else if in_package
            && let Some(value) = line.strip_prefix("name")
            && let Some(value) = value.trim_start().strip_prefix('=')
        {
            return Some(value.trim().trim_matches('"').to_string());
        }
    }
    None
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_package_name_is_read_from_its_table() {
        let manifest = "[workspace]\nname = \"no\"\n[package]\nname = \"word-count\"\n";
        assert_eq!(super::package_name(manifest).unwrap(), "word-count");
    }

    #[test]
    fn the_python_world_comes_from_app_py() {
        assert_eq!(
            super::python_world("# sluice-world: action-provider\n"),
            "action-provider"
        );
        assert_eq!(super::python_world("import os\n"), "plain-provider");
    }
}
