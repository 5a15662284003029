//! The delivery worker: a loop that takes the due emails of the outbox,
//! delivers them and records the outcome.

use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use chrono::{DateTime, Utc};
use tenancy_core::ports::{Clock, IdGenerator, MailOutbox, QueuedMail, WorkerId, retry_delay};
use tenancy_core::{MailId, StoreError};
use tenancy_store::system::UuidV7;
use tokio::sync::watch;

use super::{Composer, FailureKind, Transport};

/// How many due emails one pass takes.
pub const BATCH: usize = 50;

/// How often the outbox is looked at when it was empty.
const POLL: Duration = Duration::from_millis(500);

/// The longest pause after failed passes. Each email has its own schedule
/// (`retry_delay`, up to an hour); this cap only bounds how long a new email
/// waits once the transport is back.
const MAX_BACKOFF: Duration = Duration::from_secs(60);

/// The pause after the outbox itself could not be read.
const STORE_BACKOFF: Duration = Duration::from_secs(5);

/// How long the emails a worker claimed are its alone unless it renews the
/// lease, which it does every third of that while it delivers them, so that
/// a slow delivery keeps them (lettre's SMTP timeout is 30 s). A worker that
/// dies (a crash, `kill -9`) renews nothing, and its emails are due for
/// every instance at most this long after its last renewal.
pub const LEASE: Duration = Duration::from_secs(30);

/// Errors are recorded in the outbox row; a relay's reply can be long.
const MAX_ERROR_CHARS: usize = 1000;

/// What one pass did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Pass {
    /// Delivered and marked sent.
    pub sent: usize,
    /// Failed and rescheduled.
    pub failed: usize,
    /// The transport failed in a way that the next email would share, so
    /// the pass stopped there.
    pub transport_failed: bool,
    /// A full batch was delivered: more may be due right now.
    pub more: bool,
}

/// Delivers the outbox through one transport.
///
/// Delivery is at least once: an email is marked sent after the transport
/// took it, so a crash in between sends it again (to the same `.eml` file,
/// or with the same `Message-ID`) once its lease ends. With several
/// instances on one database, each worker claims different due emails and
/// renews its lease while it delivers them, so an email is sent once while
/// its worker lives. A worker that cannot renew in time (the database is
/// out of reach) abandons its deliveries before the lease ends, rather than
/// deliver what another worker may take.
///
/// Leases are reckoned by each instance's clock: instances that share a
/// database need clocks that agree to well within a sixth of the lease
/// (5 s), as NTP keeps them.
pub struct Worker<O> {
    outbox: O,
    transport: Arc<dyn Transport>,
    composer: Composer,
    clock: Arc<dyn Clock>,
    poll: Duration,
    id: WorkerId,
    lease: chrono::Duration,
}

impl<O> std::fmt::Debug for Worker<O> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Worker")
            .field("transport", &self.transport)
            .field("composer", &self.composer)
            .field("poll", &self.poll)
            .field("lease", &self.lease)
            .finish_non_exhaustive()
    }
}

impl<O: MailOutbox> Worker<O> {
    /// A worker that polls every 500 ms and claims for [`LEASE`], under a
    /// fresh worker id.
    pub fn new(
        outbox: O,
        transport: Arc<dyn Transport>,
        composer: Composer,
        clock: Arc<dyn Clock>,
    ) -> Self {
        Self {
            outbox,
            transport,
            composer,
            clock,
            poll: POLL,
            id: WorkerId::from_uuid(UuidV7.new_id()),
            lease: lease_of(LEASE),
        }
    }

    /// Changes how often an empty outbox is looked at.
    pub fn with_poll_interval(self, poll: Duration) -> Self {
        Self { poll, ..self }
    }

    /// Changes how long a claim lasts unless renewed; it is renewed every
    /// third of that.
    pub fn with_lease(self, lease: Duration) -> Self {
        Self {
            lease: lease_of(lease),
            ..self
        }
    }

    /// One pass: delivers what is due now, up to [`BATCH`] emails.
    pub async fn deliver_due(&self) -> Result<Pass, StoreError> {
        self.pass(None).await
    }

    /// Runs passes until `shutdown` turns true (or its sender is dropped).
    /// A pass under way finishes the email it is delivering first.
    pub async fn run(self, mut shutdown: watch::Receiver<bool>) {
        let mut failed_passes: u32 = 0;
        tracing::debug!(transport = ?self.transport, worker_id = %self.id.as_uuid(), "mail delivery worker started");
        while !*shutdown.borrow() {
            let wait = match self.pass(Some(&shutdown)).await {
                Ok(pass) if pass.transport_failed => {
                    let wait = backoff(failed_passes);
                    failed_passes = failed_passes.saturating_add(1);
                    wait
                }
                Ok(pass) => {
                    failed_passes = 0;
                    if pass.more { Duration::ZERO } else { self.poll }
                }
                Err(error) => {
                    tracing::warn!(%error, "cannot read or update the mail outbox; trying again shortly");
                    STORE_BACKOFF
                }
            };
            tokio::select! {
                changed = shutdown.changed() => if changed.is_err() { break },
                () = tokio::time::sleep(wait) => {}
            }
        }
        tracing::debug!("mail delivery worker stopped");
    }

    async fn pass(&self, stop: Option<&watch::Receiver<bool>>) -> Result<Pass, StoreError> {
        let now = self.clock.now();
        let until = now + self.lease;
        let claimed = self.outbox.claim(self.id, now, until, BATCH).await?;
        if claimed.is_empty() {
            return Ok(Pass::default());
        }
        let held = Held::new(claimed.iter().map(|queued| queued.mail.id).collect(), until);
        // The heartbeat runs beside the deliveries; if it cannot renew the
        // lease in time it ends first, and the delivery under way is dropped.
        tokio::select! {
            biased;
            pass = self.deliver(claimed, &held, stop) => pass,
            lost = self.keep(&held) => Err(lost),
        }
    }

    async fn deliver(
        &self,
        claimed: Vec<QueuedMail>,
        held: &Held,
        stop: Option<&watch::Receiver<bool>>,
    ) -> Result<Pass, StoreError> {
        let mut pass = Pass {
            more: claimed.len() >= BATCH,
            ..Pass::default()
        };
        let mut claimed = claimed.into_iter();
        for queued in claimed.by_ref() {
            let id = queued.mail.id;
            if stop.is_some_and(|stop| *stop.borrow()) {
                pass.more = false;
                // Not tried: given back below.
                self.release(id, held).await?;
                break;
            }
            // Another worker took it after this one's lease ran out (only a
            // clock far behind the others' lets that happen): it is theirs.
            if !held.with(|holding| holding.ids.contains(&id)) {
                continue;
            }
            let delivered = match self.composer.compose(&queued.mail) {
                Ok(letter) => self.transport.send(&letter).await,
                Err(error) => Err(error),
            };
            match delivered {
                Ok(()) => {
                    self.outbox.mark_sent(id, self.clock.now()).await?;
                    held.finish(id);
                    pass.sent += 1;
                    tracing::info!(mail_id = %id.as_uuid(), attempt = queued.attempts + 1, "email delivered");
                }
                Err(error) => {
                    let retry_at = self.clock.now() + retry_delay(queued.attempts);
                    self.outbox
                        .mark_failed(self.id, id, retry_at, &truncate(&error.message))
                        .await?;
                    held.finish(id);
                    pass.failed += 1;
                    tracing::warn!(
                        mail_id = %id.as_uuid(),
                        attempt = queued.attempts + 1,
                        retry_at = %retry_at.to_rfc3339(),
                        %error,
                        "email not delivered; it stays in the outbox"
                    );
                    if error.kind == FailureKind::Transient {
                        pass.transport_failed = true;
                        pass.more = false;
                        break;
                    }
                }
            }
        }
        // What the pass did not try is due again now, for this worker's next
        // pass or another instance's, with no attempt counted.
        for untried in claimed {
            self.release(untried.mail.id, held).await?;
        }
        Ok(pass)
    }

    async fn release(&self, id: MailId, held: &Held) -> Result<(), StoreError> {
        self.outbox.release(self.id, id, self.clock.now()).await?;
        held.finish(id);
        Ok(())
    }

    /// Renews the lease of what the pass still holds every third of the
    /// lease, and more often after a failed renewal. Returns only when the
    /// lease is within a sixth of its end unrenewed: a delivery must not go
    /// on then, since another worker may take the email once it ends.
    async fn keep(&self, held: &Held) -> StoreError {
        let every = std_duration(self.lease / 3);
        let margin = self.lease / 6;
        let mut wait = every;
        loop {
            tokio::time::sleep(wait).await;
            let (ids, until) = held.with(|holding| (holding.ids.clone(), holding.until));
            let left = std_duration(until - margin - self.clock.now());
            if left.is_zero() {
                return lease_lost(until);
            }
            let renewed = self.clock.now() + self.lease;
            match tokio::time::timeout(left, self.outbox.renew(self.id, &ids, renewed)).await {
                Ok(Ok(still)) => {
                    held.with(|holding| {
                        holding.ids.retain(|id| still.contains(id));
                        holding.until = renewed;
                    });
                    wait = every;
                }
                Ok(Err(error)) => {
                    tracing::warn!(%error, "cannot renew the lease of the emails being delivered; trying again");
                    wait = std_duration(self.lease / 15).min(left);
                }
                Err(_) => return lease_lost(until),
            }
        }
    }
}

/// The emails a pass holds, shared by its deliveries and its heartbeat.
#[derive(Debug)]
struct Held(Mutex<Holding>);

#[derive(Debug)]
struct Holding {
    /// Claimed and not yet sent, failed or released.
    ids: Vec<MailId>,
    /// When the lease ends unless renewed.
    until: DateTime<Utc>,
}

impl Held {
    fn new(ids: Vec<MailId>, until: DateTime<Utc>) -> Self {
        Self(Mutex::new(Holding { ids, until }))
    }

    fn with<R>(&self, f: impl FnOnce(&mut Holding) -> R) -> R {
        // The lock is never held across an await or a panic-prone call; a
        // poisoned one still holds consistent ids.
        f(&mut self.0.lock().unwrap_or_else(PoisonError::into_inner))
    }

    /// The email is recorded: nothing more to renew for it.
    fn finish(&self, id: MailId) {
        self.with(|holding| holding.ids.retain(|held| *held != id));
    }
}

fn lease_lost(until: DateTime<Utc>) -> StoreError {
    StoreError::other(format!(
        "the lease of the emails being delivered, which ends at {}, could not be renewed in time; \
         their delivery was abandoned, and they are due again once it ends",
        until.to_rfc3339()
    ))
}

fn lease_of(lease: Duration) -> chrono::Duration {
    chrono::Duration::from_std(lease).unwrap_or(chrono::Duration::days(1))
}

/// A span of time as a pause; nothing if it is negative.
fn std_duration(span: chrono::Duration) -> Duration {
    span.to_std().unwrap_or(Duration::ZERO)
}

/// The pause after `failed_passes` passes in a row failed before this one:
/// the same schedule as an email's retries, capped at [`MAX_BACKOFF`].
fn backoff(failed_passes: u32) -> Duration {
    retry_delay(failed_passes)
        .to_std()
        .unwrap_or(MAX_BACKOFF)
        .min(MAX_BACKOFF)
}

fn truncate(message: &str) -> String {
    match message.char_indices().nth(MAX_ERROR_CHARS) {
        Some((at, _)) => format!("{}…", &message[..at]),
        None => message.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_follows_the_retry_schedule_up_to_a_minute() {
        assert_eq!(backoff(0), Duration::from_secs(5));
        assert_eq!(backoff(1), Duration::from_secs(10));
        assert_eq!(backoff(10), MAX_BACKOFF);
    }

    #[test]
    fn negative_spans_are_no_pause() {
        assert_eq!(std_duration(chrono::Duration::seconds(-3)), Duration::ZERO);
        assert_eq!(std_duration(lease_of(LEASE) / 3), Duration::from_secs(10));
    }

    #[test]
    fn long_errors_are_cut() {
        assert_eq!(truncate("short"), "short");
        let long = "é".repeat(MAX_ERROR_CHARS + 5);
        assert_eq!(truncate(&long).chars().count(), MAX_ERROR_CHARS + 1);
    }
}
