//! PostgreSQL behind the store's database interface (`db.rs`): one
//! connection, driven on a small runtime of its own so the synchronous
//! store can wait on it from any thread; statements prepared once;
//! notifications heard; the values and rows of `db.rs` to and from
//! PostgreSQL's types.

use super::StoreError;
use super::db::{Batch, Row, Value, WRITE_BEGIN_POSTGRES};
use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

/// A PostgreSQL connection. tokio-postgres is asynchronous and the store
/// is not: the connection's I/O runs on a small runtime of its own, and
/// each statement is sent there and waited for, so the store can be used
/// from any thread, inside an asynchronous task or not (as SQLite is).
pub(crate) struct Postgres {
    client: Arc<tokio_postgres::Client>,
    statements: Mutex<HashMap<String, tokio_postgres::Statement>>,
    /// The URL without its password, for messages.
    pub(super) shown: String,
    /// The channels of notifications this connection receives (after
    /// `LISTEN`), as they arrive.
    pub(super) notifications: tokio::sync::broadcast::Sender<String>,
}

/// The runtime PostgreSQL connections do their I/O on.
fn runtime() -> &'static tokio::runtime::Runtime {
    static RUNTIME: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    RUNTIME.get_or_init(|| {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("sluice-postgres")
            .enable_all()
            .build()
            .expect("a runtime for PostgreSQL connections")
    })
}

/// Runs `work` on the PostgreSQL runtime and waits for it from this
/// thread, whatever runs this thread.
fn wait<T: Send + 'static>(work: impl std::future::Future<Output = T> + Send + 'static) -> T {
    let began = std::time::Instant::now();
    let (send, receive) = std::sync::mpsc::sync_channel(1);
    runtime().spawn(async move {
        let _ = send.send(work.await);
    });
    let answer = receive
        .recv()
        .expect("the PostgreSQL runtime answers every statement");
    ROUND_TRIPS.fetch_add(1, Ordering::Relaxed);
    WAITED_NANOS.fetch_add(began.elapsed().as_nanos() as u64, Ordering::Relaxed);
    answer
}

use std::sync::atomic::{AtomicU64, Ordering};

/// Round trips to PostgreSQL this process made, and the time its threads
/// spent waiting for them (for `sluice bench`).
static ROUND_TRIPS: AtomicU64 = AtomicU64::new(0);
static WAITED_NANOS: AtomicU64 = AtomicU64::new(0);

/// Round trips to PostgreSQL this process has made so far, and how long
/// its threads waited for them in all.
pub fn round_trips() -> (u64, Duration) {
    (
        ROUND_TRIPS.load(Ordering::Relaxed),
        Duration::from_nanos(WAITED_NANOS.load(Ordering::Relaxed)),
    )
}

/// How long a connection may take to open.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// A URL as shown in messages: its password replaced.
pub(super) fn without_password(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut parsed) if parsed.password().is_some() => {
            let _ = parsed.set_password(Some("***"));
            parsed.to_string()
        }
        _ => url.to_string(),
    }
}

impl Postgres {
    /// Connects to `url` (`postgres://USER[:PASSWORD]@HOST[:PORT]/DATABASE`).
    pub(super) fn connect(url: &str) -> Result<Postgres, StoreError> {
        let shown = without_password(url);
        let mut config: tokio_postgres::Config =
            url.parse()
                .map_err(|e: tokio_postgres::Error| StoreError::Postgres {
                    database: shown.clone(),
                    message: format!("not a PostgreSQL URL: {e}"),
                })?;
        config.connect_timeout(CONNECT_TIMEOUT);
        config.application_name("sluice");
        // A writer waits for another's transaction at most this long, as
        // SQLite's busy timeout does: then the step fails, and says so.
        config.options("-c lock_timeout=10000");
        let connected = wait(async move {
            let (client, mut connection) = config.connect(tokio_postgres::NoTls).await?;
            let (notifications, _) = tokio::sync::broadcast::channel(64);
            let heard = notifications.clone();
            tokio::spawn(async move {
                use futures_util::StreamExt;
                let mut messages =
                    futures_util::stream::poll_fn(move |cx| connection.poll_message(cx));
                while let Some(message) = messages.next().await {
                    match message {
                        Ok(tokio_postgres::AsyncMessage::Notification(n)) => {
                            let _ = heard.send(n.channel().to_string());
                        }
                        Ok(_) => {}
                        Err(e) => {
                            tracing::error!("PostgreSQL connection: {e}");
                            break;
                        }
                    }
                }
            });
            Ok::<_, tokio_postgres::Error>((client, notifications))
        });
        let (client, notifications) = connected.map_err(|e| StoreError::Postgres {
            database: shown.clone(),
            message: describe(&e),
        })?;
        Ok(Postgres {
            client: Arc::new(client),
            statements: Mutex::new(HashMap::new()),
            shown,
            notifications,
        })
    }

    fn error(&self, e: tokio_postgres::Error) -> StoreError {
        let fenced = e.as_db_error().is_some_and(|db| db.code().code() == FENCED);
        if fenced {
            return StoreError::Fenced {
                database: self.shown.clone(),
                message: describe(&e),
            };
        }
        StoreError::Postgres {
            database: self.shown.clone(),
            message: describe(&e),
        }
    }

    /// The prepared statement for `sql` (prepared once per connection).
    fn statement(&self, sql: &str) -> Result<tokio_postgres::Statement, StoreError> {
        if let Some(s) = self.statements.lock().expect("statement cache").get(sql) {
            return Ok(s.clone());
        }
        let client = self.client.clone();
        let text = placeholders(sql);
        let prepared =
            wait(async move { client.prepare(&text).await }).map_err(|e| self.error(e))?;
        self.statements
            .lock()
            .expect("statement cache")
            .insert(sql.to_string(), prepared.clone());
        Ok(prepared)
    }

    pub(super) fn execute(&self, sql: &str, args: &[Value]) -> Result<u64, StoreError> {
        let statement = self.statement(sql)?;
        let client = self.client.clone();
        let args = checked(args);
        wait(async move {
            let refs: Vec<&(dyn tokio_postgres::types::ToSql + Sync)> =
                args.iter().map(|a| a as _).collect();
            client.execute(&statement, &refs).await
        })
        .map_err(|e| self.error(e))
    }

    pub(super) fn write_batch(&self, batch: Batch) -> Result<(), StoreError> {
        let mut sent = Vec::with_capacity(batch.items.len() + 1);
        for (sql, args) in batch.items {
            sent.push((self.statement(sql)?, checked(&args)));
        }
        for channel in batch.notify {
            // Delivered when the transaction commits, never before.
            sent.push((
                self.statement("SELECT pg_notify(?1, '')")?,
                vec![Value::Text(channel.to_string())],
            ));
        }
        let client = self.client.clone();
        let done = wait(async move {
            // The start, every statement and the commit, issued together:
            // the client pipelines them on its one connection, in order. A
            // statement that fails aborts the transaction, and the commit
            // then rolls it back.
            let begin = client.batch_execute(WRITE_BEGIN_POSTGRES);
            let statements = sent.iter().map(|(statement, args)| {
                let refs: Vec<&(dyn tokio_postgres::types::ToSql + Sync)> =
                    args.iter().map(|a| a as _).collect();
                let client = &client;
                async move { client.execute(statement, &refs).await }
            });
            let statements = futures_util::future::try_join_all(statements);
            let commit = client.batch_execute("COMMIT");
            let (begun, ran, committed) = futures_util::join!(begin, statements, commit);
            begun?;
            ran?;
            committed
        });
        match done {
            Ok(()) => Ok(()),
            Err(e) => {
                // Whatever state the session is in, leave no transaction.
                let _ = self.batch("ROLLBACK");
                Err(self.error(e))
            }
        }
    }

    pub(super) fn run(&self, batch: Batch) -> Result<(), StoreError> {
        let mut sent = Vec::with_capacity(batch.items.len());
        for (sql, args) in batch.items {
            sent.push((self.statement(sql)?, checked(&args)));
        }
        let client = self.client.clone();
        wait(async move {
            // Issued together: the client pipelines them on its one
            // connection, in this order.
            let pending = sent.iter().map(|(statement, args)| {
                let refs: Vec<&(dyn tokio_postgres::types::ToSql + Sync)> =
                    args.iter().map(|a| a as _).collect();
                let client = &client;
                async move { client.execute(statement, &refs).await }
            });
            futures_util::future::try_join_all(pending)
                .await
                .map(|_| ())
        })
        .map_err(|e| self.error(e))
    }

    pub(super) fn query(&self, sql: &str, args: &[Value]) -> Result<Vec<Row>, StoreError> {
        let statement = self.statement(sql)?;
        let client = self.client.clone();
        let args = checked(args);
        let columns: Arc<[String]> = statement
            .columns()
            .iter()
            .map(|c| c.name().to_string())
            .collect();
        let rows = wait(async move {
            let refs: Vec<&(dyn tokio_postgres::types::ToSql + Sync)> =
                args.iter().map(|a| a as _).collect();
            client.query(&statement, &refs).await
        })
        .map_err(|e| self.error(e))?;
        rows.iter()
            .map(|row| {
                let values = (0..columns.len())
                    .map(|i| from_postgres(row, i))
                    .collect::<Result<Vec<_>, _>>()
                    .map_err(|e| self.error(e))?;
                Ok(Row {
                    columns: columns.clone(),
                    values,
                })
            })
            .collect()
    }

    pub(super) fn batch(&self, sql: &str) -> Result<(), StoreError> {
        let client = self.client.clone();
        let sql = sql.to_string();
        wait(async move { client.batch_execute(&sql).await }).map_err(|e| self.error(e))
    }
}

/// PostgreSQL's error with its detail, when it has one.
/// The SQLSTATE `sluice_fence` raises (schema 4).
const FENCED: &str = "SLF01";

fn describe(e: &tokio_postgres::Error) -> String {
    match e.as_db_error() {
        Some(db) => match db.detail() {
            Some(detail) => format!("{} ({detail})", db.message()),
            None => db.message().to_string(),
        },
        None => {
            let mut text = e.to_string();
            let mut source = std::error::Error::source(e);
            while let Some(inner) = source {
                text.push_str(&format!(": {inner}"));
                source = inner.source();
            }
            text
        }
    }
}

/// PostgreSQL's text cannot hold NUL, which SQLite's can. Providers'
/// outcomes never carry one (`sandbox::outcome` refuses or replaces them);
/// any other text that does (a reason someone typed) has it replaced by
/// U+FFFD here, so that no value can make a step unwritable and stop the
/// engine.
fn checked(args: &[Value]) -> Vec<Value> {
    args.iter()
        .map(|value| match value {
            Value::Text(s) if s.contains('\0') => Value::Text(s.replace('\0', "\u{fffd}")),
            other => other.clone(),
        })
        .collect()
}

/// `?N` placeholders as PostgreSQL's `$N` (outside quoted text).
fn placeholders(sql: &str) -> String {
    let mut out = String::with_capacity(sql.len());
    let mut quoted = false;
    let mut chars = sql.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\'' => {
                quoted = !quoted;
                out.push(c);
            }
            '?' if !quoted && chars.peek().is_some_and(|d| d.is_ascii_digit()) => out.push('$'),
            _ => out.push(c),
        }
    }
    out
}

impl tokio_postgres::types::ToSql for Value {
    fn to_sql(
        &self,
        ty: &tokio_postgres::types::Type,
        out: &mut bytes::BytesMut,
    ) -> Result<tokio_postgres::types::IsNull, Box<dyn std::error::Error + Sync + Send>> {
        use tokio_postgres::types::Type;
        match self {
            Value::Null => Ok(tokio_postgres::types::IsNull::Yes),
            Value::Int(n) => match *ty {
                Type::INT2 => i16::try_from(*n)?.to_sql(ty, out),
                Type::INT4 => i32::try_from(*n)?.to_sql(ty, out),
                Type::BOOL => (*n != 0).to_sql(ty, out),
                Type::TEXT | Type::VARCHAR => n.to_string().to_sql(ty, out),
                _ => n.to_sql(ty, out),
            },
            Value::Text(s) => s.as_str().to_sql(ty, out),
            Value::Bytes(b) => b.as_slice().to_sql(ty, out),
        }
    }

    fn accepts(_: &tokio_postgres::types::Type) -> bool {
        true
    }

    tokio_postgres::types::to_sql_checked!();
}

fn from_postgres(row: &tokio_postgres::Row, i: usize) -> Result<Value, tokio_postgres::Error> {
    use tokio_postgres::types::Type;
    let ty = row.columns()[i].type_().clone();
    Ok(match ty {
        Type::INT2 => row
            .try_get::<_, Option<i16>>(i)?
            .map(|n| Value::Int(n.into())),
        Type::INT4 => row
            .try_get::<_, Option<i32>>(i)?
            .map(|n| Value::Int(n.into())),
        Type::INT8 => row.try_get::<_, Option<i64>>(i)?.map(Value::Int),
        Type::BOOL => row
            .try_get::<_, Option<bool>>(i)?
            .map(|b| Value::Int(b.into())),
        Type::BYTEA => row.try_get::<_, Option<Vec<u8>>>(i)?.map(Value::Bytes),
        _ => row.try_get::<_, Option<String>>(i)?.map(Value::Text),
    }
    .unwrap_or(Value::Null))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_become_dollars_outside_quotes() {
        assert_eq!(
            placeholders("SELECT '?1', x FROM t WHERE a = ?1 AND b = ?12 OR c = ?"),
            "SELECT '?1', x FROM t WHERE a = $1 AND b = $12 OR c = ?"
        );
    }

    #[test]
    fn passwords_are_not_shown() {
        assert_eq!(
            without_password("postgres://sluice:hunter2@db.example:5432/ci"),
            "postgres://sluice:***@db.example:5432/ci"
        );
        assert_eq!(
            without_password("postgres://sluice@db/ci"),
            "postgres://sluice@db/ci"
        );
    }
}
