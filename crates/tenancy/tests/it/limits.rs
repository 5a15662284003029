//! The rate limits of the real binary: on by default, each answering 429
//! `rate_limited` with `Retry-After` at its threshold and not before, `0`
//! turning each off, `--trusted-proxies` naming whose `X-Forwarded-For`
//! counts, bad values refused with exit code 2, and the counts shared by
//! two instances on one PostgreSQL. The binary's other tests run with the
//! limits off (see `support::command`).
//!
//! The windows are real time here (a minute at least), far longer than the
//! tests take, so no window slides under them; the HTTP tests move a clock.

use std::net::SocketAddr;
use std::path::Path;
use std::process::Command;

use serde_json::{Value, json};

use crate::support::Database;
use crate::support::{LIMIT_VARIABLES, Response, Server, command, raw_request};

const PASSWORD: &str = "correct horse battery";

/// The binary with the rate limits as a deployment gets them: nothing set.
fn with_default_limits(dir: &Path) -> Command {
    let mut command = command(dir);
    for name in LIMIT_VARIABLES {
        command.env_remove(name);
    }
    command
}

impl Response {
    /// Asserts 429 `rate_limited` with a `Retry-After` of 1 to `most`
    /// seconds.
    fn limited(&self, most: u64) {
        assert_eq!(self.status, 429, "{self:?}");
        assert_eq!(self.json()["code"], "rate_limited", "{self:?}");
        let seconds: u64 = self
            .header("retry-after")
            .and_then(|v| v.parse().ok())
            .unwrap_or_else(|| panic!("no Retry-After in {self:?}"));
        assert!((1..=most).contains(&seconds), "Retry-After {seconds}");
    }
}

/// One request on its own connection, with extra headers.
fn send(
    addr: SocketAddr,
    path: &str,
    token: Option<&str>,
    body: &Value,
    headers: &[(&str, &str)],
) -> Response {
    let body = serde_json::to_vec(body).unwrap();
    raw_request(
        addr,
        "POST",
        path,
        token,
        Some(("application/json", &body)),
        headers,
    )
}

fn sign_up(addr: SocketAddr, email: &str) -> Value {
    let reply = send(
        addr,
        "/v1/auth/signup",
        None,
        &json!({"email": email, "password": PASSWORD}),
        &[],
    );
    assert_eq!(reply.status, 201, "{reply:?}");
    reply.json()
}

fn sign_in(addr: SocketAddr, email: &str, password: &str) -> Response {
    send(
        addr,
        "/v1/auth/signin",
        None,
        &json!({"email": email, "password": password}),
        &[],
    )
}

fn invite(addr: SocketAddr, owner: &Value, email: &str) -> Response {
    let org = owner["default_organization"]["id"].as_str().unwrap();
    send(
        addr,
        &format!("/v1/organizations/{org}/invitations"),
        owner["token"].as_str(),
        &json!({"email": email}),
        &[],
    )
}

#[test]
fn every_limit_is_on_by_default_and_refuses_at_its_threshold() {
    let dir = tempfile::tempdir().unwrap();
    // The owner invites without verifying: the test is about the limits.
    let server = Server::start_with(
        with_default_limits(dir.path()),
        &["--allow-unverified-inviters"],
    );
    let addr = server.addr;
    // Attempts from 127.0.0.1 so far: 2.
    let owner = sign_up(addr, "owner@example.com");
    let alice = sign_up(addr, "alice@example.com");
    // 5 account emails an hour per address, the one of sign-up included.
    let resend = || {
        send(
            addr,
            "/v1/me/verification-email",
            alice["token"].as_str(),
            &json!({}),
            &[],
        )
    };
    for i in 1..5 {
        assert_eq!(resend().status, 202, "verification email {i}");
    }
    resend().limited(3600);
    // 10 failed sign-ins, then alice is refused even with her password.
    for _ in 0..10 {
        assert_eq!(
            sign_in(addr, "alice@example.com", "wrong password").status,
            401
        );
    }
    sign_in(addr, "alice@example.com", PASSWORD).limited(900);
    // 13 attempts so far; the 60th of the minute is the last allowed.
    for i in 14..=60 {
        let reply = send(addr, "/v1/auth/signin", None, &json!({}), &[]);
        assert_ne!(reply.status, 429, "attempt {i}: {reply:?}");
    }
    send(addr, "/v1/auth/signup", None, &json!({}), &[]).limited(60);
    sign_in(addr, "owner@example.com", PASSWORD).limited(60);
    // 100 invitations an hour per organization.
    for i in 0..100 {
        let reply = invite(addr, &owner, &format!("guest{i}@example.com"));
        assert_eq!(reply.status, 201, "invitation {i}: {reply:?}");
    }
    invite(addr, &owner, "guest100@example.com").limited(3600);
    let org = owner["default_organization"]["id"].as_str().unwrap();
    let listed = server.get(
        &format!("/v1/organizations/{org}/invitations?limit=200"),
        owner["token"].as_str(),
    );
    assert_eq!(listed.json()["items"].as_array().unwrap().len(), 100);
}

#[test]
fn zero_turns_every_limit_off() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start_with(
        with_default_limits(dir.path()),
        &[
            "--signin-failures-per-email",
            "0",
            "--auth-attempts-per-ip",
            "0",
            "--account-emails-per-address",
            "0",
            "--invitations-per-organization",
            "0",
            "--allow-unverified-inviters",
        ],
    );
    let addr = server.addr;
    let owner = sign_up(addr, "owner@example.com");
    for _ in 0..12 {
        assert_eq!(
            sign_in(addr, "owner@example.com", "wrong password").status,
            401
        );
    }
    assert_eq!(sign_in(addr, "owner@example.com", PASSWORD).status, 200);
    for i in 0..60 {
        let reply = send(addr, "/v1/auth/signin", None, &json!({}), &[]);
        assert_ne!(reply.status, 429, "attempt {i}: {reply:?}");
    }
    for i in 0..101 {
        let reply = invite(addr, &owner, &format!("guest{i}@example.com"));
        assert_eq!(reply.status, 201, "invitation {i}: {reply:?}");
    }
}

#[test]
fn forwarded_addresses_count_from_trusted_proxies() {
    let dir = tempfile::tempdir().unwrap();
    let mut command = with_default_limits(dir.path());
    command.env("TENANCY_TRUSTED_PROXIES", "127.0.0.1, 10.0.0.0/8");
    let server = Server::start_with(command, &["--auth-attempts-per-ip", "2"]);
    let attempt = |forwarded: &[(&str, &str)]| {
        send(server.addr, "/v1/auth/signin", None, &json!({}), forwarded)
    };
    let from = |client| [("X-Forwarded-For", client)];
    for _ in 0..2 {
        assert_ne!(attempt(&from("203.0.113.1")).status, 429);
    }
    attempt(&from("203.0.113.1, 127.0.0.1")).limited(60);
    assert_ne!(attempt(&from("203.0.113.2")).status, 429);
    // The proxy's own requests count for the proxy.
    assert_ne!(attempt(&[]).status, 429);
}

#[test]
fn bad_limit_options_exit_2_with_a_message() {
    // (arguments, environment, what stderr says)
    type Case<'a> = (&'a [&'a str], &'a [(&'a str, &'a str)], &'a str);
    let cases: &[Case<'_>] = &[
        (
            &["serve", "--trusted-proxies", "10.0.0.0/33"],
            &[],
            "`--trusted-proxies`: `10.0.0.0/33` has a prefix longer than the 32 bits",
        ),
        (
            &["serve"],
            &[("TENANCY_TRUSTED_PROXIES", "proxy.internal")],
            "`--trusted-proxies`: `proxy.internal` is not an IP address",
        ),
        (
            &["serve", "--auth-attempts-per-ip=-1"],
            &[],
            "invalid value '-1' for '--auth-attempts-per-ip <COUNT>'",
        ),
        (
            &["serve"],
            &[("TENANCY_INVITATIONS_PER_ORGANIZATION", "lots")],
            "invalid value 'lots' for '--invitations-per-organization <COUNT>'",
        ),
        (
            &["serve", "--signin-failures-per-email", "4294967296"],
            &[],
            "invalid value '4294967296' for '--signin-failures-per-email <COUNT>'",
        ),
    ];
    for (args, env, expected) in cases {
        let dir = tempfile::tempdir().unwrap();
        let output = with_default_limits(dir.path())
            .args(*args)
            .envs(env.iter().copied())
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(
            stderr.contains(expected),
            "expected `{expected}` in:\n{stderr}"
        );
        let created: Vec<_> = std::fs::read_dir(dir.path()).unwrap().collect();
        assert!(created.is_empty(), "{args:?} created {created:?}");
    }
}

#[test]
fn the_limits_hold_across_two_instances_on_one_postgresql() {
    let Some(database) = Database::create() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let args = [
        "--database",
        database.url.as_str(),
        "--invitations-per-organization",
        "5",
        "--allow-unverified-inviters",
    ];
    // One key file for both, as every deployment of several instances has.
    let a = Server::start_with(with_default_limits(dir.path()), &args);
    let b = Server::start_with(with_default_limits(dir.path()), &args);
    sign_up(a.addr, "alice@example.com");
    // 20 wrong passwords at once, split across the instances: exactly 10
    // are judged, the rest refused.
    let statuses: Vec<u16> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..20)
            .map(|i| {
                let addr = if i % 2 == 0 { a.addr } else { b.addr };
                s.spawn(move || sign_in(addr, "alice@example.com", "wrong password").status)
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let judged = statuses.iter().filter(|s| **s == 401).count();
    let refused = statuses.iter().filter(|s| **s == 429).count();
    assert_eq!((judged, refused), (10, 10), "{statuses:?}");
    sign_in(a.addr, "alice@example.com", PASSWORD).limited(900);
    sign_in(b.addr, "alice@example.com", PASSWORD).limited(900);
    // 12 invitations at once through both against a limit of 5.
    let owner = sign_up(b.addr, "owner@example.com");
    let statuses: Vec<u16> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..12)
            .map(|i| {
                let addr = if i % 2 == 0 { a.addr } else { b.addr };
                let owner = &owner;
                s.spawn(move || invite(addr, owner, &format!("guest{i}@example.com")).status)
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let sent = statuses.iter().filter(|s| **s == 201).count();
    let refused = statuses.iter().filter(|s| **s == 429).count();
    assert_eq!((sent, refused), (5, 7), "{statuses:?}");
    assert!(!a.log().contains("panicked") && !b.log().contains("panicked"));
}
