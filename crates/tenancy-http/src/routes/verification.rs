//! Verified email addresses and password reset: the links that emails carry
//! (R31, D19).

use poem_openapi::payload::Json;
use poem_openapi::{Object, OpenApi};
use tenancy_core::value::{EmailAddress, NewPassword};

use super::accounts::UserBody;
use super::{Result, Tag};
use crate::auth::Session;
use crate::body::JsonBody;
use crate::errors::fails;
use crate::limits;
use crate::problem::ApiError;
use crate::respond::{Accepted, NoContent};
use crate::state::AppState;

/// The token of an emailed link.
#[derive(Debug, Object)]
pub(crate) struct LinkTokenRequest {
    /// The last part of the link: 43 base64url characters.
    pub(crate) token: String,
}

/// The account whose address the link verified.
#[derive(Debug, Object)]
pub(crate) struct VerifiedResponse {
    pub(crate) user: UserBody,
}

/// An address to send a password reset link to.
#[derive(Debug, Object)]
pub(crate) struct PasswordResetRequest {
    pub(crate) email: String,
}

/// A new password, with the token of the reset link.
#[derive(Debug, Object)]
pub(crate) struct PasswordResetConfirmRequest {
    /// The last part of the link: 43 base64url characters.
    pub(crate) token: String,
    pub(crate) password: String,
}

/// Nothing to tell: the request was taken.
#[derive(Debug, Object)]
pub(crate) struct Empty {}

/// The least time a password reset request takes to answer, so that the
/// work done for an account (a link written, an email queued) cannot be told
/// by timing from the nothing done for an address without one. Both take a
/// few milliseconds; the answer waits out the rest.
pub(crate) const RESET_ANSWER_FLOOR: std::time::Duration = std::time::Duration::from_millis(50);

/// The operations of this area.
pub(crate) struct VerificationApi(pub(crate) AppState);

#[OpenApi(prefix_path = "/v1")]
impl VerificationApi {
    /// Verify an email address
    ///
    /// Uses the token of a verification email's link (`<public-url>/verify-email/<token>`): the
    /// account's address counts as verified from now on. The link lives `--verification-ttl` (24
    /// hours by default), works once, and stops working when a newer verification email is sent.
    /// An unknown token gets 404; an expired one 410 `token_expired`; a used or superseded one 410
    /// `token_used` (told before expiry).
    /// No authentication: the token is the proof.
    #[oai(
        path = "/auth/verify-email",
        method = "post",
        tag = "Tag::Accounts",
        operation_id = "verify_email"
    )]
    async fn verify_email(
        &self,
        body: JsonBody<LinkTokenRequest>,
    ) -> Result<
        Json<VerifiedResponse>,
        fails![
            BadRequest,
            PayloadTooLarge,
            ValidationFailed,
            NotFound,
            TokenExpired,
            TokenUsed
        ],
    > {
        let request = body.value()?;
        let user = self.0.tenancy.verify_email(&request.token).await?;
        Ok(Json(VerifiedResponse {
            user: (&user).into(),
        }))
    }

    /// Send a fresh verification email
    ///
    /// Sends the caller a new verification email; the links of older ones stop working.
    /// An address that is verified already gets 409 `already_verified`. Emails count per address
    /// (`--account-emails-per-address`, the one sent at sign-up included): past the limit, 429.
    /// Any signed-in user.
    #[oai(
        path = "/me/verification-email",
        method = "post",
        tag = "Tag::Accounts",
        operation_id = "send_verification_email"
    )]
    async fn send_verification(
        &self,
        auth: Session,
    ) -> Result<Accepted<Empty>, fails![Unauthenticated, AlreadyVerified, RateLimited]> {
        let caller = self.0.caller(&auth.0.token).await?;
        // A verified address is told so without counting an email.
        let email = self.0.tenancy.verification_address(caller).await?;
        limits::enforce(
            &self.0,
            &tenancy_core::limits::LimitKey::account_emails(&email),
        )
        .await?;
        self.0.tenancy.request_verification(caller).await?;
        Ok(Accepted::Accepted(Json(Empty {})))
    }

    /// Ask for a password reset
    ///
    /// Sends a password reset email (`<public-url>/reset-password/<token>`, a link that lives one
    /// hour and works once; a newer one supersedes it) if the address has an account.
    /// The answer is the same 202 `{}` for every well-formed address, whether it has an account or
    /// not, and whether or not `--account-emails-per-address` withholds the email, and it takes at
    /// least 50 ms either way: it tells nobody which addresses have accounts. A malformed address
    /// gets 422.
    /// No authentication.
    #[oai(
        path = "/auth/password-reset",
        method = "post",
        tag = "Tag::Accounts",
        operation_id = "request_password_reset"
    )]
    async fn request_reset(
        &self,
        body: JsonBody<PasswordResetRequest>,
    ) -> Result<Accepted<Empty>, fails![BadRequest, PayloadTooLarge, ValidationFailed]> {
        let started = tokio::time::Instant::now();
        let request = body.value()?;
        let email =
            EmailAddress::parse(&request.email).map_err(|e| ApiError::invalid("email", e))?;
        // Counted for every address, so that the work done does not tell.
        let mail = limits::account_mail(&self.0, &email).await?;
        self.0.tenancy.request_password_reset(&email, mail).await?;
        tokio::time::sleep_until(started + RESET_ANSWER_FLOOR).await;
        Ok(Accepted::Accepted(Json(Empty {})))
    }

    /// Set a new password from a reset link
    ///
    /// Sets the password of the reset link's account: every session of the account ends, on every
    /// instance, and the address counts as verified (the link proved it).
    /// The token is judged before the password: unknown → 404, expired → 410 `token_expired`, used
    /// or superseded → 410 `token_used`. The password follows the sign-up rules (422).
    /// No authentication: the token is the proof.
    #[oai(
        path = "/auth/password-reset/confirm",
        method = "post",
        tag = "Tag::Accounts",
        operation_id = "confirm_password_reset"
    )]
    async fn confirm_reset(
        &self,
        body: JsonBody<PasswordResetConfirmRequest>,
    ) -> Result<
        NoContent,
        fails![
            BadRequest,
            PayloadTooLarge,
            NotFound,
            TokenExpired,
            TokenUsed,
            ValidationFailed
        ],
    > {
        let request = body.value()?;
        // A dead link costs no hashing, and is told whatever the password.
        self.0.tenancy.check_reset_token(&request.token).await?;
        let password =
            NewPassword::parse(&request.password).map_err(|e| ApiError::invalid("password", e))?;
        let hash = self.0.config.passwords.hash(password).await?;
        self.0
            .tenancy
            .confirm_password_reset(&request.token, hash)
            .await?;
        Ok(NoContent::NoContent)
    }
}
