//! Sealing secrets at rest with XChaCha20-Poly1305: a random 192-bit nonce
//! per message, and associated data that binds each ciphertext to where it
//! belongs, so that a ciphertext moved elsewhere fails to open.

use std::fmt;

use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use zeroize::Zeroizing;

const NONCE_LEN: usize = 24;

/// A 256-bit key with an id, stored beside each ciphertext so that keys can
/// be rotated. Its bytes are wiped when it is dropped and never printed.
#[derive(Clone)]
pub struct SecretKey {
    id: String,
    bytes: Zeroizing<[u8; 32]>,
}

impl SecretKey {
    /// A key from its bytes and id.
    pub fn new(id: impl Into<String>, bytes: [u8; 32]) -> Self {
        Self {
            id: id.into(),
            bytes: Zeroizing::new(bytes),
        }
    }

    /// A fresh random key from the operating system.
    pub fn generate(id: impl Into<String>) -> Result<Self, CryptoError> {
        let mut bytes = Zeroizing::new([0_u8; 32]);
        getrandom::fill(bytes.as_mut_slice()).map_err(|_| CryptoError::Randomness)?;
        Ok(Self {
            id: id.into(),
            bytes,
        })
    }

    /// The key's id.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// The key's bytes, to write to a key file.
    pub fn expose(&self) -> &[u8; 32] {
        &self.bytes
    }
}

impl fmt::Debug for SecretKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SecretKey({:?}, <redacted>)", self.id)
    }
}

/// Why sealing or opening failed. Opening tells nothing more than "no":
/// a wrong key, a wrong place and a flipped bit look the same.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CryptoError {
    #[error("the operating system gave no randomness")]
    Randomness,
    #[error("the ciphertext does not open with this key in this place")]
    Open,
    #[error("the ciphertext was sealed with key `{0}`, which is not loaded")]
    UnknownKey(String),
    #[error("sealing failed")]
    Seal,
}

/// Seals and opens with one key.
#[derive(Clone)]
pub struct Sealer {
    key: SecretKey,
}

impl fmt::Debug for Sealer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Sealer").field("key", &self.key).finish()
    }
}

impl Sealer {
    /// A sealer with one key.
    pub fn new(key: SecretKey) -> Self {
        Self { key }
    }

    /// The id of the key that seals.
    pub fn key_id(&self) -> &str {
        self.key.id()
    }

    /// The key, for what derives a key of its own from it (the pepper of
    /// the rate limits' keys).
    pub(crate) fn key(&self) -> &SecretKey {
        &self.key
    }

    fn cipher(&self) -> Result<XChaCha20Poly1305, CryptoError> {
        XChaCha20Poly1305::new_from_slice(self.key.bytes.as_slice()).map_err(|_| CryptoError::Seal)
    }

    /// Seals `plaintext`, bound to `place`: nonce followed by ciphertext and tag.
    pub fn seal(&self, place: &[u8], plaintext: &[u8]) -> Result<Vec<u8>, CryptoError> {
        let mut nonce = [0_u8; NONCE_LEN];
        getrandom::fill(&mut nonce).map_err(|_| CryptoError::Randomness)?;
        let sealed = self
            .cipher()?
            .encrypt(
                &XNonce::from(nonce),
                Payload {
                    msg: plaintext,
                    aad: place,
                },
            )
            .map_err(|_| CryptoError::Seal)?;
        let mut out = Vec::with_capacity(NONCE_LEN + sealed.len());
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&sealed);
        Ok(out)
    }

    /// Opens what [`Sealer::seal`] made for the same place with the key `key_id`.
    pub fn open(
        &self,
        key_id: &str,
        place: &[u8],
        sealed: &[u8],
    ) -> Result<Zeroizing<Vec<u8>>, CryptoError> {
        if key_id != self.key.id() {
            return Err(CryptoError::UnknownKey(key_id.to_owned()));
        }
        let (nonce, ciphertext) = sealed
            .split_at_checked(NONCE_LEN)
            .ok_or(CryptoError::Open)?;
        let nonce: [u8; NONCE_LEN] = nonce.try_into().map_err(|_| CryptoError::Open)?;
        self.cipher()?
            .decrypt(
                &XNonce::from(nonce),
                Payload {
                    msg: ciphertext,
                    aad: place,
                },
            )
            .map(Zeroizing::new)
            .map_err(|_| CryptoError::Open)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sealer() -> Sealer {
        Sealer::new(SecretKey::new("k1", [7; 32]))
    }

    #[test]
    fn sealed_text_opens_in_its_place_only() {
        let sealer = sealer();
        let sealed = sealer.seal(b"org-1/conn-1", b"hunter2").unwrap();
        assert!(!sealed.windows(7).any(|w| w == b"hunter2"));
        assert_eq!(
            sealer
                .open("k1", b"org-1/conn-1", &sealed)
                .unwrap()
                .as_slice(),
            b"hunter2"
        );
        assert_eq!(
            sealer.open("k1", b"org-1/conn-2", &sealed),
            Err(CryptoError::Open)
        );
        assert_eq!(
            sealer.open("k0", b"org-1/conn-1", &sealed),
            Err(CryptoError::UnknownKey("k0".into()))
        );
    }

    #[test]
    fn every_flipped_bit_is_detected() {
        let sealer = sealer();
        let sealed = sealer.seal(b"place", b"secret").unwrap();
        for i in 0..sealed.len() * 8 {
            let mut bent = sealed.clone();
            bent[i / 8] ^= 1 << (i % 8);
            assert_eq!(sealer.open("k1", b"place", &bent), Err(CryptoError::Open));
        }
        assert_eq!(
            sealer.open("k1", b"place", &sealed[..10]),
            Err(CryptoError::Open)
        );
    }

    proptest::proptest! {
        /// Arbitrary bytes, as a tampered or truncated column would hold,
        /// never open and never panic.
        #[test]
        fn arbitrary_bytes_never_open(
            sealed in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..200),
            place in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..40),
        ) {
            proptest::prop_assert!(sealer().open("k1", &place, &sealed).is_err());
        }
    }

    #[test]
    fn nonces_differ_each_time() {
        let sealer = sealer();
        assert_ne!(
            sealer.seal(b"p", b"x").unwrap(),
            sealer.seal(b"p", b"x").unwrap()
        );
    }

    #[test]
    fn keys_do_not_print() {
        let key = SecretKey::new("k1", [0xab; 32]);
        assert!(!format!("{key:?}").contains("171"));
        assert!(!format!("{:?}", Sealer::new(key)).contains("ab"));
    }
}
