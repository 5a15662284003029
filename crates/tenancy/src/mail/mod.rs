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
use lettre::Message;
use lettre::message::{Mailbox, SinglePart};
use tenancy_core::MailId;
use tenancy_core::entity::OutgoingMail;

pub use self::dir::MailDir;
pub use self::smtp::Smtp;
pub use self::worker::{BATCH, Pass, Worker};
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

    /// The message of an outbox email: `From`, `To`, `Subject`, `Date` (when
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
            .subject(rendered.subject)
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
}
