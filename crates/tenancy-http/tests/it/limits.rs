//! The rate limits of API.md "Rate limits and abuse": each answers 429
//! `rate_limited` with `Retry-After` at its threshold and not before, a
//! refused request changes nothing, the window slides (on the tests' clock),
//! `0` turns a limit off, and `X-Forwarded-For` counts only from a trusted
//! proxy. Requests come from chosen peer addresses, which poem's test client
//! cannot set itself: a wrapper sets them from a header of the tests' own.

use std::net::SocketAddr;
use std::sync::Arc;

use chrono::Duration;
use poem::endpoint::BoxEndpoint;
use poem::http::uri::Scheme;
use poem::test::TestClient;
use poem::web::{LocalAddr, RemoteAddr};
use poem::{Endpoint, EndpointExt, IntoResponse, Request, RequestParts};
use serde_json::{Value, json};
use tenancy_core::limits::{LimitKind, RateLimit, RateLimits};
use tenancy_core::ports::Clock;
use tenancy_core::service::Settings;
use tenancy_http::{ApiConfig, TrustedProxies};

use crate::support::{Person, Reply, TestApp};

/// The header that names the peer address of a test request.
const PEER: &str = "x-test-peer";

/// The app with limits and trusted proxies, and a client whose requests
/// come from the peer they name.
struct Limited {
    app: TestApp,
    client: TestClient<BoxEndpoint<'static, poem::Response>>,
}

async fn as_peer<E: Endpoint>(endpoint: Arc<E>, request: Request) -> poem::Result<poem::Response> {
    let peer = request
        .header(PEER)
        .map(|peer| peer.parse::<SocketAddr>().unwrap());
    let request = match peer {
        None => request,
        Some(peer) => {
            let (parts, body) = request.into_parts();
            let mut head = poem::http::Request::new(()).into_parts().0;
            head.method = parts.method;
            head.uri = parts.uri;
            head.version = parts.version;
            head.headers = parts.headers;
            head.extensions = parts.extensions;
            let remote = RemoteAddr(poem::Addr::SocketAddr(peer));
            let parts = RequestParts::from((head, LocalAddr::default(), remote, Scheme::HTTP));
            Request::from_parts(parts, body)
        }
    };
    endpoint
        .call(request)
        .await
        .map(IntoResponse::into_response)
}

impl Limited {
    async fn new(limits: RateLimits, trusted_proxies: &str) -> Self {
        let app = TestApp::with_config(
            Settings::default(),
            ApiConfig {
                limits,
                trusted_proxies: TrustedProxies::parse(trusted_proxies).unwrap(),
                ..ApiConfig::default()
            },
        )
        .await;
        let endpoint = tenancy_http::app(app.state.clone())
            .map_to_response()
            .around(as_peer)
            .boxed();
        Self {
            app,
            client: TestClient::new(endpoint),
        }
    }

    /// A POST from `peer`, with extra headers.
    async fn post(
        &self,
        peer: &str,
        path: &str,
        token: Option<&str>,
        body: Value,
        headers: &[(&str, &str)],
    ) -> Reply {
        let mut request = self.client.post(path).header(PEER, peer).body_json(&body);
        if let Some(token) = token {
            request = request.header("authorization", format!("Bearer {token}"));
        }
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        Reply::read(request.send().await).await
    }

    async fn sign_in(&self, peer: &str, email: &str, password: &str) -> Reply {
        self.post(
            peer,
            "/v1/auth/signin",
            None,
            json!({"email": email, "password": password}),
            &[],
        )
        .await
    }

    async fn invite(&self, owner: &Person, org: &str, email: &str) -> Reply {
        self.post(
            "192.0.2.1:1000",
            &format!("/v1/organizations/{org}/invitations"),
            Some(&owner.token),
            json!({"email": email}),
            &[],
        )
        .await
    }
}

const PASSWORD: &str = "correct horse battery";

/// Only one limit on, at `max`.
fn only(kind: LimitKind, max: u32) -> RateLimits {
    let mut limits = RateLimits::off();
    let limit = RateLimit::of(kind, max);
    match kind {
        LimitKind::SignInFailures => limits.sign_in_failures = limit,
        LimitKind::AuthAttempts => limits.auth_attempts = limit,
        LimitKind::AccountEmails => limits.account_emails = limit,
        LimitKind::Invitations => limits.invitations = limit,
        LimitKind::InvitationResends => limits.invitation_resends = limit,
    }
    limits
}

/// Asserts 429 `rate_limited` with `Retry-After: seconds`.
fn limited(reply: Reply, seconds: u64) -> Reply {
    let reply = reply.problem(429, "rate_limited");
    assert_eq!(
        reply
            .headers
            .get("retry-after")
            .and_then(|v| v.to_str().ok()),
        Some(seconds.to_string().as_str()),
        "{:?}",
        reply.headers
    );
    reply
}

fn not_limited(reply: &Reply) {
    assert_ne!(
        reply.status.as_u16(),
        429,
        "{}",
        String::from_utf8_lossy(&reply.bytes)
    );
}

#[tokio::test]
async fn attempts_per_address_are_counted_before_the_body_and_the_window_slides() {
    let t = Limited::new(only(LimitKind::AuthAttempts, 3), "").await;
    let peer = "198.51.100.1:4000";
    let signup = |email: &str| json!({"email": email, "password": PASSWORD});
    // Sign-ups and sign-ins share the count, whatever their bodies.
    t.post(
        peer,
        "/v1/auth/signup",
        None,
        signup("ann@example.com"),
        &[],
    )
    .await
    .expect(201);
    t.app.clock.advance(Duration::seconds(20));
    t.sign_in(peer, "ann@example.com", "wrong password")
        .await
        .problem(401, "invalid_credentials");
    t.app.clock.advance(Duration::seconds(20));
    t.post(peer, "/v1/auth/signin", None, json!({"email": 5}), &[])
        .await
        .problem(422, "validation_failed");
    // The fourth within the minute: refused before its body is looked at,
    // and refused until the first attempt is a minute old.
    t.app.clock.advance(Duration::seconds(19));
    limited(
        t.post(peer, "/v1/auth/signup", None, json!("not an object"), &[])
            .await,
        1,
    );
    let refused = limited(
        t.post(
            peer,
            "/v1/auth/signup",
            None,
            signup("bea@example.com"),
            &[],
        )
        .await,
        1,
    );
    assert!(
        refused.json()["detail"]
            .as_str()
            .unwrap()
            .contains("from this address"),
        "{}",
        refused.json()
    );
    // Other addresses have their own count.
    not_limited(
        &t.post("198.51.100.2:4000", "/v1/auth/signin", None, json!({}), &[])
            .await,
    );
    // A minute after the first attempt one slot is free; then the next
    // frees 20 s later.
    t.app.clock.advance(Duration::seconds(1));
    t.sign_in(peer, "ann@example.com", PASSWORD)
        .await
        .expect(200);
    t.app.clock.advance(Duration::seconds(1));
    limited(t.sign_in(peer, "ann@example.com", PASSWORD).await, 19);
    // The refused sign-up created nothing: the address is still free.
    t.app.clock.advance(Duration::seconds(60));
    t.post(
        peer,
        "/v1/auth/signup",
        None,
        signup("bea@example.com"),
        &[],
    )
    .await
    .expect(201);
}

#[tokio::test]
async fn failed_sign_ins_lock_an_email_even_with_the_right_password() {
    let t = Limited::new(only(LimitKind::SignInFailures, 3), "").await;
    let peer = "198.51.100.1:4000";
    t.app.sign_up("alice@example.com").await;
    t.app.sign_up("bob@example.com").await;
    for _ in 0..3 {
        t.sign_in(peer, "alice@example.com", "wrong password")
            .await
            .problem(401, "invalid_credentials");
    }
    t.app.clock.advance(Duration::minutes(5));
    // Locked for the rest of the 15 minutes, whatever the password, and
    // whichever spelling of the address.
    limited(t.sign_in(peer, "alice@example.com", PASSWORD).await, 600);
    limited(t.sign_in(peer, " ALICE@Example.com", "wrong").await, 600);
    limited(
        t.sign_in("203.0.113.5:1", "alice@example.com", PASSWORD)
            .await,
        600,
    );
    // Other emails are not.
    t.sign_in(peer, "bob@example.com", PASSWORD)
        .await
        .expect(200);
    // Unknown emails lock the same way, so that a 429 tells nothing of
    // whether an account exists.
    for _ in 0..3 {
        t.sign_in(peer, "nobody@example.com", PASSWORD)
            .await
            .problem(401, "invalid_credentials");
    }
    limited(t.sign_in(peer, "nobody@example.com", PASSWORD).await, 900);
    // The refusals did not prolong the lock: once the first failure is 15
    // minutes old, the right password works.
    t.app
        .clock
        .advance(Duration::minutes(10) - Duration::seconds(1));
    limited(t.sign_in(peer, "alice@example.com", PASSWORD).await, 1);
    t.app.clock.advance(Duration::seconds(1));
    t.sign_in(peer, "alice@example.com", PASSWORD)
        .await
        .expect(200);
}

#[tokio::test]
async fn a_successful_sign_in_clears_the_failures() {
    let t = Limited::new(only(LimitKind::SignInFailures, 3), "").await;
    let peer = "198.51.100.1:4000";
    t.app.sign_up("alice@example.com").await;
    for _ in 0..2 {
        t.sign_in(peer, "alice@example.com", "wrong password")
            .await
            .problem(401, "invalid_credentials");
    }
    t.sign_in(peer, "alice@example.com", PASSWORD)
        .await
        .expect(200);
    // The count starts again: three more failures before the lock.
    for _ in 0..3 {
        t.sign_in(peer, "alice@example.com", "wrong password")
            .await
            .problem(401, "invalid_credentials");
    }
    limited(t.sign_in(peer, "alice@example.com", PASSWORD).await, 900);
}

#[tokio::test]
async fn invitations_are_limited_per_organization_after_authorization() {
    let t = Limited::new(only(LimitKind::Invitations, 4), "").await;
    let owner = t.app.sign_up("owner@example.com").await;
    let org = owner.org.clone();
    // The viewer's invitation is the first of the hour.
    let viewer = t.app.viewer(&owner, &org, "viewer@example.com").await;
    let outsider = t.app.sign_up("outsider@example.com").await;
    for i in 0..3 {
        t.app.clock.advance(Duration::minutes(1));
        t.invite(&owner, &org, &format!("guest{i}@example.com"))
            .await
            .expect(201);
    }
    t.app.clock.advance(Duration::minutes(7));
    let refused = limited(t.invite(&owner, &org, "guest3@example.com").await, 3000);
    assert!(
        refused.json()["detail"]
            .as_str()
            .unwrap()
            .contains("too many invitations")
    );
    // Counted before the body is judged, after authentication and access.
    limited(
        t.post(
            "192.0.2.1:1000",
            &format!("/v1/organizations/{org}/invitations"),
            Some(&owner.token),
            json!({"email": "not an email"}),
            &[],
        )
        .await,
        3000,
    );
    t.invite(&viewer, &org, "x@example.com")
        .await
        .problem(403, "forbidden");
    t.invite(&outsider, &org, "x@example.com")
        .await
        .problem(404, "not_found");
    t.post(
        "192.0.2.1:1000",
        &format!("/v1/organizations/{org}/invitations"),
        None,
        json!({"email": "x@example.com"}),
        &[],
    )
    .await
    .problem(401, "unauthenticated");
    // The refusals changed nothing: the three guests' invitations are
    // pending (the viewer's was accepted), and four emails were queued.
    let listed = t
        .app
        .get(
            &format!("/v1/organizations/{org}/invitations"),
            Some(&owner.token),
        )
        .await
        .expect(200)
        .json();
    let emails: Vec<&str> = listed["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["email"].as_str().unwrap())
        .collect();
    assert_eq!(emails.len(), 3, "{emails:?}");
    assert!(!emails.contains(&"guest3@example.com"));
    let far = t.app.clock.now() + Duration::days(3650);
    let queued = t.app.outbox.due(far, usize::MAX).await.unwrap();
    assert_eq!(queued.len(), 4);
    assert!(
        queued
            .iter()
            .all(|q| q.mail.to.as_str() != "guest3@example.com")
    );
    // Other organizations have their own count.
    t.invite(&outsider, &outsider.org, "guest3@example.com")
        .await
        .expect(201);
    // An hour after the first, one more may go; the next a minute later.
    t.app.clock.advance(Duration::minutes(50));
    t.invite(&owner, &org, "guest3@example.com")
        .await
        .expect(201);
    limited(t.invite(&owner, &org, "guest4@example.com").await, 60);
}

#[tokio::test]
async fn zero_turns_each_limit_off() {
    let t = Limited::new(RateLimits::from_counts(0, 0, 0, 0), "").await;
    let peer = "198.51.100.1:4000";
    let owner = t.app.sign_up("owner@example.com").await;
    // Beyond every default: 12 failures and the right password, 101
    // invitations, 70 attempts from one address.
    for _ in 0..12 {
        t.sign_in(peer, "owner@example.com", "wrong password")
            .await
            .problem(401, "invalid_credentials");
    }
    t.sign_in(peer, "owner@example.com", PASSWORD)
        .await
        .expect(200);
    for _ in 0..57 {
        let reply = t.post(peer, "/v1/auth/signin", None, json!({}), &[]).await;
        not_limited(&reply);
    }
    for i in 0..101 {
        t.invite(&owner, &owner.org, &format!("guest{i}@example.com"))
            .await
            .expect(201);
    }
}

#[tokio::test]
async fn forwarded_addresses_count_only_from_trusted_proxies() {
    let t = Limited::new(only(LimitKind::AuthAttempts, 2), "10.0.0.0/8, ::1").await;
    let attempt = |peer: &'static str, forwarded: String| {
        let t = &t;
        async move {
            t.post(
                peer,
                "/v1/auth/signin",
                None,
                json!({}),
                &[("x-forwarded-for", forwarded.as_str())],
            )
            .await
        }
    };
    // Through the proxy, each client has its own count: the first address.
    for _ in 0..2 {
        not_limited(&attempt("10.0.0.2:5000", "203.0.113.1, 10.0.0.9".into()).await);
    }
    limited(attempt("10.0.0.3:5000", "203.0.113.1".into()).await, 60);
    not_limited(&attempt("[::1]:5000", "203.0.113.2".into()).await);
    limited(attempt("10.0.0.2:5000", "203.0.113.1".into()).await, 60);
    // A client that writes the header itself gains nothing: a fresh
    // address each time is still the peer's count.
    for i in 0..2 {
        not_limited(&attempt("198.51.100.7:5000", format!("203.0.113.{}", 100 + i)).await);
    }
    limited(
        attempt("198.51.100.7:5000", "203.0.113.200".into()).await,
        60,
    );
    // Nor does a trusted proxy's own traffic without the header count for
    // its clients: it has its own count.
    let bare = t
        .post("10.0.0.2:5000", "/v1/auth/signin", None, json!({}), &[])
        .await;
    not_limited(&bare);
}
