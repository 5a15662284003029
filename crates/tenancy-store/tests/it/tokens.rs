//! No table holds a token in the clear: not the invitations, their
//! superseded tokens, sessions and account links (hashes only), not the
//! outbox (sealed). Checked on the raw database: the SQLite files'
//! bytes, and every row of every PostgreSQL table as text.

use sea_orm::{ConnectionTrait, Statement};
use tenancy_core::ports::MailOutbox;
use tenancy_core::service::Settings;
use tenancy_store::Backend;

use crate::support::{TestDb, backends, invite, live, sign_in, sign_up};

const TABLES: [&str; 17] = [
    "connection_credentials",
    "report_runs",
    "pins",
    "investigations",
    "users",
    "sessions",
    "organizations",
    "memberships",
    "invitations",
    "active_organizations",
    "resources",
    "chats",
    "chat_messages",
    "mail_outbox",
    "account_tokens",
    "superseded_invitation_tokens",
    "ownership_transfers",
];

/// Everything the database holds, as bytes: the SQLite files, or every
/// PostgreSQL row as text.
pub(crate) async fn raw_contents(db: &TestDb) -> Vec<u8> {
    match db.store.backend() {
        Backend::Sqlite => {
            let path = db.url.strip_prefix("sqlite://").unwrap();
            let mut bytes = Vec::new();
            for suffix in ["", "-wal"] {
                if let Ok(file) = std::fs::read(format!("{path}{suffix}")) {
                    bytes.extend(file);
                }
            }
            bytes
        }
        Backend::Postgres => {
            let mut text = Vec::new();
            for table in TABLES {
                let rows = db
                    .store
                    .connection()
                    .query_all_raw(Statement::from_string(
                        sea_orm::DbBackend::Postgres,
                        format!("SELECT t::text AS row FROM {table} t"),
                    ))
                    .await
                    .unwrap();
                for row in rows {
                    let row: String = row.try_get("", "row").unwrap();
                    text.extend(row.into_bytes());
                    text.push(b'\n');
                }
            }
            text
        }
    }
}

pub(crate) fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

#[tokio::test(flavor = "multi_thread")]
async fn no_table_holds_a_plaintext_token() {
    for backend in backends() {
        let db = TestDb::new(backend).await;
        let service = live(&db.store, Settings::default());
        let owner = sign_up(&service, "ann@example.com").await;
        let mut invitations = Vec::new();
        for who in ["bob", "cy", "dee"] {
            invitations.push(invite(&service, &owner, &format!("{who}@example.com")).await);
        }
        // A resend: the old token's hash is kept, superseded (R30).
        service
            .resend(
                owner.user.id,
                owner.default_organization.id,
                invitations[0].id,
            )
            .await
            .unwrap();
        // A verification email waiting, and a password reset.
        service
            .sign_up(
                tenancy_core::value::EmailAddress::parse("eve@example.com").unwrap(),
                None,
                tenancy_core::value::PasswordHash::new("phc".into()),
                None,
                tenancy_core::decide::AccountMail::Send,
            )
            .await
            .unwrap();
        service
            .request_password_reset(&owner.user.email, tenancy_core::decide::AccountMail::Send)
            .await
            .unwrap();
        let mut tokens: Vec<String> = db
            .store
            .due(chrono::Utc::now(), 100)
            .await
            .unwrap()
            .into_iter()
            .filter_map(|q| q.mail.content.token().map(|t| t.expose().to_owned()))
            .collect();
        assert_eq!(tokens.len(), 6);
        tokens.push(owner.session_token.expose().to_owned());
        let signed_in = sign_in(&service, &owner.user).await;
        tokens.push(signed_in.expose().to_owned());
        // Both sessions work, so the scan below looks for live tokens.
        for token in &tokens[6..] {
            assert_eq!(service.authenticate(token).await.unwrap(), owner.user.id);
        }
        let raw = raw_contents(&db).await;
        // The scan itself must see the data: the invited emails are there.
        assert!(
            contains(&raw, b"cy@example.com"),
            "{backend:?}: the scan saw nothing"
        );
        for token in &tokens {
            assert!(
                !contains(&raw, token.as_bytes()),
                "{backend:?}: a token in the clear"
            );
        }
        db.remove().await;
    }
}
