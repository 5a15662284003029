//! Decisions of an organization's life past day one: resending an
//! invitation (R30), handing the ownership to a member (R28), and deleting
//! the organization with a grace period, restoring it, purging it (R29,
//! D17). Every organization keeps exactly one owner (D8), and every user
//! keeps an organization of their own that is not pending deletion (D13),
//! so that the fallback of R19 always has somewhere to go.

use chrono::{DateTime, Duration, Utc};

use super::{
    Change, Decision, assignable, audit, authorize_in, invitation_target, organization_target,
    require_verified,
};
use crate::audit::{Action, Actor, Label, Target, TargetKind};
use crate::entity::{
    Invitation, InvitationState, InvitationStatus, MailContent, Organization, OutgoingMail,
    OwnershipTransfer, ScheduledDeletion, TRANSFER_TTL, User,
};
use crate::error::{Error, Missing};
use crate::id::{MailId, OrganizationId, TransferId, UserId};
use crate::operation::Operation;
use crate::policy::{Membership, Role};
use crate::token::SecretToken;

/// Whether `user` owns an organization other than `except` that is not
/// pending deletion, among their memberships (D13).
pub fn owns_another(
    user: UserId,
    except: OrganizationId,
    memberships: &[(Membership, Organization)],
) -> bool {
    memberships.iter().any(|(membership, organization)| {
        membership.user_id == user
            && membership.role.is_owner()
            && organization.owner_id == user
            && organization.id != except
            && !organization.is_pending_deletion()
    })
}

fn keep_one_owned(
    user: UserId,
    except: OrganizationId,
    memberships: &[(Membership, Organization)],
) -> Result<(), Error> {
    if owns_another(user, except, memberships) {
        Ok(())
    } else {
        Err(Error::LastOwnedOrganization)
    }
}

/// What resending needs besides the snapshot.
#[derive(Debug, Clone)]
pub struct Resend {
    pub mail_id: MailId,
    pub token: SecretToken,
    pub ttl: Duration,
    /// Whether the sender's address must be verified (R31).
    pub sender_must_be_verified: bool,
    pub now: DateTime<Utc>,
}

/// What the store loaded for a resend.
#[derive(Debug, Clone, Copy)]
pub struct ResendSnapshot<'a> {
    pub organization: Option<&'a Organization>,
    pub sender: &'a User,
    pub sender_membership: Option<&'a Membership>,
    /// The invitation named, if it is the organization's.
    pub invitation: Option<&'a Invitation>,
    /// The invitee's membership of the organization, if they have an
    /// account and one.
    pub invitee_membership: Option<&'a Membership>,
    /// The open invitation of the same email, if any: the invitation itself,
    /// or a newer one sent after it expired.
    pub open_invitation: Option<&'a Invitation>,
}

/// Resending an invitation (R30): the same invitation, pending again with a
/// fresh expiry and a new token, whose email goes to the outbox; the old
/// link answers `invitation_superseded`. A pending or an expired invitation
/// can be resent; reviving an expired one closes any other open invitation
/// of the email, as a re-invite would (D5).
pub fn resend(snapshot: ResendSnapshot<'_>, input: Resend) -> Result<Decision<Invitation>, Error> {
    let (grant, organization) = authorize_in(
        snapshot.sender.id,
        snapshot.organization,
        snapshot.sender_membership,
        Operation::ResendInvitation,
    )?;
    if input.sender_must_be_verified {
        require_verified(snapshot.sender)?;
    }
    let invitation = snapshot
        .invitation
        .filter(|invitation| invitation.organization_id == organization.id)
        .ok_or(Error::NotFound(Missing::Invitation))?;
    match invitation.status_at(input.now) {
        InvitationStatus::Accepted => return Err(Error::InvitationAlreadyAccepted),
        InvitationStatus::Revoked => return Err(Error::InvitationRevoked),
        InvitationStatus::Pending | InvitationStatus::Expired => {}
    }
    if snapshot
        .invitee_membership
        .is_some_and(|m| m.organization_id == organization.id)
    {
        return Err(Error::AlreadyMember);
    }
    // A dead invitation may name a custom role deleted since (its retired
    // role, kept as history): reviving it would admit someone with a role
    // the organization no longer has.
    let current = Some(&invitation.role).filter(|role| !role.is_retired());
    let role = assignable(&grant, invitation.role.key().as_str(), current)?;
    let mut changes = Vec::new();
    if let Some(other) = snapshot.open_invitation.filter(|other| {
        other.id != invitation.id && other.is_open() && other.organization_id == organization.id
    }) {
        let state = match other.status_at(input.now) {
            InvitationStatus::Expired => InvitationState::Expired,
            _ => InvitationState::Revoked { at: input.now },
        };
        changes.push(Change::SetInvitationState {
            organization_id: organization.id,
            invitation_id: other.id,
            state,
        });
    }
    let resent = Invitation {
        role: role.clone(),
        token_hash: input.token.hash(),
        expires_at: input.now + input.ttl,
        state: InvitationState::Pending,
        ..invitation.clone()
    };
    changes.push(Change::ResendInvitation {
        organization_id: organization.id,
        invitation_id: resent.id,
        token_hash: resent.token_hash,
        expires_at: resent.expires_at,
    });
    changes.push(Change::Audit(audit(
        organization.id,
        Action::InvitationResent,
        Actor::User(grant.user_id()),
        invitation_target(&resent),
    )));
    changes.push(Change::EnqueueMail(OutgoingMail {
        id: input.mail_id,
        to: resent.email.clone(),
        created_at: input.now,
        content: MailContent::Invitation {
            invitation_id: resent.id,
            organization_name: organization.name.clone(),
            inviter_email: snapshot.sender.email.clone(),
            role_name: resent.role.name().clone(),
            token: input.token,
            expires_at: resent.expires_at,
        },
    }));
    Ok(Decision::new(changes, resent))
}

/// The invitations of a list filtered by status (R30): `None` is all.
pub fn invitations_with_status(
    invitations: Vec<Invitation>,
    status: Option<InvitationStatus>,
    now: DateTime<Utc>,
) -> Vec<Invitation> {
    invitations
        .into_iter()
        .filter(|invitation| status.is_none_or(|status| invitation.status_at(now) == status))
        .collect()
}

/// What a transfer request needs besides the snapshot.
#[derive(Debug, Clone, Copy)]
pub struct TransferRequest {
    pub transfer_id: TransferId,
    pub mail_id: MailId,
    /// Whether the owner's address must be verified (R31).
    pub owner_must_be_verified: bool,
    pub now: DateTime<Utc>,
}

/// What the store loaded for a transfer request.
#[derive(Debug, Clone, Copy)]
pub struct TransferSnapshot<'a> {
    pub organization: Option<&'a Organization>,
    pub owner: &'a User,
    pub owner_membership: Option<&'a Membership>,
    /// Every membership of the owner, each with its organization (D13).
    pub owner_memberships: &'a [(Membership, Organization)],
    /// The target's membership of the organization and account, if any.
    pub target: Option<(&'a Membership, &'a User)>,
    /// The pending transfer it replaces, if any.
    pub pending: Option<&'a OwnershipTransfer>,
}

/// Offering the ownership to a member (R28): one pending transfer at a time,
/// replaced by a new request; the target is told by email. Refused when the
/// owner would be left with no organization of their own (D13).
pub fn request_transfer(
    snapshot: TransferSnapshot<'_>,
    input: TransferRequest,
) -> Result<Decision<OwnershipTransfer>, Error> {
    let owner = snapshot.owner;
    let (grant, organization) = authorize_in(
        owner.id,
        snapshot.organization,
        snapshot.owner_membership,
        Operation::TransferOwnership,
    )?;
    if input.owner_must_be_verified {
        require_verified(owner)?;
    }
    let (target, target_user) = snapshot
        .target
        .filter(|(m, user)| {
            m.organization_id == organization.id
                && m.user_id == user.id
                && m.user_id != grant.user_id()
                && !m.role.is_owner()
        })
        .ok_or(Error::TransferTargetInvalid)?;
    keep_one_owned(owner.id, organization.id, snapshot.owner_memberships)?;
    let mut changes = Vec::new();
    if let Some(pending) = snapshot
        .pending
        .filter(|p| p.organization_id == organization.id)
    {
        changes.push(Change::DeleteTransfer {
            organization_id: organization.id,
            id: pending.id,
        });
    }
    let transfer = OwnershipTransfer {
        id: input.transfer_id,
        organization_id: organization.id,
        from_user_id: owner.id,
        to_user_id: target.user_id,
        created_at: input.now,
        expires_at: input.now + TRANSFER_TTL,
    };
    changes.push(Change::InsertTransfer(transfer.clone()));
    changes.push(Change::Audit(audit(
        organization.id,
        Action::OwnershipTransferRequested,
        Actor::User(owner.id),
        transfer_target(&transfer),
    )));
    changes.push(Change::EnqueueMail(OutgoingMail {
        id: input.mail_id,
        to: target_user.email.clone(),
        created_at: input.now,
        content: MailContent::OwnershipTransfer {
            transfer_id: transfer.id,
            organization_id: organization.id,
            organization_name: organization.name.clone(),
            owner_email: owner.email.clone(),
            expires_at: transfer.expires_at,
        },
    }));
    Ok(Decision::new(changes, transfer))
}

/// The live transfer of the organization, if any: an expired one is none.
fn live<'a>(
    organization: &Organization,
    transfer: Option<&'a OwnershipTransfer>,
    now: DateTime<Utc>,
) -> Option<&'a OwnershipTransfer> {
    transfer.filter(|t| t.organization_id == organization.id && t.is_live_at(now))
}

/// The pending transfer, for its owner and its target; the other members
/// learn nothing of it (404).
pub fn view_transfer<'a>(
    actor: UserId,
    organization: Option<&Organization>,
    membership: Option<&Membership>,
    transfer: Option<&'a OwnershipTransfer>,
    now: DateTime<Utc>,
) -> Result<&'a OwnershipTransfer, Error> {
    let (_, organization) = authorize_in(actor, organization, membership, Operation::ViewTransfer)?;
    live(organization, transfer, now)
        .filter(|t| t.from_user_id == actor || t.to_user_id == actor)
        .ok_or(Error::NotFound(Missing::Transfer))
}

/// The owner withdraws the pending transfer.
pub fn cancel_transfer(
    actor: UserId,
    organization: Option<&Organization>,
    membership: Option<&Membership>,
    transfer: Option<&OwnershipTransfer>,
    now: DateTime<Utc>,
) -> Result<Decision<()>, Error> {
    let (_, organization) =
        authorize_in(actor, organization, membership, Operation::CancelTransfer)?;
    let transfer = live(organization, transfer, now).ok_or(Error::NotFound(Missing::Transfer))?;
    Ok(Decision::new(
        vec![
            Change::DeleteTransfer {
                organization_id: organization.id,
                id: transfer.id,
            },
            Change::Audit(audit(
                organization.id,
                Action::OwnershipTransferCancelled,
                Actor::User(actor),
                transfer_target(transfer),
            )),
        ],
        (),
    ))
}

/// A transfer as an audit event's target, labelled by its target's address.
fn transfer_target(transfer: &OwnershipTransfer) -> Target {
    Target {
        kind: TargetKind::OwnershipTransfer,
        id: transfer.id.to_string(),
        label: Label::EmailOf(transfer.to_user_id),
    }
}

/// The target turns the transfer down.
pub fn decline_transfer(
    actor: UserId,
    organization: Option<&Organization>,
    membership: Option<&Membership>,
    transfer: Option<&OwnershipTransfer>,
    now: DateTime<Utc>,
) -> Result<Decision<()>, Error> {
    let (_, organization) = authorize_in(
        actor,
        organization,
        membership,
        Operation::RespondToTransfer,
    )?;
    let transfer = live(organization, transfer, now).ok_or(Error::NotFound(Missing::Transfer))?;
    if transfer.to_user_id != actor {
        return Err(Error::NotTransferTarget);
    }
    Ok(Decision::new(
        vec![
            Change::DeleteTransfer {
                organization_id: organization.id,
                id: transfer.id,
            },
            Change::Audit(audit(
                organization.id,
                Action::OwnershipTransferDeclined,
                Actor::User(actor),
                transfer_target(transfer),
            )),
        ],
        (),
    ))
}

/// What the store loaded for accepting a transfer.
#[derive(Debug, Clone, Copy)]
pub struct AcceptTransferSnapshot<'a> {
    pub organization: Option<&'a Organization>,
    pub membership: Option<&'a Membership>,
    pub transfer: Option<&'a OwnershipTransfer>,
    /// Every membership of the current owner, each with its organization (D13).
    pub owner_memberships: &'a [(Membership, Organization)],
}

/// The target accepts (R28, D8): in one change the target becomes the owner
/// and the previous owner an admin, so that no moment has zero or two
/// owners. Refused when the previous owner would be left without an
/// organization of their own (D13).
pub fn accept_transfer(
    actor: UserId,
    snapshot: AcceptTransferSnapshot<'_>,
    now: DateTime<Utc>,
) -> Result<Decision<Organization>, Error> {
    let (_, organization) = authorize_in(
        actor,
        snapshot.organization,
        snapshot.membership,
        Operation::RespondToTransfer,
    )?;
    let transfer = snapshot
        .transfer
        .filter(|t| t.organization_id == organization.id && t.from_user_id == organization.owner_id)
        .ok_or(Error::NotFound(Missing::Transfer))?;
    if transfer.to_user_id != actor {
        return Err(Error::NotTransferTarget);
    }
    if !transfer.is_live_at(now) {
        return Err(Error::TransferExpired);
    }
    keep_one_owned(
        transfer.from_user_id,
        organization.id,
        snapshot.owner_memberships,
    )?;
    Ok(Decision::new(
        vec![
            Change::DeleteTransfer {
                organization_id: organization.id,
                id: transfer.id,
            },
            Change::TransferOwnership {
                organization_id: organization.id,
                from: transfer.from_user_id,
                to: actor,
            },
            Change::Audit(audit(
                organization.id,
                Action::OwnershipTransferred,
                Actor::User(actor),
                transfer_target(transfer),
            )),
        ],
        Organization {
            owner_id: actor,
            ..organization.clone()
        },
    ))
}

/// The role the previous owner holds after a transfer.
pub const PREVIOUS_OWNER_ROLE: Role = Role::ADMIN;

/// What the store loaded for a deletion request.
#[derive(Debug, Clone, Copy)]
pub struct DeletionSnapshot<'a> {
    pub organization: Option<&'a Organization>,
    pub membership: Option<&'a Membership>,
    /// Every membership of the owner, each with its organization (D13).
    pub owner_memberships: &'a [(Membership, Organization)],
    /// The open invitations, which the deletion revokes.
    pub open_invitations: &'a [Invitation],
    /// The pending transfer, which the deletion ends.
    pub transfer: Option<&'a OwnershipTransfer>,
}

/// Scheduling the organization's deletion (R29): the name typed exactly;
/// from the commit on, it is gone for everyone but its owner, its open
/// invitations are revoked and its pending transfer ends. Restorable until
/// `purge_after`.
pub fn request_deletion(
    actor: UserId,
    snapshot: DeletionSnapshot<'_>,
    confirm_name: &str,
    grace: Duration,
    now: DateTime<Utc>,
) -> Result<Decision<ScheduledDeletion>, Error> {
    let (_, organization) = authorize_in(
        actor,
        snapshot.organization,
        snapshot.membership,
        Operation::DeleteOrganization,
    )?;
    if confirm_name != organization.name.as_str() {
        return Err(Error::Invalid {
            field: "confirm_name",
            message: "must be the organization's name exactly, as it is shown".to_owned(),
        });
    }
    if organization.is_pending_deletion() {
        return Err(Error::DeletionPending);
    }
    keep_one_owned(actor, organization.id, snapshot.owner_memberships)?;
    let deletion = ScheduledDeletion {
        requested_at: now,
        purge_after: now + grace,
    };
    let mut changes = vec![
        Change::ScheduleDeletion {
            organization_id: organization.id,
            deletion,
        },
        Change::Audit(audit(
            organization.id,
            Action::OrganizationDeletionScheduled,
            Actor::User(actor),
            organization_target(organization),
        )),
    ];
    for invitation in snapshot
        .open_invitations
        .iter()
        .filter(|i| i.is_open() && i.organization_id == organization.id)
    {
        let state = match invitation.status_at(now) {
            InvitationStatus::Expired => InvitationState::Expired,
            _ => InvitationState::Revoked { at: now },
        };
        changes.push(Change::SetInvitationState {
            organization_id: organization.id,
            invitation_id: invitation.id,
            state,
        });
    }
    if let Some(transfer) = snapshot
        .transfer
        .filter(|t| t.organization_id == organization.id)
    {
        changes.push(Change::DeleteTransfer {
            organization_id: organization.id,
            id: transfer.id,
        });
    }
    Ok(Decision::new(changes, deletion))
}

/// The scheduled deletion, for the owner; 404 when there is none.
pub fn view_deletion(
    actor: UserId,
    organization: Option<&Organization>,
    membership: Option<&Membership>,
) -> Result<ScheduledDeletion, Error> {
    let (_, organization) = authorize_in(actor, organization, membership, Operation::ViewDeletion)?;
    organization
        .deletion
        .ok_or(Error::NotFound(Missing::Deletion))
}

/// Restoring before `purge_after` (R29): members, resources, settings and
/// roles come back as they were; revoked invitations stay revoked. Once
/// the purge is due there is nothing to restore (404).
pub fn restore(
    actor: UserId,
    organization: Option<&Organization>,
    membership: Option<&Membership>,
    now: DateTime<Utc>,
) -> Result<Decision<Organization>, Error> {
    let (_, organization) = authorize_in(
        actor,
        organization,
        membership,
        Operation::RestoreOrganization,
    )?;
    match organization.deletion {
        Some(deletion) if now < deletion.purge_after => Ok(Decision::new(
            vec![
                Change::RestoreOrganization {
                    organization_id: organization.id,
                },
                Change::Audit(audit(
                    organization.id,
                    Action::OrganizationRestored,
                    Actor::User(actor),
                    organization_target(organization),
                )),
            ],
            Organization {
                deletion: None,
                ..organization.clone()
            },
        )),
        _ => Err(Error::NotFound(Missing::Deletion)),
    }
}

/// Whether the organization's purge is due at `now`.
pub fn purge_is_due(organization: &Organization, now: DateTime<Utc>) -> bool {
    organization
        .deletion
        .is_some_and(|deletion| now >= deletion.purge_after)
}

/// Purging (D17), by the background job: an organization whose purge is due
/// goes for good; anything else (restored, already gone) is left as it is,
/// so that running it again, after a crash or on another instance, changes
/// nothing more.
pub fn purge(organization: Option<&Organization>, now: DateTime<Utc>) -> Decision<bool> {
    match organization.filter(|organization| purge_is_due(organization, now)) {
        Some(organization) => Decision::new(
            vec![Change::PurgeOrganization {
                organization_id: organization.id,
            }],
            true,
        ),
        None => Decision::new(vec![], false),
    }
}
