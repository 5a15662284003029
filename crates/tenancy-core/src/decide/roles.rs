//! Decisions about roles: changing a member's role, and an organization's
//! custom roles (R25, R26, D14, D15).
//!
//! No escalation, in every path: a member gives only capabilities they hold
//! (an invitation's role, an assigned role, a custom role's set), acts on a
//! member only when they hold every capability of that member's role, and
//! the owner-only capabilities stay with the owner.

use chrono::{DateTime, Utc};

use super::{Change, Decision, audit, authorize_in};
use crate::audit::{Action, Actor, Target, TargetKind};
use crate::entity::{CustomRole, Organization};
use crate::error::{Error, Missing};
use crate::id::UserId;
use crate::operation::Operation;
use crate::policy::{CUSTOM_ROLES_MAX, CapabilitySet, Grant, Membership, Role, RoleKey};
use crate::value::{RoleDescription, RoleName};

/// The role a member may give: not the owner's, one the organization has
/// (`found`, looked up by `key`), and holding nothing the giver lacks.
/// Anything else is `role_not_assignable`, an unknown key included.
pub(crate) fn assignable<'a>(
    grant: &Grant,
    key: &str,
    found: Option<&'a Role>,
) -> Result<&'a Role, Error> {
    found
        .filter(|role| role.key().as_str() == key)
        .filter(|role| !role.is_owner())
        .filter(|role| role.capabilities().is_subset(grant.capabilities()))
        .ok_or_else(|| Error::RoleNotAssignable(key.to_owned()))
}

/// Refuses to act on a member whose role holds a capability the actor
/// lacks (D14); the 403 names the first one.
pub(crate) fn outranks(grant: &Grant, target: &Role) -> Result<(), Error> {
    match target
        .capabilities()
        .minus(grant.capabilities())
        .iter()
        .next()
    {
        None => Ok(()),
        Some(capability) => Err(Error::Forbidden {
            role: grant.role().clone(),
            capability,
        }),
    }
}

/// Refuses a set that holds a capability the actor may not give: an
/// owner-only one, or one the actor lacks.
fn grantable(grant: &Grant, capabilities: CapabilitySet) -> Result<(), Error> {
    let allowed = grant
        .capabilities()
        .minus(CapabilitySet::all().minus(CapabilitySet::GRANTABLE));
    match capabilities.minus(allowed).iter().next() {
        None => Ok(()),
        Some(capability) => Err(Error::CapabilityNotGrantable(capability)),
    }
}

/// What the store loaded to change a member's role.
#[derive(Debug, Clone, Copy)]
pub struct RoleChange<'a> {
    pub organization: Option<&'a Organization>,
    pub actor_membership: Option<&'a Membership>,
    pub target: Option<&'a Membership>,
    /// The role asked for, as the organization defines it.
    pub role: Option<&'a Role>,
}

/// Changing a member's role (R26, D14). The owner's role never changes here
/// (ownership moves by transfer), nor the caller's own; the member's current
/// role and the new one must hold nothing the caller lacks. The role the
/// member holds already changes nothing. The change is in force on the
/// member's next request: authorization reads the membership each time.
pub fn change_role(
    actor: UserId,
    snapshot: RoleChange<'_>,
    key: &str,
) -> Result<Decision<Membership>, Error> {
    let (grant, organization) = authorize_in(
        actor,
        snapshot.organization,
        snapshot.actor_membership,
        Operation::ChangeMemberRole,
    )?;
    let target = snapshot
        .target
        .filter(|m| m.organization_id == organization.id)
        .ok_or(Error::NotFound(Missing::Member))?;
    if target.role.is_owner() || target.user_id == organization.owner_id {
        return Err(Error::OwnerRoleImmutable);
    }
    if target.user_id == actor {
        return Err(Error::CannotChangeOwnRole);
    }
    let role = assignable(&grant, key, snapshot.role)?;
    if !target.role.capabilities().is_subset(grant.capabilities()) {
        return Err(Error::RoleNotAssignable(target.role.key().to_string()));
    }
    let changed = Membership {
        role: role.clone(),
        ..target.clone()
    };
    if target.role.key() == role.key() {
        return Ok(Decision::new(vec![], changed));
    }
    Ok(Decision::new(
        vec![
            Change::SetMemberRole {
                organization_id: organization.id,
                user_id: target.user_id,
                role: role.key().clone(),
            },
            Change::Audit(
                audit(
                    organization.id,
                    Action::MemberRoleChanged,
                    Actor::User(actor),
                    Target::user(target.user_id),
                )
                .changing("role", target.role.key().as_str(), role.key().as_str()),
            ),
        ],
        changed,
    ))
}

/// A custom role as asked for: the key is already known not to be a
/// built-in one's.
#[derive(Debug, Clone)]
pub struct NewRole {
    pub key: RoleKey,
    pub name: RoleName,
    pub description: RoleDescription,
    pub capabilities: CapabilitySet,
}

/// The roles of an organization as the store read them, in the use case's
/// transaction.
#[derive(Debug, Clone, Copy)]
pub struct RolesSnapshot<'a> {
    pub organization: Option<&'a Organization>,
    pub membership: Option<&'a Membership>,
    /// Every custom role of the organization.
    pub custom: &'a [CustomRole],
}

fn must_view(capabilities: CapabilitySet) -> Result<(), Error> {
    if capabilities.contains(crate::policy::Capability::ViewResources) {
        Ok(())
    } else {
        Err(Error::Invalid {
            field: "capabilities",
            message: "a role holds `view_resources`".to_owned(),
        })
    }
}

/// Creating a custom role (R26): `view_resources` in it, nothing the actor
/// may not give, a key not taken, and at most [`CUSTOM_ROLES_MAX`] of them.
pub fn create_role(
    actor: UserId,
    snapshot: RolesSnapshot<'_>,
    input: NewRole,
    now: DateTime<Utc>,
) -> Result<Decision<CustomRole>, Error> {
    let (grant, organization) = authorize_in(
        actor,
        snapshot.organization,
        snapshot.membership,
        Operation::CreateRole,
    )?;
    must_view(input.capabilities)?;
    grantable(&grant, input.capabilities)?;
    let role = Role::custom(input.key, input.name, input.description, input.capabilities).map_err(
        |error| Error::Invalid {
            field: "key",
            message: error.to_string(),
        },
    )?;
    let mine = || {
        snapshot
            .custom
            .iter()
            .filter(|r| r.organization_id == organization.id)
    };
    if mine().any(|r| r.role.key() == role.key()) {
        return Err(Error::RoleKeyTaken(role.key().clone()));
    }
    if mine().count() >= CUSTOM_ROLES_MAX {
        return Err(Error::RoleLimitReached {
            max: CUSTOM_ROLES_MAX,
        });
    }
    let created = CustomRole {
        organization_id: organization.id,
        role,
        created_at: now,
        updated_at: now,
    };
    Ok(Decision::new(
        vec![
            Change::InsertRole(created.clone()),
            Change::Audit(audit(
                organization.id,
                Action::RoleCreated,
                Actor::User(actor),
                role_target(&created.role),
            )),
        ],
        created,
    ))
}

/// What a role's edit changes; `None` keeps the field.
#[derive(Debug, Clone, Default)]
pub struct RolePatch {
    pub name: Option<RoleName>,
    pub description: Option<RoleDescription>,
    pub capabilities: Option<CapabilitySet>,
}

/// The custom role of `key`, after refusing a built-in key (409) and before
/// anything about it: missing is 404.
fn custom_of<'a>(
    organization: &Organization,
    key: &str,
    found: Option<&'a CustomRole>,
) -> Result<&'a CustomRole, Error> {
    if Role::builtin(key).is_some() {
        return Err(Error::RoleBuiltin);
    }
    found
        .filter(|r| r.organization_id == organization.id && r.role.key().as_str() == key)
        .ok_or(Error::NotFound(Missing::Role))
}

/// Editing a custom role (R26, D14): the actor holds every capability of the
/// role before and after. Its holders have the new capabilities on their
/// next request.
pub fn update_role(
    actor: UserId,
    organization: Option<&Organization>,
    membership: Option<&Membership>,
    key: &str,
    found: Option<&CustomRole>,
    patch: RolePatch,
    now: DateTime<Utc>,
) -> Result<Decision<CustomRole>, Error> {
    let (grant, organization) =
        authorize_in(actor, organization, membership, Operation::UpdateRole)?;
    // The body before the state (API.md's order).
    if let Some(capabilities) = patch.capabilities {
        must_view(capabilities)?;
    }
    let current = custom_of(organization, key, found)?;
    let capabilities = patch
        .capabilities
        .unwrap_or_else(|| current.role.capabilities());
    grantable(&grant, current.role.capabilities())?;
    grantable(&grant, capabilities)?;
    let role = Role::custom(
        current.role.key().clone(),
        patch.name.unwrap_or_else(|| current.role.name().clone()),
        patch
            .description
            .unwrap_or_else(|| current.role.description().clone()),
        capabilities,
    )
    .map_err(|error| Error::Invalid {
        field: "capabilities",
        message: error.to_string(),
    })?;
    if role == current.role {
        return Ok(Decision::new(vec![], current.clone()));
    }
    let updated = CustomRole {
        role,
        updated_at: now,
        ..current.clone()
    };
    let mut entry = audit(
        organization.id,
        Action::RoleUpdated,
        Actor::User(actor),
        role_target(&updated.role),
    );
    let (before, after) = (&current.role, &updated.role);
    if before.name() != after.name() {
        entry = entry.changing("name", before.name().as_str(), after.name().as_str());
    }
    if before.description() != after.description() {
        entry = entry.changing(
            "description",
            before.description().as_str(),
            after.description().as_str(),
        );
    }
    if before.capabilities() != after.capabilities() {
        entry = entry.changing(
            "capabilities",
            capability_names(before.capabilities()),
            capability_names(after.capabilities()),
        );
    }
    Ok(Decision::new(
        vec![Change::UpdateRole(updated.clone()), Change::Audit(entry)],
        updated,
    ))
}

/// What the store loaded to delete a role.
#[derive(Debug, Clone, Copy)]
pub struct RoleDeletion<'a> {
    pub organization: Option<&'a Organization>,
    pub membership: Option<&'a Membership>,
    pub found: Option<&'a CustomRole>,
    /// Whether a member or a pending invitation holds the role.
    pub in_use: bool,
    /// The role of `reassign_to`, as the organization defines it.
    pub reassign_to: Option<&'a Role>,
}

/// Deleting a custom role (R26, D14). A role that members or pending
/// invitations hold cannot vanish: with `reassign_to` they move to that role
/// in the same transaction, which must be another role the actor could
/// assign; without it the deletion is refused.
pub fn delete_role(
    actor: UserId,
    snapshot: RoleDeletion<'_>,
    key: &str,
    reassign_to: Option<&str>,
) -> Result<Decision<()>, Error> {
    let (grant, organization) = authorize_in(
        actor,
        snapshot.organization,
        snapshot.membership,
        Operation::DeleteRole,
    )?;
    // The query before the state (API.md's order).
    let target = match reassign_to {
        None => None,
        Some(to) => {
            let invalid = |message: &str| Error::Invalid {
                field: "reassign_to",
                message: message.to_owned(),
            };
            if to == key {
                return Err(invalid("the role's holders move to another role"));
            }
            if to == RoleKey::OWNER.as_str() {
                return Err(invalid("nobody is given the owner's role"));
            }
            let role = snapshot
                .reassign_to
                .filter(|role| role.key().as_str() == to)
                .ok_or_else(|| invalid("the organization has no role of this key"))?;
            Some((to, role))
        }
    };
    let current = custom_of(organization, key, snapshot.found)?;
    grantable(&grant, current.role.capabilities())?;
    let target = match target {
        Some((to, role)) => Some(assignable(&grant, to, Some(role))?),
        None => None,
    };
    let mut changes = Vec::new();
    match target {
        Some(target) => changes.push(Change::ReassignRole {
            organization_id: organization.id,
            from: current.role.key().clone(),
            to: target.key().clone(),
        }),
        None if snapshot.in_use => return Err(Error::RoleInUse),
        None => {}
    }
    changes.push(Change::DeleteRole {
        organization_id: organization.id,
        key: current.role.key().clone(),
    });
    changes.push(Change::Audit(audit(
        organization.id,
        Action::RoleDeleted,
        Actor::User(actor),
        role_target(&current.role),
    )));
    Ok(Decision::new(changes, ()))
}

/// A role as an audit event's target: its key, labelled by its name.
fn role_target(role: &Role) -> Target {
    Target::new(TargetKind::Role, role.key(), role.name().as_str())
}

/// A set of capabilities as an audit event writes it: names, in the matrix's
/// order.
fn capability_names(set: CapabilitySet) -> serde_json::Value {
    set.iter()
        .map(|capability| serde_json::Value::from(capability.name()))
        .collect()
}
