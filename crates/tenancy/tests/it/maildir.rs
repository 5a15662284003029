//! The folder transport: one RFC 5322 file per message, written atomically.

use std::os::unix::fs::PermissionsExt;
use std::time::Duration;

use chrono::{TimeZone, Utc};
use tenancy::config::PublicUrl;
use tenancy::mail::{Composer, MailDir, Transport};
use tenancy_core::entity::{MailContent, OutgoingMail};
use tenancy_core::token::SecretToken;
use tenancy_core::value::{EmailAddress, OrganizationName};
use tenancy_core::{InvitationId, MailId};
use uuid::Uuid;

use crate::subject::subject_as_read;
use crate::support::{Mail, Server, wait_until};

fn invitation_mail(organization: &str) -> OutgoingMail {
    OutgoingMail {
        id: MailId::from_uuid(Uuid::from_u128(0x0190_0000_0000_7000_8000_0000_0000_00aa)),
        to: EmailAddress::parse("Bob@Example.com").unwrap(),
        created_at: Utc.with_ymd_and_hms(2026, 3, 1, 12, 30, 0).unwrap(),
        content: MailContent::Invitation {
            invitation_id: InvitationId::from_uuid(Uuid::from_u128(7)),
            organization_name: OrganizationName::parse(organization).unwrap(),
            inviter_email: EmailAddress::parse("ann@example.com").unwrap(),
            role_name: tenancy_core::value::RoleName::parse("Editor").unwrap(),
            token: SecretToken::from_bytes([42; 32]),
            expires_at: Utc.with_ymd_and_hms(2026, 3, 8, 12, 30, 0).unwrap(),
        },
    }
}

fn entries(dir: &std::path::Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

#[tokio::test]
async fn each_message_is_one_eml_file_named_after_its_message_id() {
    let root = tempfile::tempdir().unwrap();
    let dir = root.path().join("deep/outbox");
    let transport = MailDir::create(&dir).unwrap();
    let composer = Composer::new(
        PublicUrl::parse("https://tenancy.example.com/app/").unwrap(),
        None,
    );
    let mail = invitation_mail("Acme Rockets");
    let letter = composer.compose(&mail).unwrap();
    transport.send(&letter).await.unwrap();

    let id = mail.id.as_uuid();
    assert_eq!(
        entries(&dir),
        [format!("{id}.eml")],
        "no temporary file is left"
    );
    let path = transport.path_of(mail.id);
    assert_eq!(
        std::fs::metadata(&path).unwrap().permissions().mode() & 0o777,
        0o600
    );
    assert_eq!(
        std::fs::metadata(&dir).unwrap().permissions().mode() & 0o777,
        0o700
    );

    let raw = std::fs::read_to_string(&path).unwrap();
    let message = Mail::parse(&raw);
    assert_eq!(message.header("To"), Some("bob@example.com"));
    assert_eq!(
        message.header("From"),
        Some("tenancy <no-reply@tenancy.example.com>")
    );
    assert_eq!(
        subject_as_read(&raw),
        "You are invited to join Acme Rockets"
    );
    assert_eq!(
        message.header("Date"),
        Some("Sun, 01 Mar 2026 12:30:00 +0000")
    );
    assert_eq!(
        message.header("Message-ID"),
        Some(format!("<{id}@tenancy.example.com>").as_str())
    );
    assert_eq!(message.header("MIME-Version"), Some("1.0"));
    assert_eq!(
        message.header("Content-Type"),
        Some("text/plain; charset=utf-8")
    );
    let token = message.invitation_token("https://tenancy.example.com/app");
    assert_eq!(token, SecretToken::from_bytes([42; 32]).expose());
    assert!(
        message.body.contains("ann@example.com invited you"),
        "{}",
        message.body
    );

    // Delivering the same message again (after a crash before it was marked
    // sent) replaces the file rather than adding a second one.
    transport.send(&letter).await.unwrap();
    assert_eq!(entries(&dir).len(), 1);
}

#[tokio::test]
async fn a_configured_sender_and_a_non_ascii_name_are_encoded() {
    let root = tempfile::tempdir().unwrap();
    let transport = MailDir::create(root.path()).unwrap();
    let composer = Composer::new(
        PublicUrl::parse("http://127.0.0.1:9").unwrap(),
        Some("Acme Team <team@acme.example>".parse().unwrap()),
    );
    let mail = invitation_mail("Café Zürich");
    transport
        .send(&composer.compose(&mail).unwrap())
        .await
        .unwrap();
    let raw = std::fs::read_to_string(transport.path_of(mail.id)).unwrap();
    assert!(
        raw.is_ascii(),
        "headers and body are 7-bit after encoding:\n{raw}"
    );
    let message = Mail::parse(&raw);
    assert_eq!(
        message.header("From"),
        Some("\"Acme Team\" <team@acme.example>")
    );
    assert!(
        message.header("Subject").unwrap().contains("=?utf-8?"),
        "{raw}"
    );
    assert_eq!(subject_as_read(&raw), "You are invited to join Café Zürich");
    assert!(message.body.contains("Café Zürich"), "{}", message.body);
    message.invitation_token("http://127.0.0.1:9");
}

#[tokio::test]
async fn a_folder_that_cannot_be_written_is_a_transient_failure() {
    let root = tempfile::tempdir().unwrap();
    let blocker = root.path().join("file");
    std::fs::write(&blocker, b"").unwrap();
    let transport = MailDir::create(root.path().join("outbox")).unwrap();
    std::fs::remove_dir(transport.dir()).unwrap();
    // A file where the folder should be: it cannot be made again.
    std::fs::rename(&blocker, transport.dir()).unwrap();
    let composer = Composer::new(PublicUrl::parse("http://localhost").unwrap(), None);
    let error = transport
        .send(&composer.compose(&invitation_mail("Acme")).unwrap())
        .await
        .unwrap_err();
    assert_eq!(error.kind, tenancy::mail::FailureKind::Transient);
    assert!(
        error.message.contains("cannot write to the mail folder"),
        "{error}"
    );
}

#[test]
fn the_server_writes_invitations_to_the_mail_folder() {
    let dir = tempfile::tempdir().unwrap();
    let mail_dir = dir.path().join("mail");
    let server = Server::start(
        dir.path(),
        &[
            "--mail-dir",
            mail_dir.to_str().unwrap(),
            "--public-url",
            "https://tenancy.example.com",
        ],
    );
    server.invite_to_new_organization("owner@example.com", "Acme Rockets", "Guest@Example.com");
    // The owner's verification email (opened above), and the invitation.
    let mut files = Vec::new();
    assert!(
        wait_until(Duration::from_secs(10), || {
            files = entries(&mail_dir);
            files.iter().filter(|f| f.ends_with(".eml")).count() == 2
        }),
        "no invitation email within 10 s; log:\n{}",
        server.log()
    );
    assert_eq!(files.len(), 2, "{files:?}");
    let invitation = files
        .iter()
        .find(|f| {
            std::fs::read_to_string(mail_dir.join(f))
                .is_ok_and(|raw| Mail::parse(&raw).header("To") == Some("guest@example.com"))
        })
        .unwrap();
    let stem = invitation.strip_suffix(".eml").unwrap();
    assert!(Uuid::parse_str(stem).is_ok(), "{stem}");
    let raw = std::fs::read_to_string(mail_dir.join(invitation)).unwrap();
    let message = Mail::parse(&raw);
    assert_eq!(message.header("To"), Some("guest@example.com"));
    assert_eq!(
        subject_as_read(&raw),
        "You are invited to join Acme Rockets"
    );
    assert_eq!(
        message.header("Message-ID"),
        Some(format!("<{stem}@tenancy.example.com>").as_str())
    );
    let token = message.invitation_token("https://tenancy.example.com");
    assert!(!server.log().contains(&token), "the token was logged");
    assert!(server.wait_for_log("email delivered", Duration::from_secs(5)));
}
