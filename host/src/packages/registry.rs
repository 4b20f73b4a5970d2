//! Installed plugins: one record per version in
//! `<state>/plugins/<owner>/<provider>/<version>/plugin.json`, the
//! component itself kept by digest in the component store
//! (`<state>/components/<sha256>.wasm`), and resolution of a version
//! requirement to the highest installed version it matches.

use super::manifest::ProviderManifest;
use super::package::Package;
use super::{PluginError, PluginName};
use crate::component_store::ComponentStore;
use crate::sandbox::ComponentSource;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::io::Write;
use std::path::{Path, PathBuf};

/// The install record's file name.
pub const RECORD_FILE: &str = "plugin.json";

/// An installed plugin version.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Installed {
    /// `owner/provider`.
    pub name: String,
    /// Its version.
    pub version: String,
    /// The package's image manifest digest (what signatures sign).
    pub manifest_digest: String,
    /// The component's sha256, hex: its name in the component store, and
    /// what a pipeline version applied with it records.
    pub component_sha256: String,
    /// When it was installed, RFC 3339.
    pub installed_at: String,
    /// Ids of the trusted keys whose signatures verified.
    pub signed_by: Vec<String>,
    /// The component's imports.
    pub imports: Vec<String>,
    /// The component's exports.
    pub exports: Vec<String>,
    /// The package's Sluice manifest.
    pub manifest: ProviderManifest,
}

impl Installed {
    /// Its version, parsed (records are only written with valid ones).
    pub fn semver(&self) -> semver::Version {
        semver::Version::parse(&self.version).unwrap_or_else(|_| semver::Version::new(0, 0, 0))
    }
}

/// The plugins installed in one state directory.
#[derive(Debug, Clone)]
pub struct PluginRegistry {
    state_dir: PathBuf,
}

impl PluginRegistry {
    /// The registry of `state_dir` (nothing is created until an install).
    pub fn new(state_dir: &Path) -> Self {
        PluginRegistry {
            state_dir: state_dir.to_path_buf(),
        }
    }

    /// `<state>/plugins`.
    pub fn dir(&self) -> PathBuf {
        crate::state_dir::StateDir::at(&self.state_dir).plugins()
    }

    fn version_dir(&self, name: &PluginName, version: &str) -> PathBuf {
        self.dir()
            .join(&name.owner)
            .join(&name.provider)
            .join(version)
    }

    fn components(&self) -> Result<ComponentStore, PluginError> {
        let dir = crate::state_dir::StateDir::at(&self.state_dir).components();
        ComponentStore::open(&dir).map_err(PluginError::io("create", dir))
    }

    /// Records a checked package as installed, keeping its component in
    /// the component store. Installing the same component again changes
    /// nothing (`Ok((_, true))`); a different component under an
    /// installed version is refused.
    pub fn record(
        &self,
        package: &Package,
        signed_by: Vec<String>,
        installed_at: String,
    ) -> Result<(Installed, bool), PluginError> {
        let action = &package.provider.action_type;
        let name =
            PluginName::new(&action.owner, &action.provider).map_err(PluginError::Registry)?;
        let version = semver::Version::parse(&action.version).map_err(|e| {
            PluginError::Registry(format!(
                "{name}: version `{}` is not a semantic version: {e}",
                action.version
            ))
        })?;
        let source = package.component_source();
        let sha256 = source.digest();
        let dir = self.version_dir(&name, &version.to_string());
        let record = dir.join(RECORD_FILE);
        if record.exists() {
            let existing = read_record(&record)?;
            if existing.component_sha256 == sha256 {
                return Ok((existing, true));
            }
            return Err(PluginError::Registry(format!(
                "{name} {version} is already installed with another component \
                 (sha256:{}); remove it first with `sluice plugin remove {name}@{version}`",
                existing.component_sha256
            )));
        }
        self.components()?
            .keep(&source)
            .map_err(PluginError::io("write the component of", &dir))?;
        let installed = Installed {
            name: name.to_string(),
            version: version.to_string(),
            manifest_digest: package.digest().to_string(),
            component_sha256: sha256,
            installed_at,
            signed_by,
            imports: package.world.imports.clone(),
            exports: package.world.exports.clone(),
            manifest: package.provider.clone(),
        };
        std::fs::create_dir_all(&dir).map_err(PluginError::io("create", &dir))?;
        let mut temp =
            tempfile::NamedTempFile::new_in(&dir).map_err(PluginError::io("write", &record))?;
        temp.write_all(&super::oci::to_json(&installed))
            .and_then(|_| temp.as_file().sync_all())
            .map_err(PluginError::io("write", &record))?;
        temp.persist(&record)
            .map_err(|e| PluginError::io("write", &record)(e.error))?;
        Ok((installed, false))
    }

    /// Every installed plugin version, by name then version.
    pub fn list(&self) -> Result<Vec<Installed>, PluginError> {
        let mut all = Vec::new();
        for owner in subdirs(&self.dir())? {
            for provider in subdirs(&owner)? {
                for version in subdirs(&provider)? {
                    let record = version.join(RECORD_FILE);
                    if record.is_file() {
                        all.push(read_record(&record)?);
                    }
                }
            }
        }
        all.sort_by(|a, b| a.name.cmp(&b.name).then(a.semver().cmp(&b.semver())));
        Ok(all)
    }

    /// The installed versions of `name`, lowest first.
    pub fn versions(&self, name: &PluginName) -> Result<Vec<Installed>, PluginError> {
        let mut versions = Vec::new();
        for dir in subdirs(&self.dir().join(&name.owner).join(&name.provider))? {
            let record = dir.join(RECORD_FILE);
            if record.is_file() {
                versions.push(read_record(&record)?);
            }
        }
        versions.sort_by_key(Installed::semver);
        Ok(versions)
    }

    /// One installed version of `name`: `version`, or the highest.
    pub fn get(
        &self,
        name: &PluginName,
        version: Option<&semver::Version>,
    ) -> Result<Installed, PluginError> {
        let versions = self.versions(name)?;
        let found = match version {
            Some(v) => versions.iter().find(|i| i.semver() == *v),
            None => versions.last(),
        };
        found
            .cloned()
            .ok_or_else(|| self.not_found(name, version.map(|v| format!("={v}")), &versions))
    }

    /// The highest installed version of `name` that `requirement` matches.
    pub fn resolve(
        &self,
        name: &PluginName,
        requirement: &semver::VersionReq,
    ) -> Result<Installed, PluginError> {
        let versions = self.versions(name)?;
        versions
            .iter()
            .rev()
            .find(|i| requirement.matches(&i.semver()))
            .cloned()
            .ok_or_else(|| self.not_found(name, Some(requirement.to_string()), &versions))
    }

    fn not_found(
        &self,
        name: &PluginName,
        requirement: Option<String>,
        versions: &[Installed],
    ) -> PluginError {
        if versions.is_empty() {
            return PluginError::Registry(format!(
                "plugin {name} is not installed in {} (install a package with `sluice plugin install PACKAGE`)",
                self.state_dir.display()
            ));
        }
        let installed: Vec<&str> = versions.iter().map(|i| i.version.as_str()).collect();
        PluginError::Registry(format!(
            "no installed version of {name} matches {} (installed versions: {})",
            requirement.unwrap_or_default(),
            installed.join(", ")
        ))
    }

    /// Removes an installed version's record. Its component stays in the
    /// component store: pipeline versions applied with it still run it.
    pub fn remove(
        &self,
        name: &PluginName,
        version: &semver::Version,
    ) -> Result<Installed, PluginError> {
        let installed = self.get(name, Some(version))?;
        let dir = self.version_dir(name, &installed.version);
        std::fs::remove_dir_all(&dir).map_err(PluginError::io("remove", &dir))?;
        // Tidy the provider's and owner's folders when they are empty.
        let provider = self.dir().join(&name.owner).join(&name.provider);
        if std::fs::remove_dir(&provider).is_ok() {
            let _ = std::fs::remove_dir(self.dir().join(&name.owner));
        }
        Ok(installed)
    }

    /// The component of an installed version, checked against its digest.
    pub fn component(
        &self,
        installed: &Installed,
        name: &str,
    ) -> Result<ComponentSource, PluginError> {
        let store = self.components()?;
        let source = store
            .get(&installed.component_sha256, name)
            .map_err(PluginError::io(
                "read the component of",
                PathBuf::from(format!("{} {}", installed.name, installed.version)),
            ))?;
        let actual = hex::encode(Sha256::digest(&source.bytes));
        if actual != installed.component_sha256 {
            return Err(PluginError::Registry(format!(
                "the component of {} {} in the component store hashes to sha256:{actual}, \
                 not sha256:{}: the state directory was changed; install the package again",
                installed.name, installed.version, installed.component_sha256
            )));
        }
        Ok(source)
    }
}

fn read_record(path: &Path) -> Result<Installed, PluginError> {
    let bytes = std::fs::read(path).map_err(PluginError::io("read", path))?;
    serde_json::from_slice(&bytes).map_err(|e| {
        PluginError::Registry(format!("{} is not a plugin record: {e}", path.display()))
    })
}

fn subdirs(dir: &Path) -> Result<Vec<PathBuf>, PluginError> {
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(PluginError::io("read", dir)(e)),
    };
    let mut dirs = Vec::new();
    for entry in entries {
        let path = entry.map_err(PluginError::io("read", dir))?.path();
        let hidden = path
            .file_name()
            .is_some_and(|n| n.to_string_lossy().starts_with('.'));
        if path.is_dir() && !hidden {
            dirs.push(path);
        }
    }
    dirs.sort();
    Ok(dirs)
}
