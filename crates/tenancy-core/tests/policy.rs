//! Property tests of the permission matrix, role definitions and the
//! authorization check.

use proptest::prelude::*;
use tenancy_core::policy::{RoleError, RoleKeyError};
use tenancy_core::testing::strategies;
use tenancy_core::value::{RoleDescription, RoleName};
use tenancy_core::{Capability, CapabilitySet, Denial, Operation, Role, RoleKey, authorize};

/// API.md's matrix, spelled out by name, row by row: which of owner, admin,
/// editor and viewer hold each capability.
const MATRIX: [(&str, [bool; 4]); 19] = [
    ("view_resources", [true, true, true, true]),
    ("chat_with_agents", [true, true, true, true]),
    ("run_investigations", [true, true, true, true]),
    ("chat_with_report_results", [true, true, true, true]),
    ("pin_items", [true, true, true, true]),
    ("manage_agents", [true, true, true, false]),
    ("manage_connections", [true, true, true, false]),
    ("manage_reports", [true, true, true, false]),
    ("trigger_report_runs", [true, true, true, false]),
    ("manage_schedules", [true, true, true, false]),
    ("upload_knowledge_files", [true, true, true, false]),
    ("manage_billing", [true, true, false, false]),
    ("manage_members", [true, true, false, false]),
    ("rename_organization", [true, true, false, false]),
    ("manage_roles", [true, true, false, false]),
    ("view_audit_log", [true, true, false, false]),
    ("manage_webhooks", [true, true, false, false]),
    ("delete_organization", [true, false, false, false]),
    ("transfer_ownership", [true, false, false, false]),
];

#[test]
fn the_built_in_roles_hold_exactly_the_matrix_of_the_api() {
    let builtin = Role::BUILTIN;
    let keys: Vec<&str> = builtin.iter().map(|r| r.key().as_str()).collect();
    assert_eq!(keys, ["owner", "admin", "editor", "viewer"]);
    let names: Vec<&str> = builtin.iter().map(|r| r.name().as_str()).collect();
    assert_eq!(names, ["Owner", "Admin", "Editor", "Viewer"]);
    let capabilities: Vec<&str> = Capability::ALL.iter().map(|c| c.name()).collect();
    let rows: Vec<&str> = MATRIX.iter().map(|(name, _)| *name).collect();
    assert_eq!(
        capabilities, rows,
        "the capabilities, in the order of the matrix"
    );
    for (name, held) in MATRIX {
        let capability = Capability::parse(name).unwrap();
        for (role, holds) in Role::BUILTIN.iter().zip(held) {
            assert_eq!(
                role.capabilities().contains(capability),
                holds,
                "{} and `{name}`",
                role.key()
            );
        }
        assert_eq!(
            capability.is_grantable(),
            held[1],
            "only the owner's own are not grantable"
        );
    }
    assert_eq!(Role::OWNER.capabilities(), CapabilitySet::all());
    assert!(Role::OWNER.is_owner() && !Role::ADMIN.is_owner());
    assert_eq!(Role::INVITED_DEFAULT, Role::VIEWER);
}

#[test]
fn names_are_stable_unique_snake_case_and_parse_back() {
    for capability in Capability::ALL {
        assert_eq!(Capability::parse(capability.name()), Ok(capability));
        assert!(!capability.description().is_empty());
        assert_eq!(
            serde_json::to_string(&capability).unwrap(),
            format!("\"{}\"", capability.name())
        );
    }
    assert!(Capability::parse("Manage_Members").is_err());
    for role in Role::BUILTIN {
        assert_eq!(Role::builtin(role.key().as_str()), Some(role.clone()));
        assert_eq!(RoleKey::parse(role.key().as_str()).as_ref(), Ok(role.key()));
    }
    assert_eq!(Role::builtin("auditor"), None);
}

#[test]
fn role_keys_follow_the_rules() {
    for good in ["ab", "analyst", "a-b_c9", &"a".repeat(40)] {
        assert!(RoleKey::custom(good).is_ok(), "{good}");
    }
    assert_eq!(RoleKey::custom("a"), Err(RoleKeyError::Length));
    assert_eq!(RoleKey::custom(&"a".repeat(41)), Err(RoleKeyError::Length));
    assert_eq!(RoleKey::custom("9lives"), Err(RoleKeyError::Start));
    assert_eq!(RoleKey::custom("_x"), Err(RoleKeyError::Start));
    assert_eq!(RoleKey::custom("Analyst"), Err(RoleKeyError::Start));
    assert_eq!(RoleKey::custom("an alyst"), Err(RoleKeyError::Character));
    assert_eq!(RoleKey::custom("anälyst"), Err(RoleKeyError::Character));
    assert_eq!(
        RoleKey::custom("editor"),
        Err(RoleKeyError::Builtin("editor".into()))
    );
    // Looking a role up accepts the built-in keys too.
    assert_eq!(RoleKey::parse("editor"), Ok(RoleKey::EDITOR));
}

#[test]
fn custom_roles_hold_view_resources_and_never_the_owner_s_own() {
    let key = || RoleKey::custom("analyst").unwrap();
    let name = || RoleName::parse("Analyst").unwrap();
    let view = CapabilitySet::of(&[Capability::ViewResources]);
    assert_eq!(
        Role::custom(
            key(),
            name(),
            RoleDescription::default(),
            CapabilitySet::EMPTY
        ),
        Err(RoleError::WithoutViewResources)
    );
    for owner_only in [
        Capability::DeleteOrganization,
        Capability::TransferOwnership,
    ] {
        assert_eq!(
            Role::custom(
                key(),
                name(),
                RoleDescription::default(),
                view.with(owner_only)
            ),
            Err(RoleError::OwnerOnly(owner_only))
        );
    }
    assert_eq!(
        Role::custom(RoleKey::ADMIN, name(), RoleDescription::default(), view),
        Err(RoleError::Builtin)
    );
    let analyst = Role::custom(key(), name(), RoleDescription::default(), view).unwrap();
    assert!(!analyst.is_builtin() && !analyst.is_owner());
    assert_eq!(analyst.capabilities(), view);
}

#[test]
fn every_operation_needs_one_capability_and_the_owner_holds_all() {
    for operation in Operation::ALL {
        assert!(Role::OWNER.capabilities().contains(operation.capability()));
    }
    let owner_only: Vec<String> = Operation::ALL
        .into_iter()
        .filter(|op| !Role::ADMIN.capabilities().contains(op.capability()))
        .map(|op| op.name())
        .collect();
    assert_eq!(
        owner_only,
        [
            "delete_organization",
            "view_deletion",
            "restore_organization",
            "transfer_ownership",
            "cancel_ownership_transfer",
        ]
    );
}

proptest! {
    #[test]
    fn authorization_follows_the_role_s_set(m in strategies::membership(), capability in strategies::capability()) {
        let decided = authorize(m.user_id, m.organization_id, Some(&m), capability);
        if m.role.capabilities().contains(capability) {
            let grant = decided.unwrap();
            prop_assert_eq!(grant.capability(), capability);
            prop_assert_eq!(grant.role(), m.role.key());
            prop_assert_eq!(grant.capabilities(), m.role.capabilities());
            prop_assert_eq!(grant.is_owner(), m.role.is_owner());
            prop_assert_eq!(grant.organization_id(), m.organization_id);
            prop_assert_eq!(grant.user_id(), m.user_id);
        } else {
            prop_assert_eq!(decided, Err(Denial::LacksCapability { role: m.role.key().clone(), capability }));
        }
    }

    #[test]
    fn no_custom_role_holds_an_owner_only_capability(role in strategies::custom_role()) {
        prop_assert!(role.capabilities().is_subset(CapabilitySet::GRANTABLE));
        prop_assert!(role.capabilities().contains(Capability::ViewResources));
        prop_assert!(!role.is_builtin());
    }

    #[test]
    fn without_a_membership_of_that_user_and_organization_nothing_is_granted(
        m in strategies::membership(),
        user in strategies::user_id(),
        org in strategies::organization_id(),
        capability in strategies::capability(),
    ) {
        prop_assert_eq!(authorize(user, org, None, capability), Err(Denial::NotAMember));
        // Someone else's membership, or one of another organization, is no membership.
        if user != m.user_id {
            prop_assert_eq!(authorize(user, m.organization_id, Some(&m), capability), Err(Denial::NotAMember));
        }
        if org != m.organization_id {
            prop_assert_eq!(authorize(m.user_id, org, Some(&m), capability), Err(Denial::NotAMember));
        }
    }

    #[test]
    fn capability_sets_behave_like_sets(
        picks in proptest::collection::vec(strategies::capability(), 0..20),
        others in proptest::collection::vec(strategies::capability(), 0..20),
    ) {
        let set: CapabilitySet = picks.iter().copied().collect();
        let other: CapabilitySet = others.iter().copied().collect();
        let unique: std::collections::BTreeSet<Capability> = picks.iter().copied().collect();
        prop_assert_eq!(set.len(), unique.len());
        prop_assert!(unique.iter().all(|c| set.contains(*c)));
        prop_assert!(set.iter().eq(unique.iter().copied()));
        prop_assert!(set.is_subset(CapabilitySet::all()));
        prop_assert_eq!(CapabilitySet::from_names(&set.to_names()), Ok(set));
        prop_assert!(set.minus(other).is_subset(set));
        prop_assert!(set.minus(other).iter().all(|c| !other.contains(c)));
        prop_assert!(set.is_subset(set.union(other)) && other.is_subset(set.union(other)));
    }

    #[test]
    fn a_membership_is_all_that_matters(m in strategies::membership()) {
        let held: CapabilitySet = Capability::ALL
            .into_iter()
            .filter(|c| authorize(m.user_id, m.organization_id, Some(&m), *c).is_ok())
            .collect();
        prop_assert_eq!(held, m.role.capabilities());
    }
}
