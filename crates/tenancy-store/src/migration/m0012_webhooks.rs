//! Webhooks (R33):
//!
//! - `webhooks`: an organization's endpoints, each with its secret sealed
//!   like connection credentials (the organization and the webhook as
//!   associated data), and the previous secret with the instant it stops
//!   signing, after a rotation.
//! - `webhook_deliveries`: one row per event and subscribed webhook,
//!   written in the transaction of the event's change (D16), with its body;
//!   a worker claims due rows with a lease (`next_attempt_at` pushed to the
//!   lease's end, `claimed_by` naming it), as the mail outbox's workers do.
//!   `retry_base` is the count of attempts when the schedule last started
//!   (a retry by hand restarts it while `attempts` counts on). A webhook's
//!   deletion takes its deliveries with it.

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::DatabaseBackend;

#[derive(DeriveMigrationName)]
pub(super) struct Migration;

const STATEMENTS: [&str; 5] = [
    "CREATE TABLE webhooks (
        id UUID NOT NULL PRIMARY KEY,
        organization_id UUID NOT NULL REFERENCES organizations (id),
        url text NOT NULL,
        events text NOT NULL,
        description text NOT NULL,
        enabled boolean NOT NULL,
        key_id text NOT NULL,
        sealed_secret BYTES NOT NULL,
        previous_key_id text NULL,
        previous_sealed_secret BYTES NULL,
        previous_until TIMESTAMP NULL,
        created_at TIMESTAMP NOT NULL,
        updated_at TIMESTAMP NOT NULL,
        CHECK ((previous_sealed_secret IS NULL) = (previous_until IS NULL))
    )",
    "CREATE INDEX ix_webhooks_organization ON webhooks (organization_id, created_at)",
    "CREATE TABLE webhook_deliveries (
        id UUID NOT NULL PRIMARY KEY,
        organization_id UUID NOT NULL REFERENCES organizations (id),
        webhook_id UUID NOT NULL REFERENCES webhooks (id) ON DELETE CASCADE,
        event_id UUID NOT NULL,
        event_type text NOT NULL,
        body text NOT NULL,
        status text NOT NULL CHECK (status IN ('pending', 'delivered', 'failed')),
        attempts integer NOT NULL DEFAULT 0,
        retry_base integer NOT NULL DEFAULT 0,
        last_status_code integer NULL,
        last_error text NULL,
        next_attempt_at TIMESTAMP NULL,
        delivered_at TIMESTAMP NULL,
        created_at TIMESTAMP NOT NULL,
        claimed_by UUID NULL,
        CHECK ((status = 'pending') = (next_attempt_at IS NOT NULL)),
        CHECK ((status = 'delivered') = (delivered_at IS NOT NULL))
    )",
    "CREATE INDEX ix_webhook_deliveries_due ON webhook_deliveries (next_attempt_at) \
     WHERE status = 'pending'",
    "CREATE INDEX ix_webhook_deliveries_webhook ON webhook_deliveries (webhook_id, created_at, id)",
];

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let c = manager.get_connection();
        let (uuid, timestamp, bytes) = match manager.get_database_backend() {
            DatabaseBackend::Postgres => ("uuid", "timestamp with time zone", "bytea"),
            _ => ("uuid_text", "timestamp_with_timezone_text", "blob"),
        };
        for statement in STATEMENTS {
            c.execute_unprepared(
                &statement
                    .replace("UUID", uuid)
                    .replace("TIMESTAMP", timestamp)
                    .replace("BYTES", bytes),
            )
            .await?;
        }
        Ok(())
    }
}
