//! The mail outbox: written with the invitation, delivered with retries.

use chrono::{Duration, Utc};
use sea_orm::ConnectionTrait;
use tenancy_core::entity::MailContent;
use tenancy_core::ports::MailOutbox;
use tenancy_core::service::Settings;

use crate::support::{TestDb, backends, invite, live, sign_up};

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
        } = &mail.content;
        assert_eq!(*invitation_id, invitation.id);
        // The token read back from the outbox is the invitation's.
        assert_eq!(token.hash(), invitation.token_hash);
        let text = mail.render("https://app.example.com").text;
        assert!(text.contains(&format!(
            "https://app.example.com/invitations/{}",
            token.expose()
        )));

        db.store
            .mark_failed(mail.id, now + Duration::minutes(1), "connection refused")
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
                    loop {
                        let batch = store.claim(now, lease, 7).await.unwrap();
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
        assert!(db.store.claim(now, lease, 100).await.unwrap().is_empty());
        // Given back, it is due again, with no attempt counted.
        db.store.release(all[0], now).await.unwrap();
        let again = db.store.claim(now, lease, 100).await.unwrap();
        assert_eq!(again.len(), 1, "{backend:?}");
        assert_eq!((again[0].mail.id, again[0].attempts), (all[0], 0));
        // After the lease, whatever was not marked is due again (a crashed worker's emails).
        assert_eq!(db.store.due(lease, 100).await.unwrap().len(), 60);
        db.remove().await;
    }
}
