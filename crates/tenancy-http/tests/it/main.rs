//! The HTTP layer's one integration test binary: the real app over a real
//! store (a SQLite file per test), through poem's test client.

#![allow(
    unreachable_pub,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "a test binary: helpers are shared by its modules, and a failing test should stop loudly"
)]

mod accounts;
mod allow;
mod audit;
mod authorization;
mod canary;
mod console;
mod errors;
mod flows;
mod lifecycle;
mod limits;
mod openapi;
mod plans;
mod resources;
mod roles;
mod support;
mod webhooks;
