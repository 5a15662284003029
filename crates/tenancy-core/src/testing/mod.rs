//! Test support, behind the `test-util` feature: fakes for the clock, ids and
//! tokens, an in-memory repository, proptest strategies for the domain types,
//! and the reference model that the model-based tests run against.
//!
//! Hosts that embed tenancy can unit-test their own policy with these: build
//! a [`crate::service::Service`] over a [`MemoryRepository`] (and a
//! [`MemoryBlobs`] for knowledge files) with a [`fakes::ManualClock`], and
//! draw users, emails and names from [`strategies`].

pub mod fakes;
pub mod memory;
pub mod model;
pub mod strategies;

pub use memory::{MemoryBlobs, MemoryRateLimiter, MemoryRepository};

/// A write of any change, for tests of a store's own constraints: what its
/// schema refuses whatever a decision would say. Outside tests, writes come
/// only from decisions.
pub fn forge(change: crate::decide::Change) -> crate::decide::Write {
    crate::decide::Write::of(change)
}
