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
