//! Rate limits (API "Rate limits and abuse"): what is counted, under which
//! key, in which window, and the judgement of one more hit.
//!
//! Each limit is a count in a window that slides: a hit is allowed while
//! fewer than `max` earlier hits are younger than the window, and a refused
//! hit is not counted, so that a client that backs off recovers. The store
//! keeps the hits of every instance (a [`crate::ports::RateLimiter`]) and
//! asks [`judge`] inside the transaction that records the hit.
//!
//! Keys name people and addresses, which are personal data: what is stored
//! is a keyed hash of the key ([`LimitKey::pseudonym`]), never the key. A
//! plain SHA-256 would not do: the whole IPv4 space hashes in minutes.

use std::fmt;
use std::net::IpAddr;
use std::num::NonZeroU32;

use chrono::{DateTime, Duration, Utc};
use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

use crate::id::{InvitationId, OrganizationId};
use crate::value::EmailAddress;

/// What a limit counts. The windows are fixed by the API; the counts are
/// options.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum LimitKind {
    /// Failed sign-ins per email, in 15 minutes. Once reached, the email is
    /// refused for the rest of the window, even with the right password; a
    /// successful sign-in before that clears the count.
    SignInFailures,
    /// Sign-in and sign-up attempts per client address, in a minute.
    AuthAttempts,
    /// Password reset and verification emails per email address (the one
    /// sent at sign-up included), in an hour.
    AccountEmails,
    /// Invitations sent (new and resent) per organization, in an hour.
    Invitations,
    /// Resends of one invitation, in a minute. The API fixes its count at
    /// one (API "Members and invitations"): it is no option of the server.
    InvitationResends,
}

impl LimitKind {
    /// Every kind, in the order of the API's table, then the resends of an
    /// invitation, which the table does not list.
    pub const ALL: [Self; 5] = [
        Self::SignInFailures,
        Self::AuthAttempts,
        Self::AccountEmails,
        Self::Invitations,
        Self::InvitationResends,
    ];

    /// The window the count is taken over.
    pub const fn window(self) -> Duration {
        match self {
            Self::SignInFailures => Duration::minutes(15),
            Self::AuthAttempts | Self::InvitationResends => Duration::minutes(1),
            Self::AccountEmails | Self::Invitations => Duration::hours(1),
        }
    }

    /// The API's default count.
    pub const fn default_max(self) -> u32 {
        match self {
            Self::SignInFailures => 10,
            Self::AuthAttempts => 60,
            Self::AccountEmails => 5,
            Self::Invitations => 100,
            Self::InvitationResends => 1,
        }
    }

    /// A stable name, part of every stored key: changing one forgets the
    /// counts of its kind.
    pub const fn name(self) -> &'static str {
        match self {
            Self::SignInFailures => "signin_failures_per_email",
            Self::AuthAttempts => "auth_attempts_per_ip",
            Self::AccountEmails => "account_emails_per_address",
            Self::Invitations => "invitations_per_organization",
            Self::InvitationResends => "resends_per_invitation",
        }
    }
}

/// At most `max` hits in any `window`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateLimit {
    max: NonZeroU32,
    window: Duration,
}

impl RateLimit {
    /// A limit of `max` hits per `window`; `None` (no limit) for a `max` of
    /// 0 or a window that is not positive.
    pub fn new(max: u32, window: Duration) -> Option<Self> {
        let max = NonZeroU32::new(max)?;
        (window > Duration::zero()).then_some(Self { max, window })
    }

    /// The limit of a kind with `max` hits in its window; `None` for 0.
    pub fn of(kind: LimitKind, max: u32) -> Option<Self> {
        Self::new(max, kind.window())
    }

    /// How many hits a window holds.
    pub const fn max(self) -> u32 {
        self.max.get()
    }

    /// How long a hit counts.
    pub const fn window(self) -> Duration {
        self.window
    }
}

/// The limits in force; `None` turns one off.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateLimits {
    pub sign_in_failures: Option<RateLimit>,
    pub auth_attempts: Option<RateLimit>,
    pub account_emails: Option<RateLimit>,
    pub invitations: Option<RateLimit>,
    /// On unless turned off for tests: it has no option.
    pub invitation_resends: Option<RateLimit>,
}

impl RateLimits {
    /// No limit at all, for tests and tools that are not about limits.
    pub const fn off() -> Self {
        Self {
            sign_in_failures: None,
            auth_attempts: None,
            account_emails: None,
            invitations: None,
            invitation_resends: None,
        }
    }

    /// The limits of these counts in the API's windows, in the order of
    /// [`LimitKind::ALL`]; a count of 0 turns its limit off. The resends of
    /// an invitation, which have no option, keep the API's count.
    pub fn from_counts(
        sign_in_failures: u32,
        auth_attempts: u32,
        account_emails: u32,
        invitations: u32,
    ) -> Self {
        Self {
            sign_in_failures: RateLimit::of(LimitKind::SignInFailures, sign_in_failures),
            auth_attempts: RateLimit::of(LimitKind::AuthAttempts, auth_attempts),
            account_emails: RateLimit::of(LimitKind::AccountEmails, account_emails),
            invitations: RateLimit::of(LimitKind::Invitations, invitations),
            invitation_resends: RateLimit::of(
                LimitKind::InvitationResends,
                LimitKind::InvitationResends.default_max(),
            ),
        }
    }

    /// The limit of a kind, if it is on.
    pub const fn get(&self, kind: LimitKind) -> Option<RateLimit> {
        match kind {
            LimitKind::SignInFailures => self.sign_in_failures,
            LimitKind::AuthAttempts => self.auth_attempts,
            LimitKind::AccountEmails => self.account_emails,
            LimitKind::Invitations => self.invitations,
            LimitKind::InvitationResends => self.invitation_resends,
        }
    }
}

impl Default for RateLimits {
    /// The API's defaults, all on.
    fn default() -> Self {
        Self::from_counts(
            LimitKind::SignInFailures.default_max(),
            LimitKind::AuthAttempts.default_max(),
            LimitKind::AccountEmails.default_max(),
            LimitKind::Invitations.default_max(),
        )
    }
}

/// What one count is kept for: a kind and whom it is about. Its `Debug`
/// shows the kind only: the email or address inside is personal data.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct LimitKey {
    kind: LimitKind,
    subject: Vec<u8>,
}

impl LimitKey {
    /// The failed sign-ins of an email (normalized, so that spellings of one
    /// address share one count).
    pub fn sign_in_failures(email: &EmailAddress) -> Self {
        Self::new(
            LimitKind::SignInFailures,
            email.as_str().as_bytes().to_vec(),
        )
    }

    /// The sign-in and sign-up attempts of a client address. An IPv6 client
    /// is counted by its /64, the least a single subscriber is given, so
    /// that walking through one's own addresses does not reset the count;
    /// an IPv4 address mapped into IPv6 counts as the IPv4 address. `None`
    /// is a peer without an IP address (a Unix socket, an in-process test
    /// client): all of those share one count.
    pub fn auth_attempts(address: Option<IpAddr>) -> Self {
        let subject = match address.map(|a| a.to_canonical()) {
            None => vec![0],
            Some(IpAddr::V4(v4)) => [&[4][..], &v4.octets()].concat(),
            Some(IpAddr::V6(v6)) => [&[6][..], &v6.octets()[..8]].concat(),
        };
        Self::new(LimitKind::AuthAttempts, subject)
    }

    /// The password reset and verification emails sent to an address.
    pub fn account_emails(email: &EmailAddress) -> Self {
        Self::new(LimitKind::AccountEmails, email.as_str().as_bytes().to_vec())
    }

    /// The invitations sent by an organization.
    pub fn invitations(organization: OrganizationId) -> Self {
        Self::new(
            LimitKind::Invitations,
            organization.as_uuid().as_bytes().to_vec(),
        )
    }

    /// The resends of one invitation.
    pub fn invitation_resends(invitation: InvitationId) -> Self {
        Self::new(
            LimitKind::InvitationResends,
            invitation.as_uuid().as_bytes().to_vec(),
        )
    }

    fn new(kind: LimitKind, subject: Vec<u8>) -> Self {
        Self { kind, subject }
    }

    /// What is counted.
    pub const fn kind(&self) -> LimitKind {
        self.kind
    }

    /// The name the count is stored under: HMAC-SHA256 with the pepper of
    /// the kind's name and the subject. Equal keys give equal pseudonyms
    /// under one pepper, and without the pepper nothing leads back to the
    /// subject.
    pub fn pseudonym(&self, pepper: &Pepper) -> [u8; 32] {
        // The names hold no NUL, so the encoding is unambiguous.
        hmac_sha256(
            pepper.0.as_slice(),
            &[self.kind.name().as_bytes(), &[0], &self.subject],
        )
    }
}

impl fmt::Debug for LimitKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "LimitKey({}, <redacted>)", self.kind.name())
    }
}

/// The secret that keys the pseudonyms of [`LimitKey`]s, derived from a
/// secret every instance shares (the store's key), so that instances on one
/// database count under the same names. Wiped on drop, never printed.
#[derive(Clone)]
pub struct Pepper(Zeroizing<[u8; 32]>);

impl Pepper {
    /// The pepper of a secret: HMAC-SHA256 of a fixed label, so that the
    /// secret itself is used for nothing else here.
    pub fn derive(secret: &[u8]) -> Self {
        Self(Zeroizing::new(hmac_sha256(
            secret,
            &[b"tenancy rate limit pepper v1"],
        )))
    }
}

impl fmt::Debug for Pepper {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Pepper(<redacted>)")
    }
}

/// HMAC-SHA256 (RFC 2104) of the concatenation of `parts`.
fn hmac_sha256(key: &[u8], parts: &[&[u8]]) -> [u8; 32] {
    const BLOCK: usize = 64;
    let mut block = Zeroizing::new([0_u8; BLOCK]);
    if key.len() > BLOCK {
        block[..32].copy_from_slice(&Sha256::digest(key));
    } else {
        block[..key.len()].copy_from_slice(key);
    }
    let pad = |byte: u8| Zeroizing::new(block.map(|b| b ^ byte));
    let mut inner = Sha256::new();
    inner.update(pad(0x36).as_slice());
    for part in parts {
        inner.update(part);
    }
    let inner = inner.finalize();
    let mut outer = Sha256::new();
    outer.update(pad(0x5c).as_slice());
    outer.update(inner);
    outer.finalize().into()
}

/// How long a refused client should wait before a slot frees: whole
/// seconds, at least 1 (the value of `Retry-After`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct RetryAfter(u64);

impl RetryAfter {
    /// The wait from `now` until `at`, rounded up to whole seconds.
    pub fn until(at: DateTime<Utc>, now: DateTime<Utc>) -> Self {
        let millis = u64::try_from((at - now).num_milliseconds()).unwrap_or(0);
        let seconds = millis.div_ceil(1000);
        Self(seconds.max(1))
    }

    /// The seconds to wait.
    pub const fn seconds(self) -> u64 {
        self.0
    }
}

/// The judgement of one more hit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[must_use]
pub enum Judgement {
    /// Allowed: record the hit, counting until `expires_at`.
    Allowed { expires_at: DateTime<Utc> },
    /// Refused: record nothing.
    Refused(RetryAfter),
}

/// Judges a hit at `now` against `limit`, given when the hits still in the
/// window expire: the newest `limit.max()` of them at most (older ones
/// change nothing), in any order. Expiries at or before `now` are over and
/// do not count.
pub fn judge(limit: RateLimit, expiries: &[DateTime<Utc>], now: DateTime<Utc>) -> Judgement {
    let mut live: Vec<DateTime<Utc>> = expiries.iter().copied().filter(|&e| e > now).collect();
    let max = usize::try_from(limit.max()).unwrap_or(usize::MAX);
    if live.len() < max {
        return Judgement::Allowed {
            expires_at: now + limit.window(),
        };
    }
    // A slot frees when all but `max - 1` of the newest `max` have expired,
    // that is when the oldest of them does.
    live.sort_unstable_by(|a, b| b.cmp(a));
    let frees_at = live.get(max - 1).copied().unwrap_or(now);
    Judgement::Refused(RetryAfter::until(frees_at, now))
}

#[cfg(test)]
mod tests {
    use std::net::{Ipv4Addr, Ipv6Addr};

    use proptest::prelude::*;

    use super::*;

    fn at(seconds: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_800_000_000 + seconds, 0).unwrap()
    }

    fn limit(max: u32, window_seconds: i64) -> RateLimit {
        RateLimit::new(max, Duration::seconds(window_seconds)).unwrap()
    }

    #[test]
    fn the_defaults_are_the_apis() {
        let limits = RateLimits::default();
        let expected = [
            (LimitKind::SignInFailures, 10, Duration::minutes(15)),
            (LimitKind::AuthAttempts, 60, Duration::minutes(1)),
            (LimitKind::AccountEmails, 5, Duration::hours(1)),
            (LimitKind::Invitations, 100, Duration::hours(1)),
            (LimitKind::InvitationResends, 1, Duration::minutes(1)),
        ];
        for (kind, max, window) in expected {
            let limit = limits.get(kind).unwrap();
            assert_eq!((limit.max(), limit.window()), (max, window), "{kind:?}");
        }
        for kind in LimitKind::ALL {
            assert_eq!(RateLimits::off().get(kind), None);
        }
    }

    #[test]
    fn zero_turns_a_limit_off() {
        assert_eq!(RateLimit::of(LimitKind::Invitations, 0), None);
        assert_eq!(RateLimit::new(3, Duration::zero()), None);
        let limits = RateLimits::from_counts(0, 1, 0, 2);
        assert_eq!(limits.sign_in_failures, None);
        assert_eq!(limits.auth_attempts.map(RateLimit::max), Some(1));
        assert_eq!(limits.account_emails, None);
        assert_eq!(limits.invitations.map(RateLimit::max), Some(2));
    }

    #[test]
    fn hits_are_allowed_up_to_the_limit_and_not_beyond() {
        let limit = limit(3, 60);
        let now = at(0);
        assert_eq!(
            judge(limit, &[], now),
            Judgement::Allowed { expires_at: at(60) }
        );
        assert!(matches!(
            judge(limit, &[at(10), at(20)], now),
            Judgement::Allowed { .. }
        ));
        // Full: the oldest of the three frees the first slot.
        assert_eq!(
            judge(limit, &[at(30), at(10), at(20)], now),
            Judgement::Refused(RetryAfter(10))
        );
    }

    #[test]
    fn the_window_slides() {
        let limit = limit(2, 60);
        let hits = [at(60), at(90)];
        assert_eq!(
            judge(limit, &hits, at(59)),
            Judgement::Refused(RetryAfter(1))
        );
        // At its expiry a hit no longer counts.
        assert_eq!(
            judge(limit, &hits, at(60)),
            Judgement::Allowed {
                expires_at: at(120)
            }
        );
    }

    #[test]
    fn retry_after_rounds_up_to_whole_seconds_and_is_at_least_one() {
        let now = at(0);
        assert_eq!(RetryAfter::until(at(5), now).seconds(), 5);
        assert_eq!(
            RetryAfter::until(now + Duration::milliseconds(4001), now).seconds(),
            5
        );
        assert_eq!(RetryAfter::until(now, now).seconds(), 1);
        assert_eq!(RetryAfter::until(at(-5), now).seconds(), 1);
    }

    #[test]
    fn keys_are_pseudonymous_and_apart() {
        let pepper = Pepper::derive(&[7; 32]);
        let alice = EmailAddress::parse("alice@example.com").unwrap();
        let failures = LimitKey::sign_in_failures(&alice);
        let emails = LimitKey::account_emails(&alice);
        assert_eq!(
            failures.pseudonym(&pepper),
            LimitKey::sign_in_failures(&alice).pseudonym(&pepper)
        );
        // One email, two kinds: two counts.
        assert_ne!(failures.pseudonym(&pepper), emails.pseudonym(&pepper));
        // Another pepper, other names.
        assert_ne!(
            failures.pseudonym(&pepper),
            failures.pseudonym(&Pepper::derive(&[8; 32]))
        );
        // Nothing of the subject shows.
        let shown = format!("{failures:?} {pepper:?}");
        assert!(!shown.contains("alice"), "{shown}");
        assert!(!shown.contains("7"), "{shown}");
    }

    #[test]
    fn an_ipv6_client_counts_by_its_64_and_a_mapped_ipv4_as_itself() {
        let key = |ip: &str| LimitKey::auth_attempts(Some(ip.parse().unwrap()));
        assert_eq!(key("2001:db8:1:2::1"), key("2001:db8:1:2:ffff::9"));
        assert_ne!(key("2001:db8:1:2::1"), key("2001:db8:1:3::1"));
        assert_eq!(key("::ffff:192.0.2.7"), key("192.0.2.7"));
        assert_ne!(key("192.0.2.7"), key("192.0.2.8"));
        assert_ne!(
            LimitKey::auth_attempts(None),
            LimitKey::auth_attempts(Some(IpAddr::V4(Ipv4Addr::UNSPECIFIED)))
        );
        assert_ne!(
            LimitKey::auth_attempts(Some(IpAddr::V4(Ipv4Addr::UNSPECIFIED))),
            LimitKey::auth_attempts(Some(IpAddr::V6(Ipv6Addr::UNSPECIFIED)))
        );
    }

    fn hex(bytes: &[u8]) -> String {
        bytes.iter().map(|b| format!("{b:02x}")).collect()
    }

    #[test]
    fn hmac_matches_rfc_4231() {
        // Test case 2: a short key.
        assert_eq!(
            hex(&hmac_sha256(
                b"Jefe",
                &[b"what do ya want ", b"for nothing?"]
            )),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
        // Test case 6: a key longer than the block is hashed first.
        assert_eq!(
            hex(&hmac_sha256(
                &[0xaa; 131],
                &[b"Test Using Larger Than Block-Size Key - Hash Key First"]
            )),
            "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54"
        );
    }

    proptest! {
        /// Against a model that replays hits one by one: a hit is allowed
        /// exactly when fewer than `max` allowed hits are younger than the
        /// window, and a refusal names the first moment one would be.
        #[test]
        fn judging_agrees_with_counting(
            max in 1_u32..6,
            window in 1_i64..50,
            gaps in proptest::collection::vec(0_i64..20, 1..60),
        ) {
            let limit = limit(max, window);
            let mut recorded: Vec<DateTime<Utc>> = Vec::new();
            let mut now = at(0);
            for gap in gaps {
                now += Duration::seconds(gap);
                let live: Vec<_> = recorded.iter().copied().filter(|e| *e > now).collect();
                // The store hands over the newest `max` only.
                let mut newest = live.clone();
                newest.sort_unstable_by(|a, b| b.cmp(a));
                newest.truncate(max as usize);
                match judge(limit, &newest, now) {
                    Judgement::Allowed { expires_at } => {
                        prop_assert!(live.len() < max as usize);
                        prop_assert_eq!(expires_at, now + limit.window());
                        recorded.push(expires_at);
                    }
                    Judgement::Refused(retry) => {
                        prop_assert!(live.len() >= max as usize);
                        let later = now + Duration::seconds(retry.seconds() as i64);
                        let earlier = later - Duration::seconds(1);
                        let live_at = |t: DateTime<Utc>| recorded.iter().filter(|e| **e > t).count();
                        prop_assert!(live_at(later) < max as usize);
                        prop_assert!(live_at(earlier) >= max as usize);
                    }
                }
            }
        }
    }
}
