//! Resources are deleted softly, so an organization's rows pile up; the
//! listings and the quota counts read only the live ones. A partial index on
//! the live rows keeps those reads proportional to what exists.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub(super) struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        // Both databases take partial indexes, and both use this one for
        // `... WHERE organization_id = ? AND kind = ? AND deleted_at IS NULL
        // ORDER BY created_at, id`.
        manager
            .get_connection()
            .execute_unprepared(
                "CREATE INDEX ix_resources_live \
                 ON resources (organization_id, kind, created_at, id) WHERE deleted_at IS NULL",
            )
            .await?;
        Ok(())
    }
}
