//! Password hashing with argon2id at OWASP's parameters (19 MiB, 2 passes,
//! 1 lane: argon2's defaults), on a blocking thread: it is slow on purpose.
//!
//! Each hash needs 19 MiB of working memory. Left alone, a storm of
//! sign-ins would run as many hashes at once as tokio has blocking threads
//! (hundreds), each allocating its own 19 MiB, and the allocator keeps what
//! it was given. So [`Passwords`] runs at most `max_concurrent` hashes at a
//! time, each in one of `max_concurrent` memory areas allocated once and
//! reused; a request that cannot start within [`WAIT`] gets 503 with
//! `Retry-After`. Resident memory stays flat whatever the load.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use argon2::password_hash::phc::{Output, ParamsString, PasswordHash as Phc, Salt};
use argon2::{Algorithm, Argon2, Block, Params, Version};
use tenancy_core::StoreError;
use tenancy_core::ports::PasswordVerifier;
use tenancy_core::value::{NewPassword, PasswordHash};
use tokio::sync::Semaphore;

use crate::problem::{ApiError, ProblemCode};

/// How long a request waits for a free hashing slot before it is told to
/// come back (API.md: "cannot start within 5 s").
pub(crate) const WAIT: Duration = Duration::from_secs(5);

/// The default number of hashes at once: two per CPU.
pub fn default_max_concurrent() -> usize {
    std::thread::available_parallelism().map_or(2, |n| n.get() * 2)
}

/// The password hasher: a bounded number of hashes at once, in reused memory.
/// Cloning shares the bound.
#[derive(Clone)]
pub struct Passwords {
    inner: Arc<Inner>,
}

struct Inner {
    max_concurrent: usize,
    slots: Arc<Semaphore>,
    /// Working memory of hashes that finished, for the next ones; never more
    /// areas than `max_concurrent`, since each belongs to a running hash or
    /// sits here.
    memory: Mutex<Vec<Vec<Block>>>,
    wait: Duration,
    /// A hash of a random password nobody knows, made on first use, to
    /// spend the same time on sign-ins of unknown emails as on wrong
    /// passwords.
    decoy: std::sync::OnceLock<String>,
}

impl std::fmt::Debug for Passwords {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Passwords")
            .field("max_concurrent", &self.inner.max_concurrent)
            .field("wait", &self.inner.wait)
            .finish_non_exhaustive()
    }
}

impl Default for Passwords {
    /// Two hashes per CPU at once.
    fn default() -> Self {
        Self::new(default_max_concurrent())
    }
}

/// Why a hash did not run.
#[derive(Debug)]
enum HashError {
    /// No slot freed within the wait.
    Saturated,
    /// A bug, or a stored hash that is not one.
    Failed(String),
}

fn failed(error: impl std::fmt::Display) -> HashError {
    HashError::Failed(error.to_string())
}

/// The hasher was saturated: no hash could start within the wait. As the
/// core's port carries it, a [`StoreError::unavailable`] whose source is
/// this, which HTTP answers 503 with `Retry-After` ([`saturated`]).
#[derive(Debug, thiserror::Error)]
#[error("the server is busy checking passwords")]
pub(crate) struct Saturated;

/// The answer to a saturated hasher: 503 `unavailable`, come back shortly.
pub(crate) fn saturated() -> ApiError {
    ApiError::retry_later(
        ProblemCode::Unavailable,
        "the server is busy checking passwords; try again shortly",
        2,
    )
}

impl From<HashError> for ApiError {
    fn from(error: HashError) -> Self {
        match error {
            HashError::Saturated => saturated(),
            HashError::Failed(error) => {
                tracing::error!(%error, "password hashing failed");
                ApiError::internal()
            }
        }
    }
}

impl From<HashError> for StoreError {
    fn from(error: HashError) -> Self {
        match error {
            HashError::Saturated => StoreError::unavailable(Saturated),
            HashError::Failed(error) => {
                StoreError::other(format!("password hashing failed: {error}"))
            }
        }
    }
}

/// The parameters of new hashes: argon2's defaults, which are OWASP's.
fn params() -> Params {
    Params::default()
}

impl Passwords {
    /// At most `max_concurrent` hashes at once (at least one).
    pub fn new(max_concurrent: usize) -> Self {
        Self::with_wait(max_concurrent, WAIT)
    }

    /// As [`Passwords::new`], waiting at most `wait` for a slot.
    pub fn with_wait(max_concurrent: usize, wait: Duration) -> Self {
        let max_concurrent = max_concurrent.max(1);
        Self {
            inner: Arc::new(Inner {
                max_concurrent,
                slots: Arc::new(Semaphore::new(max_concurrent)),
                memory: Mutex::new(Vec::new()),
                wait,
                decoy: std::sync::OnceLock::new(),
            }),
        }
    }

    /// How many hashes may run at once.
    pub fn max_concurrent(&self) -> usize {
        self.inner.max_concurrent
    }

    /// Runs `work` with working memory of at least `blocks` blocks, on a
    /// blocking thread, once a slot is free; saturated if none frees within
    /// the wait.
    async fn run<T: Send + 'static>(
        &self,
        blocks: usize,
        work: impl FnOnce(&mut [Block]) -> T + Send + 'static,
    ) -> Result<T, HashError> {
        let permit = tokio::time::timeout(
            self.inner.wait,
            Arc::clone(&self.inner.slots).acquire_owned(),
        )
        .await
        .map_err(|_| HashError::Saturated)?
        .map_err(failed)?;
        let inner = Arc::clone(&self.inner);
        tokio::task::spawn_blocking(move || {
            let mut memory = inner
                .memory
                .lock()
                .map(|mut free| free.pop())
                .unwrap_or_default()
                .unwrap_or_default();
            if memory.len() < blocks {
                memory = vec![Block::default(); blocks];
            }
            let result = work(&mut memory);
            // Only areas of the usual size are kept, so that one odd stored
            // hash with a larger cost does not pin its memory for good.
            if memory.len() == params().block_count()
                && let Ok(mut free) = inner.memory.lock()
            {
                free.push(memory);
            }
            drop(permit);
            result
        })
        .await
        .map_err(failed)
    }

    /// Hashes a new password into a PHC string.
    pub(crate) async fn hash(&self, password: NewPassword) -> Result<PasswordHash, ApiError> {
        let mut salt = [0_u8; 16];
        getrandom::fill(&mut salt).map_err(failed)?;
        let phc = self
            .run(params().block_count(), move |memory| {
                phc_of(password.expose().as_bytes(), &salt, memory)
            })
            .await?
            .map_err(failed)?;
        Ok(PasswordHash::new(phc))
    }

    /// Whether `password` matches `hash`; with no hash, a decoy is checked and
    /// the answer is no, in about the same time.
    async fn check(
        &self,
        password: String,
        hash: Option<&PasswordHash>,
    ) -> Result<bool, HashError> {
        let known = hash.is_some();
        let phc = match hash {
            Some(hash) => hash.as_str().to_owned(),
            None => self.decoy().await?,
        };
        let parsed = Phc::new(&phc).map_err(failed)?;
        let params = Params::try_from(&parsed).map_err(failed)?;
        let matches = self
            .run(params.block_count(), move |memory| {
                verify_phc(password.as_bytes(), &parsed, params, memory)
            })
            .await?;
        Ok(known && matches)
    }

    async fn decoy(&self) -> Result<String, HashError> {
        if let Some(decoy) = self.inner.decoy.get() {
            return Ok(decoy.clone());
        }
        let mut secret = [0_u8; 32];
        let mut salt = [0_u8; 16];
        getrandom::fill(&mut secret).map_err(failed)?;
        getrandom::fill(&mut salt).map_err(failed)?;
        let made = self
            .run(params().block_count(), move |memory| {
                phc_of(&secret, &salt, memory)
            })
            .await?
            .map_err(failed)?;
        Ok(self.inner.decoy.get_or_init(|| made).clone())
    }
}

/// The core's port: sign-in and a password change check passwords through
/// it, so that only the core turns a match into proof. Saturation reaches
/// the core as a store that does not answer, which HTTP answers 503 with
/// `Retry-After` as before; a broken stored hash is a store failure (500).
#[async_trait::async_trait]
impl PasswordVerifier for Passwords {
    async fn verify(
        &self,
        password: &str,
        hash: Option<&PasswordHash>,
    ) -> Result<bool, StoreError> {
        Ok(self.check(password.to_owned(), hash).await?)
    }
}

/// The PHC string of `password` with `salt` at the default parameters,
/// computed in `memory`.
fn phc_of(password: &[u8], salt: &[u8], memory: &mut [Block]) -> Result<String, String> {
    let params = params();
    let blocks = params.block_count();
    let mut out = [0_u8; Params::DEFAULT_OUTPUT_LEN];
    let memory = memory.get_mut(..blocks).ok_or("too little memory")?;
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params.clone())
        .hash_password_into_with_memory(password, salt, &mut out, memory)
        .map_err(|e| e.to_string())?;
    let phc = Phc {
        algorithm: argon2::ARGON2ID_IDENT,
        version: Some(Version::V0x13.into()),
        params: ParamsString::try_from(&params).map_err(|e| e.to_string())?,
        salt: Some(Salt::new(salt).map_err(|e| e.to_string())?),
        hash: Some(Output::new(&out).map_err(|e| e.to_string())?),
    };
    Ok(phc.to_string())
}

/// Whether `password` hashes to `stored` with the stored parameters,
/// computed in `memory`; a malformed stored hash matches nothing.
fn verify_phc(password: &[u8], stored: &Phc, params: Params, memory: &mut [Block]) -> bool {
    let (Some(salt), Some(expected)) = (&stored.salt, &stored.hash) else {
        return false;
    };
    let Ok(algorithm) = Algorithm::try_from(stored.algorithm.as_str()) else {
        return false;
    };
    let version = match stored.version.map(Version::try_from) {
        None => Version::default(),
        Some(Ok(version)) => version,
        Some(Err(_)) => return false,
    };
    let Some(memory) = memory.get_mut(..params.block_count()) else {
        return false;
    };
    let mut out = vec![0_u8; expected.len()];
    if Argon2::new(algorithm, version, params)
        .hash_password_into_with_memory(password, salt.as_ref(), &mut out, memory)
        .is_err()
    {
        return false;
    }
    // `Output`'s equality is constant-time.
    Output::new(&out).is_ok_and(|computed| &computed == expected)
}

#[cfg(test)]
mod tests {
    use super::*;
    use argon2::password_hash::{PasswordHasher, PasswordVerifier as _};

    #[tokio::test]
    async fn hashes_verify_and_match_the_argon2_crates_own() {
        let passwords = Passwords::new(2);
        let hash = passwords
            .hash(NewPassword::parse("correct horse battery").unwrap())
            .await
            .unwrap();
        assert!(hash.as_str().starts_with("$argon2id$v=19$m=19456,t=2,p=1$"));
        // The crate's own verifier accepts ours, and ours accepts the crate's.
        assert!(
            Argon2::default()
                .verify_password(b"correct horse battery", hash.as_str())
                .is_ok()
        );
        let theirs = Argon2::default()
            .hash_password_with_salt(b"hunter2hunter2", b"0123456789abcdef")
            .unwrap()
            .to_string();
        let theirs = PasswordHash::new(theirs);
        assert!(
            passwords
                .verify("hunter2hunter2", Some(&theirs))
                .await
                .unwrap()
        );
        assert!(
            !passwords
                .verify("hunter3hunter3", Some(&theirs))
                .await
                .unwrap()
        );
        assert!(
            passwords
                .verify("correct horse battery", Some(&hash))
                .await
                .unwrap()
        );
        assert!(!passwords.verify("wrong", Some(&hash)).await.unwrap());
        // No account: the decoy is checked, and the answer is no.
        assert!(
            !passwords
                .verify("correct horse battery", None)
                .await
                .unwrap()
        );
        // A stored hash with other parameters (a cheaper one) still verifies.
        let cheap = Argon2::new(
            Algorithm::Argon2id,
            Version::V0x13,
            Params::new(8 * 1024, 1, 1, None).unwrap(),
        )
        .hash_password_with_salt(b"old password", b"fedcba9876543210")
        .unwrap()
        .to_string();
        assert!(
            passwords
                .verify("old password", Some(&PasswordHash::new(cheap)))
                .await
                .unwrap()
        );
        // A malformed stored hash matches nothing and is an internal error.
        assert!(
            passwords
                .verify("x", Some(&PasswordHash::new("garbage".into())))
                .await
                .is_err()
        );
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn at_most_the_bound_runs_and_the_rest_wait_or_get_503() {
        let passwords = Passwords::with_wait(1, Duration::from_millis(50));
        // Hold the only slot, as a long hash would.
        let held = Arc::clone(&passwords.inner.slots)
            .acquire_owned()
            .await
            .unwrap();
        let refused = passwords
            .hash(NewPassword::parse("correct horse battery").unwrap())
            .await
            .unwrap_err();
        assert_eq!(refused.problem().status, 503);
        assert_eq!(refused.problem().code, ProblemCode::Unavailable);
        assert!(refused.problem().retry_after.is_some());
        // Through the core's port, saturation is a store that does not
        // answer, and it leaves HTTP as the same 503.
        let through_port = passwords
            .verify("correct horse battery", None)
            .await
            .unwrap_err();
        assert_eq!(
            through_port.kind(),
            tenancy_core::error::StoreErrorKind::Unavailable
        );
        let answered = ApiError::from(tenancy_core::Error::Store(through_port));
        assert_eq!(answered.problem(), refused.problem());
        drop(held);
        // Many at once with a generous wait: every one finishes, and memory
        // areas are never more than the bound.
        let passwords = Passwords::with_wait(2, Duration::from_secs(60));
        let runs = (0..6).map(|_| {
            let passwords = passwords.clone();
            tokio::spawn(async move {
                passwords
                    .verify("correct horse battery", None)
                    .await
                    .unwrap()
            })
        });
        for run in runs {
            assert!(!run.await.unwrap());
        }
        assert!(passwords.inner.memory.lock().unwrap().len() <= 2);
    }
}
