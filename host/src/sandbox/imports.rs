//! Which interfaces a provider may import, checked once per provider before
//! it ever runs.
//!
//! The linker provides WASI 0.2 (with every network operation denied: no
//! socket can be opened, no name looked up) and the host's `log`. A
//! component importing anything else is refused by name, up front, rather
//! than failing half-way through a job.

use wasmtime::Engine;
use wasmtime::component::Component;

/// Interfaces the host provides, as `namespace:package/interface` and the
/// version family a component may ask for (any version with the same major
/// and minor, and a patch no newer than the host's).
const PROVIDED: &[(&str, &str)] = &[
    ("wasi:cli/environment", "0.2"),
    ("wasi:cli/exit", "0.2"),
    ("wasi:cli/stdin", "0.2"),
    ("wasi:cli/stdout", "0.2"),
    ("wasi:cli/stderr", "0.2"),
    ("wasi:cli/terminal-input", "0.2"),
    ("wasi:cli/terminal-output", "0.2"),
    ("wasi:cli/terminal-stdin", "0.2"),
    ("wasi:cli/terminal-stdout", "0.2"),
    ("wasi:cli/terminal-stderr", "0.2"),
    ("wasi:clocks/monotonic-clock", "0.2"),
    ("wasi:clocks/wall-clock", "0.2"),
    ("wasi:filesystem/types", "0.2"),
    ("wasi:filesystem/preopens", "0.2"),
    ("wasi:io/error", "0.2"),
    ("wasi:io/poll", "0.2"),
    ("wasi:io/streams", "0.2"),
    ("wasi:random/random", "0.2"),
    ("wasi:random/insecure", "0.2"),
    ("wasi:random/insecure-seed", "0.2"),
    ("wasi:sockets/network", "0.2"),
    ("wasi:sockets/instance-network", "0.2"),
    ("wasi:sockets/tcp", "0.2"),
    ("wasi:sockets/tcp-create-socket", "0.2"),
    ("wasi:sockets/udp", "0.2"),
    ("wasi:sockets/udp-create-socket", "0.2"),
    ("wasi:sockets/ip-name-lookup", "0.2"),
    ("wasi:http/types", "0.2"),
    ("wasi:http/outgoing-handler", "0.2"),
    ("sluice:provider/log", "0.1"),
    ("sluice:provider/types", "0.1"),
    ("sluice:provider/process", "0.1"),
    ("sluice:provider/secrets", "0.1"),
    ("sluice:provider/components", "0.1"),
    ("sluice:provider/files", "0.1"),
];

/// Imports that reach beyond the sandbox, and the grant each needs: a
/// provider importing one runs only as far as its action grants it.
pub const CAPABILITY_IMPORTS: &[(&str, &str)] = &[
    ("sluice:provider/process", "process"),
    ("sluice:provider/secrets", "secrets"),
    ("wasi:http/outgoing-handler", "http"),
];

/// The grants a component's imports may ask for (`process`, `http`,
/// `secrets`), each once.
pub fn capabilities(imports: &[String]) -> Vec<&'static str> {
    let mut found = Vec::new();
    for import in imports {
        let interface = import.split('@').next().unwrap_or(import);
        for (name, grant) in CAPABILITY_IMPORTS {
            if interface == *name && !found.contains(grant) {
                found.push(*grant);
            }
        }
    }
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
    let (interface, version) = import.split_once('@').unwrap_or((import, ""));
    PROVIDED.iter().any(|(provided, family)| {
        *provided == interface && (version == *family || version.starts_with(&format!("{family}.")))
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
