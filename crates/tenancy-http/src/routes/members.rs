//! Members and invitations: the members of an organization, inviting and
//! revoking, and an invitation link's preview and acceptance.

use crate::errors::fails;
use chrono::{DateTime, Utc};
use poem_openapi::param::{Path, Query};
use poem_openapi::payload::Json;
use poem_openapi::{Enum, Object, OpenApi};
use tenancy_core::entity::{Invitation, InvitationStatus};
use tenancy_core::limits::LimitKey;
use tenancy_core::service::{InvitationPreview, Member};
use tenancy_core::value::EmailAddress;
use tenancy_core::{InvitationId, Operation, OrganizationId, UserId};
use uuid::Uuid;

use super::organizations::ActiveResponse;
use super::{Result, Tag, role_key};
use crate::auth::Session;
use crate::body::JsonBody;
use crate::limits;
use crate::paging::list;
use crate::problem::ApiError;
use crate::respond::{Created, NoContent};
use crate::state::AppState;

/// A member of an organization (R18).
#[derive(Debug, Clone, Object)]
pub(crate) struct MemberBody {
    pub(crate) user_id: Uuid,
    pub(crate) email: String,
    #[oai(nullable)]
    pub(crate) display_name: Option<String>,
    /// The key of the member's role.
    pub(crate) role: String,
    /// The name of the member's role, for people.
    pub(crate) role_name: String,
    pub(crate) joined_at: DateTime<Utc>,
}

impl From<&Member> for MemberBody {
    fn from(member: &Member) -> Self {
        Self {
            user_id: member.user.id.as_uuid(),
            email: member.user.email.as_str().to_owned(),
            display_name: member
                .user
                .display_name
                .as_ref()
                .map(|n| n.as_str().to_owned()),
            role: role_key(&member.role),
            role_name: member.role.name().as_str().to_owned(),
            joined_at: member.joined_at,
        }
    }
}

/// An invitation's status.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
#[oai(rename_all = "snake_case")]
pub(crate) enum InvitationStatusName {
    Pending,
    Accepted,
    Revoked,
    Expired,
}

impl From<InvitationStatus> for InvitationStatusName {
    fn from(status: InvitationStatus) -> Self {
        match status {
            InvitationStatus::Pending => Self::Pending,
            InvitationStatus::Accepted => Self::Accepted,
            InvitationStatus::Revoked => Self::Revoked,
            InvitationStatus::Expired => Self::Expired,
        }
    }
}

/// An invitation. Its token never appears here: it travels only in the email.
#[derive(Debug, Clone, Object)]
pub(crate) struct InvitationBody {
    pub(crate) id: Uuid,
    pub(crate) organization_id: Uuid,
    pub(crate) email: String,
    /// The key of the role the invitee gets on accepting.
    pub(crate) role: String,
    pub(crate) status: InvitationStatusName,
    pub(crate) invited_by: Uuid,
    pub(crate) created_at: DateTime<Utc>,
    pub(crate) expires_at: DateTime<Utc>,
}

impl InvitationBody {
    pub(crate) fn new(invitation: &Invitation, now: DateTime<Utc>) -> Self {
        Self {
            id: invitation.id.as_uuid(),
            organization_id: invitation.organization_id.as_uuid(),
            email: invitation.email.as_str().to_owned(),
            role: role_key(&invitation.role),
            status: invitation.status_at(now).into(),
            invited_by: invitation.invited_by.as_uuid(),
            created_at: invitation.created_at,
            expires_at: invitation.expires_at,
        }
    }
}

/// What the landing page of an invitation link shows.
#[derive(Debug, Clone, Object)]
pub(crate) struct InvitationPreviewBody {
    /// `null` unless the invitation is pending, as every field but `status`.
    #[oai(nullable)]
    pub(crate) organization_name: Option<String>,
    /// The invited email address.
    #[oai(nullable)]
    pub(crate) email: Option<String>,
    /// The email address of the member who sent the invitation.
    #[oai(nullable)]
    pub(crate) inviter_email: Option<String>,
    /// The key of the role the invitation gives.
    #[oai(nullable)]
    pub(crate) role: Option<String>,
    pub(crate) status: InvitationStatusName,
    #[oai(nullable)]
    pub(crate) expires_at: Option<DateTime<Utc>>,
}

impl From<&InvitationPreview> for InvitationPreviewBody {
    fn from(p: &InvitationPreview) -> Self {
        let details = p.details.as_ref();
        Self {
            organization_name: details.map(|d| d.organization_name.as_str().to_owned()),
            email: details.map(|d| d.email.as_str().to_owned()),
            inviter_email: details.map(|d| d.inviter_email.as_str().to_owned()),
            role: details.map(|d| role_key(&d.role)),
            status: p.status.into(),
            expires_at: details.map(|d| d.expires_at),
        }
    }
}

list!(
    /// A page of members.
    MemberList,
    MemberBody
);

list!(
    /// A page of invitations.
    InvitationList,
    InvitationBody
);

/// The invitations a list asks for: `pending` by default, `all` for every
/// status (`None`).
fn status_filter(raw: Option<&str>) -> Result<Option<InvitationStatus>> {
    match raw.unwrap_or("pending") {
        "pending" => Ok(Some(InvitationStatus::Pending)),
        "expired" => Ok(Some(InvitationStatus::Expired)),
        "revoked" => Ok(Some(InvitationStatus::Revoked)),
        "accepted" => Ok(Some(InvitationStatus::Accepted)),
        "all" => Ok(None),
        other => Err(ApiError::invalid(
            "status",
            format!("`{other}` is none of `pending`, `expired`, `revoked`, `accepted` and `all`"),
        )),
    }
}

/// The values of the invitations' `status` filter, for the document.
pub(crate) const STATUS_FILTERS: [&str; 5] = ["pending", "expired", "revoked", "accepted", "all"];

/// An invitation to send.
#[derive(Debug, Object)]
pub(crate) struct InviteRequest {
    pub(crate) email: String,
    /// The key of the role the invitee gets: any role of the organization but `owner` that the
    /// inviter could assign, built in or custom; `viewer` when absent or `null`.
    #[oai(nullable)]
    pub(crate) role: Option<String>,
}

/// A role to give a member.
#[derive(Debug, Object)]
pub(crate) struct RoleChangeRequest {
    /// The key of the role: a built-in one but `owner`, or one of the organization's custom roles.
    pub(crate) role: String,
}

/// An invitation token to accept.
#[derive(Debug, Object)]
pub(crate) struct AcceptRequest {
    pub(crate) token: String,
}

/// The operations of this area.
pub(crate) struct MembersApi(pub(crate) AppState);

#[OpenApi(prefix_path = "/v1")]
impl MembersApi {
    /// List an organization's members
    ///
    /// Lists the organization's members with their email, display name, role and join date, oldest
    /// member first (R18).
    /// Needs `manage_members`.
    #[oai(
        path = "/organizations/:org_id/members",
        method = "get",
        tag = "Tag::Members",
        operation_id = "list_members"
    )]
    async fn members(
        &self,
        auth: Session,
        org_id: Path<Uuid>,
        #[oai(validator(minimum(value = "1"), maximum(value = "200")))] limit: Query<Option<u32>>,
        cursor: Query<Option<String>>,
    ) -> Result<
        Json<MemberList>,
        fails![
            Unauthenticated,
            NotFound,
            Forbidden,
            ValidationFailed,
            OrganizationPendingDeletion
        ],
    > {
        let caller = self.0.caller(&auth.0.token).await?;
        let members = self
            .0
            .tenancy
            .members(caller, OrganizationId::from_uuid(org_id.0))
            .await?;
        let bodies = members.iter().map(MemberBody::from).collect();
        Ok(MemberList::of(bodies, limit.0, cursor.0)?)
    }

    /// Remove a member
    ///
    /// Removes a member from the organization: their access ends with the commit, so their next
    /// request is refused, and their chats there stop.
    /// Their active organization falls back to one they own when next read (R19).
    /// Needs `manage_members` and every capability of the member's role (D14: `forbidden`
    /// otherwise); the owner can never be removed (D8), which is answered before that check.
    #[oai(
        path = "/organizations/:org_id/members/:user_id",
        method = "delete",
        tag = "Tag::Members",
        operation_id = "remove_member"
    )]
    async fn remove_member(
        &self,
        auth: Session,
        org_id: Path<Uuid>,
        user_id: Path<Uuid>,
    ) -> Result<
        NoContent,
        fails![
            Unauthenticated,
            NotFound,
            Forbidden,
            OwnerCannotBeRemoved,
            OrganizationPendingDeletion
        ],
    > {
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

    /// Leave an organization
    ///
    /// The caller leaves the organization, with every effect of a removal (R19, R27): their access
    /// ends with the commit, and their active organization falls back when next read.
    /// Any member; the owner cannot leave (`owner_cannot_leave`: transfer the ownership first).
    #[oai(
        path = "/organizations/:org_id/leave",
        method = "post",
        tag = "Tag::Members",
        operation_id = "leave_organization"
    )]
    async fn leave_organization(
        &self,
        auth: Session,
        org_id: Path<Uuid>,
    ) -> Result<
        NoContent,
        fails![
            Unauthenticated,
            NotFound,
            OwnerCannotLeave,
            OrganizationPendingDeletion
        ],
    > {
        let caller = self.0.caller(&auth.0.token).await?;
        self.0
            .tenancy
            .leave(caller, OrganizationId::from_uuid(org_id.0))
            .await?;
        Ok(NoContent::NoContent)
    }

    /// Change a member's role
    ///
    /// Gives a member another role, built in or custom, and returns the member with it.
    /// The change is in force on the member's next request, on every instance (R26, D12).
    /// The owner's role never changes here (`owner_role_immutable`, also when the owner asks for
    /// their own: ownership moves by transfer), nor the caller's own (`cannot_change_own_role`);
    /// both are answered before the check of the roles.
    /// `owner`, an unknown role, or a current or new role holding a capability the caller lacks is
    /// `role_not_assignable` (D14).
    /// Giving the role the member already holds answers the member and changes nothing.
    /// Needs `manage_members`, checked before the body is read.
    #[oai(
        path = "/organizations/:org_id/members/:user_id/role",
        method = "put",
        tag = "Tag::Members",
        operation_id = "change_member_role"
    )]
    async fn change_role(
        &self,
        auth: Session,
        org_id: Path<Uuid>,
        user_id: Path<Uuid>,
        body: JsonBody<RoleChangeRequest>,
    ) -> Result<
        Json<MemberBody>,
        fails![
            Unauthenticated,
            NotFound,
            Forbidden,
            BadRequest,
            PayloadTooLarge,
            ValidationFailed,
            RoleNotAssignable,
            OwnerRoleImmutable,
            CannotChangeOwnRole,
            OrganizationPendingDeletion
        ],
    > {
        let org = OrganizationId::from_uuid(org_id.0);
        // Authorization comes before validation: a non-member or a viewer
        // learns nothing from the body.
        let caller = self
            .0
            .authorized(&auth.0.token, org, Operation::ChangeMemberRole)
            .await?;
        let body = body.value()?;
        let member = self
            .0
            .tenancy
            .change_role(caller, org, UserId::from_uuid(user_id.0), &body.role)
            .await?;
        Ok(Json((&member).into()))
    }

    /// Invite an email address
    ///
    /// Creates an invitation to join with a role, `viewer` unless `role` names another, and sends
    /// the accept link by email; the token never appears in a response.
    /// The role is any role of the organization, built in or custom, but `owner`, that holds no
    /// capability the inviter lacks: `owner`, an unknown key or such a role is refused with
    /// `role_not_assignable` (D14).
    /// The invitation lives for `--invitation-ttl` (7 days by default).
    /// Inviting an email that has a pending invitation replaces it: the old one becomes `revoked`
    /// and its link stops working (D5).
    /// Needs `manage_members` and a verified email address (`email_unverified` otherwise, unless
    /// the server runs with `--allow-unverified-inviters`); invitations count per organization
    /// (`--invitations-per-organization`) before the body is judged.
    #[oai(
        path = "/organizations/:org_id/invitations",
        method = "post",
        tag = "Tag::Members",
        operation_id = "create_invitation"
    )]
    async fn invite(
        &self,
        auth: Session,
        org_id: Path<Uuid>,
        body: JsonBody<InviteRequest>,
    ) -> Result<
        Created<InvitationBody>,
        fails![
            Unauthenticated,
            NotFound,
            BadRequest,
            PayloadTooLarge,
            ValidationFailed,
            Forbidden,
            EmailUnverified,
            RoleNotAssignable,
            AlreadyMember,
            RateLimited,
            OrganizationPendingDeletion
        ],
    > {
        let org = OrganizationId::from_uuid(org_id.0);
        // Authorization comes before validation: a non-member or a viewer
        // learns nothing from the body; nor does an inviter whose address
        // is not verified.
        let caller = self.0.caller(&auth.0.token).await?;
        self.0
            .tenancy
            .authorize_verified(caller, org, Operation::InviteMember)
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

    /// List an organization's invitations
    ///
    /// Lists the organization's invitations with their email, role, inviter, status and expiry,
    /// newest first.
    /// `status` picks which: `pending` (the default, R16), `expired`, `revoked`, `accepted`, or
    /// `all`; any other value is refused with `validation_failed`, once the caller's access is
    /// checked.
    /// Needs `manage_members`.
    #[oai(
        path = "/organizations/:org_id/invitations",
        method = "get",
        tag = "Tag::Members",
        operation_id = "list_invitations"
    )]
    async fn invitations(
        &self,
        auth: Session,
        org_id: Path<Uuid>,
        // A string rather than an enum, so that the caller's access is
        // judged (404, 403) before the value (422); the document lists the
        // values (`openapi::limits`).
        status: Query<Option<String>>,
        #[oai(validator(minimum(value = "1"), maximum(value = "200")))] limit: Query<Option<u32>>,
        cursor: Query<Option<String>>,
    ) -> Result<
        Json<InvitationList>,
        fails![
            Unauthenticated,
            NotFound,
            Forbidden,
            ValidationFailed,
            OrganizationPendingDeletion
        ],
    > {
        let org = OrganizationId::from_uuid(org_id.0);
        let caller = self
            .0
            .authorized(&auth.0.token, org, Operation::ListInvitations)
            .await?;
        let status = status_filter(status.0.as_deref())?;
        let listed = self.0.tenancy.invitations(caller, org, status).await?;
        let bodies = listed
            .value
            .iter()
            .map(|i| InvitationBody::new(i, listed.now))
            .collect();
        Ok(InvitationList::of(bodies, limit.0, cursor.0)?)
    }

    /// Revoke an invitation
    ///
    /// Revokes a pending invitation: its link stops working at once (R17).
    /// Revoking an invitation that is already revoked or expired changes nothing.
    /// Needs `manage_members`.
    #[oai(
        path = "/organizations/:org_id/invitations/:invitation_id",
        method = "delete",
        tag = "Tag::Members",
        operation_id = "revoke_invitation"
    )]
    async fn revoke(
        &self,
        auth: Session,
        org_id: Path<Uuid>,
        invitation_id: Path<Uuid>,
    ) -> Result<
        NoContent,
        fails![
            Unauthenticated,
            NotFound,
            Forbidden,
            InvitationAlreadyAccepted,
            OrganizationPendingDeletion
        ],
    > {
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

    /// Resend an invitation
    ///
    /// Sends a pending or expired invitation again: the same invitation (its id, role and
    /// `invited_by` stay) is pending again with a fresh `expires_at`, and a new email with a new
    /// token goes out; the previous link answers `invitation_superseded` (R30).
    /// Resending an expired invitation revokes any other pending invitation to that email (D5).
    /// An accepted invitation is `invitation_already_accepted`, a revoked one
    /// `invitation_revoked`, an invitee who is a member by now `already_member`, and a role the
    /// caller could not assign `role_not_assignable` (D14).
    /// Needs `manage_members` and a verified email address (`email_unverified` otherwise, unless
    /// the server runs with `--allow-unverified-inviters`).
    /// At most one resend per invitation per minute, and each resend counts toward the
    /// organization's invitations (`--invitations-per-organization`): `rate_limited` beyond.
    #[oai(
        path = "/organizations/:org_id/invitations/:invitation_id/resend",
        method = "post",
        tag = "Tag::Members",
        operation_id = "resend_invitation"
    )]
    async fn resend(
        &self,
        auth: Session,
        org_id: Path<Uuid>,
        invitation_id: Path<Uuid>,
    ) -> Result<
        Json<InvitationBody>,
        fails![
            Unauthenticated,
            NotFound,
            Forbidden,
            EmailUnverified,
            RoleNotAssignable,
            AlreadyMember,
            InvitationAlreadyAccepted,
            InvitationRevoked,
            OrganizationPendingDeletion,
            RateLimited
        ],
    > {
        let org = OrganizationId::from_uuid(org_id.0);
        let invitation = InvitationId::from_uuid(invitation_id.0);
        let caller = self.0.caller(&auth.0.token).await?;
        self.0
            .tenancy
            .authorize_verified(caller, org, Operation::ResendInvitation)
            .await?;
        // The invitation's own limit first: a resend it refuses does not
        // use up one of the organization's invitations.
        limits::enforce(&self.0, &LimitKey::invitation_resends(invitation)).await?;
        limits::enforce(&self.0, &LimitKey::invitations(org)).await?;
        let resent = self.0.tenancy.resend(caller, org, invitation).await?;
        // Pending as of the resend, whose expiry starts now.
        let now = resent.expires_at - self.0.tenancy.settings().invitation_ttl;
        Ok(Json(InvitationBody::new(&resent, now)))
    }

    /// Preview an invitation link
    ///
    /// Returns what the landing page of an invitation link shows: the organization's name, the
    /// inviter's email, the invited email, the role and the expiry.
    /// For an invitation that is no longer pending only `status` is filled, so that an old link no
    /// longer tells who invited whom to what; the link of an email that a resend replaced answers
    /// `invitation_superseded`.
    /// No authentication: the token in the path is the credential.
    #[oai(
        path = "/invitations/:token",
        method = "get",
        tag = "Tag::Members",
        operation_id = "preview_invitation"
    )]
    async fn preview(
        &self,
        token: Path<String>,
    ) -> Result<Json<InvitationPreviewBody>, fails![NotFound, InvitationSuperseded]> {
        let preview = self.0.tenancy.preview_invitation(&token.0).await?;
        Ok(Json((&preview).into()))
    }

    /// Accept an invitation
    ///
    /// Accepts the invitation of a token for the signed-in account, whose email must be the invited
    /// one, and makes its organization the caller's active one (R12, D7).
    /// Accepting again while still a member answers the same organization and changes nothing else;
    /// a used invitation never admits anyone again, even after a removal (D6), and the link of an
    /// email that a resend replaced answers `invitation_superseded`.
    /// Any signed-in user.
    #[oai(
        path = "/invitations/accept",
        method = "post",
        tag = "Tag::Members",
        operation_id = "accept_invitation"
    )]
    async fn accept(
        &self,
        auth: Session,
        body: JsonBody<AcceptRequest>,
    ) -> Result<
        Json<ActiveResponse>,
        fails![
            Unauthenticated,
            BadRequest,
            PayloadTooLarge,
            ValidationFailed,
            NotFound,
            InvitationEmailMismatch,
            InvitationExpired,
            InvitationRevoked,
            InvitationSuperseded,
            InvitationAlreadyAccepted
        ],
    > {
        let caller = self.0.caller(&auth.0.token).await?;
        let view = self.0.tenancy.accept(caller, &body.value()?.token).await?;
        Ok(Json(ActiveResponse {
            organization: (&view).into(),
        }))
    }
}
