//! tenancy-core as a host embeds it: the host keeps its memberships in an
//! index, each with the definition of its role (built-in or custom) as the
//! store reads it, and hands the one it finds to `authorize`.

use std::collections::HashMap;

use tenancy_core::{Denial, Grant, Membership, OrganizationId, UserId, authorize};
use uuid::Uuid;

use super::Engine;
use crate::Result;
use crate::workload::{Expected, Request, Workload};

#[derive(Debug)]
pub(crate) struct Tenancy<'w> {
    users: &'w [Uuid],
    organizations: &'w [Uuid],
    memberships: HashMap<(OrganizationId, UserId), Membership>,
}

impl<'w> Tenancy<'w> {
    pub(crate) fn build(workload: &'w Workload) -> Result<Self> {
        // Every membership joined at the same instant: the check never reads it.
        let joined_at = chrono::DateTime::from_timestamp(1_767_225_600, 0)
            .ok_or("the fixed joining date is out of range")?;
        let memberships = workload
            .memberships
            .iter()
            .map(|m| {
                let user_id = UserId::from_uuid(workload.users[m.user as usize]);
                let organization_id =
                    OrganizationId::from_uuid(workload.organizations[m.organization as usize]);
                let membership = Membership {
                    organization_id,
                    user_id,
                    role: workload.role_of(m).clone(),
                    joined_at,
                };
                ((organization_id, user_id), membership)
            })
            .collect();
        Ok(Self {
            users: &workload.users,
            organizations: &workload.organizations,
            memberships,
        })
    }

    /// Checks that every denial carries the reason the workload built it
    /// with: "not a member" and "lacks the capability" must stay apart.
    pub(crate) fn check_denial_reasons(&self, requests: &[Request]) -> Result<()> {
        for request in requests {
            let reason = match self.check(request) {
                Ok(_) => Expected::Allow,
                Err(Denial::NotAMember) => Expected::NotAMember,
                Err(Denial::LacksCapability { .. }) => Expected::LacksCapability,
            };
            if reason != request.expected {
                return Err(format!(
                    "tenancy-core answered {reason:?} where the workload expects {:?}: {request:?}",
                    request.expected
                )
                .into());
            }
        }
        Ok(())
    }
}

impl Engine for Tenancy<'_> {
    type Output = std::result::Result<Grant, Denial>;

    #[inline]
    fn check(&self, request: &Request) -> Self::Output {
        let user = UserId::from_uuid(self.users[request.user as usize]);
        let organization =
            OrganizationId::from_uuid(self.organizations[request.organization as usize]);
        let membership = self.memberships.get(&(organization, user));
        authorize(user, organization, membership, request.capability)
    }

    fn decide(&self, request: &Request) -> Result<bool> {
        Ok(self.check(request).is_ok())
    }
}
