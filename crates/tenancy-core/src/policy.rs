//! Roles, capabilities and the permission matrix, and the authorization check
//! every decision starts with.
//!
//! The matrix is data: [`Role::capabilities`] reads one constant per role, and
//! the documentation (`docs/permissions.md`) and the HTTP layer derive from it.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::id::{OrganizationId, UserId};

/// Something a member may be allowed to do in an organization.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[repr(u8)]
pub enum Capability {
    ViewResources,
    ChatWithAgents,
    RunInvestigations,
    ChatWithReportResults,
    PinItems,
    ManageAgents,
    ManageConnections,
    ManageReports,
    TriggerReportRuns,
    ManageSchedules,
    UploadKnowledgeFiles,
    ManageBilling,
    ManageMembers,
    RenameOrganization,
}

/// A capability name that is not one of the fourteen.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown capability `{0}`")]
pub struct UnknownCapability(pub String);

impl Capability {
    /// Every capability, in the order of the seed's table.
    pub const ALL: [Self; 14] = [
        Self::ViewResources,
        Self::ChatWithAgents,
        Self::RunInvestigations,
        Self::ChatWithReportResults,
        Self::PinItems,
        Self::ManageAgents,
        Self::ManageConnections,
        Self::ManageReports,
        Self::TriggerReportRuns,
        Self::ManageSchedules,
        Self::UploadKnowledgeFiles,
        Self::ManageBilling,
        Self::ManageMembers,
        Self::RenameOrganization,
    ];

    /// The stable snake_case name used in the API and the docs.
    pub const fn name(self) -> &'static str {
        match self {
            Self::ViewResources => "view_resources",
            Self::ChatWithAgents => "chat_with_agents",
            Self::RunInvestigations => "run_investigations",
            Self::ChatWithReportResults => "chat_with_report_results",
            Self::PinItems => "pin_items",
            Self::ManageAgents => "manage_agents",
            Self::ManageConnections => "manage_connections",
            Self::ManageReports => "manage_reports",
            Self::TriggerReportRuns => "trigger_report_runs",
            Self::ManageSchedules => "manage_schedules",
            Self::UploadKnowledgeFiles => "upload_knowledge_files",
            Self::ManageBilling => "manage_billing",
            Self::ManageMembers => "manage_members",
            Self::RenameOrganization => "rename_organization",
        }
    }

    /// What the capability allows, in the words of the seed.
    pub const fn description(self) -> &'static str {
        match self {
            Self::ViewResources => "View agents, connections, reports and knowledge files",
            Self::ChatWithAgents => "Chat with agents",
            Self::RunInvestigations => "Run investigations",
            Self::ChatWithReportResults => "Chat with report results",
            Self::PinItems => "Pin items to the sidebar",
            Self::ManageAgents => "Create or edit agents",
            Self::ManageConnections => "Create or edit connections",
            Self::ManageReports => "Create or modify reports",
            Self::TriggerReportRuns => "Trigger report runs",
            Self::ManageSchedules => "Manage schedules",
            Self::UploadKnowledgeFiles => "Upload knowledge files",
            Self::ManageBilling => "Manage billing",
            Self::ManageMembers => "Invite or remove team members",
            Self::RenameOrganization => "Rename the organization",
        }
    }

    /// Reads a capability from its name.
    pub fn parse(name: &str) -> Result<Self, UnknownCapability> {
        Self::ALL
            .into_iter()
            .find(|capability| capability.name() == name)
            .ok_or_else(|| UnknownCapability(name.to_owned()))
    }

    const fn bit(self) -> u64 {
        1 << (self as u8)
    }
}

impl fmt::Display for Capability {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl fmt::Debug for Capability {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A set of capabilities, as a bitset: checking one is a mask and a compare.
/// 64 bits: room for the 19 capabilities of API.md 1.1 and those to come.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct CapabilitySet(u64);

// Every capability has its bit.
const _: () = assert!(Capability::ALL.len() <= u64::BITS as usize);

impl CapabilitySet {
    /// No capability at all.
    pub const EMPTY: Self = Self(0);

    /// The set of the given capabilities; usable in constants.
    pub const fn of(capabilities: &[Capability]) -> Self {
        let mut bits = 0;
        let mut i = 0;
        while i < capabilities.len() {
            bits |= capabilities[i].bit();
            i += 1;
        }
        Self(bits)
    }

    /// Every capability.
    pub const fn all() -> Self {
        Self::of(&Capability::ALL)
    }

    /// Whether the set holds `capability`.
    pub const fn contains(self, capability: Capability) -> bool {
        self.0 & capability.bit() != 0
    }

    /// Whether every capability of `self` is also in `other`.
    pub const fn is_subset(self, other: Self) -> bool {
        self.0 & !other.0 == 0
    }

    /// The set with `capability` added.
    #[must_use]
    pub const fn with(self, capability: Capability) -> Self {
        Self(self.0 | capability.bit())
    }

    /// How many capabilities the set holds.
    pub const fn len(self) -> usize {
        self.0.count_ones() as usize
    }

    /// Whether the set is empty.
    pub const fn is_empty(self) -> bool {
        self.0 == 0
    }

    /// The capabilities of the set, in the order of [`Capability::ALL`].
    pub fn iter(self) -> impl Iterator<Item = Capability> {
        Capability::ALL
            .into_iter()
            .filter(move |capability| self.contains(*capability))
    }
}

impl fmt::Debug for CapabilitySet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_set().entries(self.iter()).finish()
    }
}

impl FromIterator<Capability> for CapabilitySet {
    fn from_iter<I: IntoIterator<Item = Capability>>(iter: I) -> Self {
        iter.into_iter().fold(Self::EMPTY, Self::with)
    }
}

/// What a member is in an organization. Each role's capabilities are one line
/// of the matrix below; adding a role (editor is planned) is a variant here,
/// its name, and one line there.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    Owner,
    Viewer,
}

/// A role name that is not one of the roles.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown role `{0}`")]
pub struct UnknownRole(pub String);

/// The permission matrix of the seed: what each role holds.
const OWNER_CAPABILITIES: CapabilitySet = CapabilitySet::all();
const VIEWER_CAPABILITIES: CapabilitySet = CapabilitySet::of(&[
    Capability::ViewResources,
    Capability::ChatWithAgents,
    Capability::RunInvestigations,
    Capability::ChatWithReportResults,
    Capability::PinItems,
]);

impl Role {
    /// Every role, most powerful first.
    pub const ALL: [Self; 2] = [Self::Owner, Self::Viewer];

    /// The role an invitation grants when it names none.
    pub const INVITED_DEFAULT: Self = Self::Viewer;

    /// The stable snake_case name used in the API and the docs.
    pub const fn name(self) -> &'static str {
        match self {
            Self::Owner => "owner",
            Self::Viewer => "viewer",
        }
    }

    /// The capabilities the role holds: its line of the matrix.
    pub const fn capabilities(self) -> CapabilitySet {
        match self {
            Self::Owner => OWNER_CAPABILITIES,
            Self::Viewer => VIEWER_CAPABILITIES,
        }
    }

    /// Whether an invitation may grant this role. Only viewers are invited for
    /// now (R13); an organization's one owner is its creator (D8).
    pub const fn is_assignable_by_invitation(self) -> bool {
        matches!(self, Self::Viewer)
    }

    /// Reads a role from its name.
    pub fn parse(name: &str) -> Result<Self, UnknownRole> {
        Self::ALL
            .into_iter()
            .find(|role| role.name() == name)
            .ok_or_else(|| UnknownRole(name.to_owned()))
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl fmt::Debug for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A user's membership of an organization: the only source of their access.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Membership {
    pub organization_id: OrganizationId,
    pub user_id: UserId,
    pub role: Role,
    pub joined_at: chrono::DateTime<chrono::Utc>,
}

/// Proof that a user holds a capability in an organization, as of the
/// membership it was decided from. Only [`authorize`] makes one, and the
/// decisions that change an organization require one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Grant {
    organization_id: OrganizationId,
    user_id: UserId,
    role: Role,
    capability: Capability,
}

impl Grant {
    /// The organization the grant is for.
    pub const fn organization_id(&self) -> OrganizationId {
        self.organization_id
    }

    /// The user who holds it.
    pub const fn user_id(&self) -> UserId {
        self.user_id
    }

    /// The user's role in the organization.
    pub const fn role(&self) -> Role {
        self.role
    }

    /// The capability granted.
    pub const fn capability(&self) -> Capability {
        self.capability
    }
}

/// Why an authorization failed. The two must stay apart: a non-member learns
/// nothing (404), a member learns what they lack (403).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Denial {
    #[error("not a member of the organization")]
    NotAMember,
    #[error("the {role} role lacks `{capability}`")]
    LacksCapability { role: Role, capability: Capability },
}

/// Decides whether `user` may use `capability` in `organization`, given their
/// membership there (or none). A membership of another user or organization
/// counts as none.
pub fn authorize(
    user: UserId,
    organization: OrganizationId,
    membership: Option<&Membership>,
    capability: Capability,
) -> Result<Grant, Denial> {
    let membership = membership
        .filter(|m| m.user_id == user && m.organization_id == organization)
        .ok_or(Denial::NotAMember)?;
    if membership.role.capabilities().contains(capability) {
        Ok(Grant {
            organization_id: organization,
            user_id: user,
            role: membership.role,
            capability,
        })
    } else {
        Err(Denial::LacksCapability {
            role: membership.role,
            capability,
        })
    }
}

/// The permission matrix as a Markdown table, written to `docs/permissions.md`
/// by `cargo xtask codegen` and checked for staleness by a test.
pub fn permissions_markdown() -> String {
    let mut out = String::from(
        "# Permissions\n\n\
         This file is generated from the matrix in `tenancy-core` (`Role::capabilities`) by `cargo xtask codegen`; do not edit it by hand.\n\
         A test fails when it is stale.\n\n",
    );
    out.push_str("| capability | description |");
    for role in Role::ALL {
        out.push_str(&format!(" {role} |"));
    }
    out.push_str("\n|---|---|");
    for _ in Role::ALL {
        out.push_str("---|");
    }
    out.push('\n');
    for capability in Capability::ALL {
        out.push_str(&format!(
            "| `{}` | {} |",
            capability.name(),
            capability.description()
        ));
        for role in Role::ALL {
            let held = if role.capabilities().contains(capability) {
                "yes"
            } else {
                "no"
            };
            out.push_str(&format!(" {held} |"));
        }
        out.push('\n');
    }
    out.push_str("\nInvitations grant these roles: ");
    let assignable: Vec<String> = Role::ALL
        .into_iter()
        .filter(|role| role.is_assignable_by_invitation())
        .map(|role| format!("`{role}`"))
        .collect();
    out.push_str(&assignable.join(", "));
    out.push_str(".\nEvery organization has exactly one `owner`: the user who created it.\n");
    out
}
