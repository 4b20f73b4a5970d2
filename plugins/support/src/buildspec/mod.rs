//! A build specification, CodeBuild-like: phases of shell commands
//! (`Install`, `PreBuild`, `Build`, `PostBuild`) run through the `process`
//! grant in a workspace made of the input artifacts, with an environment,
//! and output artifacts collected from the workspace by globs.
//!
//! It is given one of two ways: by the configuration's own properties, or
//! by `BuildSpec`, a CodeBuild buildspec (version 0.2, see
//! [`crate::codebuild`]) read when the action runs, from the primary
//! source or from the property itself. A buildspec's commands share one
//! shell's variables and folder, as CodeBuild's do; `post_build` runs
//! after a failed `build`; `exported-variables` become output variables.
//!
//! - [`collect`]: which files make each output artifact and report.
//! - [`run`]: running the phases and reading the variables they export.

mod collect;
mod run;

pub use collect::{collect_artifacts, report_files};
pub use run::{exported_variables, parse_variables, run_phases, with_exported};

use crate::glob::Pattern;
use sluice_sdk::{Config, Context, Failure, Job, Property};
use std::path::{Path, PathBuf};

/// The phases, in the order they run, with their property names.
pub const PHASES: [(&str, &str); 4] = [
    ("Install", "install"),
    ("PreBuild", "pre_build"),
    ("Build", "build"),
    ("PostBuild", "post_build"),
];

/// Where the workspace is, inside the sandbox (and inside the programs'
/// sandbox, which sees the same paths).
pub const WORKSPACE: &str = "/scratch/workspace";

/// The file commands append `NAME=value` lines to (its path is in
/// `$SLUICE_OUTPUT_VARIABLES`): each becomes an output variable of the
/// action, the last value of a name winning. It lives beside the workspace,
/// not in it, so it never lands in an artifact.
pub const VARIABLES_FILE: &str = "/scratch/output-variables.env";

/// The properties that say what a buildspec says, so cannot be given with
/// `BuildSpec`.
const SAID_BY_BUILDSPEC: [&str; 8] = [
    "Install",
    "PreBuild",
    "Build",
    "PostBuild",
    "Artifacts",
    "BaseDirectory",
    "Shell",
    "WorkingDirectory",
];

/// The configuration properties a build specification understands.
pub fn properties() -> Vec<Property> {
    let mut properties: Vec<Property> = PHASES
        .iter()
        .map(|(name, phase)| {
            Property::optional(
                *name,
                format!("Commands of the {phase} phase, one per line, run with the shell."),
            )
        })
        .collect();
    properties.push(Property::optional(
        "Environment",
        "Environment variables for every command, NAME=value, one per line.",
    ));
    properties.push(Property::optional(
        "Artifacts",
        "Files that make each output artifact: `OutputName: glob, glob` per line (with one output, \
         just `glob, glob`); default `**` (the whole workspace).",
    ));
    properties.push(Property::optional(
        "BaseDirectory",
        "Collect output files from this folder of the workspace, paths relative to it (default: the root).",
    ));
    properties.push(Property::optional(
        "Shell",
        "The program that runs each command as `SHELL -c COMMAND` (default `sh`); it must be granted.",
    ));
    properties.push(Property::optional(
        "WorkingDirectory",
        "Where commands run, relative to the workspace (default: its root).",
    ));
    properties.push(Property::optional(
        "BuildSpec",
        "A CodeBuild buildspec (version 0.2) instead of the phase properties, `Artifacts`, \
         `BaseDirectory`, `Shell` and `WorkingDirectory`: a path in the primary source (e.g. \
         `buildspec.yml`), read when the action runs, or the YAML itself (a value of several \
         lines). Its commands share one shell's variables and folder; `post_build` runs after a \
         failed `build`; `env.exported-variables` become output variables; `artifacts` and \
         `secondary-artifacts` make the outputs, by output name. `Environment` overrides its \
         `env.variables`.",
    ));
    properties.push(Property::optional(
        "PrimarySource",
        "The input artifact at the workspace's root (default: the first); the others are in \
         folders named after them. With `BuildSpec`, $CODEBUILD_SRC_DIR is the root and \
         $CODEBUILD_SRC_DIR_<name> each other input's folder.",
    ));
    properties
}

/// How a specification's commands run and its files are picked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    /// The configuration's properties: each command in a fresh shell, the
    /// first failure ending the build; globs as in ignore files.
    Properties,
    /// A CodeBuild buildspec: commands share one shell's variables and
    /// folder, `post_build` runs after a failed `build`, globs are
    /// relative to their base directory.
    CodeBuild,
}

/// One phase's commands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Phase {
    /// The phase: `install`, `pre_build`, `build` or `post_build`.
    pub name: &'static str,
    /// Its commands, in order; the first that fails ends the phase.
    pub commands: Vec<String>,
    /// Commands run after `commands` even when one of them failed.
    pub finally: Vec<String>,
}

/// Files picked from a folder of the workspace, for an output artifact or
/// a report.
#[derive(Debug, Clone)]
pub struct Files {
    /// The output artifact or report group (empty: the only or primary
    /// output).
    pub name: String,
    /// Files to take, relative to `base_directory` (none: every file).
    pub patterns: Vec<Pattern>,
    /// Files to leave out.
    pub exclude: Vec<Pattern>,
    /// The folder of the workspace the paths are relative to (empty: the
    /// root).
    pub base_directory: String,
    /// Whether each file lands at the output's root, under its name only.
    pub discard_paths: bool,
}

/// A report group of a buildspec.
#[derive(Debug, Clone)]
pub struct Report {
    /// Its files.
    pub files: Files,
    /// Its `file-format`, upper case (`JUNITXML` when not given).
    pub format: String,
}

/// A parsed build specification.
#[derive(Debug, Clone)]
pub struct Spec {
    /// Where it came from.
    pub dialect: Dialect,
    /// Phases with their commands, in order.
    pub phases: Vec<Phase>,
    /// Environment for every command.
    pub env: Vec<(String, String)>,
    /// What makes each output artifact.
    pub artifacts: Vec<Files>,
    /// Report groups (a buildspec's `reports`).
    pub reports: Vec<Report>,
    /// Variables whose values at the end become output variables (a
    /// buildspec's `env.exported-variables`).
    pub exported: Vec<String>,
    /// The shell.
    pub shell: String,
    /// Where commands run, inside the workspace.
    pub working_directory: String,
}

impl Spec {
    /// Reads the specification from the configuration's properties; every
    /// problem is reported.
    pub fn from_config(config: &Config) -> Result<Spec, Vec<String>> {
        let mut problems = Vec::new();
        let phases: Vec<Phase> = PHASES
            .iter()
            .map(|(name, phase)| Phase {
                name: phase,
                commands: config
                    .get(name)
                    .unwrap_or("")
                    .lines()
                    .map(str::trim)
                    .filter(|l| !l.is_empty() && !l.starts_with('#'))
                    .map(str::to_owned)
                    .collect(),
                finally: Vec::new(),
            })
            .collect();
        let env = environment(config, &mut problems);
        let base_directory = config
            .get_or("BaseDirectory", "")
            .trim_matches('/')
            .to_string();
        if base_directory.split('/').any(|p| p == "..") {
            problems.push(
                "configuration property `BaseDirectory` must stay inside the workspace".into(),
            );
        }
        let mut artifacts = Vec::new();
        for line in config
            .get("Artifacts")
            .unwrap_or("")
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty())
        {
            let (name, globs) = match line.split_once(':') {
                Some((n, g)) if !n.contains(['*', '?', '[', '/']) => (n.trim().to_string(), g),
                _ => (String::new(), line),
            };
            let mut patterns = Vec::new();
            for glob in globs.split(',').map(str::trim).filter(|g| !g.is_empty()) {
                match Pattern::new(glob) {
                    Ok(p) => patterns.push(p),
                    Err(e) => problems.push(format!(
                        "configuration property `Artifacts`: pattern `{glob}`: {e}"
                    )),
                }
            }
            artifacts.push(Files::all(name, &base_directory).with(patterns));
        }
        if artifacts.is_empty() {
            // The whole base directory, for an action with one output.
            artifacts.push(Files::all(String::new(), &base_directory));
        }
        let working_directory = config
            .get_or("WorkingDirectory", "")
            .trim_matches('/')
            .to_string();
        if working_directory.split('/').any(|p| p == "..") {
            problems.push(
                "configuration property `WorkingDirectory` must stay inside the workspace".into(),
            );
        }
        if problems.is_empty() {
            Ok(Spec {
                dialect: Dialect::Properties,
                phases,
                env,
                artifacts,
                reports: Vec::new(),
                exported: Vec::new(),
                shell: config.get_or("Shell", "sh").to_string(),
                working_directory,
            })
        } else {
            Err(problems)
        }
    }

    /// Whether any phase has a command.
    pub fn has_commands(&self) -> bool {
        self.phases
            .iter()
            .any(|p| !p.commands.is_empty() || !p.finally.is_empty())
    }
}

impl Files {
    /// Every file of `base_directory`.
    fn all(name: String, base_directory: &str) -> Files {
        Files {
            name,
            patterns: Vec::new(),
            exclude: Vec::new(),
            base_directory: base_directory.to_string(),
            discard_paths: false,
        }
    }

    fn with(mut self, patterns: Vec<Pattern>) -> Files {
        self.patterns = patterns;
        self
    }
}

/// The action's build as its configuration gives it, before the workspace
/// exists: the specification itself, or the buildspec to read.
#[derive(Debug, Clone)]
pub struct Setup {
    primary_source: Option<String>,
    how: How,
}

#[derive(Debug, Clone)]
enum How {
    Properties(Spec),
    BuildSpec {
        /// A path in the primary source, or the YAML itself.
        reference: String,
        /// The inline buildspec, parsed.
        inline: Option<Spec>,
        /// `Environment`, overriding the buildspec's variables.
        environment: Vec<(String, String)>,
    },
}

impl Setup {
    /// Reads the configuration; every problem is reported (an inline
    /// buildspec is checked here, one in the primary source when the
    /// action runs).
    pub fn from_config(config: &Config) -> Result<Setup, Vec<String>> {
        let primary_source = config
            .get("PrimarySource")
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_owned);
        let Some(reference) = config.get("BuildSpec") else {
            return Spec::from_config(config).map(|spec| Setup {
                primary_source,
                how: How::Properties(spec),
            });
        };
        let mut problems = Vec::new();
        for name in SAID_BY_BUILDSPEC {
            if config.get(name).is_some() {
                problems.push(format!(
                    "configuration property `{name}` cannot be given with `BuildSpec`: the buildspec says it"
                ));
            }
        }
        let environment = environment(config, &mut problems);
        let reference = reference.trim();
        let mut inline = None;
        if reference.is_empty() {
            problems.push("configuration property `BuildSpec` is empty".into());
        } else if reference.contains('\n') {
            match crate::codebuild::parse(reference) {
                Ok(parsed) => inline = Some(parsed.spec),
                Err(found) => problems.extend(
                    found
                        .into_iter()
                        .map(|p| format!("configuration property `BuildSpec`: {p}")),
                ),
            }
        } else if reference.starts_with('/') || reference.split('/').any(|p| p == "..") {
            problems.push(format!(
                "configuration property `BuildSpec`: `{reference}` must be a path inside the primary source"
            ));
        }
        if problems.is_empty() {
            Ok(Setup {
                primary_source,
                how: How::BuildSpec {
                    reference: reference.to_string(),
                    inline,
                    environment,
                },
            })
        } else {
            Err(problems)
        }
    }

    /// Whether there is a command to run (a buildspec to read counts).
    pub fn has_commands(&self) -> bool {
        match &self.how {
            How::Properties(spec) => spec.has_commands(),
            How::BuildSpec { .. } => true,
        }
    }

    /// The input artifact at the workspace's root, when named.
    pub fn primary_source(&self) -> Option<&str> {
        self.primary_source.as_deref()
    }

    /// The specification to run in `workspace` (made by
    /// [`prepare_workspace`]): the properties', or the buildspec's, read
    /// from the primary source, with CodeBuild's variables.
    pub fn spec(&self, job: &Job, workspace: &Path) -> Result<Spec, Failure> {
        let (reference, inline, environment) = match &self.how {
            How::Properties(spec) => return Ok(spec.clone()),
            How::BuildSpec {
                reference,
                inline,
                environment,
            } => (reference, inline, environment),
        };
        let mut spec = match inline {
            Some(spec) => spec.clone(),
            None => {
                let path = workspace.join(reference);
                let text = match std::fs::read_to_string(&path) {
                    Ok(text) => text,
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                        return Err(Failure::configuration(format!(
                            "there is no buildspec `{reference}` in the primary source{}",
                            match primary_index(job, self.primary_source())? {
                                Some(i) => format!(" (input artifact `{}`)", job.inputs[i].name),
                                None => " (the action has no input artifact)".into(),
                            }
                        )));
                    }
                    Err(e) => {
                        return Err(Failure::job_failed(format!(
                            "reading buildspec `{reference}`: {e}"
                        )));
                    }
                };
                let parsed = crate::codebuild::parse(&text).map_err(|problems| {
                    Failure::configuration(format!(
                        "buildspec `{reference}`: {}",
                        problems.join("; ")
                    ))
                })?;
                for warning in &parsed.warnings {
                    sluice_sdk::warn!("buildspec `{reference}`: {warning}");
                }
                parsed.spec
            }
        };
        // CodeBuild's own variables win over the buildspec's and the
        // action's: they say where things are.
        for (name, value) in environment
            .iter()
            .cloned()
            .chain(codebuild_variables(job, self.primary_source())?)
        {
            set(&mut spec.env, name, value);
        }
        for files in spec
            .artifacts
            .iter_mut()
            .chain(spec.reports.iter_mut().map(|r| &mut r.files))
        {
            files.base_directory =
                inside_workspace(&files.base_directory, &spec.env).map_err(|e| {
                    Failure::configuration(format!(
                        "base-directory `{}`: {e}",
                        files.base_directory
                    ))
                })?;
        }
        Ok(spec)
    }
}

/// The variables CodeBuild sets that mean something here.
fn codebuild_variables(
    job: &Job,
    primary_source: Option<&str>,
) -> Result<Vec<(String, String)>, Failure> {
    let primary = primary_index(job, primary_source)?;
    let mut variables = vec![
        ("CODEBUILD_SRC_DIR".to_string(), WORKSPACE.to_string()),
        ("CODEBUILD_BUILD_ID".to_string(), job.id.clone()),
        (
            "CODEBUILD_INITIATOR".to_string(),
            format!("codepipeline/{}", job.pipeline),
        ),
        ("CODEBUILD_BUILD_SUCCEEDING".to_string(), "1".to_string()),
    ];
    for (index, input) in job.inputs.iter().enumerate() {
        if Some(index) != primary {
            variables.push((
                format!("CODEBUILD_SRC_DIR_{}", input.name),
                format!("{WORKSPACE}/{}", input.name),
            ));
        }
    }
    if let Some(revision) = primary.and_then(|i| job.inputs[i].revision.clone()) {
        variables.push(("CODEBUILD_RESOLVED_SOURCE_VERSION".to_string(), revision));
    }
    Ok(variables)
}

/// Sets `name` in `env`, replacing its value where it is already set.
fn set(env: &mut Vec<(String, String)>, name: String, value: String) {
    match env.iter_mut().find(|(n, _)| *n == name) {
        Some(existing) => existing.1 = value,
        None => env.push((name, value)),
    }
}

/// `path` (a base directory, which may use `$VARIABLE`s of `env`) as a
/// folder of the workspace, relative to its root.
fn inside_workspace(path: &str, env: &[(String, String)]) -> Result<String, String> {
    let mut expanded = String::new();
    let mut rest = path;
    while let Some(at) = rest.find('$') {
        expanded.push_str(&rest[..at]);
        let after = &rest[at + 1..];
        let (name, next) = match after.strip_prefix('{') {
            Some(braced) => {
                let end = braced.find('}').ok_or("a `${` without its `}`")?;
                (&braced[..end], &braced[end + 1..])
            }
            None => {
                let end = after
                    .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                    .unwrap_or(after.len());
                (&after[..end], &after[end..])
            }
        };
        let value = env
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v)
            .ok_or_else(|| format!("`${name}` is not a variable of the build"))?;
        expanded.push_str(value);
        rest = next;
    }
    expanded.push_str(rest);
    let relative = if expanded.starts_with('/') {
        if expanded == WORKSPACE {
            ""
        } else {
            expanded
                .strip_prefix(WORKSPACE)
                .and_then(|r| r.strip_prefix('/'))
                .ok_or_else(|| format!("`{expanded}` is outside the workspace ({WORKSPACE})"))?
        }
    } else {
        expanded.as_str()
    };
    let parts: Vec<&str> = relative
        .split('/')
        .filter(|p| !p.is_empty() && *p != ".")
        .collect();
    if parts.contains(&"..") {
        return Err("it must stay inside the workspace".into());
    }
    Ok(parts.join("/"))
}

/// `Environment`: NAME=value lines.
fn environment(config: &Config, problems: &mut Vec<String>) -> Vec<(String, String)> {
    let mut env = Vec::new();
    for line in config
        .get("Environment")
        .unwrap_or("")
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
    {
        match line.split_once('=') {
            Some((k, v)) if !k.trim().is_empty() => {
                env.push((k.trim().to_string(), v.trim().to_string()))
            }
            _ => problems.push(format!(
                "configuration property `Environment`: `{line}` is not NAME=value"
            )),
        }
    }
    env
}

/// Which input is the primary source: `primary_source` when named, else
/// the first; none when there is no input.
fn primary_index(job: &Job, primary_source: Option<&str>) -> Result<Option<usize>, Failure> {
    match primary_source {
        None => Ok((!job.inputs.is_empty()).then_some(0)),
        Some(name) => match job.inputs.iter().position(|i| i.name == name) {
            Some(index) => Ok(Some(index)),
            None => Err(Failure::configuration(format!(
                "configuration property `PrimarySource`: `{name}` is not an input artifact of the action (its inputs: {})",
                if job.inputs.is_empty() {
                    "none".to_string()
                } else {
                    job.inputs
                        .iter()
                        .map(|i| i.name.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                }
            ))),
        },
    }
}

/// Makes the workspace: the primary source's files (the first input's,
/// unless `primary_source` names another) at its root, any other input
/// under a folder named after it.
pub fn prepare_workspace(job: &Job, primary_source: Option<&str>) -> Result<PathBuf, Failure> {
    let primary = primary_index(job, primary_source)?;
    let workspace = PathBuf::from(WORKSPACE);
    std::fs::create_dir_all(&workspace).context("creating the workspace")?;
    for (index, input) in job.inputs.iter().enumerate() {
        let target = if Some(index) == primary {
            workspace.clone()
        } else {
            workspace.join(&input.name)
        };
        sluice_sdk::fs::copy_tree(input.path(), &target).context(format!(
            "copying input artifact `{}` into the workspace",
            input.name
        ))?;
    }
    Ok(workspace)
}

/// "ran 1 command", "ran 3 commands".
pub fn ran(count: usize) -> String {
    format!("ran {count} command{}", if count == 1 { "" } else { "s" })
}

/// At most `lines` last lines of `text`, and at most `max` bytes.
pub fn last_lines(text: &str, lines: usize, max: usize) -> String {
    let all: Vec<&str> = text.lines().collect();
    let mut tail = all[all.len().saturating_sub(lines)..].join("\n");
    if tail.len() > max {
        let mut cut = tail.len() - max;
        while !tail.is_char_boundary(cut) {
            cut += 1;
        }
        tail = format!("…{}", &tail[cut..]);
    }
    tail
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_spec_reads_phases_environment_and_artifacts() {
        let config: Config = [
            ("Install", "echo one\n# a comment\n\necho two"),
            ("Build", "make"),
            ("Environment", "A=1\nB = two"),
            ("Artifacts", "Bin: build/**, *.txt\nDocs: docs/**"),
        ]
        .into_iter()
        .collect();
        let spec = Spec::from_config(&config).unwrap();
        assert_eq!(spec.phases[0].name, "install");
        assert_eq!(spec.phases[0].commands, ["echo one", "echo two"]);
        assert_eq!(spec.phases[2].commands, ["make"]);
        assert_eq!(
            spec.env,
            [
                ("A".to_string(), "1".to_string()),
                ("B".to_string(), "two".to_string())
            ]
        );
        assert_eq!(spec.artifacts.len(), 2);
        assert!(spec.artifacts[0].patterns[0].matches("build/bin/app"));
        assert_eq!(spec.shell, "sh");
        assert_eq!(spec.dialect, Dialect::Properties);
        let bad: Config = [("Environment", "nothing"), ("Artifacts", "X: [")]
            .into_iter()
            .collect();
        assert_eq!(Spec::from_config(&bad).unwrap_err().len(), 2);
    }

    #[test]
    fn a_buildspec_replaces_the_phase_properties() {
        let config: Config = [("BuildSpec", "ci/buildspec.yml"), ("PrimarySource", "Src")]
            .into_iter()
            .collect();
        let setup = Setup::from_config(&config).unwrap();
        assert!(setup.has_commands());
        assert_eq!(setup.primary_source(), Some("Src"));

        let mixed: Config = [("BuildSpec", "buildspec.yml"), ("Build", "make")]
            .into_iter()
            .collect();
        assert_eq!(
            Setup::from_config(&mixed).unwrap_err(),
            [
                "configuration property `Build` cannot be given with `BuildSpec`: the buildspec says it"
            ]
        );
        let outside: Config = [("BuildSpec", "../elsewhere.yml")].into_iter().collect();
        assert!(Setup::from_config(&outside).unwrap_err()[0].contains("inside the primary source"));
        // An inline buildspec is checked when the action is applied.
        let inline: Config = [(
            "BuildSpec",
            "version: 0.2\nphases:\n  biuld:\n    commands: [make]\n",
        )]
        .into_iter()
        .collect();
        let problems = Setup::from_config(&inline).unwrap_err();
        assert!(
            problems[0].starts_with("configuration property `BuildSpec`: unknown phase `biuld`"),
            "{problems:?}"
        );
    }

    #[test]
    fn base_directories_expand_codebuilds_variables_inside_the_workspace() {
        let env = vec![
            ("CODEBUILD_SRC_DIR".to_string(), WORKSPACE.to_string()),
            (
                "CODEBUILD_SRC_DIR_Docs".to_string(),
                format!("{WORKSPACE}/Docs"),
            ),
        ];
        assert_eq!(inside_workspace("dist/", &env).unwrap(), "dist");
        assert_eq!(inside_workspace("./dist/./bin", &env).unwrap(), "dist/bin");
        assert_eq!(inside_workspace("$CODEBUILD_SRC_DIR", &env).unwrap(), "");
        assert_eq!(
            inside_workspace("${CODEBUILD_SRC_DIR_Docs}/site", &env).unwrap(),
            "Docs/site"
        );
        assert!(
            inside_workspace("$HOME/x", &env)
                .unwrap_err()
                .contains("`$HOME`")
        );
        assert!(
            inside_workspace("/etc", &env)
                .unwrap_err()
                .contains("outside")
        );
        assert!(
            inside_workspace("a/../../b", &env)
                .unwrap_err()
                .contains("inside")
        );
    }

    #[test]
    fn last_lines_are_bounded() {
        let text = (1..=30)
            .map(|i| format!("line {i}"))
            .collect::<Vec<_>>()
            .join("\n");
        let tail = last_lines(&text, 3, 1000);
        assert_eq!(tail, "line 28\nline 29\nline 30");
        assert!(last_lines(&"x".repeat(5000), 3, 100).len() <= 104);
    }
}
