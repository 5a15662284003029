//! cedar-policy with the matrix as one `permit` per role and the memberships
//! as an entity hierarchy.

use std::collections::{HashMap, HashSet};
use std::str::FromStr;

use cedar_policy::{
    Authorizer, Context, Decision, Entities, Entity, EntityId, EntityTypeName, EntityUid,
    PolicySet, RequestValidationError, RestrictedExpression,
};
use tenancy_core::{Capability, Role};

use super::Engine;
use crate::Result;
use crate::workload::{Request, Workload};

#[derive(Debug)]
pub(crate) struct Cedar<'w> {
    user_names: &'w [String],
    organization_names: &'w [String],
    user_type: EntityTypeName,
    organization_type: EntityTypeName,
    /// The action of each capability, indexed by `Capability as usize`: a
    /// host would hold these fourteen as constants rather than build them.
    actions: Vec<EntityUid>,
    policies: PolicySet,
    entities: Entities,
    authorizer: Authorizer,
}

fn type_name(name: &str) -> Result<EntityTypeName> {
    Ok(EntityTypeName::from_str(name)?)
}

fn uid(type_name: &EntityTypeName, id: &str) -> EntityUid {
    EntityUid::from_type_name_and_id(type_name.clone(), EntityId::new(id))
}

/// The action group that holds the capabilities of `role`.
fn role_actions(role: Role) -> String {
    format!("{role}_capabilities")
}

/// The attribute of an organization that names the group of its members of
/// `role`.
fn role_members(role: Role) -> String {
    format!("{role}_members")
}

/// The group of the members of `organization` with `role`.
fn group_id(organization: &str, role: Role) -> String {
    format!("{organization}/{role}")
}

/// The matrix as policies: one `permit` per role, derived from tenancy-core.
pub(crate) fn policies_text() -> String {
    Role::ALL
        .iter()
        .map(|&role| {
            format!(
                "permit (\n  principal,\n  action in Action::\"{}\",\n  resource is Organization\n)\nwhen {{ principal in resource.{} }};\n",
                role_actions(role),
                role_members(role)
            )
        })
        .collect()
}

impl<'w> Cedar<'w> {
    pub(crate) fn build(workload: &'w Workload) -> Result<Self> {
        let user_type = type_name("User")?;
        let organization_type = type_name("Organization")?;
        let group_type = type_name("Group")?;
        let action_type = type_name("Action")?;

        let policies = PolicySet::from_str(&policies_text())?;

        // Actions: each capability is a member of the group of every role
        // that holds it. Without a schema, actions come from the entities.
        let mut entities = Vec::with_capacity(
            workload.users.len()
                + 3 * workload.organizations.len()
                + Capability::ALL.len()
                + Role::ALL.len(),
        );
        let mut actions = Vec::with_capacity(Capability::ALL.len());
        for (i, capability) in Capability::ALL.into_iter().enumerate() {
            if capability as usize != i {
                return Err("`Capability::ALL` is not in declaration order".into());
            }
            let action = uid(&action_type, capability.name());
            let parents: HashSet<EntityUid> = Role::ALL
                .into_iter()
                .filter(|role| role.capabilities().contains(capability))
                .map(|role| uid(&action_type, &role_actions(role)))
                .collect();
            entities.push(Entity::new_no_attrs(action.clone(), parents));
            actions.push(action);
        }
        for role in Role::ALL {
            entities.push(Entity::new_no_attrs(
                uid(&action_type, &role_actions(role)),
                HashSet::new(),
            ));
        }

        // Organizations, each with one group per role.
        for name in &workload.organization_names {
            let mut attributes = HashMap::with_capacity(Role::ALL.len());
            for role in Role::ALL {
                let group = uid(&group_type, &group_id(name, role));
                entities.push(Entity::new_no_attrs(group.clone(), HashSet::new()));
                attributes.insert(
                    role_members(role),
                    RestrictedExpression::new_entity_uid(group),
                );
            }
            entities.push(Entity::new(
                uid(&organization_type, name),
                attributes,
                HashSet::new(),
            )?);
        }

        // Users, whose parents are the groups of their memberships.
        let mut parents: Vec<HashSet<EntityUid>> = vec![HashSet::new(); workload.users.len()];
        for m in &workload.memberships {
            let organization = &workload.organization_names[m.organization as usize];
            parents[m.user as usize].insert(uid(&group_type, &group_id(organization, m.role)));
        }
        for (name, parents) in workload.user_names.iter().zip(parents) {
            entities.push(Entity::new_no_attrs(uid(&user_type, name), parents));
        }

        Ok(Self {
            user_names: &workload.user_names,
            organization_names: &workload.organization_names,
            user_type,
            organization_type,
            actions,
            policies,
            entities: Entities::from_entities(entities, None)?,
            authorizer: Authorizer::new(),
        })
    }

    #[expect(
        clippy::result_large_err,
        reason = "cedar-policy's own error, passed on unchanged so that the timed section does what a host's would"
    )]
    #[inline]
    fn request(
        &self,
        request: &Request,
    ) -> std::result::Result<cedar_policy::Request, RequestValidationError> {
        cedar_policy::Request::new(
            uid(&self.user_type, &self.user_names[request.user as usize]),
            self.actions[request.capability as usize].clone(),
            uid(
                &self.organization_type,
                &self.organization_names[request.organization as usize],
            ),
            Context::empty(),
            None,
        )
    }
}

impl Engine for Cedar<'_> {
    type Output = std::result::Result<Decision, RequestValidationError>;

    #[inline]
    fn check(&self, request: &Request) -> Self::Output {
        let request = self.request(request)?;
        Ok(self
            .authorizer
            .is_authorized(&request, &self.policies, &self.entities)
            .decision())
    }

    fn decide(&self, request: &Request) -> Result<bool> {
        let response =
            self.authorizer
                .is_authorized(&self.request(request)?, &self.policies, &self.entities);
        // An evaluation error would read as a silent denial: refuse it.
        if let Some(error) = response.diagnostics().errors().next() {
            return Err(format!("cedar-policy failed to evaluate {request:?}: {error}").into());
        }
        Ok(response.decision() == Decision::Allow)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_permit_per_role() {
        let text = policies_text();
        assert_eq!(text.matches("permit").count(), Role::ALL.len());
        assert!(text.contains("Action::\"owner_capabilities\""));
        assert!(text.contains("resource.viewer_members"));
    }
}
