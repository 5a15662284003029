//! The core's `Repository` and `Transaction` ports over sea-orm.

use std::sync::Arc;

use async_trait::async_trait;
use chrono::{DateTime, TimeZone, Utc};
use sea_orm::Statement;
use sea_orm::sea_query::{Expr, OnConflict};
use sea_orm::{
    ActiveValue::Set, ColumnTrait, Condition, ConnectionTrait, DatabaseConnection,
    DatabaseTransaction, DbErr, EntityTrait, FromQueryResult, PaginatorTrait, QueryFilter,
    QueryOrder, QuerySelect,
};
use tenancy_core::decide::{Change, Write};
use tenancy_core::entity::{
    AccountToken, AccountTokenPurpose, AccountTokenState, Chat, ChatMessage, ChatSubject,
    CustomRole, Invitation, InvitationState, MailContent, Organization, OwnershipTransfer,
    ScheduledDeletion, Session, User,
};
use tenancy_core::plan::{Month, PlanId, Usage};
use tenancy_core::ports::{Repository, Transaction};
use tenancy_core::resource::{
    Credentials, Details, Investigation, Pin, ReportRun, Resource, ResourceKind, ResourceName,
    RunStatus, Text,
};
use tenancy_core::token::TokenHash;
use tenancy_core::value::{
    DisplayName, EmailAddress, OrganizationName, PasswordHash, RoleDescription, RoleName,
};
use tenancy_core::{
    AccountTokenId, CapabilitySet, ChatId, InvestigationId, InvitationId, Membership, MessageId,
    OrganizationId, PinId, ReportRunId, ResourceId, Role, RoleKey, SessionId, StoreError,
    TransferId, UserId,
};
use uuid::Uuid;

use crate::crypto::Sealer;
use crate::entity::{
    account_token, active_organization, chat, chat_message, connection_credentials, investigation,
    invitation, mail, membership, organization, ownership_transfer, pin, report_run, resource,
    role, session, superseded_invitation_token, user,
};
use crate::{Backend, Store, backend_of, db_error};

/// A connection that a unit of work runs on: a transaction that commits,
/// or the pool itself for read-only work.
#[async_trait]
trait Unit: ConnectionTrait + Send + Sync + 'static {
    const WRITABLE: bool;
    async fn finish(self) -> Result<(), DbErr>;
}

#[async_trait]
impl Unit for DatabaseTransaction {
    const WRITABLE: bool = true;
    async fn finish(self) -> Result<(), DbErr> {
        self.commit().await
    }
}

#[async_trait]
impl Unit for DatabaseConnection {
    const WRITABLE: bool = false;
    async fn finish(self) -> Result<(), DbErr> {
        Ok(())
    }
}

struct SeaUnit<C> {
    conn: Option<C>,
    backend: Backend,
    sealer: Arc<Sealer>,
    /// The audit events written, published to subscribers once committed.
    recorded: Vec<tenancy_core::audit::AuditEvent>,
    events: tokio::sync::broadcast::Sender<tenancy_core::audit::AuditEvent>,
}

#[async_trait]
impl Repository for Store {
    async fn ping(&self) -> Result<(), StoreError> {
        Store::ping(self).await
    }

    async fn begin(&self) -> Result<Box<dyn Transaction>, StoreError> {
        let tx = self.begin_writing().await?;
        Ok(Box::new(SeaUnit {
            conn: Some(tx),
            backend: self.backend,
            sealer: Arc::clone(&self.sealer),
            recorded: Vec::new(),
            events: self.events.clone(),
        }))
    }

    async fn read(&self) -> Result<Box<dyn Transaction>, StoreError> {
        Ok(Box::new(SeaUnit {
            conn: Some(self.db.clone()),
            backend: self.backend,
            sealer: Arc::clone(&self.sealer),
            recorded: Vec::new(),
            events: self.events.clone(),
        }))
    }
}

fn corrupt(what: &str, detail: impl std::fmt::Display) -> StoreError {
    StoreError::other(format!("stored {what} is invalid: {detail}"))
}

/// A change to one row that found none was overtaken by a concurrent
/// transaction (or names another organization's row): nothing is written.
fn expect_one(rows: u64, what: &str) -> Result<(), StoreError> {
    if rows == 1 {
        Ok(())
    } else {
        Err(StoreError::contention(format!(
            "the {what} changed under a concurrent transaction"
        )))
    }
}

fn finished() -> StoreError {
    StoreError::other("the transaction was already committed")
}

fn to_user(m: user::Model) -> Result<User, StoreError> {
    Ok(User {
        id: UserId::from_uuid(m.id),
        email: EmailAddress::parse(&m.email).map_err(|e| corrupt("email", e))?,
        display_name: m
            .display_name
            .as_deref()
            .map(DisplayName::parse)
            .transpose()
            .map_err(|e| corrupt("display name", e))?,
        email_verified: m.email_verified_at.is_some(),
        created_at: m.created_at,
    })
}

fn hash_of(bytes: &[u8], what: &str) -> Result<TokenHash, StoreError> {
    let hash: [u8; 32] = bytes
        .try_into()
        .map_err(|_| corrupt(what, "not 32 bytes"))?;
    Ok(TokenHash::from_bytes(hash))
}

fn to_session(m: session::Model) -> Result<Session, StoreError> {
    Ok(Session {
        id: SessionId::from_uuid(m.id),
        token_hash: hash_of(&m.token_hash, "session token hash")?,
        user_id: UserId::from_uuid(m.user_id),
        created_at: m.created_at,
        last_used_at: m.last_used_at,
    })
}

const OPEN: &str = "open";
const USED: &str = "used";
const SUPERSEDED: &str = "superseded";

fn to_account_token(m: account_token::Model) -> Result<AccountToken, StoreError> {
    let changed = || {
        m.state_changed_at
            .ok_or_else(|| corrupt("account link", "a closed link without its time"))
    };
    let state = match m.state.as_str() {
        OPEN => AccountTokenState::Open,
        USED => AccountTokenState::Used { at: changed()? },
        SUPERSEDED => AccountTokenState::Superseded { at: changed()? },
        other => return Err(corrupt("account link state", other)),
    };
    Ok(AccountToken {
        id: AccountTokenId::from_uuid(m.id),
        user_id: UserId::from_uuid(m.user_id),
        purpose: AccountTokenPurpose::parse(&m.purpose)
            .ok_or_else(|| corrupt("account link purpose", &m.purpose))?,
        token_hash: hash_of(&m.token_hash, "account link hash")?,
        created_at: m.created_at,
        expires_at: m.expires_at,
        state,
    })
}

/// The stored kind of the email that offers an ownership transfer.
pub(crate) const TRANSFER_MAIL: &str = "ownership_transfer";

/// The stored kind of a queued email.
pub(crate) fn mail_kind(content: &MailContent) -> &'static str {
    match content {
        MailContent::Invitation { .. } => "invitation",
        MailContent::VerifyEmail { .. } => AccountTokenPurpose::VerifyEmail.name(),
        MailContent::ResetPassword { .. } => AccountTokenPurpose::ResetPassword.name(),
        MailContent::OwnershipTransfer { .. } => TRANSFER_MAIL,
    }
}

fn to_organization(m: organization::Model) -> Result<Organization, StoreError> {
    Ok(Organization {
        id: OrganizationId::from_uuid(m.id),
        name: OrganizationName::parse(&m.name).map_err(|e| corrupt("organization name", e))?,
        plan: PlanId::new(m.plan),
        owner_id: UserId::from_uuid(m.owner_id),
        created_at: m.created_at,
        deletion: match (m.deletion_requested_at, m.purge_after) {
            (Some(requested_at), Some(purge_after)) => Some(ScheduledDeletion {
                requested_at,
                purge_after,
            }),
            (None, None) => None,
            _ => return Err(corrupt("organization deletion", "one of its two instants")),
        },
    })
}

fn to_transfer(m: ownership_transfer::Model) -> OwnershipTransfer {
    OwnershipTransfer {
        id: TransferId::from_uuid(m.id),
        organization_id: OrganizationId::from_uuid(m.organization_id),
        from_user_id: UserId::from_uuid(m.from_user_id),
        to_user_id: UserId::from_uuid(m.to_user_id),
        created_at: m.created_at,
        expires_at: m.expires_at,
    }
}

/// The stored columns of a custom role's definition.
#[derive(Clone, Copy)]
struct Definition<'a> {
    name: &'a str,
    description: &'a str,
    capabilities: &'a str,
}

impl<'a> From<&'a role::Model> for Definition<'a> {
    fn from(m: &'a role::Model) -> Self {
        Self {
            name: &m.name,
            description: &m.description,
            capabilities: &m.capabilities,
        }
    }
}

/// A custom role as the store keeps it, made again through the core's
/// rules: a row that breaks them is reported, not served.
fn custom_definition(key: &str, definition: Definition<'_>) -> Result<Role, StoreError> {
    Role::custom(
        RoleKey::parse(key).map_err(|e| corrupt("role key", e))?,
        RoleName::parse(definition.name).map_err(|e| corrupt("role name", e))?,
        RoleDescription::parse(definition.description)
            .map_err(|e| corrupt("role description", e))?,
        CapabilitySet::from_names(definition.capabilities)
            .map_err(|e| corrupt("role capabilities", e))?,
    )
    .map_err(|e| corrupt("role", e))
}

/// The role a membership or an invitation row holds: `role` is its key,
/// `custom_role` the same key when it names a custom role (whose columns
/// the read joined as `definition`). `dead` is for an invitation no longer
/// pending, which may keep the key of a custom role deleted since: that
/// one reads as retired.
fn held_role(
    role: &str,
    custom_role: Option<&str>,
    definition: Option<Definition<'_>>,
    dead: bool,
) -> Result<Role, StoreError> {
    match (custom_role, definition) {
        (Some(key), Some(definition)) if key == role => custom_definition(key, definition),
        (Some(key), _) => Err(corrupt(
            "role",
            format!("the custom role `{key}` of a `{role}` row has no definition"),
        )),
        (None, _) => match Role::builtin(role) {
            Some(builtin) => Ok(builtin),
            None if dead => RoleKey::parse(role)
                .map(Role::retired)
                .map_err(|e| corrupt("role key", e)),
            None => Err(corrupt(
                "role",
                format!("`{role}` is neither a built-in role nor a custom one"),
            )),
        },
    }
}

/// The key to store in `custom_role`: the role's own for a custom role,
/// none for a built-in one.
fn custom_key(key: &RoleKey) -> Option<String> {
    (!key.is_builtin()).then(|| key.as_str().to_owned())
}

fn to_custom_role(m: &role::Model) -> Result<CustomRole, StoreError> {
    Ok(CustomRole {
        organization_id: OrganizationId::from_uuid(m.organization_id),
        role: custom_definition(&m.key, m.into())?,
        created_at: m.created_at,
        updated_at: m.updated_at,
    })
}

fn to_membership(m: membership::Model, r: Option<&role::Model>) -> Result<Membership, StoreError> {
    Ok(Membership {
        organization_id: OrganizationId::from_uuid(m.organization_id),
        user_id: UserId::from_uuid(m.user_id),
        role: held_role(&m.role, m.custom_role.as_deref(), r.map(Into::into), false)?,
        joined_at: m.joined_at,
    })
}

/// A membership with its custom role's columns, as the one-statement read
/// of authorization's hot path returns it.
#[derive(FromQueryResult)]
struct MembershipRow {
    organization_id: Uuid,
    user_id: Uuid,
    role: String,
    custom_role: Option<String>,
    joined_at: DateTime<Utc>,
    role_name: Option<String>,
    role_description: Option<String>,
    role_capabilities: Option<String>,
}

impl MembershipRow {
    fn into_membership(self) -> Result<Membership, StoreError> {
        let definition = match (
            &self.role_name,
            &self.role_description,
            &self.role_capabilities,
        ) {
            (Some(name), Some(description), Some(capabilities)) => Some(Definition {
                name,
                description,
                capabilities,
            }),
            _ => None,
        };
        Ok(Membership {
            organization_id: OrganizationId::from_uuid(self.organization_id),
            user_id: UserId::from_uuid(self.user_id),
            role: held_role(&self.role, self.custom_role.as_deref(), definition, false)?,
            joined_at: self.joined_at,
        })
    }
}

const PENDING: &str = "pending";

fn state_columns(state: InvitationState) -> (&'static str, Option<Uuid>, Option<DateTime<Utc>>) {
    match state {
        InvitationState::Pending => (PENDING, None, None),
        InvitationState::Accepted { by, at } => ("accepted", Some(by.as_uuid()), Some(at)),
        InvitationState::Revoked { at } => ("revoked", None, Some(at)),
        InvitationState::Expired => ("expired", None, None),
    }
}

fn to_invitation(m: invitation::Model, r: Option<&role::Model>) -> Result<Invitation, StoreError> {
    let state = match (m.state.as_str(), m.accepted_by, m.state_changed_at) {
        (PENDING, _, _) => InvitationState::Pending,
        ("accepted", Some(by), Some(at)) => InvitationState::Accepted {
            by: UserId::from_uuid(by),
            at,
        },
        ("revoked", _, Some(at)) => InvitationState::Revoked { at },
        ("expired", _, _) => InvitationState::Expired,
        (other, _, _) => return Err(corrupt("invitation state", other)),
    };
    let hash: [u8; 32] = m
        .token_hash
        .as_slice()
        .try_into()
        .map_err(|_| corrupt("token hash", "not 32 bytes"))?;
    Ok(Invitation {
        id: InvitationId::from_uuid(m.id),
        organization_id: OrganizationId::from_uuid(m.organization_id),
        email: EmailAddress::parse(&m.email).map_err(|e| corrupt("invitation email", e))?,
        role: held_role(
            &m.role,
            m.custom_role.as_deref(),
            r.map(Into::into),
            !matches!(state, InvitationState::Pending),
        )?,
        token_hash: TokenHash::from_bytes(hash),
        invited_by: UserId::from_uuid(m.invited_by),
        created_at: m.created_at,
        expires_at: m.expires_at,
        state,
    })
}

fn to_kind(name: &str) -> Result<ResourceKind, StoreError> {
    ResourceKind::from_name(name).ok_or_else(|| corrupt("resource kind", name))
}

fn to_resource(m: resource::Model) -> Result<Resource, StoreError> {
    let details: Details =
        serde_json::from_str(&m.details).map_err(|e| corrupt("resource details", e))?;
    if details.kind() != to_kind(&m.kind)? {
        return Err(corrupt("resource details", "of another kind"));
    }
    Ok(Resource {
        id: ResourceId::from_uuid(m.id),
        organization_id: OrganizationId::from_uuid(m.organization_id),
        name: ResourceName::parse(&m.name).map_err(|e| corrupt("resource name", e))?,
        details,
        created_by: UserId::from_uuid(m.created_by),
        created_at: m.created_at,
        updated_at: m.updated_at.unwrap_or(m.created_at),
    })
}

fn details_json(details: &Details) -> Result<String, StoreError> {
    serde_json::to_string(details).map_err(StoreError::other)
}

fn to_status(name: &str) -> Result<RunStatus, StoreError> {
    RunStatus::from_name(name).ok_or_else(|| corrupt("run status", name))
}

fn to_chat(m: chat::Model) -> Chat {
    let about = ResourceId::from_uuid(m.agent_id);
    Chat {
        id: ChatId::from_uuid(m.id),
        organization_id: OrganizationId::from_uuid(m.organization_id),
        created_by: UserId::from_uuid(m.created_by),
        subject: match m.report_run_id {
            None => ChatSubject::Agent(about),
            Some(run) => ChatSubject::ReportRun {
                report_id: about,
                run_id: ReportRunId::from_uuid(run),
            },
        },
        created_at: m.created_at,
    }
}

fn to_run(m: report_run::Model) -> Result<ReportRun, StoreError> {
    Ok(ReportRun {
        id: ReportRunId::from_uuid(m.id),
        organization_id: OrganizationId::from_uuid(m.organization_id),
        report_id: ResourceId::from_uuid(m.report_id),
        status: to_status(&m.status)?,
        triggered_by: UserId::from_uuid(m.triggered_by),
        created_at: m.created_at,
    })
}

/// Where a connection's sealed credentials belong: its organization and the
/// connection. Credentials copied to another row do not open (D9).
pub(crate) fn credentials_place(organization: Uuid, connection: Uuid) -> Vec<u8> {
    let mut place = b"connection_credentials/".to_vec();
    place.extend_from_slice(organization.as_bytes());
    place.extend_from_slice(connection.as_bytes());
    place
}

/// The first instant of a month and of the next, in UTC.
fn month_range(month: Month) -> Result<(DateTime<Utc>, DateTime<Utc>), StoreError> {
    let start = Utc
        .with_ymd_and_hms(month.year, month.month, 1, 0, 0, 0)
        .single()
        .ok_or_else(|| corrupt("month", month))?;
    let (year, next) = if month.month == 12 {
        (month.year + 1, 1)
    } else {
        (month.year, month.month + 1)
    };
    let end = Utc
        .with_ymd_and_hms(year, next, 1, 0, 0, 0)
        .single()
        .ok_or_else(|| corrupt("month", month))?;
    Ok((start, end))
}

impl<C: Unit> SeaUnit<C> {
    fn c(&self) -> Result<&C, StoreError> {
        self.conn.as_ref().ok_or_else(finished)
    }

    /// Locks the row of `id` (its primary key `column`) until the
    /// transaction ends, on PostgreSQL (`FOR UPDATE`); SQLite's writers
    /// already hold the database's write lock.
    async fn lock_row<E>(&self, id: Uuid, column: E::Column) -> Result<(), StoreError>
    where
        E: EntityTrait,
        Uuid: Into<<E::PrimaryKey as sea_orm::PrimaryKeyTrait>::ValueType>,
    {
        if self.backend == Backend::Postgres && C::WRITABLE {
            E::find_by_id(id)
                .select_only()
                .column(column)
                .lock_exclusive()
                .into_tuple::<Uuid>()
                .one(self.c()?)
                .await
                .map_err(db_error)?;
        }
        Ok(())
    }

    /// The sizes of an organization's live knowledge files, summed in the
    /// database: each size is in the file's details, which are JSON, so the
    /// sum reads them there rather than loading every row. The partial
    /// index of live resources serves the `WHERE`.
    async fn storage_bytes(&self, organization: OrganizationId) -> Result<u64, StoreError> {
        let sql = match self.backend {
            Backend::Sqlite => {
                "SELECT CAST(COALESCE(SUM(json_extract(details, '$.size_bytes')), 0) AS INTEGER) \
                 FROM resources \
                 WHERE organization_id = ? AND kind = 'knowledge_file' AND deleted_at IS NULL"
            }
            Backend::Postgres => {
                "SELECT CAST(COALESCE(SUM(CAST(CAST(details AS jsonb) ->> 'size_bytes' AS BIGINT)), 0) AS BIGINT) \
                 FROM resources \
                 WHERE organization_id = $1 AND kind = 'knowledge_file' AND deleted_at IS NULL"
            }
        };
        let statement = Statement::from_sql_and_values(
            self.c()?.get_database_backend(),
            sql,
            [organization.as_uuid().into()],
        );
        let total: i64 = match self.c()?.query_one_raw(statement).await.map_err(db_error)? {
            Some(row) => row.try_get_by_index(0).map_err(db_error)?,
            None => 0,
        };
        u64::try_from(total).map_err(|e| corrupt("storage bytes", e))
    }
}

/// Where a queued email's sealed token belongs: its mail and what the email
/// is about (the invitation, or the account link). A sealed token copied to
/// another row does not open.
pub(crate) fn mail_place(mail: Uuid, subject: Uuid) -> Vec<u8> {
    let mut place = b"mail_outbox/".to_vec();
    place.extend_from_slice(mail.as_bytes());
    place.extend_from_slice(subject.as_bytes());
    place
}

#[async_trait]
impl<C: Unit> Transaction for SeaUnit<C> {
    async fn lock_organization(&mut self, id: OrganizationId) -> Result<(), StoreError> {
        self.lock_row::<organization::Entity>(id.as_uuid(), organization::Column::Id)
            .await
    }

    async fn user(&mut self, id: UserId) -> Result<Option<User>, StoreError> {
        user::Entity::find_by_id(id.as_uuid())
            .one(self.c()?)
            .await
            .map_err(db_error)?
            .map(to_user)
            .transpose()
    }

    async fn user_by_email(&mut self, email: &EmailAddress) -> Result<Option<User>, StoreError> {
        user::Entity::find()
            .filter(user::Column::Email.eq(email.as_str()))
            .one(self.c()?)
            .await
            .map_err(db_error)?
            .map(to_user)
            .transpose()
    }

    async fn credentials(
        &mut self,
        email: &EmailAddress,
    ) -> Result<Option<(User, PasswordHash)>, StoreError> {
        let Some(row) = user::Entity::find()
            .filter(user::Column::Email.eq(email.as_str()))
            .one(self.c()?)
            .await
            .map_err(db_error)?
        else {
            return Ok(None);
        };
        let hash = PasswordHash::new(row.password_hash.clone());
        Ok(Some((to_user(row)?, hash)))
    }

    async fn lock_user(&mut self, id: UserId) -> Result<(), StoreError> {
        self.lock_row::<user::Entity>(id.as_uuid(), user::Column::Id)
            .await
    }

    async fn session(&mut self, token_hash: &TokenHash) -> Result<Option<Session>, StoreError> {
        session::Entity::find()
            .filter(session::Column::TokenHash.eq(token_hash.as_bytes().to_vec()))
            .one(self.c()?)
            .await
            .map_err(db_error)?
            .map(to_session)
            .transpose()
    }

    async fn session_by_id(&mut self, id: SessionId) -> Result<Option<Session>, StoreError> {
        session::Entity::find_by_id(id.as_uuid())
            .one(self.c()?)
            .await
            .map_err(db_error)?
            .map(to_session)
            .transpose()
    }

    async fn sessions_of(&mut self, user: UserId) -> Result<Vec<Session>, StoreError> {
        session::Entity::find()
            .filter(session::Column::UserId.eq(user.as_uuid()))
            .order_by_desc(session::Column::CreatedAt)
            .order_by_desc(session::Column::Id)
            .all(self.c()?)
            .await
            .map_err(db_error)?
            .into_iter()
            .map(to_session)
            .collect()
    }

    async fn account_token(
        &mut self,
        token_hash: &TokenHash,
    ) -> Result<Option<AccountToken>, StoreError> {
        account_token::Entity::find()
            .filter(account_token::Column::TokenHash.eq(token_hash.as_bytes().to_vec()))
            .one(self.c()?)
            .await
            .map_err(db_error)?
            .map(to_account_token)
            .transpose()
    }

    async fn organization(
        &mut self,
        id: OrganizationId,
    ) -> Result<Option<Organization>, StoreError> {
        organization::Entity::find_by_id(id.as_uuid())
            .one(self.c()?)
            .await
            .map_err(db_error)?
            .map(to_organization)
            .transpose()
    }

    async fn membership(
        &mut self,
        organization: OrganizationId,
        user: UserId,
    ) -> Result<Option<Membership>, StoreError> {
        // The hot path of authorization: one primary-key SELECT, with the
        // definition of a custom role joined in (by its primary key), so
        // that a role's new capabilities are in force on the next request
        // (D12). Raw, without the bound `LIMIT` that the query builder adds
        // to `one()`, which costs SQLite a third more time per lookup (see
        // docs/benchmarks.md).
        let sql = match self.backend {
            Backend::Sqlite => {
                "SELECT m.organization_id, m.user_id, m.role, m.custom_role, m.joined_at, \
                 r.name AS role_name, r.description AS role_description, \
                 r.capabilities AS role_capabilities \
                 FROM memberships m LEFT JOIN roles r \
                 ON r.organization_id = m.organization_id AND r.\"key\" = m.custom_role \
                 WHERE m.organization_id = ? AND m.user_id = ?"
            }
            Backend::Postgres => {
                "SELECT m.organization_id, m.user_id, m.role, m.custom_role, m.joined_at, \
                 r.name AS role_name, r.description AS role_description, \
                 r.capabilities AS role_capabilities \
                 FROM memberships m LEFT JOIN roles r \
                 ON r.organization_id = m.organization_id AND r.\"key\" = m.custom_role \
                 WHERE m.organization_id = $1 AND m.user_id = $2"
            }
        };
        let statement = Statement::from_sql_and_values(
            self.c()?.get_database_backend(),
            sql,
            [organization.as_uuid().into(), user.as_uuid().into()],
        );
        MembershipRow::find_by_statement(statement)
            .one(self.c()?)
            .await
            .map_err(db_error)?
            .map(MembershipRow::into_membership)
            .transpose()
    }

    async fn memberships_of_user(
        &mut self,
        user: UserId,
    ) -> Result<Vec<(Membership, Organization)>, StoreError> {
        let rows = membership::Entity::find()
            .filter(membership::Column::UserId.eq(user.as_uuid()))
            .find_also_related(organization::Entity)
            .find_also_related(role::Entity)
            .all(self.c()?)
            .await
            .map_err(db_error)?;
        rows.into_iter()
            .filter_map(|(m, o, r)| o.map(|o| (m, o, r)))
            .map(|(m, o, r)| Ok((to_membership(m, r.as_ref())?, to_organization(o)?)))
            .collect()
    }

    async fn members(
        &mut self,
        organization: OrganizationId,
    ) -> Result<Vec<(Membership, User)>, StoreError> {
        let rows = membership::Entity::find()
            .filter(membership::Column::OrganizationId.eq(organization.as_uuid()))
            .find_also_related(user::Entity)
            .find_also_related(role::Entity)
            .order_by_asc(membership::Column::JoinedAt)
            .order_by_asc(membership::Column::UserId)
            .all(self.c()?)
            .await
            .map_err(db_error)?;
        rows.into_iter()
            .filter_map(|(m, u, r)| u.map(|u| (m, u, r)))
            .map(|(m, u, r)| Ok((to_membership(m, r.as_ref())?, to_user(u)?)))
            .collect()
    }

    async fn invitation(
        &mut self,
        organization: OrganizationId,
        id: InvitationId,
    ) -> Result<Option<Invitation>, StoreError> {
        invitation::Entity::find_by_id(id.as_uuid())
            .filter(invitation::Column::OrganizationId.eq(organization.as_uuid()))
            .find_also_related(role::Entity)
            .one(self.c()?)
            .await
            .map_err(db_error)?
            .map(|(i, r)| to_invitation(i, r.as_ref()))
            .transpose()
    }

    async fn invitation_by_token(
        &mut self,
        hash: &TokenHash,
    ) -> Result<Option<Invitation>, StoreError> {
        invitation::Entity::find()
            .filter(invitation::Column::TokenHash.eq(hash.as_bytes().to_vec()))
            .find_also_related(role::Entity)
            .one(self.c()?)
            .await
            .map_err(db_error)?
            .map(|(i, r)| to_invitation(i, r.as_ref()))
            .transpose()
    }

    async fn open_invitation(
        &mut self,
        organization: OrganizationId,
        email: &EmailAddress,
    ) -> Result<Option<Invitation>, StoreError> {
        invitation::Entity::find()
            .filter(invitation::Column::OrganizationId.eq(organization.as_uuid()))
            .filter(invitation::Column::Email.eq(email.as_str()))
            .filter(invitation::Column::State.eq(PENDING))
            .find_also_related(role::Entity)
            .one(self.c()?)
            .await
            .map_err(db_error)?
            .map(|(i, r)| to_invitation(i, r.as_ref()))
            .transpose()
    }

    async fn invitation_token_superseded(&mut self, hash: &TokenHash) -> Result<bool, StoreError> {
        Ok(
            superseded_invitation_token::Entity::find_by_id(hash.as_bytes().to_vec())
                .one(self.c()?)
                .await
                .map_err(db_error)?
                .is_some(),
        )
    }

    async fn invitations(
        &mut self,
        organization: OrganizationId,
    ) -> Result<Vec<Invitation>, StoreError> {
        invitation::Entity::find()
            .filter(invitation::Column::OrganizationId.eq(organization.as_uuid()))
            .order_by_desc(invitation::Column::CreatedAt)
            .order_by_desc(invitation::Column::Id)
            .find_also_related(role::Entity)
            .all(self.c()?)
            .await
            .map_err(db_error)?
            .into_iter()
            .map(|(i, r)| to_invitation(i, r.as_ref()))
            .collect()
    }

    async fn default_organization(
        &mut self,
        user: UserId,
    ) -> Result<Option<OrganizationId>, StoreError> {
        Ok(user::Entity::find_by_id(user.as_uuid())
            .select_only()
            .column(user::Column::DefaultOrganizationId)
            .into_tuple::<Option<Uuid>>()
            .one(self.c()?)
            .await
            .map_err(db_error)?
            .flatten()
            .map(OrganizationId::from_uuid))
    }

    async fn audit_events(
        &mut self,
        organization: OrganizationId,
        query: &tenancy_core::audit::AuditQuery,
    ) -> Result<Vec<tenancy_core::audit::AuditEvent>, StoreError> {
        crate::audit::list(self.c()?, organization, query).await
    }

    async fn audit_events_after(
        &mut self,
        organization: OrganizationId,
        after: u64,
        limit: usize,
    ) -> Result<Vec<tenancy_core::audit::AuditEvent>, StoreError> {
        crate::audit::after(self.c()?, organization, after, limit).await
    }

    async fn webhooks(
        &mut self,
        organization: OrganizationId,
    ) -> Result<Vec<tenancy_core::webhook::Webhook>, StoreError> {
        crate::webhooks::list(self.c()?, organization).await
    }

    async fn webhook(
        &mut self,
        organization: OrganizationId,
        id: tenancy_core::id::WebhookId,
    ) -> Result<Option<tenancy_core::webhook::Webhook>, StoreError> {
        crate::webhooks::one(self.c()?, organization, id).await
    }

    async fn deliveries(
        &mut self,
        organization: OrganizationId,
        webhook: tenancy_core::id::WebhookId,
        before: Option<tenancy_core::id::DeliveryId>,
        limit: usize,
    ) -> Result<Vec<tenancy_core::webhook::Delivery>, StoreError> {
        crate::webhooks::deliveries(self.c()?, organization, webhook, before, limit).await
    }

    async fn delivery(
        &mut self,
        organization: OrganizationId,
        webhook: tenancy_core::id::WebhookId,
        id: tenancy_core::id::DeliveryId,
    ) -> Result<Option<tenancy_core::webhook::Delivery>, StoreError> {
        crate::webhooks::delivery(self.c()?, organization, webhook, id).await
    }

    async fn ownership_transfer(
        &mut self,
        organization: OrganizationId,
    ) -> Result<Option<OwnershipTransfer>, StoreError> {
        Ok(ownership_transfer::Entity::find()
            .filter(ownership_transfer::Column::OrganizationId.eq(organization.as_uuid()))
            .one(self.c()?)
            .await
            .map_err(db_error)?
            .map(to_transfer))
    }

    async fn due_purges(
        &mut self,
        now: DateTime<Utc>,
        limit: usize,
    ) -> Result<Vec<OrganizationId>, StoreError> {
        let limit = u64::try_from(limit)
            .unwrap_or(u64::MAX)
            .min(i64::MAX as u64);
        Ok(organization::Entity::find()
            .filter(organization::Column::PurgeAfter.lte(now))
            .order_by_asc(organization::Column::PurgeAfter)
            .order_by_asc(organization::Column::Id)
            .limit(limit)
            .all(self.c()?)
            .await
            .map_err(db_error)?
            .into_iter()
            .map(|o| OrganizationId::from_uuid(o.id))
            .collect())
    }

    async fn open_invitations(
        &mut self,
        organization: OrganizationId,
    ) -> Result<Vec<Invitation>, StoreError> {
        invitation::Entity::find()
            .filter(invitation::Column::OrganizationId.eq(organization.as_uuid()))
            .filter(invitation::Column::State.eq(PENDING))
            .order_by_asc(invitation::Column::CreatedAt)
            .order_by_asc(invitation::Column::Id)
            .find_also_related(role::Entity)
            .all(self.c()?)
            .await
            .map_err(db_error)?
            .into_iter()
            .map(|(i, r)| to_invitation(i, r.as_ref()))
            .collect()
    }

    async fn custom_role(
        &mut self,
        organization: OrganizationId,
        key: &RoleKey,
    ) -> Result<Option<CustomRole>, StoreError> {
        if key.is_builtin() {
            return Ok(None);
        }
        role::Entity::find_by_id((organization.as_uuid(), key.as_str().to_owned()))
            .one(self.c()?)
            .await
            .map_err(db_error)?
            .as_ref()
            .map(to_custom_role)
            .transpose()
    }

    async fn custom_roles(
        &mut self,
        organization: OrganizationId,
    ) -> Result<Vec<CustomRole>, StoreError> {
        role::Entity::find()
            .filter(role::Column::OrganizationId.eq(organization.as_uuid()))
            .order_by_asc(role::Column::CreatedAt)
            .order_by_asc(role::Column::Key)
            .all(self.c()?)
            .await
            .map_err(db_error)?
            .iter()
            .map(to_custom_role)
            .collect()
    }

    async fn role_in_use(
        &mut self,
        organization: OrganizationId,
        key: &RoleKey,
    ) -> Result<bool, StoreError> {
        // A custom role's holders name it in `custom_role`, which is
        // indexed; a built-in role's only in `role`.
        let (of_members, of_invitations) = if key.is_builtin() {
            (membership::Column::Role, invitation::Column::Role)
        } else {
            (
                membership::Column::CustomRole,
                invitation::Column::CustomRole,
            )
        };
        let member = membership::Entity::find()
            .select_only()
            .column(membership::Column::UserId)
            .filter(membership::Column::OrganizationId.eq(organization.as_uuid()))
            .filter(of_members.eq(key.as_str()))
            .into_tuple::<Uuid>()
            .one(self.c()?)
            .await
            .map_err(db_error)?;
        if member.is_some() {
            return Ok(true);
        }
        let invitation = invitation::Entity::find()
            .select_only()
            .column(invitation::Column::Id)
            .filter(invitation::Column::OrganizationId.eq(organization.as_uuid()))
            .filter(of_invitations.eq(key.as_str()))
            .filter(invitation::Column::State.eq(PENDING))
            .into_tuple::<Uuid>()
            .one(self.c()?)
            .await
            .map_err(db_error)?;
        Ok(invitation.is_some())
    }

    async fn active_organization(
        &mut self,
        user: UserId,
    ) -> Result<Option<OrganizationId>, StoreError> {
        Ok(active_organization::Entity::find_by_id(user.as_uuid())
            .one(self.c()?)
            .await
            .map_err(db_error)?
            .map(|m| OrganizationId::from_uuid(m.organization_id)))
    }

    async fn usage(
        &mut self,
        organization: OrganizationId,
        month: Month,
    ) -> Result<Usage, StoreError> {
        let counts: Vec<(String, i64)> = resource::Entity::find()
            .select_only()
            .column(resource::Column::Kind)
            .column_as(resource::Column::Id.count(), "count")
            .filter(resource::Column::OrganizationId.eq(organization.as_uuid()))
            .filter(resource::Column::DeletedAt.is_null())
            .group_by(resource::Column::Kind)
            .into_tuple()
            .all(self.c()?)
            .await
            .map_err(db_error)?;
        let mut usage = Usage::default();
        for (kind, count) in counts {
            let count = u64::try_from(count).map_err(|e| corrupt("count", e))?;
            match to_kind(&kind)? {
                ResourceKind::Agent => usage.agents = count,
                ResourceKind::Connection => usage.connections = count,
                ResourceKind::Report => usage.reports = count,
                ResourceKind::KnowledgeFile => usage.knowledge_files = count,
            }
        }
        if usage.knowledge_files > 0 {
            usage.storage_bytes = self.storage_bytes(organization).await?;
        }
        let (start, end) = month_range(month)?;
        usage.chat_messages_this_month = chat_message::Entity::find()
            .filter(chat_message::Column::OrganizationId.eq(organization.as_uuid()))
            .filter(chat_message::Column::CreatedAt.gte(start))
            .filter(chat_message::Column::CreatedAt.lt(end))
            .count(self.c()?)
            .await
            .map_err(db_error)?;
        Ok(usage)
    }

    async fn resource(
        &mut self,
        organization: OrganizationId,
        id: ResourceId,
    ) -> Result<Option<Resource>, StoreError> {
        resource::Entity::find_by_id(id.as_uuid())
            .filter(resource::Column::OrganizationId.eq(organization.as_uuid()))
            .filter(resource::Column::DeletedAt.is_null())
            .one(self.c()?)
            .await
            .map_err(db_error)?
            .map(to_resource)
            .transpose()
    }

    async fn resources(
        &mut self,
        organization: OrganizationId,
        kind: ResourceKind,
    ) -> Result<Vec<Resource>, StoreError> {
        resource::Entity::find()
            .filter(resource::Column::OrganizationId.eq(organization.as_uuid()))
            .filter(resource::Column::Kind.eq(kind.name()))
            .filter(resource::Column::DeletedAt.is_null())
            .order_by_asc(resource::Column::CreatedAt)
            .order_by_asc(resource::Column::Id)
            .all(self.c()?)
            .await
            .map_err(db_error)?
            .into_iter()
            .map(to_resource)
            .collect()
    }

    async fn connection_credentials(
        &mut self,
        organization: OrganizationId,
        connection: ResourceId,
    ) -> Result<Option<Credentials>, StoreError> {
        let Some(row) = connection_credentials::Entity::find_by_id(connection.as_uuid())
            .filter(connection_credentials::Column::OrganizationId.eq(organization.as_uuid()))
            .one(self.c()?)
            .await
            .map_err(db_error)?
        else {
            return Ok(None);
        };
        let place = credentials_place(organization.as_uuid(), connection.as_uuid());
        let plaintext = self
            .sealer
            .open(&row.key_id, &place, &row.sealed)
            .map_err(StoreError::other)?;
        Credentials::from_plaintext(&plaintext)
            .map(Some)
            .map_err(|e| corrupt("credentials", e))
    }

    async fn report_run(
        &mut self,
        organization: OrganizationId,
        id: ReportRunId,
    ) -> Result<Option<ReportRun>, StoreError> {
        report_run::Entity::find_by_id(id.as_uuid())
            .filter(report_run::Column::OrganizationId.eq(organization.as_uuid()))
            .one(self.c()?)
            .await
            .map_err(db_error)?
            .map(to_run)
            .transpose()
    }

    async fn report_runs(
        &mut self,
        organization: OrganizationId,
        report: ResourceId,
    ) -> Result<Vec<ReportRun>, StoreError> {
        report_run::Entity::find()
            .filter(report_run::Column::OrganizationId.eq(organization.as_uuid()))
            .filter(report_run::Column::ReportId.eq(report.as_uuid()))
            .order_by_asc(report_run::Column::CreatedAt)
            .order_by_asc(report_run::Column::Id)
            .all(self.c()?)
            .await
            .map_err(db_error)?
            .into_iter()
            .map(to_run)
            .collect()
    }

    async fn pins(
        &mut self,
        organization: OrganizationId,
        user: UserId,
    ) -> Result<Vec<Pin>, StoreError> {
        pin::Entity::find()
            .filter(pin::Column::OrganizationId.eq(organization.as_uuid()))
            .filter(pin::Column::UserId.eq(user.as_uuid()))
            .order_by_asc(pin::Column::CreatedAt)
            .order_by_asc(pin::Column::Id)
            .all(self.c()?)
            .await
            .map_err(db_error)?
            .into_iter()
            .map(|m| {
                Ok(Pin {
                    id: PinId::from_uuid(m.id),
                    organization_id: OrganizationId::from_uuid(m.organization_id),
                    user_id: UserId::from_uuid(m.user_id),
                    item_kind: to_kind(&m.item_kind)?,
                    item_id: ResourceId::from_uuid(m.item_id),
                    created_at: m.created_at,
                })
            })
            .collect()
    }

    async fn chats(
        &mut self,
        organization: OrganizationId,
        user: UserId,
    ) -> Result<Vec<Chat>, StoreError> {
        Ok(chat::Entity::find()
            .filter(chat::Column::OrganizationId.eq(organization.as_uuid()))
            .filter(chat::Column::CreatedBy.eq(user.as_uuid()))
            .order_by_asc(chat::Column::CreatedAt)
            .order_by_asc(chat::Column::Id)
            .all(self.c()?)
            .await
            .map_err(db_error)?
            .into_iter()
            .map(to_chat)
            .collect())
    }

    async fn chat_messages(
        &mut self,
        organization: OrganizationId,
        chat: ChatId,
    ) -> Result<Vec<ChatMessage>, StoreError> {
        chat_message::Entity::find()
            .filter(chat_message::Column::OrganizationId.eq(organization.as_uuid()))
            .filter(chat_message::Column::ChatId.eq(chat.as_uuid()))
            .order_by_asc(chat_message::Column::CreatedAt)
            .order_by_asc(chat_message::Column::Id)
            .all(self.c()?)
            .await
            .map_err(db_error)?
            .into_iter()
            .map(|m| {
                Ok(ChatMessage {
                    id: MessageId::from_uuid(m.id),
                    chat_id: ChatId::from_uuid(m.chat_id),
                    organization_id: OrganizationId::from_uuid(m.organization_id),
                    sent_by: UserId::from_uuid(m.sent_by),
                    content: Text::parse(&m.content).map_err(|e| corrupt("message", e))?,
                    created_at: m.created_at,
                })
            })
            .collect()
    }

    async fn investigations(
        &mut self,
        organization: OrganizationId,
        user: UserId,
    ) -> Result<Vec<Investigation>, StoreError> {
        investigation::Entity::find()
            .filter(investigation::Column::OrganizationId.eq(organization.as_uuid()))
            .filter(investigation::Column::CreatedBy.eq(user.as_uuid()))
            .order_by_asc(investigation::Column::CreatedAt)
            .order_by_asc(investigation::Column::Id)
            .all(self.c()?)
            .await
            .map_err(db_error)?
            .into_iter()
            .map(|m| {
                Ok(Investigation {
                    id: InvestigationId::from_uuid(m.id),
                    organization_id: OrganizationId::from_uuid(m.organization_id),
                    agent_id: ResourceId::from_uuid(m.agent_id),
                    question: Text::parse(&m.question).map_err(|e| corrupt("question", e))?,
                    status: to_status(&m.status)?,
                    created_by: UserId::from_uuid(m.created_by),
                    created_at: m.created_at,
                })
            })
            .collect()
    }

    async fn chat(
        &mut self,
        organization: OrganizationId,
        id: ChatId,
    ) -> Result<Option<Chat>, StoreError> {
        Ok(chat::Entity::find_by_id(id.as_uuid())
            .filter(chat::Column::OrganizationId.eq(organization.as_uuid()))
            .one(self.c()?)
            .await
            .map_err(db_error)?
            .map(to_chat))
    }

    #[expect(clippy::too_many_lines, reason = "one arm per kind of change")]
    async fn apply(&mut self, write: &Write) -> Result<(), StoreError> {
        let change = write.change();
        if !C::WRITABLE {
            return Err(StoreError::other("a read-only unit of work cannot write"));
        }
        let c = self.c()?;
        match change {
            Change::InsertUser {
                user,
                password_hash,
            } => {
                user::Entity::insert(user::ActiveModel {
                    id: Set(user.id.as_uuid()),
                    email: Set(user.email.as_str().to_owned()),
                    display_name: Set(user.display_name.as_ref().map(|n| n.as_str().to_owned())),
                    password_hash: Set(password_hash.as_str().to_owned()),
                    created_at: Set(user.created_at),
                    email_verified_at: Set(user.email_verified.then_some(user.created_at)),
                    default_organization_id: Set(None),
                })
                .exec_without_returning(c)
                .await
                .map_err(db_error)?;
            }
            Change::InsertOrganization(o) => {
                organization::Entity::insert(organization::ActiveModel {
                    id: Set(o.id.as_uuid()),
                    name: Set(o.name.as_str().to_owned()),
                    plan: Set(o.plan.as_str().to_owned()),
                    owner_id: Set(o.owner_id.as_uuid()),
                    created_at: Set(o.created_at),
                    deletion_requested_at: Set(o.deletion.map(|d| d.requested_at)),
                    purge_after: Set(o.deletion.map(|d| d.purge_after)),
                })
                .exec_without_returning(c)
                .await
                .map_err(db_error)?;
            }
            Change::InsertMembership(m) => {
                membership::Entity::insert(membership::ActiveModel {
                    organization_id: Set(m.organization_id.as_uuid()),
                    user_id: Set(m.user_id.as_uuid()),
                    role: Set(m.role.key().as_str().to_owned()),
                    custom_role: Set(custom_key(m.role.key())),
                    joined_at: Set(m.joined_at),
                })
                .exec_without_returning(c)
                .await
                .map_err(db_error)?;
            }
            Change::SetMemberRole {
                organization_id,
                user_id,
                role,
            } => {
                let updated = membership::Entity::update_many()
                    .col_expr(membership::Column::Role, Expr::value(role.as_str()))
                    .col_expr(
                        membership::Column::CustomRole,
                        Expr::value(custom_key(role)),
                    )
                    .filter(membership::Column::OrganizationId.eq(organization_id.as_uuid()))
                    .filter(membership::Column::UserId.eq(user_id.as_uuid()))
                    .exec(c)
                    .await
                    .map_err(db_error)?;
                expect_one(updated.rows_affected, "membership")?;
            }
            Change::InsertRole(custom) => {
                role::Entity::insert(role::ActiveModel {
                    organization_id: Set(custom.organization_id.as_uuid()),
                    key: Set(custom.role.key().as_str().to_owned()),
                    name: Set(custom.role.name().as_str().to_owned()),
                    description: Set(custom.role.description().as_str().to_owned()),
                    capabilities: Set(custom.role.capabilities().to_names()),
                    created_at: Set(custom.created_at),
                    updated_at: Set(custom.updated_at),
                })
                .exec_without_returning(c)
                .await
                .map_err(db_error)?;
            }
            Change::UpdateRole(custom) => {
                let updated = role::Entity::update_many()
                    .col_expr(role::Column::Name, Expr::value(custom.role.name().as_str()))
                    .col_expr(
                        role::Column::Description,
                        Expr::value(custom.role.description().as_str()),
                    )
                    .col_expr(
                        role::Column::Capabilities,
                        Expr::value(custom.role.capabilities().to_names()),
                    )
                    .col_expr(role::Column::UpdatedAt, Expr::value(custom.updated_at))
                    .filter(role::Column::OrganizationId.eq(custom.organization_id.as_uuid()))
                    .filter(role::Column::Key.eq(custom.role.key().as_str()))
                    .exec(c)
                    .await
                    .map_err(db_error)?;
                expect_one(updated.rows_affected, "role")?;
            }
            Change::ReassignRole {
                organization_id,
                from,
                to,
            } => {
                membership::Entity::update_many()
                    .col_expr(membership::Column::Role, Expr::value(to.as_str()))
                    .col_expr(membership::Column::CustomRole, Expr::value(custom_key(to)))
                    .filter(membership::Column::OrganizationId.eq(organization_id.as_uuid()))
                    .filter(membership::Column::Role.eq(from.as_str()))
                    .exec(c)
                    .await
                    .map_err(db_error)?;
                invitation::Entity::update_many()
                    .col_expr(invitation::Column::Role, Expr::value(to.as_str()))
                    .col_expr(invitation::Column::CustomRole, Expr::value(custom_key(to)))
                    .filter(invitation::Column::OrganizationId.eq(organization_id.as_uuid()))
                    .filter(invitation::Column::Role.eq(from.as_str()))
                    .filter(invitation::Column::State.eq(PENDING))
                    .exec(c)
                    .await
                    .map_err(db_error)?;
            }
            Change::DeleteRole {
                organization_id,
                key,
            } => {
                // Dead invitations keep the key as history, without the
                // foreign key; a member or a pending invitation still
                // holding the role makes the database refuse the deletion.
                invitation::Entity::update_many()
                    .col_expr(invitation::Column::CustomRole, Expr::value(None::<String>))
                    .filter(invitation::Column::OrganizationId.eq(organization_id.as_uuid()))
                    .filter(invitation::Column::CustomRole.eq(key.as_str()))
                    .filter(invitation::Column::State.ne(PENDING))
                    .exec(c)
                    .await
                    .map_err(db_error)?;
                let deleted = role::Entity::delete_many()
                    .filter(role::Column::OrganizationId.eq(organization_id.as_uuid()))
                    .filter(role::Column::Key.eq(key.as_str()))
                    .exec(c)
                    .await
                    .map_err(db_error)?;
                expect_one(deleted.rows_affected, "role")?;
            }
            Change::DeleteMembership {
                organization_id,
                user_id,
            } => {
                membership::Entity::delete_many()
                    .filter(membership::Column::OrganizationId.eq(organization_id.as_uuid()))
                    .filter(membership::Column::UserId.eq(user_id.as_uuid()))
                    .exec(c)
                    .await
                    .map_err(db_error)?;
            }
            Change::RenameOrganization {
                organization_id,
                name,
            } => {
                organization::Entity::update_many()
                    .col_expr(organization::Column::Name, name.as_str().into())
                    .filter(organization::Column::Id.eq(organization_id.as_uuid()))
                    .exec(c)
                    .await
                    .map_err(db_error)?;
            }
            Change::ChangePlan {
                organization_id,
                plan,
            } => {
                organization::Entity::update_many()
                    .col_expr(organization::Column::Plan, plan.as_str().into())
                    .filter(organization::Column::Id.eq(organization_id.as_uuid()))
                    .exec(c)
                    .await
                    .map_err(db_error)?;
            }
            Change::InsertInvitation(i) => {
                let (state, accepted_by, changed_at) = state_columns(i.state);
                invitation::Entity::insert(invitation::ActiveModel {
                    id: Set(i.id.as_uuid()),
                    organization_id: Set(i.organization_id.as_uuid()),
                    email: Set(i.email.as_str().to_owned()),
                    role: Set(i.role.key().as_str().to_owned()),
                    custom_role: Set(custom_key(i.role.key())),
                    token_hash: Set(i.token_hash.as_bytes().to_vec()),
                    invited_by: Set(i.invited_by.as_uuid()),
                    created_at: Set(i.created_at),
                    expires_at: Set(i.expires_at),
                    state: Set(state.to_owned()),
                    accepted_by: Set(accepted_by),
                    state_changed_at: Set(changed_at),
                })
                .exec_without_returning(c)
                .await
                .map_err(db_error)?;
            }
            Change::SetInvitationState {
                organization_id,
                invitation_id,
                state,
            } => {
                let (name, accepted_by, changed_at) = state_columns(*state);
                let updated = invitation::Entity::update_many()
                    .col_expr(invitation::Column::State, name.into())
                    .col_expr(invitation::Column::AcceptedBy, accepted_by.into())
                    .col_expr(invitation::Column::StateChangedAt, changed_at.into())
                    .filter(invitation::Column::Id.eq(invitation_id.as_uuid()))
                    .filter(invitation::Column::OrganizationId.eq(organization_id.as_uuid()))
                    .filter(invitation::Column::State.eq(PENDING))
                    .exec(c)
                    .await
                    .map_err(db_error)?;
                // Only an open invitation changes state; if it did not, a
                // concurrent transaction closed it first.
                if updated.rows_affected != 1 {
                    return Err(StoreError::contention(
                        "the invitation was closed by a concurrent transaction",
                    ));
                }
            }
            Change::SetDefaultOrganization {
                user_id,
                organization_id,
            } => {
                let updated = user::Entity::update_many()
                    .col_expr(
                        user::Column::DefaultOrganizationId,
                        Expr::value(organization_id.as_uuid()),
                    )
                    .filter(user::Column::Id.eq(user_id.as_uuid()))
                    .exec(c)
                    .await
                    .map_err(db_error)?;
                expect_one(updated.rows_affected, "user")?;
            }
            Change::ResendInvitation {
                organization_id,
                invitation_id,
                token_hash,
                expires_at,
            } => {
                let previous = invitation::Entity::find_by_id(invitation_id.as_uuid())
                    .filter(invitation::Column::OrganizationId.eq(organization_id.as_uuid()))
                    .filter(invitation::Column::State.is_in([PENDING, "expired"]))
                    .one(c)
                    .await
                    .map_err(db_error)?
                    .ok_or_else(|| {
                        StoreError::contention(
                            "the invitation was closed by a concurrent transaction",
                        )
                    })?;
                superseded_invitation_token::Entity::insert(
                    superseded_invitation_token::ActiveModel {
                        token_hash: Set(previous.token_hash),
                        organization_id: Set(organization_id.as_uuid()),
                        invitation_id: Set(invitation_id.as_uuid()),
                        superseded_at: Set(Utc::now()),
                    },
                )
                .exec_without_returning(c)
                .await
                .map_err(db_error)?;
                let updated = invitation::Entity::update_many()
                    .col_expr(
                        invitation::Column::TokenHash,
                        Expr::value(token_hash.as_bytes().to_vec()),
                    )
                    .col_expr(invitation::Column::ExpiresAt, Expr::value(*expires_at))
                    .col_expr(invitation::Column::State, Expr::value(PENDING))
                    .col_expr(invitation::Column::AcceptedBy, Expr::value(None::<Uuid>))
                    .col_expr(
                        invitation::Column::StateChangedAt,
                        Expr::value(None::<DateTime<Utc>>),
                    )
                    .filter(invitation::Column::Id.eq(invitation_id.as_uuid()))
                    .filter(invitation::Column::OrganizationId.eq(organization_id.as_uuid()))
                    .filter(invitation::Column::State.is_in([PENDING, "expired"]))
                    .exec(c)
                    .await
                    .map_err(db_error)?;
                expect_one(updated.rows_affected, "invitation")?;
            }
            Change::InsertTransfer(t) => {
                ownership_transfer::Entity::insert(ownership_transfer::ActiveModel {
                    id: Set(t.id.as_uuid()),
                    organization_id: Set(t.organization_id.as_uuid()),
                    from_user_id: Set(t.from_user_id.as_uuid()),
                    to_user_id: Set(t.to_user_id.as_uuid()),
                    created_at: Set(t.created_at),
                    expires_at: Set(t.expires_at),
                })
                .exec_without_returning(c)
                .await
                .map_err(db_error)?;
            }
            Change::DeleteTransfer {
                organization_id,
                id,
            } => {
                let deleted = ownership_transfer::Entity::delete_many()
                    .filter(ownership_transfer::Column::Id.eq(id.as_uuid()))
                    .filter(
                        ownership_transfer::Column::OrganizationId.eq(organization_id.as_uuid()),
                    )
                    .exec(c)
                    .await
                    .map_err(db_error)?;
                expect_one(deleted.rows_affected, "ownership transfer")?;
            }
            Change::TransferOwnership {
                organization_id,
                from,
                to,
            } => {
                // The previous owner is demoted first: the database allows
                // one owner's membership per organization at every moment.
                let previous = tenancy_core::decide::PREVIOUS_OWNER_ROLE;
                let demoted = membership::Entity::update_many()
                    .col_expr(
                        membership::Column::Role,
                        Expr::value(previous.key().as_str()),
                    )
                    .col_expr(membership::Column::CustomRole, Expr::value(None::<String>))
                    .filter(membership::Column::OrganizationId.eq(organization_id.as_uuid()))
                    .filter(membership::Column::UserId.eq(from.as_uuid()))
                    .filter(membership::Column::Role.eq(RoleKey::OWNER.as_str()))
                    .exec(c)
                    .await
                    .map_err(db_error)?;
                expect_one(demoted.rows_affected, "owner's membership")?;
                let promoted = membership::Entity::update_many()
                    .col_expr(
                        membership::Column::Role,
                        Expr::value(RoleKey::OWNER.as_str()),
                    )
                    .col_expr(membership::Column::CustomRole, Expr::value(None::<String>))
                    .filter(membership::Column::OrganizationId.eq(organization_id.as_uuid()))
                    .filter(membership::Column::UserId.eq(to.as_uuid()))
                    .exec(c)
                    .await
                    .map_err(db_error)?;
                expect_one(promoted.rows_affected, "new owner's membership")?;
                let moved = organization::Entity::update_many()
                    .col_expr(organization::Column::OwnerId, Expr::value(to.as_uuid()))
                    .filter(organization::Column::Id.eq(organization_id.as_uuid()))
                    .filter(organization::Column::OwnerId.eq(from.as_uuid()))
                    .exec(c)
                    .await
                    .map_err(db_error)?;
                expect_one(moved.rows_affected, "organization's owner")?;
            }
            Change::ScheduleDeletion {
                organization_id,
                deletion,
            } => {
                let updated = organization::Entity::update_many()
                    .col_expr(
                        organization::Column::DeletionRequestedAt,
                        Expr::value(deletion.requested_at),
                    )
                    .col_expr(
                        organization::Column::PurgeAfter,
                        Expr::value(deletion.purge_after),
                    )
                    .filter(organization::Column::Id.eq(organization_id.as_uuid()))
                    .filter(organization::Column::PurgeAfter.is_null())
                    .exec(c)
                    .await
                    .map_err(db_error)?;
                expect_one(updated.rows_affected, "organization")?;
            }
            Change::RestoreOrganization { organization_id } => {
                let updated = organization::Entity::update_many()
                    .col_expr(
                        organization::Column::DeletionRequestedAt,
                        Expr::value(None::<DateTime<Utc>>),
                    )
                    .col_expr(
                        organization::Column::PurgeAfter,
                        Expr::value(None::<DateTime<Utc>>),
                    )
                    .filter(organization::Column::Id.eq(organization_id.as_uuid()))
                    .filter(organization::Column::PurgeAfter.is_not_null())
                    .exec(c)
                    .await
                    .map_err(db_error)?;
                expect_one(updated.rows_affected, "organization")?;
            }
            Change::PurgeOrganization { organization_id } => {
                purge_organization(c, self.backend, *organization_id).await?;
            }
            Change::Audit(entry) => {
                let stamp = write
                    .stamp()
                    .ok_or_else(|| StoreError::other("an audit entry is written stamped"))?;
                let event = crate::audit::record(c, self.backend, entry, stamp).await?;
                crate::webhooks::fan_out(c, &event).await?;
                self.recorded.push(event);
            }
            Change::InsertWebhook { webhook, secret } => {
                crate::webhooks::insert(c, &self.sealer, webhook, secret).await?;
            }
            Change::UpdateWebhook(webhook) => crate::webhooks::update(c, webhook).await?,
            Change::DeleteWebhook {
                organization_id,
                id,
            } => crate::webhooks::delete(c, *organization_id, *id).await?,
            Change::RotateWebhookSecret {
                organization_id,
                id,
                secret,
                previous_until,
                at,
            } => {
                crate::webhooks::rotate(
                    c,
                    &self.sealer,
                    *organization_id,
                    *id,
                    secret,
                    *previous_until,
                    *at,
                )
                .await?;
            }
            Change::EnqueueTestDelivery(delivery) => {
                crate::webhooks::enqueue_test(c, delivery).await?;
            }
            Change::RetryDelivery {
                organization_id,
                id,
                at,
            } => crate::webhooks::retry(c, *organization_id, *id, *at).await?,
            Change::SetActiveOrganization {
                user_id,
                organization_id,
            } => {
                active_organization::Entity::insert(active_organization::ActiveModel {
                    user_id: Set(user_id.as_uuid()),
                    organization_id: Set(organization_id.as_uuid()),
                })
                .on_conflict(
                    OnConflict::column(active_organization::Column::UserId)
                        .update_column(active_organization::Column::OrganizationId)
                        .to_owned(),
                )
                .exec_without_returning(c)
                .await
                .map_err(db_error)?;
            }
            Change::InsertResource(r) => {
                resource::Entity::insert(resource::ActiveModel {
                    id: Set(r.id.as_uuid()),
                    organization_id: Set(r.organization_id.as_uuid()),
                    kind: Set(r.kind().name().to_owned()),
                    created_by: Set(r.created_by.as_uuid()),
                    created_at: Set(r.created_at),
                    name: Set(r.name.as_str().to_owned()),
                    details: Set(details_json(&r.details)?),
                    updated_at: Set(Some(r.updated_at)),
                    deleted_at: Set(None),
                })
                .exec_without_returning(c)
                .await
                .map_err(db_error)?;
            }
            Change::UpdateResource(r) => {
                let updated = resource::Entity::update_many()
                    .col_expr(resource::Column::Name, r.name.as_str().into())
                    .col_expr(resource::Column::Details, details_json(&r.details)?.into())
                    .col_expr(resource::Column::UpdatedAt, Some(r.updated_at).into())
                    .filter(resource::Column::Id.eq(r.id.as_uuid()))
                    .filter(resource::Column::OrganizationId.eq(r.organization_id.as_uuid()))
                    .filter(resource::Column::Kind.eq(r.kind().name()))
                    .filter(resource::Column::DeletedAt.is_null())
                    .exec(c)
                    .await
                    .map_err(db_error)?;
                expect_one(updated.rows_affected, "resource")?;
            }
            Change::DeleteResource {
                organization_id,
                id,
                at,
            } => {
                let deleted = resource::Entity::update_many()
                    .col_expr(resource::Column::DeletedAt, Some(*at).into())
                    .filter(resource::Column::Id.eq(id.as_uuid()))
                    .filter(resource::Column::OrganizationId.eq(organization_id.as_uuid()))
                    .filter(resource::Column::DeletedAt.is_null())
                    .exec(c)
                    .await
                    .map_err(db_error)?;
                expect_one(deleted.rows_affected, "resource")?;
            }
            Change::SetCredentials {
                organization_id,
                connection_id,
                credentials,
                at,
            } => {
                let place = credentials_place(organization_id.as_uuid(), connection_id.as_uuid());
                let sealed = self
                    .sealer
                    .seal(&place, &credentials.to_plaintext())
                    .map_err(StoreError::other)?;
                connection_credentials::Entity::insert(connection_credentials::ActiveModel {
                    connection_id: Set(connection_id.as_uuid()),
                    organization_id: Set(organization_id.as_uuid()),
                    key_id: Set(self.sealer.key_id().to_owned()),
                    sealed: Set(sealed),
                    updated_at: Set(*at),
                })
                .on_conflict(
                    OnConflict::column(connection_credentials::Column::ConnectionId)
                        .update_columns([
                            connection_credentials::Column::KeyId,
                            connection_credentials::Column::Sealed,
                            connection_credentials::Column::UpdatedAt,
                        ])
                        .to_owned(),
                )
                .exec_without_returning(c)
                .await
                .map_err(db_error)?;
            }
            Change::DeleteCredentials {
                organization_id,
                connection_id,
            } => {
                connection_credentials::Entity::delete_many()
                    .filter(
                        connection_credentials::Column::ConnectionId.eq(connection_id.as_uuid()),
                    )
                    .filter(
                        connection_credentials::Column::OrganizationId
                            .eq(organization_id.as_uuid()),
                    )
                    .exec(c)
                    .await
                    .map_err(db_error)?;
            }
            Change::InsertReportRun(run) => {
                report_run::Entity::insert(report_run::ActiveModel {
                    id: Set(run.id.as_uuid()),
                    organization_id: Set(run.organization_id.as_uuid()),
                    report_id: Set(run.report_id.as_uuid()),
                    status: Set(run.status.name().to_owned()),
                    triggered_by: Set(run.triggered_by.as_uuid()),
                    created_at: Set(run.created_at),
                })
                .exec_without_returning(c)
                .await
                .map_err(db_error)?;
            }
            Change::InsertPin(p) => {
                pin::Entity::insert(pin::ActiveModel {
                    id: Set(p.id.as_uuid()),
                    organization_id: Set(p.organization_id.as_uuid()),
                    user_id: Set(p.user_id.as_uuid()),
                    item_id: Set(p.item_id.as_uuid()),
                    item_kind: Set(p.item_kind.name().to_owned()),
                    created_at: Set(p.created_at),
                })
                .exec_without_returning(c)
                .await
                .map_err(db_error)?;
            }
            Change::DeletePin {
                organization_id,
                user_id,
                id,
            } => {
                let deleted = pin::Entity::delete_many()
                    .filter(pin::Column::Id.eq(id.as_uuid()))
                    .filter(pin::Column::OrganizationId.eq(organization_id.as_uuid()))
                    .filter(pin::Column::UserId.eq(user_id.as_uuid()))
                    .exec(c)
                    .await
                    .map_err(db_error)?;
                expect_one(deleted.rows_affected, "pin")?;
            }
            Change::DeletePinsOf {
                organization_id,
                item_id,
            } => {
                pin::Entity::delete_many()
                    .filter(pin::Column::OrganizationId.eq(organization_id.as_uuid()))
                    .filter(pin::Column::ItemId.eq(item_id.as_uuid()))
                    .exec(c)
                    .await
                    .map_err(db_error)?;
            }
            Change::InsertInvestigation(i) => {
                investigation::Entity::insert(investigation::ActiveModel {
                    id: Set(i.id.as_uuid()),
                    organization_id: Set(i.organization_id.as_uuid()),
                    agent_id: Set(i.agent_id.as_uuid()),
                    question: Set(i.question.as_str().to_owned()),
                    status: Set(i.status.name().to_owned()),
                    created_by: Set(i.created_by.as_uuid()),
                    created_at: Set(i.created_at),
                })
                .exec_without_returning(c)
                .await
                .map_err(db_error)?;
            }
            Change::InsertChat(chat) => {
                let (about, run) = match chat.subject {
                    ChatSubject::Agent(agent) => (agent, None),
                    ChatSubject::ReportRun { report_id, run_id } => {
                        (report_id, Some(run_id.as_uuid()))
                    }
                };
                chat::Entity::insert(chat::ActiveModel {
                    id: Set(chat.id.as_uuid()),
                    organization_id: Set(chat.organization_id.as_uuid()),
                    created_by: Set(chat.created_by.as_uuid()),
                    agent_id: Set(about.as_uuid()),
                    created_at: Set(chat.created_at),
                    report_run_id: Set(run),
                })
                .exec_without_returning(c)
                .await
                .map_err(db_error)?;
            }
            Change::InsertChatMessage(ChatMessage {
                id,
                chat_id,
                organization_id,
                sent_by,
                content,
                created_at,
            }) => {
                chat_message::Entity::insert(chat_message::ActiveModel {
                    id: Set(id.as_uuid()),
                    chat_id: Set(chat_id.as_uuid()),
                    organization_id: Set(organization_id.as_uuid()),
                    sent_by: Set(sent_by.as_uuid()),
                    content: Set(content.as_str().to_owned()),
                    created_at: Set(*created_at),
                })
                .exec_without_returning(c)
                .await
                .map_err(db_error)?;
            }
            Change::InsertSession(s) => {
                session::Entity::insert(session::ActiveModel {
                    id: Set(s.id.as_uuid()),
                    token_hash: Set(s.token_hash.as_bytes().to_vec()),
                    user_id: Set(s.user_id.as_uuid()),
                    created_at: Set(s.created_at),
                    last_used_at: Set(s.last_used_at),
                })
                .exec_without_returning(c)
                .await
                .map_err(db_error)?;
            }
            Change::EndSession {
                user_id,
                session_id,
            } => {
                session::Entity::delete_many()
                    .filter(session::Column::Id.eq(session_id.as_uuid()))
                    .filter(session::Column::UserId.eq(user_id.as_uuid()))
                    .exec(c)
                    .await
                    .map_err(db_error)?;
            }
            Change::EndSessionsOf { user_id, except } => {
                let mut delete = session::Entity::delete_many()
                    .filter(session::Column::UserId.eq(user_id.as_uuid()));
                if let Some(kept) = except {
                    delete = delete.filter(session::Column::Id.ne(kept.as_uuid()));
                }
                delete.exec(c).await.map_err(db_error)?;
            }
            Change::TouchSession { session_id, at } => {
                // A later use already written stands.
                session::Entity::update_many()
                    .col_expr(session::Column::LastUsedAt, Expr::value(*at))
                    .filter(session::Column::Id.eq(session_id.as_uuid()))
                    .filter(session::Column::LastUsedAt.lt(*at))
                    .exec(c)
                    .await
                    .map_err(db_error)?;
            }
            Change::SweepSessions {
                opened_by,
                last_used_by,
            } => {
                session::Entity::delete_many()
                    .filter(
                        Condition::any()
                            .add(session::Column::CreatedAt.lte(*opened_by))
                            .add(session::Column::LastUsedAt.lte(*last_used_by)),
                    )
                    .exec(c)
                    .await
                    .map_err(db_error)?;
            }
            Change::InsertAccountToken(t) => {
                account_token::Entity::insert(account_token::ActiveModel {
                    id: Set(t.id.as_uuid()),
                    user_id: Set(t.user_id.as_uuid()),
                    purpose: Set(t.purpose.name().to_owned()),
                    token_hash: Set(t.token_hash.as_bytes().to_vec()),
                    created_at: Set(t.created_at),
                    expires_at: Set(t.expires_at),
                    state: Set(OPEN.to_owned()),
                    state_changed_at: Set(None),
                })
                .exec_without_returning(c)
                .await
                .map_err(db_error)?;
            }
            Change::SupersedeAccountTokens {
                user_id,
                purpose,
                at,
            } => {
                account_token::Entity::update_many()
                    .col_expr(account_token::Column::State, Expr::value(SUPERSEDED))
                    .col_expr(account_token::Column::StateChangedAt, Expr::value(*at))
                    .filter(account_token::Column::UserId.eq(user_id.as_uuid()))
                    .filter(account_token::Column::Purpose.eq(purpose.name()))
                    .filter(account_token::Column::State.eq(OPEN))
                    .exec(c)
                    .await
                    .map_err(db_error)?;
            }
            Change::UseAccountToken { id, at } => {
                // Only an open link is used: a concurrent use that won
                // leaves nothing to update, and this one is tried again.
                let result = account_token::Entity::update_many()
                    .col_expr(account_token::Column::State, Expr::value(USED))
                    .col_expr(account_token::Column::StateChangedAt, Expr::value(*at))
                    .filter(account_token::Column::Id.eq(id.as_uuid()))
                    .filter(account_token::Column::State.eq(OPEN))
                    .exec(c)
                    .await
                    .map_err(db_error)?;
                expect_one(result.rows_affected, "account link")?;
            }
            Change::SweepAccountTokens { expired_before } => {
                // Their emails go with them (the outbox's foreign key cascades).
                account_token::Entity::delete_many()
                    .filter(account_token::Column::ExpiresAt.lt(*expired_before))
                    .exec(c)
                    .await
                    .map_err(db_error)?;
            }
            Change::MarkEmailVerified { user_id, at } => {
                user::Entity::update_many()
                    .col_expr(user::Column::EmailVerifiedAt, Expr::value(*at))
                    .filter(user::Column::Id.eq(user_id.as_uuid()))
                    .filter(user::Column::EmailVerifiedAt.is_null())
                    .exec(c)
                    .await
                    .map_err(db_error)?;
            }
            Change::SetPassword {
                user_id,
                password_hash,
            } => {
                let result = user::Entity::update_many()
                    .col_expr(
                        user::Column::PasswordHash,
                        Expr::value(password_hash.as_str()),
                    )
                    .filter(user::Column::Id.eq(user_id.as_uuid()))
                    .exec(c)
                    .await
                    .map_err(db_error)?;
                expect_one(result.rows_affected, "user")?;
            }
            Change::EnqueueMail(outgoing) => {
                let mut transfer = None;
                let (invitation, account_token_id, expires_at) = match &outgoing.content {
                    MailContent::Invitation {
                        invitation_id,
                        organization_name,
                        inviter_email,
                        role_name,
                        expires_at,
                        ..
                    } => (
                        Some((invitation_id, organization_name, inviter_email, role_name)),
                        None,
                        expires_at,
                    ),
                    MailContent::VerifyEmail {
                        token_id,
                        expires_at,
                        ..
                    }
                    | MailContent::ResetPassword {
                        token_id,
                        expires_at,
                        ..
                    } => (None, Some(token_id.as_uuid()), expires_at),
                    MailContent::OwnershipTransfer {
                        transfer_id,
                        organization_id,
                        organization_name,
                        owner_email,
                        expires_at,
                    } => {
                        transfer = Some((
                            transfer_id.as_uuid(),
                            organization_id.as_uuid(),
                            organization_name,
                            owner_email,
                        ));
                        (None, None, expires_at)
                    }
                };
                let subject = invitation
                    .map(|(id, _, _, _)| id.as_uuid())
                    .or(account_token_id)
                    .or(transfer.map(|(id, _, _, _)| id))
                    .unwrap_or_default();
                let place = mail_place(outgoing.id.as_uuid(), subject);
                // An email without a link keeps no sealed token.
                let sealed = match outgoing.content.token() {
                    Some(token) => self
                        .sealer
                        .seal(&place, token.expose().as_bytes())
                        .map_err(StoreError::other)?,
                    None => Vec::new(),
                };
                mail::Entity::insert(mail::ActiveModel {
                    id: Set(outgoing.id.as_uuid()),
                    to_email: Set(outgoing.to.as_str().to_owned()),
                    kind: Set(mail_kind(&outgoing.content).to_owned()),
                    invitation_id: Set(invitation.map(|(id, _, _, _)| id.as_uuid())),
                    organization_name: Set(invitation
                        .map(|(_, name, _, _)| name)
                        .or(transfer.map(|(_, _, name, _)| name))
                        .map(|name| name.as_str().to_owned())),
                    inviter_email: Set(invitation
                        .map(|(_, _, by, _)| by)
                        .or(transfer.map(|(_, _, _, by)| by))
                        .map(|by| by.as_str().to_owned())),
                    organization_id: Set(transfer.map(|(_, org, _, _)| org)),
                    transfer_id: Set(transfer.map(|(id, _, _, _)| id)),
                    role_name: Set(invitation.map(|(_, _, _, role)| role.as_str().to_owned())),
                    account_token_id: Set(account_token_id),
                    sealed_token: Set(sealed),
                    key_id: Set(self.sealer.key_id().to_owned()),
                    expires_at: Set(*expires_at),
                    created_at: Set(outgoing.created_at),
                    attempts: Set(0),
                    next_attempt_at: Set(outgoing.created_at),
                    sent_at: Set(None),
                    last_error: Set(None),
                    claimed_by: Set(None),
                })
                .exec_without_returning(c)
                .await
                .map_err(db_error)?;
            }
        }
        Ok(())
    }

    async fn commit(&mut self) -> Result<(), StoreError> {
        let conn = self.conn.take().ok_or_else(finished)?;
        conn.finish().await.map_err(db_error)?;
        for event in self.recorded.drain(..) {
            // No subscriber is no error.
            let _ = self.events.send(event);
        }
        Ok(())
    }
}

impl Store {
    /// The backend of a connection; used where only a connection is at hand.
    #[doc(hidden)]
    pub fn backend_of_connection(&self) -> Backend {
        backend_of(&self.db)
    }
}

/// The tables that name an organization in `organization_id`, children
/// before their parents, so that no foreign key stands in the way of the
/// purge (D17). The outbox and the organization itself are handled apart.
const PURGED_TABLES: [&str; 17] = [
    "webhook_deliveries",
    "webhooks",
    "audit_events",
    "superseded_invitation_tokens",
    "ownership_transfers",
    "chat_messages",
    "chats",
    "pins",
    "investigations",
    "report_runs",
    "connection_credentials",
    "resources",
    "active_organizations",
    "invitations",
    "memberships",
    "roles",
    "organizations",
];

/// Deletes every row of an organization, in the caller's transaction.
async fn purge_organization(
    c: &(impl ConnectionTrait + ?Sized),
    backend: Backend,
    organization: OrganizationId,
) -> Result<(), StoreError> {
    let p = |n: usize| match backend {
        Backend::Sqlite => "?".to_owned(),
        Backend::Postgres => format!("${n}"),
    };
    let id: sea_orm::Value = organization.as_uuid().into();
    let run = async |sql: String, values: Vec<sea_orm::Value>| {
        c.execute_raw(Statement::from_sql_and_values(
            c.get_database_backend(),
            sql,
            values,
        ))
        .await
        .map(|_| ())
        .map_err(db_error)
    };
    // Nobody's default organization any more.
    run(
        format!(
            "UPDATE users SET default_organization_id = NULL WHERE default_organization_id = {}",
            p(1)
        ),
        vec![id.clone()],
    )
    .await?;
    // The emails about it: its invitations' and its transfers'.
    run(
        format!(
            "DELETE FROM mail_outbox WHERE organization_id = {} OR invitation_id IN \
             (SELECT id FROM invitations WHERE organization_id = {})",
            p(1),
            p(2)
        ),
        vec![id.clone(), id.clone()],
    )
    .await?;
    for table in PURGED_TABLES {
        let column = if table == "organizations" {
            "id"
        } else {
            "organization_id"
        };
        run(
            format!("DELETE FROM {table} WHERE {column} = {}", p(1)),
            vec![id.clone()],
        )
        .await?;
    }
    Ok(())
}
