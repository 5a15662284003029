//! The fixed-seed workload every engine is measured on: users,
//! organizations, their roles (the four built-in ones and each
//! organization's custom ones), memberships and a list of requests whose
//! decisions are known by construction.
//!
//! The workload is plain data (indices, UUIDs and their strings, and the
//! roles as tenancy-core defines them); each engine turns it into its own
//! encoding during its setup.

use std::ops::Range;

use tenancy_core::value::{RoleDescription, RoleName};
use tenancy_core::{Capability, CapabilitySet, Role, RoleKey};
use uuid::Uuid;

use crate::Result;

/// How many organizations each user belongs to.
pub(crate) const MEMBERSHIPS_PER_USER: usize = 5;
/// How many users there are per organization.
pub(crate) const USERS_PER_ORGANIZATION: usize = 10;

/// How the memberships other than the owners' are shared among the roles,
/// in percent: the built-in ones, then the organization's custom roles,
/// which take the rest.
pub(crate) const ADMIN_PERCENT: usize = 10;
pub(crate) const EDITOR_PERCENT: usize = 25;
pub(crate) const VIEWER_PERCENT: usize = 35;
pub(crate) const CUSTOM_PERCENT: usize = 100 - ADMIN_PERCENT - EDITOR_PERCENT - VIEWER_PERCENT;

/// How many custom roles each organization defines: the lower or the upper
/// bound, drawn per organization.
pub(crate) const CUSTOM_ROLES_PER_ORGANIZATION: (usize, usize) = (2, 3);

/// The keys and names the organizations' custom roles draw from. Many
/// organizations define a role of the same key, each with capabilities of
/// its own, so that no engine can get away with a role that is not scoped to
/// its organization.
const CUSTOM_ROLES: [(&str, &str); 6] = [
    ("analyst", "Analyst"),
    ("auditor", "Auditor"),
    ("billing", "Billing"),
    ("builder", "Builder"),
    ("reviewer", "Reviewer"),
    ("support", "Support"),
];

/// Where the built-in roles sit in [`Workload::roles`]: first, in the order
/// of `Role::BUILTIN`.
pub(crate) const OWNER: u32 = 0;
const ADMIN: u32 = 1;
const EDITOR: u32 = 2;
const VIEWER: u32 = 3;

/// SplitMix64: tiny, fast and good enough to draw a benchmark's workload.
/// Written here rather than taken from a crate so that the workload does not
/// change when a dependency does.
#[derive(Debug, Clone)]
pub(crate) struct SplitMix64(u64);

impl SplitMix64 {
    pub(crate) const fn new(seed: u64) -> Self {
        Self(seed)
    }

    pub(crate) fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A number in `0..n` (`n > 0`), by multiplying and keeping the high
    /// half; the bias is below 2^-32 for the sizes drawn here.
    pub(crate) fn below(&mut self, n: usize) -> usize {
        ((u128::from(self.next_u64()) * n as u128) >> 64) as usize
    }

    fn uuid(&mut self) -> Uuid {
        let high = u128::from(self.next_u64()) << 64;
        let bytes = (high | u128::from(self.next_u64())).to_be_bytes();
        // Marks the bytes as a version 4 UUID, as a host's ids would look.
        uuid::Builder::from_random_bytes(bytes).into_uuid()
    }
}

/// A role as the workload holds it: its definition, and the organization
/// that defined it.
#[derive(Debug, Clone)]
pub(crate) struct RoleRow {
    /// `None` for a built-in role, which every organization has.
    pub(crate) organization: Option<u32>,
    pub(crate) role: Role,
}

/// A member of an organization, by index into the workload's tables.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct MembershipRow {
    pub(crate) user: u32,
    pub(crate) organization: u32,
    /// Into [`Workload::roles`]: a built-in role, or a custom role of this
    /// organization.
    pub(crate) role: u32,
}

/// What the decision on a request must be, and why.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Expected {
    Allow,
    /// The user is not a member of the organization.
    NotAMember,
    /// The user is a member whose role lacks the capability.
    LacksCapability,
}

/// One authorization question: may `user` use `capability` in `organization`?
#[derive(Debug, Clone, Copy)]
pub(crate) struct Request {
    pub(crate) user: u32,
    pub(crate) organization: u32,
    pub(crate) capability: Capability,
    pub(crate) expected: Expected,
}

/// Everything an engine needs to build itself and to be asked.
#[derive(Debug)]
pub(crate) struct Workload {
    pub(crate) users: Vec<Uuid>,
    /// The users' ids as strings, for the engines that name principals by
    /// string. Rendered once here, so that no engine pays for formatting.
    pub(crate) user_names: Vec<String>,
    pub(crate) organizations: Vec<Uuid>,
    pub(crate) organization_names: Vec<String>,
    /// The four built-in roles (at [`OWNER`] and the next three indices, in
    /// the order of `Role::BUILTIN`), then every organization's custom roles,
    /// organization by organization.
    pub(crate) roles: Vec<RoleRow>,
    /// Per organization, the indices of its custom roles in `roles`.
    pub(crate) custom_roles: Vec<Range<u32>>,
    /// Grouped by user: user `u` holds rows `u * 5 .. u * 5 + 5`.
    pub(crate) memberships: Vec<MembershipRow>,
    /// Shuffled: allowed and denied requests interleave.
    pub(crate) requests: Vec<Request>,
}

impl Workload {
    /// Draws the workload of `memberships` memberships (rounded down to a
    /// multiple of 50) and `requests` requests (rounded down to a multiple of
    /// 4) from `seed`.
    pub(crate) fn generate(memberships: usize, requests: usize, seed: u64) -> Result<Self> {
        let user_count = memberships / MEMBERSHIPS_PER_USER;
        let organization_count = user_count / USERS_PER_ORGANIZATION;
        if organization_count < MEMBERSHIPS_PER_USER {
            return Err(format!(
                "{memberships} memberships is too few: each user needs {MEMBERSHIPS_PER_USER} distinct organizations"
            )
            .into());
        }
        if requests < 4 {
            return Err("the workload needs at least 4 requests".into());
        }
        if u32::try_from(user_count).is_err() {
            return Err(format!("{memberships} memberships is too many").into());
        }
        if !Role::BUILTIN[OWNER as usize].is_owner() {
            return Err("`Role::BUILTIN` does not start with the owner".into());
        }
        let mut rng = SplitMix64::new(seed);

        let users: Vec<Uuid> = (0..user_count).map(|_| rng.uuid()).collect();
        let organizations: Vec<Uuid> = (0..organization_count).map(|_| rng.uuid()).collect();

        let mut roles: Vec<RoleRow> = Role::BUILTIN
            .into_iter()
            .map(|role| RoleRow {
                organization: None,
                role,
            })
            .collect();
        let mut custom_roles = Vec::with_capacity(organization_count);
        for organization in 0..organization_count {
            let start = index(roles.len());
            for role in draw_custom_roles(&mut rng)? {
                roles.push(RoleRow {
                    organization: Some(index(organization)),
                    role,
                });
            }
            custom_roles.push(start..index(roles.len()));
        }

        // Each organization's one owner first, among the users who still have
        // room; then every user is filled up to five organizations, each
        // membership with a role drawn from the shares above.
        let mut per_user: Vec<Vec<(u32, u32)>> =
            vec![Vec::with_capacity(MEMBERSHIPS_PER_USER); user_count];
        for organization in 0..organization_count {
            let owner = loop {
                let user = rng.below(user_count);
                if per_user[user].len() < MEMBERSHIPS_PER_USER {
                    break user;
                }
            };
            per_user[owner].push((index(organization), OWNER));
        }
        for held in &mut per_user {
            while held.len() < MEMBERSHIPS_PER_USER {
                let organization = rng.below(organization_count);
                let organization_index = index(organization);
                if held.iter().all(|(o, _)| *o != organization_index) {
                    let role = draw_role(&mut rng, custom_roles[organization].clone());
                    held.push((organization_index, role));
                }
            }
        }
        let memberships: Vec<MembershipRow> = per_user
            .iter()
            .enumerate()
            .flat_map(|(user, held)| {
                held.iter().map(move |&(organization, role)| MembershipRow {
                    user: index(user),
                    organization,
                    role,
                })
            })
            .collect();

        let requests = draw_requests(&mut rng, &roles, &memberships, organization_count, requests)?;

        Ok(Self {
            user_names: users.iter().map(Uuid::to_string).collect(),
            users,
            organization_names: organizations.iter().map(Uuid::to_string).collect(),
            organizations,
            roles,
            custom_roles,
            memberships,
            requests,
        })
    }

    /// The role a membership holds.
    pub(crate) fn role_of(&self, membership: &MembershipRow) -> &Role {
        &self.roles[membership.role as usize].role
    }

    /// The four built-in roles, which every organization has.
    pub(crate) fn builtin_roles(&self) -> &[RoleRow] {
        &self.roles[..Role::BUILTIN.len()]
    }

    /// Every custom role of every organization, with its organization's index.
    pub(crate) fn all_custom_roles(&self) -> impl Iterator<Item = (u32, &Role)> {
        self.roles
            .iter()
            .filter_map(|row| row.organization.map(|o| (o, &row.role)))
    }

    /// The roles an organization has: the built-in ones, then its own.
    pub(crate) fn roles_of(&self, organization: usize) -> impl Iterator<Item = &Role> {
        let custom = self.custom_roles[organization].clone();
        self.builtin_roles()
            .iter()
            .chain(&self.roles[custom.start as usize..custom.end as usize])
            .map(|row| &row.role)
    }

    /// How many memberships hold a custom role.
    pub(crate) fn custom_memberships(&self) -> usize {
        self.memberships
            .iter()
            .filter(|m| m.role as usize >= Role::BUILTIN.len())
            .count()
    }

    /// The memberships of user `user`.
    fn memberships_of(&self, user: usize) -> &[MembershipRow] {
        membership_slice(&self.memberships, user)
    }

    /// Whether the requests' expectations agree with the memberships; a
    /// guard on the generator itself, independent of every engine.
    pub(crate) fn check_expectations(&self) -> Result<()> {
        for request in &self.requests {
            let role = self
                .memberships_of(request.user as usize)
                .iter()
                .find(|m| m.organization == request.organization)
                .map(|m| self.role_of(m));
            let expected = match role {
                None => Expected::NotAMember,
                Some(role) if role.capabilities().contains(request.capability) => Expected::Allow,
                Some(_) => Expected::LacksCapability,
            };
            if expected != request.expected {
                return Err(format!("the generator mislabelled {request:?}").into());
            }
        }
        Ok(())
    }
}

fn membership_slice(memberships: &[MembershipRow], user: usize) -> &[MembershipRow] {
    &memberships[user * MEMBERSHIPS_PER_USER..(user + 1) * MEMBERSHIPS_PER_USER]
}

/// An organization's custom roles: two or three distinct keys, each role
/// holding `view_resources` and each other grantable capability with even
/// odds, and no two of the organization's roles (built-in ones included)
/// with the same capabilities. `Role::custom` checks them as the product
/// does.
fn draw_custom_roles(rng: &mut SplitMix64) -> Result<Vec<Role>> {
    let (least, most) = CUSTOM_ROLES_PER_ORGANIZATION;
    let count = least + rng.below(most - least + 1);
    let mut keys: Vec<usize> = Vec::with_capacity(count);
    while keys.len() < count {
        let key = rng.below(CUSTOM_ROLES.len());
        if !keys.contains(&key) {
            keys.push(key);
        }
    }
    let mut taken: Vec<CapabilitySet> = Role::BUILTIN.iter().map(Role::capabilities).collect();
    let mut roles = Vec::with_capacity(count);
    for key in keys {
        let capabilities = loop {
            let capabilities: CapabilitySet = CapabilitySet::GRANTABLE
                .iter()
                .filter(|&c| c == Capability::ViewResources || rng.below(2) == 1)
                .collect();
            if !taken.contains(&capabilities) {
                break capabilities;
            }
        };
        taken.push(capabilities);
        let (key, name) = CUSTOM_ROLES[key];
        roles.push(Role::custom(
            RoleKey::custom(key)?,
            RoleName::parse(name)?,
            RoleDescription::default(),
            capabilities,
        )?);
    }
    Ok(roles)
}

/// A role for a membership other than the owner's, by the shares above.
fn draw_role(rng: &mut SplitMix64, custom: Range<u32>) -> u32 {
    let draw = rng.below(100);
    if draw < ADMIN_PERCENT {
        ADMIN
    } else if draw < ADMIN_PERCENT + EDITOR_PERCENT {
        EDITOR
    } else if draw < ADMIN_PERCENT + EDITOR_PERCENT + VIEWER_PERCENT || custom.is_empty() {
        VIEWER
    } else {
        custom.start + index(rng.below(custom.len()))
    }
}

/// Half the requests are allowed, a quarter come from non-members and a
/// quarter ask for a capability the member's role lacks. Every capability
/// comes from the roles' own sets, so the workload follows tenancy-core's
/// matrix and the organizations' custom roles.
fn draw_requests(
    rng: &mut SplitMix64,
    roles: &[RoleRow],
    memberships: &[MembershipRow],
    organization_count: usize,
    count: usize,
) -> Result<Vec<Request>> {
    let held = |m: &MembershipRow| roles[m.role as usize].role.capabilities();
    if memberships.iter().all(|m| held(m) == CapabilitySet::all()) {
        return Err("no role lacks a capability: the workload has no denial to draw".into());
    }
    let pick = |rng: &mut SplitMix64, set: CapabilitySet| {
        set.iter()
            .nth(rng.below(set.len()))
            .unwrap_or(Capability::ViewResources)
    };
    let user_count = memberships.len() / MEMBERSHIPS_PER_USER;

    let allowed = count / 2;
    let not_a_member = count / 4;
    let lacking = count / 4;
    let mut requests = Vec::with_capacity(allowed + not_a_member + lacking);
    for _ in 0..allowed {
        let m = memberships[rng.below(memberships.len())];
        requests.push(Request {
            user: m.user,
            organization: m.organization,
            capability: pick(rng, held(&m)),
            expected: Expected::Allow,
        });
    }
    for _ in 0..not_a_member {
        let user = rng.below(user_count);
        let organization = loop {
            let organization = index(rng.below(organization_count));
            if membership_slice(memberships, user)
                .iter()
                .all(|m| m.organization != organization)
            {
                break organization;
            }
        };
        requests.push(Request {
            user: index(user),
            organization,
            capability: Capability::ALL[rng.below(Capability::ALL.len())],
            expected: Expected::NotAMember,
        });
    }
    for _ in 0..lacking {
        let (m, lacked) = loop {
            let m = memberships[rng.below(memberships.len())];
            let lacked = CapabilitySet::all().minus(held(&m));
            if !lacked.is_empty() {
                break (m, lacked);
            }
        };
        requests.push(Request {
            user: m.user,
            organization: m.organization,
            capability: pick(rng, lacked),
            expected: Expected::LacksCapability,
        });
    }
    // Fisher-Yates, so that no engine sees a run of alike requests.
    for i in (1..requests.len()).rev() {
        let j = rng.below(i + 1);
        requests.swap(i, j);
    }
    Ok(requests)
}

/// A table index as the `u32` the rows hold; `generate` checked the sizes.
fn index(i: usize) -> u32 {
    u32::try_from(i).unwrap_or(u32::MAX)
}

#[cfg(test)]
mod tests {
    use std::collections::{HashMap, HashSet};

    use super::*;

    #[test]
    fn same_seed_same_workload_other_seed_other_workload() {
        let a = Workload::generate(5_000, 400, 7).unwrap();
        let b = Workload::generate(5_000, 400, 7).unwrap();
        let c = Workload::generate(5_000, 400, 8).unwrap();
        assert_eq!(a.users, b.users);
        assert_eq!(a.memberships, b.memberships);
        assert_eq!(
            a.roles.iter().map(|r| &r.role).collect::<Vec<_>>(),
            b.roles.iter().map(|r| &r.role).collect::<Vec<_>>()
        );
        assert_eq!(
            a.requests
                .iter()
                .map(|r| (r.user, r.organization, r.capability))
                .collect::<Vec<_>>(),
            b.requests
                .iter()
                .map(|r| (r.user, r.organization, r.capability))
                .collect::<Vec<_>>()
        );
        assert_ne!(a.users, c.users);
    }

    #[test]
    fn sizes_owners_and_distinct_organizations() {
        let w = Workload::generate(50_000, 1_000, 1).unwrap();
        assert_eq!(w.users.len(), 10_000);
        assert_eq!(w.organizations.len(), 1_000);
        assert_eq!(w.memberships.len(), 50_000);
        let mut owners = vec![0; w.organizations.len()];
        for m in &w.memberships {
            if w.role_of(m).is_owner() {
                owners[m.organization as usize] += 1;
            }
        }
        assert!(
            owners.iter().all(|&n| n == 1),
            "each organization has exactly one owner"
        );
        for user in 0..w.users.len() {
            let organizations: HashSet<u32> = w
                .memberships_of(user)
                .iter()
                .map(|m| m.organization)
                .collect();
            assert_eq!(organizations.len(), MEMBERSHIPS_PER_USER);
            assert!(
                w.memberships_of(user)
                    .iter()
                    .all(|m| m.user as usize == user)
            );
        }
    }

    #[test]
    fn custom_roles_per_organization() {
        let w = Workload::generate(50_000, 1_000, 2).unwrap();
        assert_eq!(
            w.builtin_roles()
                .iter()
                .map(|r| r.role.clone())
                .collect::<Vec<_>>(),
            Role::BUILTIN.to_vec()
        );
        let (least, most) = CUSTOM_ROLES_PER_ORGANIZATION;
        let mut counts = HashSet::new();
        for organization in 0..w.organizations.len() {
            let roles: Vec<&Role> = w.roles_of(organization).collect();
            let custom = &roles[Role::BUILTIN.len()..];
            assert!((least..=most).contains(&custom.len()));
            counts.insert(custom.len());
            let keys: HashSet<&RoleKey> = roles.iter().map(|r| r.key()).collect();
            let sets: HashSet<CapabilitySet> = roles.iter().map(|r| r.capabilities()).collect();
            assert_eq!(
                keys.len(),
                roles.len(),
                "keys are unique in an organization"
            );
            assert_eq!(sets.len(), roles.len(), "no two roles hold the same set");
            for role in custom {
                assert!(!role.is_builtin());
                assert!(role.capabilities().contains(Capability::ViewResources));
                assert!(role.capabilities().is_subset(CapabilitySet::GRANTABLE));
            }
        }
        assert_eq!(counts.len(), 2, "both counts of custom roles occur");
        // The same key stands for different capabilities in different
        // organizations: an engine must scope roles to their organization.
        let mut sets_by_key: HashMap<&RoleKey, HashSet<CapabilitySet>> = HashMap::new();
        for (_, role) in w.all_custom_roles() {
            sets_by_key
                .entry(role.key())
                .or_default()
                .insert(role.capabilities());
        }
        assert!(sets_by_key.values().all(|sets| sets.len() > 1));
        // Every membership's role is a built-in one or one of its
        // organization's own.
        for m in &w.memberships {
            let row = &w.roles[m.role as usize];
            assert!(row.organization.is_none() || row.organization == Some(m.organization));
        }
    }

    #[test]
    fn the_roles_shares_of_the_memberships() {
        let w = Workload::generate(100_000, 1_000, 4).unwrap();
        let mut per_role = [0usize; 5];
        for m in &w.memberships {
            per_role[(m.role as usize).min(4)] += 1;
        }
        let others = (w.memberships.len() - per_role[0]) as f64;
        let share = |n: usize| n as f64 / others * 100.0;
        assert_eq!(per_role[0], w.organizations.len());
        assert!((share(per_role[1]) - ADMIN_PERCENT as f64).abs() < 1.0);
        assert!((share(per_role[2]) - EDITOR_PERCENT as f64).abs() < 1.0);
        assert!((share(per_role[3]) - VIEWER_PERCENT as f64).abs() < 1.0);
        assert!((share(per_role[4]) - CUSTOM_PERCENT as f64).abs() < 1.0);
        assert_eq!(per_role[4], w.custom_memberships());
    }

    #[test]
    fn half_allowed_every_capability_every_kind_of_role_and_correct_labels() {
        let w = Workload::generate(50_000, 10_000, 3).unwrap();
        let allowed = w
            .requests
            .iter()
            .filter(|r| r.expected == Expected::Allow)
            .count();
        assert_eq!(allowed, 5_000);
        let capabilities: HashSet<Capability> = w.requests.iter().map(|r| r.capability).collect();
        assert_eq!(capabilities.len(), Capability::ALL.len());
        w.check_expectations().unwrap();
        // Members of custom roles are both allowed and denied.
        let on_custom = |expected: Expected| {
            w.requests
                .iter()
                .filter(|r| r.expected == expected)
                .filter(|r| {
                    w.memberships_of(r.user as usize)
                        .iter()
                        .any(|m| m.organization == r.organization && !w.role_of(m).is_builtin())
                })
                .count()
        };
        assert!(on_custom(Expected::Allow) > 1_000);
        assert!(on_custom(Expected::LacksCapability) > 500);
    }

    #[test]
    fn below_stays_in_range() {
        let mut rng = SplitMix64::new(0);
        assert!((0..10_000).all(|_| rng.below(3) < 3));
    }
}
