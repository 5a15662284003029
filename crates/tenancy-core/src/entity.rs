//! The things the store keeps: users, organizations, invitations, chats and
//! emails. Resources and what members do with them are in [`crate::resource`],
//! memberships in [`crate::policy`].

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};

use crate::id::{
    ChatId, InvitationId, MailId, MessageId, OrganizationId, ReportRunId, ResourceId, UserId,
};
use crate::plan::PlanId;
use crate::policy::{Capability, Role};
use crate::token::{SecretToken, TokenHash};
use crate::value::{DisplayName, EmailAddress, OrganizationName};

use crate::resource::Text;
pub use crate::resource::{Resource, ResourceKind};

/// A person with an account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    pub id: UserId,
    pub email: EmailAddress,
    pub display_name: Option<DisplayName>,
    pub created_at: DateTime<Utc>,
}

/// A signed-in session: the hash of its bearer token and whose it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Session {
    pub token_hash: TokenHash,
    pub user_id: UserId,
    pub created_at: DateTime<Utc>,
}

/// An organization. Its owner is also a member, with the owner role.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Organization {
    pub id: OrganizationId,
    pub name: OrganizationName,
    pub plan: PlanId,
    pub owner_id: UserId,
    pub created_at: DateTime<Utc>,
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
    /// The capability that starting and continuing the chat needs.
    pub const fn capability(self) -> Capability {
        match self {
            Self::Agent(_) => Capability::ChatWithAgents,
            Self::ReportRun { .. } => Capability::ChatWithReportResults,
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
        token: SecretToken,
        expires_at: DateTime<Utc>,
    },
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
        match &self.content {
            MailContent::Invitation {
                organization_name,
                inviter_email,
                token,
                expires_at,
                ..
            } => {
                let link = format!(
                    "{}/invitations/{}",
                    public_url.trim_end_matches('/'),
                    token.expose()
                );
                RenderedMail {
                    to: self.to.clone(),
                    subject: format!("You are invited to join {organization_name}"),
                    text: format!(
                        "{inviter_email} invited you to join {organization_name} as a viewer.\n\n\
                         Accept Invitation: {link}\n\n\
                         The invitation expires on {} (UTC).\n\
                         If you were not expecting it, ignore this email.\n",
                        expires_at.format("%Y-%m-%d %H:%M")
                    ),
                }
            }
        }
    }
}
