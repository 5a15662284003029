//! What the core needs from the outside, as traits: a transactional
//! repository, a clock, fresh ids, random tokens, the mail outbox and the
//! counts of the rate limits, and the blob store of knowledge files.
//!
//! Time and randomness are ports so that tests control them; the core has no
//! clock and no randomness of its own.

use async_trait::async_trait;
use chrono::{DateTime, Duration, Utc};
use futures::io::AsyncRead;
use uuid::Uuid;

use crate::decide::Write;
use crate::entity::{
    AccountToken, Chat, ChatMessage, CustomRole, Invitation, Organization, OutgoingMail,
    OwnershipTransfer, Resource, Session, User,
};
use crate::error::StoreError;
use crate::id::{
    ChatId, InvitationId, MailId, OrganizationId, ReportRunId, ResourceId, SessionId, UserId,
};
use crate::limits::{LimitKey, RateLimit, RetryAfter};
use crate::plan::{Month, Usage};
use crate::policy::{Membership, RoleKey};
use crate::resource::{Credentials, Investigation, Pin, ReportRun, ResourceKind};
use crate::token::TokenHash;
use crate::value::{EmailAddress, PasswordHash};

/// A store that runs each use case in one transaction.
#[cfg_attr(any(test, feature = "test-util"), mockall::automock)]
#[async_trait]
pub trait Repository: Send + Sync {
    /// Starts a transaction for a use case that writes. It takes the write
    /// lock where the database has one (SQLite), so that what it reads stays
    /// true until it commits. Dropping it without [`Transaction::commit`]
    /// rolls back.
    async fn begin(&self) -> Result<Box<dyn Transaction>, StoreError>;

    /// Starts a read-only unit of work: the reads of a use case that changes
    /// nothing (authorization, listings). It may read outside a transaction,
    /// each read seeing the latest committed state; [`Transaction::apply`]
    /// fails on it.
    async fn read(&self) -> Result<Box<dyn Transaction>, StoreError>;

    /// Whether the store answers, for a readiness probe; a store in memory
    /// always does.
    async fn ping(&self) -> Result<(), StoreError> {
        Ok(())
    }
}

/// A shared repository is one: what lets a host hold its store as
/// `Arc<dyn Repository>` and choose the backend at run time.
#[async_trait]
impl<R: Repository + ?Sized> Repository for std::sync::Arc<R> {
    async fn begin(&self) -> Result<Box<dyn Transaction>, StoreError> {
        (**self).begin().await
    }

    async fn read(&self) -> Result<Box<dyn Transaction>, StoreError> {
        (**self).read().await
    }

    async fn ping(&self) -> Result<(), StoreError> {
        (**self).ping().await
    }
}

/// One transaction: reads of a consistent snapshot, then the decided changes.
///
/// Every read of an organization's data names the organization, and the
/// implementation must scope its query by it.
#[cfg_attr(any(test, feature = "test-util"), mockall::automock)]
#[async_trait]
pub trait Transaction: Send {
    /// Serializes this transaction with every other one that changes the
    /// organization; a use case that writes to an organization calls it
    /// before it reads what it will decide on.
    async fn lock_organization(&mut self, id: OrganizationId) -> Result<(), StoreError>;
    /// Serializes this transaction with every other one that changes the
    /// user's account (its password, its sessions, its links).
    async fn lock_user(&mut self, id: UserId) -> Result<(), StoreError>;
    async fn user(&mut self, id: UserId) -> Result<Option<User>, StoreError>;
    async fn user_by_email(&mut self, email: &EmailAddress) -> Result<Option<User>, StoreError>;
    /// An account with its password hash, for sign-in.
    async fn credentials(
        &mut self,
        email: &EmailAddress,
    ) -> Result<Option<(User, PasswordHash)>, StoreError>;
    /// The session of a bearer token's hash.
    async fn session(&mut self, token_hash: &TokenHash) -> Result<Option<Session>, StoreError>;
    /// A session by its id, whoever's it is.
    async fn session_by_id(&mut self, id: SessionId) -> Result<Option<Session>, StoreError>;
    /// The sessions of a user, newest first, ended by a lifetime or not.
    async fn sessions_of(&mut self, user: UserId) -> Result<Vec<Session>, StoreError>;
    /// The verification or reset link of a token's hash.
    async fn account_token(
        &mut self,
        token_hash: &TokenHash,
    ) -> Result<Option<AccountToken>, StoreError>;
    async fn organization(
        &mut self,
        id: OrganizationId,
    ) -> Result<Option<Organization>, StoreError>;
    async fn membership(
        &mut self,
        organization: OrganizationId,
        user: UserId,
    ) -> Result<Option<Membership>, StoreError>;
    /// Every membership of a user, each with its organization.
    async fn memberships_of_user(
        &mut self,
        user: UserId,
    ) -> Result<Vec<(Membership, Organization)>, StoreError>;
    /// Every member of an organization with their account, oldest first.
    async fn members(
        &mut self,
        organization: OrganizationId,
    ) -> Result<Vec<(Membership, User)>, StoreError>;
    async fn invitation(
        &mut self,
        organization: OrganizationId,
        id: InvitationId,
    ) -> Result<Option<Invitation>, StoreError>;
    async fn invitation_by_token(
        &mut self,
        hash: &TokenHash,
    ) -> Result<Option<Invitation>, StoreError>;
    /// The invitation of this email in this organization that is still open
    /// (stored as pending, expired or not); at most one exists.
    async fn open_invitation(
        &mut self,
        organization: OrganizationId,
        email: &EmailAddress,
    ) -> Result<Option<Invitation>, StoreError>;
    /// Whether a token's hash is one an invitation had before a resend
    /// replaced it (R30).
    async fn invitation_token_superseded(&mut self, hash: &TokenHash) -> Result<bool, StoreError>;
    /// Every invitation of an organization, whatever its state, newest first.
    async fn invitations(
        &mut self,
        organization: OrganizationId,
    ) -> Result<Vec<Invitation>, StoreError>;
    /// The organization's stored ownership transfer (live or expired), if any.
    async fn ownership_transfer(
        &mut self,
        organization: OrganizationId,
    ) -> Result<Option<OwnershipTransfer>, StoreError>;
    /// Organizations pending deletion whose `purge_after` is at or before
    /// `now`, soonest first, at most `limit`.
    async fn due_purges(
        &mut self,
        now: DateTime<Utc>,
        limit: usize,
    ) -> Result<Vec<OrganizationId>, StoreError>;
    /// Events of the organization's audit log, newest first, as `query`
    /// selects them, at most `query.limit`.
    async fn audit_events(
        &mut self,
        organization: OrganizationId,
        query: &crate::audit::AuditQuery,
    ) -> Result<Vec<crate::audit::AuditEvent>, StoreError>;
    /// Events of the organization's audit log with `seq` above `after`,
    /// oldest first, at most `limit` (the export reads the log by these
    /// pages).
    async fn audit_events_after(
        &mut self,
        organization: OrganizationId,
        after: u64,
        limit: usize,
    ) -> Result<Vec<crate::audit::AuditEvent>, StoreError>;
    /// The organization's webhooks, oldest first.
    async fn webhooks(
        &mut self,
        organization: OrganizationId,
    ) -> Result<Vec<crate::webhook::Webhook>, StoreError>;
    /// One webhook of the organization.
    async fn webhook(
        &mut self,
        organization: OrganizationId,
        id: crate::id::WebhookId,
    ) -> Result<Option<crate::webhook::Webhook>, StoreError>;
    /// A webhook's deliveries, newest first, at most `limit`, older than the
    /// delivery `before` when given (a keyset cursor).
    async fn deliveries(
        &mut self,
        organization: OrganizationId,
        webhook: crate::id::WebhookId,
        before: Option<crate::id::DeliveryId>,
        limit: usize,
    ) -> Result<Vec<crate::webhook::Delivery>, StoreError>;
    /// One delivery of a webhook of the organization.
    async fn delivery(
        &mut self,
        organization: OrganizationId,
        webhook: crate::id::WebhookId,
        id: crate::id::DeliveryId,
    ) -> Result<Option<crate::webhook::Delivery>, StoreError>;
    /// The open invitations of an organization, oldest first.
    async fn open_invitations(
        &mut self,
        organization: OrganizationId,
    ) -> Result<Vec<Invitation>, StoreError>;
    /// A custom role of the organization (never a built-in one: the core
    /// knows those).
    async fn custom_role(
        &mut self,
        organization: OrganizationId,
        key: &RoleKey,
    ) -> Result<Option<CustomRole>, StoreError>;
    /// Every custom role of the organization, oldest first.
    async fn custom_roles(
        &mut self,
        organization: OrganizationId,
    ) -> Result<Vec<CustomRole>, StoreError>;
    /// Whether a member, or an invitation stored as pending (expired or
    /// not: a resend revives it), holds the role.
    async fn role_in_use(
        &mut self,
        organization: OrganizationId,
        key: &RoleKey,
    ) -> Result<bool, StoreError>;
    /// The organization made at the user's sign-up, while it exists.
    async fn default_organization(
        &mut self,
        user: UserId,
    ) -> Result<Option<OrganizationId>, StoreError>;
    /// The stored choice of active organization, accessible or not.
    async fn active_organization(
        &mut self,
        user: UserId,
    ) -> Result<Option<OrganizationId>, StoreError>;
    /// Existing resources, and chat messages sent in `month`.
    async fn usage(
        &mut self,
        organization: OrganizationId,
        month: Month,
    ) -> Result<Usage, StoreError>;
    /// A resource that exists (not deleted), of any kind.
    async fn resource(
        &mut self,
        organization: OrganizationId,
        id: ResourceId,
    ) -> Result<Option<Resource>, StoreError>;
    /// The existing resources of a kind, oldest first.
    async fn resources(
        &mut self,
        organization: OrganizationId,
        kind: ResourceKind,
    ) -> Result<Vec<Resource>, StoreError>;
    /// A connection's credentials, decrypted; an error if they do not open
    /// (tampered with, or bound to another organization or connection).
    async fn connection_credentials(
        &mut self,
        organization: OrganizationId,
        connection: ResourceId,
    ) -> Result<Option<Credentials>, StoreError>;
    async fn report_run(
        &mut self,
        organization: OrganizationId,
        id: ReportRunId,
    ) -> Result<Option<ReportRun>, StoreError>;
    /// The runs of a report, oldest first.
    async fn report_runs(
        &mut self,
        organization: OrganizationId,
        report: ResourceId,
    ) -> Result<Vec<ReportRun>, StoreError>;
    /// One member's pins in an organization, oldest first.
    async fn pins(
        &mut self,
        organization: OrganizationId,
        user: UserId,
    ) -> Result<Vec<Pin>, StoreError>;
    /// One member's chats in an organization, oldest first.
    async fn chats(
        &mut self,
        organization: OrganizationId,
        user: UserId,
    ) -> Result<Vec<Chat>, StoreError>;
    /// The messages of a chat, oldest first.
    async fn chat_messages(
        &mut self,
        organization: OrganizationId,
        chat: ChatId,
    ) -> Result<Vec<ChatMessage>, StoreError>;
    /// One member's investigations in an organization, oldest first.
    async fn investigations(
        &mut self,
        organization: OrganizationId,
        user: UserId,
    ) -> Result<Vec<Investigation>, StoreError>;
    async fn chat(
        &mut self,
        organization: OrganizationId,
        id: ChatId,
    ) -> Result<Option<Chat>, StoreError>;
    /// Makes one decided change.
    async fn apply(&mut self, write: &Write) -> Result<(), StoreError>;
    /// Commits. The transaction must not be used afterwards.
    async fn commit(&mut self) -> Result<(), StoreError>;
}

/// Checks a password against a stored hash: slowly, outside any
/// transaction. Sign-in opens a session only on its word.
#[async_trait]
pub trait PasswordVerifier: Send + Sync {
    /// Whether `password` matches `hash`. With no hash (no such account) it
    /// spends about the same time and says no, so that timing tells nobody
    /// which addresses have accounts.
    async fn verify(&self, password: &str, hash: Option<&PasswordHash>)
    -> Result<bool, StoreError>;
}

/// What the service knows of the request it serves, for the audit log: the
/// HTTP layer answers with the request's `x-request-id`.
pub trait RequestContext: Send + Sync {
    /// The id of the request being served, if any.
    fn request_id(&self) -> Option<String>;
}

/// The time, in UTC.
#[cfg_attr(any(test, feature = "test-util"), mockall::automock)]
pub trait Clock: Send + Sync {
    fn now(&self) -> DateTime<Utc>;
}

impl<T: Clock + ?Sized> Clock for std::sync::Arc<T> {
    fn now(&self) -> DateTime<Utc> {
        (**self).now()
    }
}

/// Fresh unique ids (UUID v7 in production: time-ordered, so indexes stay compact).
#[cfg_attr(any(test, feature = "test-util"), mockall::automock)]
pub trait IdGenerator: Send + Sync {
    fn new_id(&self) -> Uuid;
}

/// 256 bits from a cryptographically secure source, for tokens.
#[cfg_attr(any(test, feature = "test-util"), mockall::automock)]
pub trait TokenGenerator: Send + Sync {
    fn generate(&self) -> [u8; 32];
}

/// Where a knowledge file's content is kept: one blob per file of an
/// organization.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct BlobKey {
    pub organization_id: OrganizationId,
    pub file_id: ResourceId,
}

/// Content written to a blob store's staging area: whole, but under no key,
/// so that no reader sees it until it is published. The store names it.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct StagedBlob(String);

impl StagedBlob {
    /// The staged blob of the store's name for it.
    pub fn new(name: impl Into<String>) -> Self {
        Self(name.into())
    }

    /// The store's name for it.
    pub fn name(&self) -> &str {
        &self.0
    }
}

/// Bytes to read in chunks, never held whole: an upload on its way in, a
/// blob on its way out.
pub trait Content: AsyncRead + Send + Unpin {}

impl<T: AsyncRead + Send + Unpin + ?Sized> Content for T {}

/// An upload's content, borrowed for as long as it is read.
pub type Incoming<'a> = dyn Content + 'a;

/// A blob's content, to read in chunks.
pub type BlobReader = Box<dyn Content>;

/// The contents of knowledge files, kept apart from the database (a folder
/// by default; an object store fits the same calls).
///
/// An upload streams into a staged blob first. The use case publishes it
/// under the file's key once the file is decided on (capability, quota),
/// just before the row is committed, and erases the key again if the commit
/// fails; the staged blob goes in the end either way. So a committed row
/// always has its content, and a refused upload leaves nothing. A crash
/// leaves at worst a staged blob, which no reader sees and which the store
/// sweeps away, or a published blob that no row names.
#[cfg_attr(any(test, feature = "test-util"), mockall::automock)]
#[async_trait]
pub trait BlobStore: Send + Sync {
    /// Copies `content` to its end into a new staged blob. When reading
    /// `content` or writing fails, nothing is left staged.
    async fn stage<'a>(&self, content: &'a mut Incoming<'a>) -> Result<StagedBlob, StoreError>;
    /// Makes a staged blob's content readable under `key`, at once (a reader
    /// sees all of it or nothing). The staged blob stays until discarded.
    async fn publish(&self, staged: &StagedBlob, key: BlobKey) -> Result<(), StoreError>;
    /// Erases a staged blob; erasing what is not there is no error.
    async fn discard(&self, staged: &StagedBlob) -> Result<(), StoreError>;
    /// The content under the key, if any, to read in chunks.
    async fn open(&self, key: BlobKey) -> Result<Option<BlobReader>, StoreError>;
    /// Erases the content under the key; erasing what is not there is no error.
    async fn delete(&self, key: BlobKey) -> Result<(), StoreError>;
    /// Erases every blob of the organization, published or not (the purge,
    /// D17); erasing what is not there is no error.
    async fn delete_organization(&self, organization: OrganizationId) -> Result<(), StoreError>;
}

/// An email in the outbox, with its delivery attempts so far.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueuedMail {
    pub mail: OutgoingMail,
    pub attempts: u32,
}

/// One running delivery worker, as the holder of the emails it claimed: a
/// fresh random id each time a worker starts. A claim names its worker, so
/// that a worker whose lease ran out, and whose emails another worker then
/// took, can no longer renew, fail or release them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct WorkerId(Uuid);

impl WorkerId {
    pub const fn from_uuid(uuid: Uuid) -> Self {
        Self(uuid)
    }

    pub const fn as_uuid(&self) -> Uuid {
        self.0
    }
}

/// The delivery side of the outbox (D11): the worker takes what is due,
/// hands it to a transport, and records the result.
///
/// A claim is a lease: the worker that holds it renews it while it is still
/// delivering, and a worker that stops (a crash, `kill -9`) leaves emails
/// that are due again for anyone once the lease ends.
#[cfg_attr(any(test, feature = "test-util"), mockall::automock)]
#[async_trait]
pub trait MailOutbox: Send + Sync {
    /// Emails not yet sent whose next attempt is due at `now`, oldest first.
    async fn due(&self, now: DateTime<Utc>, limit: usize) -> Result<Vec<QueuedMail>, StoreError>;
    /// Takes up to `limit` emails due at `now` for `worker` alone, oldest
    /// first: they are due for no one else until `lease_until` (or until the
    /// end of a renewed lease), unless marked sent or failed, or released,
    /// before. Workers of several instances on one outbox take different
    /// emails, so each is sent once while its worker lives.
    async fn claim(
        &self,
        worker: WorkerId,
        now: DateTime<Utc>,
        lease_until: DateTime<Utc>,
        limit: usize,
    ) -> Result<Vec<QueuedMail>, StoreError>;
    /// Extends to `lease_until` the lease of those of `ids` that `worker`
    /// still holds (claimed by it, not sent, not released or failed, not
    /// taken by another worker after its lease ran out), and returns them.
    async fn renew(
        &self,
        worker: WorkerId,
        ids: &[MailId],
        lease_until: DateTime<Utc>,
    ) -> Result<Vec<MailId>, StoreError>;
    /// Gives back an email `worker` claimed and did not try: due again at
    /// `at`, with no attempt counted. Nothing changes if `worker` no longer
    /// holds it.
    async fn release(
        &self,
        worker: WorkerId,
        id: MailId,
        at: DateTime<Utc>,
    ) -> Result<(), StoreError>;
    /// Records the delivery, whoever holds the email now (it was delivered),
    /// and erases the email's token: a sent email keeps no secret.
    async fn mark_sent(&self, id: MailId, at: DateTime<Utc>) -> Result<(), StoreError>;
    /// Records a failed attempt of an email `worker` holds: one more attempt,
    /// due again at `next_attempt_at`. Nothing changes if `worker` no longer
    /// holds it, so that a late failure cannot shorten another worker's lease.
    async fn mark_failed(
        &self,
        worker: WorkerId,
        id: MailId,
        next_attempt_at: DateTime<Utc>,
        error: &str,
    ) -> Result<(), StoreError>;
}

/// The counts of the rate limits, kept where every instance sees them (the
/// database), so that a limit holds however many instances share it.
#[cfg_attr(any(test, feature = "test-util"), mockall::automock)]
#[async_trait]
pub trait RateLimiter: Send + Sync {
    /// Counts a hit of `key` at `now` if [`crate::limits::judge`] allows it
    /// under `limit`, atomically with every other hit of the key on every
    /// instance: of hits racing for the last slots, exactly as many pass as
    /// there are slots. A refused hit is not recorded.
    async fn hit(
        &self,
        key: &LimitKey,
        limit: RateLimit,
        now: DateTime<Utc>,
    ) -> Result<Result<(), RetryAfter>, StoreError>;
    /// Forgets every hit of `key` (a successful sign-in clears its failures).
    async fn clear(&self, key: &LimitKey) -> Result<(), StoreError>;
}

/// How long to wait before the next delivery attempt after `attempts` failed
/// ones: exponential from 5 seconds, capped at one hour, so that a mail
/// outage of any length loses nothing and does not hammer the server.
pub fn retry_delay(attempts: u32) -> Duration {
    let seconds = 5_i64.saturating_mul(1_i64 << attempts.min(12));
    Duration::seconds(seconds.min(3600))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_delay_grows_and_is_capped() {
        assert_eq!(retry_delay(0), Duration::seconds(5));
        assert_eq!(retry_delay(1), Duration::seconds(10));
        assert_eq!(retry_delay(5), Duration::seconds(160));
        assert_eq!(retry_delay(30), Duration::hours(1));
        assert_eq!(retry_delay(u32::MAX), Duration::hours(1));
    }
}
