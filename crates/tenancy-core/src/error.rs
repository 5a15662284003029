//! The one error type of the core's use cases, with the stable codes of the API.

use crate::plan::{CatalogError, PlanId, QuotaExceeded};
use crate::policy::{Capability, Denial, RoleKey};

/// What was not found. A non-member asking about an organization is told
/// `Organization`, exactly as if it did not exist (D1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Missing {
    User,
    Organization,
    Member,
    Invitation,
    Resource,
    /// A connection that an agent's `connection_ids` names.
    Connection,
    ReportRun,
    Pin,
    Chat,
    /// One of the caller's own sessions.
    Session,
    /// A verification or password reset link.
    Token,
    /// A custom role of the organization.
    Role,
    /// A pending ownership transfer.
    Transfer,
    /// A scheduled deletion of the organization.
    Deletion,
    /// A webhook of the organization.
    Webhook,
    /// A delivery of a webhook.
    Delivery,
}

impl Missing {
    const fn noun(self) -> &'static str {
        match self {
            Self::User => "user",
            Self::Organization => "organization",
            Self::Member => "member",
            Self::Invitation => "invitation",
            Self::Resource => "resource",
            Self::Connection => "connection",
            Self::ReportRun => "report run",
            Self::Pin => "pin",
            Self::Chat => "chat",
            Self::Session => "session",
            Self::Token => "token",
            Self::Role => "role",
            Self::Transfer => "pending ownership transfer",
            Self::Deletion => "scheduled deletion",
            Self::Webhook => "webhook",
            Self::Delivery => "delivery",
        }
    }
}

impl std::fmt::Display for Missing {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.noun())
    }
}

/// Why a use case refused, or failed.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{0} not found")]
    NotFound(Missing),
    #[error("sign in first: the bearer token is missing, unknown or signed out")]
    Unauthenticated,
    #[error("the email or the password is wrong")]
    InvalidCredentials,
    #[error("{}", forbidden_detail(role, *capability))]
    Forbidden {
        role: RoleKey,
        capability: Capability,
    },
    #[error("an account with this email already exists")]
    EmailTaken,
    #[error("the person is already a member of the organization")]
    AlreadyMember,
    #[error("the invitation was already used")]
    InvitationAlreadyAccepted,
    #[error("the owner cannot be removed from the organization")]
    OwnerCannotBeRemoved,
    #[error("the owner cannot leave the organization: transfer the ownership first")]
    OwnerCannotLeave,
    #[error("the invitation has expired")]
    InvitationExpired,
    #[error("the invitation was revoked")]
    InvitationRevoked,
    #[error("the email address is already verified")]
    AlreadyVerified,
    #[error("verify your email address first: open the link of the verification email")]
    EmailUnverified,
    #[error("the link has expired: ask for a new one")]
    TokenExpired,
    #[error("the link was already used, or a newer one was sent")]
    TokenUsed,
    #[error("the current password is wrong")]
    WrongPassword,
    #[error("the invitation was sent to another email address")]
    InvitationEmailMismatch,
    #[error(
        "the role `{0}` cannot be given: it is the owner's, it does not exist, or it holds a capability you lack"
    )]
    RoleNotAssignable(String),
    #[error("`{0}` cannot be given: it is the owner's alone, or you lack it")]
    CapabilityNotGrantable(Capability),
    #[error("the owner's role cannot be changed: transfer the ownership instead")]
    OwnerRoleImmutable,
    #[error("members cannot change their own role")]
    CannotChangeOwnRole,
    #[error("the organization already has a role with the key `{0}`")]
    RoleKeyTaken(RoleKey),
    #[error("the organization has {max} custom roles, the limit")]
    RoleLimitReached { max: usize },
    #[error("built-in roles cannot be changed or deleted")]
    RoleBuiltin,
    #[error(
        "members or pending invitations hold the role: name another role in `reassign_to` to move them"
    )]
    RoleInUse,
    #[error("the invitation link was replaced by a newer one: open the link of the latest email")]
    InvitationSuperseded,
    #[error("only the member the ownership is offered to can answer the transfer")]
    NotTransferTarget,
    #[error("the ownership transfer has expired: the owner can request a new one")]
    TransferExpired,
    #[error("the ownership can go only to a member of the organization other than its owner")]
    TransferTargetInvalid,
    #[error(
        "this is the last organization the user owns that is not pending deletion: everyone must keep one"
    )]
    LastOwnedOrganization,
    #[error("the organization is already scheduled for deletion")]
    DeletionPending,
    #[error("the organization is scheduled for deletion: restore it first (DELETE its /deletion)")]
    OrganizationPendingDeletion,
    #[error(transparent)]
    QuotaExceeded(#[from] QuotaExceeded),
    #[error("unknown plan `{0}`")]
    UnknownPlan(PlanId),
    #[error("plan `{0}` is not self-serve: only the host's billing system can set it")]
    PlanNotSelectable(PlanId),
    #[error("the file is larger than the limit of {limit} bytes")]
    PayloadTooLarge { limit: u64 },
    /// The client's upload stopped or was malformed before its end.
    #[error("the upload broke off: {0}")]
    UploadBroken(String),
    /// A value that is well-formed but refers to nothing valid, found while
    /// deciding (a role that cannot be given, say).
    #[error("{field}: {message}")]
    Invalid {
        field: &'static str,
        message: String,
    },
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl Error {
    /// The stable machine-readable code of the API's error table.
    pub const fn code(&self) -> &'static str {
        match self {
            Self::NotFound(_) => "not_found",
            Self::Unauthenticated => "unauthenticated",
            Self::InvalidCredentials => "invalid_credentials",
            Self::Forbidden { .. } => "forbidden",
            Self::EmailTaken => "email_taken",
            Self::AlreadyMember => "already_member",
            Self::InvitationAlreadyAccepted => "invitation_already_accepted",
            Self::OwnerCannotBeRemoved => "owner_cannot_be_removed",
            Self::OwnerCannotLeave => "owner_cannot_leave",
            Self::InvitationExpired => "invitation_expired",
            Self::InvitationRevoked => "invitation_revoked",
            Self::InvitationEmailMismatch => "invitation_email_mismatch",
            Self::AlreadyVerified => "already_verified",
            Self::EmailUnverified => "email_unverified",
            Self::TokenExpired => "token_expired",
            Self::TokenUsed => "token_used",
            Self::WrongPassword => "forbidden",
            Self::RoleNotAssignable(_) => "role_not_assignable",
            Self::CapabilityNotGrantable(_) => "capability_not_grantable",
            Self::OwnerRoleImmutable => "owner_role_immutable",
            Self::CannotChangeOwnRole => "cannot_change_own_role",
            Self::RoleKeyTaken(_) => "role_key_taken",
            Self::RoleLimitReached { .. } => "role_limit_reached",
            Self::RoleBuiltin => "role_builtin",
            Self::RoleInUse => "role_in_use",
            Self::InvitationSuperseded => "invitation_superseded",
            Self::NotTransferTarget => "forbidden",
            Self::TransferExpired => "transfer_expired",
            Self::TransferTargetInvalid => "transfer_target_invalid",
            Self::LastOwnedOrganization => "last_owned_organization",
            Self::DeletionPending => "deletion_pending",
            Self::OrganizationPendingDeletion => "organization_pending_deletion",
            Self::QuotaExceeded(_) => "quota_exceeded",
            Self::PlanNotSelectable(_) => "plan_not_selectable",
            Self::PayloadTooLarge { .. } => "payload_too_large",
            Self::UploadBroken(_) => "bad_request",
            Self::UnknownPlan(_) | Self::Invalid { .. } => "validation_failed",
            Self::Store(_) => "internal",
        }
    }

    /// The error for a failed authorization: a non-member learns nothing.
    pub fn from_denial(denial: Denial) -> Self {
        match denial {
            Denial::NotAMember => Self::NotFound(Missing::Organization),
            Denial::LacksCapability { role, capability } => Self::Forbidden { role, capability },
        }
    }
}

/// What a 403 says: view-only access for viewers (R15), what the role lacks
/// for everyone.
fn forbidden_detail(role: &RoleKey, capability: Capability) -> String {
    if *role == RoleKey::VIEWER {
        format!("view-only access: the {role} role lacks `{capability}`")
    } else {
        format!("the {role} role lacks `{capability}`")
    }
}

impl From<Denial> for Error {
    fn from(denial: Denial) -> Self {
        Self::from_denial(denial)
    }
}

impl From<CatalogError> for Error {
    fn from(error: CatalogError) -> Self {
        Self::Store(StoreError::other(error))
    }
}

/// A failure of a port's implementation.
#[derive(Debug, thiserror::Error)]
#[error("{kind}: {source}")]
pub struct StoreError {
    kind: StoreErrorKind,
    #[source]
    source: Box<dyn std::error::Error + Send + Sync>,
}

/// Whether trying the whole use case again can help.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StoreErrorKind {
    /// Another transaction got in the way (a serialization failure, a busy
    /// database, a lost optimistic race): the use case is run again.
    Contention,
    /// The database does not answer (no connection within the deadline):
    /// the client is told to come back shortly.
    Unavailable,
    /// Anything else.
    Other,
}

impl std::fmt::Display for StoreErrorKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Contention => "contention",
            Self::Unavailable => "database unavailable",
            Self::Other => "store failure",
        })
    }
}

impl StoreError {
    /// A conflict with a concurrent transaction, worth a retry.
    pub fn contention(source: impl Into<Box<dyn std::error::Error + Send + Sync>>) -> Self {
        Self {
            kind: StoreErrorKind::Contention,
            source: source.into(),
        }
    }

    /// The database does not answer.
    pub fn unavailable(source: impl Into<Box<dyn std::error::Error + Send + Sync>>) -> Self {
        Self {
            kind: StoreErrorKind::Unavailable,
            source: source.into(),
        }
    }

    /// Any other failure.
    pub fn other(source: impl Into<Box<dyn std::error::Error + Send + Sync>>) -> Self {
        Self {
            kind: StoreErrorKind::Other,
            source: source.into(),
        }
    }

    /// Which kind of failure.
    pub const fn kind(&self) -> StoreErrorKind {
        self.kind
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn denials_map_to_not_found_and_forbidden() {
        assert_eq!(Error::from(Denial::NotAMember).code(), "not_found");
        let forbidden = Error::from(Denial::LacksCapability {
            role: RoleKey::VIEWER,
            capability: Capability::ManageMembers,
        });
        assert_eq!(forbidden.code(), "forbidden");
        assert_eq!(
            forbidden.to_string(),
            "view-only access: the viewer role lacks `manage_members`"
        );
        let forbidden = Error::from(Denial::LacksCapability {
            role: RoleKey::ADMIN,
            capability: Capability::DeleteOrganization,
        });
        assert_eq!(
            forbidden.to_string(),
            "the admin role lacks `delete_organization`"
        );
    }
}
