//! Errors of the sandbox: a provider that cannot be loaded or called.
//! What goes wrong *inside* a job (a crash, a deadline, a memory limit) is
//! not an error here but the job's failed outcome.

use std::path::PathBuf;

/// Why a provider could not be loaded or called.
#[derive(Debug, thiserror::Error)]
pub enum SandboxError {
    /// The wasmtime engine could not be set up.
    #[error("cannot set up the WebAssembly engine: {0}")]
    Engine(String),

    /// A component file could not be read.
    #[error("cannot read provider component {}: {source}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },

    /// The bytes are not a valid component for this host.
    #[error("provider `{provider}` is not a valid WebAssembly component: {message}")]
    Compile {
        /// The provider's name or path.
        provider: String,
        /// What the compiler said.
        message: String,
    },

    /// The component imports an interface the host does not provide.
    #[error(
        "provider `{provider}` imports `{import}`, which this host does not provide; \
         it was refused before running (providers may import WASI 0.2 and sluice:provider@0.1)"
    )]
    UnsupportedImport {
        /// The provider's name or path.
        provider: String,
        /// The import, e.g. `example:forbidden/teleport@1.0.0`.
        import: String,
    },

    /// The component does not export the provider interface.
    #[error(
        "`{provider}` is not a Sluice provider: it does not export \
         `sluice:provider/provider@0.1.0` ({message})"
    )]
    NotAProvider {
        /// The provider's name or path.
        provider: String,
        /// What is missing.
        message: String,
    },

    /// A source-only function was called on a provider that is not a source.
    #[error(
        "provider `{provider}` is not a source provider: it does not export `sluice:provider/source@0.1.0`"
    )]
    NotASource {
        /// The provider's name.
        provider: String,
    },

    /// A folder could not be mounted into the sandbox.
    #[error("cannot mount {what} from {}: {message}", path.display())]
    Mount {
        /// What was being mounted (`input artifact "src"`).
        what: String,
        /// The host folder.
        path: PathBuf,
        /// Why.
        message: String,
    },

    /// `describe` answered a descriptor the host refuses.
    #[error("provider `{provider}` describes itself wrongly: {}", problems.join("; "))]
    BadDescriptor {
        /// The provider.
        provider: String,
        /// What is wrong, each naming the field.
        problems: Vec<String>,
    },
    /// `describe`, `validate` or `latest-revision` crashed or timed out.
    #[error("provider `{provider}` failed in `{function}`: {message}")]
    Call {
        /// The provider's name.
        provider: String,
        /// The function called.
        function: &'static str,
        /// What happened.
        message: String,
    },

    /// An installed plugin reference (`owner/provider@REQ`) cannot be
    /// resolved.
    #[error("provider `{reference}`: {message}")]
    Plugin {
        /// The reference as written.
        reference: String,
        /// Why (none installed, none matching, with the installed versions).
        message: String,
    },

    /// `builtin:NAME` names no built-in provider.
    #[error("there is no built-in provider `builtin:{name}` (built-ins: {available})")]
    UnknownBuiltin {
        /// The name asked for.
        name: String,
        /// The names there are.
        available: String,
    },
}
