//! Agents of an organization, on the generic path of resources.

use crate::errors::fails;
use chrono::{DateTime, Utc};
use poem_openapi::param::{Path, Query};
use poem_openapi::payload::Json;
use poem_openapi::{Object, OpenApi};
use tenancy_core::ResourceId;
use tenancy_core::resource::{
    Description, Details, NewResource, Resource, ResourceKind, ResourceName, ResourcePatch,
};
use uuid::Uuid;

use super::kinds::{FromResource, Kinds, ids, optional, org};
use super::{Result, Tag};
use crate::auth::Session;
use crate::body::JsonBody;
use crate::paging::list;
use crate::respond::{Created, NoContent};
use crate::state::AppState;

/// An agent.
#[derive(Debug, Clone, Object)]
pub(crate) struct AgentBody {
    id: Uuid,
    name: String,
    description: String,
    /// Connections of the organization that the agent uses.
    connection_ids: Vec<Uuid>,
    created_by: Uuid,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
}

impl FromResource for AgentBody {
    const KIND: ResourceKind = ResourceKind::Agent;
    fn convert(r: &Resource, _: DateTime<Utc>) -> Option<Self> {
        let Details::Agent(agent) = &r.details else {
            return None;
        };
        Some(Self {
            id: r.id.as_uuid(),
            name: r.name.as_str().to_owned(),
            description: agent.description.as_str().to_owned(),
            connection_ids: agent
                .connection_ids
                .iter()
                .map(ResourceId::as_uuid)
                .collect(),
            created_by: r.created_by.as_uuid(),
            created_at: r.created_at,
            updated_at: r.updated_at,
        })
    }
}

list!(
    /// A page of agents.
    AgentList,
    AgentBody
);

/// A new agent.
#[derive(Debug, Object)]
pub(crate) struct AgentRequest {
    /// Trimmed, 1 to 200 characters.
    name: String,
    /// Up to 4,000 characters.
    #[oai(nullable)]
    description: Option<String>,
    /// Connections of this organization.
    #[oai(nullable)]
    connection_ids: Option<Vec<Uuid>>,
}

/// Changes to an agent; absent fields stay as they are.
#[derive(Debug, Object)]
pub(crate) struct AgentPatch {
    #[oai(nullable)]
    name: Option<String>,
    #[oai(nullable)]
    description: Option<String>,
    #[oai(nullable)]
    connection_ids: Option<Vec<Uuid>>,
}

/// The operations of this area.
pub(crate) struct AgentsApi(pub(crate) AppState);

#[OpenApi(prefix_path = "/v1/organizations")]
impl AgentsApi {
    /// List agents
    ///
    /// Lists the organization's agents, oldest first.
    /// Needs `view_resources`.
    #[oai(
        path = "/:org_id/agents",
        method = "get",
        tag = "Tag::Resources",
        operation_id = "list_agents"
    )]
    async fn agents(
        &self,
        auth: Session,
        org_id: Path<Uuid>,
        #[oai(validator(minimum(value = "1"), maximum(value = "200")))] limit: Query<Option<u32>>,
        cursor: Query<Option<String>>,
    ) -> Result<
        Json<AgentList>,
        fails![
            Unauthenticated,
            NotFound,
            Forbidden,
            ValidationFailed,
            OrganizationPendingDeletion
        ],
    > {
        let items = Kinds(&self.0).list(&auth, org(&org_id)).await?;
        Ok(AgentList::of(items, limit.0, cursor.0)?)
    }

    /// Create an agent
    ///
    /// Creates an agent with a name, a description and the connections of this organization that it
    /// uses; repeated connection ids count once.
    /// Needs `manage_agents`; counts toward the plan's `agents` limit (D10).
    #[oai(
        path = "/:org_id/agents",
        method = "post",
        tag = "Tag::Resources",
        operation_id = "create_agent"
    )]
    async fn create_agent(
        &self,
        auth: Session,
        org_id: Path<Uuid>,
        body: JsonBody<AgentRequest>,
    ) -> Result<
        Created<AgentBody>,
        fails![
            Unauthenticated,
            NotFound,
            BadRequest,
            PayloadTooLarge,
            ValidationFailed,
            Forbidden,
            QuotaExceeded,
            OrganizationPendingDeletion
        ],
    > {
        Ok(Kinds(&self.0)
            .create(&auth, org(&org_id), body, |f, body| {
                let name = f.check("name", ResourceName::parse(&body.name));
                let description = match body.description.as_deref() {
                    None => Some(Description::empty()),
                    Some(text) => f.check("description", Description::parse(text)),
                };
                Some(NewResource::Agent {
                    name: name?,
                    description: description?,
                    connection_ids: ids(body.connection_ids, ResourceId::from_uuid)
                        .unwrap_or_default(),
                })
            })
            .await?)
    }

    /// Get an agent
    ///
    /// Returns one agent of the organization.
    /// Needs `view_resources`.
    #[oai(
        path = "/:org_id/agents/:agent_id",
        method = "get",
        tag = "Tag::Resources",
        operation_id = "get_agent"
    )]
    async fn agent(
        &self,
        auth: Session,
        org_id: Path<Uuid>,
        agent_id: Path<Uuid>,
    ) -> Result<
        Json<AgentBody>,
        fails![
            Unauthenticated,
            NotFound,
            Forbidden,
            OrganizationPendingDeletion
        ],
    > {
        Ok(Json(
            Kinds(&self.0).one(&auth, org(&org_id), agent_id.0).await?,
        ))
    }

    /// Update an agent
    ///
    /// Changes an agent's name, description or connections; absent fields stay as they are.
    /// Needs `manage_agents`.
    #[oai(
        path = "/:org_id/agents/:agent_id",
        method = "patch",
        tag = "Tag::Resources",
        operation_id = "update_agent"
    )]
    async fn update_agent(
        &self,
        auth: Session,
        org_id: Path<Uuid>,
        agent_id: Path<Uuid>,
        body: JsonBody<AgentPatch>,
    ) -> Result<
        Json<AgentBody>,
        fails![
            Unauthenticated,
            NotFound,
            Forbidden,
            BadRequest,
            PayloadTooLarge,
            ValidationFailed,
            OrganizationPendingDeletion
        ],
    > {
        Ok(Kinds(&self.0)
            .update(&auth, org(&org_id), agent_id.0, body, |f, body| {
                let name = optional(f, "name", body.name, ResourceName::parse);
                let description = optional(f, "description", body.description, Description::parse);
                Some(ResourcePatch::Agent {
                    name: name?,
                    description: description?,
                    connection_ids: ids(body.connection_ids, ResourceId::from_uuid),
                })
            })
            .await?)
    }

    /// Delete an agent
    ///
    /// Deletes an agent and takes it off every member's sidebar; chats and investigations with it
    /// keep their history.
    /// Needs `manage_agents`.
    #[oai(
        path = "/:org_id/agents/:agent_id",
        method = "delete",
        tag = "Tag::Resources",
        operation_id = "delete_agent"
    )]
    async fn delete_agent(
        &self,
        auth: Session,
        org_id: Path<Uuid>,
        agent_id: Path<Uuid>,
    ) -> Result<
        NoContent,
        fails![
            Unauthenticated,
            NotFound,
            Forbidden,
            OrganizationPendingDeletion
        ],
    > {
        Ok(Kinds(&self.0)
            .delete(&auth, org(&org_id), ResourceKind::Agent, agent_id.0)
            .await?)
    }
}
