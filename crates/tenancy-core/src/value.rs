//! Values parsed at the edge: once you hold one, it is valid.

use std::fmt;

use serde::{Deserialize, Serialize};

/// Longest email address accepted, in bytes (RFC 5321's path limit less the brackets).
pub const EMAIL_MAX_LEN: usize = 254;
/// Longest local part of an email address, in bytes (RFC 5321).
pub const EMAIL_LOCAL_MAX_LEN: usize = 64;
/// Longest organization name, in characters.
pub const ORGANIZATION_NAME_MAX_CHARS: usize = 100;
/// Longest display name, in characters.
pub const DISPLAY_NAME_MAX_CHARS: usize = 100;
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

/// An email address, trimmed and lower-cased, so that two spellings of one
/// address compare equal everywhere (sign-up, sign-in, invitations).
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(transparent)]
pub struct EmailAddress(String);

impl EmailAddress {
    /// Trims, lower-cases and checks an address.
    ///
    /// The check is deliberately modest: one `@`, a dot-atom local part and a
    /// domain of dot-separated labels. Whether the mailbox exists is for the
    /// invitation email to find out.
    pub fn parse(input: &str) -> Result<Self, EmailError> {
        let address = input.trim().to_lowercase();
        if address.is_empty() {
            return Err(EmailError::Empty);
        }
        if address.len() > EMAIL_MAX_LEN {
            return Err(EmailError::TooLong { len: address.len() });
        }
        let (local, domain) = match address.split_once('@') {
            None => return Err(EmailError::MissingAt),
            Some((_, domain)) if domain.contains('@') => return Err(EmailError::MultipleAt),
            Some(parts) => parts,
        };
        if local.is_empty() {
            return Err(EmailError::EmptyLocalPart);
        }
        if local.len() > EMAIL_LOCAL_MAX_LEN {
            return Err(EmailError::LocalPartTooLong { len: local.len() });
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
        if !is_domain(domain) {
            return Err(EmailError::InvalidDomain {
                domain: domain.to_owned(),
            });
        }
        Ok(Self(address))
    }

    /// The normalized address.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

fn is_local_part_char(ch: char) -> bool {
    ch.is_alphanumeric() || "!#$%&'*+-/=?^_`{|}~.".contains(ch)
}

fn is_domain(domain: &str) -> bool {
    let labels: Vec<&str> = domain.split('.').collect();
    labels.len() >= 2
        && labels.iter().all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && !label.starts_with('-')
                && !label.ends_with('-')
                && label.chars().all(|ch| ch.is_alphanumeric() || ch == '-')
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
}

fn parse_name(input: &str, max: usize) -> Result<String, NameError> {
    let name = input.trim();
    if name.is_empty() {
        return Err(NameError::Empty);
    }
    if let Some(position) = name.chars().position(char::is_control) {
        return Err(NameError::ControlCharacter { position });
    }
    let chars = name.chars().count();
    if chars > max {
        return Err(NameError::TooLong { chars, max });
    }
    Ok(name.to_owned())
}

/// The name of an organization: trimmed, 1 to 100 characters, no control characters.
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
        // display name and an email contain no control characters.
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

/// How a person wants to be called: trimmed, 1 to 100 characters, no control characters.
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

/// Why a string is not an acceptable password.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PasswordError {
    #[error("password is {chars} characters long, the minimum is {PASSWORD_MIN_CHARS}")]
    TooShort { chars: usize },
    #[error("password is {chars} characters long, the limit is {PASSWORD_MAX_CHARS}")]
    TooLong { chars: usize },
}

/// A password as typed at sign-up, checked for length. Its `Debug` hides it,
/// and it cannot be serialized: only a hash of it is ever stored.
#[derive(Clone, PartialEq, Eq)]
pub struct NewPassword(String);

impl NewPassword {
    /// Checks the length (8 to 256 characters). The password is not trimmed:
    /// every character a person typed counts.
    pub fn parse(input: &str) -> Result<Self, PasswordError> {
        let chars = input.chars().count();
        if chars < PASSWORD_MIN_CHARS {
            return Err(PasswordError::TooShort { chars });
        }
        if chars > PASSWORD_MAX_CHARS {
            return Err(PasswordError::TooLong { chars });
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
}
