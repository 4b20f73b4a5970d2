//! `sluice plugin new NAME --lang rust|python|js`: a provider project from
//! the templates embedded in the binary (`templates/<lang>/`), with its
//! placeholders filled in and, for Python and JavaScript, the contract's
//! WIT files copied into `wit/`.

use super::Language;
use std::path::{Path, PathBuf};

include!(concat!(env!("OUT_DIR"), "/templates.rs"));

/// Where the SDK of the checkout this binary was built from is, if it is
/// still there: the Rust template depends on it by path.
pub fn default_sdk_path() -> Option<PathBuf> {
    let sdk = Path::new(env!("CARGO_MANIFEST_DIR")).join("../sdk");
    sdk.join("Cargo.toml")
        .is_file()
        .then(|| sdk.canonicalize().ok())
        .flatten()
}

/// Whether `name` can name a provider: lowercase letters, digits and
/// dashes, starting with a letter, at most 64 characters.
pub fn check_name(name: &str) -> Result<(), String> {
    let ok = !name.is_empty()
        && name.len() <= 64
        && name.starts_with(|c: char| c.is_ascii_lowercase())
        && !name.ends_with('-')
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
    if ok {
        Ok(())
    } else {
        Err(format!(
            "`{name}` cannot name a provider: use lowercase letters, digits and dashes, starting with a letter (e.g. `word-count`)"
        ))
    }
}

/// What [`create`] wrote.
#[derive(Debug)]
pub struct Created {
    /// The project folder.
    pub dir: PathBuf,
    /// The files written, relative to it.
    pub files: Vec<String>,
}

/// Writes a new project for provider `name` in `language` into `dir`,
/// which must not exist or be empty. `sdk` is the SDK folder for Rust.
pub fn create(
    name: &str,
    language: Language,
    dir: &Path,
    sdk: Option<&Path>,
) -> Result<Created, String> {
    check_name(name)?;
    if dir.exists()
        && std::fs::read_dir(dir)
            .map_err(|e| format!("{}: {e}", dir.display()))?
            .next()
            .is_some()
    {
        return Err(format!(
            "{} exists and is not empty: choose another folder (--dir)",
            dir.display()
        ));
    }
    let sdk_path = match language {
        Language::Rust => {
            let sdk = sdk.map(Path::to_path_buf).or_else(default_sdk_path).ok_or(
                "the Rust template needs the `sdk/` folder of a Sluice checkout: pass --sdk PATH",
            )?;
            if !sdk.join("Cargo.toml").is_file() {
                return Err(format!(
                    "--sdk {}: no Cargo.toml there (it should be the `sdk/` folder of a Sluice checkout)",
                    sdk.display()
                ));
            }
            sdk.canonicalize()
                .map_err(|e| format!("--sdk {}: {e}", sdk.display()))?
                .display()
                .to_string()
        }
        _ => String::new(),
    };
    let crate_name = name.replace('-', "_");
    let fill = |text: &str| {
        text.replace("{{name}}", name)
            .replace("{{crate_name}}", &crate_name)
            .replace("{{module_name}}", &crate_name)
            .replace("{{sdk_path}}", &sdk_path)
    };
    let mut files = Vec::new();
    let write = |relative: &str, bytes: &[u8]| -> Result<(), String> {
        let path = dir.join(relative);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).map_err(|e| format!("{}: {e}", parent.display()))?;
        }
        std::fs::write(&path, bytes).map_err(|e| format!("{}: {e}", path.display()))
    };
    for (lang, relative, bytes) in TEMPLATE_FILES {
        if *lang != language.name() {
            continue;
        }
        match std::str::from_utf8(bytes) {
            Ok(text) => write(relative, fill(text).as_bytes())?,
            Err(_) => write(relative, bytes)?,
        }
        files.push(relative.to_string());
    }
    if language != Language::Rust {
        for (file, bytes) in WIT_FILES {
            let relative = format!("wit/{file}");
            write(&relative, bytes)?;
            files.push(relative);
        }
    }
    files.sort();
    Ok(Created {
        dir: dir.to_path_buf(),
        files,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_language_has_a_template_with_its_two_commands() {
        for language in [Language::Rust, Language::Python, Language::Js] {
            let readme = TEMPLATE_FILES
                .iter()
                .find(|(l, p, _)| *l == language.name() && *p == "README.md")
                .unwrap_or_else(|| panic!("{} has a README", language.name()));
            let text = std::str::from_utf8(readme.2).unwrap();
            assert!(text.contains("sluice plugin test"), "{}", language.name());
        }
        assert!(WIT_FILES.iter().any(|(f, _)| *f == "worlds.wit"));
    }

    #[test]
    fn names_are_checked() {
        assert!(check_name("word-count").is_ok());
        for bad in ["", "Word", "1st", "a_b", "x-", "a b"] {
            assert!(check_name(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn a_python_project_gets_the_contract_and_its_name() {
        let dir = tempfile::tempdir().unwrap();
        let project = dir.path().join("p");
        let created = create("word-count", Language::Python, &project, None).unwrap();
        assert!(created.files.contains(&"wit/worlds.wit".to_string()));
        let app = std::fs::read_to_string(project.join("app.py")).unwrap();
        assert!(!app.contains("{{"), "placeholders are filled");
        assert!(app.contains("word-count"));
        let again = create("word-count", Language::Python, &project, None).unwrap_err();
        assert!(again.contains("not empty"), "{again}");
    }
}
