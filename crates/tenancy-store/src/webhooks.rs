//! Webhooks' rows (R33): the webhooks with their sealed secrets, the
//! deliveries queued with each audit event in its change's transaction,
//! and the delivery side (claims with a lease, and each attempt recorded).

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sea_orm::ActiveValue::Set;
use sea_orm::sea_query::{Expr, ExprTrait};
use sea_orm::{
    ColumnTrait, ConnectionTrait, DbBackend, EntityTrait, QueryFilter, QueryOrder, QuerySelect,
    Statement,
};
use tenancy_core::audit::AuditEvent;
use tenancy_core::id::{AuditEventId, DeliveryId, WebhookId};
use tenancy_core::ports::WorkerId;
use tenancy_core::value::RoleDescription;
use tenancy_core::webhook::{
    Delivery, DeliveryQueue, DeliveryStatus, EventFilter, QueuedDelivery, Webhook, WebhookSecret,
    WebhookUrl,
};
use tenancy_core::{OrganizationId, StoreError};
use uuid::Uuid;

use crate::crypto::Sealer;
use crate::entity::{webhook, webhook_delivery};
use crate::{Backend, Store, db_error};

fn corrupt(detail: impl std::fmt::Display) -> StoreError {
    StoreError::other(format!("stored webhook is invalid: {detail}"))
}

/// Where a webhook's sealed secret belongs: a ciphertext moved to another
/// webhook or organization does not open.
fn secret_place(organization: Uuid, webhook: Uuid) -> Vec<u8> {
    let mut place = b"webhooks/".to_vec();
    place.extend_from_slice(organization.as_bytes());
    place.extend_from_slice(webhook.as_bytes());
    place
}

fn to_webhook(m: webhook::Model) -> Result<Webhook, StoreError> {
    let events: Vec<String> = serde_json::from_str(&m.events).map_err(corrupt)?;
    Ok(Webhook {
        id: WebhookId::from_uuid(m.id),
        organization_id: OrganizationId::from_uuid(m.organization_id),
        // Stored URLs were checked when set; `http` is read back as well,
        // for the deployments that allow it.
        url: WebhookUrl::parse(&m.url, true).map_err(corrupt)?,
        events: EventFilter::parse(&events).map_err(corrupt)?,
        description: RoleDescription::parse(&m.description).map_err(corrupt)?,
        enabled: m.enabled,
        created_at: m.created_at,
        updated_at: m.updated_at,
    })
}

fn status_of(text: &str) -> Result<DeliveryStatus, StoreError> {
    match text {
        "pending" => Ok(DeliveryStatus::Pending),
        "delivered" => Ok(DeliveryStatus::Delivered),
        "failed" => Ok(DeliveryStatus::Failed),
        other => Err(corrupt(format!("delivery status {other:?}"))),
    }
}

fn to_delivery(m: &webhook_delivery::Model) -> Result<Delivery, StoreError> {
    Ok(Delivery {
        id: DeliveryId::from_uuid(m.id),
        webhook_id: WebhookId::from_uuid(m.webhook_id),
        organization_id: OrganizationId::from_uuid(m.organization_id),
        event_id: AuditEventId::from_uuid(m.event_id),
        event_type: m.event_type.clone(),
        status: status_of(&m.status)?,
        attempts: u32::try_from(m.attempts).map_err(corrupt)?,
        retry_base: u32::try_from(m.retry_base).map_err(corrupt)?,
        last_status_code: m
            .last_status_code
            .map(u16::try_from)
            .transpose()
            .map_err(corrupt)?,
        last_error: m.last_error.clone(),
        next_attempt_at: m.next_attempt_at,
        delivered_at: m.delivered_at,
        created_at: m.created_at,
    })
}

fn events_json(events: &EventFilter) -> String {
    serde_json::Value::from(events.as_slice().to_vec()).to_string()
}

pub(crate) async fn insert(
    c: &impl ConnectionTrait,
    sealer: &Sealer,
    w: &Webhook,
    secret: &WebhookSecret,
) -> Result<(), StoreError> {
    let place = secret_place(w.organization_id.as_uuid(), w.id.as_uuid());
    let sealed = sealer
        .seal(&place, secret.bytes())
        .map_err(StoreError::other)?;
    webhook::Entity::insert(webhook::ActiveModel {
        id: Set(w.id.as_uuid()),
        organization_id: Set(w.organization_id.as_uuid()),
        url: Set(w.url.as_str().to_owned()),
        events: Set(events_json(&w.events)),
        description: Set(w.description.as_str().to_owned()),
        enabled: Set(w.enabled),
        key_id: Set(sealer.key_id().to_owned()),
        sealed_secret: Set(sealed),
        previous_key_id: Set(None),
        previous_sealed_secret: Set(None),
        previous_until: Set(None),
        created_at: Set(w.created_at),
        updated_at: Set(w.updated_at),
    })
    .exec_without_returning(c)
    .await
    .map_err(db_error)?;
    Ok(())
}

/// One row changed, or the use case was overtaken.
fn expect_one(rows: u64, what: &str) -> Result<(), StoreError> {
    if rows == 1 {
        Ok(())
    } else {
        Err(StoreError::contention(format!(
            "the {what} changed meanwhile"
        )))
    }
}

pub(crate) async fn update(c: &impl ConnectionTrait, w: &Webhook) -> Result<(), StoreError> {
    let updated = webhook::Entity::update_many()
        .col_expr(webhook::Column::Url, w.url.as_str().into())
        .col_expr(webhook::Column::Events, events_json(&w.events).into())
        .col_expr(webhook::Column::Description, w.description.as_str().into())
        .col_expr(webhook::Column::Enabled, w.enabled.into())
        .col_expr(webhook::Column::UpdatedAt, w.updated_at.into())
        .filter(webhook::Column::Id.eq(w.id.as_uuid()))
        .filter(webhook::Column::OrganizationId.eq(w.organization_id.as_uuid()))
        .exec(c)
        .await
        .map_err(db_error)?;
    expect_one(updated.rows_affected, "webhook")
}

pub(crate) async fn delete(
    c: &impl ConnectionTrait,
    organization: OrganizationId,
    id: WebhookId,
) -> Result<(), StoreError> {
    // Its deliveries go with it (the foreign key cascades).
    let deleted = webhook::Entity::delete_many()
        .filter(webhook::Column::Id.eq(id.as_uuid()))
        .filter(webhook::Column::OrganizationId.eq(organization.as_uuid()))
        .exec(c)
        .await
        .map_err(db_error)?;
    expect_one(deleted.rows_affected, "webhook")
}

/// The new secret sealed in place of the current one, which becomes the
/// previous one (its ciphertext moves as it is: same place).
pub(crate) async fn rotate(
    c: &impl ConnectionTrait,
    sealer: &Sealer,
    organization: OrganizationId,
    id: WebhookId,
    secret: &WebhookSecret,
    previous_until: DateTime<Utc>,
    at: DateTime<Utc>,
) -> Result<(), StoreError> {
    let place = secret_place(organization.as_uuid(), id.as_uuid());
    let sealed = sealer
        .seal(&place, secret.bytes())
        .map_err(StoreError::other)?;
    let updated = webhook::Entity::update_many()
        .col_expr(
            webhook::Column::PreviousKeyId,
            Expr::col(webhook::Column::KeyId),
        )
        .col_expr(
            webhook::Column::PreviousSealedSecret,
            Expr::col(webhook::Column::SealedSecret),
        )
        .col_expr(webhook::Column::PreviousUntil, Some(previous_until).into())
        .col_expr(webhook::Column::KeyId, sealer.key_id().into())
        .col_expr(webhook::Column::SealedSecret, sealed.into())
        .col_expr(webhook::Column::UpdatedAt, at.into())
        .filter(webhook::Column::Id.eq(id.as_uuid()))
        .filter(webhook::Column::OrganizationId.eq(organization.as_uuid()))
        .exec(c)
        .await
        .map_err(db_error)?;
    expect_one(updated.rows_affected, "webhook")
}

async fn insert_delivery(
    c: &impl ConnectionTrait,
    delivery: &Delivery,
    body: String,
) -> Result<(), StoreError> {
    webhook_delivery::Entity::insert(webhook_delivery::ActiveModel {
        id: Set(delivery.id.as_uuid()),
        organization_id: Set(delivery.organization_id.as_uuid()),
        webhook_id: Set(delivery.webhook_id.as_uuid()),
        event_id: Set(delivery.event_id.as_uuid()),
        event_type: Set(delivery.event_type.clone()),
        body: Set(body),
        status: Set(DeliveryStatus::Pending.name().to_owned()),
        attempts: Set(0),
        retry_base: Set(0),
        last_status_code: Set(None),
        last_error: Set(None),
        next_attempt_at: Set(delivery.next_attempt_at),
        delivered_at: Set(None),
        created_at: Set(delivery.created_at),
        claimed_by: Set(None),
    })
    .exec_without_returning(c)
    .await
    .map_err(db_error)?;
    Ok(())
}

/// Queues the event for every enabled webhook of its organization that
/// subscribes to its action, in the event's transaction (D16).
pub(crate) async fn fan_out(
    c: &impl ConnectionTrait,
    event: &AuditEvent,
) -> Result<(), StoreError> {
    let rows: Vec<(Uuid, String)> = webhook::Entity::find()
        .select_only()
        .column(webhook::Column::Id)
        .column(webhook::Column::Events)
        .filter(webhook::Column::OrganizationId.eq(event.organization_id.as_uuid()))
        .filter(webhook::Column::Enabled.eq(true))
        .order_by_asc(webhook::Column::CreatedAt)
        .order_by_asc(webhook::Column::Id)
        .into_tuple()
        .all(c)
        .await
        .map_err(db_error)?;
    let mut body = None;
    for (n, (id, events)) in rows.into_iter().enumerate() {
        let events: Vec<String> = serde_json::from_str(&events).map_err(corrupt)?;
        if !EventFilter::parse(&events)
            .map_err(corrupt)?
            .matches(event.action)
        {
            continue;
        }
        let body = body
            .get_or_insert_with(|| tenancy_core::webhook::payload(event).to_string())
            .clone();
        let delivery_id = tenancy_core::webhook::delivery_id(event.id, n);
        let delivery = Delivery::queued(delivery_id, WebhookId::from_uuid(id), event);
        insert_delivery(c, &delivery, body).await?;
    }
    Ok(())
}

pub(crate) async fn enqueue_test(
    c: &impl ConnectionTrait,
    delivery: &Delivery,
) -> Result<(), StoreError> {
    let body = tenancy_core::webhook::test_payload(delivery).to_string();
    insert_delivery(c, delivery, body).await
}

pub(crate) async fn retry(
    c: &impl ConnectionTrait,
    organization: OrganizationId,
    id: DeliveryId,
    at: DateTime<Utc>,
) -> Result<(), StoreError> {
    let updated = webhook_delivery::Entity::update_many()
        .col_expr(
            webhook_delivery::Column::Status,
            DeliveryStatus::Pending.name().into(),
        )
        .col_expr(webhook_delivery::Column::NextAttemptAt, Some(at).into())
        .col_expr(
            webhook_delivery::Column::DeliveredAt,
            Option::<DateTime<Utc>>::None.into(),
        )
        .col_expr(
            webhook_delivery::Column::RetryBase,
            Expr::col(webhook_delivery::Column::Attempts),
        )
        .col_expr(
            webhook_delivery::Column::ClaimedBy,
            Option::<Uuid>::None.into(),
        )
        .filter(webhook_delivery::Column::Id.eq(id.as_uuid()))
        .filter(webhook_delivery::Column::OrganizationId.eq(organization.as_uuid()))
        .exec(c)
        .await
        .map_err(db_error)?;
    expect_one(updated.rows_affected, "delivery")
}

pub(crate) async fn list(
    c: &impl ConnectionTrait,
    organization: OrganizationId,
) -> Result<Vec<Webhook>, StoreError> {
    webhook::Entity::find()
        .filter(webhook::Column::OrganizationId.eq(organization.as_uuid()))
        .order_by_asc(webhook::Column::CreatedAt)
        .order_by_asc(webhook::Column::Id)
        .all(c)
        .await
        .map_err(db_error)?
        .into_iter()
        .map(to_webhook)
        .collect()
}

pub(crate) async fn one(
    c: &impl ConnectionTrait,
    organization: OrganizationId,
    id: WebhookId,
) -> Result<Option<Webhook>, StoreError> {
    webhook::Entity::find()
        .filter(webhook::Column::Id.eq(id.as_uuid()))
        .filter(webhook::Column::OrganizationId.eq(organization.as_uuid()))
        .one(c)
        .await
        .map_err(db_error)?
        .map(to_webhook)
        .transpose()
}

pub(crate) async fn deliveries(
    c: &impl ConnectionTrait,
    organization: OrganizationId,
    webhook_id: WebhookId,
    before: Option<DeliveryId>,
    limit: usize,
) -> Result<Vec<Delivery>, StoreError> {
    use sea_orm::Condition;
    let mut select = webhook_delivery::Entity::find()
        .filter(webhook_delivery::Column::OrganizationId.eq(organization.as_uuid()))
        .filter(webhook_delivery::Column::WebhookId.eq(webhook_id.as_uuid()));
    if let Some(before) = before {
        let cursor = webhook_delivery::Entity::find_by_id(before.as_uuid())
            .filter(webhook_delivery::Column::WebhookId.eq(webhook_id.as_uuid()))
            .one(c)
            .await
            .map_err(db_error)?;
        let Some(cursor) = cursor else {
            return Ok(Vec::new());
        };
        select = select.filter(
            Condition::any()
                .add(webhook_delivery::Column::CreatedAt.lt(cursor.created_at))
                .add(
                    Condition::all()
                        .add(webhook_delivery::Column::CreatedAt.eq(cursor.created_at))
                        .add(webhook_delivery::Column::Id.lt(cursor.id)),
                ),
        );
    }
    let limit = Ord::min(u64::try_from(limit).unwrap_or(u64::MAX), i64::MAX as u64);
    select
        .order_by_desc(webhook_delivery::Column::CreatedAt)
        .order_by_desc(webhook_delivery::Column::Id)
        .limit(limit)
        .all(c)
        .await
        .map_err(db_error)?
        .iter()
        .map(to_delivery)
        .collect()
}

pub(crate) async fn delivery(
    c: &impl ConnectionTrait,
    organization: OrganizationId,
    webhook_id: WebhookId,
    id: DeliveryId,
) -> Result<Option<Delivery>, StoreError> {
    webhook_delivery::Entity::find_by_id(id.as_uuid())
        .filter(webhook_delivery::Column::OrganizationId.eq(organization.as_uuid()))
        .filter(webhook_delivery::Column::WebhookId.eq(webhook_id.as_uuid()))
        .one(c)
        .await
        .map_err(db_error)?
        .as_ref()
        .map(to_delivery)
        .transpose()
}

/// The longest error kept of an attempt.
const ERROR_MAX: usize = 500;

#[async_trait]
impl DeliveryQueue for Store {
    async fn claim_deliveries(
        &self,
        worker: WorkerId,
        now: DateTime<Utc>,
        lease_until: DateTime<Utc>,
        limit: usize,
    ) -> Result<Vec<QueuedDelivery>, StoreError> {
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        // As the mail outbox's claim: one statement takes the rows and
        // pushes their next attempt past the lease; PostgreSQL skips the
        // rows another instance is taking.
        let (backend, sql) = match self.backend {
            Backend::Postgres => (
                DbBackend::Postgres,
                "UPDATE webhook_deliveries SET next_attempt_at = $1, claimed_by = $2 WHERE id IN (\
                 SELECT id FROM webhook_deliveries WHERE status = 'pending' AND next_attempt_at <= $3 \
                 ORDER BY next_attempt_at, created_at, id LIMIT $4 FOR UPDATE SKIP LOCKED) RETURNING *",
            ),
            Backend::Sqlite => (
                DbBackend::Sqlite,
                "UPDATE webhook_deliveries SET next_attempt_at = ?, claimed_by = ? WHERE id IN (\
                 SELECT id FROM webhook_deliveries WHERE status = 'pending' AND next_attempt_at <= ? \
                 ORDER BY next_attempt_at, created_at, id LIMIT ?) RETURNING *",
            ),
        };
        let mut rows = webhook_delivery::Entity::find()
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
        let mut queued = Vec::with_capacity(rows.len());
        for row in rows {
            let Some(hook) = webhook::Entity::find_by_id(row.webhook_id)
                .one(&self.db)
                .await
                .map_err(db_error)?
            else {
                continue;
            };
            let place = secret_place(hook.organization_id, hook.id);
            let mut secrets = vec![WebhookSecret::from_stored(
                self.sealer
                    .open(&hook.key_id, &place, &hook.sealed_secret)
                    .map_err(StoreError::other)?
                    .to_vec(),
            )];
            if let (Some(key_id), Some(sealed), Some(until)) = (
                &hook.previous_key_id,
                &hook.previous_sealed_secret,
                hook.previous_until,
            ) && now < until
            {
                secrets.push(WebhookSecret::from_stored(
                    self.sealer
                        .open(key_id, &place, sealed)
                        .map_err(StoreError::other)?
                        .to_vec(),
                ));
            }
            queued.push(QueuedDelivery {
                delivery: to_delivery(&row)?,
                url: WebhookUrl::parse(&hook.url, true).map_err(corrupt)?,
                body: row.body,
                secrets,
            });
        }
        Ok(queued)
    }

    async fn delivered(
        &self,
        worker: WorkerId,
        id: DeliveryId,
        status_code: u16,
        at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        webhook_delivery::Entity::update_many()
            .col_expr(
                webhook_delivery::Column::Attempts,
                Expr::col(webhook_delivery::Column::Attempts).add(1),
            )
            .col_expr(
                webhook_delivery::Column::Status,
                DeliveryStatus::Delivered.name().into(),
            )
            .col_expr(
                webhook_delivery::Column::LastStatusCode,
                Some(i32::from(status_code)).into(),
            )
            .col_expr(
                webhook_delivery::Column::LastError,
                Option::<String>::None.into(),
            )
            .col_expr(
                webhook_delivery::Column::NextAttemptAt,
                Option::<DateTime<Utc>>::None.into(),
            )
            .col_expr(webhook_delivery::Column::DeliveredAt, Some(at).into())
            .col_expr(
                webhook_delivery::Column::ClaimedBy,
                Option::<Uuid>::None.into(),
            )
            .filter(webhook_delivery::Column::Id.eq(id.as_uuid()))
            .filter(webhook_delivery::Column::ClaimedBy.eq(worker.as_uuid()))
            .filter(webhook_delivery::Column::Status.eq(DeliveryStatus::Pending.name()))
            .exec(&self.db)
            .await
            .map_err(db_error)?;
        Ok(())
    }

    async fn delivery_failed(
        &self,
        worker: WorkerId,
        id: DeliveryId,
        status_code: Option<u16>,
        error: &str,
        next_attempt_at: Option<DateTime<Utc>>,
    ) -> Result<(), StoreError> {
        let status = match next_attempt_at {
            Some(_) => DeliveryStatus::Pending,
            None => DeliveryStatus::Failed,
        };
        let error: String = error.chars().take(ERROR_MAX).collect();
        webhook_delivery::Entity::update_many()
            .col_expr(
                webhook_delivery::Column::Attempts,
                Expr::col(webhook_delivery::Column::Attempts).add(1),
            )
            .col_expr(webhook_delivery::Column::Status, status.name().into())
            .col_expr(
                webhook_delivery::Column::LastStatusCode,
                status_code.map(i32::from).into(),
            )
            .col_expr(webhook_delivery::Column::LastError, Some(error).into())
            .col_expr(
                webhook_delivery::Column::NextAttemptAt,
                next_attempt_at.into(),
            )
            .col_expr(
                webhook_delivery::Column::ClaimedBy,
                Option::<Uuid>::None.into(),
            )
            .filter(webhook_delivery::Column::Id.eq(id.as_uuid()))
            .filter(webhook_delivery::Column::ClaimedBy.eq(worker.as_uuid()))
            .filter(webhook_delivery::Column::Status.eq(DeliveryStatus::Pending.name()))
            .exec(&self.db)
            .await
            .map_err(db_error)?;
        Ok(())
    }
}
