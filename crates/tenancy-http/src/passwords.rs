//! Password hashing with argon2id at OWASP's parameters (19 MiB, 2 passes,
//! 1 lane: argon2's defaults), on a blocking thread: it is slow on purpose.

use argon2::Argon2;
use argon2::password_hash::{PasswordHasher, PasswordVerifier};
use tenancy_core::value::{NewPassword, PasswordHash};

use crate::problem::ApiError;

/// A hash of a random password nobody knows, made once, to spend the same
/// time on sign-ins of unknown emails as on wrong passwords.
fn decoy() -> &'static str {
    static DECOY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    DECOY.get_or_init(|| {
        let mut secret = [0_u8; 32];
        let mut salt = [0_u8; 16];
        let _ = getrandom::fill(&mut secret);
        let _ = getrandom::fill(&mut salt);
        Argon2::default()
            .hash_password_with_salt(&secret, &salt)
            .map(|h| h.to_string())
            .unwrap_or_default()
    })
}

fn internal(error: impl std::fmt::Display) -> ApiError {
    tracing::error!(error = %error, "password hashing failed");
    ApiError::new(
        500,
        "internal",
        "an internal error occurred; it has been logged",
    )
}

/// Hashes a new password into a PHC string.
pub(crate) async fn hash(password: NewPassword) -> Result<PasswordHash, ApiError> {
    tokio::task::spawn_blocking(move || {
        let mut salt = [0_u8; 16];
        getrandom::fill(&mut salt).map_err(internal)?;
        let hash = Argon2::default()
            .hash_password_with_salt(password.expose().as_bytes(), &salt)
            .map_err(internal)?;
        Ok(PasswordHash::new(hash.to_string()))
    })
    .await
    .map_err(internal)?
}

/// Whether `password` matches `hash`; with no hash, a decoy is checked and
/// the answer is no, in about the same time.
pub(crate) async fn verify(password: String, hash: Option<PasswordHash>) -> Result<bool, ApiError> {
    tokio::task::spawn_blocking(move || {
        let known = hash.is_some();
        let phc = hash.map_or_else(|| decoy().to_owned(), |h| h.as_str().to_owned());
        let matches = Argon2::default()
            .verify_password(password.as_bytes(), phc.as_str())
            .is_ok();
        known && matches
    })
    .await
    .map_err(internal)
}
