//! Accounts and sessions: sign-up, sign-in, sign-out and the caller.

use crate::errors::fails;
use chrono::{DateTime, Utc};
use poem_openapi::payload::Json;
use poem_openapi::{Object, OpenApi};
use tenancy_core::entity::User;
use tenancy_core::limits::LimitKey;
use tenancy_core::value::{DisplayName, EmailAddress, NewPassword};
use uuid::Uuid;

use super::organizations::Org;
use super::{Result, Tag};
use crate::auth::Session;
use crate::body::{Fields, JsonBody};
use crate::limits;
use crate::problem::ApiError;
use crate::respond::{Created, NoContent};
use crate::state::AppState;

/// An account.
#[derive(Debug, Clone, Object)]
pub(crate) struct UserBody {
    pub(crate) id: Uuid,
    pub(crate) email: String,
    #[oai(nullable)]
    pub(crate) display_name: Option<String>,
    /// Whether the person proved the address is theirs: the link of a
    /// verification email, a password reset, or an invitation sent to it.
    pub(crate) email_verified: bool,
    pub(crate) created_at: DateTime<Utc>,
}

impl From<&User> for UserBody {
    fn from(user: &User) -> Self {
        Self {
            id: user.id.as_uuid(),
            email: user.email.as_str().to_owned(),
            display_name: user.display_name.as_ref().map(|n| n.as_str().to_owned()),
            email_verified: user.email_verified,
            created_at: user.created_at,
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

/// The operations of this area.
pub(crate) struct AccountsApi(pub(crate) AppState);

#[OpenApi(prefix_path = "/v1")]
impl AccountsApi {
    /// Create an account
    ///
    /// Creates an account, opens a session (the response holds its bearer token) and creates the
    /// account's default organization, named after the display name or the email and made active.
    /// The password has 8 to 256 characters and is not one of the 10,000 most common passwords,
    /// compared without regard to case; the email is normalized before it is stored.
    /// With an `invitation_token` for this email the invitation is accepted in the same transaction,
    /// its organization becomes active and the email counts as verified (the link proved it);
    /// otherwise sign-up still succeeds, `invitation.code` says why the invitation was not accepted,
    /// and a verification email is sent (unless `--account-emails-per-address` withholds it).
    /// No authentication; attempts count per client address (`--auth-attempts-per-ip`) before the
    /// body is judged.
    #[oai(
        path = "/auth/signup",
        method = "post",
        tag = "Tag::Accounts",
        operation_id = "sign_up"
    )]
    async fn sign_up(
        &self,
        http: &poem::Request,
        body: JsonBody<SignUpRequest>,
    ) -> Result<
        Created<SignUpResponse>,
        fails![
            BadRequest,
            PayloadTooLarge,
            ValidationFailed,
            EmailTaken,
            RateLimited
        ],
    > {
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
            return Err(ApiError::invalid("body", "invalid sign-up").into());
        };
        // An address that has an account gets 409 below and no email: it
        // does not count, so that nobody can use up another's emails.
        let mail = if self.0.tenancy.has_account(&email).await? {
            tenancy_core::decide::AccountMail::Withhold
        } else {
            limits::account_mail(&self.0, &email).await?
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
                mail,
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
            role: tenancy_core::Role::OWNER,
        };
        Ok(Created::Created(Json(SignUpResponse {
            user: (&signed.user).into(),
            token: signed.session_token.expose().to_owned(),
            default_organization: (&default).into(),
            invitation,
        })))
    }

    /// Sign in
    ///
    /// Opens a session for an email and a password and returns its bearer token with the account.
    /// An unknown email and a wrong password get the same answer, after the same work, so that
    /// sign-in does not tell which addresses have accounts.
    /// No authentication; attempts count per client address (`--auth-attempts-per-ip`) and failures
    /// per email (`--signin-failures-per-email`), and an email past its failure limit is refused
    /// for the rest of the window even with the right password.
    #[oai(
        path = "/auth/signin",
        method = "post",
        tag = "Tag::Accounts",
        operation_id = "sign_in"
    )]
    async fn sign_in(
        &self,
        http: &poem::Request,
        body: JsonBody<SignInRequest>,
    ) -> Result<
        Json<SignInResponse>,
        fails![
            BadRequest,
            PayloadTooLarge,
            ValidationFailed,
            InvalidCredentials,
            RateLimited
        ],
    > {
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
        let checked = self
            .0
            .tenancy
            .check_credentials(email.as_ref(), &request.password, &self.0.config.passwords)
            .await?;
        let Some((user, proof)) = checked else {
            return Err(ApiError::from(tenancy_core::Error::InvalidCredentials).into());
        };
        if let Some(key) = &failures {
            limits::clear(&self.0, key).await?;
        }
        let token = self.0.tenancy.sign_in(&user, proof).await?;
        Ok(Json(SignInResponse {
            user: (&user).into(),
            token: token.expose().to_owned(),
        }))
    }

    /// Sign out
    ///
    /// Ends the session of the bearer token: the token stops working at once, on every instance.
    /// Any signed-in user.
    #[oai(
        path = "/auth/signout",
        method = "post",
        tag = "Tag::Accounts",
        operation_id = "sign_out"
    )]
    async fn sign_out(&self, auth: Session) -> Result<NoContent, fails![Unauthenticated]> {
        self.0.tenancy.sign_out(&auth.0.token).await?;
        Ok(NoContent::NoContent)
    }

    /// Get the caller's account
    ///
    /// Returns the caller's account and the id of their active organization, resolved as `GET
    /// /v1/me/active-organization` resolves it (R19).
    /// Any signed-in user.
    #[oai(
        path = "/me",
        method = "get",
        tag = "Tag::Accounts",
        operation_id = "get_me"
    )]
    async fn me(&self, auth: Session) -> Result<Json<MeResponse>, fails![Unauthenticated]> {
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
}
