//! The mail outbox: written with the invitation, delivered with retries.

use chrono::{Duration, Utc};
use sea_orm::{ConnectionTrait, DbBackend, Statement};
use sea_orm_migration::MigratorTrait;
use tenancy_core::MailId;
use tenancy_core::entity::MailContent;
use tenancy_core::ports::{MailOutbox, WorkerId};
use tenancy_core::service::Settings;
use tenancy_store::migration::Migrator;
use tenancy_store::{Backend, Store};
use uuid::Uuid;

use crate::support::{TestDb, backends, invite, live, sign_up};

fn worker() -> WorkerId {
    WorkerId::from_uuid(Uuid::now_v7())
}

/// The sealed token of a row and whether it is marked sent, read from the
/// table itself.
async fn raw_row(store: &Store, id: MailId) -> (Vec<u8>, bool) {
    let (backend, sql) = match store.backend() {
        Backend::Sqlite => (
            DbBackend::Sqlite,
            "SELECT sealed_token, sent_at IS NOT NULL AS sent FROM mail_outbox WHERE id = ?",
        ),
        Backend::Postgres => (
            DbBackend::Postgres,
            "SELECT sealed_token, sent_at IS NOT NULL AS sent FROM mail_outbox WHERE id = $1",
        ),
    };
    let row = store
        .connection()
        .query_one_raw(Statement::from_sql_and_values(
            backend,
            sql,
            [id.as_uuid().into()],
        ))
        .await
        .unwrap()
        .expect("the row is there");
    (
        row.try_get("", "sealed_token").unwrap(),
        row.try_get("", "sent").unwrap(),
    )
}

#[tokio::test(flavor = "multi_thread")]
async fn invitation_emails_wait_until_sent_and_retry_after_failures() {
    for backend in backends() {
        let db = TestDb::new(backend).await;
        let service = live(&db.store, Settings::default());
        let owner = sign_up(&service, "ann@example.com").await;
        let invitation = invite(&service, &owner, "bob@example.com").await;
        let now = Utc::now();
        let due = db.store.due(now, 10).await.unwrap();
        assert_eq!(due.len(), 1, "{backend:?}");
        let mail = &due[0].mail;
        assert_eq!(mail.to.as_str(), "bob@example.com");
        let MailContent::Invitation {
            invitation_id,
            token,
            ..
        } = &mail.content
        else {
            panic!("an invitation email");
        };
        assert_eq!(*invitation_id, invitation.id);
        // The token read back from the outbox is the invitation's.
        assert_eq!(token.hash(), invitation.token_hash);
        let text = mail.render("https://app.example.com").text;
        assert!(text.contains(&format!(
            "https://app.example.com/invitations/{}",
            token.expose()
        )));

        let w = worker();
        assert_eq!(db.store.claim(w, now, now, 10).await.unwrap().len(), 1);
        db.store
            .mark_failed(w, mail.id, now + Duration::minutes(1), "connection refused")
            .await
            .unwrap();
        assert!(
            db.store.due(now, 10).await.unwrap().is_empty(),
            "{backend:?}"
        );
        let retry = db.store.due(now + Duration::minutes(2), 10).await.unwrap();
        assert_eq!(retry.len(), 1);
        assert_eq!(retry[0].attempts, 1);
        db.store.mark_sent(mail.id, now).await.unwrap();
        assert!(
            db.store
                .due(now + Duration::days(1), 10)
                .await
                .unwrap()
                .is_empty()
        );

        // A row that cannot be opened (here: sealed for another place) does
        // not block the others; it is set aside.
        for who in ["cy", "dee"] {
            invite(&service, &owner, &format!("{who}@example.com")).await;
        }
        db.store
            .connection()
            .execute_unprepared(
                "UPDATE mail_outbox SET sealed_token = (SELECT m2.sealed_token FROM mail_outbox m2 \
                 WHERE m2.to_email = 'dee@example.com') WHERE to_email = 'cy@example.com'",
            )
            .await
            .unwrap();
        let later = Utc::now() + Duration::seconds(1);
        let due = db.store.due(later, 10).await.unwrap();
        let to: Vec<&str> = due.iter().map(|q| q.mail.to.as_str()).collect();
        assert_eq!(to, ["dee@example.com"], "{backend:?}");
        assert_eq!(
            db.store.due(later, 10).await.unwrap().len(),
            1,
            "{backend:?}"
        );
        db.remove().await;
    }
}

/// Workers of several instances claim from one outbox at the same time:
/// every email is taken exactly once, and what is released is due again.
#[tokio::test(flavor = "multi_thread")]
async fn concurrent_claims_take_each_email_once() {
    for backend in backends() {
        let db = TestDb::new(backend).await;
        let service = live(&db.store, Settings::default());
        let owner = sign_up(&service, "ann@example.com").await;
        for i in 0..60 {
            invite(&service, &owner, &format!("guest{i}@example.com")).await;
        }
        let now = Utc::now() + Duration::seconds(1);
        let lease = now + Duration::minutes(5);
        let workers: Vec<_> = (0..4)
            .map(|_| {
                let store = db.store.clone();
                tokio::spawn(async move {
                    let mut taken = Vec::new();
                    let w = worker();
                    loop {
                        let batch = store.claim(w, now, lease, 7).await.unwrap();
                        if batch.is_empty() {
                            return taken;
                        }
                        taken.extend(batch.into_iter().map(|q| q.mail.id));
                    }
                })
            })
            .collect();
        let mut all = Vec::new();
        for worker in workers {
            all.extend(worker.await.unwrap());
        }
        let distinct: std::collections::HashSet<_> = all.iter().collect();
        assert_eq!(all.len(), 60, "{backend:?}: taken {}", all.len());
        assert_eq!(distinct.len(), 60, "{backend:?}: an email was taken twice");
        // Leased: due for no one before the lease ends.
        let w = worker();
        assert!(db.store.claim(w, now, lease, 100).await.unwrap().is_empty());
        // Given back, it is due again, with no attempt counted; only the
        // worker holding it gives it back.
        db.store.release(w, all[0], now).await.unwrap();
        assert!(db.store.claim(w, now, lease, 100).await.unwrap().is_empty());
        let holder = holder(&db, all[0]).await;
        db.store.release(holder, all[0], now).await.unwrap();
        let again = db.store.claim(w, now, lease, 100).await.unwrap();
        assert_eq!(again.len(), 1, "{backend:?}");
        assert_eq!((again[0].mail.id, again[0].attempts), (all[0], 0));
        // After the lease, whatever was not marked is due again (a crashed worker's emails).
        assert_eq!(db.store.due(lease, 100).await.unwrap().len(), 60);
        db.remove().await;
    }
}

/// The worker that holds a row, as the table says.
async fn holder(db: &TestDb, id: MailId) -> WorkerId {
    let (backend, sql) = match db.store.backend() {
        Backend::Sqlite => (
            DbBackend::Sqlite,
            "SELECT claimed_by FROM mail_outbox WHERE id = ?",
        ),
        Backend::Postgres => (
            DbBackend::Postgres,
            "SELECT claimed_by FROM mail_outbox WHERE id = $1",
        ),
    };
    let row = db
        .store
        .connection()
        .query_one_raw(Statement::from_sql_and_values(
            backend,
            sql,
            [id.as_uuid().into()],
        ))
        .await
        .unwrap()
        .unwrap();
    WorkerId::from_uuid(
        row.try_get::<Option<Uuid>>("", "claimed_by")
            .unwrap()
            .unwrap(),
    )
}

/// A worker renews the lease of what it holds, and nothing else; once its
/// lease ran out and another worker took an email, the first can neither
/// renew, fail nor release it, so that the second's lease stands.
#[tokio::test(flavor = "multi_thread")]
async fn a_lease_is_renewed_by_its_worker_alone() {
    for backend in backends() {
        let db = TestDb::new(backend).await;
        let service = live(&db.store, Settings::default());
        let owner = sign_up(&service, "ann@example.com").await;
        for who in ["bob", "cy"] {
            invite(&service, &owner, &format!("{who}@example.com")).await;
        }
        let now = Utc::now() + Duration::seconds(1);
        let lease = Duration::seconds(30);
        let (a, b) = (worker(), worker());
        let taken = db.store.claim(a, now, now + lease, 10).await.unwrap();
        let ids: Vec<MailId> = taken.iter().map(|q| q.mail.id).collect();
        assert_eq!(ids.len(), 2, "{backend:?}");

        // Renewed by its worker: not due when the first lease would have ended.
        let renewed = now + Duration::seconds(20) + lease;
        let mut held = db.store.renew(a, &ids, renewed).await.unwrap();
        held.sort();
        let mut expected = ids.clone();
        expected.sort();
        assert_eq!(held, expected, "{backend:?}");
        assert!(
            db.store
                .claim(b, now + lease, now + lease * 2, 10)
                .await
                .unwrap()
                .is_empty(),
            "{backend:?}: a renewed lease was taken"
        );
        // Another worker renews nothing of it, and leaves it as it is.
        assert!(
            db.store
                .renew(b, &ids, now + lease * 9)
                .await
                .unwrap()
                .is_empty()
        );
        assert_eq!(db.store.due(renewed, 10).await.unwrap().len(), 2);

        // A sent email is held no more.
        db.store.mark_sent(ids[0], now).await.unwrap();
        assert_eq!(
            db.store.renew(a, &ids, renewed).await.unwrap(),
            [ids[1]],
            "{backend:?}"
        );

        // The lease ran out unrenewed; another worker took the email.
        let later = renewed + Duration::seconds(1);
        let retaken = db.store.claim(b, later, later + lease, 10).await.unwrap();
        assert_eq!(retaken.len(), 1, "{backend:?}");
        assert_eq!(retaken[0].mail.id, ids[1]);
        // The first worker, late, holds nothing: its renewal, failure and
        // release change nothing, and the email stays leased to the second.
        assert!(
            db.store
                .renew(a, &ids, later + lease * 9)
                .await
                .unwrap()
                .is_empty()
        );
        db.store
            .mark_failed(a, ids[1], later, "timed out")
            .await
            .unwrap();
        db.store.release(a, ids[1], later).await.unwrap();
        assert!(
            db.store
                .due(later + lease - Duration::seconds(1), 10)
                .await
                .unwrap()
                .is_empty(),
            "{backend:?}: a late worker shortened another's lease"
        );
        let due = db.store.due(later + lease, 10).await.unwrap();
        assert_eq!(due.len(), 1, "{backend:?}");
        assert_eq!(
            due[0].attempts, 0,
            "{backend:?}: a late failure was counted"
        );
        // The holder's own failure counts.
        db.store
            .mark_failed(b, ids[1], later, "timed out")
            .await
            .unwrap();
        assert_eq!(db.store.due(later, 10).await.unwrap()[0].attempts, 1);
        db.remove().await;
    }
}

/// Once sent, a row keeps no sealed token: its column is empty in the table
/// itself, while unsent rows keep theirs.
#[tokio::test(flavor = "multi_thread")]
async fn a_delivered_row_keeps_no_sealed_token() {
    for backend in backends() {
        let db = TestDb::new(backend).await;
        let service = live(&db.store, Settings::default());
        let owner = sign_up(&service, "ann@example.com").await;
        for who in ["bob", "cy"] {
            invite(&service, &owner, &format!("{who}@example.com")).await;
        }
        let now = Utc::now() + Duration::seconds(1);
        let w = worker();
        let taken = db
            .store
            .claim(w, now, now + Duration::seconds(30), 10)
            .await
            .unwrap();
        let (sent, waiting) = (taken[0].mail.id, taken[1].mail.id);
        let (sealed, _) = raw_row(&db.store, sent).await;
        assert!(sealed.len() > 32, "{backend:?}: a sealed token is stored");

        db.store.mark_sent(sent, now).await.unwrap();
        assert_eq!(
            raw_row(&db.store, sent).await,
            (Vec::new(), true),
            "{backend:?}"
        );
        let (sealed, is_sent) = raw_row(&db.store, waiting).await;
        assert!(!is_sent && sealed.len() > 32, "{backend:?}");
        // The erased row is not due again, so it is never opened.
        db.store.release(w, waiting, now).await.unwrap();
        let due = db.store.due(now + Duration::days(1), 10).await.unwrap();
        let due: Vec<MailId> = due.iter().map(|q| q.mail.id).collect();
        assert_eq!(due, [waiting], "{backend:?}");
        db.remove().await;
    }
}

/// Rows sent before the lease migration lose their sealed token when it
/// runs; rows still waiting keep theirs and are delivered as before.
#[tokio::test(flavor = "multi_thread")]
async fn the_lease_migration_erases_the_tokens_of_rows_sent_before_it() {
    for backend in backends() {
        let db = TestDb::new(backend).await;
        let service = live(&db.store, Settings::default());
        let owner = sign_up(&service, "ann@example.com").await;
        for who in ["bob", "cy"] {
            invite(&service, &owner, &format!("{who}@example.com")).await;
        }
        let due = db
            .store
            .due(Utc::now() + Duration::seconds(1), 10)
            .await
            .unwrap();
        let (sent, waiting) = (due[0].mail.id, due[1].mail.id);
        let (sealed_before, _) = raw_row(&db.store, waiting).await;
        // Back to the outbox of the version before: one row marked sent as
        // it did (keeping the token), no column of leases, the migration
        // not yet applied.
        let connection = db.store.connection();
        let id = match backend {
            Backend::Sqlite => format!("X'{}'", sent.as_uuid().simple()),
            Backend::Postgres => format!("'{}'", sent.as_uuid()),
        };
        for sql in [
            format!("UPDATE mail_outbox SET sent_at = created_at WHERE id = {id}"),
            "ALTER TABLE mail_outbox DROP COLUMN claimed_by".to_owned(),
            "DELETE FROM seaql_migrations WHERE version = 'm0007_outbox_lease'".to_owned(),
        ] {
            connection.execute_unprepared(&sql).await.unwrap();
        }
        let (sealed, is_sent) = raw_row(&db.store, sent).await;
        assert!(is_sent && !sealed.is_empty(), "{backend:?}");
        assert_eq!(
            Migrator::get_pending_migrations(connection)
                .await
                .unwrap()
                .len(),
            1
        );

        db.store.migrate().await.unwrap();
        assert_eq!(
            raw_row(&db.store, sent).await,
            (Vec::new(), true),
            "{backend:?}"
        );
        assert_eq!(
            raw_row(&db.store, waiting).await,
            (sealed_before, false),
            "{backend:?}"
        );
        let due = db
            .store
            .due(Utc::now() + Duration::seconds(1), 10)
            .await
            .unwrap();
        assert_eq!(due.len(), 1, "{backend:?}: the waiting email still opens");
        assert_eq!(due[0].mail.id, waiting);
        db.remove().await;
    }
}
