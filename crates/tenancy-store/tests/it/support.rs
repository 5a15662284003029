//! Fresh databases for tests, on each backend.

use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};

use sea_orm::ConnectionTrait;
use sea_orm::sqlx::{Connection, PgConnection};
use tenancy_core::entity::MailContent;
use tenancy_core::ports::{MailOutbox, Repository as _};
use tenancy_core::service::{Service, Settings};
use tenancy_core::testing::fakes::PlainPasswords;
use tenancy_core::token::SecretToken;
use tenancy_store::system::{OsTokens, SystemClock, UuidV7};
use tenancy_store::{Backend, SecretKey, Store, StoreOptions};

/// The backends this run tests: SQLite always, PostgreSQL when configured.
pub fn backends() -> Vec<Backend> {
    let mut backends = vec![Backend::Sqlite];
    match std::env::var("TENANCY_TEST_POSTGRES_URL") {
        Ok(url) if !url.is_empty() => backends.push(Backend::Postgres),
        _ if std::env::var("CI").as_deref() == Ok("true") => {
            panic!(
                "CI=true but TENANCY_TEST_POSTGRES_URL is not set: the PostgreSQL suite cannot be skipped in CI"
            )
        }
        _ => eprintln!(
            "note: TENANCY_TEST_POSTGRES_URL is not set; skipping the PostgreSQL half of this test"
        ),
    }
    backends
}

/// A fresh, migrated database that is removed by [`TestDb::remove`].
pub struct TestDb {
    pub store: Store,
    pub url: String,
    /// The key `store` seals with, which every instance over the database
    /// shares (an instance cannot open what another sealed with its own).
    key: SecretKey,
    cleanup: Cleanup,
}

enum Cleanup {
    Sqlite(PathBuf),
    Postgres { admin_url: String, name: String },
}

fn unique_name() -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let mut bytes = [0_u8; 6];
    getrandom::fill(&mut bytes).unwrap();
    let random: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    format!(
        "tenancy_test_{}_{}_{random}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    )
}

/// Replaces the database name of a PostgreSQL URL.
fn with_database(url: &str, name: &str) -> String {
    let (base, query) = url
        .split_once('?')
        .map_or((url, None), |(b, q)| (b, Some(q)));
    let scheme_end = base.find("://").map_or(0, |i| i + 3);
    let root = match base[scheme_end..].find('/') {
        Some(slash) => &base[..scheme_end + slash],
        None => base,
    };
    match query {
        Some(q) => format!("{root}/{name}?{q}"),
        None => format!("{root}/{name}"),
    }
}

pub fn test_key() -> SecretKey {
    SecretKey::generate("test").unwrap()
}

impl TestDb {
    pub async fn new(backend: Backend) -> Self {
        let db = Self::unmigrated(backend).await;
        db.store.migrate().await.unwrap();
        db
    }

    /// A fresh database without any table, for tests of the migrations.
    pub async fn unmigrated(backend: Backend) -> Self {
        let name = unique_name();
        let (url, cleanup) = match backend {
            Backend::Sqlite => {
                let path = std::env::temp_dir().join(format!("{name}.db"));
                (
                    format!("sqlite://{}", path.display()),
                    Cleanup::Sqlite(path),
                )
            }
            Backend::Postgres => {
                let admin_url = std::env::var("TENANCY_TEST_POSTGRES_URL").unwrap();
                let mut admin = PgConnection::connect(&admin_url).await.unwrap_or_else(|e| {
                    panic!("cannot reach PostgreSQL at TENANCY_TEST_POSTGRES_URL: {e}")
                });
                // The name is ours: letters, digits and underscores.
                sea_orm::sqlx::query(sea_orm::sqlx::AssertSqlSafe(format!(
                    "CREATE DATABASE {name}"
                )))
                .execute(&mut admin)
                .await
                .unwrap();
                admin.close().await.unwrap();
                (
                    with_database(&admin_url, &name),
                    Cleanup::Postgres { admin_url, name },
                )
            }
        };
        let key = test_key();
        let store = Store::connect(StoreOptions::new(url.clone(), key.clone()))
            .await
            .unwrap();
        Self {
            store,
            url,
            key,
            cleanup,
        }
    }

    /// Another instance over the same database: a pool of its own, the same
    /// key. Close it before [`TestDb::remove`].
    pub async fn another_instance(&self) -> Store {
        Store::connect(StoreOptions::new(self.url.clone(), self.key.clone()))
            .await
            .unwrap()
    }

    /// Closes the pool and removes the database.
    pub async fn remove(self) {
        self.store.close().await.unwrap();
        match self.cleanup {
            Cleanup::Sqlite(path) => {
                for suffix in ["", "-wal", "-shm"] {
                    let mut file = path.clone().into_os_string();
                    file.push(suffix);
                    let _ = std::fs::remove_file(file);
                }
            }
            Cleanup::Postgres { admin_url, name } => {
                let mut admin = PgConnection::connect(&admin_url).await.unwrap();
                sea_orm::sqlx::query(sea_orm::sqlx::AssertSqlSafe(format!(
                    "DROP DATABASE IF EXISTS {name} WITH (FORCE)"
                )))
                .execute(&mut admin)
                .await
                .unwrap();
            }
        }
    }

    /// Deletes every row, children first, so that one database serves many
    /// independent cases.
    pub async fn clear(&self) {
        // Audit events go only with an organization pending deletion (the
        // table's triggers): every organization is marked so first.
        self.store
            .connection()
            .execute_unprepared(
                "UPDATE organizations SET deletion_requested_at = '2000-01-01 00:00:00+00:00', \
                 purge_after = '2000-01-01 00:00:00+00:00'",
            )
            .await
            .unwrap();
        for table in [
            "webhook_deliveries",
            "webhooks",
            "audit_events",
            "mail_outbox",
            "superseded_invitation_tokens",
            "ownership_transfers",
            "chat_messages",
            "chats",
            "pins",
            "investigations",
            "report_runs",
            "connection_credentials",
            "resources",
            "active_organizations",
            "invitations",
            "memberships",
            "roles",
            "organizations",
            "sessions",
            "account_tokens",
            "users",
        ] {
            self.store
                .connection()
                .execute_unprepared(&format!("DELETE FROM {table}"))
                .await
                .unwrap();
        }
    }
}

/// The use cases over a store with the production clock, ids and tokens,
/// beside the store itself: its outbox is where the tests read the links
/// (the core hands out no handle on its repository).
#[derive(Debug, Clone)]
pub struct LiveService {
    service: Service<Store, SystemClock, UuidV7, OsTokens>,
    pub store: Store,
}

impl std::ops::Deref for LiveService {
    type Target = Service<Store, SystemClock, UuidV7, OsTokens>;

    fn deref(&self) -> &Self::Target {
        &self.service
    }
}

impl LiveService {
    /// The same use cases with knowledge files kept in `blobs`.
    #[must_use]
    pub fn with_blobs(self, blobs: std::sync::Arc<dyn tenancy_core::ports::BlobStore>) -> Self {
        Self {
            service: self.service.with_blobs(blobs),
            store: self.store,
        }
    }
}

pub fn live(store: &Store, settings: Settings) -> LiveService {
    LiveService {
        service: Service::new(store.clone(), SystemClock, UuidV7, OsTokens, settings),
        store: store.clone(),
    }
}

#[test]
fn urls_get_their_database_replaced() {
    assert_eq!(
        with_database("postgres://postgres@127.0.0.1:5432/postgres", "x"),
        "postgres://postgres@127.0.0.1:5432/x"
    );
    assert_eq!(
        with_database("postgres://u:p@h/db?sslmode=disable", "x"),
        "postgres://u:p@h/x?sslmode=disable"
    );
    assert_eq!(with_database("postgres://h", "x"), "postgres://h/x");
}

/// The password of every account [`sign_up`] makes, stored in the test
/// verifier's form ([`PlainPasswords`]).
pub const PASSWORD: &str = "correct horse battery staple";

/// Signs a person up with [`PASSWORD`], and verifies the address from the
/// verification email, which is then marked sent so that the outbox holds
/// only what a test queues itself.
pub async fn sign_up(service: &LiveService, email: &str) -> tenancy_core::decide::SignedUp {
    let mut signed = service
        .sign_up(
            tenancy_core::value::EmailAddress::parse(email).unwrap(),
            None,
            PlainPasswords::hash(PASSWORD),
            None,
            tenancy_core::decide::AccountMail::Send,
        )
        .await
        .unwrap();
    let outbox = &service.store;
    let far = chrono::Utc::now() + chrono::Duration::days(30);
    let mail = outbox
        .due(far, usize::MAX)
        .await
        .unwrap()
        .into_iter()
        .rev()
        .find(|q| {
            q.mail.to == signed.user.email
                && matches!(q.mail.content, MailContent::VerifyEmail { .. })
        })
        .expect("a verification email")
        .mail;
    signed.user = service
        .verify_email(mail.content.token().unwrap().expose())
        .await
        .unwrap();
    outbox.mark_sent(mail.id, chrono::Utc::now()).await.unwrap();
    signed
}

/// Signs in again an account that [`sign_up`] made: a new session's token.
pub async fn sign_in(service: &LiveService, user: &tenancy_core::entity::User) -> SecretToken {
    let (account, proof) = service
        .check_credentials(Some(&user.email), PASSWORD, &PlainPasswords)
        .await
        .unwrap()
        .expect("the password of sign_up matches");
    service.sign_in(&account, proof).await.unwrap()
}

/// Writes one change in a transaction of its own, past the decisions
/// ([`tenancy_core::testing::forge`]): what the schema itself accepts.
pub async fn apply_alone(
    db: &TestDb,
    change: tenancy_core::decide::Change,
) -> Result<(), tenancy_core::StoreError> {
    let mut tx = db.store.begin().await?;
    tx.apply(&tenancy_core::testing::forge(change)).await?;
    tx.commit().await
}

/// The stored password hash of an account, read from the store itself.
pub async fn stored_password_hash(
    store: &Store,
    email: &tenancy_core::value::EmailAddress,
) -> Option<(
    tenancy_core::entity::User,
    tenancy_core::value::PasswordHash,
)> {
    let mut tx = store.read().await.unwrap();
    tx.credentials(email).await.unwrap()
}

/// The token of the newest queued email to `to` of the kind `pick` takes.
pub async fn newest_token(
    db: &TestDb,
    to: &tenancy_core::value::EmailAddress,
    pick: fn(&MailContent) -> bool,
) -> Option<String> {
    let far = chrono::Utc::now() + chrono::Duration::days(30);
    db.store
        .due(far, usize::MAX)
        .await
        .unwrap()
        .into_iter()
        .rev()
        .find(|q| &q.mail.to == to && pick(&q.mail.content))
        .and_then(|q| q.mail.content.token().map(|t| t.expose().to_owned()))
}

/// Invites `email` to the default organization of `owner`, who signed up
/// with [`sign_up`].
pub async fn invite(
    service: &LiveService,
    owner: &tenancy_core::decide::SignedUp,
    email: &str,
) -> tenancy_core::entity::Invitation {
    service
        .invite(
            owner.user.id,
            owner.default_organization.id,
            tenancy_core::value::EmailAddress::parse(email).unwrap(),
            None,
        )
        .await
        .unwrap()
}
