//! The two databases the store runs on, behind one small interface: SQL
//! text (written once, in the dialect both accept), values in and rows
//! out, and transactions. SQLite (bundled, in the state directory) is the
//! default; PostgreSQL serves many hosts.
//!
//! SQL is written with `?N` placeholders, which SQLite reads as they are
//! and PostgreSQL receives as `$N`. Everything else the store writes is the
//! common subset: `ON CONFLICT ... DO UPDATE`, `RETURNING`, partial indexes,
//! `COALESCE`, subqueries. Only the migrations differ (`schema.rs`); the
//! PostgreSQL connection itself is in `postgres.rs`.

use super::StoreError;

use std::path::{Path, PathBuf};
use std::sync::Arc;

/// The PostgreSQL advisory lock every writer holds for its transaction.
pub const WRITER_LOCK: i64 = 7_399_112;

/// The PostgreSQL advisory lock the host driving the database holds for
/// its whole life (a session lock).
pub const DRIVER_LOCK: i64 = 7_399_113;

pub(super) const WRITE_BEGIN_POSTGRES: &str = "BEGIN; SELECT pg_advisory_xact_lock(7399112)";

/// A value going into or coming out of the database.
#[derive(Debug, Clone, PartialEq)]
pub(super) enum Value {
    /// SQL NULL.
    Null,
    /// An integer (booleans are 0 and 1).
    Int(i64),
    /// Text.
    Text(String),
    /// Bytes (BLOB; BYTEA).
    Bytes(Vec<u8>),
}

/// Turns a Rust value into a [`Value`].
pub(super) trait ToValue {
    /// The value.
    fn to_value(&self) -> Value;
}

macro_rules! int_to_value {
    ($($t:ty),*) => {$(
        impl ToValue for $t {
            fn to_value(&self) -> Value {
                Value::Int(*self as i64)
            }
        }
    )*};
}
int_to_value!(i64, i32, u64, u32, u8, usize);

impl ToValue for bool {
    fn to_value(&self) -> Value {
        Value::Int(i64::from(*self))
    }
}
impl ToValue for str {
    fn to_value(&self) -> Value {
        Value::Text(self.to_string())
    }
}
impl ToValue for String {
    fn to_value(&self) -> Value {
        Value::Text(self.clone())
    }
}
impl ToValue for [u8] {
    fn to_value(&self) -> Value {
        Value::Bytes(self.to_vec())
    }
}
impl<T: ToValue + ?Sized> ToValue for &T {
    fn to_value(&self) -> Value {
        (**self).to_value()
    }
}
impl<T: ToValue> ToValue for Option<T> {
    fn to_value(&self) -> Value {
        match self {
            Some(v) => v.to_value(),
            None => Value::Null,
        }
    }
}

/// The arguments of a statement: `args![a, b, c]`.
macro_rules! args {
    () => { &[] as &[$crate::store::db::Value] };
    ($($x:expr),+ $(,)?) => {
        &[$($crate::store::db::ToValue::to_value(&$x)),+] as &[$crate::store::db::Value]
    };
}

/// Reads a Rust value out of a [`Value`].
pub(super) trait FromValue: Sized {
    /// The value, or why it is not one.
    fn from_value(value: &Value) -> Result<Self, String>;
}

macro_rules! int_from_value {
    ($($t:ty),*) => {$(
        impl FromValue for $t {
            fn from_value(value: &Value) -> Result<Self, String> {
                match value {
                    Value::Int(n) => <$t>::try_from(*n)
                        .map_err(|_| format!("{n} is out of range for {}", stringify!($t))),
                    other => Err(format!("expected an integer, found {other:?}")),
                }
            }
        }
    )*};
}
int_from_value!(i64, i32, u64, u32, u8, usize);

impl FromValue for bool {
    fn from_value(value: &Value) -> Result<Self, String> {
        match value {
            Value::Int(n) => Ok(*n != 0),
            other => Err(format!("expected a boolean, found {other:?}")),
        }
    }
}
impl FromValue for String {
    fn from_value(value: &Value) -> Result<Self, String> {
        match value {
            Value::Text(s) => Ok(s.clone()),
            other => Err(format!("expected text, found {other:?}")),
        }
    }
}
impl FromValue for Vec<u8> {
    fn from_value(value: &Value) -> Result<Self, String> {
        match value {
            Value::Bytes(b) => Ok(b.clone()),
            other => Err(format!("expected bytes, found {other:?}")),
        }
    }
}
impl<T: FromValue> FromValue for Option<T> {
    fn from_value(value: &Value) -> Result<Self, String> {
        match value {
            Value::Null => Ok(None),
            v => T::from_value(v).map(Some),
        }
    }
}

/// One row of a result.
#[derive(Debug)]
pub(super) struct Row {
    pub(super) columns: Arc<[String]>,
    pub(super) values: Vec<Value>,
}

/// Names a column of a row: by position or by name.
pub(super) trait ColumnIndex: std::fmt::Display + Copy {
    /// Its position in `columns`.
    fn position(self, columns: &[String]) -> Option<usize>;
}
impl ColumnIndex for usize {
    fn position(self, columns: &[String]) -> Option<usize> {
        (self < columns.len()).then_some(self)
    }
}
impl ColumnIndex for &str {
    fn position(self, columns: &[String]) -> Option<usize> {
        columns.iter().position(|c| c == self)
    }
}

impl Row {
    /// Column `index` as a `T`; a wrong type or a missing column is
    /// reported as a corrupt value naming the column.
    pub(super) fn get<T: FromValue>(&self, index: impl ColumnIndex) -> Result<T, StoreError> {
        let at = index
            .position(&self.columns)
            .ok_or_else(|| StoreError::Corrupt {
                path: PathBuf::new(),
                what: format!("column {index}"),
                message: "no such column in the result".into(),
            })?;
        T::from_value(&self.values[at]).map_err(|message| StoreError::Corrupt {
            path: PathBuf::new(),
            what: format!("column {}", self.columns[at]),
            message,
        })
    }
}

/// Statements to run together, in order, whose counts nobody needs: on
/// PostgreSQL they are sent at once (pipelined: one round trip for all of
/// them, not one each).
#[derive(Default)]
pub(super) struct Batch {
    pub(super) items: Vec<(&'static str, Vec<Value>)>,
    /// Notification channels to signal when the batch commits
    /// (PostgreSQL; SQLite has none).
    pub(super) notify: Vec<&'static str>,
}

impl Batch {
    /// Signals `channel` when the batch's transaction commits.
    pub(super) fn notify(&mut self, channel: &'static str) {
        if !self.notify.contains(&channel) {
            self.notify.push(channel);
        }
    }

    /// Adds a statement.
    pub(super) fn add(&mut self, sql: &'static str, args: &[Value]) {
        self.items.push((sql, args.to_vec()));
    }
}

/// An open database.
pub(super) enum Db {
    /// SQLite in the state directory.
    Sqlite {
        /// The connection.
        conn: rusqlite::Connection,
        /// The database file.
        path: PathBuf,
    },
    /// A PostgreSQL database.
    Postgres(super::postgres::Postgres),
}

impl Db {
    /// Where the data is, for messages (a PostgreSQL URL without its
    /// password).
    pub(super) fn location(&self) -> PathBuf {
        match self {
            Db::Sqlite { path, .. } => path.clone(),
            Db::Postgres(pg) => PathBuf::from(&pg.shown),
        }
    }

    /// Whether this is PostgreSQL.
    pub(super) fn is_postgres(&self) -> bool {
        matches!(self, Db::Postgres(_))
    }

    /// Runs a statement; returns how many rows it changed.
    pub(super) fn execute(&self, sql: &str, args: &[Value]) -> Result<u64, StoreError> {
        match self {
            Db::Sqlite { conn, path } => {
                let run = || -> rusqlite::Result<usize> {
                    let mut statement = conn.prepare_cached(sql)?;
                    statement.execute(rusqlite::params_from_iter(args.iter().map(to_sqlite)))
                };
                run()
                    .map(|n| n as u64)
                    .map_err(|source| StoreError::Sqlite {
                        path: path.clone(),
                        source,
                    })
            }
            Db::Postgres(pg) => pg.execute(sql, args),
        }
    }

    /// Runs the statements of `batch` in one write transaction (see
    /// [`Db::write`]): on PostgreSQL the transaction's start, its
    /// statements and its commit go in one round trip.
    pub(super) fn write_batch(&mut self, batch: Batch) -> Result<(), StoreError> {
        match self {
            Db::Sqlite { .. } => self.write(|db| db.run(batch)),
            Db::Postgres(pg) => pg.write_batch(batch),
        }
    }

    /// Listens on the notification `channel` (PostgreSQL): the receiver
    /// hears its name each time someone signals it. `None` on SQLite,
    /// whose writers are all on this host.
    pub(super) fn listen(
        &self,
        channel: &'static str,
    ) -> Result<Option<tokio::sync::broadcast::Receiver<String>>, StoreError> {
        match self {
            Db::Sqlite { .. } => Ok(None),
            Db::Postgres(pg) => {
                let receiver = pg.notifications.subscribe();
                pg.batch(&format!("LISTEN {channel}"))?;
                Ok(Some(receiver))
            }
        }
    }

    /// Signals the notification `channel` (PostgreSQL; nothing on SQLite).
    pub(super) fn signal(&self, channel: &'static str) -> Result<(), StoreError> {
        match self {
            Db::Sqlite { .. } => Ok(()),
            Db::Postgres(pg) => pg.batch(&format!("NOTIFY {channel}")),
        }
    }

    /// Runs the statements of `batch`, in order.
    pub(super) fn run(&self, batch: Batch) -> Result<(), StoreError> {
        match self {
            Db::Sqlite { .. } => {
                for (sql, args) in &batch.items {
                    self.execute(sql, args)?;
                }
                Ok(())
            }
            Db::Postgres(pg) => pg.run(batch),
        }
    }

    /// Runs a query; returns its rows.
    pub(super) fn query(&self, sql: &str, args: &[Value]) -> Result<Vec<Row>, StoreError> {
        match self {
            Db::Sqlite { conn, path } => {
                let run = || -> rusqlite::Result<Vec<Row>> {
                    let mut statement = conn.prepare_cached(sql)?;
                    let columns: Arc<[String]> = statement
                        .column_names()
                        .iter()
                        .map(|c| c.to_string())
                        .collect();
                    let count = columns.len();
                    let mut rows =
                        statement.query(rusqlite::params_from_iter(args.iter().map(to_sqlite)))?;
                    let mut out = Vec::new();
                    while let Some(row) = rows.next()? {
                        let mut values = Vec::with_capacity(count);
                        for i in 0..count {
                            values.push(from_sqlite(row.get_ref(i)?));
                        }
                        out.push(Row {
                            columns: columns.clone(),
                            values,
                        });
                    }
                    Ok(out)
                };
                run().map_err(|source| StoreError::Sqlite {
                    path: path.clone(),
                    source,
                })
            }
            Db::Postgres(pg) => pg.query(sql, args),
        }
    }

    /// The first row of a query, if any.
    pub(super) fn query_opt(&self, sql: &str, args: &[Value]) -> Result<Option<Row>, StoreError> {
        Ok(self.query(sql, args)?.into_iter().next())
    }

    /// The first row of a query that always answers one.
    pub(super) fn query_one(&self, sql: &str, args: &[Value]) -> Result<Row, StoreError> {
        self.query_opt(sql, args)?
            .ok_or_else(|| StoreError::Corrupt {
                path: self.location(),
                what: "a query".into(),
                message: format!("no row from {sql}"),
            })
    }

    /// Runs `work` in a write transaction: writers take turns (SQLite's
    /// immediate transaction; on PostgreSQL, one advisory lock every writer
    /// takes), so what `work` reads stays true until it commits. An error
    /// rolls everything back.
    pub(super) fn write<R>(
        &mut self,
        work: impl FnOnce(&Db) -> Result<R, StoreError>,
    ) -> Result<R, StoreError> {
        let begin = match self {
            Db::Sqlite { .. } => "BEGIN IMMEDIATE",
            Db::Postgres(_) => WRITE_BEGIN_POSTGRES,
        };
        self.batch(begin)?;
        match work(self) {
            Ok(answer) => match self.batch("COMMIT") {
                Ok(()) => Ok(answer),
                Err(e) => {
                    let _ = self.batch("ROLLBACK");
                    Err(e)
                }
            },
            Err(e) => {
                let _ = self.batch("ROLLBACK");
                Err(e)
            }
        }
    }

    /// Runs `work` reading one consistent snapshot.
    pub(super) fn read<R>(
        &self,
        work: impl FnOnce(&Db) -> Result<R, StoreError>,
    ) -> Result<R, StoreError> {
        let begin = match self {
            Db::Sqlite { .. } => "BEGIN DEFERRED",
            Db::Postgres(_) => "BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY",
        };
        self.batch(begin)?;
        let answer = work(self);
        let end = self.batch(if answer.is_ok() { "COMMIT" } else { "ROLLBACK" });
        let answer = answer?;
        end?;
        Ok(answer)
    }

    /// Runs statements separated by `;`, with no arguments.
    pub(super) fn batch(&self, sql: &str) -> Result<(), StoreError> {
        match self {
            Db::Sqlite { conn, path } => {
                conn.execute_batch(sql)
                    .map_err(|source| StoreError::Sqlite {
                        path: path.clone(),
                        source,
                    })
            }
            Db::Postgres(pg) => pg.batch(sql),
        }
    }

    /// The SQLite connection, for what only SQLite has (its pragmas).
    pub(super) fn sqlite(&self) -> Option<(&rusqlite::Connection, &Path)> {
        match self {
            Db::Sqlite { conn, path } => Some((conn, path)),
            Db::Postgres(_) => None,
        }
    }
}

fn to_sqlite(value: &Value) -> rusqlite::types::Value {
    match value {
        Value::Null => rusqlite::types::Value::Null,
        Value::Int(n) => rusqlite::types::Value::Integer(*n),
        Value::Text(s) => rusqlite::types::Value::Text(s.clone()),
        Value::Bytes(b) => rusqlite::types::Value::Blob(b.clone()),
    }
}

fn from_sqlite(value: rusqlite::types::ValueRef<'_>) -> Value {
    use rusqlite::types::ValueRef;
    match value {
        ValueRef::Null => Value::Null,
        ValueRef::Integer(n) => Value::Int(n),
        ValueRef::Real(f) => Value::Int(f as i64),
        ValueRef::Text(t) => Value::Text(String::from_utf8_lossy(t).into_owned()),
        ValueRef::Blob(b) => Value::Bytes(b.to_vec()),
    }
}

#[cfg(test)]
mod lock_tests {
    #[test]
    fn writers_take_the_lock_named_by_writer_lock() {
        assert!(super::WRITE_BEGIN_POSTGRES.contains(&super::WRITER_LOCK.to_string()));
    }
}
