//! cedar-policy with a single `permit`, the same for every role and every
//! organization, and the roles, the organizations' custom roles and the memberships as data: an
//! entity hierarchy and the organizations' attributes.

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
    /// host would hold these nineteen as constants rather than build them.
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

/// The entity of `organization`'s role `role`. A role is a group of one
/// organization's members, built-in roles included: every organization has
/// its own `owner`, its own `viewer` and so on, besides its custom roles.
fn role_id(organization: &str, role: &Role) -> String {
    format!("{organization}/{}", role.key())
}

/// The policy, the same for every organization: a member may use a
/// capability when their role in the organization holds it. Which roles
/// hold a capability in an organization is data: the organization's
/// attribute of the capability's name, the set of those roles. cedar has no
/// dynamic attribute access (no `resource[action]`), so the policy names
/// each capability's attribute, in the order of the matrix.
pub(crate) fn policies_text() -> String {
    let cases: Vec<String> = Capability::ALL
        .iter()
        .map(|capability| {
            format!("(action == Action::\"{capability}\" && principal in resource.{capability})")
        })
        .collect();
    format!(
        "permit (principal, action, resource is Organization)\nwhen {{\n  {}\n}};\n",
        cases.join(" ||\n  ")
    )
}

impl<'w> Cedar<'w> {
    pub(crate) fn build(workload: &'w Workload) -> Result<Self> {
        Self::with_policies(workload, &policies_text())
    }

    /// The engine with other policies over the same entities.
    fn with_policies(workload: &'w Workload, policies: &str) -> Result<Self> {
        let user_type = type_name("User")?;
        let organization_type = type_name("Organization")?;
        let role_type = type_name("Role")?;
        let action_type = type_name("Action")?;

        let policies = PolicySet::from_str(policies)?;

        let builtin = workload.builtin_roles().len();
        let role_entities = builtin * workload.organizations.len() + workload.roles.len() - builtin;
        let mut entities = Vec::with_capacity(
            workload.users.len()
                + workload.organizations.len()
                + role_entities
                + Capability::ALL.len(),
        );
        // Actions: without a schema, they come from the entities.
        let mut actions = Vec::with_capacity(Capability::ALL.len());
        for (i, capability) in Capability::ALL.into_iter().enumerate() {
            if capability as usize != i {
                return Err("`Capability::ALL` is not in declaration order".into());
            }
            let action = uid(&action_type, capability.name());
            entities.push(Entity::new_no_attrs(action.clone(), HashSet::new()));
            actions.push(action);
        }

        // Organizations, each with an entity per role (the built-in ones and
        // its own) and an attribute per capability: the set of its roles
        // that hold it.
        for (organization, name) in workload.organization_names.iter().enumerate() {
            let mut holders: Vec<Vec<RestrictedExpression>> =
                vec![Vec::new(); Capability::ALL.len()];
            for role in workload.roles_of(organization) {
                let role_uid = uid(&role_type, &role_id(name, role));
                for capability in role.capabilities().iter() {
                    holders[capability as usize]
                        .push(RestrictedExpression::new_entity_uid(role_uid.clone()));
                }
                entities.push(Entity::new_no_attrs(role_uid, HashSet::new()));
            }
            let attributes: HashMap<String, RestrictedExpression> = Capability::ALL
                .into_iter()
                .zip(holders)
                .map(|(capability, roles)| {
                    (
                        capability.name().to_owned(),
                        RestrictedExpression::new_set(roles),
                    )
                })
                .collect();
            entities.push(Entity::new(
                uid(&organization_type, name),
                attributes,
                HashSet::new(),
            )?);
        }

        // Users, whose parents are the roles of their memberships.
        let mut parents: Vec<HashSet<EntityUid>> = vec![HashSet::new(); workload.users.len()];
        for m in &workload.memberships {
            let organization = &workload.organization_names[m.organization as usize];
            parents[m.user as usize]
                .insert(uid(&role_type, &role_id(organization, workload.role_of(m))));
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
    use std::time::Instant;

    use super::*;
    use crate::workload::Expected;

    /// The same rule as one policy per capability.
    fn per_capability_text() -> String {
        Capability::ALL
            .iter()
            .map(|c| {
                format!(
                    "permit (\n  principal,\n  action == Action::\"{c}\",\n  resource is Organization\n)\nwhen {{ principal in resource.{c} }};\n"
                )
            })
            .collect()
    }

    /// Why the benchmark's policy is a single one: cedar's `Authorizer`
    /// evaluates every policy of the set on every request, so the textbook
    /// form, a policy per capability, costs about twice as much. Prints the
    /// cost per check of both;
    /// `cargo test --release -- --ignored --nocapture single_policy`.
    #[test]
    #[ignore = "slow: times another encoding"]
    fn a_single_policy_against_one_per_capability() {
        let workload = Workload::generate(50_000, 20_000, 6).unwrap();
        let single = Cedar::build(&workload).unwrap();
        let per_capability = Cedar::with_policies(&workload, &per_capability_text()).unwrap();
        let time = |cedar: &Cedar<'_>| {
            for request in &workload.requests {
                assert_eq!(
                    cedar.decide(request).unwrap(),
                    request.expected == Expected::Allow
                );
            }
            let start = Instant::now();
            for request in &workload.requests {
                let _ = std::hint::black_box(cedar.check(request));
            }
            start.elapsed().as_secs_f64() * 1e6 / workload.requests.len() as f64
        };
        for _ in 0..3 {
            println!(
                "a single policy: {:.1} µs per check; one policy per capability: {:.1} µs",
                time(&single),
                time(&per_capability)
            );
        }
    }

    #[test]
    fn one_permit_that_names_every_capability() {
        let text = policies_text();
        assert_eq!(text.matches("permit").count(), 1);
        assert_eq!(text.matches("action ==").count(), Capability::ALL.len());
        assert!(text.contains(
            "(action == Action::\"rename_organization\" && principal in resource.rename_organization)"
        ));
        assert_eq!(
            per_capability_text().matches("permit").count(),
            Capability::ALL.len()
        );
    }

    #[test]
    fn both_forms_agree_with_the_workload_on_custom_roles() {
        let workload = Workload::generate(5_000, 4_000, 11).unwrap();
        let single = Cedar::build(&workload).unwrap();
        let per_capability = Cedar::with_policies(&workload, &per_capability_text()).unwrap();
        for request in &workload.requests {
            let expected = request.expected == Expected::Allow;
            assert_eq!(single.decide(request).unwrap(), expected, "{request:?}");
            assert_eq!(
                per_capability.decide(request).unwrap(),
                expected,
                "{request:?}"
            );
        }
    }
}
