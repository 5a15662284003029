//! The caller's sessions and password: list and end sessions, change the
//! password (R31).

use chrono::{DateTime, Utc};
use poem_openapi::param::{Path, Query};
use poem_openapi::payload::Json;
use poem_openapi::{Object, OpenApi};
use tenancy_core::SessionId;
use tenancy_core::value::NewPassword;
use uuid::Uuid;

use super::{Result, Tag};
use crate::auth::Session;
use crate::body::{Fields, JsonBody};
use crate::errors::fails;
use crate::paging::list;
use crate::problem::ApiError;
use crate::respond::NoContent;
use crate::state::AppState;

/// One of the caller's sessions.
#[derive(Debug, Clone, Object)]
pub(crate) struct SessionBody {
    pub(crate) id: Uuid,
    /// When it was opened (sign-up or sign-in).
    pub(crate) created_at: DateTime<Utc>,
    /// When it was last used; written at most once a minute, so it may lag by up to a minute.
    pub(crate) last_used_at: DateTime<Utc>,
    /// The absolute end: `--session-ttl` after it was opened. It ends sooner after
    /// `--session-idle-timeout` without use.
    pub(crate) expires_at: DateTime<Utc>,
    /// Whether it is the session of this request's token.
    pub(crate) current: bool,
}

list!(
    /// A page of the caller's sessions, newest first.
    SessionList,
    SessionBody
);

/// A password change.
#[derive(Debug, Object)]
pub(crate) struct PasswordChangeRequest {
    pub(crate) current_password: String,
    pub(crate) new_password: String,
}

/// The operations of this area.
pub(crate) struct SessionsApi(pub(crate) AppState);

#[OpenApi(prefix_path = "/v1")]
impl SessionsApi {
    /// List the caller's sessions
    ///
    /// The caller's own sessions that have not ended, newest first, the current one marked.
    /// Any signed-in user.
    #[oai(
        path = "/me/sessions",
        method = "get",
        tag = "Tag::Accounts",
        operation_id = "list_sessions"
    )]
    async fn sessions(
        &self,
        auth: Session,
        #[oai(validator(minimum(value = "1"), maximum(value = "200")))] limit: Query<Option<u32>>,
        cursor: Query<Option<String>>,
    ) -> Result<Json<SessionList>, fails![Unauthenticated, ValidationFailed]> {
        let current = self.0.session(&auth.0.token).await?;
        let sessions = self.0.tenancy.sessions(current.user_id).await?.value;
        let bodies = sessions
            .iter()
            .map(|view| SessionBody {
                id: view.session.id.as_uuid(),
                created_at: view.session.created_at,
                last_used_at: view.session.last_used_at,
                expires_at: view.expires_at,
                current: view.session.id == current.id,
            })
            .collect();
        Ok(SessionList::of(bodies, limit.0, cursor.0)?)
    }

    /// End one of the caller's sessions
    ///
    /// Ends a session of the caller's: its token stops working at once, on every instance. Ending
    /// the current one is signing out. Another user's session, or one that has ended, is not found.
    /// Any signed-in user.
    #[oai(
        path = "/me/sessions/:session_id",
        method = "delete",
        tag = "Tag::Accounts",
        operation_id = "end_session"
    )]
    async fn end_session(
        &self,
        auth: Session,
        session_id: Path<Uuid>,
    ) -> Result<NoContent, fails![Unauthenticated, NotFound]> {
        let caller = self.0.caller(&auth.0.token).await?;
        self.0
            .tenancy
            .end_session(caller, SessionId::from_uuid(session_id.0))
            .await?;
        Ok(NoContent::NoContent)
    }

    /// Change the caller's password
    ///
    /// Sets a new password, given the current one; every other session of the caller ends, and
    /// this one goes on. The new password follows the sign-up rules (422); a wrong
    /// `current_password` gets 403 `forbidden`.
    /// Any signed-in user.
    #[oai(
        path = "/me/password",
        method = "put",
        tag = "Tag::Accounts",
        operation_id = "change_password"
    )]
    async fn change_password(
        &self,
        auth: Session,
        body: JsonBody<PasswordChangeRequest>,
    ) -> Result<
        NoContent,
        fails![
            Unauthenticated,
            BadRequest,
            PayloadTooLarge,
            ValidationFailed,
            Forbidden
        ],
    > {
        let session = self.0.session(&auth.0.token).await?;
        let request = body.value()?;
        let mut fields = Fields::default();
        let new = fields.check("new_password", NewPassword::parse(&request.new_password));
        fields.finish()?;
        let new = new.ok_or_else(|| ApiError::invalid("new_password", "invalid password"))?;
        let matched = self
            .0
            .tenancy
            .check_password(
                session.user_id,
                &request.current_password,
                &self.0.config.passwords,
            )
            .await?;
        // A wrong current password costs no second hash.
        let Some(proof) = matched else {
            return Err(ApiError::from(tenancy_core::Error::WrongPassword).into());
        };
        let hash = self.0.config.passwords.hash(new).await?;
        self.0
            .tenancy
            .change_password(&session, Some(proof), hash)
            .await?;
        Ok(NoContent::NoContent)
    }
}
