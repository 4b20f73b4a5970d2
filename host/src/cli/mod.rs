//! The `sluice` commands: each takes parsed arguments, does its work
//! through the library, prints for people (or JSON), and returns the
//! process exit code.

pub mod action;
pub mod bench;

/// Exit code: the action (or pipeline) succeeded.
pub const EXIT_OK: u8 = 0;
/// Exit code: the action (or pipeline) failed.
pub const EXIT_FAILED: u8 = 1;
/// Exit code: bad usage, bad input, or the sandbox could not run it.
pub const EXIT_USAGE: u8 = 2;

/// Parses `key=value` (the value may contain `=`).
pub fn parse_key_value(text: &str) -> Result<(String, String), String> {
    match text.split_once('=') {
        Some((key, value)) if !key.trim().is_empty() => {
            Ok((key.trim().to_string(), value.to_string()))
        }
        _ => Err(format!("`{text}` is not KEY=VALUE")),
    }
}
