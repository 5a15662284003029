//! The use cases of an organization's resources, report runs, pins, chats
//! and investigations. Every write locks the organization first, so that a
//! quota count, a reference check or a cascade cannot be overtaken by a
//! concurrent transaction (D10).

use std::pin::Pin as Pinned;
use std::task::{Context, Poll};

use chrono::{DateTime, Utc};
use futures::io::AsyncRead;
use sha2::{Digest as _, Sha256};

use super::{AsOf, Blobs, Service};
use crate::decide::{self, Access, ChatTarget, Quota, SendMessage};
use crate::entity::{Chat, ChatMessage, Organization};
use crate::error::{Error, Missing, StoreError};
use crate::id::{
    ChatId, InvestigationId, MessageId, OrganizationId, PinId, ReportRunId, ResourceId, UserId,
};
use crate::operation::Operation;
use crate::plan::{Limits, Metered, Month, Usage};
use crate::policy::{Grant, Membership};
use crate::ports::{
    BlobKey, BlobReader, Clock, Content, IdGenerator, Repository, TokenGenerator, Transaction,
};
use crate::resource::{
    ContentType, Credentials, Investigation, NewResource, Pin, ReportRun, Resource, ResourceKind,
    ResourceName, ResourcePatch, Schedule, Text,
};

/// The organization and the actor's membership, read in one unit of work.
pub(super) struct Scope {
    actor: UserId,
    pub(super) organization: Option<Organization>,
    pub(super) membership: Option<Membership>,
}

impl Scope {
    pub(super) async fn read(
        tx: &mut Box<dyn Transaction>,
        organization: OrganizationId,
        actor: UserId,
    ) -> Result<Self, Error> {
        Ok(Self {
            actor,
            organization: tx.organization(organization).await?,
            membership: tx.membership(organization, actor).await?,
        })
    }

    pub(super) fn access(&self) -> Access<'_> {
        Access {
            actor: self.actor,
            organization: self.organization.as_ref(),
            membership: self.membership.as_ref(),
        }
    }
}

/// What a chat is to be about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChatRequest {
    Agent(ResourceId),
    ReportRun(ReportRunId),
}

impl Blobs {
    fn key(organization_id: OrganizationId, file_id: ResourceId) -> BlobKey {
        BlobKey {
            organization_id,
            file_id,
        }
    }
}

impl<R, C, I, T> Service<R, C, I, T>
where
    R: Repository,
    C: Clock,
    I: IdGenerator,
    T: TokenGenerator,
{
    fn blobs(&self) -> Result<&Blobs, Error> {
        self.blobs.as_ref().ok_or_else(|| {
            Error::Store(StoreError::other(std::io::Error::other(
                "no blob store is configured for knowledge files",
            )))
        })
    }

    /// A write's snapshot: the organization locked, then read.
    pub(super) async fn locked_scope(
        &self,
        tx: &mut Box<dyn Transaction>,
        organization: OrganizationId,
        actor: UserId,
    ) -> Result<Scope, Error> {
        tx.lock_organization(organization).await?;
        Scope::read(tx, organization, actor).await
    }

    /// Limits and usage at `now`, for a decision metered by `metered`.
    /// Usage is counted only when the plan limits one of those quantities:
    /// counting is the costly read of a create, and unlimited ones need none.
    async fn quota_of(
        &self,
        tx: &mut Box<dyn Transaction>,
        scope: &Scope,
        metered: &[Metered],
        now: DateTime<Utc>,
    ) -> Result<(Limits, Usage), Error> {
        let Some(org) = &scope.organization else {
            return Ok((Limits::default(), Usage::default()));
        };
        let limits = self.settings.catalog.limits_of(&org.plan);
        let usage = if metered.iter().any(|m| limits.of(*m).is_some()) {
            tx.usage(org.id, Month::of(now)).await?
        } else {
            Usage::default()
        };
        Ok((limits, usage))
    }

    /// The connections an agent may refer to, loaded only when it refers to some.
    async fn connections_for(
        tx: &mut Box<dyn Transaction>,
        organization: OrganizationId,
        wanted: &[ResourceId],
    ) -> Result<Vec<Resource>, Error> {
        if wanted.is_empty() {
            return Ok(Vec::new());
        }
        Ok(tx.resources(organization, ResourceKind::Connection).await?)
    }

    async fn create_in(
        &self,
        actor: UserId,
        organization: OrganizationId,
        id: ResourceId,
        input: &NewResource,
    ) -> Result<Resource, Error> {
        retrying!(async {
            let mut tx = self.repository.begin().await?;
            let scope = self.locked_scope(&mut tx, organization, actor).await?;
            let now = self.clock.now();
            let (limits, usage) = self
                .quota_of(&mut tx, &scope, metered_by(input), now)
                .await?;
            let connections =
                Self::connections_for(&mut tx, organization, input.connection_ids()).await?;
            let decision = decide::create_resource(
                scope.access(),
                Quota {
                    limits: &limits,
                    usage: &usage,
                },
                &connections,
                input.clone(),
                id,
                now,
            )?;
            self.commit_at(tx, decision, now).await
        })
    }

    /// Creates an agent, a connection or a report, within the quota (R14,
    /// R21, D10). Knowledge files come with content: see
    /// [`Service::upload_knowledge_file`].
    pub async fn create_resource(
        &self,
        actor: UserId,
        organization: OrganizationId,
        input: NewResource,
    ) -> Result<Resource, Error> {
        if input.kind() == ResourceKind::KnowledgeFile {
            return Err(Error::Invalid {
                field: "kind",
                message: "knowledge files are uploaded with their content".to_owned(),
            });
        }
        let id = ResourceId::from_uuid(self.ids.new_id());
        self.create_in(actor, organization, id, &input).await
    }

    /// Uploads a knowledge file (`upload_knowledge_files`), streaming its
    /// content to the blob store, never holding it whole; `content` is read
    /// to its end, at most `max_bytes` of it ([`Error::PayloadTooLarge`]
    /// past that).
    ///
    /// The capability and a quota already reached are checked before any
    /// content is read. The content is staged where no reader sees it, its
    /// size and SHA-256 computed as it passes; the file is then decided on
    /// with them, in the organization's lock, so that concurrent uploads
    /// cannot pass the quota together (D10). Only a file decided on is
    /// published, just before its row is committed; whatever is refused or
    /// fails leaves no row and no blob.
    pub async fn upload_knowledge_file(
        &self,
        actor: UserId,
        organization: OrganizationId,
        name: ResourceName,
        content_type: ContentType,
        content: &mut dyn Content,
        max_bytes: u64,
    ) -> Result<Resource, Error> {
        let blobs = self.blobs()?;
        {
            let mut tx = self.repository.read().await?;
            let scope = Scope::read(&mut tx, organization, actor).await?;
            let (limits, usage) = self
                .quota_of(&mut tx, &scope, &FILE_QUOTAS, self.clock.now())
                .await?;
            decide::start_upload(
                scope.access(),
                Quota {
                    limits: &limits,
                    usage: &usage,
                },
            )?;
        }
        let mut metering = Metering::new(content, max_bytes);
        let staged = blobs.0.stage(&mut metering).await;
        // The client's side of a failure is told as such (too large, broken
        // off), whatever the store made of it.
        if let Some(stop) = metering.stop.take() {
            if let Ok(staged) = &staged {
                let _ = blobs.0.discard(staged).await;
            }
            return Err(stop.into_error(max_bytes));
        }
        let staged = staged?;
        let (size_bytes, sha256) = metering.finish();
        let id = ResourceId::from_uuid(self.ids.new_id());
        let key = Blobs::key(organization, id);
        let input = NewResource::KnowledgeFile {
            name,
            content_type,
            size_bytes,
            sha256,
        };
        let created = retrying!(async {
            let mut tx = self.repository.begin().await?;
            let scope = self.locked_scope(&mut tx, organization, actor).await?;
            let now = self.clock.now();
            let (limits, usage) = self.quota_of(&mut tx, &scope, &FILE_QUOTAS, now).await?;
            let decision = decide::create_resource(
                scope.access(),
                Quota {
                    limits: &limits,
                    usage: &usage,
                },
                &[],
                input.clone(),
                id,
                now,
            )?;
            let (changes, file) = decision.into_parts();
            self.apply_all(tx.as_mut(), changes, now).await?;
            // Published last, so that a row never commits without its
            // content; erased again when the commit fails.
            blobs.0.publish(&staged, key).await?;
            if let Err(error) = tx.commit().await {
                let _ = blobs.0.delete(key).await;
                return Err(Error::Store(error));
            }
            Ok(file)
        });
        // Published or refused, the staged copy has served; one left behind
        // by a failure here is swept away by the store.
        let _ = blobs.0.discard(&staged).await;
        created
    }

    /// The content of a knowledge file (`view_resources`), to read in chunks.
    pub async fn knowledge_file_content(
        &self,
        actor: UserId,
        organization: OrganizationId,
        id: ResourceId,
    ) -> Result<(Resource, BlobReader), Error> {
        let file = self
            .resource(actor, organization, ResourceKind::KnowledgeFile, id)
            .await?
            .into_value();
        let content = self
            .blobs()?
            .0
            .open(Blobs::key(organization, id))
            .await?
            .ok_or_else(|| {
                Error::Store(StoreError::other(std::io::Error::other(format!(
                    "the content of knowledge file `{id}` is missing from the blob store"
                ))))
            })?;
        Ok((file, content))
    }

    /// The organization's resources of a kind, oldest first (`view_resources`).
    pub async fn resources(
        &self,
        actor: UserId,
        organization: OrganizationId,
        kind: ResourceKind,
    ) -> Result<AsOf<Vec<Resource>>, Error> {
        let mut tx = self.repository.read().await?;
        let scope = Scope::read(&mut tx, organization, actor).await?;
        scope.access().grant(Operation::ViewResources(kind))?;
        let value = tx.resources(organization, kind).await?;
        Ok(AsOf {
            value,
            now: self.clock.now(),
        })
    }

    /// One resource of a kind (`view_resources`).
    pub async fn resource(
        &self,
        actor: UserId,
        organization: OrganizationId,
        kind: ResourceKind,
        id: ResourceId,
    ) -> Result<AsOf<Resource>, Error> {
        let mut tx = self.repository.read().await?;
        let scope = Scope::read(&mut tx, organization, actor).await?;
        let found = tx.resource(organization, id).await?;
        let value = decide::view_resource(scope.access(), kind, found.as_ref())?.clone();
        Ok(AsOf {
            value,
            now: self.clock.now(),
        })
    }

    /// Edits a resource (the kind's capability).
    pub async fn update_resource(
        &self,
        actor: UserId,
        organization: OrganizationId,
        id: ResourceId,
        patch: ResourcePatch,
    ) -> Result<Resource, Error> {
        retrying!(async {
            let now = self.clock.now();
            let mut tx = self.repository.begin().await?;
            let scope = self.locked_scope(&mut tx, organization, actor).await?;
            scope
                .access()
                .grant(Operation::UpdateResource(patch.kind()))?;
            let found = tx.resource(organization, id).await?;
            let connections =
                Self::connections_for(&mut tx, organization, patch.connection_ids()).await?;
            let decision = decide::update_resource(
                scope.access(),
                found.as_ref(),
                &connections,
                patch.clone(),
                now,
            )?;
            self.commit_at(tx, decision, now).await
        })
    }

    /// Deletes a resource (the kind's capability); a knowledge file's
    /// content goes once the deletion is committed.
    pub async fn delete_resource(
        &self,
        actor: UserId,
        organization: OrganizationId,
        kind: ResourceKind,
        id: ResourceId,
    ) -> Result<(), Error> {
        let deleted = retrying!(async {
            let now = self.clock.now();
            let mut tx = self.repository.begin().await?;
            let scope = self.locked_scope(&mut tx, organization, actor).await?;
            scope.access().grant(Operation::DeleteResource(kind))?;
            let found = tx.resource(organization, id).await?;
            let agents = if kind == ResourceKind::Connection {
                tx.resources(organization, ResourceKind::Agent).await?
            } else {
                Vec::new()
            };
            let decision =
                decide::delete_resource(scope.access(), kind, found.as_ref(), &agents, now)?;
            self.commit_at(tx, decision, now).await
        })?;
        // The deletion is committed: the client is told so even if erasing
        // the content fails, which leaves at worst an unreferenced blob.
        if deleted.kind() == ResourceKind::KnowledgeFile
            && let Some(blobs) = &self.blobs
        {
            let _ = blobs.0.delete(Blobs::key(organization, deleted.id)).await;
        }
        Ok(())
    }

    /// Replaces a connection's credentials (`manage_connections`, D9).
    pub async fn set_credentials(
        &self,
        actor: UserId,
        organization: OrganizationId,
        connection: ResourceId,
        credentials: Credentials,
    ) -> Result<Resource, Error> {
        retrying!(async {
            let now = self.clock.now();
            let mut tx = self.repository.begin().await?;
            let scope = self.locked_scope(&mut tx, organization, actor).await?;
            let found = tx.resource(organization, connection).await?;
            let decision =
                decide::set_credentials(scope.access(), found.as_ref(), credentials.clone(), now)?;
            self.commit_at(tx, decision, now).await
        })
    }

    /// A connection's credentials, for a host that uses the connection on
    /// behalf of the holder of `grant` (an agent answering a viewer, say).
    /// The grant is checked again against the committed state (D12): a
    /// removed member's grant opens nothing. Never exposed over HTTP (D9).
    pub async fn connection_credentials(
        &self,
        grant: &Grant,
        connection: ResourceId,
    ) -> Result<Credentials, Error> {
        let organization = grant.organization_id();
        let mut tx = self.repository.read().await?;
        let scope = Scope::read(&mut tx, organization, grant.user_id()).await?;
        let found = tx.resource(organization, connection).await?;
        let connection = decide::use_connection(grant, scope.access(), found.as_ref())?;
        tx.connection_credentials(organization, connection.id)
            .await?
            .ok_or(Error::NotFound(Missing::Resource))
    }

    /// Sets (`Some`) or removes (`None`) a report's schedule (`manage_schedules`).
    pub async fn set_schedule(
        &self,
        actor: UserId,
        organization: OrganizationId,
        report: ResourceId,
        schedule: Option<Schedule>,
    ) -> Result<Resource, Error> {
        retrying!(async {
            let now = self.clock.now();
            let mut tx = self.repository.begin().await?;
            let scope = self.locked_scope(&mut tx, organization, actor).await?;
            let found = tx.resource(organization, report).await?;
            let decision =
                decide::set_schedule(scope.access(), found.as_ref(), schedule.clone(), now)?;
            self.commit_at(tx, decision, now).await
        })
    }

    /// Queues a run of a report (`trigger_report_runs`).
    pub async fn trigger_run(
        &self,
        actor: UserId,
        organization: OrganizationId,
        report: ResourceId,
    ) -> Result<ReportRun, Error> {
        let id = ReportRunId::from_uuid(self.ids.new_id());
        retrying!(async {
            let now = self.clock.now();
            let mut tx = self.repository.begin().await?;
            let scope = self.locked_scope(&mut tx, organization, actor).await?;
            let found = tx.resource(organization, report).await?;
            let decision = decide::trigger_run(scope.access(), found.as_ref(), id, now)?;
            self.commit_at(tx, decision, now).await
        })
    }

    /// The runs of a report, oldest first (`view_resources`).
    pub async fn report_runs(
        &self,
        actor: UserId,
        organization: OrganizationId,
        report: ResourceId,
    ) -> Result<Vec<ReportRun>, Error> {
        let mut tx = self.repository.read().await?;
        let scope = Scope::read(&mut tx, organization, actor).await?;
        let found = tx.resource(organization, report).await?;
        decide::view_resource(scope.access(), ResourceKind::Report, found.as_ref())?;
        Ok(tx.report_runs(organization, report).await?)
    }

    /// Pins an item to the actor's sidebar (`pin_items`).
    pub async fn pin(
        &self,
        actor: UserId,
        organization: OrganizationId,
        kind: ResourceKind,
        item: ResourceId,
    ) -> Result<Pin, Error> {
        let id = PinId::from_uuid(self.ids.new_id());
        retrying!(async {
            let now = self.clock.now();
            let mut tx = self.repository.begin().await?;
            let scope = self.locked_scope(&mut tx, organization, actor).await?;
            scope.access().grant(Operation::Pin)?;
            let found = tx.resource(organization, item).await?;
            let pins = tx.pins(organization, actor).await?;
            let decision = decide::pin(scope.access(), kind, found.as_ref(), &pins, id, now)?;
            self.commit_at(tx, decision, now).await
        })
    }

    /// The actor's pins in the organization, oldest first (`view_resources`: reading).
    pub async fn pins(
        &self,
        actor: UserId,
        organization: OrganizationId,
    ) -> Result<Vec<Pin>, Error> {
        let mut tx = self.repository.read().await?;
        let scope = Scope::read(&mut tx, organization, actor).await?;
        scope.access().grant(Operation::ListPins)?;
        Ok(tx.pins(organization, actor).await?)
    }

    /// Unpins one of the actor's pins (`pin_items`).
    pub async fn unpin(
        &self,
        actor: UserId,
        organization: OrganizationId,
        pin: PinId,
    ) -> Result<(), Error> {
        retrying!(async {
            let mut tx = self.repository.begin().await?;
            let scope = self.locked_scope(&mut tx, organization, actor).await?;
            scope.access().grant(Operation::Unpin)?;
            let pins = tx.pins(organization, actor).await?;
            let decision = decide::unpin(scope.access(), pins.iter().find(|p| p.id == pin))?;
            self.commit(tx, decision).await
        })
    }

    /// Starts a chat with an agent or about a report run; it is the actor's.
    pub async fn open_chat(
        &self,
        actor: UserId,
        organization: OrganizationId,
        about: ChatRequest,
    ) -> Result<Chat, Error> {
        let id = ChatId::from_uuid(self.ids.new_id());
        retrying!(async {
            let mut tx = self.repository.begin().await?;
            let scope = self.locked_scope(&mut tx, organization, actor).await?;
            let now = self.clock.now();
            let decision = match about {
                ChatRequest::Agent(agent) => {
                    let found = tx.resource(organization, agent).await?;
                    decide::open_chat(scope.access(), ChatTarget::Agent(found.as_ref()), id, now)?
                }
                ChatRequest::ReportRun(run) => {
                    let found = tx.report_run(organization, run).await?;
                    let target = ChatTarget::ReportRun(found.as_ref());
                    decide::open_chat(scope.access(), target, id, now)?
                }
            };
            self.commit_at(tx, decision, now).await
        })
    }

    /// The actor's own chats in the organization, oldest first.
    pub async fn chats(
        &self,
        actor: UserId,
        organization: OrganizationId,
    ) -> Result<Vec<Chat>, Error> {
        let mut tx = self.repository.read().await?;
        let scope = Scope::read(&mut tx, organization, actor).await?;
        scope.access().grant(Operation::ListChats)?;
        Ok(tx.chats(organization, actor).await?)
    }

    /// Sends a message in one's own chat, within the monthly quota; a removed
    /// member's chat stops here (R19).
    pub async fn send_chat_message(
        &self,
        actor: UserId,
        organization: OrganizationId,
        chat: ChatId,
        content: Text,
    ) -> Result<ChatMessage, Error> {
        let id = MessageId::from_uuid(self.ids.new_id());
        retrying!(async {
            let mut tx = self.repository.begin().await?;
            let scope = self.locked_scope(&mut tx, organization, actor).await?;
            let now = self.clock.now();
            let (limits, usage) = self
                .quota_of(&mut tx, &scope, &[Metered::ChatMessagesPerMonth], now)
                .await?;
            let found = tx.chat(organization, chat).await?;
            let decision = decide::send_chat_message(
                scope.access(),
                found.as_ref(),
                Quota {
                    limits: &limits,
                    usage: &usage,
                },
                SendMessage {
                    id,
                    content: content.clone(),
                    now,
                },
            )?;
            self.commit_at(tx, decision, now).await
        })
    }

    /// The messages of one's own chat, oldest first.
    pub async fn chat_messages(
        &self,
        actor: UserId,
        organization: OrganizationId,
        chat: ChatId,
    ) -> Result<Vec<ChatMessage>, Error> {
        let mut tx = self.repository.read().await?;
        let scope = Scope::read(&mut tx, organization, actor).await?;
        let found = tx.chat(organization, chat).await?;
        decide::readable_chat(scope.access(), found.as_ref())?;
        Ok(tx.chat_messages(organization, chat).await?)
    }

    /// Asks an agent to investigate (`run_investigations`).
    pub async fn start_investigation(
        &self,
        actor: UserId,
        organization: OrganizationId,
        agent: ResourceId,
        question: Text,
    ) -> Result<Investigation, Error> {
        let id = InvestigationId::from_uuid(self.ids.new_id());
        retrying!(async {
            let now = self.clock.now();
            let mut tx = self.repository.begin().await?;
            let scope = self.locked_scope(&mut tx, organization, actor).await?;
            let found = tx.resource(organization, agent).await?;
            let decision = decide::start_investigation(
                scope.access(),
                found.as_ref(),
                question.clone(),
                id,
                now,
            )?;
            self.commit_at(tx, decision, now).await
        })
    }

    /// The actor's own investigations in the organization, oldest first
    /// (`view_resources`: reading).
    pub async fn investigations(
        &self,
        actor: UserId,
        organization: OrganizationId,
    ) -> Result<Vec<Investigation>, Error> {
        let mut tx = self.repository.read().await?;
        let scope = Scope::read(&mut tx, organization, actor).await?;
        scope.access().grant(Operation::ListInvestigations)?;
        Ok(tx.investigations(organization, actor).await?)
    }
}

/// The quotas a knowledge file counts toward.
const FILE_QUOTAS: [Metered; 2] = [Metered::KnowledgeFiles, Metered::StorageBytes];

/// The quotas that creating `input` counts toward.
fn metered_by(input: &NewResource) -> &'static [Metered] {
    match input.kind() {
        ResourceKind::Agent => &[Metered::Agents],
        ResourceKind::Connection => &[Metered::Connections],
        ResourceKind::Report => &[Metered::Reports],
        ResourceKind::KnowledgeFile => &FILE_QUOTAS,
    }
}

/// Why an upload's content stopped before its end.
#[derive(Debug)]
enum Stop {
    TooLarge,
    Broken(String),
}

impl Stop {
    fn into_error(self, max_bytes: u64) -> Error {
        match self {
            Self::TooLarge => Error::PayloadTooLarge { limit: max_bytes },
            Self::Broken(why) => Error::UploadBroken(why),
        }
    }
}

/// An upload's content on its way to the blob store: counted and hashed as
/// it passes, and stopped as soon as it is one byte past `max`, so that an
/// oversized upload is never read further.
struct Metering<'a> {
    content: &'a mut dyn Content,
    max: u64,
    size: u64,
    digest: Sha256,
    stop: Option<Stop>,
}

impl<'a> Metering<'a> {
    fn new(content: &'a mut dyn Content, max: u64) -> Self {
        Self {
            content,
            max,
            size: 0,
            digest: Sha256::new(),
            stop: None,
        }
    }

    /// The size and the SHA-256 (lower-case hex) of what passed.
    fn finish(self) -> (u64, String) {
        (self.size, hex(&self.digest.finalize()))
    }
}

impl AsyncRead for Metering<'_> {
    fn poll_read(
        self: Pinned<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<std::io::Result<usize>> {
        let this = self.get_mut();
        if this.stop.is_some() {
            return Poll::Ready(Err(std::io::Error::other("the upload was stopped")));
        }
        // Never ask for more than one byte past the limit.
        let room = this.max.saturating_sub(this.size).saturating_add(1);
        let len = usize::try_from(room).map_or(buf.len(), |room| room.min(buf.len()));
        let Some(window) = buf.get_mut(..len) else {
            return Poll::Ready(Ok(0));
        };
        match Pinned::new(&mut *this.content).poll_read(cx, window) {
            Poll::Pending => Poll::Pending,
            Poll::Ready(Err(error)) => {
                this.stop = Some(Stop::Broken(error.to_string()));
                Poll::Ready(Err(error))
            }
            Poll::Ready(Ok(read)) => {
                this.size = this.size.saturating_add(read as u64);
                if this.size > this.max {
                    this.stop = Some(Stop::TooLarge);
                    return Poll::Ready(Err(std::io::Error::other(format!(
                        "the upload is larger than {} bytes",
                        this.max
                    ))));
                }
                this.digest.update(window.get(..read).unwrap_or_default());
                Poll::Ready(Ok(read))
            }
        }
    }
}

/// Lower-case hex of a digest.
fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write as _;
    bytes
        .iter()
        .fold(String::with_capacity(bytes.len() * 2), |mut s, b| {
            let _ = write!(s, "{b:02x}");
            s
        })
}
