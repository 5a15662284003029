//! The operations of the API, one module per area of `API.md`.
//!
//! Each module owns its request and response bodies, their conversions from
//! the core's types, and its handlers (one `#[OpenApi]` impl): parse the
//! request into the core's types, call one use case, convert the outcome.
//! Handlers that take a body authorize before they validate it, so that a
//! non-member learns nothing from a 422. What several areas share lives here
//! (the tags, the roles' keys and capabilities) or in the crate's extractors and responders.

use poem_openapi::Tags;
use tenancy_core::Role;

use crate::problem::ApiError;
use crate::state::AppState;

mod accounts;
mod agents;
mod audit;
mod billing;
mod collaboration;
mod connections;
mod deletion;
mod host;
mod kinds;
mod knowledge_files;
mod members;
mod operations;
mod organizations;
mod ownership;
mod reports;
mod roles;
mod sessions;
mod verification;
mod webhooks;

pub(crate) use members::STATUS_FILTERS as INVITATION_STATUS_FILTERS;

type Result<T, E = ApiError> = std::result::Result<T, E>;

/// Every operation of the API, area by area.
pub(crate) type Apis = (
    accounts::AccountsApi,
    verification::VerificationApi,
    sessions::SessionsApi,
    organizations::OrganizationsApi,
    members::MembersApi,
    // Version 1.1's areas, nested: poem-openapi takes tuples of up to 16.
    (
        ownership::OwnershipApi,
        deletion::DeletionApi,
        roles::RolesApi,
        audit::AuditApi,
        webhooks::WebhooksApi,
    ),
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
        (
            ownership::OwnershipApi(state.clone()),
            deletion::DeletionApi(state.clone()),
            roles::RolesApi(state.clone()),
            audit::AuditApi(state.clone()),
            webhooks::WebhooksApi(state.clone()),
        ),
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
    /// Ownership transfer: the owner hands the organization to one of its members.
    Ownership,
    /// Deleting an organization, with a grace period in which its owner may restore it.
    Deletion,
    /// Roles and capabilities: the permission matrix and an organization's custom roles.
    Roles,
    /// The audit log: every change to an organization, hash-chained.
    Audit,
    /// Webhooks: the audit log's events delivered to an organization's endpoints.
    Webhooks,
    /// Plans and billing.
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

/// The key of a role as the API names it (`owner`, `viewer`, a custom
/// role's key): a string, since an organization defines its own.
pub(crate) fn role_key(role: &Role) -> String {
    role.key().as_str().to_owned()
}

/// The names of a role's capabilities, in the matrix's order.
pub(crate) fn capability_names(role: &Role) -> Vec<String> {
    role.capabilities()
        .iter()
        .map(|c| c.name().to_owned())
        .collect()
}
