//! Variable references in configuration values: `#{variables.NAME}`,
//! `#{execution.id}`, `#{Namespace.Key}`. Parsing here; resolving happens
//! when an action is about to run.

/// One `#{namespace.key}` reference.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reference {
    /// `variables`, `execution`, or an action's namespace.
    pub namespace: String,
    /// The variable's name within the namespace.
    pub key: String,
}

impl std::fmt::Display for Reference {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "#{{{}.{}}}", self.namespace, self.key)
    }
}

/// The namespace of pipeline variables.
pub const PIPELINE_VARIABLES: &str = "variables";
/// The namespace of secrets (`#{secrets.NAME}`), resolved only when the
/// action runs and only for secrets it is granted.
pub const SECRETS: &str = "secrets";
/// The namespace of the execution's own variables (`#{execution.id}`).
pub const EXECUTION: &str = "execution";
/// Keys of the `execution` namespace.
pub const EXECUTION_KEYS: &[&str] = &["id"];

enum Piece<'a> {
    Text(&'a str),
    Reference(Reference),
}

fn pieces(value: &str) -> Result<Vec<Piece<'_>>, String> {
    let mut pieces = Vec::new();
    let mut rest = value;
    while let Some(start) = rest.find("#{") {
        if start > 0 {
            pieces.push(Piece::Text(&rest[..start]));
        }
        let after = &rest[start + 2..];
        let end = after
            .find('}')
            .ok_or_else(|| format!("`{}` is not closed with `}}`", &rest[start..]))?;
        let inner = after[..end].trim();
        let (namespace, key) = inner.split_once('.').ok_or_else(|| {
            format!("`#{{{inner}}}` is not a reference: write `#{{namespace.key}}`, e.g. `#{{variables.name}}`")
        })?;
        if !is_name(namespace) || !is_name(key) {
            return Err(format!(
                "`#{{{inner}}}` is not a reference: namespace and key use letters, digits, `@`, `_` and `-`"
            ));
        }
        pieces.push(Piece::Reference(Reference {
            namespace: namespace.to_string(),
            key: key.to_string(),
        }));
        rest = &after[end + 1..];
    }
    if !rest.is_empty() {
        pieces.push(Piece::Text(rest));
    }
    Ok(pieces)
}

fn is_name(s: &str) -> bool {
    !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-' || c == '@')
}

/// Every reference in `value`, in order; an error for malformed ones.
pub fn references(value: &str) -> Result<Vec<Reference>, String> {
    Ok(pieces(value)?
        .into_iter()
        .filter_map(|p| match p {
            Piece::Reference(r) => Some(r),
            Piece::Text(_) => None,
        })
        .collect())
}

/// Replaces every reference in `value` with what `lookup` gives; an error
/// names the first reference it cannot resolve.
pub fn resolve(
    value: &str,
    lookup: impl Fn(&Reference) -> Option<String>,
) -> Result<String, String> {
    if !value.contains("#{") {
        return Ok(value.to_string());
    }
    let mut out = String::with_capacity(value.len());
    for piece in pieces(value)? {
        match piece {
            Piece::Text(t) => out.push_str(t),
            Piece::Reference(r) => match lookup(&r) {
                Some(v) => out.push_str(&v),
                None => return Err(format!("{r} has no value")),
            },
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn references_are_found_and_resolved() {
        let refs = references("v#{variables.tag}-#{Build.Commit}!").unwrap();
        assert_eq!(refs.len(), 2);
        assert_eq!(refs[1].to_string(), "#{Build.Commit}");
        let resolved = resolve("v#{variables.tag}-#{Build.Commit}!", |r| {
            match r.key.as_str() {
                "tag" => Some("1.2".into()),
                "Commit" => Some("abc".into()),
                _ => None,
            }
        })
        .unwrap();
        assert_eq!(resolved, "v1.2-abc!");
        assert_eq!(
            resolve("#{x.y}", |_| None).unwrap_err(),
            "#{x.y} has no value"
        );
        assert_eq!(resolve("plain", |_| None).unwrap(), "plain");
    }

    #[test]
    fn malformed_references_are_errors() {
        assert!(
            references("#{variables.x")
                .unwrap_err()
                .contains("not closed")
        );
        assert!(
            references("#{nodot}")
                .unwrap_err()
                .contains("namespace.key")
        );
        assert!(
            references("#{a b.c}")
                .unwrap_err()
                .contains("letters, digits")
        );
    }
}
