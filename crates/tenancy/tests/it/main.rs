//! The `tenancy` binary and its library, from outside: one test binary with
//! a module per feature.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "a failing test should stop loudly"
)]

mod browser;
mod console;
mod instances;
mod limits;
mod maildir;
mod options;
mod plans;
mod serve;
mod smtp;
mod support;
mod worker;
