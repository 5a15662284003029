//! The operations of `/v1`, thin: parse, call a use case, convert.

use poem_openapi::auth::Bearer;
use poem_openapi::param::{Path, Query};
use poem_openapi::payload::Json;
use poem_openapi::{ApiResponse, Object, OpenApi, SecurityScheme, Tags};
use tenancy_core::decide::PlanChanger;
use tenancy_core::limits::LimitKey;
use tenancy_core::plan::PlanId;
use tenancy_core::value::{DisplayName, EmailAddress, NewPassword, OrganizationName};
use tenancy_core::{Capability, InvitationId, OrganizationId, UserId};
use uuid::Uuid;

use crate::body::JsonBody;
use crate::limits;
use crate::problem::{ApiError, FieldError};
use crate::state::AppState;
use crate::types::*;

/// A session token from sign-up or sign-in.
#[derive(SecurityScheme)]
#[oai(ty = "bearer", rename = "session")]
pub(crate) struct Session(pub(crate) Bearer);

/// The service token given to `tenancy serve --service-token`.
#[derive(SecurityScheme)]
#[oai(ty = "bearer", rename = "service_token")]
pub(crate) struct ServiceToken(Bearer);

/// Who may change a plan: a member's session or the host's service token.
/// Both are bearer tokens, so the first always matches; the handler tells
/// them apart by comparing the token with the service token.
#[derive(SecurityScheme)]
pub(crate) enum BillingAuth {
    Session(Session),
    ServiceToken(ServiceToken),
}

impl BillingAuth {
    fn token(&self) -> &str {
        match self {
            Self::Session(session) => &session.0.token,
            Self::ServiceToken(service) => &service.0.token,
        }
    }
}

#[derive(Tags)]
pub(crate) enum Tag {
    /// Accounts and sessions.
    Accounts,
    /// Organizations and the switcher.
    Organizations,
    /// Members and invitations.
    Members,
    /// Plans, billing and the permission matrix.
    Plans,
    /// Agents, connections, reports and knowledge files of an organization.
    Resources,
    /// Pins, chats and investigations: what members do with resources.
    Collaboration,
    /// Authorization for hosts outside the process.
    Host,
    /// Health of the service.
    Operations,
}

type Result<T> = std::result::Result<T, ApiError>;

/// Collects field errors so that a request learns everything wrong at once.
#[derive(Default)]
pub(crate) struct Fields(Vec<FieldError>);

impl Fields {
    pub(crate) fn check<T, E: std::fmt::Display>(
        &mut self,
        field: &str,
        parsed: std::result::Result<T, E>,
    ) -> Option<T> {
        match parsed {
            Ok(value) => Some(value),
            Err(error) => {
                self.0.push(FieldError {
                    field: field.to_owned(),
                    message: error.to_string(),
                });
                None
            }
        }
    }

    pub(crate) fn finish(self) -> Result<()> {
        if self.0.is_empty() {
            Ok(())
        } else {
            Err(ApiError::validation(self.0))
        }
    }
}

/// A sign-up.
#[derive(Debug, Object)]
pub(crate) struct SignUpRequest {
    pub(crate) email: String,
    /// 8 to 256 characters.
    pub(crate) password: String,
    #[oai(nullable)]
    pub(crate) display_name: Option<String>,
    /// The token of an invitation link: accepted in the same transaction.
    #[oai(nullable)]
    pub(crate) invitation_token: Option<String>,
}

/// What became of the invitation presented at sign-up.
#[derive(Debug, Clone, Copy, PartialEq, Eq, poem_openapi::Enum)]
#[oai(rename_all = "snake_case")]
pub(crate) enum SignUpInvitationStatus {
    Accepted,
    NotAccepted,
}

/// The invitation presented at sign-up: accepted (with its organization),
/// or not (with the error code that says why).
#[derive(Debug, Object)]
pub(crate) struct SignUpInvitation {
    pub(crate) status: SignUpInvitationStatus,
    #[oai(skip_serializing_if_is_none)]
    pub(crate) organization_id: Option<Uuid>,
    #[oai(skip_serializing_if_is_none)]
    pub(crate) code: Option<String>,
}

/// A new account with its session and default organization.
#[derive(Debug, Object)]
pub(crate) struct SignUpResponse {
    pub(crate) user: UserBody,
    pub(crate) token: String,
    pub(crate) default_organization: Org,
    #[oai(nullable)]
    pub(crate) invitation: Option<SignUpInvitation>,
}

#[derive(ApiResponse)]
pub(crate) enum Created<T: poem_openapi::types::ToJSON + Send + Sync> {
    /// Created.
    #[oai(status = 201)]
    Created(Json<T>),
}

#[derive(ApiResponse)]
pub(crate) enum NoContent {
    /// Done.
    #[oai(status = 204)]
    NoContent,
}

/// A sign-in.
#[derive(Debug, Object)]
pub(crate) struct SignInRequest {
    pub(crate) email: String,
    pub(crate) password: String,
}

/// A session.
#[derive(Debug, Object)]
pub(crate) struct SignInResponse {
    pub(crate) user: UserBody,
    pub(crate) token: String,
}

/// The caller.
#[derive(Debug, Object)]
pub(crate) struct MeResponse {
    pub(crate) user: UserBody,
    /// `null` only for an account that belongs to no organization.
    #[oai(nullable)]
    pub(crate) active_organization_id: Option<Uuid>,
}

/// A name for an organization.
#[derive(Debug, Object)]
pub(crate) struct NameRequest {
    /// Trimmed, 1 to 100 characters, no control characters.
    pub(crate) name: String,
}

/// The active organization.
#[derive(Debug, Object)]
pub(crate) struct ActiveResponse {
    pub(crate) organization: SwitcherEntry,
}

/// A choice of active organization.
#[derive(Debug, Object)]
pub(crate) struct SwitchRequest {
    pub(crate) organization_id: Uuid,
}

/// An invitation to send.
#[derive(Debug, Object)]
pub(crate) struct InviteRequest {
    pub(crate) email: String,
    /// Only `viewer` can be invited; the default.
    #[oai(nullable)]
    pub(crate) role: Option<String>,
}

/// An invitation token to accept.
#[derive(Debug, Object)]
pub(crate) struct AcceptRequest {
    pub(crate) token: String,
}

/// A plan to change to.
#[derive(Debug, Object)]
pub(crate) struct PlanRequest {
    pub(crate) plan: String,
}

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
    #[oai(nullable)]
    pub(crate) role: Option<RoleName>,
}

/// The operations of `/v1`.
pub(crate) struct Api(pub AppState);

#[OpenApi(prefix_path = "/v1")]
impl Api {
    /// Sign up: an account, a session and a default organization; with an
    /// invitation token, the invitation accepted in the same transaction.
    #[oai(
        path = "/auth/signup",
        method = "post",
        tag = "Tag::Accounts",
        operation_id = "signUp"
    )]
    async fn sign_up(
        &self,
        http: &poem::Request,
        body: JsonBody<SignUpRequest>,
    ) -> Result<Created<SignUpResponse>> {
        // The client's attempts are counted before the body is judged.
        let client = limits::client_ip(http, &self.0.config.trusted_proxies);
        limits::enforce(&self.0, &LimitKey::auth_attempts(client)).await?;
        let request = body.value()?;
        let mut fields = Fields::default();
        let email = fields.check("email", EmailAddress::parse(&request.email));
        let password = fields.check("password", NewPassword::parse(&request.password));
        let display_name = match request.display_name.as_deref().map(str::trim) {
            None | Some("") => None,
            Some(name) => fields.check("display_name", DisplayName::parse(name)),
        };
        fields.finish()?;
        let (Some(email), Some(password)) = (email, password) else {
            return Err(ApiError::invalid("body", "invalid sign-up"));
        };
        let hash = self.0.config.passwords.hash(password).await?;
        let signed = self
            .0
            .tenancy
            .sign_up(
                email,
                display_name,
                hash,
                request.invitation_token.as_deref(),
            )
            .await?;
        let invitation = signed.invitation.as_ref().map(|outcome| match outcome {
            tenancy_core::decide::InvitationOutcome::Accepted(accepted) => SignUpInvitation {
                status: SignUpInvitationStatus::Accepted,
                organization_id: Some(accepted.organization_id.as_uuid()),
                code: None,
            },
            tenancy_core::decide::InvitationOutcome::NotAccepted { code } => SignUpInvitation {
                status: SignUpInvitationStatus::NotAccepted,
                organization_id: None,
                code: Some((*code).to_owned()),
            },
        });
        let default = tenancy_core::service::OrganizationView {
            is_active: signed.active_organization_id == signed.default_organization.id,
            organization: signed.default_organization.clone(),
            role: tenancy_core::Role::Owner,
        };
        Ok(Created::Created(Json(SignUpResponse {
            user: (&signed.user).into(),
            token: signed.session_token.expose().to_owned(),
            default_organization: (&default).into(),
            invitation,
        })))
    }

    /// Sign in with email and password; an unknown email and a wrong password
    /// get the same answer.
    #[oai(
        path = "/auth/signin",
        method = "post",
        tag = "Tag::Accounts",
        operation_id = "signIn"
    )]
    async fn sign_in(
        &self,
        http: &poem::Request,
        body: JsonBody<SignInRequest>,
    ) -> Result<Json<SignInResponse>> {
        // The client's attempts are counted before the body is judged.
        let client = limits::client_ip(http, &self.0.config.trusted_proxies);
        limits::enforce(&self.0, &LimitKey::auth_attempts(client)).await?;
        let request = body.value()?;
        let email = EmailAddress::parse(&request.email).ok();
        // The email's failures are judged before the password is hashed, so
        // that a refused email costs no hashing. Every attempt counts as a
        // failure until its password matches and the count is cleared:
        // guesses sent at once cannot slip past the count while they hash.
        // Unknown emails count alike, so that a 429 tells nobody whether an
        // account exists; an address that does not parse names no account,
        // and only the client's count applies to it.
        let failures = email.as_ref().map(LimitKey::sign_in_failures);
        if let Some(key) = &failures {
            limits::enforce(&self.0, key).await?;
        }
        let account = match &email {
            Some(email) => self.0.tenancy.credentials(email).await?,
            None => None,
        };
        let (user, hash) = match account {
            Some((user, hash)) => (Some(user), Some(hash)),
            None => (None, None),
        };
        let matches = self
            .0
            .config
            .passwords
            .verify(request.password, hash)
            .await?;
        if let (true, Some(key)) = (matches, &failures) {
            limits::clear(&self.0, key).await?;
        }
        let (_, token) = self.0.tenancy.sign_in(user.as_ref(), matches).await?;
        let user = user.ok_or_else(|| ApiError::from(tenancy_core::Error::InvalidCredentials))?;
        Ok(Json(SignInResponse {
            user: (&user).into(),
            token: token.expose().to_owned(),
        }))
    }

    /// Sign out: the token stops working at once.
    #[oai(
        path = "/auth/signout",
        method = "post",
        tag = "Tag::Accounts",
        operation_id = "signOut"
    )]
    async fn sign_out(&self, auth: Session) -> Result<NoContent> {
        self.0.tenancy.sign_out(&auth.0.token).await?;
        Ok(NoContent::NoContent)
    }

    /// The caller and their active organization.
    #[oai(
        path = "/me",
        method = "get",
        tag = "Tag::Accounts",
        operation_id = "getMe"
    )]
    async fn me(&self, auth: Session) -> Result<Json<MeResponse>> {
        let caller = self.0.caller(&auth.0.token).await?;
        let user = self.0.tenancy.user(caller).await?;
        let active = self
            .0
            .tenancy
            .organizations(caller)
            .await?
            .into_iter()
            .find(|view| view.is_active)
            .map(|view| view.organization.id.as_uuid());
        Ok(Json(MeResponse {
            user: (&user).into(),
            active_organization_id: active,
        }))
    }

    /// Every organization the caller owns or belongs to (R7).
    #[oai(
        path = "/organizations",
        method = "get",
        tag = "Tag::Organizations",
        operation_id = "listOrganizations"
    )]
    async fn organizations(
        &self,
        auth: Session,
        #[oai(validator(minimum(value = "1"), maximum(value = "200")))] limit: Query<Option<u32>>,
        cursor: Query<Option<String>>,
    ) -> Result<Json<OrganizationList>> {
        let caller = self.0.caller(&auth.0.token).await?;
        let views = self.0.tenancy.organizations(caller).await?;
        let entries = views.iter().map(SwitcherEntry::from).collect();
        OrganizationList::of(entries, limit.0, cursor.0)
    }

    /// Create an organization; it becomes the caller's active one (R5).
    #[oai(
        path = "/organizations",
        method = "post",
        tag = "Tag::Organizations",
        operation_id = "createOrganization"
    )]
    async fn create_organization(
        &self,
        auth: Session,
        body: JsonBody<NameRequest>,
    ) -> Result<Created<Org>> {
        let caller = self.0.caller(&auth.0.token).await?;
        let name = OrganizationName::parse(&body.value()?.name)
            .map_err(|e| ApiError::invalid("name", e))?;
        let view = self.0.tenancy.create_organization(caller, name).await?;
        Ok(Created::Created(Json((&view).into())))
    }

    /// One organization, with the caller's role and capabilities.
    #[oai(
        path = "/organizations/:org_id",
        method = "get",
        tag = "Tag::Organizations",
        operation_id = "getOrganization"
    )]
    async fn organization(&self, auth: Session, org_id: Path<Uuid>) -> Result<Json<Org>> {
        let caller = self.0.caller(&auth.0.token).await?;
        let view = self
            .0
            .tenancy
            .organization(caller, OrganizationId::from_uuid(org_id.0))
            .await?;
        Ok(Json((&view).into()))
    }

    /// Rename an organization (`rename_organization`).
    #[oai(
        path = "/organizations/:org_id",
        method = "patch",
        tag = "Tag::Organizations",
        operation_id = "renameOrganization"
    )]
    async fn rename(
        &self,
        auth: Session,
        org_id: Path<Uuid>,
        body: JsonBody<NameRequest>,
    ) -> Result<Json<Org>> {
        let org = OrganizationId::from_uuid(org_id.0);
        // Authorization comes before validation: a non-member or a viewer
        // learns nothing from the body.
        let caller = self
            .0
            .authorized(&auth.0.token, org, Capability::RenameOrganization)
            .await?;
        let name = OrganizationName::parse(&body.value()?.name)
            .map_err(|e| ApiError::invalid("name", e))?;
        let view = self.0.tenancy.rename(caller, org, name).await?;
        Ok(Json((&view).into()))
    }

    /// The active organization, falling back to the caller's own when the
    /// stored one is no longer accessible (R8, R19).
    #[oai(
        path = "/me/active-organization",
        method = "get",
        tag = "Tag::Organizations",
        operation_id = "getActiveOrganization"
    )]
    async fn active(&self, auth: Session) -> Result<Json<ActiveResponse>> {
        let caller = self.0.caller(&auth.0.token).await?;
        let view = self.0.tenancy.active_organization(caller).await?;
        Ok(Json(ActiveResponse {
            organization: (&view).into(),
        }))
    }

    /// Switch the active organization.
    #[oai(
        path = "/me/active-organization",
        method = "put",
        tag = "Tag::Organizations",
        operation_id = "setActiveOrganization"
    )]
    async fn switch(
        &self,
        auth: Session,
        body: JsonBody<SwitchRequest>,
    ) -> Result<Json<ActiveResponse>> {
        let caller = self.0.caller(&auth.0.token).await?;
        let body = body.value()?;
        let view = self
            .0
            .tenancy
            .switch_active(caller, OrganizationId::from_uuid(body.organization_id))
            .await?;
        Ok(Json(ActiveResponse {
            organization: (&view).into(),
        }))
    }

    /// The members with roles and join dates (`manage_members`).
    #[oai(
        path = "/organizations/:org_id/members",
        method = "get",
        tag = "Tag::Members",
        operation_id = "listMembers"
    )]
    async fn members(
        &self,
        auth: Session,
        org_id: Path<Uuid>,
        #[oai(validator(minimum(value = "1"), maximum(value = "200")))] limit: Query<Option<u32>>,
        cursor: Query<Option<String>>,
    ) -> Result<Json<MemberList>> {
        let caller = self.0.caller(&auth.0.token).await?;
        let members = self
            .0
            .tenancy
            .members(caller, OrganizationId::from_uuid(org_id.0))
            .await?;
        let bodies = members.iter().map(MemberBody::from).collect();
        MemberList::of(bodies, limit.0, cursor.0)
    }

    /// Remove a member (`manage_members`); never the owner. Their access ends
    /// with their next request.
    #[oai(
        path = "/organizations/:org_id/members/:user_id",
        method = "delete",
        tag = "Tag::Members",
        operation_id = "removeMember"
    )]
    async fn remove_member(
        &self,
        auth: Session,
        org_id: Path<Uuid>,
        user_id: Path<Uuid>,
    ) -> Result<NoContent> {
        let caller = self.0.caller(&auth.0.token).await?;
        self.0
            .tenancy
            .remove_member(
                caller,
                OrganizationId::from_uuid(org_id.0),
                UserId::from_uuid(user_id.0),
            )
            .await?;
        Ok(NoContent::NoContent)
    }

    /// Invite an email as a viewer (`manage_members`); a pending invitation
    /// of the same email is replaced.
    #[oai(
        path = "/organizations/:org_id/invitations",
        method = "post",
        tag = "Tag::Members",
        operation_id = "createInvitation"
    )]
    async fn invite(
        &self,
        auth: Session,
        org_id: Path<Uuid>,
        body: JsonBody<InviteRequest>,
    ) -> Result<Created<InvitationBody>> {
        let org = OrganizationId::from_uuid(org_id.0);
        // Authorization comes before validation: a non-member or a viewer
        // learns nothing from the body.
        let caller = self
            .0
            .authorized(&auth.0.token, org, Capability::ManageMembers)
            .await?;
        // Counted once the caller may invite, before the body is judged.
        limits::enforce(&self.0, &LimitKey::invitations(org)).await?;
        let body = body.value()?;
        let email = EmailAddress::parse(&body.email).map_err(|e| ApiError::invalid("email", e))?;
        let invitation = self
            .0
            .tenancy
            .invite(caller, org, email, body.role.as_deref())
            .await?;
        Ok(Created::Created(Json(InvitationBody::new(
            &invitation,
            invitation.created_at,
        ))))
    }

    /// The pending invitations with their expiry (`manage_members`).
    #[oai(
        path = "/organizations/:org_id/invitations",
        method = "get",
        tag = "Tag::Members",
        operation_id = "listInvitations"
    )]
    async fn invitations(
        &self,
        auth: Session,
        org_id: Path<Uuid>,
        #[oai(validator(minimum(value = "1"), maximum(value = "200")))] limit: Query<Option<u32>>,
        cursor: Query<Option<String>>,
    ) -> Result<Json<InvitationList>> {
        let caller = self.0.caller(&auth.0.token).await?;
        let pending = self
            .0
            .tenancy
            .pending_invitations(caller, OrganizationId::from_uuid(org_id.0))
            .await?;
        let now = self.0.tenancy.now();
        let bodies = pending
            .iter()
            .map(|i| InvitationBody::new(i, now))
            .collect();
        InvitationList::of(bodies, limit.0, cursor.0)
    }

    /// Revoke an invitation (`manage_members`): its link stops working.
    #[oai(
        path = "/organizations/:org_id/invitations/:invitation_id",
        method = "delete",
        tag = "Tag::Members",
        operation_id = "revokeInvitation"
    )]
    async fn revoke(
        &self,
        auth: Session,
        org_id: Path<Uuid>,
        invitation_id: Path<Uuid>,
    ) -> Result<NoContent> {
        let caller = self.0.caller(&auth.0.token).await?;
        self.0
            .tenancy
            .revoke(
                caller,
                OrganizationId::from_uuid(org_id.0),
                InvitationId::from_uuid(invitation_id.0),
            )
            .await?;
        Ok(NoContent::NoContent)
    }

    /// What an invitation link's landing page shows (no authentication).
    #[oai(
        path = "/invitations/:token",
        method = "get",
        tag = "Tag::Members",
        operation_id = "previewInvitation"
    )]
    async fn preview(&self, token: Path<String>) -> Result<Json<InvitationPreviewBody>> {
        let preview = self.0.tenancy.preview_invitation(&token.0).await?;
        Ok(Json((&preview).into()))
    }

    /// Accept an invitation as the invited account; the organization becomes
    /// active. Accepting again while a member changes nothing.
    #[oai(
        path = "/invitations/accept",
        method = "post",
        tag = "Tag::Members",
        operation_id = "acceptInvitation"
    )]
    async fn accept(
        &self,
        auth: Session,
        body: JsonBody<AcceptRequest>,
    ) -> Result<Json<ActiveResponse>> {
        let caller = self.0.caller(&auth.0.token).await?;
        let view = self.0.tenancy.accept(caller, &body.value()?.token).await?;
        Ok(Json(ActiveResponse {
            organization: (&view).into(),
        }))
    }

    /// The plans (no authentication).
    #[oai(
        path = "/plans",
        method = "get",
        tag = "Tag::Plans",
        operation_id = "listPlans"
    )]
    async fn plans(
        &self,
        #[oai(validator(minimum(value = "1"), maximum(value = "200")))] limit: Query<Option<u32>>,
        cursor: Query<Option<String>>,
    ) -> Result<Json<PlanList>> {
        let plans = self
            .0
            .tenancy
            .settings()
            .catalog
            .plans()
            .iter()
            .map(PlanBody::from)
            .collect();
        PlanList::of(plans, limit.0, cursor.0)
    }

    /// The roles and their capabilities (no authentication).
    #[oai(
        path = "/roles",
        method = "get",
        tag = "Tag::Plans",
        operation_id = "listRoles"
    )]
    async fn roles(&self) -> Json<RolesBody> {
        Json(RolesBody::matrix())
    }

    /// The plan, limits and usage (`manage_billing`).
    #[oai(
        path = "/organizations/:org_id/billing",
        method = "get",
        tag = "Tag::Plans",
        operation_id = "getBilling"
    )]
    async fn billing(&self, auth: Session, org_id: Path<Uuid>) -> Result<Json<BillingBody>> {
        let caller = self.0.caller(&auth.0.token).await?;
        let billing = self
            .0
            .tenancy
            .billing(caller, OrganizationId::from_uuid(org_id.0))
            .await?;
        Ok(Json((&billing).into()))
    }

    /// Change the plan: members (`manage_billing`) pick self-serve plans,
    /// the service token sets any.
    ///
    /// With a member's session, a plan that is not self-serve is
    /// `plan_not_selectable`. With the service token (the host's billing
    /// system, after payment) there is no member: the organization is the
    /// one the path names. An unknown plan is invalid either way.
    #[oai(
        path = "/organizations/:org_id/billing/plan",
        method = "put",
        tag = "Tag::Plans",
        operation_id = "changePlan"
    )]
    async fn change_plan(
        &self,
        auth: BillingAuth,
        org_id: Path<Uuid>,
        body: JsonBody<PlanRequest>,
    ) -> Result<Json<BillingBody>> {
        let org = OrganizationId::from_uuid(org_id.0);
        // Authorization comes before validation: a non-member or a viewer
        // learns nothing from the body.
        let token = auth.token();
        let by = if self.is_service_token(token) {
            self.0.tenancy.organization_for_host(org).await?;
            PlanChanger::Host
        } else {
            let caller = self
                .0
                .authorized(token, org, Capability::ManageBilling)
                .await?;
            PlanChanger::Member(caller)
        };
        let billing = self
            .0
            .tenancy
            .change_plan(by, org, PlanId::new(body.value()?.plan))
            .await?;
        Ok(Json((&billing).into()))
    }

    /// May this user use this capability in this organization? For hosts
    /// outside the process, with the service token.
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
    ) -> Result<Json<AuthorizeResponse>> {
        let Some(expected) = &self.0.config.service_token else {
            return Err(ApiError::new(404, "not_found", "no such route"));
        };
        if !constant_time_eq(auth.0.token.as_bytes(), expected.expose().as_bytes()) {
            return Err(ApiError::unauthenticated());
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
                role: Some(grant.role().into()),
            },
            Err(tenancy_core::Denial::LacksCapability { role, .. }) => AuthorizeResponse {
                allowed: false,
                role: Some(role.into()),
            },
            Err(tenancy_core::Denial::NotAMember) => AuthorizeResponse {
                allowed: false,
                role: None,
            },
        }))
    }
}

impl Api {
    /// Whether a bearer token is the service token (never, without one).
    fn is_service_token(&self, token: &str) -> bool {
        self.0
            .config
            .service_token
            .as_ref()
            .is_some_and(|expected| {
                constant_time_eq(token.as_bytes(), expected.expose().as_bytes())
            })
    }
}

/// Compares secrets without an early exit, so that timing does not tell how
/// much of a guess was right. The length of a service token is no secret.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0_u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Health.
pub(crate) struct Operations(pub AppState);

#[OpenApi]
impl Operations {
    /// 200 while the process runs.
    #[oai(
        path = "/healthz",
        method = "get",
        tag = "Tag::Operations",
        operation_id = "healthz"
    )]
    async fn healthz(&self) -> poem_openapi::payload::PlainText<&'static str> {
        poem_openapi::payload::PlainText("ok")
    }

    /// 200 when the database answers, 503 otherwise.
    #[oai(
        path = "/readyz",
        method = "get",
        tag = "Tag::Operations",
        operation_id = "readyz"
    )]
    async fn readyz(&self) -> Result<poem_openapi::payload::PlainText<&'static str>> {
        self.0
            .store
            .ping()
            .await
            .map_err(|_| ApiError::database_unavailable())?;
        Ok(poem_openapi::payload::PlainText("ready"))
    }
}
