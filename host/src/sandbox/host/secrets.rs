//! `sluice:provider/secrets`: the values of the secrets an action's grant
//! names. Every value handed out is also registered with the log, which
//! replaces it by `****`.

use super::context::JobContext;
use crate::sandbox::bindings::sluice::provider::secrets::Host;
use std::sync::Arc;
use wasmtime::component::HasData;

/// The slice of a job's state the `secrets` interface reaches.
pub(crate) struct SecretsHost {
    pub(crate) ctx: Arc<JobContext>,
}

/// Names the `secrets` interface's view for the linker.
pub(crate) struct SecretsInterface;

impl HasData for SecretsInterface {
    type Data<'a> = &'a mut SecretsHost;
}

impl Host for SecretsHost {
    fn get(&mut self, name: String) -> Result<String, String> {
        match self.ctx.grants.secrets.iter().find(|s| s.name == name) {
            Some(secret) => Ok(secret.value.clone()),
            None => Err(format!(
                "action `{}` has no grant for secret `{name}`: add `grants: {{ secrets: [{name}] }}` to it",
                self.ctx.action
            )),
        }
    }
}

/// Links the `secrets` interface.
pub(crate) fn link(
    linker: &mut wasmtime::component::Linker<crate::sandbox::call::JobState>,
) -> wasmtime::Result<()> {
    crate::sandbox::bindings::sluice::provider::secrets::add_to_linker::<_, SecretsInterface>(
        linker,
        |state| &mut state.secrets,
    )
}
