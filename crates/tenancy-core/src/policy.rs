//! Roles, capabilities and the permission matrix, and the authorization check
//! every decision starts with.
//!
//! The matrix is data: [`Role::capabilities`] reads one constant per role, and
//! the documentation (`docs/permissions.md`) and the HTTP layer derive from it.

use std::borrow::Cow;
use std::fmt;

use serde::{Deserialize, Serialize};

use crate::id::{OrganizationId, UserId};
use crate::operation::Operation;
use crate::value::{RoleDescription, RoleName};

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
    ManageRoles,
    ViewAuditLog,
    ManageWebhooks,
    DeleteOrganization,
    TransferOwnership,
}

/// A capability name that is not one of the nineteen.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown capability `{0}`")]
pub struct UnknownCapability(pub String);

impl Capability {
    /// Every capability, in the order of the matrix (API.md 1.1).
    pub const ALL: [Self; 19] = [
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
        Self::ManageRoles,
        Self::ViewAuditLog,
        Self::ManageWebhooks,
        Self::DeleteOrganization,
        Self::TransferOwnership,
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
            Self::ManageRoles => "manage_roles",
            Self::ViewAuditLog => "view_audit_log",
            Self::ManageWebhooks => "manage_webhooks",
            Self::DeleteOrganization => "delete_organization",
            Self::TransferOwnership => "transfer_ownership",
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
            Self::ManageRoles => "Create, edit and delete custom roles",
            Self::ViewAuditLog => "View and export the audit log",
            Self::ManageWebhooks => "Manage webhooks",
            Self::DeleteOrganization => "Delete the organization",
            Self::TransferOwnership => "Transfer ownership of the organization",
        }
    }

    /// Whether a role other than the owner's may hold it. `delete_organization`
    /// and `transfer_ownership` stay with the owner alone (D14).
    pub const fn is_grantable(self) -> bool {
        !matches!(self, Self::DeleteOrganization | Self::TransferOwnership)
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

    /// Every capability a role other than the owner's may hold.
    pub const GRANTABLE: Self = Self(
        Self::all().0
            & !Self::of(&[
                Capability::DeleteOrganization,
                Capability::TransferOwnership,
            ])
            .0,
    );

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

    /// The capabilities of `self` that `other` lacks.
    #[must_use]
    pub const fn minus(self, other: Self) -> Self {
        Self(self.0 & !other.0)
    }

    /// Both sets together.
    #[must_use]
    pub const fn union(self, other: Self) -> Self {
        Self(self.0 | other.0)
    }

    /// The names of the capabilities, comma-separated in the order of the
    /// matrix: how the store keeps a custom role's set (names, not bits, so
    /// that the bits may move).
    pub fn to_names(self) -> String {
        self.iter()
            .map(Capability::name)
            .collect::<Vec<_>>()
            .join(",")
    }

    /// Reads what [`Self::to_names`] wrote.
    pub fn from_names(names: &str) -> Result<Self, UnknownCapability> {
        names
            .split(',')
            .filter(|name| !name.is_empty())
            .map(Capability::parse)
            .collect()
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

/// The key of a role: a built-in one's (`owner`, `admin`, `editor`,
/// `viewer`) or a custom one's, 2 to 40 characters of `a-z`, `0-9`, `_` and
/// `-`, starting with a letter. Keys are unique within an organization.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(transparent)]
pub struct RoleKey(Cow<'static, str>);

/// Why a string is not a role key.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RoleKeyError {
    #[error("a role key is 2 to 40 characters long")]
    Length,
    #[error("a role key starts with a letter from a to z")]
    Start,
    #[error("a role key holds only a-z, 0-9, `_` and `-`")]
    Character,
    #[error("`{0}` is the key of a built-in role")]
    Builtin(String),
}

/// The longest custom role key.
pub const ROLE_KEY_MAX_CHARS: usize = 40;

impl RoleKey {
    pub const OWNER: Self = Self(Cow::Borrowed("owner"));
    pub const ADMIN: Self = Self(Cow::Borrowed("admin"));
    pub const EDITOR: Self = Self(Cow::Borrowed("editor"));
    pub const VIEWER: Self = Self(Cow::Borrowed("viewer"));

    /// The key of a role to look up: a built-in key or a well-formed custom
    /// one. Whether the organization has such a role is the store's answer.
    pub fn parse(input: &str) -> Result<Self, RoleKeyError> {
        if let Some(role) = Role::builtin(input) {
            return Ok(role.key);
        }
        Self::well_formed(input).map(|()| Self(Cow::Owned(input.to_owned())))
    }

    /// The key of a new custom role: well formed, and not a built-in one's.
    pub fn custom(input: &str) -> Result<Self, RoleKeyError> {
        if Role::builtin(input).is_some() {
            return Err(RoleKeyError::Builtin(input.to_owned()));
        }
        Self::parse(input)
    }

    fn well_formed(input: &str) -> Result<(), RoleKeyError> {
        if !(2..=ROLE_KEY_MAX_CHARS).contains(&input.len()) {
            return Err(RoleKeyError::Length);
        }
        if !input.starts_with(|c: char| c.is_ascii_lowercase()) {
            return Err(RoleKeyError::Start);
        }
        if !input
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '-')
        {
            return Err(RoleKeyError::Character);
        }
        Ok(())
    }

    /// The key.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Whether it is the key of a built-in role.
    pub fn is_builtin(&self) -> bool {
        Role::builtin(self.as_str()).is_some()
    }
}

impl fmt::Display for RoleKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for RoleKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// What a member is in an organization: a key, a name, a description and a
/// set of capabilities (D15). The four built-in roles are the constants
/// below, their sets the lines of the matrix; an organization's custom roles
/// are rows of the store, made only through [`Role::custom`], so none holds
/// an owner-only capability or lacks `view_resources`. One [`authorize`]
/// decides for both.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Role {
    key: RoleKey,
    name: RoleName,
    description: RoleDescription,
    capabilities: CapabilitySet,
}

/// Why a custom role cannot be made as asked.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RoleError {
    #[error("the role's key is a built-in role's")]
    Builtin,
    #[error("a role holds `view_resources`")]
    WithoutViewResources,
    #[error("`{0}` stays with the owner alone")]
    OwnerOnly(Capability),
}

/// The lines of the matrix (API.md 1.1, "Roles and capabilities").
const VIEWER_CAPABILITIES: CapabilitySet = CapabilitySet::of(&[
    Capability::ViewResources,
    Capability::ChatWithAgents,
    Capability::RunInvestigations,
    Capability::ChatWithReportResults,
    Capability::PinItems,
]);
const EDITOR_CAPABILITIES: CapabilitySet = VIEWER_CAPABILITIES.union(CapabilitySet::of(&[
    Capability::ManageAgents,
    Capability::ManageConnections,
    Capability::ManageReports,
    Capability::TriggerReportRuns,
    Capability::ManageSchedules,
    Capability::UploadKnowledgeFiles,
]));
const ADMIN_CAPABILITIES: CapabilitySet = CapabilitySet::GRANTABLE;
const OWNER_CAPABILITIES: CapabilitySet = CapabilitySet::all();

impl Role {
    pub const OWNER: Self = Self::constant(
        RoleKey::OWNER,
        "Owner",
        "Created the organization; holds every capability",
        OWNER_CAPABILITIES,
    );
    pub const ADMIN: Self = Self::constant(
        RoleKey::ADMIN,
        "Admin",
        "Everything but deleting the organization and transferring its ownership",
        ADMIN_CAPABILITIES,
    );
    pub const EDITOR: Self = Self::constant(
        RoleKey::EDITOR,
        "Editor",
        "Builds agents, connections, reports, schedules and knowledge files",
        EDITOR_CAPABILITIES,
    );
    pub const VIEWER: Self = Self::constant(
        RoleKey::VIEWER,
        "Viewer",
        "View-only access: views, chats, investigates and pins",
        VIEWER_CAPABILITIES,
    );

    /// The built-in roles, most powerful first: the order of the matrix.
    pub const BUILTIN: [Self; 4] = [Self::OWNER, Self::ADMIN, Self::EDITOR, Self::VIEWER];

    /// The role an invitation grants when it names none.
    pub const INVITED_DEFAULT: Self = Self::VIEWER;

    const fn constant(
        key: RoleKey,
        name: &'static str,
        description: &'static str,
        capabilities: CapabilitySet,
    ) -> Self {
        Self {
            key,
            name: RoleName::constant(name),
            description: RoleDescription::constant(description),
            capabilities,
        }
    }

    /// The built-in role of a key.
    pub fn builtin(key: &str) -> Option<Self> {
        Self::BUILTIN
            .into_iter()
            .find(|role| role.key.as_str() == key)
    }

    /// A custom role: its key is not a built-in one's, it holds
    /// `view_resources` and no owner-only capability. Whether the caller
    /// may give these capabilities is the decision's to check (D14).
    pub fn custom(
        key: RoleKey,
        name: RoleName,
        description: RoleDescription,
        capabilities: CapabilitySet,
    ) -> Result<Self, RoleError> {
        if key.is_builtin() {
            return Err(RoleError::Builtin);
        }
        if let Some(capability) = capabilities.minus(CapabilitySet::GRANTABLE).iter().next() {
            return Err(RoleError::OwnerOnly(capability));
        }
        if !capabilities.contains(Capability::ViewResources) {
            return Err(RoleError::WithoutViewResources);
        }
        Ok(Self {
            key,
            name,
            description,
            capabilities,
        })
    }

    /// The role that a dead invitation (accepted, revoked or expired) named,
    /// once that custom role was deleted: its key as history, and no
    /// capability. A pending invitation never holds one: a role in use
    /// cannot be deleted.
    pub fn retired(key: RoleKey) -> Self {
        let name = RoleName::parse(key.as_str()).unwrap_or_else(|_| RoleName::constant("retired"));
        Self {
            key,
            name,
            description: RoleDescription::default(),
            capabilities: CapabilitySet::EMPTY,
        }
    }

    /// Its key.
    pub const fn key(&self) -> &RoleKey {
        &self.key
    }

    /// Its name, for people.
    pub const fn name(&self) -> &RoleName {
        &self.name
    }

    /// What it is for.
    pub const fn description(&self) -> &RoleDescription {
        &self.description
    }

    /// The capabilities it holds.
    pub const fn capabilities(&self) -> CapabilitySet {
        self.capabilities
    }

    /// Whether it is the [retired](Self::retired) role of a dead invitation.
    pub fn is_retired(&self) -> bool {
        !self.is_builtin() && self.capabilities.is_empty()
    }

    /// Whether it is one of the four built-in roles.
    pub fn is_builtin(&self) -> bool {
        self.key.is_builtin()
    }

    /// Whether it is the owner's role: one member of each organization holds
    /// it, and no one is given it (D8).
    pub fn is_owner(&self) -> bool {
        self.key == RoleKey::OWNER
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.key.as_str())
    }
}

impl fmt::Debug for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.is_builtin() {
            f.write_str(self.key.as_str())
        } else {
            write!(f, "{}{:?}", self.key, self.capabilities)
        }
    }
}

/// A user's membership of an organization: the only source of their access.
/// It carries the role's definition as the store read it with the
/// membership, so that a change of a custom role's capabilities is in force
/// on the member's next request (D12).
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
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Grant {
    organization_id: OrganizationId,
    user_id: UserId,
    role: RoleKey,
    capabilities: CapabilitySet,
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

    /// The key of the user's role in the organization.
    pub const fn role(&self) -> &RoleKey {
        &self.role
    }

    /// Every capability the user holds there: what they may give (D14).
    pub const fn capabilities(&self) -> CapabilitySet {
        self.capabilities
    }

    /// Whether the user is the organization's owner.
    pub fn is_owner(&self) -> bool {
        self.role == RoleKey::OWNER
    }

    /// The capability granted.
    pub const fn capability(&self) -> Capability {
        self.capability
    }
}

/// Why an authorization failed. The two must stay apart: a non-member learns
/// nothing (404), a member learns what they lack (403).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Denial {
    #[error("not a member of the organization")]
    NotAMember,
    #[error("the {role} role lacks `{capability}`")]
    LacksCapability {
        role: RoleKey,
        capability: Capability,
    },
}

/// Decides whether `user` may use `capability` in `organization`, given their
/// membership there (or none). A membership of another user or organization
/// counts as none. Built-in and custom roles are decided alike: by the set
/// the membership's role holds.
pub fn authorize(
    user: UserId,
    organization: OrganizationId,
    membership: Option<&Membership>,
    capability: Capability,
) -> Result<Grant, Denial> {
    let membership = membership
        .filter(|m| m.user_id == user && m.organization_id == organization)
        .ok_or(Denial::NotAMember)?;
    let capabilities = membership.role.capabilities();
    if capabilities.contains(capability) {
        Ok(Grant {
            organization_id: organization,
            user_id: user,
            role: membership.role.key().clone(),
            capabilities,
            capability,
        })
    } else {
        Err(Denial::LacksCapability {
            role: membership.role.key().clone(),
            capability,
        })
    }
}

/// The permission matrix as a Markdown table, written to `docs/permissions.md`
/// by `cargo xtask codegen` and checked for staleness by a test.
pub fn permissions_markdown() -> String {
    let mut out = String::from(
        "# Permissions\n\n\
         This file is generated from the matrix in `tenancy-core` (`Role::BUILTIN`) and its table of operations (`Operation::capability`) by `cargo xtask codegen`; do not edit it by hand.\n\
         A test fails when it is stale.\n\n\
         ## Built-in roles\n\n",
    );
    out.push_str("| capability | description |");
    for role in Role::BUILTIN {
        out.push_str(&format!(" {} |", role.key()));
    }
    out.push_str("\n|---|---|");
    for _ in Role::BUILTIN {
        out.push_str("---|");
    }
    out.push('\n');
    for capability in Capability::ALL {
        out.push_str(&format!(
            "| `{}` | {} |",
            capability.name(),
            capability.description()
        ));
        for role in Role::BUILTIN {
            let held = if role.capabilities().contains(capability) {
                "yes"
            } else {
                "no"
            };
            out.push_str(&format!(" {held} |"));
        }
        out.push('\n');
    }
    let owner_only: Vec<String> = Capability::ALL
        .into_iter()
        .filter(|capability| !capability.is_grantable())
        .map(|capability| format!("`{capability}`"))
        .collect();
    out.push_str(&format!(
        "\nEvery organization has exactly one `owner`: the user who created it, or the member it transferred ownership to. \
         {} stay with the owner: no other role, built-in or custom, holds them.\n\
         Organizations add custom roles (up to {CUSTOM_ROLES_MAX}): each holds `view_resources` and any other capability but the owner's own.\n\
         No escalation (D14): a member gives (invites with, assigns, puts into a custom role) only capabilities they hold, \
         and removes or changes the role of a member only when they hold every capability of that member's role.\n",
        owner_only.join(" and ")
    ));
    out.push_str("\n## Operations\n\nWhat each operation needs; the HTTP routes, the decisions and the console read this table.\n\n| operation | capability |\n|---|---|\n");
    for operation in Operation::ALL {
        out.push_str(&format!(
            "| {} | `{}` |\n",
            operation.description(),
            operation.capability()
        ));
    }
    out
}

/// How many custom roles an organization may define.
pub const CUSTOM_ROLES_MAX: usize = 20;
