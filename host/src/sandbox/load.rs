//! Loading a component: compiled once (or read from the compile cache), its
//! imports checked against what the host provides, an `InstancePre` kept
//! for every later call.

use super::bindings::exports::sluice::provider::{
    provider as provider_export, source as source_export,
};
use super::*;
use sha2::{Digest, Sha256};
use std::borrow::Cow;
use std::path::Path;
use wasmtime::component::{Component, InstancePre};

/// Where a provider's compiled code came from when it was loaded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LoadedFrom {
    /// Already loaded in this process.
    Memory,
    /// Read from the on-disk compile cache.
    CompileCache,
    /// Compiled now.
    Compiled,
}

/// A component's bytes and the name to report it by.
#[derive(Debug, Clone)]
pub struct ComponentSource {
    /// `builtin:copy`, a file path: how errors name the provider.
    pub name: String,
    /// The component.
    pub bytes: Cow<'static, [u8]>,
    /// Its sha256, when already known.
    pub sha256: Option<String>,
}

impl ComponentSource {
    /// Reads a component file.
    pub fn from_file(path: &Path) -> Result<Self, SandboxError> {
        let bytes = std::fs::read(path).map_err(|source| SandboxError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        Ok(ComponentSource {
            name: path.display().to_string(),
            bytes: Cow::Owned(bytes),
            sha256: None,
        })
    }

    /// The sha256 of the component, hex.
    pub fn digest(&self) -> String {
        self.sha256
            .clone()
            .unwrap_or_else(|| hex::encode(Sha256::digest(&self.bytes)))
    }
}

impl Sandbox {
    /// Loads a provider: from memory if this sandbox loaded it before, else
    /// from the compile cache, else by compiling it. Its imports are checked
    /// here, once; a component importing anything the host does not provide
    /// is refused, naming the import. Compiling takes a while for large
    /// components: call this from a blocking context.
    pub fn load(&self, source: &ComponentSource) -> Result<(Provider, LoadedFrom), SandboxError> {
        let sha256 = source.digest();
        if let Some(core) = self.shared.loaded.lock().unwrap().get(&sha256) {
            let provider = Provider {
                core: core.clone(),
                shared: self.shared.clone(),
                name: source.name.clone(),
            };
            return Ok((provider, LoadedFrom::Memory));
        }
        let (component, from, imports) = self.component(source, &sha256)?;
        let pre = self
            .shared
            .linker
            .instantiate_pre(&component)
            .map_err(|e| SandboxError::Compile {
                provider: source.name.clone(),
                message: format!("{e:#}"),
            })?;
        let provider_exports =
            provider_export::GuestIndices::new(&pre).map_err(|e| SandboxError::NotAProvider {
                provider: source.name.clone(),
                message: format!("{e:#}"),
            })?;
        let source_exports = source_export::GuestIndices::new(&pre).ok();
        let core = Arc::new(Core {
            sha256: sha256.clone(),
            pre,
            provider_exports,
            source_exports,
            imports,
            descriptor: tokio::sync::OnceCell::new(),
        });
        self.shared
            .loaded
            .lock()
            .unwrap()
            .insert(sha256, core.clone());
        Ok((
            Provider {
                core,
                shared: self.shared.clone(),
                name: source.name.clone(),
            },
            from,
        ))
    }

    /// Compiles a component (or reads it from the compile cache) and
    /// checks its imports.
    pub(super) fn component(
        &self,
        source: &ComponentSource,
        sha256: &str,
    ) -> Result<(Component, LoadedFrom, Vec<String>), SandboxError> {
        let engine = &self.shared.engine;
        let cached = self
            .shared
            .cache
            .as_ref()
            .and_then(|cache| cache.load(engine, sha256));
        let (component, from) = match cached {
            Some(component) => (component, LoadedFrom::CompileCache),
            None => {
                let component =
                    Component::new(engine, &source.bytes).map_err(|e| SandboxError::Compile {
                        provider: source.name.clone(),
                        message: format!("{e:#}"),
                    })?;
                if let Some(cache) = &self.shared.cache {
                    cache.store(sha256, &component);
                }
                (component, LoadedFrom::Compiled)
            }
        };
        let imports = imports::imports_of(engine, &component);
        if let Some(import) = imports::first_unsupported(&imports) {
            return Err(SandboxError::UnsupportedImport {
                provider: source.name.clone(),
                import: import.to_string(),
            });
        }
        Ok((component, from, imports))
    }

    /// Forgets every provider loaded in memory, so the next load reads the
    /// compile cache (used to measure cold loads).
    pub fn forget_loaded(&self) {
        self.shared.loaded.lock().unwrap().clear();
    }
}

/// What is shared by every handle on one loaded component.
pub(super) struct Core {
    pub(super) sha256: String,
    pub(super) pre: InstancePre<JobState>,
    pub(super) provider_exports: provider_export::GuestIndices,
    pub(super) source_exports: Option<source_export::GuestIndices>,
    pub(super) imports: Vec<String>,
    pub(super) descriptor: tokio::sync::OnceCell<Descriptor>,
}
