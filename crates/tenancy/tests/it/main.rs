//! The `tenancy` binary and its library, from outside: one test binary with
//! a module per feature.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "a failing test should stop loudly"
)]

mod accounts;
mod attack;
mod browser;
mod client;
mod console;
mod crash;
mod instances;
mod limits;
mod maildir;
mod normalization;
mod options;
mod plans;
mod purge;
mod serve;
mod smtp;
mod subject;
mod support;
mod webhooks;
mod worker;
