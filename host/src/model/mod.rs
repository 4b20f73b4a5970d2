//! Pipeline definitions as code: the serde model (YAML or JSON), where each
//! value sits in its file, and validation, first on its own and then
//! against the providers the pipeline names.

pub mod codepipeline;
pub mod definition;
pub mod diagnostic;
pub mod parse;
pub mod providers;
pub mod source_map;
pub mod validate;
pub mod variables;

pub use definition::{
    Action, ExecutionMode, Filter, Grants, Notification, NotificationEvent, PathAccess, PathGrant,
    Pipeline, Retention, Stage, Trigger, Variable,
};
pub use diagnostic::{Diagnostic, Report, Severity};
pub use parse::Format;
pub use source_map::SourceMap;

use std::path::{Path, PathBuf};

/// A definition read from a file, with what is needed to report on it.
#[derive(Debug, Clone)]
pub struct Loaded {
    /// The definition.
    pub pipeline: Pipeline,
    /// The file as the user named it.
    pub file: String,
    /// The folder relative provider paths are resolved against.
    pub base_dir: PathBuf,
    /// Positions of its values.
    pub map: SourceMap,
    /// Findings about the text itself (YAML pitfalls).
    pub warnings: Vec<Diagnostic>,
}

/// Reads and parses a definition file: Sluice's YAML or JSON, or a
/// CodePipeline declaration in JSON. On failure the report holds the
/// parse error (a file that does not parse has no further findings).
pub fn load(path: &Path) -> Result<Loaded, Report> {
    let file = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|e| Report {
        file: file.clone(),
        diagnostics: vec![Diagnostic::error("", format!("cannot read the file: {e}"))],
    })?;
    let base_dir = path
        .parent()
        .map(Path::to_path_buf)
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or_else(|| PathBuf::from("."));
    load_text(&text, &file, &base_dir)
}

/// Parses a definition given as text (from the API): `file` names it in
/// messages and picks the format by its extension; relative paths in it
/// resolve against `base_dir`.
pub fn load_text(text: &str, file: &str, base_dir: &Path) -> Result<Loaded, Report> {
    if Format::of(file) == Format::Json
        && let Ok(document) = serde_json::from_str::<serde_json::Value>(text)
        && codepipeline::is_declaration(&document)
    {
        // A CodePipeline declaration (`get-pipeline` output, or
        // `create-pipeline --cli-input-json` input).
        let pipeline = codepipeline::from_declaration(codepipeline::declaration_of(&document))
            .map_err(|refused| Report {
                file: file.to_string(),
                diagnostics: vec![Diagnostic::error(refused.field, refused.message)],
            })?;
        return Ok(Loaded {
            pipeline,
            file: file.to_string(),
            base_dir: base_dir.to_path_buf(),
            map: SourceMap::default(),
            warnings: Vec::new(),
        });
    }
    let (pipeline, map) = parse::parse_with_map(text, Format::of(file)).map_err(|d| Report {
        file: file.to_string(),
        diagnostics: vec![d],
    })?;
    let warnings = match Format::of(file) {
        Format::Yaml => parse::comment_pitfalls(text),
        Format::Json => Vec::new(),
    };
    Ok(Loaded {
        pipeline,
        file: file.to_string(),
        base_dir: base_dir.to_path_buf(),
        map,
        warnings,
    })
}

/// The JSON Schema of pipeline definitions, for editors.
pub fn json_schema() -> serde_json::Value {
    let schema = schemars::schema_for!(Pipeline);
    serde_json::to_value(schema).expect("a schema serialises")
}
