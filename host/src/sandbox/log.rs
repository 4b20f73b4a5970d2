//! The action log: everything a provider writes (standard output, standard
//! error, the `log` interface) goes here, up to a cap.
//!
//! The log is one byte stream per action: the provider's bytes as written
//! (never decoded, so invalid UTF-8 stays as it came), and the host's own
//! lines, each starting on a line of its own with the byte
//! [`crate::text::HOST_LINE`], which is escaped wherever a provider writes
//! it, so [`crate::text::log_lines`] can always tell the two apart. Past the
//! cap the log is cut off with a host line, once; what the provider writes
//! after that is counted, and at the end of the call a last host line says
//! how much was dropped. The log also remembers the provider's last words
//! (its last error-level message and the tail of its standard error) so a
//! crash can be reported with the guest's own message.

use std::collections::VecDeque;
use std::io::Write;
use std::sync::{Arc, Mutex};

/// Where log bytes go: a file, the terminal, memory, several of these.
pub trait LogWriter: Send {
    /// Writes a chunk of log. Errors are the writer's to handle: a log that
    /// cannot be written never fails the action.
    fn write_log(&mut self, bytes: &[u8]);

    /// A provider call ended: nothing more comes until the next one (a
    /// writer holding a partial line writes it out).
    fn end_of_call(&mut self) {}
}

impl<W: Write + Send> LogWriter for W {
    fn write_log(&mut self, bytes: &[u8]) {
        let _ = self.write_all(bytes);
        let _ = self.flush();
    }
}

/// A log shown as it is written, provider lines escaped and behind the
/// gutter (`sluice action run`).
impl<W: Write + Send> LogWriter for crate::text::LiveLog<W> {
    fn write_log(&mut self, bytes: &[u8]) {
        self.write(bytes);
    }

    fn end_of_call(&mut self) {
        self.finish();
    }
}

/// Keeps the log in memory; [`MemoryLog::contents`] reads it back.
#[derive(Clone, Default)]
pub struct MemoryLog(Arc<Mutex<Vec<u8>>>);

impl MemoryLog {
    /// An empty in-memory log.
    pub fn new() -> Self {
        Self::default()
    }

    /// Everything written so far, as text (invalid UTF-8 replaced).
    pub fn contents(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap()).into_owned()
    }
}

impl LogWriter for MemoryLog {
    fn write_log(&mut self, bytes: &[u8]) {
        self.0.lock().unwrap().extend_from_slice(bytes);
    }
}

/// Which way a chunk of log came in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogSource {
    /// The provider's standard output.
    Stdout,
    /// The provider's standard error.
    Stderr,
}

const STDERR_TAIL_BYTES: usize = 2048;

struct Inner {
    writer: Box<dyn LogWriter>,
    cap: u64,
    written: u64,
    dropped: u64,
    marked: bool,
    last_error: Option<String>,
    stderr_tail: VecDeque<u8>,
    redactions: Vec<String>,
    /// Bytes held back while a secret could still straddle the next chunk.
    pending: Vec<u8>,
    /// Whether the last byte written ended a line.
    at_line_start: bool,
    /// Dropped bytes already reported by a host line.
    reported_dropped: u64,
}

/// A handle on one action's log. Clones share the log.
#[derive(Clone)]
pub struct ActionLog {
    inner: Arc<Mutex<Inner>>,
}

impl std::fmt::Debug for ActionLog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let inner = self.inner.lock().unwrap();
        f.debug_struct("ActionLog")
            .field("cap", &inner.cap)
            .field("written", &inner.written)
            .field("dropped", &inner.dropped)
            .finish()
    }
}

impl ActionLog {
    /// A log writing to `writer`, cut off after `cap` bytes.
    pub fn new(writer: impl LogWriter + 'static, cap: u64) -> Self {
        ActionLog {
            inner: Arc::new(Mutex::new(Inner {
                writer: Box::new(writer),
                cap,
                written: 0,
                dropped: 0,
                marked: false,
                last_error: None,
                stderr_tail: VecDeque::new(),
                redactions: Vec::new(),
                pending: Vec::new(),
                at_line_start: true,
                reported_dropped: 0,
            })),
        }
    }

    /// A log that keeps nothing (for `describe` and `validate` calls).
    pub fn discard() -> Self {
        ActionLog::new(std::io::sink(), 0)
    }

    /// Changes the cap (the job's limit may differ from the one the log was
    /// made with).
    pub fn set_cap(&self, cap: u64) {
        self.inner.lock().unwrap().cap = cap;
    }

    /// Values that must never appear in the log: each is replaced by `****`
    /// before anything is written.
    pub fn redact(&self, value: impl Into<String>) {
        let value = value.into();
        if !value.is_empty() {
            self.inner.lock().unwrap().redactions.push(value);
        }
    }

    /// Appends bytes the provider (or a program it ran) wrote to `source`.
    pub fn append(&self, source: LogSource, bytes: &[u8]) {
        // The one byte that would make a host line is stored escaped.
        let escaped;
        let bytes = if bytes.contains(&crate::text::HOST_LINE) {
            escaped = escape_host_marker(bytes);
            &escaped[..]
        } else {
            bytes
        };
        let mut inner = self.inner.lock().unwrap();
        if source == LogSource::Stderr {
            inner.stderr_tail.extend(bytes.iter().copied());
            let excess = inner.stderr_tail.len().saturating_sub(STDERR_TAIL_BYTES);
            inner.stderr_tail.drain(..excess);
        }
        if inner.redactions.is_empty() {
            inner.write_capped(bytes);
            return;
        }
        // A secret may be split across two writes: hold back the last
        // bytes that could be the start of one.
        inner.pending.extend_from_slice(bytes);
        let longest = inner.redactions.iter().map(String::len).max().unwrap_or(1);
        let mut cut = inner.pending.len().saturating_sub(longest - 1);
        for secret in &inner.redactions {
            let needle = secret.as_bytes();
            let mut from = 0;
            while let Some(at) = find(&inner.pending[from..], needle) {
                let start = from + at;
                let end = start + needle.len();
                if start < cut && end > cut {
                    cut = end;
                }
                from = start + 1;
            }
        }
        let ready: Vec<u8> = inner.pending.drain(..cut).collect();
        let ready = redact(&ready, &inner.redactions);
        inner.write_capped(&ready);
    }

    /// Writes out what was held back for redaction, and, when the cap cut
    /// the log, how much was dropped (at the end of a call).
    pub fn flush(&self) {
        let mut inner = self.inner.lock().unwrap();
        inner.flush_pending();
        if inner.dropped > inner.reported_dropped {
            inner.reported_dropped = inner.dropped;
            let line = format!(
                "[sluice] {} of log dropped past the cap of {}",
                crate::units::format_bytes(inner.dropped),
                crate::units::format_bytes(inner.cap)
            );
            inner.write_host_line(line.as_bytes(), false);
        }
        inner.writer.end_of_call();
    }

    /// Appends one of the host's own lines (`[sluice] ` is added). Parts of
    /// it that a provider chose are escaped by [`crate::text::line`] when it
    /// is shown; registered secrets are redacted here.
    pub fn host_line(&self, text: &str) {
        let mut inner = self.inner.lock().unwrap();
        inner.flush_pending();
        let line = format!("[sluice] {}", text.trim_end_matches('\n'));
        let line = redact(line.as_bytes(), &inner.redactions);
        inner.write_host_line(&line, true);
    }

    /// `text` with every registered secret value replaced by `****`.
    pub fn redacted(&self, text: &str) -> String {
        let inner = self.inner.lock().unwrap();
        if inner.redactions.is_empty() {
            return text.to_string();
        }
        String::from_utf8_lossy(&redact(text.as_bytes(), &inner.redactions)).into_owned()
    }

    /// Appends one message from the `log` interface, as a provider line
    /// `[level] message` of its own.
    pub fn message(&self, level: &str, text: &str) {
        let mut line = String::with_capacity(text.len() + level.len() + 5);
        if !self.inner.lock().unwrap().ends_line() {
            line.push('\n');
        }
        line.push('[');
        line.push_str(level);
        line.push_str("] ");
        line.push_str(text.trim_end_matches('\n'));
        line.push('\n');
        if level == "error" {
            let mut inner = self.inner.lock().unwrap();
            let text = redact(text.as_bytes(), &inner.redactions);
            inner.last_error = Some(String::from_utf8_lossy(&text).trim().to_string());
        }
        self.append(LogSource::Stdout, line.as_bytes());
    }

    /// Bytes written (not counting the cut-off marker).
    pub fn written(&self) -> u64 {
        self.inner.lock().unwrap().written
    }

    /// Bytes dropped after the cap was reached.
    pub fn dropped(&self) -> u64 {
        self.inner.lock().unwrap().dropped
    }

    /// The provider's last words: its last error-level message, or else the
    /// last non-empty lines of its standard error.
    pub fn last_words(&self) -> Option<String> {
        let inner = self.inner.lock().unwrap();
        if let Some(error) = &inner.last_error {
            return Some(error.clone());
        }
        let tail: Vec<u8> = inner.stderr_tail.iter().copied().collect();
        let tail = String::from_utf8_lossy(&tail);
        let lines: Vec<&str> = tail
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty() && !l.starts_with("note: run with `RUST_BACKTRACE"))
            .collect();
        let last = &lines[lines.len().saturating_sub(3)..];
        (!last.is_empty()).then(|| last.join(" / "))
    }
}

impl Inner {
    /// Whether what the provider wrote so far (held back or not) ends a
    /// line.
    fn ends_line(&self) -> bool {
        match self.pending.last() {
            Some(&last) => last == b'\n',
            None => self.at_line_start,
        }
    }

    fn write_capped(&mut self, bytes: &[u8]) {
        let room = self.cap.saturating_sub(self.written);
        let keep = bytes.len().min(room as usize);
        if keep > 0 {
            self.writer.write_log(&bytes[..keep]);
            self.written += keep as u64;
            self.at_line_start = bytes[keep - 1] == b'\n';
        }
        if keep < bytes.len() {
            self.dropped += (bytes.len() - keep) as u64;
            if !self.marked {
                self.marked = true;
                let marker = format!(
                    "[sluice] log truncated: the action's log reached its cap of {}; \
                     further output is dropped",
                    crate::units::format_bytes(self.cap)
                );
                self.write_host_line(marker.as_bytes(), false);
            }
        }
    }

    /// Writes a host line on a line of its own: within the cap when
    /// `capped`, else past it (the cap's own markers).
    fn write_host_line(&mut self, line: &[u8], capped: bool) {
        let mut framed = Vec::with_capacity(line.len() + 3);
        if !self.at_line_start {
            framed.push(b'\n');
        }
        framed.push(crate::text::HOST_LINE);
        framed.extend_from_slice(line);
        framed.push(b'\n');
        if capped {
            self.write_capped(&framed);
        } else {
            self.writer.write_log(&framed);
            self.at_line_start = true;
        }
    }

    fn flush_pending(&mut self) {
        if self.pending.is_empty() {
            return;
        }
        let rest = std::mem::take(&mut self.pending);
        let rest = redact(&rest, &self.redactions);
        self.write_capped(&rest);
    }
}

/// `bytes` with each host-line marker byte written as the text `\x1e`.
fn escape_host_marker(bytes: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(bytes.len() + 8);
    for &b in bytes {
        if b == crate::text::HOST_LINE {
            out.extend_from_slice(b"\\x1e");
        } else {
            out.push(b);
        }
    }
    out
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    if needle.is_empty() || haystack.len() < needle.len() {
        return None;
    }
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// `bytes` with every secret replaced by `****`, byte for byte (invalid
/// UTF-8 around them stays as it was).
fn redact(bytes: &[u8], secrets: &[String]) -> Vec<u8> {
    let mut text = bytes.to_vec();
    for secret in secrets {
        let needle = secret.as_bytes();
        if find(&text, needle).is_none() {
            continue;
        }
        let mut out = Vec::with_capacity(text.len());
        let mut rest = &text[..];
        while let Some(at) = find(rest, needle) {
            out.extend_from_slice(&rest[..at]);
            out.extend_from_slice(b"****");
            rest = &rest[at + needle.len()..];
        }
        out.extend_from_slice(rest);
        text = out;
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_log_is_cut_at_its_cap_with_one_marker() {
        let memory = MemoryLog::new();
        let log = ActionLog::new(memory.clone(), 10);
        log.append(LogSource::Stdout, b"12345678");
        log.append(LogSource::Stdout, b"abcdef");
        log.append(LogSource::Stdout, b"more");
        let exact = MemoryLog::new();
        let at_cap = ActionLog::new(exact.clone(), 4);
        at_cap.append(LogSource::Stdout, b"1234");
        at_cap.append(LogSource::Stdout, b"5");
        assert!(
            exact
                .contents()
                .starts_with("1234\n\x1e[sluice] log truncated")
        );
        let text = memory.contents();
        assert!(
            text.starts_with("12345678ab\n\x1e[sluice] log truncated"),
            "{text}"
        );
        log.flush();
        assert!(
            memory.contents().ends_with(
                "dropped\n\x1e[sluice] 8 bytes of log dropped past the cap of 10 bytes\n"
            ),
            "{}",
            memory.contents()
        );
        assert_eq!(text.matches("log truncated").count(), 1);
        assert_eq!(log.written(), 10);
        assert_eq!(log.dropped(), 8);
    }

    #[test]
    fn host_lines_start_lines_of_their_own_and_providers_cannot_forge_them() {
        let memory = MemoryLog::new();
        let log = ActionLog::new(memory.clone(), 1 << 20);
        log.append(LogSource::Stdout, b"partial");
        log.host_line("a note");
        log.append(LogSource::Stdout, b"\x1e[sluice] forged\n");
        log.message("info", "two\nlines");
        let lines = crate::text::log_lines(memory.contents().as_bytes());
        assert_eq!(
            lines,
            [
                crate::text::LogLine::Provider("partial".into()),
                crate::text::LogLine::Host("[sluice] a note".into()),
                crate::text::LogLine::Provider("\\x1e[sluice] forged".into()),
                crate::text::LogLine::Provider("[info] two".into()),
                crate::text::LogLine::Provider("lines".into()),
            ]
        );
    }

    #[test]
    fn invalid_utf8_is_kept_as_it_came_through_redaction() {
        let memory = MemoryLog(Default::default());
        let log = ActionLog::new(memory.clone(), 1 << 20);
        log.redact("hunter2");
        log.append(LogSource::Stdout, b"\xff hunter2 \xfe\n");
        log.flush();
        assert_eq!(&*memory.0.lock().unwrap(), b"\xff **** \xfe\n");
    }

    #[test]
    fn last_words_prefer_the_last_error_message() {
        let log = ActionLog::new(MemoryLog::new(), 1 << 20);
        log.append(LogSource::Stderr, b"warming up\nsomething broke\n");
        assert_eq!(log.last_words().unwrap(), "warming up / something broke");
        log.message("error", "panicked at src/lib.rs:3: boom");
        assert_eq!(log.last_words().unwrap(), "panicked at src/lib.rs:3: boom");
    }

    #[test]
    fn a_secret_split_across_writes_is_still_redacted() {
        let memory = MemoryLog::new();
        let log = ActionLog::new(memory.clone(), 1 << 20);
        log.redact("hunter2");
        log.append(LogSource::Stdout, b"token=hun");
        log.append(LogSource::Stdout, b"ter2 and more text that goes on\n");
        log.append(LogSource::Stdout, b"hunter");
        log.flush();
        assert_eq!(
            memory.contents(),
            "token=**** and more text that goes on\nhunter"
        );
    }

    #[test]
    fn secrets_are_redacted() {
        let memory = MemoryLog::new();
        let log = ActionLog::new(memory.clone(), 1 << 20);
        log.redact("hunter2");
        log.append(LogSource::Stdout, b"password=hunter2\n");
        log.message("error", "bad hunter2");
        log.flush();
        assert_eq!(memory.contents(), "password=****\n[error] bad ****\n");
        log.host_line("host says hunter2");
        assert_eq!(
            memory.contents(),
            "password=****\n[error] bad ****\n\x1e[sluice] host says ****\n"
        );
        assert_eq!(log.redacted("say hunter2"), "say ****");
        assert_eq!(log.last_words().unwrap(), "bad ****");
    }
}
