//! The bearer schemes of the API: a member's session and the host's service
//! token, as poem-openapi security schemes.

use poem_openapi::SecurityScheme;
use poem_openapi::auth::Bearer;

use crate::state::AppState;

/// A session token from sign-up or sign-in.
#[derive(SecurityScheme)]
#[oai(ty = "bearer", rename = "session")]
pub(crate) struct Session(pub(crate) Bearer);

/// The service token given to `tenancy serve --service-token`.
#[derive(SecurityScheme)]
#[oai(ty = "bearer", rename = "service_token")]
pub(crate) struct ServiceToken(pub(crate) Bearer);

/// Who may change a plan: a member's session or the host's service token.
/// Both are bearer tokens, so the first always matches; the handler tells
/// them apart by comparing the token with the service token.
#[derive(SecurityScheme)]
pub(crate) enum BillingAuth {
    Session(Session),
    ServiceToken(ServiceToken),
}

impl BillingAuth {
    pub(crate) fn token(&self) -> &str {
        match self {
            Self::Session(session) => &session.0.token,
            Self::ServiceToken(service) => &service.0.token,
        }
    }
}

/// Whether a bearer token is the service token (never, without one).
pub(crate) fn is_service_token(state: &AppState, token: &str) -> bool {
    state
        .config
        .service_token
        .as_ref()
        .is_some_and(|expected| constant_time_eq(token.as_bytes(), expected.expose().as_bytes()))
}

/// Compares secrets without an early exit, so that timing does not tell how
/// much of a guess was right. The length of a service token is no secret.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0_u8, |acc, (x, y)| acc | (x ^ y)) == 0
}
