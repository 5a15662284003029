//! What members do with an organization's resources: pins on the caller's
//! sidebar, chats with an agent or about a report run, investigations.

use crate::errors::fails;
use chrono::{DateTime, Utc};
use poem_openapi::param::{Path, Query};
use poem_openapi::payload::Json;
use poem_openapi::{Enum, Object, OpenApi};
use tenancy_core::resource::{Investigation, Pin, ResourceKind, Text};
use tenancy_core::service::ChatRequest as ChatAbout;
use tenancy_core::{ChatId, Operation, PinId, ReportRunId, ResourceId};
use uuid::Uuid;

use super::kinds::{Kinds, org};
use super::reports::RunStatusName;
use super::{Result, Tag};
use crate::auth::Session;
use crate::body::JsonBody;
use crate::paging::list;
use crate::problem::ApiError;
use crate::respond::{Accepted, Created, NoContent};
use crate::state::AppState;

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

/// A chat message.
#[derive(Debug, Clone, Object)]
pub(crate) struct MessageBody {
    id: Uuid,
    content: String,
    sent_by: Uuid,
    created_at: DateTime<Utc>,
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

/// The operations of this area.
pub(crate) struct CollaborationApi(pub(crate) AppState);

#[OpenApi(prefix_path = "/v1/organizations")]
impl CollaborationApi {
    /// List the caller's pins
    ///
    /// Lists the caller's own pins in this organization, oldest first; other members' pins are
    /// never shown.
    /// Needs `view_resources` (reading).
    #[oai(
        path = "/:org_id/pins",
        method = "get",
        tag = "Tag::Collaboration",
        operation_id = "list_pins"
    )]
    async fn pins(
        &self,
        auth: Session,
        org_id: Path<Uuid>,
        #[oai(validator(minimum(value = "1"), maximum(value = "200")))] limit: Query<Option<u32>>,
        cursor: Query<Option<String>>,
    ) -> Result<
        Json<PinList>,
        fails![
            Unauthenticated,
            NotFound,
            Forbidden,
            ValidationFailed,
            OrganizationPendingDeletion
        ],
    > {
        let caller = Kinds(&self.0).caller(&auth).await?;
        let pins = self.0.tenancy.pins(caller, org(&org_id)).await?;
        Ok(PinList::from_each(&pins, limit, cursor)?)
    }

    /// Pin an item
    ///
    /// Pins an agent, a connection or a report of this organization to the caller's sidebar;
    /// pinning an item again returns the existing pin.
    /// Needs `pin_items`.
    #[oai(
        path = "/:org_id/pins",
        method = "post",
        tag = "Tag::Collaboration",
        operation_id = "create_pin"
    )]
    async fn pin(
        &self,
        auth: Session,
        org_id: Path<Uuid>,
        body: JsonBody<PinRequest>,
    ) -> Result<
        Created<PinBody>,
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
        let org = org(&org_id);
        let caller = Kinds(&self.0)
            .authorized(&auth, org, Operation::Pin)
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

    /// Unpin an item
    ///
    /// Removes one of the caller's own pins; another member's pin is as missing as an unknown one.
    /// Needs `pin_items`.
    #[oai(
        path = "/:org_id/pins/:pin_id",
        method = "delete",
        tag = "Tag::Collaboration",
        operation_id = "delete_pin"
    )]
    async fn unpin(
        &self,
        auth: Session,
        org_id: Path<Uuid>,
        pin_id: Path<Uuid>,
    ) -> Result<
        NoContent,
        fails![
            Unauthenticated,
            NotFound,
            Forbidden,
            OrganizationPendingDeletion
        ],
    > {
        let caller = Kinds(&self.0).caller(&auth).await?;
        self.0
            .tenancy
            .unpin(caller, org(&org_id), PinId::from_uuid(pin_id.0))
            .await?;
        Ok(NoContent::NoContent)
    }

    /// List the caller's chats
    ///
    /// Lists the caller's own chats in this organization, oldest first; nobody sees another
    /// member's chats.
    /// Needs `view_resources`.
    #[oai(
        path = "/:org_id/chats",
        method = "get",
        tag = "Tag::Collaboration",
        operation_id = "list_chats"
    )]
    async fn chats(
        &self,
        auth: Session,
        org_id: Path<Uuid>,
        #[oai(validator(minimum(value = "1"), maximum(value = "200")))] limit: Query<Option<u32>>,
        cursor: Query<Option<String>>,
    ) -> Result<
        Json<ChatList>,
        fails![
            Unauthenticated,
            NotFound,
            Forbidden,
            ValidationFailed,
            OrganizationPendingDeletion
        ],
    > {
        let caller = Kinds(&self.0).caller(&auth).await?;
        let chats = self.0.tenancy.chats(caller, org(&org_id)).await?;
        Ok(ChatList::from_each(&chats, limit, cursor)?)
    }

    /// Start a chat
    ///
    /// Starts a chat with an agent or about a report run, named by exactly one of `agent_id` and
    /// `report_run_id`; the chat belongs to the caller and is missing for everyone else.
    /// Needs `chat_with_agents` for an agent, `chat_with_report_results` for a report run.
    #[oai(
        path = "/:org_id/chats",
        method = "post",
        tag = "Tag::Collaboration",
        operation_id = "create_chat"
    )]
    async fn open_chat(
        &self,
        auth: Session,
        org_id: Path<Uuid>,
        body: JsonBody<ChatRequest>,
    ) -> Result<
        Created<ChatBody>,
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
        let org = org(&org_id);
        // Which operation this is (a chat with an agent or about a report
        // run) depends on the body, which the use case judges; before it is
        // read, only access to the organization is checked.
        let caller = Kinds(&self.0)
            .authorized(&auth, org, Operation::ViewOrganization)
            .await?;
        let body = body.value()?;
        let about = match (body.agent_id, body.report_run_id) {
            (Some(agent), None) => ChatAbout::Agent(ResourceId::from_uuid(agent)),
            (None, Some(run)) => ChatAbout::ReportRun(ReportRunId::from_uuid(run)),
            _ => {
                return Err(ApiError::invalid(
                    "agent_id",
                    "give exactly one of `agent_id` and `report_run_id`",
                )
                .into());
            }
        };
        let chat = self.0.tenancy.open_chat(caller, org, about).await?;
        Ok(Created::Created(Json((&chat).into())))
    }

    /// List a chat's messages
    ///
    /// Lists the messages of one of the caller's own chats, oldest first; another member's chat is
    /// missing.
    /// Needs `view_resources` (reading); sending a message needs the capability of the chat's
    /// subject.
    #[oai(
        path = "/:org_id/chats/:chat_id/messages",
        method = "get",
        tag = "Tag::Collaboration",
        operation_id = "list_chat_messages"
    )]
    async fn messages(
        &self,
        auth: Session,
        org_id: Path<Uuid>,
        chat_id: Path<Uuid>,
        #[oai(validator(minimum(value = "1"), maximum(value = "200")))] limit: Query<Option<u32>>,
        cursor: Query<Option<String>>,
    ) -> Result<
        Json<MessageList>,
        fails![
            Unauthenticated,
            NotFound,
            Forbidden,
            ValidationFailed,
            OrganizationPendingDeletion
        ],
    > {
        let caller = Kinds(&self.0).caller(&auth).await?;
        let messages = self
            .0
            .tenancy
            .chat_messages(caller, org(&org_id), ChatId::from_uuid(chat_id.0))
            .await?;
        Ok(MessageList::from_each(&messages, limit, cursor)?)
    }

    /// Send a chat message
    ///
    /// Adds a message of 1 to 10,000 characters to one of the caller's own chats.
    /// Counts toward the plan's `chat_messages_per_month` limit, per calendar month in UTC (D10).
    /// Needs the capability of the chat's subject and a current membership: a removed member's chat
    /// stops at their next message (R19).
    #[oai(
        path = "/:org_id/chats/:chat_id/messages",
        method = "post",
        tag = "Tag::Collaboration",
        operation_id = "send_chat_message"
    )]
    async fn send_message(
        &self,
        auth: Session,
        org_id: Path<Uuid>,
        chat_id: Path<Uuid>,
        body: JsonBody<MessageRequest>,
    ) -> Result<
        Created<MessageBody>,
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
        let org = org(&org_id);
        // The chat's subject names the operation, which the use case checks
        // once it has read the chat; before the body, only access to the
        // organization is checked.
        let caller = Kinds(&self.0)
            .authorized(&auth, org, Operation::ViewOrganization)
            .await?;
        let content =
            Text::parse(&body.value()?.content).map_err(|e| ApiError::invalid("content", e))?;
        let message = self
            .0
            .tenancy
            .send_chat_message(caller, org, ChatId::from_uuid(chat_id.0), content)
            .await?;
        Ok(Created::Created(Json((&message).into())))
    }

    /// List the caller's investigations
    ///
    /// Lists the caller's own investigations in this organization, oldest first.
    /// Needs `view_resources` (reading).
    #[oai(
        path = "/:org_id/investigations",
        method = "get",
        tag = "Tag::Collaboration",
        operation_id = "list_investigations"
    )]
    async fn investigations(
        &self,
        auth: Session,
        org_id: Path<Uuid>,
        #[oai(validator(minimum(value = "1"), maximum(value = "200")))] limit: Query<Option<u32>>,
        cursor: Query<Option<String>>,
    ) -> Result<
        Json<InvestigationList>,
        fails![
            Unauthenticated,
            NotFound,
            Forbidden,
            ValidationFailed,
            OrganizationPendingDeletion
        ],
    > {
        let caller = Kinds(&self.0).caller(&auth).await?;
        let found = self.0.tenancy.investigations(caller, org(&org_id)).await?;
        Ok(InvestigationList::from_each(&found, limit, cursor)?)
    }

    /// Start an investigation
    ///
    /// Queues a question of 1 to 10,000 characters for an agent of this organization and returns
    /// the investigation with status `queued`.
    /// The host runs it with the agent's connections, on the caller's behalf.
    /// Needs `run_investigations`.
    #[oai(
        path = "/:org_id/investigations",
        method = "post",
        tag = "Tag::Collaboration",
        operation_id = "create_investigation"
    )]
    async fn investigate(
        &self,
        auth: Session,
        org_id: Path<Uuid>,
        body: JsonBody<InvestigationRequest>,
    ) -> Result<
        Accepted<InvestigationBody>,
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
        let org = org(&org_id);
        let caller = Kinds(&self.0)
            .authorized(&auth, org, Operation::RunInvestigation)
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
