//! The use cases of roles: an organization's roles, a member's role, and
//! custom roles (R25, R26). Each runs in one transaction under the
//! organization's lock, so that a role's deletion and an assignment of it
//! are ordered.

use super::resources::Scope;
use super::{Member, Service};
use crate::decide::{self, NewRole, RoleChange, RoleDeletion, RolePatch, RolesSnapshot};
use crate::entity::CustomRole;
use crate::error::{Error, Missing};
use crate::id::{OrganizationId, UserId};
use crate::operation::Operation;
use crate::policy::{Role, RoleKey};
use crate::ports::{Clock, IdGenerator, Repository, TokenGenerator};

/// A role as an organization lists it: the built-in ones, then its own.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoleView {
    pub role: Role,
    /// When it was made; `None` for a built-in role.
    pub custom: Option<CustomRole>,
}

impl<R, C, I, T> Service<R, C, I, T>
where
    R: Repository,
    C: Clock,
    I: IdGenerator,
    T: TokenGenerator,
{
    /// The organization's roles (`view_resources`): the four built-in ones
    /// in the order of the matrix, then its custom roles, oldest first.
    pub async fn roles(
        &self,
        actor: UserId,
        organization: OrganizationId,
    ) -> Result<Vec<RoleView>, Error> {
        let mut tx = self.repository.read().await?;
        Scope::read(&mut tx, organization, actor)
            .await?
            .access()
            .grant(Operation::ListRoles)?;
        let custom = tx.custom_roles(organization).await?;
        Ok(Role::BUILTIN
            .into_iter()
            .map(|role| RoleView { role, custom: None })
            .chain(custom.into_iter().map(|custom| RoleView {
                role: custom.role.clone(),
                custom: Some(custom),
            }))
            .collect())
    }

    /// Gives a member another role (R26, D14): in force on their next
    /// request, on every instance.
    pub async fn change_role(
        &self,
        actor: UserId,
        organization: OrganizationId,
        member: UserId,
        role: &str,
    ) -> Result<Member, Error> {
        retrying!(async {
            let mut tx = self.repository.begin().await?;
            tx.lock_organization(organization).await?;
            let scope = Scope::read(&mut tx, organization, actor).await?;
            let target = tx.membership(organization, member).await?;
            let asked = Self::role_in(&mut tx, organization, role).await?;
            let user = tx.user(member).await?;
            let decision = decide::change_role(
                actor,
                RoleChange {
                    organization: scope.organization.as_ref(),
                    actor_membership: scope.membership.as_ref(),
                    target: target.as_ref(),
                    role: asked.as_ref(),
                },
                role,
            )?;
            let changed = self.commit(tx, decision).await?;
            let user = user.ok_or(Error::NotFound(Missing::Member))?;
            Ok(Member {
                user,
                role: changed.role,
                joined_at: changed.joined_at,
            })
        })
    }

    /// Creates a custom role (`manage_roles`).
    pub async fn create_role(
        &self,
        actor: UserId,
        organization: OrganizationId,
        input: NewRole,
    ) -> Result<CustomRole, Error> {
        retrying!(async {
            let now = self.clock.now();
            let mut tx = self.repository.begin().await?;
            tx.lock_organization(organization).await?;
            let scope = Scope::read(&mut tx, organization, actor).await?;
            let custom = tx.custom_roles(organization).await?;
            let decision = decide::create_role(
                actor,
                RolesSnapshot {
                    organization: scope.organization.as_ref(),
                    membership: scope.membership.as_ref(),
                    custom: &custom,
                },
                input.clone(),
                now,
            )?;
            self.commit_at(tx, decision, now).await
        })
    }

    /// Edits a custom role (`manage_roles`); its holders have the new
    /// capabilities on their next request.
    pub async fn update_role(
        &self,
        actor: UserId,
        organization: OrganizationId,
        key: &str,
        patch: RolePatch,
    ) -> Result<CustomRole, Error> {
        retrying!(async {
            let now = self.clock.now();
            let mut tx = self.repository.begin().await?;
            tx.lock_organization(organization).await?;
            let scope = Scope::read(&mut tx, organization, actor).await?;
            let found = Self::custom_in(&mut tx, organization, key).await?;
            let decision = decide::update_role(
                actor,
                scope.organization.as_ref(),
                scope.membership.as_ref(),
                key,
                found.as_ref(),
                patch.clone(),
                now,
            )?;
            self.commit_at(tx, decision, now).await
        })
    }

    /// Deletes a custom role (`manage_roles`), moving its holders to
    /// `reassign_to` in the same transaction.
    pub async fn delete_role(
        &self,
        actor: UserId,
        organization: OrganizationId,
        key: &str,
        reassign_to: Option<&str>,
    ) -> Result<(), Error> {
        retrying!(async {
            let mut tx = self.repository.begin().await?;
            tx.lock_organization(organization).await?;
            let scope = Scope::read(&mut tx, organization, actor).await?;
            let found = Self::custom_in(&mut tx, organization, key).await?;
            let in_use = match &found {
                Some(custom) => tx.role_in_use(organization, custom.role.key()).await?,
                None => false,
            };
            let target = match reassign_to {
                Some(to) => Self::role_in(&mut tx, organization, to).await?,
                None => None,
            };
            let decision = decide::delete_role(
                actor,
                RoleDeletion {
                    organization: scope.organization.as_ref(),
                    membership: scope.membership.as_ref(),
                    found: found.as_ref(),
                    in_use,
                    reassign_to: target.as_ref(),
                },
                key,
                reassign_to,
            )?;
            self.commit(tx, decision).await
        })
    }

    async fn custom_in(
        tx: &mut Box<dyn crate::ports::Transaction>,
        organization: OrganizationId,
        key: &str,
    ) -> Result<Option<CustomRole>, Error> {
        match RoleKey::parse(key) {
            Ok(key) if !key.is_builtin() => Ok(tx.custom_role(organization, &key).await?),
            _ => Ok(None),
        }
    }
}
