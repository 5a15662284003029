//! The audit log (R32, D16): `audit_events`, one row per event, written in
//! the transaction of the change it records.
//!
//! - `(organization_id, seq)` is unique: two transactions that both took the
//!   same next `seq` cannot both commit, so the numbers have no duplicate,
//!   and with the organization's lock no gap either.
//! - `prev_hash` and `hash` chain the events (see `tenancy_core::audit`).
//! - Triggers refuse any `UPDATE`, and any `DELETE` but that of the purge
//!   (of an organization pending deletion): nothing the application does can
//!   rewrite history, and what someone with the database's keys might do
//!   anyway the hash chain shows.
//! - Indexes serve the list's filters by actor and by action, newest first.

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::DatabaseBackend;

#[derive(DeriveMigrationName)]
pub(super) struct Migration;

/// The table, with `UUID` and `TIMESTAMP` for each backend's names of the
/// types that sea-orm maps ids and instants to.
const TABLE: &str = "CREATE TABLE audit_events (
    id UUID NOT NULL PRIMARY KEY,
    organization_id UUID NOT NULL REFERENCES organizations (id),
    seq bigint NOT NULL CHECK (seq >= 1),
    occurred_at TIMESTAMP NOT NULL,
    action text NOT NULL,
    actor_type text NOT NULL CHECK (actor_type IN ('user', 'service', 'system')),
    actor_id UUID NULL,
    actor_email text NULL,
    target_type text NOT NULL,
    target_id text NOT NULL,
    target_label text NOT NULL,
    changes text NULL,
    request_id text NULL,
    prev_hash text NOT NULL CHECK (length(prev_hash) = 64),
    hash text NOT NULL CHECK (length(hash) = 64),
    CHECK ((actor_type = 'user') = (actor_id IS NOT NULL)),
    UNIQUE (organization_id, seq)
)";

const INDEXES: [&str; 2] = [
    "CREATE INDEX ix_audit_events_actor ON audit_events (organization_id, actor_id, seq)",
    "CREATE INDEX ix_audit_events_action ON audit_events (organization_id, action, seq)",
];

const SQLITE_TRIGGERS: [&str; 2] = [
    "CREATE TRIGGER audit_events_no_update BEFORE UPDATE ON audit_events \
     BEGIN SELECT RAISE(ABORT, 'audit events are append-only'); END",
    "CREATE TRIGGER audit_events_no_delete BEFORE DELETE ON audit_events \
     WHEN NOT EXISTS (SELECT 1 FROM organizations o \
         WHERE o.id = OLD.organization_id AND o.purge_after IS NOT NULL) \
     BEGIN SELECT RAISE(ABORT, 'audit events are deleted only by the purge'); END",
];

const POSTGRES_TRIGGERS: [&str; 4] = [
    "CREATE FUNCTION audit_events_append_only() RETURNS trigger LANGUAGE plpgsql AS $$ \
     BEGIN \
         IF TG_OP = 'UPDATE' THEN \
             RAISE EXCEPTION 'audit events are append-only'; \
         END IF; \
         IF NOT EXISTS (SELECT 1 FROM organizations o \
             WHERE o.id = OLD.organization_id AND o.purge_after IS NOT NULL) THEN \
             RAISE EXCEPTION 'audit events are deleted only by the purge'; \
         END IF; \
         RETURN OLD; \
     END $$",
    "CREATE TRIGGER audit_events_no_update BEFORE UPDATE ON audit_events \
     FOR EACH ROW EXECUTE FUNCTION audit_events_append_only()",
    "CREATE TRIGGER audit_events_no_delete BEFORE DELETE ON audit_events \
     FOR EACH ROW EXECUTE FUNCTION audit_events_append_only()",
    "CREATE TRIGGER audit_events_no_truncate BEFORE TRUNCATE ON audit_events \
     FOR EACH STATEMENT EXECUTE FUNCTION audit_events_refuse_truncate()",
];

const POSTGRES_TRUNCATE: &str = "CREATE FUNCTION audit_events_refuse_truncate() RETURNS trigger LANGUAGE plpgsql AS $$ \
     BEGIN RAISE EXCEPTION 'audit events are append-only'; END $$";

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let c = manager.get_connection();
        let backend = manager.get_database_backend();
        let (uuid, timestamp) = match backend {
            DatabaseBackend::Postgres => ("uuid", "timestamp with time zone"),
            _ => ("uuid_text", "timestamp_with_timezone_text"),
        };
        c.execute_unprepared(&TABLE.replace("UUID", uuid).replace("TIMESTAMP", timestamp))
            .await?;
        for index in INDEXES {
            c.execute_unprepared(index).await?;
        }
        match backend {
            DatabaseBackend::Postgres => {
                c.execute_unprepared(POSTGRES_TRUNCATE).await?;
                for trigger in POSTGRES_TRIGGERS {
                    c.execute_unprepared(trigger).await?;
                }
            }
            _ => {
                for trigger in SQLITE_TRIGGERS {
                    c.execute_unprepared(trigger).await?;
                }
            }
        }
        Ok(())
    }
}
