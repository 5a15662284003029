//! The purge job (D17): a loop beside the mail worker that purges the
//! organizations whose grace period ended, and the blob store wrapper that
//! logs each purge (and, for tests only, pauses it in its middle).
//!
//! What to purge and how is the core's (`Service::purge_due`): one
//! transaction per organization decides again under the organization's lock,
//! erases its blobs, then every row, and commits. So the job may run on every
//! instance at once, and a crash anywhere leaves the organization due for the
//! next pass, here or on another instance.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use tenancy_core::ports::{BlobKey, BlobReader, BlobStore, Incoming, StagedBlob};
use tenancy_core::{OrganizationId, StoreError};
use tokio::sync::watch;

/// How many organizations one pass takes; a full batch is followed by
/// another pass at once.
pub const BATCH: usize = 10;

/// How often the job looks for due purges.
pub const EVERY: Duration = Duration::from_secs(5);

/// The shortest pause between two passes.
const MIN_EVERY: Duration = Duration::from_secs(1);

/// The longest pause after failed passes.
const MAX_BACKOFF: Duration = Duration::from_secs(60);

/// How often to look for due purges under a grace period: every [`EVERY`],
/// or, when the grace is shorter (tests, demos), as often as the grace but
/// at most every second, so that `--deletion-grace 0s` purges within about
/// a second.
pub fn interval(grace: chrono::Duration) -> Duration {
    grace.to_std().unwrap_or_default().clamp(MIN_EVERY, EVERY)
}

/// Purges what is due every `every`, at start first, until `stop` turns
/// true (or its sender is dropped). A failed pass is logged and tried again
/// later, waiting longer after each failure up to a minute; it never stops
/// the server. A pass under way is not interrupted: the caller bounds how
/// long it waits for it.
pub async fn run(
    tenancy: Arc<tenancy_http::Tenancy>,
    every: Duration,
    mut stop: watch::Receiver<bool>,
) {
    let mut failed_passes: u32 = 0;
    tracing::debug!(every = ?every, "purge job started");
    while !*stop.borrow() {
        let wait = match tenancy.purge_due(BATCH).await {
            Ok(purged) => {
                failed_passes = 0;
                if purged > 0 {
                    tracing::info!(purged, "purged organizations whose grace period ended");
                }
                if purged >= BATCH {
                    Duration::ZERO
                } else {
                    every
                }
            }
            Err(error) => {
                let wait = backoff(every, failed_passes);
                failed_passes = failed_passes.saturating_add(1);
                tracing::warn!(%error, retry_in = ?wait, "cannot purge the organizations whose grace period ended; trying again later");
                wait
            }
        };
        tokio::select! {
            changed = stop.changed() => if changed.is_err() { break },
            () = tokio::time::sleep(wait) => {}
        }
    }
    tracing::debug!("purge job stopped");
}

/// The pause after `failed` failed passes in a row: `every`, doubled after
/// each, up to [`MAX_BACKOFF`].
fn backoff(every: Duration, failed: u32) -> Duration {
    every
        .saturating_mul(2_u32.saturating_pow(failed.min(16)))
        .min(MAX_BACKOFF.max(every))
}

/// The blob store of the server: another store's calls, with a log line for
/// each organization whose blobs the purge erases (by id: names are not
/// logged), and, when a test asks for it, a pause right after them.
#[derive(Debug, Clone)]
pub struct PurgeLogged<B> {
    inner: B,
    pause: Option<Duration>,
}

impl<B> PurgeLogged<B> {
    /// `inner`, logged; no pause.
    pub fn new(inner: B) -> Self {
        Self { inner, pause: None }
    }

    /// Tests only (`TENANCY_TEST_PURGE_PAUSE`): each purge waits `pause`
    /// after erasing the organization's blobs, before its rows go, so that a
    /// test can kill the server in the middle of a purge.
    pub fn with_test_pause(self, pause: Option<Duration>) -> Self {
        Self { pause, ..self }
    }
}

#[async_trait]
impl<B: BlobStore> BlobStore for PurgeLogged<B> {
    async fn stage<'a>(&self, content: &'a mut Incoming<'a>) -> Result<StagedBlob, StoreError> {
        self.inner.stage(content).await
    }

    async fn publish(&self, staged: &StagedBlob, key: BlobKey) -> Result<(), StoreError> {
        self.inner.publish(staged, key).await
    }

    async fn discard(&self, staged: &StagedBlob) -> Result<(), StoreError> {
        self.inner.discard(staged).await
    }

    async fn open(&self, key: BlobKey) -> Result<Option<BlobReader>, StoreError> {
        self.inner.open(key).await
    }

    async fn delete(&self, key: BlobKey) -> Result<(), StoreError> {
        self.inner.delete(key).await
    }

    async fn delete_organization(&self, organization: OrganizationId) -> Result<(), StoreError> {
        let organization_id = organization;
        tracing::info!(%organization_id, "purging an organization: erasing its knowledge files, then its rows");
        self.inner.delete_organization(organization).await?;
        if let Some(pause) = self.pause {
            tracing::warn!(
                %organization_id,
                pause = ?pause,
                "TENANCY_TEST_PURGE_PAUSE: the purge pauses between the knowledge files and the rows (tests only)"
            );
            tokio::time::sleep(pause).await;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_short_grace_is_looked_at_every_second_and_a_long_one_every_five() {
        assert_eq!(interval(chrono::Duration::zero()), MIN_EVERY);
        assert_eq!(
            interval(chrono::Duration::seconds(3)),
            Duration::from_secs(3)
        );
        assert_eq!(interval(chrono::Duration::days(30)), EVERY);
    }

    #[test]
    fn failed_passes_back_off_up_to_a_minute() {
        assert_eq!(backoff(EVERY, 0), EVERY);
        assert_eq!(backoff(EVERY, 1), 2 * EVERY);
        assert_eq!(backoff(EVERY, 3), 8 * EVERY);
        assert_eq!(backoff(EVERY, 40), MAX_BACKOFF);
        assert_eq!(backoff(MIN_EVERY, u32::MAX), MAX_BACKOFF);
    }
}
