//! Decisions about an organization's resources and what members do with
//! them. One mechanism for every kind: the kind names the capability and the
//! quota ([`ResourceKind`]); the details are the only kind-specific part.
//!
//! Authorization comes first in each decision, so that a viewer learns that
//! they lack the capability (403) before anything about the thing named, and
//! a non-member learns nothing (404).

use std::collections::BTreeSet;

use chrono::{DateTime, Utc};

use super::{Change, Decision, authorize_in};
use crate::entity::{Chat, ChatMessage, ChatSubject, Organization};
use crate::error::{Error, Missing};
use crate::id::{ChatId, InvestigationId, MessageId, PinId, ReportRunId, ResourceId, UserId};
use crate::operation::Operation;
use crate::plan::{Limits, Metered, Usage, check_quota, check_quota_for};
use crate::policy::{Capability, Grant, Membership, authorize};
use crate::resource::{
    AGENT_CONNECTIONS_MAX, Agent, Connection, Credentials, Details, Investigation, KnowledgeFile,
    NewResource, Pin, Report, ReportRun, Resource, ResourceKind, ResourcePatch, RunStatus,
    Schedule, Text,
};

/// Who acts in which organization, as read in the use case's transaction.
#[derive(Debug, Clone, Copy)]
pub struct Access<'a> {
    pub actor: UserId,
    pub organization: Option<&'a Organization>,
    pub membership: Option<&'a Membership>,
}

impl Access<'_> {
    /// The proof that the actor may do `operation` here (D1 for the rest).
    pub fn grant(&self, operation: Operation) -> Result<Grant, Error> {
        authorize_in(self.actor, self.organization, self.membership, operation)
            .map(|(grant, _)| grant)
    }
}

/// An organization's limits and usage, for a quota decision.
#[derive(Debug, Clone, Copy)]
pub struct Quota<'a> {
    pub limits: &'a Limits,
    pub usage: &'a Usage,
}

/// The resource named, if it is of `kind` and in the grant's organization.
/// Another organization's id is as missing as an unknown one.
fn own<'a>(
    grant: &Grant,
    kind: ResourceKind,
    found: Option<&'a Resource>,
) -> Result<&'a Resource, Error> {
    found
        .filter(|r| r.kind() == kind && r.organization_id == grant.organization_id())
        .ok_or(Error::NotFound(Missing::Resource))
}

/// An agent's connections: each one a connection of the organization,
/// without repeats, at most [`AGENT_CONNECTIONS_MAX`].
fn agent_connections(
    grant: &Grant,
    wanted: &[ResourceId],
    connections: &[Resource],
) -> Result<Vec<ResourceId>, Error> {
    let invalid = |message: String| Error::Invalid {
        field: "connection_ids",
        message,
    };
    let mut seen = BTreeSet::new();
    let ids: Vec<ResourceId> = wanted
        .iter()
        .copied()
        .filter(|id| seen.insert(*id))
        .collect();
    if ids.len() > AGENT_CONNECTIONS_MAX {
        return Err(invalid(format!(
            "an agent uses at most {AGENT_CONNECTIONS_MAX} connections"
        )));
    }
    for id in &ids {
        let known = connections.iter().any(|c| {
            c.id == *id
                && c.kind() == ResourceKind::Connection
                && c.organization_id == grant.organization_id()
        });
        // A missing thing, as a missing pin target or chat agent is (404),
        // rather than a malformed body: the id is well formed.
        if !known {
            return Err(Error::NotFound(Missing::Connection));
        }
    }
    Ok(ids)
}

/// Creating a resource: the kind's capability, valid references, then the
/// quota (R14, R21, D10): one more of the kind, and for a knowledge file
/// its bytes within the storage. A connection's credentials are stored
/// apart, sealed (D9).
pub fn create_resource(
    access: Access<'_>,
    quota: Quota<'_>,
    connections: &[Resource],
    input: NewResource,
    id: ResourceId,
    now: DateTime<Utc>,
) -> Result<Decision<Resource>, Error> {
    let kind = input.kind();
    let grant = access.grant(Operation::CreateResource(kind))?;
    let connection_ids = agent_connections(&grant, input.connection_ids(), connections)?;
    if let Some(metered) = kind.metered() {
        check_quota(quota.limits, quota.usage, metered)?;
    }
    if let NewResource::KnowledgeFile { size_bytes, .. } = &input {
        check_quota_for(
            quota.limits,
            quota.usage,
            Metered::StorageBytes,
            *size_bytes,
        )?;
    }
    let mut changes = Vec::with_capacity(2);
    let (name, details) = match input {
        NewResource::Agent {
            name, description, ..
        } => (
            name,
            Details::Agent(Agent {
                description,
                connection_ids,
            }),
        ),
        NewResource::Connection {
            label,
            connection_type,
            credentials,
        } => {
            changes.push(Change::SetCredentials {
                organization_id: grant.organization_id(),
                connection_id: id,
                credentials,
                at: now,
            });
            (
                label,
                Details::Connection(Connection {
                    connection_type,
                    credentials_updated_at: Some(now),
                }),
            )
        }
        NewResource::Report { name, definition } => (
            name,
            Details::Report(Report {
                definition,
                schedule: None,
            }),
        ),
        NewResource::KnowledgeFile {
            name,
            content_type,
            size_bytes,
            sha256,
        } => (
            name,
            Details::KnowledgeFile(KnowledgeFile {
                content_type,
                size_bytes,
                sha256,
            }),
        ),
    };
    let resource = Resource {
        id,
        organization_id: grant.organization_id(),
        name,
        details,
        created_by: grant.user_id(),
        created_at: now,
        updated_at: now,
    };
    // The resource row first: the credentials row refers to it.
    changes.insert(0, Change::InsertResource(resource.clone()));
    Ok(Decision::new(changes, resource))
}

/// Whether an upload may begin, before any of its content is read: the
/// capability, and room for one more knowledge file (its bytes are not
/// known yet, so only storage already full refuses it). A refused upload
/// costs no transfer; [`create_resource`] decides again with the bytes,
/// under the organization's lock.
pub fn start_upload(access: Access<'_>, quota: Quota<'_>) -> Result<Grant, Error> {
    let grant = access.grant(Operation::CreateResource(ResourceKind::KnowledgeFile))?;
    check_quota(quota.limits, quota.usage, Metered::KnowledgeFiles)?;
    check_quota_for(quota.limits, quota.usage, Metered::StorageBytes, 0)?;
    Ok(grant)
}

/// Editing a resource's name and details (the kind's capability).
pub fn update_resource(
    access: Access<'_>,
    found: Option<&Resource>,
    connections: &[Resource],
    patch: ResourcePatch,
    now: DateTime<Utc>,
) -> Result<Decision<Resource>, Error> {
    let kind = patch.kind();
    let grant = access.grant(Operation::UpdateResource(kind))?;
    let mut resource = own(&grant, kind, found)?.clone();
    let connection_ids = agent_connections(&grant, patch.connection_ids(), connections)?;
    match (patch, &mut resource.details) {
        (
            ResourcePatch::Agent {
                name,
                description,
                connection_ids: wanted,
            },
            Details::Agent(agent),
        ) => {
            resource.name = name.unwrap_or(resource.name);
            if let Some(description) = description {
                agent.description = description;
            }
            if wanted.is_some() {
                agent.connection_ids = connection_ids;
            }
        }
        (ResourcePatch::Connection { label }, Details::Connection(_)) => {
            resource.name = label.unwrap_or(resource.name);
        }
        (ResourcePatch::Report { name, definition }, Details::Report(report)) => {
            resource.name = name.unwrap_or(resource.name);
            if let Some(definition) = definition {
                report.definition = definition;
            }
        }
        // `own` checked that the kinds agree.
        _ => return Err(Error::NotFound(Missing::Resource)),
    }
    resource.updated_at = now;
    Ok(Decision::new(
        vec![Change::UpdateResource(resource.clone())],
        resource,
    ))
}

/// Deleting a resource (the kind's capability). It leaves every sidebar;
/// a deleted connection leaves the agents that used it and its credentials
/// are erased. Chats and runs that refer to it keep their history.
pub fn delete_resource(
    access: Access<'_>,
    kind: ResourceKind,
    found: Option<&Resource>,
    agents: &[Resource],
    now: DateTime<Utc>,
) -> Result<Decision<Resource>, Error> {
    let grant = access.grant(Operation::DeleteResource(kind))?;
    let resource = own(&grant, kind, found)?.clone();
    let organization_id = grant.organization_id();
    let mut changes = vec![
        Change::DeletePinsOf {
            organization_id,
            item_id: resource.id,
        },
        Change::DeleteResource {
            organization_id,
            id: resource.id,
            at: now,
        },
    ];
    if kind == ResourceKind::Connection {
        changes.push(Change::DeleteCredentials {
            organization_id,
            connection_id: resource.id,
        });
        for agent in agents {
            let mut agent = agent.clone();
            if agent.organization_id != organization_id {
                continue;
            }
            if let Details::Agent(details) = &mut agent.details {
                let before = details.connection_ids.len();
                details.connection_ids.retain(|id| *id != resource.id);
                if details.connection_ids.len() != before {
                    agent.updated_at = now;
                    changes.push(Change::UpdateResource(agent));
                }
            }
        }
    }
    Ok(Decision::new(changes, resource))
}

/// Rotating a connection's credentials (`manage_connections`, D9).
pub fn set_credentials(
    access: Access<'_>,
    found: Option<&Resource>,
    credentials: Credentials,
    now: DateTime<Utc>,
) -> Result<Decision<Resource>, Error> {
    let grant = access.grant(Operation::RotateCredentials)?;
    let mut connection = own(&grant, ResourceKind::Connection, found)?.clone();
    if let Details::Connection(details) = &mut connection.details {
        details.credentials_updated_at = Some(now);
    }
    connection.updated_at = now;
    Ok(Decision::new(
        vec![
            Change::UpdateResource(connection.clone()),
            Change::SetCredentials {
                organization_id: grant.organization_id(),
                connection_id: connection.id,
                credentials,
                at: now,
            },
            Change::Audit(super::audit(
                grant.organization_id(),
                crate::audit::Action::ConnectionCredentialsRotated,
                crate::audit::Actor::User(grant.user_id()),
                crate::audit::Target::new(
                    crate::audit::TargetKind::Connection,
                    connection.id,
                    connection.name.as_str(),
                ),
            )),
        ],
        connection,
    ))
}

/// Setting (`Some`) or removing (`None`) a report's schedule (`manage_schedules`).
pub fn set_schedule(
    access: Access<'_>,
    found: Option<&Resource>,
    schedule: Option<Schedule>,
    now: DateTime<Utc>,
) -> Result<Decision<Resource>, Error> {
    let operation = if schedule.is_some() {
        Operation::SetSchedule
    } else {
        Operation::ClearSchedule
    };
    let grant = access.grant(operation)?;
    let mut report = own(&grant, ResourceKind::Report, found)?.clone();
    if let Details::Report(details) = &mut report.details {
        if details.schedule == schedule {
            return Ok(Decision::new(Vec::new(), report));
        }
        details.schedule = schedule;
    }
    report.updated_at = now;
    Ok(Decision::new(
        vec![Change::UpdateResource(report.clone())],
        report,
    ))
}

/// Triggering a run of a report (`trigger_report_runs`).
pub fn trigger_run(
    access: Access<'_>,
    found: Option<&Resource>,
    id: ReportRunId,
    now: DateTime<Utc>,
) -> Result<Decision<ReportRun>, Error> {
    let grant = access.grant(Operation::TriggerReportRun)?;
    let report = own(&grant, ResourceKind::Report, found)?;
    let run = ReportRun {
        id,
        organization_id: grant.organization_id(),
        report_id: report.id,
        status: RunStatus::Queued,
        triggered_by: grant.user_id(),
        created_at: now,
    };
    Ok(Decision::new(
        vec![Change::InsertReportRun(run.clone())],
        run,
    ))
}

/// Checks that the actor may see an organization's resources and that the
/// one named is of `kind` there.
pub fn view_resource<'a>(
    access: Access<'_>,
    kind: ResourceKind,
    found: Option<&'a Resource>,
) -> Result<&'a Resource, Error> {
    let grant = access.grant(Operation::ViewResources(kind))?;
    own(&grant, kind, found)
}

/// Pinning an agent, a connection or a report to one's own sidebar
/// (`pin_items`). Pinning what is already pinned answers the existing pin.
pub fn pin(
    access: Access<'_>,
    kind: ResourceKind,
    item: Option<&Resource>,
    pins: &[Pin],
    id: PinId,
    now: DateTime<Utc>,
) -> Result<Decision<Pin>, Error> {
    let grant = access.grant(Operation::Pin)?;
    if !kind.pinnable() {
        return Err(Error::Invalid {
            field: "item_type",
            message: format!("a {kind} cannot be pinned"),
        });
    }
    let item = own(&grant, kind, item)?;
    let mine = |pin: &&Pin| {
        pin.organization_id == grant.organization_id() && pin.user_id == grant.user_id()
    };
    if let Some(existing) = pins.iter().filter(mine).find(|p| p.item_id == item.id) {
        return Ok(Decision::new(Vec::new(), existing.clone()));
    }
    let pin = Pin {
        id,
        organization_id: grant.organization_id(),
        user_id: grant.user_id(),
        item_kind: kind,
        item_id: item.id,
        created_at: now,
    };
    Ok(Decision::new(vec![Change::InsertPin(pin.clone())], pin))
}

/// Unpinning one of one's own pins (`pin_items`); others' pins are missing.
pub fn unpin(access: Access<'_>, found: Option<&Pin>) -> Result<Decision<()>, Error> {
    let grant = access.grant(Operation::Unpin)?;
    let pin = found
        .filter(|p| p.organization_id == grant.organization_id() && p.user_id == grant.user_id())
        .ok_or(Error::NotFound(Missing::Pin))?;
    Ok(Decision::new(
        vec![Change::DeletePin {
            organization_id: pin.organization_id,
            user_id: pin.user_id,
            id: pin.id,
        }],
        (),
    ))
}

/// What a new chat is about, as loaded by the use case.
#[derive(Debug, Clone, Copy)]
pub enum ChatTarget<'a> {
    Agent(Option<&'a Resource>),
    ReportRun(Option<&'a ReportRun>),
}

/// Starting a chat with an agent (`chat_with_agents`) or about a report
/// run's results (`chat_with_report_results`). The chat is the creator's.
pub fn open_chat(
    access: Access<'_>,
    target: ChatTarget<'_>,
    id: ChatId,
    now: DateTime<Utc>,
) -> Result<Decision<Chat>, Error> {
    let subject = match target {
        ChatTarget::Agent(agent) => {
            let grant = access.grant(Operation::ChatWithAgent)?;
            ChatSubject::Agent(own(&grant, ResourceKind::Agent, agent)?.id)
        }
        ChatTarget::ReportRun(run) => {
            let grant = access.grant(Operation::ChatAboutReportRun)?;
            let run = run
                .filter(|r| r.organization_id == grant.organization_id())
                .ok_or(Error::NotFound(Missing::ReportRun))?;
            ChatSubject::ReportRun {
                report_id: run.report_id,
                run_id: run.id,
            }
        }
    };
    let grant = access.grant(subject.operation())?;
    let chat = Chat {
        id,
        organization_id: grant.organization_id(),
        created_by: grant.user_id(),
        subject,
        created_at: now,
    };
    Ok(Decision::new(vec![Change::InsertChat(chat.clone())], chat))
}

/// The actor's own chat in the organization, to continue it: with the
/// capability its subject needs; anyone else's chat is missing.
pub fn own_chat<'a>(access: Access<'_>, chat: Option<&'a Chat>) -> Result<&'a Chat, Error> {
    let operation = chat.map_or(Operation::ChatWithAgent, |chat| chat.subject.operation());
    own_chat_for(access, chat, operation)
}

/// The actor's own chat in the organization, to read it (reading needs
/// `view_resources`); anyone else's chat is missing.
pub fn readable_chat<'a>(access: Access<'_>, chat: Option<&'a Chat>) -> Result<&'a Chat, Error> {
    own_chat_for(access, chat, Operation::ListChats)
}

fn own_chat_for<'a>(
    access: Access<'_>,
    chat: Option<&'a Chat>,
    operation: Operation,
) -> Result<&'a Chat, Error> {
    let grant = access.grant(operation)?;
    chat.filter(|chat| {
        chat.organization_id == grant.organization_id() && chat.created_by == grant.user_id()
    })
    .ok_or(Error::NotFound(Missing::Chat))
}

/// What sending a chat message needs besides the snapshot.
#[derive(Debug, Clone)]
pub struct SendMessage {
    pub id: MessageId,
    pub content: Text,
    pub now: DateTime<Utc>,
}

/// Sending a chat message: only in one's own chat, only while still a member
/// (a removed member's chat stops at the next message, R19), within the
/// monthly quota.
pub fn send_chat_message(
    access: Access<'_>,
    chat: Option<&Chat>,
    quota: Quota<'_>,
    input: SendMessage,
) -> Result<Decision<ChatMessage>, Error> {
    let chat = own_chat(access, chat)?;
    check_quota(quota.limits, quota.usage, Metered::ChatMessagesPerMonth)?;
    let message = ChatMessage {
        id: input.id,
        chat_id: chat.id,
        organization_id: chat.organization_id,
        sent_by: access.actor,
        content: input.content,
        created_at: input.now,
    };
    Ok(Decision::new(
        vec![Change::InsertChatMessage(message.clone())],
        message,
    ))
}

/// Asking an agent to investigate (`run_investigations`).
pub fn start_investigation(
    access: Access<'_>,
    agent: Option<&Resource>,
    question: Text,
    id: InvestigationId,
    now: DateTime<Utc>,
) -> Result<Decision<Investigation>, Error> {
    let grant = access.grant(Operation::RunInvestigation)?;
    let agent = own(&grant, ResourceKind::Agent, agent)?;
    let investigation = Investigation {
        id,
        organization_id: grant.organization_id(),
        agent_id: agent.id,
        question,
        status: RunStatus::Queued,
        created_by: grant.user_id(),
        created_at: now,
    };
    Ok(Decision::new(
        vec![Change::InsertInvestigation(investigation.clone())],
        investigation,
    ))
}

/// Whether a host may read a connection's credentials to act for the holder
/// of `grant`: the grant must be for work that uses connections
/// ([`USES_CONNECTIONS`]), it must still hold (D12, checked against
/// `access`, read now), and the connection must be the organization's.
pub fn use_connection<'a>(
    grant: &Grant,
    access: Access<'_>,
    found: Option<&'a Resource>,
) -> Result<&'a Resource, Error> {
    if access.actor != grant.user_id()
        || access.organization.map(|o| o.id) != Some(grant.organization_id())
    {
        return Err(Error::NotFound(Missing::Organization));
    }
    if !USES_CONNECTIONS.contains(&grant.capability()) {
        return Err(Error::Forbidden {
            role: grant.role().clone(),
            capability: Capability::ChatWithAgents,
        });
    }
    let organization = access
        .organization
        .filter(|organization| !organization.is_pending_deletion())
        .ok_or(Error::NotFound(Missing::Organization))?;
    let current = authorize(
        access.actor,
        organization.id,
        access.membership,
        grant.capability(),
    )?;
    own(&current, ResourceKind::Connection, found)
}

/// The capabilities whose work uses an organization's connections on the
/// member's behalf (R22): an agent answering a chat, an investigation, a
/// report run and its results, and managing the connections themselves.
/// A grant of anything else (`view_resources`, `pin_items`, ...) opens no
/// credentials.
pub const USES_CONNECTIONS: [Capability; 5] = [
    Capability::ChatWithAgents,
    Capability::RunInvestigations,
    Capability::ChatWithReportResults,
    Capability::TriggerReportRuns,
    Capability::ManageConnections,
];
