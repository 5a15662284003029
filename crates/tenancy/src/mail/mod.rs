//! Delivering the mail outbox (D11): the core queues emails in the same
//! transaction as the invitation; the [`Worker`] takes what is due, formats
//! each as an RFC 5322 message ([`Composer`]) and hands it to a
//! [`Transport`]: `.eml` files in a folder ([`MailDir`]) or plain SMTP
//! ([`Smtp`]).

mod dir;
mod smtp;
mod worker;

use std::fmt;
use std::str::FromStr;
use std::time::SystemTime;

use async_trait::async_trait;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use lettre::Message;
use lettre::message::header::{Header, HeaderName, HeaderValue};
use lettre::message::{Mailbox, SinglePart};
use tenancy_core::MailId;
use tenancy_core::entity::OutgoingMail;

pub use self::dir::MailDir;
pub use self::smtp::Smtp;
pub use self::worker::{BATCH, LEASE, Pass, Worker};
use crate::config::PublicUrl;

/// A formatted message, ready for a transport.
#[derive(Debug, Clone)]
pub struct Letter {
    /// The outbox row it comes from; it names the `.eml` file.
    pub id: MailId,
    pub message: Message,
}

/// Why a message was not delivered.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct TransportError {
    pub kind: FailureKind,
    pub message: String,
}

/// Whether trying the next message now makes sense.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailureKind {
    /// The transport itself is failing (no connection, a full disk, a 4xx
    /// reply): the next message would fail too, so the worker backs off.
    Transient,
    /// This one message was refused (an address the server rejects): the
    /// others may still go.
    Permanent,
}

impl TransportError {
    pub fn transient(message: impl Into<String>) -> Self {
        Self {
            kind: FailureKind::Transient,
            message: message.into(),
        }
    }

    pub fn permanent(message: impl Into<String>) -> Self {
        Self {
            kind: FailureKind::Permanent,
            message: message.into(),
        }
    }
}

/// Where messages go.
#[async_trait]
pub trait Transport: Send + Sync + fmt::Debug {
    /// Delivers one message. Delivering the same letter twice must be safe
    /// to retry: the worker may do so after a crash between delivery and
    /// recording it.
    async fn send(&self, letter: &Letter) -> Result<(), TransportError>;
}

/// Formats outbox emails as RFC 5322 messages.
#[derive(Debug, Clone)]
pub struct Composer {
    public_url: PublicUrl,
    from: Mailbox,
}

impl Composer {
    /// Links start with `public_url`; messages come from `from`, or from
    /// `tenancy <no-reply@HOST>` with the public URL's host.
    pub fn new(public_url: PublicUrl, from: Option<Mailbox>) -> Self {
        let from = from.unwrap_or_else(|| default_from(&public_url));
        Self { public_url, from }
    }

    /// The sender of every message.
    pub fn from(&self) -> &Mailbox {
        &self.from
    }

    /// The message of an outbox email: `From`, `To`, `Subject` (always
    /// encoded, see [`EncodedSubject`]), `Date` (when
    /// it was queued), a `Message-ID` made of the mail's id (so a retried
    /// delivery is recognizably the same message), and a plain-text UTF-8
    /// body.
    pub fn compose(&self, mail: &OutgoingMail) -> Result<Letter, TransportError> {
        let rendered = mail.render(self.public_url.as_str());
        let to = Mailbox::from_str(rendered.to.as_str()).map_err(|e| {
            TransportError::permanent(format!("the recipient is not a usable address: {e}"))
        })?;
        let message = Message::builder()
            .from(self.from.clone())
            .to(to)
            .header(EncodedSubject::new(rendered.subject))
            .date(SystemTime::from(mail.created_at))
            .message_id(Some(format!(
                "<{}@{}>",
                mail.id.as_uuid(),
                self.from.email.domain()
            )))
            .singlepart(SinglePart::plain(rendered.text))
            .map_err(|e| TransportError::permanent(format!("cannot format the message: {e}")))?;
        Ok(Letter {
            id: mail.id,
            message,
        })
    }
}

/// The `Subject` header, always written whole as RFC 2047 encoded words
/// (UTF-8, base64), however plain its text. The subject names the
/// organization, whose name is anyone's input: left as it is, a name such as
/// `=?utf-8?q?...?=` would be decoded by mail readers as an encoded word of
/// its own. Encoded, nothing of it is read as an encoded word, a header or a
/// line break, and readers show the text exactly.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EncodedSubject(String);

/// The most bytes of text in one encoded word: 39 bytes are 52 base64
/// characters, a word of 64, so that even the first line (`Subject: ` and a
/// word) stays within RFC 2047's 76 characters.
const MAX_WORD_BYTES: usize = 39;

const SUBJECT: HeaderName = HeaderName::new_from_ascii_str("Subject");

impl EncodedSubject {
    pub fn new(text: impl Into<String>) -> Self {
        Self(text.into())
    }

    /// The text, as readers show it.
    pub fn text(&self) -> &str {
        &self.0
    }

    /// The header's value as written: one encoded word per line, folded with
    /// CRLF and a space. Words split between characters, never inside one
    /// (RFC 2047 wants whole characters in each).
    pub fn encoded(&self) -> String {
        let text = self.0.as_str();
        let mut words = Vec::new();
        let mut start = 0;
        for (at, c) in text.char_indices() {
            if at > start && at + c.len_utf8() - start > MAX_WORD_BYTES {
                words.push(&text[start..at]);
                start = at;
            }
        }
        if start < text.len() {
            words.push(&text[start..]);
        }
        words
            .iter()
            .map(|word| format!("=?utf-8?b?{}?=", BASE64.encode(word)))
            .collect::<Vec<_>>()
            .join("\r\n ")
    }
}

impl Header for EncodedSubject {
    fn name() -> HeaderName {
        SUBJECT
    }

    fn parse(s: &str) -> Result<Self, Box<dyn std::error::Error + Send + Sync>> {
        Ok(Self::new(s))
    }

    fn display(&self) -> HeaderValue {
        // Pre-encoded, so that lettre leaves plain ASCII words unencoded no
        // more: the value is base64 and folding whitespace only.
        HeaderValue::dangerous_new_pre_encoded(SUBJECT, self.0.clone(), self.encoded())
    }
}

fn default_from(public_url: &PublicUrl) -> Mailbox {
    // An IP address is no mail domain; `localhost` is as good for the local
    // set-ups that link to one.
    let host = public_url.host();
    let domain = if host.parse::<std::net::IpAddr>().is_ok() {
        "localhost"
    } else {
        host
    };
    let address = lettre::Address::new("no-reply", domain)
        .unwrap_or_else(|_| lettre::Address::new_dangerous("no-reply", "localhost"));
    Mailbox::new(Some("tenancy".to_owned()), address)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_sender_uses_the_public_host() {
        let from = default_from(&PublicUrl::parse("https://app.example.com/x").unwrap());
        assert_eq!(from.to_string(), "tenancy <no-reply@app.example.com>");
        let from = default_from(&PublicUrl::parse("http://127.0.0.1:8080").unwrap());
        assert_eq!(from.email.domain(), "localhost");
    }

    #[test]
    fn the_subject_is_base64_words_of_whole_characters_in_short_lines() {
        assert_eq!(EncodedSubject::new("Hi").encoded(), "=?utf-8?b?SGk=?=");
        assert_eq!(EncodedSubject::new("").encoded(), "");
        // 13 three-byte characters fill a word; the 14th starts the next.
        let text = "€".repeat(14);
        let encoded = EncodedSubject::new(text.as_str()).encoded();
        let lines: Vec<&str> = encoded.split("\r\n ").collect();
        assert_eq!(lines.len(), 2, "{encoded}");
        let decoded: Vec<String> = lines
            .iter()
            .map(|word| {
                let inner = word
                    .strip_prefix("=?utf-8?b?")
                    .and_then(|w| w.strip_suffix("?="))
                    .unwrap();
                String::from_utf8(BASE64.decode(inner).unwrap()).unwrap()
            })
            .collect();
        assert_eq!(decoded, ["€".repeat(13), "€".to_owned()]);
        let long = EncodedSubject::new("x".repeat(1000)).encoded();
        assert!(
            long.split("\r\n ")
                .all(|word| "Subject: ".len() + word.len() <= 76)
        );
        assert!(long.is_ascii());
    }
}
