//! The delivery worker: a loop that takes the due emails of the outbox,
//! delivers them and records the outcome.

use std::sync::Arc;
use std::time::Duration;

use tenancy_core::StoreError;
use tenancy_core::ports::{Clock, MailOutbox, retry_delay};
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

/// How long a claimed email is this worker's alone: far longer than one
/// delivery takes (lettre's SMTP timeout is a minute), so that no other
/// instance sends it meanwhile; if this one crashes, another takes it after.
const LEASE: chrono::Duration = chrono::Duration::minutes(5);

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
/// instances on one database, each worker claims different due emails, so
/// an email is sent once.
pub struct Worker<O> {
    outbox: O,
    transport: Arc<dyn Transport>,
    composer: Composer,
    clock: Arc<dyn Clock>,
    poll: Duration,
}

impl<O> std::fmt::Debug for Worker<O> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Worker")
            .field("transport", &self.transport)
            .field("composer", &self.composer)
            .field("poll", &self.poll)
            .finish_non_exhaustive()
    }
}

impl<O: MailOutbox> Worker<O> {
    /// A worker that polls every 500 ms.
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
        }
    }

    /// Changes how often an empty outbox is looked at.
    pub fn with_poll_interval(self, poll: Duration) -> Self {
        Self { poll, ..self }
    }

    /// One pass: delivers what is due now, up to [`BATCH`] emails.
    pub async fn deliver_due(&self) -> Result<Pass, StoreError> {
        self.pass(None).await
    }

    /// Runs passes until `shutdown` turns true (or its sender is dropped).
    /// A pass under way finishes the email it is delivering first.
    pub async fn run(self, mut shutdown: watch::Receiver<bool>) {
        let mut failed_passes: u32 = 0;
        tracing::debug!(transport = ?self.transport, "mail delivery worker started");
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
        let claimed = self.outbox.claim(now, now + LEASE, BATCH).await?;
        let mut pass = Pass {
            more: claimed.len() >= BATCH,
            ..Pass::default()
        };
        let mut claimed = claimed.into_iter();
        for queued in claimed.by_ref() {
            if stop.is_some_and(|stop| *stop.borrow()) {
                pass.more = false;
                // Not tried: given back below.
                self.outbox
                    .release(queued.mail.id, self.clock.now())
                    .await?;
                break;
            }
            let id = queued.mail.id;
            let delivered = match self.composer.compose(&queued.mail) {
                Ok(letter) => self.transport.send(&letter).await,
                Err(error) => Err(error),
            };
            match delivered {
                Ok(()) => {
                    self.outbox.mark_sent(id, self.clock.now()).await?;
                    pass.sent += 1;
                    tracing::info!(mail_id = %id.as_uuid(), attempt = queued.attempts + 1, "email delivered");
                }
                Err(error) => {
                    let retry_at = self.clock.now() + retry_delay(queued.attempts);
                    self.outbox
                        .mark_failed(id, retry_at, &truncate(&error.message))
                        .await?;
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
            self.outbox
                .release(untried.mail.id, self.clock.now())
                .await?;
        }
        Ok(pass)
    }
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
    fn long_errors_are_cut() {
        assert_eq!(truncate("short"), "short");
        let long = "é".repeat(MAX_ERROR_CHARS + 5);
        assert_eq!(truncate(&long).chars().count(), MAX_ERROR_CHARS + 1);
    }
}
