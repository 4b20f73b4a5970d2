//! Secrets the action's `secrets` grant names. Their values never leave
//! the sandbox in clear: the host replaces them by `****` in logs,
//! summaries, output variables and failure messages.

use crate::Failure;
use crate::bindings::secrets as host;

/// The value of secret `name`; a permission failure naming the grant to
/// add when the action has none for it.
pub fn get(name: &str) -> Result<String, Failure> {
    host::get(name).map_err(Failure::permission)
}
