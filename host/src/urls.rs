//! URLs as the `http` grant compares them: normalised by the WHATWG URL
//! rules (the `url` crate), allow-list rules as prefixes of normalised
//! URLs. Used by pipeline validation and by the sandbox's HTTP hook.

/// One allowed URL prefix: scheme, host and port must match exactly, the
/// path must start with the prefix (at a `/` boundary). Both the rule and
/// every request are compared in their normalised form ([`normalise`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UrlRule {
    /// `http` or `https`.
    pub scheme: String,
    /// Host name, lower case (an IP address in its canonical form).
    pub host: String,
    /// Port (the scheme's default when the rule names none).
    pub port: u16,
    /// Path prefix, starting with `/`.
    pub path: String,
}

/// A URL as a request will be sent, normalised by the WHATWG URL rules
/// (the `url` crate, as browsers do): scheme and host in lower case, IP
/// addresses in canonical form, the default port filled in, `.` and `..`
/// segments resolved (percent-encoded dots included), backslashes read as
/// slashes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NormalUrl {
    /// `http` or `https`.
    pub scheme: String,
    /// The host.
    pub host: String,
    /// The port.
    pub port: u16,
    /// The path, starting with `/`, dot segments resolved.
    pub path: String,
    /// The whole URL, as it is sent.
    pub text: String,
}

/// Normalises `text` ([`NormalUrl`]), or says why a request to it is
/// refused: not http(s), a user name or password in it, a percent-encoded
/// slash or backslash in its path (a server may decode it into a segment
/// boundary the allow-list never saw), no host.
pub fn normalise(text: &str) -> Result<NormalUrl, String> {
    let shown = crate::text::line(text);
    let url = url::Url::parse(text).map_err(|e| format!("`{shown}` is not a URL ({e})"))?;
    let scheme = url.scheme().to_string();
    if scheme != "http" && scheme != "https" {
        return Err(format!(
            "`{shown}`: only http and https URLs can be allowed"
        ));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(format!("`{shown}`: user names in URLs are not allowed"));
    }
    let host = match url.host() {
        Some(url::Host::Domain(d)) => d.to_ascii_lowercase(),
        Some(url::Host::Ipv4(ip)) => ip.to_string(),
        Some(url::Host::Ipv6(ip)) => format!("[{ip}]"),
        None => return Err(format!("`{shown}` has no host")),
    };
    let path = url.path().to_string();
    let lower = path.to_ascii_lowercase();
    if lower.contains("%2f") || lower.contains("%5c") {
        return Err(format!(
            "`{shown}`: a percent-encoded `/` or `\\` in a path is refused"
        ));
    }
    let port = url
        .port_or_known_default()
        .ok_or_else(|| format!("`{shown}` has no port"))?;
    Ok(NormalUrl {
        scheme,
        host,
        port,
        path,
        text: url.to_string(),
    })
}

impl UrlRule {
    /// Parses `https://host[:port][/path]`.
    pub fn parse(text: &str) -> Result<UrlRule, String> {
        if text.contains(['?', '#']) {
            return Err(format!(
                "`{}`: an allowed URL is a prefix, without a query or fragment",
                crate::text::line(text)
            ));
        }
        let normal = normalise(text)?;
        Ok(UrlRule {
            scheme: normal.scheme,
            host: normal.host,
            port: normal.port,
            path: normal.path,
        })
    }

    /// Whether a request to `url` is allowed by this rule (compared in its
    /// normalised form; a URL that cannot be normalised is never allowed).
    pub fn allows(&self, url: &str) -> bool {
        normalise(url).is_ok_and(|n| self.allows_normal(&n))
    }

    /// Whether a request to the normalised `url` is allowed.
    pub fn allows_normal(&self, url: &NormalUrl) -> bool {
        let path = url.path.as_str();
        url.scheme == self.scheme
            && url.host == self.host
            && url.port == self.port
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

    #[test]
    fn requests_are_matched_in_their_normalised_form() {
        let rule = UrlRule::parse("https://api.example.com/v1/").unwrap();
        // Dot segments, plain or percent-encoded, are resolved first.
        assert!(!rule.allows("https://api.example.com/v1/../admin"));
        assert!(!rule.allows("https://api.example.com/v1/%2e%2e/admin"));
        assert!(!rule.allows("https://api.example.com/v1/%2E%2E/%2e%2e/admin"));
        assert!(!rule.allows("https://api.example.com/v1/.%2e/admin"));
        assert!(rule.allows("https://api.example.com/v1/a/../b"));
        assert!(rule.allows("https://api.example.com/v1/./b"));
        // Backslashes are slashes, as servers and browsers read them.
        assert!(!rule.allows("https://api.example.com/v1\\..\\admin"));
        // An encoded slash or backslash could become a boundary later.
        assert!(!rule.allows("https://api.example.com/v1/..%2fadmin"));
        assert!(!rule.allows("https://api.example.com/v1/..%5Cadmin"));
        // User names, other schemes and look-alike hosts never match.
        assert!(!rule.allows("https://evil@api.example.com/v1/x"));
        assert!(!rule.allows("https://api.example.com@evil.net/v1/x"));
        assert!(!rule.allows("https://api.example.com:443@evil.net/v1/x"));
        // IP addresses are compared in their canonical form.
        let local = UrlRule::parse("http://127.0.0.1:8080/hooks").unwrap();
        assert!(local.allows("http://0x7f.0.0.1:8080/hooks/x"));
        assert!(local.allows("http://2130706433:8080/hooks"));
        assert!(!local.allows("http://127.0.0.2:8080/hooks"));
        assert_eq!(
            normalise("HTTP://API.Example.com:80/a/./b/../c?q=1")
                .unwrap()
                .text,
            "http://api.example.com/a/c?q=1"
        );
        assert!(UrlRule::parse("https://x/a?q").is_err());
    }
}
