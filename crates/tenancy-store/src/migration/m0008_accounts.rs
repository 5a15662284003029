//! Accounts (R31): verified addresses, verification and reset links, and
//! sessions with an id and a last use; the outbox carries account emails
//! beside invitations.
//!
//! SQLite cannot change a primary key or drop a `NOT NULL`, so `sessions`
//! and `mail_outbox` are rebuilt: a new table, the rows copied, the old one
//! dropped and the new one renamed. The whole migration runs in one
//! transaction (`Store::migrate`), so a failure leaves the old schema whole.

use sea_orm::{ConnectionTrait, QueryResult};
use sea_orm_migration::prelude::*;
use uuid::Uuid;

#[derive(DeriveMigrationName)]
pub(super) struct Migration;

#[derive(Iden)]
enum Users {
    Table,
    Id,
    Email,
    EmailVerifiedAt,
}

#[derive(Iden)]
enum Invitations {
    Table,
    Email,
    State,
    AcceptedBy,
    StateChangedAt,
}

#[derive(Iden)]
enum AccountTokens {
    Table,
    Id,
    UserId,
    Purpose,
    TokenHash,
    CreatedAt,
    ExpiresAt,
    State,
    StateChangedAt,
}

#[derive(Iden)]
enum Sessions {
    Table,
    Id,
    TokenHash,
    UserId,
    CreatedAt,
    LastUsedAt,
}

#[derive(Iden)]
enum SessionsV2 {
    Table,
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
    AccountTokenId,
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

fn timestamp(column: impl IntoIden) -> ColumnDef {
    ColumnDef::new(column)
        .timestamp_with_time_zone()
        .not_null()
        .to_owned()
}

fn get<T: sea_orm::TryGetable>(row: &QueryResult, column: &str) -> Result<T, DbErr> {
    row.try_get("", column)
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        verified_addresses(manager).await?;
        account_tokens(manager).await?;
        sessions(manager).await?;
        outbox(manager).await
    }
}

/// `users.email_verified_at`. An account that accepted an invitation sent to
/// its own address proved that address: it counts as verified from then on.
async fn verified_addresses(manager: &SchemaManager<'_>) -> Result<(), DbErr> {
    manager
        .alter_table(
            Table::alter()
                .table(Users::Table)
                .add_column(
                    ColumnDef::new(Users::EmailVerifiedAt)
                        .timestamp_with_time_zone()
                        .null(),
                )
                .to_owned(),
        )
        .await?;
    let first_acceptance = Query::select()
        .expr(Expr::col((Invitations::Table, Invitations::StateChangedAt)).min())
        .from(Invitations::Table)
        .and_where(
            Expr::col((Invitations::Table, Invitations::AcceptedBy))
                .equals((Users::Table, Users::Id)),
        )
        .and_where(
            Expr::col((Invitations::Table, Invitations::Email))
                .equals((Users::Table, Users::Email)),
        )
        .and_where(Expr::col((Invitations::Table, Invitations::State)).eq("accepted"))
        .to_owned();
    manager
        .exec_stmt(
            Query::update()
                .table(Users::Table)
                .value(
                    Users::EmailVerifiedAt,
                    SimpleExpr::SubQuery(
                        None,
                        Box::new(first_acceptance.into_sub_query_statement()),
                    ),
                )
                .to_owned(),
        )
        .await
}

/// Verification and reset links: hashed, single use, superseded (D19).
async fn account_tokens(manager: &SchemaManager<'_>) -> Result<(), DbErr> {
    manager
        .create_table(
            Table::create()
                .table(AccountTokens::Table)
                .col(
                    ColumnDef::new(AccountTokens::Id)
                        .uuid()
                        .not_null()
                        .primary_key(),
                )
                .col(ColumnDef::new(AccountTokens::UserId).uuid().not_null())
                // `verify_email` or `reset_password`.
                .col(ColumnDef::new(AccountTokens::Purpose).string().not_null())
                .col(
                    ColumnDef::new(AccountTokens::TokenHash)
                        .binary()
                        .not_null()
                        .unique_key(),
                )
                .col(timestamp(AccountTokens::CreatedAt))
                .col(timestamp(AccountTokens::ExpiresAt))
                // `open`, `used` or `superseded`.
                .col(ColumnDef::new(AccountTokens::State).string().not_null())
                .col(
                    ColumnDef::new(AccountTokens::StateChangedAt)
                        .timestamp_with_time_zone()
                        .null(),
                )
                .foreign_key(
                    ForeignKey::create()
                        .name("fk_account_tokens_user")
                        .from(AccountTokens::Table, AccountTokens::UserId)
                        .to(Users::Table, Users::Id)
                        .on_delete(ForeignKeyAction::Cascade),
                )
                .to_owned(),
        )
        .await?;
    // Superseding reads the open links of a user and purpose; the sweep
    // reads by expiry.
    manager
        .create_index(
            Index::create()
                .name("ix_account_tokens_user_purpose")
                .table(AccountTokens::Table)
                .col(AccountTokens::UserId)
                .col(AccountTokens::Purpose)
                .to_owned(),
        )
        .await?;
    manager
        .create_index(
            Index::create()
                .name("ix_account_tokens_expires")
                .table(AccountTokens::Table)
                .col(AccountTokens::ExpiresAt)
                .to_owned(),
        )
        .await
}

/// Sessions get an id (what a user lists and ends) and a last use; the
/// token's hash stays unique. Open sessions are kept, each with a new id,
/// last used when it was opened.
async fn sessions(manager: &SchemaManager<'_>) -> Result<(), DbErr> {
    manager
        .create_table(
            Table::create()
                .table(SessionsV2::Table)
                .col(ColumnDef::new(Sessions::Id).uuid().not_null().primary_key())
                .col(
                    ColumnDef::new(Sessions::TokenHash)
                        .binary()
                        .not_null()
                        .unique_key(),
                )
                .col(ColumnDef::new(Sessions::UserId).uuid().not_null())
                .col(timestamp(Sessions::CreatedAt))
                .col(timestamp(Sessions::LastUsedAt))
                .foreign_key(
                    ForeignKey::create()
                        .name("fk_sessions_v2_user")
                        .from(SessionsV2::Table, Sessions::UserId)
                        .to(Users::Table, Users::Id)
                        .on_delete(ForeignKeyAction::Cascade),
                )
                .to_owned(),
        )
        .await?;
    let db = manager.get_connection();
    let select = Query::select()
        .columns([Sessions::TokenHash, Sessions::UserId, Sessions::CreatedAt])
        .from(Sessions::Table)
        .order_by(Sessions::CreatedAt, Order::Asc)
        .to_owned();
    for row in db.query_all(&select).await? {
        let hash: Vec<u8> = get(&row, "token_hash")?;
        let user: Uuid = get(&row, "user_id")?;
        let created: chrono::DateTime<chrono::Utc> = get(&row, "created_at")?;
        let insert = Query::insert()
            .into_table(SessionsV2::Table)
            .columns([
                Sessions::Id,
                Sessions::TokenHash,
                Sessions::UserId,
                Sessions::CreatedAt,
                Sessions::LastUsedAt,
            ])
            .values_panic([
                Uuid::now_v7().into(),
                hash.into(),
                user.into(),
                created.into(),
                created.into(),
            ])
            .to_owned();
        db.execute(&insert).await?;
    }
    manager
        .drop_table(Table::drop().table(Sessions::Table).to_owned())
        .await?;
    manager
        .rename_table(
            Table::rename()
                .table(SessionsV2::Table, Sessions::Table)
                .to_owned(),
        )
        .await?;
    // A user's sessions are listed newest first and ended together; the
    // sweep reads by last use (and by creation, through the first index).
    manager
        .create_index(
            Index::create()
                .name("ix_sessions_user")
                .table(Sessions::Table)
                .col(Sessions::UserId)
                .col(Sessions::CreatedAt)
                .to_owned(),
        )
        .await?;
    manager
        .create_index(
            Index::create()
                .name("ix_sessions_created")
                .table(Sessions::Table)
                .col(Sessions::CreatedAt)
                .to_owned(),
        )
        .await?;
    manager
        .create_index(
            Index::create()
                .name("ix_sessions_last_used")
                .table(Sessions::Table)
                .col(Sessions::LastUsedAt)
                .to_owned(),
        )
        .await
}

/// The outbox holds invitation emails (with their organization and inviter)
/// and account emails (with their link); each row is exactly one of them.
async fn outbox(manager: &SchemaManager<'_>) -> Result<(), DbErr> {
    let invitation = Expr::col(MailOutbox::InvitationId)
        .is_not_null()
        .and(Expr::col(MailOutbox::OrganizationName).is_not_null())
        .and(Expr::col(MailOutbox::InviterEmail).is_not_null())
        .and(Expr::col(MailOutbox::AccountTokenId).is_null());
    let account = Expr::col(MailOutbox::InvitationId)
        .is_null()
        .and(Expr::col(MailOutbox::AccountTokenId).is_not_null());
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
                .check(invitation.or(account))
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
        MailOutbox::SealedToken,
        MailOutbox::KeyId,
        MailOutbox::ExpiresAt,
        MailOutbox::CreatedAt,
        MailOutbox::Attempts,
        MailOutbox::NextAttemptAt,
        MailOutbox::SentAt,
        MailOutbox::LastError,
        MailOutbox::ClaimedBy,
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
    manager
        .create_index(
            Index::create()
                .name("ix_outbox_due")
                .table(MailOutbox::Table)
                .col(MailOutbox::SentAt)
                .col(MailOutbox::NextAttemptAt)
                .to_owned(),
        )
        .await?;
    // For the cascade from a swept link.
    manager
        .create_index(
            Index::create()
                .name("ix_outbox_account_token")
                .table(MailOutbox::Table)
                .col(MailOutbox::AccountTokenId)
                .to_owned(),
        )
        .await
}
