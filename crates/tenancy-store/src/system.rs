//! The production adapters of the core's small ports: the system clock,
//! UUID v7 ids and tokens from the operating system's randomness.

use chrono::{DateTime, Utc};
use tenancy_core::ports::{Clock, IdGenerator, TokenGenerator};
use uuid::Uuid;

/// The system clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> DateTime<Utc> {
        Utc::now()
    }
}

/// UUID v7 ids: time-ordered, so that primary-key indexes stay compact.
#[derive(Debug, Clone, Copy, Default)]
pub struct UuidV7;

impl IdGenerator for UuidV7 {
    fn new_id(&self) -> Uuid {
        Uuid::now_v7()
    }
}

/// 256 bits from the operating system for every token.
#[derive(Debug, Clone, Copy, Default)]
pub struct OsTokens;

impl TokenGenerator for OsTokens {
    fn generate(&self) -> [u8; 32] {
        let mut bytes = [0_u8; 32];
        // The port cannot fail; without an entropy source no token is safe,
        // so this is one of the few places a process should stop.
        #[expect(clippy::panic, reason = "no randomness means no safe token; stop")]
        if getrandom::fill(&mut bytes).is_err() {
            panic!("the operating system gave no randomness for a token");
        }
        bytes
    }
}
