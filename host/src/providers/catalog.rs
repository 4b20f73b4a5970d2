//! Resolving the provider references a pipeline writes (`builtin:copy`,
//! `./providers/x.wasm`, `acme/word-count@^1.2`) to loaded providers and
//! their descriptors.

use super::{ComponentStore, ProviderRef};
use crate::packages::PluginRegistry;
use crate::sandbox::{ComponentSource, Descriptor, Provider, Sandbox, SandboxError};
use std::path::{Path, PathBuf};

/// A provider reference resolved: the loaded provider, what it says about
/// itself, and the digest of the exact component.
#[derive(Debug, Clone)]
pub struct Resolved {
    /// The reference as the pipeline wrote it.
    pub reference: String,
    /// The loaded provider.
    pub provider: Provider,
    /// Its descriptor.
    pub descriptor: Descriptor,
    /// The component's sha256.
    pub sha256: String,
}

/// Resolves provider references for one pipeline file.
#[derive(Debug, Clone)]
pub struct Catalog {
    sandbox: Sandbox,
    base_dir: PathBuf,
    components: Option<ComponentStore>,
    plugins: Option<PluginRegistry>,
}

impl Catalog {
    /// Resolves relative paths against `base_dir`; keeps every component it
    /// resolves in `components` when given.
    pub fn new(sandbox: Sandbox, base_dir: &Path, components: Option<ComponentStore>) -> Self {
        Catalog {
            sandbox,
            base_dir: base_dir.to_path_buf(),
            components,
            plugins: None,
        }
    }

    /// Resolves `owner/provider@REQ` against the plugins installed in
    /// `plugins` (without it such references are refused).
    pub fn with_plugins(mut self, plugins: PluginRegistry) -> Self {
        self.plugins = Some(plugins);
        self
    }

    /// The sandbox providers are loaded into.
    pub fn sandbox(&self) -> &Sandbox {
        &self.sandbox
    }

    /// Loads the provider `reference` names and asks it to describe itself.
    pub async fn resolve(&self, reference: &str) -> Result<Resolved, SandboxError> {
        let parsed: ProviderRef =
            reference
                .parse()
                .map_err(|message: String| SandboxError::NotAProvider {
                    provider: reference.to_string(),
                    message,
                })?;
        let parsed = match parsed {
            ProviderRef::File(path) if path.is_relative() => {
                ProviderRef::File(self.base_dir.join(path))
            }
            other => other,
        };
        let mut source = match &parsed {
            ProviderRef::Installed { name, requirement } => {
                self.installed(name, requirement, reference)?
            }
            other => other.component()?,
        };
        source.name = reference.to_string();
        if let Some(store) = &self.components {
            store.keep(&source).map_err(|e| {
                SandboxError::Engine(format!(
                    "cannot keep component {reference} in the state directory: {e}"
                ))
            })?;
        }
        self.load(source, reference).await
    }

    /// The component of the highest installed version `requirement`
    /// matches: its digest is what a pipeline version applied now records.
    fn installed(
        &self,
        name: &crate::packages::PluginName,
        requirement: &semver::VersionReq,
        reference: &str,
    ) -> Result<ComponentSource, SandboxError> {
        let fail = |message: String| SandboxError::Plugin {
            reference: reference.to_string(),
            message,
        };
        let plugins = self.plugins.as_ref().ok_or_else(|| {
            fail("installed plugins are not available here (no state directory)".into())
        })?;
        let installed = plugins
            .resolve(name, requirement)
            .map_err(|e| fail(e.to_string()))?;
        plugins
            .component(&installed, reference)
            .map_err(|e| fail(e.to_string()))
    }

    /// Loads a component kept in the component store by its digest.
    pub async fn by_digest(&self, sha256: &str, reference: &str) -> Result<Resolved, SandboxError> {
        let store = self.components.as_ref().ok_or_else(|| {
            SandboxError::Engine("no component store to load providers from".into())
        })?;
        let source = store
            .get(sha256, reference)
            .map_err(|e| SandboxError::Read {
                path: PathBuf::from(format!("components/{sha256}.wasm")),
                source: e,
            })?;
        self.load(source, reference).await
    }

    async fn load(
        &self,
        source: ComponentSource,
        reference: &str,
    ) -> Result<Resolved, SandboxError> {
        let sandbox = self.sandbox.clone();
        // Compiling is CPU work; keep it off the async threads.
        let (provider, _) = tokio::task::spawn_blocking(move || sandbox.load(&source))
            .await
            .map_err(|e| SandboxError::Engine(format!("loading a provider panicked: {e}")))??;
        let descriptor = provider.describe().await?;
        Ok(Resolved {
            reference: reference.to_string(),
            sha256: provider.sha256().to_string(),
            provider,
            descriptor,
        })
    }
}

impl crate::model::providers::Providers for Catalog {
    type Resolved = Resolved;

    fn parse(&self, reference: &str) -> Result<(), String> {
        reference.parse::<ProviderRef>().map(|_| ())
    }

    async fn resolve(&self, reference: &str) -> Result<Resolved, String> {
        Catalog::resolve(self, reference)
            .await
            .map_err(|e| e.to_string())
    }

    fn descriptor(resolved: &Resolved) -> &Descriptor {
        &resolved.descriptor
    }

    fn is_source(resolved: &Resolved) -> bool {
        resolved.provider.is_source()
    }

    async fn validate(
        resolved: &Resolved,
        configuration: &[(String, String)],
    ) -> Result<Result<(), Vec<String>>, String> {
        resolved
            .provider
            .validate(configuration)
            .await
            .map_err(|e| e.to_string())
    }
}
