//! Reading a definition from YAML or JSON text.

use super::definition::Pipeline;
use super::diagnostic::Diagnostic;
use super::source_map::{Position, SourceMap};

/// The format of a definition file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// YAML (also the default for unknown extensions).
    Yaml,
    /// JSON.
    Json,
}

impl Format {
    /// The format a file name suggests: `.json` is JSON, anything else YAML.
    pub fn of(file: &str) -> Format {
        if file.to_ascii_lowercase().ends_with(".json") {
            Format::Json
        } else {
            Format::Yaml
        }
    }
}

/// Files larger than this are refused before parsing.
pub const MAX_DEFINITION_BYTES: usize = 1 << 20;

/// Deepest nesting accepted. Definitions need about ten levels; the YAML
/// scanner's work grows with the square of the depth, so deeper input is
/// refused before it is scanned.
pub const MAX_NESTING: usize = 64;

/// How deep `text` nests, by brackets and by indentation, whichever is
/// deeper (a quick over-estimate, not a parse).
pub fn nesting(text: &str) -> usize {
    let mut depth: usize = 0;
    let mut deepest = 0;
    let mut quote: Option<char> = None;
    let mut escaped = false;
    for c in text.chars() {
        match quote {
            Some(q) => {
                if escaped {
                    escaped = false;
                } else if c == '\\' && q == '"' {
                    escaped = true;
                } else if c == q {
                    quote = None;
                }
            }
            None => match c {
                '"' | '\'' => quote = Some(c),
                '[' | '{' => {
                    depth += 1;
                    deepest = deepest.max(depth);
                }
                ']' | '}' => depth = depth.saturating_sub(1),
                '\n' => quote = None,
                _ => {}
            },
        }
    }
    let indent = text
        .lines()
        .map(|l| l.len() - l.trim_start_matches([' ', '-']).len())
        .max()
        .unwrap_or(0);
    deepest.max(indent / 2)
}

/// Parses `text`; on failure, one diagnostic with the parser's position.
pub fn parse(text: &str, format: Format) -> Result<Pipeline, Diagnostic> {
    if text.len() > MAX_DEFINITION_BYTES {
        return Err(Diagnostic::error(
            "",
            format!("the definition is {} bytes; the limit is 1 MiB", text.len()),
        ));
    }
    let depth = nesting(text);
    if depth > MAX_NESTING {
        return Err(Diagnostic::error(
            "",
            format!("the definition nests {depth} levels deep; the limit is {MAX_NESTING}"),
        ));
    }
    match format {
        Format::Json => serde_json::from_str(text).map_err(|e| {
            let position = (e.line() > 0).then(|| Position {
                line: e.line(),
                column: e.column(),
            });
            Diagnostic::error("", strip_position(&e.to_string())).at(position)
        }),
        Format::Yaml => serde_yaml::from_str(text).map_err(|e| {
            let position = e.location().map(|l| Position {
                line: l.line(),
                column: l.column(),
            });
            let path = yaml_error_path(&e.to_string());
            Diagnostic::error(path, strip_position(&e.to_string())).at(position)
        }),
    }
}

/// Warnings for ` #{` outside quotes: YAML starts a comment at ` #`, so a
/// variable reference after a space silently disappears with the rest of
/// the line.
pub fn comment_pitfalls(text: &str) -> Vec<Diagnostic> {
    let mut found = Vec::new();
    for (number, line) in text.lines().enumerate() {
        let mut quote: Option<char> = None;
        let mut previous = ' ';
        for (column, c) in line.char_indices() {
            match quote {
                Some(q) if c == q => quote = None,
                Some(_) => {}
                None if c == '"' || c == '\'' => quote = Some(c),
                None if c == '#' && previous.is_whitespace() => {
                    if line[column..].starts_with("#{") {
                        found.push(
                            Diagnostic::warning(
                                "",
                                "` #{` starts a YAML comment here, so the rest of the line is ignored: quote the value",
                            )
                            .at(Some(Position { line: number + 1, column: column + 1 })),
                        );
                    }
                    break;
                }
                None => {}
            }
            previous = c;
        }
    }
    found
}

/// Parses `text` and also maps the position of every value in it.
pub fn parse_with_map(text: &str, format: Format) -> Result<(Pipeline, SourceMap), Diagnostic> {
    let pipeline = parse(text, format)?;
    Ok((pipeline, SourceMap::of(text)))
}

/// serde_yaml prefixes the path of the value in error messages
/// (`stages[0].actions[1]: unknown field ...`); keep it as the path.
fn yaml_error_path(message: &str) -> String {
    match message.split_once(": ") {
        Some((path, _))
            if !path.contains(' ')
                && (path.contains('.')
                    || path.contains('[')
                    || path.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')) =>
        {
            path.to_string()
        }
        _ => String::new(),
    }
}

/// Both parsers append " at line L column C" to messages; the position is
/// reported separately.
fn strip_position(message: &str) -> String {
    let message = match message.find(" at line ") {
        Some(cut) => &message[..cut],
        None => message,
    };
    match message.split_once(": ") {
        Some((path, rest)) if !path.contains(' ') && (path.contains('.') || path.contains('[')) => {
            rest.to_string()
        }
        _ => message.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_fields_are_rejected_with_a_position() {
        let text = "name: p\nstages:\n  - name: A\n    actions:\n      - name: a\n        provider: builtin:noop\n        colour: red\n";
        let error = parse(text, Format::Yaml).unwrap_err();
        assert_eq!(error.line, Some(7), "{error:?}");
        assert_eq!(error.path, "stages[0].actions[0]");
        assert!(
            error
                .message
                .starts_with("unknown field `colour`, expected one of"),
            "{}",
            error.message
        );
    }

    #[test]
    fn deep_nesting_is_refused_before_scanning() {
        let deep = format!("name: p\nstages: {}{}", "[".repeat(100), "]".repeat(100));
        let error = parse(&deep, Format::Yaml).unwrap_err();
        assert_eq!(
            error.message,
            "the definition nests 100 levels deep; the limit is 64"
        );
        assert_eq!(
            nesting("a: \"[[[[\"\nb: [1, {c: 2}]"),
            2,
            "quoted brackets do not count"
        );
    }

    #[test]
    fn a_reference_after_a_space_is_a_yaml_comment_and_is_flagged() {
        let text = "a: make #{X.Y}\nb: \"quoted #{X.Y}\"\nc: x=#{X.Y}\n# a comment\n";
        let found = comment_pitfalls(text);
        assert_eq!(found.len(), 1);
        assert_eq!((found[0].line, found[0].column), (Some(1), Some(9)));
    }

    #[test]
    fn json_errors_have_positions() {
        let error = parse("{\"name\": \"p\",\n \"stages\": 3}", Format::Json).unwrap_err();
        assert_eq!(error.line, Some(2));
        assert!(
            error.message.contains("invalid type: integer `3`"),
            "{}",
            error.message
        );
    }

    #[test]
    fn configuration_takes_numbers_and_booleans_as_text() {
        let text = "name: p\nstages:\n  - name: A\n    actions:\n      - name: a\n        provider: builtin:noop\n        configuration: { Count: 3, Fast: true, Name: x }\n";
        let p = parse(text, Format::Yaml).unwrap();
        let c = &p.stages[0].actions[0].configuration;
        assert_eq!(c["Count"], "3");
        assert_eq!(c["Fast"], "true");
        let keys: Vec<&String> = c.keys().collect();
        assert_eq!(keys, ["Count", "Fast", "Name"], "order is kept");
    }
}
