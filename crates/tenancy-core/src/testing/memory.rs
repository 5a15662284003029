//! An in-memory repository with serializable transactions.
//!
//! A transaction reads a snapshot and writes to its own copy; commit installs
//! the copy unless another transaction committed writes since the snapshot was
//! taken, in which case it reports contention and the use case runs again
//! (optimistic concurrency). The uniqueness rules of the real schema are
//! checked on every write, so a decision that breaks one fails loudly.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, PoisonError};

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use crate::decide::Change;
use crate::entity::{
    Chat, ChatMessage, Invitation, InvitationState, Organization, OutgoingMail, Resource,
    ResourceKind, Session, User,
};
use crate::error::StoreError;
use crate::id::{ChatId, InvitationId, MailId, OrganizationId, ResourceId, UserId};
use crate::plan::{Month, Usage};
use crate::policy::{Membership, Role};
use crate::ports::{MailOutbox, QueuedMail, Repository, Transaction};
use crate::token::TokenHash;
use crate::value::{EmailAddress, PasswordHash};

#[derive(Debug, Clone)]
struct OutboxEntry {
    mail: OutgoingMail,
    attempts: u32,
    next_attempt_at: DateTime<Utc>,
    sent_at: Option<DateTime<Utc>>,
}

/// Everything the repository holds.
#[derive(Debug, Clone, Default)]
pub struct State {
    pub users: BTreeMap<UserId, (User, PasswordHash)>,
    pub organizations: BTreeMap<OrganizationId, Organization>,
    pub memberships: BTreeMap<(OrganizationId, UserId), Membership>,
    pub invitations: BTreeMap<InvitationId, Invitation>,
    pub active: BTreeMap<UserId, OrganizationId>,
    pub resources: BTreeMap<ResourceId, Resource>,
    pub chats: BTreeMap<ChatId, Chat>,
    pub messages: Vec<ChatMessage>,
    pub sessions: BTreeMap<TokenHash, Session>,
    outbox: BTreeMap<MailId, OutboxEntry>,
}

#[derive(Debug, Default)]
struct Shared {
    state: Arc<State>,
    version: u64,
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
        Ok(self.state.memberships.get(&(organization, user)).cloned())
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
                Some((m.clone(), organization.clone()))
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
                Some((m.clone(), user.clone()))
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
            .cloned())
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
            .cloned())
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
            .cloned())
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
            .cloned()
            .collect();
        open.sort_by_key(|i| (i.created_at, i.id));
        Ok(open)
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
                .filter(|r| r.organization_id == organization && r.kind == kind)
                .count() as u64
        };
        Ok(Usage {
            agents: count(ResourceKind::Agent),
            connections: count(ResourceKind::Connection),
            reports: count(ResourceKind::Report),
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
        Ok(self
            .state
            .resources
            .get(&id)
            .filter(|r| r.organization_id == organization)
            .cloned())
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

    async fn apply(&mut self, change: &Change) -> Result<(), StoreError> {
        let state = self.write();
        match change.clone() {
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
                if membership.role == Role::Owner
                    && state
                        .memberships
                        .values()
                        .any(|m| m.organization_id == key.0 && m.role == Role::Owner)
                {
                    return Err(violation("one owner per organization"));
                }
                state.memberships.insert(key, membership);
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
            Change::InsertResource(resource) => {
                state.resources.insert(resource.id, resource);
            }
            Change::InsertChat(chat) => {
                state.chats.insert(chat.id, chat);
            }
            Change::InsertChatMessage(message) => state.messages.push(message),
            Change::InsertSession(session) => {
                if state.sessions.contains_key(&session.token_hash) {
                    return Err(violation("unique session token hash"));
                }
                state.sessions.insert(session.token_hash, session);
            }
            Change::DeleteSession { token_hash } => {
                state.sessions.remove(&token_hash);
            }
            Change::EnqueueMail(mail) => {
                state.outbox.insert(
                    mail.id,
                    OutboxEntry {
                        next_attempt_at: mail.created_at,
                        mail,
                        attempts: 0,
                        sent_at: None,
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

    async fn mark_sent(&self, id: MailId, at: DateTime<Utc>) -> Result<(), StoreError> {
        self.update_outbox(id, |entry| entry.sent_at = Some(at))
    }

    async fn mark_failed(
        &self,
        id: MailId,
        next_attempt_at: DateTime<Utc>,
        _error: &str,
    ) -> Result<(), StoreError> {
        self.update_outbox(id, |entry| {
            entry.attempts += 1;
            entry.next_attempt_at = next_attempt_at;
        })
    }
}
