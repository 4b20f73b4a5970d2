//! A small Chrome DevTools Protocol client for the console tests: headless
//! Chromium started with `--remote-debugging-pipe` (it reads commands on
//! fd 3 and writes replies and events on fd 4, each a JSON text ended by a
//! NUL byte), one page, and the few things a test does with it: navigate,
//! evaluate, wait for a condition, click like a mouse, type, screenshot.
//!
//! Every call and every wait has a time limit, and the browser (its whole
//! process group) is killed when the [`Browser`] is dropped, on a panic too.

#![allow(unsafe_code)] // fd set-up between fork and exec; killing the group

use serde_json::{Value, json};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::unix::pipe;
use tokio::process::{Child, Command};
use tokio::sync::{mpsc, oneshot};

/// How long one protocol call may take.
const CALL_LIMIT: Duration = Duration::from_secs(30);

/// Where Debian puts Chromium: the headless shell first (smaller, made for
/// this), then the full browser. `CHROMIUM` names another.
pub fn find_chromium() -> Option<PathBuf> {
    if let Some(path) = std::env::var_os("CHROMIUM") {
        return Some(PathBuf::from(path));
    }
    [
        "/usr/lib/chromium/chromium-headless-shell",
        "/usr/bin/chromium-headless-shell",
        "/usr/lib/chromium/chromium",
        "/usr/bin/chromium",
    ]
    .into_iter()
    .map(PathBuf::from)
    .find(|p| p.exists())
}

type Replies = Arc<Mutex<HashMap<u64, oneshot::Sender<Result<Value, String>>>>>;

/// A running headless Chromium with one page open.
pub struct Browser {
    child: Child,
    group: i32,
    commands: mpsc::UnboundedSender<String>,
    replies: Replies,
    next_id: AtomicU64,
    session: String,
    /// Exceptions thrown and `console.error` messages of the page.
    errors: Arc<Mutex<Vec<String>>>,
    /// Load events of the page, counted.
    loads: Arc<AtomicU64>,
    profile: tempfile::TempDir,
}

impl std::fmt::Debug for Browser {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Browser").field("pid", &self.group).finish()
    }
}

impl Browser {
    /// Starts Chromium (`binary`) with a fresh profile and opens a page.
    pub async fn launch(binary: &Path) -> Result<Browser, String> {
        let profile = tempfile::tempdir().map_err(|e| e.to_string())?;
        let (to_browser_read, to_browser_write) = std::io::pipe().map_err(|e| e.to_string())?;
        let (from_browser_read, from_browser_write) = std::io::pipe().map_err(|e| e.to_string())?;
        let mut command = Command::new(binary);
        command
            .args([
                "--headless",
                // Chromium's own sandbox needs user namespaces it cannot
                // have as root in a container.
                "--no-sandbox",
                "--disable-gpu",
                "--disable-dev-shm-usage",
                "--no-first-run",
                "--no-default-browser-check",
                "--disable-extensions",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--disable-background-timer-throttling",
                "--disable-renderer-backgrounding",
                "--hide-scrollbars",
                "--mute-audio",
                "--window-size=1400,900",
                "--remote-debugging-pipe",
            ])
            .arg(format!("--user-data-dir={}", profile.path().display()))
            .arg("about:blank")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .process_group(0);
        {
            use std::os::fd::AsRawFd;
            let read = to_browser_read.as_raw_fd();
            let write = from_browser_write.as_raw_fd();
            // SAFETY: only async-signal-safe calls between fork and exec.
            unsafe {
                command.pre_exec(move || {
                    // Above 4 first, so that neither dup2 closes the other.
                    let read = libc::fcntl(read, libc::F_DUPFD_CLOEXEC, 10);
                    let write = libc::fcntl(write, libc::F_DUPFD_CLOEXEC, 10);
                    if read < 0 || write < 0 || libc::dup2(read, 3) < 0 || libc::dup2(write, 4) < 0
                    {
                        return Err(std::io::Error::last_os_error());
                    }
                    libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
                    Ok(())
                });
            }
        }
        let child = command
            .spawn()
            .map_err(|e| format!("cannot start {}: {e}", binary.display()))?;
        let group = child.id().unwrap_or(0) as i32;
        drop(to_browser_read);
        drop(from_browser_write);

        let (commands, mut outgoing) = mpsc::unbounded_channel::<String>();
        let mut sender =
            pipe::Sender::from_owned_fd(to_browser_write.into()).map_err(|e| e.to_string())?;
        tokio::spawn(async move {
            while let Some(message) = outgoing.recv().await {
                if sender.write_all(message.as_bytes()).await.is_err()
                    || sender.write_all(b"\0").await.is_err()
                {
                    break;
                }
            }
        });
        let replies: Replies = Arc::default();
        let errors = Arc::new(Mutex::new(Vec::new()));
        let loads = Arc::new(AtomicU64::new(0));
        let receiver =
            pipe::Receiver::from_owned_fd(from_browser_read.into()).map_err(|e| e.to_string())?;
        {
            let (replies, errors, loads) = (replies.clone(), errors.clone(), loads.clone());
            tokio::spawn(async move {
                let mut reader = BufReader::with_capacity(1 << 16, receiver);
                let mut buffer = Vec::new();
                loop {
                    buffer.clear();
                    match reader.read_until(0, &mut buffer).await {
                        Ok(0) | Err(_) => break,
                        Ok(_) => {}
                    }
                    if buffer.last() == Some(&0) {
                        buffer.pop();
                    }
                    let Ok(message) = serde_json::from_slice::<Value>(&buffer) else {
                        continue;
                    };
                    if let Some(id) = message["id"].as_u64() {
                        if let Some(reply) = replies.lock().unwrap().remove(&id) {
                            let _ = reply.send(match message.get("error") {
                                Some(error) => Err(error.to_string()),
                                None => Ok(message["result"].clone()),
                            });
                        }
                        continue;
                    }
                    match message["method"].as_str() {
                        Some("Runtime.exceptionThrown") => {
                            let details = &message["params"]["exceptionDetails"];
                            let text = details["exception"]["description"]
                                .as_str()
                                .or(details["text"].as_str())
                                .unwrap_or("an exception");
                            errors.lock().unwrap().push(text.to_string());
                        }
                        Some("Runtime.consoleAPICalled")
                            if message["params"]["type"] == "error" =>
                        {
                            errors
                                .lock()
                                .unwrap()
                                .push(format!("console.error: {}", message["params"]["args"]));
                        }
                        Some("Page.loadEventFired") => {
                            loads.fetch_add(1, Ordering::SeqCst);
                        }
                        _ => {}
                    }
                }
                // The browser is gone: no reply will come.
                replies.lock().unwrap().clear();
            });
        }
        let mut browser = Browser {
            child,
            group,
            commands,
            replies,
            next_id: AtomicU64::new(1),
            session: String::new(),
            errors,
            loads,
            profile,
        };
        let target = browser
            .call(None, "Target.createTarget", json!({"url": "about:blank"}))
            .await?;
        let attached = browser
            .call(
                None,
                "Target.attachToTarget",
                json!({"targetId": target["targetId"], "flatten": true}),
            )
            .await?;
        browser.session = attached["sessionId"]
            .as_str()
            .ok_or("no session for the page")?
            .to_string();
        browser.page("Page.enable", json!({})).await?;
        browser.page("Runtime.enable", json!({})).await?;
        Ok(browser)
    }

    async fn call(
        &self,
        session: Option<&str>,
        method: &str,
        params: Value,
    ) -> Result<Value, String> {
        let id = self.next_id.fetch_add(1, Ordering::SeqCst);
        let mut message = json!({"id": id, "method": method, "params": params});
        if let Some(session) = session {
            message["sessionId"] = json!(session);
        }
        let (tx, rx) = oneshot::channel();
        self.replies.lock().unwrap().insert(id, tx);
        self.commands
            .send(message.to_string())
            .map_err(|_| format!("{method}: the browser is gone"))?;
        match tokio::time::timeout(CALL_LIMIT, rx).await {
            Ok(Ok(reply)) => reply.map_err(|e| format!("{method}: {e}")),
            Ok(Err(_)) => Err(format!("{method}: the browser is gone")),
            Err(_) => Err(format!("{method}: no answer in {CALL_LIMIT:?}")),
        }
    }

    /// A protocol call on the page.
    pub async fn page(&self, method: &str, params: Value) -> Result<Value, String> {
        self.call(Some(&self.session.clone()), method, params).await
    }

    /// Goes to `url` and waits for the page's load event.
    pub async fn goto(&self, url: &str) -> Result<(), String> {
        let before = self.loads.load(Ordering::SeqCst);
        let answer = self.page("Page.navigate", json!({"url": url})).await?;
        if let Some(error) = answer["errorText"].as_str() {
            return Err(format!("cannot open {url}: {error}"));
        }
        let deadline = Instant::now() + Duration::from_secs(20);
        while self.loads.load(Ordering::SeqCst) == before {
            if Instant::now() > deadline {
                return Err(format!("{url} did not load in 20 s"));
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        Ok(())
    }

    /// Evaluates a JavaScript expression (awaiting a promise) and returns
    /// its value.
    pub async fn eval(&self, expression: &str) -> Result<Value, String> {
        let answer = self
            .page(
                "Runtime.evaluate",
                json!({"expression": expression, "returnByValue": true, "awaitPromise": true}),
            )
            .await?;
        if let Some(details) = answer.get("exceptionDetails") {
            return Err(format!(
                "`{expression}` threw: {}",
                details["exception"]["description"]
                    .as_str()
                    .or(details["text"].as_str())
                    .unwrap_or("an exception")
            ));
        }
        Ok(answer["result"]["value"].clone())
    }

    /// Waits until `expression` is truthy (neither null, false, 0 nor
    /// empty) and returns its value; says what it last saw when it gives up.
    pub async fn wait_for(&self, expression: &str, limit: Duration) -> Result<Value, String> {
        let deadline = Instant::now() + limit;
        loop {
            let last = match self.eval(expression).await {
                Ok(value) if truthy(&value) => return Ok(value),
                Ok(value) => value.to_string(),
                Err(e) => e,
            };
            if Instant::now() > deadline {
                return Err(format!("waited {limit:?} for `{expression}`; last: {last}"));
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Waits for an element matching `selector`.
    pub async fn wait_for_selector(&self, selector: &str, limit: Duration) -> Result<(), String> {
        self.wait_for(
            &format!("!!document.querySelector({})", quote(selector)),
            limit,
        )
        .await
        .map(|_| ())
    }

    /// Clicks the middle of the element matching `selector` with the mouse,
    /// once it is visible, enabled and not covered by another element.
    pub async fn click(&self, selector: &str) -> Result<(), String> {
        let point = self
            .wait_for(
                &format!(
                    "(() => {{ const e = document.querySelector({});
                      if (!e || e.disabled) return null;
                      e.scrollIntoView({{block: 'center'}});
                      const r = e.getBoundingClientRect();
                      if (!r.width || !r.height) return null;
                      const x = r.left + r.width / 2, y = r.top + r.height / 2;
                      const top = document.elementFromPoint(x, y);
                      return top && (top === e || e.contains(top)) ? [x, y] : null; }})()",
                    quote(selector)
                ),
                Duration::from_secs(10),
            )
            .await?;
        for (kind, buttons) in [("mouseMoved", 0), ("mousePressed", 1), ("mouseReleased", 0)] {
            self.page(
                "Input.dispatchMouseEvent",
                json!({"type": kind, "x": point[0], "y": point[1], "button": "left",
                       "buttons": buttons, "clickCount": 1}),
            )
            .await?;
        }
        Ok(())
    }

    /// Focuses the field matching `selector` and types `text` into it.
    pub async fn type_into(&self, selector: &str, text: &str) -> Result<(), String> {
        self.wait_for(
            &format!(
                "(() => {{ const e = document.querySelector({}); if (!e) return false;
                  e.focus(); return document.activeElement === e; }})()",
                quote(selector)
            ),
            Duration::from_secs(10),
        )
        .await?;
        self.page("Input.insertText", json!({"text": text})).await?;
        Ok(())
    }

    /// Saves a PNG of the page as it is now.
    pub async fn screenshot(&self, path: &Path) -> Result<(), String> {
        let answer = self
            .page("Page.captureScreenshot", json!({"format": "png"}))
            .await?;
        let png = base64_decode(answer["data"].as_str().unwrap_or_default())
            .ok_or("the screenshot is not base64")?;
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).map_err(|e| e.to_string())?;
        }
        std::fs::write(path, png).map_err(|e| format!("{}: {e}", path.display()))
    }

    /// Exceptions and `console.error` messages of the page so far.
    pub fn errors(&self) -> Vec<String> {
        self.errors.lock().unwrap().clone()
    }

    /// The profile folder (removed with the browser).
    pub fn profile(&self) -> &Path {
        self.profile.path()
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        if self.group > 0 {
            // SAFETY: a plain system call; the negative pid names the
            // process group the browser was started in.
            unsafe { libc::kill(-self.group, libc::SIGKILL) };
        }
        let _ = self.child.start_kill();
    }
}

/// A JavaScript string literal (JSON strings are ones).
fn quote(text: &str) -> String {
    serde_json::to_string(text).unwrap()
}

fn truthy(value: &Value) -> bool {
    match value {
        Value::Null => false,
        Value::Bool(b) => *b,
        Value::Number(n) => n.as_f64().is_some_and(|f| f != 0.0),
        Value::String(s) => !s.is_empty(),
        _ => true,
    }
}

/// Standard base64 with padding, as CDP sends screenshots.
fn base64_decode(text: &str) -> Option<Vec<u8>> {
    fn value(c: u8) -> Option<u32> {
        Some(match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            _ => return None,
        } as u32)
    }
    let bytes = text.trim_end_matches('=').as_bytes();
    let mut out = Vec::with_capacity(bytes.len() * 3 / 4);
    for chunk in bytes.chunks(4) {
        if chunk.len() == 1 {
            return None;
        }
        let mut n = 0u32;
        for (i, &c) in chunk.iter().enumerate() {
            n |= value(c)? << (18 - 6 * i);
        }
        out.extend_from_slice(&n.to_be_bytes()[1..chunk.len()]);
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    #[test]
    fn base64_decodes_padded_and_unpadded_ends() {
        assert_eq!(super::base64_decode("aGVsbG8=").unwrap(), b"hello");
        assert_eq!(super::base64_decode("aGk=").unwrap(), b"hi");
        assert_eq!(super::base64_decode("YWJj").unwrap(), b"abc");
        assert!(super::base64_decode("a").is_none());
    }
}
