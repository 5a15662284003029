//! Property tests of the permission matrix and the authorization check.

use proptest::prelude::*;
use tenancy_core::testing::strategies;
use tenancy_core::{Capability, CapabilitySet, Denial, Role, authorize};

/// The seed's table, spelled out by name: the viewer's five capabilities.
const VIEWER_NAMES: [&str; 5] = [
    "view_resources",
    "chat_with_agents",
    "run_investigations",
    "chat_with_report_results",
    "pin_items",
];

#[test]
fn the_viewer_holds_exactly_the_five_of_the_seed() {
    let names: Vec<&str> = Role::Viewer
        .capabilities()
        .iter()
        .map(Capability::name)
        .collect();
    assert_eq!(names, VIEWER_NAMES);
}

#[test]
fn the_owner_holds_all_fourteen() {
    assert_eq!(Role::Owner.capabilities().len(), 14);
    assert_eq!(Role::Owner.capabilities(), CapabilitySet::all());
    assert!(
        Role::Viewer
            .capabilities()
            .is_subset(Role::Owner.capabilities())
    );
    assert!(
        !Role::Owner
            .capabilities()
            .is_subset(Role::Viewer.capabilities())
    );
}

#[test]
fn names_are_stable_unique_snake_case_and_parse_back() {
    let names: Vec<&str> = Capability::ALL.iter().map(|c| c.name()).collect();
    assert_eq!(
        names,
        [
            "view_resources",
            "chat_with_agents",
            "run_investigations",
            "chat_with_report_results",
            "pin_items",
            "manage_agents",
            "manage_connections",
            "manage_reports",
            "trigger_report_runs",
            "manage_schedules",
            "upload_knowledge_files",
            "manage_billing",
            "manage_members",
            "rename_organization",
        ]
    );
    for capability in Capability::ALL {
        assert_eq!(Capability::parse(capability.name()), Ok(capability));
        assert!(!capability.description().is_empty());
        assert_eq!(
            serde_json::to_string(&capability).unwrap(),
            format!("\"{}\"", capability.name())
        );
    }
    for role in Role::ALL {
        assert_eq!(Role::parse(role.name()), Ok(role));
    }
    assert!(Capability::parse("Manage_Members").is_err());
    assert!(Role::parse("editor").is_err());
}

#[test]
fn only_viewers_are_invited() {
    let assignable: Vec<Role> = Role::ALL
        .into_iter()
        .filter(|r| r.is_assignable_by_invitation())
        .collect();
    assert_eq!(assignable, [Role::Viewer]);
}

proptest! {
    #[test]
    fn viewers_hold_a_capability_exactly_when_the_seed_says(capability in strategies::capability()) {
        prop_assert_eq!(
            Role::Viewer.capabilities().contains(capability),
            VIEWER_NAMES.contains(&capability.name())
        );
        prop_assert!(Role::Owner.capabilities().contains(capability));
    }

    #[test]
    fn authorization_follows_the_matrix(m in strategies::membership(), capability in strategies::capability()) {
        let decided = authorize(m.user_id, m.organization_id, Some(&m), capability);
        if m.role.capabilities().contains(capability) {
            let grant = decided.unwrap();
            prop_assert_eq!(grant.capability(), capability);
            prop_assert_eq!(grant.role(), m.role);
            prop_assert_eq!(grant.organization_id(), m.organization_id);
            prop_assert_eq!(grant.user_id(), m.user_id);
        } else {
            prop_assert_eq!(decided, Err(Denial::LacksCapability { role: m.role, capability }));
        }
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
    fn capability_sets_behave_like_sets(picks in proptest::collection::vec(strategies::capability(), 0..20)) {
        let set: CapabilitySet = picks.iter().copied().collect();
        let unique: std::collections::BTreeSet<Capability> = picks.iter().copied().collect();
        prop_assert_eq!(set.len(), unique.len());
        prop_assert!(unique.iter().all(|c| set.contains(*c)));
        prop_assert!(set.iter().eq(unique.iter().copied()));
        prop_assert!(set.is_subset(CapabilitySet::all()));
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
