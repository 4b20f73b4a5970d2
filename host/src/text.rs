//! Text a provider controls is data: before it reaches a terminal, a log
//! view or the console it is escaped here, and in logs it is marked so it
//! can never pass for the host's own lines.
//!
//! Escaped: C0 control characters (escape sequences, carriage returns that
//! rewrite a line, bells, backspaces; tabs are kept), DEL, C1 controls
//! (including the one-byte CSI and OSC), the Unicode bidirectional
//! overrides and isolates that reorder what a line appears to say, and line
//! and paragraph separators. Each becomes a visible `\x1b`-style or
//! `\u{202e}`-style escape.
//!
//! Logs: an action's log file holds the provider's bytes as written (a
//! record-separator byte, `0x1e`, is the one byte stored escaped) and the
//! host's own lines, each starting with that byte. [`log_lines`] splits a
//! log into host and provider lines; terminal views print provider lines
//! behind a gutter (`│ `), which no provider output can produce at the start
//! of a line, and host lines (`[sluice] ...`) without one.

use std::borrow::Cow;

/// The byte that starts a host line in a stored log.
pub const HOST_LINE: u8 = 0x1e;

/// What a provider line is shown behind in a terminal.
pub const GUTTER: &str = "│ ";

fn needs_escape(c: char, keep_newlines: bool) -> bool {
    match c {
        '\t' => false,
        '\n' => !keep_newlines,
        '\u{0}'..='\u{1f}' | '\u{7f}'..='\u{9f}' => true,
        // Bidirectional embeddings, overrides and isolates; marks.
        '\u{200e}' | '\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}' => true,
        // Line and paragraph separators.
        '\u{2028}' | '\u{2029}' => true,
        _ => false,
    }
}

fn escape(text: &str, keep_newlines: bool) -> Cow<'_, str> {
    if !text.chars().any(|c| needs_escape(c, keep_newlines)) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 16);
    for c in text.chars() {
        if needs_escape(c, keep_newlines) {
            if (c as u32) < 0x100 {
                out.push_str(&format!("\\x{:02x}", c as u32));
            } else {
                out.push_str(&format!("\\u{{{:x}}}", c as u32));
            }
        } else {
            out.push(c);
        }
    }
    Cow::Owned(out)
}

/// One line of provider text (a summary, a failure message, a variable)
/// made safe to print: every control character escaped, newlines included.
pub fn line(text: &str) -> Cow<'_, str> {
    escape(text, false)
}

/// Several lines of provider text made safe to print: newlines kept,
/// every other control character escaped.
pub fn lines(text: &str) -> Cow<'_, str> {
    escape(text, true)
}

/// At most the first `chars` characters of `text` (never cut inside one).
pub fn prefix(text: &str, chars: usize) -> &str {
    match text.char_indices().nth(chars) {
        Some((end, _)) => &text[..end],
        None => text,
    }
}

/// A [`Display`](std::fmt::Display) wrapper that prints provider text
/// through [`line`].
#[derive(Debug, Clone, Copy)]
pub struct Untrusted<'a>(pub &'a str);

impl std::fmt::Display for Untrusted<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&line(self.0))
    }
}

/// A line of a stored log. In the API: `{"source": "host" | "provider",
/// "text": ...}`.
#[derive(
    Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize, schemars::JsonSchema,
)]
#[serde(tag = "source", content = "text", rename_all = "lowercase")]
pub enum LogLine {
    /// One of the host's own lines (`[sluice] ...`).
    Host(String),
    /// A line the provider (or a program it ran) wrote, decoded lossily
    /// (an invalid byte shows as `�`) and escaped.
    Provider(String),
}

impl LogLine {
    /// The line as a terminal shows it: provider lines behind the gutter.
    pub fn render(&self) -> String {
        match self {
            LogLine::Host(text) => text.clone(),
            LogLine::Provider(text) => format!("{GUTTER}{text}"),
        }
    }

    /// The line's text without the gutter.
    pub fn text(&self) -> &str {
        match self {
            LogLine::Host(text) | LogLine::Provider(text) => text,
        }
    }

    /// Whether it is one of the host's lines.
    pub fn is_host(&self) -> bool {
        matches!(self, LogLine::Host(_))
    }
}

/// One stored line (without its newline) as a [`LogLine`].
pub fn log_line(bytes: &[u8]) -> LogLine {
    match bytes.split_first() {
        Some((&HOST_LINE, rest)) => {
            LogLine::Host(line(&String::from_utf8_lossy(rest)).into_owned())
        }
        _ => LogLine::Provider(line(&String::from_utf8_lossy(bytes)).into_owned()),
    }
}

/// Splits a stored log into lines (a last line without a newline
/// included).
pub fn log_lines(bytes: &[u8]) -> Vec<LogLine> {
    let mut out: Vec<LogLine> = bytes.split(|b| *b == b'\n').map(log_line).collect();
    if bytes.ends_with(b"\n") || bytes.is_empty() {
        out.pop();
    }
    out
}

/// A log as a terminal shows it, one rendered line per stored line.
pub fn render_log(bytes: &[u8]) -> String {
    let mut out = String::new();
    for line in log_lines(bytes) {
        out.push_str(&line.render());
        out.push('\n');
    }
    out
}

/// Renders a log as it is written (for `sluice action run`): complete lines
/// are rendered and passed on at once, a partial line when it grows long or
/// at [`LiveLog::finish`].
pub struct LiveLog<W: std::io::Write + Send> {
    out: W,
    partial: Vec<u8>,
}

/// A partial line longer than this is rendered without waiting for its end.
const LONGEST_PARTIAL: usize = 64 * 1024;

impl<W: std::io::Write + Send> LiveLog<W> {
    /// Renders into `out`.
    pub fn new(out: W) -> Self {
        LiveLog {
            out,
            partial: Vec::new(),
        }
    }

    fn emit(&mut self, bytes: &[u8]) {
        let rendered = log_line(bytes).render();
        let _ = writeln!(self.out, "{rendered}");
        let _ = self.out.flush();
    }

    /// Renders what is left of an unfinished line.
    pub fn finish(&mut self) {
        if !self.partial.is_empty() {
            let rest = std::mem::take(&mut self.partial);
            self.emit(&rest);
        }
    }
}

impl<W: std::io::Write + Send> LiveLog<W> {
    /// Takes the next bytes of the log.
    pub fn write(&mut self, bytes: &[u8]) {
        for chunk in bytes.split_inclusive(|b| *b == b'\n') {
            self.partial.extend_from_slice(chunk);
            if chunk.ends_with(b"\n") {
                let mut done = std::mem::take(&mut self.partial);
                done.pop();
                self.emit(&done);
            } else if self.partial.len() >= LONGEST_PARTIAL {
                let done = std::mem::take(&mut self.partial);
                self.emit(&done);
            }
        }
    }
}

impl<W: std::io::Write + Send> Drop for LiveLog<W> {
    fn drop(&mut self) {
        self.finish();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn control_characters_are_escaped_and_printable_text_is_not() {
        assert!(matches!(line("plain text, ünïcode ✔"), Cow::Borrowed(_)));
        assert_eq!(line("red \x1b[31m"), "red \\x1b[31m");
        assert_eq!(line("over\rwrite"), "over\\x0dwrite");
        assert_eq!(line("clip \x1b]52;c;aGk=\x07"), "clip \\x1b]52;c;aGk=\\x07");
        assert_eq!(line("c1 \u{9b}31m"), "c1 \\x9b31m");
        assert_eq!(line("evil\u{202e}txt.exe"), "evil\\u{202e}txt.exe");
        assert_eq!(line("two\nlines"), "two\\x0alines");
        assert_eq!(lines("two\nlines\r"), "two\nlines\\x0d");
        assert_eq!(line("tab\tkept"), "tab\tkept");
    }

    #[test]
    fn a_prefix_never_cuts_a_character() {
        assert_eq!(prefix("0123456789abcdef", 12), "0123456789ab");
        assert_eq!(prefix("0123456789aé", 12), "0123456789aé");
        assert_eq!(prefix("ééééééééééééé", 12), "éééééééééééé");
        assert_eq!(prefix("short", 12), "short");
    }

    #[test]
    fn host_lines_are_told_from_provider_lines_that_imitate_them() {
        let mut stored = Vec::new();
        stored.extend_from_slice(b"[sluice] forged by the provider\n");
        stored.push(HOST_LINE);
        stored.extend_from_slice(b"[sluice] the host's own\n");
        stored.extend_from_slice(b"\xe2\x94\x80\xe2\x94\x80 succeeded\n");
        stored.extend_from_slice(b"bad \xff byte, no newline");
        let lines = log_lines(&stored);
        assert_eq!(
            lines,
            [
                LogLine::Provider("[sluice] forged by the provider".into()),
                LogLine::Host("[sluice] the host's own".into()),
                LogLine::Provider("── succeeded".into()),
                LogLine::Provider("bad \u{fffd} byte, no newline".into()),
            ]
        );
        let shown = render_log(&stored);
        assert!(shown.contains("\n[sluice] the host's own\n"), "{shown}");
        assert!(shown.starts_with("│ [sluice] forged"), "{shown}");
        assert!(shown.contains("│ ── succeeded"), "{shown}");
    }

    #[test]
    fn a_live_log_renders_whole_lines_and_the_rest_at_the_end() {
        let mut out = Vec::new();
        {
            let mut live = LiveLog::new(&mut out);
            live.write(b"hel");
            live.write(b"lo\n\x1b[2J\n");
            live.write(&[HOST_LINE]);
            live.write(b"[sluice] note\nunfinished");
        }
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "│ hello\n│ \\x1b[2J\n[sluice] note\n│ unfinished\n"
        );
    }
}
