//! CodeBuild build specifications (buildspec version 0.2), read into a
//! [`Spec`] of the CodeBuild dialect.
//!
//! Read: `env.variables`, `env.exported-variables`, `env.shell` (`bash`
//! or `sh`), `phases.{install,pre_build,build,post_build}` with their
//! `commands` and `finally`, `artifacts` (`files`, `base-directory`,
//! `discard-paths`, `exclude-paths`, `secondary-artifacts` by output name)
//! and `reports` (`files`, `base-directory`, `file-format`). Globs are
//! relative to their base directory (`*` stays in one folder, `**` spans
//! any number). Refused, by name: what would need AWS or a different user
//! (`env.parameter-store`, `env.secrets-manager`, `run-as`, `batch`,
//! `on-failure` other than `ABORT`), version 0.1, and keys a buildspec
//! does not have. Ignored, with a warning: `cache`, `proxy`,
//! `runtime-versions` and `git-credential-helper` (the host's installed
//! tools are what programs run). Ignored silently: what only names things
//! in S3 (`artifacts.name`, `s3-prefix`, `enable-symlinks`).

use crate::buildspec::{Dialect, Files, Phase, Report, Spec};
use crate::glob::Pattern;
use yaml_rust2::{Yaml, YamlLoader};

/// A parsed buildspec, with what it says that is ignored.
#[derive(Debug, Clone)]
pub struct Parsed {
    /// The specification, with the buildspec's own variables (the caller
    /// adds CodeBuild's and the action's).
    pub spec: Spec,
    /// Keys ignored, one message each.
    pub warnings: Vec<String>,
}

/// The phases a buildspec has, in the order they run.
const PHASES: [&str; 4] = ["install", "pre_build", "build", "post_build"];

/// Parses buildspec `text`; every problem is reported, each naming where
/// it is (`phases.build.commands[2]`).
pub fn parse(text: &str) -> Result<Parsed, Vec<String>> {
    let documents = YamlLoader::load_from_str(text).map_err(|e| vec![format!("not YAML: {e}")])?;
    let root = match documents.as_slice() {
        [one] => one,
        [] => return Err(vec!["it is empty".into()]),
        _ => return Err(vec!["it holds several YAML documents".into()]),
    };
    let mut reader = Reader::default();
    let spec = reader.buildspec(root);
    if reader.problems.is_empty() {
        Ok(Parsed {
            spec: spec.expect("a spec when nothing is wrong"),
            warnings: reader.warnings,
        })
    } else {
        Err(reader.problems)
    }
}

#[derive(Default)]
struct Reader {
    problems: Vec<String>,
    warnings: Vec<String>,
}

impl Reader {
    fn buildspec(&mut self, root: &Yaml) -> Option<Spec> {
        let Yaml::Hash(_) = root else {
            self.problems
                .push("it is not a mapping of `version`, `phases`, `artifacts`...".into());
            return None;
        };
        let mut spec = Spec {
            dialect: Dialect::CodeBuild,
            phases: PHASES
                .iter()
                .map(|name| Phase {
                    name,
                    commands: Vec::new(),
                    finally: Vec::new(),
                })
                .collect(),
            env: Vec::new(),
            artifacts: Vec::new(),
            reports: Vec::new(),
            exported: Vec::new(),
            shell: "sh".into(),
            working_directory: String::new(),
        };
        let mut version = None;
        for (key, value) in self.entries(root, "") {
            match key.as_str() {
                "version" => version = self.scalar(value, "version"),
                "run-as" => self.refuse(
                    "run-as",
                    "commands run as the user the host runs programs as",
                ),
                "env" => self.env(value, &mut spec),
                "proxy" => self.ignore("proxy", "programs reach no network through a proxy here"),
                "batch" => self.refuse("batch", "batch builds are not supported"),
                "phases" => self.phases(value, &mut spec),
                "artifacts" => self.artifacts(value, &mut spec),
                "reports" => self.reports(value, &mut spec),
                "cache" => self.ignore("cache", "Sluice keeps no build cache between runs"),
                other => self.problems.push(format!(
                    "unknown key `{other}` (a buildspec has version, run-as, env, proxy, batch, phases, reports, artifacts, cache)"
                )),
            }
        }
        match version.as_deref() {
            Some("0.2") => {}
            Some("0.1") => self.problems.push(
                "version 0.1 runs each command in a shell of its own; write `version: 0.2`".into(),
            ),
            Some(other) => self
                .problems
                .push(format!("version `{other}` is not one Sluice reads (0.2)")),
            None => self
                .problems
                .push("`version` is missing (write `version: 0.2`)".into()),
        }
        if !spec.has_commands() && self.problems.is_empty() {
            self.problems
                .push("it has no commands (give `phases.build.commands`)".into());
        }
        Some(spec)
    }

    fn env(&mut self, value: &Yaml, spec: &mut Spec) {
        for (key, value) in self.entries(value, "env") {
            let at = format!("env.{key}");
            match key.as_str() {
                "shell" => {
                    if let Some(shell) = self.scalar(value, &at) {
                        match shell.as_str() {
                            "bash" | "/bin/bash" => spec.shell = "bash".into(),
                            "sh" | "/bin/sh" => spec.shell = "sh".into(),
                            other => self.problems.push(format!(
                                "{at}: `{other}` is not a shell Sluice runs (bash or /bin/sh)"
                            )),
                        }
                    }
                }
                "variables" => {
                    for (name, value) in self.entries(value, &at) {
                        let value = match value {
                            Yaml::Null => Some(String::new()),
                            other => self.scalar(other, &format!("{at}.{name}")),
                        };
                        if name.is_empty() || name.contains(['=', '\n']) {
                            self.problems
                                .push(format!("{at}: `{name}` is not a variable name"));
                        } else if let Some(value) = value {
                            spec.env.push((name, value));
                        }
                    }
                }
                "exported-variables" => {
                    for (index, name) in self.list(value, &at).into_iter().enumerate() {
                        if is_identifier(&name) {
                            spec.exported.push(name);
                        } else {
                            self.problems.push(format!(
                                "{at}[{index}]: `{name}` is not a variable name (letters, digits and `_`, not starting with a digit)"
                            ));
                        }
                    }
                }
                "parameter-store" | "secrets-manager" => self.refuse(
                    &at,
                    "Sluice reads no AWS Systems Manager parameters or Secrets Manager secrets",
                ),
                "git-credential-helper" => {
                    self.ignore(&at, "programs use the host's git configuration")
                }
                other => self.problems.push(format!(
                    "unknown key `env.{other}` (env has shell, variables, parameter-store, exported-variables, secrets-manager, git-credential-helper)"
                )),
            }
        }
    }

    fn phases(&mut self, value: &Yaml, spec: &mut Spec) {
        for (name, body) in self.entries(value, "phases") {
            let Some(index) = PHASES.iter().position(|p| *p == name) else {
                self.problems.push(format!(
                    "unknown phase `{name}` (phases are {})",
                    PHASES.join(", ")
                ));
                continue;
            };
            if let Yaml::Null = body {
                continue;
            }
            for (key, value) in self.entries(body, &format!("phases.{name}")) {
                let at = format!("phases.{name}.{key}");
                match key.as_str() {
                    "commands" => spec.phases[index].commands = self.commands(value, &at),
                    "finally" => spec.phases[index].finally = self.commands(value, &at),
                    "run-as" => self.refuse(
                        &at,
                        "commands run as the user the host runs programs as",
                    ),
                    "on-failure" => {
                        if let Some(how) = self.scalar(value, &at)
                            && how != "ABORT"
                        {
                            self.problems.push(format!(
                                "{at}: `{how}` is not supported: a failing command ends the build (ABORT)"
                            ));
                        }
                    }
                    "runtime-versions" => {
                        self.ignore(&at, "programs run with the host's installed tools")
                    }
                    other => self.problems.push(format!(
                        "unknown key `phases.{name}.{other}` (a phase has commands, finally, on-failure, run-as, runtime-versions)"
                    )),
                }
            }
        }
    }

    fn commands(&mut self, value: &Yaml, at: &str) -> Vec<String> {
        let Yaml::Array(items) = value else {
            if let Yaml::Null = value {
                return Vec::new();
            }
            self.problems
                .push(format!("{at} must be a list of commands"));
            return Vec::new();
        };
        let mut commands = Vec::new();
        for (index, item) in items.iter().enumerate() {
            match item {
                Yaml::Hash(_) => self.problems.push(format!(
                    "{at}[{index}] is a mapping, not a command: quote it (in a plain YAML value, `: ` starts a mapping)"
                )),
                other => {
                    if let Some(command) = self.scalar(other, &format!("{at}[{index}]"))
                        && !command.trim().is_empty()
                    {
                        commands.push(command);
                    }
                }
            }
        }
        commands
    }

    fn artifacts(&mut self, value: &Yaml, spec: &mut Spec) {
        if let Some(primary) = self.files(value, "artifacts", String::new(), true) {
            spec.artifacts.insert(0, primary);
        }
        if let Yaml::Hash(hash) = value
            && let Some(secondary) = hash.get(&Yaml::String("secondary-artifacts".into()))
        {
            for (name, body) in self.entries(secondary, "artifacts.secondary-artifacts") {
                let at = format!("artifacts.secondary-artifacts.{name}");
                match self.files(body, &at, name, false) {
                    Some(files) => spec.artifacts.push(files),
                    None => self.problems.push(format!("{at} has no `files`")),
                }
            }
        }
    }

    fn reports(&mut self, value: &Yaml, spec: &mut Spec) {
        for (name, body) in self.entries(value, "reports") {
            let at = format!("reports.{name}");
            let format = match body {
                Yaml::Hash(hash) => hash
                    .get(&Yaml::String("file-format".into()))
                    .and_then(|f| self.scalar(f, &format!("{at}.file-format")))
                    .map(|f| f.to_ascii_uppercase())
                    .unwrap_or_else(|| "JUNITXML".into()),
                _ => "JUNITXML".into(),
            };
            match self.files(body, &at, name, false) {
                Some(files) => spec.reports.push(Report { files, format }),
                None => self.problems.push(format!("{at} has no `files`")),
            }
        }
    }

    /// An `artifacts` section, a secondary artifact or a report group:
    /// `None` when it has no `files`.
    fn files(&mut self, value: &Yaml, at: &str, name: String, primary: bool) -> Option<Files> {
        let mut files = Files {
            name,
            patterns: Vec::new(),
            exclude: Vec::new(),
            base_directory: String::new(),
            discard_paths: false,
        };
        let mut given = false;
        for (key, value) in self.entries(value, at) {
            let here = format!("{at}.{key}");
            match key.as_str() {
                "files" => {
                    given = true;
                    files.patterns = self.patterns(value, &here);
                }
                "exclude-paths" if !at.starts_with("reports") => {
                    files.exclude = self.patterns(value, &here)
                }
                "base-directory" => {
                    files.base_directory = self.scalar(value, &here).unwrap_or_default()
                }
                "discard-paths" => files.discard_paths = self.flag(value, &here),
                "file-format" if at.starts_with("reports") => {}
                "secondary-artifacts" if primary => {}
                "name" | "s3-prefix" | "enable-symlinks" if !at.starts_with("reports") => {}
                other => self.problems.push(format!("unknown key `{at}.{other}`")),
            }
        }
        given.then_some(files)
    }

    /// Globs relative to a base directory: anchored there, as CodeBuild's.
    fn patterns(&mut self, value: &Yaml, at: &str) -> Vec<Pattern> {
        let mut patterns = Vec::new();
        for (index, glob) in self.list(value, at).into_iter().enumerate() {
            let anchored = format!("/{}", glob.trim().trim_start_matches("./"));
            match Pattern::new(&anchored) {
                Ok(p) => patterns.push(p),
                Err(e) => self
                    .problems
                    .push(format!("{at}[{index}]: pattern `{glob}`: {e}")),
            }
        }
        patterns
    }

    /// A list of scalars, or one scalar.
    fn list(&mut self, value: &Yaml, at: &str) -> Vec<String> {
        match value {
            Yaml::Array(items) => items
                .iter()
                .enumerate()
                .filter_map(|(i, item)| self.scalar(item, &format!("{at}[{i}]")))
                .collect(),
            Yaml::Null => Vec::new(),
            other => self.scalar(other, at).into_iter().collect(),
        }
    }

    /// A mapping's entries by string key; anything else is a problem.
    fn entries<'a>(&mut self, value: &'a Yaml, at: &str) -> Vec<(String, &'a Yaml)> {
        match value {
            Yaml::Hash(hash) => hash
                .iter()
                .filter_map(|(k, v)| match k {
                    Yaml::String(k) => Some((k.clone(), v)),
                    other => {
                        self.problems.push(format!(
                            "{}a key must be a name, not `{}`",
                            if at.is_empty() {
                                String::new()
                            } else {
                                format!("{at}: ")
                            },
                            scalar_text(other).unwrap_or_default()
                        ));
                        None
                    }
                })
                .collect(),
            Yaml::Null => Vec::new(),
            _ => {
                self.problems.push(format!("{at} must be a mapping"));
                Vec::new()
            }
        }
    }

    fn scalar(&mut self, value: &Yaml, at: &str) -> Option<String> {
        let text = scalar_text(value);
        if text.is_none() {
            self.problems.push(format!("{at} must be a single value"));
        }
        text
    }

    fn flag(&mut self, value: &Yaml, at: &str) -> bool {
        match value {
            Yaml::Boolean(b) => *b,
            Yaml::String(s) if s == "yes" => true,
            Yaml::String(s) if s == "no" => false,
            _ => {
                self.problems.push(format!("{at} must be yes or no"));
                false
            }
        }
    }

    fn refuse(&mut self, at: &str, why: &str) {
        self.problems
            .push(format!("`{at}` is not supported: {why}"));
    }

    fn ignore(&mut self, at: &str, why: &str) {
        self.warnings.push(format!("`{at}` is ignored: {why}"));
    }
}

fn scalar_text(value: &Yaml) -> Option<String> {
    match value {
        Yaml::String(s) | Yaml::Real(s) => Some(s.clone()),
        Yaml::Integer(i) => Some(i.to_string()),
        Yaml::Boolean(b) => Some(b.to_string()),
        _ => None,
    }
}

/// Whether `name` can be a shell variable's name.
fn is_identifier(name: &str) -> bool {
    let mut chars = name.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
        && name.len() <= 128
}

#[cfg(test)]
mod tests {
    use super::*;

    const FULL: &str = r#"
version: 0.2
env:
  shell: bash
  variables:
    GREETING: hello
    JOBS: 4
    EMPTY:
  exported-variables:
    - APP_VERSION
phases:
  install:
    runtime-versions:
      nodejs: 20
    commands:
      - echo installing
  pre_build:
    on-failure: ABORT
    commands: ["echo pre"]
  build:
    commands:
      - APP_VERSION=$(cat VERSION)
      - |
        mkdir -p dist
        echo "$GREETING" > dist/app.txt
    finally:
      - echo cleaning
  post_build:
    commands:
      - echo done
artifacts:
  name: ignored
  files:
    - '**/*'
  base-directory: dist
  exclude-paths: ['**/*.tmp']
  secondary-artifacts:
    Docs:
      files: ['*.md']
      base-directory: $CODEBUILD_SRC_DIR/docs
      discard-paths: yes
reports:
  unit:
    files: ['results/*.xml']
cache:
  paths: ['/root/.m2/**/*']
"#;

    #[test]
    fn a_buildspec_gives_phases_variables_outputs_and_reports() {
        let parsed = parse(FULL).unwrap();
        let spec = &parsed.spec;
        assert_eq!(spec.dialect, Dialect::CodeBuild);
        assert_eq!(spec.shell, "bash");
        assert_eq!(
            spec.env,
            [
                ("GREETING".to_string(), "hello".to_string()),
                ("JOBS".to_string(), "4".to_string()),
                ("EMPTY".to_string(), String::new()),
            ]
        );
        assert_eq!(spec.exported, ["APP_VERSION"]);
        let names: Vec<&str> = spec.phases.iter().map(|p| p.name).collect();
        assert_eq!(names, PHASES);
        assert_eq!(spec.phases[0].commands, ["echo installing"]);
        assert_eq!(spec.phases[1].commands, ["echo pre"]);
        assert_eq!(
            spec.phases[2].commands,
            [
                "APP_VERSION=$(cat VERSION)",
                "mkdir -p dist\necho \"$GREETING\" > dist/app.txt\n"
            ]
        );
        assert_eq!(spec.phases[2].finally, ["echo cleaning"]);

        let primary = &spec.artifacts[0];
        assert_eq!(
            (primary.name.as_str(), primary.base_directory.as_str()),
            ("", "dist")
        );
        assert!(primary.patterns[0].matches("app.txt") && primary.patterns[0].matches("a/b/c"));
        assert!(primary.exclude[0].matches("x/y.tmp"));
        let docs = &spec.artifacts[1];
        assert_eq!(docs.name, "Docs");
        assert_eq!(docs.base_directory, "$CODEBUILD_SRC_DIR/docs");
        assert!(docs.discard_paths);
        // Relative to the base directory, `*` stays in its folder.
        assert!(docs.patterns[0].matches("guide.md"));
        assert!(!docs.patterns[0].matches("old/guide.md"));

        assert_eq!(spec.reports.len(), 1);
        assert_eq!(spec.reports[0].files.name, "unit");
        assert_eq!(spec.reports[0].format, "JUNITXML");
        assert!(spec.reports[0].files.patterns[0].matches("results/unit.xml"));

        assert_eq!(parsed.warnings.len(), 2, "{:?}", parsed.warnings);
        assert!(parsed.warnings[0].contains("runtime-versions"));
        assert!(parsed.warnings[1].contains("cache"));
    }

    #[test]
    fn what_sluice_cannot_do_is_refused_by_name() {
        for (text, words) in [
            (
                "version: 0.1\nphases: {build: {commands: [make]}}",
                "version 0.1",
            ),
            (
                "phases: {build: {commands: [make]}}",
                "`version` is missing",
            ),
            (
                "version: 0.2\nphases: {build: {commands: []}}",
                "no commands",
            ),
            (
                "version: 0.2\nenv:\n  parameter-store:\n    DB: /prod/db\nphases: {build: {commands: [make]}}",
                "`env.parameter-store` is not supported",
            ),
            (
                "version: 0.2\nenv:\n  secrets-manager:\n    KEY: arn:x\nphases: {build: {commands: [make]}}",
                "`env.secrets-manager` is not supported",
            ),
            (
                "version: 0.2\nrun-as: root\nphases: {build: {commands: [make]}}",
                "`run-as` is not supported",
            ),
            (
                "version: 0.2\nbatch: {fast-fail: true}\nphases: {build: {commands: [make]}}",
                "batch builds",
            ),
            (
                "version: 0.2\nphases: {build: {on-failure: CONTINUE, commands: [make]}}",
                "`CONTINUE` is not supported",
            ),
            (
                "version: 0.2\nphases:\n  build:\n    commands:\n      - echo key: value\n",
                "phases.build.commands[0] is a mapping, not a command",
            ),
            (
                "version: 0.2\nenv: {shell: powershell.exe}\nphases: {build: {commands: [make]}}",
                "not a shell Sluice runs",
            ),
            (
                "version: 0.2\nenv: {exported-variables: [my-var]}\nphases: {build: {commands: [make]}}",
                "env.exported-variables[0]: `my-var` is not a variable name",
            ),
            (
                "version: 0.2\nphases: {build: {commands: [make]}}\nartifacts: {secondary-artifacts: {Out: {base-directory: x}}}",
                "artifacts.secondary-artifacts.Out has no `files`",
            ),
            (
                "version: 0.2\nphases: {build: {commands: [make]}}\nartifacts: {files: ['['], colour: red}",
                "pattern `[`",
            ),
            (
                "version: 0.2\nphase: {build: {commands: [make]}}",
                "unknown key `phase`",
            ),
            ("[1, 2]", "not a mapping"),
            (
                "version: 0.2\nphases: {build: {commands: [make]}}\n---\nx: 1",
                "several YAML documents",
            ),
            ("version: [0.2", "not YAML"),
        ] {
            let problems = parse(text).unwrap_err();
            assert!(
                problems.iter().any(|p| p.contains(words)),
                "{words:?} not in {problems:?}"
            );
        }
        let problems =
            parse("version: 0.2\nphases: {build: {commands: [make]}}\nartifacts: {files: ['['], colour: red}")
                .unwrap_err();
        assert_eq!(problems.len(), 2, "every problem is reported: {problems:?}");
    }
}
