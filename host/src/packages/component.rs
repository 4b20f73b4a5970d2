//! A component's own imports and exports, read from its bytes (no
//! compiling), and the check that it keeps to the contract this host
//! speaks: it exports `sluice:provider/provider` of the `0.1` family and
//! imports only what the host provides.

use crate::sandbox::imports;
use wasmparser::{Encoding, Parser, Payload};

/// The contract package this host speaks.
pub const CONTRACT_PACKAGE: &str = "sluice:provider";
/// The contract version this host was built against.
pub const CONTRACT_VERSION: semver::Version = semver::Version::new(0, 1, 0);
/// The interface every provider exports.
pub const PROVIDER_INTERFACE: &str = "sluice:provider/provider";
/// The interface source providers export too.
pub const SOURCE_INTERFACE: &str = "sluice:provider/source";

/// The top-level imports and exports of a component.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct World {
    /// Import names, e.g. `wasi:cli/stdout@0.2.3`.
    pub imports: Vec<String>,
    /// Export names, e.g. `sluice:provider/provider@0.1.0`.
    pub exports: Vec<String>,
}

impl World {
    /// Reads a component's top-level imports and exports. A core module or
    /// bytes that are not WebAssembly are refused.
    pub fn of(bytes: &[u8]) -> Result<World, String> {
        let mut world = World {
            imports: Vec::new(),
            exports: Vec::new(),
        };
        let mut depth = 0usize;
        for payload in Parser::new(0).parse_all(bytes) {
            let payload = payload.map_err(|e| format!("it is not valid WebAssembly: {e}"))?;
            match payload {
                Payload::Version { encoding, .. } => {
                    if depth == 0 && encoding != Encoding::Component {
                        return Err("it is a core WebAssembly module, not a component \
                                    (build for wasm32-wasip2, or adapt it with `wasm-tools component new`)"
                            .into());
                    }
                    depth += 1;
                }
                Payload::End(_) => depth = depth.saturating_sub(1),
                Payload::ComponentImportSection(reader) if depth == 1 => {
                    for import in reader {
                        let import = import.map_err(|e| format!("its import section: {e}"))?;
                        world.imports.push(import.name.name.to_string());
                    }
                }
                Payload::ComponentExportSection(reader) if depth == 1 => {
                    for export in reader {
                        let export = export.map_err(|e| format!("its export section: {e}"))?;
                        world.exports.push(export.name.name.to_string());
                    }
                }
                _ => {}
            }
        }
        Ok(world)
    }

    /// Whether it exports the `source` interface.
    pub fn is_source(&self) -> bool {
        self.exports
            .iter()
            .any(|e| interface_of(e) == SOURCE_INTERFACE)
    }

    /// The contract version it was built against (that of its `provider`
    /// export), checked against this host's: it must export the provider
    /// interface of the `0.1` family and import only what the host
    /// provides.
    pub fn contract(&self) -> Result<semver::Version, String> {
        let export = self
            .exports
            .iter()
            .find(|e| interface_of(e) == PROVIDER_INTERFACE)
            .ok_or_else(|| {
                format!(
                    "the component does not export `{PROVIDER_INTERFACE}@{CONTRACT_VERSION}` \
                     (it exports: {})",
                    list(&self.exports)
                )
            })?;
        let version = export
            .split_once('@')
            .and_then(|(_, v)| semver::Version::parse(v).ok())
            .ok_or_else(|| format!("its export `{export}` carries no contract version"))?;
        if !same_family(&version) {
            return Err(format!(
                "it exports `{export}`, but this host speaks {CONTRACT_PACKAGE}@{CONTRACT_VERSION} \
                 (versions {}.{}.x)",
                CONTRACT_VERSION.major, CONTRACT_VERSION.minor
            ));
        }
        if let Some(import) = imports::first_unsupported(&self.imports) {
            return Err(format!(
                "it imports `{import}`, which this host does not provide \
                 (providers may import WASI 0.2 and {CONTRACT_PACKAGE}@0.1)"
            ));
        }
        Ok(version)
    }

    /// The world it targets, e.g. `sluice:provider/action-provider@0.1.0`.
    pub fn target(&self, contract: &semver::Version) -> String {
        let world = if self.is_source() {
            "source-provider"
        } else {
            "action-provider"
        };
        format!("{CONTRACT_PACKAGE}/{world}@{contract}")
    }
}

/// Whether a contract version is one this host speaks: same major and
/// minor (the `0.1` family), as the import check has it.
pub fn same_family(version: &semver::Version) -> bool {
    version.major == CONTRACT_VERSION.major && version.minor == CONTRACT_VERSION.minor
}

/// `wasi:cli/stdout@0.2.3` without its version.
fn interface_of(name: &str) -> &str {
    name.split('@').next().unwrap_or(name)
}

fn list(names: &[String]) -> String {
    if names.is_empty() {
        "nothing".into()
    } else {
        names.join(", ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn core_modules_and_garbage_are_refused() {
        let core = b"\0asm\x01\0\0\0";
        assert!(
            World::of(core)
                .unwrap_err()
                .contains("core WebAssembly module")
        );
        assert!(
            World::of(b"hello")
                .unwrap_err()
                .contains("not valid WebAssembly")
        );
    }

    #[test]
    fn other_contract_families_and_foreign_imports_are_refused() {
        let world = World {
            imports: vec![],
            exports: vec!["sluice:provider/provider@0.2.0".into()],
        };
        assert!(world.contract().unwrap_err().contains("0.1.x"));
        let world = World {
            imports: vec!["example:forbidden/teleport@1.0.0".into()],
            exports: vec!["sluice:provider/provider@0.1.0".into()],
        };
        assert!(world.contract().unwrap_err().contains("teleport"));
    }
}
