//! The outbox's leases name their worker, so that a short lease can be
//! renewed by the worker still delivering and by no one else; and a sent
//! email keeps no sealed token.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub(super) struct Migration;

#[derive(Iden)]
enum MailOutbox {
    Table,
    ClaimedBy,
    SealedToken,
    SentAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(MailOutbox::Table)
                    .add_column(ColumnDef::new(MailOutbox::ClaimedBy).uuid().null())
                    .to_owned(),
            )
            .await?;
        // Emails sent before this version still hold their sealed token.
        manager
            .exec_stmt(
                Query::update()
                    .table(MailOutbox::Table)
                    .value(MailOutbox::SealedToken, Vec::<u8>::new())
                    .and_where(Expr::col(MailOutbox::SentAt).is_not_null())
                    .to_owned(),
            )
            .await?;
        Ok(())
    }
}
