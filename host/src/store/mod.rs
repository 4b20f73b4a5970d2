//! Durable state: SQLite (bundled, in the state directory, WAL mode) or
//! PostgreSQL (a database many hosts share), with versioned schema
//! migrations for each. Pipelines and their versions, executions with their
//! stage and action runs (every attempt kept), artifacts, transitions, and
//! the commands other processes leave for the one driving the engine.
//!
//! Every engine step is written in one transaction ([`Store::write_step`]).
//! The rest of Sluice reaches the database only through [`Store`]; its SQL
//! is written once, in the dialect both databases accept (`db.rs`).

#[macro_use]
mod db;
mod access;
mod action_types;
mod aws_jobs;
mod executions;
mod jobs;
mod pipelines;
mod postgres;
mod requests;
mod retention;
mod rows;
mod schema;
mod tags;
pub mod webhooks;

pub use access::{AuditEntry, TokenInfo};
pub use aws_jobs::{AwsJob, state as aws_job_state};
pub use db::WRITER_LOCK;
pub use executions::{ActionAttempt, Counts, ExecutionSummary, StageAttempt};
pub use jobs::{ClaimedJob, JobOutcome, JobRecord, LEASE_SCOPE, Lease, NewJob};
pub use pipelines::{Deletion, PipelineSummary};
pub use postgres::round_trips;
pub use retention::Expired;
pub use tags::MAX_TAGS;

use db::Db;
use rusqlite::{Connection, OpenFlags};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Why the store could not do something.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// SQLite said no.
    #[error("state database {}: {source}", path.display())]
    Sqlite {
        /// The database file.
        path: PathBuf,
        /// SQLite's error.
        source: rusqlite::Error,
    },
    /// The state folder could not be used.
    #[error("state directory {}: {source}", path.display())]
    Io {
        /// The folder.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// A stored value could not be read back.
    #[error("state database {}: corrupt value in {what}: {message}", path.display())]
    Corrupt {
        /// The database file.
        path: PathBuf,
        /// Which value.
        what: String,
        /// What is wrong with it.
        message: String,
    },
    /// PostgreSQL said no, or could not be reached.
    #[error("PostgreSQL database {database}: {message}")]
    Postgres {
        /// The database's URL, without its password.
        database: String,
        /// What went wrong.
        message: String,
    },
    /// The state directory names a database that cannot be used.
    #[error("{}: {message}", path.display())]
    DatabaseUrl {
        /// The file naming it.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// The database was written by a newer Sluice.
    #[error(
        "state database {} has schema version {found}, newer than this sluice understands ({known}); use a newer sluice",
        path.display()
    )]
    TooNew {
        /// The database file.
        path: PathBuf,
        /// Its version.
        found: i64,
        /// The newest this build knows.
        known: i64,
    },
    /// A write of a host whose lease another host has since taken over,
    /// refused by the fence.
    #[error("PostgreSQL database {database}: {message}")]
    Fenced {
        /// The database's URL, without its password.
        database: String,
        /// What the fence said.
        message: String,
    },
}

/// The state database of one state directory.
pub struct Store {
    db: Db,
    state_dir: PathBuf,
    /// The fencing token every engine step is written under (PostgreSQL):
    /// set by a driver holding the lease.
    fence: Option<i64>,
}

impl Store {
    /// The state directory the database belongs to.
    pub fn state_dir(&self) -> &Path {
        &self.state_dir
    }
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store")
            .field("database", &self.db.location())
            .finish()
    }
}

/// The PostgreSQL notification channel of commands left for the driver.
const REQUESTS_CHANNEL: &str = "sluice_requests";
/// The PostgreSQL notification channel of commands answered.
const ANSWERS_CHANNEL: &str = "sluice_answers";
/// The PostgreSQL notification channel of engine steps written.
const CHANGES_CHANNEL: &str = "sluice_changes";

/// Records that the state directory `state_dir` keeps its state in the
/// PostgreSQL database at `url` (its `database-url` file, owner-only).
/// Refused when the state directory already uses another database, or
/// already has a SQLite database of its own: a state directory never
/// changes database under its executions.
pub fn use_database(state_dir: &Path, url: &str) -> Result<(), StoreError> {
    let layout = crate::state_dir::StateDir::at(state_dir);
    let file = layout.database_url();
    let refuse = |message: String| StoreError::DatabaseUrl {
        path: file.clone(),
        message,
    };
    if !(url.starts_with("postgres://") || url.starts_with("postgresql://")) {
        return Err(refuse(format!(
            "--database {}: only PostgreSQL URLs (postgres://USER@HOST[:PORT]/DATABASE) are accepted; without --database the state directory keeps its own SQLite database",
            postgres::without_password(url)
        )));
    }
    match std::fs::read_to_string(&file) {
        Ok(existing) if existing.trim() == url => return Ok(()),
        Ok(existing) => {
            return Err(refuse(format!(
                "this state directory uses {}, not {}; give each host a state directory of its own",
                postgres::without_password(existing.trim()),
                postgres::without_password(url)
            )));
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(source) => {
            return Err(StoreError::Io { path: file, source });
        }
    }
    if layout.database().exists() {
        return Err(refuse(format!(
            "this state directory already keeps its state in {}; use a new state directory for {}",
            layout.database().display(),
            postgres::without_password(url)
        )));
    }
    std::fs::create_dir_all(state_dir).map_err(|source| StoreError::Io {
        path: state_dir.to_path_buf(),
        source,
    })?;
    let write = || -> std::io::Result<()> {
        use std::io::Write;
        use std::os::unix::fs::OpenOptionsExt;
        let mut out = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&file)?;
        out.write_all(format!("{url}\n").as_bytes())?;
        out.sync_all()
    };
    write().map_err(|source| StoreError::Io {
        path: file.clone(),
        source,
    })
}

/// Whether `state_dir` has a database yet: its SQLite file, or a
/// PostgreSQL database it names.
pub fn exists(state_dir: &Path) -> bool {
    let layout = crate::state_dir::StateDir::at(state_dir);
    layout.database().exists() || layout.database_url().exists()
}

impl Store {
    /// Opens (creating when missing) the state directory's database and
    /// brings its schema up to date: the PostgreSQL database its
    /// `database-url` names, else its own SQLite file.
    pub fn open(state_dir: &Path) -> Result<Store, StoreError> {
        std::fs::create_dir_all(state_dir).map_err(|source| StoreError::Io {
            path: state_dir.to_path_buf(),
            source,
        })?;
        let layout = crate::state_dir::StateDir::at(state_dir);
        let url_file = layout.database_url();
        let db = match std::fs::read_to_string(&url_file) {
            Ok(url) => Db::Postgres(postgres::Postgres::connect(url.trim())?),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let path = layout.database();
                let conn = Connection::open_with_flags(
                    &path,
                    OpenFlags::SQLITE_OPEN_READ_WRITE
                        | OpenFlags::SQLITE_OPEN_CREATE
                        | OpenFlags::SQLITE_OPEN_NO_MUTEX,
                )
                .map_err(|source| StoreError::Sqlite {
                    path: path.clone(),
                    source,
                })?;
                Db::Sqlite { conn, path }
            }
            Err(source) => {
                return Err(StoreError::Io {
                    path: url_file,
                    source,
                });
            }
        };
        let mut store = Store {
            db,
            state_dir: state_dir.to_path_buf(),
            fence: None,
        };
        store.configure()?;
        store.migrate()?;
        Ok(store)
    }

    /// Where the data is: the SQLite file, or the PostgreSQL URL without
    /// its password.
    pub fn path(&self) -> PathBuf {
        self.db.location()
    }

    /// Whether the state is in PostgreSQL.
    pub fn is_postgres(&self) -> bool {
        self.db.is_postgres()
    }

    /// Hears each command left for the driver (`push_request`) as it is
    /// left, on PostgreSQL (`None` on SQLite: poll instead).
    pub fn listen_for_requests(
        &self,
    ) -> Result<Option<tokio::sync::broadcast::Receiver<String>>, StoreError> {
        self.db.listen(REQUESTS_CHANNEL)
    }

    /// Hears each command's answer as it is recorded, on PostgreSQL
    /// (`None` on SQLite).
    pub fn listen_for_answers(
        &self,
    ) -> Result<Option<tokio::sync::broadcast::Receiver<String>>, StoreError> {
        self.db.listen(ANSWERS_CHANNEL)
    }

    /// Hears each job queued for workers as it is queued, on PostgreSQL
    /// (`None` on SQLite).
    pub fn listen_for_jobs(
        &self,
    ) -> Result<Option<tokio::sync::broadcast::Receiver<String>>, StoreError> {
        self.db.listen(jobs::JOBS_CHANNEL)
    }

    /// Hears each job finished or lost, on PostgreSQL (`None` on SQLite).
    pub fn listen_for_finished_jobs(
        &self,
    ) -> Result<Option<tokio::sync::broadcast::Receiver<String>>, StoreError> {
        self.db.listen(jobs::JOBS_DONE_CHANNEL)
    }

    /// Hears each engine step as it commits, on PostgreSQL (`None` on
    /// SQLite).
    pub fn listen_for_changes(
        &self,
    ) -> Result<Option<tokio::sync::broadcast::Receiver<String>>, StoreError> {
        self.db.listen(CHANGES_CHANNEL)
    }

    /// Takes the database's driver lock for as long as this store lives,
    /// if no one holds it: on PostgreSQL, a session lock every host's
    /// driver asks for (so one drives the database at a time, and the lock
    /// goes with a host's connection when the host dies); on SQLite, whose
    /// file belongs to one state directory, the state directory's
    /// `driver.lock` is that lock and this always answers true.
    pub fn take_driver_lock(&self) -> Result<bool, StoreError> {
        if !self.db.is_postgres() {
            return Ok(true);
        }
        self.db
            .query_one("SELECT pg_try_advisory_lock(?1)", args![db::DRIVER_LOCK])?
            .get(0)
    }

    /// Whether a connection holds the database's driver lock (always false
    /// on SQLite: see [`Store::take_driver_lock`]). It only looks (in
    /// `pg_locks`): trying the lock to see would, for that moment, keep a
    /// driver starting elsewhere from taking it.
    pub fn driver_lock_held(&self) -> Result<bool, StoreError> {
        if !self.db.is_postgres() {
            return Ok(false);
        }
        // A bigint advisory key shows as its high and low halves.
        let held: i64 = self
            .db
            .query_one(
                "SELECT COUNT(*) FROM pg_catalog.pg_locks
                 WHERE locktype = 'advisory' AND granted
                   AND database = (SELECT oid FROM pg_catalog.pg_database
                                   WHERE datname = current_database())
                   AND classid::bigint = ?1 AND objid::bigint = ?2 AND objsubid = 1",
                args![db::DRIVER_LOCK >> 32, db::DRIVER_LOCK & 0xffff_ffff],
            )?
            .get(0)?;
        Ok(held > 0)
    }

    fn configure(&mut self) -> Result<(), StoreError> {
        let Some((conn, path)) = self.db.sqlite() else {
            return Ok(());
        };
        let at = |e| sqlite_at(path, e);
        conn.busy_timeout(Duration::from_secs(10)).map_err(at)?;
        conn.set_prepared_statement_cache_capacity(64);
        // WAL: readers never block the writer; NORMAL: a transaction is
        // durable once the WAL is written, which survives a killed
        // process (only a power loss can take the last ones).
        conn.execute_batch(
            "PRAGMA journal_mode = WAL;
             PRAGMA synchronous = NORMAL;
             PRAGMA foreign_keys = ON;",
        )
        .map_err(at)
    }

    fn migrate(&mut self) -> Result<(), StoreError> {
        let postgres = self.db.is_postgres();
        let migrations = if postgres {
            schema::POSTGRES
        } else {
            schema::SQLITE
        };
        let known = migrations.len() as i64;
        // Made once, under the writers' lock; every later open only reads.
        if postgres {
            let made: i64 = self
                .db
                .query_one(
                    "SELECT COUNT(*) FROM pg_catalog.pg_tables
                     WHERE schemaname = current_schema() AND tablename = 'sluice_schema'",
                    args![],
                )?
                .get(0)?;
            if made == 0 {
                self.db
                    .write(|db| db.batch(schema::POSTGRES_VERSION_TABLE))?;
            }
        }
        let current = self.schema_version()?;
        if current > known {
            return Err(StoreError::TooNew {
                path: self.path(),
                found: current,
                known,
            });
        }
        for (index, migration) in migrations.iter().enumerate().skip(current as usize) {
            let number = index as i64 + 1;
            self.db.write(|db| {
                // Another process may have migrated while we waited.
                if schema_version(db)? >= number {
                    return Ok(());
                }
                db.batch(migration)?;
                if db.is_postgres() {
                    db.execute("UPDATE sluice_schema SET version = ?1", args![number])?;
                } else {
                    db.batch(&format!("PRAGMA user_version = {number}"))?;
                }
                Ok(())
            })?;
        }
        Ok(())
    }

    /// The schema version.
    pub fn schema_version(&self) -> Result<i64, StoreError> {
        schema_version(&self.db)
    }

    /// Checks the database: SQLite's own page check (SQLite only; PostgreSQL
    /// checks its pages as it reads them), then that every record points at
    /// what it belongs to. `Ok` holds the findings, or "ok" when there are
    /// none.
    pub fn integrity_check(&self) -> Result<Vec<String>, StoreError> {
        let mut findings = Vec::new();
        if !self.db.is_postgres() {
            for row in self.db.query("PRAGMA integrity_check", args![])? {
                let line: String = row.get(0)?;
                if line != "ok" {
                    findings.push(line);
                }
            }
        }
        for (what, sql) in schema::CONSISTENCY {
            let ids: Vec<String> = self
                .db
                .query(sql, args![])?
                .iter()
                .map(|r| r.get(0))
                .collect::<Result<_, _>>()?;
            if !ids.is_empty() {
                findings.push(format!("{what}: {}", ids.join(", ")));
            }
        }
        if findings.is_empty() {
            findings.push("ok".into());
        }
        Ok(findings)
    }

    fn corrupt(&self, what: impl Into<String>, message: impl std::fmt::Display) -> StoreError {
        StoreError::Corrupt {
            path: self.path(),
            what: what.into(),
            message: message.to_string(),
        }
    }
}

fn schema_version(db: &Db) -> Result<i64, StoreError> {
    let sql = if db.is_postgres() {
        "SELECT version FROM sluice_schema"
    } else {
        "PRAGMA user_version"
    };
    db.query_one(sql, args![])?.get(0)
}

fn sqlite_at(path: &Path, source: rusqlite::Error) -> StoreError {
    StoreError::Sqlite {
        path: path.to_path_buf(),
        source,
    }
}

/// Serialises a value for a JSON column.
fn json<T: serde::Serialize>(value: &T) -> String {
    serde_json::to_string(value).expect("state values serialise")
}
