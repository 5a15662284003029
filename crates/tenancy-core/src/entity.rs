//! The things the store keeps: users, organizations, invitations, chats and
//! emails. Resources and what members do with them are in [`crate::resource`],
//! memberships in [`crate::policy`].

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};

use crate::id::{
    AccountTokenId, ChatId, InvitationId, MailId, MessageId, OrganizationId, ReportRunId,
    ResourceId, SessionId, TransferId, UserId,
};
use crate::operation::Operation;
use crate::plan::PlanId;
use crate::policy::Role;
use crate::token::{SecretToken, TokenHash};
use crate::value::{DisplayName, EmailAddress, OrganizationName, RoleName};

use crate::resource::Text;
pub use crate::resource::{Resource, ResourceKind};

/// A person with an account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    pub id: UserId,
    pub email: EmailAddress,
    pub display_name: Option<DisplayName>,
    /// Whether the person proved that the address is theirs: a verification
    /// link, a password reset, or an invitation link, each sent to it (R31).
    pub email_verified: bool,
    pub created_at: DateTime<Utc>,
}

/// A signed-in session: the hash of its bearer token, whose it is, and when
/// it was opened and last used.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Session {
    pub id: SessionId,
    pub token_hash: TokenHash,
    pub user_id: UserId,
    pub created_at: DateTime<Utc>,
    /// Written at most once per [`SESSION_USE_RESOLUTION`], so that a
    /// request does not write on every read.
    pub last_used_at: DateTime<Utc>,
}

/// How often a session's `last_used_at` is written at most: it may lag by
/// this much, and the idle timeout is judged with this precision.
pub const SESSION_USE_RESOLUTION: Duration = Duration::minutes(1);

/// How long sessions live: `ttl` after sign-in at most, and `idle_timeout`
/// after their last use (R31).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SessionLifetimes {
    pub ttl: Duration,
    pub idle_timeout: Duration,
}

impl Default for SessionLifetimes {
    fn default() -> Self {
        Self {
            ttl: Duration::days(30),
            idle_timeout: Duration::days(7),
        }
    }
}

impl SessionLifetimes {
    /// The absolute end of a session. It is derived from the lifetimes in
    /// force, not stored, so that a shorter `ttl` applies to open sessions too.
    pub fn expires_at(&self, session: &Session) -> DateTime<Utc> {
        session.created_at + self.ttl
    }

    /// Whether the session still admits requests at `now`.
    pub fn is_live(&self, session: &Session, now: DateTime<Utc>) -> bool {
        now < self.expires_at(session) && now < session.last_used_at + self.idle_timeout
    }

    /// Whether a use at `now` must be written down.
    pub fn use_is_due(session: &Session, now: DateTime<Utc>) -> bool {
        now >= session.last_used_at + SESSION_USE_RESOLUTION
    }
}

/// How long a verification link lives when nothing else is configured.
pub const DEFAULT_VERIFICATION_TTL: Duration = Duration::days(1);

/// How long a password reset link lives (D19).
pub const PASSWORD_RESET_TTL: Duration = Duration::hours(1);

/// What a link sent to an account's address is for; each token has one
/// purpose (D4).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum AccountTokenPurpose {
    VerifyEmail,
    ResetPassword,
}

impl AccountTokenPurpose {
    /// The stable name the store keeps.
    pub const fn name(self) -> &'static str {
        match self {
            Self::VerifyEmail => "verify_email",
            Self::ResetPassword => "reset_password",
        }
    }

    /// The purpose of a stored name.
    pub fn parse(name: &str) -> Option<Self> {
        [Self::VerifyEmail, Self::ResetPassword]
            .into_iter()
            .find(|purpose| purpose.name() == name)
    }
}

/// What became of an account link. Used and superseded are told apart from
/// open; expiry derives from the clock, as for invitations.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AccountTokenState {
    Open,
    Used {
        at: DateTime<Utc>,
    },
    /// A newer link of the same purpose was sent (D19).
    Superseded {
        at: DateTime<Utc>,
    },
}

/// A verification or password reset link: single use, stored hashed (D4, D19).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccountToken {
    pub id: AccountTokenId,
    pub user_id: UserId,
    pub purpose: AccountTokenPurpose,
    pub token_hash: TokenHash,
    pub created_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
    pub state: AccountTokenState,
}

/// An organization. Its owner is also a member, with the owner role.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Organization {
    pub id: OrganizationId,
    pub name: OrganizationName,
    pub plan: PlanId,
    pub owner_id: UserId,
    pub created_at: DateTime<Utc>,
    /// Set while the organization is pending deletion (R29).
    pub deletion: Option<ScheduledDeletion>,
}

impl Organization {
    /// Whether its owner asked to delete it and has not restored it.
    pub const fn is_pending_deletion(&self) -> bool {
        self.deletion.is_some()
    }
}

/// An organization's deletion, requested and not yet purged (R29, D17).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ScheduledDeletion {
    pub requested_at: DateTime<Utc>,
    /// From this instant on it can no longer be restored, and the purge job
    /// removes it.
    pub purge_after: DateTime<Utc>,
}

/// How long an organization stays restorable when nothing else is
/// configured (`--deletion-grace`).
pub const DEFAULT_DELETION_GRACE: Duration = Duration::days(30);

/// How long an ownership transfer waits for its target's answer (R28).
pub const TRANSFER_TTL: Duration = Duration::hours(72);

/// A pending offer of an organization's ownership to one of its members
/// (R28). Only a pending one is stored: accepting, declining, cancelling or
/// replacing it removes it; one whose expiry passed is dead but kept until
/// then, so that accepting it answers `transfer_expired`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OwnershipTransfer {
    pub id: TransferId,
    pub organization_id: OrganizationId,
    pub from_user_id: UserId,
    pub to_user_id: UserId,
    pub created_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
}

impl OwnershipTransfer {
    /// Whether its target may still accept it at `now`.
    pub fn is_live_at(&self, now: DateTime<Utc>) -> bool {
        now < self.expires_at
    }
}

/// How long an invitation stays valid when nothing else is configured (R10).
pub const DEFAULT_INVITATION_TTL: Duration = Duration::days(7);

/// An invitation's lifecycle as seen by a client. `Expired` is never stored
/// by a decision on its own: it is what a pending invitation becomes when
/// the clock passes its expiry.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum InvitationStatus {
    Pending,
    Accepted,
    Revoked,
    Expired,
}

impl InvitationStatus {
    /// The stable name used in the API.
    pub const fn name(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Accepted => "accepted",
            Self::Revoked => "revoked",
            Self::Expired => "expired",
        }
    }
}

/// What the store records of an invitation's lifecycle.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum InvitationState {
    /// Not yet used; expired once the clock passes `expires_at`.
    Pending,
    /// Used, once, by this user.
    Accepted { by: UserId, at: DateTime<Utc> },
    /// Revoked by an owner, or replaced by a newer invitation of the same email (D5).
    Revoked { at: DateTime<Utc> },
    /// Closed after it had expired, when the same email was invited again;
    /// recorded so that at most one invitation per email is ever open.
    Expired,
}

/// An invitation of an email address into an organization.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invitation {
    pub id: InvitationId,
    pub organization_id: OrganizationId,
    pub email: EmailAddress,
    pub role: Role,
    pub token_hash: TokenHash,
    pub invited_by: UserId,
    pub created_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
    pub state: InvitationState,
}

impl Invitation {
    /// The status at `now`: a pending invitation is expired from its expiry on.
    pub fn status_at(&self, now: DateTime<Utc>) -> InvitationStatus {
        match self.state {
            InvitationState::Pending if now >= self.expires_at => InvitationStatus::Expired,
            InvitationState::Pending => InvitationStatus::Pending,
            InvitationState::Accepted { .. } => InvitationStatus::Accepted,
            InvitationState::Revoked { .. } => InvitationStatus::Revoked,
            InvitationState::Expired => InvitationStatus::Expired,
        }
    }

    /// Whether the store still holds it as open (pending, expired or not).
    pub const fn is_open(&self) -> bool {
        matches!(self.state, InvitationState::Pending)
    }
}

/// What a chat talks about.
/// A role an organization defined (R26): a row of the store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CustomRole {
    pub organization_id: OrganizationId,
    pub role: Role,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum ChatSubject {
    /// A chat with an agent (`chat_with_agents`).
    Agent(ResourceId),
    /// A chat about the results of a report run (`chat_with_report_results`).
    ReportRun {
        report_id: ResourceId,
        run_id: ReportRunId,
    },
}

impl ChatSubject {
    /// The operation that starting and continuing the chat is.
    pub const fn operation(self) -> Operation {
        match self {
            Self::Agent(_) => Operation::ChatWithAgent,
            Self::ReportRun { .. } => Operation::ChatAboutReportRun,
        }
    }

    /// The agent talked to, if it is an agent chat.
    pub const fn agent_id(self) -> Option<ResourceId> {
        match self {
            Self::Agent(id) => Some(id),
            Self::ReportRun { .. } => None,
        }
    }

    /// The report run talked about, if it is a report chat.
    pub const fn report_run_id(self) -> Option<ReportRunId> {
        match self {
            Self::Agent(_) => None,
            Self::ReportRun { run_id, .. } => Some(run_id),
        }
    }
}

/// A chat of one member; nobody else sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Chat {
    pub id: ChatId,
    pub organization_id: OrganizationId,
    pub created_by: UserId,
    pub subject: ChatSubject,
    pub created_at: DateTime<Utc>,
}

/// One message of a chat; counts toward the monthly quota.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChatMessage {
    pub id: MessageId,
    pub chat_id: ChatId,
    pub organization_id: OrganizationId,
    pub sent_by: UserId,
    pub content: Text,
    pub created_at: DateTime<Utc>,
}

/// An email waiting in the outbox (D11). It holds what the message is about,
/// not its rendered text, so that links are made at delivery time from the
/// configured public URL. The token inside must be stored encrypted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutgoingMail {
    pub id: MailId,
    pub to: EmailAddress,
    pub created_at: DateTime<Utc>,
    pub content: MailContent,
}

/// What an email says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MailContent {
    /// An invitation with its accept link (R10).
    Invitation {
        invitation_id: InvitationId,
        organization_name: OrganizationName,
        inviter_email: EmailAddress,
        /// The name of the role it grants.
        role_name: RoleName,
        token: SecretToken,
        expires_at: DateTime<Utc>,
    },
    /// The link that proves an address (R31).
    VerifyEmail {
        token_id: AccountTokenId,
        token: SecretToken,
        expires_at: DateTime<Utc>,
    },
    /// The link that sets a new password (R31).
    ResetPassword {
        token_id: AccountTokenId,
        token: SecretToken,
        expires_at: DateTime<Utc>,
    },
    /// An offer of an organization's ownership to its target (R28). No
    /// link carries a secret: the target answers signed in.
    OwnershipTransfer {
        transfer_id: TransferId,
        organization_id: OrganizationId,
        organization_name: OrganizationName,
        owner_email: EmailAddress,
        expires_at: DateTime<Utc>,
    },
}

impl MailContent {
    /// The token of the email's link, for the emails that carry one.
    pub const fn token(&self) -> Option<&SecretToken> {
        match self {
            Self::Invitation { token, .. }
            | Self::VerifyEmail { token, .. }
            | Self::ResetPassword { token, .. } => Some(token),
            Self::OwnershipTransfer { .. } => None,
        }
    }
}

/// A rendered email, ready for a transport.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RenderedMail {
    pub to: EmailAddress,
    pub subject: String,
    pub text: String,
}

impl OutgoingMail {
    /// Renders subject and plain-text body; links start with `public_url`.
    pub fn render(&self, public_url: &str) -> RenderedMail {
        let base = public_url.trim_end_matches('/');
        match &self.content {
            MailContent::Invitation {
                organization_name,
                inviter_email,
                role_name,
                token,
                expires_at,
                ..
            } => {
                let link = format!("{base}/invitations/{}", token.expose());
                RenderedMail {
                    to: self.to.clone(),
                    subject: format!("You are invited to join {organization_name}"),
                    text: format!(
                        "{inviter_email} invited you to join {organization_name} with the role {role_name}.\n\n\
                         Accept Invitation: {link}\n\n\
                         The invitation expires on {} (UTC).\n\
                         If you were not expecting it, ignore this email.\n",
                        expires_at.format("%Y-%m-%d %H:%M")
                    ),
                }
            }
            MailContent::VerifyEmail {
                token, expires_at, ..
            } => RenderedMail {
                to: self.to.clone(),
                subject: "Verify your email address".to_owned(),
                text: format!(
                    "Open this link to verify that {to} is your email address:\n\n\
                     {base}/verify-email/{token}\n\n\
                     Inviting people and transferring an organization need a verified address.\n\
                     The link works once, until {expiry} (UTC).\n\
                     If this wasn't you, ignore this email.\n",
                    to = self.to,
                    token = token.expose(),
                    expiry = expires_at.format("%Y-%m-%d %H:%M"),
                ),
            },
            MailContent::ResetPassword {
                token, expires_at, ..
            } => RenderedMail {
                to: self.to.clone(),
                subject: "Reset your password".to_owned(),
                text: format!(
                    "Someone asked to reset the password of the account {to}.\n\
                     Open this link to choose a new password:\n\n\
                     {base}/reset-password/{token}\n\n\
                     The link works once, until {expiry} (UTC); setting a new password \
                     signs the account out everywhere.\n\
                     If this wasn't you, ignore this email: your password stays as it is.\n",
                    to = self.to,
                    token = token.expose(),
                    expiry = expires_at.format("%Y-%m-%d %H:%M"),
                ),
            },
            MailContent::OwnershipTransfer {
                organization_name,
                owner_email,
                expires_at,
                ..
            } => RenderedMail {
                to: self.to.clone(),
                subject: format!("{owner_email} offers you the ownership of {organization_name}"),
                text: format!(
                    "{owner_email} asked to make you the owner of {organization_name}.\n\n\
                     Sign in to accept or decline: {base}/settings\n\n\
                     If you accept, you become its owner and {owner_email} an admin.\n\
                     The offer expires on {expiry} (UTC).\n",
                    expiry = expires_at.format("%Y-%m-%d %H:%M"),
                ),
            },
        }
    }
}
