//! Host integration: `POST /v1/authorize`, for hosts outside the process,
//! with the service token.

use crate::errors::fails;
use poem_openapi::payload::Json;
use poem_openapi::{Object, OpenApi};
use tenancy_core::{Capability, OrganizationId, UserId};
use uuid::Uuid;

use super::{Result, Tag};
use crate::auth::{ServiceToken, is_service_token};
use crate::body::JsonBody;
use crate::problem::ApiError;
use crate::state::AppState;

/// A question from a host: may this user do this here?
#[derive(Debug, Object)]
pub(crate) struct AuthorizeRequest {
    pub(crate) user_id: Uuid,
    pub(crate) organization_id: Uuid,
    pub(crate) capability: String,
}

/// The answer, decided from the committed state.
#[derive(Debug, Object)]
pub(crate) struct AuthorizeResponse {
    pub(crate) allowed: bool,
    /// The key of the user's role in the organization, built in or custom; `null` for a
    /// non-member.
    #[oai(nullable)]
    pub(crate) role: Option<String>,
}

/// The operations of this area.
pub(crate) struct HostApi(pub(crate) AppState);

#[OpenApi(prefix_path = "/v1")]
impl HostApi {
    /// Check a user's capability in an organization
    ///
    /// Tells a host that runs outside the process whether a user may use a capability in an
    /// organization, decided from the committed state, and with which role.
    /// A member who lacks the capability gets `allowed: false` with their role; an unknown user, an
    /// unknown organization or a non-member gets `allowed: false` with a null `role`.
    /// Authenticated with the service token of `--service-token`, never a user's token; without
    /// that option the route is not served.
    #[oai(
        path = "/authorize",
        method = "post",
        tag = "Tag::Host",
        operation_id = "authorize"
    )]
    async fn authorize(
        &self,
        auth: ServiceToken,
        body: JsonBody<AuthorizeRequest>,
    ) -> Result<
        Json<AuthorizeResponse>,
        fails![
            Unauthenticated,
            NotFound,
            BadRequest,
            PayloadTooLarge,
            ValidationFailed
        ],
    > {
        if self.0.config.service_token.is_none() {
            return Err(ApiError::no_such_route().into());
        }
        if !is_service_token(&self.0, &auth.0.token) {
            return Err(ApiError::unauthenticated().into());
        }
        let body = body.value()?;
        let capability =
            Capability::parse(&body.capability).map_err(|e| ApiError::invalid("capability", e))?;
        let decided = self
            .0
            .tenancy
            .authorize(
                UserId::from_uuid(body.user_id),
                OrganizationId::from_uuid(body.organization_id),
                capability,
            )
            .await?;
        Ok(Json(match decided {
            Ok(grant) => AuthorizeResponse {
                allowed: true,
                role: Some(grant.role().as_str().to_owned()),
            },
            Err(tenancy_core::Denial::LacksCapability { role, .. }) => AuthorizeResponse {
                allowed: false,
                role: Some(role.as_str().to_owned()),
            },
            Err(tenancy_core::Denial::NotAMember) => AuthorizeResponse {
                allowed: false,
                role: None,
            },
        }))
    }
}
