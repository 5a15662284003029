//! The SMTP transport: plain SMTP to a relay, without TLS or
//! authentication.

use std::fmt;
use std::time::Duration;

use async_trait::async_trait;
use lettre::{AsyncSmtpTransport, AsyncTransport, Tokio1Executor};

use super::{Letter, Transport, TransportError};
use crate::config::SmtpUrl;

/// How long one SMTP conversation may take before it counts as failed.
const TIMEOUT: Duration = Duration::from_secs(30);

/// Sends each message in its own SMTP conversation with a relay on the
/// local machine or network (no TLS, no authentication: the relay is
/// trusted and forwards onwards). The envelope comes from the `From` and
/// `To` headers.
pub struct Smtp {
    url: SmtpUrl,
    transport: AsyncSmtpTransport<Tokio1Executor>,
}

impl Smtp {
    /// A transport to `url`. Nothing is connected until the first message.
    pub fn new(url: SmtpUrl) -> Self {
        let transport = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(url.host.clone())
            .port(url.port)
            .timeout(Some(TIMEOUT))
            .build();
        Self { url, transport }
    }
}

impl fmt::Debug for Smtp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Smtp")
            .field("host", &self.url.host)
            .field("port", &self.url.port)
            .finish_non_exhaustive()
    }
}

#[async_trait]
impl Transport for Smtp {
    async fn send(&self, letter: &Letter) -> Result<(), TransportError> {
        match self.transport.send(letter.message.clone()).await {
            Ok(_) => Ok(()),
            Err(e) => {
                let message = format!(
                    "SMTP delivery to {}:{} failed: {e}",
                    self.url.host, self.url.port
                );
                // A 5xx reply refuses this message; anything else (no
                // connection, a timeout, a 4xx reply) is the relay's state.
                Err(if e.is_permanent() {
                    TransportError::permanent(message)
                } else {
                    TransportError::transient(message)
                })
            }
        }
    }
}
