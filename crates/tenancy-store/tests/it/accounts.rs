//! Accounts on the real store (R31, D19): a reset link lets exactly one of
//! two concurrent confirms through, a reset ends every session, the sweep
//! removes ended sessions and long-expired links with their emails, and the
//! migration keeps what older releases stored.

use std::sync::Arc;

use chrono::{Duration, Utc};
use futures::future::join_all;
use sea_orm::sea_query::{Alias, Query, SimpleExpr};
use sea_orm::{ConnectionTrait, DatabaseConnection, Value};
use sea_orm_migration::MigratorTrait as _;
use tenancy_core::decide::AccountMail;
use tenancy_core::entity::{MailContent, SessionLifetimes};
use tenancy_core::ports::MailOutbox;
use tenancy_core::service::Settings;
use tenancy_core::token::SecretToken;
use tenancy_core::value::{EmailAddress, PasswordHash};
use tenancy_core::{Error, UserId};
use tenancy_store::migration::Migrator;
use uuid::Uuid;

use crate::support::{
    TestDb, backends, live, newest_token, sign_in, sign_up, stored_password_hash,
};

const ROUNDS: usize = 30;

fn is_reset(content: &MailContent) -> bool {
    matches!(content, MailContent::ResetPassword { .. })
}

async fn count(db: &TestDb, table: &str) -> i64 {
    let row = db
        .store
        .connection()
        .query_one_raw(sea_orm::Statement::from_string(
            db.store.connection().get_database_backend(),
            format!("SELECT COUNT(*) AS n FROM {table}"),
        ))
        .await
        .unwrap()
        .unwrap();
    row.try_get("", "n").unwrap()
}

#[test]
fn two_concurrent_confirms_of_one_reset_link_let_exactly_one_through() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(4)
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        for backend in backends() {
            let db = TestDb::new(backend).await;
            let service = Arc::new(live(&db.store, Settings::default()));
            for round in 0..ROUNDS {
                let email = EmailAddress::parse(&format!("ann{round}@example.com")).unwrap();
                let ann = sign_up(&service, email.as_str()).await;
                service
                    .request_password_reset(&email, AccountMail::Send)
                    .await
                    .unwrap();
                let token = newest_token(&db, &email, is_reset).await.unwrap();
                let results: Vec<(usize, Result<UserId, Error>)> = join_all((0..2).map(|i| {
                    let service = Arc::clone(&service);
                    let token = token.clone();
                    tokio::spawn(async move {
                        let hash = PasswordHash::new(format!("winner-{i}"));
                        (i, service.confirm_password_reset(&token, hash).await)
                    })
                }))
                .await
                .into_iter()
                .map(Result::unwrap)
                .collect();
                let winners: Vec<usize> = results
                    .iter()
                    .filter(|(_, r)| r.is_ok())
                    .map(|(i, _)| *i)
                    .collect();
                assert_eq!(winners.len(), 1, "{backend:?} round {round}: {results:?}");
                let loser = results.iter().find(|(_, r)| r.is_err()).unwrap();
                assert_eq!(
                    loser.1.as_ref().unwrap_err().code(),
                    "token_used",
                    "{backend:?} round {round}"
                );
                assert_eq!(
                    stored_password_hash(&db.store, &ann.user.email)
                        .await
                        .unwrap()
                        .1,
                    PasswordHash::new(format!("winner-{}", winners[0])),
                    "{backend:?} round {round}: the stored password is the winner's"
                );
            }
            db.remove().await;
        }
    });
}

#[tokio::test(flavor = "multi_thread")]
async fn a_reset_ends_every_session_and_the_sweep_removes_what_ended() {
    for backend in backends() {
        let db = TestDb::new(backend).await;
        let service = live(&db.store, Settings::default());
        let ann = sign_up(&service, "ann@example.com").await;
        let second = sign_in(&service, &ann.user).await;
        let listed = service.sessions(ann.user.id).await.unwrap().value;
        assert_eq!(listed.len(), 2, "{backend:?}");
        assert!(listed[0].session.created_at >= listed[1].session.created_at);

        service
            .request_password_reset(&ann.user.email, AccountMail::Send)
            .await
            .unwrap();
        let link = newest_token(&db, &ann.user.email, is_reset).await.unwrap();
        service.check_reset_token(&link).await.unwrap();
        service
            .confirm_password_reset(&link, PasswordHash::new("new".into()))
            .await
            .unwrap();
        for token in [ann.session_token.expose(), second.expose()] {
            assert_eq!(
                service.session(token).await.unwrap_err().code(),
                "unauthenticated",
                "{backend:?}"
            );
        }
        assert_eq!(count(&db, "sessions").await, 0, "{backend:?}");
        assert_eq!(
            service.check_reset_token(&link).await.unwrap_err().code(),
            "token_used"
        );

        // Ended by their lifetimes: a service whose sessions live one
        // second sweeps them away; its links expired long ago go too, with
        // their queued emails.
        let bob = sign_up(&service, "bob@example.com").await;
        service
            .request_password_reset(&bob.user.email, AccountMail::Send)
            .await
            .unwrap();
        assert_eq!(count(&db, "sessions").await, 1, "{backend:?}");
        let links = count(&db, "account_tokens").await;
        let mails = count(&db, "mail_outbox").await;
        let short = live(
            &db.store,
            Settings {
                sessions: SessionLifetimes {
                    ttl: Duration::seconds(1),
                    idle_timeout: Duration::days(1),
                },
                ..Settings::default()
            },
        );
        tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
        assert_eq!(
            short
                .session(bob.session_token.expose())
                .await
                .unwrap_err()
                .code(),
            "unauthenticated"
        );
        short.sweep_accounts().await.unwrap();
        assert_eq!(count(&db, "sessions").await, 0, "{backend:?}");
        assert_eq!(count(&db, "account_tokens").await, links, "{backend:?}");
        db.store
            .connection()
            .execute_unprepared(&format!(
                "UPDATE account_tokens SET expires_at = {}",
                match backend {
                    tenancy_store::Backend::Sqlite => "'2000-01-01 00:00:00+00:00'",
                    tenancy_store::Backend::Postgres => "'2000-01-01T00:00:00Z'",
                }
            ))
            .await
            .unwrap();
        short.sweep_accounts().await.unwrap();
        assert_eq!(count(&db, "account_tokens").await, 0, "{backend:?}");
        assert!(mails > 0);
        // Only invitation emails are left: none was queued here.
        assert_eq!(count(&db, "mail_outbox").await, 0, "{backend:?}");
        assert!(db.store.due(Utc::now(), 10).await.unwrap().is_empty());
        db.remove().await;
    }
}

async fn insert(db: &DatabaseConnection, table: &str, row: Vec<(&str, Value)>) {
    let (columns, values): (Vec<_>, Vec<_>) = row.into_iter().unzip();
    let insert = Query::insert()
        .into_table(Alias::new(table))
        .columns(columns.into_iter().map(Alias::new))
        .values_panic(values.into_iter().map(SimpleExpr::from))
        .to_owned();
    db.execute(&insert).await.unwrap();
}

async fn old_user(db: &DatabaseConnection, email: &str) -> Uuid {
    let id = Uuid::now_v7();
    insert(
        db,
        "users",
        vec![
            ("id", id.into()),
            ("email", email.into()),
            ("display_name", Option::<String>::None.into()),
            ("password_hash", "phc".into()),
            ("created_at", Utc::now().into()),
        ],
    )
    .await;
    id
}

#[tokio::test(flavor = "multi_thread")]
async fn the_migration_keeps_sessions_and_emails_and_verifies_invited_accounts() {
    const MIGRATION: &str = "m0008_accounts";
    for backend in backends() {
        let db = TestDb::unmigrated(backend).await;
        let conn = db.store.connection();
        let before = Migrator::migrations()
            .iter()
            .position(|m| m.name() == MIGRATION)
            .unwrap();
        Migrator::up(conn, Some(u32::try_from(before).unwrap()))
            .await
            .unwrap();

        // As the release before this one stored them: Ann signed up on her
        // own, Bob accepted an invitation to his address, Cy accepted one
        // sent to another spelling that is no longer his address.
        let ann = old_user(conn, "ann@example.com").await;
        let bob = old_user(conn, "bob@example.com").await;
        let cy = old_user(conn, "cy@example.com").await;
        let org = Uuid::now_v7();
        insert(
            conn,
            "organizations",
            vec![
                ("id", org.into()),
                ("name", "Acme".into()),
                ("plan", "free".into()),
                ("owner_id", ann.into()),
                ("created_at", Utc::now().into()),
            ],
        )
        .await;
        let accepted = Utc::now() - Duration::days(3);
        for (who, email) in [(bob, "bob@example.com"), (cy, "cy-old@example.com")] {
            insert(
                conn,
                "invitations",
                vec![
                    ("id", Uuid::now_v7().into()),
                    ("organization_id", org.into()),
                    ("email", email.into()),
                    ("role", "viewer".into()),
                    ("token_hash", Uuid::now_v7().as_bytes().to_vec().into()),
                    ("invited_by", ann.into()),
                    ("created_at", (accepted - Duration::hours(1)).into()),
                    ("expires_at", (accepted + Duration::days(7)).into()),
                    ("state", "accepted".into()),
                    ("accepted_by", who.into()),
                    ("state_changed_at", accepted.into()),
                ],
            )
            .await;
        }
        let session = SecretToken::from_bytes([7; 32]);
        let opened = Utc::now() - Duration::hours(1);
        insert(
            conn,
            "sessions",
            vec![
                ("token_hash", session.hash().as_bytes().to_vec().into()),
                ("user_id", ann.into()),
                ("created_at", opened.into()),
            ],
        )
        .await;
        let mail = Uuid::now_v7();
        insert(
            conn,
            "mail_outbox",
            vec![
                ("id", mail.into()),
                ("to_email", "dee@example.com".into()),
                ("kind", "invitation".into()),
                ("invitation_id", Uuid::now_v7().into()),
                ("organization_name", "Acme".into()),
                ("inviter_email", "ann@example.com".into()),
                ("sealed_token", vec![1_u8, 2, 3].into()),
                ("key_id", "k1".into()),
                ("expires_at", Utc::now().into()),
                ("created_at", Utc::now().into()),
                ("attempts", 2_i32.into()),
                ("next_attempt_at", Utc::now().into()),
            ],
        )
        .await;

        db.store.migrate().await.unwrap();

        let service = live(&db.store, Settings::default());
        let verified = |id| {
            let service = &service;
            async move {
                service
                    .user(UserId::from_uuid(id))
                    .await
                    .unwrap()
                    .email_verified
            }
        };
        assert!(!verified(ann).await, "{backend:?}");
        assert!(verified(bob).await, "{backend:?}");
        assert!(!verified(cy).await, "{backend:?}");
        // The open session still works, last used when it was opened.
        let kept = service.session(session.expose()).await.unwrap();
        assert_eq!(kept.user_id.as_uuid(), ann, "{backend:?}");
        let listed = service.sessions(kept.user_id).await.unwrap().value;
        assert_eq!(listed.len(), 1);
        assert_eq!(listed[0].session.created_at.timestamp(), opened.timestamp());
        // The queued email is still there, as it was.
        assert_eq!(count(&db, "mail_outbox").await, 1, "{backend:?}");
        let attempts: i32 = conn
            .query_one_raw(sea_orm::Statement::from_string(
                conn.get_database_backend(),
                "SELECT attempts FROM mail_outbox WHERE kind = 'invitation'".to_owned(),
            ))
            .await
            .unwrap()
            .unwrap()
            .try_get("", "attempts")
            .unwrap();
        assert_eq!(attempts, 2);
        // The schema refuses an email that is about nothing, and takes the
        // same row about an invitation.
        let row = |id: u8, subject: &str| {
            format!(
                "INSERT INTO mail_outbox (id, to_email, kind, {subject} sealed_token, key_id, \
                 expires_at, created_at, attempts, next_attempt_at) VALUES \
                 ('0190a0b0-0000-7000-8000-00000000000{id}', 'x@example.com', 'invitation', {}\
                 'x', 'k1', '2030-01-01T00:00:00Z', '2030-01-01T00:00:00Z', 0, \
                 '2030-01-01T00:00:00Z')",
                if subject.is_empty() {
                    ""
                } else {
                    "'0190a0b0-0000-7000-8000-0000000000ff', 'Acme', 'ann@example.com', "
                }
            )
        };
        let orphan = conn.execute_unprepared(&row(1, "")).await;
        assert!(
            orphan.is_err(),
            "{backend:?}: an email about nothing was stored"
        );
        conn.execute_unprepared(&row(2, "invitation_id, organization_name, inviter_email,"))
            .await
            .unwrap();
        db.remove().await;
    }
}
