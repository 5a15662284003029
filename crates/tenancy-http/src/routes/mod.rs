//! The operations of the API, one module per area of `API.md`.
//!
//! Each module owns its request and response bodies, their conversions from
//! the core's types, and its handlers (one `#[OpenApi]` impl): parse the
//! request into the core's types, call one use case, convert the outcome.
//! Handlers that take a body authorize before they validate it, so that a
//! non-member learns nothing from a 422. What several areas share lives here
//! (the tags, the role names) or in the crate's extractors and responders.

use poem_openapi::{Enum, Tags};
use tenancy_core::Role;

use crate::problem::ApiError;
use crate::state::AppState;

mod accounts;
mod agents;
mod billing;
mod collaboration;
mod connections;
mod host;
mod kinds;
mod knowledge_files;
mod members;
mod operations;
mod organizations;
mod reports;
mod sessions;
mod verification;

type Result<T, E = ApiError> = std::result::Result<T, E>;

/// Every operation of the API, area by area.
pub(crate) type Apis = (
    accounts::AccountsApi,
    verification::VerificationApi,
    sessions::SessionsApi,
    organizations::OrganizationsApi,
    members::MembersApi,
    billing::BillingApi,
    agents::AgentsApi,
    connections::ConnectionsApi,
    reports::ReportsApi,
    knowledge_files::KnowledgeFilesApi,
    collaboration::CollaborationApi,
    host::HostApi,
    operations::OperationsApi,
);

/// The operations over one state.
pub(crate) fn apis(state: &AppState) -> Apis {
    (
        accounts::AccountsApi(state.clone()),
        verification::VerificationApi(state.clone()),
        sessions::SessionsApi(state.clone()),
        organizations::OrganizationsApi(state.clone()),
        members::MembersApi(state.clone()),
        billing::BillingApi(state.clone()),
        agents::AgentsApi(state.clone()),
        connections::ConnectionsApi(state.clone()),
        reports::ReportsApi(state.clone()),
        knowledge_files::KnowledgeFilesApi(state.clone()),
        collaboration::CollaborationApi(state.clone()),
        host::HostApi(state.clone()),
        operations::OperationsApi(state.clone()),
    )
}

#[derive(Tags)]
pub(crate) enum Tag {
    /// Accounts and sessions.
    Accounts,
    /// Organizations and the switcher.
    Organizations,
    /// Members and invitations.
    Members,
    /// Plans, billing and the permission matrix.
    Plans,
    /// Agents, connections, reports and knowledge files of an organization.
    Resources,
    /// Pins, chats and investigations: what members do with resources.
    Collaboration,
    /// Authorization for hosts outside the process.
    Host,
    /// Health of the service.
    Operations,
}

/// A role.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
#[oai(rename_all = "snake_case")]
pub(crate) enum RoleName {
    Owner,
    Viewer,
}

impl From<Role> for RoleName {
    fn from(role: Role) -> Self {
        match role {
            Role::Owner => Self::Owner,
            Role::Viewer => Self::Viewer,
        }
    }
}

/// The names of a role's capabilities, in the matrix's order.
pub(crate) fn capability_names(role: Role) -> Vec<String> {
    role.capabilities()
        .iter()
        .map(|c| c.name().to_owned())
        .collect()
}
