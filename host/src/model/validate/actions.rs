//! One action's own fields: timeouts, memory and output caps, and its
//! grants (folders, programs, URLs, secrets).

use super::super::definition::Action;
use super::super::diagnostic::Diagnostic;
use super::*;

pub(super) fn check_action_fields(action: &Action, path: &str, out: &mut Vec<Diagnostic>) {
    if action.provider.trim().is_empty() {
        out.push(Diagnostic::error(
            format!("{path}.provider"),
            "provider is empty: use `builtin:NAME` or a path to a .wasm component",
        ));
    }
    if let Some(timeout) = &action.timeout {
        match crate::units::parse_duration(timeout) {
            Ok(d) if d < MIN_TIMEOUT || d > MAX_TIMEOUT => out.push(Diagnostic::error(
                format!("{path}.timeout"),
                format!("timeout `{timeout}` must be between 1s and 7d"),
            )),
            Ok(_) => {}
            Err(e) => out.push(Diagnostic::error(format!("{path}.timeout"), e)),
        }
    }
    if let Some(size) = &action.output_size
        && let Err(e) = crate::units::parse_bytes(size)
    {
        out.push(Diagnostic::error(format!("{path}.output_size"), e));
    }
    if action.output_files == Some(0) {
        out.push(Diagnostic::error(
            format!("{path}.output_files"),
            "must be at least 1",
        ));
    }
    if let Some(memory) = &action.memory {
        match crate::units::parse_bytes(memory) {
            Ok(m) if !(1 << 20..=crate::contract::MAX_MEMORY_BYTES).contains(&m) => {
                out.push(Diagnostic::error(
                    format!("{path}.memory"),
                    format!("memory `{memory}` must be between 1MiB and 4GiB"),
                ))
            }
            Ok(_) => {}
            Err(e) => out.push(Diagnostic::error(format!("{path}.memory"), e)),
        }
    }
    if action.configuration.len() > MAX_PROPERTIES {
        out.push(Diagnostic::error(
            format!("{path}.configuration"),
            format!(
                "{} configuration properties; an action may have at most {MAX_PROPERTIES}",
                action.configuration.len()
            ),
        ));
    }
    for (key, value) in &action.configuration {
        if value.len() > MAX_VALUE_BYTES {
            out.push(Diagnostic::error(
                format!("{path}.configuration.{key}"),
                format!("the value is longer than {MAX_VALUE_BYTES} bytes"),
            ));
        }
    }
}

pub(super) fn check_grants(action: &Action, path: &str, out: &mut Vec<Diagnostic>) {
    let grants = &action.grants;
    if let Some(process) = &grants.process {
        let at = format!("{path}.grants.process");
        if process.programs.is_empty() {
            out.push(Diagnostic::error(
                format!("{at}.programs"),
                "a process grant names at least one program",
            ));
        }
        for (i, program) in process.programs.iter().enumerate() {
            if program.is_empty()
                || program.contains(char::is_whitespace)
                || (program.contains('/') && !program.starts_with('/'))
            {
                out.push(Diagnostic::error(
                    format!("{at}.programs[{i}]"),
                    format!("`{program}` is not a program: give a name found on PATH (`make`) or an absolute path"),
                ));
            }
        }
        for name in process.env.keys() {
            if name.is_empty() || name.contains(['=', '\0']) {
                out.push(Diagnostic::error(
                    format!("{at}.env.{name}"),
                    format!("`{name}` is not an environment variable name"),
                ));
            }
        }
        if let Some(timeout) = &process.timeout
            && let Err(e) = crate::units::parse_duration(timeout)
        {
            out.push(Diagnostic::error(format!("{at}.timeout"), e));
        }
        if let Some(limits) = &process.limits {
            for (field, value) in [
                ("memory", &limits.memory),
                ("file_size", &limits.file_size),
                ("tmp_size", &limits.tmp_size),
            ] {
                if let Some(value) = value
                    && let Err(e) = crate::units::parse_bytes(value)
                {
                    out.push(Diagnostic::error(format!("{at}.limits.{field}"), e));
                }
            }
            if let Some(cpu) = &limits.cpu_time
                && let Err(e) = crate::units::parse_duration(cpu)
            {
                out.push(Diagnostic::error(format!("{at}.limits.cpu_time"), e));
            }
            for (field, value) in [
                ("processes", limits.processes),
                ("open_files", limits.open_files),
            ] {
                if value == Some(0) {
                    out.push(Diagnostic::error(
                        format!("{at}.limits.{field}"),
                        "must be at least 1",
                    ));
                }
            }
        }
    }
    if let Some(http) = &grants.http {
        if http.allow.is_empty() {
            out.push(Diagnostic::error(
                format!("{path}.grants.http.allow"),
                "an http grant allows at least one URL",
            ));
        }
        for (i, url) in http.allow.iter().enumerate() {
            if let Err(e) = crate::urls::UrlRule::parse(url) {
                out.push(Diagnostic::error(
                    format!("{path}.grants.http.allow[{i}]"),
                    e,
                ));
            }
        }
    }
    for (i, name) in grants.secrets.iter().enumerate() {
        if !is_secret_name(name) {
            out.push(Diagnostic::error(
                format!("{path}.grants.secrets[{i}]"),
                format!("`{name}` is not a secret name: use upper-case letters, digits and `_`"),
            ));
        }
    }
}
