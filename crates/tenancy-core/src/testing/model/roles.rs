//! The roles' part of the model (R25, R26, D14): custom roles made, edited
//! and deleted with `reassign_to`, and members' roles changed, by owners,
//! by members who hold part of the owner's capabilities, and by outsiders.
//!
//! The model decides each outcome from its own matrix and its own roles:
//! nothing is given that its giver lacks at that moment, nobody acts on a
//! member whose role holds more than they do, the owner's role never moves,
//! and a role that members or pending invitations hold never vanishes. The
//! invariants after every step compare each organization's roles, and every
//! member's role and capabilities, with the service's.

use proptest::prelude::*;

use super::accounts::AccountOp;
use super::{
    AskedRole, Expected, FORBIDDEN, Harness, ModelAuditEvent, ModelCustomRole,
    ModelInvitationState, ModelRole, NOT_FOUND, OWNER_ONLY, Op, asked_role, code, compare,
};
use crate::audit::{Action, TargetKind};
use crate::decide::{NewRole, RolePatch};
use crate::policy::{CUSTOM_ROLES_MAX, Capability, CapabilitySet, RoleKey};
use crate::ports::Repository;
use crate::value::{RoleDescription, RoleName};

/// How many keys custom roles are drawn from: few, so that keys are taken,
/// roles are edited, held and deleted again.
const POOL: usize = 4;

/// The `n`-th key of the pool.
pub(super) fn pool_key(n: usize) -> String {
    format!("r{}", n % POOL)
}

/// The name the harness gives the custom role of `key`.
fn role_name(key: &str) -> String {
    format!("Role {key}")
}

/// The capabilities of a set as an audit event's changes write them: their
/// names, in the matrix's order.
fn capability_names(set: CapabilitySet) -> serde_json::Value {
    Capability::ALL
        .into_iter()
        .filter(|&c| set.contains(c))
        .map(|c| serde_json::Value::from(c.name()))
        .collect()
}

/// Who acts: the organization's owner, one of its members (an admin, an
/// editor, a custom role's holder: the paths of D14), or any user at all.
#[derive(Debug, Clone, Copy)]
pub enum Who {
    Owner,
    Member(usize),
    Anyone(usize),
}

fn who() -> impl Strategy<Value = Who> {
    prop_oneof![
        3 => Just(Who::Owner),
        3 => any::<usize>().prop_map(Who::Member),
        1 => any::<usize>().prop_map(Who::Anyone),
    ]
}

/// A capability set as the bits of `mask` in the order of the matrix;
/// mostly with `view_resources` and without the owner's own.
fn capabilities() -> impl Strategy<Value = CapabilitySet> {
    (any::<u64>(), 0_u8..20).prop_map(|(mask, shape)| {
        Capability::ALL
            .into_iter()
            .enumerate()
            .filter(|(i, _)| mask >> i & 1 == 1)
            .map(|(_, c)| c)
            .filter(|c| shape == 0 || !OWNER_ONLY.contains(c))
            .filter(|c| shape == 1 || *c != Capability::ViewResources)
            .chain((shape > 1).then_some(Capability::ViewResources))
            .collect()
    })
}

/// One operation on roles.
#[derive(Debug, Clone)]
pub enum RoleOp {
    Create {
        actor: Who,
        org: usize,
        key: usize,
        capabilities: CapabilitySet,
    },
    /// Edits the capabilities of the pool's `key`-th role, or, when `builtin`,
    /// tries to edit the editor role.
    Update {
        actor: Who,
        org: usize,
        key: usize,
        builtin: bool,
        capabilities: CapabilitySet,
    },
    Delete {
        actor: Who,
        org: usize,
        key: usize,
        builtin: bool,
        reassign_to: AskedRole,
    },
    /// Changes the role of the `member`-th member (the owner and the actor
    /// included, to be refused).
    Change {
        actor: Who,
        org: usize,
        member: usize,
        role: AskedRole,
    },
}

/// One random operation on roles.
pub(super) fn op() -> impl Strategy<Value = RoleOp> {
    let i = || any::<usize>();
    prop_oneof![
        3 => (who(), i(), i(), capabilities()).prop_map(|(actor, org, key, capabilities)| {
            RoleOp::Create { actor, org, key, capabilities }
        }),
        2 => (who(), i(), i(), proptest::bool::weighted(0.1), capabilities()).prop_map(
            |(actor, org, key, builtin, capabilities)| RoleOp::Update {
                actor, org, key, builtin, capabilities,
            }
        ),
        2 => (who(), i(), i(), proptest::bool::weighted(0.1), asked_role()).prop_map(
            |(actor, org, key, builtin, reassign_to)| RoleOp::Delete {
                actor, org, key, builtin, reassign_to,
            }
        ),
        5 => (who(), i(), i(), asked_role()).prop_map(|(actor, org, member, role)| {
            RoleOp::Change { actor, org, member, role }
        }),
    ]
}

impl super::Model {
    /// The organization to act in: most often one with members besides its
    /// owner (few have them, and roles matter there), else any.
    fn busy_org(&self, org: usize) -> usize {
        let busy: Vec<usize> = (0..self.orgs.len())
            .filter(|&o| self.orgs[o].members.len() > 1)
            .collect();
        if busy.is_empty() || org.is_multiple_of(5) {
            org % self.orgs.len()
        } else {
            busy[org % busy.len()]
        }
    }

    fn who(&self, who: Who, org: usize) -> usize {
        let members: Vec<usize> = self.orgs[org].members.keys().copied().collect();
        match who {
            // A purged organization has no members left: its last owner asks.
            Who::Owner | Who::Member(_) if members.is_empty() => self.orgs[org].owner,
            Who::Owner => self.orgs[org].owner,
            Who::Member(m) => members[m % members.len()],
            Who::Anyone(u) => u % self.users.len(),
        }
    }

    /// Whether `actor` may give `role` in `org` (D14): a role of the
    /// organization, not the owner's, holding nothing the actor lacks.
    pub(super) fn assignable(
        &self,
        actor: usize,
        org: usize,
        role: Option<&ModelRole>,
    ) -> Expected {
        let org = &self.orgs[org];
        match role {
            None | Some(ModelRole::Owner) => Err("role_not_assignable"),
            Some(role) if !org.capabilities(role).is_subset(org.held_by(actor)) => {
                Err("role_not_assignable")
            }
            Some(_) => Ok(()),
        }
    }

    /// Whether `actor` may act on member `target` (D14): the actor holds
    /// every capability of the target's role.
    pub(super) fn outranks(&self, actor: usize, target: usize, org: usize) -> Expected {
        let org = &self.orgs[org];
        if org.held_by(target).is_subset(org.held_by(actor)) {
            Ok(())
        } else {
            Err(FORBIDDEN)
        }
    }

    /// Whether `actor` may put `capabilities` into a custom role.
    fn grantable(&self, actor: usize, org: usize, capabilities: CapabilitySet) -> Expected {
        let owner_only: CapabilitySet = OWNER_ONLY.into_iter().collect();
        if capabilities.is_subset(self.orgs[org].held_by(actor).minus(owner_only)) {
            Ok(())
        } else {
            Err("capability_not_grantable")
        }
    }

    /// Whether a member or an invitation stored as pending holds the role.
    fn role_in_use(&self, org: usize, key: &str) -> bool {
        let role = ModelRole::Custom(key.to_owned());
        self.orgs[org].members.values().any(|(r, _)| *r == role)
            || self
                .invitations
                .iter()
                .any(|i| i.org == org && i.role == role && i.state == ModelInvitationState::Pending)
    }
}

/// An event about the custom role of `key`: its key, labelled by its name.
fn role_event(action: Action, actor: usize, key: &str) -> ModelAuditEvent {
    ModelAuditEvent::new(action, Some(actor), TargetKind::Role, key, role_name(key))
}

fn must_view(capabilities: CapabilitySet) -> Expected {
    if capabilities.contains(Capability::ViewResources) {
        Ok(())
    } else {
        Err("validation_failed")
    }
}

impl<R> Harness<R>
where
    R: Repository + crate::ports::MailOutbox + Clone,
{
    pub(super) async fn role(&mut self, op: &RoleOp) -> Result<Option<usize>, String> {
        let (users, orgs) = (self.model.users.len(), self.model.orgs.len());
        if users == 0 || orgs == 0 {
            return Ok(None);
        }
        let now = self.model.now;
        match *op {
            RoleOp::Create {
                actor,
                org,
                key,
                capabilities,
            } => {
                let o = self.model.busy_org(org);
                let a = self.model.who(actor, o);
                let key = pool_key(key);
                let roles = &self.model.orgs[o].roles;
                let expected = self
                    .model
                    .require(a, o, Capability::ManageRoles)
                    .and(must_view(capabilities))
                    .and(self.model.grantable(a, o, capabilities))
                    .and(if roles.contains_key(&key) {
                        Err("role_key_taken")
                    } else {
                        Ok(())
                    })
                    .and(if roles.len() >= CUSTOM_ROLES_MAX {
                        Err("role_limit_reached")
                    } else {
                        Ok(())
                    });
                let input = NewRole {
                    key: RoleKey::custom(&key).map_err(|e| e.to_string())?,
                    name: RoleName::parse(&role_name(&key)).map_err(|e| e.to_string())?,
                    description: RoleDescription::default(),
                    capabilities,
                };
                let (actor_id, org_id) = self.ids(a, o);
                let result = self.service.create_role(actor_id, org_id, input).await;
                compare("create a role", expected, code(&result))?;
                if expected == Err("capability_not_grantable") {
                    self.model.events.escalations_refused += 1;
                }
                if let Ok(created) = result {
                    ensure!(
                        created.role.key().as_str() == key
                            && created.role.capabilities() == capabilities
                            && created.organization_id == org_id,
                        "created {created:?}, asked for `{key}` with {capabilities:?}"
                    );
                    let event = role_event(Action::RoleCreated, a, &key);
                    self.model.record(o, event);
                    self.model.orgs[o].roles.insert(
                        key,
                        ModelCustomRole {
                            capabilities,
                            created_at: now,
                        },
                    );
                    self.model.events.custom_roles += 1;
                }
                Ok(Some(o))
            }
            RoleOp::Update {
                actor,
                org,
                key,
                builtin,
                capabilities,
            } => {
                let o = self.model.busy_org(org);
                let a = self.model.who(actor, o);
                let key = if builtin {
                    "editor".to_owned()
                } else {
                    pool_key(key)
                };
                let current = self.model.orgs[o].roles.get(&key).map(|r| r.capabilities);
                let expected = self
                    .model
                    .require(a, o, Capability::ManageRoles)
                    .and(must_view(capabilities))
                    .and(if builtin { Err("role_builtin") } else { Ok(()) })
                    .and(current.map(|_| ()).ok_or(NOT_FOUND))
                    .and(current.map_or(Ok(()), |c| self.model.grantable(a, o, c)))
                    .and(self.model.grantable(a, o, capabilities));
                let (actor_id, org_id) = self.ids(a, o);
                let patch = RolePatch {
                    capabilities: Some(capabilities),
                    ..RolePatch::default()
                };
                let result = self
                    .service
                    .update_role(actor_id, org_id, &key, patch)
                    .await;
                compare("update a role", expected, code(&result))?;
                if let Ok(updated) = result {
                    ensure!(
                        updated.role.capabilities() == capabilities,
                        "updated {updated:?}, asked for {capabilities:?}"
                    );
                    // Only the capabilities are edited: the same ones change
                    // nothing, and record nothing.
                    if let Some(before) = current.filter(|&c| c != capabilities) {
                        let event = role_event(Action::RoleUpdated, a, &key).changing(
                            "capabilities",
                            capability_names(before),
                            capability_names(capabilities),
                        );
                        self.model.record(o, event);
                    }
                    if let Some(role) = self.model.orgs[o].roles.get_mut(&key) {
                        role.capabilities = capabilities;
                    }
                }
                Ok(Some(o))
            }
            RoleOp::Delete {
                actor,
                org,
                key,
                builtin,
                reassign_to,
            } => {
                let o = self.model.busy_org(org);
                let a = self.model.who(actor, o);
                let key = if builtin {
                    "viewer".to_owned()
                } else {
                    pool_key(key)
                };
                let current = self.model.orgs[o].roles.get(&key).map(|r| r.capabilities);
                let to = reassign_to.spelled();
                let target = reassign_to.model_role(&self.model.orgs[o]);
                let in_use = self.model.role_in_use(o, &key);
                let expected = self
                    .model
                    .require(a, o, Capability::ManageRoles)
                    .and(match (&to, &target) {
                        (None, _) => Ok(()),
                        (Some(to), _) if *to == key => Err("validation_failed"),
                        (_, Some(ModelRole::Owner) | None) => Err("validation_failed"),
                        (Some(_), _) => Ok(()),
                    })
                    .and(if builtin { Err("role_builtin") } else { Ok(()) })
                    .and(current.map(|_| ()).ok_or(NOT_FOUND))
                    .and(current.map_or(Ok(()), |c| self.model.grantable(a, o, c)))
                    .and(match (&to, &target) {
                        (None, _) if in_use => Err("role_in_use"),
                        (None, _) => Ok(()),
                        (Some(_), target) => self.model.assignable(a, o, target.as_ref()),
                    });
                let (actor_id, org_id) = self.ids(a, o);
                let result = self
                    .service
                    .delete_role(actor_id, org_id, &key, to.as_deref())
                    .await;
                compare("delete a role", expected, code(&result))?;
                if result.is_ok() {
                    let from = ModelRole::Custom(key.clone());
                    if let Some(target) = target.filter(|_| to.is_some()) {
                        if in_use {
                            self.model.events.reassigned += 1;
                        }
                        for (role, _) in self.model.orgs[o].members.values_mut() {
                            if *role == from {
                                *role = target.clone();
                            }
                        }
                        for invitation in &mut self.model.invitations {
                            if invitation.org == o
                                && invitation.role == from
                                && invitation.state == ModelInvitationState::Pending
                            {
                                invitation.role = target.clone();
                            }
                        }
                    }
                    self.model.orgs[o].roles.remove(&key);
                    let event = role_event(Action::RoleDeleted, a, &key);
                    self.model.record(o, event);
                }
                Ok(Some(o))
            }
            RoleOp::Change {
                actor,
                org,
                member,
                role,
            } => {
                let o = self.model.busy_org(org);
                let a = self.model.who(actor, o);
                // Mostly a member other than the owner and the actor; now
                // and then either of them, to be refused.
                let mut all: Vec<usize> = self.model.orgs[o].members.keys().copied().collect();
                if all.is_empty() {
                    // Purged: nobody is left in it, its last owner is asked about.
                    all.push(self.model.orgs[o].owner);
                }
                let others: Vec<usize> = all
                    .iter()
                    .copied()
                    .filter(|&m| m != a && m != self.model.orgs[o].owner)
                    .collect();
                let m = if others.is_empty() || member.is_multiple_of(6) {
                    all[member % all.len()]
                } else {
                    others[member % others.len()]
                };
                let asked = role.model_role(&self.model.orgs[o]);
                let current = self.model.orgs[o].members.get(&m).map(|(r, _)| r.clone());
                let expected = self
                    .model
                    .require(a, o, Capability::ManageMembers)
                    .and(if current == Some(ModelRole::Owner) {
                        Err("owner_role_immutable")
                    } else if m == a {
                        Err("cannot_change_own_role")
                    } else {
                        Ok(())
                    })
                    .and(self.model.assignable(a, o, asked.as_ref()))
                    .and(
                        if self.model.orgs[o]
                            .held_by(m)
                            .is_subset(self.model.orgs[o].held_by(a))
                        {
                            Ok(())
                        } else {
                            Err("role_not_assignable")
                        },
                    );
                let key = role.spelled().unwrap_or_else(|| "viewer".to_owned());
                let (actor_id, org_id) = self.ids(a, o);
                let member_id = self.model.users[m].id;
                let result = self
                    .service
                    .change_role(actor_id, org_id, member_id, &key)
                    .await;
                compare("change a role", expected, code(&result))?;
                if expected == Err("role_not_assignable") && self.model.is_member(a, o) {
                    self.model.events.escalations_refused += 1;
                }
                if let (Ok(changed), Some(asked)) = (result, asked) {
                    ensure!(
                        changed.user.id == member_id && changed.role.key().as_str() == asked.key(),
                        "the role change answered {changed:?}, the model has {asked:?}"
                    );
                    // The role the member holds already changes nothing.
                    if let Some(from) = current.as_ref().filter(|&from| *from != asked) {
                        self.model.events.role_changes += 1;
                        let event = self
                            .model
                            .user_event(Action::MemberRoleChanged, a, m)
                            .changing("role", from.key(), asked.key());
                        self.model.record(o, event);
                    }
                    if let Some((role, _)) = self.model.orgs[o].members.get_mut(&m) {
                        *role = asked;
                    }
                }
                Ok(Some(o))
            }
        }
    }

    /// The organization's roles, as its owner lists them, are the model's:
    /// the built-in ones in the order of the matrix, then its own, oldest
    /// first, each with its capabilities; every member's role is one of them.
    pub(super) async fn check_roles(&self, o: usize) -> Result<(), String> {
        let org = &self.model.orgs[o];
        let (owner, org_id) = self.ids(org.owner, o);
        let listed: Vec<(String, String)> = self
            .service
            .roles(owner, org_id)
            .await
            .map_err(|e| format!("roles of organization {o}: {e}"))?
            .into_iter()
            .map(|view| {
                (
                    view.role.key().to_string(),
                    view.role.capabilities().to_names(),
                )
            })
            .collect();
        let expected: Vec<(String, String)> = org
            .listed_roles()
            .iter()
            .map(|role| (role.key().to_owned(), org.capabilities(role).to_names()))
            .collect();
        ensure!(
            listed == expected,
            "organization {o} lists roles {listed:?}, the model has {expected:?}"
        );
        for (role, _) in org.members.values() {
            ensure!(
                listed.iter().any(|(key, _)| key == role.key()),
                "a member of organization {o} holds `{}`, which it does not list",
                role.key()
            );
        }
        Ok(())
    }
}

/// Roles as one fixed sequence (R25, R26, D14), for the core's model test and
/// the store's replay: an admin and an editor join, custom roles are made, a
/// gift beyond the giver's capabilities is refused, a member's role changes,
/// a custom role's new capabilities are in force at once, acting on a member
/// who holds more is refused, and a role in use is deleted only with its
/// holders (a member and a pending invitation) moved. It reaches
/// (`custom_roles`, `role_changes`, `reassigned`, `escalations_refused`) =
/// (2, 1, 2, 3) and (`audit_events`, `audit_actions`, `audit_longest`) =
/// (19, 8, 16).
pub fn roles_story() -> Vec<Op> {
    use crate::policy::Capability as C;
    let role = Op::Role;
    let set = CapabilitySet::of;
    let invite = |email, role| Op::Invite {
        actor: Some(0),
        org: 0,
        email,
        role,
    };
    // Organization 1 (modulo the busy ones) is Ann's; members by user:
    // 0 Ann (owner), 1 Bob (admin), 2 Cy (editor).
    vec![
        Op::SignUp {
            email: 0,
            invitation: None,
        },
        Op::Account(AccountOp::Verify { link: 0 }),
        invite(1, AskedRole::Admin),
        Op::SignUpFromLink { invitation: 0 },
        invite(2, AskedRole::Editor),
        Op::SignUpFromLink { invitation: 1 },
        role(RoleOp::Create {
            actor: Who::Owner,
            org: 1,
            key: 0,
            capabilities: set(&[C::ViewResources, C::ManageMembers]),
        }),
        // The admin cannot put the owner's own into a role.
        role(RoleOp::Create {
            actor: Who::Member(1),
            org: 1,
            key: 1,
            capabilities: set(&[C::ViewResources, C::DeleteOrganization]),
        }),
        role(RoleOp::Create {
            actor: Who::Member(1),
            org: 1,
            key: 1,
            capabilities: set(&[C::ViewResources, C::ManageMembers, C::ManageAgents]),
        }),
        // The admin makes Cy a gatekeeper (r0).
        role(RoleOp::Change {
            actor: Who::Member(1),
            org: 1,
            member: 1,
            role: AskedRole::Custom(0),
        }),
        // Cy cannot give the viewer's chats, which r0 lacks.
        role(RoleOp::Change {
            actor: Who::Member(2),
            org: 1,
            member: 1,
            role: AskedRole::Viewer,
        }),
        // r0 gains the viewer's five: Cy holds them on her next request.
        role(RoleOp::Update {
            actor: Who::Owner,
            org: 1,
            key: 0,
            builtin: false,
            capabilities: set(&[
                C::ViewResources,
                C::ChatWithAgents,
                C::RunInvestigations,
                C::ChatWithReportResults,
                C::PinItems,
                C::ManageMembers,
            ]),
        }),
        // Still, Bob's admin role holds more than Cy: she can neither
        // change it nor remove him.
        role(RoleOp::Change {
            actor: Who::Member(2),
            org: 1,
            member: 1,
            role: AskedRole::Viewer,
        }),
        Op::Remove {
            actor: Some(2),
            org: 0,
            member: 1,
        },
        // r0 is held: it goes only with its holders moved to r1.
        role(RoleOp::Delete {
            actor: Who::Owner,
            org: 1,
            key: 0,
            builtin: false,
            reassign_to: AskedRole::Unspecified,
        }),
        role(RoleOp::Delete {
            actor: Who::Owner,
            org: 1,
            key: 0,
            builtin: false,
            reassign_to: AskedRole::Owner,
        }),
        role(RoleOp::Delete {
            actor: Who::Owner,
            org: 1,
            key: 0,
            builtin: false,
            reassign_to: AskedRole::Custom(1),
        }),
        // The owner's role never changes here.
        role(RoleOp::Change {
            actor: Who::Owner,
            org: 1,
            member: 0,
            role: AskedRole::Admin,
        }),
        // A pending invitation holds r1 too; deleting r1 moves it and Cy
        // to editor, and Dee joins as an editor.
        invite(3, AskedRole::Custom(1)),
        role(RoleOp::Delete {
            actor: Who::Member(1),
            org: 1,
            key: 1,
            builtin: false,
            reassign_to: AskedRole::Editor,
        }),
        Op::SignUpFromLink { invitation: 2 },
    ]
}
