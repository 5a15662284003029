//! The store's one integration test binary. Every test runs on SQLite, and on
//! PostgreSQL when `TENANCY_TEST_POSTGRES_URL` names a server (`.ci/run` sets
//! it; under `CI=true` its absence fails the run). Each test gets a fresh
//! database.

#![allow(
    unreachable_pub,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "a test binary: helpers are shared by its modules, and a failing test should stop loudly"
)]

mod accounts;
mod audit;
mod concurrency;
mod constraints;
mod credentials;
mod differential;
mod lifecycle;
mod limits;
mod normalization;
mod outbox;
mod role_races;
mod roles;
mod support;
mod tokens;
