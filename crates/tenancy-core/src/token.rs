//! Bearer tokens (invitations, sessions): 256 random bits, base64url without
//! padding (43 characters), stored only as their SHA-256 hash (D4).

use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use sha2::{Digest, Sha256};

/// Length of a token's text: 32 bytes in base64url without padding.
pub const TOKEN_LEN: usize = 43;

/// A token in the clear. It travels to its holder once (in an email or a
/// sign-in response) and is never stored: `Debug` hides it and it cannot be
/// serialized.
#[derive(Clone, PartialEq, Eq)]
pub struct SecretToken(String);

/// A string that cannot be a token of ours.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("not a token: expected {TOKEN_LEN} base64url characters")]
pub struct MalformedToken;

impl SecretToken {
    /// Makes a token from 32 random bytes (from a [`crate::ports::TokenGenerator`]).
    pub fn from_bytes(bytes: [u8; 32]) -> Self {
        Self(URL_SAFE_NO_PAD.encode(bytes))
    }

    /// Reads a token presented by a client. Anything that is not exactly 43
    /// base64url characters encoding 32 bytes is refused before any lookup.
    pub fn parse(input: &str) -> Result<Self, MalformedToken> {
        if input.len() != TOKEN_LEN {
            return Err(MalformedToken);
        }
        let bytes = URL_SAFE_NO_PAD.decode(input).map_err(|_| MalformedToken)?;
        let bytes: [u8; 32] = bytes.try_into().map_err(|_| MalformedToken)?;
        // Re-encoding rejects the non-canonical spellings that a lenient
        // decoder would map onto the same bytes.
        let token = Self::from_bytes(bytes);
        if token.0 == input {
            Ok(token)
        } else {
            Err(MalformedToken)
        }
    }

    /// The token's text, to put in a link or a response.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// The hash under which the token is stored and looked up.
    pub fn hash(&self) -> TokenHash {
        TokenHash(Sha256::digest(self.0.as_bytes()).into())
    }
}

impl fmt::Debug for SecretToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SecretToken(<redacted>)")
    }
}

/// The SHA-256 of a token: what the store keeps.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TokenHash([u8; 32]);

impl TokenHash {
    /// Wraps a hash read back from storage.
    pub const fn from_bytes(bytes: [u8; 32]) -> Self {
        Self(bytes)
    }

    /// The hash's bytes.
    pub const fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }
}

impl fmt::Debug for TokenHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "TokenHash(")?;
        for byte in &self.0[..4] {
            write!(f, "{byte:02x}")?;
        }
        write!(f, "…)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_43_base64url_characters_and_round_trip() {
        let token = SecretToken::from_bytes([0xfb; 32]);
        assert_eq!(token.expose().len(), TOKEN_LEN);
        assert!(
            token
                .expose()
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        );
        assert_eq!(SecretToken::parse(token.expose()), Ok(token.clone()));
        assert_eq!(
            SecretToken::parse(token.expose()).unwrap().hash(),
            token.hash()
        );
    }

    #[test]
    fn malformed_tokens_are_refused() {
        assert_eq!(SecretToken::parse(""), Err(MalformedToken));
        assert_eq!(SecretToken::parse(&"A".repeat(42)), Err(MalformedToken));
        assert_eq!(SecretToken::parse(&"A".repeat(44)), Err(MalformedToken));
        assert_eq!(SecretToken::parse(&"+".repeat(43)), Err(MalformedToken));
        // The last character carries 4 unused bits: only the canonical one is accepted.
        let canonical = SecretToken::from_bytes([0; 32]);
        let mut bent = canonical.expose().to_owned();
        bent.pop();
        bent.push('B');
        assert_eq!(SecretToken::parse(&bent), Err(MalformedToken));
    }

    #[test]
    fn debug_hides_the_token() {
        let token = SecretToken::from_bytes([7; 32]);
        assert!(!format!("{token:?}").contains(token.expose()));
    }

    #[test]
    fn distinct_tokens_have_distinct_hashes() {
        assert_ne!(
            SecretToken::from_bytes([1; 32]).hash(),
            SecretToken::from_bytes([2; 32]).hash()
        );
    }
}
