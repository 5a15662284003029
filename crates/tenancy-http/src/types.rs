//! The request and response bodies of the API, converted from and to the
//! core's types here and nowhere else.

use chrono::{DateTime, Utc};
use poem_openapi::{Enum, Object};
use tenancy_core::entity::{Invitation, InvitationStatus, User};
use tenancy_core::plan::{Limits, Plan, Usage};
use tenancy_core::service::{Billing, InvitationPreview, Member, OrganizationView};
use tenancy_core::{Capability, Role};
use uuid::Uuid;

/// A role.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
#[oai(rename_all = "snake_case")]
pub(crate) enum RoleName {
    Owner,
    Viewer,
}

impl From<Role> for RoleName {
    fn from(role: Role) -> Self {
        match role {
            Role::Owner => Self::Owner,
            Role::Viewer => Self::Viewer,
        }
    }
}

/// An account.
#[derive(Debug, Clone, Object)]
pub(crate) struct UserBody {
    pub(crate) id: Uuid,
    pub(crate) email: String,
    #[oai(nullable)]
    pub(crate) display_name: Option<String>,
    pub(crate) created_at: DateTime<Utc>,
}

impl From<&User> for UserBody {
    fn from(user: &User) -> Self {
        Self {
            id: user.id.as_uuid(),
            email: user.email.as_str().to_owned(),
            display_name: user.display_name.as_ref().map(|n| n.as_str().to_owned()),
            created_at: user.created_at,
        }
    }
}

fn capability_names(role: Role) -> Vec<String> {
    role.capabilities()
        .iter()
        .map(|c| c.name().to_owned())
        .collect()
}

/// An organization with the caller's own role and capabilities (R15).
#[derive(Debug, Clone, Object)]
pub(crate) struct Org {
    pub(crate) id: Uuid,
    pub(crate) name: String,
    /// The plan id.
    pub(crate) plan: String,
    pub(crate) owner_id: Uuid,
    pub(crate) created_at: DateTime<Utc>,
    /// The caller's role.
    pub(crate) role: RoleName,
    /// Whether the caller owns it.
    pub(crate) is_owner: bool,
    /// What the caller may do here: a client disables what is missing.
    pub(crate) capabilities: Vec<String>,
}

impl From<&OrganizationView> for Org {
    fn from(view: &OrganizationView) -> Self {
        let o = &view.organization;
        Self {
            id: o.id.as_uuid(),
            name: o.name.as_str().to_owned(),
            plan: o.plan.as_str().to_owned(),
            owner_id: o.owner_id.as_uuid(),
            created_at: o.created_at,
            role: view.role.into(),
            is_owner: view.is_owner(),
            capabilities: capability_names(view.role),
        }
    }
}

/// An organization in the switcher (R7).
#[derive(Debug, Clone, Object)]
pub(crate) struct SwitcherEntry {
    pub(crate) id: Uuid,
    pub(crate) name: String,
    pub(crate) role: RoleName,
    /// A crown in the switcher.
    pub(crate) is_owner: bool,
    /// A checkmark in the switcher.
    pub(crate) is_active: bool,
}

impl From<&OrganizationView> for SwitcherEntry {
    fn from(view: &OrganizationView) -> Self {
        Self {
            id: view.organization.id.as_uuid(),
            name: view.organization.name.as_str().to_owned(),
            role: view.role.into(),
            is_owner: view.is_owner(),
            is_active: view.is_active,
        }
    }
}

/// A member of an organization (R18).
#[derive(Debug, Clone, Object)]
pub(crate) struct MemberBody {
    pub(crate) user_id: Uuid,
    pub(crate) email: String,
    #[oai(nullable)]
    pub(crate) display_name: Option<String>,
    pub(crate) role: RoleName,
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
            role: member.role.into(),
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
    pub(crate) role: RoleName,
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
            role: invitation.role.into(),
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
    #[oai(nullable)]
    pub(crate) role: Option<RoleName>,
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
            role: details.map(|d| d.role.into()),
            status: p.status.into(),
            expires_at: details.map(|d| d.expires_at),
        }
    }
}

/// A plan's limits; `null` is unlimited.
#[derive(Debug, Clone, Object)]
pub(crate) struct LimitsBody {
    #[oai(nullable)]
    pub(crate) agents: Option<u64>,
    #[oai(nullable)]
    pub(crate) connections: Option<u64>,
    #[oai(nullable)]
    pub(crate) reports: Option<u64>,
    #[oai(nullable)]
    pub(crate) chat_messages_per_month: Option<u64>,
    #[oai(nullable)]
    pub(crate) knowledge_files: Option<u64>,
    /// The bytes that all knowledge files may take together.
    #[oai(nullable)]
    pub(crate) storage_bytes: Option<u64>,
}

impl From<&Limits> for LimitsBody {
    fn from(l: &Limits) -> Self {
        Self {
            agents: l.agents,
            connections: l.connections,
            reports: l.reports,
            chat_messages_per_month: l.chat_messages_per_month,
            knowledge_files: l.knowledge_files,
            storage_bytes: l.storage_bytes,
        }
    }
}

/// A plan of the catalog.
#[derive(Debug, Clone, Object)]
pub(crate) struct PlanBody {
    pub(crate) id: String,
    pub(crate) name: String,
    /// Whether members with `manage_billing` may pick it themselves; the
    /// others only the host's billing system sets.
    pub(crate) self_serve: bool,
    pub(crate) limits: LimitsBody,
}

impl From<&Plan> for PlanBody {
    fn from(plan: &Plan) -> Self {
        Self {
            id: plan.id.as_str().to_owned(),
            name: plan.name.clone(),
            self_serve: plan.self_serve,
            limits: (&plan.limits).into(),
        }
    }
}

/// What an organization uses now.
#[derive(Debug, Clone, Object)]
pub(crate) struct UsageBody {
    pub(crate) agents: u64,
    pub(crate) connections: u64,
    pub(crate) reports: u64,
    pub(crate) chat_messages_this_month: u64,
    pub(crate) knowledge_files: u64,
    /// The sizes of the knowledge files, summed.
    pub(crate) storage_bytes: u64,
}

impl From<&Usage> for UsageBody {
    fn from(u: &Usage) -> Self {
        Self {
            agents: u.agents,
            connections: u.connections,
            reports: u.reports,
            chat_messages_this_month: u.chat_messages_this_month,
            knowledge_files: u.knowledge_files,
            storage_bytes: u.storage_bytes,
        }
    }
}

/// The billing view of an organization.
#[derive(Debug, Clone, Object)]
pub(crate) struct BillingBody {
    pub(crate) plan: String,
    pub(crate) limits: LimitsBody,
    pub(crate) usage: UsageBody,
}

impl From<&Billing> for BillingBody {
    fn from(b: &Billing) -> Self {
        Self {
            plan: b.plan.as_str().to_owned(),
            limits: (&b.limits).into(),
            usage: (&b.usage).into(),
        }
    }
}

/// A role and what it may do.
#[derive(Debug, Clone, Object)]
pub(crate) struct RoleBody {
    pub(crate) role: RoleName,
    pub(crate) capabilities: Vec<String>,
}

/// A capability and what it allows.
#[derive(Debug, Clone, Object)]
pub(crate) struct CapabilityBody {
    pub(crate) name: String,
    pub(crate) description: String,
}

/// The permission matrix.
#[derive(Debug, Clone, Object)]
pub(crate) struct RolesBody {
    pub(crate) items: Vec<RoleBody>,
    pub(crate) capabilities: Vec<CapabilityBody>,
}

impl RolesBody {
    pub(crate) fn matrix() -> Self {
        Self {
            items: Role::ALL
                .into_iter()
                .map(|role| RoleBody {
                    role: role.into(),
                    capabilities: capability_names(role),
                })
                .collect(),
            capabilities: Capability::ALL
                .into_iter()
                .map(|c| CapabilityBody {
                    name: c.name().to_owned(),
                    description: c.description().to_owned(),
                })
                .collect(),
        }
    }
}

/// A page type of a list, with the constructor that cuts the page.
macro_rules! list {
    ($(#[$meta:meta])* $name:ident, $item:ty) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Object)]
        pub(crate) struct $name {
            pub items: Vec<$item>,
            /// Pass as `cursor` for the next page; `null` on the last page.
            #[oai(nullable)]
            pub next_cursor: Option<String>,
        }

        impl $name {
            /// The page of `items` (in their stable order) that `limit` and
            /// `cursor` ask for.
            pub(crate) fn of(
                items: Vec<$item>,
                limit: Option<u32>,
                cursor: Option<String>,
            ) -> std::result::Result<poem_openapi::payload::Json<Self>, crate::problem::ApiError> {
                let (items, next_cursor) = crate::paging::page(items, limit, cursor.as_deref())?;
                Ok(poem_openapi::payload::Json(Self { items, next_cursor }))
            }
        }
    };
}
pub(crate) use list;

list!(
    /// A page of the caller's organizations.
    OrganizationList,
    SwitcherEntry
);
list!(
    /// A page of members.
    MemberList,
    MemberBody
);
list!(
    /// A page of pending invitations.
    InvitationList,
    InvitationBody
);
list!(
    /// A page of plans.
    PlanList,
    PlanBody
);
