//! Model-based testing: random sequences of operations run against the real
//! use cases and against a small reference model written independently of
//! them, compared after every step, with the invariants checked through the
//! use cases' own reads (and, for what must be gone or unique, through the
//! repository's: one owner per organization, nothing left of a purged one).
//! The model also keeps the events each organization's audit log must hold
//! (R32), and after every step the logs are read back from the repository,
//! event by event and link by link of their hash chain.
//!
//! The harness is generic over the repository, so the store can replay the
//! same sequences against SQLite and PostgreSQL (a differential test).

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Duration, Utc};
use proptest::prelude::*;
use zeroize::Zeroizing;

use crate::audit::{self, Action, ActorRecord, AuditEvent, Changes, FieldChange, TargetKind};
use crate::decide::{AccountMail, InvitationOutcome, PlanChanger};
use crate::entity::{ChatSubject, InvitationStatus, MailContent, ResourceKind};
use crate::error::Error;
use crate::id::{
    ChatId, InvestigationId, InvitationId, OrganizationId, PinId, ReportRunId, ResourceId, UserId,
};
use crate::plan::{Limits, Metered, Month, Plan, PlanCatalog, PlanId};
use crate::policy::{Capability, CapabilitySet, Denial, Grant, RoleKey};
use crate::ports::{MailOutbox, Repository};
use crate::resource::{
    ConnectionType, Credentials, Definition, Description, Details, NewResource, ResourceName,
    RunStatus, Text,
};
use crate::service::{ChatRequest, Service, Settings};
use crate::testing::fakes::{CountingTokens, ManualClock, SequentialIds};
use crate::token::SecretToken;
use crate::value::{EmailAddress, OrganizationName};

/// The people of the model: few, so that emails collide, invitations go to
/// the wrong account, and sign-ups find their email taken.
pub const EMAILS: [&str; 5] = [
    "ann@example.com",
    "bob@example.com",
    "cy@example.com",
    "dee@example.com",
    "eve@example.com",
];

/// Plans the operations ask for; the last one does not exist.
pub const PLANS: [&str; 4] = ["free", "pro", "enterprise", "platinum"];

/// Where the model's clock starts: late in a month, so that steps cross into
/// the next one and the monthly chat quota resets.
pub fn start_time() -> DateTime<Utc> {
    DateTime::from_timestamp(1_769_990_400, 0).unwrap_or_default() // 2026-02-02T00:00:00Z
        - Duration::days(3)
}

/// A catalog with small limits, so that random sequences reach them; like
/// the built-in one, `enterprise` is not self-serve.
pub fn catalog() -> PlanCatalog {
    let plan = |id: &str, self_serve: bool, limits: [Option<u64>; 6]| Plan {
        id: PlanId::new(id),
        name: id.to_owned(),
        self_serve,
        limits: Limits {
            agents: limits[0],
            connections: limits[1],
            reports: limits[2],
            chat_messages_per_month: limits[3],
            knowledge_files: limits[4],
            storage_bytes: limits[5],
        },
    };
    PlanCatalog::new(vec![
        plan(
            "free",
            true,
            [Some(2), Some(1), Some(3), Some(4), Some(2), Some(64)],
        ),
        plan(
            "pro",
            true,
            [Some(4), Some(3), Some(5), Some(8), Some(4), Some(256)],
        ),
        plan("enterprise", false, [None; 6]),
    ])
    .unwrap_or_default()
}

/// The plans that members may pick themselves.
const SELF_SERVE: [&str; 2] = ["free", "pro"];

/// The role an invitation or a role change asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AskedRole {
    Unspecified,
    Owner,
    Admin,
    Editor,
    Viewer,
    /// A well-formed key that no organization defines.
    Unknown,
    /// The `n`-th (modulo) key of the custom roles' pool, defined in the
    /// organization or not.
    Custom(usize),
}

impl AskedRole {
    fn spelled(self) -> Option<String> {
        match self {
            Self::Unspecified => None,
            Self::Owner => Some("owner".into()),
            Self::Admin => Some("admin".into()),
            Self::Editor => Some("editor".into()),
            Self::Viewer => Some("viewer".into()),
            Self::Unknown => Some("auditor".into()),
            Self::Custom(n) => Some(roles::pool_key(n)),
        }
    }

    /// The role asked for, as the model knows the organization: `None` for
    /// an unknown key.
    fn model_role(self, org: &ModelOrg) -> Option<ModelRole> {
        match self {
            Self::Unspecified | Self::Viewer => Some(ModelRole::Viewer),
            Self::Owner => Some(ModelRole::Owner),
            Self::Admin => Some(ModelRole::Admin),
            Self::Editor => Some(ModelRole::Editor),
            Self::Unknown => None,
            Self::Custom(n) => {
                let key = roles::pool_key(n);
                org.roles
                    .contains_key(&key)
                    .then_some(ModelRole::Custom(key))
            }
        }
    }
}

/// A strategy of asked roles, defaults and viewers most often.
pub fn asked_role() -> impl Strategy<Value = AskedRole> {
    prop_oneof![
        5 => Just(AskedRole::Unspecified),
        2 => Just(AskedRole::Viewer),
        2 => Just(AskedRole::Editor),
        1 => Just(AskedRole::Admin),
        1 => Just(AskedRole::Owner),
        1 => Just(AskedRole::Unknown),
        3 => any::<usize>().prop_map(AskedRole::Custom),
    ]
}

/// One operation. Indices pick among what exists at that point (modulo its
/// count), so every sequence stays meaningful as proptest shrinks it.
#[derive(Debug, Clone)]
pub enum Op {
    SignUp {
        email: usize,
        invitation: Option<usize>,
    },
    /// Sign-up from an invitation's link, with the invited email.
    SignUpFromLink {
        invitation: usize,
    },
    /// Creates an organization for a user: mostly (two in three) one who
    /// owns an organization with other members, so that owning another
    /// lets them give one away or delete one (D13).
    CreateOrganization {
        user: usize,
    },
    Rename {
        actor: usize,
        org: usize,
    },
    Invite {
        /// `None` is the organization's owner, so that viewers join.
        actor: Option<usize>,
        /// With the owner as actor, mostly (two in three) picks among the
        /// organizations whose owner is verified, when there are any.
        org: usize,
        /// Mostly (two in three) picks among the users who are not members
        /// of the organization, when there are any; else any address.
        email: usize,
        role: AskedRole,
    },
    /// Accepts an invitation's link: mostly (two in three) as the invitee,
    /// if they have an account, else as any user.
    Accept {
        user: usize,
        invitation: usize,
    },
    Revoke {
        actor: usize,
        org: usize,
        invitation: usize,
    },
    Remove {
        /// `None` is an owner removing one of their viewers, picked by `org`
        /// and `member` among all of them, so that removals happen.
        actor: Option<usize>,
        org: usize,
        member: usize,
    },
    /// A member leaves (R27): with `member`, one of the members of any
    /// organization (the owner included, to be refused); without, any user
    /// of any organization.
    Leave {
        user: usize,
        org: usize,
        member: bool,
    },
    Switch {
        user: usize,
        org: usize,
    },
    /// A member's change of plan, or with `host` the host's billing system's.
    ChangePlan {
        actor: usize,
        org: usize,
        plan: usize,
        host: bool,
    },
    /// Creates an agent, a connection or a report (knowledge files need a
    /// blob store and count toward no quota). An agent names `connection`
    /// (twice, to check that repeats go) when it is `Some`.
    CreateResource {
        /// `None` is the organization's owner, so that quotas are reached.
        actor: Option<usize>,
        org: usize,
        kind: ResourceKind,
        connection: Option<usize>,
    },
    /// Deletes a resource created before (perhaps deleted already), in its
    /// own organization or, with `elsewhere`, in another one.
    DeleteResource {
        /// `None` is the owner of the organization asked.
        actor: Option<usize>,
        resource: usize,
        elsewhere: Option<usize>,
    },
    TriggerRun {
        /// `None` is the report's organization's owner.
        actor: Option<usize>,
        report: usize,
    },
    OpenChat {
        actor: usize,
        org: usize,
        agent: usize,
    },
    /// A chat about a report run, in the run's organization or elsewhere.
    OpenRunChat {
        /// `None` is the owner of the organization asked.
        actor: Option<usize>,
        run: usize,
        elsewhere: Option<usize>,
    },
    SendMessage {
        actor: usize,
        chat: usize,
    },
    Pin {
        /// `None` is the item's organization's owner.
        actor: Option<usize>,
        resource: usize,
    },
    Unpin {
        /// `None` is the member who pinned it.
        actor: Option<usize>,
        pin: usize,
    },
    StartInvestigation {
        /// `None` is the agent's organization's owner.
        actor: Option<usize>,
        agent: usize,
    },
    /// A host reads a connection's credentials on someone's behalf: with a
    /// grant fresh from `authorize` for a member (picked by `user`) of the
    /// connection's organization, or, when `stale`, with a viewer's grant
    /// kept from an earlier step (picked by `user`), which must stop working
    /// once its holder is removed (D12).
    UseConnection {
        user: usize,
        connection: usize,
        stale: bool,
    },
    AdvanceClock {
        hours: u32,
    },
    /// Accounts (R31): see [`accounts`].
    Account(AccountOp),
    /// Roles (R25, R26): see [`roles`].
    Role(RoleOp),
    /// Resends, ownership transfers, deletion, restore and purge (R27–R30,
    /// D13, D17): see [`lifecycle`].
    Lifecycle(LifecycleOp),
}

/// One random operation.
pub fn op() -> impl Strategy<Value = Op> {
    let i = || any::<usize>();
    let who = || proptest::option::weighted(0.35, any::<usize>());
    let elsewhere = || proptest::option::weighted(0.2, any::<usize>());
    prop_oneof![
        6 => (i(), proptest::option::weighted(0.3, i()))
            .prop_map(|(email, invitation)| Op::SignUp { email, invitation }),
        3 => i().prop_map(|invitation| Op::SignUpFromLink { invitation }),
        3 => i().prop_map(|user| Op::CreateOrganization { user }),
        1 => (i(), i()).prop_map(|(actor, org)| Op::Rename { actor, org }),
        7 => (who(), i(), i(), asked_role())
            .prop_map(|(actor, org, email, role)| Op::Invite { actor, org, email, role }),
        5 => (i(), i()).prop_map(|(user, invitation)| Op::Accept { user, invitation }),
        1 => (i(), i(), i()).prop_map(|(actor, org, invitation)| Op::Revoke { actor, org, invitation }),
        2 => (who(), i(), i()).prop_map(|(actor, org, member)| Op::Remove { actor, org, member }),
        2 => (i(), i()).prop_map(|(user, org)| Op::Switch { user, org }),
        1 => (i(), i(), proptest::bool::weighted(0.8))
            .prop_map(|(user, org, member)| Op::Leave { user, org, member }),
        1 => (i(), i(), i(), proptest::bool::weighted(0.25))
            .prop_map(|(actor, org, plan, host)| Op::ChangePlan { actor, org, plan, host }),
        5 => (who(), i(), super::strategies::resource_kind(), proptest::option::weighted(0.4, i()))
            .prop_map(|(actor, org, kind, connection)| Op::CreateResource { actor, org, kind, connection }),
        3 => (proptest::option::weighted(0.4, i()), i(), elsewhere())
            .prop_map(|(actor, resource, elsewhere)| Op::DeleteResource { actor, resource, elsewhere }),
        2 => (who(), i()).prop_map(|(actor, report)| Op::TriggerRun { actor, report }),
        2 => (i(), i(), i()).prop_map(|(actor, org, agent)| Op::OpenChat { actor, org, agent }),
        2 => (who(), i(), elsewhere())
            .prop_map(|(actor, run, elsewhere)| Op::OpenRunChat { actor, run, elsewhere }),
        3 => (i(), i()).prop_map(|(actor, chat)| Op::SendMessage { actor, chat }),
        1 => (who(), i()).prop_map(|(actor, resource)| Op::Pin { actor, resource }),
        1 => (who(), i()).prop_map(|(actor, pin)| Op::Unpin { actor, pin }),
        1 => (who(), i()).prop_map(|(actor, agent)| Op::StartInvestigation { actor, agent }),
        2 => (i(), i(), any::<bool>())
            .prop_map(|(user, connection, stale)| Op::UseConnection { user, connection, stale }),
        2 => prop_oneof![1_u32..48, 150_u32..200].prop_map(|hours| Op::AdvanceClock { hours }),
        8 => accounts::op().prop_map(Op::Account),
        4 => roles::op().prop_map(Op::Role),
        14 => lifecycle::op().prop_map(Op::Lifecycle),
        // People open the link of their newest verification email soon, as
        // they must before they invite: often enough that sequences still
        // reach invitations, re-invitations and viewers.
        5 => i().prop_map(|user| Op::Account(AccountOp::VerifyNewest { user })),
    ]
}

/// The operations that people and organizations come from: sign-ups,
/// opened verification links, invitations by owners, joins, and new
/// organizations.
fn populating_op() -> impl Strategy<Value = Op> {
    let i = || any::<usize>();
    prop_oneof![
        3 => i().prop_map(|email| Op::SignUp { email, invitation: None }),
        3 => i().prop_map(|user| Op::Account(AccountOp::VerifyNewest { user })),
        3 => (i(), i(), asked_role())
            .prop_map(|(org, email, role)| Op::Invite { actor: None, org, email, role }),
        2 => i().prop_map(|invitation| Op::SignUpFromLink { invitation }),
        2 => (i(), i()).prop_map(|(user, invitation)| Op::Accept { user, invitation }),
        2 => i().prop_map(|user| Op::CreateOrganization { user }),
    ]
}

/// Sequences of up to `max_len` operations: up to a quarter of them first
/// from [`populating_op`], so that the rest mostly acts in a world with
/// people, members and several organizations, where the longer paths
/// (transfers, deletions, custom roles) can be taken; then any.
pub fn ops(max_len: usize) -> impl Strategy<Value = Vec<Op>> {
    let setup = max_len / 4;
    (
        proptest::collection::vec(populating_op(), 0..=setup),
        proptest::collection::vec(op(), 1..=max_len.saturating_sub(setup).max(1)),
    )
        .prop_map(|(mut first, rest)| {
            first.extend(rest);
            first
        })
}

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
enum ModelRole {
    Owner,
    Admin,
    Editor,
    Viewer,
    /// A custom role of the member's organization, by key.
    Custom(String),
}

impl ModelRole {
    fn key(&self) -> &str {
        match self {
            Self::Owner => "owner",
            Self::Admin => "admin",
            Self::Editor => "editor",
            Self::Viewer => "viewer",
            Self::Custom(key) => key,
        }
    }
}

/// The matrix of API.md, written out again rather than read from the core:
/// the model must disagree when the core's matrix is wrong.
const VIEWER_CAPABILITIES: [Capability; 5] = [
    Capability::ViewResources,
    Capability::ChatWithAgents,
    Capability::RunInvestigations,
    Capability::ChatWithReportResults,
    Capability::PinItems,
];
const EDITOR_EXTRA: [Capability; 6] = [
    Capability::ManageAgents,
    Capability::ManageConnections,
    Capability::ManageReports,
    Capability::TriggerReportRuns,
    Capability::ManageSchedules,
    Capability::UploadKnowledgeFiles,
];
const OWNER_ONLY: [Capability; 2] = [
    Capability::DeleteOrganization,
    Capability::TransferOwnership,
];

#[derive(Debug, Clone)]
struct ModelCustomRole {
    capabilities: CapabilitySet,
    created_at: DateTime<Utc>,
}

#[derive(Debug, Clone)]
struct ModelUser {
    id: UserId,
    email: &'static str,
    verified: bool,
    /// Which password the account has: the harness's `n`-th hash.
    password: u32,
    /// The organization made at sign-up (R19's first fallback).
    default_org: usize,
}

#[derive(Debug, Clone)]
struct ModelOrg {
    id: OrganizationId,
    owner: usize,
    name: String,
    plan: &'static str,
    /// Member (user index) to role and when they joined.
    members: BTreeMap<usize, (ModelRole, DateTime<Utc>)>,
    messages: BTreeMap<Month, u64>,
    /// The organization's custom roles, by key.
    roles: BTreeMap<String, ModelCustomRole>,
    /// Its pending ownership transfer, live or expired.
    transfer: Option<lifecycle::ModelTransfer>,
    /// Set while it is pending deletion.
    deletion: Option<lifecycle::ModelDeletion>,
    /// Purged for good: nothing of it is left, its members included.
    purged: bool,
    /// The events its audit log must hold, oldest first (R32): one for
    /// each change, none for a refusal or for a success that changes
    /// nothing. A purge takes the log along.
    audit: Vec<ModelAuditEvent>,
}

/// One event of an organization's audit log as the model expects it:
/// API.md's action, actor and target, written out again rather than read
/// from the decisions.
#[derive(Debug, Clone, PartialEq, Eq)]
struct ModelAuditEvent {
    action: Action,
    /// The user who acted; `None` is the host, with the service token.
    actor: Option<usize>,
    target: TargetKind,
    target_id: String,
    /// The target's name, or a user's (or an invitation's) address.
    label: String,
    /// The fields an edit changed, from what to what.
    changes: Option<Changes>,
}

impl ModelAuditEvent {
    fn new(
        action: Action,
        actor: Option<usize>,
        target: TargetKind,
        target_id: impl std::fmt::Display,
        label: impl Into<String>,
    ) -> Self {
        Self {
            action,
            actor,
            target,
            target_id: target_id.to_string(),
            label: label.into(),
            changes: None,
        }
    }

    /// The same event, recording that `field` went from `from` to `to`.
    fn changing(
        mut self,
        field: &str,
        from: impl Into<serde_json::Value>,
        to: impl Into<serde_json::Value>,
    ) -> Self {
        self.changes.get_or_insert_with(Changes::new).insert(
            field.to_owned(),
            FieldChange {
                from: from.into(),
                to: to.into(),
            },
        );
        self
    }
}

/// An audit event as the harness compares it: its `seq`, action, actor,
/// target and changes.
type EventView = (
    u64,
    Action,
    ActorRecord,
    audit::TargetRecord,
    Option<Changes>,
);

/// What the harness compares of an event read back.
fn view(event: &AuditEvent) -> EventView {
    (
        event.seq,
        event.action,
        event.actor.clone(),
        event.target.clone(),
        event.changes.clone(),
    )
}

/// How far the harness has read an organization's audit log: the events
/// checked so far, and the hash of the last of them.
#[derive(Debug, Clone)]
struct AuditCursor {
    checked: usize,
    head: String,
}

impl Default for AuditCursor {
    fn default() -> Self {
        Self {
            checked: 0,
            head: audit::GENESIS.to_owned(),
        }
    }
}

impl ModelOrg {
    /// What a role holds in this organization.
    fn capabilities(&self, role: &ModelRole) -> CapabilitySet {
        match role {
            ModelRole::Owner => Capability::ALL.into_iter().collect(),
            ModelRole::Admin => Capability::ALL
                .into_iter()
                .filter(|c| !OWNER_ONLY.contains(c))
                .collect(),
            ModelRole::Editor => VIEWER_CAPABILITIES
                .into_iter()
                .chain(EDITOR_EXTRA)
                .collect(),
            ModelRole::Viewer => VIEWER_CAPABILITIES.into_iter().collect(),
            ModelRole::Custom(key) => self
                .roles
                .get(key)
                .map_or(CapabilitySet::EMPTY, |r| r.capabilities),
        }
    }

    /// What a member holds here; nothing for a non-member.
    fn held_by(&self, user: usize) -> CapabilitySet {
        self.members
            .get(&user)
            .map_or(CapabilitySet::EMPTY, |(role, _)| self.capabilities(role))
    }

    /// The roles in the order the organization lists them: the built-in
    /// ones, then its custom roles, oldest first.
    fn listed_roles(&self) -> Vec<ModelRole> {
        let mut custom: Vec<(&DateTime<Utc>, &String)> =
            self.roles.iter().map(|(k, r)| (&r.created_at, k)).collect();
        custom.sort();
        [
            ModelRole::Owner,
            ModelRole::Admin,
            ModelRole::Editor,
            ModelRole::Viewer,
        ]
        .into_iter()
        .chain(
            custom
                .into_iter()
                .map(|(_, k)| ModelRole::Custom(k.clone())),
        )
        .collect()
    }
}

/// What a kind takes to manage, written out again rather than read from the
/// core, like the role table.
fn manage_capability(kind: ResourceKind) -> Capability {
    match kind {
        ResourceKind::Agent => Capability::ManageAgents,
        ResourceKind::Connection => Capability::ManageConnections,
        ResourceKind::Report => Capability::ManageReports,
        ResourceKind::KnowledgeFile => Capability::UploadKnowledgeFiles,
    }
}

/// The quota a kind counts toward, written out again.
fn metered(kind: ResourceKind) -> Option<Metered> {
    match kind {
        ResourceKind::Agent => Some(Metered::Agents),
        ResourceKind::Connection => Some(Metered::Connections),
        ResourceKind::Report => Some(Metered::Reports),
        ResourceKind::KnowledgeFile => Some(Metered::KnowledgeFiles),
    }
}

#[derive(Debug, Clone)]
struct ModelResource {
    id: ResourceId,
    org: usize,
    kind: ResourceKind,
    name: String,
    live: bool,
    /// An agent's connections (indices of resources), in order.
    connections: Vec<usize>,
    /// A connection's secret, the value of its one credential.
    secret: Option<String>,
}

#[derive(Debug, Clone)]
struct ModelRun {
    id: ReportRunId,
    org: usize,
    report: usize,
}

#[derive(Debug, Clone)]
struct ModelPin {
    id: PinId,
    org: usize,
    user: usize,
    resource: usize,
    live: bool,
}

#[derive(Debug, Clone)]
struct ModelInvestigation {
    id: InvestigationId,
    org: usize,
    user: usize,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ModelInvitationState {
    Pending,
    Accepted,
    Revoked,
    ClosedExpired,
}

#[derive(Debug, Clone)]
struct ModelInvitation {
    id: InvitationId,
    org: usize,
    email: &'static str,
    /// Who sent it first (a resend keeps it), and when.
    invited_by: usize,
    created_at: DateTime<Utc>,
    token: String,
    /// The tokens of its earlier emails, replaced by resends (R30).
    superseded: Vec<String>,
    expires_at: DateTime<Utc>,
    state: ModelInvitationState,
    accepted_times: u32,
    role: ModelRole,
}

impl ModelInvitation {
    fn status(&self, now: DateTime<Utc>) -> InvitationStatus {
        match self.state {
            ModelInvitationState::Pending if now >= self.expires_at => InvitationStatus::Expired,
            ModelInvitationState::Pending => InvitationStatus::Pending,
            ModelInvitationState::Accepted => InvitationStatus::Accepted,
            ModelInvitationState::Revoked => InvitationStatus::Revoked,
            ModelInvitationState::ClosedExpired => InvitationStatus::Expired,
        }
    }
}

#[derive(Debug, Clone)]
struct ModelChat {
    id: ChatId,
    org: usize,
    owner: usize,
    /// The run it is about (an index of runs), or `None` for an agent chat.
    run: Option<usize>,
    messages: usize,
}

/// How far random sequences got: what the model holds at the end, and how
/// often the rarer paths were taken. The model test asserts that they are
/// all reached, so that the checks are not vacuous.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Reached {
    pub users: usize,
    pub orgs: usize,
    pub invitations: usize,
    pub chats: usize,
    /// Chats about report runs.
    pub run_chats: usize,
    pub runs: usize,
    pub pins: usize,
    pub investigations: usize,
    /// Resources deleted.
    pub deleted: usize,
    /// Creates refused by a quota.
    pub quota_refusals: usize,
    /// Creates that fit only because deletes made room: as many of the kind
    /// were created in the organization as the limit allows.
    pub recreated: usize,
    /// Credentials read through a grant.
    pub credentials_read: usize,
    /// Grants kept from an earlier step and refused after a removal.
    pub stale_grants_refused: usize,
    /// Account links used, and refused as used, superseded or expired.
    pub links_used: usize,
    pub links_refused: usize,
    /// Passwords set from a reset link.
    pub resets: usize,
    /// Sessions refused by a lifetime while their row was still there.
    pub sessions_expired: usize,
    /// Invitations refused to an unverified inviter.
    pub unverified_refusals: usize,
    /// Custom roles made, members' roles changed, roles deleted while held
    /// (their holders moved), and gifts refused because the giver lacked a
    /// capability (D14).
    pub custom_roles: usize,
    pub role_changes: usize,
    pub reassigned: usize,
    pub escalations_refused: usize,
    /// Members who left an organization.
    pub left: usize,
    /// People who joined an organization through an invitation.
    pub joined: usize,
    /// Invitations resent, of them expired ones revived, and links refused
    /// as superseded by a resend (R30).
    pub resends: usize,
    pub resends_of_expired: usize,
    pub superseded_refused: usize,
    /// Lists of invitations of a status other than pending that were not
    /// empty.
    pub dead_invitations_listed: usize,
    /// Ownership transfers requested, accepted, declined, cancelled,
    /// refused as expired, and ended by their target's leaving or removal
    /// or the organization's deletion (R28).
    pub transfers_requested: usize,
    pub transfers_accepted: usize,
    pub transfers_declined: usize,
    pub transfers_cancelled: usize,
    pub transfers_expired: usize,
    pub transfers_ended: usize,
    /// Transfers and deletions refused because they would take someone's
    /// last organization of their own (D13).
    pub last_owned_refusals: usize,
    /// Deletions scheduled, refused for a wrong name, restored, refused a
    /// restore once the purge was due, and organizations purged (R29, D17).
    pub deletions: usize,
    pub wrong_names_refused: usize,
    pub restores: usize,
    pub restores_too_late: usize,
    pub purges: usize,
    /// Operations an organization pending deletion refused its owner (409).
    pub pending_refusals: usize,
    /// Audit events read back from the repository and found as the model
    /// expects them, in their chain (R32); of them, the host's (with the
    /// service token); how many different actions they hold; and the
    /// longest log of one organization.
    pub audit_events: usize,
    pub audit_by_service: usize,
    pub audit_actions: usize,
    pub audit_longest: usize,
}

impl Reached {
    /// The larger of each count.
    #[must_use]
    pub fn most(self, other: Self) -> Self {
        Self {
            users: self.users.max(other.users),
            orgs: self.orgs.max(other.orgs),
            invitations: self.invitations.max(other.invitations),
            chats: self.chats.max(other.chats),
            run_chats: self.run_chats.max(other.run_chats),
            runs: self.runs.max(other.runs),
            pins: self.pins.max(other.pins),
            investigations: self.investigations.max(other.investigations),
            deleted: self.deleted.max(other.deleted),
            quota_refusals: self.quota_refusals.max(other.quota_refusals),
            recreated: self.recreated.max(other.recreated),
            credentials_read: self.credentials_read.max(other.credentials_read),
            stale_grants_refused: self.stale_grants_refused.max(other.stale_grants_refused),
            links_used: self.links_used.max(other.links_used),
            links_refused: self.links_refused.max(other.links_refused),
            resets: self.resets.max(other.resets),
            sessions_expired: self.sessions_expired.max(other.sessions_expired),
            unverified_refusals: self.unverified_refusals.max(other.unverified_refusals),
            custom_roles: self.custom_roles.max(other.custom_roles),
            role_changes: self.role_changes.max(other.role_changes),
            reassigned: self.reassigned.max(other.reassigned),
            escalations_refused: self.escalations_refused.max(other.escalations_refused),
            left: self.left.max(other.left),
            joined: self.joined.max(other.joined),
            resends: self.resends.max(other.resends),
            resends_of_expired: self.resends_of_expired.max(other.resends_of_expired),
            superseded_refused: self.superseded_refused.max(other.superseded_refused),
            dead_invitations_listed: self
                .dead_invitations_listed
                .max(other.dead_invitations_listed),
            transfers_requested: self.transfers_requested.max(other.transfers_requested),
            transfers_accepted: self.transfers_accepted.max(other.transfers_accepted),
            transfers_declined: self.transfers_declined.max(other.transfers_declined),
            transfers_cancelled: self.transfers_cancelled.max(other.transfers_cancelled),
            transfers_expired: self.transfers_expired.max(other.transfers_expired),
            transfers_ended: self.transfers_ended.max(other.transfers_ended),
            last_owned_refusals: self.last_owned_refusals.max(other.last_owned_refusals),
            deletions: self.deletions.max(other.deletions),
            wrong_names_refused: self.wrong_names_refused.max(other.wrong_names_refused),
            restores: self.restores.max(other.restores),
            restores_too_late: self.restores_too_late.max(other.restores_too_late),
            purges: self.purges.max(other.purges),
            pending_refusals: self.pending_refusals.max(other.pending_refusals),
            audit_events: self.audit_events.max(other.audit_events),
            audit_by_service: self.audit_by_service.max(other.audit_by_service),
            audit_actions: self.audit_actions.max(other.audit_actions),
            audit_longest: self.audit_longest.max(other.audit_longest),
        }
    }
}

/// The reference model: plain collections and the seed's rules, nothing else.
#[derive(Debug, Clone)]
struct Model {
    users: Vec<ModelUser>,
    orgs: Vec<ModelOrg>,
    invitations: Vec<ModelInvitation>,
    /// Every resource ever created, deleted ones included.
    resources: Vec<ModelResource>,
    runs: Vec<ModelRun>,
    chats: Vec<ModelChat>,
    pins: Vec<ModelPin>,
    investigations: Vec<ModelInvestigation>,
    /// Viewers' grants handed out at earlier steps, with their user and
    /// organization.
    grants: Vec<(Grant, usize, usize)>,
    /// Every verification and reset link ever sent.
    links: Vec<accounts::ModelLink>,
    /// Every session ever opened.
    sessions: Vec<accounts::ModelSession>,
    active: Vec<Option<usize>>,
    now: DateTime<Utc>,
    ttl: Duration,
    join_seq: u64,
    /// Counts of the rarer paths (see [`Reached`]).
    events: Reached,
    /// How often an expectation was the 409 of an organization pending
    /// deletion (counted where it is decided, in [`Model::require`]).
    gate_refusals: std::cell::Cell<usize>,
}

type Expected = Result<(), &'static str>;

const NOT_FOUND: &str = "not_found";
const FORBIDDEN: &str = "forbidden";

impl Model {
    fn limit(&self, org: usize, metered: Metered) -> Option<u64> {
        catalog()
            .limits_of(&PlanId::new(self.orgs[org].plan))
            .of(metered)
    }

    fn is_member(&self, user: usize, org: usize) -> bool {
        self.orgs[org].members.contains_key(&user)
    }

    /// The acting user: the one asked for, or the organization's owner.
    fn actor(&self, actor: Option<usize>, org: usize) -> usize {
        actor.map_or(self.orgs[org].owner, |a| a % self.users.len())
    }

    /// The `index`-th resource (modulo) among those of `kinds`, deleted ones included.
    fn pick(&self, kinds: &[ResourceKind], index: usize) -> Option<usize> {
        let of: Vec<usize> = (0..self.resources.len())
            .filter(|&r| kinds.contains(&self.resources[r].kind))
            .collect();
        (!of.is_empty()).then(|| of[index % of.len()])
    }

    /// Whether resource `r` exists in organization `org`.
    fn live_in(&self, r: usize, org: usize) -> bool {
        self.resources[r].live && self.resources[r].org == org
    }

    /// The live resources of a kind in an organization, oldest first.
    fn live_of(&self, org: usize, kind: ResourceKind) -> Vec<usize> {
        (0..self.resources.len())
            .filter(|&r| self.live_in(r, org) && self.resources[r].kind == kind)
            .collect()
    }

    /// What a member may do in an organization: its role's capabilities,
    /// and in an organization pending deletion nothing at all but for its
    /// owner, who is told why (R29). A purged organization has no members.
    fn require(&self, user: usize, org: usize, capability: Capability) -> Expected {
        let o = &self.orgs[org];
        match o.members.get(&user) {
            None => Err(NOT_FOUND),
            Some(_) if o.deletion.is_some() && o.owner != user => Err(NOT_FOUND),
            Some(_) if o.deletion.is_some() => {
                self.gate_refusals.set(self.gate_refusals.get() + 1);
                Err(lifecycle::PENDING)
            }
            Some((role, _)) if !o.capabilities(role).contains(capability) => Err(FORBIDDEN),
            Some(_) => Ok(()),
        }
    }

    fn add_org(&mut self, id: OrganizationId, owner: usize, name: String) -> usize {
        self.join_seq += 1;
        let created = ModelAuditEvent::new(
            Action::OrganizationCreated,
            Some(owner),
            TargetKind::Organization,
            id,
            name.clone(),
        );
        self.orgs.push(ModelOrg {
            id,
            owner,
            name,
            plan: "free",
            members: BTreeMap::from([(owner, (ModelRole::Owner, self.now))]),
            messages: BTreeMap::new(),
            roles: BTreeMap::new(),
            transfer: None,
            deletion: None,
            purged: false,
            audit: vec![created],
        });
        let org = self.orgs.len() - 1;
        self.active[owner] = Some(org);
        org
    }

    /// The `i`-th event (from 0) that organization `org`'s audit log must
    /// hold, as the store writes it: a user actor with their address, the
    /// host as `service` with neither id nor address.
    fn expected_event(&self, org: usize, i: usize) -> Option<EventView> {
        let event = self.orgs[org].audit.get(i)?;
        let actor = match event.actor {
            Some(u) => ActorRecord {
                kind: "user",
                id: Some(self.users[u].id),
                email: Some(self.users[u].email.to_owned()),
            },
            None => ActorRecord {
                kind: "service",
                id: None,
                email: None,
            },
        };
        let target = audit::TargetRecord {
            kind: event.target,
            id: event.target_id.clone(),
            label: event.label.clone(),
        };
        Some((
            i as u64 + 1,
            event.action,
            actor,
            target,
            event.changes.clone(),
        ))
    }

    /// An event for a failure message, naming the model's users.
    fn show(&self, (seq, action, actor, target, changes): &EventView) -> String {
        let by = match actor.id {
            Some(id) => match self.users.iter().position(|u| u.id == id) {
                Some(u) => format!("{} {u} ({id})", actor.kind),
                None => format!("{} {id}", actor.kind),
            },
            None => actor.kind.to_owned(),
        };
        let changes = changes.as_ref().map_or_else(String::new, |changes| {
            let fields: Vec<String> = changes
                .iter()
                .map(|(field, c)| format!("{field} {} -> {}", c.from, c.to))
                .collect();
            format!(", changing {}", fields.join(", "))
        });
        format!(
            "#{seq} `{action}` by {by} <{}> on {} {} `{}`{changes}",
            actor.email.as_deref().unwrap_or("no email"),
            target.kind.name(),
            target.id,
            target.label
        )
    }

    /// Expects one more event in the organization's audit log.
    fn record(&mut self, org: usize, event: ModelAuditEvent) {
        self.orgs[org].audit.push(event);
    }

    /// An event about the organization itself, labelled by its name now.
    fn org_event(&self, org: usize, action: Action, actor: Option<usize>) -> ModelAuditEvent {
        let o = &self.orgs[org];
        ModelAuditEvent::new(
            action,
            actor,
            TargetKind::Organization,
            o.id,
            o.name.clone(),
        )
    }

    /// An event about a user, labelled by their address.
    fn user_event(&self, action: Action, actor: usize, user: usize) -> ModelAuditEvent {
        let target = &self.users[user];
        ModelAuditEvent::new(
            action,
            Some(actor),
            TargetKind::User,
            target.id,
            target.email,
        )
    }

    /// An event about invitation `j`, labelled by the address it invites.
    fn invitation_event(&self, action: Action, actor: usize, j: usize) -> ModelAuditEvent {
        let invitation = &self.invitations[j];
        ModelAuditEvent::new(
            action,
            Some(actor),
            TargetKind::Invitation,
            invitation.id,
            invitation.email,
        )
    }

    /// Accepting a link: signed in (`POST /v1/invitations/accept`), or at
    /// sign-up from it, which takes no look at the organization.
    fn accept(&mut self, user: usize, token: &str, signed_in: bool) -> Expected {
        let Some(j) = self.invitations.iter().position(|i| i.token == token) else {
            // A link replaced by a resend says so, until its organization
            // is purged (R30, D17).
            return match self
                .invitations
                .iter()
                .find(|i| i.superseded.iter().any(|t| t == token))
            {
                Some(i) if !self.orgs[i.org].purged => Err("invitation_superseded"),
                _ => Err(NOT_FOUND),
            };
        };
        let now = self.now;
        let invitation = &self.invitations[j];
        if self.orgs[invitation.org].purged {
            return Err(NOT_FOUND);
        }
        if invitation.email != self.users[user].email {
            return Err("invitation_email_mismatch");
        }
        let org = invitation.org;
        let member = self.orgs[org].members.contains_key(&user);
        // Signed in, a link that would admit (or admit again) leads nowhere
        // in an organization pending deletion (R29); the dead ones still
        // say what they are.
        let gone = signed_in && self.orgs[org].deletion.is_some();
        match invitation.status(now) {
            InvitationStatus::Accepted if gone && member => return Err(NOT_FOUND),
            InvitationStatus::Pending if gone => return Err(NOT_FOUND),
            InvitationStatus::Accepted if member => {}
            InvitationStatus::Accepted => return Err("invitation_already_accepted"),
            InvitationStatus::Revoked => return Err("invitation_revoked"),
            InvitationStatus::Expired => return Err("invitation_expired"),
            InvitationStatus::Pending => {
                let accepted = self.invitation_event(Action::InvitationAccepted, user, j);
                self.record(org, accepted);
                let invitation = &mut self.invitations[j];
                invitation.state = ModelInvitationState::Accepted;
                invitation.accepted_times += 1;
                // The link came to the address: it proves it.
                self.users[user].verified = true;
                if !member {
                    self.join_seq += 1;
                    let role = invitation.role.clone();
                    self.orgs[org].members.insert(user, (role, now));
                    self.events.joined += 1;
                    let added = self.user_event(Action::MemberAdded, user, user);
                    self.record(org, added);
                }
            }
        }
        self.active[user] = Some(org);
        Ok(())
    }

    /// Whether the organization may be the user's active one: a member of
    /// it, and it is neither pending deletion nor purged (R19, R29).
    fn may_be_active(&self, user: usize, org: usize) -> bool {
        let o = &self.orgs[org];
        o.members.contains_key(&user) && o.deletion.is_none() && !o.purged
    }

    /// The active organization, with the fallback to the user's default
    /// organization (made at sign-up) while they can reach it, else to their
    /// oldest organization of their own that may be active, when the stored
    /// one may no longer be (R19, R29); a restore moves nobody back. The oldest is
    /// the one joined first, the lower id at a tie: after a transfer the new
    /// owner's organization counts from when they joined it.
    fn resolve_active(&mut self, user: usize) -> Option<usize> {
        let default = self.users[user].default_org;
        let resolved = match self.active[user] {
            Some(org) if self.may_be_active(user, org) => Some(org),
            _ if self.may_be_active(user, default) => Some(default),
            _ => (0..self.orgs.len())
                .filter(|&org| self.may_be_active(user, org))
                .min_by_key(|&org| {
                    let o = &self.orgs[org];
                    let joined = o.members.get(&user).map(|(_, at)| *at);
                    (o.owner != user, joined, o.id)
                }),
        };
        self.active[user] = resolved;
        resolved
    }
}

/// Runs operations against a [`Service`] over `R` and against the model.
#[derive(Debug)]
pub struct Harness<R> {
    service: Service<R, ManualClock, SequentialIds, CountingTokens>,
    outbox: R,
    clock: ManualClock,
    model: Model,
    /// How far each organization's audit log was checked (by organization).
    audited: Vec<AuditCursor>,
    /// The actions among the events checked.
    audited_actions: BTreeSet<Action>,
}

fn code<T>(result: &Result<T, Error>) -> Result<(), &'static str> {
    match result {
        Ok(_) => Ok(()),
        Err(error) => Err(error.code()),
    }
}

fn email(index: usize) -> (&'static str, EmailAddress) {
    let raw = EMAILS[index % EMAILS.len()];
    (
        raw,
        EmailAddress::parse(raw).unwrap_or_else(|_| unreachable_email()),
    )
}

fn unreachable_email() -> EmailAddress {
    // The pool holds valid addresses only; this keeps the harness free of panics.
    EmailAddress::parse("fallback@example.com").unwrap_or_else(|_| unreachable_email())
}

/// An id that no resource has.
fn unknown_resource() -> ResourceId {
    ResourceId::from_uuid(uuid::Uuid::from_u128(u128::MAX))
}

/// What the harness creates: a resource of `kind` named `name`; an agent
/// names `connection` twice, a connection holds `secret`.
fn new_resource(
    kind: ResourceKind,
    name: &str,
    connection: Option<ResourceId>,
    secret: &str,
) -> Result<NewResource, String> {
    let name = ResourceName::parse(name).map_err(|e| e.to_string())?;
    Ok(match kind {
        ResourceKind::Agent => NewResource::Agent {
            name,
            description: Description::parse("Answers questions about costs")
                .map_err(|e| e.to_string())?,
            connection_ids: connection.map(|id| vec![id, id]).unwrap_or_default(),
        },
        ResourceKind::Connection => NewResource::Connection {
            label: name,
            connection_type: ConnectionType::parse("postgres").map_err(|e| e.to_string())?,
            credentials: Credentials::parse([(
                "password".to_owned(),
                Zeroizing::new(secret.to_owned()),
            )])
            .map_err(|e| e.to_string())?,
        },
        ResourceKind::Report => {
            let mut definition = serde_json::Map::new();
            definition.insert("query".to_owned(), serde_json::Value::from(name.as_str()));
            NewResource::Report {
                name,
                definition: Definition::parse(definition).map_err(|e| e.to_string())?,
            }
        }
        ResourceKind::KnowledgeFile => {
            return Err("the harness uploads no knowledge files".to_owned());
        }
    })
}

/// A well-formed token that no invitation has.
fn unknown_token() -> String {
    SecretToken::from_bytes([0xab; 32]).expose().to_owned()
}

macro_rules! ensure {
    ($cond:expr, $($arg:tt)+) => {
        if !$cond {
            return Err(format!($($arg)+));
        }
    };
}

fn compare(what: &str, expected: Expected, actual: Result<(), &'static str>) -> Result<(), String> {
    ensure!(
        expected == actual,
        "{what}: the model expected {expected:?}, the service answered {actual:?}"
    );
    Ok(())
}

mod accounts;
mod lifecycle;
mod roles;
pub use accounts::AccountOp;
pub use lifecycle::{Confirm, LifecycleOp, lifecycle_story};
pub use roles::{RoleOp, Who, roles_story};

impl<R> Harness<R>
where
    R: Repository + MailOutbox + Clone,
{
    /// A harness over an empty repository.
    pub fn new(repository: R) -> Self {
        let clock = ManualClock::at(start_time());
        let settings = Settings {
            catalog: catalog(),
            deletion_grace: lifecycle::DELETION_GRACE,
            ..Settings::default()
        };
        let ttl = settings.invitation_ttl;
        Self {
            service: Service::new(
                repository.clone(),
                clock.clone(),
                SequentialIds::default(),
                CountingTokens::default(),
                settings,
            ),
            outbox: repository,
            clock,
            model: Model {
                users: vec![],
                orgs: vec![],
                invitations: vec![],
                resources: vec![],
                runs: vec![],
                chats: vec![],
                pins: vec![],
                investigations: vec![],
                grants: vec![],
                links: vec![],
                sessions: vec![],
                active: vec![],
                now: start_time(),
                ttl,
                join_seq: 0,
                events: Reached::default(),
                gate_refusals: std::cell::Cell::new(0),
            },
            audited: Vec::new(),
            audited_actions: BTreeSet::new(),
        }
    }

    /// Runs the operations, checking the invariants after each one. The error
    /// names the step, the operation and what went wrong.
    pub async fn run(&mut self, ops: &[Op]) -> Result<(), String> {
        for (step, op) in ops.iter().enumerate() {
            let touched = self
                .apply(op)
                .await
                .map_err(|e| format!("step {step} ({op:?}): {e}"))?;
            self.check(touched)
                .await
                .map_err(|e| format!("after step {step} ({op:?}): {e}"))?;
        }
        // Each step checked what it added to the logs; at the end every log
        // is read again in full, its chain verified as an export would be.
        self.check_whole_audit_logs()
            .await
            .map_err(|e| format!("after the last step: {e}"))
    }

    /// How far the operations so far got: what the model holds, and how
    /// often the rarer paths were taken. Tests use it to show that
    /// sequences reach the states worth checking.
    pub fn counts(&self) -> Reached {
        let m = &self.model;
        Reached {
            users: m.users.len(),
            orgs: m.orgs.len(),
            invitations: m.invitations.len(),
            chats: m.chats.len(),
            run_chats: m.chats.iter().filter(|c| c.run.is_some()).count(),
            runs: m.runs.len(),
            pins: m.pins.len(),
            investigations: m.investigations.len(),
            pending_refusals: m.gate_refusals.get(),
            audit_actions: self.audited_actions.len(),
            ..m.events
        }
    }

    /// The token of the one email about an invitation that the model does
    /// not know yet: the invitation's first, or the one a resend just sent.
    async fn token_of(&self, invitation: InvitationId) -> Result<String, String> {
        let far = self.model.now + Duration::days(10_000);
        let mails = self
            .outbox
            .due(far, usize::MAX)
            .await
            .map_err(|e| format!("reading the outbox: {e}"))?;
        let known = |token: &str| {
            self.model
                .invitations
                .iter()
                .any(|i| i.token == token || i.superseded.iter().any(|t| t == token))
        };
        let new: Vec<String> = mails
            .into_iter()
            .filter_map(|queued| match queued.mail.content {
                MailContent::Invitation {
                    invitation_id,
                    token,
                    ..
                } if invitation_id == invitation => Some(token.expose().to_owned()),
                _ => None,
            })
            .filter(|token| !known(token))
            .collect();
        match new.as_slice() {
            [token] => Ok(token.clone()),
            _ => Err(format!(
                "expected one new email for invitation {invitation}, the outbox has {}",
                new.len()
            )),
        }
    }

    /// Applies one operation to both sides; returns the organization it
    /// touched, whose capabilities are then checked in full.
    #[expect(
        clippy::too_many_lines,
        reason = "one arm per operation reads best in one place"
    )]
    async fn apply(&mut self, op: &Op) -> Result<Option<usize>, String> {
        let users = self.model.users.len();
        let orgs = self.model.orgs.len();
        let invitations = self.model.invitations.len();
        let now = self.model.now;
        match *op {
            Op::SignUp {
                email: e,
                invitation,
            } => {
                let token = invitation.map(|j| match invitations {
                    0 => unknown_token(),
                    n => self.model.invitations[j % n].token.clone(),
                });
                let (raw, address) = email(e);
                self.sign_up(raw, address, token).await
            }
            Op::SignUpFromLink { invitation } => {
                if invitations == 0 {
                    return Ok(None);
                }
                let invitation = &self.model.invitations[invitation % invitations];
                let raw = invitation.email;
                let token = invitation.token.clone();
                let address = EmailAddress::parse(raw).map_err(|e| e.to_string())?;
                self.sign_up(raw, address, Some(token)).await
            }
            Op::CreateOrganization { user } => {
                if users == 0 {
                    return Ok(None);
                }
                let busy_owners: Vec<usize> = (0..users)
                    .filter(|&u| {
                        self.model
                            .orgs
                            .iter()
                            .any(|o| o.owner == u && o.members.len() > 1)
                    })
                    .collect();
                let u = if busy_owners.is_empty() || user.is_multiple_of(3) {
                    user % users
                } else {
                    busy_owners[user % busy_owners.len()]
                };
                let name = format!("Org {orgs}");
                let parsed = OrganizationName::parse(&name).map_err(|e| e.to_string())?;
                let view = self
                    .service
                    .create_organization(self.model.users[u].id, parsed)
                    .await
                    .map_err(|e| format!("create organization failed: {e}"))?;
                ensure!(
                    view.is_active && view.is_owner() && view.organization.plan.as_str() == "free",
                    "a new organization must be owned, active and free: {view:?}"
                );
                let org = self.model.add_org(view.organization.id, u, name);
                Ok(Some(org))
            }
            Op::Rename { actor, org } => {
                if users == 0 || orgs == 0 {
                    return Ok(None);
                }
                let (a, o) = (actor % users, org % orgs);
                let name = format!("Renamed {}", self.model.join_seq);
                let expected = self.model.require(a, o, Capability::RenameOrganization);
                let parsed = OrganizationName::parse(&name).map_err(|e| e.to_string())?;
                let result = self
                    .service
                    .rename(self.model.users[a].id, self.model.orgs[o].id, parsed)
                    .await;
                compare("rename", expected, code(&result))?;
                if expected.is_ok() {
                    // Recorded even when the name stays the same.
                    let from = std::mem::replace(&mut self.model.orgs[o].name, name.clone());
                    let renamed = self
                        .model
                        .org_event(o, Action::OrganizationRenamed, Some(a))
                        .changing("name", from, name);
                    self.model.record(o, renamed);
                }
                Ok(Some(o))
            }
            Op::Invite {
                actor,
                org,
                email: e,
                role,
            } => {
                if users == 0 || orgs == 0 {
                    return Ok(None);
                }
                // The owner invites mostly (two in three) in an organization
                // whose owner may: one with a verified address.
                let inviting: Vec<usize> = (0..orgs)
                    .filter(|&o| self.model.users[self.model.orgs[o].owner].verified)
                    .collect();
                let o = if actor.is_some() || inviting.is_empty() || org.is_multiple_of(3) {
                    org % orgs
                } else {
                    inviting[org % inviting.len()]
                };
                let a = self.model.actor(actor, o);
                // Mostly (two in three) someone with an account who is not a
                // member yet, who can then accept; else any address.
                let outside: Vec<usize> = (0..users)
                    .filter(|u| !self.model.orgs[o].members.contains_key(u))
                    .collect();
                let e = if outside.is_empty() || e.is_multiple_of(3) {
                    e
                } else {
                    let raw = self.model.users[outside[e % outside.len()]].email;
                    EMAILS.iter().position(|&x| x == raw).unwrap_or(e)
                };
                let (raw, address) = email(e);
                let invitee = self.model.users.iter().position(|u| u.email == raw);
                let asked = role.model_role(&self.model.orgs[o]);
                let expected = self
                    .model
                    .require(a, o, Capability::ManageMembers)
                    .and(if self.model.users[a].verified {
                        Ok(())
                    } else {
                        Err("email_unverified")
                    })
                    .and(self.model.assignable(a, o, asked.as_ref()))
                    .and(match invitee {
                        Some(u) if self.model.orgs[o].members.contains_key(&u) => {
                            Err("already_member")
                        }
                        _ => Ok(()),
                    });
                let result = self
                    .service
                    .invite(
                        self.model.users[a].id,
                        self.model.orgs[o].id,
                        address,
                        role.spelled().as_deref(),
                    )
                    .await;
                compare("invite", expected, code(&result))?;
                if expected == Err("email_unverified") {
                    self.model.events.unverified_refusals += 1;
                }
                if let Ok(invitation) = result {
                    ensure!(
                        invitation.expires_at == now + self.model.ttl
                            && invitation.status_at(now) == InvitationStatus::Pending
                            && asked.as_ref().map(ModelRole::key)
                                == Some(invitation.role.key().as_str())
                            && invitation.email.as_str() == raw,
                        "the new invitation is not a pending {asked:?} invitation of `{raw}` expiring in the lifetime: {invitation:?}"
                    );
                    for open in &mut self.model.invitations {
                        if open.org == o
                            && open.email == raw
                            && open.state == ModelInvitationState::Pending
                        {
                            open.state = if now >= open.expires_at {
                                ModelInvitationState::ClosedExpired
                            } else {
                                ModelInvitationState::Revoked
                            };
                        }
                    }
                    let token = self.token_of(invitation.id).await?;
                    self.model.invitations.push(ModelInvitation {
                        id: invitation.id,
                        org: o,
                        email: raw,
                        invited_by: a,
                        created_at: now,
                        token,
                        superseded: Vec::new(),
                        expires_at: now + self.model.ttl,
                        state: ModelInvitationState::Pending,
                        accepted_times: 0,
                        role: asked.unwrap_or(ModelRole::Viewer),
                    });
                    // The open invitation it replaced gets no event of its own.
                    let j = self.model.invitations.len() - 1;
                    let created = self.model.invitation_event(Action::InvitationCreated, a, j);
                    self.model.record(o, created);
                }
                Ok(Some(o))
            }
            Op::Accept { user, invitation } => {
                if users == 0 || invitations == 0 {
                    return Ok(None);
                }
                let j = invitation % invitations;
                let email = self.model.invitations[j].email;
                let u = match self.model.users.iter().position(|u| u.email == email) {
                    Some(invitee) if !user.is_multiple_of(3) => invitee,
                    _ => user % users,
                };
                let token = self.model.invitations[j].token.clone();
                let o = self.model.invitations[j].org;
                let before = self.model.invitations[j].status(now);
                let expected = self.model.accept(u, &token, true);
                let result = self.service.accept(self.model.users[u].id, &token).await;
                compare("accept", expected, code(&result))?;
                if let Ok(view) = result {
                    ensure!(
                        matches!(
                            before,
                            InvitationStatus::Pending | InvitationStatus::Accepted
                        ),
                        "an invitation that was {before:?} was accepted"
                    );
                    let role = self.model.orgs[o].members.get(&u).map(|(r, _)| r.key());
                    ensure!(
                        view.organization.id == self.model.orgs[o].id
                            && Some(view.role.key().as_str()) == role
                            && view.is_active,
                        "accepting answered {view:?}, the model has role {role:?} in the organization"
                    );
                }
                Ok(Some(o))
            }
            Op::Revoke {
                actor,
                org,
                invitation,
            } => {
                if users == 0 || orgs == 0 || invitations == 0 {
                    return Ok(None);
                }
                let (a, o, j) = (actor % users, org % orgs, invitation % invitations);
                let target = &self.model.invitations[j];
                let expected = self
                    .model
                    .require(a, o, Capability::ManageMembers)
                    .and(if target.org == o {
                        Ok(())
                    } else {
                        Err(NOT_FOUND)
                    })
                    .and(match target.status(now) {
                        InvitationStatus::Accepted => Err("invitation_already_accepted"),
                        _ => Ok(()),
                    });
                let result = self
                    .service
                    .revoke(self.model.users[a].id, self.model.orgs[o].id, target.id)
                    .await;
                compare("revoke", expected, code(&result))?;
                // Revoking a dead invitation again changes nothing.
                if expected.is_ok() && target.status(now) == InvitationStatus::Pending {
                    self.model.invitations[j].state = ModelInvitationState::Revoked;
                    let revoked = self.model.invitation_event(Action::InvitationRevoked, a, j);
                    self.model.record(o, revoked);
                }
                Ok(Some(o))
            }
            Op::Remove { actor, org, member } => {
                if users == 0 || orgs == 0 {
                    return Ok(None);
                }
                // An owner removes one of the members of their organization
                // (there are few, and removals matter: R19); anyone else
                // names any user of any organization, member or not.
                let viewers: Vec<(usize, usize)> = (0..orgs)
                    .flat_map(|o| {
                        self.model.orgs[o]
                            .members
                            .iter()
                            .filter(|(_, (role, _))| *role != ModelRole::Owner)
                            .map(move |(&m, _)| (o, m))
                    })
                    .collect();
                let (o, m) = match actor {
                    None if !viewers.is_empty() => viewers[(org ^ member) % viewers.len()],
                    _ => (org % orgs, member % users),
                };
                let a = self.model.actor(actor, o);
                let expected = self
                    .model
                    .require(a, o, Capability::ManageMembers)
                    .and(match self.model.orgs[o].members.get(&m) {
                        None => Err(NOT_FOUND),
                        Some((ModelRole::Owner, _)) => Err("owner_cannot_be_removed"),
                        Some(_) => self.model.outranks(a, m, o),
                    });
                let own_before = self.own_organizations(m).await?;
                let result = self
                    .service
                    .remove_member(
                        self.model.users[a].id,
                        self.model.orgs[o].id,
                        self.model.users[m].id,
                    )
                    .await;
                compare("remove member", expected, code(&result))?;
                if expected.is_ok() {
                    let removed = self.model.user_event(Action::MemberRemoved, a, m);
                    self.model.record(o, removed);
                    self.model.orgs[o].members.remove(&m);
                    self.model.end_transfer_to(o, m);
                    self.refuse_kept_grants(m, o).await?;
                }
                let own_after = self.own_organizations(m).await?;
                ensure!(
                    own_before == own_after,
                    "removing a member changed their own organizations:\nbefore {own_before:?}\nafter {own_after:?}"
                );
                Ok(Some(o))
            }
            Op::Leave { user, org, member } => {
                if users == 0 || orgs == 0 {
                    return Ok(None);
                }
                let memberships: Vec<(usize, usize)> = (0..orgs)
                    .flat_map(|o| self.model.orgs[o].members.keys().map(move |&m| (o, m)))
                    .collect();
                let (o, u) = if member {
                    memberships[(user ^ org) % memberships.len()]
                } else {
                    (org % orgs, user % users)
                };
                // Every member may leave: the capability is one all hold.
                let expected = self
                    .model
                    .require(u, o, Capability::ViewResources)
                    .and(match self.model.orgs[o].members.get(&u) {
                        Some((ModelRole::Owner, _)) => Err("owner_cannot_leave"),
                        _ => Ok(()),
                    });
                let own_before = self.own_organizations(u).await?;
                let result = self
                    .service
                    .leave(self.model.users[u].id, self.model.orgs[o].id)
                    .await;
                compare("leave", expected, code(&result))?;
                if expected.is_ok() {
                    let left = self.model.user_event(Action::MemberLeft, u, u);
                    self.model.record(o, left);
                    self.model.orgs[o].members.remove(&u);
                    self.model.end_transfer_to(o, u);
                    self.model.events.left += 1;
                    self.refuse_kept_grants(u, o).await?;
                }
                let own_after = self.own_organizations(u).await?;
                ensure!(
                    own_before == own_after,
                    "leaving changed the user's own organizations:\nbefore {own_before:?}\nafter {own_after:?}"
                );
                Ok(Some(o))
            }
            Op::Switch { user, org } => {
                if users == 0 || orgs == 0 {
                    return Ok(None);
                }
                let (u, o) = (user % users, org % orgs);
                let expected = self.model.require(u, o, Capability::ViewResources);
                let result = self
                    .service
                    .switch_active(self.model.users[u].id, self.model.orgs[o].id)
                    .await;
                compare("switch", expected, code(&result))?;
                if expected.is_ok() {
                    self.model.active[u] = Some(o);
                }
                Ok(Some(o))
            }
            Op::ChangePlan {
                actor,
                org,
                plan,
                host,
            } => {
                if users == 0 || orgs == 0 {
                    return Ok(None);
                }
                let (a, o) = (actor % users, org % orgs);
                let plan = PLANS[plan % PLANS.len()];
                // The host needs no membership; a member needs the
                // capability, then a known plan, then a self-serve one.
                let access = if host {
                    // The host's billing system is no member: it finds any
                    // organization that exists, pending deletion or not.
                    if self.model.orgs[o].purged {
                        Err(NOT_FOUND)
                    } else {
                        Ok(())
                    }
                } else {
                    self.model.require(a, o, Capability::ManageBilling)
                };
                let expected = access.and(if plan == "platinum" {
                    Err("validation_failed")
                } else if !host && !SELF_SERVE.contains(&plan) {
                    Err("plan_not_selectable")
                } else {
                    Ok(())
                });
                let by = if host {
                    PlanChanger::Host
                } else {
                    PlanChanger::Member(self.model.users[a].id)
                };
                let result = self
                    .service
                    .change_plan(by, self.model.orgs[o].id, PlanId::new(plan))
                    .await;
                compare("change plan", expected, code(&result))?;
                if expected.is_ok() {
                    // Recorded even when the plan stays the same; the host
                    // acts as the service, no user.
                    let from = std::mem::replace(&mut self.model.orgs[o].plan, plan);
                    let changed = self
                        .model
                        .org_event(o, Action::OrganizationPlanChanged, (!host).then_some(a))
                        .changing("plan", from, plan);
                    self.model.record(o, changed);
                }
                Ok(Some(o))
            }
            Op::CreateResource {
                actor,
                org,
                kind,
                connection,
            } => self.create_resource(actor, org, kind, connection).await,
            Op::DeleteResource {
                actor,
                resource,
                elsewhere,
            } => self.delete_resource(actor, resource, elsewhere).await,
            Op::TriggerRun { actor, report } => self.trigger_run(actor, report).await,
            Op::OpenChat { actor, org, agent } => self.open_chat(actor, org, agent).await,
            Op::OpenRunChat {
                actor,
                run,
                elsewhere,
            } => self.open_run_chat(actor, run, elsewhere).await,
            Op::SendMessage { actor, chat } => self.send_message(actor, chat).await,
            Op::Pin { actor, resource } => self.pin(actor, resource).await,
            Op::Unpin { actor, pin } => self.unpin(actor, pin).await,
            Op::StartInvestigation { actor, agent } => self.start_investigation(actor, agent).await,
            Op::UseConnection {
                user,
                connection,
                stale,
            } => self.use_connection(user, connection, stale).await,
            Op::AdvanceClock { hours } => {
                self.advance(Duration::hours(i64::from(hours)));
                Ok(None)
            }
            Op::Account(ref op) => self.account(op).await,
            Op::Role(ref op) => self.role(op).await,
            Op::Lifecycle(ref op) => self.lifecycle(op).await,
        }
    }

    /// Moves both clocks, the service's and the model's.
    fn advance(&mut self, by: Duration) {
        self.clock.advance(by);
        self.model.now += by;
    }

    fn ids(&self, user: usize, org: usize) -> (UserId, OrganizationId) {
        (self.model.users[user].id, self.model.orgs[org].id)
    }

    async fn create_resource(
        &mut self,
        actor: Option<usize>,
        org: usize,
        kind: ResourceKind,
        connection: Option<usize>,
    ) -> Result<Option<usize>, String> {
        if self.model.users.is_empty() || self.model.orgs.is_empty() {
            return Ok(None);
        }
        let o = org % self.model.orgs.len();
        let a = self.model.actor(actor, o);
        let now = self.model.now;
        let n = self.model.resources.len();
        let name = format!("{kind} {n}");
        let secret = format!("secret-{n}");
        // An agent's connection: one of the model's, of any organization,
        // deleted or not, or an id that nobody has.
        let wanted = match (kind, connection) {
            (ResourceKind::Agent, Some(c)) => {
                Some(match self.model.pick(&[ResourceKind::Connection], c) {
                    Some(r) => (self.model.resources[r].id, Some(r)),
                    None => (unknown_resource(), None),
                })
            }
            _ => None,
        };
        let input = new_resource(kind, &name, wanted.map(|(id, _)| id), &secret)?;
        let used = self.model.live_of(o, kind).len() as u64;
        let limit = metered(kind).and_then(|m| self.model.limit(o, m));
        let expected = self
            .model
            .require(a, o, manage_capability(kind))
            .and(match wanted {
                Some((_, Some(r))) if self.model.live_in(r, o) => Ok(()),
                // A connection of another organization, or a deleted one, is
                // a missing thing to this one.
                Some(_) => Err("not_found"),
                None => Ok(()),
            })
            .and(match limit {
                Some(limit) if used >= limit => Err("quota_exceeded"),
                _ => Ok(()),
            });
        let (user_id, org_id) = self.ids(a, o);
        let result = self.service.create_resource(user_id, org_id, input).await;
        compare("create resource", expected, code(&result))?;
        if expected == Err("quota_exceeded") {
            self.model.events.quota_refusals += 1;
        }
        let Ok(resource) = result else {
            return Ok(Some(o));
        };
        let connections: Vec<usize> = wanted.and_then(|(_, r)| r).into_iter().collect();
        let connection_ids: Vec<ResourceId> = connections
            .iter()
            .map(|&r| self.model.resources[r].id)
            .collect();
        ensure!(
            resource.name.as_str() == name
                && resource.kind() == kind
                && resource.organization_id == org_id
                && resource.created_by == user_id
                && resource.created_at == now
                && resource.connection_ids() == connection_ids.as_slice(),
            "the created resource is not the {kind} `{name}` of user {a} in organization {o} using {connection_ids:?}: {resource:?}"
        );
        if let Details::Connection(details) = &resource.details {
            ensure!(
                details.credentials_updated_at == Some(now),
                "a new connection's credentials are dated {:?}, not now",
                details.credentials_updated_at
            );
        }
        let created = self
            .model
            .resources
            .iter()
            .filter(|r| r.org == o && r.kind == kind)
            .count() as u64;
        if limit.is_some_and(|limit| created >= limit) {
            self.model.events.recreated += 1;
        }
        self.model.resources.push(ModelResource {
            id: resource.id,
            org: o,
            kind,
            name,
            live: true,
            connections,
            secret: (kind == ResourceKind::Connection).then_some(secret),
        });
        let owner = self.model.users[self.model.orgs[o].owner].id;
        let billing = self
            .service
            .billing(owner, org_id)
            .await
            .map_err(|e| format!("billing as the owner failed: {e}"))?;
        if let Some(metered) = metered(kind) {
            let after = billing.usage.of(metered);
            ensure!(
                billing
                    .limits
                    .of(metered)
                    .is_none_or(|limit| after <= limit),
                "a create took {kind:?} usage to {after}, past the limit {limit:?}"
            );
        }
        Ok(Some(o))
    }

    async fn delete_resource(
        &mut self,
        actor: Option<usize>,
        resource: usize,
        elsewhere: Option<usize>,
    ) -> Result<Option<usize>, String> {
        let orgs = self.model.orgs.len();
        let Some(r) = self.model.pick(&ResourceKind::ALL, resource) else {
            return Ok(None);
        };
        let o = elsewhere.map_or(self.model.resources[r].org, |x| x % orgs);
        let a = self.model.actor(actor, o);
        let kind = self.model.resources[r].kind;
        let expected =
            self.model
                .require(a, o, manage_capability(kind))
                .and(if self.model.live_in(r, o) {
                    Ok(())
                } else {
                    Err(NOT_FOUND)
                });
        let (user_id, org_id) = self.ids(a, o);
        let result = self
            .service
            .delete_resource(user_id, org_id, kind, self.model.resources[r].id)
            .await;
        compare("delete resource", expected, code(&result))?;
        if expected.is_ok() {
            self.model.resources[r].live = false;
            self.model.events.deleted += 1;
            // It leaves every sidebar, and a connection leaves its agents.
            for pin in &mut self.model.pins {
                if pin.resource == r {
                    pin.live = false;
                }
            }
            for other in &mut self.model.resources {
                other.connections.retain(|&c| c != r);
            }
        }
        Ok(Some(o))
    }

    async fn trigger_run(
        &mut self,
        actor: Option<usize>,
        report: usize,
    ) -> Result<Option<usize>, String> {
        let Some(r) = self.model.pick(&[ResourceKind::Report], report) else {
            return Ok(None);
        };
        let o = self.model.resources[r].org;
        let a = self.model.actor(actor, o);
        let expected = self.model.require(a, o, Capability::TriggerReportRuns).and(
            if self.model.live_in(r, o) {
                Ok(())
            } else {
                Err(NOT_FOUND)
            },
        );
        let (user_id, org_id) = self.ids(a, o);
        let report_id = self.model.resources[r].id;
        let result = self.service.trigger_run(user_id, org_id, report_id).await;
        compare("trigger run", expected, code(&result))?;
        if let Ok(run) = result {
            ensure!(
                run.report_id == report_id
                    && run.organization_id == org_id
                    && run.triggered_by == user_id
                    && run.status == RunStatus::Queued
                    && run.created_at == self.model.now,
                "the run is not a queued run of report {r} by user {a}: {run:?}"
            );
            self.model.runs.push(ModelRun {
                id: run.id,
                org: o,
                report: r,
            });
        }
        Ok(Some(o))
    }

    async fn open_chat(
        &mut self,
        actor: usize,
        org: usize,
        agent: usize,
    ) -> Result<Option<usize>, String> {
        let (users, orgs) = (self.model.users.len(), self.model.orgs.len());
        if users == 0 || orgs == 0 {
            return Ok(None);
        }
        let (a, o) = (actor % users, org % orgs);
        let picked = self.model.pick(&[ResourceKind::Agent], agent);
        let agent_id = picked.map_or_else(unknown_resource, |r| self.model.resources[r].id);
        let expected = self.model.require(a, o, Capability::ChatWithAgents).and(
            if picked.is_some_and(|r| self.model.live_in(r, o)) {
                Ok(())
            } else {
                Err(NOT_FOUND)
            },
        );
        let (user_id, org_id) = self.ids(a, o);
        let result = self
            .service
            .open_chat(user_id, org_id, ChatRequest::Agent(agent_id))
            .await;
        compare("open chat", expected, code(&result))?;
        if let Ok(chat) = result {
            ensure!(
                chat.subject == ChatSubject::Agent(agent_id)
                    && chat.created_by == user_id
                    && chat.organization_id == org_id,
                "the chat is not user {a}'s with agent {agent_id}: {chat:?}"
            );
            self.model.chats.push(ModelChat {
                id: chat.id,
                org: o,
                owner: a,
                run: None,
                messages: 0,
            });
        }
        Ok(Some(o))
    }

    async fn open_run_chat(
        &mut self,
        actor: Option<usize>,
        run: usize,
        elsewhere: Option<usize>,
    ) -> Result<Option<usize>, String> {
        if self.model.runs.is_empty() {
            return Ok(None);
        }
        let k = run % self.model.runs.len();
        let run = self.model.runs[k].clone();
        let o = elsewhere.map_or(run.org, |x| x % self.model.orgs.len());
        let a = self.model.actor(actor, o);
        // A run outlives its report: its results can still be talked about.
        let expected = self
            .model
            .require(a, o, Capability::ChatWithReportResults)
            .and(if run.org == o { Ok(()) } else { Err(NOT_FOUND) });
        let (user_id, org_id) = self.ids(a, o);
        let result = self
            .service
            .open_chat(user_id, org_id, ChatRequest::ReportRun(run.id))
            .await;
        compare("open chat about a run", expected, code(&result))?;
        if let Ok(chat) = result {
            let subject = ChatSubject::ReportRun {
                report_id: self.model.resources[run.report].id,
                run_id: run.id,
            };
            ensure!(
                chat.subject == subject && chat.created_by == user_id,
                "the chat is not user {a}'s about run {k}: {chat:?}"
            );
            self.model.chats.push(ModelChat {
                id: chat.id,
                org: o,
                owner: a,
                run: Some(k),
                messages: 0,
            });
        }
        Ok(Some(o))
    }

    async fn send_message(&mut self, actor: usize, chat: usize) -> Result<Option<usize>, String> {
        if self.model.users.is_empty() || self.model.chats.is_empty() {
            return Ok(None);
        }
        let a = actor % self.model.users.len();
        let c = chat % self.model.chats.len();
        let chat = self.model.chats[c].clone();
        let month = Month::of(self.model.now);
        let used = self.model.orgs[chat.org]
            .messages
            .get(&month)
            .copied()
            .unwrap_or(0);
        let limit = self.model.limit(chat.org, Metered::ChatMessagesPerMonth);
        let capability = if chat.run.is_some() {
            Capability::ChatWithReportResults
        } else {
            Capability::ChatWithAgents
        };
        // The agent or report may be gone since: the chat goes on.
        let expected = self
            .model
            .require(a, chat.org, capability)
            .and(if chat.owner == a {
                Ok(())
            } else {
                Err(NOT_FOUND)
            })
            .and(match limit {
                Some(limit) if used >= limit => Err("quota_exceeded"),
                _ => Ok(()),
            });
        let content = Text::parse("hello").map_err(|e| e.to_string())?;
        let (user_id, org_id) = self.ids(a, chat.org);
        let result = self
            .service
            .send_chat_message(user_id, org_id, chat.id, content)
            .await;
        compare("send message", expected, code(&result))?;
        if expected.is_ok() {
            *self.model.orgs[chat.org].messages.entry(month).or_default() += 1;
            self.model.chats[c].messages += 1;
        }
        Ok(Some(chat.org))
    }

    async fn pin(
        &mut self,
        actor: Option<usize>,
        resource: usize,
    ) -> Result<Option<usize>, String> {
        let Some(r) = self.model.pick(&ResourceKind::ALL, resource) else {
            return Ok(None);
        };
        let o = self.model.resources[r].org;
        let a = self.model.actor(actor, o);
        let (kind, item_id) = (self.model.resources[r].kind, self.model.resources[r].id);
        let expected =
            self.model
                .require(a, o, Capability::PinItems)
                .and(if self.model.live_in(r, o) {
                    Ok(())
                } else {
                    Err(NOT_FOUND)
                });
        let (user_id, org_id) = self.ids(a, o);
        let result = self.service.pin(user_id, org_id, kind, item_id).await;
        compare("pin", expected, code(&result))?;
        if let Ok(pin) = result {
            let existing = self
                .model
                .pins
                .iter()
                .find(|p| p.live && p.org == o && p.user == a && p.resource == r);
            match existing {
                // Pinning again answers the pin there is.
                Some(existing) => ensure!(
                    pin.id == existing.id,
                    "pinning resource {r} again made pin {} besides {}",
                    pin.id,
                    existing.id
                ),
                None => {
                    ensure!(
                        pin.item_id == item_id
                            && pin.item_kind == kind
                            && pin.user_id == user_id
                            && pin.organization_id == org_id,
                        "the pin is not user {a}'s of resource {r}: {pin:?}"
                    );
                    self.model.pins.push(ModelPin {
                        id: pin.id,
                        org: o,
                        user: a,
                        resource: r,
                        live: true,
                    });
                }
            }
        }
        Ok(Some(o))
    }

    async fn unpin(&mut self, actor: Option<usize>, pin: usize) -> Result<Option<usize>, String> {
        if self.model.pins.is_empty() {
            return Ok(None);
        }
        let k = pin % self.model.pins.len();
        let pin = self.model.pins[k].clone();
        let a = actor.map_or(pin.user, |x| x % self.model.users.len());
        let expected = self.model.require(a, pin.org, Capability::PinItems).and(
            if pin.live && pin.user == a {
                Ok(())
            } else {
                Err(NOT_FOUND)
            },
        );
        let (user_id, org_id) = self.ids(a, pin.org);
        let result = self.service.unpin(user_id, org_id, pin.id).await;
        compare("unpin", expected, code(&result))?;
        if expected.is_ok() {
            self.model.pins[k].live = false;
        }
        Ok(Some(pin.org))
    }

    async fn start_investigation(
        &mut self,
        actor: Option<usize>,
        agent: usize,
    ) -> Result<Option<usize>, String> {
        let Some(r) = self.model.pick(&[ResourceKind::Agent], agent) else {
            return Ok(None);
        };
        let o = self.model.resources[r].org;
        let a = self.model.actor(actor, o);
        let expected = self.model.require(a, o, Capability::RunInvestigations).and(
            if self.model.live_in(r, o) {
                Ok(())
            } else {
                Err(NOT_FOUND)
            },
        );
        let question = Text::parse("Why did costs spike?").map_err(|e| e.to_string())?;
        let (user_id, org_id) = self.ids(a, o);
        let agent_id = self.model.resources[r].id;
        let result = self
            .service
            .start_investigation(user_id, org_id, agent_id, question.clone())
            .await;
        compare("start investigation", expected, code(&result))?;
        if let Ok(investigation) = result {
            ensure!(
                investigation.agent_id == agent_id
                    && investigation.created_by == user_id
                    && investigation.question == question
                    && investigation.status == RunStatus::Queued,
                "the investigation is not user {a}'s queued question to agent {r}: {investigation:?}"
            );
            self.model.investigations.push(ModelInvestigation {
                id: investigation.id,
                org: o,
                user: a,
            });
        }
        Ok(Some(o))
    }

    /// Keeps a viewer's grant for later steps, as a host may hold one; only
    /// a viewer's grant can outlive its membership, since owners are never
    /// removed.
    fn keep(&mut self, grant: Grant, user: usize, org: usize) {
        if !grant.is_owner() && !self.model.grants.iter().any(|(g, _, _)| *g == grant) {
            self.model.grants.push((grant, user, org));
        }
    }

    /// A removed member's kept grants open nothing from their very next use
    /// (R19, D12), not even a connection that still exists.
    async fn refuse_kept_grants(&mut self, user: usize, org: usize) -> Result<(), String> {
        let connection = self
            .model
            .live_of(org, ResourceKind::Connection)
            .first()
            .map_or_else(unknown_resource, |&c| self.model.resources[c].id);
        let kept: Vec<Grant> = self
            .model
            .grants
            .iter()
            .filter(|(_, u, o)| *u == user && *o == org)
            .map(|(grant, _, _)| grant.clone())
            .collect();
        for grant in kept {
            let result = self
                .service
                .connection_credentials(&grant, connection)
                .await;
            compare(
                "a removed member's kept grant",
                Err(NOT_FOUND),
                code(&result),
            )?;
            self.model.events.stale_grants_refused += 1;
        }
        Ok(())
    }

    async fn use_connection(
        &mut self,
        user: usize,
        connection: usize,
        stale: bool,
    ) -> Result<Option<usize>, String> {
        if self.model.users.is_empty() {
            return Ok(None);
        }
        let Some(mut c) = self.model.pick(&[ResourceKind::Connection], connection) else {
            return Ok(None);
        };
        let kept = (stale && !self.model.grants.is_empty())
            .then(|| self.model.grants[user % self.model.grants.len()].clone());
        // A kept grant mostly asks for a connection of its own organization,
        // where only the membership can make the difference.
        if let Some((_, _, o)) = kept {
            let of_org: Vec<usize> = (0..self.model.resources.len())
                .filter(|&r| {
                    self.model.resources[r].org == o
                        && self.model.resources[r].kind == ResourceKind::Connection
                })
                .collect();
            if !of_org.is_empty() && !connection.is_multiple_of(4) {
                c = of_org[connection % of_org.len()];
            }
        }
        let stale = kept.is_some();
        let (grant, holder, o) = match kept {
            Some(kept) => kept,
            None => {
                // A host asks on behalf of someone at work in the
                // organization: one of its members (outsiders are refused
                // by `authorize`, which the invariants check everywhere).
                let o = self.model.resources[c].org;
                let members: Vec<usize> = self.model.orgs[o].members.keys().copied().collect();
                if members.is_empty() {
                    return Ok(None);
                }
                let u = members[user % members.len()];
                let (user_id, org_id) = self.ids(u, o);
                let decided = self
                    .service
                    .authorize(user_id, org_id, Capability::ChatWithAgents)
                    .await
                    .map_err(|e| format!("authorize: {e}"))?;
                let expected = self.model.host_require(u, o, Capability::ChatWithAgents);
                let actual = decided
                    .as_ref()
                    .map(|_| ())
                    .map_err(|d| Error::from(d.clone()).code());
                compare("authorize to use a connection", expected, actual)?;
                let Ok(grant) = decided else {
                    return Ok(Some(o));
                };
                self.keep(grant.clone(), u, o);
                (grant, u, o)
            }
        };
        // The grant is checked again against the memberships of now (D12).
        let expected = self.model.host_require(holder, o, grant.capability()).and(
            if self.model.live_in(c, o) {
                Ok(())
            } else {
                Err(NOT_FOUND)
            },
        );
        let result = self
            .service
            .connection_credentials(&grant, self.model.resources[c].id)
            .await;
        compare("connection credentials", expected, code(&result))?;
        if stale && !self.model.is_member(holder, o) {
            self.model.events.stale_grants_refused += 1;
        }
        if let Ok(credentials) = result {
            // Compared, never printed: a failure names the entries only.
            let names: Vec<&str> = credentials.names().collect();
            ensure!(
                names == ["password"]
                    && credentials.expose("password") == self.model.resources[c].secret.as_deref(),
                "connection {c}'s credentials (entries {names:?}) are not the ones it was created with"
            );
            self.model.events.credentials_read += 1;
        }
        Ok(Some(o))
    }

    async fn sign_up(
        &mut self,
        raw: &'static str,
        address: EmailAddress,
        token: Option<String>,
    ) -> Result<Option<usize>, String> {
        let taken = self.model.users.iter().any(|u| u.email == raw);
        let result = self
            .service
            .sign_up(
                address,
                None,
                accounts::password(0),
                token.as_deref(),
                AccountMail::Send,
            )
            .await;
        if taken {
            compare("sign up", Err("email_taken"), code(&result))?;
            return Ok(None);
        }
        let signed = result.map_err(|e| format!("sign up failed: {e}"))?;
        let u = self.model.users.len();
        self.model.users.push(ModelUser {
            id: signed.user.id,
            email: raw,
            verified: false,
            password: 0,
            default_org: self.model.orgs.len(),
        });
        self.model.active.push(None);
        let name = format!("{raw}'s organization");
        ensure!(
            signed.default_organization.name.as_str() == name
                && signed.default_organization.owner_id == signed.user.id
                && signed.default_organization.plan.as_str() == "free",
            "the default organization is not `{name}`, owned and free: {:?}",
            signed.default_organization
        );
        let org = self.model.add_org(signed.default_organization.id, u, name);
        let (expected, actual) = match (&token, &signed.invitation) {
            (None, None) => (Ok(()), Ok(())),
            (Some(token), Some(outcome)) => (
                self.model.accept(u, token, false),
                match outcome {
                    InvitationOutcome::Accepted(_) => Ok(()),
                    InvitationOutcome::NotAccepted { code } => Err(*code),
                },
            ),
            (token, outcome) => {
                return Err(format!(
                    "sign-up with token {:?} reported invitation {outcome:?}",
                    token.is_some()
                ));
            }
        };
        compare("invitation at sign-up", expected, actual)?;
        self.signed_up(u, &signed).await?;
        let active = self.model.active[u].map(|o| self.model.orgs[o].id);
        ensure!(
            Some(signed.active_organization_id) == active,
            "after sign-up the active organization is {:?}, the model has {active:?}",
            signed.active_organization_id
        );
        Ok(Some(org))
    }

    /// What a user's own organizations look like from outside: name, plan,
    /// members and usage.
    async fn own_organizations(&self, user: usize) -> Result<Vec<String>, String> {
        let mut seen = Vec::new();
        let id = self.model.users[user].id;
        for org in self.model.orgs.iter().filter(|o| o.owner == user) {
            let view = self.service.organization(id, org.id).await;
            let members = self.service.members(id, org.id).await;
            let billing = self.service.billing(id, org.id).await;
            seen.push(format!(
                "{:?} {:?} {:?}",
                view.map(|v| (v.organization, v.role)).map_err(|e| e.code()),
                members
                    .map(|m| m
                        .into_iter()
                        .map(|m| (m.user.id, m.role))
                        .collect::<Vec<_>>())
                    .map_err(|e| e.code()),
                billing.map_err(|e| e.code())
            ));
        }
        Ok(seen)
    }

    /// Checks what an organization holds through the service's reads: its
    /// resources as the model has them (deleted ones invisible), the runs of
    /// its reports, its connections' credentials, and each member's own
    /// pins, chats with their messages, and investigations.
    async fn check_resources(&self, o: usize) -> Result<(), String> {
        let m = &self.model;
        let org = &m.orgs[o];
        let owner = m.users[org.owner].id;
        for kind in ResourceKind::ALL {
            let listed: Vec<(ResourceId, String, Vec<ResourceId>)> = self
                .service
                .resources(owner, org.id, kind)
                .await
                .map_err(|e| format!("{kind}s of organization {o}: {e}"))?
                .into_value()
                .into_iter()
                .map(|r| {
                    (
                        r.id,
                        r.name.as_str().to_owned(),
                        r.connection_ids().to_vec(),
                    )
                })
                .collect();
            let expected: Vec<(ResourceId, String, Vec<ResourceId>)> = m
                .live_of(o, kind)
                .into_iter()
                .map(|r| {
                    let res = &m.resources[r];
                    let connections = res.connections.iter().map(|&c| m.resources[c].id);
                    (res.id, res.name.clone(), connections.collect())
                })
                .collect();
            ensure!(
                listed == expected,
                "organization {o} lists {kind}s {listed:?}, the model has {expected:?}"
            );
        }
        for (r, res) in m.resources.iter().enumerate() {
            if res.org != o || res.live {
                continue;
            }
            let found = self.service.resource(owner, org.id, res.kind, res.id).await;
            ensure!(
                code(&found) == Err(NOT_FOUND),
                "deleted resource {r} reads as {:?}",
                code(&found)
            );
        }
        for r in m.live_of(o, ResourceKind::Report) {
            let runs: Vec<ReportRunId> = self
                .service
                .report_runs(owner, org.id, m.resources[r].id)
                .await
                .map_err(|e| format!("runs of report {r}: {e}"))?
                .into_iter()
                .map(|run| run.id)
                .collect();
            let expected: Vec<ReportRunId> = m
                .runs
                .iter()
                .filter(|run| run.report == r)
                .map(|run| run.id)
                .collect();
            ensure!(
                runs == expected,
                "report {r} has runs {runs:?}, the model has {expected:?}"
            );
        }
        let connections = m.live_of(o, ResourceKind::Connection);
        if !connections.is_empty() {
            let grant = self
                .service
                .authorize(owner, org.id, Capability::ChatWithAgents)
                .await
                .map_err(|e| format!("authorize: {e}"))?
                .map_err(|d| format!("the owner of organization {o} is refused: {d}"))?;
            for c in connections {
                let credentials = self
                    .service
                    .connection_credentials(&grant, m.resources[c].id)
                    .await
                    .map_err(|e| format!("credentials of connection {c}: {e}"))?;
                ensure!(
                    credentials.expose("password") == m.resources[c].secret.as_deref(),
                    "connection {c}'s credentials are not the ones it was created with"
                );
            }
        }
        for &u in org.members.keys() {
            let user = m.users[u].id;
            // A member whose role lacks a list's capability is refused it;
            // what they made stays, for a later role that holds it.
            let pins = self.service.pins(user, org.id).await;
            let allowed = m.require(u, o, Capability::ViewResources);
            compare("list one's pins", allowed, code(&pins))?;
            let pins: Vec<(PinId, ResourceId)> = pins
                .unwrap_or_default()
                .into_iter()
                .map(|pin| (pin.id, pin.item_id))
                .collect();
            let expected: Vec<(PinId, ResourceId)> = m
                .pins
                .iter()
                .filter(|pin| allowed.is_ok() && pin.live && pin.org == o && pin.user == u)
                .map(|pin| (pin.id, m.resources[pin.resource].id))
                .collect();
            ensure!(
                pins == expected,
                "user {u} has pins {pins:?} in organization {o}, the model has {expected:?}"
            );
            let chats = self.service.chats(user, org.id).await;
            let allowed = m.require(u, o, Capability::ViewResources);
            compare("list one's chats", allowed, code(&chats))?;
            let chats: Vec<ChatId> = chats
                .unwrap_or_default()
                .into_iter()
                .map(|chat| chat.id)
                .collect();
            let mine: Vec<&ModelChat> = m
                .chats
                .iter()
                .filter(|chat| allowed.is_ok() && chat.org == o && chat.owner == u)
                .collect();
            let expected: Vec<ChatId> = mine.iter().map(|chat| chat.id).collect();
            ensure!(
                chats == expected,
                "user {u} has chats {chats:?} in organization {o}, the model has {expected:?}"
            );
            for chat in mine {
                let messages = self.service.chat_messages(user, org.id, chat.id).await;
                let allowed = m.require(u, o, Capability::ViewResources);
                compare("read one's chat", allowed, code(&messages))?;
                let Ok(messages) = messages else { continue };
                ensure!(
                    messages.len() == chat.messages,
                    "chat {} has {} messages, the model has {}",
                    chat.id,
                    messages.len(),
                    chat.messages
                );
            }
            let investigations = self.service.investigations(user, org.id).await;
            let allowed = m.require(u, o, Capability::ViewResources);
            compare("list one's investigations", allowed, code(&investigations))?;
            let investigations: Vec<InvestigationId> = investigations
                .unwrap_or_default()
                .into_iter()
                .map(|i| i.id)
                .collect();
            let expected: Vec<InvestigationId> = m
                .investigations
                .iter()
                .filter(|i| allowed.is_ok() && i.org == o && i.user == u)
                .map(|i| i.id)
                .collect();
            ensure!(
                investigations == expected,
                "user {u} has investigations {investigations:?} in organization {o}, the model has {expected:?}"
            );
        }
        Ok(())
    }

    /// Every organization's audit log, as the repository holds it, is the
    /// model's (R32), after every step: each log is read from where the
    /// previous steps left it, so that any event added to any organization
    /// is found at once, and each new event must be the next the model
    /// expects, in the chain after the last one checked. A purged
    /// organization's log is gone with it (D17).
    async fn check_audit_logs(&mut self) -> Result<(), String> {
        let failed = |e: crate::error::StoreError| format!("reading the audit log: {e}");
        let mut tx = Repository::read(&self.outbox).await.map_err(failed)?;
        let orgs = self.model.orgs.len();
        self.audited.resize_with(orgs, AuditCursor::default);
        for o in 0..orgs {
            let org_id = self.model.orgs[o].id;
            if self.model.orgs[o].purged {
                let left = tx
                    .audit_events_after(org_id, 0, usize::MAX)
                    .await
                    .map_err(failed)?;
                ensure!(
                    left.is_empty(),
                    "purged organization {o} left {} audit events, the first {}",
                    left.len(),
                    left.first()
                        .map(|e| self.model.show(&view(e)))
                        .unwrap_or_default()
                );
                continue;
            }
            let cursor = &self.audited[o];
            let after = cursor.checked as u64;
            let new = tx
                .audit_events_after(org_id, after, usize::MAX)
                .await
                .map_err(failed)?;
            let head = self.check_audit_events(o, cursor.checked, &cursor.head, &new)?;
            let cursor = &mut self.audited[o];
            cursor.checked += new.len();
            cursor.head = head;
            let checked = cursor.checked;
            let reached = &mut self.model.events;
            reached.audit_events += new.len();
            reached.audit_by_service += new.iter().filter(|e| e.actor.kind == "service").count();
            reached.audit_longest = reached.audit_longest.max(checked);
            self.audited_actions.extend(new.iter().map(|e| e.action));
        }
        Ok(())
    }

    /// Checks `events`, read from organization `o`'s log after its first
    /// `from`, against the model's: each the next one expected, its `seq`
    /// its place, following `head` in the chain, and no more or fewer of
    /// them than expected. Answers the hash of the last one.
    fn check_audit_events(
        &self,
        o: usize,
        from: usize,
        head: &str,
        events: &[AuditEvent],
    ) -> Result<String, String> {
        let m = &self.model;
        let org = &m.orgs[o];
        let mut head = head.to_owned();
        for (k, event) in events.iter().enumerate() {
            let place = from + k + 1;
            let actual = view(event);
            let Some(expected) = m.expected_event(o, place - 1) else {
                return Err(format!(
                    "organization {o}'s audit log holds {} events, the model expects {}; the first unexpected is {}",
                    from + events.len(),
                    org.audit.len(),
                    m.show(&actual)
                ));
            };
            ensure!(
                actual == expected,
                "organization {o}'s audit event {place} is {}, the model expects {}",
                m.show(&actual),
                m.show(&expected)
            );
            ensure!(
                event.organization_id == org.id,
                "organization {o}'s audit event {place} names organization {}",
                event.organization_id
            );
            ensure!(
                event.prev_hash == head,
                "organization {o}'s audit event {place} does not follow the chain: its prev_hash is {}, the previous hash {head}",
                event.prev_hash
            );
            ensure!(
                audit::chain_hash(&head, &event.body()) == event.hash,
                "organization {o}'s audit event {place} does not match its hash"
            );
            head.clone_from(&event.hash);
        }
        let held = from + events.len();
        if let Some(missing) = m.expected_event(o, held) {
            return Err(format!(
                "organization {o}'s audit log holds {held} events, the model expects {}; the first missing is {}",
                org.audit.len(),
                m.show(&missing)
            ));
        }
        Ok(head)
    }

    /// At the end of a run, every log read again whole, as an export reads
    /// it: the events the steps checked, one by one, with a chain that
    /// [`audit::verify`] accepts up to the head the steps reached; and
    /// newest first, as the API lists them, the same events.
    async fn check_whole_audit_logs(&self) -> Result<(), String> {
        let failed = |e: crate::error::StoreError| format!("reading the audit log: {e}");
        let mut tx = Repository::read(&self.outbox).await.map_err(failed)?;
        for (o, org) in self.model.orgs.iter().enumerate() {
            if org.purged {
                continue;
            }
            let events = tx
                .audit_events_after(org.id, 0, usize::MAX)
                .await
                .map_err(failed)?;
            let head = self.check_audit_events(o, 0, audit::GENESIS, &events)?;
            let verified = audit::verify(events.iter().map(AuditEvent::to_json))
                .map_err(|e| format!("organization {o}'s audit log does not verify: {e}"))?;
            let checked = self.audited.get(o).map(|c| (c.checked, c.head.as_str()));
            ensure!(
                verified.events == events.len() as u64
                    && verified.head == head
                    && checked.is_none_or(|c| c == (events.len(), head.as_str())),
                "organization {o}'s audit log verifies {} events up to {}, it holds {} up to {head}, the steps checked {checked:?}",
                verified.events,
                verified.head,
                events.len()
            );
            let query = audit::AuditQuery {
                limit: usize::MAX,
                ..audit::AuditQuery::default()
            };
            let newest = tx.audit_events(org.id, &query).await.map_err(failed)?;
            ensure!(
                newest.iter().rev().eq(events.iter()),
                "organization {o}'s audit log lists {:?} newest first, oldest first {:?}",
                newest.iter().map(|e| e.seq).collect::<Vec<_>>(),
                events.iter().map(|e| e.seq).collect::<Vec<_>>()
            );
        }
        Ok(())
    }

    /// Checks every invariant through the service's reads.
    #[expect(
        clippy::too_many_lines,
        reason = "the invariants of users, then of organizations, read best in one place"
    )]
    async fn check(&mut self, touched: Option<usize>) -> Result<(), String> {
        self.check_audit_logs().await?;
        self.check_accounts().await?;
        let now = self.model.now;
        for u in 0..self.model.users.len() {
            let user = self.model.users[u].id;
            // The active organization is always one the user can access, and
            // not one pending deletion.
            let expected_active = self.model.resolve_active(u);
            let active = self
                .service
                .active_organization(user)
                .await
                .map_err(|e| format!("active organization of user {u}: {e}"))?;
            ensure!(
                expected_active.map(|o| self.model.orgs[o].id) == Some(active.organization.id),
                "user {u}'s active organization is {:?}, the model has {expected_active:?}",
                active.organization.id
            );
            ensure!(
                !active.organization.is_pending_deletion(),
                "user {u}'s active organization {} is pending deletion",
                active.organization.id
            );
            // The switcher lists exactly the user's organizations: one
            // pending deletion to its owner only, a purged one to nobody.
            let mut listed: Vec<(OrganizationId, String, String, bool, bool)> = self
                .service
                .organizations(user)
                .await
                .map_err(|e| format!("organizations of user {u}: {e}"))?
                .into_iter()
                .map(|v| {
                    (
                        v.organization.id,
                        v.role.key().to_string(),
                        v.role.capabilities().to_names(),
                        v.is_active,
                        v.organization.is_pending_deletion(),
                    )
                })
                .collect();
            listed.sort();
            let mut expected: Vec<(OrganizationId, String, String, bool, bool)> =
                (0..self.model.orgs.len())
                    .filter_map(|o| {
                        let org = &self.model.orgs[o];
                        let pending = org.deletion.is_some();
                        org.members
                            .get(&u)
                            .filter(|_| !pending || org.owner == u)
                            .map(|(role, _)| {
                                (
                                    org.id,
                                    role.key().to_owned(),
                                    org.capabilities(role).to_names(),
                                    expected_active == Some(o),
                                    pending,
                                )
                            })
                    })
                    .collect();
            expected.sort();
            ensure!(
                listed == expected,
                "user {u}'s switcher lists {listed:?}, the model has {expected:?}"
            );
            // D13: everyone owns an organization that is not pending deletion,
            // and the active one is among those listed.
            ensure!(
                listed
                    .iter()
                    .any(|(_, role, _, _, pending)| role == "owner" && !pending),
                "user {u} owns no organization that is not pending deletion: {listed:?}"
            );
            ensure!(
                listed
                    .iter()
                    .any(|(id, _, _, is_active, _)| *is_active && *id == active.organization.id),
                "user {u}'s active organization {} is not the one their switcher marks: {listed:?}",
                active.organization.id
            );
            // Nobody holds a capability without a membership, nor in an
            // organization pending deletion; members hold exactly their
            // role's capabilities.
            for o in 0..self.model.orgs.len() {
                let org = self.model.orgs[o].id;
                let capabilities: &[Capability] = if touched == Some(o) {
                    &Capability::ALL
                } else {
                    &[Capability::ViewResources, Capability::ManageMembers]
                };
                for &capability in capabilities {
                    let decided = self
                        .service
                        .authorize(user, org, capability)
                        .await
                        .map_err(|e| format!("authorize: {e}"))?;
                    let model_org = &self.model.orgs[o];
                    let expected = match model_org.members.get(&u) {
                        _ if model_org.deletion.is_some() => Err(Denial::NotAMember),
                        None => Err(Denial::NotAMember),
                        Some((role, _)) if model_org.capabilities(role).contains(capability) => {
                            Ok(role.key().to_owned())
                        }
                        Some((role, _)) => Err(Denial::LacksCapability {
                            role: RoleKey::parse(role.key()).map_err(|e| e.to_string())?,
                            capability,
                        }),
                    };
                    // A host holds on to the grants its agents act with; a
                    // viewer's must stop working at their removal (D12).
                    if let Ok(grant) = &decided
                        && capability == Capability::ChatWithAgents
                    {
                        self.keep(grant.clone(), u, o);
                    }
                    let actual = decided.map(|grant| grant.role().to_string());
                    ensure!(
                        actual == expected,
                        "user {u} in organization {o} for `{capability}`: decided {actual:?}, the model has {expected:?}"
                    );
                }
            }
        }
        for o in 0..self.model.orgs.len() {
            if self.model.orgs[o].purged {
                self.check_purged(o).await?;
                continue;
            }
            // Each organization has exactly one owner, the model's, as the
            // store holds it, pending deletion or not (D8).
            self.check_stored(o).await?;
            if self.model.orgs[o].deletion.is_some() {
                self.check_pending(o).await?;
                continue;
            }
            let org = &self.model.orgs[o];
            let owner = self.model.users[org.owner].id;
            // And the members of the model, as its owner lists them.
            let members = self
                .service
                .members(owner, org.id)
                .await
                .map_err(|e| format!("members of organization {o} as its owner: {e}"))?;
            let owners: Vec<UserId> = members
                .iter()
                .filter(|m| m.role.is_owner())
                .map(|m| m.user.id)
                .collect();
            ensure!(
                owners == vec![owner],
                "organization {o} has owners {owners:?}, expected exactly {owner:?}"
            );
            let listed: BTreeSet<(UserId, String, String)> = members
                .iter()
                .map(|m| {
                    (
                        m.user.id,
                        m.role.key().to_string(),
                        m.role.capabilities().to_names(),
                    )
                })
                .collect();
            let expected: BTreeSet<(UserId, String, String)> = org
                .members
                .iter()
                .map(|(&u, (role, _))| {
                    (
                        self.model.users[u].id,
                        role.key().to_owned(),
                        org.capabilities(role).to_names(),
                    )
                })
                .collect();
            ensure!(
                listed == expected,
                "organization {o} lists members {listed:?}, the model has {expected:?}"
            );
            self.check_roles(o).await?;
            // Plan and usage agree; usage never passes a limit that has not
            // been lowered under it.
            let billing = self
                .service
                .billing(owner, org.id)
                .await
                .map_err(|e| format!("billing of organization {o}: {e}"))?;
            let count = |kind| self.model.live_of(o, kind).len() as u64;
            let usage = [
                billing.usage.agents,
                billing.usage.connections,
                billing.usage.reports,
                billing.usage.chat_messages_this_month,
                billing.usage.knowledge_files,
                billing.usage.storage_bytes,
            ];
            // The harness uploads no knowledge files: none, and no bytes.
            let expected_usage = [
                count(ResourceKind::Agent),
                count(ResourceKind::Connection),
                count(ResourceKind::Report),
                org.messages.get(&Month::of(now)).copied().unwrap_or(0),
                count(ResourceKind::KnowledgeFile),
                0,
            ];
            ensure!(
                billing.plan.as_str() == org.plan && usage == expected_usage,
                "organization {o} bills {} with usage {usage:?}, the model has {} with {expected_usage:?}",
                billing.plan,
                org.plan
            );
            let view = self
                .service
                .organization(owner, org.id)
                .await
                .map_err(|e| format!("organization {o} as its owner: {e}"))?;
            ensure!(
                view.organization.name.as_str() == org.name
                    && view.organization.owner_id == owner
                    && !view.organization.is_pending_deletion(),
                "organization {o} is {:?}, the model has `{}` owned by {owner}, not pending deletion",
                view.organization,
                org.name
            );
            // Pending invitations are exactly the model's.
            let pending: BTreeSet<InvitationId> = self
                .service
                .pending_invitations(owner, org.id)
                .await
                .map_err(|e| format!("pending invitations of organization {o}: {e}"))?
                .into_value()
                .into_iter()
                .map(|i| i.id)
                .collect();
            let expected: BTreeSet<InvitationId> = self
                .model
                .invitations
                .iter()
                .filter(|i| i.org == o && i.status(now) == InvitationStatus::Pending)
                .map(|i| i.id)
                .collect();
            ensure!(
                pending == expected,
                "organization {o} has pending invitations {pending:?}, the model has {expected:?}"
            );
            self.check_active_lifecycle(o).await?;
            self.check_resources(o).await?;
        }
        // Every invitation's link tells its status, and a link a resend
        // replaced says so; none was used twice. Nothing of a purged
        // organization's is known any more.
        for (j, invitation) in self.model.invitations.iter().enumerate() {
            ensure!(
                invitation.accepted_times <= 1,
                "invitation {j} was accepted {} times",
                invitation.accepted_times
            );
            let preview = self.service.preview_invitation(&invitation.token).await;
            if self.model.orgs[invitation.org].purged {
                compare(
                    "the link of a purged organization's invitation",
                    Err(NOT_FOUND),
                    code(&preview),
                )?;
            } else {
                let preview = preview.map_err(|e| format!("preview of invitation {j}: {e}"))?;
                ensure!(
                    preview.status == invitation.status(now),
                    "invitation {j}'s link says {:?}, the model has {:?}",
                    preview.status,
                    invitation.status(now)
                );
            }
            for token in &invitation.superseded {
                let preview = self.service.preview_invitation(token).await;
                let expected = if self.model.orgs[invitation.org].purged {
                    Err(NOT_FOUND)
                } else {
                    Err("invitation_superseded")
                };
                compare(
                    &format!("a superseded link of invitation {j}"),
                    expected,
                    code(&preview),
                )?;
            }
        }
        Ok(())
    }
}
