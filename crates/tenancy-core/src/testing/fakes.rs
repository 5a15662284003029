//! Deterministic stand-ins for the clock, ids and tokens. Never use them in
//! production: their ids and tokens are predictable.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use chrono::{DateTime, Duration, Utc};
use sha2::{Digest, Sha256};
use uuid::Uuid;

use crate::ports::{Clock, IdGenerator, TokenGenerator};

/// A clock that moves only when told; clones share the time.
#[derive(Debug, Clone)]
pub struct ManualClock(Arc<Mutex<DateTime<Utc>>>);

impl ManualClock {
    /// A clock standing at `now`.
    pub fn at(now: DateTime<Utc>) -> Self {
        Self(Arc::new(Mutex::new(now)))
    }

    /// Moves the time forward (or back, with a negative duration).
    pub fn advance(&self, by: Duration) {
        let mut now = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        *now += by;
    }

    /// Sets the time.
    pub fn set(&self, to: DateTime<Utc>) {
        *self.0.lock().unwrap_or_else(PoisonError::into_inner) = to;
    }
}

impl Clock for ManualClock {
    fn now(&self) -> DateTime<Utc> {
        *self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// Ids 1, 2, 3, ... as UUIDs: increasing, like UUID v7, and readable in failures.
#[derive(Debug, Default, Clone)]
pub struct SequentialIds(Arc<AtomicU64>);

impl IdGenerator for SequentialIds {
    fn new_id(&self) -> Uuid {
        Uuid::from_u128(u128::from(self.0.fetch_add(1, Ordering::Relaxed) + 1))
    }
}

/// Tokens that look random but follow from a counter.
#[derive(Debug, Default, Clone)]
pub struct CountingTokens(Arc<AtomicU64>);

impl TokenGenerator for CountingTokens {
    fn generate(&self) -> [u8; 32] {
        let n = self.0.fetch_add(1, Ordering::Relaxed);
        Sha256::digest(n.to_le_bytes()).into()
    }
}

/// A password verifier for tests: the hash `$plain$<password>` (see
/// [`PlainPasswords::hash`]) matches `<password>` and nothing else. It keeps
/// passwords readable in the store; never use it in production.
#[derive(Debug, Default, Clone, Copy)]
pub struct PlainPasswords;

impl PlainPasswords {
    /// The stored form of `password`.
    pub fn hash(password: &str) -> crate::value::PasswordHash {
        crate::value::PasswordHash::new(format!("$plain${password}"))
    }
}

#[async_trait::async_trait]
impl crate::ports::PasswordVerifier for PlainPasswords {
    async fn verify(
        &self,
        password: &str,
        hash: Option<&crate::value::PasswordHash>,
    ) -> Result<bool, crate::error::StoreError> {
        Ok(hash.is_some_and(|hash| hash.as_str().strip_prefix("$plain$") == Some(password)))
    }
}
