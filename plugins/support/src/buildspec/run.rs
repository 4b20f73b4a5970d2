//! Running a specification's phases, and reading the variables its
//! commands export.

use super::{Dialect, Spec, VARIABLES_FILE, last_lines};
use sluice_sdk::process::Command;
use sluice_sdk::{Context, Failure};
use std::path::Path;

/// Where a buildspec's shell keeps what its commands share: the exported
/// variables (`env`), the folder (`cwd`), and the values of
/// `exported-variables` (`exported/NAME`). Outside the workspace, so never
/// in an artifact.
const SESSION: &str = "/scratch/codebuild";

/// At most this many exported variables, and this many bytes of them.
const MAX_VARIABLES: usize = 100;
const MAX_VARIABLES_BYTES: u64 = 64 << 10;

/// Runs the phases in order, each command with the shell, and returns how
/// many commands ran. A failing command ends its phase (after the phase's
/// `finally` commands) and the build, except that a buildspec's
/// `post_build` still runs after a failed `build`, with
/// `CODEBUILD_BUILD_SUCCEEDING=0`. The first failure, with its command and
/// last output lines, is the error.
pub fn run_phases(spec: &Spec, workspace: &Path) -> Result<usize, Failure> {
    let cwd = if spec.working_directory.is_empty() {
        workspace.to_path_buf()
    } else {
        workspace.join(&spec.working_directory)
    };
    let cwd = cwd.display().to_string();
    std::fs::write(VARIABLES_FILE, "").context("creating the output variables file")?;
    if spec.dialect == Dialect::CodeBuild {
        let _ = std::fs::remove_dir_all(SESSION);
        std::fs::create_dir_all(format!("{SESSION}/exported"))
            .context("creating the shell's state folder")?;
    }
    let mut ran = 0;
    let mut failed: Option<(&str, Failure)> = None;
    for phase in &spec.phases {
        if let Some((failed_in, _)) = &failed {
            let after_build = spec.dialect == Dialect::CodeBuild
                && *failed_in == "build"
                && phase.name == "post_build";
            if !after_build {
                break;
            }
        }
        let succeeding = failed.is_none();
        let mut phase_failure = None;
        for command in &phase.commands {
            ran += 1;
            if let Err(f) = run_command(spec, phase.name, command, &cwd, succeeding)? {
                phase_failure = Some(f);
                break;
            }
        }
        let finally = format!("{} finally", phase.name);
        for command in &phase.finally {
            ran += 1;
            if let Err(f) = run_command(spec, &finally, command, &cwd, succeeding)? {
                phase_failure.get_or_insert(f);
                break;
            }
        }
        if let Some(f) = phase_failure
            && failed.is_none()
        {
            failed = Some((phase.name, f));
        }
    }
    match failed {
        Some((_, failure)) => Err(failure),
        None => Ok(ran),
    }
}

/// Runs one command: `Err` when it could not be run, `Ok(Err)` when it
/// ran and failed.
fn run_command(
    spec: &Spec,
    phase: &str,
    command: &str,
    cwd: &str,
    succeeding: bool,
) -> Result<Result<(), Failure>, Failure> {
    sluice_sdk::info!("[{phase}] $ {command}");
    let script = match spec.dialect {
        Dialect::Properties => command.to_string(),
        Dialect::CodeBuild => in_session(spec, command, succeeding),
    };
    let mut call = Command::new(&spec.shell)
        .arg("-c")
        .arg(script)
        .cwd(cwd)
        .env("SLUICE_OUTPUT_VARIABLES", VARIABLES_FILE);
    for (k, v) in &spec.env {
        call = call.env(k, v);
    }
    let exit = call.run()?;
    if exit.success() {
        return Ok(Ok(()));
    }
    let how = if exit.timed_out {
        "ran past its time limit".to_string()
    } else {
        match exit.code {
            Some(code) => format!("exited with status {code}"),
            None => "was killed".to_string(),
        }
    };
    Ok(Err(Failure::job_failed(format!(
        "{phase} command `{command}` {how}\n{}",
        last_lines(&exit.output_tail, 12, 1500)
    ))))
}

/// `command` as a script that continues the buildspec's shell: it starts
/// with the variables (every assignment exported, `set -a`) and folder the
/// previous command left, and leaves its own, and the values of the
/// exported variables, when it exits, however it exits.
fn in_session(spec: &Spec, command: &str, succeeding: bool) -> String {
    let mut save = format!("export -p > {SESSION}/env; pwd > {SESSION}/cwd");
    for name in &spec.exported {
        // Names are checked to be shell identifiers when parsed.
        save.push_str(&format!(
            "; if [ -n \"${{{name}+x}}\" ]; then printf %s \"${name}\" > {SESSION}/exported/{name}; fi"
        ));
    }
    format!(
        "set -a\n\
         [ -f {SESSION}/env ] && . {SESSION}/env\n\
         [ -f {SESSION}/cwd ] && cd \"$(cat {SESSION}/cwd)\" 2>/dev/null\n\
         CODEBUILD_BUILD_SUCCEEDING={}\n\
         trap '{save}' EXIT\n\
         {command}\n",
        u8::from(succeeding)
    )
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

/// The values a buildspec's `exported-variables` had when its last command
/// ended; a variable never set is left out, with a warning.
fn buildspec_variables(spec: &Spec) -> Result<Vec<(String, String)>, Failure> {
    let mut variables = Vec::new();
    let mut bytes = 0;
    for name in &spec.exported {
        let path = format!("{SESSION}/exported/{name}");
        let size = match std::fs::metadata(&path) {
            Ok(m) => m.len(),
            Err(_) => {
                sluice_sdk::warn!(
                    "exported variable `{name}` was never set: it is left out of the output variables"
                );
                continue;
            }
        };
        bytes += size;
        if bytes > MAX_VARIABLES_BYTES {
            return Err(Failure::job_failed(format!(
                "the buildspec's exported variables hold more than {MAX_VARIABLES_BYTES} bytes"
            )));
        }
        let value = std::fs::read(&path).context(format!("reading exported variable `{name}`"))?;
        variables.push((name.clone(), String::from_utf8_lossy(&value).into_owned()));
    }
    Ok(variables)
}

/// Adds the exported variables (those written to
/// `$SLUICE_OUTPUT_VARIABLES`, then a buildspec's `exported-variables`,
/// the later winning) to `outcome`, after its own: a name the provider
/// already sets is left out with a warning.
pub fn with_exported(
    mut outcome: sluice_sdk::Outcome,
    spec: &Spec,
    own: &[&str],
) -> Result<sluice_sdk::Outcome, Failure> {
    let mut exported = exported_variables()?;
    for (name, value) in buildspec_variables(spec)? {
        match exported.iter_mut().find(|(n, _)| *n == name) {
            Some(existing) => existing.1 = value,
            None => exported.push((name, value)),
        }
    }
    for (name, value) in exported {
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

#[cfg(test)]
mod tests {
    use super::*;

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

    /// The session script, run by the host's `sh` as a granted program
    /// would run it (with the state folder moved under a temporary one):
    /// variables, exports and the folder carry from one command to the
    /// next, a command's status is kept, and exported values are written.
    #[test]
    fn a_buildspecs_commands_share_one_shells_variables_and_folder() {
        let dir = std::env::temp_dir().join(format!("sluice-session-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let session = dir.join("codebuild");
        std::fs::create_dir_all(session.join("exported")).unwrap();
        let spec = Spec {
            dialect: Dialect::CodeBuild,
            phases: Vec::new(),
            env: Vec::new(),
            artifacts: Vec::new(),
            reports: Vec::new(),
            exported: vec!["VERSION".into(), "NEVER".into()],
            shell: "sh".into(),
            working_directory: String::new(),
        };
        let run = |command: &str, succeeding: bool| {
            let script = in_session(&spec, command, succeeding)
                .replace(SESSION, &session.display().to_string());
            let out = std::process::Command::new("sh")
                .arg("-c")
                .arg(script)
                .current_dir(&dir)
                .output()
                .unwrap();
            (
                out.status.code(),
                String::from_utf8_lossy(&out.stdout).trim().to_string(),
            )
        };
        assert_eq!(
            run("VERSION=\"1.2 'three'\"; mkdir -p sub; cd sub", true).0,
            Some(0)
        );
        assert_eq!(
            run("echo \"$VERSION in ${PWD##*/}\"; exit 3", true),
            (Some(3), "1.2 'three' in sub".to_string())
        );
        assert_eq!(
            run("echo $CODEBUILD_BUILD_SUCCEEDING; VERSION=4", false),
            (Some(0), "0".to_string())
        );
        assert_eq!(
            std::fs::read_to_string(session.join("exported/VERSION")).unwrap(),
            "4"
        );
        assert!(!session.join("exported/NEVER").exists());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
