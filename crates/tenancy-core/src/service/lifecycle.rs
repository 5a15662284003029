//! The use cases of an organization's life: resending and listing
//! invitations (R30), ownership transfer (R28), deletion, restore and purge
//! (R29, D17). Each runs in one transaction under the organization's lock;
//! the ones that can take a user's last organization of their own away (a
//! transfer's accept, a deletion) also lock that user, so that two of them
//! in two organizations cannot both pass the check of D13.

use super::resources::Scope;
use super::{AsOf, OrganizationView, Service};
use crate::decide::Decision;
use crate::decide::{
    self, AcceptTransferSnapshot, DeletionSnapshot, Resend, ResendSnapshot, TransferRequest,
    TransferSnapshot,
};
use crate::entity::{
    Invitation, InvitationStatus, Organization, OwnershipTransfer, ScheduledDeletion,
};
use crate::error::{Error, Missing};
use crate::id::{InvitationId, MailId, OrganizationId, TransferId, UserId};
use crate::operation::Operation;
use crate::policy::{Membership, Role};
use crate::ports::{Clock, IdGenerator, Repository, TokenGenerator};
use crate::token::SecretToken;

/// A decision that ends a pending transfer: cancelling or declining it.
type EndTransfer = fn(
    UserId,
    Option<&Organization>,
    Option<&Membership>,
    Option<&OwnershipTransfer>,
    chrono::DateTime<chrono::Utc>,
) -> Result<Decision<()>, Error>;

/// A scheduled deletion as the API shows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DeletionView {
    pub organization_id: OrganizationId,
    pub deletion: ScheduledDeletion,
}

impl<R, C, I, T> Service<R, C, I, T>
where
    R: Repository,
    C: Clock,
    I: IdGenerator,
    T: TokenGenerator,
{
    /// The invitations of an organization with a status, or all of them
    /// (`None`), newest first (R16, R30; `manage_members`).
    pub async fn invitations(
        &self,
        actor: UserId,
        organization: OrganizationId,
        status: Option<InvitationStatus>,
    ) -> Result<AsOf<Vec<Invitation>>, Error> {
        let mut tx = self.repository.read().await?;
        Scope::read(&mut tx, organization, actor)
            .await?
            .access()
            .grant(Operation::ListInvitations)?;
        let now = self.clock.now();
        let all = tx.invitations(organization).await?;
        Ok(AsOf {
            value: decide::invitations_with_status(all, status, now),
            now,
        })
    }

    /// Resends an invitation (R30): same invitation, a new token and expiry.
    pub async fn resend(
        &self,
        actor: UserId,
        organization: OrganizationId,
        invitation: InvitationId,
    ) -> Result<Invitation, Error> {
        retrying!(async {
            let now = self.clock.now();
            let mut tx = self.repository.begin().await?;
            tx.lock_organization(organization).await?;
            let sender = tx
                .user(actor)
                .await?
                .ok_or(Error::NotFound(Missing::User))?;
            let scope = Scope::read(&mut tx, organization, actor).await?;
            let found = tx.invitation(organization, invitation).await?;
            let (invitee_membership, open_invitation) = match &found {
                Some(found) => (
                    Self::membership_of_email(&mut tx, organization, &found.email).await?,
                    tx.open_invitation(organization, &found.email).await?,
                ),
                None => (None, None),
            };
            let decision = decide::resend(
                ResendSnapshot {
                    organization: scope.organization.as_ref(),
                    sender: &sender,
                    sender_membership: scope.membership.as_ref(),
                    invitation: found.as_ref(),
                    invitee_membership: invitee_membership.as_ref(),
                    open_invitation: open_invitation.as_ref(),
                },
                Resend {
                    mail_id: MailId::from_uuid(self.ids.new_id()),
                    token: SecretToken::from_bytes(self.tokens.generate()),
                    ttl: self.settings.invitation_ttl,
                    sender_must_be_verified: !self.settings.allow_unverified_inviters,
                    now,
                },
            )?;
            self.commit_at(tx, decision, now).await
        })
    }

    /// Offers the ownership to a member (R28); replaces a pending offer.
    pub async fn request_transfer(
        &self,
        actor: UserId,
        organization: OrganizationId,
        to: UserId,
    ) -> Result<OwnershipTransfer, Error> {
        retrying!(async {
            let now = self.clock.now();
            let mut tx = self.repository.begin().await?;
            tx.lock_organization(organization).await?;
            let owner = tx
                .user(actor)
                .await?
                .ok_or(Error::NotFound(Missing::User))?;
            let scope = Scope::read(&mut tx, organization, actor).await?;
            let owner_memberships = tx.memberships_of_user(actor).await?;
            let target = match tx.membership(organization, to).await? {
                Some(membership) => tx.user(to).await?.map(|user| (membership, user)),
                None => None,
            };
            let pending = tx.ownership_transfer(organization).await?;
            let decision = decide::request_transfer(
                TransferSnapshot {
                    organization: scope.organization.as_ref(),
                    owner: &owner,
                    owner_membership: scope.membership.as_ref(),
                    owner_memberships: &owner_memberships,
                    target: target.as_ref().map(|(m, u)| (m, u)),
                    pending: pending.as_ref(),
                },
                TransferRequest {
                    transfer_id: TransferId::from_uuid(self.ids.new_id()),
                    mail_id: MailId::from_uuid(self.ids.new_id()),
                    owner_must_be_verified: !self.settings.allow_unverified_inviters,
                    now,
                },
            )?;
            self.commit_at(tx, decision, now).await
        })
    }

    /// The pending transfer, for its owner and its target.
    pub async fn transfer(
        &self,
        actor: UserId,
        organization: OrganizationId,
    ) -> Result<OwnershipTransfer, Error> {
        let mut tx = self.repository.read().await?;
        let scope = Scope::read(&mut tx, organization, actor).await?;
        let transfer = tx.ownership_transfer(organization).await?;
        decide::view_transfer(
            actor,
            scope.organization.as_ref(),
            scope.membership.as_ref(),
            transfer.as_ref(),
            self.clock.now(),
        )
        .cloned()
    }

    /// The owner withdraws the pending transfer.
    pub async fn cancel_transfer(
        &self,
        actor: UserId,
        organization: OrganizationId,
    ) -> Result<(), Error> {
        self.end_transfer(actor, organization, decide::cancel_transfer)
            .await
    }

    /// The target declines the pending transfer.
    pub async fn decline_transfer(
        &self,
        actor: UserId,
        organization: OrganizationId,
    ) -> Result<(), Error> {
        self.end_transfer(actor, organization, decide::decline_transfer)
            .await
    }

    /// Ends the pending transfer as `decision` decides, under the
    /// organization's lock.
    async fn end_transfer(
        &self,
        actor: UserId,
        organization: OrganizationId,
        decision: EndTransfer,
    ) -> Result<(), Error> {
        retrying!(async {
            let now = self.clock.now();
            let mut tx = self.repository.begin().await?;
            tx.lock_organization(organization).await?;
            let scope = Scope::read(&mut tx, organization, actor).await?;
            let transfer = tx.ownership_transfer(organization).await?;
            let decision = decision(
                actor,
                scope.organization.as_ref(),
                scope.membership.as_ref(),
                transfer.as_ref(),
                now,
            )?;
            self.commit_at(tx, decision, now).await
        })
    }

    /// The target accepts: the swap of owners, in one transaction (R28, D8).
    pub async fn accept_transfer(
        &self,
        actor: UserId,
        organization: OrganizationId,
    ) -> Result<OrganizationView, Error> {
        retrying!(async {
            let now = self.clock.now();
            let mut tx = self.repository.begin().await?;
            tx.lock_organization(organization).await?;
            let scope = Scope::read(&mut tx, organization, actor).await?;
            let transfer = tx.ownership_transfer(organization).await?;
            let owner_memberships = match &transfer {
                Some(transfer) => {
                    tx.lock_user(transfer.from_user_id).await?;
                    tx.memberships_of_user(transfer.from_user_id).await?
                }
                None => Vec::new(),
            };
            let is_active = tx.active_organization(actor).await? == Some(organization);
            let decision = decide::accept_transfer(
                actor,
                AcceptTransferSnapshot {
                    organization: scope.organization.as_ref(),
                    membership: scope.membership.as_ref(),
                    transfer: transfer.as_ref(),
                    owner_memberships: &owner_memberships,
                },
                now,
            )?;
            let organization = self.commit_at(tx, decision, now).await?;
            Ok(OrganizationView {
                organization,
                role: Role::OWNER,
                is_active,
            })
        })
    }

    /// Schedules the organization's deletion (R29): `confirm_name` must be
    /// its name exactly.
    pub async fn request_deletion(
        &self,
        actor: UserId,
        organization: OrganizationId,
        confirm_name: &str,
    ) -> Result<DeletionView, Error> {
        retrying!(async {
            let now = self.clock.now();
            let mut tx = self.repository.begin().await?;
            tx.lock_organization(organization).await?;
            let scope = Scope::read(&mut tx, organization, actor).await?;
            tx.lock_user(actor).await?;
            let owner_memberships = tx.memberships_of_user(actor).await?;
            let open_invitations = tx.open_invitations(organization).await?;
            let transfer = tx.ownership_transfer(organization).await?;
            let decision = decide::request_deletion(
                actor,
                DeletionSnapshot {
                    organization: scope.organization.as_ref(),
                    membership: scope.membership.as_ref(),
                    owner_memberships: &owner_memberships,
                    open_invitations: &open_invitations,
                    transfer: transfer.as_ref(),
                },
                confirm_name,
                self.settings.deletion_grace,
                now,
            )?;
            let deletion = self.commit_at(tx, decision, now).await?;
            Ok(DeletionView {
                organization_id: organization,
                deletion,
            })
        })
    }

    /// The scheduled deletion, for the owner.
    pub async fn deletion(
        &self,
        actor: UserId,
        organization: OrganizationId,
    ) -> Result<DeletionView, Error> {
        let mut tx = self.repository.read().await?;
        let scope = Scope::read(&mut tx, organization, actor).await?;
        let deletion = decide::view_deletion(
            actor,
            scope.organization.as_ref(),
            scope.membership.as_ref(),
        )?;
        Ok(DeletionView {
            organization_id: organization,
            deletion,
        })
    }

    /// Restores the organization before its purge (R29). Nobody's active
    /// organization moves back.
    pub async fn restore(
        &self,
        actor: UserId,
        organization: OrganizationId,
    ) -> Result<OrganizationView, Error> {
        retrying!(async {
            let now = self.clock.now();
            let mut tx = self.repository.begin().await?;
            tx.lock_organization(organization).await?;
            let scope = Scope::read(&mut tx, organization, actor).await?;
            let is_active = tx.active_organization(actor).await? == Some(organization);
            let decision = decide::restore(
                actor,
                scope.organization.as_ref(),
                scope.membership.as_ref(),
                now,
            )?;
            let organization = self.commit_at(tx, decision, now).await?;
            Ok(OrganizationView {
                organization,
                role: Role::OWNER,
                is_active,
            })
        })
    }

    /// Purges up to `limit` organizations whose purge is due (D17), and
    /// returns how many went (or, after trying every one, the first failure).
    /// For each, one transaction decides again under the organization's
    /// lock, erases every blob of the organization (erasing what is gone
    /// already is no error), then every row, and commits. A crash anywhere
    /// rolls the rows back and leaves the organization due, so the next run
    /// finishes it; a restore waits for the lock, so no restore ever keeps
    /// rows whose blobs went; a run on another instance at the same time
    /// purges nothing twice.
    /// Without a blob store ([`Service::with_blobs`]) only rows are purged.
    pub async fn purge_due(&self, limit: usize) -> Result<usize, Error> {
        let now = self.clock.now();
        let due = {
            let mut tx = self.repository.read().await?;
            tx.due_purges(now, limit).await?
        };
        let mut purged = 0;
        let mut failure = None;
        for organization in due {
            // One organization that cannot be purged now (its blobs will not
            // go, say) does not hold up the others behind it.
            match self.purge_one(organization, now).await {
                Ok(went) => purged += usize::from(went),
                Err(error) => failure = failure.or(Some(error)),
            }
        }
        match failure {
            Some(error) => Err(error),
            None => Ok(purged),
        }
    }

    /// Decides under the organization's lock, and holds it while the blobs
    /// go and until the rows go: a restore waits for it, then finds nothing.
    async fn purge_one(
        &self,
        organization: OrganizationId,
        now: chrono::DateTime<chrono::Utc>,
    ) -> Result<bool, Error> {
        retrying!(async {
            let mut tx = self.repository.begin().await?;
            tx.lock_organization(organization).await?;
            let org = tx.organization(organization).await?;
            let decision = decide::purge(org.as_ref(), now);
            if *decision.outcome()
                && let Some(blobs) = &self.blobs
            {
                blobs.0.delete_organization(organization).await?;
            }
            self.commit_at(tx, decision, now).await
        })
    }
}
