//! The sea-orm store of tenancy: the core's repository and outbox ports over
//! SQLite (the embedded default) or PostgreSQL (for several instances that
//! share one database).
//!
//! One transaction per use case; the core decides, the store commits.
//! Conflicting writes to one organization are serialized: on SQLite every
//! writing transaction takes the database's write lock before it reads
//! (`BEGIN IMMEDIATE`), on PostgreSQL it locks the organization's row
//! (`SELECT ... FOR UPDATE`) before reading what it will decide on. What still
//! collides (a busy database, a serialization failure, a unique key taken by
//! a concurrent transaction) is reported as contention, and the core runs the
//! use case again.

mod audit;
pub mod blobs;
pub mod crypto;
mod entity;
mod limits;
pub mod migration;
mod outbox;
mod repo;
pub mod system;
mod webhooks;

use std::sync::Arc;
use std::time::Duration;

use sea_orm::sqlx::sqlite::{SqliteJournalMode, SqliteSynchronous};
use sea_orm::{ConnectOptions, ConnectionTrait, Database, DatabaseConnection, DbBackend, DbErr};
use sea_orm_migration::MigratorTrait;
use tenancy_core::StoreError;

pub use crate::blobs::FsBlobs;
pub use crate::crypto::{CryptoError, Sealer, SecretKey};
use crate::migration::Migrator;

/// Which database a store runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// How to open a store.
#[derive(Debug, Clone)]
pub struct StoreOptions {
    /// `sqlite://path/to/file.db` (created with its folder) or `postgres://...`.
    pub url: String,
    /// Seals secrets at rest (the tokens of queued invitation emails).
    pub key: SecretKey,
    /// Largest number of pooled connections.
    pub max_connections: u32,
}

impl StoreOptions {
    /// Options with a pool sized for this machine.
    pub fn new(url: impl Into<String>, key: SecretKey) -> Self {
        Self {
            url: url.into(),
            key,
            max_connections: 16,
        }
    }
}

/// The store: a pool of connections and the key that seals secrets.
#[derive(Debug, Clone)]
pub struct Store {
    db: DatabaseConnection,
    backend: Backend,
    sealer: Arc<Sealer>,
    /// The audit events this instance committed, for in-process
    /// subscribers ([`Store::subscribe`]).
    events: tokio::sync::broadcast::Sender<tenancy_core::audit::AuditEvent>,
}

/// How many committed events a subscriber may fall behind by before it is
/// told it lagged.
pub const SUBSCRIPTION_BUFFER: usize = 1024;

/// How long a SQLite writer waits for the write lock before it reports
/// contention (and the use case is tried again).
const SQLITE_BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// How long a request waits for a PostgreSQL connection (including the time
/// to open one) before it is told that the database does not answer: short,
/// so that an outage gives a 503 within 2 s instead of a hanging client.
const POSTGRES_ACQUIRE_TIMEOUT: Duration = Duration::from_millis(1500);

/// How long a request waits for a SQLite connection of the pool; the file
/// is always there, so only a saturated pool waits this long.
const SQLITE_ACQUIRE_TIMEOUT: Duration = Duration::from_secs(10);

impl Store {
    /// Connects, creating a SQLite database file and its folder when missing,
    /// and runs pending migrations.
    pub async fn open(options: StoreOptions) -> Result<Self, StoreError> {
        let store = Self::connect(options).await?;
        store.migrate().await?;
        Ok(store)
    }

    /// Connects without migrating.
    pub async fn connect(options: StoreOptions) -> Result<Self, StoreError> {
        let backend =
            if options.url.starts_with("postgres://") || options.url.starts_with("postgresql://") {
                Backend::Postgres
            } else if let Some(path) = options.url.strip_prefix("sqlite://") {
                let path = path.split('?').next().unwrap_or_default();
                if let Some(parent) = std::path::Path::new(path).parent()
                    && !parent.as_os_str().is_empty()
                {
                    std::fs::create_dir_all(parent).map_err(|e| {
                        StoreError::other(format!(
                            "cannot create the folder `{}`: {e}",
                            parent.display()
                        ))
                    })?;
                }
                Backend::Sqlite
            } else {
                return Err(StoreError::other(format!(
                    "unsupported database URL `{}`: use sqlite://PATH or postgres://...",
                    redact_url(&options.url)
                )));
            };
        let mut connect = ConnectOptions::new(options.url.clone());
        connect
            .max_connections(options.max_connections)
            .min_connections(1)
            .acquire_timeout(match backend {
                Backend::Postgres => POSTGRES_ACQUIRE_TIMEOUT,
                Backend::Sqlite => SQLITE_ACQUIRE_TIMEOUT,
            })
            .sqlx_logging(false);
        if backend == Backend::Sqlite {
            connect.map_sqlx_sqlite_opts(|opts| {
                opts.create_if_missing(true)
                    .journal_mode(SqliteJournalMode::Wal)
                    .synchronous(SqliteSynchronous::Normal)
                    .busy_timeout(SQLITE_BUSY_TIMEOUT)
                    .foreign_keys(true)
            });
        }
        let db = Database::connect(connect).await.map_err(|e| {
            StoreError::other(format!(
                "cannot connect to `{}`: {e}",
                redact_url(&options.url)
            ))
        })?;
        Ok(Self {
            db,
            backend,
            sealer: Arc::new(Sealer::new(options.key)),
            events: tokio::sync::broadcast::channel(SUBSCRIPTION_BUFFER).0,
        })
    }

    /// The audit events that this instance commits from now on, each once,
    /// in commit order per organization, as soon as its transaction commits
    /// (never one of a change that rolled back): the same stream the
    /// webhooks deliver, for hosts that embed tenancy (R33).
    ///
    /// A subscriber that falls more than [`SUBSCRIPTION_BUFFER`] events
    /// behind gets `RecvError::Lagged` and catches up from the log
    /// (`Transaction::audit_events_after` with the last `seq` it saw); events
    /// other instances commit are in the log and in webhooks, not here.
    pub fn subscribe(&self) -> tokio::sync::broadcast::Receiver<tenancy_core::audit::AuditEvent> {
        self.events.subscribe()
    }

    /// Applies pending migrations, all in one transaction: a failure leaves
    /// the schema as it was. Several instances starting at once on
    /// PostgreSQL take turns under an advisory lock.
    pub async fn migrate(&self) -> Result<(), StoreError> {
        match self.backend {
            // On one connection, under the write lock: a table rebuilt
            // (created, copied, dropped, renamed) is never seen half-done.
            Backend::Sqlite => {
                let tx = self.begin_writing().await?;
                Migrator::up(&tx, None).await.map_err(db_error)?;
                tx.commit().await.map_err(db_error)
            }
            Backend::Postgres => {
                use sea_orm::TransactionTrait;
                let tx = self.db.begin().await.map_err(db_error)?;
                tx.execute_unprepared("SELECT pg_advisory_xact_lock(7368746561)")
                    .await
                    .map_err(db_error)?;
                Migrator::up(&tx, None).await.map_err(db_error)?;
                tx.commit().await.map_err(db_error)
            }
        }
    }

    /// A transaction that writes: on SQLite it takes the write lock before
    /// it reads (`BEGIN IMMEDIATE`), so that what it reads stays true until
    /// it commits.
    pub(crate) async fn begin_writing(&self) -> Result<sea_orm::DatabaseTransaction, StoreError> {
        use sea_orm::TransactionTrait;
        let options = sea_orm::TransactionOptions {
            isolation_level: None,
            access_mode: None,
            sqlite_transaction_mode: Some(sea_orm::SqliteTransactionMode::Immediate),
        };
        self.db.begin_with_options(options).await.map_err(db_error)
    }

    /// Which database this is.
    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// Whether the database answers.
    pub async fn ping(&self) -> Result<(), StoreError> {
        self.db.ping().await.map_err(db_error)
    }

    /// The connection pool, for this crate's tests and benchmarks.
    #[doc(hidden)]
    pub fn connection(&self) -> &DatabaseConnection {
        &self.db
    }

    /// Closes the pool.
    pub async fn close(self) -> Result<(), StoreError> {
        self.db.close().await.map_err(db_error)
    }
}

fn redact_url(url: &str) -> String {
    // postgres://user:password@host/db: never repeat a password in an error.
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => {
            format!("{}://***@{}", &url[..scheme], &url[at + 1..])
        }
        _ => url.to_owned(),
    }
}

/// SQLSTATEs and SQLite result codes that mean "another transaction got in
/// the way": serialization failure, deadlock, lock not available, unique
/// violation (a concurrent insert of the same key), and SQLite's busy and
/// locked codes with their extended forms.
const CONTENTION_CODES: [&str; 11] = [
    "40001", "40P01", "55P03", "23505", "5", "6", "261", "262", "517", "773", "2067",
];

pub(crate) fn db_error(error: DbErr) -> StoreError {
    if is_unavailable(&error) {
        return StoreError::unavailable(error);
    }
    let code = match &error {
        DbErr::Conn(sea_orm::RuntimeErr::SqlxError(e))
        | DbErr::Exec(sea_orm::RuntimeErr::SqlxError(e))
        | DbErr::Query(sea_orm::RuntimeErr::SqlxError(e)) => match &**e {
            sea_orm::sqlx::Error::Database(db) => db.code().map(|c| c.into_owned()),
            _ => None,
        },
        _ => None,
    };
    match code {
        Some(code) if CONTENTION_CODES.contains(&code.as_str()) => StoreError::contention(error),
        _ => StoreError::other(error),
    }
}

/// Whether `error` says that no connection could be had or kept: the pool
/// timed out or is closed, or the socket failed. Such a request changed
/// nothing that was committed, and the client may come back.
fn is_unavailable(error: &DbErr) -> bool {
    use sea_orm::sqlx::Error as Sqlx;
    match error {
        DbErr::ConnectionAcquire(_) => true,
        DbErr::Conn(sea_orm::RuntimeErr::SqlxError(e))
        | DbErr::Exec(sea_orm::RuntimeErr::SqlxError(e))
        | DbErr::Query(sea_orm::RuntimeErr::SqlxError(e)) => matches!(
            &**e,
            Sqlx::PoolTimedOut
                | Sqlx::PoolClosed
                | Sqlx::Io(_)
                | Sqlx::Tls(_)
                | Sqlx::WorkerCrashed
        ),
        _ => false,
    }
}

pub(crate) fn backend_of(db: &impl ConnectionTrait) -> Backend {
    match db.get_database_backend() {
        DbBackend::Postgres => Backend::Postgres,
        _ => Backend::Sqlite,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_are_redacted() {
        assert_eq!(
            redact_url("postgres://bob:hunter2@db.example.com:5432/app"),
            "postgres://***@db.example.com:5432/app"
        );
        assert_eq!(redact_url("sqlite://./x.db"), "sqlite://./x.db");
    }
}
