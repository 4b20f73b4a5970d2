//! The OCI image layout a plugin package is: `oci-layout`, `index.json` and
//! `blobs/sha256/<hex>`, as a folder or the same files in a `.tar`. Every
//! blob is addressed by its sha256; reading one checks its size and digest.
//!
//! Media types follow the CNCF TAG Runtime's Wasm OCI artifact layout: an
//! image manifest whose config is `application/vnd.wasm.config.v0+json`
//! and whose component layer is `application/wasm`.

use super::PluginError;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};

/// The `oci-layout` file's name.
pub const LAYOUT_FILE: &str = "oci-layout";
/// The index's file name.
pub const INDEX_FILE: &str = "index.json";
/// The only image layout version written and read.
pub const LAYOUT_VERSION: &str = "1.0.0";
/// An image index.
pub const MEDIA_INDEX: &str = "application/vnd.oci.image.index.v1+json";
/// An image manifest.
pub const MEDIA_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
/// The config (and artifact type) of a Wasm artifact.
pub const MEDIA_WASM_CONFIG: &str = "application/vnd.wasm.config.v0+json";
/// The component layer.
pub const MEDIA_WASM_LAYER: &str = "application/wasm";
/// Sluice's manifest layer: what the provider is and may ask for.
pub const MEDIA_SLUICE_MANIFEST: &str = "application/vnd.sluice.provider.manifest.v1+json";
/// A signature: the artifact type of the referrer and its one layer.
pub const MEDIA_SIGNATURE: &str = "application/vnd.sluice.signature.v1+json";
/// The empty config of a referrer (`{}`).
pub const MEDIA_EMPTY: &str = "application/vnd.oci.empty.v1+json";
/// The index annotation naming the package: `owner/provider:version`.
pub const REF_NAME: &str = "org.opencontainers.image.ref.name";
/// The title annotation.
pub const TITLE: &str = "org.opencontainers.image.title";
/// The version annotation.
pub const VERSION: &str = "org.opencontainers.image.version";
/// The description annotation.
pub const DESCRIPTION: &str = "org.opencontainers.image.description";
/// The creation time annotation.
pub const CREATED: &str = "org.opencontainers.image.created";

/// A content descriptor: what a blob is, its digest and size.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OciDescriptor {
    /// The blob's media type.
    pub media_type: String,
    /// `sha256:<hex>`.
    pub digest: String,
    /// Its size in bytes.
    pub size: u64,
    /// For manifests in an index: the artifact's type.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub artifact_type: Option<String>,
    /// Annotations.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: BTreeMap<String, String>,
    /// The blob's content, base64, when embedded (the empty config).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data: Option<String>,
}

/// An image manifest.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ImageManifest {
    /// Always 2.
    pub schema_version: u32,
    /// [`MEDIA_MANIFEST`].
    #[serde(default)]
    pub media_type: Option<String>,
    /// What kind of artifact this is.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub artifact_type: Option<String>,
    /// The config blob.
    pub config: OciDescriptor,
    /// The layers, in order.
    pub layers: Vec<OciDescriptor>,
    /// For a referrer (a signature): the manifest it refers to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subject: Option<OciDescriptor>,
    /// Annotations.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: BTreeMap<String, String>,
}

/// The image index (`index.json`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ImageIndex {
    /// Always 2.
    pub schema_version: u32,
    /// [`MEDIA_INDEX`].
    #[serde(default)]
    pub media_type: Option<String>,
    /// The manifests: the package's, then its signatures.
    pub manifests: Vec<OciDescriptor>,
}

/// The config of a Wasm artifact, as the CNCF layout describes it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct WasmConfig {
    /// When it was packed, RFC 3339.
    pub created: String,
    /// Who packed it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub author: Option<String>,
    /// Always `wasm`.
    pub architecture: String,
    /// `wasip2` for a component.
    pub os: String,
    /// The digest of every layer, in the manifest's order.
    pub layer_digests: Vec<String>,
    /// The component's imports, exports and target world.
    pub component: ComponentInfo,
}

/// A component's world, as the config records it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ComponentInfo {
    /// Every top-level export, e.g. `sluice:provider/provider@0.1.0`.
    pub exports: Vec<String>,
    /// Every top-level import, e.g. `wasi:cli/stdout@0.2.3`.
    pub imports: Vec<String>,
    /// The world it targets, e.g. `sluice:provider/action-provider@0.1.0`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target: Option<String>,
}

/// `sha256:<hex>` of `bytes`.
pub fn digest_of(bytes: &[u8]) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(bytes)))
}

/// The hex part of a `sha256:` digest, when it is one (64 lowercase hex
/// digits: the only digests a blob path is made from).
pub fn sha256_hex(digest: &str) -> Option<&str> {
    let hex = digest.strip_prefix("sha256:")?;
    (hex.len() == 64
        && hex
            .chars()
            .all(|c| c.is_ascii_digit() || ('a'..='f').contains(&c)))
    .then_some(hex)
}

/// An image layout in memory: its files by path inside the layout.
#[derive(Debug, Clone, Default)]
pub struct Layout {
    files: BTreeMap<String, Vec<u8>>,
}

/// How a layout is stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Form {
    /// A folder.
    Dir,
    /// A tar archive.
    Tar,
}

impl Form {
    /// The form an output path asks for: `.tar` is an archive.
    pub fn of_output(path: &Path) -> Form {
        if path.extension().is_some_and(|e| e == "tar") {
            Form::Tar
        } else {
            Form::Dir
        }
    }
}

impl Layout {
    /// An empty layout holding only `oci-layout`.
    pub fn new() -> Self {
        let mut layout = Layout::default();
        layout.files.insert(
            LAYOUT_FILE.to_string(),
            serde_json::to_vec(&serde_json::json!({ "imageLayoutVersion": LAYOUT_VERSION }))
                .unwrap_or_default(),
        );
        layout
    }

    /// Reads a layout from a folder or a tar archive.
    pub fn open(path: &Path) -> Result<(Layout, Form), PluginError> {
        let meta = std::fs::metadata(path).map_err(PluginError::io("read", path))?;
        if meta.is_dir() {
            Ok((Self::read_dir(path)?, Form::Dir))
        } else {
            Ok((Self::read_tar(path)?, Form::Tar))
        }
    }

    fn read_dir(root: &Path) -> Result<Layout, PluginError> {
        let mut layout = Layout::default();
        for name in [LAYOUT_FILE, INDEX_FILE] {
            let path = root.join(name);
            if path.exists() {
                let bytes = std::fs::read(&path).map_err(PluginError::io("read", &path))?;
                layout.files.insert(name.to_string(), bytes);
            }
        }
        let blobs = root.join("blobs");
        if blobs.is_dir() {
            for algorithm in std::fs::read_dir(&blobs).map_err(PluginError::io("read", &blobs))? {
                let algorithm = algorithm.map_err(PluginError::io("read", &blobs))?;
                let dir = algorithm.path();
                if !dir.is_dir() {
                    continue;
                }
                for blob in std::fs::read_dir(&dir).map_err(PluginError::io("read", &dir))? {
                    let blob = blob.map_err(PluginError::io("read", &dir))?;
                    let path = blob.path();
                    if !path.is_file() {
                        continue;
                    }
                    let bytes = std::fs::read(&path).map_err(PluginError::io("read", &path))?;
                    layout.files.insert(
                        format!(
                            "blobs/{}/{}",
                            algorithm.file_name().to_string_lossy(),
                            blob.file_name().to_string_lossy()
                        ),
                        bytes,
                    );
                }
            }
        }
        Ok(layout)
    }

    fn read_tar(path: &Path) -> Result<Layout, PluginError> {
        let file = std::fs::File::open(path).map_err(PluginError::io("read", path))?;
        let mut archive = tar::Archive::new(file);
        let mut layout = Layout::default();
        let bad = |e: std::io::Error| PluginError::Package {
            package: path.display().to_string(),
            message: format!("is neither a folder nor a readable tar archive: {e}"),
        };
        for entry in archive.entries().map_err(bad)? {
            let mut entry = entry.map_err(bad)?;
            if !entry.header().entry_type().is_file() {
                continue;
            }
            let name = entry.path().map_err(bad)?.to_string_lossy().into_owned();
            let name = name.trim_start_matches("./").to_string();
            let mut bytes = Vec::new();
            std::io::Read::read_to_end(&mut entry, &mut bytes).map_err(bad)?;
            layout.files.insert(name, bytes);
        }
        Ok(layout)
    }

    /// Writes the layout as a new folder or tar archive at `path`, by way
    /// of a temporary sibling renamed into place. `replace` allows an
    /// existing one to be replaced.
    pub fn write(&self, path: &Path, form: Form, replace: bool) -> Result<(), PluginError> {
        if path.symlink_metadata().is_ok() && !replace {
            return Err(PluginError::Package {
                package: path.display().to_string(),
                message: "already exists; choose another path (or pass --force)".into(),
            });
        }
        let parent = match path.parent() {
            Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
            _ => PathBuf::from("."),
        };
        std::fs::create_dir_all(&parent).map_err(PluginError::io("create", &parent))?;
        match form {
            Form::Dir => {
                let temp = tempfile::Builder::new()
                    .prefix(".sluice-package-")
                    .tempdir_in(&parent)
                    .map_err(PluginError::io("create a folder in", &parent))?;
                for (name, bytes) in &self.files {
                    let file = temp.path().join(name);
                    if let Some(dir) = file.parent() {
                        std::fs::create_dir_all(dir).map_err(PluginError::io("create", dir))?;
                    }
                    std::fs::write(&file, bytes).map_err(PluginError::io("write", &file))?;
                }
                if path.is_dir() {
                    std::fs::remove_dir_all(path).map_err(PluginError::io("replace", path))?;
                }
                let kept = temp.keep();
                std::fs::rename(&kept, path).map_err(PluginError::io("write", path))?;
            }
            Form::Tar => {
                let mut temp = tempfile::NamedTempFile::new_in(&parent)
                    .map_err(PluginError::io("create a file in", &parent))?;
                {
                    let mut builder = tar::Builder::new(temp.as_file_mut());
                    let mut dirs = std::collections::BTreeSet::new();
                    for name in self.files.keys() {
                        let mut at = Path::new(name).parent();
                        while let Some(dir) = at.filter(|d| !d.as_os_str().is_empty()) {
                            dirs.insert(dir.to_path_buf());
                            at = dir.parent();
                        }
                    }
                    for dir in &dirs {
                        let mut header = tar::Header::new_ustar();
                        header.set_entry_type(tar::EntryType::Directory);
                        header.set_mode(0o755);
                        header.set_size(0);
                        builder
                            .append_data(&mut header, dir, std::io::empty())
                            .map_err(PluginError::io("write", path))?;
                    }
                    for (name, bytes) in &self.files {
                        let mut header = tar::Header::new_ustar();
                        header.set_entry_type(tar::EntryType::Regular);
                        header.set_mode(0o644);
                        header.set_size(bytes.len() as u64);
                        builder
                            .append_data(&mut header, name, bytes.as_slice())
                            .map_err(PluginError::io("write", path))?;
                    }
                    builder.finish().map_err(PluginError::io("write", path))?;
                }
                temp.as_file_mut()
                    .flush()
                    .and_then(|_| temp.as_file().sync_all())
                    .map_err(PluginError::io("write", path))?;
                temp.persist(path)
                    .map_err(|e| PluginError::io("write", path)(e.error))?;
            }
        }
        Ok(())
    }

    /// A file of the layout by its path inside it.
    pub fn file(&self, name: &str) -> Option<&[u8]> {
        self.files.get(name).map(Vec::as_slice)
    }

    /// Sets a file (`index.json`).
    pub fn set_file(&mut self, name: &str, bytes: Vec<u8>) {
        self.files.insert(name.to_string(), bytes);
    }

    /// Adds a blob; returns its descriptor.
    pub fn add_blob(&mut self, media_type: &str, bytes: Vec<u8>) -> OciDescriptor {
        let digest = digest_of(&bytes);
        let size = bytes.len() as u64;
        let hex = digest.trim_start_matches("sha256:").to_string();
        self.files.insert(format!("blobs/sha256/{hex}"), bytes);
        OciDescriptor {
            media_type: media_type.to_string(),
            digest,
            size,
            artifact_type: None,
            annotations: BTreeMap::new(),
            data: None,
        }
    }

    /// The blob `descriptor` names, checked: a `sha256` digest, present,
    /// of the size and digest the descriptor says. `what` names the blob
    /// in errors.
    pub fn blob(
        &self,
        package: &str,
        descriptor: &OciDescriptor,
        what: &str,
    ) -> Result<&[u8], PluginError> {
        let fail = |problem: String| PluginError::Blob {
            package: package.to_string(),
            digest: descriptor.digest.clone(),
            what: format!("{what}, {}", descriptor.media_type),
            problem,
        };
        let hex = sha256_hex(&descriptor.digest).ok_or_else(|| {
            fail("is not addressed by sha256 (expected sha256:<64 hex digits>)".into())
        })?;
        let bytes = self
            .file(&format!("blobs/sha256/{hex}"))
            .ok_or_else(|| fail(format!("is missing: there is no blobs/sha256/{hex}")))?;
        if bytes.len() as u64 != descriptor.size {
            return Err(fail(format!(
                "has {} bytes where its descriptor says {}: the package was changed after it was packed",
                bytes.len(),
                descriptor.size
            )));
        }
        let actual = digest_of(bytes);
        if actual != descriptor.digest {
            return Err(fail(format!(
                "does not match its digest (its content hashes to {actual}): \
                 the package was changed after it was packed"
            )));
        }
        Ok(bytes)
    }

    /// Checks every file under `blobs/`: each must be `blobs/sha256/<hex>`
    /// and hash to its name.
    pub fn check_all_blobs(&self, package: &str) -> Result<(), PluginError> {
        for (name, bytes) in &self.files {
            let Some(rest) = name.strip_prefix("blobs/") else {
                continue;
            };
            let digest = rest.replacen('/', ":", 1);
            if sha256_hex(&digest).is_none() {
                return Err(PluginError::Package {
                    package: package.to_string(),
                    message: format!("{name} is not a blob addressed by sha256"),
                });
            }
            let actual = digest_of(bytes);
            if actual != digest {
                return Err(PluginError::Blob {
                    package: package.to_string(),
                    digest,
                    what: format!("stored as {name}"),
                    problem: format!(
                        "does not match its digest (its content hashes to {actual}): \
                         the package was changed after it was packed"
                    ),
                });
            }
        }
        Ok(())
    }

    /// The parsed `index.json`, after checking `oci-layout`.
    pub fn index(&self, package: &str) -> Result<ImageIndex, PluginError> {
        let fail = |message: String| PluginError::Package {
            package: package.to_string(),
            message,
        };
        let layout = self.file(LAYOUT_FILE).ok_or_else(|| {
            fail("is not an OCI image layout: it has no `oci-layout` file".into())
        })?;
        let layout: serde_json::Value = serde_json::from_slice(layout)
            .map_err(|e| fail(format!("`oci-layout` is not JSON: {e}")))?;
        if layout["imageLayoutVersion"] != LAYOUT_VERSION {
            return Err(fail(format!(
                "`oci-layout` says imageLayoutVersion {}, expected \"{LAYOUT_VERSION}\"",
                layout["imageLayoutVersion"]
            )));
        }
        let index = self
            .file(INDEX_FILE)
            .ok_or_else(|| fail("has no `index.json`".into()))?;
        let index: ImageIndex = serde_json::from_slice(index)
            .map_err(|e| fail(format!("`index.json` is not an image index: {e}")))?;
        if index.schema_version != 2 {
            return Err(fail(format!(
                "`index.json` has schemaVersion {}, expected 2",
                index.schema_version
            )));
        }
        Ok(index)
    }

    /// Replaces `index.json`.
    pub fn set_index(&mut self, index: &ImageIndex) {
        self.set_file(INDEX_FILE, to_json(index));
    }
}

/// Pretty JSON bytes (what every JSON blob and file of a package is).
pub fn to_json<T: Serialize>(value: &T) -> Vec<u8> {
    let mut bytes = serde_json::to_vec_pretty(value).unwrap_or_default();
    bytes.push(b'\n');
    bytes
}
