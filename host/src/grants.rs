//! The grants policy: from what an action is granted as written (a
//! pipeline definition's `grants`, or `sluice action run`'s `--grant-*`
//! flags, which build the same [`model::Grants`]) to what the sandbox
//! enforces ([`sandbox::Grants`] and [`HostMount`]s). Both paths go
//! through these functions, so a rule about grants lives here once.

use crate::contract::{HostMount, guest_paths, is_artifact_name};
use crate::model::{self, PathAccess};
use crate::sandbox::{self, HttpGrant, ProcessGrant, ProgramLimits, Secret, UrlRule};
use crate::secrets::SecretStore;
use std::path::Path;

/// Why a grant cannot be given. Callers say where it was written (the
/// action, the field, the flag).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GrantError {
    /// A granted folder's name is not a valid name.
    #[error("grant name `{name}` is not valid: use letters, digits, `_` or `-`")]
    BadName {
        /// The name.
        name: String,
    },
    /// A granted folder would expose the state directory.
    #[error("{reason}")]
    HidesState {
        /// Which folder and why.
        reason: String,
    },
    /// An allowed URL is not a valid prefix.
    #[error("allowed URL `{url}`: {reason}")]
    BadUrl {
        /// The URL as written.
        url: String,
        /// What is wrong with it.
        reason: String,
    },
    /// A granted secret is not set on this host.
    #[error(
        "secret `{name}` is not set on this host: set SLUICE_SECRET_{name} or add it to the state directory's `secrets` file"
    )]
    SecretNotSet {
        /// The secret.
        name: String,
    },
    /// A limit as written cannot be read.
    #[error("{field}: {reason}")]
    BadLimit {
        /// The limit.
        field: &'static str,
        /// What is wrong with it.
        reason: String,
    },
}

/// A granted host folder as the sandbox mounts it: `host` (absolute, as
/// the caller resolved it) at `/paths/NAME`, refused when its name is not
/// a name or when it would expose one of the `hidden` folders.
pub fn folder(
    name: &str,
    host: &Path,
    access: PathAccess,
    hidden: &[&Path],
) -> Result<HostMount, GrantError> {
    if !is_artifact_name(name) {
        return Err(GrantError::BadName {
            name: name.to_string(),
        });
    }
    sandbox::grants::hides_nothing(host, hidden)
        .map_err(|reason| GrantError::HidesState { reason })?;
    Ok(HostMount {
        name: name.to_string(),
        host_path: host.to_path_buf(),
        guest_path: format!("{}/{name}", guest_paths::PATHS),
        writable: access == PathAccess::ReadWrite,
    })
}

/// The programs, URLs and secrets of `granted` as the sandbox enforces
/// them, secret values looked up in `secrets`. (Folders are resolved by
/// [`folder`] where their paths are known.)
pub fn enforced(
    granted: &model::Grants,
    secrets: &SecretStore,
) -> Result<sandbox::Grants, GrantError> {
    let mut grants = sandbox::Grants::default();
    if let Some(process) = &granted.process {
        grants.process = Some(ProcessGrant {
            programs: process.programs.clone(),
            env: process
                .env
                .iter()
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
            timeout: process
                .timeout
                .as_deref()
                .map(|t| {
                    crate::units::parse_duration(t).map_err(|reason| GrantError::BadLimit {
                        field: "process.timeout",
                        reason,
                    })
                })
                .transpose()?,
            limits: program_limits(process.limits.as_ref())?,
        });
    }
    if let Some(http) = &granted.http {
        let allow = http
            .allow
            .iter()
            .map(|url| {
                UrlRule::parse(url).map_err(|reason| GrantError::BadUrl {
                    url: url.clone(),
                    reason,
                })
            })
            .collect::<Result<_, _>>()?;
        grants.http = Some(HttpGrant { allow });
    }
    for name in &granted.secrets {
        let value = secrets
            .get(name)
            .ok_or_else(|| GrantError::SecretNotSet { name: name.clone() })?;
        grants.secrets.push(Secret {
            name: name.clone(),
            value: value.to_string(),
        });
    }
    Ok(grants)
}

/// A process grant's limits as the sandbox enforces them: each one that is
/// written, the default for the rest.
pub fn program_limits(
    limits: Option<&model::definition::ProcessLimits>,
) -> Result<ProgramLimits, GrantError> {
    use crate::units::{parse_bytes, parse_duration};
    let mut out = ProgramLimits::default();
    let Some(limits) = limits else {
        return Ok(out);
    };
    let bytes = |field: &'static str, v: &Option<String>| {
        v.as_deref()
            .map(|v| parse_bytes(v).map_err(|reason| GrantError::BadLimit { field, reason }))
            .transpose()
    };
    if let Some(v) = bytes("limits.memory", &limits.memory)? {
        out.memory_bytes = v;
    }
    if let Some(v) = bytes("limits.file-size", &limits.file_size)? {
        out.file_bytes = v;
    }
    if let Some(v) = bytes("limits.tmp-size", &limits.tmp_size)? {
        out.tmp_bytes = v;
    }
    if let Some(v) = limits.cpu_time.as_deref() {
        let v = parse_duration(v).map_err(|reason| GrantError::BadLimit {
            field: "limits.cpu-time",
            reason,
        })?;
        out.cpu_seconds = v.as_secs().max(1);
    }
    if let Some(v) = limits.processes {
        out.processes = v;
    }
    if let Some(v) = limits.open_files {
        out.open_files = v;
    }
    Ok(out)
}

/// `configuration` with each `#{secrets.NAME}` replaced by the value of
/// the granted secret `NAME` (the model refuses references to secrets not
/// granted when the pipeline is applied).
pub fn resolve_secrets(
    configuration: &[(String, String)],
    grants: &sandbox::Grants,
) -> Result<Vec<(String, String)>, String> {
    let mut out = Vec::with_capacity(configuration.len());
    for (key, value) in configuration {
        let resolved = if value.contains("#{secrets.") {
            crate::model::variables::resolve(value, |r| {
                if r.namespace == crate::model::variables::SECRETS {
                    grants
                        .secrets
                        .iter()
                        .find(|s| s.name == r.key)
                        .map(|s| s.value.clone())
                } else {
                    Some(r.to_string())
                }
            })
            .map_err(|e| format!("configuration property `{key}`: {e}"))?
        } else {
            value.clone()
        };
        out.push((key.clone(), resolved));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_as_written_become_enforced_limits_and_bad_ones_are_named() {
        let limits = model::definition::ProcessLimits {
            memory: Some("2GiB".into()),
            cpu_time: Some("90s".into()),
            processes: Some(16),
            ..Default::default()
        };
        let out = program_limits(Some(&limits)).unwrap();
        assert_eq!(out.memory_bytes, 2 << 30);
        assert_eq!(out.cpu_seconds, 90);
        assert_eq!(out.processes, 16);
        assert_eq!(out.open_files, ProgramLimits::default().open_files);
        let bad = model::definition::ProcessLimits {
            tmp_size: Some("lots".into()),
            ..Default::default()
        };
        let error = program_limits(Some(&bad)).unwrap_err();
        assert!(
            error.to_string().starts_with("limits.tmp-size: "),
            "{error}"
        );
    }

    #[test]
    fn a_secret_not_on_this_host_and_a_bad_url_are_refused() {
        let secrets =
            SecretStore::from_env([("SLUICE_SECRET_TOKEN".to_string(), "s3cr3t".to_string())]);
        let mut granted = model::Grants {
            secrets: vec!["TOKEN".into()],
            ..Default::default()
        };
        let grants = enforced(&granted, &secrets).unwrap();
        assert_eq!(grants.secrets[0].value, "s3cr3t");
        let configuration = vec![("auth".to_string(), "Bearer #{secrets.TOKEN}".to_string())];
        assert_eq!(
            resolve_secrets(&configuration, &grants).unwrap()[0].1,
            "Bearer s3cr3t"
        );
        granted.secrets.push("OTHER".into());
        assert_eq!(
            enforced(&granted, &secrets).unwrap_err(),
            GrantError::SecretNotSet {
                name: "OTHER".into()
            }
        );
        let granted = model::Grants {
            http: Some(model::definition::HttpGrant {
                allow: vec!["not a url".into()],
            }),
            ..Default::default()
        };
        assert!(matches!(
            enforced(&granted, &secrets),
            Err(GrantError::BadUrl { .. })
        ));
    }
}
