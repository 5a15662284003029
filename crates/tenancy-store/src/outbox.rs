//! The delivery side of the mail outbox.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sea_orm::{
    ColumnTrait, DbBackend, EntityTrait, QueryFilter, QueryOrder, QuerySelect, Statement,
};
use tenancy_core::entity::{AccountTokenPurpose, MailContent, OutgoingMail};
use tenancy_core::ports::{MailOutbox, QueuedMail, WorkerId};
use tenancy_core::token::SecretToken;
use tenancy_core::value::{EmailAddress, OrganizationName, RoleName};
use tenancy_core::{
    AccountTokenId, InvitationId, MailId, OrganizationId, Role, StoreError, TransferId,
};
use uuid::Uuid;

use crate::entity::mail;
use crate::repo::{TRANSFER_MAIL, mail_place};
use crate::{Backend, Store, db_error};

fn corrupt(what: &str) -> StoreError {
    StoreError::other(format!("a queued email has an invalid {what}"))
}

impl Store {
    fn to_queued(&self, m: mail::Model) -> Result<QueuedMail, StoreError> {
        if m.kind == TRANSFER_MAIL {
            return Self::to_queued_transfer(m);
        }
        let subject = m
            .invitation_id
            .or(m.account_token_id)
            .ok_or_else(|| corrupt("subject"))?;
        let token = self
            .sealer
            .open(&m.key_id, &mail_place(m.id, subject), &m.sealed_token)
            .map_err(StoreError::other)?;
        let token = std::str::from_utf8(&token).map_err(|_| corrupt("token"))?;
        let token = SecretToken::parse(token).map_err(|_| corrupt("token"))?;
        let expires_at = m.expires_at;
        let account_link = || {
            m.account_token_id
                .map(AccountTokenId::from_uuid)
                .ok_or_else(|| corrupt("account link"))
        };
        let content = match AccountTokenPurpose::parse(&m.kind) {
            None if m.kind == "invitation" => MailContent::Invitation {
                invitation_id: InvitationId::from_uuid(subject),
                organization_name: OrganizationName::parse(
                    m.organization_name.as_deref().unwrap_or_default(),
                )
                .map_err(|_| corrupt("organization name"))?,
                inviter_email: EmailAddress::parse(m.inviter_email.as_deref().unwrap_or_default())
                    .map_err(|_| corrupt("inviter"))?,
                role_name: match m.role_name.as_deref() {
                    None => Role::VIEWER.name().clone(),
                    Some(name) => RoleName::parse(name).map_err(|_| corrupt("role name"))?,
                },
                token,
                expires_at,
            },
            None => return Err(corrupt("kind")),
            Some(AccountTokenPurpose::VerifyEmail) => MailContent::VerifyEmail {
                token_id: account_link()?,
                token,
                expires_at,
            },
            Some(AccountTokenPurpose::ResetPassword) => MailContent::ResetPassword {
                token_id: account_link()?,
                token,
                expires_at,
            },
        };
        Ok(QueuedMail {
            mail: OutgoingMail {
                id: MailId::from_uuid(m.id),
                to: EmailAddress::parse(&m.to_email).map_err(|_| corrupt("recipient"))?,
                created_at: m.created_at,
                content,
            },
            attempts: u32::try_from(m.attempts).unwrap_or(0),
        })
    }
}

impl Store {
    /// The email that offers an ownership transfer: no link, so no token.
    fn to_queued_transfer(m: mail::Model) -> Result<QueuedMail, StoreError> {
        let content = MailContent::OwnershipTransfer {
            transfer_id: TransferId::from_uuid(m.transfer_id.ok_or_else(|| corrupt("transfer"))?),
            organization_id: OrganizationId::from_uuid(
                m.organization_id.ok_or_else(|| corrupt("organization"))?,
            ),
            organization_name: OrganizationName::parse(
                m.organization_name.as_deref().unwrap_or_default(),
            )
            .map_err(|_| corrupt("organization name"))?,
            owner_email: EmailAddress::parse(m.inviter_email.as_deref().unwrap_or_default())
                .map_err(|_| corrupt("owner"))?,
            expires_at: m.expires_at,
        };
        Ok(QueuedMail {
            mail: OutgoingMail {
                id: MailId::from_uuid(m.id),
                to: EmailAddress::parse(&m.to_email).map_err(|_| corrupt("recipient"))?,
                created_at: m.created_at,
                content,
            },
            attempts: u32::try_from(m.attempts).unwrap_or(0),
        })
    }
}

#[async_trait]
impl MailOutbox for Store {
    async fn due(&self, now: DateTime<Utc>, limit: usize) -> Result<Vec<QueuedMail>, StoreError> {
        let limit = u64::try_from(limit)
            .unwrap_or(u64::MAX)
            .min(i64::MAX as u64);
        let rows = mail::Entity::find()
            .filter(mail::Column::SentAt.is_null())
            .filter(mail::Column::NextAttemptAt.lte(now))
            .order_by_asc(mail::Column::CreatedAt)
            .order_by_asc(mail::Column::Id)
            .limit(limit)
            .all(&self.db)
            .await
            .map_err(db_error)?;
        self.readable(rows, now).await
    }

    async fn claim(
        &self,
        worker: WorkerId,
        now: DateTime<Utc>,
        lease_until: DateTime<Utc>,
        limit: usize,
    ) -> Result<Vec<QueuedMail>, StoreError> {
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        // One statement takes the rows for the worker and pushes their next
        // attempt past the lease. On PostgreSQL, rows another instance is
        // taking right now are skipped rather than waited for; SQLite has one
        // writer at a time.
        let (backend, sql) = match self.backend {
            Backend::Postgres => (
                DbBackend::Postgres,
                "UPDATE mail_outbox SET next_attempt_at = $1, claimed_by = $2 WHERE id IN (\
                 SELECT id FROM mail_outbox WHERE sent_at IS NULL AND next_attempt_at <= $3 \
                 ORDER BY created_at, id LIMIT $4 FOR UPDATE SKIP LOCKED) RETURNING *",
            ),
            Backend::Sqlite => (
                DbBackend::Sqlite,
                "UPDATE mail_outbox SET next_attempt_at = ?, claimed_by = ? WHERE id IN (\
                 SELECT id FROM mail_outbox WHERE sent_at IS NULL AND next_attempt_at <= ? \
                 ORDER BY created_at, id LIMIT ?) RETURNING *",
            ),
        };
        let mut rows = mail::Entity::find()
            .from_raw_sql(Statement::from_sql_and_values(
                backend,
                sql,
                [
                    lease_until.into(),
                    worker.as_uuid().into(),
                    now.into(),
                    limit.into(),
                ],
            ))
            .all(&self.db)
            .await
            .map_err(db_error)?;
        rows.sort_by_key(|m| (m.created_at, m.id));
        self.readable(rows, now).await
    }

    async fn renew(
        &self,
        worker: WorkerId,
        ids: &[MailId],
        lease_until: DateTime<Utc>,
    ) -> Result<Vec<MailId>, StoreError> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        // A row another worker took after this one's lease ran out names that
        // worker now, and stays as it is.
        let held = mail::Entity::update_many()
            .col_expr(mail::Column::NextAttemptAt, lease_until.into())
            .filter(mail::Column::Id.is_in(ids.iter().map(MailId::as_uuid)))
            .filter(mail::Column::ClaimedBy.eq(worker.as_uuid()))
            .filter(mail::Column::SentAt.is_null())
            .exec_with_returning(&self.db)
            .await
            .map_err(db_error)?;
        Ok(held.into_iter().map(|m| MailId::from_uuid(m.id)).collect())
    }

    async fn release(
        &self,
        worker: WorkerId,
        id: MailId,
        at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        mail::Entity::update_many()
            .col_expr(mail::Column::NextAttemptAt, at.into())
            .col_expr(mail::Column::ClaimedBy, Option::<Uuid>::None.into())
            .filter(mail::Column::Id.eq(id.as_uuid()))
            .filter(mail::Column::ClaimedBy.eq(worker.as_uuid()))
            .filter(mail::Column::SentAt.is_null())
            .exec(&self.db)
            .await
            .map_err(db_error)?;
        Ok(())
    }

    async fn mark_sent(&self, id: MailId, at: DateTime<Utc>) -> Result<(), StoreError> {
        // The token is needed no more: erased, so that the delivered rows of
        // the outbox hold no secret, sealed or not.
        mail::Entity::update_many()
            .col_expr(mail::Column::SentAt, Some(at).into())
            .col_expr(mail::Column::LastError, Option::<String>::None.into())
            .col_expr(mail::Column::SealedToken, Vec::<u8>::new().into())
            .col_expr(mail::Column::ClaimedBy, Option::<Uuid>::None.into())
            .filter(mail::Column::Id.eq(id.as_uuid()))
            .exec(&self.db)
            .await
            .map_err(db_error)?;
        Ok(())
    }

    async fn mark_failed(
        &self,
        worker: WorkerId,
        id: MailId,
        next_attempt_at: DateTime<Utc>,
        error: &str,
    ) -> Result<(), StoreError> {
        self.record_failure(Some(worker), id, next_attempt_at, error)
            .await
    }
}

impl Store {
    /// The rows as queued emails. One that cannot be read (a lost key, a
    /// corrupt row) must not hold up the others: it is set aside for a day
    /// with the reason recorded, where an operator can see it.
    async fn readable(
        &self,
        rows: Vec<mail::Model>,
        now: DateTime<Utc>,
    ) -> Result<Vec<QueuedMail>, StoreError> {
        let mut due = Vec::with_capacity(rows.len());
        for row in rows {
            let id = MailId::from_uuid(row.id);
            match self.to_queued(row) {
                Ok(queued) => due.push(queued),
                Err(error) => {
                    self.record_failure(
                        None,
                        id,
                        now + chrono::Duration::days(1),
                        &error.to_string(),
                    )
                    .await?;
                }
            }
        }
        Ok(due)
    }

    /// Counts a failed attempt and frees the row from its claim: the claim
    /// of `worker` only (a late worker changes nothing of another's lease),
    /// or whoever claimed it when `None` (an unreadable row set aside).
    async fn record_failure(
        &self,
        worker: Option<WorkerId>,
        id: MailId,
        next_attempt_at: DateTime<Utc>,
        error: &str,
    ) -> Result<(), StoreError> {
        use sea_orm::sea_query::{Expr, ExprTrait};
        let mut update = mail::Entity::update_many()
            .col_expr(
                mail::Column::Attempts,
                Expr::col(mail::Column::Attempts).add(1),
            )
            .col_expr(mail::Column::NextAttemptAt, next_attempt_at.into())
            .col_expr(mail::Column::LastError, Some(error.to_owned()).into())
            .col_expr(mail::Column::ClaimedBy, Option::<Uuid>::None.into())
            .filter(mail::Column::Id.eq(id.as_uuid()))
            .filter(mail::Column::SentAt.is_null());
        if let Some(worker) = worker {
            update = update.filter(mail::Column::ClaimedBy.eq(worker.as_uuid()));
        }
        update.exec(&self.db).await.map_err(db_error)?;
        Ok(())
    }
}
