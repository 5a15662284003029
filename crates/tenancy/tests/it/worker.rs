//! The delivery worker against a real store, with a clock the test moves and
//! a transport that fails on cue.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, TimeZone, Utc};
use tenancy::config::PublicUrl;
use tenancy::mail::{BATCH, Composer, Letter, Pass, Transport, TransportError, Worker};
use tenancy_core::ports::{Clock, MailOutbox};
use tenancy_core::service::{Service, Settings};
use tenancy_core::value::{EmailAddress, PasswordHash};
use tenancy_store::system::{OsTokens, UuidV7};
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
            Settings::default(),
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
