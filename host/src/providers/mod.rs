//! Where providers come from: the built-ins embedded in the binary,
//! component files named by path, and the component store that keeps the
//! exact component each pipeline version was applied with.

mod catalog;
mod components;

pub use catalog::{Catalog, Resolved};
pub use components::ComponentStore;

use crate::sandbox::{ComponentSource, SandboxError};
use std::borrow::Cow;
use std::path::PathBuf;

/// A provider embedded in the binary at build time.
#[derive(Debug)]
pub struct Builtin {
    /// Its name: `builtin:<name>` refers to it.
    pub name: &'static str,
    /// Hex sha256 of the component.
    pub sha256: &'static str,
    /// The component.
    pub bytes: &'static [u8],
}

include!(concat!(env!("OUT_DIR"), "/builtins.rs"));

/// Every built-in provider, sorted by name.
pub fn builtins() -> &'static [Builtin] {
    EMBEDDED
}

/// How a pipeline or a command names a provider.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProviderRef {
    /// `builtin:NAME`: a provider embedded in the binary.
    Builtin(String),
    /// A path to a `.wasm` component.
    File(PathBuf),
}

impl std::str::FromStr for ProviderRef {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let text = text.trim();
        if let Some(name) = text.strip_prefix("builtin:") {
            if name.is_empty() {
                return Err("`builtin:` needs a provider name, e.g. `builtin:copy`".into());
            }
            return Ok(ProviderRef::Builtin(name.to_string()));
        }
        if text.is_empty() {
            return Err("an empty provider reference".into());
        }
        if text.ends_with(".wasm") || text.contains('/') {
            return Ok(ProviderRef::File(PathBuf::from(text)));
        }
        Err(format!(
            "`{text}` is not a provider reference: use `builtin:NAME` or a path to a .wasm component"
        ))
    }
}

impl std::fmt::Display for ProviderRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ProviderRef::Builtin(name) => write!(f, "builtin:{name}"),
            ProviderRef::File(path) => write!(f, "{}", path.display()),
        }
    }
}

impl ProviderRef {
    /// The component this reference names.
    pub fn component(&self) -> Result<ComponentSource, SandboxError> {
        match self {
            ProviderRef::Builtin(name) => {
                let builtin = builtins().iter().find(|b| b.name == name).ok_or_else(|| {
                    SandboxError::UnknownBuiltin {
                        name: name.clone(),
                        available: builtins()
                            .iter()
                            .map(|b| b.name)
                            .collect::<Vec<_>>()
                            .join(", "),
                    }
                })?;
                Ok(ComponentSource {
                    name: self.to_string(),
                    bytes: Cow::Borrowed(builtin.bytes),
                    sha256: Some(builtin.sha256.to_string()),
                })
            }
            ProviderRef::File(path) => ComponentSource::from_file(path),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn references_parse() {
        assert_eq!(
            "builtin:copy".parse::<ProviderRef>().unwrap(),
            ProviderRef::Builtin("copy".into())
        );
        assert_eq!(
            "./x.wasm".parse::<ProviderRef>().unwrap(),
            ProviderRef::File("./x.wasm".into())
        );
        assert!(
            "copy"
                .parse::<ProviderRef>()
                .unwrap_err()
                .contains("builtin:NAME")
        );
    }

    #[test]
    fn builtins_are_embedded_and_unknown_ones_named() {
        let names: Vec<&str> = builtins().iter().map(|b| b.name).collect();
        assert!(
            names.contains(&"noop") && names.contains(&"copy"),
            "{names:?}"
        );
        let err = ProviderRef::Builtin("nope".into()).component().unwrap_err();
        assert!(err.to_string().contains("builtin:nope"), "{err}");
        assert!(err.to_string().contains("copy"), "{err}");
    }
}
