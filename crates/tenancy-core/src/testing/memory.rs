//! An in-memory repository with serializable transactions, and an in-memory
//! blob store.
//!
//! A transaction reads a snapshot and writes to its own copy; commit installs
//! the copy unless another transaction committed writes since the snapshot was
//! taken, in which case it reports contention and the use case runs again
//! (optimistic concurrency). The uniqueness rules and references of the real
//! schema are checked on every write, so a decision that breaks one fails
//! loudly, and every read is scoped by its organization as the store's
//! queries are.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, PoisonError};

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use futures::io::AsyncReadExt as _;
use zeroize::Zeroizing;

use crate::audit::{AuditEvent, AuditQuery};
use crate::decide::{Change, Write};
use crate::entity::{
    AccountToken, AccountTokenState, Chat, ChatMessage, ChatSubject, CustomRole, Invitation,
    InvitationState, MailContent, Organization, OutgoingMail, OwnershipTransfer, Resource,
    ResourceKind, Session, User,
};
use crate::error::StoreError;
use crate::id::{
    AccountTokenId, ChatId, InvestigationId, InvitationId, MailId, OrganizationId, PinId,
    ReportRunId, ResourceId, SessionId, UserId,
};
use crate::limits::{Judgement, LimitKey, RateLimit, RetryAfter};
use crate::plan::{Month, Usage};
use crate::policy::{Membership, Role, RoleKey};
use crate::ports::{
    BlobKey, BlobReader, BlobStore, Incoming, MailOutbox, QueuedMail, RateLimiter, Repository,
    StagedBlob, Transaction, WorkerId,
};
use crate::resource::{Credentials, Details, Investigation, Pin, ReportRun};
use crate::token::TokenHash;
use crate::value::{EmailAddress, PasswordHash};

#[derive(Debug, Clone)]
struct OutboxEntry {
    mail: OutgoingMail,
    attempts: u32,
    next_attempt_at: DateTime<Utc>,
    sent_at: Option<DateTime<Utc>>,
    /// The worker of the last claim, until the email is sent, failed or
    /// released.
    claimed_by: Option<WorkerId>,
}

/// A resource's row. Deletion is soft, as in the store: the row stays for
/// the chats, runs and investigations that refer to it, and no read sees it.
#[derive(Debug, Clone)]
pub struct StoredResource {
    pub resource: Resource,
    pub deleted_at: Option<DateTime<Utc>>,
}

impl StoredResource {
    /// The resource, if it exists (is not deleted) in `organization`.
    fn live_in(&self, organization: OrganizationId) -> Option<&Resource> {
        (self.deleted_at.is_none() && self.resource.organization_id == organization)
            .then_some(&self.resource)
    }
}

/// A connection's credentials as [`Credentials::to_plaintext`] encodes them;
/// the real store seals these bytes. `Debug` shows their length only, so
/// that a failing test never prints a secret.
#[derive(Clone)]
pub struct StoredCredentials(pub Zeroizing<Vec<u8>>);

impl std::fmt::Debug for StoredCredentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "StoredCredentials({} bytes)", self.0.len())
    }
}

/// A webhook's row: the webhook, its secret, and the previous secret with
/// the instant it stops signing.
#[derive(Debug, Clone)]
pub struct StoredWebhook {
    pub webhook: crate::webhook::Webhook,
    pub secret: crate::webhook::WebhookSecret,
    pub previous: Option<(crate::webhook::WebhookSecret, DateTime<Utc>)>,
}

/// Everything the repository holds.
#[derive(Debug, Clone, Default)]
pub struct State {
    pub users: BTreeMap<UserId, (User, PasswordHash)>,
    pub organizations: BTreeMap<OrganizationId, Organization>,
    /// A membership's role is read through [`State::resolve`]: a custom
    /// role's definition is the one in `roles`.
    pub memberships: BTreeMap<(OrganizationId, UserId), Membership>,
    pub invitations: BTreeMap<InvitationId, Invitation>,
    pub roles: BTreeMap<(OrganizationId, RoleKey), CustomRole>,
    pub active: BTreeMap<UserId, OrganizationId>,
    /// The organization made at each user's sign-up.
    pub defaults: BTreeMap<UserId, OrganizationId>,
    pub resources: BTreeMap<ResourceId, StoredResource>,
    /// Keyed by organization and connection: the pair the store binds the
    /// ciphertext to.
    pub credentials: BTreeMap<(OrganizationId, ResourceId), StoredCredentials>,
    pub report_runs: BTreeMap<ReportRunId, ReportRun>,
    pub pins: BTreeMap<PinId, Pin>,
    pub investigations: BTreeMap<InvestigationId, Investigation>,
    pub chats: BTreeMap<ChatId, Chat>,
    pub messages: Vec<ChatMessage>,
    pub sessions: BTreeMap<TokenHash, Session>,
    pub account_tokens: BTreeMap<AccountTokenId, AccountToken>,
    /// The one stored ownership transfer of an organization, if any.
    pub transfers: BTreeMap<OrganizationId, OwnershipTransfer>,
    /// The hashes of invitation tokens a resend replaced, with their
    /// invitation's organization (R30).
    pub superseded_invitation_tokens: BTreeMap<TokenHash, OrganizationId>,
    /// Each organization's audit log, oldest first.
    pub audit: BTreeMap<OrganizationId, Vec<AuditEvent>>,
    /// Webhooks, with their secret and the previous one while it still
    /// signs.
    pub webhooks: BTreeMap<crate::id::WebhookId, StoredWebhook>,
    /// Deliveries of events to webhooks, with their bodies.
    pub deliveries: BTreeMap<crate::id::DeliveryId, (crate::webhook::Delivery, String)>,
    outbox: BTreeMap<MailId, OutboxEntry>,
}

impl State {
    /// Removes everything of an organization.
    fn purge(&mut self, organization: OrganizationId) {
        self.organizations.remove(&organization);
        self.memberships.retain(|(org, _), _| *org != organization);
        let invitations: Vec<InvitationId> = self
            .invitations
            .values()
            .filter(|i| i.organization_id == organization)
            .map(|i| i.id)
            .collect();
        self.invitations
            .retain(|_, i| i.organization_id != organization);
        self.superseded_invitation_tokens
            .retain(|_, org| *org != organization);
        self.roles.retain(|(org, _), _| *org != organization);
        self.audit.remove(&organization);
        self.webhooks
            .retain(|_, w| w.webhook.organization_id != organization);
        self.deliveries
            .retain(|_, (d, _)| d.organization_id != organization);
        self.active.retain(|_, org| *org != organization);
        self.defaults.retain(|_, org| *org != organization);
        self.resources
            .retain(|_, r| r.resource.organization_id != organization);
        self.credentials.retain(|(org, _), _| *org != organization);
        self.report_runs
            .retain(|_, r| r.organization_id != organization);
        self.pins.retain(|_, p| p.organization_id != organization);
        self.investigations
            .retain(|_, i| i.organization_id != organization);
        self.chats.retain(|_, c| c.organization_id != organization);
        self.messages.retain(|m| m.organization_id != organization);
        self.transfers.remove(&organization);
        self.outbox.retain(|_, entry| match &entry.mail.content {
            MailContent::Invitation { invitation_id, .. } => !invitations.contains(invitation_id),
            MailContent::OwnershipTransfer {
                organization_id, ..
            } => *organization_id != organization,
            MailContent::VerifyEmail { .. } | MailContent::ResetPassword { .. } => true,
        });
    }

    /// A role as it is defined now: a built-in one, the organization's
    /// custom role of that key, or, if that role is gone, the retired role
    /// that a dead invitation keeps as history.
    fn resolve(&self, organization: OrganizationId, role: &Role) -> Role {
        if role.is_builtin() || role.is_retired() {
            return role.clone();
        }
        self.roles
            .get(&(organization, role.key().clone()))
            .map_or_else(|| Role::retired(role.key().clone()), |c| c.role.clone())
    }

    fn membership_now(&self, membership: &Membership) -> Membership {
        Membership {
            role: self.resolve(membership.organization_id, &membership.role),
            ..membership.clone()
        }
    }

    fn invitation_now(&self, invitation: &Invitation) -> Invitation {
        Invitation {
            role: self.resolve(invitation.organization_id, &invitation.role),
            ..invitation.clone()
        }
    }

    /// Whether a member or an invitation stored as pending holds the role.
    fn role_held(&self, organization: OrganizationId, key: &RoleKey) -> bool {
        self.memberships
            .values()
            .any(|m| m.organization_id == organization && m.role.key() == key)
            || self.invitations.values().any(|i| {
                i.organization_id == organization
                    && i.role.key() == key
                    && matches!(i.state, InvitationState::Pending)
            })
    }

    /// Whether the organization has the role (the foreign key of the store).
    fn has_role(&self, organization: OrganizationId, role: &RoleKey) -> bool {
        role.is_builtin() || self.roles.contains_key(&(organization, role.clone()))
    }

    /// A resource that exists in `organization`, of any kind.
    fn live(&self, organization: OrganizationId, id: ResourceId) -> Option<&Resource> {
        self.resources
            .get(&id)
            .and_then(|stored| stored.live_in(organization))
    }

    /// Like [`State::live`], and of `kind`: what a reference to a resource
    /// of that kind must find.
    fn live_of(
        &self,
        organization: OrganizationId,
        id: ResourceId,
        kind: ResourceKind,
    ) -> Option<&Resource> {
        self.live(organization, id).filter(|r| r.kind() == kind)
    }
}

#[derive(Debug, Default)]
struct Shared {
    state: Arc<State>,
    version: u64,
}

/// The rate limits' counts in memory, for tests of the HTTP layer over
/// [`MemoryRepository`]: the hits of each key as their expiries, judged by
/// [`crate::limits::judge`] under one lock, as the stores judge them in one
/// transaction.
#[derive(Debug, Clone, Default)]
pub struct MemoryRateLimiter(Arc<Mutex<HashMap<LimitKey, Vec<DateTime<Utc>>>>>);

#[async_trait]
impl RateLimiter for MemoryRateLimiter {
    async fn hit(
        &self,
        key: &LimitKey,
        limit: RateLimit,
        now: DateTime<Utc>,
    ) -> Result<Result<(), RetryAfter>, StoreError> {
        let mut hits = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        let expiries = hits.entry(key.clone()).or_default();
        expiries.retain(|&expiry| expiry > now);
        Ok(match crate::limits::judge(limit, expiries, now) {
            Judgement::Allowed { expires_at } => {
                expiries.push(expires_at);
                Ok(())
            }
            Judgement::Refused(retry) => Err(retry),
        })
    }

    async fn clear(&self, key: &LimitKey) -> Result<(), StoreError> {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(key);
        Ok(())
    }
}

/// The repository; clones share the data.
#[derive(Debug, Clone, Default)]
pub struct MemoryRepository(Arc<Mutex<Shared>>);

impl MemoryRepository {
    /// An empty repository.
    pub fn new() -> Self {
        Self::default()
    }

    /// A copy of everything committed so far.
    pub fn snapshot(&self) -> Arc<State> {
        Arc::clone(&self.lock().state)
    }

    /// Every email ever queued, oldest first, sent or not.
    pub fn mails(&self) -> Vec<OutgoingMail> {
        let state = self.snapshot();
        let mut mails: Vec<OutgoingMail> = state.outbox.values().map(|e| e.mail.clone()).collect();
        mails.sort_by_key(|mail| (mail.created_at, mail.id));
        mails
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Shared> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

#[async_trait]
impl Repository for MemoryRepository {
    async fn read(&self) -> Result<Box<dyn Transaction>, StoreError> {
        // A snapshot is as good as fresh reads here: nothing is written through it.
        self.begin().await
    }

    async fn begin(&self) -> Result<Box<dyn Transaction>, StoreError> {
        let shared = self.lock();
        Ok(Box::new(MemoryTransaction {
            repository: self.clone(),
            state: Arc::clone(&shared.state),
            base_version: shared.version,
            dirty: false,
        }))
    }
}

struct MemoryTransaction {
    repository: MemoryRepository,
    state: Arc<State>,
    base_version: u64,
    dirty: bool,
}

fn violation(what: &str) -> StoreError {
    StoreError::other(format!("constraint violated: {what}"))
}

/// An agent uses only existing connections of its own organization.
fn check_agent_connections(state: &State, resource: &Resource) -> Result<(), StoreError> {
    let dangling = resource.connection_ids().iter().any(|id| {
        state
            .live_of(resource.organization_id, *id, ResourceKind::Connection)
            .is_none()
    });
    if dangling {
        return Err(violation(
            "an agent's connections exist in its organization",
        ));
    }
    Ok(())
}

impl MemoryTransaction {
    fn write(&mut self) -> &mut State {
        self.dirty = true;
        Arc::make_mut(&mut self.state)
    }
}

#[async_trait]
impl Transaction for MemoryTransaction {
    async fn lock_organization(&mut self, _id: OrganizationId) -> Result<(), StoreError> {
        // Optimistic concurrency serializes at commit; there is nothing to lock.
        Ok(())
    }

    async fn user(&mut self, id: UserId) -> Result<Option<User>, StoreError> {
        Ok(self.state.users.get(&id).map(|(user, _)| user.clone()))
    }

    async fn user_by_email(&mut self, email: &EmailAddress) -> Result<Option<User>, StoreError> {
        Ok(self
            .state
            .users
            .values()
            .find(|(user, _)| &user.email == email)
            .map(|(user, _)| user.clone()))
    }

    async fn credentials(
        &mut self,
        email: &EmailAddress,
    ) -> Result<Option<(User, PasswordHash)>, StoreError> {
        Ok(self
            .state
            .users
            .values()
            .find(|(user, _)| &user.email == email)
            .cloned())
    }

    async fn session(&mut self, token_hash: &TokenHash) -> Result<Option<Session>, StoreError> {
        Ok(self.state.sessions.get(token_hash).cloned())
    }

    async fn lock_user(&mut self, _id: UserId) -> Result<(), StoreError> {
        // As for organizations: serialized at commit.
        Ok(())
    }

    async fn session_by_id(&mut self, id: SessionId) -> Result<Option<Session>, StoreError> {
        Ok(self.state.sessions.values().find(|s| s.id == id).cloned())
    }

    async fn sessions_of(&mut self, user: UserId) -> Result<Vec<Session>, StoreError> {
        let mut sessions: Vec<Session> = self
            .state
            .sessions
            .values()
            .filter(|s| s.user_id == user)
            .cloned()
            .collect();
        sessions.sort_by_key(|s| std::cmp::Reverse((s.created_at, s.id)));
        Ok(sessions)
    }

    async fn account_token(
        &mut self,
        token_hash: &TokenHash,
    ) -> Result<Option<AccountToken>, StoreError> {
        Ok(self
            .state
            .account_tokens
            .values()
            .find(|t| &t.token_hash == token_hash)
            .cloned())
    }

    async fn organization(
        &mut self,
        id: OrganizationId,
    ) -> Result<Option<Organization>, StoreError> {
        Ok(self.state.organizations.get(&id).cloned())
    }

    async fn membership(
        &mut self,
        organization: OrganizationId,
        user: UserId,
    ) -> Result<Option<Membership>, StoreError> {
        Ok(self
            .state
            .memberships
            .get(&(organization, user))
            .map(|m| self.state.membership_now(m)))
    }

    async fn memberships_of_user(
        &mut self,
        user: UserId,
    ) -> Result<Vec<(Membership, Organization)>, StoreError> {
        Ok(self
            .state
            .memberships
            .values()
            .filter(|m| m.user_id == user)
            .filter_map(|m| {
                let organization = self.state.organizations.get(&m.organization_id)?;
                Some((self.state.membership_now(m), organization.clone()))
            })
            .collect())
    }

    async fn members(
        &mut self,
        organization: OrganizationId,
    ) -> Result<Vec<(Membership, User)>, StoreError> {
        let mut members: Vec<(Membership, User)> = self
            .state
            .memberships
            .range((organization, UserId::from_uuid(uuid::Uuid::nil()))..)
            .take_while(|((org, _), _)| *org == organization)
            .filter_map(|(_, m)| {
                let (user, _) = self.state.users.get(&m.user_id)?;
                Some((self.state.membership_now(m), user.clone()))
            })
            .collect();
        members.sort_by_key(|(m, _)| (m.joined_at, m.user_id));
        Ok(members)
    }

    async fn invitation(
        &mut self,
        organization: OrganizationId,
        id: InvitationId,
    ) -> Result<Option<Invitation>, StoreError> {
        Ok(self
            .state
            .invitations
            .get(&id)
            .filter(|i| i.organization_id == organization)
            .map(|i| self.state.invitation_now(i)))
    }

    async fn invitation_by_token(
        &mut self,
        hash: &TokenHash,
    ) -> Result<Option<Invitation>, StoreError> {
        Ok(self
            .state
            .invitations
            .values()
            .find(|i| &i.token_hash == hash)
            .map(|i| self.state.invitation_now(i)))
    }

    async fn open_invitation(
        &mut self,
        organization: OrganizationId,
        email: &EmailAddress,
    ) -> Result<Option<Invitation>, StoreError> {
        Ok(self
            .state
            .invitations
            .values()
            .find(|i| i.organization_id == organization && &i.email == email && i.is_open())
            .map(|i| self.state.invitation_now(i)))
    }

    async fn invitation_token_superseded(&mut self, hash: &TokenHash) -> Result<bool, StoreError> {
        Ok(self.state.superseded_invitation_tokens.contains_key(hash))
    }

    async fn invitations(
        &mut self,
        organization: OrganizationId,
    ) -> Result<Vec<Invitation>, StoreError> {
        let mut all: Vec<Invitation> = self
            .state
            .invitations
            .values()
            .filter(|i| i.organization_id == organization)
            .map(|i| self.state.invitation_now(i))
            .collect();
        all.sort_by_key(|i| std::cmp::Reverse((i.created_at, i.id)));
        Ok(all)
    }

    async fn audit_events(
        &mut self,
        organization: OrganizationId,
        query: &AuditQuery,
    ) -> Result<Vec<AuditEvent>, StoreError> {
        Ok(self
            .state
            .audit
            .get(&organization)
            .into_iter()
            .flatten()
            .rev()
            .filter(|event| query.admits(event))
            .take(query.limit)
            .cloned()
            .collect())
    }

    async fn webhooks(
        &mut self,
        organization: OrganizationId,
    ) -> Result<Vec<crate::webhook::Webhook>, StoreError> {
        let mut found: Vec<crate::webhook::Webhook> = self
            .state
            .webhooks
            .values()
            .filter(|w| w.webhook.organization_id == organization)
            .map(|w| w.webhook.clone())
            .collect();
        found.sort_by_key(|w| (w.created_at, w.id));
        Ok(found)
    }

    async fn webhook(
        &mut self,
        organization: OrganizationId,
        id: crate::id::WebhookId,
    ) -> Result<Option<crate::webhook::Webhook>, StoreError> {
        Ok(self
            .state
            .webhooks
            .get(&id)
            .filter(|w| w.webhook.organization_id == organization)
            .map(|w| w.webhook.clone()))
    }

    async fn deliveries(
        &mut self,
        organization: OrganizationId,
        webhook: crate::id::WebhookId,
        before: Option<crate::id::DeliveryId>,
        limit: usize,
    ) -> Result<Vec<crate::webhook::Delivery>, StoreError> {
        let mut found: Vec<crate::webhook::Delivery> = self
            .state
            .deliveries
            .values()
            .map(|(d, _)| d)
            .filter(|d| d.organization_id == organization && d.webhook_id == webhook)
            .cloned()
            .collect();
        found.sort_by_key(|d| std::cmp::Reverse((d.created_at, d.id)));
        let start = match before {
            Some(cursor) => match found.iter().position(|d| d.id == cursor) {
                Some(at) => at + 1,
                None => {
                    let key = self
                        .state
                        .deliveries
                        .get(&cursor)
                        .map(|(d, _)| (d.created_at, d.id));
                    found
                        .iter()
                        .position(|d| key.is_some_and(|key| (d.created_at, d.id) < key))
                        .unwrap_or(found.len())
                }
            },
            None => 0,
        };
        Ok(found.into_iter().skip(start).take(limit).collect())
    }

    async fn delivery(
        &mut self,
        organization: OrganizationId,
        webhook: crate::id::WebhookId,
        id: crate::id::DeliveryId,
    ) -> Result<Option<crate::webhook::Delivery>, StoreError> {
        Ok(self
            .state
            .deliveries
            .get(&id)
            .map(|(d, _)| d)
            .filter(|d| d.organization_id == organization && d.webhook_id == webhook)
            .cloned())
    }

    async fn audit_events_after(
        &mut self,
        organization: OrganizationId,
        after: u64,
        limit: usize,
    ) -> Result<Vec<AuditEvent>, StoreError> {
        Ok(self
            .state
            .audit
            .get(&organization)
            .into_iter()
            .flatten()
            .filter(|event| event.seq > after)
            .take(limit)
            .cloned()
            .collect())
    }

    async fn default_organization(
        &mut self,
        user: UserId,
    ) -> Result<Option<OrganizationId>, StoreError> {
        Ok(self.state.defaults.get(&user).copied())
    }

    async fn ownership_transfer(
        &mut self,
        organization: OrganizationId,
    ) -> Result<Option<OwnershipTransfer>, StoreError> {
        Ok(self.state.transfers.get(&organization).cloned())
    }

    async fn due_purges(
        &mut self,
        now: DateTime<Utc>,
        limit: usize,
    ) -> Result<Vec<OrganizationId>, StoreError> {
        let mut due: Vec<(DateTime<Utc>, OrganizationId)> = self
            .state
            .organizations
            .values()
            .filter_map(|o| o.deletion.map(|d| (d.purge_after, o.id)))
            .filter(|(purge_after, _)| *purge_after <= now)
            .collect();
        due.sort();
        Ok(due.into_iter().take(limit).map(|(_, id)| id).collect())
    }

    async fn open_invitations(
        &mut self,
        organization: OrganizationId,
    ) -> Result<Vec<Invitation>, StoreError> {
        let mut open: Vec<Invitation> = self
            .state
            .invitations
            .values()
            .filter(|i| i.organization_id == organization && i.is_open())
            .map(|i| self.state.invitation_now(i))
            .collect();
        open.sort_by_key(|i| (i.created_at, i.id));
        Ok(open)
    }

    async fn custom_role(
        &mut self,
        organization: OrganizationId,
        key: &RoleKey,
    ) -> Result<Option<CustomRole>, StoreError> {
        Ok(self.state.roles.get(&(organization, key.clone())).cloned())
    }

    async fn custom_roles(
        &mut self,
        organization: OrganizationId,
    ) -> Result<Vec<CustomRole>, StoreError> {
        let mut roles: Vec<CustomRole> = self
            .state
            .roles
            .values()
            .filter(|r| r.organization_id == organization)
            .cloned()
            .collect();
        roles.sort_by(|a, b| (a.created_at, a.role.key()).cmp(&(b.created_at, b.role.key())));
        Ok(roles)
    }

    async fn role_in_use(
        &mut self,
        organization: OrganizationId,
        key: &RoleKey,
    ) -> Result<bool, StoreError> {
        Ok(self.state.role_held(organization, key))
    }

    async fn active_organization(
        &mut self,
        user: UserId,
    ) -> Result<Option<OrganizationId>, StoreError> {
        Ok(self.state.active.get(&user).copied())
    }

    async fn usage(
        &mut self,
        organization: OrganizationId,
        month: Month,
    ) -> Result<Usage, StoreError> {
        let count = |kind: ResourceKind| {
            self.state
                .resources
                .values()
                .filter_map(|stored| stored.live_in(organization))
                .filter(|r| r.kind() == kind)
                .count() as u64
        };
        let storage_bytes = self
            .state
            .resources
            .values()
            .filter_map(|stored| stored.live_in(organization))
            .map(|r| match &r.details {
                Details::KnowledgeFile(file) => file.size_bytes,
                _ => 0,
            })
            .fold(0_u64, u64::saturating_add);
        Ok(Usage {
            agents: count(ResourceKind::Agent),
            connections: count(ResourceKind::Connection),
            reports: count(ResourceKind::Report),
            knowledge_files: count(ResourceKind::KnowledgeFile),
            storage_bytes,
            chat_messages_this_month: self
                .state
                .messages
                .iter()
                .filter(|m| m.organization_id == organization && Month::of(m.created_at) == month)
                .count() as u64,
        })
    }

    async fn resource(
        &mut self,
        organization: OrganizationId,
        id: ResourceId,
    ) -> Result<Option<Resource>, StoreError> {
        Ok(self.state.live(organization, id).cloned())
    }

    async fn resources(
        &mut self,
        organization: OrganizationId,
        kind: ResourceKind,
    ) -> Result<Vec<Resource>, StoreError> {
        let mut found: Vec<Resource> = self
            .state
            .resources
            .values()
            .filter_map(|stored| stored.live_in(organization))
            .filter(|r| r.kind() == kind)
            .cloned()
            .collect();
        found.sort_by_key(|r| (r.created_at, r.id));
        Ok(found)
    }

    async fn connection_credentials(
        &mut self,
        organization: OrganizationId,
        connection: ResourceId,
    ) -> Result<Option<Credentials>, StoreError> {
        self.state
            .credentials
            .get(&(organization, connection))
            .map(|stored| Credentials::from_plaintext(&stored.0).map_err(StoreError::other))
            .transpose()
    }

    async fn report_run(
        &mut self,
        organization: OrganizationId,
        id: ReportRunId,
    ) -> Result<Option<ReportRun>, StoreError> {
        Ok(self
            .state
            .report_runs
            .get(&id)
            .filter(|run| run.organization_id == organization)
            .cloned())
    }

    async fn report_runs(
        &mut self,
        organization: OrganizationId,
        report: ResourceId,
    ) -> Result<Vec<ReportRun>, StoreError> {
        let mut runs: Vec<ReportRun> = self
            .state
            .report_runs
            .values()
            .filter(|run| run.organization_id == organization && run.report_id == report)
            .cloned()
            .collect();
        runs.sort_by_key(|run| (run.created_at, run.id));
        Ok(runs)
    }

    async fn pins(
        &mut self,
        organization: OrganizationId,
        user: UserId,
    ) -> Result<Vec<Pin>, StoreError> {
        let mut pins: Vec<Pin> = self
            .state
            .pins
            .values()
            .filter(|pin| pin.organization_id == organization && pin.user_id == user)
            .cloned()
            .collect();
        pins.sort_by_key(|pin| (pin.created_at, pin.id));
        Ok(pins)
    }

    async fn chats(
        &mut self,
        organization: OrganizationId,
        user: UserId,
    ) -> Result<Vec<Chat>, StoreError> {
        let mut chats: Vec<Chat> = self
            .state
            .chats
            .values()
            .filter(|chat| chat.organization_id == organization && chat.created_by == user)
            .cloned()
            .collect();
        chats.sort_by_key(|chat| (chat.created_at, chat.id));
        Ok(chats)
    }

    async fn chat_messages(
        &mut self,
        organization: OrganizationId,
        chat: ChatId,
    ) -> Result<Vec<ChatMessage>, StoreError> {
        let mut messages: Vec<ChatMessage> = self
            .state
            .messages
            .iter()
            .filter(|m| m.organization_id == organization && m.chat_id == chat)
            .cloned()
            .collect();
        messages.sort_by_key(|m| (m.created_at, m.id));
        Ok(messages)
    }

    async fn investigations(
        &mut self,
        organization: OrganizationId,
        user: UserId,
    ) -> Result<Vec<Investigation>, StoreError> {
        let mut found: Vec<Investigation> = self
            .state
            .investigations
            .values()
            .filter(|i| i.organization_id == organization && i.created_by == user)
            .cloned()
            .collect();
        found.sort_by_key(|i| (i.created_at, i.id));
        Ok(found)
    }

    async fn chat(
        &mut self,
        organization: OrganizationId,
        id: ChatId,
    ) -> Result<Option<Chat>, StoreError> {
        Ok(self
            .state
            .chats
            .get(&id)
            .filter(|c| c.organization_id == organization)
            .cloned())
    }

    async fn apply(&mut self, write: &Write) -> Result<(), StoreError> {
        let state = self.write();
        match write.change().clone() {
            Change::InsertUser {
                user,
                password_hash,
            } => {
                if state.users.values().any(|(u, _)| u.email == user.email) {
                    return Err(violation("unique user email"));
                }
                state.users.insert(user.id, (user, password_hash));
            }
            Change::InsertOrganization(organization) => {
                if !state.users.contains_key(&organization.owner_id) {
                    return Err(violation("organization owner exists"));
                }
                state.organizations.insert(organization.id, organization);
            }
            Change::InsertMembership(membership) => {
                let key = (membership.organization_id, membership.user_id);
                if state.memberships.contains_key(&key) {
                    return Err(violation("unique membership"));
                }
                if membership.role.is_owner()
                    && state
                        .memberships
                        .values()
                        .any(|m| m.organization_id == key.0 && m.role.is_owner())
                {
                    return Err(violation("one owner per organization"));
                }
                if !state.has_role(key.0, membership.role.key()) {
                    return Err(violation("membership role exists"));
                }
                state.memberships.insert(key, membership);
            }
            Change::SetMemberRole {
                organization_id,
                user_id,
                role,
            } => {
                if role == RoleKey::OWNER {
                    return Err(violation("one owner per organization"));
                }
                let definition = match Role::builtin(role.as_str()) {
                    Some(builtin) => builtin,
                    None => state
                        .roles
                        .get(&(organization_id, role.clone()))
                        .map(|c| c.role.clone())
                        .ok_or_else(|| violation("membership role exists"))?,
                };
                let membership = state
                    .memberships
                    .get_mut(&(organization_id, user_id))
                    .ok_or_else(|| violation("member of the role change exists"))?;
                if membership.role.is_owner() {
                    return Err(violation("one owner per organization"));
                }
                membership.role = definition;
            }
            Change::InsertRole(custom) => {
                let key = (custom.organization_id, custom.role.key().clone());
                if !state.organizations.contains_key(&key.0) {
                    return Err(violation("role's organization exists"));
                }
                if custom.role.is_builtin() || state.roles.contains_key(&key) {
                    return Err(violation("unique role key"));
                }
                state.roles.insert(key, custom);
            }
            Change::UpdateRole(custom) => {
                let key = (custom.organization_id, custom.role.key().clone());
                let stored = state
                    .roles
                    .get_mut(&key)
                    .ok_or_else(|| violation("updated role exists"))?;
                *stored = custom;
            }
            Change::ReassignRole {
                organization_id,
                from,
                to,
            } => {
                let to = match Role::builtin(to.as_str()) {
                    Some(builtin) if !builtin.is_owner() => builtin,
                    Some(_) => return Err(violation("one owner per organization")),
                    None => state
                        .roles
                        .get(&(organization_id, to.clone()))
                        .map(|c| c.role.clone())
                        .ok_or_else(|| violation("reassigned role exists"))?,
                };
                for membership in state.memberships.values_mut() {
                    if membership.organization_id == organization_id
                        && *membership.role.key() == from
                    {
                        membership.role = to.clone();
                    }
                }
                for invitation in state.invitations.values_mut() {
                    if invitation.organization_id == organization_id
                        && *invitation.role.key() == from
                        && matches!(invitation.state, InvitationState::Pending)
                    {
                        invitation.role = to.clone();
                    }
                }
            }
            Change::DeleteRole {
                organization_id,
                key,
            } => {
                if state.role_held(organization_id, &key) {
                    return Err(violation("a held role is not deleted"));
                }
                // Dead invitations keep the key as history, never a later
                // role of the same key.
                for invitation in state.invitations.values_mut() {
                    if invitation.organization_id == organization_id
                        && *invitation.role.key() == key
                    {
                        invitation.role = Role::retired(key.clone());
                    }
                }
                state
                    .roles
                    .remove(&(organization_id, key))
                    .ok_or_else(|| violation("deleted role exists"))?;
            }
            Change::DeleteMembership {
                organization_id,
                user_id,
            } => {
                state.memberships.remove(&(organization_id, user_id));
            }
            Change::RenameOrganization {
                organization_id,
                name,
            } => {
                let organization = state
                    .organizations
                    .get_mut(&organization_id)
                    .ok_or_else(|| violation("renamed organization exists"))?;
                organization.name = name;
            }
            Change::ChangePlan {
                organization_id,
                plan,
            } => {
                let organization = state
                    .organizations
                    .get_mut(&organization_id)
                    .ok_or_else(|| violation("organization of plan exists"))?;
                organization.plan = plan;
            }
            Change::InsertInvitation(invitation) => {
                if state.invitations.values().any(|i| {
                    i.organization_id == invitation.organization_id
                        && i.email == invitation.email
                        && i.is_open()
                }) {
                    return Err(violation("one open invitation per organization and email"));
                }
                if state
                    .invitations
                    .values()
                    .any(|i| i.token_hash == invitation.token_hash)
                {
                    return Err(violation("unique invitation token hash"));
                }
                if invitation.role.is_owner() {
                    return Err(violation("an invitation never grants owner"));
                }
                if !state.has_role(invitation.organization_id, invitation.role.key()) {
                    return Err(violation("invitation role exists"));
                }
                state.invitations.insert(invitation.id, invitation);
            }
            Change::SetInvitationState {
                organization_id,
                invitation_id,
                state: new_state,
            } => {
                let invitation = state
                    .invitations
                    .get_mut(&invitation_id)
                    .filter(|i| i.organization_id == organization_id)
                    .ok_or_else(|| violation("invitation exists in its organization"))?;
                if !matches!(invitation.state, InvitationState::Pending) {
                    return Err(violation("only an open invitation changes state"));
                }
                invitation.state = new_state;
            }
            Change::SetActiveOrganization {
                user_id,
                organization_id,
            } => {
                state.active.insert(user_id, organization_id);
            }
            Change::SetDefaultOrganization {
                user_id,
                organization_id,
            } => {
                if !state.organizations.contains_key(&organization_id) {
                    return Err(violation("the default organization exists"));
                }
                state.defaults.insert(user_id, organization_id);
            }
            Change::ResendInvitation {
                organization_id,
                invitation_id,
                token_hash,
                expires_at,
            } => {
                if state
                    .invitations
                    .values()
                    .any(|i| i.token_hash == token_hash)
                {
                    return Err(violation("unique invitation token hash"));
                }
                let invitation = state
                    .invitations
                    .get(&invitation_id)
                    .filter(|i| i.organization_id == organization_id)
                    .ok_or_else(|| violation("resent invitation exists in its organization"))?;
                if matches!(
                    invitation.state,
                    InvitationState::Accepted { .. } | InvitationState::Revoked { .. }
                ) {
                    return Err(violation("only an open or expired invitation is resent"));
                }
                if !state.has_role(organization_id, invitation.role.key()) {
                    return Err(violation("resent invitation role exists"));
                }
                if state.invitations.values().any(|i| {
                    i.id != invitation_id
                        && i.organization_id == organization_id
                        && i.email == invitation.email
                        && i.is_open()
                }) {
                    return Err(violation("one open invitation per organization and email"));
                }
                let previous = invitation.token_hash;
                state
                    .superseded_invitation_tokens
                    .insert(previous, organization_id);
                if let Some(invitation) = state.invitations.get_mut(&invitation_id) {
                    invitation.token_hash = token_hash;
                    invitation.expires_at = expires_at;
                    invitation.state = InvitationState::Pending;
                }
            }
            Change::InsertTransfer(transfer) => {
                let target = state
                    .memberships
                    .get(&(transfer.organization_id, transfer.to_user_id))
                    .ok_or_else(|| violation("a transfer's target is a member"))?;
                if target.role.is_owner() {
                    return Err(violation("a transfer's target is not the owner"));
                }
                if state.transfers.contains_key(&transfer.organization_id) {
                    return Err(violation("one transfer per organization"));
                }
                state.transfers.insert(transfer.organization_id, transfer);
            }
            Change::DeleteTransfer {
                organization_id,
                id,
            } => {
                if state.transfers.get(&organization_id).map(|t| t.id) == Some(id) {
                    state.transfers.remove(&organization_id);
                }
            }
            Change::TransferOwnership {
                organization_id,
                from,
                to,
            } => {
                let owner = state
                    .organizations
                    .get(&organization_id)
                    .map(|o| o.owner_id)
                    .ok_or_else(|| violation("transferred organization exists"))?;
                if owner != from || from == to {
                    return Err(violation("the ownership goes from its owner to another"));
                }
                if !state.memberships.contains_key(&(organization_id, to)) {
                    return Err(violation("the new owner is a member"));
                }
                if let Some(m) = state.memberships.get_mut(&(organization_id, from)) {
                    m.role = crate::decide::PREVIOUS_OWNER_ROLE;
                }
                if let Some(m) = state.memberships.get_mut(&(organization_id, to)) {
                    m.role = Role::OWNER;
                }
                if let Some(o) = state.organizations.get_mut(&organization_id) {
                    o.owner_id = to;
                }
            }
            Change::ScheduleDeletion {
                organization_id,
                deletion,
            } => {
                let organization = state
                    .organizations
                    .get_mut(&organization_id)
                    .ok_or_else(|| violation("deleted organization exists"))?;
                organization.deletion = Some(deletion);
            }
            Change::RestoreOrganization { organization_id } => {
                let organization = state
                    .organizations
                    .get_mut(&organization_id)
                    .ok_or_else(|| violation("restored organization exists"))?;
                organization.deletion = None;
            }
            Change::PurgeOrganization { organization_id } => {
                state.purge(organization_id);
            }
            Change::Audit(entry) => {
                let stamp = write
                    .stamp()
                    .ok_or_else(|| violation("an audit entry is stamped"))?;
                if !state.organizations.contains_key(&entry.organization_id) {
                    return Err(violation("audit event's organization exists"));
                }
                let email_of = |user: Option<UserId>| {
                    user.and_then(|id| state.users.get(&id))
                        .map(|(user, _)| user.email.as_str().to_owned())
                };
                let resolved = crate::audit::Resolved {
                    actor_email: email_of(entry.actor.user()),
                    target_email: match entry.target.label {
                        crate::audit::Label::EmailOf(id) => email_of(Some(id)),
                        crate::audit::Label::Text(_) => None,
                    },
                };
                let log = state.audit.entry(entry.organization_id).or_default();
                let (seq, prev) = log
                    .last()
                    .map_or((1, crate::audit::GENESIS.to_owned()), |last| {
                        (last.seq + 1, last.hash.clone())
                    });
                let event = AuditEvent::seal(&entry, stamp, resolved, seq, &prev);
                let body = crate::webhook::payload(&event).to_string();
                let subscribed: Vec<crate::id::WebhookId> = state
                    .webhooks
                    .values()
                    .filter(|w| {
                        w.webhook.organization_id == event.organization_id
                            && w.webhook.enabled
                            && w.webhook.events.matches(event.action)
                    })
                    .map(|w| w.webhook.id)
                    .collect();
                for (n, webhook_id) in subscribed.into_iter().enumerate() {
                    let id = crate::webhook::delivery_id(event.id, n);
                    let delivery = crate::webhook::Delivery::queued(id, webhook_id, &event);
                    state.deliveries.insert(id, (delivery, body.clone()));
                }
                log.push(event);
            }
            Change::InsertWebhook { webhook, secret } => {
                if !state.organizations.contains_key(&webhook.organization_id) {
                    return Err(violation("webhook's organization exists"));
                }
                if state.webhooks.contains_key(&webhook.id) {
                    return Err(violation("unique webhook id"));
                }
                state.webhooks.insert(
                    webhook.id,
                    StoredWebhook {
                        webhook,
                        secret,
                        previous: None,
                    },
                );
            }
            Change::UpdateWebhook(webhook) => match state.webhooks.get_mut(&webhook.id) {
                Some(stored) if stored.webhook.organization_id == webhook.organization_id => {
                    stored.webhook = webhook;
                }
                _ => return Err(StoreError::contention("updated webhook exists")),
            },
            Change::DeleteWebhook {
                organization_id,
                id,
            } => {
                match state.webhooks.get(&id) {
                    Some(stored) if stored.webhook.organization_id == organization_id => {}
                    _ => return Err(StoreError::contention("deleted webhook exists")),
                }
                state.webhooks.remove(&id);
                state.deliveries.retain(|_, (d, _)| d.webhook_id != id);
            }
            Change::RotateWebhookSecret {
                organization_id,
                id,
                secret,
                previous_until,
                at,
            } => match state.webhooks.get_mut(&id) {
                Some(stored) if stored.webhook.organization_id == organization_id => {
                    let old = std::mem::replace(&mut stored.secret, secret);
                    stored.previous = Some((old, previous_until));
                    stored.webhook.updated_at = at;
                }
                _ => return Err(StoreError::contention("rotated webhook exists")),
            },
            Change::EnqueueTestDelivery(delivery) => {
                if !state.webhooks.contains_key(&delivery.webhook_id) {
                    return Err(violation("test delivery's webhook exists"));
                }
                let body = crate::webhook::test_payload(&delivery).to_string();
                state.deliveries.insert(delivery.id, (delivery, body));
            }
            Change::RetryDelivery {
                organization_id,
                id,
                at,
            } => match state.deliveries.get_mut(&id) {
                Some((delivery, _)) if delivery.organization_id == organization_id => {
                    delivery.status = crate::webhook::DeliveryStatus::Pending;
                    delivery.retry_base = delivery.attempts;
                    delivery.next_attempt_at = Some(at);
                }
                _ => return Err(StoreError::contention("retried delivery exists")),
            },
            Change::InsertResource(resource) => {
                if state.resources.contains_key(&resource.id) {
                    return Err(violation("unique resource id"));
                }
                if !state.organizations.contains_key(&resource.organization_id) {
                    return Err(violation("resource's organization exists"));
                }
                check_agent_connections(state, &resource)?;
                state.resources.insert(
                    resource.id,
                    StoredResource {
                        resource,
                        deleted_at: None,
                    },
                );
            }
            Change::UpdateResource(resource) => {
                let kind = resource.kind();
                if state
                    .live_of(resource.organization_id, resource.id, kind)
                    .is_none()
                {
                    return Err(violation(
                        "updated resource exists in its organization with its kind",
                    ));
                }
                check_agent_connections(state, &resource)?;
                if let Some(stored) = state.resources.get_mut(&resource.id) {
                    stored.resource = resource;
                }
            }
            Change::DeleteResource {
                organization_id,
                id,
                at,
            } => {
                let stored = state
                    .resources
                    .get_mut(&id)
                    .filter(|stored| stored.live_in(organization_id).is_some())
                    .ok_or_else(|| violation("deleted resource exists in its organization"))?;
                stored.deleted_at = Some(at);
            }
            Change::SetCredentials {
                organization_id,
                connection_id,
                credentials,
                ..
            } => {
                if state
                    .live_of(organization_id, connection_id, ResourceKind::Connection)
                    .is_none()
                {
                    return Err(violation(
                        "credentials belong to a connection of their organization",
                    ));
                }
                state.credentials.insert(
                    (organization_id, connection_id),
                    StoredCredentials(credentials.to_plaintext()),
                );
            }
            Change::DeleteCredentials {
                organization_id,
                connection_id,
            } => {
                // Like a `DELETE`: nothing to erase is no error.
                state.credentials.remove(&(organization_id, connection_id));
            }
            Change::InsertReportRun(run) => {
                if state.report_runs.contains_key(&run.id) {
                    return Err(violation("unique report run id"));
                }
                if state
                    .live_of(run.organization_id, run.report_id, ResourceKind::Report)
                    .is_none()
                {
                    return Err(violation("run of a report of its organization"));
                }
                if !state.users.contains_key(&run.triggered_by) {
                    return Err(violation("run's trigger exists"));
                }
                state.report_runs.insert(run.id, run);
            }
            Change::InsertPin(pin) => {
                if state.pins.contains_key(&pin.id) {
                    return Err(violation("unique pin id"));
                }
                if state.pins.values().any(|p| {
                    p.organization_id == pin.organization_id
                        && p.user_id == pin.user_id
                        && p.item_id == pin.item_id
                }) {
                    return Err(violation("one pin per organization, member and item"));
                }
                if state
                    .live_of(pin.organization_id, pin.item_id, pin.item_kind)
                    .is_none()
                {
                    return Err(violation("pinned item exists in its organization"));
                }
                if !state.users.contains_key(&pin.user_id) {
                    return Err(violation("pin's member exists"));
                }
                state.pins.insert(pin.id, pin);
            }
            Change::DeletePin {
                organization_id,
                user_id,
                id,
            } => {
                state
                    .pins
                    .get(&id)
                    .filter(|p| p.organization_id == organization_id && p.user_id == user_id)
                    .ok_or_else(|| violation("deleted pin is its member's in its organization"))?;
                state.pins.remove(&id);
            }
            Change::DeletePinsOf {
                organization_id,
                item_id,
            } => {
                state
                    .pins
                    .retain(|_, p| !(p.organization_id == organization_id && p.item_id == item_id));
            }
            Change::InsertInvestigation(investigation) => {
                if state.investigations.contains_key(&investigation.id) {
                    return Err(violation("unique investigation id"));
                }
                if state
                    .live_of(
                        investigation.organization_id,
                        investigation.agent_id,
                        ResourceKind::Agent,
                    )
                    .is_none()
                {
                    return Err(violation(
                        "investigation's agent exists in its organization",
                    ));
                }
                state.investigations.insert(investigation.id, investigation);
            }
            Change::InsertChat(chat) => {
                if state.chats.contains_key(&chat.id) {
                    return Err(violation("unique chat id"));
                }
                let about = match chat.subject {
                    ChatSubject::Agent(agent) => state
                        .live_of(chat.organization_id, agent, ResourceKind::Agent)
                        .is_some(),
                    // A run outlives its report (runs keep their history), so
                    // only the run and its report id are checked.
                    ChatSubject::ReportRun { report_id, run_id } => {
                        state.report_runs.get(&run_id).is_some_and(|run| {
                            run.organization_id == chat.organization_id
                                && run.report_id == report_id
                        })
                    }
                };
                if !about {
                    return Err(violation("chat's subject exists in its organization"));
                }
                state.chats.insert(chat.id, chat);
            }
            Change::InsertChatMessage(message) => {
                if state
                    .chats
                    .get(&message.chat_id)
                    .is_none_or(|c| c.organization_id != message.organization_id)
                {
                    return Err(violation("message's chat exists in its organization"));
                }
                if state.messages.iter().any(|m| m.id == message.id) {
                    return Err(violation("unique chat message id"));
                }
                state.messages.push(message);
            }
            Change::InsertSession(session) => {
                if state.sessions.contains_key(&session.token_hash)
                    || state.sessions.values().any(|s| s.id == session.id)
                {
                    return Err(violation("unique session id and token hash"));
                }
                state.sessions.insert(session.token_hash, session);
            }
            Change::EndSession {
                user_id,
                session_id,
            } => {
                state
                    .sessions
                    .retain(|_, s| !(s.id == session_id && s.user_id == user_id));
            }
            Change::EndSessionsOf { user_id, except } => {
                state
                    .sessions
                    .retain(|_, s| s.user_id != user_id || Some(s.id) == except);
            }
            Change::TouchSession { session_id, at } => {
                if let Some(session) = state.sessions.values_mut().find(|s| s.id == session_id) {
                    session.last_used_at = at;
                }
            }
            Change::SweepSessions {
                opened_by,
                last_used_by,
            } => {
                state
                    .sessions
                    .retain(|_, s| s.created_at > opened_by && s.last_used_at > last_used_by);
            }
            Change::InsertAccountToken(token) => {
                if !state.users.contains_key(&token.user_id) {
                    return Err(violation("a link's user exists"));
                }
                if state.account_tokens.contains_key(&token.id)
                    || state
                        .account_tokens
                        .values()
                        .any(|t| t.token_hash == token.token_hash)
                {
                    return Err(violation("unique account token id and hash"));
                }
                state.account_tokens.insert(token.id, token);
            }
            Change::SupersedeAccountTokens {
                user_id,
                purpose,
                at,
            } => {
                for token in state.account_tokens.values_mut() {
                    if token.user_id == user_id
                        && token.purpose == purpose
                        && token.state == AccountTokenState::Open
                    {
                        token.state = AccountTokenState::Superseded { at };
                    }
                }
            }
            Change::UseAccountToken { id, at } => match state.account_tokens.get_mut(&id) {
                Some(token) if token.state == AccountTokenState::Open => {
                    token.state = AccountTokenState::Used { at };
                }
                _ => return Err(StoreError::contention("the link is no longer open")),
            },
            Change::SweepAccountTokens { expired_before } => {
                let swept: Vec<AccountTokenId> = state
                    .account_tokens
                    .values()
                    .filter(|t| t.expires_at < expired_before)
                    .map(|t| t.id)
                    .collect();
                for id in &swept {
                    state.account_tokens.remove(id);
                }
                state.outbox.retain(|_, entry| match &entry.mail.content {
                    MailContent::VerifyEmail { token_id, .. }
                    | MailContent::ResetPassword { token_id, .. } => !swept.contains(token_id),
                    MailContent::Invitation { .. } | MailContent::OwnershipTransfer { .. } => true,
                });
            }
            Change::MarkEmailVerified { user_id, .. } => {
                let (user, _) = state
                    .users
                    .get_mut(&user_id)
                    .ok_or_else(|| violation("the verified user exists"))?;
                user.email_verified = true;
            }
            Change::SetPassword {
                user_id,
                password_hash,
            } => {
                let (_, hash) = state
                    .users
                    .get_mut(&user_id)
                    .ok_or_else(|| violation("the user exists"))?;
                *hash = password_hash;
            }
            Change::EnqueueMail(mail) => {
                state.outbox.insert(
                    mail.id,
                    OutboxEntry {
                        next_attempt_at: mail.created_at,
                        mail,
                        attempts: 0,
                        sent_at: None,
                        claimed_by: None,
                    },
                );
            }
        }
        Ok(())
    }

    async fn commit(&mut self) -> Result<(), StoreError> {
        if !self.dirty {
            return Ok(());
        }
        let mut shared = self.repository.lock();
        if shared.version != self.base_version {
            return Err(StoreError::contention(
                "another transaction committed since this one began",
            ));
        }
        shared.version += 1;
        shared.state = Arc::clone(&self.state);
        self.dirty = false;
        Ok(())
    }
}

impl MemoryRepository {
    fn update_outbox(
        &self,
        id: MailId,
        update: impl FnOnce(&mut OutboxEntry),
    ) -> Result<(), StoreError> {
        let mut shared = self.lock();
        let state = Arc::make_mut(&mut shared.state);
        let entry = state
            .outbox
            .get_mut(&id)
            .ok_or_else(|| StoreError::other(format!("no mail `{id}` in the outbox")))?;
        update(entry);
        shared.version += 1;
        Ok(())
    }
}

#[async_trait]
impl MailOutbox for MemoryRepository {
    async fn due(&self, now: DateTime<Utc>, limit: usize) -> Result<Vec<QueuedMail>, StoreError> {
        let state = self.snapshot();
        let mut due: Vec<&OutboxEntry> = state
            .outbox
            .values()
            .filter(|e| e.sent_at.is_none() && e.next_attempt_at <= now)
            .collect();
        due.sort_by_key(|e| (e.mail.created_at, e.mail.id));
        Ok(due
            .into_iter()
            .take(limit)
            .map(|e| QueuedMail {
                mail: e.mail.clone(),
                attempts: e.attempts,
            })
            .collect())
    }

    async fn claim(
        &self,
        worker: WorkerId,
        now: DateTime<Utc>,
        lease_until: DateTime<Utc>,
        limit: usize,
    ) -> Result<Vec<QueuedMail>, StoreError> {
        let taken = self.due(now, limit).await?;
        for queued in &taken {
            self.update_outbox(queued.mail.id, |entry| {
                entry.next_attempt_at = lease_until;
                entry.claimed_by = Some(worker);
            })?;
        }
        Ok(taken)
    }

    async fn renew(
        &self,
        worker: WorkerId,
        ids: &[MailId],
        lease_until: DateTime<Utc>,
    ) -> Result<Vec<MailId>, StoreError> {
        let mut shared = self.lock();
        let state = Arc::make_mut(&mut shared.state);
        let mut held = Vec::new();
        for id in ids {
            if let Some(entry) = state.outbox.get_mut(id)
                && entry.sent_at.is_none()
                && entry.claimed_by == Some(worker)
            {
                entry.next_attempt_at = lease_until;
                held.push(*id);
            }
        }
        shared.version += 1;
        Ok(held)
    }

    async fn release(
        &self,
        worker: WorkerId,
        id: MailId,
        at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        self.update_outbox(id, |entry| {
            if entry.sent_at.is_none() && entry.claimed_by == Some(worker) {
                entry.next_attempt_at = at;
                entry.claimed_by = None;
            }
        })
    }

    async fn mark_sent(&self, id: MailId, at: DateTime<Utc>) -> Result<(), StoreError> {
        self.update_outbox(id, |entry| {
            entry.sent_at = Some(at);
            entry.claimed_by = None;
        })
    }

    async fn mark_failed(
        &self,
        worker: WorkerId,
        id: MailId,
        next_attempt_at: DateTime<Utc>,
        _error: &str,
    ) -> Result<(), StoreError> {
        self.update_outbox(id, |entry| {
            if entry.sent_at.is_none() && entry.claimed_by == Some(worker) {
                entry.attempts += 1;
                entry.next_attempt_at = next_attempt_at;
                entry.claimed_by = None;
            }
        })
    }
}

/// Knowledge files' contents in memory; clones share them. Staged blobs are
/// kept apart from published ones, so that tests see what an upload left.
#[derive(Debug, Clone, Default)]
pub struct MemoryBlobs(Arc<Mutex<Blobs>>);

#[derive(Debug, Default)]
struct Blobs {
    published: HashMap<BlobKey, Vec<u8>>,
    staged: HashMap<String, Vec<u8>>,
    staged_so_far: u64,
}

impl MemoryBlobs {
    /// An empty blob store.
    pub fn new() -> Self {
        Self::default()
    }

    /// The keys published, in no particular order.
    pub fn keys(&self) -> Vec<BlobKey> {
        self.lock().published.keys().copied().collect()
    }

    /// The content published under a key.
    pub fn content(&self, key: BlobKey) -> Option<Vec<u8>> {
        self.lock().published.get(&key).cloned()
    }

    /// How many blobs are published.
    pub fn len(&self) -> usize {
        self.lock().published.len()
    }

    /// How many blobs are staged and not yet discarded.
    pub fn staged(&self) -> usize {
        self.lock().staged.len()
    }

    /// Whether nothing is stored, published or staged.
    pub fn is_empty(&self) -> bool {
        let blobs = self.lock();
        blobs.published.is_empty() && blobs.staged.is_empty()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Blobs> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

#[async_trait]
impl BlobStore for MemoryBlobs {
    async fn stage<'a>(&self, content: &'a mut Incoming<'a>) -> Result<StagedBlob, StoreError> {
        let mut bytes = Vec::new();
        content
            .read_to_end(&mut bytes)
            .await
            .map_err(StoreError::other)?;
        let mut blobs = self.lock();
        blobs.staged_so_far += 1;
        let name = format!("staged-{}", blobs.staged_so_far);
        blobs.staged.insert(name.clone(), bytes);
        Ok(StagedBlob::new(name))
    }

    async fn publish(&self, staged: &StagedBlob, key: BlobKey) -> Result<(), StoreError> {
        let mut blobs = self.lock();
        let bytes = blobs
            .staged
            .get(staged.name())
            .cloned()
            .ok_or_else(|| StoreError::other(format!("no staged blob `{}`", staged.name())))?;
        blobs.published.insert(key, bytes);
        Ok(())
    }

    async fn discard(&self, staged: &StagedBlob) -> Result<(), StoreError> {
        self.lock().staged.remove(staged.name());
        Ok(())
    }

    async fn open(&self, key: BlobKey) -> Result<Option<BlobReader>, StoreError> {
        Ok(self
            .lock()
            .published
            .get(&key)
            .cloned()
            .map(|bytes| Box::new(futures::io::Cursor::new(bytes)) as BlobReader))
    }

    async fn delete(&self, key: BlobKey) -> Result<(), StoreError> {
        self.lock().published.remove(&key);
        Ok(())
    }

    async fn delete_organization(&self, organization: OrganizationId) -> Result<(), StoreError> {
        self.lock()
            .published
            .retain(|key, _| key.organization_id != organization);
        Ok(())
    }
}
