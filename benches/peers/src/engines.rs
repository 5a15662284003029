//! The engines under test. Each one encodes the workload's roles (the four
//! built-in ones, from tenancy-core's `Role::BUILTIN`, so that no encoding
//! can drift from the matrix, and each organization's custom ones) and its
//! memberships in its own terms, and answers one request at a time.

mod casbin;
mod cedar;
mod tenancy;

pub(crate) use self::casbin::{Casbin, CasbinCached};
pub(crate) use self::cedar::Cedar;
pub(crate) use self::tenancy::Tenancy;

use crate::Result;
use crate::workload::Request;

/// An engine that has been built from a workload.
pub(crate) trait Engine {
    /// What one check returns, kept alive with `black_box` so that the
    /// compiler cannot skip the work; it is each library's own result type.
    type Output;

    /// Answers one request: the whole of the timed section.
    fn check(&self, request: &Request) -> Self::Output;

    /// Answers one request as a plain decision, failing on any error the
    /// engine reports; used to verify the engine before it is timed.
    fn decide(&self, request: &Request) -> Result<bool>;
}

/// The engines, in the order they run and are reported.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    Tenancy,
    Cedar,
    Casbin,
    CasbinCached,
}

impl Kind {
    pub(crate) const ALL: [Self; 4] =
        [Self::Tenancy, Self::Cedar, Self::Casbin, Self::CasbinCached];

    pub(crate) const fn name(self) -> &'static str {
        match self {
            Self::Tenancy => "tenancy-core",
            Self::Cedar => "cedar-policy",
            Self::Casbin => "casbin",
            Self::CasbinCached => "casbin-cached",
        }
    }

    pub(crate) fn parse(name: &str) -> Result<Self> {
        Self::ALL
            .into_iter()
            .find(|kind| kind.name() == name)
            .ok_or_else(|| format!("unknown engine `{name}`").into())
    }

    /// How the engine encodes the roles and the memberships.
    pub(crate) const fn encoding(self) -> &'static str {
        match self {
            Self::Tenancy => {
                "`HashMap<(OrganizationId, UserId), Membership>` built from the memberships, each `Membership` carrying its `Role` (a built-in constant, or the organization's custom role as the store would read it); one `authorize` decides both by the role's `CapabilitySet`"
            }
            Self::Cedar => {
                "a single `permit`, the same for every organization: `permit (principal, action, resource is Organization) when { (action == Action::\"view_resources\" && principal in resource.view_resources) || ... }`, one case per capability; the roles are data: each organization has an entity per role (`Role::\"<organization>/<key>\"`, its four built-in ones and its custom ones) and an attribute per capability naming the set of its roles that hold it, and each user is an entity whose parents are the roles of its memberships; no schema"
            }
            Self::Casbin | Self::CasbinCached => {
                "RBAC with domains, the organization as the domain: `r = sub, dom, act`, `p = sub, act`, `g = _, _, _`, `m = r.act == p.act && g(r.sub, p.sub, r.dom)`; one `p, <built-in role>, <capability>` per cell of the matrix, one `p, capability:<capability>, <capability>` per grantable capability, and in each organization's domain one `g, <custom role>, capability:<capability>, <organization>` per capability of its custom roles and one `g, <user>, <role>, <organization>` per membership, added through `add_policies` and `add_grouping_policies`"
            }
        }
    }

    /// Exactly what runs between the two clock readings, per request.
    pub(crate) const fn timed_section(self) -> &'static str {
        match self {
            Self::Tenancy => {
                "wrap the request's two UUIDs as `UserId` and `OrganizationId`, look the membership up in the `HashMap` (SipHash, the std default), call `tenancy_core::authorize` (which, for a custom role, clones the role's key, a heap string, into the `Grant` or the `Denial`), drop the `Result<Grant, Denial>`"
            }
            Self::Cedar => {
                "build the principal and resource `EntityUid`s from the ids' strings (`EntityId::new` + `EntityUid::from_type_name_and_id`, type names cloned), clone the capability's prebuilt action `EntityUid`, `Request::new` with an empty context and no schema, `Authorizer::is_authorized`, read the decision, drop the `Response`"
            }
            Self::Casbin => {
                "`Enforcer::enforce((user, organization, capability))` with the ids' strings and the capability's name as `&str`"
            }
            Self::CasbinCached => {
                "`CachedEnforcer::enforce((user, organization, capability))` as for casbin, with a warm cache: its capacity is set above the number of distinct requests and the whole request list has run once before timing"
            }
        }
    }

    pub(crate) const fn is_reference(self) -> bool {
        matches!(self, Self::Tenancy)
    }
}
