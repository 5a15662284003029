//! What the handlers share.

use std::sync::Arc;

use tenancy_core::entity::Session;
use tenancy_core::limits::RateLimits;
use tenancy_core::ports::{BlobStore, Clock, RateLimiter, Repository};
use tenancy_core::service::{Service, Settings};
use tenancy_core::token::SecretToken;
use tenancy_core::{Operation, OrganizationId, UserId};
use tenancy_store::Store;
use tenancy_store::system::{OsTokens, SystemClock, UuidV7};

use crate::limits::TrustedProxies;
use crate::passwords::Passwords;
use crate::problem::ApiError;

/// The use cases over any repository (SQLite or PostgreSQL through
/// [`Store`], or the core's in-memory one in tests), with a clock that tests
/// can replace.
pub type Tenancy = Service<Arc<dyn Repository>, Arc<dyn Clock>, UuidV7, OsTokens>;

/// How the API behaves beyond the use cases.
#[derive(Debug, Clone)]
pub struct ApiConfig {
    /// The token of `POST /v1/authorize`; without one that route answers 404.
    pub service_token: Option<SecretToken>,
    /// The largest knowledge file accepted, in bytes (413 above it).
    pub max_upload_bytes: u64,
    /// The password hasher, which bounds how many hashes run at once.
    pub passwords: Passwords,
    /// The rate limits of sign-in, sign-up, account emails and invitations;
    /// the API's defaults unless told otherwise.
    pub limits: RateLimits,
    /// The peers whose `X-Forwarded-For` names the client; none by default.
    pub trusted_proxies: TrustedProxies,
    /// Lets webhooks use `http` and private addresses
    /// (`--allow-private-webhooks`), for tests and private networks.
    pub allow_private_webhooks: bool,
}

/// The default of `--max-upload-bytes`: 10 MiB.
pub const DEFAULT_MAX_UPLOAD_BYTES: u64 = 10 * 1024 * 1024;

impl Default for ApiConfig {
    /// No service token (`POST /v1/authorize` answers 404), uploads up to
    /// 10 MiB, two password hashes per CPU at once, the API's rate limits
    /// on, no trusted proxy, webhooks to public `https` URLs only.
    fn default() -> Self {
        Self {
            service_token: None,
            max_upload_bytes: DEFAULT_MAX_UPLOAD_BYTES,
            passwords: Passwords::default(),
            limits: RateLimits::default(),
            trusted_proxies: TrustedProxies::none(),
            allow_private_webhooks: false,
        }
    }
}

/// The state of the app: the use cases and the rate limiter, over the
/// core's ports, so that the same app runs over a database or over memory.
#[derive(Clone)]
pub struct AppState {
    pub tenancy: Arc<Tenancy>,
    /// Counts the rate-limited attempts (API.md's table).
    pub limiter: Arc<dyn RateLimiter>,
    pub config: Arc<ApiConfig>,
}

impl std::fmt::Debug for AppState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AppState")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl AppState {
    /// The app's state over a store: the use cases with the system clock,
    /// UUID v7 ids and the operating system's randomness, knowledge files
    /// in `blobs`, the rate limits counted in the store's database. This is
    /// what `tenancy serve` runs and what a host that embeds tenancy builds;
    /// the host then calls `state.tenancy` in-process and mounts
    /// [`crate::app`] among its own routes.
    pub fn new(
        store: Store,
        settings: Settings,
        blobs: Arc<dyn BlobStore>,
        config: ApiConfig,
    ) -> Self {
        let limiter: Arc<dyn RateLimiter> = Arc::new(store.clone());
        Self::over(
            Arc::new(store),
            limiter,
            Arc::new(SystemClock),
            settings,
            blobs,
            config,
        )
    }

    /// The app's state over any repository and rate limiter (the core's
    /// in-memory ones in tests) and a clock.
    pub fn over(
        repository: Arc<dyn Repository>,
        limiter: Arc<dyn RateLimiter>,
        clock: Arc<dyn Clock>,
        settings: Settings,
        blobs: Arc<dyn BlobStore>,
        config: ApiConfig,
    ) -> Self {
        let tenancy = Service::new(repository, clock, UuidV7, OsTokens, settings)
            .with_blobs(blobs)
            .with_request_context(Arc::new(crate::log::RequestIds));
        Self {
            tenancy: Arc::new(tenancy),
            limiter,
            config: Arc::new(config),
        }
    }

    /// The signed-in user of a bearer token; checked against the committed
    /// state on every request, lifetimes included.
    pub async fn caller(&self, token: &str) -> Result<UserId, ApiError> {
        Ok(self.session(token).await?.user_id)
    }

    /// The live session of a bearer token, for the routes that need to
    /// know which of the user's sessions is asking.
    pub async fn session(&self, token: &str) -> Result<Session, ApiError> {
        Ok(self.tenancy.session(token).await?)
    }

    /// The signed-in user, once they may do `operation` in `organization`
    /// (404 for non-members, 403 for the rest, 409
    /// `organization_pending_deletion` for the owner of an organization
    /// pending deletion unless the operation is one it still allows): the
    /// capability is the one the core's table of operations names. Handlers that take a body call
    /// it first, so that nobody learns anything from a 422.
    pub async fn authorized(
        &self,
        token: &str,
        organization: OrganizationId,
        operation: Operation,
    ) -> Result<UserId, ApiError> {
        let caller = self.caller(token).await?;
        self.tenancy.permit(caller, organization, operation).await?;
        Ok(caller)
    }
}
