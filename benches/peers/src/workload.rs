//! The fixed-seed workload every engine is measured on: users, organizations,
//! memberships and a list of requests whose decisions are known by
//! construction.
//!
//! The workload is plain data (indices, UUIDs and their strings); each engine
//! turns it into its own encoding during its setup.

use tenancy_core::{Capability, Role};
use uuid::Uuid;

use crate::Result;

/// How many organizations each user belongs to.
pub(crate) const MEMBERSHIPS_PER_USER: usize = 5;
/// How many users there are per organization.
pub(crate) const USERS_PER_ORGANIZATION: usize = 10;

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

/// A member of an organization, by index into the workload's tables.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct MembershipRow {
    pub(crate) user: u32,
    pub(crate) organization: u32,
    pub(crate) role: Role,
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
        let mut rng = SplitMix64::new(seed);

        let users: Vec<Uuid> = (0..user_count).map(|_| rng.uuid()).collect();
        let organizations: Vec<Uuid> = (0..organization_count).map(|_| rng.uuid()).collect();

        // Each organization's one owner first, among the users who still have
        // room; then every user is filled up to five organizations as viewer.
        let mut per_user: Vec<Vec<(u32, Role)>> =
            vec![Vec::with_capacity(MEMBERSHIPS_PER_USER); user_count];
        for organization in 0..organization_count {
            let owner = loop {
                let user = rng.below(user_count);
                if per_user[user].len() < MEMBERSHIPS_PER_USER {
                    break user;
                }
            };
            per_user[owner].push((index(organization), Role::Owner));
        }
        for held in &mut per_user {
            while held.len() < MEMBERSHIPS_PER_USER {
                let organization = index(rng.below(organization_count));
                if held.iter().all(|(o, _)| *o != organization) {
                    held.push((organization, Role::Viewer));
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

        let requests = draw_requests(&mut rng, &memberships, organization_count, requests)?;

        Ok(Self {
            user_names: users.iter().map(Uuid::to_string).collect(),
            users,
            organization_names: organizations.iter().map(Uuid::to_string).collect(),
            organizations,
            memberships,
            requests,
        })
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
                .map(|m| m.role);
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

/// Half the requests are allowed, a quarter come from non-members and a
/// quarter ask for a capability the member's role lacks. Every role and
/// capability comes from tenancy-core's matrix, so the workload follows it.
fn draw_requests(
    rng: &mut SplitMix64,
    memberships: &[MembershipRow],
    organization_count: usize,
    count: usize,
) -> Result<Vec<Request>> {
    let held: Vec<Vec<Capability>> = Role::ALL
        .iter()
        .map(|role| role.capabilities().iter().collect())
        .collect();
    let lacked: Vec<Vec<Capability>> = Role::ALL
        .iter()
        .map(|role| {
            Capability::ALL
                .into_iter()
                .filter(|c| !role.capabilities().contains(*c))
                .collect()
        })
        .collect();
    if lacked.iter().all(Vec::is_empty) {
        return Err("no role lacks a capability: the matrix has no denial to draw".into());
    }
    let role_index = |role: Role| Role::ALL.iter().position(|r| *r == role).unwrap_or(0);
    let user_count = memberships.len() / MEMBERSHIPS_PER_USER;

    let allowed = count / 2;
    let not_a_member = count / 4;
    let lacking = count / 4;
    let mut requests = Vec::with_capacity(allowed + not_a_member + lacking);
    for _ in 0..allowed {
        let m = memberships[rng.below(memberships.len())];
        let capabilities = &held[role_index(m.role)];
        requests.push(Request {
            user: m.user,
            organization: m.organization,
            capability: capabilities[rng.below(capabilities.len())],
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
        let (m, capabilities) = loop {
            let m = memberships[rng.below(memberships.len())];
            let capabilities = &lacked[role_index(m.role)];
            if !capabilities.is_empty() {
                break (m, capabilities);
            }
        };
        requests.push(Request {
            user: m.user,
            organization: m.organization,
            capability: capabilities[rng.below(capabilities.len())],
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
    use std::collections::HashSet;

    use super::*;

    #[test]
    fn same_seed_same_workload_other_seed_other_workload() {
        let a = Workload::generate(5_000, 400, 7).unwrap();
        let b = Workload::generate(5_000, 400, 7).unwrap();
        let c = Workload::generate(5_000, 400, 8).unwrap();
        assert_eq!(a.users, b.users);
        assert_eq!(a.memberships, b.memberships);
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
            if m.role == Role::Owner {
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
    fn half_allowed_every_capability_and_correct_labels() {
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
    }

    #[test]
    fn below_stays_in_range() {
        let mut rng = SplitMix64::new(0);
        assert!((0..10_000).all(|_| rng.below(3) < 3));
    }
}
