//! The operations under `/v1/organizations/{org_id}` on what an organization
//! holds: agents, connections, reports with runs and schedules, knowledge
//! files, and what members do with them: pins, chats, investigations.
//!
//! The kinds share one path through [`Kinds`]: authorize with the kind's
//! capability before the body is read or validated, call the generic use
//! case, convert. Only the bodies differ per kind.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use poem_openapi::param::{Path, Query};
use poem_openapi::payload::{Binary, Json, Response};
use poem_openapi::{ApiResponse, Enum, Object, OpenApi};
use tenancy_core::resource::{
    ConnectionType, ContentType, Credentials, Definition, Description, Details, Investigation,
    NewResource, Pin, ReportRun, Resource, ResourceKind, ResourceName, ResourcePatch, Schedule,
    Text, ValueError,
};
use tenancy_core::service::ChatRequest as ChatAbout;
use tenancy_core::{Capability, ChatId, OrganizationId, PinId, ReportRunId, ResourceId, UserId};
use uuid::Uuid;
use zeroize::Zeroizing;

use crate::api::{Created, Fields, NoContent, Session, Tag};
use crate::body::JsonBody;
use crate::problem::ApiError;
use crate::state::AppState;
use crate::types::list;
use crate::upload::{FileUpload, body_of, last_segment};

type Result<T> = std::result::Result<T, ApiError>;

// ---- bodies -------------------------------------------------------------

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

/// A connection as every role sees it: never its credentials (D9).
#[derive(Debug, Clone, Object)]
pub(crate) struct ConnectionBody {
    id: Uuid,
    label: String,
    #[oai(rename = "type")]
    connection_type: String,
    has_credentials: bool,
    #[oai(nullable)]
    credentials_updated_at: Option<DateTime<Utc>>,
    created_by: Uuid,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
}

/// When a report runs by itself.
#[derive(Debug, Clone, Object)]
pub(crate) struct ScheduleBody {
    report_id: Uuid,
    cron: String,
    /// IANA time zone name.
    timezone: String,
    /// The next time it runs.
    #[oai(nullable)]
    next_run_at: Option<DateTime<Utc>>,
}

/// A report.
#[derive(Debug, Clone, Object)]
pub(crate) struct ReportBody {
    id: Uuid,
    name: String,
    /// Opaque to tenancy; the host's report engine reads it.
    definition: BTreeMap<String, serde_json::Value>,
    #[oai(nullable)]
    schedule: Option<ScheduleBody>,
    created_by: Uuid,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
}

/// A knowledge file; its content is at `/knowledge-files/{id}/content`.
#[derive(Debug, Clone, Object)]
pub(crate) struct KnowledgeFileBody {
    id: Uuid,
    name: String,
    content_type: String,
    size_bytes: u64,
    /// SHA-256 of the content, lower-case hex.
    sha256: String,
    created_by: Uuid,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
}

/// Where a run stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
#[oai(rename_all = "snake_case")]
pub(crate) enum RunStatusName {
    Queued,
}

/// A run of a report.
#[derive(Debug, Clone, Object)]
pub(crate) struct RunBody {
    id: Uuid,
    report_id: Uuid,
    status: RunStatusName,
    triggered_by: Uuid,
    created_at: DateTime<Utc>,
}

/// What can be pinned.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
#[oai(rename_all = "snake_case")]
pub(crate) enum ItemType {
    Agent,
    Connection,
    Report,
}

impl ItemType {
    const fn kind(self) -> ResourceKind {
        match self {
            Self::Agent => ResourceKind::Agent,
            Self::Connection => ResourceKind::Connection,
            Self::Report => ResourceKind::Report,
        }
    }

    const fn of(kind: ResourceKind) -> Self {
        match kind {
            ResourceKind::Connection => Self::Connection,
            ResourceKind::Report => Self::Report,
            ResourceKind::Agent | ResourceKind::KnowledgeFile => Self::Agent,
        }
    }
}

/// An item on the caller's sidebar.
#[derive(Debug, Clone, Object)]
pub(crate) struct PinBody {
    id: Uuid,
    item_type: ItemType,
    item_id: Uuid,
    created_at: DateTime<Utc>,
}

/// A chat of the caller's, with an agent or about a report run.
#[derive(Debug, Clone, Object)]
pub(crate) struct ChatBody {
    id: Uuid,
    #[oai(nullable)]
    agent_id: Option<Uuid>,
    #[oai(nullable)]
    report_run_id: Option<Uuid>,
    created_at: DateTime<Utc>,
}

/// A chat message.
#[derive(Debug, Clone, Object)]
pub(crate) struct MessageBody {
    id: Uuid,
    content: String,
    sent_by: Uuid,
    created_at: DateTime<Utc>,
}

/// An investigation of the caller's.
#[derive(Debug, Clone, Object)]
pub(crate) struct InvestigationBody {
    id: Uuid,
    agent_id: Uuid,
    question: String,
    status: RunStatusName,
    created_by: Uuid,
    created_at: DateTime<Utc>,
}

list!(
    /// A page of agents.
    AgentList,
    AgentBody
);
list!(
    /// A page of connections, without credentials.
    ConnectionList,
    ConnectionBody
);
list!(
    /// A page of reports.
    ReportList,
    ReportBody
);
list!(
    /// A page of knowledge files.
    KnowledgeFileList,
    KnowledgeFileBody
);
list!(
    /// A page of runs of a report.
    RunList,
    RunBody
);
list!(
    /// A page of the caller's pins.
    PinList,
    PinBody
);
list!(
    /// A page of the caller's chats.
    ChatList,
    ChatBody
);
list!(
    /// A page of messages of a chat.
    MessageList,
    MessageBody
);
list!(
    /// A page of the caller's investigations.
    InvestigationList,
    InvestigationBody
);

// ---- conversions --------------------------------------------------------

/// A resource's body, by its kind. Each conversion is handed only resources
/// of its kind (the use cases filter by kind); another kind is a bug, which
/// leaves as a 500 rather than a wrong body.
trait FromResource: poem_openapi::types::ToJSON + Send + Sync + Sized {
    const KIND: ResourceKind;
    /// `now` is the service's clock, for what is derived from time (the
    /// next run of a schedule).
    fn convert(resource: &Resource, now: DateTime<Utc>) -> Option<Self>;

    fn from_resource(resource: &Resource, now: DateTime<Utc>) -> Result<Self> {
        Self::convert(resource, now).ok_or_else(|| {
            tracing::error!(id = %resource.id, kind = %resource.kind(), expected = %Self::KIND, "resource of another kind");
            ApiError::new(500, "internal", "an internal error occurred; it has been logged")
        })
    }
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

impl FromResource for ConnectionBody {
    const KIND: ResourceKind = ResourceKind::Connection;
    fn convert(r: &Resource, _: DateTime<Utc>) -> Option<Self> {
        let Details::Connection(connection) = &r.details else {
            return None;
        };
        Some(Self {
            id: r.id.as_uuid(),
            label: r.name.as_str().to_owned(),
            connection_type: connection.connection_type.as_str().to_owned(),
            has_credentials: connection.credentials_updated_at.is_some(),
            credentials_updated_at: connection.credentials_updated_at,
            created_by: r.created_by.as_uuid(),
            created_at: r.created_at,
            updated_at: r.updated_at,
        })
    }
}

fn schedule_body(report: ResourceId, schedule: &Schedule, now: DateTime<Utc>) -> ScheduleBody {
    ScheduleBody {
        report_id: report.as_uuid(),
        cron: schedule.cron().to_owned(),
        timezone: schedule.timezone().to_owned(),
        next_run_at: schedule.next_run_after(now),
    }
}

impl FromResource for ReportBody {
    const KIND: ResourceKind = ResourceKind::Report;
    fn convert(r: &Resource, now: DateTime<Utc>) -> Option<Self> {
        let Details::Report(report) = &r.details else {
            return None;
        };
        Some(Self {
            id: r.id.as_uuid(),
            name: r.name.as_str().to_owned(),
            definition: report
                .definition
                .as_object()
                .iter()
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
            schedule: report
                .schedule
                .as_ref()
                .map(|s| schedule_body(r.id, s, now)),
            created_by: r.created_by.as_uuid(),
            created_at: r.created_at,
            updated_at: r.updated_at,
        })
    }
}

impl FromResource for KnowledgeFileBody {
    const KIND: ResourceKind = ResourceKind::KnowledgeFile;
    fn convert(r: &Resource, _: DateTime<Utc>) -> Option<Self> {
        let Details::KnowledgeFile(file) = &r.details else {
            return None;
        };
        Some(Self {
            id: r.id.as_uuid(),
            name: r.name.as_str().to_owned(),
            content_type: file.content_type.as_str().to_owned(),
            size_bytes: file.size_bytes,
            sha256: file.sha256.clone(),
            created_by: r.created_by.as_uuid(),
            created_at: r.created_at,
            updated_at: r.updated_at,
        })
    }
}

impl From<&ReportRun> for RunBody {
    fn from(run: &ReportRun) -> Self {
        Self {
            id: run.id.as_uuid(),
            report_id: run.report_id.as_uuid(),
            status: RunStatusName::Queued,
            triggered_by: run.triggered_by.as_uuid(),
            created_at: run.created_at,
        }
    }
}

impl From<&Pin> for PinBody {
    fn from(pin: &Pin) -> Self {
        Self {
            id: pin.id.as_uuid(),
            item_type: ItemType::of(pin.item_kind),
            item_id: pin.item_id.as_uuid(),
            created_at: pin.created_at,
        }
    }
}

impl From<&tenancy_core::entity::Chat> for ChatBody {
    fn from(chat: &tenancy_core::entity::Chat) -> Self {
        Self {
            id: chat.id.as_uuid(),
            agent_id: chat.subject.agent_id().map(|id| id.as_uuid()),
            report_run_id: chat.subject.report_run_id().map(|id| id.as_uuid()),
            created_at: chat.created_at,
        }
    }
}

impl From<&tenancy_core::entity::ChatMessage> for MessageBody {
    fn from(message: &tenancy_core::entity::ChatMessage) -> Self {
        Self {
            id: message.id.as_uuid(),
            content: message.content.as_str().to_owned(),
            sent_by: message.sent_by.as_uuid(),
            created_at: message.created_at,
        }
    }
}

impl From<&Investigation> for InvestigationBody {
    fn from(i: &Investigation) -> Self {
        Self {
            id: i.id.as_uuid(),
            agent_id: i.agent_id.as_uuid(),
            question: i.question.as_str().to_owned(),
            status: RunStatusName::Queued,
            created_by: i.created_by.as_uuid(),
            created_at: i.created_at,
        }
    }
}

// ---- requests -----------------------------------------------------------

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

/// A new connection. The credentials are stored encrypted and never
/// returned, to anyone (D9).
#[derive(Object)]
pub(crate) struct ConnectionRequest {
    /// Trimmed, 1 to 200 characters.
    label: String,
    /// What it connects to: 1 to 64 letters, digits, `_`, `-` or `.`.
    #[oai(rename = "type")]
    connection_type: String,
    /// Secret names to values: 1 to 32 entries, values up to 8 KiB.
    credentials: BTreeMap<String, String>,
}

/// New credentials for a connection, replacing the old ones.
#[derive(Object)]
pub(crate) struct CredentialsRequest {
    credentials: BTreeMap<String, String>,
}

// Bodies that carry secrets never print them.
impl std::fmt::Debug for ConnectionRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ConnectionRequest")
            .field("label", &self.label)
            .field("type", &self.connection_type)
            .finish_non_exhaustive()
    }
}

impl std::fmt::Debug for CredentialsRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("CredentialsRequest(..)")
    }
}

/// Changes to a connection.
#[derive(Debug, Object)]
pub(crate) struct ConnectionPatch {
    #[oai(nullable)]
    label: Option<String>,
}

/// A new report.
#[derive(Debug, Object)]
pub(crate) struct ReportRequest {
    name: String,
    /// A JSON object of at most 64 KiB.
    definition: BTreeMap<String, serde_json::Value>,
}

/// Changes to a report.
#[derive(Debug, Object)]
pub(crate) struct ReportPatch {
    #[oai(nullable)]
    name: Option<String>,
    #[oai(nullable)]
    definition: Option<BTreeMap<String, serde_json::Value>>,
}

/// A schedule.
#[derive(Debug, Object)]
pub(crate) struct ScheduleRequest {
    /// Five fields (`0 9 * * 1-5`), or six with seconds first.
    cron: String,
    /// IANA time zone name; UTC when absent.
    #[oai(nullable)]
    timezone: Option<String>,
}

/// An item to pin.
#[derive(Debug, Object)]
pub(crate) struct PinRequest {
    item_type: ItemType,
    item_id: Uuid,
}

/// What a new chat is about: exactly one of the two.
#[derive(Debug, Object)]
pub(crate) struct ChatRequest {
    #[oai(nullable)]
    agent_id: Option<Uuid>,
    #[oai(nullable)]
    report_run_id: Option<Uuid>,
}

/// A chat message.
#[derive(Debug, Object)]
pub(crate) struct MessageRequest {
    /// 1 to 10,000 characters.
    content: String,
}

/// A question for an agent.
#[derive(Debug, Object)]
pub(crate) struct InvestigationRequest {
    agent_id: Uuid,
    /// 1 to 10,000 characters.
    question: String,
}

// ---- parsing ------------------------------------------------------------

fn credentials(fields: &mut Fields, raw: BTreeMap<String, String>) -> Option<Credentials> {
    let entries = raw.into_iter().map(|(k, v)| (k, Zeroizing::new(v)));
    fields.check("credentials", Credentials::parse(entries))
}

fn definition(fields: &mut Fields, raw: BTreeMap<String, serde_json::Value>) -> Option<Definition> {
    fields.check("definition", Definition::parse(raw.into_iter().collect()))
}

fn ids<T>(raw: Option<Vec<Uuid>>, wrap: fn(Uuid) -> T) -> Option<Vec<T>> {
    raw.map(|ids| ids.into_iter().map(wrap).collect())
}

fn optional<T>(
    fields: &mut Fields,
    name: &str,
    raw: Option<String>,
    parse: fn(&str) -> std::result::Result<T, ValueError>,
) -> Option<Option<T>> {
    match raw {
        None => Some(None),
        Some(raw) => fields.check(name, parse(&raw)).map(Some),
    }
}

/// Returns the parsed value once every field is known good.
fn all_good<T>(fields: Fields, value: Option<T>) -> Result<T> {
    fields.finish()?;
    value.ok_or_else(|| ApiError::invalid("body", "invalid request"))
}

// ---- the generic path ---------------------------------------------------

/// What every kind shares: who calls, where, with which capability.
struct Kinds<'a>(&'a AppState);

impl Kinds<'_> {
    async fn caller(&self, auth: &Session) -> Result<UserId> {
        self.0.caller(&auth.0.token).await
    }

    /// The caller, once they hold `capability` in `org` (404 for
    /// non-members, 403 for the rest), before any body is looked at.
    async fn authorized(
        &self,
        auth: &Session,
        org: OrganizationId,
        capability: Capability,
    ) -> Result<UserId> {
        self.0.authorized(&auth.0.token, org, capability).await
    }

    async fn list<B: FromResource>(&self, auth: &Session, org: OrganizationId) -> Result<Vec<B>> {
        let caller = self.caller(auth).await?;
        let found = self.0.tenancy.resources(caller, org, B::KIND).await?;
        found
            .iter()
            .map(|r| B::from_resource(r, self.0.tenancy.now()))
            .collect()
    }

    async fn one<B: FromResource>(
        &self,
        auth: &Session,
        org: OrganizationId,
        id: Uuid,
    ) -> Result<B> {
        let caller = self.caller(auth).await?;
        let found = self
            .0
            .tenancy
            .resource(caller, org, B::KIND, ResourceId::from_uuid(id))
            .await?;
        B::from_resource(&found, self.0.tenancy.now())
    }

    /// Authorizes, then parses the body with `parse`, then creates.
    async fn create<B: FromResource, T>(
        &self,
        auth: &Session,
        org: OrganizationId,
        body: JsonBody<T>,
        parse: impl FnOnce(&mut Fields, T) -> Option<NewResource>,
    ) -> Result<Created<B>> {
        let caller = self
            .authorized(auth, org, B::KIND.manage_capability())
            .await?;
        let body = body.value()?;
        let mut fields = Fields::default();
        let input = parse(&mut fields, body);
        let input = all_good(fields, input)?;
        let created = self.0.tenancy.create_resource(caller, org, input).await?;
        Ok(Created::Created(Json(B::from_resource(
            &created,
            self.0.tenancy.now(),
        )?)))
    }

    /// Authorizes, then parses the patch with `parse`, then edits.
    async fn update<B: FromResource, T>(
        &self,
        auth: &Session,
        org: OrganizationId,
        id: Uuid,
        body: JsonBody<T>,
        parse: impl FnOnce(&mut Fields, T) -> Option<ResourcePatch>,
    ) -> Result<Json<B>> {
        let caller = self
            .authorized(auth, org, B::KIND.manage_capability())
            .await?;
        let body = body.value()?;
        let mut fields = Fields::default();
        let patch = parse(&mut fields, body);
        let patch = all_good(fields, patch)?;
        let updated = self
            .0
            .tenancy
            .update_resource(caller, org, ResourceId::from_uuid(id), patch)
            .await?;
        Ok(Json(B::from_resource(&updated, self.0.tenancy.now())?))
    }

    async fn delete(
        &self,
        auth: &Session,
        org: OrganizationId,
        kind: ResourceKind,
        id: Uuid,
    ) -> Result<NoContent> {
        let caller = self.caller(auth).await?;
        self.0
            .tenancy
            .delete_resource(caller, org, kind, ResourceId::from_uuid(id))
            .await?;
        Ok(NoContent::NoContent)
    }
}

fn org(id: &Path<Uuid>) -> OrganizationId {
    OrganizationId::from_uuid(id.0)
}

/// A knowledge file's bytes, with the headers that keep a browser from
/// running them.
#[derive(ApiResponse)]
enum Content {
    /// The bytes, with the media type declared at upload.
    #[oai(status = 200, content_type = "*/*")]
    Ok(Binary<poem::Body>),
}

// ---- the operations -----------------------------------------------------

/// The operations on an organization's resources.
pub(crate) struct ResourcesApi(pub AppState);

#[OpenApi(prefix_path = "/v1/organizations")]
impl ResourcesApi {
    /// The organization's agents (`view_resources`).
    #[oai(
        path = "/:org_id/agents",
        method = "get",
        tag = "Tag::Resources",
        operation_id = "listAgents"
    )]
    async fn agents(
        &self,
        auth: Session,
        org_id: Path<Uuid>,
        #[oai(validator(minimum(value = "1"), maximum(value = "200")))] limit: Query<Option<u32>>,
        cursor: Query<Option<String>>,
    ) -> Result<Json<AgentList>> {
        let items = Kinds(&self.0).list(&auth, org(&org_id)).await?;
        AgentList::of(items, limit.0, cursor.0)
    }

    /// Create an agent (`manage_agents`; counts toward `agents`).
    #[oai(
        path = "/:org_id/agents",
        method = "post",
        tag = "Tag::Resources",
        operation_id = "createAgent"
    )]
    async fn create_agent(
        &self,
        auth: Session,
        org_id: Path<Uuid>,
        body: JsonBody<AgentRequest>,
    ) -> Result<Created<AgentBody>> {
        Kinds(&self.0)
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
            .await
    }

    /// One agent (`view_resources`).
    #[oai(
        path = "/:org_id/agents/:id",
        method = "get",
        tag = "Tag::Resources",
        operation_id = "getAgent"
    )]
    async fn agent(
        &self,
        auth: Session,
        org_id: Path<Uuid>,
        id: Path<Uuid>,
    ) -> Result<Json<AgentBody>> {
        Ok(Json(Kinds(&self.0).one(&auth, org(&org_id), id.0).await?))
    }

    /// Edit an agent (`manage_agents`).
    #[oai(
        path = "/:org_id/agents/:id",
        method = "patch",
        tag = "Tag::Resources",
        operation_id = "updateAgent"
    )]
    async fn update_agent(
        &self,
        auth: Session,
        org_id: Path<Uuid>,
        id: Path<Uuid>,
        body: JsonBody<AgentPatch>,
    ) -> Result<Json<AgentBody>> {
        Kinds(&self.0)
            .update(&auth, org(&org_id), id.0, body, |f, body| {
                let name = optional(f, "name", body.name, ResourceName::parse);
                let description = optional(f, "description", body.description, Description::parse);
                Some(ResourcePatch::Agent {
                    name: name?,
                    description: description?,
                    connection_ids: ids(body.connection_ids, ResourceId::from_uuid),
                })
            })
            .await
    }

    /// Delete an agent (`manage_agents`).
    #[oai(
        path = "/:org_id/agents/:id",
        method = "delete",
        tag = "Tag::Resources",
        operation_id = "deleteAgent"
    )]
    async fn delete_agent(
        &self,
        auth: Session,
        org_id: Path<Uuid>,
        id: Path<Uuid>,
    ) -> Result<NoContent> {
        Kinds(&self.0)
            .delete(&auth, org(&org_id), ResourceKind::Agent, id.0)
            .await
    }

    /// The organization's connections, without credentials (`view_resources`).
    #[oai(
        path = "/:org_id/connections",
        method = "get",
        tag = "Tag::Resources",
        operation_id = "listConnections"
    )]
    async fn connections(
        &self,
        auth: Session,
        org_id: Path<Uuid>,
        #[oai(validator(minimum(value = "1"), maximum(value = "200")))] limit: Query<Option<u32>>,
        cursor: Query<Option<String>>,
    ) -> Result<Json<ConnectionList>> {
        let items = Kinds(&self.0).list(&auth, org(&org_id)).await?;
        ConnectionList::of(items, limit.0, cursor.0)
    }

    /// Create a connection (`manage_connections`; counts toward
    /// `connections`). The credentials are sealed and never returned.
    #[oai(
        path = "/:org_id/connections",
        method = "post",
        tag = "Tag::Resources",
        operation_id = "createConnection"
    )]
    async fn create_connection(
        &self,
        auth: Session,
        org_id: Path<Uuid>,
        body: JsonBody<ConnectionRequest>,
    ) -> Result<Created<ConnectionBody>> {
        Kinds(&self.0)
            .create(&auth, org(&org_id), body, |f, body| {
                let label = f.check("label", ResourceName::parse(&body.label));
                let connection_type = f.check("type", ConnectionType::parse(&body.connection_type));
                let credentials = credentials(f, body.credentials);
                Some(NewResource::Connection {
                    label: label?,
                    connection_type: connection_type?,
                    credentials: credentials?,
                })
            })
            .await
    }

    /// One connection, without credentials (`view_resources`).
    #[oai(
        path = "/:org_id/connections/:id",
        method = "get",
        tag = "Tag::Resources",
        operation_id = "getConnection"
    )]
    async fn connection(
        &self,
        auth: Session,
        org_id: Path<Uuid>,
        id: Path<Uuid>,
    ) -> Result<Json<ConnectionBody>> {
        Ok(Json(Kinds(&self.0).one(&auth, org(&org_id), id.0).await?))
    }

    /// Relabel a connection (`manage_connections`).
    #[oai(
        path = "/:org_id/connections/:id",
        method = "patch",
        tag = "Tag::Resources",
        operation_id = "updateConnection"
    )]
    async fn update_connection(
        &self,
        auth: Session,
        org_id: Path<Uuid>,
        id: Path<Uuid>,
        body: JsonBody<ConnectionPatch>,
    ) -> Result<Json<ConnectionBody>> {
        Kinds(&self.0)
            .update(&auth, org(&org_id), id.0, body, |f, body| {
                let label = optional(f, "label", body.label, ResourceName::parse);
                Some(ResourcePatch::Connection { label: label? })
            })
            .await
    }

    /// Replace a connection's credentials (`manage_connections`); write-only.
    #[oai(
        path = "/:org_id/connections/:id/credentials",
        method = "put",
        tag = "Tag::Resources",
        operation_id = "rotateConnectionCredentials"
    )]
    async fn rotate_credentials(
        &self,
        auth: Session,
        org_id: Path<Uuid>,
        id: Path<Uuid>,
        body: JsonBody<CredentialsRequest>,
    ) -> Result<NoContent> {
        let org = org(&org_id);
        let kinds = Kinds(&self.0);
        let caller = kinds
            .authorized(&auth, org, Capability::ManageConnections)
            .await?;
        let mut fields = Fields::default();
        let parsed = credentials(&mut fields, body.value()?.credentials);
        let parsed = all_good(fields, parsed)?;
        self.0
            .tenancy
            .set_credentials(caller, org, ResourceId::from_uuid(id.0), parsed)
            .await?;
        Ok(NoContent::NoContent)
    }

    /// Delete a connection (`manage_connections`); agents stop using it and
    /// its credentials are erased.
    #[oai(
        path = "/:org_id/connections/:id",
        method = "delete",
        tag = "Tag::Resources",
        operation_id = "deleteConnection"
    )]
    async fn delete_connection(
        &self,
        auth: Session,
        org_id: Path<Uuid>,
        id: Path<Uuid>,
    ) -> Result<NoContent> {
        Kinds(&self.0)
            .delete(&auth, org(&org_id), ResourceKind::Connection, id.0)
            .await
    }

    /// The organization's reports (`view_resources`).
    #[oai(
        path = "/:org_id/reports",
        method = "get",
        tag = "Tag::Resources",
        operation_id = "listReports"
    )]
    async fn reports(
        &self,
        auth: Session,
        org_id: Path<Uuid>,
        #[oai(validator(minimum(value = "1"), maximum(value = "200")))] limit: Query<Option<u32>>,
        cursor: Query<Option<String>>,
    ) -> Result<Json<ReportList>> {
        let items = Kinds(&self.0).list(&auth, org(&org_id)).await?;
        ReportList::of(items, limit.0, cursor.0)
    }

    /// Create a report (`manage_reports`; counts toward `reports`).
    #[oai(
        path = "/:org_id/reports",
        method = "post",
        tag = "Tag::Resources",
        operation_id = "createReport"
    )]
    async fn create_report(
        &self,
        auth: Session,
        org_id: Path<Uuid>,
        body: JsonBody<ReportRequest>,
    ) -> Result<Created<ReportBody>> {
        Kinds(&self.0)
            .create(&auth, org(&org_id), body, |f, body| {
                let name = f.check("name", ResourceName::parse(&body.name));
                let definition = definition(f, body.definition);
                Some(NewResource::Report {
                    name: name?,
                    definition: definition?,
                })
            })
            .await
    }

    /// One report (`view_resources`).
    #[oai(
        path = "/:org_id/reports/:id",
        method = "get",
        tag = "Tag::Resources",
        operation_id = "getReport"
    )]
    async fn report(
        &self,
        auth: Session,
        org_id: Path<Uuid>,
        id: Path<Uuid>,
    ) -> Result<Json<ReportBody>> {
        Ok(Json(Kinds(&self.0).one(&auth, org(&org_id), id.0).await?))
    }

    /// Edit a report (`manage_reports`).
    #[oai(
        path = "/:org_id/reports/:id",
        method = "patch",
        tag = "Tag::Resources",
        operation_id = "updateReport"
    )]
    async fn update_report(
        &self,
        auth: Session,
        org_id: Path<Uuid>,
        id: Path<Uuid>,
        body: JsonBody<ReportPatch>,
    ) -> Result<Json<ReportBody>> {
        Kinds(&self.0)
            .update(&auth, org(&org_id), id.0, body, |f, body| {
                let name = optional(f, "name", body.name, ResourceName::parse);
                let definition = match body.definition {
                    None => Some(None),
                    Some(raw) => definition(f, raw).map(Some),
                };
                Some(ResourcePatch::Report {
                    name: name?,
                    definition: definition?,
                })
            })
            .await
    }

    /// Delete a report (`manage_reports`); its runs keep their history.
    #[oai(
        path = "/:org_id/reports/:id",
        method = "delete",
        tag = "Tag::Resources",
        operation_id = "deleteReport"
    )]
    async fn delete_report(
        &self,
        auth: Session,
        org_id: Path<Uuid>,
        id: Path<Uuid>,
    ) -> Result<NoContent> {
        Kinds(&self.0)
            .delete(&auth, org(&org_id), ResourceKind::Report, id.0)
            .await
    }

    /// Trigger a run of a report (`trigger_report_runs`); it is queued for
    /// the host's report engine.
    #[oai(
        path = "/:org_id/reports/:id/runs",
        method = "post",
        tag = "Tag::Resources",
        operation_id = "triggerReportRun"
    )]
    async fn trigger_run(
        &self,
        auth: Session,
        org_id: Path<Uuid>,
        id: Path<Uuid>,
    ) -> Result<Accepted<RunBody>> {
        let caller = Kinds(&self.0).caller(&auth).await?;
        let run = self
            .0
            .tenancy
            .trigger_run(caller, org(&org_id), ResourceId::from_uuid(id.0))
            .await?;
        Ok(Accepted::Accepted(Json((&run).into())))
    }

    /// The runs of a report, oldest first (`view_resources`).
    #[oai(
        path = "/:org_id/reports/:id/runs",
        method = "get",
        tag = "Tag::Resources",
        operation_id = "listReportRuns"
    )]
    async fn runs(
        &self,
        auth: Session,
        org_id: Path<Uuid>,
        id: Path<Uuid>,
        #[oai(validator(minimum(value = "1"), maximum(value = "200")))] limit: Query<Option<u32>>,
        cursor: Query<Option<String>>,
    ) -> Result<Json<RunList>> {
        let caller = Kinds(&self.0).caller(&auth).await?;
        let runs = self
            .0
            .tenancy
            .report_runs(caller, org(&org_id), ResourceId::from_uuid(id.0))
            .await?;
        RunList::of(runs.iter().map(RunBody::from).collect(), limit.0, cursor.0)
    }

    /// Set a report's schedule (`manage_schedules`); an invalid cron
    /// expression or time zone is 422.
    #[oai(
        path = "/:org_id/reports/:id/schedule",
        method = "put",
        tag = "Tag::Resources",
        operation_id = "setReportSchedule"
    )]
    async fn set_schedule(
        &self,
        auth: Session,
        org_id: Path<Uuid>,
        id: Path<Uuid>,
        body: JsonBody<ScheduleRequest>,
    ) -> Result<Json<ScheduleBody>> {
        let org = org(&org_id);
        let caller = Kinds(&self.0)
            .authorized(&auth, org, Capability::ManageSchedules)
            .await?;
        let body = body.value()?;
        let schedule = Schedule::parse(&body.cron, body.timezone.as_deref()).map_err(|e| {
            let field = if matches!(e, ValueError::TimeZone(_)) {
                "timezone"
            } else {
                "cron"
            };
            ApiError::invalid(field, e)
        })?;
        let report = ResourceId::from_uuid(id.0);
        self.0
            .tenancy
            .set_schedule(caller, org, report, Some(schedule.clone()))
            .await?;
        Ok(Json(schedule_body(report, &schedule, self.0.tenancy.now())))
    }

    /// Remove a report's schedule (`manage_schedules`).
    #[oai(
        path = "/:org_id/reports/:id/schedule",
        method = "delete",
        tag = "Tag::Resources",
        operation_id = "clearReportSchedule"
    )]
    async fn clear_schedule(
        &self,
        auth: Session,
        org_id: Path<Uuid>,
        id: Path<Uuid>,
    ) -> Result<NoContent> {
        let caller = Kinds(&self.0).caller(&auth).await?;
        self.0
            .tenancy
            .set_schedule(caller, org(&org_id), ResourceId::from_uuid(id.0), None)
            .await?;
        Ok(NoContent::NoContent)
    }

    /// The organization's knowledge files (`view_resources`).
    #[oai(
        path = "/:org_id/knowledge-files",
        method = "get",
        tag = "Tag::Resources",
        operation_id = "listKnowledgeFiles"
    )]
    async fn knowledge_files(
        &self,
        auth: Session,
        org_id: Path<Uuid>,
        #[oai(validator(minimum(value = "1"), maximum(value = "200")))] limit: Query<Option<u32>>,
        cursor: Query<Option<String>>,
    ) -> Result<Json<KnowledgeFileList>> {
        let items = Kinds(&self.0).list(&auth, org(&org_id)).await?;
        KnowledgeFileList::of(items, limit.0, cursor.0)
    }

    /// Upload a knowledge file (`upload_knowledge_files`): multipart with
    /// one `file` part, up to the server's `--max-upload-bytes` (413 above).
    ///
    /// It counts toward `knowledge_files` and its bytes toward
    /// `storage_bytes`: beyond either, 402 and nothing is stored. Its name
    /// is the last path segment of the part's file name.
    #[oai(
        path = "/:org_id/knowledge-files",
        method = "post",
        tag = "Tag::Resources",
        operation_id = "uploadKnowledgeFile"
    )]
    async fn upload(
        &self,
        auth: Session,
        org_id: Path<Uuid>,
        upload: FileUpload,
    ) -> Result<Created<KnowledgeFileBody>> {
        let org = org(&org_id);
        let caller = Kinds(&self.0)
            .authorized(&auth, org, Capability::UploadKnowledgeFiles)
            .await?;
        let mut file = upload.open().await?;
        let mut fields = Fields::default();
        let name = fields.check(
            "file",
            last_segment(file.file_name.as_deref()).and_then(|name| {
                ResourceName::parse(name).map_err(|e| format!("the file name `{name}` {e}"))
            }),
        );
        let content_type = match file.content_type.as_deref() {
            None => Some(ContentType::octet_stream()),
            Some(raw) => fields.check("file", ContentType::parse(raw)),
        };
        fields.finish()?;
        let (Some(name), Some(content_type)) = (name, content_type) else {
            return Err(ApiError::invalid("file", "invalid upload"));
        };
        let created = self
            .0
            .tenancy
            .upload_knowledge_file(
                caller,
                org,
                name,
                content_type,
                &mut file.content,
                self.0.config.max_upload_bytes,
            )
            .await?;
        let body = KnowledgeFileBody::from_resource(&created, self.0.tenancy.now())?;
        Ok(Created::Created(Json(body)))
    }

    /// One knowledge file (`view_resources`).
    #[oai(
        path = "/:org_id/knowledge-files/:id",
        method = "get",
        tag = "Tag::Resources",
        operation_id = "getKnowledgeFile"
    )]
    async fn knowledge_file(
        &self,
        auth: Session,
        org_id: Path<Uuid>,
        id: Path<Uuid>,
    ) -> Result<Json<KnowledgeFileBody>> {
        Ok(Json(Kinds(&self.0).one(&auth, org(&org_id), id.0).await?))
    }

    /// A knowledge file's content (`view_resources`), as an attachment.
    #[oai(
        path = "/:org_id/knowledge-files/:id/content",
        method = "get",
        tag = "Tag::Resources",
        operation_id = "getKnowledgeFileContent"
    )]
    async fn knowledge_file_content(
        &self,
        auth: Session,
        org_id: Path<Uuid>,
        id: Path<Uuid>,
    ) -> Result<Response<Content>> {
        let caller = Kinds(&self.0).caller(&auth).await?;
        let (file, content) = self
            .0
            .tenancy
            .knowledge_file_content(caller, org(&org_id), ResourceId::from_uuid(id.0))
            .await?;
        let (content_type, size) = match &file.details {
            Details::KnowledgeFile(details) => {
                (details.content_type.as_str().to_owned(), details.size_bytes)
            }
            _ => (ContentType::octet_stream().as_str().to_owned(), 0),
        };
        // The name is quoted with anything that could break the header
        // replaced; the bytes never run as a page of this origin.
        let safe_name: String = file
            .name
            .as_str()
            .chars()
            .map(|c| {
                if c.is_ascii_graphic() && c != '"' && c != '\\' || c == ' ' {
                    c
                } else {
                    '_'
                }
            })
            .collect();
        // Streamed as the client reads it; the length is the one recorded
        // at upload, so a client can tell a download cut short.
        Ok(Response::new(Content::Ok(Binary(body_of(content))))
            .header("Content-Type", content_type)
            .header("Content-Length", size)
            .header(
                "Content-Disposition",
                format!("attachment; filename=\"{safe_name}\""),
            )
            .header("X-Content-Type-Options", "nosniff")
            .header("Content-Security-Policy", "sandbox; default-src 'none'"))
    }

    /// Delete a knowledge file and its content (`upload_knowledge_files`).
    #[oai(
        path = "/:org_id/knowledge-files/:id",
        method = "delete",
        tag = "Tag::Resources",
        operation_id = "deleteKnowledgeFile"
    )]
    async fn delete_knowledge_file(
        &self,
        auth: Session,
        org_id: Path<Uuid>,
        id: Path<Uuid>,
    ) -> Result<NoContent> {
        Kinds(&self.0)
            .delete(&auth, org(&org_id), ResourceKind::KnowledgeFile, id.0)
            .await
    }

    /// The caller's pins in this organization (`pin_items`).
    #[oai(
        path = "/:org_id/pins",
        method = "get",
        tag = "Tag::Collaboration",
        operation_id = "listPins"
    )]
    async fn pins(
        &self,
        auth: Session,
        org_id: Path<Uuid>,
        #[oai(validator(minimum(value = "1"), maximum(value = "200")))] limit: Query<Option<u32>>,
        cursor: Query<Option<String>>,
    ) -> Result<Json<PinList>> {
        let caller = Kinds(&self.0).caller(&auth).await?;
        let pins = self.0.tenancy.pins(caller, org(&org_id)).await?;
        PinList::of(pins.iter().map(PinBody::from).collect(), limit.0, cursor.0)
    }

    /// Pin an agent, a connection or a report to the caller's sidebar
    /// (`pin_items`); pinning it again answers the same pin.
    #[oai(
        path = "/:org_id/pins",
        method = "post",
        tag = "Tag::Collaboration",
        operation_id = "createPin"
    )]
    async fn pin(
        &self,
        auth: Session,
        org_id: Path<Uuid>,
        body: JsonBody<PinRequest>,
    ) -> Result<Created<PinBody>> {
        let org = org(&org_id);
        let caller = Kinds(&self.0)
            .authorized(&auth, org, Capability::PinItems)
            .await?;
        let body = body.value()?;
        let pin = self
            .0
            .tenancy
            .pin(
                caller,
                org,
                body.item_type.kind(),
                ResourceId::from_uuid(body.item_id),
            )
            .await?;
        Ok(Created::Created(Json((&pin).into())))
    }

    /// Unpin (`pin_items`); only the caller's own pins.
    #[oai(
        path = "/:org_id/pins/:id",
        method = "delete",
        tag = "Tag::Collaboration",
        operation_id = "deletePin"
    )]
    async fn unpin(&self, auth: Session, org_id: Path<Uuid>, id: Path<Uuid>) -> Result<NoContent> {
        let caller = Kinds(&self.0).caller(&auth).await?;
        self.0
            .tenancy
            .unpin(caller, org(&org_id), PinId::from_uuid(id.0))
            .await?;
        Ok(NoContent::NoContent)
    }

    /// The caller's own chats in this organization (`view_resources`).
    #[oai(
        path = "/:org_id/chats",
        method = "get",
        tag = "Tag::Collaboration",
        operation_id = "listChats"
    )]
    async fn chats(
        &self,
        auth: Session,
        org_id: Path<Uuid>,
        #[oai(validator(minimum(value = "1"), maximum(value = "200")))] limit: Query<Option<u32>>,
        cursor: Query<Option<String>>,
    ) -> Result<Json<ChatList>> {
        let caller = Kinds(&self.0).caller(&auth).await?;
        let chats = self.0.tenancy.chats(caller, org(&org_id)).await?;
        ChatList::of(
            chats.iter().map(ChatBody::from).collect(),
            limit.0,
            cursor.0,
        )
    }

    /// Start a chat with an agent (`chat_with_agents`) or about a report
    /// run (`chat_with_report_results`); it belongs to the caller.
    #[oai(
        path = "/:org_id/chats",
        method = "post",
        tag = "Tag::Collaboration",
        operation_id = "createChat"
    )]
    async fn open_chat(
        &self,
        auth: Session,
        org_id: Path<Uuid>,
        body: JsonBody<ChatRequest>,
    ) -> Result<Created<ChatBody>> {
        let org = org(&org_id);
        let caller = Kinds(&self.0)
            .authorized(&auth, org, Capability::ViewResources)
            .await?;
        let body = body.value()?;
        let about = match (body.agent_id, body.report_run_id) {
            (Some(agent), None) => ChatAbout::Agent(ResourceId::from_uuid(agent)),
            (None, Some(run)) => ChatAbout::ReportRun(ReportRunId::from_uuid(run)),
            _ => {
                return Err(ApiError::invalid(
                    "agent_id",
                    "give exactly one of `agent_id` and `report_run_id`",
                ));
            }
        };
        let chat = self.0.tenancy.open_chat(caller, org, about).await?;
        Ok(Created::Created(Json((&chat).into())))
    }

    /// The messages of one of the caller's chats, oldest first.
    #[oai(
        path = "/:org_id/chats/:id/messages",
        method = "get",
        tag = "Tag::Collaboration",
        operation_id = "listChatMessages"
    )]
    async fn messages(
        &self,
        auth: Session,
        org_id: Path<Uuid>,
        id: Path<Uuid>,
        #[oai(validator(minimum(value = "1"), maximum(value = "200")))] limit: Query<Option<u32>>,
        cursor: Query<Option<String>>,
    ) -> Result<Json<MessageList>> {
        let caller = Kinds(&self.0).caller(&auth).await?;
        let messages = self
            .0
            .tenancy
            .chat_messages(caller, org(&org_id), ChatId::from_uuid(id.0))
            .await?;
        MessageList::of(
            messages.iter().map(MessageBody::from).collect(),
            limit.0,
            cursor.0,
        )
    }

    /// Send a message in one of the caller's chats (counts toward
    /// `chat_messages_per_month`); a removed member's chat stops here.
    #[oai(
        path = "/:org_id/chats/:id/messages",
        method = "post",
        tag = "Tag::Collaboration",
        operation_id = "sendChatMessage"
    )]
    async fn send_message(
        &self,
        auth: Session,
        org_id: Path<Uuid>,
        id: Path<Uuid>,
        body: JsonBody<MessageRequest>,
    ) -> Result<Created<MessageBody>> {
        let org = org(&org_id);
        let caller = Kinds(&self.0)
            .authorized(&auth, org, Capability::ViewResources)
            .await?;
        let content =
            Text::parse(&body.value()?.content).map_err(|e| ApiError::invalid("content", e))?;
        let message = self
            .0
            .tenancy
            .send_chat_message(caller, org, ChatId::from_uuid(id.0), content)
            .await?;
        Ok(Created::Created(Json((&message).into())))
    }

    /// The caller's own investigations in this organization (`run_investigations`).
    #[oai(
        path = "/:org_id/investigations",
        method = "get",
        tag = "Tag::Collaboration",
        operation_id = "listInvestigations"
    )]
    async fn investigations(
        &self,
        auth: Session,
        org_id: Path<Uuid>,
        #[oai(validator(minimum(value = "1"), maximum(value = "200")))] limit: Query<Option<u32>>,
        cursor: Query<Option<String>>,
    ) -> Result<Json<InvestigationList>> {
        let caller = Kinds(&self.0).caller(&auth).await?;
        let found = self.0.tenancy.investigations(caller, org(&org_id)).await?;
        InvestigationList::of(
            found.iter().map(InvestigationBody::from).collect(),
            limit.0,
            cursor.0,
        )
    }

    /// Ask an agent to investigate (`run_investigations`); it is queued and
    /// uses the agent's connections on the caller's behalf.
    #[oai(
        path = "/:org_id/investigations",
        method = "post",
        tag = "Tag::Collaboration",
        operation_id = "createInvestigation"
    )]
    async fn investigate(
        &self,
        auth: Session,
        org_id: Path<Uuid>,
        body: JsonBody<InvestigationRequest>,
    ) -> Result<Accepted<InvestigationBody>> {
        let org = org(&org_id);
        let caller = Kinds(&self.0)
            .authorized(&auth, org, Capability::RunInvestigations)
            .await?;
        let body = body.value()?;
        let question = Text::parse(&body.question).map_err(|e| ApiError::invalid("question", e))?;
        let investigation = self
            .0
            .tenancy
            .start_investigation(caller, org, ResourceId::from_uuid(body.agent_id), question)
            .await?;
        Ok(Accepted::Accepted(Json((&investigation).into())))
    }
}

#[derive(ApiResponse)]
enum Accepted<T: poem_openapi::types::ToJSON + Send + Sync> {
    /// Accepted: queued.
    #[oai(status = 202)]
    Accepted(Json<T>),
}
