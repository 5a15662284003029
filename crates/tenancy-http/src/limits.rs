//! The rate limits at the edge: who the client is, and the check that turns
//! a refusal into 429 `rate_limited` with `Retry-After`. What is counted and
//! when a hit is refused is the core's ([`tenancy_core::limits`]); the counts
//! live in the store, shared by every instance.
//!
//! The client address is the peer's, or the first address of
//! `X-Forwarded-For` when the peer is a trusted proxy: anyone else could
//! write any address there and walk away from their count.

use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::str::FromStr;

use poem::Request;
use poem::web::RemoteAddr;
use tenancy_core::limits::{LimitKey, LimitKind, RetryAfter};

use crate::problem::{ApiError, ProblemCode};
use crate::state::AppState;

/// A block of addresses: an address and how many of its leading bits count.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Cidr {
    network: IpAddr,
    prefix: u8,
}

/// Why a value is not a CIDR block.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CidrError {
    #[error("`{0}` is not an IP address or a CIDR block such as `10.0.0.0/8` or `fd00::/8`")]
    Malformed(String),
    #[error("`{input}` has a prefix longer than the {max} bits of its address")]
    PrefixTooLong { input: String, max: u8 },
    #[error("`{input}` has bits set beyond its prefix; the block is `{network}`")]
    HostBits { input: String, network: String },
    #[error("the list has an empty entry; separate blocks with single commas")]
    Empty,
}

const fn bits(ip: IpAddr) -> u8 {
    match ip {
        IpAddr::V4(_) => 32,
        IpAddr::V6(_) => 128,
    }
}

/// The address as one number, left-aligned in 128 bits, so that a prefix
/// is the same mask for both families.
fn aligned(ip: IpAddr) -> u128 {
    match ip {
        IpAddr::V4(v4) => u128::from(u32::from(v4)) << 96,
        IpAddr::V6(v6) => u128::from(v6),
    }
}

fn mask(prefix: u8) -> u128 {
    match prefix {
        0 => 0,
        p => u128::MAX << (128 - u32::from(p)),
    }
}

impl Cidr {
    /// Whether `ip` is in the block. An IPv4 address mapped into IPv6 (a
    /// dual-stack listener's view of an IPv4 peer) is its IPv4 address.
    pub fn contains(&self, ip: IpAddr) -> bool {
        let ip = ip.to_canonical();
        bits(ip) == bits(self.network) && aligned(ip) & mask(self.prefix) == aligned(self.network)
    }
}

impl FromStr for Cidr {
    type Err = CidrError;

    /// `ADDRESS/PREFIX`, or a bare address for that address alone.
    fn from_str(input: &str) -> Result<Self, Self::Err> {
        let input = input.trim();
        let malformed = || CidrError::Malformed(input.to_owned());
        let (address, prefix) = match input.split_once('/') {
            Some((address, prefix)) => (address, Some(prefix)),
            None => (input, None),
        };
        let network = IpAddr::from_str(address)
            .map_err(|_| malformed())?
            .to_canonical();
        let max = bits(network);
        let prefix = match prefix {
            None => max,
            Some(p) if !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()) => {
                p.parse::<u8>().ok().filter(|&p| p <= max).ok_or_else(|| {
                    CidrError::PrefixTooLong {
                        input: input.to_owned(),
                        max,
                    }
                })?
            }
            Some(_) => return Err(malformed()),
        };
        let cidr = Self { network, prefix };
        if aligned(network) & !mask(prefix) != 0 {
            let kept = aligned(network) & mask(prefix);
            let base = match network {
                IpAddr::V4(_) => IpAddr::from(u32::try_from(kept >> 96).unwrap_or(0).to_be_bytes()),
                IpAddr::V6(_) => IpAddr::from(kept.to_be_bytes()),
            };
            return Err(CidrError::HostBits {
                input: input.to_owned(),
                network: format!("{base}/{prefix}"),
            });
        }
        Ok(cidr)
    }
}

impl fmt::Display for Cidr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.network, self.prefix)
    }
}

impl fmt::Debug for Cidr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{self}")
    }
}

/// The peers whose `X-Forwarded-For` names the client (`--trusted-proxies`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TrustedProxies(Vec<Cidr>);

impl TrustedProxies {
    /// No proxy is trusted: the peer is the client (the default).
    pub const fn none() -> Self {
        Self(Vec::new())
    }

    /// A comma-separated list of CIDR blocks or addresses, e.g.
    /// `10.0.0.0/8, 192.0.2.7, fd00::/8`; an empty string trusts none.
    pub fn parse(list: &str) -> Result<Self, CidrError> {
        if list.trim().is_empty() {
            return Ok(Self::none());
        }
        list.split(',')
            .map(|item| {
                if item.trim().is_empty() {
                    Err(CidrError::Empty)
                } else {
                    item.parse()
                }
            })
            .collect::<Result<Vec<_>, _>>()
            .map(Self)
    }

    /// Whether `ip` is a trusted proxy.
    pub fn contains(&self, ip: IpAddr) -> bool {
        self.0.iter().any(|block| block.contains(ip))
    }

    /// The blocks.
    pub fn blocks(&self) -> &[Cidr] {
        &self.0
    }
}

/// One entry of `X-Forwarded-For`: an address, maybe bracketed or with a
/// port, as proxies write them.
fn forwarded_address(entry: &str) -> Option<IpAddr> {
    let entry = entry.trim();
    IpAddr::from_str(entry)
        .ok()
        .or_else(|| SocketAddr::from_str(entry).ok().map(|s| s.ip()))
        .or_else(|| {
            entry
                .strip_prefix('[')
                .and_then(|e| e.strip_suffix(']'))
                .and_then(|e| IpAddr::from_str(e).ok())
        })
}

/// The client's address: the peer's, or the first address of
/// `X-Forwarded-For` when the peer is a trusted proxy (an unreadable one
/// leaves the proxy's own). `None` for a peer without an IP address.
pub(crate) fn client_ip(request: &Request, trusted: &TrustedProxies) -> Option<IpAddr> {
    let peer = match request.remote_addr() {
        RemoteAddr(poem::Addr::SocketAddr(addr)) => addr.ip().to_canonical(),
        _ => return None,
    };
    if !trusted.contains(peer) {
        return Some(peer);
    }
    let forwarded = request
        .headers()
        .get("x-forwarded-for")
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.split(',').next())
        .and_then(forwarded_address);
    Some(forwarded.map_or(peer, |ip| ip.to_canonical()))
}

/// Counts a hit of `key` if its limit is on; 429 `rate_limited` when the
/// limit is reached, before anything else happens.
pub(crate) async fn enforce(state: &AppState, key: &LimitKey) -> Result<(), ApiError> {
    judged(state, key)
        .await?
        .map_err(|retry| refusal(key.kind(), retry))
}

/// Whether an account email may go to an address: counted like any limit,
/// but a refusal withholds the email instead of answering 429, where the
/// answer must not tell (a password reset) or the request is about more
/// than the email (a sign-up).
pub(crate) async fn account_mail(
    state: &AppState,
    email: &tenancy_core::value::EmailAddress,
) -> Result<tenancy_core::decide::AccountMail, ApiError> {
    use tenancy_core::decide::AccountMail;
    Ok(
        match judged(state, &LimitKey::account_emails(email)).await? {
            Ok(()) => AccountMail::Send,
            Err(_) => AccountMail::Withhold,
        },
    )
}

/// Counts a hit of `key` if its limit is on, and tells whether it was allowed.
async fn judged(state: &AppState, key: &LimitKey) -> Result<Result<(), RetryAfter>, ApiError> {
    let Some(limit) = state.config.limits.get(key.kind()) else {
        return Ok(Ok(()));
    };
    let now = state.tenancy.now();
    let judged = state
        .limiter
        .hit(key, limit, now)
        .await
        .map_err(tenancy_core::Error::from)?;
    if let Err(retry) = &judged {
        tracing::debug!(
            limit = key.kind().name(),
            retry_after = retry.seconds(),
            "rate limited"
        );
    }
    Ok(judged)
}

/// Forgets the hits of `key` (a successful sign-in clears its failures).
pub(crate) async fn clear(state: &AppState, key: &LimitKey) -> Result<(), ApiError> {
    if state.config.limits.get(key.kind()).is_none() {
        return Ok(());
    }
    state
        .limiter
        .clear(key)
        .await
        .map_err(|e| ApiError::from(tenancy_core::Error::from(e)))
}

fn refusal(kind: LimitKind, retry: RetryAfter) -> ApiError {
    let seconds = retry.seconds();
    let what = match kind {
        LimitKind::SignInFailures => "too many failed sign-ins for this email",
        LimitKind::AuthAttempts => "too many sign-in and sign-up attempts from this address",
        LimitKind::AccountEmails => "too many emails to this address",
        LimitKind::Invitations => "this organization has sent too many invitations",
        LimitKind::InvitationResends => "this invitation was resent less than a minute ago",
    };
    ApiError::retry_later(
        ProblemCode::RateLimited,
        format!("{what}; try again in {seconds} s"),
        seconds,
    )
}

#[cfg(test)]
mod tests {
    use poem::web::LocalAddr;

    use super::*;

    fn cidr(input: &str) -> Cidr {
        input.parse().unwrap()
    }

    fn ip(input: &str) -> IpAddr {
        input.parse().unwrap()
    }

    #[test]
    fn blocks_hold_their_addresses() {
        assert!(cidr("10.0.0.0/8").contains(ip("10.255.0.1")));
        assert!(!cidr("10.0.0.0/8").contains(ip("11.0.0.1")));
        assert!(cidr("192.0.2.7").contains(ip("192.0.2.7")));
        assert!(!cidr("192.0.2.7").contains(ip("192.0.2.8")));
        assert!(cidr("0.0.0.0/0").contains(ip("203.0.113.9")));
        assert!(!cidr("0.0.0.0/0").contains(ip("2001:db8::1")));
        assert!(cidr("fd00::/8").contains(ip("fd12:3456::1")));
        assert!(!cidr("fd00::/8").contains(ip("fe80::1")));
        assert!(cidr("::1").contains(ip("::1")));
        // A dual-stack listener sees IPv4 peers as mapped addresses.
        assert!(cidr("127.0.0.1/32").contains(ip("::ffff:127.0.0.1")));
    }

    #[test]
    fn bad_blocks_say_what_is_wrong() {
        let error = |input: &str| input.parse::<Cidr>().unwrap_err().to_string();
        assert!(error("nope").contains("`nope` is not an IP address"));
        assert!(error("10.0.0.0/").contains("is not an IP address"));
        assert!(error("10.0.0.0/-1").contains("is not an IP address"));
        assert!(error("10.0.0.0/33").contains("longer than the 32 bits"));
        assert!(error("::/129").contains("longer than the 128 bits"));
        assert!(error("10.1.2.3/8").contains("the block is `10.0.0.0/8`"));
        assert!(error("fd00::1/8").contains("the block is `fd00::/8`"));
        assert_eq!(
            TrustedProxies::parse("10.0.0.0/8,,::1"),
            Err(CidrError::Empty)
        );
    }

    #[test]
    fn lists_are_comma_separated_and_may_be_empty() {
        assert_eq!(TrustedProxies::parse(" ").unwrap(), TrustedProxies::none());
        let list = TrustedProxies::parse("10.0.0.0/8, 192.0.2.7 ,fd00::/8").unwrap();
        assert_eq!(list.blocks().len(), 3);
        assert!(list.contains(ip("192.0.2.7")));
        assert!(list.contains(ip("fd00::5")));
        assert!(!list.contains(ip("198.51.100.1")));
    }

    fn request(peer: Option<&str>, forwarded: Option<&str>) -> Request {
        let mut head = poem::http::Request::builder();
        if let Some(value) = forwarded {
            head = head.header("x-forwarded-for", value);
        }
        let (head, ()) = head.body(()).unwrap().into_parts();
        let remote = match peer {
            Some(peer) => RemoteAddr(poem::Addr::SocketAddr(peer.parse().unwrap())),
            None => RemoteAddr::default(),
        };
        let parts = poem::RequestParts::from((
            head,
            LocalAddr::default(),
            remote,
            poem::http::uri::Scheme::HTTP,
        ));
        Request::from_parts(parts, poem::Body::empty())
    }

    #[test]
    fn the_client_is_the_peer_unless_the_peer_is_a_trusted_proxy() {
        let trusted = TrustedProxies::parse("10.0.0.0/8").unwrap();
        let client = |peer, forwarded| client_ip(&request(peer, forwarded), &trusted);
        // Anyone else's header is ignored.
        assert_eq!(
            client(Some("198.51.100.1:4000"), Some("203.0.113.9")),
            Some(ip("198.51.100.1"))
        );
        // A trusted proxy's first address is the client.
        assert_eq!(
            client(Some("10.0.0.2:4000"), Some("203.0.113.9, 10.0.0.3")),
            Some(ip("203.0.113.9"))
        );
        for written in ["203.0.113.9:5555", " 203.0.113.9 "] {
            assert_eq!(
                client(Some("10.0.0.2:1"), Some(written)),
                Some(ip("203.0.113.9"))
            );
        }
        for written in ["[2001:db8::7]", "[2001:db8::7]:443", "2001:db8::7"] {
            assert_eq!(
                client(Some("10.0.0.2:1"), Some(written)),
                Some(ip("2001:db8::7"))
            );
        }
        // Without a readable header, the proxy itself.
        for written in [
            None,
            Some("unknown"),
            Some(""),
            Some("_hidden, 203.0.113.9"),
        ] {
            assert_eq!(client(Some("10.0.0.2:1"), written), Some(ip("10.0.0.2")));
        }
        assert_eq!(client(None, Some("203.0.113.9")), None);
        // Nobody is trusted by default.
        let none = TrustedProxies::none();
        assert_eq!(
            client_ip(&request(Some("10.0.0.2:1"), Some("203.0.113.9")), &none),
            Some(ip("10.0.0.2"))
        );
    }
}
