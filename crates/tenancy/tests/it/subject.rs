//! The Subject names the organization and is always encoded whole (API.md,
//! "The invitation email"): whatever a name holds, readers show exactly the
//! text, and nothing of it is read as an encoded word, a header or a line
//! break. Checked on written `.eml` files with Python's `email` package, an
//! independent parser, in both its modern and its legacy API.

use std::process::{Command, Stdio};

use chrono::{TimeZone, Utc};
use lettre::Message;
use lettre::message::SinglePart;
use serde_json::Value;
use tenancy::config::PublicUrl;
use tenancy::mail::{Composer, EncodedSubject, Letter, MailDir, Transport};
use tenancy_core::entity::{MailContent, OutgoingMail};
use tenancy_core::token::SecretToken;
use tenancy_core::value::{EmailAddress, OrganizationName};
use tenancy_core::{InvitationId, MailId};
use uuid::Uuid;

/// What Python's `email` package reads in each of a list of messages: the
/// Subject as the modern parser (`policy.default`) and the legacy
/// `decode_header` decode it, and the names of the headers.
const READ: &str = r#"
import email, email.policy, json, sys
from email.header import decode_header
def read(raw):
    raw = raw.encode("ascii")
    modern = email.message_from_bytes(raw, policy=email.policy.default)
    legacy = email.message_from_bytes(raw)
    parts = decode_header(legacy["Subject"])
    text = "".join(p.decode(c or "ascii") if isinstance(p, bytes) else p for p, c in parts)
    return {
        "modern": str(modern["Subject"]),
        "defects": [str(d) for d in modern["Subject"].defects],
        "legacy": text,
        "headers": list(modern.keys()),
    }
print(json.dumps([read(raw) for raw in json.load(sys.stdin)]))
"#;

/// How Python reads each message (all ASCII, as written).
fn python_reads(raws: &[&str]) -> Vec<Read> {
    let mut child = Command::new("python3")
        .args(["-c", READ])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("python3 runs");
    let input = serde_json::to_vec(raws).unwrap();
    std::io::Write::write_all(&mut child.stdin.take().unwrap(), &input).unwrap();
    let output = child.wait_with_output().unwrap();
    assert!(
        output.status.success(),
        "python3 could not read the messages"
    );
    let reads: Vec<Value> = serde_json::from_slice(&output.stdout).unwrap();
    reads
        .into_iter()
        .map(|read| {
            assert_eq!(read["defects"], serde_json::json!([]), "{read}");
            // Both APIs show the same text.
            assert_eq!(read["modern"], read["legacy"], "{read}");
            Read {
                subject: read["modern"].as_str().unwrap().to_owned(),
                headers: read["headers"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|h| h.as_str().unwrap().to_owned())
                    .collect(),
            }
        })
        .collect()
}

/// A message as Python reads it.
pub(crate) struct Read {
    /// The Subject as a mail reader shows it.
    pub(crate) subject: String,
    pub(crate) headers: Vec<String>,
}

/// The Subject of a message as a mail reader shows it.
pub(crate) fn subject_as_read(raw: &str) -> String {
    python_reads(&[raw]).remove(0).subject
}

/// The Subject's lines as written, folding included.
fn raw_subject(raw: &str) -> Vec<&str> {
    let mut lines = raw.split("\r\n").skip_while(|l| !l.starts_with("Subject:"));
    let first = lines.next().expect("a Subject header");
    std::iter::once(first)
        .chain(lines.take_while(|l| l.starts_with(' ')))
        .collect()
}

/// Checks what is written: ASCII base64 encoded words only, one per line of
/// at most 76 characters, and nothing of `text` in the clear.
fn check_written(raw: &str, text: &str) {
    let lines = raw_subject(raw);
    for (i, line) in lines.iter().enumerate() {
        assert!(
            line.len() <= 76,
            "a line of {} characters: {line}",
            line.len()
        );
        let word = if i == 0 {
            line.strip_prefix("Subject: ").unwrap()
        } else {
            line.strip_prefix(' ').unwrap()
        };
        let inner = word
            .strip_prefix("=?utf-8?b?")
            .and_then(|w| w.strip_suffix("?="))
            .unwrap_or_else(|| panic!("not one base64 encoded word: {word:?}"));
        assert!(
            inner
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"+/=".contains(&b)),
            "{inner}"
        );
    }
    let written = lines.join("\r\n");
    for piece in text.split([' ', '\r', '\n']).filter(|p| p.len() >= 3) {
        assert!(
            !written.contains(piece),
            "`{piece}` is in the clear: {written}"
        );
    }
}

fn invitation(organization: &str) -> OutgoingMail {
    OutgoingMail {
        id: MailId::from_uuid(Uuid::now_v7()),
        to: EmailAddress::parse("bob@example.com").unwrap(),
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

/// Writes a letter to a fresh mail folder and reads the file back.
async fn written(letter: &Letter) -> String {
    let root = tempfile::tempdir().unwrap();
    let transport = MailDir::create(root.path()).unwrap();
    transport.send(letter).await.unwrap();
    std::fs::read_to_string(transport.path_of(letter.id)).unwrap()
}

#[tokio::test]
async fn names_that_look_like_encoded_words_are_shown_as_typed() {
    let composer = Composer::new(PublicUrl::parse("https://t.example").unwrap(), None);
    let names = [
        "=?utf-8?q?evil?=".to_owned(),
        "Acme =?utf-8?b?QmNjOiB4QHk=?= Rockets".to_owned(),
        "=?iso-8859-1?q?=E9t=E9?= =?utf-8?q?a?==?utf-8?q?b?=".to_owned(),
        "Bcc: x@y".to_owned(),
        "Café Zürich 東京 🚀 ümlaut".to_owned(),
        "é".repeat(100),
        "Very long name ".repeat(7)[..100].trim().to_owned(),
        "x".repeat(100),
        format!("{}🚀", "x".repeat(38)),
    ];
    let mut raws = Vec::new();
    for name in &names {
        let letter = composer.compose(&invitation(name)).unwrap();
        raws.push(written(&letter).await);
    }
    let reads = python_reads(&raws.iter().map(String::as_str).collect::<Vec<_>>());
    for ((name, raw), read) in names.iter().zip(&raws).zip(reads) {
        assert!(raw.is_ascii(), "{raw}");
        let intended = format!("You are invited to join {name}");
        assert_eq!(read.subject, intended, "{raw}");
        check_written(raw, &intended);
        assert_eq!(
            read.headers,
            [
                "From",
                "To",
                "Subject",
                "Date",
                "Message-ID",
                "MIME-Version",
                "Content-Type",
                "Content-Transfer-Encoding"
            ],
            "{raw}"
        );
    }
}

/// Names cannot hold control characters, but the header does not rely on
/// it: line breaks in a subject are encoded like the rest, and add no
/// header.
#[tokio::test]
async fn line_breaks_in_a_subject_add_no_header() {
    let long = format!("{}\r\nBcc: x@y", "long ".repeat(400));
    let texts = [
        "Acme\r\nBcc: x@y",
        "\r\nBcc: x@y",
        "a\nb\rc",
        "Acme\r\n\r\nA body of my own",
        long.as_str(),
    ];
    let mut raws = Vec::new();
    for text in texts {
        let message = Message::builder()
            .from("tenancy <no-reply@t.example>".parse().unwrap())
            .to("bob@example.com".parse().unwrap())
            .header(EncodedSubject::new(text))
            .singlepart(SinglePart::plain("Hello".to_owned()))
            .unwrap();
        let letter = Letter {
            id: MailId::from_uuid(Uuid::now_v7()),
            message,
        };
        raws.push(written(&letter).await);
    }
    let reads = python_reads(&raws.iter().map(String::as_str).collect::<Vec<_>>());
    for ((text, raw), read) in texts.iter().zip(&raws).zip(reads) {
        assert_eq!(&read.subject, text, "{raw}");
        check_written(raw, text);
        assert!(!read.headers.iter().any(|h| h == "Bcc"), "{raw}");
        let (_, body) = raw.split_once("\r\n\r\n").unwrap();
        assert_eq!(body.trim_end(), "Hello", "the body is ours: {raw}");
    }
}
