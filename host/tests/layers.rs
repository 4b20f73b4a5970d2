//! The layering rules of `docs/architecture.md`, checked: no module of the
//! `sluice` library may name a module its layer must not reach (`use
//! crate::...`, a path `crate::x::...`, or `super::` climbing to the crate
//! root). A rule broken fails here naming the file, the line and the rule.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// For each module: the modules it never imports ("X never imports Y").
/// `*` means "anything but" the listed modules (an allow-list).
const RULES: &[(&str, &str, &[&str])] = &[
    // The leaves: plain vocabulary and helpers every layer may use.
    ("units", "*", &[]),
    ("access", "*", &[]),
    ("text", "*", &[]),
    ("metrics", "*", &[]),
    ("urls", "*", &["text"]),
    ("state_dir", "*", &[]),
    ("contain", "*", &["units"]),
    ("contract", "*", &["text", "units"]),
    // Pure data and its validation.
    ("model", "*", &["contract", "units", "urls", "text"]),
    ("records", "*", &["contract", "model", "units"]),
    ("secrets", "*", &["contract", "state_dir", "units", "text"]),
    ("artifacts", "*", &["contain", "contract", "units", "text"]),
    // The sandbox runs providers; it knows nothing of pipelines.
    (
        "sandbox",
        "*",
        &["contain", "contract", "text", "units", "urls"],
    ),
    // The grants policy: what a definition or `action run` grants, as
    // the sandbox enforces it.
    (
        "grants",
        "*",
        &["contract", "model", "sandbox", "secrets", "units", "urls"],
    ),
    // Retention: the store, the artifacts and the state directory's files.
    (
        "retention",
        "*",
        &[
            "artifacts",
            "model",
            "records",
            "state_dir",
            "store",
            "units",
            "contract",
        ],
    ),
    // Durable state: records in, records out.
    (
        "store",
        "*",
        &["contract", "records", "model", "state_dir", "units"],
    ),
    // AWS action types on Sluice's providers: definitions in, definitions out.
    ("aws_types", "*", &["model", "contract", "units", "text"]),
    // Where providers come from.
    ("component_store", "*", &["sandbox", "contract", "units"]),
    (
        "packages",
        "*",
        &[
            "sandbox",
            "contract",
            "component_store",
            "state_dir",
            "units",
            "text",
        ],
    ),
    (
        "providers",
        "*",
        &[
            "sandbox",
            "contract",
            "component_store",
            "packages",
            "model",
            "units",
        ],
    ),
    // The engine: everything below, nothing above.
    (
        "engine",
        "never",
        &[
            "api",
            "server",
            "cli",
            "queries",
            "client",
            "triggers",
            "notify",
            "config",
            "definitions",
            "authoring",
        ],
    ),
    // Applying definitions reports through the queries' error type.
    ("definitions", "never", &["api", "server", "cli", "client"]),
    (
        "config",
        "never",
        &["cli", "api", "server", "client", "queries", "definitions"],
    ),
    (
        "queries",
        "never",
        &["api", "server", "cli", "client", "definitions"],
    ),
    ("triggers", "never", &["api", "server", "cli", "client"]),
    ("notify", "never", &["api", "server", "cli", "client"]),
    ("api", "never", &["cli", "client", "server"]),
    // The CodePipeline API: a second face of the API, on its state.
    ("aws", "never", &["cli", "client", "server"]),
    ("server", "never", &["cli", "client"]),
    ("client", "never", &["cli", "server"]),
    (
        "authoring",
        "never",
        &["engine", "store", "api", "server", "cli", "queries"],
    ),
];

fn source_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap().flatten() {
        let path = entry.path();
        if path.is_dir() {
            source_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The top-level module a file belongs to, and how deep it is below it.
fn module_of(src: &Path, file: &Path) -> (String, usize) {
    let relative = file.strip_prefix(src).unwrap();
    let parts: Vec<&str> = relative.iter().map(|p| p.to_str().unwrap()).collect();
    let top = parts[0].trim_end_matches(".rs").to_string();
    // `a/mod.rs` and `a.rs` are at depth 1; `a/b.rs` at 2.
    let depth = match parts.last() {
        Some(&"mod.rs") => parts.len() - 1,
        _ => parts.len(),
    };
    (top, depth)
}

/// The crate-level modules a line names.
fn named_modules(line: &str, depth: usize) -> Vec<String> {
    let mut found = Vec::new();
    let mut rest = line;
    while let Some(at) = rest.find("crate::") {
        let after = &rest[at + "crate::".len()..];
        if let Some(group) = after.strip_prefix('{') {
            let end = group.find('}').unwrap_or(group.len());
            for item in group[..end].split(',') {
                let name: String = item
                    .trim()
                    .chars()
                    .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                    .collect();
                if !name.is_empty() {
                    found.push(name);
                }
            }
        } else {
            let name: String = after
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                .collect();
            if !name.is_empty() {
                found.push(name);
            }
        }
        rest = after;
    }
    // `super::` climbing to the crate root from a file `depth` deep.
    let climb = "super::".repeat(depth);
    if depth > 0
        && let Some(at) = line.find(&climb)
    {
        let name: String = line[at + climb.len()..]
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
            .collect();
        if !name.is_empty() {
            found.push(name);
        }
    }
    found
}

#[test]
fn no_module_imports_a_module_its_layer_must_not_reach() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let modules: Vec<String> = std::fs::read_dir(&src)
        .unwrap()
        .flatten()
        .map(|e| {
            e.file_name()
                .to_string_lossy()
                .trim_end_matches(".rs")
                .to_string()
        })
        .filter(|m| m != "main" && m != "lib")
        .collect();
    let rules: BTreeMap<&str, (&str, &[&str])> = RULES
        .iter()
        .map(|(m, kind, list)| (*m, (*kind, *list)))
        .collect();
    for module in &modules {
        assert!(
            rules.contains_key(module.as_str()) || module == "cli" || module == "http_client",
            "module `{module}` has no layering rule: add it to RULES and docs/architecture.md"
        );
    }
    let mut files = Vec::new();
    source_files(&src, &mut files);
    let mut broken = Vec::new();
    for file in files {
        let (module, depth) = module_of(&src, &file);
        let Some((kind, list)) = rules.get(module.as_str()) else {
            continue;
        };
        let text = std::fs::read_to_string(&file).unwrap();
        for (n, line) in text.lines().enumerate() {
            let code = line.trim_start();
            if code.starts_with("//") {
                continue;
            }
            for named in named_modules(code, depth) {
                if named == module || !modules.contains(&named) {
                    continue;
                }
                let forbidden = match *kind {
                    "*" => !list.contains(&named.as_str()),
                    _ => list.contains(&named.as_str()),
                };
                if forbidden {
                    broken.push(format!(
                        "{}:{}: `{module}` never imports `{named}`",
                        file.strip_prefix(&src).unwrap().display(),
                        n + 1
                    ));
                }
            }
        }
    }
    assert!(
        broken.is_empty(),
        "layering rules broken:\n{}",
        broken.join("\n")
    );
}

#[test]
fn the_checker_sees_every_way_of_naming_a_module() {
    assert_eq!(named_modules("use crate::engine::Machine;", 1), ["engine"]);
    assert_eq!(
        named_modules("use crate::{sandbox::Job, store};", 2),
        ["sandbox", "store"]
    );
    assert_eq!(named_modules("let x = crate::cli::fail(e);", 1), ["cli"]);
    assert_eq!(named_modules("use super::super::engine::X;", 2), ["engine"]);
    assert!(named_modules("use super::machine::X;", 2).is_empty());
}
