//! The audit log on the real store, on every backend (R32, D16): 50
//! concurrent changes to one organization number their events 1..=51
//! (its creation first) without a gap or a duplicate and chain them; two
//! instances writing to one organization do the same; the schema refuses to
//! change or delete an event but by the purge; and one byte altered in the
//! database breaks the chain's verification.

use std::sync::Arc;

use sea_orm::ConnectionTrait;
use tenancy_core::audit::{self, AuditEvent, ChainError};
use tenancy_core::ports::Repository;
use tenancy_core::value::{EmailAddress, OrganizationName};
use tenancy_core::{OrganizationId, UserId};
use tenancy_store::{Backend, Store};
use tokio::sync::Barrier;

use crate::concurrency::{email, no_internal_errors, sign_up};
use crate::support::{LiveService, TestDb, backends, live};

fn on_every_backend(test: impl AsyncFn(&TestDb, Backend)) {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(4)
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        for backend in backends() {
            let db = TestDb::new(backend).await;
            test(&db, backend).await;
            db.remove().await;
        }
    });
}

fn settings() -> tenancy_core::service::Settings {
    tenancy_core::service::Settings {
        allow_unverified_inviters: true,
        ..crate::concurrency::settings()
    }
}

async fn log_of(store: &Store, org: OrganizationId) -> Vec<AuditEvent> {
    store
        .read()
        .await
        .unwrap()
        .audit_events_after(org, 0, usize::MAX)
        .await
        .unwrap()
}

/// The log is numbered 1..=n in order and its chain verifies.
fn assert_chained(events: &[AuditEvent], n: u64, at: &str) {
    let seqs: Vec<u64> = events.iter().map(|e| e.seq).collect();
    assert_eq!(seqs, (1..=n).collect::<Vec<_>>(), "{at}");
    let verified = audit::verify(events.iter().map(AuditEvent::to_json)).unwrap();
    assert_eq!(verified.events, n, "{at}");
}

/// `n` concurrent changes by the owner, alternating between the services:
/// renames and invitations, which both lock the organization, and
/// invitations of the same address, which replace each other.
async fn concurrent_changes(
    services: &[LiveService],
    owner: UserId,
    org: OrganizationId,
    n: usize,
) -> Vec<Result<(), tenancy_core::Error>> {
    let barrier = Arc::new(Barrier::new(n));
    let tasks: Vec<_> = (0..n)
        .map(|i| {
            let service = services[i % services.len()].clone();
            let barrier = barrier.clone();
            tokio::spawn(async move {
                barrier.wait().await;
                if i % 2 == 0 {
                    let name = OrganizationName::parse(&format!("Renamed {i}")).unwrap();
                    service.rename(owner, org, name).await.map(|_| ())
                } else {
                    let to = EmailAddress::parse(&format!("guest{}@example.com", i % 5)).unwrap();
                    service.invite(owner, org, to, None).await.map(|_| ())
                }
            })
        })
        .collect();
    let mut results = Vec::with_capacity(n);
    for task in tasks {
        results.push(task.await.unwrap());
    }
    results
}

#[test]
fn fifty_concurrent_changes_number_their_events_without_gaps() {
    on_every_backend(async |db, backend| {
        let service = live(&db.store, settings());
        let (owner, org) = sign_up(&service, email(0, "owner")).await;
        let results = concurrent_changes(&[service], owner, org, 50).await;
        no_internal_errors(&results);
        let succeeded = results.iter().filter(|r| r.is_ok()).count();
        assert_eq!(succeeded, 50, "{backend:?}: {results:?}");
        let events = log_of(&db.store, org).await;
        assert_chained(&events, 51, &format!("{backend:?}"));
        assert_eq!(events[0].action, audit::Action::OrganizationCreated);
        let renames = events
            .iter()
            .filter(|e| e.action == audit::Action::OrganizationRenamed)
            .count();
        assert_eq!(renames, 25, "{backend:?}");
    });
}

#[test]
fn two_instances_writing_to_one_organization_share_one_chain() {
    on_every_backend(async |db, backend| {
        let other = db.another_instance().await;
        let services = [live(&db.store, settings()), live(&other, settings())];
        let (owner, org) = sign_up(&services[0], email(0, "owner")).await;
        let results = concurrent_changes(&services, owner, org, 40).await;
        no_internal_errors(&results);
        assert!(
            results.iter().all(Result::is_ok),
            "{backend:?}: {results:?}"
        );
        // Both instances read the same log.
        let (mine, theirs) = (log_of(&db.store, org).await, log_of(&other, org).await);
        assert_eq!(mine, theirs, "{backend:?}");
        assert_chained(&mine, 41, &format!("{backend:?}"));
        other.close().await.unwrap();
    });
}

#[test]
fn subscribers_get_each_committed_event_once_and_none_of_a_refused_change() {
    on_every_backend(async |db, backend| {
        let service = live(&db.store, settings());
        let mut events = db.store.subscribe();
        let (owner, org) = sign_up(&service, email(0, "owner")).await;
        let outsider = sign_up(&service, email(0, "outsider")).await.0;
        let refused = service
            .rename(outsider, org, OrganizationName::parse("Taken").unwrap())
            .await;
        assert_eq!(refused.unwrap_err().code(), "not_found");
        service
            .rename(owner, org, OrganizationName::parse("Kept").unwrap())
            .await
            .unwrap();
        let mut got = Vec::new();
        while let Ok(event) = events.try_recv() {
            if event.organization_id == org {
                got.push(event);
            }
        }
        assert_eq!(got, log_of(&db.store, org).await, "{backend:?}");
        assert_eq!(got.len(), 2, "{backend:?}");
    });
}

#[test]
fn the_schema_refuses_to_change_or_delete_an_event_but_by_the_purge() {
    on_every_backend(async |db, backend| {
        let service = live(&db.store, settings());
        let (owner, org) = sign_up(&service, email(0, "owner")).await;
        let name = OrganizationName::parse("Kept").unwrap();
        service.rename(owner, org, name).await.unwrap();
        let c = db.store.connection();
        for sql in [
            "UPDATE audit_events SET target_label = 'Forged'",
            "DELETE FROM audit_events",
        ] {
            assert!(
                c.execute_unprepared(sql).await.is_err(),
                "{backend:?}: {sql}"
            );
        }
        if backend == Backend::Postgres {
            assert!(c.execute_unprepared("TRUNCATE audit_events").await.is_err());
        }
        assert_chained(&log_of(&db.store, org).await, 2, &format!("{backend:?}"));
    });
}

#[test]
fn one_altered_byte_in_the_database_breaks_the_chain() {
    on_every_backend(async |db, backend| {
        let service = live(&db.store, settings());
        let (owner, org) = sign_up(&service, email(0, "owner")).await;
        for i in 0..5 {
            let name = OrganizationName::parse(&format!("Acme {i}")).unwrap();
            service.rename(owner, org, name).await.unwrap();
        }
        let events = log_of(&db.store, org).await;
        assert_chained(&events, 6, &format!("{backend:?}"));
        // Someone with the database's keys gets past the triggers and
        // changes one letter of one event's label: `Acme 2` becomes `Acme 3`.
        let c = db.store.connection();
        let drop = match backend {
            Backend::Sqlite => "DROP TRIGGER audit_events_no_update",
            Backend::Postgres => "DROP TRIGGER audit_events_no_update ON audit_events",
        };
        c.execute_unprepared(drop).await.unwrap();
        c.execute_unprepared(
            "UPDATE audit_events SET target_label = 'Acme 3' WHERE target_label = 'Acme 2'",
        )
        .await
        .unwrap();
        let altered = log_of(&db.store, org).await;
        assert_ne!(altered, events);
        let error = audit::verify(altered.iter().map(AuditEvent::to_json)).unwrap_err();
        assert_eq!(
            error,
            ChainError::Altered { index: 3, seq: 4 },
            "{backend:?}"
        );
    });
}
