//! The host side of the interfaces the contract lets providers import,
//! one file per interface, and [`INTERFACES`]: the one table that says,
//! for every interface a provider may import, the version family the host
//! provides, the grant it needs and how it is linked. The linker, the
//! import check, the grants a package declares and the warnings for
//! capabilities an action does not grant are all derived from it: adding
//! an interface is its WIT file, its host file here and one entry below.
//! WASI itself comes from `wasmtime-wasi` and `wasmtime-wasi-http` (its
//! requests checked in [`http`]).

pub(crate) mod components;
pub(crate) mod context;
pub(crate) mod files;
pub(crate) mod http;
pub(crate) mod log;
pub(crate) mod process;
pub(crate) mod secrets;

use super::call::JobState;
use crate::contract::Capability;
use wasmtime::component::Linker;

/// One interface a provider may import.
pub(crate) struct Interface {
    /// `namespace:package/interface`.
    pub(crate) name: &'static str,
    /// The version family provided: any version with this major and minor.
    pub(crate) family: &'static str,
    /// The grant it needs, when it reaches beyond the sandbox.
    pub(crate) capability: Option<Capability>,
}

/// Interfaces linked together, and how.
pub(crate) struct Group {
    /// What the linker error names.
    pub(crate) what: &'static str,
    /// Adds them to the linker.
    pub(crate) link: fn(&mut Linker<JobState>) -> wasmtime::Result<()>,
    /// The interfaces.
    pub(crate) interfaces: &'static [Interface],
}

const fn plain(name: &'static str, family: &'static str) -> Interface {
    Interface {
        name,
        family,
        capability: None,
    }
}

const fn granted(name: &'static str, family: &'static str, grant: Capability) -> Interface {
    Interface {
        name,
        family,
        capability: Some(grant),
    }
}

/// Every interface the host provides (sockets and name lookup are linked
/// but every operation is denied: no network but through `wasi:http`).
pub(crate) const INTERFACES: &[Group] = &[
    Group {
        what: "WASI",
        link: wasmtime_wasi::p2::add_to_linker_async::<JobState>,
        interfaces: &[
            plain("wasi:cli/environment", "0.2"),
            plain("wasi:cli/exit", "0.2"),
            plain("wasi:cli/stdin", "0.2"),
            plain("wasi:cli/stdout", "0.2"),
            plain("wasi:cli/stderr", "0.2"),
            plain("wasi:cli/terminal-input", "0.2"),
            plain("wasi:cli/terminal-output", "0.2"),
            plain("wasi:cli/terminal-stdin", "0.2"),
            plain("wasi:cli/terminal-stdout", "0.2"),
            plain("wasi:cli/terminal-stderr", "0.2"),
            plain("wasi:clocks/monotonic-clock", "0.2"),
            plain("wasi:clocks/wall-clock", "0.2"),
            plain("wasi:filesystem/types", "0.2"),
            plain("wasi:filesystem/preopens", "0.2"),
            plain("wasi:io/error", "0.2"),
            plain("wasi:io/poll", "0.2"),
            plain("wasi:io/streams", "0.2"),
            plain("wasi:random/random", "0.2"),
            plain("wasi:random/insecure", "0.2"),
            plain("wasi:random/insecure-seed", "0.2"),
            plain("wasi:sockets/network", "0.2"),
            plain("wasi:sockets/instance-network", "0.2"),
            plain("wasi:sockets/tcp", "0.2"),
            plain("wasi:sockets/tcp-create-socket", "0.2"),
            plain("wasi:sockets/udp", "0.2"),
            plain("wasi:sockets/udp-create-socket", "0.2"),
            plain("wasi:sockets/ip-name-lookup", "0.2"),
        ],
    },
    Group {
        what: "wasi:http",
        link: wasmtime_wasi_http::p2::add_only_http_to_linker_async::<JobState>,
        interfaces: &[
            plain("wasi:http/types", "0.2"),
            granted("wasi:http/outgoing-handler", "0.2", Capability::Http),
        ],
    },
    Group {
        what: "the log interface",
        link: log::link,
        interfaces: &[
            plain("sluice:provider/log", "0.1"),
            plain("sluice:provider/types", "0.1"),
        ],
    },
    Group {
        what: "the process interface",
        link: process::link,
        interfaces: &[granted(
            "sluice:provider/process",
            "0.1",
            Capability::Process,
        )],
    },
    Group {
        what: "the secrets interface",
        link: secrets::link,
        interfaces: &[granted(
            "sluice:provider/secrets",
            "0.1",
            Capability::Secrets,
        )],
    },
    Group {
        what: "the components interface",
        link: components::link,
        interfaces: &[plain("sluice:provider/components", "0.1")],
    },
    Group {
        what: "the files interface",
        link: files::link,
        interfaces: &[plain("sluice:provider/files", "0.1")],
    },
];

/// Every interface of [`INTERFACES`].
pub(crate) fn interfaces() -> impl Iterator<Item = &'static Interface> {
    INTERFACES.iter().flat_map(|group| group.interfaces)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every interface the contract's worlds import is in the table (and so
    /// linked, accepted by the import check, and granted as it says).
    #[test]
    fn every_interface_the_worlds_import_is_registered() {
        let worlds = include_str!("../../../../wit/worlds.wit");
        let imported: Vec<&str> = worlds
            .lines()
            .filter_map(|l| l.trim().strip_prefix("import "))
            .map(|l| l.trim_end_matches(';'))
            .collect();
        assert!(imported.contains(&"process"), "{imported:?}");
        for name in imported {
            let full = format!("sluice:provider/{name}");
            assert!(
                interfaces().any(|i| i.name == full),
                "{full} is imported by a world but not in host::INTERFACES"
            );
        }
    }

    #[test]
    fn the_table_says_which_imports_need_which_grant() {
        let imports = [
            "wasi:cli/stdout@0.2.3".to_string(),
            "sluice:provider/process@0.1.0".to_string(),
            "wasi:http/outgoing-handler@0.2.0".to_string(),
        ];
        assert_eq!(
            crate::sandbox::imports::capabilities(&imports),
            [Capability::Process, Capability::Http]
        );
        let names: Vec<&str> = interfaces().map(|i| i.name).collect();
        let mut unique = names.clone();
        unique.sort();
        unique.dedup();
        assert_eq!(unique.len(), names.len(), "an interface is listed twice");
    }
}
