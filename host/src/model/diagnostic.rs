//! What validation says about a definition: errors and warnings, each with
//! the path of the value it is about and, where known, its line and column.

use super::source_map::{Position, SourceMap};
use serde::Serialize;

/// How serious a finding is.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Serialize, serde::Deserialize, schemars::JsonSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// The pipeline cannot be applied.
    Error,
    /// Worth a look; the pipeline can still be applied.
    Warning,
}

/// One finding.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize, schemars::JsonSchema)]
pub struct Diagnostic {
    /// Error or warning.
    pub severity: Severity,
    /// Path of the value, e.g. `stages[2].actions[0].inputs[0]`; empty for
    /// the whole file.
    pub path: String,
    /// What is wrong, in a sentence.
    pub message: String,
    /// Line and column, when known.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub line: Option<usize>,
    /// Column, when known.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub column: Option<usize>,
}

impl Diagnostic {
    /// An error about the value at `path`.
    pub fn error(path: impl Into<String>, message: impl Into<String>) -> Self {
        Diagnostic {
            severity: Severity::Error,
            path: path.into(),
            message: message.into(),
            line: None,
            column: None,
        }
    }

    /// A warning about the value at `path`.
    pub fn warning(path: impl Into<String>, message: impl Into<String>) -> Self {
        Diagnostic {
            severity: Severity::Warning,
            ..Diagnostic::error(path, message)
        }
    }

    /// Sets the line and column.
    pub fn at(mut self, position: Option<Position>) -> Self {
        if let Some(p) = position {
            self.line = Some(p.line);
            self.column = Some(p.column);
        }
        self
    }
}

/// The findings about one file.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Report {
    /// The file, as the user named it.
    pub file: String,
    /// Findings, errors first, in the file's order.
    pub diagnostics: Vec<Diagnostic>,
}

impl Report {
    /// A report for `file`, locating each finding with `map`.
    pub fn new(file: impl Into<String>, diagnostics: Vec<Diagnostic>, map: &SourceMap) -> Self {
        let mut diagnostics: Vec<Diagnostic> = diagnostics
            .into_iter()
            .map(|d| {
                if d.line.is_some() {
                    d
                } else {
                    let position = map.find(&d.path);
                    d.at(position)
                }
            })
            .collect();
        diagnostics.sort_by_key(|d| {
            (
                d.severity == Severity::Warning,
                d.line.unwrap_or(usize::MAX),
                d.column.unwrap_or(0),
            )
        });
        Report {
            file: file.into(),
            diagnostics,
        }
    }

    /// Whether any finding is an error.
    pub fn has_errors(&self) -> bool {
        self.diagnostics
            .iter()
            .any(|d| d.severity == Severity::Error)
    }

    /// Number of errors.
    pub fn error_count(&self) -> usize {
        self.diagnostics
            .iter()
            .filter(|d| d.severity == Severity::Error)
            .count()
    }
}

impl std::fmt::Display for Report {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        for d in &self.diagnostics {
            write!(f, "{}", self.file)?;
            if let (Some(line), Some(column)) = (d.line, d.column) {
                write!(f, ":{line}:{column}")?;
            }
            let severity = match d.severity {
                Severity::Error => "error",
                Severity::Warning => "warning",
            };
            if d.path.is_empty() {
                writeln!(f, ": {severity}: {}", d.message)?;
            } else {
                writeln!(f, ": {severity}: {}: {}", d.path, d.message)?;
            }
        }
        Ok(())
    }
}
