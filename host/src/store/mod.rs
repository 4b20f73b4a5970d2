//! Durable state: SQLite (bundled) in WAL mode, with versioned schema
//! migrations. Pipelines and their versions, executions with their stage
//! and action runs (every attempt kept), artifacts, transitions, and the
//! commands other processes leave for the one driving the engine.
//!
//! Every engine step is written in one transaction ([`Store::write_step`]).
//! The rest of Sluice reaches the database only through this module, whose
//! interface is narrow enough for a PostgreSQL backend to sit behind it.

mod access;
mod executions;
mod pipelines;
mod requests;
mod retention;
mod rows;
mod schema;

pub use access::{AuditEntry, TokenInfo};
pub use executions::{ActionAttempt, ExecutionSummary, StageAttempt};
pub use pipelines::{Deletion, PipelineSummary};
pub use retention::Expired;

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
}

/// The state database of one state directory.
pub struct Store {
    conn: Connection,
    path: PathBuf,
}

impl Store {
    /// The state directory the database is in.
    pub fn state_dir(&self) -> &Path {
        self.path.parent().unwrap_or(Path::new("."))
    }
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store").field("path", &self.path).finish()
    }
}

impl Store {
    /// Opens (creating when missing) the database in `state_dir` and
    /// brings its schema up to date.
    pub fn open(state_dir: &Path) -> Result<Store, StoreError> {
        std::fs::create_dir_all(state_dir).map_err(|source| StoreError::Io {
            path: state_dir.to_path_buf(),
            source,
        })?;
        let path = crate::state_dir::StateDir::at(state_dir).database();
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
        let mut store = Store { conn, path };
        store.configure()?;
        store.migrate()?;
        Ok(store)
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn configure(&mut self) -> Result<(), StoreError> {
        self.conn
            .busy_timeout(Duration::from_secs(10))
            .map_err(|e| self.sqlite(e))?;
        // WAL: readers never block the writer; NORMAL: a transaction is
        // durable once the WAL is written, which survives a killed
        // process (only a power loss can take the last ones).
        self.conn
            .execute_batch(
                "PRAGMA journal_mode = WAL;
                 PRAGMA synchronous = NORMAL;
                 PRAGMA foreign_keys = ON;",
            )
            .map_err(|e| self.sqlite(e))
    }

    fn migrate(&mut self) -> Result<(), StoreError> {
        let known = schema::MIGRATIONS.len() as i64;
        let current: i64 = self
            .conn
            .query_row("PRAGMA user_version", [], |r| r.get(0))
            .map_err(|e| self.sqlite(e))?;
        if current > known {
            return Err(StoreError::TooNew {
                path: self.path.clone(),
                found: current,
                known,
            });
        }
        for (index, migration) in schema::MIGRATIONS.iter().enumerate().skip(current as usize) {
            let tx = self
                .conn
                .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
                .map_err(|e| sqlite_at(&self.path, e))?;
            // Another process may have migrated while we waited.
            let now: i64 = tx
                .query_row("PRAGMA user_version", [], |r| r.get(0))
                .map_err(|e| sqlite_at(&self.path, e))?;
            if now > index as i64 {
                continue;
            }
            tx.execute_batch(migration)
                .map_err(|e| sqlite_at(&self.path, e))?;
            tx.execute_batch(&format!("PRAGMA user_version = {}", index + 1))
                .map_err(|e| sqlite_at(&self.path, e))?;
            tx.commit().map_err(|e| sqlite_at(&self.path, e))?;
        }
        Ok(())
    }

    /// The schema version.
    pub fn schema_version(&self) -> Result<i64, StoreError> {
        self.conn
            .query_row("PRAGMA user_version", [], |r| r.get(0))
            .map_err(|e| self.sqlite(e))
    }

    /// Runs SQLite's own consistency check; `Ok` holds its findings ("ok"
    /// when there are none).
    pub fn integrity_check(&self) -> Result<Vec<String>, StoreError> {
        let mut statement = self
            .conn
            .prepare("PRAGMA integrity_check")
            .map_err(|e| self.sqlite(e))?;
        let rows = statement
            .query_map([], |r| r.get::<_, String>(0))
            .map_err(|e| self.sqlite(e))?;
        rows.collect::<Result<Vec<_>, _>>()
            .map_err(|e| self.sqlite(e))
    }

    fn sqlite(&self, source: rusqlite::Error) -> StoreError {
        sqlite_at(&self.path, source)
    }

    fn corrupt(&self, what: impl Into<String>, message: impl std::fmt::Display) -> StoreError {
        StoreError::Corrupt {
            path: self.path.clone(),
            what: what.into(),
            message: message.to_string(),
        }
    }
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
