//! Which interfaces a provider may import, checked once per provider before
//! it ever runs.
//!
//! The host provides what `host::INTERFACES` lists (WASI 0.2 with
//! every network operation denied, `wasi:http` as granted, the contract's
//! own interfaces). A component importing anything else is refused by
//! name, up front, rather than failing half-way through a job.

use wasmtime::Engine;
use wasmtime::component::Component;

use crate::contract::Capability;

/// The grants a component's imports may ask for, each once, in
/// [`Capability`]'s order.
pub fn capabilities(imports: &[String]) -> Vec<Capability> {
    let mut found = Vec::new();
    for interface in super::host::interfaces() {
        let Some(capability) = interface.capability else {
            continue;
        };
        let imported = imports
            .iter()
            .any(|import| import.split('@').next() == Some(interface.name));
        if imported && !found.contains(&capability) {
            found.push(capability);
        }
    }
    found.sort();
    found
}

/// The names of every import of `component`, e.g. `wasi:cli/stdout@0.2.3`.
pub(crate) fn imports_of(engine: &Engine, component: &Component) -> Vec<String> {
    component
        .component_type()
        .imports(engine)
        .map(|(name, _)| name.to_string())
        .collect()
}

/// The first import the host does not provide, if any.
pub(crate) fn first_unsupported(imports: &[String]) -> Option<&str> {
    imports
        .iter()
        .map(String::as_str)
        .find(|name| !is_provided(name))
}

fn is_provided(import: &str) -> bool {
    let (name, version) = import.split_once('@').unwrap_or((import, ""));
    super::host::interfaces().any(|provided| {
        provided.name == name
            && (version == provided.family || version.starts_with(&format!("{}.", provided.family)))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_in_the_family_are_accepted() {
        assert!(is_provided("wasi:cli/stdout@0.2.0"));
        assert!(is_provided("wasi:cli/stdout@0.2.6"));
        assert!(is_provided("sluice:provider/log@0.1.0"));
        assert!(!is_provided("wasi:cli/stdout@0.3.0"));
        assert!(!is_provided("sluice:provider/log@1.0.0"));
        assert!(is_provided("wasi:http/outgoing-handler@0.2.0"));
        assert!(!is_provided("wasi:keyvalue/store@0.2.0"));
        assert!(!is_provided("wasi:cli/stdout"));
    }

    #[test]
    fn the_first_unsupported_import_is_named() {
        let imports = vec![
            "wasi:io/streams@0.2.0".to_string(),
            "example:forbidden/teleport@1.0.0".to_string(),
        ];
        assert_eq!(
            first_unsupported(&imports),
            Some("example:forbidden/teleport@1.0.0")
        );
    }
}
