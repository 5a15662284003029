//! Webhooks (R33): an organization's endpoints for the events of its audit
//! log, their secrets (shown once), rotation, test events, and the log of
//! deliveries with a retry by hand. Every route needs `manage_webhooks`.

use chrono::{DateTime, Utc};
use poem_openapi::param::{Path, Query};
use poem_openapi::payload::Json;
use poem_openapi::{Enum, Object, OpenApi};
use tenancy_core::decide::{NewWebhook, WebhookPatch};
use tenancy_core::id::{DeliveryId, WebhookId};
use tenancy_core::value::RoleDescription;
use tenancy_core::webhook::{
    Delivery, DeliveryStatus, EventFilter, Webhook, WebhookSecret, WebhookUrl,
};
use tenancy_core::{Operation, OrganizationId};
use uuid::Uuid;

use super::{Result, Tag};
use crate::auth::Session;
use crate::body::{Fields, JsonBody};
use crate::errors::fails;
use crate::paging;
use crate::problem::ApiError;
use crate::respond::{Accepted, Created, NoContent};
use crate::state::AppState;

/// A webhook, without its secret.
#[derive(Debug, Clone, Object)]
#[oai(rename = "Webhook")]
pub(crate) struct WebhookBody {
    pub(crate) id: Uuid,
    pub(crate) url: String,
    /// Action names of the audit log, prefixes ending in `.*`, or `*`.
    pub(crate) events: Vec<String>,
    pub(crate) description: String,
    /// A disabled webhook gets no new deliveries; those already queued still go.
    pub(crate) enabled: bool,
    pub(crate) created_at: DateTime<Utc>,
}

impl From<&Webhook> for WebhookBody {
    fn from(w: &Webhook) -> Self {
        Self {
            id: w.id.as_uuid(),
            url: w.url.as_str().to_owned(),
            events: w.events.as_slice().to_vec(),
            description: w.description.as_str().to_owned(),
            enabled: w.enabled,
            created_at: w.created_at,
        }
    }
}

/// A webhook with its secret: the answer of a creation and of a rotation, the only ones that
/// show it.
#[derive(Debug, Clone, Object)]
#[oai(rename = "WebhookWithSecret")]
pub(crate) struct WebhookWithSecret {
    pub(crate) id: Uuid,
    pub(crate) url: String,
    pub(crate) events: Vec<String>,
    pub(crate) description: String,
    pub(crate) enabled: bool,
    pub(crate) created_at: DateTime<Utc>,
    /// `whsec_` and the base64 of 32 random bytes: the key of the signatures. Shown only here.
    pub(crate) secret: String,
}

impl WebhookWithSecret {
    fn new(w: &Webhook, secret: &WebhookSecret) -> Self {
        let body = WebhookBody::from(w);
        Self {
            id: body.id,
            url: body.url,
            events: body.events,
            description: body.description,
            enabled: body.enabled,
            created_at: body.created_at,
            secret: secret.reveal().to_string(),
        }
    }
}

crate::paging::list!(
    /// A page of an organization's webhooks, oldest first.
    WebhookList,
    WebhookBody
);

/// A new webhook.
#[derive(Debug, Object)]
pub(crate) struct WebhookRequest {
    /// `https`, resolving to public addresses only (unless the server runs with
    /// `--allow-private-webhooks`); at most 2048 characters.
    pub(crate) url: String,
    /// At least one: action names of the audit log, prefixes ending in `.*` (`member.*`), or
    /// `*`; duplicates are dropped.
    pub(crate) events: Vec<String>,
    /// Trimmed, at most 500 characters.
    #[oai(nullable)]
    pub(crate) description: Option<String>,
}

/// What to change of a webhook; an absent or `null` field stays as it is.
#[derive(Debug, Object)]
pub(crate) struct WebhookPatchRequest {
    #[oai(nullable)]
    pub(crate) url: Option<String>,
    #[oai(nullable)]
    pub(crate) events: Option<Vec<String>>,
    #[oai(nullable)]
    pub(crate) description: Option<String>,
    #[oai(nullable)]
    pub(crate) enabled: Option<bool>,
}

/// Where a delivery is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
#[oai(rename_all = "snake_case")]
pub(crate) enum DeliveryState {
    Pending,
    Delivered,
    Failed,
}

/// One delivery of one event to one webhook.
#[derive(Debug, Clone, Object)]
#[oai(rename = "WebhookDelivery")]
pub(crate) struct DeliveryBody {
    pub(crate) id: Uuid,
    /// The audit event delivered (for a test, the delivery's own id).
    pub(crate) event_id: Uuid,
    /// The event's action, or `webhook.test`.
    #[oai(rename = "type")]
    pub(crate) kind: String,
    pub(crate) status: DeliveryState,
    pub(crate) attempts: u32,
    #[oai(nullable)]
    pub(crate) last_status_code: Option<u16>,
    #[oai(nullable)]
    pub(crate) last_error: Option<String>,
    /// When it is tried next; `null` once delivered or failed.
    #[oai(nullable)]
    pub(crate) next_attempt_at: Option<DateTime<Utc>>,
    #[oai(nullable)]
    pub(crate) delivered_at: Option<DateTime<Utc>>,
}

impl From<&Delivery> for DeliveryBody {
    fn from(d: &Delivery) -> Self {
        Self {
            id: d.id.as_uuid(),
            event_id: d.event_id.as_uuid(),
            kind: d.event_type.clone(),
            status: match d.status {
                DeliveryStatus::Pending => DeliveryState::Pending,
                DeliveryStatus::Delivered => DeliveryState::Delivered,
                DeliveryStatus::Failed => DeliveryState::Failed,
            },
            attempts: d.attempts,
            last_status_code: d.last_status_code,
            last_error: d.last_error.clone(),
            next_attempt_at: d.next_attempt_at,
            delivered_at: d.delivered_at,
        }
    }
}

/// A page of a webhook's deliveries, newest first.
#[derive(Debug, Clone, Object)]
pub(crate) struct DeliveryList {
    pub items: Vec<DeliveryBody>,
    /// Pass as `cursor` for the next page; `null` on the last page.
    #[oai(nullable)]
    pub next_cursor: Option<String>,
}

/// The operations of this area.
pub(crate) struct WebhooksApi(pub(crate) AppState);

impl WebhooksApi {
    /// A URL's form, then where it resolves to (422 for both).
    async fn url(&self, fields: &mut Fields, raw: &str) -> Option<WebhookUrl> {
        let allow = self.0.config.allow_private_webhooks;
        let url = fields.check("url", WebhookUrl::parse(raw, allow))?;
        fields.check("url", crate::destination::resolve(&url, allow).await)?;
        Some(url)
    }

    fn events(fields: &mut Fields, raw: &[String]) -> Option<EventFilter> {
        fields.check("events", EventFilter::parse(raw))
    }

    fn description(fields: &mut Fields, raw: &str) -> Option<RoleDescription> {
        fields.check("description", RoleDescription::parse(raw))
    }
}

fn org(id: &Path<Uuid>) -> OrganizationId {
    OrganizationId::from_uuid(id.0)
}

fn hook(id: &Path<Uuid>) -> WebhookId {
    WebhookId::from_uuid(id.0)
}

#[OpenApi(prefix_path = "/v1/organizations")]
impl WebhooksApi {
    /// Create a webhook
    ///
    /// Registers an endpoint for the audit log's events: each event whose action `events`
    /// subscribes to is delivered to it as a signed `POST` (Standard Webhooks), at least once,
    /// queued in the transaction of its change.
    /// The answer carries the signing secret, which no other answer shows.
    /// Needs `manage_webhooks`, checked before the body is read.
    #[oai(
        path = "/:org_id/webhooks",
        method = "post",
        tag = "Tag::Webhooks",
        operation_id = "create_webhook"
    )]
    async fn create(
        &self,
        auth: Session,
        org_id: Path<Uuid>,
        body: JsonBody<WebhookRequest>,
    ) -> Result<
        Created<WebhookWithSecret>,
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
        let caller = self
            .0
            .authorized(&auth.0.token, org, Operation::ManageWebhooks)
            .await?;
        let body = body.value()?;
        let mut fields = Fields::default();
        let url = self.url(&mut fields, &body.url).await;
        let events = Self::events(&mut fields, &body.events);
        let description = Self::description(&mut fields, body.description.as_deref().unwrap_or(""));
        fields.finish()?;
        let (Some(url), Some(events), Some(description)) = (url, events, description) else {
            return Err(ApiError::invalid("url", "invalid").into());
        };
        let (webhook, secret) = self
            .0
            .tenancy
            .create_webhook(
                caller,
                org,
                NewWebhook {
                    url,
                    events,
                    description,
                },
            )
            .await?;
        Ok(Created::Created(Json(WebhookWithSecret::new(
            &webhook, &secret,
        ))))
    }

    /// List an organization's webhooks
    ///
    /// The organization's webhooks, oldest first, without their secrets.
    /// Needs `manage_webhooks`.
    #[oai(
        path = "/:org_id/webhooks",
        method = "get",
        tag = "Tag::Webhooks",
        operation_id = "list_webhooks"
    )]
    async fn list(
        &self,
        auth: Session,
        org_id: Path<Uuid>,
        #[oai(validator(minimum(value = "1"), maximum(value = "200")))] limit: Query<Option<u32>>,
        cursor: Query<Option<String>>,
    ) -> Result<
        Json<WebhookList>,
        fails![
            Unauthenticated,
            NotFound,
            Forbidden,
            ValidationFailed,
            OrganizationPendingDeletion
        ],
    > {
        let org = org(&org_id);
        let caller = self
            .0
            .authorized(&auth.0.token, org, Operation::ManageWebhooks)
            .await?;
        let found = self.0.tenancy.webhooks(caller, org).await?;
        Ok(WebhookList::from_each(&found, limit, cursor)?)
    }

    /// Get a webhook
    ///
    /// One webhook, without its secret. Needs `manage_webhooks`.
    #[oai(
        path = "/:org_id/webhooks/:webhook_id",
        method = "get",
        tag = "Tag::Webhooks",
        operation_id = "get_webhook"
    )]
    async fn get(
        &self,
        auth: Session,
        org_id: Path<Uuid>,
        webhook_id: Path<Uuid>,
    ) -> Result<
        Json<WebhookBody>,
        fails![
            Unauthenticated,
            NotFound,
            Forbidden,
            OrganizationPendingDeletion
        ],
    > {
        let org = org(&org_id);
        let caller = self
            .0
            .authorized(&auth.0.token, org, Operation::ManageWebhooks)
            .await?;
        let webhook = self
            .0
            .tenancy
            .webhook(caller, org, hook(&webhook_id))
            .await?;
        Ok(Json(WebhookBody::from(&webhook)))
    }

    /// Edit a webhook
    ///
    /// Changes its URL (checked again as at creation), its events, its description, or whether it
    /// is enabled. A disabled webhook gets no new deliveries; those already queued still go.
    /// Needs `manage_webhooks`, checked before the body is read.
    #[oai(
        path = "/:org_id/webhooks/:webhook_id",
        method = "patch",
        tag = "Tag::Webhooks",
        operation_id = "update_webhook"
    )]
    async fn update(
        &self,
        auth: Session,
        org_id: Path<Uuid>,
        webhook_id: Path<Uuid>,
        body: JsonBody<WebhookPatchRequest>,
    ) -> Result<
        Json<WebhookBody>,
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
        let caller = self
            .0
            .authorized(&auth.0.token, org, Operation::ManageWebhooks)
            .await?;
        let body = body.value()?;
        let mut fields = Fields::default();
        let url = match &body.url {
            Some(raw) => self.url(&mut fields, raw).await,
            None => None,
        };
        let events = body
            .events
            .as_deref()
            .and_then(|raw| Self::events(&mut fields, raw));
        let description = body
            .description
            .as_deref()
            .and_then(|raw| Self::description(&mut fields, raw));
        fields.finish()?;
        let patch = WebhookPatch {
            url,
            events,
            description,
            enabled: body.enabled,
        };
        let webhook = self
            .0
            .tenancy
            .update_webhook(caller, org, hook(&webhook_id), patch)
            .await?;
        Ok(Json(WebhookBody::from(&webhook)))
    }

    /// Delete a webhook
    ///
    /// Deletes the webhook with its queued deliveries and their log. Needs `manage_webhooks`.
    #[oai(
        path = "/:org_id/webhooks/:webhook_id",
        method = "delete",
        tag = "Tag::Webhooks",
        operation_id = "delete_webhook"
    )]
    async fn delete(
        &self,
        auth: Session,
        org_id: Path<Uuid>,
        webhook_id: Path<Uuid>,
    ) -> Result<
        NoContent,
        fails![
            Unauthenticated,
            NotFound,
            Forbidden,
            OrganizationPendingDeletion
        ],
    > {
        let org = org(&org_id);
        let caller = self
            .0
            .authorized(&auth.0.token, org, Operation::ManageWebhooks)
            .await?;
        self.0
            .tenancy
            .delete_webhook(caller, org, hook(&webhook_id))
            .await?;
        Ok(NoContent::NoContent)
    }

    /// Rotate a webhook's secret
    ///
    /// Gives the webhook a new secret, in this answer only. For 24 hours deliveries carry two
    /// signatures, with the new secret and with the previous one, so that receivers can switch.
    /// Needs `manage_webhooks`.
    #[oai(
        path = "/:org_id/webhooks/:webhook_id/rotate-secret",
        method = "post",
        tag = "Tag::Webhooks",
        operation_id = "rotate_webhook_secret"
    )]
    async fn rotate(
        &self,
        auth: Session,
        org_id: Path<Uuid>,
        webhook_id: Path<Uuid>,
    ) -> Result<
        Json<WebhookWithSecret>,
        fails![
            Unauthenticated,
            NotFound,
            Forbidden,
            OrganizationPendingDeletion
        ],
    > {
        let org = org(&org_id);
        let caller = self
            .0
            .authorized(&auth.0.token, org, Operation::ManageWebhooks)
            .await?;
        let (webhook, secret) = self
            .0
            .tenancy
            .rotate_webhook_secret(caller, org, hook(&webhook_id))
            .await?;
        Ok(Json(WebhookWithSecret::new(&webhook, &secret)))
    }

    /// Send a test event
    ///
    /// Queues a `webhook.test` event (`data`: `{"webhook_id"}`, in no audit log) to this webhook
    /// alone, enabled or not, and answers its delivery. Needs `manage_webhooks`.
    #[oai(
        path = "/:org_id/webhooks/:webhook_id/test",
        method = "post",
        tag = "Tag::Webhooks",
        operation_id = "test_webhook"
    )]
    async fn test(
        &self,
        auth: Session,
        org_id: Path<Uuid>,
        webhook_id: Path<Uuid>,
    ) -> Result<
        Accepted<DeliveryBody>,
        fails![
            Unauthenticated,
            NotFound,
            Forbidden,
            OrganizationPendingDeletion
        ],
    > {
        let org = org(&org_id);
        let caller = self
            .0
            .authorized(&auth.0.token, org, Operation::ManageWebhooks)
            .await?;
        let delivery = self
            .0
            .tenancy
            .test_webhook(caller, org, hook(&webhook_id))
            .await?;
        Ok(Accepted::Accepted(Json(DeliveryBody::from(&delivery))))
    }

    /// List a webhook's deliveries
    ///
    /// Its deliveries, newest first: status, attempts, the last answer's status code or error,
    /// and when the next attempt is due. Needs `manage_webhooks`.
    #[oai(
        path = "/:org_id/webhooks/:webhook_id/deliveries",
        method = "get",
        tag = "Tag::Webhooks",
        operation_id = "list_webhook_deliveries"
    )]
    async fn deliveries(
        &self,
        auth: Session,
        org_id: Path<Uuid>,
        webhook_id: Path<Uuid>,
        #[oai(validator(minimum(value = "1"), maximum(value = "200")))] limit: Query<Option<u32>>,
        cursor: Query<Option<String>>,
    ) -> Result<
        Json<DeliveryList>,
        fails![
            Unauthenticated,
            NotFound,
            Forbidden,
            ValidationFailed,
            OrganizationPendingDeletion
        ],
    > {
        let org = org(&org_id);
        let caller = self
            .0
            .authorized(&auth.0.token, org, Operation::ManageWebhooks)
            .await?;
        let (limit, skip) = paging::keyset(limit.0, cursor.0.as_deref())?;
        // The cursor is the count of deliveries already listed; the page is
        // read by keyset after the last of them.
        let skip = skip.unwrap_or(0);
        let mut found = self
            .0
            .tenancy
            .deliveries(caller, org, hook(&webhook_id), None, skip + limit + 1)
            .await?;
        let more = found.len() > skip + limit;
        let items: Vec<DeliveryBody> = found
            .drain(..)
            .skip(skip)
            .take(limit)
            .map(|d| DeliveryBody::from(&d))
            .collect();
        Ok(Json(DeliveryList {
            items,
            next_cursor: more.then(|| paging::keyset_cursor(skip + limit)),
        }))
    }

    /// Retry a delivery
    ///
    /// Queues the delivery again now, its schedule of retries restarted and `attempts` counting on.
    /// Needs `manage_webhooks`.
    #[oai(
        path = "/:org_id/webhooks/:webhook_id/deliveries/:delivery_id/retry",
        method = "post",
        tag = "Tag::Webhooks",
        operation_id = "retry_webhook_delivery"
    )]
    async fn retry(
        &self,
        auth: Session,
        org_id: Path<Uuid>,
        webhook_id: Path<Uuid>,
        delivery_id: Path<Uuid>,
    ) -> Result<
        Accepted<DeliveryBody>,
        fails![
            Unauthenticated,
            NotFound,
            Forbidden,
            OrganizationPendingDeletion
        ],
    > {
        let org = org(&org_id);
        let caller = self
            .0
            .authorized(&auth.0.token, org, Operation::ManageWebhooks)
            .await?;
        let delivery = self
            .0
            .tenancy
            .retry_delivery(
                caller,
                org,
                hook(&webhook_id),
                DeliveryId::from_uuid(delivery_id.0),
            )
            .await?;
        Ok(Accepted::Accepted(Json(DeliveryBody::from(&delivery))))
    }
}
