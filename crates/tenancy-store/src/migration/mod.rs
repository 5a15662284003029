//! The schema, as migrations frozen in time: they name tables and columns
//! themselves and never import the entities, so that changing an entity
//! later cannot change what an old migration did.

use sea_orm_migration::prelude::*;

mod m0001_initial;
mod m0002_sessions;
mod m0003_resources;
mod m0004_live_resources;
mod m0005_rate_limits;
mod m0006_normalize_emails;
mod m0007_outbox_lease;
mod m0008_accounts;
mod m0009_roles;
mod m0010_lifecycle;
mod m0011_audit;
mod m0012_webhooks;

/// Every migration, oldest first.
#[derive(Debug)]
pub struct Migrator;

#[async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(m0001_initial::Migration),
            Box::new(m0002_sessions::Migration),
            Box::new(m0003_resources::Migration),
            Box::new(m0004_live_resources::Migration),
            Box::new(m0005_rate_limits::Migration),
            Box::new(m0006_normalize_emails::Migration),
            Box::new(m0007_outbox_lease::Migration),
            Box::new(m0008_accounts::Migration),
            Box::new(m0009_roles::Migration),
            Box::new(m0010_lifecycle::Migration),
            Box::new(m0011_audit::Migration),
            Box::new(m0012_webhooks::Migration),
        ]
    }
}
