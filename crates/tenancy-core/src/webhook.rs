//! Webhooks (R33): an organization's endpoints that receive the events of
//! its audit log, signed as Standard Webhooks says, at least once, with
//! retries on a fixed schedule.
//!
//! Pure parts only: what a webhook subscribes to ([`EventFilter`]), what
//! URL it may have ([`WebhookUrl`], and [`is_public`] for the addresses it
//! resolves to, which the caller resolves), its secret and the signature of
//! a delivery, and the schedule of retries.

use std::net::IpAddr;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use chrono::{DateTime, Duration, Utc};
use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

use crate::audit::Action;
use crate::id::{AuditEventId, DeliveryId, OrganizationId, WebhookId};
use crate::value::RoleDescription;

/// The most event filters a webhook holds.
pub const EVENTS_MAX: usize = 50;

/// The longest URL a webhook may have.
pub const URL_MAX_LEN: usize = 2048;

/// What a webhook subscribes to: action names of the audit log, prefixes
/// ending in `.*` (`member.*`), or `*`; at least one, without repeats, in
/// the order given.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct EventFilter(Vec<String>);

/// Why a list of events is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EventFilterError {
    #[error("at least one event is needed")]
    Empty,
    #[error("at most {EVENTS_MAX} events")]
    TooMany,
    #[error("{0:?} is not an action of the audit log, a prefix such as `member.*`, or `*`")]
    Unknown(String),
}

impl EventFilter {
    /// The filter of `events`; duplicates are dropped.
    pub fn parse<S: AsRef<str>>(events: &[S]) -> Result<Self, EventFilterError> {
        let mut kept: Vec<String> = Vec::new();
        for event in events {
            let event = event.as_ref();
            let known = event == "*"
                || Action::parse(event).is_ok()
                || event.strip_suffix(".*").is_some_and(|prefix| {
                    Action::ALL
                        .iter()
                        .any(|action| action.name().split('.').next() == Some(prefix))
                });
            if !known {
                return Err(EventFilterError::Unknown(event.to_owned()));
            }
            if !kept.iter().any(|k| k == event) {
                kept.push(event.to_owned());
            }
        }
        if kept.is_empty() {
            return Err(EventFilterError::Empty);
        }
        if kept.len() > EVENTS_MAX {
            return Err(EventFilterError::TooMany);
        }
        Ok(Self(kept))
    }

    /// Whether an event of `action` is delivered.
    pub fn matches(&self, action: Action) -> bool {
        let name = action.name();
        self.0.iter().any(|filter| {
            filter == "*"
                || filter == name
                || filter
                    .strip_suffix('*')
                    .is_some_and(|prefix| name.starts_with(prefix))
        })
    }

    /// The filters, as given.
    pub fn as_slice(&self) -> &[String] {
        &self.0
    }
}

/// A webhook's URL: absolute, `https` (or `http` when private addresses are
/// allowed, for tests and private networks), with a host, without user
/// information or a fragment. Where its host resolves to is checked apart
/// ([`is_public`]), when it is set and again at each delivery.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct WebhookUrl(String);

/// Why a URL is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UrlError {
    #[error("must be an absolute URL of at most {URL_MAX_LEN} characters")]
    Malformed,
    #[error("must use https")]
    NotHttps,
    #[error("must not carry a user name, a password or a fragment")]
    Credentials,
}

impl WebhookUrl {
    /// Checks a URL's form. `allow_http` takes `http` too
    /// (`--allow-private-webhooks`).
    pub fn parse(input: &str, allow_http: bool) -> Result<Self, UrlError> {
        if input.len() > URL_MAX_LEN || input.trim() != input {
            return Err(UrlError::Malformed);
        }
        let (scheme, rest) = input.split_once("://").ok_or(UrlError::Malformed)?;
        let scheme_ok = scheme.eq_ignore_ascii_case("https")
            || (allow_http && scheme.eq_ignore_ascii_case("http"));
        if !scheme_ok {
            return Err(UrlError::NotHttps);
        }
        if rest.contains('#') {
            return Err(UrlError::Credentials);
        }
        let authority = rest.split(['/', '?']).next().unwrap_or_default();
        if authority.contains('@') {
            return Err(UrlError::Credentials);
        }
        let host = host_of(authority).ok_or(UrlError::Malformed)?;
        if host.is_empty() || input.chars().any(|c| c.is_control() || c.is_whitespace()) {
            return Err(UrlError::Malformed);
        }
        Ok(Self(input.to_owned()))
    }

    /// The URL.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The authority: what is between `://` and the path or query.
    fn authority(&self) -> &str {
        let rest = self.0.split_once("://").map_or("", |(_, rest)| rest);
        rest.split(['/', '?']).next().unwrap_or_default()
    }

    /// The host, without brackets for an IPv6 literal.
    pub fn host(&self) -> &str {
        host_of(self.authority()).unwrap_or_default()
    }

    /// The port: the URL's own, or its scheme's (443, or 80 for `http`).
    pub fn port(&self) -> u16 {
        let authority = self.authority();
        let after_host = authority
            .rsplit_once(']')
            .map_or(authority, |(_, after)| after);
        after_host
            .rsplit_once(':')
            .and_then(|(_, port)| port.parse().ok())
            .unwrap_or_else(|| {
                if self
                    .0
                    .get(..6)
                    .is_some_and(|s| s.eq_ignore_ascii_case("https:"))
                {
                    443
                } else {
                    80
                }
            })
    }
}

/// The host of an authority (`host`, `host:port`, `[v6]:port`).
fn host_of(authority: &str) -> Option<&str> {
    if let Some(v6) = authority.strip_prefix('[') {
        let (host, after) = v6.split_once(']')?;
        return (after.is_empty() || after.strip_prefix(':').is_some_and(is_port)).then_some(host);
    }
    match authority.rsplit_once(':') {
        Some((host, port)) if is_port(port) => Some(host),
        Some(_) => None,
        None => Some(authority),
    }
}

fn is_port(port: &str) -> bool {
    !port.is_empty()
        && port.len() <= 5
        && port.bytes().all(|b| b.is_ascii_digit())
        && port.parse::<u16>().is_ok()
}

/// Whether deliveries may go to `address`: a globally routable one, not
/// loopback, private (RFC 1918, unique local), link-local, shared (CGNAT),
/// multicast, documentation, benchmarking, reserved or unspecified; an
/// IPv4-mapped or translated IPv6 address is judged as its IPv4 address.
pub fn is_public(address: IpAddr) -> bool {
    match address {
        IpAddr::V4(v4) => {
            let [a, b, c, _] = v4.octets();
            !(v4.is_unspecified()
                || v4.is_loopback()
                || v4.is_private()
                || v4.is_link_local()
                || v4.is_broadcast()
                || v4.is_documentation()
                || v4.is_multicast()
                || a == 0
                || (a == 100 && (64..128).contains(&b)) // shared, RFC 6598
                || (a == 192 && b == 0 && c == 0) // IETF protocol assignments
                || (a == 192 && b == 88 && c == 99) // 6to4 relay
                || (a == 198 && (b == 18 || b == 19)) // benchmarking
                || a >= 240) // reserved
        }
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return is_public(IpAddr::V4(v4));
            }
            let segments = v6.segments();
            // 64:ff9b::/96 translates IPv4 addresses.
            if segments[..6] == [0x64, 0xff9b, 0, 0, 0, 0] {
                let [.., hi, lo] = segments;
                let v4 = std::net::Ipv4Addr::from((u32::from(hi) << 16) | u32::from(lo));
                return is_public(IpAddr::V4(v4));
            }
            !(v6.is_unspecified()
                || v6.is_loopback()
                || v6.is_multicast()
                || (segments[0] & 0xfe00) == 0xfc00 // unique local
                || (segments[0] & 0xffc0) == 0xfe80 // link-local
                || (segments[0] & 0xffc0) == 0xfec0 // site-local (deprecated)
                || (segments[0] == 0x2001 && segments[1] == 0x0db8) // documentation
                || (segments[0] == 0x2001 && segments[1] < 0x0200) // IETF special purpose
                || segments[0] == 0x0100 && segments[1..4] == [0, 0, 0]) // discard
        }
    }
}

/// A webhook's signing secret: 32 random bytes, shown once as `whsec_` and
/// their base64. `Debug` shows nothing of it.
#[derive(Clone, PartialEq, Eq)]
pub struct WebhookSecret(Zeroizing<Vec<u8>>);

impl std::fmt::Debug for WebhookSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("WebhookSecret(..)")
    }
}

/// The prefix of a secret as shown.
pub const SECRET_PREFIX: &str = "whsec_";

impl WebhookSecret {
    /// A secret of the given random bytes.
    pub fn from_bytes(bytes: [u8; 32]) -> Self {
        Self(Zeroizing::new(bytes.to_vec()))
    }

    /// A secret as the store keeps it (its bytes, unsealed).
    pub fn from_stored(bytes: Vec<u8>) -> Self {
        Self(Zeroizing::new(bytes))
    }

    /// A secret as shown (`whsec_` and base64), as a receiver holds it.
    pub fn parse(text: &str) -> Option<Self> {
        let encoded = text.strip_prefix(SECRET_PREFIX)?;
        STANDARD
            .decode(encoded)
            .ok()
            .map(|bytes| Self(Zeroizing::new(bytes)))
    }

    /// Its bytes, to seal or to key the signature.
    pub fn bytes(&self) -> &[u8] {
        &self.0
    }

    /// The secret as shown, once: `whsec_` and base64.
    pub fn reveal(&self) -> Zeroizing<String> {
        Zeroizing::new(format!("{SECRET_PREFIX}{}", STANDARD.encode(&*self.0)))
    }
}

/// How long the previous secret keeps signing after a rotation.
pub const ROTATION_OVERLAP: Duration = Duration::hours(24);

/// The Standard Webhooks signature of a delivery with one secret: `v1,` and
/// the base64 of HMAC-SHA256 keyed with the secret's bytes over
/// `<id>.<timestamp>.<body>`.
pub fn signature(secret: &WebhookSecret, id: &str, timestamp: i64, body: &[u8]) -> String {
    let mut message = Vec::with_capacity(id.len() + body.len() + 24);
    message.extend_from_slice(id.as_bytes());
    message.push(b'.');
    message.extend_from_slice(timestamp.to_string().as_bytes());
    message.push(b'.');
    message.extend_from_slice(body);
    format!(
        "v1,{}",
        STANDARD.encode(hmac_sha256(secret.bytes(), &message))
    )
}

/// The `webhook-signature` header: one signature per live secret, space
/// separated (two during a rotation's overlap).
pub fn signature_header(
    secrets: &[&WebhookSecret],
    id: &str,
    timestamp: i64,
    body: &[u8],
) -> String {
    secrets
        .iter()
        .map(|secret| signature(secret, id, timestamp, body))
        .collect::<Vec<_>>()
        .join(" ")
}

/// Whether `header` holds a valid signature of the delivery by `secret`
/// (for receivers and tests): compared in constant time.
pub fn verify_signature(
    secret: &WebhookSecret,
    id: &str,
    timestamp: i64,
    body: &[u8],
    header: &str,
) -> bool {
    let expected = signature(secret, id, timestamp, body);
    header
        .split(' ')
        .any(|given| constant_time_eq(given.as_bytes(), expected.as_bytes()))
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// HMAC (RFC 2104) over SHA-256.
fn hmac_sha256(key: &[u8], message: &[u8]) -> [u8; 32] {
    const BLOCK: usize = 64;
    let mut block = [0u8; BLOCK];
    if key.len() > BLOCK {
        block[..32].copy_from_slice(&Sha256::digest(key));
    } else {
        block[..key.len()].copy_from_slice(key);
    }
    let mut inner = Sha256::new();
    inner.update(block.map(|b| b ^ 0x36));
    inner.update(message);
    let inner = inner.finalize();
    let mut outer = Sha256::new();
    outer.update(block.map(|b| b ^ 0x5c));
    outer.update(inner);
    outer.finalize().into()
}

/// The waits before each retry of a failed delivery (API.md); after the
/// last one fails, the delivery is `failed`.
pub const RETRY_SCHEDULE: [Duration; 7] = [
    Duration::seconds(5),
    Duration::minutes(5),
    Duration::minutes(30),
    Duration::hours(2),
    Duration::hours(5),
    Duration::hours(10),
    Duration::hours(10),
];

/// When a delivery that failed its `attempts`-th attempt (counting from 1
/// since it was queued or retried by hand) is tried again; `None` once the
/// schedule is spent.
pub fn next_attempt(attempts: u32, failed_at: DateTime<Utc>) -> Option<DateTime<Utc>> {
    let index = usize::try_from(attempts).ok()?.checked_sub(1)?;
    RETRY_SCHEDULE.get(index).map(|wait| failed_at + *wait)
}

/// A webhook of an organization, without its secret.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct Webhook {
    pub id: WebhookId,
    pub organization_id: OrganizationId,
    pub url: WebhookUrl,
    pub events: EventFilter,
    pub description: RoleDescription,
    pub enabled: bool,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// Where a delivery is.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum DeliveryStatus {
    Pending,
    Delivered,
    Failed,
}

impl DeliveryStatus {
    /// The status's name in the API.
    pub const fn name(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Delivered => "delivered",
            Self::Failed => "failed",
        }
    }
}

/// A delivery a worker has claimed, with what it needs to send it: the
/// webhook's URL, the body, and the secrets that sign it.
#[derive(Clone, Debug)]
pub struct QueuedDelivery {
    pub delivery: Delivery,
    pub url: WebhookUrl,
    pub body: String,
    /// The current secret first, then the previous one during a rotation's
    /// overlap.
    pub secrets: Vec<WebhookSecret>,
}

/// The delivery side of the webhooks' outbox: a worker claims due
/// deliveries with a lease, as the mail outbox's workers do, and records
/// each attempt. Only the worker that holds a delivery records it.
#[async_trait::async_trait]
pub trait DeliveryQueue: Send + Sync {
    /// Takes up to `limit` deliveries due at `now` for `worker` until
    /// `lease_until`, oldest first.
    async fn claim_deliveries(
        &self,
        worker: crate::ports::WorkerId,
        now: DateTime<Utc>,
        lease_until: DateTime<Utc>,
        limit: usize,
    ) -> Result<Vec<QueuedDelivery>, crate::error::StoreError>;
    /// Records a 2xx answer.
    async fn delivered(
        &self,
        worker: crate::ports::WorkerId,
        id: DeliveryId,
        status_code: u16,
        at: DateTime<Utc>,
    ) -> Result<(), crate::error::StoreError>;
    /// Records a failed attempt: due again at `next_attempt_at`, or
    /// `failed` for good when it is `None`.
    async fn delivery_failed(
        &self,
        worker: crate::ports::WorkerId,
        id: DeliveryId,
        status_code: Option<u16>,
        error: &str,
        next_attempt_at: Option<DateTime<Utc>>,
    ) -> Result<(), crate::error::StoreError>;
}

/// The event type of a test delivery, which is in no audit log.
pub const TEST_EVENT: &str = "webhook.test";

/// One delivery of one event to one webhook.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct Delivery {
    pub id: DeliveryId,
    pub webhook_id: WebhookId,
    pub organization_id: OrganizationId,
    /// The audit event delivered; for a test delivery, the delivery's own id.
    pub event_id: AuditEventId,
    /// The action, or [`TEST_EVENT`].
    pub event_type: String,
    pub status: DeliveryStatus,
    pub attempts: u32,
    /// `attempts` when the schedule last started: at the queueing, or at
    /// the last retry by hand.
    pub retry_base: u32,
    pub last_status_code: Option<u16>,
    pub last_error: Option<String>,
    /// `None` once delivered or failed.
    pub next_attempt_at: Option<DateTime<Utc>>,
    pub delivered_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
}

impl Delivery {
    /// When to try again after the attempt that failed at `failed_at` (this
    /// delivery's `attempts + 1`-th), on the schedule that started at its
    /// queueing or its last retry by hand; `None` once it is spent.
    pub fn retry_after_failure(&self, failed_at: DateTime<Utc>) -> Option<DateTime<Utc>> {
        let since_start = self.attempts.saturating_sub(self.retry_base) + 1;
        next_attempt(since_start, failed_at)
    }

    /// A delivery of `event` to a webhook, due now.
    pub fn queued(id: DeliveryId, webhook_id: WebhookId, event: &crate::audit::AuditEvent) -> Self {
        Self {
            id,
            webhook_id,
            organization_id: event.organization_id,
            event_id: event.id,
            event_type: event.action.name().to_owned(),
            status: DeliveryStatus::Pending,
            attempts: 0,
            retry_base: 0,
            last_status_code: None,
            last_error: None,
            next_attempt_at: Some(event.occurred_at),
            delivered_at: None,
            created_at: event.occurred_at,
        }
    }
}

/// The id of the `n`-th delivery of an event (one per subscribed webhook):
/// derived from the event's id, so that the store needs no id generator.
/// Its first half is the event id's (a UUID v7's instant and counter), so
/// that deliveries sort as their events do; the rest is a hash of the event
/// and `n`.
pub fn delivery_id(event: AuditEventId, n: usize) -> DeliveryId {
    let mut hasher = Sha256::new();
    hasher.update(b"tenancy/delivery/");
    hasher.update(event.as_uuid().as_bytes());
    hasher.update(n.to_be_bytes());
    let digest = hasher.finalize();
    let mut bytes = *event.as_uuid().as_bytes();
    bytes[8..].copy_from_slice(&digest[..8]);
    // The RFC 9562 variant; the version is the event id's.
    bytes[8] = (bytes[8] & 0x3f) | 0x80;
    DeliveryId::from_uuid(uuid::Uuid::from_bytes(bytes))
}

/// The body delivered for an audit event: `{"id", "type",
/// "organization_id", "occurred_at", "data"}`, `data` the event as the API
/// serves it.
pub fn payload(event: &crate::audit::AuditEvent) -> serde_json::Value {
    serde_json::json!({
        "id": event.id.to_string(),
        "type": event.action.name(),
        "organization_id": event.organization_id.to_string(),
        "occurred_at": event.occurred_at_text(),
        "data": event.to_json(),
    })
}

/// The body of a test delivery: `data` names the webhook.
pub fn test_payload(delivery: &Delivery) -> serde_json::Value {
    serde_json::json!({
        "id": delivery.event_id.to_string(),
        "type": TEST_EVENT,
        "organization_id": delivery.organization_id.to_string(),
        "occurred_at": delivery.created_at.to_rfc3339_opts(chrono::SecondsFormat::Micros, true),
        "data": {"webhook_id": delivery.webhook_id.to_string()},
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filters_take_names_prefixes_and_everything() {
        let filter = EventFilter::parse(&["member.*", "organization.renamed", "member.*"]).unwrap();
        assert_eq!(filter.as_slice(), ["member.*", "organization.renamed"]);
        assert!(filter.matches(Action::MemberRoleChanged));
        assert!(filter.matches(Action::OrganizationRenamed));
        assert!(!filter.matches(Action::OrganizationCreated));
        assert!(
            EventFilter::parse(&["*"])
                .unwrap()
                .matches(Action::WebhookDeleted)
        );
        for bad in [
            "member",
            "members.*",
            "webhook.test",
            "*.*",
            "",
            "member.**",
        ] {
            assert!(EventFilter::parse(&[bad]).is_err(), "{bad}");
        }
        assert_eq!(
            EventFilter::parse::<&str>(&[]),
            Err(EventFilterError::Empty)
        );
    }

    #[test]
    fn urls_must_be_https_with_a_host_and_no_credentials() {
        assert_eq!(
            WebhookUrl::parse("https://hooks.example.com:8443/in?x=1", false)
                .unwrap()
                .host(),
            "hooks.example.com"
        );
        assert_eq!(
            WebhookUrl::parse("https://[2001:db8::1]/h", false)
                .unwrap()
                .host(),
            "2001:db8::1"
        );
        assert_eq!(
            WebhookUrl::parse("http://127.0.0.1:9/h", false),
            Err(UrlError::NotHttps)
        );
        assert!(WebhookUrl::parse("http://127.0.0.1:9/h", true).is_ok());
        for bad in [
            "https://",
            "https:///path",
            "hooks.example.com",
            "https://a:b@example.com/",
            "https://example.com/#x",
            "https://example.com:99999/",
            "https://exa mple.com/",
            " https://example.com/",
        ] {
            assert!(WebhookUrl::parse(bad, true).is_err(), "{bad}");
        }
    }

    #[test]
    fn only_public_addresses_are_public() {
        for private in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "100.64.0.1",
            "0.0.0.0",
            "255.255.255.255",
            "224.0.0.1",
            "198.18.0.1",
            "::1",
            "::",
            "fc00::1",
            "fe80::1",
            "::ffff:127.0.0.1",
            "::ffff:10.0.0.1",
            "64:ff9b::a00:1",
            "2001:db8::1",
            "240.0.0.1",
        ] {
            assert!(!is_public(private.parse().unwrap()), "{private}");
        }
        for public in [
            "1.1.1.1",
            "93.184.216.34",
            "2606:4700::1111",
            "::ffff:8.8.8.8",
        ] {
            assert!(is_public(public.parse().unwrap()), "{public}");
        }
    }

    #[test]
    fn signatures_match_the_standard_webhooks_test_vector() {
        // The vector of the Standard Webhooks reference implementations.
        let secret = WebhookSecret::parse("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").unwrap();
        let id = "msg_p5jXN8AQM9LWM0D4loKWxJek";
        let timestamp = 1_614_265_330;
        let body = br#"{"test": 2432232314}"#;
        assert_eq!(
            signature(&secret, id, timestamp, body),
            "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
        );
        assert!(verify_signature(
            &secret,
            id,
            timestamp,
            body,
            "v1,bogus v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
        ));
        assert!(!verify_signature(
            &secret,
            id,
            timestamp + 1,
            body,
            &signature(&secret, id, timestamp, body)
        ));
    }

    #[test]
    fn hmac_matches_rfc_4231() {
        // RFC 4231, test cases 1 and 6 (a key longer than the block).
        assert_eq!(
            hex(&hmac_sha256(&[0x0b; 20], b"Hi There")),
            "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7"
        );
        assert_eq!(
            hex(&hmac_sha256(
                &[0xaa; 131],
                b"Test Using Larger Than Block-Size Key - Hash Key First"
            )),
            "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54"
        );
    }

    fn hex(bytes: &[u8]) -> String {
        bytes.iter().map(|b| format!("{b:02x}")).collect()
    }

    #[test]
    fn ports_are_the_urls_own_or_the_schemes() {
        let port = |url: &str| WebhookUrl::parse(url, true).unwrap().port();
        assert_eq!(port("https://hooks.example.com/in"), 443);
        assert_eq!(port("https://hooks.example.com:8443/in"), 8443);
        assert_eq!(port("http://127.0.0.1/h"), 80);
        assert_eq!(port("https://[2001:db8::1]:9443/h"), 9443);
        assert_eq!(port("https://[2001:db8::1]/h"), 443);
    }

    #[test]
    fn a_retry_by_hand_restarts_the_schedule() {
        let t = DateTime::UNIX_EPOCH;
        let event = crate::audit::AuditEvent {
            id: AuditEventId::from_uuid(uuid::Uuid::from_u128(1)),
            organization_id: OrganizationId::from_uuid(uuid::Uuid::from_u128(2)),
            seq: 1,
            occurred_at: t,
            action: Action::OrganizationRenamed,
            actor: crate::audit::ActorRecord {
                kind: "system",
                id: None,
                email: None,
            },
            target: crate::audit::TargetRecord {
                kind: crate::audit::TargetKind::Organization,
                id: String::new(),
                label: String::new(),
            },
            changes: None,
            request_id: None,
            prev_hash: crate::audit::GENESIS.to_owned(),
            hash: crate::audit::GENESIS.to_owned(),
        };
        let mut delivery = Delivery::queued(
            delivery_id(event.id, 0),
            WebhookId::from_uuid(uuid::Uuid::from_u128(3)),
            &event,
        );
        assert_eq!(
            delivery.retry_after_failure(t),
            Some(t + Duration::seconds(5))
        );
        delivery.attempts = 7;
        assert_eq!(delivery.retry_after_failure(t), None);
        delivery.retry_base = 7;
        assert_eq!(
            delivery.retry_after_failure(t),
            Some(t + Duration::seconds(5))
        );
        delivery.attempts = 9;
        assert_eq!(
            delivery.retry_after_failure(t),
            Some(t + Duration::minutes(30))
        );
    }

    #[test]
    fn retries_follow_the_schedule_then_stop() {
        let t = DateTime::UNIX_EPOCH;
        assert_eq!(next_attempt(1, t), Some(t + Duration::seconds(5)));
        assert_eq!(next_attempt(7, t), Some(t + Duration::hours(10)));
        assert_eq!(next_attempt(8, t), None);
        assert_eq!(next_attempt(0, t), None);
    }

    #[test]
    fn a_secret_is_shown_as_whsec_and_base64_and_never_debugged() {
        let secret = WebhookSecret::from_bytes([7; 32]);
        let shown = secret.reveal();
        assert!(shown.starts_with("whsec_"));
        assert_eq!(WebhookSecret::parse(&shown).unwrap(), secret);
        assert_eq!(format!("{secret:?}"), "WebhookSecret(..)");
    }
}
