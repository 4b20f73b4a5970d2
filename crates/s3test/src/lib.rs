//! A real, throwaway S3-protocol server for tests.
//!
//! Tests that store artifacts in S3 need a server that speaks the protocol
//! and, like the real one, refuses requests that are not signed with the
//! right secret (AWS Signature Version 4): a server that accepts anything
//! would let a client that signs wrongly, or not at all, pass its tests.
//! [`Server::shared`] starts `s3s-fs` (an S3 server over a local folder,
//! from the s3s project, installed by `scripts/test.sh` with
//! `cargo install s3s-fs`) on a free loopback port, over a fresh folder
//! under the temporary directory, with a random access key id and secret,
//! once per test process; [`Server::bucket`] hands each test a new, empty
//! bucket on it. Nothing depends on the host's configuration or on
//! credentials in the environment.
//!
//! With a key pair given, s3s-fs checks every request's signature
//! (s3s's `SimpleAuth`): an unsigned request gets `403 AccessDenied`
//! ("Signature is required"), a wrongly signed one
//! `403 SignatureDoesNotMatch`, one with an unknown key id
//! `403 NotSignedUp`. A body that does not match its signed
//! `x-amz-content-sha256` is not stored, but is answered with
//! `500 InternalError` (S3 answers `400`), which clients may retry. Any
//! region is accepted (the one in the signature's scope is used). Only path-style addressing is served
//! (`http://127.0.0.1:PORT/BUCKET/KEY`): clients must not put the bucket in
//! the host name.
//!
//! s3s-fs keeps each bucket as a folder under its root and each object as a
//! file under its bucket's folder (`ROOT/BUCKET/KEY`), with its metadata in
//! hidden files (`.bucket-*`) in the root; its CreateBucket only creates
//! that folder, so [`Server::bucket`] creates the folder directly.
//!
//! No server may outlive the tests, even when they panic or are killed: the
//! server is the test process's child, started with a parent-death signal
//! (`PR_SET_PDEATHSIG`, `SIGKILL`) from a thread that never ends, because
//! the kernel sends that signal when the *thread* that started the child
//! ends. The folders of processes that have ended are removed when the next
//! server starts.

#![deny(missing_docs)]

use std::fs::{self, File, OpenOptions};
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, OnceLock};
use std::thread;
use std::time::{Duration, Instant};

/// The program.
const PROGRAM: &str = "s3s-fs";
/// How `scripts/test.sh` installs it (0.14.1 is the newest release whose
/// rust-version is not above the workspace's).
const INSTALL: &str = "cargo install s3s-fs --version 0.14.1 --features binary --locked";
/// How many ports to try when one turns out to be taken.
const PORT_ATTEMPTS: usize = 5;
/// How long the server may take to answer.
const READY_TIMEOUT: Duration = Duration::from_secs(20);
/// The name of the server's log file in its folder.
const LOG_FILE: &str = "s3s-fs.log";
/// What the server logs once it listens.
const LISTENING: &str = "server is running at";
/// The prefix of the servers' folders in the temporary directory,
/// followed by the test process's id and `-`.
const FOLDER_PREFIX: &str = "sluice-s3-";

/// An S3-protocol server (s3s-fs) started for this test process, shared by its tests; stopped when the process exits.
pub struct Server {
    /// The folder holding the log and `root`.
    folder: PathBuf,
    root: PathBuf,
    port: u16,
    access_key_id: String,
    secret_access_key: String,
    /// The server, kept so failures can say whether it is still running.
    child: Mutex<Child>,
    next_bucket: AtomicU64,
}

impl std::fmt::Debug for Server {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Server")
            .field("root", &self.root)
            .field("port", &self.port)
            .field("access_key_id", &self.access_key_id)
            .finish_non_exhaustive()
    }
}

/// The process's server, or why it could not be started (kept, so that
/// every test fails quickly with the same message instead of each trying
/// again).
static SHARED: OnceLock<Result<Server, String>> = OnceLock::new();

impl Server {
    /// The process's server, started on first use on a free loopback port, over a fresh temporary folder, with a random access key id and secret. Panics with a clear message when s3s-fs is not installed (say where it was looked for and that scripts/test.sh installs it with `cargo install s3s-fs ...`).
    pub fn shared() -> &'static Server {
        match SHARED.get_or_init(Server::start) {
            Ok(server) => server,
            Err(message) => panic!("sluice-s3test: {message}"),
        }
    }

    /// The endpoint, `http://127.0.0.1:PORT`.
    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// The access key id.
    pub fn access_key_id(&self) -> &str {
        &self.access_key_id
    }

    /// The secret access key.
    pub fn secret_access_key(&self) -> &str {
        &self.secret_access_key
    }

    /// A new, empty bucket (unique name per call, e.g. `t-<pid>-<n>`, valid S3 bucket name rules: lowercase, digits, hyphens, 3-63 chars), created on the server. s3s-fs keeps a bucket as a folder under its root (its CreateBucket only creates that folder, and it lists every such folder as a bucket), so the folder is created directly, without a signed request.
    pub fn bucket(&self) -> String {
        let number = self.next_bucket.fetch_add(1, Ordering::Relaxed);
        let name = format!("t-{}-{number}", std::process::id());
        let folder = self.root.join(&name);
        if let Err(e) = fs::create_dir(&folder) {
            panic!(
                "sluice-s3test: could not create bucket {name} (the folder {}): {e}{}",
                folder.display(),
                self.state()
            );
        }
        name
    }

    /// The folder the server keeps its buckets in (tests may look at stored objects).
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// For error messages: whether the server is still running, and where
    /// its log is (or, when it has stopped, the end of that log).
    fn state(&self) -> String {
        let log = self.folder.join(LOG_FILE);
        let mut child = self.child.lock().unwrap_or_else(|e| e.into_inner());
        match child.try_wait() {
            Ok(Some(status)) => format!(
                "\nthe server has stopped ({status}); the end of its log {}:\n{}",
                log.display(),
                sluice_testproc::log_tail(&log, 0)
            ),
            _ => format!("\n(the server is running; its log is {})", log.display()),
        }
    }

    /// Starts the process's server.
    fn start() -> Result<Server, String> {
        let program = find_program()?;
        let parent = std::env::temp_dir();
        sluice_testproc::remove_stale_folders(&parent, FOLDER_PREFIX);
        let folder = tempfile::Builder::new()
            .prefix(&format!("{FOLDER_PREFIX}{}-", std::process::id()))
            .tempdir_in(&parent)
            .map_err(|e| format!("could not create a folder in {}: {e}", parent.display()))?
            .keep();
        let root = folder.join("root");
        fs::create_dir(&root).map_err(|e| format!("could not create {}: {e}", root.display()))?;
        let access_key_id = random_text(20, b"ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789")?;
        let secret_access_key = random_text(
            40,
            b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789",
        )?;

        let log_path = folder.join(LOG_FILE);
        let log = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log_path)
            .map_err(|e| format!("could not open {}: {e}", log_path.display()))?;
        for _ in 0..PORT_ATTEMPTS {
            let port = sluice_testproc::free_port()?;
            let log_start = log.metadata().map(|m| m.len()).unwrap_or(0);
            let (stdout, stderr) = match (log.try_clone(), log.try_clone()) {
                (Ok(stdout), Ok(stderr)) => (stdout, stderr),
                (Err(e), _) | (_, Err(e)) => return Err(format!("could not share the log: {e}")),
            };
            let mut command = Command::new(&program);
            command
                .args(["--host", "127.0.0.1", "--port"])
                .arg(port.to_string())
                .args(["--access-key", &access_key_id])
                .args(["--secret-key", &secret_access_key])
                .arg(&root)
                .current_dir(&folder)
                // Its start and every refused request, without colours.
                .env("RUST_LOG", "info")
                .env("NO_COLOR", "1")
                .stdin(Stdio::null())
                .stdout(stdout)
                .stderr(stderr);
            let mut child =
                sluice_testproc::spawn_tied_to_process(command, libc::SIGKILL, "sluice-s3test")
                    .map_err(|e| format!("could not start {}: {e}", program.display()))?;
            match wait_until_ready(port, &mut child, &log_path, log_start)? {
                Ready::Yes => {
                    return Ok(Server {
                        folder,
                        root,
                        port,
                        access_key_id,
                        secret_access_key,
                        child: Mutex::new(child),
                        next_bucket: AtomicU64::new(0),
                    });
                }
                Ready::PortTaken => continue,
            }
        }
        Err(format!(
            "the server could not get a free port in {PORT_ATTEMPTS} attempts; its log {}:\n{}",
            log_path.display(),
            sluice_testproc::log_tail(&log_path, 0)
        ))
    }
}

/// Whether s3s-fs is installed (for tests that skip with a message when it is not and CI is not set).
pub fn available() -> bool {
    find_program().is_ok()
}

/// The s3s-fs program: `$SLUICE_S3S_FS`, else `s3s-fs` on `PATH`, else
/// `$CARGO_HOME/bin/s3s-fs` (`CARGO_HOME` defaulting to `~/.cargo`, where
/// `cargo install` puts it).
fn find_program() -> Result<PathBuf, String> {
    if let Some(program) = std::env::var_os("SLUICE_S3S_FS") {
        let program = PathBuf::from(program);
        return if program.is_file() {
            Ok(program)
        } else {
            Err(format!(
                "s3s-fs is not installed: SLUICE_S3S_FS is {} but there is no such file. \
                 Point it at the s3s-fs program, or unset it (scripts/test.sh installs it \
                 with `{INSTALL}`).",
                program.display()
            ))
        };
    }
    if let Some(program) = std::env::var_os("PATH")
        .iter()
        .flat_map(std::env::split_paths)
        .map(|dir| dir.join(PROGRAM))
        .find(|program| program.is_file())
    {
        return Ok(program);
    }
    let cargo_home = match std::env::var_os("CARGO_HOME") {
        Some(home) => Some(PathBuf::from(home)),
        None => std::env::var_os("HOME").map(|home| PathBuf::from(home).join(".cargo")),
    };
    let installed = cargo_home.map(|home| home.join("bin").join(PROGRAM));
    if let Some(program) = installed.as_ref().filter(|program| program.is_file()) {
        return Ok(program.clone());
    }
    Err(format!(
        "s3s-fs is not installed: found no s3s-fs in $SLUICE_S3S_FS (not set), any folder on \
         PATH or {}. scripts/test.sh installs it with `{INSTALL}`; or set SLUICE_S3S_FS to \
         the program.",
        match &installed {
            Some(program) => program.display().to_string(),
            None => "$CARGO_HOME/bin (neither CARGO_HOME nor HOME is set)".to_owned(),
        }
    ))
}

/// `length` characters picked at random from `alphabet` (from the
/// kernel's random source; the slight bias of picking by remainder does not
/// matter for a test's credentials).
fn random_text(length: usize, alphabet: &[u8]) -> Result<String, String> {
    let mut bytes = vec![0; length];
    File::open("/dev/urandom")
        .and_then(|mut random| random.read_exact(&mut bytes))
        .map_err(|e| format!("could not read /dev/urandom: {e}"))?;
    Ok(bytes
        .iter()
        .map(|&byte| char::from(alphabet[usize::from(byte) % alphabet.len()]))
        .collect())
}

/// Whether the server came up.
enum Ready {
    Yes,
    /// It stopped because its port was taken: try another.
    PortTaken,
}

/// Waits until the server has said it listens (so that whatever answers on
/// the port is this server, not another process that took the port) and
/// answers an HTTP request.
fn wait_until_ready(
    port: u16,
    child: &mut Child,
    log: &Path,
    log_start: u64,
) -> Result<Ready, String> {
    let deadline = Instant::now() + READY_TIMEOUT;
    loop {
        if let Ok(Some(status)) = child.try_wait() {
            let text = sluice_testproc::log_tail(log, log_start);
            if text.contains("Address already in use") {
                return Ok(Ready::PortTaken);
            }
            return Err(format!(
                "the server stopped while starting ({status}); its log {}:\n{text}",
                log.display()
            ));
        }
        if sluice_testproc::log_tail(log, log_start).contains(LISTENING) && answers_http(port) {
            return Ok(Ready::Yes);
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            return Err(format!(
                "the server did not answer HTTP on port {port} within {} s; its log {}:\n{}",
                READY_TIMEOUT.as_secs(),
                log.display(),
                sluice_testproc::log_tail(log, log_start)
            ));
        }
        thread::sleep(Duration::from_millis(50));
    }
}

/// Whether an HTTP request to the port gets an HTTP response (of any
/// status: this one is unsigned, so it is refused).
fn answers_http(port: u16) -> bool {
    let address = SocketAddr::from(([127, 0, 0, 1], port));
    let Ok(mut stream) = TcpStream::connect_timeout(&address, Duration::from_secs(1)) else {
        return false;
    };
    let _ = stream.set_read_timeout(Some(Duration::from_secs(2)));
    let _ = stream.set_write_timeout(Some(Duration::from_secs(2)));
    let request = format!("GET / HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n\r\n");
    if stream.write_all(request.as_bytes()).is_err() {
        return false;
    }
    let mut start = [0; 7];
    stream.read_exact(&mut start).is_ok() && &start == b"HTTP/1."
}

#[cfg(test)]
mod tests {
    use super::*;
    use sha2::{Digest, Sha256};
    use std::io::BufRead;
    use std::time::SystemTime;

    /// A response: its status and body.
    #[derive(Debug)]
    struct Response {
        status: u16,
        body: String,
    }

    /// Sends `method path` with `headers` and `body` to the server over a
    /// plain TCP connection, and reads the whole response.
    fn send(method: &str, path: &str, headers: &[(String, String)], body: &[u8]) -> Response {
        let server = Server::shared();
        let mut stream = TcpStream::connect(("127.0.0.1", server.port)).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        let mut request = format!("{method} {path} HTTP/1.1\r\nConnection: close\r\n");
        for (name, value) in headers {
            request.push_str(&format!("{name}: {value}\r\n"));
        }
        request.push_str(&format!("Content-Length: {}\r\n\r\n", body.len()));
        stream.write_all(request.as_bytes()).unwrap();
        stream.write_all(body).unwrap();
        let mut response = Vec::new();
        stream.read_to_end(&mut response).unwrap();
        let response = String::from_utf8_lossy(&response).into_owned();
        let (head, body) = response.split_once("\r\n\r\n").unwrap_or((&response, ""));
        let status = head
            .split(' ')
            .nth(1)
            .and_then(|status| status.parse().ok())
            .unwrap_or_else(|| panic!("not an HTTP response: {response:?}"));
        Response {
            status,
            body: body.to_owned(),
        }
    }

    /// HMAC-SHA-256 (RFC 2104).
    fn hmac(key: &[u8], message: &[u8]) -> [u8; 32] {
        let mut block = [0u8; 64];
        if key.len() > 64 {
            block[..32].copy_from_slice(&Sha256::digest(key));
        } else {
            block[..key.len()].copy_from_slice(key);
        }
        let pad = |byte: u8| block.iter().map(|k| k ^ byte).collect::<Vec<u8>>();
        let inner = Sha256::new()
            .chain_update(pad(0x36))
            .chain_update(message)
            .finalize();
        Sha256::new()
            .chain_update(pad(0x5c))
            .chain_update(inner)
            .finalize()
            .into()
    }

    fn hex(bytes: &[u8]) -> String {
        bytes.iter().map(|byte| format!("{byte:02x}")).collect()
    }

    /// Now, as SigV4's `YYYYMMDDTHHMMSSZ`.
    fn amz_date() -> String {
        let seconds = SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .unwrap()
            .as_secs();
        let (days, time) = (seconds / 86_400, seconds % 86_400);
        // Days since 1970-01-01 to a civil date (Howard Hinnant's algorithm).
        let z = days as i64 + 719_468;
        let era = z.div_euclid(146_097);
        let day_of_era = z - era * 146_097;
        let year_of_era =
            (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
        let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
        let mp = (5 * day_of_year + 2) / 153;
        let day = day_of_year - (153 * mp + 2) / 5 + 1;
        let month = if mp < 10 { mp + 3 } else { mp - 9 };
        let year = year_of_era + era * 400 + i64::from(month <= 2);
        format!(
            "{year:04}{month:02}{day:02}T{:02}{:02}{:02}Z",
            time / 3600,
            time / 60 % 60,
            time % 60
        )
    }

    /// The headers of `method path` (no query) with `body`, signed with
    /// AWS Signature Version 4 by `access_key_id` and `secret`.
    fn signed_headers(
        method: &str,
        path: &str,
        body: &[u8],
        access_key_id: &str,
        secret: &str,
    ) -> Vec<(String, String)> {
        let server = Server::shared();
        let host = format!("127.0.0.1:{}", server.port);
        let date = amz_date();
        let day = &date[..8];
        let payload = hex(&Sha256::digest(body));
        let names = "host;x-amz-content-sha256;x-amz-date";
        let canonical = format!(
            "{method}\n{path}\n\nhost:{host}\nx-amz-content-sha256:{payload}\nx-amz-date:{date}\n\n{names}\n{payload}"
        );
        let scope = format!("{day}/us-east-1/s3/aws4_request");
        let to_sign = format!(
            "AWS4-HMAC-SHA256\n{date}\n{scope}\n{}",
            hex(&Sha256::digest(canonical.as_bytes()))
        );
        let mut key = hmac(format!("AWS4{secret}").as_bytes(), day.as_bytes());
        for part in ["us-east-1", "s3", "aws4_request"] {
            key = hmac(&key, part.as_bytes());
        }
        let signature = hex(&hmac(&key, to_sign.as_bytes()));
        vec![
            ("Host".into(), host),
            ("x-amz-content-sha256".into(), payload),
            ("x-amz-date".into(), date),
            (
                "Authorization".into(),
                format!(
                    "AWS4-HMAC-SHA256 Credential={access_key_id}/{scope}, \
                     SignedHeaders={names}, Signature={signature}"
                ),
            ),
        ]
    }

    #[test]
    fn s3s_fs_is_available_here() {
        assert!(available());
    }

    #[test]
    fn unsigned_requests_are_refused() {
        let server = Server::shared();
        let bucket = server.bucket();
        let host = vec![("Host".to_owned(), format!("127.0.0.1:{}", server.port))];
        let response = send("GET", &format!("/{bucket}"), &host, b"");
        assert_eq!(response.status, 403, "{response:?}");
        assert!(response.body.contains("AccessDenied"), "{response:?}");
        let response = send("PUT", &format!("/{bucket}/key"), &host, b"data");
        assert_eq!(response.status, 403, "{response:?}");
        assert!(!server.root().join(&bucket).join("key").exists());
    }

    #[test]
    fn only_requests_signed_with_the_secret_are_served() {
        let server = Server::shared();
        let bucket = server.bucket();
        let list = format!("/{bucket}");
        let id = server.access_key_id();

        let wrong = signed_headers("GET", &list, b"", id, "not-the-secret");
        let response = send("GET", &list, &wrong, b"");
        assert_eq!(response.status, 403, "{response:?}");
        assert!(
            response.body.contains("SignatureDoesNotMatch"),
            "{response:?}"
        );

        let other_id = signed_headers("GET", &list, b"", "SOMEONEELSE", "x");
        let response = send("GET", &list, &other_id, b"");
        assert_eq!(response.status, 403, "{response:?}");

        let secret = server.secret_access_key();
        let right = signed_headers("GET", &list, b"", id, secret);
        let response = send("GET", &list, &right, b"");
        assert_eq!(response.status, 200, "{response:?}");
        assert!(response.body.contains("<ListBucketResult"), "{response:?}");

        // A signed request whose body is not the one signed is refused
        // (s3s-fs 0.14.1 answers `500 InternalError`, where S3 answers
        // `400 XAmzContentSHA256Mismatch`), and nothing is stored.
        let object = format!("/{bucket}/dir/object.txt");
        let stored = server.root().join(&bucket).join("dir/object.txt");
        let headers = signed_headers("PUT", &object, b"signed", id, secret);
        let response = send("PUT", &object, &headers, b"sent!!");
        assert!(response.status >= 400, "{response:?}");
        assert!(!stored.exists());

        let response = send("PUT", &object, &headers, b"signed");
        assert_eq!(response.status, 200, "{response:?}");
        assert_eq!(fs::read(stored).unwrap(), b"signed");
    }

    #[test]
    fn each_bucket_is_new_and_exists() {
        let server = Server::shared();
        let first = server.bucket();
        let second = server.bucket();
        assert_ne!(first, second);
        for name in [&first, &second] {
            assert!((3..=63).contains(&name.len()), "{name}");
            assert!(
                name.bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-'),
                "{name}"
            );
            let folder = server.root().join(name);
            assert!(folder.is_dir(), "{}", folder.display());
            assert_eq!(fs::read_dir(folder).unwrap().count(), 0);
        }
        assert_eq!(
            server.endpoint(),
            format!("http://127.0.0.1:{}", server.port)
        );
        assert_eq!(server.access_key_id().len(), 20);
        assert_eq!(server.secret_access_key().len(), 40);
    }

    /// Run by [`the_server_dies_with_the_test_process`] in a process of its
    /// own: starts the server, says which it is, and waits to be killed.
    #[test]
    #[ignore = "run by the_server_dies_with_the_test_process"]
    fn server_in_a_process_to_kill() {
        if std::env::var_os("SLUICE_S3TEST_KILL_ME").is_none() {
            return;
        }
        let server = Server::shared();
        let pid = server.child.lock().unwrap().id();
        println!("server {pid} {}", server.folder.display());
        loop {
            thread::sleep(Duration::from_secs(1));
        }
    }

    #[test]
    fn the_server_dies_with_the_test_process() {
        /// Kills the child test process when this test fails early.
        struct Killed(Child);
        impl Drop for Killed {
            fn drop(&mut self) {
                let _ = self.0.kill();
                let _ = self.0.wait();
            }
        }
        let mut test = Command::new(std::env::current_exe().unwrap())
            .args([
                "--exact",
                "tests::server_in_a_process_to_kill",
                "--ignored",
                "--nocapture",
            ])
            .env("SLUICE_S3TEST_KILL_ME", "1")
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let stdout = std::io::BufReader::new(test.stdout.take().unwrap());
        let mut test = Killed(test);
        let line = stdout
            .lines()
            .map(Result::unwrap)
            .find(|line| line.starts_with("server "))
            .expect("the child test did not start its server");
        let mut words = line.split(' ').skip(1);
        let pid: u32 = words.next().unwrap().parse().unwrap();
        let folder = PathBuf::from(words.next().unwrap());
        let stat = format!("/proc/{pid}/stat");
        assert!(Path::new(&stat).exists(), "the server {pid} is not running");

        // SIGKILL: no destructor, no exit handler runs in the test process.
        test.0.kill().unwrap();
        test.0.wait().unwrap();
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if sluice_testproc::is_gone(pid) {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "the server {pid} outlived its test process"
            );
            thread::sleep(Duration::from_millis(50));
        }
        let _ = fs::remove_dir_all(folder);
    }
}
