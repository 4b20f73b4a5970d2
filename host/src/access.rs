//! Who may do what on a shared server: named tokens, each with a role.
//!
//! - `read`: every read (pipelines, state, executions, logs, events).
//! - `operate`: that, plus what runs pipelines: start, stop, retry,
//!   approve or reject, transitions, source hooks.
//! - `admin`: everything: applying and deleting pipelines (and so their
//!   grants: programs, folders, secrets), tokens, the audit log.
//!
//! A token is 32 random bytes, shown once when made; the store keeps only
//! its sha256. The state directory's `api-token` (made at the first start)
//! is the bootstrap token, named `admin`, with the admin role.

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// What a token may do; each role may do what the ones before it may.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    Serialize,
    Deserialize,
    schemars::JsonSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Reads only.
    Read,
    /// Runs pipelines: start, stop, retry, approve, transitions.
    Operate,
    /// Everything: pipelines, grants, tokens, the audit log.
    Admin,
}

impl Role {
    /// Its name, as written.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Read => "read",
            Role::Operate => "operate",
            Role::Admin => "admin",
        }
    }

    /// A role by name.
    pub fn parse(text: &str) -> Option<Role> {
        match text {
            "read" => Some(Role::Read),
            "operate" => Some(Role::Operate),
            "admin" => Some(Role::Admin),
            _ => None,
        }
    }
}

impl std::fmt::Display for Role {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for Role {
    type Err = String;

    fn from_str(text: &str) -> Result<Role, String> {
        Role::parse(text).ok_or_else(|| format!("`{text}` is not a role: read, operate or admin"))
    }
}

/// Who a request acts as.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    /// The token's name: recorded as who approved, started or changed
    /// something.
    pub name: String,
    /// What it may do.
    pub role: Role,
}

/// The name of the bootstrap token (the state directory's `api-token`).
pub const BOOTSTRAP: &str = "admin";

/// A new token: 32 random bytes, hex.
pub fn new_token() -> Result<String, String> {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).map_err(|e| format!("cannot make a token: {e}"))?;
    Ok(hex::encode(bytes))
}

/// A new AWS access key pair: an id of 20 upper-case letters and digits
/// starting `AKIA` (as AWS's look), and a secret of 40 base64 characters.
pub fn new_aws_key() -> Result<(String, String), String> {
    const ID: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
    const SECRET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut bytes = [0u8; 56];
    getrandom::fill(&mut bytes).map_err(|e| format!("cannot make a key: {e}"))?;
    let id: String = std::iter::once("AKIA".to_string())
        .chain(
            bytes[..16]
                .iter()
                .map(|b| (ID[(*b as usize) % 32] as char).to_string()),
        )
        .collect();
    let secret: String = bytes[16..]
        .iter()
        .map(|b| SECRET[(*b as usize) % 64] as char)
        .collect();
    Ok((id, secret))
}

/// What the store keeps of a token: its sha256, hex.
pub fn token_hash(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

/// Whether `name` may name a token: 1 to 64 letters, digits, `.`, `_`,
/// `-` or `@`.
pub fn is_token_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 64
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-' | '@'))
}

/// Compares two byte strings in time that does not depend on where they
/// differ.
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Whether a request's `Host` header names this server: one of `allowed`
/// (host names or addresses, without the port), with the server's port.
/// A request naming another host is refused: a web page on another name
/// that resolves to this address (DNS rebinding) cannot reach the API.
pub fn host_allowed(host: Option<&str>, allowed: &[String], port: u16) -> bool {
    let Some(host) = host.map(str::trim).filter(|h| !h.is_empty()) else {
        return false;
    };
    let (name, given_port) = match host.rsplit_once(':') {
        // An IPv6 literal in brackets, with or without a port.
        _ if host.starts_with('[') => match host.rsplit_once("]:") {
            Some((name, port)) => (format!("{name}]"), Some(port)),
            None => (host.to_string(), None),
        },
        Some((name, port)) if port.chars().all(|c| c.is_ascii_digit()) => {
            (name.to_string(), Some(port))
        }
        _ => (host.to_string(), None),
    };
    let port_ok = match given_port {
        Some(p) => p.parse::<u16>().ok() == Some(port),
        None => port == 80,
    };
    port_ok && allowed.iter().any(|a| a.eq_ignore_ascii_case(&name))
}

/// The host names a server listening on `address` answers to, besides
/// those the host adds (`--allow-host`): its own address, and for
/// loopback `localhost`.
pub fn own_names(address: std::net::SocketAddr, extra: &[String]) -> Vec<String> {
    let mut names: Vec<String> = extra.to_vec();
    match address.ip() {
        std::net::IpAddr::V4(ip) => names.push(ip.to_string()),
        std::net::IpAddr::V6(ip) => names.push(format!("[{ip}]")),
    }
    if address.ip().is_loopback() {
        names.extend(["localhost", "127.0.0.1", "[::1]"].map(String::from));
    }
    names
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roles_are_ordered_and_parsed() {
        assert!(Role::Read < Role::Operate && Role::Operate < Role::Admin);
        assert_eq!("operate".parse::<Role>(), Ok(Role::Operate));
        assert!("root".parse::<Role>().is_err());
    }

    #[test]
    fn only_this_servers_names_are_allowed_as_host() {
        let names = own_names("127.0.0.1:7878".parse().unwrap(), &[]);
        assert!(host_allowed(Some("127.0.0.1:7878"), &names, 7878));
        assert!(host_allowed(Some("localhost:7878"), &names, 7878));
        assert!(host_allowed(Some("[::1]:7878"), &names, 7878));
        assert!(!host_allowed(Some("evil.example:7878"), &names, 7878));
        assert!(!host_allowed(Some("localhost:9999"), &names, 7878));
        assert!(!host_allowed(None, &names, 7878));
        let public = own_names(
            "0.0.0.0:443".parse().unwrap(),
            &["ci.example.com".to_string()],
        );
        assert!(host_allowed(Some("ci.example.com:443"), &public, 443));
        assert!(!host_allowed(Some("other.example.com:443"), &public, 443));
    }
}
