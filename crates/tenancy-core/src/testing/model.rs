//! Model-based testing: random sequences of operations run against the real
//! use cases and against a small reference model written independently of
//! them, compared after every step, with the invariants checked through the
//! use cases' own reads.
//!
//! The harness is generic over the repository, so the store can replay the
//! same sequences against SQLite and PostgreSQL (a differential test).

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Duration, Utc};
use proptest::prelude::*;

use crate::decide::InvitationOutcome;
use crate::entity::{InvitationStatus, MailContent, ResourceKind};
use crate::error::Error;
use crate::id::{ChatId, InvitationId, OrganizationId, ResourceId, UserId};
use crate::plan::{Limits, Month, Plan, PlanCatalog, PlanId};
use crate::policy::{Capability, Denial, Role};
use crate::ports::{MailOutbox, Repository};
use crate::service::{Service, Settings};
use crate::testing::fakes::{CountingTokens, ManualClock, SequentialIds};
use crate::token::SecretToken;
use crate::value::{EmailAddress, OrganizationName, PasswordHash};

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

/// A catalog with small limits, so that random sequences reach them.
pub fn catalog() -> PlanCatalog {
    let plan = |id: &str, limits: [Option<u64>; 4]| Plan {
        id: PlanId::new(id),
        name: id.to_owned(),
        limits: Limits {
            agents: limits[0],
            connections: limits[1],
            reports: limits[2],
            chat_messages_per_month: limits[3],
        },
    };
    PlanCatalog::new(vec![
        plan("free", [Some(2), Some(1), Some(3), Some(4)]),
        plan("pro", [Some(4), Some(3), Some(5), Some(8)]),
        plan("enterprise", [None; 4]),
    ])
    .unwrap_or_default()
}

/// The role an invitation asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AskedRole {
    Unspecified,
    Viewer,
    Owner,
    Unknown,
}

impl AskedRole {
    fn spelled(self) -> Option<&'static str> {
        match self {
            Self::Unspecified => None,
            Self::Viewer => Some("viewer"),
            Self::Owner => Some("owner"),
            Self::Unknown => Some("admin"),
        }
    }
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
    CreateOrganization {
        user: usize,
    },
    Rename {
        actor: usize,
        org: usize,
    },
    Invite {
        actor: usize,
        org: usize,
        email: usize,
        role: AskedRole,
    },
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
        actor: usize,
        org: usize,
        member: usize,
    },
    Switch {
        user: usize,
        org: usize,
    },
    ChangePlan {
        actor: usize,
        org: usize,
        plan: usize,
    },
    CreateResource {
        actor: usize,
        org: usize,
        kind: ResourceKind,
    },
    OpenChat {
        actor: usize,
        org: usize,
        agent: usize,
    },
    SendMessage {
        actor: usize,
        chat: usize,
    },
    AdvanceClock {
        hours: u32,
    },
}

/// One random operation.
pub fn op() -> impl Strategy<Value = Op> {
    let i = || any::<usize>();
    prop_oneof![
        3 => (i(), proptest::option::weighted(0.3, i()))
            .prop_map(|(email, invitation)| Op::SignUp { email, invitation }),
        2 => i().prop_map(|invitation| Op::SignUpFromLink { invitation }),
        1 => i().prop_map(|user| Op::CreateOrganization { user }),
        1 => (i(), i()).prop_map(|(actor, org)| Op::Rename { actor, org }),
        5 => (i(), i(), i(), prop_oneof![
                6 => Just(AskedRole::Unspecified),
                2 => Just(AskedRole::Viewer),
                1 => Just(AskedRole::Owner),
                1 => Just(AskedRole::Unknown),
            ])
            .prop_map(|(actor, org, email, role)| Op::Invite { actor, org, email, role }),
        5 => (i(), i()).prop_map(|(user, invitation)| Op::Accept { user, invitation }),
        1 => (i(), i(), i()).prop_map(|(actor, org, invitation)| Op::Revoke { actor, org, invitation }),
        2 => (i(), i(), i()).prop_map(|(actor, org, member)| Op::Remove { actor, org, member }),
        2 => (i(), i()).prop_map(|(user, org)| Op::Switch { user, org }),
        1 => (i(), i(), i()).prop_map(|(actor, org, plan)| Op::ChangePlan { actor, org, plan }),
        3 => (i(), i(), super::strategies::resource_kind())
            .prop_map(|(actor, org, kind)| Op::CreateResource { actor, org, kind }),
        2 => (i(), i(), i()).prop_map(|(actor, org, agent)| Op::OpenChat { actor, org, agent }),
        3 => (i(), i()).prop_map(|(actor, chat)| Op::SendMessage { actor, chat }),
        2 => prop_oneof![1_u32..48, 150_u32..200].prop_map(|hours| Op::AdvanceClock { hours }),
    ]
}

/// Sequences of up to `max_len` operations.
pub fn ops(max_len: usize) -> impl Strategy<Value = Vec<Op>> {
    proptest::collection::vec(op(), 1..=max_len)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ModelRole {
    Owner,
    Viewer,
}

impl ModelRole {
    /// The seed's table, written out again rather than read from the core:
    /// the model must disagree when the core's matrix is wrong.
    fn allows(self, capability: Capability) -> bool {
        match self {
            Self::Owner => true,
            Self::Viewer => matches!(
                capability,
                Capability::ViewResources
                    | Capability::ChatWithAgents
                    | Capability::RunInvestigations
                    | Capability::ChatWithReportResults
                    | Capability::PinItems
            ),
        }
    }

    fn role(self) -> Role {
        match self {
            Self::Owner => Role::Owner,
            Self::Viewer => Role::Viewer,
        }
    }
}

#[derive(Debug, Clone)]
struct ModelUser {
    id: UserId,
    email: &'static str,
}

#[derive(Debug, Clone)]
struct ModelOrg {
    id: OrganizationId,
    owner: usize,
    name: String,
    plan: &'static str,
    /// Member (user index) to role and the order they joined in.
    members: BTreeMap<usize, (ModelRole, u64)>,
    resources: BTreeMap<ResourceKind, u64>,
    messages: BTreeMap<Month, u64>,
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
    token: String,
    expires_at: DateTime<Utc>,
    state: ModelInvitationState,
    accepted_times: u32,
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
}

/// The reference model: plain collections and the seed's rules, nothing else.
#[derive(Debug, Clone)]
struct Model {
    users: Vec<ModelUser>,
    orgs: Vec<ModelOrg>,
    invitations: Vec<ModelInvitation>,
    agents: Vec<(ResourceId, usize)>,
    chats: Vec<ModelChat>,
    active: Vec<Option<usize>>,
    now: DateTime<Utc>,
    ttl: Duration,
    join_seq: u64,
}

type Expected = Result<(), &'static str>;

const NOT_FOUND: &str = "not_found";
const FORBIDDEN: &str = "forbidden";

impl Model {
    fn limit(&self, org: usize, metered: crate::plan::Metered) -> Option<u64> {
        catalog()
            .limits_of(&PlanId::new(self.orgs[org].plan))
            .of(metered)
    }

    fn require(&self, user: usize, org: usize, capability: Capability) -> Expected {
        match self.orgs[org].members.get(&user) {
            None => Err(NOT_FOUND),
            Some((role, _)) if !role.allows(capability) => Err(FORBIDDEN),
            Some(_) => Ok(()),
        }
    }

    fn add_org(&mut self, id: OrganizationId, owner: usize, name: String) -> usize {
        self.join_seq += 1;
        self.orgs.push(ModelOrg {
            id,
            owner,
            name,
            plan: "free",
            members: BTreeMap::from([(owner, (ModelRole::Owner, self.join_seq))]),
            resources: BTreeMap::new(),
            messages: BTreeMap::new(),
        });
        let org = self.orgs.len() - 1;
        self.active[owner] = Some(org);
        org
    }

    fn accept(&mut self, user: usize, token: &str) -> Expected {
        let Some(j) = self.invitations.iter().position(|i| i.token == token) else {
            return Err(NOT_FOUND);
        };
        let now = self.now;
        let invitation = &self.invitations[j];
        if invitation.email != self.users[user].email {
            return Err("invitation_email_mismatch");
        }
        let org = invitation.org;
        let member = self.orgs[org].members.contains_key(&user);
        match invitation.status(now) {
            InvitationStatus::Accepted if member => {}
            InvitationStatus::Accepted => return Err("invitation_already_accepted"),
            InvitationStatus::Revoked => return Err("invitation_revoked"),
            InvitationStatus::Expired => return Err("invitation_expired"),
            InvitationStatus::Pending => {
                let invitation = &mut self.invitations[j];
                invitation.state = ModelInvitationState::Accepted;
                invitation.accepted_times += 1;
                if !member {
                    self.join_seq += 1;
                    self.orgs[org]
                        .members
                        .insert(user, (ModelRole::Viewer, self.join_seq));
                }
            }
        }
        self.active[user] = Some(org);
        Ok(())
    }

    /// The active organization, with the fallback to the user's own oldest
    /// organization when the stored one is no longer accessible.
    fn resolve_active(&mut self, user: usize) -> Option<usize> {
        let accessible = |org: usize| self.orgs[org].members.contains_key(&user);
        let resolved = match self.active[user] {
            Some(org) if accessible(org) => Some(org),
            _ => (0..self.orgs.len())
                .filter(|&org| self.orgs[org].owner == user)
                .min_by_key(|&org| self.orgs[org].members.get(&user).map(|(_, seq)| *seq)),
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

impl<R> Harness<R>
where
    R: Repository + MailOutbox + Clone,
{
    /// A harness over an empty repository.
    pub fn new(repository: R) -> Self {
        let clock = ManualClock::at(start_time());
        let settings = Settings {
            catalog: catalog(),
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
                agents: vec![],
                chats: vec![],
                active: vec![],
                now: start_time(),
                ttl,
                join_seq: 0,
            },
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
        Ok(())
    }

    /// How many entities the model holds: users, organizations, invitations,
    /// chats. Tests use it to show that sequences reach interesting states.
    pub fn counts(&self) -> [usize; 4] {
        [
            self.model.users.len(),
            self.model.orgs.len(),
            self.model.invitations.len(),
            self.model.chats.len(),
        ]
    }

    async fn token_of(&self, invitation: InvitationId) -> Result<String, String> {
        let far = self.model.now + Duration::days(10_000);
        let mails = self
            .outbox
            .due(far, usize::MAX)
            .await
            .map_err(|e| format!("reading the outbox: {e}"))?;
        mails
            .into_iter()
            .find_map(|queued| match queued.mail.content {
                MailContent::Invitation {
                    invitation_id,
                    token,
                    ..
                } if invitation_id == invitation => Some(token.expose().to_owned()),
                MailContent::Invitation { .. } => None,
            })
            .ok_or_else(|| format!("no email in the outbox for invitation {invitation}"))
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
                let u = user % users;
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
                    self.model.orgs[o].name = name;
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
                let (a, o) = (actor % users, org % orgs);
                let (raw, address) = email(e);
                let invitee = self.model.users.iter().position(|u| u.email == raw);
                let expected = self
                    .model
                    .require(a, o, Capability::ManageMembers)
                    .and(match role {
                        AskedRole::Unspecified | AskedRole::Viewer => Ok(()),
                        AskedRole::Owner | AskedRole::Unknown => Err("role_not_assignable"),
                    })
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
                        role.spelled(),
                    )
                    .await;
                compare("invite", expected, code(&result))?;
                if let Ok(invitation) = result {
                    ensure!(
                        invitation.expires_at == now + self.model.ttl
                            && invitation.status_at(now) == InvitationStatus::Pending
                            && invitation.role == Role::Viewer
                            && invitation.email.as_str() == raw,
                        "the new invitation is not a pending viewer invitation of `{raw}` expiring in the lifetime: {invitation:?}"
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
                        token,
                        expires_at: now + self.model.ttl,
                        state: ModelInvitationState::Pending,
                        accepted_times: 0,
                    });
                }
                Ok(Some(o))
            }
            Op::Accept { user, invitation } => {
                if users == 0 || invitations == 0 {
                    return Ok(None);
                }
                let u = user % users;
                let j = invitation % invitations;
                let token = self.model.invitations[j].token.clone();
                let o = self.model.invitations[j].org;
                let before = self.model.invitations[j].status(now);
                let expected = self.model.accept(u, &token);
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
                    let role = self.model.orgs[o].members.get(&u).map(|(r, _)| r.role());
                    ensure!(
                        view.organization.id == self.model.orgs[o].id
                            && Some(view.role) == role
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
                if expected.is_ok() && target.status(now) == InvitationStatus::Pending {
                    self.model.invitations[j].state = ModelInvitationState::Revoked;
                }
                Ok(Some(o))
            }
            Op::Remove { actor, org, member } => {
                if users == 0 || orgs == 0 {
                    return Ok(None);
                }
                let (a, o, m) = (actor % users, org % orgs, member % users);
                let expected = self
                    .model
                    .require(a, o, Capability::ManageMembers)
                    .and(match self.model.orgs[o].members.get(&m) {
                        None => Err(NOT_FOUND),
                        Some((ModelRole::Owner, _)) => Err("owner_cannot_be_removed"),
                        Some(_) => Ok(()),
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
                    self.model.orgs[o].members.remove(&m);
                }
                let own_after = self.own_organizations(m).await?;
                ensure!(
                    own_before == own_after,
                    "removing a member changed their own organizations:\nbefore {own_before:?}\nafter {own_after:?}"
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
            Op::ChangePlan { actor, org, plan } => {
                if users == 0 || orgs == 0 {
                    return Ok(None);
                }
                let (a, o) = (actor % users, org % orgs);
                let plan = PLANS[plan % PLANS.len()];
                let expected = self.model.require(a, o, Capability::ManageBilling).and({
                    if plan == "platinum" {
                        Err("validation_failed")
                    } else {
                        Ok(())
                    }
                });
                let result = self
                    .service
                    .change_plan(
                        self.model.users[a].id,
                        self.model.orgs[o].id,
                        PlanId::new(plan),
                    )
                    .await;
                compare("change plan", expected, code(&result))?;
                if expected.is_ok() {
                    self.model.orgs[o].plan = plan;
                }
                Ok(Some(o))
            }
            Op::CreateResource { actor, org, kind } => {
                if users == 0 || orgs == 0 {
                    return Ok(None);
                }
                let (a, o) = (actor % users, org % orgs);
                let capability = match kind {
                    ResourceKind::Agent => Capability::ManageAgents,
                    ResourceKind::Connection => Capability::ManageConnections,
                    ResourceKind::Report => Capability::ManageReports,
                };
                let used = self.model.orgs[o]
                    .resources
                    .get(&kind)
                    .copied()
                    .unwrap_or(0);
                let limit = self.model.limit(o, kind.metered());
                let expected = self.model.require(a, o, capability).and(match limit {
                    Some(limit) if used >= limit => Err("quota_exceeded"),
                    _ => Ok(()),
                });
                let result = self
                    .service
                    .create_resource(self.model.users[a].id, self.model.orgs[o].id, kind)
                    .await;
                compare("create resource", expected, code(&result))?;
                if let Ok(resource) = result {
                    *self.model.orgs[o].resources.entry(kind).or_default() += 1;
                    if kind == ResourceKind::Agent {
                        self.model.agents.push((resource.id, o));
                    }
                    let owner = self.model.users[self.model.orgs[o].owner].id;
                    let billing = self
                        .service
                        .billing(owner, self.model.orgs[o].id)
                        .await
                        .map_err(|e| format!("billing as the owner failed: {e}"))?;
                    let after = billing.usage.of(kind.metered());
                    ensure!(
                        billing
                            .limits
                            .of(kind.metered())
                            .is_none_or(|limit| after <= limit),
                        "a create took {kind:?} usage to {after}, past the limit {limit:?}"
                    );
                }
                Ok(Some(o))
            }
            Op::OpenChat { actor, org, agent } => {
                if users == 0 || orgs == 0 {
                    return Ok(None);
                }
                let (a, o) = (actor % users, org % orgs);
                let (agent_id, agent_org) = match self.model.agents.len() {
                    0 => (
                        ResourceId::from_uuid(uuid::Uuid::from_u128(u128::MAX)),
                        None,
                    ),
                    n => {
                        let (id, org) = self.model.agents[agent % n];
                        (id, Some(org))
                    }
                };
                let expected = self.model.require(a, o, Capability::ChatWithAgents).and(
                    if agent_org == Some(o) {
                        Ok(())
                    } else {
                        Err(NOT_FOUND)
                    },
                );
                let result = self
                    .service
                    .open_chat(self.model.users[a].id, self.model.orgs[o].id, agent_id)
                    .await;
                compare("open chat", expected, code(&result))?;
                if let Ok(chat) = result {
                    self.model.chats.push(ModelChat {
                        id: chat.id,
                        org: o,
                        owner: a,
                    });
                }
                Ok(Some(o))
            }
            Op::SendMessage { actor, chat } => {
                if users == 0 || self.model.chats.is_empty() {
                    return Ok(None);
                }
                let a = actor % users;
                let chat = self.model.chats[chat % self.model.chats.len()].clone();
                let month = Month::of(now);
                let used = self.model.orgs[chat.org]
                    .messages
                    .get(&month)
                    .copied()
                    .unwrap_or(0);
                let limit = self
                    .model
                    .limit(chat.org, crate::plan::Metered::ChatMessagesPerMonth);
                let expected = self
                    .model
                    .require(a, chat.org, Capability::ChatWithAgents)
                    .and(if chat.owner == a {
                        Ok(())
                    } else {
                        Err(NOT_FOUND)
                    })
                    .and(match limit {
                        Some(limit) if used >= limit => Err("quota_exceeded"),
                        _ => Ok(()),
                    });
                let result = self
                    .service
                    .send_chat_message(
                        self.model.users[a].id,
                        self.model.orgs[chat.org].id,
                        chat.id,
                        "hello",
                    )
                    .await;
                compare("send message", expected, code(&result))?;
                if expected.is_ok() {
                    *self.model.orgs[chat.org].messages.entry(month).or_default() += 1;
                }
                Ok(Some(chat.org))
            }
            Op::AdvanceClock { hours } => {
                let by = Duration::hours(i64::from(hours));
                self.clock.advance(by);
                self.model.now += by;
                Ok(None)
            }
        }
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
                PasswordHash::new("$argon2id$test".to_owned()),
                token.as_deref(),
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
                self.model.accept(u, token),
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

    /// Checks every invariant through the service's reads.
    async fn check(&mut self, touched: Option<usize>) -> Result<(), String> {
        let now = self.model.now;
        for u in 0..self.model.users.len() {
            let user = self.model.users[u].id;
            // The active organization is always one the user can access.
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
            // The switcher lists exactly the user's organizations.
            let mut listed: Vec<(OrganizationId, Role, bool)> = self
                .service
                .organizations(user)
                .await
                .map_err(|e| format!("organizations of user {u}: {e}"))?
                .into_iter()
                .map(|v| (v.organization.id, v.role, v.is_active))
                .collect();
            listed.sort();
            let mut expected: Vec<(OrganizationId, Role, bool)> = (0..self.model.orgs.len())
                .filter_map(|o| {
                    let org = &self.model.orgs[o];
                    org.members
                        .get(&u)
                        .map(|(role, _)| (org.id, role.role(), expected_active == Some(o)))
                })
                .collect();
            expected.sort();
            ensure!(
                listed == expected,
                "user {u}'s switcher lists {listed:?}, the model has {expected:?}"
            );
            // Nobody holds a capability without a membership; members hold
            // exactly their role's capabilities.
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
                    let expected = match self.model.orgs[o].members.get(&u) {
                        None => Err(Denial::NotAMember),
                        Some((role, _)) if role.allows(capability) => Ok(role.role()),
                        Some((role, _)) => Err(Denial::LacksCapability {
                            role: role.role(),
                            capability,
                        }),
                    };
                    let actual = decided.map(|grant| grant.role());
                    ensure!(
                        actual == expected,
                        "user {u} in organization {o} for `{capability}`: decided {actual:?}, the model has {expected:?}"
                    );
                }
            }
        }
        for o in 0..self.model.orgs.len() {
            let org = &self.model.orgs[o];
            let owner = self.model.users[org.owner].id;
            // Each organization has exactly one owner, its creator, and the
            // members of the model.
            let members = self
                .service
                .members(owner, org.id)
                .await
                .map_err(|e| format!("members of organization {o} as its owner: {e}"))?;
            let owners: Vec<UserId> = members
                .iter()
                .filter(|m| m.role == Role::Owner)
                .map(|m| m.user.id)
                .collect();
            ensure!(
                owners == vec![owner],
                "organization {o} has owners {owners:?}, expected exactly {owner:?}"
            );
            let listed: BTreeSet<(UserId, Role)> =
                members.iter().map(|m| (m.user.id, m.role)).collect();
            let expected: BTreeSet<(UserId, Role)> = org
                .members
                .iter()
                .map(|(&u, (role, _))| (self.model.users[u].id, role.role()))
                .collect();
            ensure!(
                listed == expected,
                "organization {o} lists members {listed:?}, the model has {expected:?}"
            );
            // Plan and usage agree; usage never passes a limit that has not
            // been lowered under it.
            let billing = self
                .service
                .billing(owner, org.id)
                .await
                .map_err(|e| format!("billing of organization {o}: {e}"))?;
            let count = |kind| org.resources.get(&kind).copied().unwrap_or(0);
            let usage = [
                billing.usage.agents,
                billing.usage.connections,
                billing.usage.reports,
                billing.usage.chat_messages_this_month,
            ];
            let expected_usage = [
                count(ResourceKind::Agent),
                count(ResourceKind::Connection),
                count(ResourceKind::Report),
                org.messages.get(&Month::of(now)).copied().unwrap_or(0),
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
                view.organization.name.as_str() == org.name,
                "organization {o} is named {}, the model has {}",
                view.organization.name,
                org.name
            );
            // Pending invitations are exactly the model's.
            let pending: BTreeSet<InvitationId> = self
                .service
                .pending_invitations(owner, org.id)
                .await
                .map_err(|e| format!("pending invitations of organization {o}: {e}"))?
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
        }
        // Every invitation's link tells its status; none was used twice.
        for (j, invitation) in self.model.invitations.iter().enumerate() {
            ensure!(
                invitation.accepted_times <= 1,
                "invitation {j} was accepted {} times",
                invitation.accepted_times
            );
            let preview = self
                .service
                .preview_invitation(&invitation.token)
                .await
                .map_err(|e| format!("preview of invitation {j}: {e}"))?;
            ensure!(
                preview.status == invitation.status(now),
                "invitation {j}'s link says {:?}, the model has {:?}",
                preview.status,
                invitation.status(now)
            );
        }
        Ok(())
    }
}
