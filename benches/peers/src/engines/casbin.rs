//! casbin-rs with the "RBAC with domains" model: roles per organization, and
//! policies that give each role its capabilities in every organization.

use ::casbin::prelude::*;
use ::casbin::{CachedApi, DefaultCache};
use tenancy_core::Role;

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

/// One `p, <role>, <capability>` per capability a role holds, derived from
/// tenancy-core's matrix.
pub(crate) fn policy_rules() -> Vec<Vec<String>> {
    Role::ALL
        .into_iter()
        .flat_map(|role| {
            role.capabilities()
                .iter()
                .map(move |capability| vec![role.name().to_owned(), capability.name().to_owned()])
        })
        .collect()
}

/// One `g, <user>, <role>, <organization>` per membership.
fn grouping_rules(workload: &Workload) -> Vec<Vec<String>> {
    workload
        .memberships
        .iter()
        .map(|m| {
            vec![
                workload.user_names[m.user as usize].clone(),
                m.role.name().to_owned(),
                workload.organization_names[m.organization as usize].clone(),
            ]
        })
        .collect()
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
    use tenancy_core::Capability;

    use super::*;

    #[test]
    fn one_policy_per_cell_the_matrix_grants() {
        let rules = policy_rules();
        let granted: usize = Role::ALL.iter().map(|r| r.capabilities().len()).sum();
        assert_eq!(rules.len(), granted);
        assert!(rules.contains(&vec![
            "owner".to_owned(),
            Capability::RenameOrganization.name().to_owned()
        ]));
        assert!(!rules.contains(&vec![
            "viewer".to_owned(),
            Capability::RenameOrganization.name().to_owned()
        ]));
    }
}
