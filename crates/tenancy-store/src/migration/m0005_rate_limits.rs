//! The hits of the rate limits: one row per counted hit, under a keyed hash
//! of its key (never the email or address itself), until the hit leaves its
//! window. Rows past their expiry count for nothing and are pruned.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub(super) struct Migration;

#[derive(Iden)]
enum RateLimitHits {
    Table,
    Id,
    KeyHash,
    ExpiresAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(RateLimitHits::Table)
                    .col(
                        ColumnDef::new(RateLimitHits::Id)
                            .uuid()
                            .not_null()
                            .primary_key(),
                    )
                    .col(ColumnDef::new(RateLimitHits::KeyHash).binary().not_null())
                    .col(
                        ColumnDef::new(RateLimitHits::ExpiresAt)
                            .timestamp_with_time_zone()
                            .not_null(),
                    )
                    .to_owned(),
            )
            .await?;
        // A hit reads the live hits of its key, newest first.
        manager
            .create_index(
                Index::create()
                    .name("ix_rate_limit_hits_key")
                    .table(RateLimitHits::Table)
                    .col(RateLimitHits::KeyHash)
                    .col(RateLimitHits::ExpiresAt)
                    .to_owned(),
            )
            .await?;
        // Pruning takes the oldest expired rows of every key.
        manager
            .create_index(
                Index::create()
                    .name("ix_rate_limit_hits_expiry")
                    .table(RateLimitHits::Table)
                    .col(RateLimitHits::ExpiresAt)
                    .to_owned(),
            )
            .await
    }
}
