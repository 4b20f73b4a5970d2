//! Where providers come from: the built-ins embedded in the binary,
//! component files named by path, plugins installed in the state directory
//! (`owner/provider@REQ`), and the component store that keeps the exact
//! component each pipeline version was applied with.

mod catalog;

pub use crate::component_store::ComponentStore;
pub use catalog::{Catalog, Resolved};

use crate::packages::PluginName;
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
    /// `owner/provider@REQ`: the highest installed plugin version the
    /// semantic-version requirement matches (`acme/word-count@^1.2`).
    Installed {
        /// `owner/provider`.
        name: PluginName,
        /// Which versions will do.
        requirement: semver::VersionReq,
    },
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
        if let Some(installed) = parse_installed(text) {
            return installed;
        }
        if text.ends_with(".wasm") || text.contains('/') {
            return Ok(ProviderRef::File(PathBuf::from(text)));
        }
        Err(format!(
            "`{text}` is not a provider reference: use `builtin:NAME`, a path to a .wasm component \
             or an installed plugin, `owner/provider@VERSION-REQ`"
        ))
    }
}

/// `owner/provider@REQ`, when `text` has that shape (a path never does:
/// it ends in `.wasm`, or starts with `.` or `/`, or has more than one
/// `/` before the `@`).
fn parse_installed(text: &str) -> Option<Result<ProviderRef, String>> {
    if text.ends_with(".wasm") || text.starts_with('.') || text.starts_with('/') {
        return None;
    }
    let (name, requirement) = text.split_once('@')?;
    let (owner, provider) = name.split_once('/')?;
    if provider.contains('/') {
        return None;
    }
    let name = match PluginName::new(owner, provider) {
        Ok(name) => name,
        Err(message) => return Some(Err(format!("`{text}`: {message}"))),
    };
    Some(match semver::VersionReq::parse(requirement) {
        Ok(requirement) => Ok(ProviderRef::Installed { name, requirement }),
        Err(e) => Err(format!(
            "`{text}`: `{requirement}` is not a version requirement ({e}); \
             write e.g. `{name}@^1.2` or `{name}@=1.2.0`"
        )),
    })
}

impl std::fmt::Display for ProviderRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ProviderRef::Builtin(name) => write!(f, "builtin:{name}"),
            ProviderRef::File(path) => write!(f, "{}", path.display()),
            ProviderRef::Installed { name, requirement } => write!(f, "{name}@{requirement}"),
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
            ProviderRef::Installed { .. } => Err(SandboxError::Plugin {
                reference: self.to_string(),
                message: "installed plugins are found in a state directory; \
                          use it in a pipeline, or `sluice plugin inspect`"
                    .into(),
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_builtin_exports_the_provider_interface_and_passes_the_contract_check() {
        let noop = super::builtins().iter().find(|b| b.name == "noop").unwrap();
        let world = crate::packages::component::World::of(noop.bytes).unwrap();
        assert!(!world.is_source());
        assert_eq!(
            world.contract().unwrap(),
            crate::packages::component::CONTRACT_VERSION
        );
        assert!(
            world
                .imports
                .iter()
                .any(|i| i.starts_with("sluice:provider/log@")),
            "{:?}",
            world.imports
        );
        assert_eq!(
            world.target(&crate::packages::component::CONTRACT_VERSION),
            "sluice:provider/action-provider@0.1.0"
        );
    }

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
        assert_eq!(
            "acme/word-count@^1.2".parse::<ProviderRef>().unwrap(),
            ProviderRef::Installed {
                name: "acme/word-count".parse().unwrap(),
                requirement: "^1.2".parse().unwrap(),
            }
        );
        assert_eq!(
            "providers/x@2.wasm".parse::<ProviderRef>().unwrap(),
            ProviderRef::File("providers/x@2.wasm".into())
        );
        assert!(
            "acme/x@banana"
                .parse::<ProviderRef>()
                .unwrap_err()
                .contains("not a version requirement")
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
