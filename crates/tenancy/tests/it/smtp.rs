//! Invitation emails over a real SMTP conversation with a local server
//! (Python's aiosmtpd), and a delivery that succeeds on a retry after the
//! server was down.

use std::time::Duration;

use serde_json::json;

use crate::subject::subject_as_read;
use crate::support::{Mail, Received, Server, SmtpSink, aiosmtpd_available, free_port, wait_until};

#[test]
fn an_invitation_is_sent_over_smtp() {
    if !aiosmtpd_available() {
        return;
    }
    let sink = SmtpSink::start(free_port());
    let dir = tempfile::tempdir().unwrap();
    let smtp_url = format!("smtp://127.0.0.1:{}", sink.port);
    let server = Server::start(
        dir.path(),
        &[
            "--smtp-url",
            &smtp_url,
            "--public-url",
            "https://tenancy.example.com/",
        ],
    );
    // The owner's verification email goes over SMTP too; its link verifies.
    let owner = server.sign_up("owner@example.com");
    let verification = sink
        .wait_for_message(Duration::from_secs(15))
        .unwrap_or_else(|| panic!("no message within 15 s; log:\n{}", server.log()));
    assert_eq!(verification.rcpt_tos, ["owner@example.com"]);
    assert_eq!(
        subject_as_read(&verification.data),
        "Verify your email address"
    );
    let link = Mail::parse(&verification.data)
        .link_token("https://tenancy.example.com", "verify-email")
        .expect("a verification link");
    let verified = server.post("/v1/auth/verify-email", None, &json!({"token": link}));
    assert_eq!(verified.status, 200, "{verified:?}");
    server.invite_to_new_organization_as(&owner, "Acme Rockets", "guest@example.com");

    let received = wait_for_message_to(&sink, "guest@example.com", Duration::from_secs(15))
        .unwrap_or_else(|| panic!("no message within 15 s; log:\n{}", server.log()));
    assert_eq!(received.rcpt_tos, ["guest@example.com"]);
    assert_eq!(received.mail_from, "no-reply@tenancy.example.com");
    let message = Mail::parse(&received.data);
    assert_eq!(message.header("To"), Some("guest@example.com"));
    assert_eq!(
        subject_as_read(&received.data),
        "You are invited to join Acme Rockets"
    );
    assert!(message.header("Date").is_some());
    assert!(
        message
            .header("Message-ID")
            .is_some_and(|id| id.ends_with("@tenancy.example.com>"))
    );
    let token = message.invitation_token("https://tenancy.example.com");

    // The link works: the landing page knows the invitation.
    let landing = server.get(&format!("/v1/invitations/{token}"), None);
    assert_eq!(landing.status, 200, "{landing:?}");
    assert_eq!(landing.json()["organization_name"], json!("Acme Rockets"));
    assert!(!server.log().contains(&token), "the token was logged");
    // Each delivered once, and marked sent: nothing more arrives.
    std::thread::sleep(Duration::from_secs(1));
    assert_eq!(sink.messages().len(), 2);
}

/// The first message the sink received for `to`, waiting up to `timeout`.
fn wait_for_message_to(sink: &SmtpSink, to: &str, timeout: Duration) -> Option<Received> {
    let mut found = None;
    wait_until(timeout, || {
        found = sink
            .messages()
            .into_iter()
            .find(|m| m.rcpt_tos.iter().any(|r| r == to));
        found.is_some()
    });
    found
}

#[test]
fn a_message_that_failed_while_the_server_was_down_is_delivered_on_a_retry() {
    if !aiosmtpd_available() {
        return;
    }
    // Nothing listens on this port until the sink starts below.
    let port = free_port();
    let dir = tempfile::tempdir().unwrap();
    let smtp_url = format!("smtp://127.0.0.1:{port}");
    let server = Server::start(
        dir.path(),
        &["--smtp-url", &smtp_url, "--allow-unverified-inviters"],
    );
    server.invite_to_new_organization("owner@example.com", "Acme Rockets", "guest@example.com");
    assert!(
        server.wait_for_log("email not delivered", Duration::from_secs(10)),
        "the first attempt did not fail; log:\n{}",
        server.log()
    );

    let sink = SmtpSink::start(port);
    // The first retry is 5 s after the failure.
    let received = wait_for_message_to(&sink, "guest@example.com", Duration::from_secs(30))
        .unwrap_or_else(|| panic!("no message within 30 s; log:\n{}", server.log()));
    assert_eq!(received.rcpt_tos, ["guest@example.com"]);
    let message = Mail::parse(&received.data);
    assert_eq!(
        subject_as_read(&received.data),
        "You are invited to join Acme Rockets"
    );
    message.invitation_token(&server.base_url());
    assert!(
        server.wait_for_line(&["email delivered", "attempt=2"], Duration::from_secs(5)),
        "{}",
        server.log()
    );
}
