//! The decisions of webhooks (R33): create, edit, delete, rotate the
//! secret, send a test event and retry a delivery, each with
//! `manage_webhooks`; every change but the last two records its audit event.

use chrono::{DateTime, Utc};

use super::{Change, Decision, audit, authorize_in};
use crate::audit::{Action, Actor, Target, TargetKind};
use crate::entity::Organization;
use crate::error::{Error, Missing};
use crate::id::{DeliveryId, UserId, WebhookId};
use crate::operation::Operation;
use crate::policy::Membership;
use crate::value::RoleDescription;
use crate::webhook::{
    Delivery, DeliveryStatus, EventFilter, ROTATION_OVERLAP, Webhook, WebhookSecret, WebhookUrl,
};

/// A webhook as asked for.
#[derive(Debug, Clone)]
pub struct NewWebhook {
    pub url: WebhookUrl,
    pub events: EventFilter,
    pub description: RoleDescription,
}

/// What an edit of a webhook changes; `None` keeps the field.
#[derive(Debug, Clone, Default)]
pub struct WebhookPatch {
    pub url: Option<WebhookUrl>,
    pub events: Option<EventFilter>,
    pub description: Option<RoleDescription>,
    pub enabled: Option<bool>,
}

/// A webhook as an audit event's target, labelled by its URL.
fn webhook_target(webhook: &Webhook) -> Target {
    Target::new(TargetKind::Webhook, webhook.id, webhook.url.as_str())
}

/// The organization's webhook of `id`, or 404.
fn own<'a>(organization: &Organization, found: Option<&'a Webhook>) -> Result<&'a Webhook, Error> {
    found
        .filter(|w| w.organization_id == organization.id)
        .ok_or(Error::NotFound(Missing::Webhook))
}

/// Creating a webhook, enabled, with a fresh secret (returned once).
pub fn create_webhook(
    actor: UserId,
    organization: Option<&Organization>,
    membership: Option<&Membership>,
    input: NewWebhook,
    id: WebhookId,
    secret: WebhookSecret,
    now: DateTime<Utc>,
) -> Result<Decision<(Webhook, WebhookSecret)>, Error> {
    let (_, organization) =
        authorize_in(actor, organization, membership, Operation::ManageWebhooks)?;
    let webhook = Webhook {
        id,
        organization_id: organization.id,
        url: input.url,
        events: input.events,
        description: input.description,
        enabled: true,
        created_at: now,
        updated_at: now,
    };
    Ok(Decision::new(
        vec![
            Change::InsertWebhook {
                webhook: webhook.clone(),
                secret: secret.clone(),
            },
            Change::Audit(audit(
                organization.id,
                Action::WebhookCreated,
                Actor::User(actor),
                webhook_target(&webhook),
            )),
        ],
        (webhook, secret),
    ))
}

/// Editing a webhook: each changed field is in the event's `changes`; an
/// edit that changes nothing records nothing.
pub fn update_webhook(
    actor: UserId,
    organization: Option<&Organization>,
    membership: Option<&Membership>,
    found: Option<&Webhook>,
    patch: WebhookPatch,
    now: DateTime<Utc>,
) -> Result<Decision<Webhook>, Error> {
    let (_, organization) =
        authorize_in(actor, organization, membership, Operation::ManageWebhooks)?;
    let current = own(organization, found)?;
    let updated = Webhook {
        url: patch.url.unwrap_or_else(|| current.url.clone()),
        events: patch.events.unwrap_or_else(|| current.events.clone()),
        description: patch
            .description
            .unwrap_or_else(|| current.description.clone()),
        enabled: patch.enabled.unwrap_or(current.enabled),
        ..current.clone()
    };
    let mut entry = audit(
        organization.id,
        Action::WebhookUpdated,
        Actor::User(actor),
        webhook_target(&updated),
    );
    let mut changed = false;
    if updated.url != current.url {
        entry = entry.changing("url", current.url.as_str(), updated.url.as_str());
        changed = true;
    }
    if updated.events != current.events {
        entry = entry.changing(
            "events",
            current.events.as_slice().to_vec(),
            updated.events.as_slice().to_vec(),
        );
        changed = true;
    }
    if updated.description != current.description {
        entry = entry.changing(
            "description",
            current.description.as_str(),
            updated.description.as_str(),
        );
        changed = true;
    }
    if updated.enabled != current.enabled {
        entry = entry.changing("enabled", current.enabled, updated.enabled);
        changed = true;
    }
    if !changed {
        return Ok(Decision::new(vec![], current.clone()));
    }
    let updated = Webhook {
        updated_at: now,
        ..updated
    };
    Ok(Decision::new(
        vec![Change::UpdateWebhook(updated.clone()), Change::Audit(entry)],
        updated,
    ))
}

/// Deleting a webhook, with its queued deliveries and their log.
pub fn delete_webhook(
    actor: UserId,
    organization: Option<&Organization>,
    membership: Option<&Membership>,
    found: Option<&Webhook>,
) -> Result<Decision<()>, Error> {
    let (_, organization) =
        authorize_in(actor, organization, membership, Operation::ManageWebhooks)?;
    let webhook = own(organization, found)?;
    Ok(Decision::new(
        vec![
            Change::DeleteWebhook {
                organization_id: organization.id,
                id: webhook.id,
            },
            Change::Audit(audit(
                organization.id,
                Action::WebhookDeleted,
                Actor::User(actor),
                webhook_target(webhook),
            )),
        ],
        (),
    ))
}

/// A new secret; the previous one keeps signing for [`ROTATION_OVERLAP`].
pub fn rotate_webhook_secret(
    actor: UserId,
    organization: Option<&Organization>,
    membership: Option<&Membership>,
    found: Option<&Webhook>,
    secret: WebhookSecret,
    now: DateTime<Utc>,
) -> Result<Decision<(Webhook, WebhookSecret)>, Error> {
    let (_, organization) =
        authorize_in(actor, organization, membership, Operation::ManageWebhooks)?;
    let webhook = Webhook {
        updated_at: now,
        ..own(organization, found)?.clone()
    };
    Ok(Decision::new(
        vec![
            Change::RotateWebhookSecret {
                organization_id: organization.id,
                id: webhook.id,
                secret: secret.clone(),
                previous_until: now + ROTATION_OVERLAP,
                at: now,
            },
            Change::Audit(audit(
                organization.id,
                Action::WebhookSecretRotated,
                Actor::User(actor),
                webhook_target(&webhook),
            )),
        ],
        (webhook, secret),
    ))
}

/// A `webhook.test` delivery to this webhook alone, enabled or not; it is
/// no audit event.
pub fn test_webhook(
    actor: UserId,
    organization: Option<&Organization>,
    membership: Option<&Membership>,
    found: Option<&Webhook>,
    id: DeliveryId,
    now: DateTime<Utc>,
) -> Result<Decision<Delivery>, Error> {
    let (_, organization) =
        authorize_in(actor, organization, membership, Operation::ManageWebhooks)?;
    let webhook = own(organization, found)?;
    let delivery = Delivery {
        id,
        webhook_id: webhook.id,
        organization_id: organization.id,
        event_id: crate::id::AuditEventId::from_uuid(id.as_uuid()),
        event_type: crate::webhook::TEST_EVENT.to_owned(),
        status: DeliveryStatus::Pending,
        attempts: 0,
        retry_base: 0,
        last_status_code: None,
        last_error: None,
        next_attempt_at: Some(now),
        delivered_at: None,
        created_at: now,
    };
    Ok(Decision::new(
        vec![Change::EnqueueTestDelivery(delivery.clone())],
        delivery,
    ))
}

/// Queues a delivery again now, its schedule restarted and its attempts
/// counting on.
pub fn retry_delivery(
    actor: UserId,
    organization: Option<&Organization>,
    membership: Option<&Membership>,
    webhook: Option<&Webhook>,
    found: Option<&Delivery>,
    now: DateTime<Utc>,
) -> Result<Decision<Delivery>, Error> {
    let (_, organization) =
        authorize_in(actor, organization, membership, Operation::ManageWebhooks)?;
    let webhook = own(organization, webhook)?;
    let delivery = found
        .filter(|d| d.webhook_id == webhook.id && d.organization_id == organization.id)
        .ok_or(Error::NotFound(Missing::Delivery))?;
    let retried = Delivery {
        status: DeliveryStatus::Pending,
        retry_base: delivery.attempts,
        next_attempt_at: Some(now),
        ..delivery.clone()
    };
    Ok(Decision::new(
        vec![Change::RetryDelivery {
            organization_id: organization.id,
            id: delivery.id,
            at: now,
        }],
        retried,
    ))
}
