//! The organization's life past day one (R28–R30, D17):
//!
//! - `users.default_organization_id`: the organization made at sign-up,
//!   where a user falls back first when their active organization is gone
//!   (R19), still after they gave its ownership away; for users from before,
//!   the oldest organization they own. The purge clears it.
//! - `organizations.deletion_requested_at` and `purge_after`, both set while
//!   the organization is pending deletion, both null otherwise; the purge
//!   job finds what is due through an index on `purge_after`.
//! - `ownership_transfers`: at most one stored transfer per organization
//!   (unique `organization_id`), whose target is a member of it (a foreign
//!   key to the membership, so that a member cannot go while a transfer
//!   names them).
//! - `superseded_invitation_tokens`: the hash of every invitation token a
//!   resend replaced, so that its link answers `invitation_superseded`
//!   rather than `not_found`.
//! - `mail_outbox.organization_id` and `transfer_id`, for the email that
//!   offers a transfer (it carries no token); the table is rebuilt for its
//!   check, which now allows that third kind of email.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub(super) struct Migration;

#[derive(Iden)]
enum Organizations {
    Table,
    Id,
    DeletionRequestedAt,
    PurgeAfter,
}

#[derive(Iden)]
enum Memberships {
    Table,
    OrganizationId,
    UserId,
}

#[derive(Iden)]
enum Users {
    Table,
    Id,
    DefaultOrganizationId,
}

#[derive(Iden)]
enum Invitations {
    Table,
    Id,
}

#[derive(Iden)]
enum OwnershipTransfers {
    Table,
    Id,
    OrganizationId,
    FromUserId,
    ToUserId,
    CreatedAt,
    ExpiresAt,
}

#[derive(Iden)]
enum SupersededInvitationTokens {
    Table,
    TokenHash,
    OrganizationId,
    InvitationId,
    SupersededAt,
}

#[derive(Iden, Clone, Copy)]
enum MailOutbox {
    Table,
    Id,
    ToEmail,
    Kind,
    InvitationId,
    OrganizationName,
    InviterEmail,
    RoleName,
    AccountTokenId,
    OrganizationId,
    TransferId,
    SealedToken,
    KeyId,
    ExpiresAt,
    CreatedAt,
    Attempts,
    NextAttemptAt,
    SentAt,
    LastError,
    ClaimedBy,
}

#[derive(Iden)]
enum MailOutboxV2 {
    Table,
}

#[derive(Iden)]
enum AccountTokens {
    Table,
    Id,
}

fn timestamp(column: impl IntoIden) -> ColumnDef {
    ColumnDef::new(column)
        .timestamp_with_time_zone()
        .not_null()
        .to_owned()
}

async fn add_column(
    manager: &SchemaManager<'_>,
    table: impl IntoTableRef,
    column: ColumnDef,
) -> Result<(), DbErr> {
    manager
        .alter_table(
            Table::alter()
                .table(table)
                .add_column(column.to_owned())
                .to_owned(),
        )
        .await
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        // Each user's default organization (R19): the one made at sign-up,
        // taken to be the oldest one each owns today.
        add_column(
            manager,
            Users::Table,
            ColumnDef::new(Users::DefaultOrganizationId)
                .uuid()
                .null()
                .to_owned(),
        )
        .await?;
        manager
            .get_connection()
            .execute_unprepared(
                "UPDATE users SET default_organization_id = (SELECT m.organization_id \
                 FROM memberships m WHERE m.user_id = users.id AND m.role = 'owner' \
                 ORDER BY m.joined_at, m.organization_id LIMIT 1)",
            )
            .await?;
        // SQLite adds one column per statement.
        add_column(
            manager,
            Organizations::Table,
            ColumnDef::new(Organizations::DeletionRequestedAt)
                .timestamp_with_time_zone()
                .null()
                .to_owned(),
        )
        .await?;
        add_column(
            manager,
            Organizations::Table,
            ColumnDef::new(Organizations::PurgeAfter)
                .timestamp_with_time_zone()
                .null()
                .to_owned(),
        )
        .await?;
        manager
            .create_index(
                Index::create()
                    .name("ix_organizations_purge_after")
                    .table(Organizations::Table)
                    .col(Organizations::PurgeAfter)
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(OwnershipTransfers::Table)
                    .col(
                        ColumnDef::new(OwnershipTransfers::Id)
                            .uuid()
                            .not_null()
                            .primary_key(),
                    )
                    .col(
                        ColumnDef::new(OwnershipTransfers::OrganizationId)
                            .uuid()
                            .not_null()
                            .unique_key(),
                    )
                    .col(
                        ColumnDef::new(OwnershipTransfers::FromUserId)
                            .uuid()
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(OwnershipTransfers::ToUserId)
                            .uuid()
                            .not_null(),
                    )
                    .col(timestamp(OwnershipTransfers::CreatedAt))
                    .col(timestamp(OwnershipTransfers::ExpiresAt))
                    .check(Check::named(
                        "ck_ownership_transfers_to_another",
                        Expr::cust("from_user_id <> to_user_id"),
                    ))
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_ownership_transfers_organization")
                            .from(
                                OwnershipTransfers::Table,
                                OwnershipTransfers::OrganizationId,
                            )
                            .to(Organizations::Table, Organizations::Id)
                            .on_delete(ForeignKeyAction::Restrict),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_ownership_transfers_from")
                            .from(OwnershipTransfers::Table, OwnershipTransfers::FromUserId)
                            .to(Users::Table, Users::Id)
                            .on_delete(ForeignKeyAction::Restrict),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_ownership_transfers_target")
                            .from(
                                OwnershipTransfers::Table,
                                (
                                    OwnershipTransfers::OrganizationId,
                                    OwnershipTransfers::ToUserId,
                                ),
                            )
                            .to(
                                Memberships::Table,
                                (Memberships::OrganizationId, Memberships::UserId),
                            )
                            .on_delete(ForeignKeyAction::Restrict),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(SupersededInvitationTokens::Table)
                    .col(
                        ColumnDef::new(SupersededInvitationTokens::TokenHash)
                            .binary()
                            .not_null()
                            .primary_key(),
                    )
                    .col(
                        ColumnDef::new(SupersededInvitationTokens::OrganizationId)
                            .uuid()
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(SupersededInvitationTokens::InvitationId)
                            .uuid()
                            .not_null(),
                    )
                    .col(timestamp(SupersededInvitationTokens::SupersededAt))
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_superseded_invitation_tokens_invitation")
                            .from(
                                SupersededInvitationTokens::Table,
                                SupersededInvitationTokens::InvitationId,
                            )
                            .to(Invitations::Table, Invitations::Id)
                            .on_delete(ForeignKeyAction::Restrict),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("ix_superseded_invitation_tokens_organization")
                    .table(SupersededInvitationTokens::Table)
                    .col(SupersededInvitationTokens::OrganizationId)
                    .to_owned(),
            )
            .await?;
        outbox(manager).await
    }
}

/// The outbox holds invitation emails, account emails and now transfer
/// emails, each row exactly one of them. SQLite cannot change a table's
/// check, so the table is rebuilt, as `m0008_accounts` built it, with the
/// two new columns.
async fn outbox(manager: &SchemaManager<'_>) -> Result<(), DbErr> {
    let none = |column: MailOutbox| Expr::col(column).is_null();
    let some = |column: MailOutbox| Expr::col(column).is_not_null();
    let invitation = some(MailOutbox::InvitationId)
        .and(some(MailOutbox::OrganizationName))
        .and(some(MailOutbox::InviterEmail))
        .and(none(MailOutbox::AccountTokenId))
        .and(none(MailOutbox::TransferId));
    let account = none(MailOutbox::InvitationId)
        .and(some(MailOutbox::AccountTokenId))
        .and(none(MailOutbox::TransferId));
    let transfer = none(MailOutbox::InvitationId)
        .and(none(MailOutbox::AccountTokenId))
        .and(some(MailOutbox::TransferId))
        .and(some(MailOutbox::OrganizationId))
        .and(some(MailOutbox::OrganizationName))
        .and(some(MailOutbox::InviterEmail));
    manager
        .create_table(
            Table::create()
                .table(MailOutboxV2::Table)
                .col(
                    ColumnDef::new(MailOutbox::Id)
                        .uuid()
                        .not_null()
                        .primary_key(),
                )
                .col(ColumnDef::new(MailOutbox::ToEmail).string().not_null())
                .col(ColumnDef::new(MailOutbox::Kind).string().not_null())
                .col(ColumnDef::new(MailOutbox::InvitationId).uuid().null())
                .col(ColumnDef::new(MailOutbox::OrganizationName).string().null())
                .col(ColumnDef::new(MailOutbox::InviterEmail).string().null())
                .col(ColumnDef::new(MailOutbox::AccountTokenId).uuid().null())
                .col(ColumnDef::new(MailOutbox::SealedToken).binary().not_null())
                .col(ColumnDef::new(MailOutbox::KeyId).string().not_null())
                .col(timestamp(MailOutbox::ExpiresAt))
                .col(timestamp(MailOutbox::CreatedAt))
                .col(
                    ColumnDef::new(MailOutbox::Attempts)
                        .integer()
                        .not_null()
                        .default(0),
                )
                .col(timestamp(MailOutbox::NextAttemptAt))
                .col(
                    ColumnDef::new(MailOutbox::SentAt)
                        .timestamp_with_time_zone()
                        .null(),
                )
                .col(ColumnDef::new(MailOutbox::LastError).text().null())
                .col(ColumnDef::new(MailOutbox::ClaimedBy).uuid().null())
                .col(ColumnDef::new(MailOutbox::RoleName).text().null())
                .col(ColumnDef::new(MailOutbox::OrganizationId).uuid().null())
                .col(ColumnDef::new(MailOutbox::TransferId).uuid().null())
                .check(invitation.or(account).or(transfer))
                // The sweep removes a link's email with the link.
                .foreign_key(
                    ForeignKey::create()
                        .name("fk_outbox_account_token")
                        .from(MailOutboxV2::Table, MailOutbox::AccountTokenId)
                        .to(AccountTokens::Table, AccountTokens::Id)
                        .on_delete(ForeignKeyAction::Cascade),
                )
                .to_owned(),
        )
        .await?;
    let kept = [
        MailOutbox::Id,
        MailOutbox::ToEmail,
        MailOutbox::Kind,
        MailOutbox::InvitationId,
        MailOutbox::OrganizationName,
        MailOutbox::InviterEmail,
        MailOutbox::AccountTokenId,
        MailOutbox::SealedToken,
        MailOutbox::KeyId,
        MailOutbox::ExpiresAt,
        MailOutbox::CreatedAt,
        MailOutbox::Attempts,
        MailOutbox::NextAttemptAt,
        MailOutbox::SentAt,
        MailOutbox::LastError,
        MailOutbox::ClaimedBy,
        MailOutbox::RoleName,
    ];
    let copy = Query::insert()
        .into_table(MailOutboxV2::Table)
        .columns(kept)
        .select_from(
            Query::select()
                .columns(kept)
                .from(MailOutbox::Table)
                .to_owned(),
        )
        .map_err(|e| DbErr::Migration(e.to_string()))?
        .to_owned();
    manager.exec_stmt(copy).await?;
    manager
        .drop_table(Table::drop().table(MailOutbox::Table).to_owned())
        .await?;
    manager
        .rename_table(
            Table::rename()
                .table(MailOutboxV2::Table, MailOutbox::Table)
                .to_owned(),
        )
        .await?;
    for (name, columns) in [
        (
            "ix_outbox_due",
            &[MailOutbox::SentAt, MailOutbox::NextAttemptAt][..],
        ),
        ("ix_outbox_account_token", &[MailOutbox::AccountTokenId][..]),
        // For the purge of an organization's emails.
        ("ix_outbox_invitation", &[MailOutbox::InvitationId][..]),
        ("ix_outbox_organization", &[MailOutbox::OrganizationId][..]),
    ] {
        let mut index = Index::create();
        index.name(name).table(MailOutbox::Table);
        for column in columns {
            index.col(*column);
        }
        manager.create_index(index.to_owned()).await?;
    }
    Ok(())
}
