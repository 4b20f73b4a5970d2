//! A build specification, CodeBuild-like: phases of shell commands
//! (`Install`, `PreBuild`, `Build`, `PostBuild`) run through the `process`
//! grant in a workspace made of the input artifacts, with an environment,
//! and output artifacts collected from the workspace by globs.

use crate::glob::Pattern;
use sluice_sdk::fs::list_files;
use sluice_sdk::process::Command;
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

/// At most this many exported variables, and this many bytes in the file.
const MAX_VARIABLES: usize = 100;
const MAX_VARIABLES_BYTES: u64 = 64 << 10;

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
    properties
}

/// A parsed build specification.
#[derive(Debug, Clone)]
pub struct Spec {
    /// Phases with their commands, in order.
    pub phases: Vec<(&'static str, Vec<String>)>,
    /// Environment for every command.
    pub env: Vec<(String, String)>,
    /// Output name (empty: the only output) and its patterns.
    pub artifacts: Vec<(String, Vec<Pattern>)>,
    /// The shell.
    pub shell: String,
    /// Where commands run, inside the workspace.
    pub working_directory: String,
    /// Where outputs are collected from, inside the workspace.
    pub base_directory: String,
}

impl Spec {
    /// Reads the specification from the configuration; every problem is
    /// reported.
    pub fn from_config(config: &Config) -> Result<Spec, Vec<String>> {
        let mut problems = Vec::new();
        let phases: Vec<(&'static str, Vec<String>)> = PHASES
            .iter()
            .map(|(name, phase)| {
                let commands: Vec<String> = config
                    .get(name)
                    .unwrap_or("")
                    .lines()
                    .map(str::trim)
                    .filter(|l| !l.is_empty() && !l.starts_with('#'))
                    .map(str::to_owned)
                    .collect();
                (*phase, commands)
            })
            .collect();
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
            artifacts.push((name, patterns));
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
        let base_directory = config
            .get_or("BaseDirectory", "")
            .trim_matches('/')
            .to_string();
        if base_directory.split('/').any(|p| p == "..") {
            problems.push(
                "configuration property `BaseDirectory` must stay inside the workspace".into(),
            );
        }
        if problems.is_empty() {
            Ok(Spec {
                phases,
                env,
                artifacts,
                shell: config.get_or("Shell", "sh").to_string(),
                working_directory,
                base_directory,
            })
        } else {
            Err(problems)
        }
    }

    /// Whether any phase has a command.
    pub fn has_commands(&self) -> bool {
        self.phases.iter().any(|(_, c)| !c.is_empty())
    }
}

/// Makes the workspace: the first input artifact's files at its root, any
/// other input under a folder named after it.
pub fn prepare_workspace(job: &Job) -> Result<PathBuf, Failure> {
    let workspace = PathBuf::from(WORKSPACE);
    std::fs::create_dir_all(&workspace).context("creating the workspace")?;
    for (index, input) in job.inputs.iter().enumerate() {
        let target = if index == 0 {
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

/// Runs every command of every phase, in order, stopping at the first that
/// fails (its command and last output lines make the failure's message).
pub fn run_phases(spec: &Spec, workspace: &Path) -> Result<usize, Failure> {
    let cwd = if spec.working_directory.is_empty() {
        workspace.to_path_buf()
    } else {
        workspace.join(&spec.working_directory)
    };
    let mut ran = 0;
    std::fs::write(VARIABLES_FILE, "").context("creating the output variables file")?;
    for (phase, commands) in &spec.phases {
        for command in commands {
            sluice_sdk::info!("[{phase}] $ {command}");
            let mut call = Command::new(&spec.shell)
                .arg("-c")
                .arg(command)
                .cwd(cwd.display().to_string())
                .env("SLUICE_OUTPUT_VARIABLES", VARIABLES_FILE);
            for (k, v) in &spec.env {
                call = call.env(k, v);
            }
            let exit = call.run()?;
            ran += 1;
            if !exit.success() {
                let how = if exit.timed_out {
                    "ran past its time limit".to_string()
                } else {
                    match exit.code {
                        Some(code) => format!("exited with status {code}"),
                        None => "was killed".to_string(),
                    }
                };
                return Err(Failure::job_failed(format!(
                    "{phase} command `{command}` {how}\n{}",
                    last_lines(&exit.output_tail, 12, 1500)
                )));
            }
        }
    }
    Ok(ran)
}

/// The variables the commands exported through `$SLUICE_OUTPUT_VARIABLES`,
/// in the order first written, the last value of each name winning.
pub fn exported_variables() -> Result<Vec<(String, String)>, Failure> {
    let size = std::fs::metadata(VARIABLES_FILE)
        .map(|m| m.len())
        .unwrap_or(0);
    if size > MAX_VARIABLES_BYTES {
        return Err(Failure::job_failed(format!(
            "the commands wrote {size} bytes to $SLUICE_OUTPUT_VARIABLES; at most {MAX_VARIABLES_BYTES} are taken"
        )));
    }
    let text = match std::fs::read_to_string(VARIABLES_FILE) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => {
            return Err(Failure::job_failed(format!(
                "reading $SLUICE_OUTPUT_VARIABLES: {e}"
            )));
        }
    };
    parse_variables(&text).map_err(Failure::job_failed)
}

/// Adds the exported variables to `outcome`, after its own: a name the
/// provider already sets is left out with a warning.
pub fn with_exported(
    mut outcome: sluice_sdk::Outcome,
    own: &[&str],
) -> Result<sluice_sdk::Outcome, Failure> {
    for (name, value) in exported_variables()? {
        if own.contains(&name.as_str()) {
            sluice_sdk::warn!(
                "exported variable `{name}` is left out: the provider sets it itself"
            );
        } else {
            outcome = outcome.variable(name, value);
        }
    }
    Ok(outcome)
}

/// Parses `NAME=value` lines (blank lines ignored).
pub fn parse_variables(text: &str) -> Result<Vec<(String, String)>, String> {
    let mut variables: Vec<(String, String)> = Vec::new();
    for (number, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let Some((name, value)) = line.split_once('=') else {
            return Err(format!(
                "$SLUICE_OUTPUT_VARIABLES line {}: `{}` is not NAME=value",
                number + 1,
                last_lines(line, 1, 80)
            ));
        };
        let name = name.trim();
        if name.is_empty()
            || name.len() > 128
            || !name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
        {
            return Err(format!(
                "$SLUICE_OUTPUT_VARIABLES line {}: `{name}` is not a variable name (letters, digits, `_`, `-`)",
                number + 1
            ));
        }
        match variables.iter_mut().find(|(n, _)| n == name) {
            Some(existing) => existing.1 = value.to_string(),
            None => variables.push((name.to_string(), value.to_string())),
        }
        if variables.len() > MAX_VARIABLES {
            return Err(format!(
                "$SLUICE_OUTPUT_VARIABLES: more than {MAX_VARIABLES} variables"
            ));
        }
    }
    Ok(variables)
}

/// Copies the files the `Artifacts` patterns select into each output.
pub fn collect_artifacts(
    spec: &Spec,
    job: &Job,
    workspace: &Path,
) -> Result<Vec<(String, u64)>, Failure> {
    if job.outputs.is_empty() {
        return Ok(Vec::new());
    }
    let base = if spec.base_directory.is_empty() {
        workspace.to_path_buf()
    } else {
        workspace.join(&spec.base_directory)
    };
    if !base.is_dir() {
        return Err(Failure::job_failed(format!(
            "the commands made no folder `{}` to collect outputs from",
            spec.base_directory
        )));
    }
    let files = list_files(&base).context("listing the workspace")?;
    let mut collected = Vec::new();
    for output in &job.outputs {
        let patterns: Vec<&Pattern> = match spec.artifacts.iter().find(|(n, _)| *n == output.name) {
            Some((_, p)) => p.iter().collect(),
            None if job.outputs.len() == 1 => {
                match spec.artifacts.iter().find(|(n, _)| n.is_empty()) {
                    Some((_, p)) => p.iter().collect(),
                    None if spec.artifacts.is_empty() => Vec::new(),
                    None => {
                        return Err(Failure::configuration(format!(
                            "configuration property `Artifacts` says nothing of output `{}`",
                            output.name
                        )));
                    }
                }
            }
            None => {
                return Err(Failure::configuration(format!(
                    "configuration property `Artifacts` says nothing of output `{}`: write `{}: PATTERNS`",
                    output.name, output.name
                )));
            }
        };
        let mut count = 0u64;
        for file in &files {
            let text = file.to_string_lossy().replace('\\', "/");
            if !patterns.is_empty() && !patterns.iter().any(|p| p.matches(&text)) {
                continue;
            }
            let from = base.join(file);
            if !from.is_file() {
                continue;
            }
            let to = output.join(file);
            sluice_sdk::fs::copy_tree(&from, &to)
                .context(format!("copying {text} into output `{}`", output.name))?;
            count += 1;
        }
        if count == 0 {
            return Err(Failure::job_failed(format!(
                "output `{}`: no file in the workspace matches its patterns",
                output.name
            )));
        }
        collected.push((output.name.clone(), count));
    }
    Ok(collected)
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
        assert_eq!(
            spec.phases[0],
            (
                "install",
                vec!["echo one".to_string(), "echo two".to_string()]
            )
        );
        assert_eq!(spec.phases[2].1, ["make"]);
        assert_eq!(
            spec.env,
            [
                ("A".to_string(), "1".to_string()),
                ("B".to_string(), "two".to_string())
            ]
        );
        assert_eq!(spec.artifacts.len(), 2);
        assert!(spec.artifacts[0].1[0].matches("build/bin/app"));
        assert_eq!(spec.shell, "sh");
        let bad: Config = [("Environment", "nothing"), ("Artifacts", "X: [")]
            .into_iter()
            .collect();
        assert_eq!(Spec::from_config(&bad).unwrap_err().len(), 2);
    }

    #[test]
    fn exported_variables_parse_with_the_last_value_winning() {
        let parsed = parse_variables("A=1\n\nB = x=y\nA=2\n").unwrap();
        assert_eq!(
            parsed,
            [("A".into(), "2".into()), ("B".into(), " x=y".into())]
        );
        assert!(parse_variables("no equals").unwrap_err().contains("line 1"));
        assert!(
            parse_variables("a b=1")
                .unwrap_err()
                .contains("not a variable name")
        );
        let many: String = (0..=MAX_VARIABLES).map(|i| format!("V{i}=x\n")).collect();
        assert!(parse_variables(&many).unwrap_err().contains("more than"));
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
