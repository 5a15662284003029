//! The organization's life past day one in the model (R27–R30, D8, D13,
//! D17): invitations resent and listed by status, ownership offered,
//! accepted, declined, cancelled and let expire, organizations deleted,
//! restored and purged. Written from API.md, independently of
//! `decide::lifecycle`.
//!
//! The model decides each outcome from its own state: one owner per
//! organization at every step, an organization of their own that is not
//! pending deletion for everyone (D13), nothing but its owner's few
//! operations in an organization pending deletion, and nothing at all of a
//! purged one. The invariants after every step read all of it back, through
//! the use cases and through the repository itself.

use chrono::{DateTime, Duration, Utc};
use proptest::prelude::*;

use super::accounts::AccountOp;
use super::{
    AskedRole, Expected, FORBIDDEN, Harness, ModelAuditEvent, ModelInvitationState, ModelRole,
    NOT_FOUND, Op, code, compare,
};
use crate::audit::{Action, TargetKind};
use crate::entity::{InvitationStatus, MailContent, ResourceKind, ScheduledDeletion};
use crate::id::{InvitationId, TransferId, UserId};
use crate::policy::Capability;
use crate::ports::{MailOutbox, Repository};

/// How long a transfer waits for its target: the API's 72 hours, written
/// out again rather than read from the core.
pub(super) const TRANSFER_TTL: Duration = Duration::hours(72);

/// How long a deleted organization stays restorable here: shorter than the
/// default 30 days (the harness configures it), so that sequences reach
/// purges without every session and link dying of old age on the way.
pub(super) const DELETION_GRACE: Duration = Duration::days(4);

/// What an organization pending deletion answers its owner for anything but
/// seeing it, its deletion, and restoring it.
pub(super) const PENDING: &str = "organization_pending_deletion";

/// The statuses a list of invitations asks for, `None` being all of them.
const STATUSES: [Option<InvitationStatus>; 5] = [
    Some(InvitationStatus::Pending),
    Some(InvitationStatus::Accepted),
    Some(InvitationStatus::Revoked),
    Some(InvitationStatus::Expired),
    None,
];

/// An organization's pending ownership transfer, live or expired.
#[derive(Debug, Clone, Copy)]
pub(super) struct ModelTransfer {
    id: TransferId,
    from: usize,
    to: usize,
    expires_at: DateTime<Utc>,
}

/// An organization's scheduled deletion.
#[derive(Debug, Clone, Copy)]
pub(super) struct ModelDeletion {
    requested_at: DateTime<Utc>,
    purge_after: DateTime<Utc>,
}

impl ModelDeletion {
    const fn scheduled(self) -> ScheduledDeletion {
        ScheduledDeletion {
            requested_at: self.requested_at,
            purge_after: self.purge_after,
        }
    }
}

/// How a deletion's `confirm_name` is typed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Confirm {
    /// The organization's name, exactly.
    Exact,
    /// With a trailing space: it is not trimmed.
    Padded,
    /// In capitals: it is case-sensitive.
    Shouted,
}

/// One operation of an organization's life. Indices pick among what exists
/// (modulo); `actor: None` is the one the operation is for (the owner, or
/// a transfer's target), `Some` any user.
#[derive(Debug, Clone)]
pub enum LifecycleOp {
    /// Resends the `invitation`-th invitation (mostly one that can be), in
    /// its organization or, with `elsewhere`, another one.
    Resend {
        actor: Option<usize>,
        invitation: usize,
        elsewhere: Option<usize>,
    },
    /// The `link`-th link that a resend replaced, previewed, or with
    /// `accept` accepted by the invitee (or any user), or signed up from
    /// when the invitee has no account yet.
    OldLink {
        user: usize,
        link: usize,
        accept: bool,
    },
    /// Lists an organization's invitations with the `status`-th filter
    /// (pending, accepted, revoked, expired, all).
    ListInvitations {
        actor: Option<usize>,
        org: usize,
        status: usize,
    },
    /// Offers the ownership to one of the organization's members (with
    /// `member`: mostly one other than the owner, now and then the owner, to
    /// be refused) or to any user.
    RequestTransfer {
        actor: Option<usize>,
        org: usize,
        to: usize,
        member: bool,
    },
    AcceptTransfer {
        actor: Option<usize>,
        org: usize,
    },
    DeclineTransfer {
        actor: Option<usize>,
        org: usize,
    },
    CancelTransfer {
        actor: Option<usize>,
        org: usize,
    },
    /// Moves the clock to the very expiry of a pending transfer.
    ExpireTransfer {
        transfer: usize,
    },
    RequestDeletion {
        actor: Option<usize>,
        org: usize,
        confirm: Confirm,
    },
    Restore {
        actor: Option<usize>,
        org: usize,
    },
    /// The purge job: with `advance`, the clock first moves to the soonest
    /// `purge_after` to come, plus that many hours (modulo 3); then up to
    /// `limit` (modulo 4) organizations are purged. A limit of 0 leaves the
    /// job for later: organizations are due, and no longer restorable.
    Purge {
        advance: Option<u8>,
        limit: usize,
    },
}

pub(super) fn op() -> impl Strategy<Value = LifecycleOp> {
    let i = || any::<usize>();
    let who = || proptest::option::weighted(0.2, any::<usize>());
    let confirm = prop_oneof![
        6 => Just(Confirm::Exact),
        1 => Just(Confirm::Padded),
        1 => Just(Confirm::Shouted),
    ];
    prop_oneof![
        4 => (who(), i(), proptest::option::weighted(0.1, i())).prop_map(
            |(actor, invitation, elsewhere)| LifecycleOp::Resend { actor, invitation, elsewhere }
        ),
        2 => (i(), i(), any::<bool>())
            .prop_map(|(user, link, accept)| LifecycleOp::OldLink { user, link, accept }),
        2 => (who(), i(), i())
            .prop_map(|(actor, org, status)| LifecycleOp::ListInvitations { actor, org, status }),
        10 => (who(), i(), i(), proptest::bool::weighted(0.9)).prop_map(
            |(actor, org, to, member)| LifecycleOp::RequestTransfer { actor, org, to, member }
        ),
        10 => (who(), i()).prop_map(|(actor, org)| LifecycleOp::AcceptTransfer { actor, org }),
        4 => (who(), i()).prop_map(|(actor, org)| LifecycleOp::DeclineTransfer { actor, org }),
        4 => (who(), i()).prop_map(|(actor, org)| LifecycleOp::CancelTransfer { actor, org }),
        3 => i().prop_map(|transfer| LifecycleOp::ExpireTransfer { transfer }),
        4 => (who(), i(), confirm)
            .prop_map(|(actor, org, confirm)| LifecycleOp::RequestDeletion { actor, org, confirm }),
        4 => (who(), i()).prop_map(|(actor, org)| LifecycleOp::Restore { actor, org }),
        3 => (proptest::option::weighted(0.8, any::<u8>()), i())
            .prop_map(|(advance, limit)| LifecycleOp::Purge { advance, limit }),
    ]
}

impl super::Model {
    /// Whether the organization is pending deletion (and not purged yet).
    fn pending(&self, org: usize) -> bool {
        self.orgs[org].deletion.is_some() && !self.orgs[org].purged
    }

    /// What a host's check grants (`authorize`, and a grant used again):
    /// nothing at all in an organization pending deletion or purged (R29).
    pub(super) fn host_require(&self, user: usize, org: usize, capability: Capability) -> Expected {
        if self.orgs[org].deletion.is_some() || self.orgs[org].purged {
            Err(NOT_FOUND)
        } else {
            self.require(user, org, capability)
        }
    }

    /// [`super::Model::require`] for the few operations its owner may still
    /// do in an organization pending deletion: see it and its deletion,
    /// delete it again, restore it.
    fn require_while_pending(&self, user: usize, org: usize, capability: Capability) -> Expected {
        let o = &self.orgs[org];
        match o.members.get(&user) {
            None => Err(NOT_FOUND),
            Some(_) if o.deletion.is_some() && o.owner != user => Err(NOT_FOUND),
            Some((role, _)) if !o.capabilities(role).contains(capability) => Err(FORBIDDEN),
            Some(_) => Ok(()),
        }
    }

    /// Whether `user` owns an organization other than `except` that is
    /// neither pending deletion nor purged (D13).
    fn owns_another(&self, user: usize, except: usize) -> bool {
        (0..self.orgs.len()).any(|o| {
            o != except
                && self.orgs[o].owner == user
                && self.orgs[o].deletion.is_none()
                && !self.orgs[o].purged
        })
    }

    /// An event about a transfer, labelled by its target's address.
    fn transfer_event(
        &self,
        action: Action,
        actor: usize,
        transfer: ModelTransfer,
    ) -> ModelAuditEvent {
        ModelAuditEvent::new(
            action,
            Some(actor),
            TargetKind::OwnershipTransfer,
            transfer.id,
            self.users[transfer.to].email,
        )
    }

    /// The organization's transfer while its target may still accept it.
    fn live_transfer(&self, org: usize) -> Option<ModelTransfer> {
        self.orgs[org]
            .transfer
            .filter(|transfer| self.now < transfer.expires_at)
    }

    /// A pending transfer to a member who goes ends with them (R28).
    pub(super) fn end_transfer_to(&mut self, org: usize, user: usize) {
        if self.orgs[org].transfer.is_some_and(|t| t.to == user) {
            self.orgs[org].transfer = None;
            self.events.transfers_ended += 1;
        }
    }

    /// The organization to act in: most often one that `fits`, else any.
    fn pick_org(&self, org: usize, fits: impl Fn(usize) -> bool) -> usize {
        let fitting: Vec<usize> = (0..self.orgs.len()).filter(|&o| fits(o)).collect();
        if fitting.is_empty() || org.is_multiple_of(5) {
            org % self.orgs.len()
        } else {
            fitting[org % fitting.len()]
        }
    }

    fn verified(&self, user: usize) -> Expected {
        if self.users[user].verified {
            Ok(())
        } else {
            Err("email_unverified")
        }
    }

    /// An organization's invitations as it lists them: newest first.
    fn invitations_of(&self, org: usize, status: Option<InvitationStatus>) -> Vec<usize> {
        let mut of: Vec<usize> = (0..self.invitations.len())
            .filter(|&j| self.invitations[j].org == org)
            .filter(|&j| status.is_none_or(|s| self.invitations[j].status(self.now) == s))
            .collect();
        of.sort_by_key(|&j| {
            let invitation = &self.invitations[j];
            std::cmp::Reverse((invitation.created_at, invitation.id))
        });
        of
    }

    /// Closes an invitation that is still open: as expired if it is, as
    /// revoked otherwise (D5).
    fn close(&mut self, j: usize) {
        let invitation = &mut self.invitations[j];
        if invitation.state == ModelInvitationState::Pending {
            invitation.state = if self.now >= invitation.expires_at {
                ModelInvitationState::ClosedExpired
            } else {
                ModelInvitationState::Revoked
            };
        }
    }

    /// Everything of the organization goes, for good (D17).
    fn purge(&mut self, org: usize) {
        let o = &mut self.orgs[org];
        o.purged = true;
        o.members.clear();
        o.transfer = None;
        o.audit.clear();
        for resource in &mut self.resources {
            if resource.org == org {
                resource.live = false;
            }
        }
        for pin in &mut self.pins {
            if pin.org == org {
                pin.live = false;
            }
        }
    }
}

impl<R> Harness<R>
where
    R: Repository + MailOutbox + Clone,
{
    pub(super) async fn lifecycle(&mut self, op: &LifecycleOp) -> Result<Option<usize>, String> {
        if self.model.users.is_empty() || self.model.orgs.is_empty() {
            return Ok(None);
        }
        match *op {
            LifecycleOp::Resend {
                actor,
                invitation,
                elsewhere,
            } => self.resend(actor, invitation, elsewhere).await,
            LifecycleOp::OldLink { user, link, accept } => self.old_link(user, link, accept).await,
            LifecycleOp::ListInvitations { actor, org, status } => {
                self.list_invitations(actor, org, status).await
            }
            LifecycleOp::RequestTransfer {
                actor,
                org,
                to,
                member,
            } => self.request_transfer(actor, org, to, member).await,
            LifecycleOp::AcceptTransfer { actor, org } => self.accept_transfer(actor, org).await,
            LifecycleOp::DeclineTransfer { actor, org } => self.decline_transfer(actor, org).await,
            LifecycleOp::CancelTransfer { actor, org } => self.cancel_transfer(actor, org).await,
            LifecycleOp::ExpireTransfer { transfer } => {
                let live: Vec<usize> = (0..self.model.orgs.len())
                    .filter(|&o| self.model.live_transfer(o).is_some())
                    .collect();
                let Some(&o) = live.get(transfer % live.len().max(1)) else {
                    return Ok(None);
                };
                if let Some(t) = self.model.live_transfer(o) {
                    self.advance(t.expires_at - self.model.now);
                }
                Ok(Some(o))
            }
            LifecycleOp::RequestDeletion {
                actor,
                org,
                confirm,
            } => self.request_deletion(actor, org, confirm).await,
            LifecycleOp::Restore { actor, org } => self.restore(actor, org).await,
            LifecycleOp::Purge { advance, limit } => self.purge(advance, limit).await,
        }
    }

    async fn resend(
        &mut self,
        actor: Option<usize>,
        invitation: usize,
        elsewhere: Option<usize>,
    ) -> Result<Option<usize>, String> {
        let m = &self.model;
        let now = m.now;
        if m.invitations.is_empty() {
            return Ok(None);
        }
        // Mostly one that can be resent: pending or expired, of an
        // organization that is still there.
        let resendable: Vec<usize> = (0..m.invitations.len())
            .filter(|&j| {
                matches!(
                    m.invitations[j].status(now),
                    InvitationStatus::Pending | InvitationStatus::Expired
                ) && !m.orgs[m.invitations[j].org].purged
            })
            .collect();
        let j = if resendable.is_empty() || invitation.is_multiple_of(4) {
            invitation % m.invitations.len()
        } else {
            resendable[invitation % resendable.len()]
        };
        let target = m.invitations[j].clone();
        let o = elsewhere.map_or(target.org, |x| x % m.orgs.len());
        let a = m.actor(actor, o);
        let status = target.status(now);
        // A custom role deleted since is no role to give (a dead invitation
        // keeps its key as history only).
        let role_exists = match &target.role {
            ModelRole::Custom(key) => m.orgs[target.org].roles.contains_key(key),
            _ => true,
        };
        let invitee = m.users.iter().position(|u| u.email == target.email);
        let expected = m
            .require(a, o, Capability::ManageMembers)
            .and(m.verified(a))
            .and(if target.org == o {
                Ok(())
            } else {
                Err(NOT_FOUND)
            })
            .and(match status {
                InvitationStatus::Accepted => Err("invitation_already_accepted"),
                InvitationStatus::Revoked => Err("invitation_revoked"),
                InvitationStatus::Pending | InvitationStatus::Expired => Ok(()),
            })
            .and(match invitee {
                Some(u) if m.orgs[o].members.contains_key(&u) => Err("already_member"),
                _ => Ok(()),
            })
            .and(if role_exists {
                m.assignable(a, o, Some(&target.role))
            } else {
                Err("role_not_assignable")
            });
        let (actor_id, org_id) = self.ids(a, o);
        let result = self.service.resend(actor_id, org_id, target.id).await;
        compare("resend an invitation", expected, code(&result))?;
        let Ok(resent) = result else {
            return Ok(Some(o));
        };
        let expires_at = now + self.model.ttl;
        ensure!(
            resent.id == target.id
                && resent.organization_id == org_id
                && resent.email.as_str() == target.email
                && resent.role.key().as_str() == target.role.key()
                && resent.status_at(now) == InvitationStatus::Pending
                && resent.created_at == target.created_at
                && resent.expires_at == expires_at
                && resent.invited_by == self.model.users[target.invited_by].id,
            "the resent invitation is not invitation {j} pending again until {expires_at}: {resent:?}"
        );
        // Reviving an expired one closes any other open one of the email.
        for other in 0..self.model.invitations.len() {
            let i = &self.model.invitations[other];
            if other != j && i.org == o && i.email == target.email {
                self.model.close(other);
            }
        }
        let token = self.token_of(resent.id).await?;
        let invitation = &mut self.model.invitations[j];
        let old = std::mem::replace(&mut invitation.token, token);
        invitation.superseded.push(old);
        invitation.expires_at = expires_at;
        invitation.state = ModelInvitationState::Pending;
        let resent = self.model.invitation_event(Action::InvitationResent, a, j);
        self.model.record(o, resent);
        self.model.events.resends += 1;
        if status == InvitationStatus::Expired {
            self.model.events.resends_of_expired += 1;
        }
        Ok(Some(o))
    }

    async fn old_link(
        &mut self,
        user: usize,
        link: usize,
        accept: bool,
    ) -> Result<Option<usize>, String> {
        let links: Vec<(usize, String)> = self
            .model
            .invitations
            .iter()
            .enumerate()
            .flat_map(|(j, i)| i.superseded.iter().map(move |t| (j, t.clone())))
            .collect();
        let Some((j, token)) = links.get(link % links.len().max(1)).cloned() else {
            return Ok(None);
        };
        let o = self.model.invitations[j].org;
        let expected = if self.model.orgs[o].purged {
            Err(NOT_FOUND)
        } else {
            Err("invitation_superseded")
        };
        let email = self.model.invitations[j].email;
        let invitee = self.model.users.iter().position(|u| u.email == email);
        let actual = if accept && invitee.is_none() {
            // Signing up from it: the account is made, the invitation is
            // not accepted, and sign-up says why (checked by `sign_up`).
            let address = crate::value::EmailAddress::parse(email).map_err(|e| e.to_string())?;
            let touched = self.sign_up(email, address, Some(token)).await?;
            if expected == Err("invitation_superseded") {
                self.model.events.superseded_refused += 1;
            }
            return Ok(touched);
        } else if accept {
            // Mostly the invitee, who has both emails.
            let u = match invitee {
                Some(u) if !user.is_multiple_of(3) => u,
                _ => user % self.model.users.len(),
            };
            code(&self.service.accept(self.model.users[u].id, &token).await)
        } else {
            code(&self.service.preview_invitation(&token).await)
        };
        compare("use a superseded link", expected, actual)?;
        if expected == Err("invitation_superseded") {
            self.model.events.superseded_refused += 1;
        }
        Ok(Some(o))
    }

    async fn list_invitations(
        &mut self,
        actor: Option<usize>,
        org: usize,
        status: usize,
    ) -> Result<Option<usize>, String> {
        let m = &self.model;
        let o = m.pick_org(org, |o| m.invitations.iter().any(|i| i.org == o));
        let a = m.actor(actor, o);
        let filter = STATUSES[status % STATUSES.len()];
        let expected = m.require(a, o, Capability::ManageMembers);
        let (actor_id, org_id) = self.ids(a, o);
        let result = self.service.invitations(actor_id, org_id, filter).await;
        compare("list invitations", expected, code(&result))?;
        let Ok(listed) = result else {
            return Ok(Some(o));
        };
        let m = &self.model;
        ensure!(
            listed.now == m.now,
            "the list was judged at {}, not now",
            listed.now
        );
        let seen: Vec<(InvitationId, InvitationStatus)> = listed
            .value
            .iter()
            .map(|i| (i.id, i.status_at(listed.now)))
            .collect();
        let wanted: Vec<(InvitationId, InvitationStatus)> = m
            .invitations_of(o, filter)
            .into_iter()
            .map(|j| (m.invitations[j].id, m.invitations[j].status(m.now)))
            .collect();
        ensure!(
            seen == wanted,
            "organization {o} lists invitations {filter:?} as {seen:?}, the model has {wanted:?}"
        );
        if filter != Some(InvitationStatus::Pending) && !seen.is_empty() {
            self.model.events.dead_invitations_listed += 1;
        }
        Ok(Some(o))
    }

    async fn request_transfer(
        &mut self,
        actor: Option<usize>,
        org: usize,
        to: usize,
        member: bool,
    ) -> Result<Option<usize>, String> {
        let m = &self.model;
        let now = m.now;
        // Mostly one whose owner could give it away: it has another member,
        // and the owner is verified and owns another organization (D13);
        // else one with another member at least.
        let busy = |o: usize| m.orgs[o].members.len() > 1 && m.orgs[o].deletion.is_none();
        let giveable = |o: usize| {
            let owner = m.orgs[o].owner;
            busy(o) && m.users[owner].verified && m.owns_another(owner, o)
        };
        let o = if (0..m.orgs.len()).any(giveable) && !to.is_multiple_of(3) {
            m.pick_org(org, giveable)
        } else {
            m.pick_org(org, busy)
        };
        let a = m.actor(actor, o);
        // Mostly (three in four) a member other than the owner, when there
        // is one; else any member, the owner included; without `member`,
        // any user.
        let members: Vec<usize> = m.orgs[o].members.keys().copied().collect();
        let others: Vec<usize> = members
            .iter()
            .copied()
            .filter(|&u| u != m.orgs[o].owner)
            .collect();
        let t = match () {
            () if member && !others.is_empty() && !to.is_multiple_of(4) => {
                others[to % others.len()]
            }
            () if member && !members.is_empty() => members[to % members.len()],
            () => to % m.users.len(),
        };
        let target_valid = t != m.orgs[o].owner && m.orgs[o].members.contains_key(&t);
        let expected = m
            .require(a, o, Capability::TransferOwnership)
            .and(m.verified(a))
            .and(if target_valid {
                Ok(())
            } else {
                Err("transfer_target_invalid")
            })
            .and(if m.owns_another(a, o) {
                Ok(())
            } else {
                Err("last_owned_organization")
            });
        let (actor_id, org_id) = self.ids(a, o);
        let target_id = self.model.users[t].id;
        let result = self
            .service
            .request_transfer(actor_id, org_id, target_id)
            .await;
        compare("request a transfer", expected, code(&result))?;
        if expected == Err("last_owned_organization") {
            self.model.events.last_owned_refusals += 1;
        }
        let Ok(transfer) = result else {
            return Ok(Some(o));
        };
        ensure!(
            transfer.organization_id == org_id
                && transfer.from_user_id == actor_id
                && transfer.to_user_id == target_id
                && transfer.created_at == now
                && transfer.expires_at == now + TRANSFER_TTL,
            "the transfer is not user {a}'s offer to user {t} for 72 hours: {transfer:?}"
        );
        // The target is told, by an email naming the organization and the owner.
        let far = now + Duration::days(10_000);
        let mails = self
            .outbox
            .due(far, usize::MAX)
            .await
            .map_err(|e| format!("reading the outbox: {e}"))?;
        let (org_name, owner_email) = (&self.model.orgs[o].name, self.model.users[a].email);
        let told = mails.iter().any(|queued| {
            queued.mail.to.as_str() == self.model.users[t].email
                && matches!(
                    &queued.mail.content,
                    MailContent::OwnershipTransfer {
                        transfer_id,
                        organization_id,
                        organization_name,
                        owner_email: from,
                        expires_at,
                    } if *transfer_id == transfer.id
                        && *organization_id == org_id
                        && organization_name.as_str() == org_name
                        && from.as_str() == owner_email
                        && *expires_at == transfer.expires_at
                )
        });
        ensure!(told, "no email tells user {t} of transfer {}", transfer.id);
        let transfer = ModelTransfer {
            id: transfer.id,
            from: a,
            to: t,
            expires_at: transfer.expires_at,
        };
        // The pending one it replaces gets no event of its own.
        let requested = self
            .model
            .transfer_event(Action::OwnershipTransferRequested, a, transfer);
        self.model.record(o, requested);
        self.model.orgs[o].transfer = Some(transfer);
        self.model.events.transfers_requested += 1;
        Ok(Some(o))
    }

    /// The organization a transfer's answer is about, and who answers:
    /// mostly one with a transfer, and its target.
    fn transfer_scope(&self, actor: Option<usize>, org: usize) -> (usize, usize) {
        let m = &self.model;
        let o = m.pick_org(org, |o| m.orgs[o].transfer.is_some());
        let a = match (actor, m.orgs[o].transfer) {
            (Some(a), _) => a % m.users.len(),
            (None, Some(transfer)) => transfer.to,
            (None, None) => m.orgs[o].owner,
        };
        (o, a)
    }

    async fn accept_transfer(
        &mut self,
        actor: Option<usize>,
        org: usize,
    ) -> Result<Option<usize>, String> {
        let (o, a) = self.transfer_scope(actor, org);
        let m = &self.model;
        let transfer = m.orgs[o].transfer;
        // Not found, then not its target (403), then expired (410), then
        // the previous owner's last organization (D13).
        let expected = m
            .require(a, o, Capability::ViewResources)
            .and(match transfer {
                None => Err(NOT_FOUND),
                Some(t) if t.to != a => Err(FORBIDDEN),
                Some(t) if m.now >= t.expires_at => Err("transfer_expired"),
                Some(t) if !m.owns_another(t.from, o) => Err("last_owned_organization"),
                Some(_) => Ok(()),
            });
        let was_active = m.active[a] == Some(o);
        let (actor_id, org_id) = self.ids(a, o);
        let result = self.service.accept_transfer(actor_id, org_id).await;
        compare("accept a transfer", expected, code(&result))?;
        match expected {
            Err("transfer_expired") => self.model.events.transfers_expired += 1,
            Err("last_owned_organization") => self.model.events.last_owned_refusals += 1,
            _ => {}
        }
        let (Ok(view), Some(transfer)) = (result, transfer) else {
            return Ok(Some(o));
        };
        ensure!(
            view.organization.id == org_id
                && view.organization.owner_id == actor_id
                && view.is_owner()
                && view.is_active == was_active,
            "accepting the transfer answered {view:?}"
        );
        // One swap: the target owns it, the previous owner is an admin (D8).
        let org = &mut self.model.orgs[o];
        org.owner = a;
        org.transfer = None;
        if let Some((role, _)) = org.members.get_mut(&a) {
            *role = ModelRole::Owner;
        }
        if let Some((role, _)) = org.members.get_mut(&transfer.from) {
            *role = ModelRole::Admin;
        }
        let transferred = self
            .model
            .transfer_event(Action::OwnershipTransferred, a, transfer);
        self.model.record(o, transferred);
        self.model.events.transfers_accepted += 1;
        Ok(Some(o))
    }

    async fn decline_transfer(
        &mut self,
        actor: Option<usize>,
        org: usize,
    ) -> Result<Option<usize>, String> {
        let (o, a) = self.transfer_scope(actor, org);
        let m = &self.model;
        let expected = m
            .require(a, o, Capability::ViewResources)
            .and(match m.live_transfer(o) {
                None => Err(NOT_FOUND),
                Some(t) if t.to != a => Err(FORBIDDEN),
                Some(_) => Ok(()),
            });
        let (actor_id, org_id) = self.ids(a, o);
        let result = self.service.decline_transfer(actor_id, org_id).await;
        compare("decline a transfer", expected, code(&result))?;
        if expected.is_ok()
            && let Some(transfer) = self.model.orgs[o].transfer.take()
        {
            let declined =
                self.model
                    .transfer_event(Action::OwnershipTransferDeclined, a, transfer);
            self.model.record(o, declined);
            self.model.events.transfers_declined += 1;
        }
        Ok(Some(o))
    }

    async fn cancel_transfer(
        &mut self,
        actor: Option<usize>,
        org: usize,
    ) -> Result<Option<usize>, String> {
        let m = &self.model;
        let o = m.pick_org(org, |o| m.orgs[o].transfer.is_some());
        let a = m.actor(actor, o);
        let expected =
            m.require(a, o, Capability::TransferOwnership)
                .and(if m.live_transfer(o).is_some() {
                    Ok(())
                } else {
                    Err(NOT_FOUND)
                });
        let (actor_id, org_id) = self.ids(a, o);
        let result = self.service.cancel_transfer(actor_id, org_id).await;
        compare("cancel a transfer", expected, code(&result))?;
        if expected.is_ok()
            && let Some(transfer) = self.model.orgs[o].transfer.take()
        {
            let cancelled =
                self.model
                    .transfer_event(Action::OwnershipTransferCancelled, a, transfer);
            self.model.record(o, cancelled);
            self.model.events.transfers_cancelled += 1;
        }
        Ok(Some(o))
    }

    async fn request_deletion(
        &mut self,
        actor: Option<usize>,
        org: usize,
        confirm: Confirm,
    ) -> Result<Option<usize>, String> {
        let m = &self.model;
        let now = m.now;
        // Mostly one its owner may delete (D13).
        let o = m.pick_org(org, |o| {
            !m.orgs[o].purged && m.orgs[o].deletion.is_none() && m.owns_another(m.orgs[o].owner, o)
        });
        let a = m.actor(actor, o);
        let name = m.orgs[o].name.clone();
        let typed = match confirm {
            Confirm::Exact => name.clone(),
            Confirm::Padded => format!("{name} "),
            Confirm::Shouted => name.to_uppercase(),
        };
        // The capability, then the name (422), then the state (409).
        let expected = m
            .require_while_pending(a, o, Capability::DeleteOrganization)
            .and(if typed == name {
                Ok(())
            } else {
                Err("validation_failed")
            })
            .and(if m.pending(o) {
                Err("deletion_pending")
            } else {
                Ok(())
            })
            .and(if m.owns_another(a, o) {
                Ok(())
            } else {
                Err("last_owned_organization")
            });
        let (actor_id, org_id) = self.ids(a, o);
        let result = self
            .service
            .request_deletion(actor_id, org_id, &typed)
            .await;
        compare("request a deletion", expected, code(&result))?;
        match expected {
            Err("validation_failed") => self.model.events.wrong_names_refused += 1,
            Err("last_owned_organization") => self.model.events.last_owned_refusals += 1,
            _ => {}
        }
        let Ok(view) = result else {
            return Ok(Some(o));
        };
        let deletion = ModelDeletion {
            requested_at: now,
            purge_after: now + DELETION_GRACE,
        };
        ensure!(
            view.organization_id == org_id && view.deletion == deletion.scheduled(),
            "the deletion is {view:?}, the model has {deletion:?}"
        );
        // At once: gone for its members, its open invitations revoked, its
        // transfer ended, the grants its members' agents hold worthless;
        // one event says so, none for the invitations and the transfer.
        let scheduled = self
            .model
            .org_event(o, Action::OrganizationDeletionScheduled, Some(a));
        self.model.record(o, scheduled);
        self.model.orgs[o].deletion = Some(deletion);
        for j in 0..self.model.invitations.len() {
            if self.model.invitations[j].org == o {
                self.model.close(j);
            }
        }
        if self.model.orgs[o].transfer.take().is_some() {
            self.model.events.transfers_ended += 1;
        }
        let members: Vec<usize> = self.model.orgs[o].members.keys().copied().collect();
        for member in members {
            self.refuse_kept_grants(member, o).await?;
        }
        self.model.events.deletions += 1;
        Ok(Some(o))
    }

    async fn restore(&mut self, actor: Option<usize>, org: usize) -> Result<Option<usize>, String> {
        let m = &self.model;
        let o = m.pick_org(org, |o| m.pending(o));
        let a = m.actor(actor, o);
        let deletion = m.orgs[o].deletion.filter(|_| !m.orgs[o].purged);
        let expected = m
            .require_while_pending(a, o, Capability::DeleteOrganization)
            .and(match deletion {
                Some(d) if m.now < d.purge_after => Ok(()),
                _ => Err(NOT_FOUND),
            });
        let (actor_id, org_id) = self.ids(a, o);
        let result = self.service.restore(actor_id, org_id).await;
        compare("restore", expected, code(&result))?;
        if expected == Err(NOT_FOUND) && deletion.is_some() && a == m.orgs[o].owner {
            self.model.events.restores_too_late += 1;
        }
        let Ok(view) = result else {
            return Ok(Some(o));
        };
        // As it was; nobody's active organization moves back to it.
        ensure!(
            view.organization.id == org_id
                && !view.organization.is_pending_deletion()
                && view.organization.owner_id == actor_id
                && view.is_owner()
                && !view.is_active,
            "restoring answered {view:?}"
        );
        self.model.orgs[o].deletion = None;
        let restored = self
            .model
            .org_event(o, Action::OrganizationRestored, Some(a));
        self.model.record(o, restored);
        self.model.events.restores += 1;
        Ok(Some(o))
    }

    async fn purge(&mut self, advance: Option<u8>, limit: usize) -> Result<Option<usize>, String> {
        let now = self.model.now;
        if let Some(hours) = advance {
            let soonest = (0..self.model.orgs.len())
                .filter(|&o| self.model.pending(o))
                .filter_map(|o| self.model.orgs[o].deletion.map(|d| d.purge_after))
                .filter(|&purge_after| purge_after > now)
                .min();
            if let Some(purge_after) = soonest {
                self.advance(purge_after - now + Duration::hours(i64::from(hours % 3)));
            }
        }
        let now = self.model.now;
        let limit = limit % 4;
        if limit == 0 {
            return Ok(None);
        }
        let mut due: Vec<(DateTime<Utc>, crate::id::OrganizationId, usize)> =
            (0..self.model.orgs.len())
                .filter(|&o| self.model.pending(o))
                .filter_map(|o| {
                    let org = &self.model.orgs[o];
                    org.deletion
                        .filter(|d| d.purge_after <= now)
                        .map(|d| (d.purge_after, org.id, o))
                })
                .collect();
        due.sort();
        due.truncate(limit);
        let purged = self
            .service
            .purge_due(limit)
            .await
            .map_err(|e| format!("the purge failed: {e}"))?;
        ensure!(
            purged == due.len(),
            "the purge took {purged} organizations, the model has {} due: {due:?}",
            due.len()
        );
        for (_, _, o) in due {
            self.model.purge(o);
            self.model.events.purges += 1;
        }
        Ok(None)
    }

    /// What the store holds of an organization that is not purged: exactly
    /// one owner, the model's, also as `owner_id` (D8); the model's deletion
    /// and transfer; and every invitation with its status, newest first.
    pub(super) async fn check_stored(&self, o: usize) -> Result<(), String> {
        let m = &self.model;
        let org = &m.orgs[o];
        let owner = m.users[org.owner].id;
        let failed = |e: crate::error::StoreError| format!("reading organization {o}: {e}");
        let mut tx = Repository::read(&self.outbox).await.map_err(failed)?;
        let stored = tx
            .organization(org.id)
            .await
            .map_err(failed)?
            .ok_or_else(|| format!("organization {o} is gone from the store"))?;
        let owners: Vec<UserId> = tx
            .members(org.id)
            .await
            .map_err(failed)?
            .into_iter()
            .filter(|(membership, _)| membership.role.is_owner())
            .map(|(membership, _)| membership.user_id)
            .collect();
        ensure!(
            owners == [owner] && stored.owner_id == owner,
            "organization {o} has owners {owners:?} and owner_id {}, the model has {owner}",
            stored.owner_id
        );
        let deletion = org.deletion.map(ModelDeletion::scheduled);
        ensure!(
            stored.deletion == deletion,
            "organization {o}'s deletion is {:?}, the model has {deletion:?}",
            stored.deletion
        );
        let transfer = tx
            .ownership_transfer(org.id)
            .await
            .map_err(failed)?
            .map(|t| (t.id, t.from_user_id, t.to_user_id, t.expires_at));
        let expected = org
            .transfer
            .map(|t| (t.id, m.users[t.from].id, m.users[t.to].id, t.expires_at));
        ensure!(
            transfer == expected,
            "organization {o}'s transfer is {transfer:?}, the model has {expected:?}"
        );
        let invitations: Vec<(InvitationId, InvitationStatus)> = tx
            .invitations(org.id)
            .await
            .map_err(failed)?
            .iter()
            .map(|i| (i.id, i.status_at(m.now)))
            .collect();
        let expected: Vec<(InvitationId, InvitationStatus)> = m
            .invitations_of(o, None)
            .into_iter()
            .map(|j| (m.invitations[j].id, m.invitations[j].status(m.now)))
            .collect();
        ensure!(
            invitations == expected,
            "organization {o} stores invitations {invitations:?}, the model has {expected:?}"
        );
        Ok(())
    }

    /// An organization that is not pending deletion: no deletion to see,
    /// every invitation listed with its status and expiry, and its live
    /// transfer seen by its owner and its target only.
    pub(super) async fn check_active_lifecycle(&self, o: usize) -> Result<(), String> {
        let m = &self.model;
        let org = &m.orgs[o];
        let (owner, org_id) = self.ids(org.owner, o);
        compare(
            "the deletion of an organization not pending deletion",
            Err(NOT_FOUND),
            code(&self.service.deletion(owner, org_id).await),
        )?;
        let listed: Vec<(InvitationId, InvitationStatus, DateTime<Utc>)> = self
            .service
            .invitations(owner, org_id, None)
            .await
            .map_err(|e| format!("invitations of organization {o}: {e}"))?
            .value
            .iter()
            .map(|i| (i.id, i.status_at(m.now), i.expires_at))
            .collect();
        let expected: Vec<(InvitationId, InvitationStatus, DateTime<Utc>)> = m
            .invitations_of(o, None)
            .into_iter()
            .map(|j| {
                let i = &m.invitations[j];
                (i.id, i.status(m.now), i.expires_at)
            })
            .collect();
        ensure!(
            listed == expected,
            "organization {o} lists invitations {listed:?}, the model has {expected:?}"
        );
        let live = m.live_transfer(o);
        for &u in org.members.keys() {
            let seen = self.service.transfer(m.users[u].id, org_id).await;
            let expected = match live {
                Some(t) if t.from == u || t.to == u => Ok(()),
                _ => Err(NOT_FOUND),
            };
            compare(
                &format!("the transfer of organization {o} as user {u}"),
                expected,
                code(&seen),
            )?;
            if let (Ok(seen), Some(t)) = (seen, live) {
                ensure!(
                    seen.id == t.id
                        && seen.to_user_id == m.users[t.to].id
                        && seen.expires_at == t.expires_at,
                    "user {u} sees transfer {seen:?}, the model has {t:?}"
                );
            }
        }
        Ok(())
    }

    /// An organization pending deletion: its owner sees it and its deletion,
    /// and is told 409 for the rest; for its other members it is gone.
    pub(super) async fn check_pending(&self, o: usize) -> Result<(), String> {
        let m = &self.model;
        let org = &m.orgs[o];
        let (owner, org_id) = self.ids(org.owner, o);
        let deletion = org.deletion.map(ModelDeletion::scheduled);
        let view = self
            .service
            .organization(owner, org_id)
            .await
            .map_err(|e| format!("organization {o} pending deletion as its owner: {e}"))?;
        ensure!(
            view.organization.deletion == deletion
                && view.organization.owner_id == owner
                && view.is_owner()
                && !view.is_active,
            "organization {o} pending deletion reads as {view:?}, the model has {deletion:?}"
        );
        let seen = self
            .service
            .deletion(owner, org_id)
            .await
            .map_err(|e| format!("the deletion of organization {o}: {e}"))?;
        ensure!(
            Some(seen.deletion) == deletion,
            "organization {o}'s deletion reads as {seen:?}, the model has {deletion:?}"
        );
        let refused = [
            ("members", code(&self.service.members(owner, org_id).await)),
            ("billing", code(&self.service.billing(owner, org_id).await)),
            ("roles", code(&self.service.roles(owner, org_id).await)),
            (
                "invitations",
                code(&self.service.invitations(owner, org_id, None).await),
            ),
            (
                "transfer",
                code(&self.service.transfer(owner, org_id).await),
            ),
            (
                "agents",
                code(
                    &self
                        .service
                        .resources(owner, org_id, ResourceKind::Agent)
                        .await,
                ),
            ),
        ];
        for (what, actual) in refused {
            compare(
                &format!("the {what} of organization {o} pending deletion, as its owner"),
                Err(PENDING),
                actual,
            )?;
        }
        for &u in org.members.keys().filter(|&&u| u != org.owner) {
            let user = m.users[u].id;
            for (what, actual) in [
                (
                    "organization",
                    code(&self.service.organization(user, org_id).await),
                ),
                ("deletion", code(&self.service.deletion(user, org_id).await)),
                ("chats", code(&self.service.chats(user, org_id).await)),
            ] {
                compare(
                    &format!("the {what} of organization {o} pending deletion, as member {u}"),
                    Err(NOT_FOUND),
                    actual,
                )?;
            }
        }
        Ok(())
    }

    /// A purged organization: nothing of it is readable by anyone, and
    /// nothing of it is left in the store or its outbox (D17).
    pub(super) async fn check_purged(&self, o: usize) -> Result<(), String> {
        let m = &self.model;
        let org_id = m.orgs[o].id;
        for (u, user) in m.users.iter().enumerate() {
            for (what, actual) in [
                (
                    "organization",
                    code(&self.service.organization(user.id, org_id).await),
                ),
                (
                    "members",
                    code(&self.service.members(user.id, org_id).await),
                ),
                (
                    "invitations",
                    code(&self.service.invitations(user.id, org_id, None).await),
                ),
                (
                    "deletion",
                    code(&self.service.deletion(user.id, org_id).await),
                ),
                (
                    "transfer",
                    code(&self.service.transfer(user.id, org_id).await),
                ),
                ("chats", code(&self.service.chats(user.id, org_id).await)),
            ] {
                compare(
                    &format!("the {what} of purged organization {o}, as user {u}"),
                    Err(NOT_FOUND),
                    actual,
                )?;
            }
        }
        let failed = |e: crate::error::StoreError| format!("reading purged organization {o}: {e}");
        let mut tx = Repository::read(&self.outbox).await.map_err(failed)?;
        let mut left = Vec::new();
        if tx.organization(org_id).await.map_err(failed)?.is_some() {
            left.push("the organization".to_owned());
        }
        let members = tx.members(org_id).await.map_err(failed)?.len();
        let invitations = tx.invitations(org_id).await.map_err(failed)?.len();
        let roles = tx.custom_roles(org_id).await.map_err(failed)?.len();
        let transfer = tx.ownership_transfer(org_id).await.map_err(failed)?;
        let mut resources = 0;
        for kind in ResourceKind::ALL {
            resources += tx.resources(org_id, kind).await.map_err(failed)?.len();
        }
        let mut own = 0;
        for user in &m.users {
            own += tx.chats(org_id, user.id).await.map_err(failed)?.len()
                + tx.pins(org_id, user.id).await.map_err(failed)?.len()
                + tx.investigations(org_id, user.id)
                    .await
                    .map_err(failed)?
                    .len()
                + tx.memberships_of_user(user.id)
                    .await
                    .map_err(failed)?
                    .iter()
                    .filter(|(membership, _)| membership.organization_id == org_id)
                    .count();
        }
        for (what, count) in [
            ("members", members),
            ("invitations", invitations),
            ("custom roles", roles),
            ("resources", resources),
            ("chats, pins, investigations or memberships", own),
            ("transfer", usize::from(transfer.is_some())),
        ] {
            if count > 0 {
                left.push(format!("{count} {what}"));
            }
        }
        drop(tx);
        // Nor any email about it: its invitations' and its transfers'.
        let ids: Vec<InvitationId> = m
            .invitations
            .iter()
            .filter(|i| i.org == o)
            .map(|i| i.id)
            .collect();
        let far = m.now + Duration::days(10_000);
        let mails = self
            .outbox
            .due(far, usize::MAX)
            .await
            .map_err(|e| format!("reading the outbox: {e}"))?;
        let emails = mails
            .iter()
            .filter(|queued| match &queued.mail.content {
                MailContent::Invitation { invitation_id, .. } => ids.contains(invitation_id),
                MailContent::OwnershipTransfer {
                    organization_id, ..
                } => *organization_id == org_id,
                MailContent::VerifyEmail { .. } | MailContent::ResetPassword { .. } => false,
            })
            .count();
        if emails > 0 {
            left.push(format!("{emails} emails"));
        }
        ensure!(
            left.is_empty(),
            "purged organization {o} left {}",
            left.join(", ")
        );
        Ok(())
    }
}

/// An organization's life as one fixed sequence, for the core's model test
/// and the store's replay. In Ann's organization (organization 0; Bob's own
/// is 1, Ann's second 3): Bob's invitation is resent and its old link
/// refused; Cy's is resent once expired, and she signs up from its old link
/// (organization 2 is hers); lists by status; a transfer to Bob
/// is refused while Acme is Ann's only organization, then requested,
/// declined, requested, let expire, replaced, cancelled, requested and
/// accepted; Bob offers it back, then deletes it (a wrong name first),
/// which revokes Cy's invitation and ends the offer; Ann, an admin now,
/// finds it gone, Bob is refused a rename; a restore, a second deletion
/// whose restore comes too late, and the purge, after which even Bob's old
/// link is unknown. It reaches (`resends`, `resends_of_expired`,
/// `superseded_refused`, `dead_invitations_listed`) = (2, 1, 3, 2),
/// (`transfers_requested`, `_accepted`, `_declined`, `_cancelled`,
/// `_expired`, `_ended`, `last_owned_refusals`) = (5, 1, 1, 1, 1, 1, 1) and
/// (`deletions`, `wrong_names_refused`, `restores`, `restores_too_late`,
/// `purges`, `pending_refusals`) = (2, 1, 1, 1, 1, 1); its audit logs
/// (`audit_events`, `audit_actions`, `audit_longest`) = (21, 11, 18).
pub fn lifecycle_story() -> Vec<Op> {
    let life = Op::Lifecycle;
    // `None`: the owner, or the transfer's target; organization 0 is always
    // Ann's first (the op's picks fall back to the index itself at 0).
    let invite = |email| Op::Invite {
        actor: Some(0),
        org: 0,
        email,
        role: AskedRole::Unspecified,
    };
    let resend = |invitation| {
        life(LifecycleOp::Resend {
            actor: None,
            invitation,
            elsewhere: None,
        })
    };
    let list = |status| {
        life(LifecycleOp::ListInvitations {
            actor: None,
            org: 0,
            status,
        })
    };
    let offer = || {
        life(LifecycleOp::RequestTransfer {
            actor: None,
            org: 0,
            to: 1,
            member: true,
        })
    };
    let delete = |confirm| {
        life(LifecycleOp::RequestDeletion {
            actor: None,
            org: 0,
            confirm,
        })
    };
    let restore = || {
        life(LifecycleOp::Restore {
            actor: None,
            org: 0,
        })
    };
    vec![
        Op::SignUp {
            email: 0,
            invitation: None,
        },
        Op::Account(AccountOp::Verify { link: 0 }),
        invite(1),
        // Resent while pending: its first link is superseded.
        resend(1),
        life(LifecycleOp::OldLink {
            user: 0,
            link: 0,
            accept: false,
        }),
        Op::SignUpFromLink { invitation: 0 },
        life(LifecycleOp::OldLink {
            user: 1,
            link: 0,
            accept: true,
        }),
        // Accepted: it is not resent.
        resend(0),
        invite(2),
        // A week later Cy's has expired: resent, it lives again.
        Op::AdvanceClock { hours: 170 },
        list(3),
        resend(1),
        // Cy signs up from the link of the first email: her account is
        // made, and sign-up says the link was superseded.
        life(LifecycleOp::OldLink {
            user: 0,
            link: 1,
            accept: true,
        }),
        list(1),
        // Acme is Ann's only organization: she cannot give it away (D13).
        offer(),
        Op::CreateOrganization { user: 0 },
        offer(),
        life(LifecycleOp::DeclineTransfer {
            actor: None,
            org: 0,
        }),
        offer(),
        life(LifecycleOp::ExpireTransfer { transfer: 0 }),
        life(LifecycleOp::AcceptTransfer {
            actor: None,
            org: 0,
        }),
        offer(),
        life(LifecycleOp::CancelTransfer {
            actor: None,
            org: 0,
        }),
        offer(),
        life(LifecycleOp::AcceptTransfer {
            actor: None,
            org: 0,
        }),
        // Bob owns Acme now, and his own: he offers it to Ann, an admin
        // now, then deletes it, which ends the offer.
        life(LifecycleOp::RequestTransfer {
            actor: None,
            org: 0,
            to: 0,
            member: true,
        }),
        delete(Confirm::Shouted),
        delete(Confirm::Exact),
        Op::Rename { actor: 0, org: 0 },
        Op::Rename { actor: 1, org: 0 },
        restore(),
        delete(Confirm::Exact),
        // Past the grace: too late to restore, and the job purges it.
        Op::AdvanceClock { hours: 150 },
        restore(),
        life(LifecycleOp::Purge {
            advance: None,
            limit: 2,
        }),
        life(LifecycleOp::OldLink {
            user: 1,
            link: 0,
            accept: true,
        }),
    ]
}
