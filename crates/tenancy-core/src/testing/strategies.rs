//! Proptest strategies for the domain types.
//!
//! ```
//! use proptest::prelude::*;
//! use tenancy_core::testing::strategies;
//!
//! proptest!(|(email in strategies::email())| {
//!     let again = tenancy_core::value::EmailAddress::parse(email.as_str()).unwrap();
//!     prop_assert_eq!(again, email);
//! });
//! ```

use proptest::prelude::*;
use proptest::sample::select;

use zeroize::Zeroizing;

use crate::entity::ResourceKind;
use crate::id::{OrganizationId, UserId};
use crate::plan::{PlanCatalog, PlanId};
use crate::policy::{Capability, CapabilitySet, Membership, Role, RoleKey};
use crate::resource::{ConnectionType, Credentials, ResourceName, Text};
use crate::value::{DisplayName, EmailAddress, OrganizationName, RoleDescription, RoleName};

/// Valid email addresses, already normalized.
pub fn email() -> impl Strategy<Value = EmailAddress> {
    (
        "[a-z0-9][a-z0-9._+-]{0,15}",
        "[a-z0-9]{1,10}",
        select(vec!["com", "org", "io", "dev"]),
    )
        .prop_filter_map("not a valid address", |(local, domain, tld)| {
            EmailAddress::parse(&format!("{local}@{domain}.{tld}")).ok()
        })
}

/// Spellings of valid addresses as a person might type them: mixed case and
/// surrounding white space, which parsing removes.
pub fn email_as_typed() -> impl Strategy<Value = String> {
    (email(), any::<u64>(), "[ \t]{0,2}", "[ \t\n]{0,2}").prop_map(|(email, mask, lead, trail)| {
        let mixed: String = email
            .as_str()
            .chars()
            .enumerate()
            .map(|(i, c)| {
                if mask >> (i % 64) & 1 == 1 {
                    c.to_ascii_uppercase()
                } else {
                    c
                }
            })
            .collect();
        format!("{lead}{mixed}{trail}")
    })
}

/// Valid organization names, including non-ASCII ones.
pub fn organization_name() -> impl Strategy<Value = OrganizationName> {
    "[A-Za-zÀ-ÿ0-9][A-Za-zÀ-ÿ0-9 &'._-]{0,60}"
        .prop_filter_map("not a valid name", |raw| OrganizationName::parse(&raw).ok())
}

/// Valid display names.
pub fn display_name() -> impl Strategy<Value = DisplayName> {
    "[A-Za-zÀ-ÿ][A-Za-zÀ-ÿ .'-]{0,40}"
        .prop_filter_map("not a valid name", |raw| DisplayName::parse(&raw).ok())
}

/// Any built-in role.
pub fn builtin_role() -> impl Strategy<Value = Role> {
    select(Role::BUILTIN.to_vec())
}

/// A custom role: a key of the rules, a name, and any capabilities a custom
/// role may hold (`view_resources` and none of the owner's own).
pub fn custom_role() -> impl Strategy<Value = Role> {
    (
        "[a-z][a-z0-9_-]{1,39}",
        proptest::collection::vec(capability(), 0..12),
    )
        .prop_filter_map("a built-in key", |(key, picks)| {
            let key = RoleKey::custom(&key).ok()?;
            let capabilities = picks
                .into_iter()
                .filter(|c| c.is_grantable())
                .collect::<CapabilitySet>()
                .with(Capability::ViewResources);
            let name = RoleName::parse(&format!("Role {key}")).ok()?;
            Role::custom(key, name, RoleDescription::default(), capabilities).ok()
        })
}

/// Any role: a built-in one or a custom one.
pub fn role() -> impl Strategy<Value = Role> {
    prop_oneof![builtin_role(), custom_role()]
}

/// Any capability.
pub fn capability() -> impl Strategy<Value = Capability> {
    select(Capability::ALL.to_vec())
}

/// Any resource kind created from a body alone (not knowledge files, which
/// come with their content and need a blob store).
pub fn resource_kind() -> impl Strategy<Value = ResourceKind> {
    select(ResourceKind::METERED.to_vec())
}

/// Any resource kind.
pub fn any_resource_kind() -> impl Strategy<Value = ResourceKind> {
    select(ResourceKind::ALL.to_vec())
}

/// Valid resource names and connection labels, including non-ASCII ones.
pub fn resource_name() -> impl Strategy<Value = ResourceName> {
    "[A-Za-zÀ-ÿ0-9][A-Za-zÀ-ÿ0-9 &'._()-]{0,60}"
        .prop_filter_map("not a valid name", |raw| ResourceName::parse(&raw).ok())
}

/// Valid chat messages and investigation questions, over several lines.
pub fn text() -> impl Strategy<Value = Text> {
    "[A-Za-zÀ-ÿ0-9?!.,]{1,20}( [A-Za-z0-9?!.,]{1,20}){0,10}(\\n[A-Za-z0-9 ?!.,]{1,40}){0,3}"
        .prop_filter_map("not a valid text", |raw| Text::parse(&raw).ok())
}

/// Valid connection types.
pub fn connection_type() -> impl Strategy<Value = ConnectionType> {
    "[a-z][a-z0-9_.-]{0,20}"
        .prop_filter_map("not a valid type", |raw| ConnectionType::parse(&raw).ok())
}

/// Valid credentials: one to four entries with printable values.
pub fn credentials() -> impl Strategy<Value = Credentials> {
    proptest::collection::btree_map("[A-Za-z0-9_.-]{1,20}", "\\PC{1,40}", 1..=4).prop_filter_map(
        "not valid credentials",
        |entries| {
            Credentials::parse(
                entries
                    .into_iter()
                    .map(|(name, value)| (name, Zeroizing::new(value))),
            )
            .ok()
        },
    )
}

/// The id of a plan of `catalog`.
pub fn plan_id(catalog: &PlanCatalog) -> impl Strategy<Value = PlanId> + use<> {
    let ids: Vec<PlanId> = catalog.plans().iter().map(|plan| plan.id.clone()).collect();
    select(ids)
}

/// Any user id.
pub fn user_id() -> impl Strategy<Value = UserId> {
    any::<u128>().prop_map(|n| UserId::from_uuid(uuid::Uuid::from_u128(n)))
}

/// Any organization id.
pub fn organization_id() -> impl Strategy<Value = OrganizationId> {
    any::<u128>().prop_map(|n| OrganizationId::from_uuid(uuid::Uuid::from_u128(n)))
}

/// A membership with any role, built-in or custom.
pub fn membership() -> impl Strategy<Value = Membership> {
    (organization_id(), user_id(), role(), 0_i64..4_000_000_000).prop_map(
        |(organization_id, user_id, role, seconds)| Membership {
            organization_id,
            user_id,
            role,
            joined_at: chrono::DateTime::from_timestamp(seconds, 0).unwrap_or_default(),
        },
    )
}
