//! A real, throwaway PostgreSQL server for tests.
//!
//! Tests that talk to PostgreSQL start their own server rather than expect
//! one to be running: [`Server::shared`] runs `initdb` into a fresh folder
//! under the temporary directory and starts `postgres` on a free loopback
//! port, once per test process, and [`Server::database`] hands each test a
//! new, empty database on it. Nothing depends on the host's configuration,
//! its locale or a password.
//!
//! PostgreSQL refuses to run as root, and tests often do (in containers and
//! CI), so when the tests run as root the server runs as the `postgres`
//! system user that Debian's package creates; otherwise it runs as the
//! current user. The clients (`psql`, `pg_isready`) run as the current user.
//!
//! No server may outlive the tests, even when they panic or are killed: the
//! server is the test process's child, started with a parent-death signal
//! (`PR_SET_PDEATHSIG`, `SIGQUIT`: PostgreSQL's immediate shutdown) from a
//! thread that never ends, because the kernel sends that signal when the
//! *thread* that started the child ends. The data folders of processes that
//! have ended are removed when the next server starts.

#![deny(missing_docs)]

use std::fs::{self, OpenOptions};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, OnceLock};
use std::thread;
use std::time::{Duration, Instant};

/// Where Debian's packages install each PostgreSQL version (`<version>/bin`).
const DEBIAN_ROOT: &str = "/usr/lib/postgresql";
/// How many ports to try when one turns out to be taken.
const PORT_ATTEMPTS: usize = 5;
/// How long the server may take to accept connections.
const READY_TIMEOUT: Duration = Duration::from_secs(30);
/// The superuser `initdb` creates, and the system user the server runs as
/// when the tests run as root.
const SUPERUSER: &str = "postgres";
/// The name of the server's log file in its data folder.
const LOG_FILE: &str = "postgres.log";

/// A PostgreSQL server started for this test process, shared by its tests; stopped when the process exits.
pub struct Server {
    bin_dir: PathBuf,
    data_dir: PathBuf,
    port: u16,
    /// The postmaster, kept so failures can say whether it is still running.
    child: Mutex<Child>,
    next_database: AtomicU64,
}

impl std::fmt::Debug for Server {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Server")
            .field("bin_dir", &self.bin_dir)
            .field("data_dir", &self.data_dir)
            .field("port", &self.port)
            .finish_non_exhaustive()
    }
}

/// The process's server, or why it could not be started (kept, so that
/// every test fails quickly with the same message instead of each trying
/// again).
static SHARED: OnceLock<Result<Server, String>> = OnceLock::new();

impl Server {
    /// The process's server, started on first use (initdb into a temporary folder, then `postgres` on a free loopback port and a Unix socket in that folder). Panics with a clear message when PostgreSQL is not installed (say which paths were searched and that scripts/test.sh installs Debian's postgresql).
    pub fn shared() -> &'static Server {
        match SHARED.get_or_init(Server::start) {
            Ok(server) => server,
            Err(message) => panic!("sluice-pgtest: {message}"),
        }
    }

    /// A new, empty database on it, and its URL: `postgres://USER@127.0.0.1:PORT/NAME` (no password: the cluster trusts loopback). Each call creates a fresh database with a unique name (e.g. `t_<pid>_<counter>`), created with `CREATE DATABASE ... TEMPLATE template0 ENCODING 'UTF8' LC_COLLATE 'C' LC_CTYPE 'C'` so behaviour does not depend on the host's locale.
    pub fn database(&self) -> String {
        let number = self.next_database.fetch_add(1, Ordering::Relaxed);
        let name = format!("t_{}_{number}", std::process::id());
        let sql = format!(
            "CREATE DATABASE {name} TEMPLATE template0 ENCODING 'UTF8' LC_COLLATE 'C' LC_CTYPE 'C'"
        );
        let output = self
            .psql("postgres")
            .args(["-c", &sql])
            .output()
            .unwrap_or_else(|e| {
                panic!(
                    "sluice-pgtest: could not run {}: {e}",
                    self.bin_dir.join("psql").display()
                )
            });
        if !output.status.success() {
            panic!(
                "sluice-pgtest: could not create database {name} on port {} ({}): {}{}",
                self.port,
                output.status,
                String::from_utf8_lossy(&output.stderr).trim(),
                self.state(),
            );
        }
        format!("postgres://{SUPERUSER}@127.0.0.1:{}/{name}", self.port)
    }

    /// The port.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The bin directory used.
    pub fn bin_dir(&self) -> &Path {
        &self.bin_dir
    }

    /// `psql` as the superuser over loopback TCP to `database`, quiet,
    /// without `~/.psqlrc`, stopping at the first error.
    fn psql(&self, database: &str) -> Command {
        let mut command = client(&self.bin_dir.join("psql"));
        command.args(["-X", "-q", "-h", "127.0.0.1", "-p"]);
        command.arg(self.port.to_string());
        command.args(["-U", SUPERUSER, "-d", database, "-v", "ON_ERROR_STOP=1"]);
        command
    }

    /// For error messages: whether the server is still running, and where
    /// its log is (or, when it has stopped, the end of that log).
    fn state(&self) -> String {
        let log = self.data_dir.join(LOG_FILE);
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
        let bin_dir = find_bin_dir()?;
        let owner = if is_root() {
            Some(postgres_user()?)
        } else {
            None
        };
        let parent = std::env::temp_dir();
        sluice_testproc::remove_stale_folders(&parent, "sluice-pg-");
        let data_dir = tempfile::Builder::new()
            .prefix(&format!("sluice-pg-{}-", std::process::id()))
            .tempdir_in(&parent)
            .map_err(|e| format!("could not create a folder in {}: {e}", parent.display()))?
            .keep();
        if let Some(user) = owner {
            std::os::unix::fs::chown(&data_dir, Some(user.uid), Some(user.gid)).map_err(|e| {
                format!(
                    "could not give {} to the {SUPERUSER} user: {e}",
                    data_dir.display()
                )
            })?;
        }

        let initdb = bin_dir.join("initdb");
        let output = server_command(&initdb, owner, &data_dir)
            .arg("-D")
            .arg(&data_dir)
            .args(["-A", "trust", "-U", SUPERUSER, "--no-sync", "-E", "UTF8"])
            .arg("--locale=C")
            .stdin(Stdio::null())
            .output()
            .map_err(|e| format!("could not run {}: {e}", initdb.display()))?;
        if !output.status.success() {
            return Err(format!(
                "{} failed ({}){}:\n{}{}",
                initdb.display(),
                output.status,
                match owner {
                    Some(_) => format!(
                        " as the {SUPERUSER} user (it must be able to reach {})",
                        data_dir.display()
                    ),
                    None => String::new(),
                },
                String::from_utf8_lossy(&output.stdout),
                String::from_utf8_lossy(&output.stderr),
            ));
        }

        let log_path = data_dir.join(LOG_FILE);
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
            let postgres = bin_dir.join("postgres");
            let mut command = server_command(&postgres, owner, &data_dir);
            command
                .arg("-D")
                .arg(&data_dir)
                .arg("-p")
                .arg(port.to_string())
                .arg("-k")
                .arg(&data_dir)
                .args(["-c", "listen_addresses=127.0.0.1"])
                .args(["-c", "fsync=off"])
                .args(["-c", "synchronous_commit=off"])
                .args(["-c", "full_page_writes=off"])
                .args(["-c", "max_connections=200"])
                .stdin(Stdio::null())
                .stdout(stdout)
                .stderr(stderr);
            let mut child =
                sluice_testproc::spawn_tied_to_process(command, libc::SIGQUIT, "sluice-pgtest")
                    .map_err(|e| format!("could not start {}: {e}", postgres.display()))?;
            match wait_until_ready(&bin_dir, &data_dir, port, &mut child, &log_path, log_start)? {
                Ready::Yes => {
                    return Ok(Server {
                        bin_dir,
                        data_dir,
                        port,
                        child: Mutex::new(child),
                        next_database: AtomicU64::new(0),
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

/// Whether PostgreSQL is installed here (the bin folder exists), for tests that skip with a message when it is not and CI is not set.
pub fn available() -> bool {
    find_bin_dir().is_ok()
}

/// The folder with PostgreSQL's programs: `$SLUICE_PG_BIN`, else the
/// highest-numbered `/usr/lib/postgresql/*/bin` with `initdb`, else the
/// folder on `PATH` with `initdb`.
fn find_bin_dir() -> Result<PathBuf, String> {
    if let Some(dir) = std::env::var_os("SLUICE_PG_BIN") {
        let dir = PathBuf::from(dir);
        return if dir.join("initdb").is_file() {
            Ok(dir)
        } else {
            Err(format!(
                "PostgreSQL is not installed: SLUICE_PG_BIN is {} but it has no initdb. \
                 Point it at a folder with initdb, postgres, pg_isready and psql, or unset it \
                 (scripts/test.sh installs Debian's postgresql).",
                dir.display()
            ))
        };
    }
    let mut versions: Vec<(Vec<u32>, PathBuf)> = fs::read_dir(DEBIAN_ROOT)
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|entry| {
            let name = entry.file_name();
            let version = name
                .to_str()?
                .split('.')
                .map(|part| part.parse().ok())
                .collect::<Option<Vec<u32>>>()?;
            let bin = entry.path().join("bin");
            bin.join("initdb").is_file().then_some((version, bin))
        })
        .collect();
    versions.sort();
    if let Some((_, bin)) = versions.pop() {
        return Ok(bin);
    }
    if let Some(dir) = std::env::var_os("PATH")
        .iter()
        .flat_map(std::env::split_paths)
        .find(|dir| dir.join("initdb").is_file())
    {
        return Ok(dir);
    }
    Err(format!(
        "PostgreSQL is not installed: found no initdb in $SLUICE_PG_BIN (not set), \
         {DEBIAN_ROOT}/*/bin or any folder on PATH. scripts/test.sh installs Debian's \
         postgresql; or set SLUICE_PG_BIN to a folder with initdb, postgres, pg_isready and psql."
    ))
}

/// A user to run the server as.
#[derive(Debug, Clone, Copy)]
struct User {
    uid: u32,
    gid: u32,
}

/// Whether this process runs as root (then PostgreSQL must run as another
/// user).
#[allow(unsafe_code)]
fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions and cannot fail.
    unsafe { libc::geteuid() == 0 }
}

/// The `postgres` system user, from `/etc/passwd`.
fn postgres_user() -> Result<User, String> {
    let passwd = fs::read_to_string("/etc/passwd")
        .map_err(|e| format!("could not read /etc/passwd: {e}"))?;
    passwd
        .lines()
        .find_map(|line| {
            let fields: Vec<&str> = line.split(':').collect();
            match fields.as_slice() {
                [name, _, uid, gid, ..] if *name == SUPERUSER => Some(User {
                    uid: uid.parse().ok()?,
                    gid: gid.parse().ok()?,
                }),
                _ => None,
            }
        })
        .ok_or_else(|| {
            format!(
                "the tests run as root, which PostgreSQL refuses, and there is no {SUPERUSER} \
                 user in /etc/passwd to run it as (Debian's postgresql package creates it; \
                 scripts/test.sh installs it)"
            )
        })
}

/// A command with none of the caller's `PG*` variables (which would point
/// PostgreSQL's programs elsewhere) and messages in English.
fn clean_command(program: &Path) -> Command {
    let mut command = Command::new(program);
    for (key, _) in std::env::vars_os() {
        if key.to_string_lossy().starts_with("PG") {
            command.env_remove(key);
        }
    }
    command.env("LC_ALL", "C").env("LANG", "C");
    command
}

/// A client program (`psql`, `pg_isready`), run as the current user.
fn client(program: &Path) -> Command {
    let mut command = clean_command(program);
    command.env("PGCONNECT_TIMEOUT", "10").stdin(Stdio::null());
    command
}

/// A server program (`initdb`, `postgres`), run as `owner` when given, in
/// the data folder, with its parent as the home folder (the current folder
/// and home of root are out of the `postgres` user's reach).
fn server_command(program: &Path, owner: Option<User>, data_dir: &Path) -> Command {
    let mut command = clean_command(program);
    command.current_dir(data_dir);
    if let Some(home) = data_dir.parent() {
        command.env("HOME", home);
    }
    if let Some(user) = owner {
        command.uid(user.uid).gid(user.gid);
    }
    command
}

/// Whether the server came up.
enum Ready {
    Yes,
    /// It stopped because its port was taken: try another.
    PortTaken,
}

/// Waits until the server accepts connections on its socket in `data_dir`
/// (which only it can have made, unlike a port) and then over TCP.
fn wait_until_ready(
    bin_dir: &Path,
    data_dir: &Path,
    port: u16,
    child: &mut Child,
    log: &Path,
    log_start: u64,
) -> Result<Ready, String> {
    let deadline = Instant::now() + READY_TIMEOUT;
    let ready = |host: &Path| {
        client(&bin_dir.join("pg_isready"))
            .arg("-q")
            .arg("-h")
            .arg(host)
            .arg("-p")
            .arg(port.to_string())
            .args(["-t", "5", "-U", SUPERUSER, "-d", "postgres"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|status| status.success())
    };
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
        if ready(data_dir) && ready(Path::new("127.0.0.1")) {
            return Ok(Ready::Yes);
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            return Err(format!(
                "the server did not accept connections on port {port} within {} s; its log {}:\n{}",
                READY_TIMEOUT.as_secs(),
                log.display(),
                sluice_testproc::log_tail(log, log_start)
            ));
        }
        thread::sleep(Duration::from_millis(50));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::BufRead;

    /// `select 1` on the database at `url`, through psql.
    fn query(url: &str, sql: &str) -> String {
        let server = Server::shared();
        let output = client(&server.bin_dir().join("psql"))
            .args([
                "-X",
                "-A",
                "-t",
                "-v",
                "ON_ERROR_STOP=1",
                "-d",
                url,
                "-c",
                sql,
            ])
            .output()
            .unwrap();
        assert!(
            output.status.success(),
            "psql {url} -c {sql:?}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        String::from_utf8(output.stdout).unwrap().trim().to_owned()
    }

    #[test]
    fn postgres_is_available_here() {
        assert!(available());
    }

    #[test]
    fn each_database_is_new_and_usable() {
        let server = Server::shared();
        let first = server.database();
        let second = server.database();
        assert_ne!(first, second);
        let prefix = format!("postgres://postgres@127.0.0.1:{}/t_", server.port());
        for url in [&first, &second] {
            assert!(url.starts_with(&prefix), "{url}");
            assert_eq!(query(url, "select 1"), "1");
            let name = url.rsplit('/').next().unwrap();
            assert_eq!(query(url, "select current_database()"), name);
            assert_eq!(
                query(
                    url,
                    "select pg_encoding_to_char(encoding), datcollate, datctype \
                     from pg_database where datname = current_database()"
                ),
                "UTF8|C|C"
            );
        }
        query(&first, "create table only_here (x int)");
        assert_eq!(
            query(
                &second,
                "select count(*) from pg_class where relname = 'only_here'"
            ),
            "0"
        );
        assert!(server.bin_dir().join("postgres").is_file());
    }

    /// Run by [`the_server_dies_with_the_test_process`] in a process of its
    /// own: starts the server, says which it is, and waits to be killed.
    #[test]
    #[ignore = "run by the_server_dies_with_the_test_process"]
    fn server_in_a_process_to_kill() {
        if std::env::var_os("SLUICE_PGTEST_KILL_ME").is_none() {
            return;
        }
        let server = Server::shared();
        let pid = server.child.lock().unwrap().id();
        println!("server {pid} {}", server.data_dir.display());
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
            .env("SLUICE_PGTEST_KILL_ME", "1")
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
        let data_dir = PathBuf::from(words.next().unwrap());
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
        let _ = fs::remove_dir_all(data_dir);
    }
}
