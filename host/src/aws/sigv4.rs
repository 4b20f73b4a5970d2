//! AWS Signature Version 4, verified: the canonical request is rebuilt
//! from the request as it came (the client's own list of signed headers,
//! its path and query as sent), signed with the secret of the access key
//! it names, and compared with its signature in constant time. HMAC and
//! SHA-256 are RustCrypto's (`hmac`, `sha2`); AWS's own `aws-sigv4` crate
//! signs requests but keeps the canonical request it builds to itself.

use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// How far a request's time may be from the server's.
pub const SKEW: Duration = Duration::from_secs(5 * 60);

/// Why a request is not authenticated, as AWS names it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuthError {
    /// No `Authorization: AWS4-HMAC-SHA256 ...` at all.
    Missing,
    /// A part of the signature is missing or malformed.
    Incomplete(String),
    /// The access key is not one of this server's.
    UnknownKey,
    /// The signature does not match, or its scope is not this service's.
    Invalid(String),
}

impl AuthError {
    /// The error's AWS name.
    pub fn code(&self) -> &'static str {
        match self {
            AuthError::Missing => "MissingAuthenticationTokenException",
            AuthError::Incomplete(_) => "IncompleteSignatureException",
            AuthError::UnknownKey => "UnrecognizedClientException",
            AuthError::Invalid(_) => "InvalidSignatureException",
        }
    }

    /// The message AWS gives.
    pub fn message(&self) -> String {
        match self {
            AuthError::Missing => "Request is missing Authentication Token".into(),
            AuthError::Incomplete(m) | AuthError::Invalid(m) => m.clone(),
            AuthError::UnknownKey => {
                "The security token included in the request is invalid.".into()
            }
        }
    }
}

const MISMATCH: &str = "The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method. Consult the service documentation for details.";

/// A request as it came over the wire.
pub struct Request<'a> {
    /// `GET`, `POST`, ...
    pub method: &'a str,
    /// The path as sent (still percent-encoded).
    pub path: &'a str,
    /// The query as sent, without `?`.
    pub query: &'a str,
    /// Headers (any case), values as sent; repeated names repeated.
    pub headers: Vec<(&'a str, &'a str)>,
    /// The body.
    pub body: &'a [u8],
}

impl<'a> Request<'a> {
    /// The request `parts` and `body` make (headers whose values are not
    /// text are left out: a signature cannot cover them).
    pub fn of(parts: &'a axum::http::request::Parts, body: &'a [u8]) -> Request<'a> {
        Request {
            method: parts.method.as_str(),
            path: parts.uri.path(),
            query: parts.uri.query().unwrap_or(""),
            headers: parts
                .headers
                .iter()
                .filter_map(|(n, v)| v.to_str().ok().map(|v| (n.as_str(), v)))
                .collect(),
            body,
        }
    }

    /// The access key id the `Authorization` header names ("" when it
    /// names none), to look its secret up before [`verify`] checks it.
    pub fn access_key_id(&self) -> &str {
        self.header_values("authorization")
            .first()
            .and_then(|v| v.split("Credential=").nth(1))
            .and_then(|c| c.split('/').next())
            .unwrap_or("")
    }

    fn header_values(&self, name: &str) -> Vec<&str> {
        self.headers
            .iter()
            .filter(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| *v)
            .collect()
    }
}

/// The scope a signature was made for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Signed {
    /// The access key id.
    pub access_key_id: String,
    /// The region the client signed for.
    pub region: String,
}

/// Verifies `request`'s signature for `service` at `now`, with the secret
/// `secret_of` gives for its access key; the key and region when it holds.
pub fn verify(
    request: &Request<'_>,
    service: &str,
    now: SystemTime,
    secret_of: impl FnOnce(&str) -> Option<String>,
) -> Result<Signed, AuthError> {
    let authorization = request.header_values("authorization");
    let Some(authorization) = authorization.first().map(|v| v.trim()) else {
        return Err(AuthError::Missing);
    };
    let Some(rest) = authorization.strip_prefix("AWS4-HMAC-SHA256") else {
        return Err(AuthError::Missing);
    };
    let incomplete = |what: &str| {
        AuthError::Incomplete(format!(
            "Authorization header requires '{what}' parameter. Authorization={authorization}"
        ))
    };
    let mut credential = None;
    let mut signed_headers = None;
    let mut signature = None;
    for part in rest.split(',') {
        let part = part.trim();
        if let Some(v) = part.strip_prefix("Credential=") {
            credential = Some(v);
        } else if let Some(v) = part.strip_prefix("SignedHeaders=") {
            signed_headers = Some(v);
        } else if let Some(v) = part.strip_prefix("Signature=") {
            signature = Some(v);
        }
    }
    let credential = credential.ok_or_else(|| incomplete("Credential"))?;
    let signed_headers = signed_headers.ok_or_else(|| incomplete("SignedHeaders"))?;
    let signature = signature.ok_or_else(|| incomplete("Signature"))?;
    let scope: Vec<&str> = credential.split('/').collect();
    if scope.len() != 5 || scope.iter().any(|s| s.is_empty()) {
        return Err(AuthError::Incomplete(format!(
            "Credential should be scoped to a valid region, not '{}'. ",
            scope.get(2).unwrap_or(&"")
        )));
    }
    let (key, day, region, scoped_service, terminator) =
        (scope[0], scope[1], scope[2], scope[3], scope[4]);
    if terminator != "aws4_request" {
        return Err(AuthError::Invalid(format!(
            "Credential should be scoped with a valid terminator: 'aws4_request', not '{terminator}'."
        )));
    }
    if scoped_service != service {
        return Err(AuthError::Invalid(format!(
            "Credential should be scoped to correct service: '{service}'. "
        )));
    }
    let stamp = request
        .header_values("x-amz-date")
        .first()
        .map(|v| v.trim().to_string())
        .ok_or_else(|| {
            AuthError::Incomplete(
                "Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header."
                    .into(),
            )
        })?;
    let at = parse_amz_date(&stamp).ok_or_else(|| {
        AuthError::Incomplete(format!(
            "Date must be in ISO-8601 'basic format'. Got '{stamp}'."
        ))
    })?;
    if !stamp.starts_with(day) || day.len() != 8 {
        return Err(AuthError::Invalid(format!(
            "Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from HTTP: '{day}' != '{}', from '{stamp}'.",
            &stamp[..8.min(stamp.len())]
        )));
    }
    if at + SKEW < now {
        return Err(AuthError::Invalid(format!(
            "Signature expired: {stamp} is now earlier than {} ({} - 5 min.)",
            amz_date(now - SKEW),
            amz_date(now)
        )));
    }
    if at > now + SKEW {
        return Err(AuthError::Invalid(format!(
            "Signature not yet current: {stamp} is still later than {} ({} + 5 min.)",
            amz_date(now + SKEW),
            amz_date(now)
        )));
    }
    let names: Vec<&str> = signed_headers.split(';').collect();
    if !names.contains(&"host") {
        return Err(AuthError::Invalid(
            "'Host' or ':authority' must be a 'SignedHeader' in the AWS Authorization.".into(),
        ));
    }
    // A signed payload hash must be the body's (S3 streams bodies: its
    // endpoint checks the hash once the body is in).
    if service != "s3"
        && let Some(claimed) = request.header_values("x-amz-content-sha256").first()
        && !claimed
            .trim()
            .eq_ignore_ascii_case(&hex::encode(Sha256::digest(request.body)))
    {
        return Err(AuthError::Invalid(
            "The provided 'x-amz-content-sha256' header does not match what was computed.".into(),
        ));
    }
    let secret = secret_of(key).ok_or(AuthError::UnknownKey)?;
    let canonical = canonical_request(request, signed_headers, &names);
    let scope = format!("{day}/{region}/{service}/aws4_request");
    let to_sign = format!(
        "AWS4-HMAC-SHA256\n{stamp}\n{scope}\n{}",
        hex::encode(Sha256::digest(canonical.as_bytes()))
    );
    let expected = signature_of(&secret, day, region, service, &to_sign);
    let given = signature.trim().to_ascii_lowercase();
    if !constant_time_eq(expected.as_bytes(), given.as_bytes()) {
        return Err(AuthError::Invalid(MISMATCH.into()));
    }
    Ok(Signed {
        access_key_id: key.to_string(),
        region: region.to_string(),
    })
}

/// The canonical request of SigV4 for a service other than S3.
fn canonical_request(request: &Request<'_>, signed_headers: &str, names: &[&str]) -> String {
    let mut out = String::new();
    out.push_str(&request.method.to_ascii_uppercase());
    out.push('\n');
    out.push_str(&canonical_uri(request.path));
    out.push('\n');
    out.push_str(&canonical_query(request.query));
    out.push('\n');
    for name in names {
        let values: Vec<String> = request
            .header_values(name)
            .iter()
            .map(|v| v.split_whitespace().collect::<Vec<_>>().join(" "))
            .collect();
        out.push_str(name);
        out.push(':');
        out.push_str(&values.join(","));
        out.push('\n');
    }
    out.push('\n');
    out.push_str(signed_headers);
    out.push('\n');
    let payload = request
        .header_values("x-amz-content-sha256")
        .first()
        .map(|v| v.trim().to_string())
        .unwrap_or_else(|| hex::encode(Sha256::digest(request.body)));
    out.push_str(&payload);
    out
}

/// Bytes left as they are in canonical parts: RFC 3986's unreserved ones.
const ENCODE: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// The path with dot segments and empty segments gone, each segment (as
/// sent, so still encoded) encoded again.
fn canonical_uri(path: &str) -> String {
    let mut segments: Vec<&str> = Vec::new();
    for segment in path.split('/') {
        match segment {
            "" | "." => {}
            ".." => {
                segments.pop();
            }
            s => segments.push(s),
        }
    }
    let mut out = String::new();
    for segment in &segments {
        out.push('/');
        out.extend(percent_encoding::utf8_percent_encode(segment, ENCODE));
    }
    if out.is_empty() || (path.ends_with('/') && !segments.is_empty()) {
        out.push('/');
    }
    out
}

/// The query's pairs, decoded, encoded strictly and sorted.
fn canonical_query(query: &str) -> String {
    let mut pairs: Vec<(String, String)> = query
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|pair| {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            let decode = |s: &str| {
                percent_encoding::percent_decode_str(&s.replace('+', "%20"))
                    .decode_utf8_lossy()
                    .into_owned()
            };
            let encode = |s: String| percent_encoding::utf8_percent_encode(&s, ENCODE).to_string();
            (encode(decode(k)), encode(decode(v)))
        })
        .filter(|(k, _)| k != "X-Amz-Signature")
        .collect();
    pairs.sort();
    pairs
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join("&")
}

fn hmac(key: &[u8], data: &[u8]) -> Vec<u8> {
    let mut mac = Hmac::<Sha256>::new_from_slice(key).expect("HMAC takes any key");
    mac.update(data);
    mac.finalize().into_bytes().to_vec()
}

/// The signature of `to_sign` with the key derived from `secret` for the
/// day, region and service.
pub fn signature_of(secret: &str, day: &str, region: &str, service: &str, to_sign: &str) -> String {
    let key = hmac(format!("AWS4{secret}").as_bytes(), day.as_bytes());
    let key = hmac(&key, region.as_bytes());
    let key = hmac(&key, service.as_bytes());
    let key = hmac(&key, b"aws4_request");
    hex::encode(hmac(&key, to_sign.as_bytes()))
}

pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// `YYYYMMDDTHHMMSSZ` as a time.
fn parse_amz_date(s: &str) -> Option<SystemTime> {
    let b = s.as_bytes();
    if b.len() != 16 || b[8] != b'T' || b[15] != b'Z' {
        return None;
    }
    let num = |r: std::ops::Range<usize>| -> Option<i64> { s.get(r)?.parse().ok() };
    let (y, mo, d) = (num(0..4)?, num(4..6)?, num(6..8)?);
    let (h, mi, se) = (num(9..11)?, num(11..13)?, num(13..15)?);
    if !(1..=12).contains(&mo) || !(1..=31).contains(&d) || h > 23 || mi > 59 || se > 60 {
        return None;
    }
    let days = days_from_civil(y, mo, d);
    let secs = days * 86_400 + h * 3600 + mi * 60 + se;
    (secs >= 0).then(|| UNIX_EPOCH + Duration::from_secs(secs as u64))
}

/// A time as `YYYYMMDDTHHMMSSZ`.
pub fn amz_date(t: SystemTime) -> String {
    let secs = t
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0) as i64;
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    let (y, m, d) = civil_from_days(days);
    format!(
        "{y:04}{m:02}{d:02}T{:02}{:02}{:02}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

// Howard Hinnant's days-from-civil and its inverse.
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * (m + if m > 2 { -3 } else { 9 }) + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn civil_from_days(z: i64) -> (i64, i64, i64) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (yoe + era * 400 + i64::from(m <= 2), m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &str = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY";

    fn vanilla(signature: &str, date: &str) -> (String, String) {
        (
            format!(
                "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, SignedHeaders=host;x-amz-date, Signature={signature}"
            ),
            date.to_string(),
        )
    }

    fn check(authorization: &str, date: &str, now: SystemTime) -> Result<Signed, AuthError> {
        let request = Request {
            method: "GET",
            path: "/",
            query: "",
            headers: vec![
                ("Host", "example.amazonaws.com"),
                ("X-Amz-Date", date),
                ("Authorization", authorization),
            ],
            body: b"",
        };
        verify(&request, "service", now, |key| {
            (key == "AKIDEXAMPLE").then(|| SECRET.to_string())
        })
    }

    /// AWS's "get-vanilla" vector of its SigV4 test suite.
    const GOOD: &str = "5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31";

    fn at_vector() -> SystemTime {
        parse_amz_date("20150830T123600Z").unwrap()
    }

    #[test]
    fn the_get_vanilla_vector_verifies() {
        let (auth, date) = vanilla(GOOD, "20150830T123600Z");
        let signed = check(&auth, &date, at_vector() + Duration::from_secs(60)).unwrap();
        assert_eq!(signed.access_key_id, "AKIDEXAMPLE");
        assert_eq!(signed.region, "us-east-1");
    }

    #[test]
    fn a_changed_signature_key_or_header_is_refused_with_aws_names() {
        let bad = GOOD.replace('5', "6");
        let (auth, date) = vanilla(&bad, "20150830T123600Z");
        let e = check(&auth, &date, at_vector()).unwrap_err();
        assert_eq!(e.code(), "InvalidSignatureException");
        let other = format!(
            "AWS4-HMAC-SHA256 Credential=AKIDOTHER/20150830/us-east-1/service/aws4_request, SignedHeaders=host;x-amz-date, Signature={GOOD}"
        );
        let e = check(&other, "20150830T123600Z", at_vector()).unwrap_err();
        assert_eq!(e.code(), "UnrecognizedClientException");
        let e = check("", "20150830T123600Z", at_vector()).unwrap_err();
        assert_eq!(e.code(), "MissingAuthenticationTokenException");
        let e = check(
            "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, SignedHeaders=host;x-amz-date",
            "20150830T123600Z",
            at_vector(),
        )
        .unwrap_err();
        assert_eq!(e.code(), "IncompleteSignatureException");
        // Signed for another service.
        let wrong = auth.replace("/service/", "/s3/");
        let e = check(&wrong, &date, at_vector()).unwrap_err();
        assert_eq!(e.code(), "InvalidSignatureException");
    }

    #[test]
    fn a_request_more_than_five_minutes_off_is_refused() {
        let (auth, date) = vanilla(GOOD, "20150830T123600Z");
        let e = check(&auth, &date, at_vector() + Duration::from_secs(301)).unwrap_err();
        assert_eq!(e.code(), "InvalidSignatureException");
        assert!(
            e.message()
                .starts_with("Signature expired: 20150830T123600Z"),
            "{e:?}"
        );
        let e = check(&auth, &date, at_vector() - Duration::from_secs(301)).unwrap_err();
        assert!(
            e.message().starts_with("Signature not yet current"),
            "{e:?}"
        );
    }

    #[test]
    fn canonical_parts_follow_the_rules() {
        assert_eq!(canonical_uri("/"), "/");
        assert_eq!(canonical_uri(""), "/");
        assert_eq!(canonical_uri("/a/./b/../c//d"), "/a/c/d");
        assert_eq!(canonical_uri("/a%20b"), "/a%2520b");
        assert_eq!(canonical_query("b=2&a=1&a=0&c"), "a=0&a=1&b=2&c=");
        assert_eq!(canonical_query("k=a+b&x=%7E"), "k=a%20b&x=~");
        assert_eq!(amz_date(at_vector()), "20150830T123600Z");
        assert_eq!(parse_amz_date("20150830T123600"), None);
    }
}
