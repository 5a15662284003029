//! The use cases of webhooks (R33), each with `manage_webhooks`: the writes
//! run under the organization's lock, in one transaction with their audit
//! event; the reads are reads of the committed state.

use chrono::{DateTime, Utc};

use super::Service;
use super::resources::Scope;
use crate::decide::{self, Decision, NewWebhook, WebhookPatch};
use crate::error::{Error, Missing};
use crate::id::{DeliveryId, OrganizationId, UserId, WebhookId};
use crate::operation::Operation;
use crate::ports::{Clock, IdGenerator, Repository, TokenGenerator};
use crate::webhook::{Delivery, Webhook, WebhookSecret};

impl<R, C, I, T> Service<R, C, I, T>
where
    R: Repository,
    C: Clock,
    I: IdGenerator,
    T: TokenGenerator,
{
    /// Creates a webhook; its secret is in the answer and nowhere else.
    pub async fn create_webhook(
        &self,
        actor: UserId,
        organization: OrganizationId,
        input: NewWebhook,
    ) -> Result<(Webhook, WebhookSecret), Error> {
        retrying!(async {
            let now = self.clock.now();
            let mut tx = self.repository.begin().await?;
            let scope = self.locked_scope(&mut tx, organization, actor).await?;
            let decision = decide::create_webhook(
                actor,
                scope.organization.as_ref(),
                scope.membership.as_ref(),
                input.clone(),
                WebhookId::from_uuid(self.ids.new_id()),
                WebhookSecret::from_bytes(self.tokens.generate()),
                now,
            )?;
            self.commit_at(tx, decision, now).await
        })
    }

    /// A write to one webhook: under the organization's lock, the webhook
    /// read, `decide` asked at one instant, its changes committed; run
    /// again on contention.
    async fn on_webhook<V>(
        &self,
        actor: UserId,
        organization: OrganizationId,
        id: WebhookId,
        decide: impl Fn(&Scope, Option<&Webhook>, DateTime<Utc>) -> Result<Decision<V>, Error>,
    ) -> Result<V, Error> {
        retrying!(async {
            let now = self.clock.now();
            let mut tx = self.repository.begin().await?;
            let scope = self.locked_scope(&mut tx, organization, actor).await?;
            let found = tx.webhook(organization, id).await?;
            let decision = decide(&scope, found.as_ref(), now)?;
            self.commit_at(tx, decision, now).await
        })
    }

    /// The organization's webhooks, oldest first.
    pub async fn webhooks(
        &self,
        actor: UserId,
        organization: OrganizationId,
    ) -> Result<Vec<Webhook>, Error> {
        let mut tx = self.repository.read().await?;
        Scope::read(&mut tx, organization, actor)
            .await?
            .access()
            .grant(Operation::ManageWebhooks)?;
        Ok(tx.webhooks(organization).await?)
    }

    /// One webhook of the organization.
    pub async fn webhook(
        &self,
        actor: UserId,
        organization: OrganizationId,
        id: WebhookId,
    ) -> Result<Webhook, Error> {
        let mut tx = self.repository.read().await?;
        Scope::read(&mut tx, organization, actor)
            .await?
            .access()
            .grant(Operation::ManageWebhooks)?;
        tx.webhook(organization, id)
            .await?
            .ok_or(Error::NotFound(Missing::Webhook))
    }

    /// Edits a webhook.
    pub async fn update_webhook(
        &self,
        actor: UserId,
        organization: OrganizationId,
        id: WebhookId,
        patch: WebhookPatch,
    ) -> Result<Webhook, Error> {
        self.on_webhook(actor, organization, id, |scope, found, now| {
            decide::update_webhook(
                actor,
                scope.organization.as_ref(),
                scope.membership.as_ref(),
                found,
                patch.clone(),
                now,
            )
        })
        .await
    }

    /// Deletes a webhook and its deliveries.
    pub async fn delete_webhook(
        &self,
        actor: UserId,
        organization: OrganizationId,
        id: WebhookId,
    ) -> Result<(), Error> {
        self.on_webhook(actor, organization, id, |scope, found, _| {
            decide::delete_webhook(
                actor,
                scope.organization.as_ref(),
                scope.membership.as_ref(),
                found,
            )
        })
        .await
    }

    /// Gives a webhook a new secret, returned once; the previous one signs
    /// too for 24 hours.
    pub async fn rotate_webhook_secret(
        &self,
        actor: UserId,
        organization: OrganizationId,
        id: WebhookId,
    ) -> Result<(Webhook, WebhookSecret), Error> {
        self.on_webhook(actor, organization, id, |scope, found, now| {
            decide::rotate_webhook_secret(
                actor,
                scope.organization.as_ref(),
                scope.membership.as_ref(),
                found,
                WebhookSecret::from_bytes(self.tokens.generate()),
                now,
            )
        })
        .await
    }

    /// Queues a `webhook.test` delivery to the webhook.
    pub async fn test_webhook(
        &self,
        actor: UserId,
        organization: OrganizationId,
        id: WebhookId,
    ) -> Result<Delivery, Error> {
        self.on_webhook(actor, organization, id, |scope, found, now| {
            decide::test_webhook(
                actor,
                scope.organization.as_ref(),
                scope.membership.as_ref(),
                found,
                DeliveryId::from_uuid(self.ids.new_id()),
                now,
            )
        })
        .await
    }

    /// A webhook's deliveries, newest first, at most `limit`, after the
    /// delivery `before` when given.
    pub async fn deliveries(
        &self,
        actor: UserId,
        organization: OrganizationId,
        id: WebhookId,
        before: Option<DeliveryId>,
        limit: usize,
    ) -> Result<Vec<Delivery>, Error> {
        let mut tx = self.repository.read().await?;
        Scope::read(&mut tx, organization, actor)
            .await?
            .access()
            .grant(Operation::ManageWebhooks)?;
        tx.webhook(organization, id)
            .await?
            .ok_or(Error::NotFound(Missing::Webhook))?;
        Ok(tx.deliveries(organization, id, before, limit).await?)
    }

    /// Queues a delivery again now.
    pub async fn retry_delivery(
        &self,
        actor: UserId,
        organization: OrganizationId,
        webhook: WebhookId,
        delivery: DeliveryId,
    ) -> Result<Delivery, Error> {
        retrying!(async {
            let now = self.clock.now();
            let mut tx = self.repository.begin().await?;
            let scope = self.locked_scope(&mut tx, organization, actor).await?;
            let hook = tx.webhook(organization, webhook).await?;
            let found = tx.delivery(organization, webhook, delivery).await?;
            let decision = decide::retry_delivery(
                actor,
                scope.organization.as_ref(),
                scope.membership.as_ref(),
                hook.as_ref(),
                found.as_ref(),
                now,
            )?;
            self.commit_at(tx, decision, now).await
        })
    }
}
