//! casbin-rs with the "RBAC with domains" model, the organization as the
//! domain: each member's role is a grouping rule of its organization, the
//! built-in roles' capabilities are policies shared by every organization,
//! and an organization's custom roles are grouping rules of that
//! organization alone.

use ::casbin::prelude::*;
use ::casbin::{CachedApi, DefaultCache};
use tenancy_core::{Capability, CapabilitySet, Role};

use super::Engine;
use crate::Result;
use crate::workload::{Request, Workload};

/// The model. The matcher compares the capability first: it is the cheap
/// test, and it spares the role lookup on every policy line of another
/// capability, which is casbin's fastest faithful form of this matrix.
pub(crate) const MODEL: &str = "\
[request_definition]
r = sub, dom, act

[policy_definition]
p = sub, act

[role_definition]
g = _, _, _

[policy_effect]
e = some(where (p.eft == allow))

[matchers]
m = r.act == p.act && g(r.sub, p.sub, r.dom)
";

/// The role that stands for one capability, which a custom role inherits in
/// its organization for each capability it holds. Role keys hold no `:`, so
/// these names cannot meet a custom role's.
fn capability_role(capability: Capability) -> String {
    format!("capability:{capability}")
}

/// The policies, derived from tenancy-core: one `p, <role>, <capability>`
/// per capability a built-in role holds, then one
/// `p, capability:<capability>, <capability>` per capability a custom role
/// may hold. None names an organization, so their number does not grow with
/// the organizations: casbin reads every policy line on every check.
pub(crate) fn policy_rules() -> Vec<Vec<String>> {
    let builtin = Role::BUILTIN.into_iter().flat_map(|role| {
        role.capabilities()
            .iter()
            .map(move |capability| vec![role.key().to_string(), capability.name().to_owned()])
    });
    let custom = CapabilitySet::GRANTABLE
        .iter()
        .map(|capability| vec![capability_role(capability), capability.name().to_owned()]);
    builtin.chain(custom).collect()
}

/// The grouping rules of the organizations: one
/// `g, <custom role>, capability:<capability>, <organization>` per
/// capability each custom role holds, then one
/// `g, <user>, <role>, <organization>` per membership.
fn grouping_rules(workload: &Workload) -> Vec<Vec<String>> {
    let custom = workload
        .all_custom_roles()
        .flat_map(|(organization, role)| {
            let organization = &workload.organization_names[organization as usize];
            role.capabilities().iter().map(move |capability| {
                vec![
                    role.key().to_string(),
                    capability_role(capability),
                    organization.clone(),
                ]
            })
        });
    let memberships = workload.memberships.iter().map(|m| {
        vec![
            workload.user_names[m.user as usize].clone(),
            workload.role_of(m).key().to_string(),
            workload.organization_names[m.organization as usize].clone(),
        ]
    });
    custom.chain(memberships).collect()
}

/// Builds an enforcer of type `E` with the matrix and the memberships. The
/// enforcer has no adapter: the rules are added through the management API,
/// as a host would add them from its own store.
async fn enforcer<E: CoreApi + MgmtApi>(workload: &Workload) -> Result<E> {
    let model = DefaultModel::from_str(MODEL).await?;
    let mut enforcer = E::new(model, ()).await?;
    if !enforcer.add_policies(policy_rules()).await? {
        return Err("casbin refused the matrix's policies".into());
    }
    if !enforcer
        .add_grouping_policies(grouping_rules(workload))
        .await?
    {
        return Err("casbin refused the memberships".into());
    }
    Ok(enforcer)
}

/// Runs casbin's async constructors to completion; they do no I/O here.
fn block_on<T>(future: impl Future<Output = Result<T>>) -> Result<T> {
    tokio::runtime::Builder::new_current_thread()
        .build()?
        .block_on(future)
}

/// casbin behind the `Engine` trait, with either of its enforcers: the plain
/// one ([`Casbin`]) or the one that caches results ([`CasbinCached`]).
pub(crate) struct CasbinEngine<'w, E> {
    user_names: &'w [String],
    organization_names: &'w [String],
    enforcer: E,
}

pub(crate) type Casbin<'w> = CasbinEngine<'w, Enforcer>;
pub(crate) type CasbinCached<'w> = CasbinEngine<'w, CachedEnforcer>;

impl<'w, E> CasbinEngine<'w, E> {
    fn over(workload: &'w Workload, enforcer: E) -> Self {
        Self {
            user_names: &workload.user_names,
            organization_names: &workload.organization_names,
            enforcer,
        }
    }
}

impl<'w> Casbin<'w> {
    pub(crate) fn build(workload: &'w Workload) -> Result<Self> {
        Ok(Self::over(workload, block_on(enforcer(workload))?))
    }
}

impl<'w> CasbinCached<'w> {
    /// Builds the cached enforcer with room for every distinct request, so
    /// that a warm cache answers all of them (its default holds 200).
    pub(crate) fn build(workload: &'w Workload) -> Result<Self> {
        let mut enforcer: CachedEnforcer = block_on(enforcer(workload))?;
        let capacity = 2 * workload.requests.len().max(1);
        enforcer.set_cache(Box::new(DefaultCache::new(capacity)));
        Ok(Self::over(workload, enforcer))
    }
}

/// casbin's enforcers do not implement `Debug`; this says which one it holds.
impl<E> std::fmt::Debug for CasbinEngine<'_, E> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CasbinEngine")
            .field("enforcer", &std::any::type_name::<E>())
            .finish_non_exhaustive()
    }
}

impl<E: CoreApi> Engine for CasbinEngine<'_, E> {
    type Output = ::casbin::Result<bool>;

    #[inline]
    fn check(&self, request: &Request) -> Self::Output {
        self.enforcer.enforce((
            self.user_names[request.user as usize].as_str(),
            self.organization_names[request.organization as usize].as_str(),
            request.capability.name(),
        ))
    }

    fn decide(&self, request: &Request) -> Result<bool> {
        Ok(self.check(request)?)
    }
}

#[cfg(test)]
mod tests {
    use std::time::Instant;

    use super::*;
    use crate::workload::Expected;

    #[test]
    fn one_policy_per_builtin_cell_and_per_grantable_capability() {
        let rules = policy_rules();
        let granted: usize = Role::BUILTIN.iter().map(|r| r.capabilities().len()).sum();
        assert_eq!(rules.len(), granted + CapabilitySet::GRANTABLE.len());
        assert!(rules.contains(&vec![
            "owner".to_owned(),
            Capability::RenameOrganization.name().to_owned()
        ]));
        assert!(!rules.contains(&vec![
            "viewer".to_owned(),
            Capability::RenameOrganization.name().to_owned()
        ]));
        assert!(rules.contains(&vec![
            "capability:manage_billing".to_owned(),
            "manage_billing".to_owned()
        ]));
        assert!(
            !rules
                .iter()
                .any(|rule| rule[0] == "capability:delete_organization")
        );
    }

    #[test]
    fn agrees_with_the_workload_on_custom_roles() {
        let workload = Workload::generate(5_000, 4_000, 11).unwrap();
        let casbin = Casbin::build(&workload).unwrap();
        for request in &workload.requests {
            assert_eq!(
                casbin.decide(request).unwrap(),
                request.expected == Expected::Allow,
                "{request:?}"
            );
        }
    }

    /// casbin's textbook form of RBAC with domains: the roles' capabilities
    /// as policies that name their domain, the built-in ones with `*`.
    const TEXTBOOK_MODEL: &str = "\
[request_definition]
r = sub, dom, act

[policy_definition]
p = sub, dom, act

[role_definition]
g = _, _, _

[policy_effect]
e = some(where (p.eft == allow))

[matchers]
m = r.act == p.act && (p.dom == \"*\" || p.dom == r.dom) && g(r.sub, p.sub, r.dom)
";

    fn textbook(workload: &Workload) -> Result<Enforcer> {
        block_on(async {
            let model = DefaultModel::from_str(TEXTBOOK_MODEL).await?;
            let mut enforcer = Enforcer::new(model, ()).await?;
            let builtin = Role::BUILTIN.into_iter().flat_map(|role| {
                role.capabilities().iter().map(move |capability| {
                    vec![
                        role.key().to_string(),
                        "*".to_owned(),
                        capability.to_string(),
                    ]
                })
            });
            let custom = workload
                .all_custom_roles()
                .flat_map(|(organization, role)| {
                    let organization = &workload.organization_names[organization as usize];
                    role.capabilities().iter().map(move |capability| {
                        vec![
                            role.key().to_string(),
                            organization.clone(),
                            capability.to_string(),
                        ]
                    })
                });
            enforcer
                .add_policies(builtin.chain(custom).collect())
                .await?;
            let memberships = workload
                .memberships
                .iter()
                .map(|m| {
                    vec![
                        workload.user_names[m.user as usize].clone(),
                        workload.role_of(m).key().to_string(),
                        workload.organization_names[m.organization as usize].clone(),
                    ]
                })
                .collect();
            enforcer.add_grouping_policies(memberships).await?;
            Ok(enforcer)
        })
    }

    /// Why the benchmark does not use the textbook form: casbin reads every
    /// policy line on every check, and with a line per capability of every
    /// organization's custom roles a check costs in proportion to the
    /// number of organizations. Prints the cost per check of both forms;
    /// `cargo test --release -- --ignored --nocapture textbook`.
    #[test]
    #[ignore = "slow: times casbin's textbook encoding"]
    fn the_textbook_form_grows_with_the_organizations() {
        for size in [5_000, 50_000] {
            let workload = Workload::generate(size, 400, 6).unwrap();
            let fast = Casbin::build(&workload).unwrap();
            let slow = textbook(&workload).unwrap();
            let time = |check: &dyn Fn(&Request) -> bool| {
                let start = Instant::now();
                for request in &workload.requests {
                    assert_eq!(check(request), request.expected == Expected::Allow);
                }
                start.elapsed().as_secs_f64() * 1e6 / workload.requests.len() as f64
            };
            let per_check_fast = time(&|r| fast.decide(r).unwrap());
            let per_check_slow = time(&|r| {
                slow.enforce((
                    workload.user_names[r.user as usize].as_str(),
                    workload.organization_names[r.organization as usize].as_str(),
                    r.capability.name(),
                ))
                .unwrap()
            });
            println!(
                "{size} memberships, {} organizations, {} policy lines in the textbook form: \
                 {per_check_slow:.0} µs per check, against {per_check_fast:.1} µs in the benchmark's form",
                workload.organizations.len(),
                slow.get_policy().len(),
            );
        }
    }
}
