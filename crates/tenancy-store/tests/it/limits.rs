//! The rate limiter on every backend: exact counts under races, within one
//! pool and across two (two instances on one database), a window that
//! slides, refusals that count for nothing, and keys that never appear in
//! the clear.

use std::sync::Arc;

use chrono::{DateTime, Duration, Utc};
use futures::future::join_all;
use sea_orm::{ConnectionTrait, Statement};
use sha2::{Digest, Sha256};
use tenancy_core::OrganizationId;
use tenancy_core::limits::{LimitKey, LimitKind, RateLimit, RetryAfter};
use tenancy_core::ports::RateLimiter;
use tenancy_core::value::EmailAddress;
use tenancy_store::{SecretKey, Store, StoreOptions};

use crate::support::{TestDb, backends};

fn at(seconds: i64) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2026-03-10T12:00:00Z")
        .unwrap()
        .with_timezone(&Utc)
        + Duration::seconds(seconds)
}

fn email(address: &str) -> EmailAddress {
    EmailAddress::parse(address).unwrap()
}

fn org_key(round: usize) -> LimitKey {
    LimitKey::invitations(OrganizationId::from_uuid(uuid::Uuid::from_u128(
        round as u128 + 1,
    )))
}

async fn rows(store: &Store) -> i64 {
    let row = store
        .connection()
        .query_one_raw(Statement::from_string(
            store.connection().get_database_backend(),
            "SELECT COUNT(*) AS n FROM rate_limit_hits",
        ))
        .await
        .unwrap()
        .unwrap();
    row.try_get::<i64>("", "n").unwrap()
}

/// Runs `hits` hits of `key` at once at `now` through `stores` in turn and
/// returns how many passed; checks every refusal's `Retry-After`.
async fn race(stores: &[Store], key: &LimitKey, limit: RateLimit, hits: usize) -> usize {
    let key = Arc::new(key.clone());
    let outcomes = join_all((0..hits).map(|i| {
        let store = stores[i % stores.len()].clone();
        let key = Arc::clone(&key);
        tokio::spawn(async move { store.hit(&key, limit, at(0)).await })
    }))
    .await;
    let mut passed = 0;
    for outcome in outcomes {
        match outcome.unwrap().unwrap() {
            Ok(()) => passed += 1,
            Err(retry) => assert_eq!(retry.seconds(), 3600, "all hits are at one moment"),
        }
    }
    passed
}

fn multi_threaded() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(4)
        .enable_all()
        .build()
        .unwrap()
}

#[test]
fn concurrent_hits_at_a_limit_pass_exactly_max() {
    multi_threaded().block_on(async {
        for backend in backends() {
            let db = TestDb::new(backend).await;
            for round in 0..20 {
                let limit = RateLimit::of(LimitKind::Invitations, 7).unwrap();
                let passed =
                    race(std::slice::from_ref(&db.store), &org_key(round), limit, 30).await;
                assert_eq!(passed, 7, "{backend:?}, round {round}");
            }
            db.remove().await;
        }
    });
}

#[test]
fn two_stores_on_one_database_share_the_counts() {
    multi_threaded().block_on(async {
        for backend in backends() {
            let db = TestDb::new(backend).await;
            // Instances share the key file, as they must to open each
            // other's sealed tokens; the counts are named with it.
            let key = SecretKey::new("shared", [9; 32]);
            let mut stores = Vec::new();
            for _ in 0..2 {
                stores.push(
                    Store::open(StoreOptions::new(db.url.clone(), key.clone()))
                        .await
                        .unwrap(),
                );
            }
            for round in 0..10 {
                let limit = RateLimit::of(LimitKind::Invitations, 5).unwrap();
                let passed = race(&stores, &org_key(round), limit, 24).await;
                assert_eq!(passed, 5, "{backend:?}, round {round}");
            }
            for store in stores {
                store.close().await.unwrap();
            }
            db.remove().await;
        }
    });
}

#[tokio::test]
async fn the_window_slides_and_refused_hits_count_for_nothing() {
    for backend in backends() {
        let db = TestDb::new(backend).await;
        let store = &db.store;
        let key = LimitKey::sign_in_failures(&email("alice@example.com"));
        let limit = RateLimit::of(LimitKind::SignInFailures, 3).unwrap();
        for t in [0, 60, 120] {
            assert_eq!(store.hit(&key, limit, at(t)).await.unwrap(), Ok(()));
        }
        // Full until the first hit is 15 minutes old; refusals in between
        // do not push that back.
        for t in [121, 500, 899] {
            assert_eq!(
                store.hit(&key, limit, at(t)).await.unwrap(),
                Err(RetryAfter::until(at(900), at(t))),
                "{backend:?} at {t}"
            );
        }
        assert_eq!(store.hit(&key, limit, at(900)).await.unwrap(), Ok(()));
        assert_eq!(
            store.hit(&key, limit, at(901)).await.unwrap(),
            Err(RetryAfter::until(at(960), at(901)))
        );
        // The three live hits: the refusals were not stored, and the hit
        // that expired was pruned by the next one.
        assert_eq!(rows(store).await, 3, "{backend:?}");
        db.remove().await;
    }
}

#[tokio::test]
async fn clearing_forgets_one_key_only() {
    for backend in backends() {
        let db = TestDb::new(backend).await;
        let store = &db.store;
        let alice = LimitKey::sign_in_failures(&email("alice@example.com"));
        let bob = LimitKey::sign_in_failures(&email("bob@example.com"));
        let limit = RateLimit::of(LimitKind::SignInFailures, 2).unwrap();
        for key in [&alice, &alice, &bob, &bob] {
            assert_eq!(store.hit(key, limit, at(0)).await.unwrap(), Ok(()));
        }
        store.clear(&alice).await.unwrap();
        assert_eq!(store.hit(&alice, limit, at(1)).await.unwrap(), Ok(()));
        assert!(store.hit(&bob, limit, at(1)).await.unwrap().is_err());
        db.remove().await;
    }
}

#[tokio::test]
async fn account_emails_are_counted_per_address_and_kind() {
    for backend in backends() {
        let db = TestDb::new(backend).await;
        let store = &db.store;
        let limit = RateLimit::of(LimitKind::AccountEmails, 5).unwrap();
        let alice = LimitKey::account_emails(&email("alice@example.com"));
        for minute in 0..5 {
            assert_eq!(
                store.hit(&alice, limit, at(minute * 60)).await.unwrap(),
                Ok(())
            );
        }
        // Another spelling of the same address is the same address.
        let shouted = LimitKey::account_emails(&email("  ALICE@Example.COM "));
        assert_eq!(
            store.hit(&shouted, limit, at(600)).await.unwrap(),
            Err(RetryAfter::until(at(3600), at(600))),
            "{backend:?}"
        );
        // Other addresses, and other kinds of the same address, count apart.
        let bob = LimitKey::account_emails(&email("bob@example.com"));
        assert_eq!(store.hit(&bob, limit, at(600)).await.unwrap(), Ok(()));
        let failures = LimitKey::sign_in_failures(&email("alice@example.com"));
        let signin = RateLimit::of(LimitKind::SignInFailures, 1).unwrap();
        assert_eq!(store.hit(&failures, signin, at(600)).await.unwrap(), Ok(()));
        // An hour after the first, one more may go.
        assert_eq!(store.hit(&alice, limit, at(3600)).await.unwrap(), Ok(()));
        db.remove().await;
    }
}

#[tokio::test]
async fn expired_hits_are_pruned() {
    for backend in backends() {
        let db = TestDb::new(backend).await;
        let store = &db.store;
        let limit = RateLimit::of(LimitKind::AuthAttempts, 60).unwrap();
        for last in 0..100_u8 {
            let key = LimitKey::auth_attempts(Some([192, 0, 2, last].into()));
            store.hit(&key, limit, at(0)).await.unwrap().unwrap();
        }
        assert_eq!(rows(store).await, 100);
        // A minute on, every one of those is over; each new hit takes a
        // batch of them away with it.
        let key = LimitKey::auth_attempts(Some([198, 51, 100, 1].into()));
        store.hit(&key, limit, at(60)).await.unwrap().unwrap();
        assert_eq!(rows(store).await, 100 - 64 + 1, "{backend:?}");
        store.hit(&key, limit, at(61)).await.unwrap().unwrap();
        assert_eq!(rows(store).await, 2, "{backend:?}");
        db.remove().await;
    }
}

#[tokio::test]
async fn no_email_or_address_is_stored_in_the_clear_or_merely_hashed() {
    for backend in backends() {
        let db = TestDb::new(backend).await;
        let store = &db.store;
        let address = "carol@example.com";
        let limit = RateLimit::of(LimitKind::SignInFailures, 3).unwrap();
        store
            .hit(&LimitKey::sign_in_failures(&email(address)), limit, at(0))
            .await
            .unwrap()
            .unwrap();
        let conn = store.connection();
        let rows = conn
            .query_all_raw(Statement::from_string(
                conn.get_database_backend(),
                "SELECT key_hash FROM rate_limit_hits",
            ))
            .await
            .unwrap();
        assert_eq!(rows.len(), 1);
        let stored: Vec<u8> = rows[0].try_get("", "key_hash").unwrap();
        assert_eq!(stored.len(), 32);
        assert!(!stored.windows(5).any(|w| w == b"carol"));
        assert_ne!(stored, Sha256::digest(address.as_bytes()).to_vec());
        db.remove().await;
    }
}
