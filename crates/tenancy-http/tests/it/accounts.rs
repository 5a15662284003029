//! Accounts through the API (API.md "Verified email addresses", "Password
//! reset", `PUT /v1/me/password`, "Sessions"): every route and every error,
//! over SQLite and over the core's in-memory repository.

use chrono::Duration;
use poem::http::Method;
use serde_json::{Value, json};
use tenancy_core::limits::RateLimits;
use tenancy_core::service::Settings;

use crate::on_both_backends;
use crate::support::{Person, TestApp};

on_both_backends!(
    verification_gates_inviting_and_links_die_as_documented,
    a_password_reset_answers_alike_and_ends_every_session,
    a_password_change_needs_the_current_password,
    sessions_are_listed_ended_and_expire_at_the_boundary,
);

const PASSWORD: &str = "correct horse battery";

async fn invite(app: &TestApp, who: &Person, email: &str) -> crate::support::Reply {
    app.post(
        &format!("/v1/organizations/{}/invitations", who.org),
        Some(&who.token),
        json!({"email": email}),
    )
    .await
}

async fn verify(app: &TestApp, token: &str) -> crate::support::Reply {
    app.post("/v1/auth/verify-email", None, json!({"token": token}))
        .await
}

async fn me(app: &TestApp, token: &str) -> Value {
    app.get("/v1/me", Some(token)).await.expect(200).json()
}

async fn verification_gates_inviting_and_links_die_as_documented(app: TestApp) {
    let ann = app.sign_up_unverified("ann@example.com").await;
    assert_eq!(me(&app, &ann.token).await["user"]["email_verified"], false);
    // Refused after the capability check, before the body is judged.
    invite(&app, &ann, "bob@example.com")
        .await
        .problem(403, "email_unverified");
    app.post(
        &format!("/v1/organizations/{}/invitations", ann.org),
        Some(&ann.token),
        json!({"email": "not an address"}),
    )
    .await
    .problem(403, "email_unverified");

    let first = app.link_token(&ann.email, "verify_email").await;
    app.post("/v1/me/verification-email", Some(&ann.token), json!({}))
        .await
        .expect(202);
    let second = app.link_token(&ann.email, "verify_email").await;
    assert_ne!(first, second);
    // The newer email superseded the first link.
    verify(&app, &first).await.problem(410, "token_used");
    let verified = verify(&app, &second).await.expect(200).json();
    assert_eq!(verified["user"]["email_verified"], true);
    assert_eq!(verified["user"]["email"], "ann@example.com");
    verify(&app, &second).await.problem(410, "token_used");
    assert_eq!(me(&app, &ann.token).await["user"]["email_verified"], true);
    app.post("/v1/me/verification-email", Some(&ann.token), json!({}))
        .await
        .problem(409, "already_verified");
    invite(&app, &ann, "bob@example.com").await.expect(201);

    // Unknown and malformed tokens are unknown.
    verify(&app, &"A".repeat(43))
        .await
        .problem(404, "not_found");
    verify(&app, "nope").await.problem(404, "not_found");
    app.post("/v1/auth/verify-email", None, json!({}))
        .await
        .problem(422, "validation_failed");
    app.post("/v1/me/verification-email", None, json!({}))
        .await
        .problem(401, "unauthenticated");

    // A link lives 24 hours.
    let cy = app.sign_up_unverified("cy@example.com").await;
    let late = app.link_token(&cy.email, "verify_email").await;
    app.clock.advance(Duration::hours(24));
    verify(&app, &late).await.problem(410, "token_expired");

    // Sign-up from an invitation link counts as verified, with no email.
    let (_, token) = app.invite(&ann, &ann.org, "dee@example.com").await;
    let dee = app
        .post(
            "/v1/auth/signup",
            None,
            json!({"email": "dee@example.com", "password": PASSWORD, "invitation_token": token}),
        )
        .await
        .expect(201)
        .json();
    assert_eq!(dee["user"]["email_verified"], true);
    assert_eq!(dee["invitation"]["status"], "accepted");
    assert!(
        app.newest_mail("dee@example.com", |c| matches!(
            c,
            tenancy_core::entity::MailContent::VerifyEmail { .. }
        ))
        .await
        .is_none()
    );
}

async fn sign_in(app: &TestApp, email: &str, password: &str) -> crate::support::Reply {
    app.post(
        "/v1/auth/signin",
        None,
        json!({"email": email, "password": password}),
    )
    .await
}

async fn a_password_reset_answers_alike_and_ends_every_session(app: TestApp) {
    // Someone registered Dee's address first, and is signed in twice.
    let squatter = app.sign_up_unverified("dee@example.com").await;
    let second = sign_in(&app, "dee@example.com", PASSWORD)
        .await
        .expect(200)
        .json()["token"]
        .as_str()
        .unwrap()
        .to_owned();
    // The same answer whether the address has an account or not, and not
    // sooner than the floor either way (a lower bound, which a sleep
    // guarantees: the work for an account is hidden under it).
    let timed = |email: &'static str| {
        let app = &app;
        async move {
            let started = std::time::Instant::now();
            let reply = app
                .post("/v1/auth/password-reset", None, json!({"email": email}))
                .await
                .expect(202);
            let took = started.elapsed();
            assert!(
                took >= std::time::Duration::from_millis(50),
                "{email}: {took:?}"
            );
            reply
        }
    };
    let known = timed(" DEE@example.com ").await;
    let unknown = timed("nobody@example.com").await;
    assert_eq!(known.bytes, unknown.bytes);
    assert_eq!(known.json(), json!({}));
    assert!(
        app.newest_mail("nobody@example.com", |_| true)
            .await
            .is_none()
    );
    app.post(
        "/v1/auth/password-reset",
        None,
        json!({"email": "not an address"}),
    )
    .await
    .problem(422, "validation_failed");

    let old = app.link_token("dee@example.com", "reset_password").await;
    app.post(
        "/v1/auth/password-reset",
        None,
        json!({"email": "dee@example.com"}),
    )
    .await
    .expect(202);
    let link = app.link_token("dee@example.com", "reset_password").await;
    let confirm = |token: String, password: &'static str| {
        let app = &app;
        async move {
            app.post(
                "/v1/auth/password-reset/confirm",
                None,
                json!({"token": token, "password": password}),
            )
            .await
        }
    };
    // The token is judged before the password.
    confirm(old.clone(), "short")
        .await
        .problem(410, "token_used");
    confirm("A".repeat(43), "a fine new secret")
        .await
        .problem(404, "not_found");
    confirm(link.clone(), "short")
        .await
        .problem(422, "validation_failed");
    confirm(link.clone(), "Password123")
        .await
        .problem(422, "validation_failed");
    confirm(link.clone(), "the real owner's secret")
        .await
        .expect(204);
    confirm(link.clone(), "another fine secret")
        .await
        .problem(410, "token_used");

    // Every session ended at once; the address is verified; the old
    // password is gone, the new one works.
    for token in [&squatter.token, &second] {
        app.get("/v1/me", Some(token))
            .await
            .problem(401, "unauthenticated");
    }
    sign_in(&app, "dee@example.com", PASSWORD)
        .await
        .problem(401, "invalid_credentials");
    let back = sign_in(&app, "dee@example.com", "the real owner's secret")
        .await
        .expect(200)
        .json();
    assert_eq!(back["user"]["email_verified"], true);

    // A reset link lives one hour.
    app.post(
        "/v1/auth/password-reset",
        None,
        json!({"email": "dee@example.com"}),
    )
    .await
    .expect(202);
    let late = app.link_token("dee@example.com", "reset_password").await;
    app.clock.advance(Duration::hours(1));
    confirm(late, "a late new secret")
        .await
        .problem(410, "token_expired");
}

async fn a_password_change_needs_the_current_password(app: TestApp) {
    let ann = app.sign_up("ann@example.com").await;
    let other = sign_in(&app, "ann@example.com", PASSWORD)
        .await
        .expect(200)
        .json()["token"]
        .as_str()
        .unwrap()
        .to_owned();
    let change = |current: &'static str, new: &'static str| {
        let app = &app;
        let token = ann.token.clone();
        async move {
            app.call(
                Method::PUT,
                "/v1/me/password",
                Some(&token),
                Some(json!({"current_password": current, "new_password": new})),
            )
            .await
        }
    };
    change("wrong password", "a fine new secret")
        .await
        .problem(403, "forbidden");
    change(PASSWORD, "short")
        .await
        .problem(422, "validation_failed");
    change(PASSWORD, "PASSWORD123")
        .await
        .problem(422, "validation_failed");
    // Nothing changed so far.
    app.get("/v1/me", Some(&other)).await.expect(200);
    change(PASSWORD, "a fine new secret").await.expect(204);
    // This session goes on; the other one ended.
    app.get("/v1/me", Some(&ann.token)).await.expect(200);
    app.get("/v1/me", Some(&other))
        .await
        .problem(401, "unauthenticated");
    sign_in(&app, "ann@example.com", PASSWORD)
        .await
        .problem(401, "invalid_credentials");
    sign_in(&app, "ann@example.com", "a fine new secret")
        .await
        .expect(200);
    app.call(
        Method::PUT,
        "/v1/me/password",
        None,
        Some(json!({"current_password": PASSWORD, "new_password": "whatever it is"})),
    )
    .await
    .problem(401, "unauthenticated");
}

async fn sessions(app: &TestApp, token: &str) -> Vec<Value> {
    app.get("/v1/me/sessions", Some(token))
        .await
        .expect(200)
        .json()["items"]
        .as_array()
        .unwrap()
        .clone()
}

async fn sessions_are_listed_ended_and_expire_at_the_boundary(app: TestApp) {
    let ann = app.sign_up("ann@example.com").await;
    app.clock.advance(Duration::minutes(1));
    let second = sign_in(&app, "ann@example.com", PASSWORD)
        .await
        .expect(200)
        .json()["token"]
        .as_str()
        .unwrap()
        .to_owned();
    let listed = sessions(&app, &second).await;
    assert_eq!(listed.len(), 2);
    assert_eq!(listed[0]["current"], true);
    assert_eq!(listed[1]["current"], false);
    assert!(listed[0]["created_at"].as_str() > listed[1]["created_at"].as_str());
    // The absolute end: 30 days after sign-in by default.
    let created =
        chrono::DateTime::parse_from_rfc3339(listed[1]["created_at"].as_str().unwrap()).unwrap();
    let expires =
        chrono::DateTime::parse_from_rfc3339(listed[1]["expires_at"].as_str().unwrap()).unwrap();
    assert_eq!(expires - created, Duration::days(30));

    // Another user's session is not found; one's own ends at once.
    let bob = app.sign_up("bob@example.com").await;
    let first_id = listed[1]["id"].as_str().unwrap().to_owned();
    let end = |token: String, id: String| {
        let app = &app;
        async move {
            app.call(
                Method::DELETE,
                &format!("/v1/me/sessions/{id}"),
                Some(&token),
                None,
            )
            .await
        }
    };
    end(bob.token.clone(), first_id.clone())
        .await
        .problem(404, "not_found");
    app.get("/v1/me", Some(&ann.token)).await.expect(200);
    end(second.clone(), first_id.clone()).await.expect(204);
    app.get("/v1/me", Some(&ann.token))
        .await
        .problem(401, "unauthenticated");
    end(second.clone(), first_id)
        .await
        .problem(404, "not_found");
    end(second.clone(), uuid::Uuid::now_v7().to_string())
        .await
        .problem(404, "not_found");
    assert_eq!(sessions(&app, &second).await.len(), 1);

    // Idle for the timeout (7 days): refused at the boundary.
    app.clock.advance(Duration::days(7) - Duration::seconds(1));
    app.get("/v1/me", Some(&second)).await.expect(200);
    app.clock.advance(Duration::days(7));
    app.get("/v1/me", Some(&second))
        .await
        .problem(401, "unauthenticated");

    // The absolute lifetime holds however busy a session is.
    let short = TestApp::with_config(
        Settings {
            sessions: tenancy_core::entity::SessionLifetimes {
                ttl: Duration::hours(2),
                idle_timeout: Duration::hours(1),
            },
            ..Settings::default()
        },
        crate::support::TestApp::config(),
    )
    .await;
    let cy = short.sign_up("cy@example.com").await;
    // Used every 40 minutes (the idle timeout is an hour) until the end.
    for _ in 0..2 {
        short.clock.advance(Duration::minutes(40));
        short.get("/v1/me", Some(&cy.token)).await.expect(200);
    }
    short
        .clock
        .advance(Duration::minutes(40) - Duration::seconds(1));
    short.get("/v1/me", Some(&cy.token)).await.expect(200);
    short.clock.advance(Duration::seconds(1));
    short
        .get("/v1/me", Some(&cy.token))
        .await
        .problem(401, "unauthenticated");
    short
        .get("/v1/me/sessions", Some(&cy.token))
        .await
        .problem(401, "unauthenticated");
}

#[tokio::test(flavor = "multi_thread")]
async fn account_emails_are_limited_per_address_without_telling_a_reset() {
    let limits = RateLimits::from_counts(0, 0, 2, 0);
    let app = TestApp::with_config(
        Settings::default(),
        tenancy_http::ApiConfig {
            limits,
            ..TestApp::config()
        },
    )
    .await;
    // The verification email of sign-up is the first of two.
    let ann = app.sign_up_unverified("ann@example.com").await;
    app.post("/v1/me/verification-email", Some(&ann.token), json!({}))
        .await
        .expect(202);
    let last = app.link_token(&ann.email, "verify_email").await;
    app.post("/v1/me/verification-email", Some(&ann.token), json!({}))
        .await
        .problem(429, "rate_limited");
    // The refused request changed nothing: the last link still works.
    app.post(
        "/v1/auth/password-reset",
        None,
        json!({"email": "ann@example.com"}),
    )
    .await
    .expect(202);
    assert!(
        app.newest_mail("ann@example.com", |c| matches!(
            c,
            tenancy_core::entity::MailContent::ResetPassword { .. }
        ))
        .await
        .is_none(),
        "the reset email went beyond the limit"
    );
    verify(&app, &last).await.expect(200);
    // A sign-up with a taken address counts nothing.
    let other = app.sign_up_unverified("bob@example.com").await;
    for _ in 0..3 {
        app.post(
            "/v1/auth/signup",
            None,
            json!({"email": "bob@example.com", "password": PASSWORD}),
        )
        .await
        .problem(409, "email_taken");
    }
    app.post("/v1/me/verification-email", Some(&other.token), json!({}))
        .await
        .expect(202);
}
