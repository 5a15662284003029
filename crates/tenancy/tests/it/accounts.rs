//! Accounts from outside (API.md "Verified email addresses", "Password
//! reset", "Sessions"): every route through `tenancy serve` on SQLite and on
//! PostgreSQL with the links read from the `.eml` files, lifetimes at the
//! boundary, and a reset that ends every session on every instance.

use std::path::Path;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::support::{Database, Server, request};

const PASSWORD: &str = "correct horse battery";

fn call(
    server: &Server,
    method: &str,
    path: &str,
    token: Option<&str>,
    body: &Value,
) -> (u16, Value) {
    let reply = request(server.addr, method, path, token, Some(body));
    let json = if reply.status == 204 {
        Value::Null
    } else {
        reply.json()
    };
    (reply.status, json)
}

fn status(server: &Server, path: &str, token: &str) -> u16 {
    server.get(path, Some(token)).status
}

fn code(reply: &(u16, Value)) -> (u16, &str) {
    (reply.0, reply.1["code"].as_str().unwrap_or_default())
}

fn sign_in(server: &Server, email: &str, password: &str) -> (u16, Value) {
    call(
        server,
        "POST",
        "/v1/auth/signin",
        None,
        &json!({"email": email, "password": password}),
    )
}

/// Every account route and its errors, through one server.
fn every_route(server: &Server) {
    let ann = server.sign_up("ann@example.com");
    let (_, me) = call(server, "GET", "/v1/me", Some(&ann), &json!({}));
    assert_eq!(me["user"]["email_verified"], false);
    let org = me["active_organization_id"].as_str().unwrap().to_owned();
    let invite = |token: &str| {
        call(
            server,
            "POST",
            &format!("/v1/organizations/{org}/invitations"),
            Some(token),
            &json!({"email": "bob@example.com"}),
        )
    };
    assert_eq!(code(&invite(&ann)), (403, "email_unverified"));

    // A fresh email supersedes the first link; the newest one verifies.
    let first = server.wait_for_link("ann@example.com", "verify-email", &[]);
    let resent = call(
        server,
        "POST",
        "/v1/me/verification-email",
        Some(&ann),
        &json!({}),
    );
    assert_eq!(resent, (202, json!({})));
    let second = server.wait_for_link(
        "ann@example.com",
        "verify-email",
        std::slice::from_ref(&first),
    );
    let verify = |token: &str| {
        call(
            server,
            "POST",
            "/v1/auth/verify-email",
            None,
            &json!({"token": token}),
        )
    };
    assert_eq!(code(&verify(&first)), (410, "token_used"));
    assert_eq!(code(&verify(&"A".repeat(43))), (404, "not_found"));
    let (ok, verified) = verify(&second);
    assert_eq!(
        (ok, &verified["user"]["email_verified"]),
        (200, &json!(true))
    );
    assert_eq!(code(&verify(&second)), (410, "token_used"));
    let again = call(
        server,
        "POST",
        "/v1/me/verification-email",
        Some(&ann),
        &json!({}),
    );
    assert_eq!(code(&again), (409, "already_verified"));
    assert_eq!(invite(&ann).0, 201);

    // Sessions: listed newest first, another ended from this one.
    let (_, other) = sign_in(server, "ann@example.com", PASSWORD);
    let other = other["token"].as_str().unwrap().to_owned();
    let (listed, sessions) = call(server, "GET", "/v1/me/sessions", Some(&other), &json!({}));
    assert_eq!(listed, 200);
    let items = sessions["items"].as_array().unwrap();
    assert_eq!(items.len(), 2, "{sessions}");
    assert_eq!(
        (items[0]["current"].clone(), items[1]["current"].clone()),
        (json!(true), json!(false))
    );
    let first_session = items[1]["id"].as_str().unwrap().to_owned();
    let bob = server.sign_up("bob@example.com");
    let end = |token: &str, id: &str| {
        request(
            server.addr,
            "DELETE",
            &format!("/v1/me/sessions/{id}"),
            Some(token),
            None,
        )
        .status
    };
    assert_eq!(end(&bob, &first_session), 404);
    assert_eq!(status(server, "/v1/me", &ann), 200);
    assert_eq!(end(&other, &first_session), 204);
    assert_eq!(status(server, "/v1/me", &ann), 401);
    assert_eq!(end(&other, &first_session), 404);

    // A password change keeps this session and ends the others.
    let (_, third) = sign_in(server, "ann@example.com", PASSWORD);
    let third = third["token"].as_str().unwrap().to_owned();
    let change = |current: &str, new: &str| {
        call(
            server,
            "PUT",
            "/v1/me/password",
            Some(&other),
            &json!({"current_password": current, "new_password": new}),
        )
    };
    assert_eq!(
        code(&change("wrong password", "a fine new secret")),
        (403, "forbidden")
    );
    assert_eq!(code(&change(PASSWORD, "short")), (422, "validation_failed"));
    assert_eq!(change(PASSWORD, "a fine new secret").0, 204);
    assert_eq!(status(server, "/v1/me", &other), 200);
    assert_eq!(status(server, "/v1/me", &third), 401);

    // A reset: the same answer for anyone; the link ends every session.
    let reset = |email: &str| {
        call(
            server,
            "POST",
            "/v1/auth/password-reset",
            None,
            &json!({"email": email}),
        )
    };
    assert_eq!(reset("nobody@example.com"), (202, json!({})));
    assert_eq!(reset("ann@example.com"), (202, json!({})));
    assert_eq!(code(&reset("not an address")), (422, "validation_failed"));
    let link = server.wait_for_link("ann@example.com", "reset-password", &[]);
    let confirm = |token: &str, password: &str| {
        call(
            server,
            "POST",
            "/v1/auth/password-reset/confirm",
            None,
            &json!({"token": token, "password": password}),
        )
    };
    assert_eq!(
        code(&confirm(&"A".repeat(43), "whatever it is")),
        (404, "not_found")
    );
    assert_eq!(
        code(&confirm(&link, "password")),
        (422, "validation_failed")
    );
    assert_eq!(confirm(&link, "the newest secret").0, 204);
    assert_eq!(
        code(&confirm(&link, "the newest secret")),
        (410, "token_used")
    );
    assert_eq!(status(server, "/v1/me", &other), 401);
    assert_eq!(
        sign_in(server, "ann@example.com", "a fine new secret").0,
        401
    );
    assert_eq!(
        sign_in(server, "ann@example.com", "the newest secret").0,
        200
    );
    assert!(
        server.mails_to("nobody@example.com").is_empty(),
        "an email went to an address without an account"
    );
}

#[test]
fn every_account_route_on_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), &[]);
    every_route(&server);
}

#[test]
fn every_account_route_on_postgresql() {
    let Some(database) = Database::create() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), &["--database", &database.url]);
    every_route(&server);
}

/// Polls `/v1/me` with `token` until it is refused; returns how long after
/// `since` the refusal came.
fn refused_after(server: &Server, token: &str, since: Instant) -> Duration {
    loop {
        match status(server, "/v1/me", token) {
            200 => std::thread::sleep(Duration::from_millis(100)),
            401 => return since.elapsed(),
            other => panic!("unexpected status {other}"),
        }
        assert!(since.elapsed() < Duration::from_secs(10), "never refused");
    }
}

#[test]
fn sessions_and_links_end_at_their_lifetimes() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(
        dir.path(),
        &["--session-ttl", "2s", "--verification-ttl", "1s"],
    );
    // Used every tenth of a second, the session still ends two seconds
    // after sign-in: the absolute lifetime holds however busy it is.
    let before = Instant::now();
    let ann = server.sign_up("ann@example.com");
    let ended = refused_after(&server, &ann, before);
    assert!(
        ended >= Duration::from_millis(1990),
        "refused too early: {ended:?}"
    );
    assert!(
        ended < Duration::from_secs(3),
        "refused too late: {ended:?}"
    );
    assert_eq!(server.get("/v1/me/sessions", Some(&ann)).status, 401);
    // The verification link lived one second.
    let link = server.wait_for_link("ann@example.com", "verify-email", &[]);
    let late = call(
        &server,
        "POST",
        "/v1/auth/verify-email",
        None,
        &json!({"token": link}),
    );
    assert_eq!(code(&late), (410, "token_expired"));
    assert!(server.log().contains("session_ttl=2s"), "{}", server.log());

    // Idle: without use for the timeout, refused.
    let idle_dir = tempfile::tempdir().unwrap();
    let idle = Server::start(idle_dir.path(), &["--session-idle-timeout", "2s"]);
    let bob = idle.sign_up("bob@example.com");
    assert_eq!(status(&idle, "/v1/me", &bob), 200);
    std::thread::sleep(Duration::from_millis(2100));
    assert_eq!(status(&idle, "/v1/me", &bob), 401);
}

fn two_instances(dir: &Path, database: &Database) -> (Server, Server) {
    // One public URL for both: either worker may deliver an email.
    let args = [
        "--database",
        database.url.as_str(),
        "--public-url",
        "http://tenancy.test",
    ];
    let a = Server::start(dir, &args);
    let b = Server::start(dir, &args);
    (a, b)
}

#[test]
fn a_reset_ends_every_session_at_once_on_every_instance() {
    let Some(database) = Database::create() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = two_instances(dir.path(), &database);
    let on_a = a.sign_up("ann@example.com");
    let (_, on_b) = sign_in(&b, "ann@example.com", PASSWORD);
    let on_b = on_b["token"].as_str().unwrap().to_owned();
    for server in [&a, &b] {
        for token in [&on_a, &on_b] {
            assert_eq!(status(server, "/v1/me", token), 200);
        }
    }
    let asked = call(
        &a,
        "POST",
        "/v1/auth/password-reset",
        None,
        &json!({"email": "ann@example.com"}),
    );
    assert_eq!(asked.0, 202);
    let link = a.wait_for_link("ann@example.com", "reset-password", &[]);
    let confirmed = call(
        &b,
        "POST",
        "/v1/auth/password-reset/confirm",
        None,
        &json!({"token": link, "password": "a fine new secret"}),
    );
    assert_eq!(confirmed.0, 204, "{confirmed:?}");
    // The very next request, on either instance, with either token.
    for server in [&a, &b] {
        for token in [&on_a, &on_b] {
            assert_eq!(status(server, "/v1/me", token), 401);
        }
    }
    assert_eq!(sign_in(&a, "ann@example.com", "a fine new secret").0, 200);
    // The link is used up on both.
    for server in [&a, &b] {
        let again = call(
            server,
            "POST",
            "/v1/auth/password-reset/confirm",
            None,
            &json!({"token": link, "password": "yet another secret"}),
        );
        assert_eq!(code(&again), (410, "token_used"));
    }
}
