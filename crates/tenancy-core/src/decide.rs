//! The decision of every use case, as a pure function of a snapshot.
//!
//! A decision takes what the store loaded (inside the use case's transaction),
//! the clock's reading and fresh ids, and returns either an error or a
//! [`Decision`]: the changes to commit and the outcome to report. The store
//! writes the changes as they are; it decides nothing.

use chrono::{DateTime, Duration, Utc};

use crate::audit::{Action, Actor, AuditEntry, Target, TargetKind};

use crate::entity::{
    AccountToken, AccountTokenPurpose, Chat, ChatMessage, CustomRole, Invitation, InvitationState,
    InvitationStatus, MailContent, Organization, OutgoingMail, OwnershipTransfer, Resource,
    ScheduledDeletion, Session, User,
};
use crate::error::{Error, Missing};
use crate::id::{
    AccountTokenId, InvitationId, MailId, OrganizationId, PinId, ResourceId, SessionId, TransferId,
    UserId,
};
use crate::operation::Operation;
use crate::plan::{PlanCatalog, PlanId};
use crate::policy::{Grant, Membership, Role, RoleKey, authorize};
use crate::resource::{Credentials, Investigation, Pin, ReportRun};
use crate::token::SecretToken;
use crate::value::{DisplayName, EmailAddress, OrganizationName, PasswordHash};

/// One write that a decision asks the store to make.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    InsertUser {
        user: User,
        password_hash: PasswordHash,
    },
    InsertOrganization(Organization),
    InsertMembership(Membership),
    /// Gives a member another role of the organization.
    SetMemberRole {
        organization_id: OrganizationId,
        user_id: UserId,
        role: RoleKey,
    },
    DeleteMembership {
        organization_id: OrganizationId,
        user_id: UserId,
    },
    RenameOrganization {
        organization_id: OrganizationId,
        name: OrganizationName,
    },
    ChangePlan {
        organization_id: OrganizationId,
        plan: PlanId,
    },
    InsertInvitation(Invitation),
    InsertRole(CustomRole),
    /// Replaces a custom role's name, description and capabilities.
    UpdateRole(CustomRole),
    /// Moves the members and the pending invitations of one role to another.
    ReassignRole {
        organization_id: OrganizationId,
        from: RoleKey,
        to: RoleKey,
    },
    /// Deletes a custom role that nobody holds; dead invitations that named
    /// it keep its key as history.
    DeleteRole {
        organization_id: OrganizationId,
        key: RoleKey,
    },
    SetInvitationState {
        organization_id: OrganizationId,
        invitation_id: InvitationId,
        state: InvitationState,
    },
    SetActiveOrganization {
        user_id: UserId,
        organization_id: OrganizationId,
    },
    /// Records the organization made at a user's sign-up: the first place
    /// the user falls back to (R19).
    SetDefaultOrganization {
        user_id: UserId,
        organization_id: OrganizationId,
    },
    /// Gives a revived invitation a new token and expiry, and makes it
    /// pending again; the previous token's hash is kept, so that its link
    /// answers `invitation_superseded` (R30).
    ResendInvitation {
        organization_id: OrganizationId,
        invitation_id: InvitationId,
        token_hash: crate::token::TokenHash,
        expires_at: DateTime<Utc>,
    },
    /// Stores the organization's one pending ownership transfer.
    InsertTransfer(OwnershipTransfer),
    /// Ends a pending transfer (accepted, declined, cancelled, replaced, or
    /// its target gone).
    DeleteTransfer {
        organization_id: OrganizationId,
        id: TransferId,
    },
    /// Swaps the owner (R28, D8): `from` becomes an admin, `to` the owner.
    TransferOwnership {
        organization_id: OrganizationId,
        from: UserId,
        to: UserId,
    },
    /// Marks the organization pending deletion (R29).
    ScheduleDeletion {
        organization_id: OrganizationId,
        deletion: ScheduledDeletion,
    },
    /// Clears a scheduled deletion: everything is as it was.
    RestoreOrganization {
        organization_id: OrganizationId,
    },
    /// Removes every row of the organization for good (D17): resources,
    /// credentials, chats, pins, memberships, invitations, roles, transfers,
    /// emails about it, and the organization itself. Users whose active
    /// organization it was fall back on their next request.
    PurgeOrganization {
        organization_id: OrganizationId,
    },
    InsertResource(Resource),
    /// Replaces a resource's name and details (same organization, same kind).
    UpdateResource(Resource),
    DeleteResource {
        organization_id: OrganizationId,
        id: ResourceId,
        at: DateTime<Utc>,
    },
    /// Stores a connection's credentials, replacing any before; the store
    /// encrypts them bound to the organization and the connection (D9).
    SetCredentials {
        organization_id: OrganizationId,
        connection_id: ResourceId,
        credentials: Credentials,
        at: DateTime<Utc>,
    },
    DeleteCredentials {
        organization_id: OrganizationId,
        connection_id: ResourceId,
    },
    InsertReportRun(ReportRun),
    InsertPin(Pin),
    DeletePin {
        organization_id: OrganizationId,
        user_id: UserId,
        id: PinId,
    },
    /// Unpins a deleted item from every member's sidebar.
    DeletePinsOf {
        organization_id: OrganizationId,
        item_id: ResourceId,
    },
    InsertInvestigation(Investigation),
    InsertChat(Chat),
    InsertChatMessage(ChatMessage),
    /// Written in the same transaction as what the email is about (D11).
    EnqueueMail(OutgoingMail),
    InsertSession(Session),
    /// Ends one session of a user (the user's own id scopes it).
    EndSession {
        user_id: UserId,
        session_id: SessionId,
    },
    /// Ends every session of a user but `except`, if given.
    EndSessionsOf {
        user_id: UserId,
        except: Option<SessionId>,
    },
    /// Records a session's use.
    TouchSession {
        session_id: SessionId,
        at: DateTime<Utc>,
    },
    /// Removes the sessions that ended by a lifetime: opened at or before
    /// `opened_by`, or last used at or before `last_used_by`.
    SweepSessions {
        opened_by: DateTime<Utc>,
        last_used_by: DateTime<Utc>,
    },
    InsertAccountToken(AccountToken),
    /// Marks the open links of a purpose superseded (D19).
    SupersedeAccountTokens {
        user_id: UserId,
        purpose: AccountTokenPurpose,
        at: DateTime<Utc>,
    },
    /// Uses an open link; the store refuses (as contention) a link that is
    /// no longer open, so that two concurrent uses let one through.
    UseAccountToken {
        id: AccountTokenId,
        at: DateTime<Utc>,
    },
    /// Removes the links that expired before the instant, with their emails.
    SweepAccountTokens {
        expired_before: DateTime<Utc>,
    },
    MarkEmailVerified {
        user_id: UserId,
        at: DateTime<Utc>,
    },
    SetPassword {
        user_id: UserId,
        password_hash: PasswordHash,
    },
    /// Stores a webhook with its secret, which the store seals (R33).
    InsertWebhook {
        webhook: crate::webhook::Webhook,
        secret: crate::webhook::WebhookSecret,
    },
    /// Replaces a webhook's URL, events, description and whether it is enabled.
    UpdateWebhook(crate::webhook::Webhook),
    /// Deletes a webhook and its deliveries.
    DeleteWebhook {
        organization_id: OrganizationId,
        id: crate::id::WebhookId,
    },
    /// Replaces a webhook's secret; the previous one signs too until
    /// `previous_until`.
    RotateWebhookSecret {
        organization_id: OrganizationId,
        id: crate::id::WebhookId,
        secret: crate::webhook::WebhookSecret,
        previous_until: DateTime<Utc>,
        at: DateTime<Utc>,
    },
    /// Queues a `webhook.test` delivery.
    EnqueueTestDelivery(crate::webhook::Delivery),
    /// Queues a delivery again at `at`, its schedule restarted.
    RetryDelivery {
        organization_id: OrganizationId,
        id: crate::id::DeliveryId,
        at: DateTime<Utc>,
    },
    /// Records the audit event of a change to an organization (R32, D16).
    /// The service stamps it when it commits ([`Write::stamp`]); the store
    /// gives it the organization's next `seq` and seals it into the chain.
    Audit(crate::audit::AuditEntry),
}

/// The audit entry of a change to an organization (R32).
pub(crate) fn audit(
    organization: OrganizationId,
    action: Action,
    actor: Actor,
    target: Target,
) -> AuditEntry {
    AuditEntry::new(organization, action, actor, target)
}

/// An organization as an audit event's target.
pub(crate) fn organization_target(organization: &Organization) -> Target {
    Target::new(
        TargetKind::Organization,
        organization.id,
        organization.name.as_str(),
    )
}

/// An invitation as an audit event's target, labelled by its address.
pub(crate) fn invitation_target(invitation: &Invitation) -> Target {
    Target::new(
        TargetKind::Invitation,
        invitation.id,
        invitation.email.as_str(),
    )
}

/// One decided change, as the store receives it in [`crate::ports::Transaction::apply`].
/// Only the core makes one (the field is private): a host may build a
/// [`Change`], but cannot get it written past the decisions. The store reads
/// it with [`Write::change`].
///
/// A change can be built anywhere; a write of it cannot:
///
/// ```
/// use tenancy_core::decide::Change;
/// let change = Change::SweepAccountTokens { expired_before: chrono::DateTime::UNIX_EPOCH };
/// # let _ = change;
/// ```
///
/// ```compile_fail
/// use tenancy_core::decide::{Change, Write};
/// let change = Change::SweepAccountTokens { expired_before: chrono::DateTime::UNIX_EPOCH };
/// let write = Write(change);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Write(Change, Option<crate::audit::Stamp>);

impl Write {
    /// A change that a decision made.
    pub(crate) const fn of(change: Change) -> Self {
        Self(change, None)
    }

    /// An audit entry that a decision made, stamped by the service.
    pub(crate) const fn stamped(change: Change, stamp: crate::audit::Stamp) -> Self {
        Self(change, Some(stamp))
    }

    /// What to write.
    pub const fn change(&self) -> &Change {
        &self.0
    }

    /// The id, instant and request of a [`Change::Audit`]; `None` for
    /// every other change.
    pub const fn stamp(&self) -> Option<&crate::audit::Stamp> {
        self.1.as_ref()
    }
}

/// What a use case decided: the changes to commit, and its outcome. Only the
/// core makes one.
#[derive(Debug, Clone, PartialEq, Eq)]
#[must_use]
pub struct Decision<T> {
    changes: Vec<Change>,
    outcome: T,
}

impl<T> Decision<T> {
    fn new(changes: Vec<Change>, outcome: T) -> Self {
        Self { changes, outcome }
    }

    /// The writes to make, in order.
    pub fn changes(&self) -> &[Change] {
        &self.changes
    }

    /// What to report once the changes are committed.
    pub fn outcome(&self) -> &T {
        &self.outcome
    }

    /// Both parts.
    pub fn into_parts(self) -> (Vec<Change>, T) {
        (self.changes, self.outcome)
    }
}

/// Checks that the organization exists and that the actor may do
/// `operation` in it. A missing organization and a non-member get the same
/// error (D1). An organization pending deletion is gone for every member but
/// its owner, who may only see it, its deletion, and restore it (R29):
/// the rest answers `organization_pending_deletion`.
pub fn authorize_in<'a>(
    actor: UserId,
    organization: Option<&'a Organization>,
    membership: Option<&Membership>,
    operation: Operation,
) -> Result<(Grant, &'a Organization), Error> {
    let organization = organization.ok_or(Error::NotFound(Missing::Organization))?;
    let membership = membership
        .filter(|m| m.user_id == actor && m.organization_id == organization.id)
        .ok_or(Error::NotFound(Missing::Organization))?;
    if organization.is_pending_deletion() {
        if !accessible(membership, organization) {
            return Err(Error::NotFound(Missing::Organization));
        }
        if !operation.allowed_while_pending_deletion() {
            return Err(Error::OrganizationPendingDeletion);
        }
    }
    let grant = authorize(
        actor,
        organization.id,
        Some(membership),
        operation.capability(),
    )?;
    Ok((grant, organization))
}

/// Whether a member still reaches the organization at all: always, unless it
/// is pending deletion, which leaves it to its owner alone (R29).
pub fn accessible(membership: &Membership, organization: &Organization) -> bool {
    membership.organization_id == organization.id
        && (!organization.is_pending_deletion()
            || (membership.role.is_owner() && organization.owner_id == membership.user_id))
}

/// Whether the organization may be a member's active one: accessible, and
/// not pending deletion, even for its owner (R19, R29).
pub fn may_be_active(membership: &Membership, organization: &Organization) -> bool {
    accessible(membership, organization) && !organization.is_pending_deletion()
}

/// The capability check for a host (`POST /v1/authorize`, the library's
/// [`crate::Service::authorize`]): the matrix, and nothing at all in an
/// organization that is missing or pending deletion, for anyone (R29).
pub fn authorize_for_host(
    user: UserId,
    organization_id: OrganizationId,
    organization: Option<&Organization>,
    membership: Option<&Membership>,
    capability: crate::policy::Capability,
) -> Result<Grant, crate::policy::Denial> {
    match organization {
        Some(organization)
            if organization.id == organization_id && !organization.is_pending_deletion() =>
        {
            authorize(user, organization_id, membership, capability)
        }
        _ => Err(crate::policy::Denial::NotAMember),
    }
}

/// What sign-up needs that the core cannot make itself.
#[derive(Debug, Clone)]
pub struct SignUp {
    pub user_id: UserId,
    pub organization_id: OrganizationId,
    pub email: EmailAddress,
    pub display_name: Option<DisplayName>,
    pub password_hash: PasswordHash,
    pub default_plan: PlanId,
    /// The session that sign-up opens.
    pub session_id: SessionId,
    pub session_token: SecretToken,
    /// The verification link, sent unless an invitation proved the address.
    pub verification: AccountLink,
    /// Whether the verification email may go (the rate limit of emails per
    /// address withholds it).
    pub verification_mail: AccountMail,
    pub verification_ttl: Duration,
    pub now: DateTime<Utc>,
}

/// The invitation token presented at sign-up, as the store found it.
#[derive(Debug, Clone, Copy)]
pub enum PresentedInvitation<'a> {
    /// No token came with the sign-up.
    None,
    /// A token came, but no invitation has it (or it was not a token).
    Unknown,
    /// A token that a resend replaced (R30).
    Superseded,
    /// The invitation of the token.
    Found(&'a Invitation),
}

/// The outcome of sign-up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignedUp {
    pub user: User,
    pub default_organization: Organization,
    /// `None` when no token came; otherwise what became of the invitation.
    pub invitation: Option<InvitationOutcome>,
    /// The organization that is active after sign-up.
    pub active_organization_id: OrganizationId,
    /// The bearer token of the session that sign-up opened.
    pub session_token: SecretToken,
}

/// What became of the invitation presented at sign-up. Sign-up succeeds
/// either way; the code says why an invitation was not accepted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum InvitationOutcome {
    Accepted(Accepted),
    NotAccepted { code: &'static str },
}

/// Sign-up: a user, their default organization (owned, on the default plan,
/// active), and with a token in hand the invitation accepted in the same
/// transaction (R3, R11, D3).
pub fn sign_up(
    input: SignUp,
    existing_user: Option<&User>,
    presented: PresentedInvitation<'_>,
) -> Result<Decision<SignedUp>, Error> {
    if existing_user.is_some_and(|user| user.email == input.email) {
        return Err(Error::EmailTaken);
    }
    let mut user = User {
        id: input.user_id,
        email: input.email,
        display_name: input.display_name,
        // Tried as verified: an accepted invitation proves the address.
        email_verified: true,
        created_at: input.now,
    };
    let name = OrganizationName::default_for(user.display_name.as_ref(), &user.email);
    let (org_changes, organization) = new_organization(
        user.id,
        input.organization_id,
        name,
        input.default_plan,
        input.now,
    );
    let mut changes = org_changes;
    changes.push(Change::SetDefaultOrganization {
        user_id: user.id,
        organization_id: organization.id,
    });
    changes.push(Change::InsertSession(new_session(
        input.session_id,
        &input.session_token,
        user.id,
        input.now,
    )));
    let mut active = organization.id;
    let invitation = match presented {
        PresentedInvitation::None => None,
        PresentedInvitation::Unknown => Some(InvitationOutcome::NotAccepted {
            code: Error::NotFound(Missing::Invitation).code(),
        }),
        PresentedInvitation::Superseded => Some(InvitationOutcome::NotAccepted {
            code: Error::InvitationSuperseded.code(),
        }),
        PresentedInvitation::Found(invitation) => {
            // A brand-new user is a member of nothing but their own organization.
            match accept(&user, None, Some(invitation), input.now) {
                Ok(decision) => {
                    let (accept_changes, accepted) = decision.into_parts();
                    changes.extend(accept_changes);
                    active = accepted.organization_id;
                    Some(InvitationOutcome::Accepted(accepted))
                }
                Err(error) => Some(InvitationOutcome::NotAccepted { code: error.code() }),
            }
        }
    };
    let mut head = Vec::new();
    if !matches!(invitation, Some(InvitationOutcome::Accepted(_))) {
        user.email_verified = false;
        if input.verification_mail == AccountMail::Send {
            changes.extend(account_link(
                &user,
                AccountTokenPurpose::VerifyEmail,
                input.verification,
                input.verification_ttl,
                input.now,
            ));
        }
    }
    // The user is inserted first, as it is: verified only when the link proved it.
    head.push(Change::InsertUser {
        user: user.clone(),
        password_hash: input.password_hash,
    });
    head.extend(changes);
    let changes = head;
    Ok(Decision::new(
        changes,
        SignedUp {
            user,
            default_organization: organization,
            invitation,
            active_organization_id: active,
            session_token: input.session_token,
        },
    ))
}

/// Proof that a password matched an account's stored hash. Only the core
/// makes one, after a [`crate::ports::PasswordVerifier`] said so: a host
/// cannot open a session by claiming that a password matched.
///
/// ```compile_fail
/// let proof = tenancy_core::decide::PasswordMatched { user: tenancy_core::UserId::from_uuid(uuid::Uuid::nil()) };
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PasswordMatched {
    user: UserId,
}

impl PasswordMatched {
    pub(crate) const fn of(user: UserId) -> Self {
        Self { user }
    }

    /// The user whose password matched.
    pub const fn user(&self) -> UserId {
        self.user
    }
}

/// Signing in, once the password was checked against the stored hash
/// (slowly, outside any transaction): a new session. An unknown email and a
/// wrong password are one error, so that sign-in does not tell which
/// addresses have accounts.
pub fn sign_in(
    account: Option<&User>,
    matched: Option<PasswordMatched>,
    session_id: SessionId,
    token: &SecretToken,
    now: DateTime<Utc>,
) -> Result<Decision<UserId>, Error> {
    let user = account
        .filter(|user| matched.is_some_and(|proof| proof.user() == user.id))
        .ok_or(Error::InvalidCredentials)?;
    Ok(Decision::new(
        vec![Change::InsertSession(new_session(
            session_id, token, user.id, now,
        ))],
        user.id,
    ))
}

fn new_session(id: SessionId, token: &SecretToken, user_id: UserId, now: DateTime<Utc>) -> Session {
    Session {
        id,
        token_hash: token.hash(),
        user_id,
        created_at: now,
        last_used_at: now,
    }
}

fn new_organization(
    owner: UserId,
    id: OrganizationId,
    name: OrganizationName,
    plan: PlanId,
    now: DateTime<Utc>,
) -> (Vec<Change>, Organization) {
    let organization = Organization {
        id,
        name,
        plan,
        owner_id: owner,
        created_at: now,
        deletion: None,
    };
    let changes = vec![
        Change::InsertOrganization(organization.clone()),
        Change::InsertMembership(Membership {
            organization_id: id,
            user_id: owner,
            role: Role::OWNER,
            joined_at: now,
        }),
        Change::SetActiveOrganization {
            user_id: owner,
            organization_id: id,
        },
        Change::Audit(audit(
            id,
            Action::OrganizationCreated,
            Actor::User(owner),
            organization_target(&organization),
        )),
    ];
    (changes, organization)
}

/// Creating an organization: owned by its creator, on the default plan, with
/// no resources, and active for the creator (R5, R6). There is no limit.
pub fn create_organization(
    actor: UserId,
    id: OrganizationId,
    name: OrganizationName,
    default_plan: PlanId,
    now: DateTime<Utc>,
) -> Decision<Organization> {
    let (changes, organization) = new_organization(actor, id, name, default_plan, now);
    Decision::new(changes, organization)
}

/// Renaming (R9, `rename_organization`).
pub fn rename(
    actor: UserId,
    organization: Option<&Organization>,
    membership: Option<&Membership>,
    name: OrganizationName,
) -> Result<Decision<Organization>, Error> {
    let (grant, organization) = authorize_in(
        actor,
        organization,
        membership,
        Operation::RenameOrganization,
    )?;
    let renamed = Organization {
        name: name.clone(),
        ..organization.clone()
    };
    Ok(Decision::new(
        vec![
            Change::RenameOrganization {
                organization_id: grant.organization_id(),
                name,
            },
            Change::Audit(
                audit(
                    organization.id,
                    Action::OrganizationRenamed,
                    Actor::User(actor),
                    organization_target(&renamed),
                )
                .changing(
                    "name",
                    organization.name.as_str(),
                    renamed.name.as_str(),
                ),
            ),
        ],
        renamed,
    ))
}

/// What inviting needs besides the snapshot.
#[derive(Debug, Clone)]
pub struct Invite {
    pub email: EmailAddress,
    /// The role asked for, as the client spelled it; `None` is the default.
    pub role: Option<String>,
    pub invitation_id: InvitationId,
    pub mail_id: MailId,
    pub token: SecretToken,
    pub ttl: Duration,
    /// Whether the inviter's address must be verified (R31); off with
    /// `--allow-unverified-inviters`.
    pub inviter_must_be_verified: bool,
    pub now: DateTime<Utc>,
}

/// What the store loaded for an invitation.
#[derive(Debug, Clone, Copy)]
pub struct InviteSnapshot<'a> {
    pub organization: Option<&'a Organization>,
    pub inviter: &'a User,
    pub inviter_membership: Option<&'a Membership>,
    /// The invitee's membership of the organization, if they have an account and one.
    pub invitee_membership: Option<&'a Membership>,
    /// The invitation still open for this email in this organization, if any.
    pub open_invitation: Option<&'a Invitation>,
    /// The role asked for, as the organization defines it (`None` when it
    /// has no role of that key, or no role was asked for).
    pub role: Option<&'a Role>,
}

/// Inviting an email with a role the inviter could assign (R10, R25, D5,
/// D14): a re-invite replaces the open invitation; inviting a member is a
/// conflict; the email goes to the outbox in the same transaction.
pub fn invite(snapshot: InviteSnapshot<'_>, input: Invite) -> Result<Decision<Invitation>, Error> {
    let (grant, organization) = authorize_in(
        snapshot.inviter.id,
        snapshot.organization,
        snapshot.inviter_membership,
        Operation::InviteMember,
    )?;
    if input.inviter_must_be_verified {
        require_verified(snapshot.inviter)?;
    }
    // The default role is given like any other: only by one who holds all
    // of its capabilities (D14).
    let role = match input.role.as_deref() {
        None => {
            let default = Role::INVITED_DEFAULT;
            assignable(&grant, default.key().as_str(), Some(&default))?.clone()
        }
        Some(key) => assignable(&grant, key, snapshot.role)?.clone(),
    };
    if snapshot
        .invitee_membership
        .is_some_and(|m| m.organization_id == organization.id)
    {
        return Err(Error::AlreadyMember);
    }
    let mut changes = Vec::new();
    if let Some(open) = snapshot
        .open_invitation
        .filter(|open| open.is_open() && open.organization_id == organization.id)
    {
        // A replaced invitation's link must say "revoked"; one that had
        // already expired keeps saying "expired".
        let state = match open.status_at(input.now) {
            InvitationStatus::Expired => InvitationState::Expired,
            _ => InvitationState::Revoked { at: input.now },
        };
        changes.push(Change::SetInvitationState {
            organization_id: organization.id,
            invitation_id: open.id,
            state,
        });
    }
    let invitation = Invitation {
        id: input.invitation_id,
        organization_id: grant.organization_id(),
        email: input.email.clone(),
        role,
        token_hash: input.token.hash(),
        invited_by: grant.user_id(),
        created_at: input.now,
        expires_at: input.now + input.ttl,
        state: InvitationState::Pending,
    };
    changes.push(Change::InsertInvitation(invitation.clone()));
    changes.push(Change::Audit(audit(
        organization.id,
        Action::InvitationCreated,
        Actor::User(grant.user_id()),
        invitation_target(&invitation),
    )));
    changes.push(Change::EnqueueMail(OutgoingMail {
        id: input.mail_id,
        to: input.email,
        created_at: input.now,
        content: MailContent::Invitation {
            invitation_id: invitation.id,
            organization_name: organization.name.clone(),
            inviter_email: snapshot.inviter.email.clone(),
            role_name: invitation.role.name().clone(),
            token: input.token,
            expires_at: invitation.expires_at,
        },
    }));
    Ok(Decision::new(changes, invitation))
}

/// Revoking (R17): the link stops working. Revoking a dead invitation again
/// changes nothing; revoking a used one is a conflict.
pub fn revoke(
    actor: UserId,
    organization: Option<&Organization>,
    membership: Option<&Membership>,
    invitation: Option<&Invitation>,
    now: DateTime<Utc>,
) -> Result<Decision<()>, Error> {
    let (grant, _) = authorize_in(actor, organization, membership, Operation::RevokeInvitation)?;
    let invitation = invitation
        .filter(|invitation| invitation.organization_id == grant.organization_id())
        .ok_or(Error::NotFound(Missing::Invitation))?;
    match invitation.status_at(now) {
        InvitationStatus::Accepted => Err(Error::InvitationAlreadyAccepted),
        InvitationStatus::Revoked | InvitationStatus::Expired => Ok(Decision::new(vec![], ())),
        InvitationStatus::Pending => Ok(Decision::new(
            vec![
                Change::SetInvitationState {
                    organization_id: invitation.organization_id,
                    invitation_id: invitation.id,
                    state: InvitationState::Revoked { at: now },
                },
                Change::Audit(audit(
                    invitation.organization_id,
                    Action::InvitationRevoked,
                    Actor::User(actor),
                    invitation_target(invitation),
                )),
            ],
            (),
        )),
    }
}

/// The outcome of accepting an invitation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Accepted {
    pub organization_id: OrganizationId,
    pub role: Role,
    /// False when the caller was already a member (an idempotent repeat).
    pub newly_joined: bool,
}

/// Accepting (R12, D3, D6, D7). The caller must be signed in with the invited
/// email. Accepting again while still a member succeeds and changes nothing
/// but the active organization; a used invitation never admits anyone again.
pub fn accept(
    actor: &User,
    actor_membership: Option<&Membership>,
    invitation: Option<&Invitation>,
    now: DateTime<Utc>,
) -> Result<Decision<Accepted>, Error> {
    let invitation = invitation.ok_or(Error::NotFound(Missing::Invitation))?;
    if invitation.email != actor.email {
        return Err(Error::InvitationEmailMismatch);
    }
    let membership = actor_membership
        .filter(|m| m.user_id == actor.id && m.organization_id == invitation.organization_id);
    let switch = Change::SetActiveOrganization {
        user_id: actor.id,
        organization_id: invitation.organization_id,
    };
    match (invitation.status_at(now), membership) {
        (InvitationStatus::Accepted, Some(membership)) => Ok(Decision::new(
            vec![switch],
            Accepted {
                organization_id: invitation.organization_id,
                role: membership.role.clone(),
                newly_joined: false,
            },
        )),
        (InvitationStatus::Accepted, None) => Err(Error::InvitationAlreadyAccepted),
        (InvitationStatus::Revoked, _) => Err(Error::InvitationRevoked),
        (InvitationStatus::Expired, _) => Err(Error::InvitationExpired),
        (InvitationStatus::Pending, membership) => {
            let mut changes = vec![Change::SetInvitationState {
                organization_id: invitation.organization_id,
                invitation_id: invitation.id,
                state: InvitationState::Accepted {
                    by: actor.id,
                    at: now,
                },
            }];
            changes.push(Change::Audit(audit(
                invitation.organization_id,
                Action::InvitationAccepted,
                Actor::User(actor.id),
                invitation_target(invitation),
            )));
            // A member who still holds an open invitation (they joined through
            // another path) keeps their role; the invitation is used up.
            let role = match membership {
                Some(membership) => membership.role.clone(),
                None => {
                    changes.push(Change::InsertMembership(Membership {
                        organization_id: invitation.organization_id,
                        user_id: actor.id,
                        role: invitation.role.clone(),
                        joined_at: now,
                    }));
                    changes.push(Change::Audit(audit(
                        invitation.organization_id,
                        Action::MemberAdded,
                        Actor::User(actor.id),
                        Target::user(actor.id),
                    )));
                    invitation.role.clone()
                }
            };
            changes.push(switch);
            // The link came to this address: it proves it.
            if !actor.email_verified {
                changes.push(Change::MarkEmailVerified {
                    user_id: actor.id,
                    at: now,
                });
            }
            Ok(Decision::new(
                changes,
                Accepted {
                    organization_id: invitation.organization_id,
                    role,
                    newly_joined: membership.is_none(),
                },
            ))
        }
    }
}

/// Removing a member (R19, D8, D14). The owner cannot be removed, and a
/// member only by one who holds every capability of their role. The removed
/// member's access ends with the commit; their active organization falls
/// back when next read (see [`resolve_active`]).
pub fn remove_member(
    actor: UserId,
    organization: Option<&Organization>,
    actor_membership: Option<&Membership>,
    target: Option<&Membership>,
    transfer: Option<&OwnershipTransfer>,
) -> Result<Decision<()>, Error> {
    let (grant, organization) = authorize_in(
        actor,
        organization,
        actor_membership,
        Operation::RemoveMember,
    )?;
    let target = target
        .filter(|m| m.organization_id == grant.organization_id())
        .ok_or(Error::NotFound(Missing::Member))?;
    if target.role.is_owner() || target.user_id == organization.owner_id {
        return Err(Error::OwnerCannotBeRemoved);
    }
    outranks(&grant, &target.role)?;
    // The transfer goes first: it names the membership.
    let mut changes: Vec<Change> = end_transfer_to(transfer, target.user_id)
        .into_iter()
        .collect();
    changes.push(Change::DeleteMembership {
        organization_id: target.organization_id,
        user_id: target.user_id,
    });
    changes.push(Change::Audit(audit(
        target.organization_id,
        Action::MemberRemoved,
        Actor::User(actor),
        Target::user(target.user_id),
    )));
    Ok(Decision::new(changes, ()))
}

/// A pending transfer to a member who goes ends with their membership (R28).
fn end_transfer_to(transfer: Option<&OwnershipTransfer>, user: UserId) -> Option<Change> {
    transfer
        .filter(|transfer| transfer.to_user_id == user)
        .map(|transfer| Change::DeleteTransfer {
            organization_id: transfer.organization_id,
            id: transfer.id,
        })
}

/// Leaving an organization (R27): every effect of a removal (R19), by the
/// member themselves; the owner cannot leave (D8).
pub fn leave(
    actor: UserId,
    organization: Option<&Organization>,
    membership: Option<&Membership>,
    transfer: Option<&OwnershipTransfer>,
) -> Result<Decision<()>, Error> {
    let (grant, organization) = authorize_in(
        actor,
        organization,
        membership,
        Operation::LeaveOrganization,
    )?;
    if grant.is_owner() || organization.owner_id == actor {
        return Err(Error::OwnerCannotLeave);
    }
    // The transfer goes first: it names the membership.
    let mut changes: Vec<Change> = end_transfer_to(transfer, actor).into_iter().collect();
    changes.push(Change::DeleteMembership {
        organization_id: organization.id,
        user_id: actor,
    });
    changes.push(Change::Audit(audit(
        organization.id,
        Action::MemberLeft,
        Actor::User(actor),
        Target::user(actor),
    )));
    Ok(Decision::new(changes, ()))
}

/// Switching the active organization (R7, R8): only to one the user belongs to.
/// An organization pending deletion is no one's to switch to: its owner is
/// told so, the others that it is gone (R29).
pub fn switch_active(
    actor: UserId,
    organization_id: OrganizationId,
    organization: Option<&Organization>,
    membership: Option<&Membership>,
) -> Result<Decision<OrganizationId>, Error> {
    let organization = organization.filter(|o| o.id == organization_id);
    let (_, organization) =
        authorize_in(actor, organization, membership, Operation::ViewOrganization)?;
    if organization.is_pending_deletion() {
        return Err(Error::OrganizationPendingDeletion);
    }
    Ok(Decision::new(
        vec![Change::SetActiveOrganization {
            user_id: actor,
            organization_id,
        }],
        organization_id,
    ))
}

/// The active organization of a user: the stored choice while it is still
/// accessible, otherwise the user's default organization (the one made at
/// sign-up) if they can still reach it, otherwise their own oldest
/// organization, stored as the new choice (R8, R19). `memberships` are the
/// ones that may be active. `None` only for a user who belongs to nothing.
pub fn resolve_active(
    user: UserId,
    stored: Option<OrganizationId>,
    default: Option<OrganizationId>,
    memberships: &[Membership],
) -> Decision<Option<OrganizationId>> {
    let mine = memberships.iter().filter(|m| m.user_id == user);
    if let Some(stored) = stored
        && mine.clone().any(|m| m.organization_id == stored)
    {
        return Decision::new(vec![], Some(stored));
    }
    let fallback = default
        .filter(|default| mine.clone().any(|m| m.organization_id == *default))
        .or_else(|| {
            mine.min_by_key(|m| (!m.role.is_owner(), m.joined_at, m.organization_id))
                .map(|m| m.organization_id)
        });
    let changes = fallback
        .map(|organization_id| Change::SetActiveOrganization {
            user_id: user,
            organization_id,
        })
        .into_iter()
        .collect();
    Decision::new(changes, fallback)
}

/// Who asks to change an organization's plan.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PlanChanger {
    /// A member, who needs `manage_billing` and may pick self-serve plans only.
    Member(UserId),
    /// The host's billing system, after payment (over HTTP, the holder of the
    /// service token): any plan of the catalog, in any organization that
    /// exists. It is no member, so there is no grant to check.
    Host,
}

/// Changing an organization's plan (R20). A member needs `manage_billing`
/// and picks among the self-serve plans; the host sets any plan. An
/// unknown plan is invalid whoever asks; it is told before a plan that is
/// not selectable, as the body is judged before the state. Downgrading
/// below current usage is allowed (D10).
pub fn change_plan(
    by: PlanChanger,
    organization: Option<&Organization>,
    membership: Option<&Membership>,
    plan: &PlanId,
    catalog: &PlanCatalog,
) -> Result<Decision<Organization>, Error> {
    let organization = match by {
        PlanChanger::Member(actor) => {
            authorize_in(actor, organization, membership, Operation::ChangePlan)?.1
        }
        PlanChanger::Host => organization.ok_or(Error::NotFound(Missing::Organization))?,
    };
    let chosen = catalog
        .get(plan)
        .ok_or_else(|| Error::UnknownPlan(plan.clone()))?;
    if matches!(by, PlanChanger::Member(_)) && !chosen.self_serve {
        return Err(Error::PlanNotSelectable(plan.clone()));
    }
    let actor = match by {
        PlanChanger::Member(actor) => Actor::User(actor),
        PlanChanger::Host => Actor::Service,
    };
    Ok(Decision::new(
        vec![
            Change::ChangePlan {
                organization_id: organization.id,
                plan: plan.clone(),
            },
            Change::Audit(
                audit(
                    organization.id,
                    Action::OrganizationPlanChanged,
                    actor,
                    organization_target(organization),
                )
                .changing("plan", organization.plan.as_str(), plan.as_str()),
            ),
        ],
        Organization {
            plan: plan.clone(),
            ..organization.clone()
        },
    ))
}

mod accounts;
mod lifecycle;
mod resources;
mod roles;
mod webhooks;
pub use accounts::*;
pub use lifecycle::*;
pub use resources::*;
pub use roles::*;
pub use webhooks::*;

#[cfg(test)]
mod tests;
