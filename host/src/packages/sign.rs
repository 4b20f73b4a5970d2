//! Signatures: ed25519 keys, signing a package, verifying its signatures,
//! the trusted keys of a state directory and its trust policy.
//!
//! A signature signs the ASCII bytes of the package's image manifest
//! digest (`sha256:<hex>`); the manifest names every other blob by digest,
//! so the signature covers the component, the config and the Sluice
//! manifest. It is stored in the layout as an OCI referrer: an image
//! manifest with `artifactType` `application/vnd.sluice.signature.v1+json`,
//! the empty config, one layer of that media type (the JSON
//! [`SignatureBlob`]) and `subject` pointing at the signed manifest,
//! listed in `index.json` beside it.
//!
//! Key files are one line of text: `ed25519-private:<hex seed>` (mode
//! 0600) and `ed25519:<hex public key>`. A key's id is the first 16 hex
//! digits of the sha256 of its public key.

use super::PluginError;
use super::oci::{self, ImageManifest, Layout, OciDescriptor};
use super::package::Package;
use ed25519_dalek::{Signer, SigningKey, VerifyingKey};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};

const PRIVATE_PREFIX: &str = "ed25519-private:";
const PUBLIC_PREFIX: &str = "ed25519:";
/// The annotation on a signature naming its key's id.
pub const KEY_ID_ANNOTATION: &str = "dev.sluice.signature.key-id";

/// An ed25519 public key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublicKey(VerifyingKey);

impl PublicKey {
    /// The first 16 hex digits of the sha256 of the key.
    pub fn id(&self) -> String {
        hex::encode(Sha256::digest(self.0.as_bytes()))[..16].to_string()
    }

    /// The key as a key file holds it: `ed25519:<hex>`.
    pub fn to_text(&self) -> String {
        format!("{PUBLIC_PREFIX}{}", hex::encode(self.0.as_bytes()))
    }

    /// Parses `ed25519:<hex>` (a comment may follow after a space).
    pub fn parse(text: &str) -> Result<PublicKey, String> {
        let word = text.split_whitespace().next().unwrap_or("");
        let hex_key = word.strip_prefix(PUBLIC_PREFIX).ok_or_else(|| {
            if word.starts_with(PRIVATE_PREFIX) {
                "this is a private key; give the public key (the .pub file)".to_string()
            } else {
                format!("expected `{PUBLIC_PREFIX}<64 hex digits>`")
            }
        })?;
        let bytes: [u8; 32] = hex::decode(hex_key)
            .ok()
            .and_then(|b| b.try_into().ok())
            .ok_or_else(|| format!("expected `{PUBLIC_PREFIX}<64 hex digits>`"))?;
        VerifyingKey::from_bytes(&bytes)
            .map(PublicKey)
            .map_err(|e| format!("not an ed25519 public key: {e}"))
    }

    /// Reads a public key file.
    pub fn load(path: &Path) -> Result<PublicKey, PluginError> {
        let text = std::fs::read_to_string(path).map_err(PluginError::io("read", path))?;
        PublicKey::parse(&text).map_err(|message| PluginError::Key {
            path: path.to_path_buf(),
            message,
        })
    }
}

/// A private key read from its file.
pub struct PrivateKey(SigningKey);

impl std::fmt::Debug for PrivateKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PrivateKey")
            .field("public", &self.public().id())
            .finish_non_exhaustive()
    }
}

impl PrivateKey {
    /// Its public key.
    pub fn public(&self) -> PublicKey {
        PublicKey(self.0.verifying_key())
    }

    /// Reads a private key file.
    pub fn load(path: &Path) -> Result<PrivateKey, PluginError> {
        let text = std::fs::read_to_string(path).map_err(PluginError::io("read", path))?;
        let fail = |message: &str| PluginError::Key {
            path: path.to_path_buf(),
            message: message.to_string(),
        };
        let word = text.trim();
        let hex_seed = word.strip_prefix(PRIVATE_PREFIX).ok_or_else(|| {
            if word.starts_with(PUBLIC_PREFIX) {
                fail("this is a public key; sign with the private key file")
            } else {
                fail("not a Sluice private key (expected `ed25519-private:<64 hex digits>`)")
            }
        })?;
        let seed: [u8; 32] = hex::decode(hex_seed)
            .ok()
            .and_then(|b| b.try_into().ok())
            .ok_or_else(|| fail("expected `ed25519-private:<64 hex digits>`"))?;
        Ok(PrivateKey(SigningKey::from_bytes(&seed)))
    }
}

/// Makes a key pair: the private key at `out` (mode 0600, never
/// overwritten), the public key at `out.pub`. Returns the public key and
/// its file.
pub fn keygen(out: &Path) -> Result<(PublicKey, PathBuf), PluginError> {
    let mut seed = [0u8; 32];
    getrandom::fill(&mut seed).map_err(|e| PluginError::Key {
        path: out.to_path_buf(),
        message: format!("no randomness from the system: {e}"),
    })?;
    let key = SigningKey::from_bytes(&seed);
    seed.fill(0);
    let public = PublicKey(key.verifying_key());
    let public_path = PathBuf::from(format!("{}.pub", out.display()));
    if out.symlink_metadata().is_ok() {
        return Err(PluginError::Key {
            path: out.to_path_buf(),
            message: "already exists; a key file is never overwritten".into(),
        });
    }
    if public_path.exists() {
        return Err(PluginError::Key {
            path: public_path,
            message: "already exists; choose another --out".into(),
        });
    }
    let mut file = {
        use std::os::unix::fs::OpenOptionsExt;
        std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(out)
            .map_err(|e| PluginError::Key {
                path: out.to_path_buf(),
                message: if e.kind() == std::io::ErrorKind::AlreadyExists {
                    "already exists; a key file is never overwritten".into()
                } else {
                    format!("cannot create it: {e}")
                },
            })?
    };
    let text = format!("{PRIVATE_PREFIX}{}\n", hex::encode(key.to_bytes()));
    file.write_all(text.as_bytes())
        .and_then(|_| file.sync_all())
        .map_err(PluginError::io("write", out))?;
    std::fs::write(&public_path, format!("{}\n", public.to_text()))
        .map_err(PluginError::io("write", &public_path))?;
    Ok((public, public_path))
}

/// The signature layer's content.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SignatureBlob {
    /// Always `ed25519`.
    pub algorithm: String,
    /// The signing key's id.
    pub key_id: String,
    /// The public key, `ed25519:<hex>`.
    pub public_key: String,
    /// What was signed: the image manifest's digest.
    pub signed: String,
    /// The signature, hex.
    pub signature: String,
}

/// Signs a package: returns its layout with the signature added (one
/// signature per key: signing again with the same key replaces it).
pub fn sign(package: &Package, key: &PrivateKey, created: &str) -> Layout {
    let public = key.public();
    let signature = key.0.sign(package.digest().as_bytes());
    let blob = SignatureBlob {
        algorithm: "ed25519".into(),
        key_id: public.id(),
        public_key: public.to_text(),
        signed: package.digest().to_string(),
        signature: hex::encode(signature.to_bytes()),
    };
    let mut layout = package.layout.clone();
    let layer = layout.add_blob(oci::MEDIA_SIGNATURE, oci::to_json(&blob));
    let mut config = layout.add_blob(oci::MEDIA_EMPTY, b"{}".to_vec());
    config.data = Some("e30=".into());
    let subject = OciDescriptor {
        media_type: oci::MEDIA_MANIFEST.into(),
        digest: package.manifest_descriptor.digest.clone(),
        size: package.manifest_descriptor.size,
        artifact_type: None,
        annotations: BTreeMap::new(),
        data: None,
    };
    let annotations = BTreeMap::from([
        (KEY_ID_ANNOTATION.to_string(), public.id()),
        (oci::CREATED.to_string(), created.to_string()),
    ]);
    let manifest = ImageManifest {
        schema_version: 2,
        media_type: Some(oci::MEDIA_MANIFEST.into()),
        artifact_type: Some(oci::MEDIA_SIGNATURE.into()),
        config,
        layers: vec![layer],
        subject: Some(subject),
        annotations: annotations.clone(),
    };
    let mut entry = layout.add_blob(oci::MEDIA_MANIFEST, oci::to_json(&manifest));
    entry.artifact_type = Some(oci::MEDIA_SIGNATURE.into());
    entry.annotations = annotations;
    let mut index = package.index.clone();
    index.manifests.retain(|m| {
        m.artifact_type.as_deref() != Some(oci::MEDIA_SIGNATURE)
            || m.annotations.get(KEY_ID_ANNOTATION) != Some(&public.id())
    });
    index.manifests.push(entry);
    layout.set_index(&index);
    layout
}

/// One signature found in a package, verified or not.
#[derive(Debug, Clone)]
pub struct SignatureCheck {
    /// The key's id as the signature gives it.
    pub key_id: String,
    /// The key, when it could be read.
    pub key: Option<PublicKey>,
    /// `Err` says why it does not verify.
    pub verified: Result<(), String>,
}

/// Every signature of a package, each verified against the package's
/// manifest digest.
pub fn signatures(package: &Package) -> Result<Vec<SignatureCheck>, PluginError> {
    let name = package.name();
    let mut checks = Vec::new();
    for entry in &package.index.manifests {
        if entry.digest == package.manifest_descriptor.digest {
            continue;
        }
        let bytes = package.layout.blob(&name, entry, "a signature manifest")?;
        let Ok(manifest) = serde_json::from_slice::<ImageManifest>(bytes) else {
            continue;
        };
        if manifest.artifact_type.as_deref() != Some(oci::MEDIA_SIGNATURE) {
            continue; // another kind of referrer: not ours to judge
        }
        let key_id = manifest
            .annotations
            .get(KEY_ID_ANNOTATION)
            .cloned()
            .unwrap_or_else(|| "(unnamed)".into());
        let verified = verify_one(package, &manifest);
        let key = verified.as_ref().ok().cloned();
        checks.push(SignatureCheck {
            key_id: key.as_ref().map(PublicKey::id).unwrap_or(key_id),
            key,
            verified: verified.map(|_| ()),
        });
    }
    Ok(checks)
}

fn verify_one(package: &Package, manifest: &ImageManifest) -> Result<PublicKey, String> {
    let subject = manifest
        .subject
        .as_ref()
        .ok_or("the signature manifest has no subject")?;
    if subject.digest != package.digest() {
        return Err(format!(
            "it signs {}, not this package's manifest {}",
            subject.digest,
            package.digest()
        ));
    }
    let [layer] = manifest.layers.as_slice() else {
        return Err("a signature manifest holds exactly one layer".into());
    };
    if layer.media_type != oci::MEDIA_SIGNATURE {
        return Err(format!(
            "its layer is {}, not {}",
            layer.media_type,
            oci::MEDIA_SIGNATURE
        ));
    }
    let bytes = package
        .layout
        .blob(&package.name(), layer, "a signature")
        .map_err(|e| e.to_string())?;
    let blob: SignatureBlob =
        serde_json::from_slice(bytes).map_err(|e| format!("the signature is not valid: {e}"))?;
    if blob.algorithm != "ed25519" {
        return Err(format!("unknown signature algorithm `{}`", blob.algorithm));
    }
    let key = PublicKey::parse(&blob.public_key)?;
    if blob.signed != package.digest() {
        return Err(format!(
            "it signs {}, not this package's manifest {}",
            blob.signed,
            package.digest()
        ));
    }
    let signature: [u8; 64] = hex::decode(&blob.signature)
        .ok()
        .and_then(|b| b.try_into().ok())
        .ok_or("the signature is not 64 bytes of hex")?;
    key.0
        .verify_strict(
            package.digest().as_bytes(),
            &ed25519_dalek::Signature::from_bytes(&signature),
        )
        .map_err(|_| {
            "the signature does not verify: the package or the signature was changed after signing"
                .to_string()
        })?;
    Ok(key)
}

/// The trusted keys of a state directory: `<state>/trusted-keys/<id>.pub`.
#[derive(Debug, Clone)]
pub struct TrustStore {
    dir: PathBuf,
}

impl TrustStore {
    /// The trusted keys of `state_dir`.
    pub fn new(state_dir: &Path) -> Self {
        TrustStore {
            dir: crate::state_dir::StateDir::at(state_dir).trusted_keys(),
        }
    }

    /// Trusts the public key in `path`.
    pub fn add(&self, path: &Path) -> Result<PublicKey, PluginError> {
        let key = PublicKey::load(path)?;
        std::fs::create_dir_all(&self.dir).map_err(PluginError::io("create", &self.dir))?;
        let file = self.dir.join(format!("{}.pub", key.id()));
        std::fs::write(&file, format!("{}\n", key.to_text()))
            .map_err(PluginError::io("write", &file))?;
        Ok(key)
    }

    /// Stops trusting the key with this id.
    pub fn remove(&self, id: &str) -> Result<(), PluginError> {
        let file = self.dir.join(format!("{id}.pub"));
        if id.contains('/') || !file.is_file() {
            return Err(PluginError::Registry(format!(
                "no trusted key `{id}` (see `sluice plugin trust list`)"
            )));
        }
        std::fs::remove_file(&file).map_err(PluginError::io("remove", &file))
    }

    /// Every trusted key, by id.
    pub fn list(&self) -> Result<Vec<PublicKey>, PluginError> {
        let mut keys = Vec::new();
        let entries = match std::fs::read_dir(&self.dir) {
            Ok(entries) => entries,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(keys),
            Err(e) => return Err(PluginError::io("read", &self.dir)(e)),
        };
        for entry in entries {
            let path = entry.map_err(PluginError::io("read", &self.dir))?.path();
            if path.extension().is_some_and(|e| e == "pub") {
                keys.push(PublicKey::load(&path)?);
            }
        }
        keys.sort_by_key(PublicKey::id);
        Ok(keys)
    }

    /// Whether `key` is trusted (the same key, not only the same id).
    pub fn trusts(&self, key: &PublicKey) -> bool {
        let file = self.dir.join(format!("{}.pub", key.id()));
        std::fs::read_to_string(file)
            .ok()
            .and_then(|text| PublicKey::parse(&text).ok())
            .is_some_and(|trusted| trusted == *key)
    }
}

/// The trust policy of a state directory (`<state>/plugin-policy.json`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrustPolicy {
    /// Refuse packages without a valid signature by a trusted key.
    #[serde(default)]
    pub require_signed: bool,
}

impl TrustPolicy {
    /// Reads the policy file; none means the default (signatures checked
    /// when present, not required).
    pub fn load(state_dir: &Path) -> Result<TrustPolicy, PluginError> {
        let path = crate::state_dir::StateDir::at(state_dir).plugin_policy();
        match std::fs::read(&path) {
            Ok(bytes) => serde_json::from_slice(&bytes).map_err(|e| PluginError::Package {
                package: path.display().to_string(),
                message: format!("is not a trust policy ({{\"require_signed\": true}}): {e}"),
            }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(TrustPolicy::default()),
            Err(e) => Err(PluginError::io("read", &path)(e)),
        }
    }
}

/// Judges a package's signatures: any that does not verify refuses the
/// package; under `require_signed` so does a package with no valid
/// signature by a trusted key. Returns the ids of the trusted keys that
/// signed it and warnings to show.
pub fn judge(
    package: &Package,
    checks: &[SignatureCheck],
    trust: &TrustStore,
    require_signed: bool,
) -> Result<(Vec<String>, Vec<String>), PluginError> {
    let refuse = |message: String| PluginError::Trust {
        package: package.name(),
        message,
    };
    if let Some(bad) = checks.iter().find(|c| c.verified.is_err()) {
        let why = bad.verified.as_ref().err().cloned().unwrap_or_default();
        return Err(refuse(format!(
            "its signature by key {} is bad: {why}",
            bad.key_id
        )));
    }
    let mut trusted = Vec::new();
    let mut untrusted = Vec::new();
    for check in checks {
        match &check.key {
            Some(key) if trust.trusts(key) => trusted.push(key.id()),
            _ => untrusted.push(check.key_id.clone()),
        }
    }
    let mut warnings = Vec::new();
    if trusted.is_empty() {
        let message = if checks.is_empty() {
            "it is not signed".to_string()
        } else {
            format!(
                "it is signed by key {}, which is not trusted (trust a key with \
                 `sluice plugin trust add KEY.pub`)",
                untrusted.join(", key ")
            )
        };
        if require_signed {
            return Err(refuse(format!(
                "{message}, and the trust policy requires a valid signature by a trusted key \
                 (--require-signed or plugin-policy.json)"
            )));
        }
        warnings.push(message);
    }
    Ok((trusted, warnings))
}
