//! The delivery worker against a real store, with a clock the test moves and
//! a transport that fails on cue.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use chrono::{DateTime, TimeZone, Utc};
use tenancy::config::PublicUrl;
use tenancy::mail::{BATCH, Composer, LEASE, Letter, Pass, Transport, TransportError, Worker};
use tenancy_core::ports::{Clock, MailOutbox, QueuedMail, WorkerId};
use tenancy_core::service::{Service, Settings};
use tenancy_core::value::{EmailAddress, PasswordHash};
use tenancy_core::{MailId, StoreError};
use tenancy_store::system::{OsTokens, SystemClock, UuidV7};
use tenancy_store::{SecretKey, Store, StoreOptions};
use tokio::sync::watch;

#[derive(Debug)]
struct ManualClock(Mutex<DateTime<Utc>>);

impl ManualClock {
    fn new() -> Arc<Self> {
        Arc::new(Self(Mutex::new(
            Utc.with_ymd_and_hms(2026, 5, 1, 9, 0, 0).unwrap(),
        )))
    }

    fn advance(&self, by: chrono::Duration) {
        *self.0.lock().unwrap() += by;
    }

    /// Back to the real time, for the tests whose workers use the system
    /// clock.
    fn set_to_now(&self) {
        *self.0.lock().unwrap() = Utc::now() - chrono::Duration::seconds(1);
    }
}

impl Clock for ManualClock {
    fn now(&self) -> DateTime<Utc> {
        *self.0.lock().unwrap()
    }
}

/// Fails with the queued errors first, then delivers.
#[derive(Debug, Default)]
struct Scripted {
    failures: Mutex<VecDeque<TransportError>>,
    delivered: Mutex<Vec<Letter>>,
}

impl Scripted {
    fn failing(failures: impl IntoIterator<Item = TransportError>) -> Arc<Self> {
        Arc::new(Self {
            failures: Mutex::new(failures.into_iter().collect()),
            delivered: Mutex::default(),
        })
    }

    fn recipients(&self) -> Vec<String> {
        self.delivered
            .lock()
            .unwrap()
            .iter()
            .flat_map(|letter| letter.message.envelope().to().to_vec())
            .map(|address| address.to_string())
            .collect()
    }
}

#[async_trait]
impl Transport for Scripted {
    async fn send(&self, letter: &Letter) -> Result<(), TransportError> {
        if let Some(error) = self.failures.lock().unwrap().pop_front() {
            return Err(error);
        }
        self.delivered.lock().unwrap().push(letter.clone());
        Ok(())
    }
}

type Tenancy = Service<Store, Arc<ManualClock>, UuidV7, OsTokens>;

struct Fixture {
    store: Store,
    tenancy: Tenancy,
    clock: Arc<ManualClock>,
    _dir: tempfile::TempDir,
}

impl Fixture {
    async fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}/t.db", dir.path().display());
        let store = Store::open(StoreOptions::new(url, SecretKey::new("test", [3; 32])))
            .await
            .unwrap();
        let clock = ManualClock::new();
        let tenancy = Service::new(
            store.clone(),
            Arc::clone(&clock),
            UuidV7,
            OsTokens,
            // These tests are about delivery: the owner invites without a
            // verification email of their own in the outbox.
            Settings {
                allow_unverified_inviters: true,
                ..Settings::default()
            },
        );
        Self {
            store,
            tenancy,
            clock,
            _dir: dir,
        }
    }

    /// Queues one invitation email per guest, from one owner.
    async fn invite(&self, guests: &[String]) {
        let owner = self
            .tenancy
            .sign_up(
                EmailAddress::parse("owner@example.com").unwrap(),
                None,
                PasswordHash::new("$argon2id$not-checked-here".to_owned()),
                None,
                tenancy_core::decide::AccountMail::Withhold,
            )
            .await
            .unwrap();
        for guest in guests {
            self.tenancy
                .invite(
                    owner.user.id,
                    owner.default_organization.id,
                    EmailAddress::parse(guest).unwrap(),
                    None,
                )
                .await
                .unwrap();
            // Distinct creation times keep the outbox order obvious.
            self.clock.advance(chrono::Duration::milliseconds(1));
        }
    }

    fn worker(&self, transport: Arc<Scripted>) -> Worker<Store> {
        Worker::new(
            self.store.clone(),
            transport,
            Composer::new(PublicUrl::parse("https://t.example").unwrap(), None),
            Arc::clone(&self.clock) as Arc<dyn Clock>,
        )
    }

    async fn attempts(&self) -> Vec<u32> {
        let due = self.store.due(self.clock.now(), 100).await.unwrap();
        due.iter().map(|queued| queued.attempts).collect()
    }
}

fn guests(n: usize) -> Vec<String> {
    (0..n).map(|i| format!("guest{i}@example.com")).collect()
}

#[tokio::test]
async fn a_failed_delivery_is_retried_after_the_delay_and_then_sent_once() {
    let fixture = Fixture::new().await;
    fixture.invite(&guests(1)).await;
    let transport = Scripted::failing([TransportError::transient("connection refused")]);
    let worker = fixture.worker(Arc::clone(&transport));

    let first = worker.deliver_due().await.unwrap();
    assert_eq!(
        first,
        Pass {
            failed: 1,
            transport_failed: true,
            ..Pass::default()
        }
    );
    // Not due again before retry_delay(0) = 5 s: a down server is not hammered.
    assert_eq!(worker.deliver_due().await.unwrap(), Pass::default());
    fixture.clock.advance(chrono::Duration::seconds(4));
    assert_eq!(worker.deliver_due().await.unwrap(), Pass::default());
    fixture.clock.advance(chrono::Duration::seconds(1));
    assert_eq!(fixture.attempts().await, [1], "the failure was recorded");

    let retry = worker.deliver_due().await.unwrap();
    assert_eq!(retry.sent, 1, "{retry:?}");
    assert_eq!(transport.recipients(), ["guest0@example.com"]);

    fixture.clock.advance(chrono::Duration::hours(2));
    assert_eq!(worker.deliver_due().await.unwrap(), Pass::default());
    assert_eq!(transport.recipients().len(), 1, "sent exactly once");
}

#[tokio::test]
async fn a_refused_message_does_not_hold_up_the_others_but_a_down_transport_does() {
    let fixture = Fixture::new().await;
    fixture.invite(&guests(3)).await;
    let transport = Scripted::failing([
        TransportError::permanent("550 no such mailbox"),
        TransportError::transient("connection reset"),
    ]);
    let worker = fixture.worker(Arc::clone(&transport));

    // The first is refused, the pass goes on; the second meets a failing
    // transport, and the pass stops before the third.
    let pass = worker.deliver_due().await.unwrap();
    assert_eq!(
        (pass.sent, pass.failed, pass.transport_failed),
        (0, 2, true)
    );
    // The third was never tried: it is still due, with no failed attempt.
    assert_eq!(fixture.attempts().await, [0]);
    assert_eq!(worker.deliver_due().await.unwrap().sent, 1);
    assert_eq!(transport.recipients(), ["guest2@example.com"]);

    fixture.clock.advance(chrono::Duration::seconds(5));
    assert_eq!(fixture.attempts().await, [1, 1]);
    assert_eq!(worker.deliver_due().await.unwrap().sent, 2);
    assert_eq!(
        transport.recipients(),
        [
            "guest2@example.com",
            "guest0@example.com",
            "guest1@example.com"
        ]
    );
}

#[tokio::test]
async fn a_pass_takes_a_batch_and_says_when_more_is_due() {
    let fixture = Fixture::new().await;
    fixture.invite(&guests(BATCH + 1)).await;
    let transport = Scripted::failing([]);
    let worker = fixture.worker(Arc::clone(&transport));
    let first = worker.deliver_due().await.unwrap();
    assert_eq!((first.sent, first.more), (BATCH, true));
    let second = worker.deliver_due().await.unwrap();
    assert_eq!((second.sent, second.more), (1, false));
    assert_eq!(transport.recipients().len(), BATCH + 1);
}

#[tokio::test]
async fn the_running_worker_delivers_promptly_and_stops_on_shutdown() {
    let fixture = Fixture::new().await;
    let transport = Scripted::failing([]);
    let worker = fixture
        .worker(Arc::clone(&transport))
        .with_poll_interval(Duration::from_millis(20));
    let (stop, stopping) = watch::channel(false);
    let running = tokio::spawn(worker.run(stopping));

    fixture.invite(&guests(2)).await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    while transport.recipients().len() < 2 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "not delivered in 5 s"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }

    stop.send(true).unwrap();
    tokio::time::timeout(Duration::from_secs(2), running)
        .await
        .expect("the worker stops within 2 s")
        .unwrap();
}

/// A claim made under a worker that then died (no renewal, no outcome) holds
/// its emails for one lease, not more: then they go out.
#[tokio::test]
async fn emails_claimed_by_a_dead_worker_go_out_when_its_lease_ends() {
    let fixture = Fixture::new().await;
    fixture.invite(&guests(3)).await;
    let now = fixture.clock.now();
    let dead = WorkerId::from_uuid(uuid::Uuid::now_v7());
    let lease = chrono::Duration::from_std(LEASE).unwrap();
    assert_eq!(
        fixture
            .store
            .claim(dead, now, now + lease, BATCH)
            .await
            .unwrap()
            .len(),
        3
    );
    let transport = Scripted::failing([]);
    let worker = fixture.worker(transport.clone());
    assert_eq!(worker.deliver_due().await.unwrap(), Pass::default());
    fixture
        .clock
        .advance(lease - chrono::Duration::milliseconds(1));
    assert_eq!(worker.deliver_due().await.unwrap(), Pass::default());
    fixture.clock.advance(chrono::Duration::milliseconds(1));
    assert_eq!(worker.deliver_due().await.unwrap().sent, 3);
    assert_eq!(transport.recipients().len(), 3);
    assert!(LEASE <= Duration::from_secs(30), "{LEASE:?}");
}

/// Takes a while over each message, and records who delivered what.
#[derive(Debug)]
struct Slow {
    name: &'static str,
    takes: Duration,
    log: Arc<Mutex<Vec<(&'static str, MailId)>>>,
}

#[async_trait]
impl Transport for Slow {
    async fn send(&self, letter: &Letter) -> Result<(), TransportError> {
        tokio::time::sleep(self.takes).await;
        self.log.lock().unwrap().push((self.name, letter.id));
        Ok(())
    }
}

/// Two workers on one outbox, each delivery taking several leases: the
/// worker delivering renews its lease, so the other never takes the same
/// email (without renewal it would once the first lease ends).
#[tokio::test(flavor = "multi_thread")]
async fn a_slow_delivery_keeps_its_lease_and_no_other_worker_sends_it_too() {
    let fixture = Fixture::new().await;
    fixture.clock.set_to_now();
    fixture.invite(&guests(3)).await;
    let lease = Duration::from_millis(600);
    let log = Arc::new(Mutex::new(Vec::new()));
    let (stop, stopping) = watch::channel(false);
    let running: Vec<_> = ["a", "b"]
        .into_iter()
        .map(|name| {
            let transport = Arc::new(Slow {
                name,
                takes: lease * 2,
                log: Arc::clone(&log),
            });
            let worker = Worker::new(
                fixture.store.clone(),
                transport,
                Composer::new(PublicUrl::parse("https://t.example").unwrap(), None),
                Arc::new(SystemClock),
            )
            .with_lease(lease)
            .with_poll_interval(Duration::from_millis(20));
            tokio::spawn(worker.run(stopping.clone()))
        })
        .collect();

    let delivered = |log: &Mutex<Vec<(&str, MailId)>>| log.lock().unwrap().len();
    let deadline = Instant::now() + Duration::from_secs(30);
    while delivered(&log) < 3 {
        assert!(Instant::now() < deadline, "not delivered in 30 s: {log:?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // Long enough for a duplicate under way to land.
    tokio::time::sleep(lease * 3).await;
    stop.send(true).unwrap();
    for worker in running {
        worker.await.unwrap();
    }
    let log = log.lock().unwrap().clone();
    let mut ids: Vec<MailId> = log.iter().map(|(_, id)| *id).collect();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), 3, "{log:?}");
    assert_eq!(log.len(), 3, "an email was delivered twice: {log:?}");
    assert!(
        fixture.store.due(Utc::now(), 10).await.unwrap().is_empty(),
        "all marked sent"
    );
}

/// The store, except that no lease can be renewed (as when the database is
/// out of reach while a delivery is under way).
struct Unrenewable(Store);

#[async_trait]
impl MailOutbox for Unrenewable {
    async fn due(&self, now: DateTime<Utc>, limit: usize) -> Result<Vec<QueuedMail>, StoreError> {
        self.0.due(now, limit).await
    }
    async fn claim(
        &self,
        worker: WorkerId,
        now: DateTime<Utc>,
        lease_until: DateTime<Utc>,
        limit: usize,
    ) -> Result<Vec<QueuedMail>, StoreError> {
        self.0.claim(worker, now, lease_until, limit).await
    }
    async fn renew(
        &self,
        _worker: WorkerId,
        _ids: &[MailId],
        _lease_until: DateTime<Utc>,
    ) -> Result<Vec<MailId>, StoreError> {
        Err(StoreError::other("the database is out of reach"))
    }
    async fn release(
        &self,
        worker: WorkerId,
        id: MailId,
        at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        self.0.release(worker, id, at).await
    }
    async fn mark_sent(&self, id: MailId, at: DateTime<Utc>) -> Result<(), StoreError> {
        self.0.mark_sent(id, at).await
    }
    async fn mark_failed(
        &self,
        worker: WorkerId,
        id: MailId,
        next_attempt_at: DateTime<Utc>,
        error: &str,
    ) -> Result<(), StoreError> {
        self.0.mark_failed(worker, id, next_attempt_at, error).await
    }
}

/// Never finishes a delivery; notes when one is abandoned.
#[derive(Debug, Default)]
struct Stuck {
    abandoned: Mutex<Option<Instant>>,
}

struct OnDrop<'a>(&'a Mutex<Option<Instant>>);

impl Drop for OnDrop<'_> {
    fn drop(&mut self) {
        *self.0.lock().unwrap() = Some(Instant::now());
    }
}

#[async_trait]
impl Transport for Stuck {
    async fn send(&self, _letter: &Letter) -> Result<(), TransportError> {
        let _abandoned = OnDrop(&self.abandoned);
        std::future::pending().await
    }
}

/// A worker that cannot renew its lease drops the delivery under way before
/// the lease ends, so that it is not still delivering when another worker
/// may take the email; the other takes it once the lease is over.
#[tokio::test(flavor = "multi_thread")]
async fn a_worker_that_cannot_renew_abandons_its_delivery_before_the_lease_ends() {
    let fixture = Fixture::new().await;
    fixture.clock.set_to_now();
    fixture.invite(&guests(1)).await;
    let lease = Duration::from_secs(3);
    let stuck = Arc::new(Stuck::default());
    let composer = Composer::new(PublicUrl::parse("https://t.example").unwrap(), None);
    let first = Worker::new(
        Unrenewable(fixture.store.clone()),
        Arc::clone(&stuck) as Arc<dyn Transport>,
        composer.clone(),
        Arc::new(SystemClock),
    )
    .with_lease(lease);
    let claimed = Instant::now();
    let error = tokio::time::timeout(lease * 2, first.deliver_due())
        .await
        .expect("the pass ends")
        .expect_err("the lease was lost");
    assert!(
        error.to_string().contains("could not be renewed in time"),
        "{error}"
    );
    let abandoned = stuck
        .abandoned
        .lock()
        .unwrap()
        .expect("the delivery was dropped");
    let after = abandoned - claimed;
    assert!(
        after > lease / 2 && after < lease,
        "abandoned {after:?} after the claim, the lease is {lease:?}"
    );

    let transport = Scripted::failing([]);
    let second = Worker::new(
        fixture.store.clone(),
        transport.clone(),
        composer,
        Arc::new(SystemClock),
    );
    // Still leased: the first worker's claim stands until it ends.
    assert_eq!(second.deliver_due().await.unwrap(), Pass::default());
    tokio::time::sleep((claimed + lease).saturating_duration_since(Instant::now())).await;
    assert_eq!(second.deliver_due().await.unwrap().sent, 1);
    assert_eq!(transport.recipients(), ["guest0@example.com"]);
}
