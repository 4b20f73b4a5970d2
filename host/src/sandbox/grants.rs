//! What a job is granted beyond its artifacts, as the sandbox enforces it.
//! Deny by default: a job with `Grants::default()` may run no program,
//! reach no URL and read no secret.

pub use sluice_isolate_protocol::ProgramLimits;
use std::path::PathBuf;
use std::time::Duration;

/// The capabilities granted to one job.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Grants {
    /// Programs it may run.
    pub process: Option<ProcessGrant>,
    /// URLs it may reach over HTTP.
    pub http: Option<HttpGrant>,
    /// Secrets it may read, with their values.
    pub secrets: Vec<Secret>,
}

/// A `process` grant.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ProcessGrant {
    /// Program names it may run (`sh`, `make`), or absolute paths.
    pub programs: Vec<String>,
    /// The environment every program gets (nothing else from the host).
    pub env: Vec<(String, String)>,
    /// Longest a single program may run.
    pub timeout: Option<Duration>,
    /// Resource limits on each program and what it starts.
    pub limits: ProgramLimits,
}

/// An `http` grant: requests go only to URLs matching one of these.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HttpGrant {
    /// The allowed URL prefixes.
    pub allow: Vec<UrlRule>,
}

/// One allowed URL prefix: scheme, host and port must match exactly, the
/// path must start with the prefix (at a `/` boundary).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UrlRule {
    /// `http` or `https`.
    pub scheme: String,
    /// Host name, lower case.
    pub host: String,
    /// Port (the scheme's default when the rule names none).
    pub port: u16,
    /// Path prefix, starting with `/`.
    pub path: String,
}

impl UrlRule {
    /// Parses `https://host[:port][/path]`.
    pub fn parse(text: &str) -> Result<UrlRule, String> {
        let (scheme, host, port, path) = split(text)?;
        Ok(UrlRule {
            scheme,
            host,
            port,
            path,
        })
    }

    /// Whether a request to `url` is allowed by this rule.
    pub fn allows(&self, url: &str) -> bool {
        let Ok((scheme, host, port, path)) = split(url) else {
            return false;
        };
        let path = path.split(['?', '#']).next().unwrap_or("/");
        scheme == self.scheme
            && host == self.host
            && port == self.port
            && (path == self.path
                || self.path.ends_with('/') && path.starts_with(&self.path)
                || path.starts_with(&format!("{}/", self.path)))
    }
}

impl std::fmt::Display for UrlRule {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{}://{}:{}{}",
            self.scheme, self.host, self.port, self.path
        )
    }
}

fn split(text: &str) -> Result<(String, String, u16, String), String> {
    let (scheme, rest) = text
        .split_once("://")
        .ok_or_else(|| format!("`{text}` is not a URL (write `https://host/path`)"))?;
    let scheme = scheme.to_ascii_lowercase();
    let default_port = match scheme.as_str() {
        "http" => 80,
        "https" => 443,
        _ => return Err(format!("`{text}`: only http and https URLs can be allowed")),
    };
    let (authority, path) = match rest.find(['/', '?', '#']) {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, "/"),
    };
    if authority.contains('@') {
        return Err(format!("`{text}`: user names in URLs are not allowed"));
    }
    let (host, port) = match authority.rsplit_once(':') {
        Some((h, p)) if !h.ends_with(']') || authority.starts_with('[') => {
            let port: u16 = p
                .parse()
                .map_err(|_| format!("`{text}`: `{p}` is not a port"))?;
            (h, port)
        }
        _ => (authority, default_port),
    };
    if host.is_empty() {
        return Err(format!("`{text}` has no host"));
    }
    let path = if path.starts_with('/') {
        path.to_string()
    } else {
        format!("/{path}")
    };
    Ok((scheme, host.to_ascii_lowercase(), port, path))
}

/// A secret and its value.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret {
    /// Its name.
    pub name: String,
    /// Its value.
    pub value: String,
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Secret({}: ****)", self.name)
    }
}

/// Host-wide settings for running programs.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ProcessSettings {
    /// Folders searched for granted programs named without a path (the
    /// host's `PATH`).
    pub search_path: Vec<PathBuf>,
    /// How programs are isolated (by default in namespaces; unsandboxed
    /// only when the host says so).
    pub isolation: super::isolation::Isolation,
}

impl ProcessSettings {
    /// Settings from a `PATH`-style list, programs isolated.
    pub fn from_path_list(path: &str) -> Self {
        ProcessSettings {
            search_path: std::env::split_paths(path).collect(),
            isolation: super::isolation::Isolation::Namespaces,
        }
    }

    /// The absolute path of a granted program, if installed.
    pub fn find(&self, program: &str) -> Option<PathBuf> {
        if program.contains('/') {
            let path = PathBuf::from(program);
            return path.is_file().then_some(path);
        }
        self.search_path
            .iter()
            .map(|d| d.join(program))
            .find(|p| p.is_file())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn url_rules_match_scheme_host_port_and_path_prefix() {
        let rule = UrlRule::parse("https://api.example.com/v1/").unwrap();
        assert!(rule.allows("https://api.example.com/v1/deploy?x=1"));
        assert!(rule.allows("https://API.example.com:443/v1/x"));
        assert!(!rule.allows("http://api.example.com/v1/x"));
        assert!(!rule.allows("https://api.example.com/v2/x"));
        assert!(!rule.allows("https://api.example.com.evil.net/v1/x"));
        assert!(!rule.allows("https://api.example.com:8443/v1/x"));
        let exact = UrlRule::parse("http://127.0.0.1:8080/hooks").unwrap();
        assert!(exact.allows("http://127.0.0.1:8080/hooks"));
        assert!(exact.allows("http://127.0.0.1:8080/hooks/a"));
        assert!(!exact.allows("http://127.0.0.1:8080/hooksmith"));
        assert!(UrlRule::parse("ftp://x").is_err());
        assert!(UrlRule::parse("https://user@x/").is_err());
    }
}
