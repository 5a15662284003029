//! Where a webhook may send (R33): the addresses its URL's host resolves to,
//! all public ([`tenancy_core::webhook::is_public`]) unless private ones are
//! allowed (`--allow-private-webhooks`). Checked when a URL is set and again
//! by the delivery worker, which connects only to the addresses it checked,
//! so that a name that resolves elsewhere later (DNS rebinding) gains
//! nothing.

use std::net::SocketAddr;

use tenancy_core::webhook::{WebhookUrl, is_public};

/// Why a URL cannot be sent to.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DestinationError {
    #[error("its host does not resolve")]
    Unresolved,
    #[error("its host resolves to a non-public address ({0})")]
    NotPublic(std::net::IpAddr),
}

/// How long a host name may take to resolve.
pub const RESOLVE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(2);

/// The addresses `url` resolves to, every one of them public unless
/// `allow_private`.
pub async fn resolve(
    url: &WebhookUrl,
    allow_private: bool,
) -> Result<Vec<SocketAddr>, DestinationError> {
    resolve_host(url.host(), url.port(), allow_private).await
}

/// The addresses of `host`, every one of them public unless `allow_private`.
pub async fn resolve_host(
    host: &str,
    port: u16,
    allow_private: bool,
) -> Result<Vec<SocketAddr>, DestinationError> {
    let addresses: Vec<SocketAddr> = match host.parse::<std::net::IpAddr>() {
        Ok(ip) => vec![SocketAddr::new(ip, port)],
        // A resolver that does not answer is no address: bounded, so that
        // neither a request nor a delivery waits on it.
        Err(_) => tokio::time::timeout(RESOLVE_TIMEOUT, tokio::net::lookup_host((host, port)))
            .await
            .map_err(|_| DestinationError::Unresolved)?
            .map_err(|_| DestinationError::Unresolved)?
            .collect(),
    };
    if addresses.is_empty() {
        return Err(DestinationError::Unresolved);
    }
    if !allow_private && let Some(bad) = addresses.iter().find(|a| !is_public(a.ip())) {
        return Err(DestinationError::NotPublic(bad.ip()));
    }
    Ok(addresses)
}
