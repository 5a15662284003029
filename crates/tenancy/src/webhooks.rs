//! The webhook delivery worker (R33): a loop beside the mail worker that
//! claims due deliveries with a lease, sends each as a signed `POST`
//! (Standard Webhooks), and records the answer.
//!
//! Delivery is at least once: a delivery is recorded after its answer, so a
//! crash in between sends it again (with the same `webhook-id`) once the
//! lease ends, here or on another instance. Only 2xx within 10 s is a
//! success; anything else is retried on API.md's schedule
//! ([`tenancy_core::webhook::RETRY_SCHEDULE`]) and then `failed`.
//!
//! Outbound safety: the URL's host is resolved and every address checked
//! public before each attempt, and the client connects only to addresses
//! its own resolver checked the same way, so a name that resolves to a
//! private address later (DNS rebinding) reaches nothing; no redirect is
//! followed; the answer's body is read to at most [`BODY_CAP`] bytes.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use chrono::{DateTime, Utc};
use futures::StreamExt as _;
use http_body_util::{BodyExt as _, Full};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::connect::dns::Name;
use hyper_util::rt::TokioExecutor;
use tenancy_core::ports::{Clock, IdGenerator, WorkerId};
use tenancy_core::webhook::{DeliveryQueue, QueuedDelivery, signature_header};
use tenancy_store::system::UuidV7;
use tokio::sync::watch;

/// How many due deliveries one pass takes.
pub const BATCH: usize = 100;

/// How many deliveries are in flight at once.
const CONCURRENCY: usize = 32;

/// How long an answer may take.
pub const TIMEOUT: Duration = Duration::from_secs(10);

/// How much of an answer's body is read.
pub const BODY_CAP: usize = 4096;

/// How long a claim lasts: longer than a send may take ([`TIMEOUT`]), so
/// that a live worker never loses what it sends.
pub const LEASE: Duration = Duration::from_secs(30);

/// How often the queue is looked at when nothing was due.
const POLL: Duration = Duration::from_millis(250);

/// The pause after the queue itself could not be read.
const STORE_BACKOFF: Duration = Duration::from_secs(5);

/// The connector's resolver: the host's addresses, every one of them
/// public unless private ones are allowed.
#[derive(Clone, Copy)]
struct CheckedResolver {
    allow_private: bool,
}

type Resolved = std::vec::IntoIter<SocketAddr>;
type Resolving =
    std::pin::Pin<Box<dyn std::future::Future<Output = Result<Resolved, std::io::Error>> + Send>>;

impl tower_service::Service<Name> for CheckedResolver {
    type Response = Resolved;
    type Error = std::io::Error;
    type Future = Resolving;

    fn poll_ready(
        &mut self,
        _: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Result<(), Self::Error>> {
        std::task::Poll::Ready(Ok(()))
    }

    fn call(&mut self, name: Name) -> Self::Future {
        let allow_private = self.allow_private;
        Box::pin(async move {
            tenancy_http::destination::resolve_host(name.as_str(), 0, allow_private)
                .await
                .map(Vec::into_iter)
                .map_err(std::io::Error::other)
        })
    }
}

type Https = hyper_rustls::HttpsConnector<HttpConnector<CheckedResolver>>;
type HttpClient = Client<Https, Full<Bytes>>;

/// The HTTP client of deliveries: https with the system's roots (http too
/// when private addresses are allowed), connecting only to checked
/// addresses, following no redirect (hyper's client never does).
fn client(allow_private: bool) -> Result<HttpClient, std::io::Error> {
    #[expect(
        deprecated,
        reason = "ring builds with the C compiler alone; aws-lc-rs, the provider with post-quantum key exchange, needs cmake"
    )]
    let provider = rustls::crypto::ring::default_provider();
    let tls = rustls::ClientConfig::builder_with_provider(Arc::new(provider))
        .with_safe_default_protocol_versions()
        .map_err(std::io::Error::other)?;
    // Without the system's roots (no CA bundle installed) the server still
    // starts; every https delivery then fails, saying why.
    let tls = match hyper_rustls::ConfigBuilderExt::with_native_roots(tls.clone()) {
        Ok(with_roots) => with_roots.with_no_client_auth(),
        Err(error) => {
            tracing::warn!(%error, "no system root certificates: https webhook deliveries will fail");
            tls.with_root_certificates(rustls::RootCertStore::empty())
                .with_no_client_auth()
        }
    };
    let mut http = HttpConnector::new_with_resolver(CheckedResolver { allow_private });
    http.enforce_http(false);
    http.set_connect_timeout(Some(TIMEOUT));
    let https = hyper_rustls::HttpsConnectorBuilder::new()
        .with_tls_config(tls)
        .https_or_http()
        .enable_http1()
        .wrap_connector(http);
    Ok(Client::builder(TokioExecutor::new()).build(https))
}

/// What one attempt ended with.
#[derive(Debug)]
enum Outcome {
    Delivered(u16),
    Failed { status: Option<u16>, error: String },
}

/// Sends the queue's deliveries.
pub struct DeliveryWorker<Q> {
    queue: Q,
    client: HttpClient,
    clock: Arc<dyn Clock>,
    id: WorkerId,
    allow_private: bool,
    /// Divides the schedule and the lease (tests only; 1 otherwise).
    time_scale: u32,
}

impl<Q> std::fmt::Debug for DeliveryWorker<Q> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DeliveryWorker")
            .field("allow_private", &self.allow_private)
            .field("time_scale", &self.time_scale)
            .finish_non_exhaustive()
    }
}

impl<Q: DeliveryQueue> DeliveryWorker<Q> {
    /// A worker under a fresh id.
    pub fn new(
        queue: Q,
        clock: Arc<dyn Clock>,
        allow_private: bool,
        time_scale: u32,
    ) -> Result<Self, std::io::Error> {
        Ok(Self {
            queue,
            client: client(allow_private)?,
            clock,
            id: WorkerId::from_uuid(UuidV7.new_id()),
            allow_private,
            time_scale: time_scale.max(1),
        })
    }

    fn scaled(&self, wait: chrono::Duration) -> chrono::Duration {
        wait / i32::try_from(self.time_scale).unwrap_or(i32::MAX)
    }

    /// Delivers until `stop` turns true.
    pub async fn run(self, mut stop: watch::Receiver<bool>) {
        tracing::debug!(worker = ?self.id, "webhook delivery worker started");
        while !*stop.borrow() {
            let wait = match self.pass().await {
                Ok(sent) if sent >= BATCH => Duration::ZERO,
                Ok(_) => POLL,
                Err(error) => {
                    tracing::warn!(%error, "cannot read the webhook deliveries; trying again later");
                    STORE_BACKOFF
                }
            };
            tokio::select! {
                changed = stop.changed() => if changed.is_err() { break },
                () = tokio::time::sleep(wait) => {}
            }
        }
        tracing::debug!("webhook delivery worker stopped");
    }

    /// Claims what is due and sends it; returns how many were tried.
    pub async fn pass(&self) -> Result<usize, tenancy_core::StoreError> {
        let now = self.clock.now();
        let lease =
            chrono::Duration::from_std(LEASE).unwrap_or_else(|_| chrono::Duration::seconds(30));
        let claimed = self
            .queue
            .claim_deliveries(
                self.id,
                now,
                now + self.scaled(lease).max(chrono::Duration::seconds(11)),
                BATCH,
            )
            .await?;
        let tried = claimed.len();
        let results: Vec<Result<(), tenancy_core::StoreError>> = futures::stream::iter(claimed)
            .map(|queued| self.deliver(queued))
            .buffer_unordered(CONCURRENCY)
            .collect()
            .await;
        for result in results {
            result?;
        }
        Ok(tried)
    }

    async fn deliver(&self, queued: QueuedDelivery) -> Result<(), tenancy_core::StoreError> {
        let delivery = &queued.delivery;
        let outcome = self.send(&queued).await;
        let at = self.clock.now();
        match outcome {
            Outcome::Delivered(status) => {
                tracing::debug!(delivery = %delivery.id, status, "webhook delivered");
                self.queue.delivered(self.id, delivery.id, status, at).await
            }
            Outcome::Failed { status, error } => {
                let next: Option<DateTime<Utc>> = delivery
                    .retry_after_failure(at)
                    .map(|due| at + self.scaled(due - at));
                tracing::info!(
                    delivery = %delivery.id,
                    status = ?status,
                    %error,
                    next_attempt_at = ?next,
                    "webhook delivery failed"
                );
                self.queue
                    .delivery_failed(self.id, delivery.id, status, &error, next)
                    .await
            }
        }
    }

    async fn send(&self, queued: &QueuedDelivery) -> Outcome {
        let failed = |error: String| Outcome::Failed {
            status: None,
            error,
        };
        // The scheme again, as when the URL was set: a URL stored under
        // `--allow-private-webhooks` goes nowhere once it is lifted.
        if let Err(error) =
            tenancy_core::webhook::WebhookUrl::parse(queued.url.as_str(), self.allow_private)
        {
            return failed(format!("destination refused: the URL {error}"));
        }
        // Checked before each attempt, for IP literals, which the client's
        // resolver never sees, and names alike.
        if let Err(error) =
            tenancy_http::destination::resolve(&queued.url, self.allow_private).await
        {
            return failed(format!("destination refused: {error}"));
        }
        let message_id = queued.delivery.event_id.to_string();
        let timestamp = self.clock.now().timestamp();
        let secrets: Vec<&tenancy_core::webhook::WebhookSecret> = queued.secrets.iter().collect();
        let signature = signature_header(&secrets, &message_id, timestamp, queued.body.as_bytes());
        let request = hyper::Request::post(queued.url.as_str())
            .header("content-type", "application/json")
            .header(
                "user-agent",
                concat!("tenancy-webhooks/", env!("CARGO_PKG_VERSION")),
            )
            .header("webhook-id", &message_id)
            .header("webhook-timestamp", timestamp.to_string())
            .header("webhook-signature", signature)
            .body(Full::new(Bytes::from(queued.body.clone())));
        let request = match request {
            Ok(request) => request,
            Err(error) => return failed(format!("cannot build the request: {error}")),
        };
        let exchange = async {
            let response = self
                .client
                .request(request)
                .await
                .map_err(|e| describe(&e))?;
            let status = response.status();
            // The body is read to a small cap, and only to let the
            // connection be reused; nothing of it is kept.
            let mut body = response.into_body();
            let mut read = 0;
            while read < BODY_CAP {
                match body.frame().await {
                    Some(Ok(frame)) => read += frame.data_ref().map_or(0, Bytes::len),
                    Some(Err(_)) | None => break,
                }
            }
            Ok::<_, String>(status)
        };
        match tokio::time::timeout(TIMEOUT, exchange).await {
            Err(_) => failed("timed out".to_owned()),
            Ok(Err(error)) => failed(error),
            Ok(Ok(status)) if status.is_success() => Outcome::Delivered(status.as_u16()),
            Ok(Ok(status)) => Outcome::Failed {
                status: Some(status.as_u16()),
                error: format!("answered {}", status.as_u16()),
            },
        }
    }
}

/// A client error in a few words, with its deepest cause.
fn describe(error: &hyper_util::client::legacy::Error) -> String {
    let kind = if error.is_connect() {
        "could not connect"
    } else {
        "request failed"
    };
    let mut source = std::error::Error::source(error);
    let mut detail = String::new();
    while let Some(inner) = source {
        detail = inner.to_string();
        source = inner.source();
    }
    if detail.is_empty() {
        kind.to_owned()
    } else {
        format!("{kind}: {detail}")
    }
}
