//! Writing providers: `sluice plugin new` (a project from a template),
//! `sluice plugin build` (the language's toolchain) and `sluice plugin test`
//! (a conformance run of a component against the contract). Packages,
//! installing and trust are in [`crate::plugin`].

pub mod conformance;
pub mod scaffold;
pub mod toolchain;

use std::path::Path;

/// A language providers are written in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Language {
    /// Rust with `sluice-sdk`.
    Rust,
    /// Python with componentize-py.
    Python,
    /// JavaScript with componentize-js.
    Js,
}

impl Language {
    /// Its name as templates and messages use it.
    pub fn name(self) -> &'static str {
        match self {
            Language::Rust => "rust",
            Language::Python => "python",
            Language::Js => "js",
        }
    }

    /// The language of the provider project in `dir`, from the files that
    /// mark each kind of project.
    pub fn detect(dir: &Path) -> Result<Language, String> {
        if dir.join("Cargo.toml").is_file() {
            Ok(Language::Rust)
        } else if dir.join("package.json").is_file() {
            Ok(Language::Js)
        } else if dir.join("app.py").is_file() || dir.join("pyproject.toml").is_file() {
            Ok(Language::Python)
        } else {
            Err(format!(
                "{} is not a provider project: it has no Cargo.toml (Rust), package.json (JavaScript) or app.py (Python)",
                dir.display()
            ))
        }
    }
}

/// Where `sluice plugin build` leaves the component, in every language.
pub const COMPONENT_FILE: &str = "provider.wasm";

/// The file a project keeps its conformance settings in.
pub const TEST_FILE: &str = "sluice-test.json";
