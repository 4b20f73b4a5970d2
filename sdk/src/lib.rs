//! # sluice-sdk: write Sluice action providers in Rust
//!
//! A provider does the work of one kind of pipeline action. It is built as a
//! WebAssembly component (`cargo build --target wasm32-wasip2`) and runs in
//! Sluice's sandbox, where it can touch only its input artifacts (read-only),
//! its output artifacts, a scratch folder, and what the pipeline grants it.
//!
//! Write a type, implement [`Provider`] for it, and export it:
//!
//! ```
//! use sluice_sdk::{Category, Config, Descriptor, Failure, Job, Outcome, Property, Provider};
//!
//! struct Hello;
//!
//! impl Provider for Hello {
//!     fn describe() -> Descriptor {
//!         Descriptor::new(Category::Invoke, "example", "hello", "1.0.0")
//!             .description("Greets someone and returns the greeting as a variable.")
//!             .property(Property::required("Name", "Who to greet."))
//!     }
//!
//!     fn run(job: Job) -> Result<Outcome, Failure> {
//!         let name = job.config.require("Name")?;
//!         sluice_sdk::info!("greeting {name}");
//!         Ok(Outcome::success()
//!             .summary(format!("greeted {name}"))
//!             .variable("Greeting", format!("Hello, {name}!")))
//!     }
//! }
//!
//! sluice_sdk::export_provider!(Hello);
//! # fn main() {}
//! ```
//!
//! Source providers implement [`Source`] as well and use
//! [`export_source_provider!`] instead.
//!
//! Each call of `describe`, `validate`, `run` or `latest_revision` happens on a
//! fresh instance: keep nothing in statics between calls. Long work returns
//! [`Outcome::in_progress`] with a continuation token; the host calls `run`
//! again later with that token in [`Job::continuation`].
#![deny(missing_docs)]

// Lets the generated bindings name this crate the way provider crates do.
extern crate self as sluice_sdk;

pub mod components;
mod config;
mod describe;
pub mod fs;
pub mod http;
mod job;
pub mod log;
mod outcome;
pub mod process;
pub mod secrets;

pub use config::Config;
pub use describe::{Category, Descriptor, Property};
pub use job::{Approval, Artifact, GrantedPath, Job};
pub use outcome::{Context, Failure, FailureKind, Outcome, Pending, SourceRevision, Success};

/// `count` and `noun`, plural when it is not 1: `counted(1, "file")` is
/// "1 file", `counted(3, "file")` is "3 files".
pub fn counted(count: impl Into<u64>, noun: &str) -> String {
    let count = count.into();
    if count == 1 {
        format!("1 {noun}")
    } else {
        format!("{count} {noun}s")
    }
}

/// The one trait every provider implements.
///
/// The functions take no `self`: the host creates a fresh instance for every
/// call, so there is no state to keep.
pub trait Provider {
    /// What the provider is and which configuration it accepts.
    fn describe() -> Descriptor;

    /// Checks a configuration before any job runs. The default checks it
    /// against [`Provider::describe`]: every required property is present
    /// and no unknown property is set. Override it to check values too (call
    /// [`Descriptor::check`] first to keep the default checks). Values may
    /// still hold `#{...}` variable references, resolved only at run time.
    fn validate(config: &Config) -> Result<(), Vec<String>> {
        Self::describe().check(config)
    }

    /// Does the work of one job. `Err` fails the job with that failure.
    fn run(job: Job) -> Result<Outcome, Failure>;
}

/// Source providers implement this as well as [`Provider`]: it lets the host
/// find the newest revision of the source object, to start executions and to
/// detect changes.
pub trait Source: Provider {
    /// The newest revision of the source object the configuration names.
    fn latest_revision(config: &Config) -> Result<SourceRevision, Failure>;

    /// The paths (relative, `/`-separated, sorted) that differ between two
    /// revisions this provider returned, for triggers filtering on changed
    /// files. `None` (the default) means "cannot tell": every new revision
    /// passes such a filter.
    fn changed_paths(
        config: &Config,
        from: &str,
        to: &str,
    ) -> Result<Option<Vec<String>>, Failure> {
        let _ = (config, from, to);
        Ok(None)
    }
}

/// Exports a type implementing [`Provider`] as the component's provider.
///
/// Call it once, at the top level of the crate's `lib.rs` (the crate must be
/// a `cdylib`).
#[macro_export]
macro_rules! export_provider {
    ($ty:ty) => {
        const _: () = {
            struct __SluiceProvider;
            impl $crate::bindings::source::exports::sluice::provider::provider::Guest
                for __SluiceProvider
            {
                fn describe() -> $crate::bindings::types::Descriptor {
                    $crate::__private::describe::<$ty>()
                }
                fn validate(
                    configuration: $crate::bindings::types::Configuration,
                ) -> ::core::result::Result<(), $crate::__private::Vec<$crate::__private::String>>
                {
                    $crate::__private::validate::<$ty>(configuration)
                }
                fn run(job: $crate::bindings::types::Job) -> $crate::bindings::types::Outcome {
                    $crate::__private::run::<$ty>(job)
                }
            }
            $crate::bindings::source::exports::sluice::provider::provider::__export_sluice_provider_provider_0_1_0_cabi!(
                __SluiceProvider with_types_in $crate::bindings::source::exports::sluice::provider::provider
            );
        };
    };
}

/// Exports a type implementing [`Source`] (and so [`Provider`]) as the
/// component's source provider.
///
/// Call it once, at the top level of the crate's `lib.rs` (the crate must be
/// a `cdylib`).
#[macro_export]
macro_rules! export_source_provider {
    ($ty:ty) => {
        const _: () = {
            struct __SluiceProvider;
            impl $crate::bindings::source::exports::sluice::provider::provider::Guest
                for __SluiceProvider
            {
                fn describe() -> $crate::bindings::types::Descriptor {
                    $crate::__private::describe::<$ty>()
                }
                fn validate(
                    configuration: $crate::bindings::types::Configuration,
                ) -> ::core::result::Result<(), $crate::__private::Vec<$crate::__private::String>>
                {
                    $crate::__private::validate::<$ty>(configuration)
                }
                fn run(job: $crate::bindings::types::Job) -> $crate::bindings::types::Outcome {
                    $crate::__private::run::<$ty>(job)
                }
            }
            impl $crate::bindings::source::exports::sluice::provider::source::Guest
                for __SluiceProvider
            {
                fn latest_revision(
                    configuration: $crate::bindings::types::Configuration,
                ) -> ::core::result::Result<
                    $crate::bindings::types::SourceRevision,
                    $crate::bindings::types::Failure,
                > {
                    $crate::__private::latest_revision::<$ty>(configuration)
                }
                fn changed_paths(
                    configuration: $crate::bindings::types::Configuration,
                    from: ::std::string::String,
                    to: ::std::string::String,
                ) -> ::core::result::Result<
                    ::core::option::Option<::std::vec::Vec<::std::string::String>>,
                    $crate::bindings::types::Failure,
                > {
                    $crate::__private::changed_paths::<$ty>(configuration, from, to)
                }
            }
            $crate::bindings::source::export_source!(
                __SluiceProvider with_types_in $crate::bindings::source
            );
        };
    };
}

/// Generated bindings for the `sluice:provider` WIT package. Not part of the
/// SDK's interface: use the types re-exported at the crate root.
///
/// Two worlds, one set of types. `source` is generated with public export
/// macros: both export macros of this crate use its `provider` and `source`
/// glue. `action` exists for its custom section: it describes the
/// `action-provider` world (import `log`, export `provider`) and is linked
/// into every component, so a provider that exports only `provider` is
/// componentised as that world. Its own macros stay crate-private, which
/// keeps the two worlds' macro names from clashing.
#[doc(hidden)]
pub mod bindings {
    /// The world of source providers (a superset of `action`).
    pub mod source {
        wit_bindgen::generate!({
            path: "../wit",
            world: "sluice:provider/source-provider",
            pub_export_macro: true,
            export_macro_name: "export_source",
            default_bindings_module: "sluice_sdk::bindings::source",
            runtime_path: "sluice_sdk::__private::wit_bindgen::rt",
        });
    }

    /// The world of providers that are not sources.
    pub mod action {
        wit_bindgen::generate!({
            path: "../wit",
            world: "sluice:provider/action-provider",
            runtime_path: "sluice_sdk::__private::wit_bindgen::rt",
            with: {
                "sluice:provider/types@0.1.0": super::source::sluice::provider::types,
                "sluice:provider/log@0.1.0": super::source::sluice::provider::log,
                "sluice:provider/process@0.1.0": super::source::sluice::provider::process,
                "sluice:provider/secrets@0.1.0": super::source::sluice::provider::secrets,
                "sluice:provider/components@0.1.0": super::source::sluice::provider::components,
                "sluice:provider/files@0.1.0": super::source::sluice::provider::files,
            },
        });
    }

    pub use source::sluice::provider::{components, files, log, process, secrets, types};
}

/// What the export macros expand to. Not part of the SDK's interface.
#[doc(hidden)]
pub mod __private {
    pub use std::string::String;
    pub use std::vec::Vec;
    pub use wit_bindgen;

    use crate::bindings::types as wit;
    use crate::{Config, Job, Provider, Source};

    pub fn describe<P: Provider>() -> wit::Descriptor {
        crate::log::install_panic_hook();
        P::describe().into_wit()
    }

    pub fn validate<P: Provider>(configuration: wit::Configuration) -> Result<(), Vec<String>> {
        crate::log::install_panic_hook();
        P::validate(&Config::from_pairs(configuration))
    }

    pub fn run<P: Provider>(job: wit::Job) -> wit::Outcome {
        crate::log::install_panic_hook();
        match P::run(Job::from_wit(job)) {
            Ok(outcome) => outcome.into_wit(),
            Err(failure) => wit::Outcome::Failed(failure.into_wit()),
        }
    }

    pub fn latest_revision<P: Source>(
        configuration: wit::Configuration,
    ) -> Result<wit::SourceRevision, wit::Failure> {
        crate::log::install_panic_hook();
        P::latest_revision(&Config::from_pairs(configuration))
            .map(|r| r.into_wit())
            .map_err(|f| f.into_wit())
    }

    pub fn changed_paths<P: Source>(
        configuration: wit::Configuration,
        from: String,
        to: String,
    ) -> Result<Option<Vec<String>>, wit::Failure> {
        crate::log::install_panic_hook();
        P::changed_paths(&Config::from_pairs(configuration), &from, &to).map_err(|f| f.into_wit())
    }
}
