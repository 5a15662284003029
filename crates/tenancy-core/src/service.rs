//! The use cases, generic over the ports. Each one opens a transaction, loads
//! a snapshot, asks [`crate::decide`] for a decision, applies its changes and
//! commits: one transaction per use case.

use chrono::Duration;

use crate::decide::{
    self, Accepted, Decision, Invite, InviteSnapshot, PlanChanger, PresentedInvitation,
};
use crate::decide::{AccountLink, AccountMail, PasswordMatched, SignUp, SignedUp};
use crate::entity::{
    DEFAULT_INVITATION_TTL, DEFAULT_VERIFICATION_TTL, Invitation, InvitationStatus, Organization,
    SessionLifetimes, User,
};
use crate::error::{Error, Missing};
use crate::id::{AccountTokenId, InvitationId, MailId, OrganizationId, SessionId, UserId};
use crate::operation::Operation;
use crate::plan::{Limits, Month, PlanCatalog, PlanId, Usage};
use crate::policy::{Capability, Denial, Grant, Membership, Role, RoleKey};
use crate::ports::{
    BlobStore, Clock, IdGenerator, PasswordVerifier, Repository, TokenGenerator, Transaction,
};
use crate::token::SecretToken;
use crate::value::{DisplayName, EmailAddress, OrganizationName, PasswordHash};

/// How many times a use case runs when concurrent transactions keep getting
/// in its way, before the contention is reported.
pub(crate) const ATTEMPTS: usize = 8;

/// Runs a use case again while the store reports contention.
macro_rules! retrying {
    ($body:expr) => {{
        let mut attempt = 1;
        loop {
            match $body.await {
                Err(Error::Store(e))
                    if e.kind() == crate::error::StoreErrorKind::Contention
                        && attempt < crate::service::ATTEMPTS =>
                {
                    attempt += 1;
                }
                outcome => break outcome,
            }
        }
    }};
}

/// Settings of the use cases.
#[derive(Debug, Clone)]
pub struct Settings {
    pub catalog: PlanCatalog,
    pub invitation_ttl: Duration,
    /// How long a verification link lives (`--verification-ttl`).
    pub verification_ttl: Duration,
    /// How long sessions live (`--session-ttl`, `--session-idle-timeout`).
    pub sessions: SessionLifetimes,
    /// Lets people with an unverified address invite
    /// (`--allow-unverified-inviters`).
    pub allow_unverified_inviters: bool,
    /// How long a deleted organization stays restorable (`--deletion-grace`).
    pub deletion_grace: Duration,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            catalog: PlanCatalog::builtin(),
            invitation_ttl: DEFAULT_INVITATION_TTL,
            verification_ttl: DEFAULT_VERIFICATION_TTL,
            sessions: SessionLifetimes::default(),
            allow_unverified_inviters: false,
            deletion_grace: crate::entity::DEFAULT_DELETION_GRACE,
        }
    }
}

/// An organization as one user sees it: with their role, and whether it is
/// their active one (R7, R15).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrganizationView {
    pub organization: Organization,
    pub role: Role,
    pub is_active: bool,
}

impl OrganizationView {
    /// Whether the user owns it (the crown of the switcher).
    pub fn is_owner(&self) -> bool {
        self.role.is_owner()
    }
}

/// A member, for the settings page (R18).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Member {
    pub user: User,
    pub role: Role,
    pub joined_at: chrono::DateTime<chrono::Utc>,
}

/// The billing view (R20, R21).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Billing {
    pub plan: PlanId,
    pub limits: Limits,
    pub usage: Usage,
}

/// What the landing page of an invitation link shows: its status, and,
/// only while it is pending, what it is about. A dead link (found in an old
/// email, a forwarded message, a browser's history) no longer tells who
/// invited whom to what.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InvitationPreview {
    pub status: InvitationStatus,
    /// `None` unless the invitation is pending.
    pub details: Option<InvitationDetails>,
}

/// What a pending invitation is about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InvitationDetails {
    pub organization_name: OrganizationName,
    pub email: EmailAddress,
    /// The email of the member who sent it.
    pub inviter_email: EmailAddress,
    pub role: Role,
    pub expires_at: chrono::DateTime<chrono::Utc>,
}

/// The use cases of tenancy over a repository, a clock, ids and tokens.
#[derive(Debug, Clone)]
pub struct Service<R, C, I, T> {
    repository: R,
    clock: C,
    ids: I,
    tokens: T,
    settings: Settings,
    blobs: Option<Blobs>,
    context: Option<Context>,
}

/// Where the request's id comes from, shared.
#[derive(Clone)]
struct Context(std::sync::Arc<dyn crate::ports::RequestContext>);

impl std::fmt::Debug for Context {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Context(..)")
    }
}

/// The blob store of knowledge files, shared.
#[derive(Clone)]
struct Blobs(std::sync::Arc<dyn BlobStore>);

impl std::fmt::Debug for Blobs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Blobs(..)")
    }
}

impl<R, C, I, T> Service<R, C, I, T>
where
    R: Repository,
    C: Clock,
    I: IdGenerator,
    T: TokenGenerator,
{
    /// Wires the ports together.
    pub fn new(repository: R, clock: C, ids: I, tokens: T, settings: Settings) -> Self {
        Self {
            repository,
            clock,
            ids,
            tokens,
            settings,
            blobs: None,
            context: None,
        }
    }

    /// Where audit events get the id of the request that made them
    /// (`x-request-id`). Without one, events have none.
    #[must_use]
    pub fn with_request_context(
        mut self,
        context: std::sync::Arc<dyn crate::ports::RequestContext>,
    ) -> Self {
        self.context = Some(Context(context));
        self
    }

    /// Where knowledge files keep their content. Without one, uploads and
    /// downloads fail with a store error naming what is missing.
    #[must_use]
    pub fn with_blobs(mut self, blobs: std::sync::Arc<dyn BlobStore>) -> Self {
        self.blobs = Some(Blobs(blobs));
        self
    }

    /// The time by the service's clock.
    pub fn now(&self) -> chrono::DateTime<chrono::Utc> {
        self.clock.now()
    }

    /// The settings in use.
    pub fn settings(&self) -> &Settings {
        &self.settings
    }

    /// Whether the store answers, for a readiness probe.
    pub async fn ping(&self) -> Result<(), crate::error::StoreError> {
        self.repository.ping().await
    }

    async fn commit<V>(&self, tx: Box<dyn Transaction>, decision: Decision<V>) -> Result<V, Error> {
        let now = self.clock.now();
        self.commit_at(tx, decision, now).await
    }

    /// Applies a decision made at `now` and commits; its audit events are
    /// stamped with that instant, so that one use case reads the clock once.
    async fn commit_at<V>(
        &self,
        mut tx: Box<dyn Transaction>,
        decision: Decision<V>,
        now: chrono::DateTime<chrono::Utc>,
    ) -> Result<V, Error> {
        let (changes, outcome) = decision.into_parts();
        self.apply_all(tx.as_mut(), changes, now).await?;
        tx.commit().await?;
        Ok(outcome)
    }

    /// Applies a decision's changes in order, stamping its audit entries.
    pub(crate) async fn apply_all(
        &self,
        tx: &mut dyn Transaction,
        changes: Vec<crate::decide::Change>,
        now: chrono::DateTime<chrono::Utc>,
    ) -> Result<(), Error> {
        for change in changes {
            let write = match change {
                change @ crate::decide::Change::Audit(_) => {
                    crate::decide::Write::stamped(change, self.stamp(now))
                }
                change => crate::decide::Write::of(change),
            };
            tx.apply(&write).await?;
        }
        Ok(())
    }

    /// A stamp for an audit event made at `now`.
    fn stamp(&self, now: chrono::DateTime<chrono::Utc>) -> crate::audit::Stamp {
        let request_id = self
            .context
            .as_ref()
            .and_then(|context| context.0.request_id())
            .map(|mut id| {
                if id.len() > crate::audit::MAX_REQUEST_ID_LEN {
                    let mut end = crate::audit::MAX_REQUEST_ID_LEN;
                    while !id.is_char_boundary(end) {
                        end -= 1;
                    }
                    id.truncate(end);
                }
                id
            });
        crate::audit::Stamp::new(
            crate::id::AuditEventId::from_uuid(self.ids.new_id()),
            now,
            request_id,
        )
    }

    /// A fresh link for an account email.
    pub(crate) fn new_link(&self) -> AccountLink {
        AccountLink {
            token_id: AccountTokenId::from_uuid(self.ids.new_id()),
            mail_id: MailId::from_uuid(self.ids.new_id()),
            token: SecretToken::from_bytes(self.tokens.generate()),
        }
    }

    /// Signs a person up: an account and a default organization, and with an
    /// invitation token from a link, the invitation accepted (R3, R11, D3).
    /// Otherwise the address is unverified and a verification email is
    /// queued, unless `verification_mail` withholds it (R31).
    pub async fn sign_up(
        &self,
        email: EmailAddress,
        display_name: Option<DisplayName>,
        password_hash: PasswordHash,
        invitation_token: Option<&str>,
        verification_mail: AccountMail,
    ) -> Result<SignedUp, Error> {
        retrying!(self.sign_up_once(
            &email,
            &display_name,
            &password_hash,
            invitation_token,
            verification_mail
        ))
    }

    async fn sign_up_once(
        &self,
        email: &EmailAddress,
        display_name: &Option<DisplayName>,
        password_hash: &PasswordHash,
        invitation_token: Option<&str>,
        verification_mail: AccountMail,
    ) -> Result<SignedUp, Error> {
        let now = self.clock.now();
        let mut tx = self.repository.begin().await?;
        let mut superseded = false;
        let presented = match invitation_token {
            None => None,
            Some(token) => match SecretToken::parse(token) {
                Err(_) => Some(None),
                Ok(token) => match tx.invitation_by_token(&token.hash()).await? {
                    None => {
                        superseded = tx.invitation_token_superseded(&token.hash()).await?;
                        Some(None)
                    }
                    Some(found) => {
                        tx.lock_organization(found.organization_id).await?;
                        Some(tx.invitation_by_token(&token.hash()).await?)
                    }
                },
            },
        };
        let existing = tx.user_by_email(email).await?;
        let presented = match &presented {
            None => PresentedInvitation::None,
            Some(None) if superseded => PresentedInvitation::Superseded,
            Some(None) => PresentedInvitation::Unknown,
            Some(Some(invitation)) => PresentedInvitation::Found(invitation),
        };
        let decision = decide::sign_up(
            SignUp {
                user_id: UserId::from_uuid(self.ids.new_id()),
                organization_id: OrganizationId::from_uuid(self.ids.new_id()),
                email: email.clone(),
                display_name: display_name.clone(),
                password_hash: password_hash.clone(),
                default_plan: PlanId::free(),
                session_id: SessionId::from_uuid(self.ids.new_id()),
                session_token: SecretToken::from_bytes(self.tokens.generate()),
                verification: self.new_link(),
                verification_mail,
                verification_ttl: self.settings.verification_ttl,
                now,
            },
            existing.as_ref(),
            presented,
        )?;
        self.commit_at(tx, decision, now).await
    }

    /// Whether an address has an account (sign-up asks before it counts a
    /// verification email against the address's limit).
    pub async fn has_account(&self, email: &EmailAddress) -> Result<bool, Error> {
        let mut tx = self.repository.read().await?;
        Ok(tx.user_by_email(email).await?.is_some())
    }

    /// Checks a sign-in's password with `verifier`: the account and the
    /// proof that its password matched, or `None` for an unknown email
    /// (`None` here too: the verifier spends the same time) or a wrong
    /// password.
    pub async fn check_credentials(
        &self,
        email: Option<&EmailAddress>,
        password: &str,
        verifier: &dyn PasswordVerifier,
    ) -> Result<Option<(User, PasswordMatched)>, Error> {
        let account = match email {
            Some(email) => {
                let mut tx = self.repository.read().await?;
                tx.credentials(email).await?
            }
            None => None,
        };
        let (user, hash) = account.unzip();
        let matches = verifier.verify(password, hash.as_ref()).await?;
        Ok(user
            .filter(|_| matches)
            .map(|user| (PasswordMatched::of(user.id), user))
            .map(|(proof, user)| (user, proof)))
    }

    /// Opens a session for the account whose password matched.
    pub async fn sign_in(
        &self,
        account: &User,
        proof: PasswordMatched,
    ) -> Result<SecretToken, Error> {
        let token = SecretToken::from_bytes(self.tokens.generate());
        retrying!(async {
            let now = self.clock.now();
            let tx = self.repository.begin().await?;
            let decision = decide::sign_in(
                Some(account),
                Some(proof),
                SessionId::from_uuid(self.ids.new_id()),
                &token,
                now,
            )?;
            self.commit_at(tx, decision, now).await?;
            Ok(token.clone())
        })
    }

    /// The user of a bearer token, read from the committed state on every
    /// request, so that a signed-out or ended session stops working at once.
    pub async fn authenticate(&self, token: &str) -> Result<UserId, Error> {
        Ok(self.session(token).await?.user_id)
    }

    /// Ends the session of a bearer token.
    pub async fn sign_out(&self, token: &str) -> Result<(), Error> {
        let token = SecretToken::parse(token).map_err(|_| Error::Unauthenticated)?;
        retrying!(async {
            let now = self.clock.now();
            let mut tx = self.repository.begin().await?;
            let session = tx.session(&token.hash()).await?;
            let decision = decide::sign_out(session.as_ref(), self.settings.sessions, now)?;
            self.commit_at(tx, decision, now).await
        })
    }

    /// The account of a user.
    pub async fn user(&self, user: UserId) -> Result<User, Error> {
        let mut tx = self.repository.read().await?;
        tx.user(user).await?.ok_or(Error::NotFound(Missing::User))
    }

    /// Decides whether `user` may use `capability` in `organization`, from
    /// the committed state (D12). The grant is the proof the caller needs.
    pub async fn authorize(
        &self,
        user: UserId,
        organization: OrganizationId,
        capability: Capability,
    ) -> Result<Result<Grant, Denial>, Error> {
        let mut tx = self.repository.read().await?;
        let org = tx.organization(organization).await?;
        let membership = tx.membership(organization, user).await?;
        Ok(decide::authorize_for_host(
            user,
            organization,
            org.as_ref(),
            membership.as_ref(),
            capability,
        ))
    }

    /// Decides whether `user` may do `operation` in `organization`, as the
    /// use case will ([`decide::authorize_in`]: the capability the operation
    /// needs, and what an organization pending deletion still allows): the
    /// check the HTTP layer makes before it reads a body.
    pub async fn permit(
        &self,
        user: UserId,
        organization: OrganizationId,
        operation: Operation,
    ) -> Result<Grant, Error> {
        let mut tx = self.repository.read().await?;
        let org = tx.organization(organization).await?;
        let membership = tx.membership(organization, user).await?;
        decide::authorize_in(user, org.as_ref(), membership.as_ref(), operation)
            .map(|(grant, _)| grant)
    }

    /// The membership in the organization of the account of `email`, if it
    /// has an account and one.
    pub(crate) async fn membership_of_email(
        tx: &mut Box<dyn Transaction>,
        organization: OrganizationId,
        email: &EmailAddress,
    ) -> Result<Option<Membership>, Error> {
        Ok(match tx.user_by_email(email).await? {
            Some(user) => tx.membership(organization, user.id).await?,
            None => None,
        })
    }

    /// The role of `key` in the organization: a built-in one, or one of its
    /// custom roles; `None` when it has none of that key.
    pub(crate) async fn role_in(
        tx: &mut Box<dyn Transaction>,
        organization: OrganizationId,
        key: &str,
    ) -> Result<Option<Role>, Error> {
        if let Some(role) = Role::builtin(key) {
            return Ok(Some(role));
        }
        let Ok(key) = RoleKey::parse(key) else {
            return Ok(None);
        };
        Ok(tx
            .custom_role(organization, &key)
            .await?
            .map(|custom| custom.role))
    }

    /// Creates an organization owned by `actor` and makes it active (R5).
    pub async fn create_organization(
        &self,
        actor: UserId,
        name: OrganizationName,
    ) -> Result<OrganizationView, Error> {
        retrying!(async {
            let now = self.clock.now();
            let mut tx = self.repository.begin().await?;
            tx.user(actor)
                .await?
                .ok_or(Error::NotFound(Missing::User))?;
            let decision = decide::create_organization(
                actor,
                OrganizationId::from_uuid(self.ids.new_id()),
                name.clone(),
                PlanId::free(),
                now,
            );
            let organization = self.commit_at(tx, decision, now).await?;
            Ok(OrganizationView {
                organization,
                role: Role::OWNER,
                is_active: true,
            })
        })
    }

    /// Every organization the user owns or belongs to, with their role and
    /// the active one marked (R7). Oldest membership first.
    pub async fn organizations(&self, actor: UserId) -> Result<Vec<OrganizationView>, Error> {
        retrying!(async {
            let (active, mut memberships) = self.resolve_active(actor).await?;
            memberships.retain(|(m, organization)| decide::accessible(m, organization));
            // Oldest first; at a tie (sign-up from a link joins two at once) the
            // user's own organization comes first.
            memberships.sort_by_key(|(m, _)| (m.joined_at, !m.role.is_owner(), m.organization_id));
            Ok(memberships
                .into_iter()
                .map(|(membership, organization)| OrganizationView {
                    is_active: Some(organization.id) == active,
                    organization,
                    role: membership.role,
                })
                .collect())
        })
    }

    /// The active organization and the user's memberships. Most of the time
    /// the stored choice stands and this is a read; only when it must fall
    /// back (R19) does it write the new choice, in a transaction of its own.
    async fn resolve_active(
        &self,
        actor: UserId,
    ) -> Result<(Option<OrganizationId>, Vec<(Membership, Organization)>), Error> {
        let mut reader = self.repository.read().await?;
        let (decision, memberships) = Self::resolve_in(&mut reader, actor).await?;
        if decision.changes().is_empty() {
            return Ok((*decision.outcome(), memberships));
        }
        drop(reader);
        let mut tx = self.repository.begin().await?;
        let (decision, memberships) = Self::resolve_in(&mut tx, actor).await?;
        let active = self.commit(tx, decision).await?;
        Ok((active, memberships))
    }

    async fn resolve_in(
        tx: &mut Box<dyn Transaction>,
        actor: UserId,
    ) -> Result<
        (
            Decision<Option<OrganizationId>>,
            Vec<(Membership, Organization)>,
        ),
        Error,
    > {
        let stored = tx.active_organization(actor).await?;
        let default = tx.default_organization(actor).await?;
        let memberships = tx.memberships_of_user(actor).await?;
        let plain: Vec<Membership> = memberships
            .iter()
            .filter(|(m, organization)| decide::may_be_active(m, organization))
            .map(|(m, _)| m.clone())
            .collect();
        Ok((
            decide::resolve_active(actor, stored, default, &plain),
            memberships,
        ))
    }

    /// One organization as the actor sees it (`view_resources`).
    pub async fn organization(
        &self,
        actor: UserId,
        organization: OrganizationId,
    ) -> Result<OrganizationView, Error> {
        let mut tx = self.repository.read().await?;
        let org = tx.organization(organization).await?;
        let membership = tx.membership(organization, actor).await?;
        let (grant, org) = decide::authorize_in(
            actor,
            org.as_ref(),
            membership.as_ref(),
            Operation::ViewOrganization,
        )?;
        let is_active = tx.active_organization(actor).await? == Some(organization);
        let role = membership
            .filter(|m| m.user_id == grant.user_id())
            .map(|m| m.role)
            .ok_or(Error::NotFound(Missing::Organization))?;
        Ok(OrganizationView {
            organization: org.clone(),
            role,
            is_active,
        })
    }

    /// The active organization, falling back to the user's own when the
    /// stored choice is no longer accessible (R8, R19).
    pub async fn active_organization(&self, actor: UserId) -> Result<OrganizationView, Error> {
        retrying!(async {
            let (active, memberships) = self.resolve_active(actor).await?;
            memberships
                .into_iter()
                .find(|(_, organization)| Some(organization.id) == active)
                .map(|(membership, organization)| OrganizationView {
                    organization,
                    role: membership.role,
                    is_active: true,
                })
                .ok_or(Error::NotFound(Missing::Organization))
        })
    }

    /// Makes another organization active (R7, R8).
    pub async fn switch_active(
        &self,
        actor: UserId,
        organization: OrganizationId,
    ) -> Result<OrganizationView, Error> {
        retrying!(async {
            let mut tx = self.repository.begin().await?;
            let membership = tx.membership(organization, actor).await?;
            let org = tx.organization(organization).await?;
            let decision =
                decide::switch_active(actor, organization, org.as_ref(), membership.as_ref())?;
            let role = membership.map(|m| m.role);
            self.commit(tx, decision).await?;
            match (org, role) {
                (Some(organization), Some(role)) => Ok(OrganizationView {
                    organization,
                    role,
                    is_active: true,
                }),
                _ => Err(Error::NotFound(Missing::Organization)),
            }
        })
    }

    /// Renames an organization (R9).
    pub async fn rename(
        &self,
        actor: UserId,
        organization: OrganizationId,
        name: OrganizationName,
    ) -> Result<OrganizationView, Error> {
        retrying!(async {
            let mut tx = self.repository.begin().await?;
            tx.lock_organization(organization).await?;
            let org = tx.organization(organization).await?;
            let membership = tx.membership(organization, actor).await?;
            let is_active = tx.active_organization(actor).await? == Some(organization);
            let decision = decide::rename(actor, org.as_ref(), membership.as_ref(), name.clone())?;
            let role = membership.map_or(Role::OWNER, |m| m.role);
            let organization = self.commit(tx, decision).await?;
            Ok(OrganizationView {
                organization,
                role,
                is_active,
            })
        })
    }

    /// Invites an email address (R10, D5). The token leaves only in the email
    /// written to the outbox; the returned invitation does not carry it.
    pub async fn invite(
        &self,
        actor: UserId,
        organization: OrganizationId,
        email: EmailAddress,
        role: Option<&str>,
    ) -> Result<Invitation, Error> {
        retrying!(async {
            let now = self.clock.now();
            let mut tx = self.repository.begin().await?;
            tx.lock_organization(organization).await?;
            let inviter = tx
                .user(actor)
                .await?
                .ok_or(Error::NotFound(Missing::User))?;
            let org = tx.organization(organization).await?;
            let inviter_membership = tx.membership(organization, actor).await?;
            let invitee_membership =
                Self::membership_of_email(&mut tx, organization, &email).await?;
            let open_invitation = tx.open_invitation(organization, &email).await?;
            let asked = match role {
                Some(key) => Self::role_in(&mut tx, organization, key).await?,
                None => None,
            };
            let decision = decide::invite(
                InviteSnapshot {
                    organization: org.as_ref(),
                    inviter: &inviter,
                    inviter_membership: inviter_membership.as_ref(),
                    invitee_membership: invitee_membership.as_ref(),
                    open_invitation: open_invitation.as_ref(),
                    role: asked.as_ref(),
                },
                Invite {
                    email: email.clone(),
                    role: role.map(str::to_owned),
                    invitation_id: InvitationId::from_uuid(self.ids.new_id()),
                    mail_id: MailId::from_uuid(self.ids.new_id()),
                    token: SecretToken::from_bytes(self.tokens.generate()),
                    ttl: self.settings.invitation_ttl,
                    inviter_must_be_verified: !self.settings.allow_unverified_inviters,
                    now,
                },
            )?;
            self.commit_at(tx, decision, now).await
        })
    }

    /// The pending invitations of an organization, with their expiry (R16).
    pub async fn pending_invitations(
        &self,
        actor: UserId,
        organization: OrganizationId,
    ) -> Result<AsOf<Vec<Invitation>>, Error> {
        let mut tx = self.repository.read().await?;
        let org = tx.organization(organization).await?;
        let membership = tx.membership(organization, actor).await?;
        decide::authorize_in(
            actor,
            org.as_ref(),
            membership.as_ref(),
            Operation::ListInvitations,
        )?;
        let now = self.clock.now();
        let value = tx
            .open_invitations(organization)
            .await?
            .into_iter()
            .filter(|invitation| invitation.status_at(now) == InvitationStatus::Pending)
            .collect();
        Ok(AsOf { value, now })
    }

    /// Revokes an invitation (R17).
    pub async fn revoke(
        &self,
        actor: UserId,
        organization: OrganizationId,
        invitation: InvitationId,
    ) -> Result<(), Error> {
        retrying!(async {
            let now = self.clock.now();
            let mut tx = self.repository.begin().await?;
            tx.lock_organization(organization).await?;
            let org = tx.organization(organization).await?;
            let membership = tx.membership(organization, actor).await?;
            let found = tx.invitation(organization, invitation).await?;
            let decision = decide::revoke(
                actor,
                org.as_ref(),
                membership.as_ref(),
                found.as_ref(),
                now,
            )?;
            self.commit_at(tx, decision, now).await
        })
    }

    /// What an invitation link's landing page shows; `None`-like 404 for an
    /// unknown or malformed token.
    pub async fn preview_invitation(&self, token: &str) -> Result<InvitationPreview, Error> {
        let token = SecretToken::parse(token).map_err(|_| Error::NotFound(Missing::Invitation))?;
        let mut tx = self.repository.read().await?;
        let Some(invitation) = tx.invitation_by_token(&token.hash()).await? else {
            return Err(Self::unknown_invitation(&mut tx, &token).await?);
        };
        let status = invitation.status_at(self.clock.now());
        if status != InvitationStatus::Pending {
            return Ok(InvitationPreview {
                status,
                details: None,
            });
        }
        let organization = tx
            .organization(invitation.organization_id)
            .await?
            .ok_or(Error::NotFound(Missing::Invitation))?;
        let inviter = tx
            .user(invitation.invited_by)
            .await?
            .ok_or(Error::NotFound(Missing::Invitation))?;
        Ok(InvitationPreview {
            status,
            details: Some(InvitationDetails {
                organization_name: organization.name,
                email: invitation.email.clone(),
                inviter_email: inviter.email,
                role: invitation.role.clone(),
                expires_at: invitation.expires_at,
            }),
        })
    }

    /// The error for a token no invitation has now: superseded by a resend
    /// (R30), or unknown.
    async fn unknown_invitation(
        tx: &mut Box<dyn Transaction>,
        token: &SecretToken,
    ) -> Result<Error, Error> {
        Ok(if tx.invitation_token_superseded(&token.hash()).await? {
            Error::InvitationSuperseded
        } else {
            Error::NotFound(Missing::Invitation)
        })
    }

    /// Accepts an invitation by its token (R12, D3, D6, D7).
    pub async fn accept(&self, actor: UserId, token: &str) -> Result<OrganizationView, Error> {
        let token = SecretToken::parse(token).map_err(|_| Error::NotFound(Missing::Invitation))?;
        retrying!(async {
            let now = self.clock.now();
            let mut tx = self.repository.begin().await?;
            let user = tx
                .user(actor)
                .await?
                .ok_or(Error::NotFound(Missing::User))?;
            let Some(found) = tx.invitation_by_token(&token.hash()).await? else {
                return Err(Self::unknown_invitation(&mut tx, &token).await?);
            };
            tx.lock_organization(found.organization_id).await?;
            // Read again under the lock: a concurrent accept or revoke may have won.
            let invitation = tx.invitation_by_token(&token.hash()).await?;
            let membership = tx.membership(found.organization_id, actor).await?;
            let organization = tx.organization(found.organization_id).await?;
            let decision = decide::accept(&user, membership.as_ref(), invitation.as_ref(), now)?;
            // An organization pending deletion is gone for its members (R29):
            // its invitations were revoked, and an old link accepted again
            // by a member leads nowhere.
            if organization
                .as_ref()
                .is_some_and(Organization::is_pending_deletion)
            {
                return Err(Error::NotFound(Missing::Organization));
            }
            let accepted: Accepted = self.commit_at(tx, decision, now).await?;
            let organization = organization.ok_or(Error::NotFound(Missing::Invitation))?;
            Ok(OrganizationView {
                organization,
                role: accepted.role,
                is_active: true,
            })
        })
    }

    /// The members of an organization with roles and join dates (R18).
    pub async fn members(
        &self,
        actor: UserId,
        organization: OrganizationId,
    ) -> Result<Vec<Member>, Error> {
        let mut tx = self.repository.read().await?;
        let org = tx.organization(organization).await?;
        let membership = tx.membership(organization, actor).await?;
        decide::authorize_in(
            actor,
            org.as_ref(),
            membership.as_ref(),
            Operation::ListMembers,
        )?;
        Ok(tx
            .members(organization)
            .await?
            .into_iter()
            .map(|(membership, user)| Member {
                user,
                role: membership.role,
                joined_at: membership.joined_at,
            })
            .collect())
    }

    /// Leaves an organization (R27): as a removal, of oneself.
    pub async fn leave(&self, actor: UserId, organization: OrganizationId) -> Result<(), Error> {
        retrying!(async {
            let mut tx = self.repository.begin().await?;
            tx.lock_organization(organization).await?;
            let org = tx.organization(organization).await?;
            let membership = tx.membership(organization, actor).await?;
            let transfer = tx.ownership_transfer(organization).await?;
            let decision =
                decide::leave(actor, org.as_ref(), membership.as_ref(), transfer.as_ref())?;
            self.commit(tx, decision).await
        })
    }

    /// Removes a member (R19, D8).
    pub async fn remove_member(
        &self,
        actor: UserId,
        organization: OrganizationId,
        member: UserId,
    ) -> Result<(), Error> {
        retrying!(async {
            let mut tx = self.repository.begin().await?;
            tx.lock_organization(organization).await?;
            let org = tx.organization(organization).await?;
            let membership = tx.membership(organization, actor).await?;
            let target = tx.membership(organization, member).await?;
            let transfer = tx.ownership_transfer(organization).await?;
            let decision = decide::remove_member(
                actor,
                org.as_ref(),
                membership.as_ref(),
                target.as_ref(),
                transfer.as_ref(),
            )?;
            self.commit(tx, decision).await
        })
    }

    /// The plan, its limits and the usage (R20, R21, `manage_billing`).
    pub async fn billing(
        &self,
        actor: UserId,
        organization: OrganizationId,
    ) -> Result<Billing, Error> {
        let mut tx = self.repository.read().await?;
        let org = tx.organization(organization).await?;
        let membership = tx.membership(organization, actor).await?;
        let (_, org) = decide::authorize_in(
            actor,
            org.as_ref(),
            membership.as_ref(),
            Operation::ViewBilling,
        )?;
        let usage = tx.usage(organization, Month::of(self.clock.now())).await?;
        Ok(Billing {
            plan: org.plan.clone(),
            limits: self.settings.catalog.limits_of(&org.plan),
            usage,
        })
    }

    /// The organization, for the host's billing system, which is no member:
    /// `not_found` when it does not exist. Nothing else of it is checked.
    pub async fn organization_for_host(
        &self,
        organization: OrganizationId,
    ) -> Result<Organization, Error> {
        let mut tx = self.repository.read().await?;
        tx.organization(organization)
            .await?
            .ok_or(Error::NotFound(Missing::Organization))
    }

    /// Changes the plan (R20): a member picks a self-serve plan, the host's
    /// billing system ([`PlanChanger::Host`]) sets any plan.
    pub async fn change_plan(
        &self,
        by: PlanChanger,
        organization: OrganizationId,
        plan: PlanId,
    ) -> Result<Billing, Error> {
        retrying!(async {
            let now = self.clock.now();
            let mut tx = self.repository.begin().await?;
            tx.lock_organization(organization).await?;
            let org = tx.organization(organization).await?;
            let membership = match by {
                PlanChanger::Member(actor) => tx.membership(organization, actor).await?,
                PlanChanger::Host => None,
            };
            let decision = decide::change_plan(
                by,
                org.as_ref(),
                membership.as_ref(),
                &plan,
                &self.settings.catalog,
            )?;
            let usage = tx.usage(organization, Month::of(now)).await?;
            let organization = self.commit_at(tx, decision, now).await?;
            Ok(Billing {
                limits: self.settings.catalog.limits_of(&organization.plan),
                plan: organization.plan,
                usage,
            })
        })
    }
}

mod accounts;
mod audit;
mod lifecycle;
mod resources;
mod roles;
mod webhooks;
pub use accounts::SessionView;
pub use lifecycle::DeletionView;
pub use resources::ChatRequest;
pub use roles::RoleView;

/// A read use case's answer with the one instant it read the clock at, from
/// which what depends on time is derived ([`Invitation::status_at`],
/// [`crate::resource::Schedule::next_run_after`]): an answer judged at one
/// time is shown at that time, so that a list of pending invitations never
/// shows one as expired, and every item of a list has the same clock.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AsOf<T> {
    pub value: T,
    pub now: chrono::DateTime<chrono::Utc>,
}

impl<T> AsOf<T> {
    /// The answer, without its instant.
    pub fn into_value(self) -> T {
        self.value
    }
}

#[cfg(test)]
mod tests;
