//! Resources with names and details, sealed connection credentials, report
//! runs, pins, investigations, and chats about report runs.
//!
//! Resources are deleted softly (`deleted_at`): chats, runs and
//! investigations keep referring to what they were about, and a deleted
//! resource stops counting toward its quota.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub(super) struct Migration;

#[derive(Iden)]
enum Resources {
    Table,
    Id,
    Kind,
    Name,
    Details,
    UpdatedAt,
    DeletedAt,
}

#[derive(Iden)]
enum Organizations {
    Table,
    Id,
}

#[derive(Iden)]
enum Users {
    Table,
    Id,
}

#[derive(Iden)]
enum ConnectionCredentials {
    Table,
    ConnectionId,
    OrganizationId,
    KeyId,
    Sealed,
    UpdatedAt,
}

#[derive(Iden)]
enum ReportRuns {
    Table,
    Id,
    OrganizationId,
    ReportId,
    Status,
    TriggeredBy,
    CreatedAt,
}

#[derive(Iden)]
enum Pins {
    Table,
    Id,
    OrganizationId,
    UserId,
    ItemId,
    ItemKind,
    CreatedAt,
}

#[derive(Iden)]
enum Investigations {
    Table,
    Id,
    OrganizationId,
    AgentId,
    Question,
    Status,
    CreatedBy,
    CreatedAt,
}

#[derive(Iden)]
enum Chats {
    Table,
    ReportRunId,
}

#[derive(Iden)]
enum ChatMessages {
    Table,
    ChatId,
    CreatedAt,
}

fn fk(
    name: &str,
    from: (impl IntoIden, impl IntoIden),
    to: (impl IntoIden, impl IntoIden),
) -> ForeignKeyCreateStatement {
    ForeignKey::create()
        .name(name)
        .from(from.0, from.1)
        .to(to.0, to.1)
        .on_delete(ForeignKeyAction::Restrict)
        .to_owned()
}

fn uuid(col: impl IntoIden) -> ColumnDef {
    ColumnDef::new(col).uuid().not_null().to_owned()
}

fn at(col: impl IntoIden) -> ColumnDef {
    ColumnDef::new(col)
        .timestamp_with_time_zone()
        .not_null()
        .to_owned()
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    #[expect(
        clippy::too_many_lines,
        reason = "one schema change, read top to bottom"
    )]
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        // SQLite alters one column per statement.
        for column in [
            ColumnDef::new(Resources::Name)
                .text()
                .not_null()
                .default("")
                .to_owned(),
            ColumnDef::new(Resources::Details)
                .text()
                .not_null()
                .default("{}")
                .to_owned(),
            ColumnDef::new(Resources::UpdatedAt)
                .timestamp_with_time_zone()
                .null()
                .to_owned(),
            ColumnDef::new(Resources::DeletedAt)
                .timestamp_with_time_zone()
                .null()
                .to_owned(),
        ] {
            manager
                .alter_table(
                    Table::alter()
                        .table(Resources::Table)
                        .add_column(column)
                        .to_owned(),
                )
                .await?;
        }
        // Rows of the first schema were counted, nameless resources: give
        // them a name and the details of their kind.
        for (kind, details) in [
            (
                "agent",
                r#"{"kind":"agent","description":"","connection_ids":[]}"#,
            ),
            (
                "connection",
                r#"{"kind":"connection","connection_type":"unknown","credentials_updated_at":null}"#,
            ),
            (
                "report",
                r#"{"kind":"report","definition":{},"schedule":null}"#,
            ),
        ] {
            manager
                .exec_stmt(
                    Query::update()
                        .table(Resources::Table)
                        .value(Resources::Name, kind)
                        .value(Resources::Details, details)
                        .and_where(Expr::col(Resources::Kind).eq(kind))
                        .and_where(Expr::col(Resources::Name).eq(""))
                        .to_owned(),
                )
                .await?;
        }
        manager
            .create_table(
                Table::create()
                    .table(ConnectionCredentials::Table)
                    .col(uuid(ConnectionCredentials::ConnectionId).primary_key())
                    .col(uuid(ConnectionCredentials::OrganizationId))
                    // Which key sealed it, so that keys can rotate.
                    .col(
                        ColumnDef::new(ConnectionCredentials::KeyId)
                            .string()
                            .not_null(),
                    )
                    // Nonce, ciphertext and tag; the associated data binds
                    // it to the organization and the connection.
                    .col(
                        ColumnDef::new(ConnectionCredentials::Sealed)
                            .binary()
                            .not_null(),
                    )
                    .col(at(ConnectionCredentials::UpdatedAt))
                    .foreign_key(&mut fk(
                        "fk_credentials_connection",
                        (
                            ConnectionCredentials::Table,
                            ConnectionCredentials::ConnectionId,
                        ),
                        (Resources::Table, Resources::Id),
                    ))
                    .foreign_key(&mut fk(
                        "fk_credentials_organization",
                        (
                            ConnectionCredentials::Table,
                            ConnectionCredentials::OrganizationId,
                        ),
                        (Organizations::Table, Organizations::Id),
                    ))
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(ReportRuns::Table)
                    .col(uuid(ReportRuns::Id).primary_key())
                    .col(uuid(ReportRuns::OrganizationId))
                    .col(uuid(ReportRuns::ReportId))
                    .col(ColumnDef::new(ReportRuns::Status).string().not_null())
                    .col(uuid(ReportRuns::TriggeredBy))
                    .col(at(ReportRuns::CreatedAt))
                    .foreign_key(&mut fk(
                        "fk_runs_organization",
                        (ReportRuns::Table, ReportRuns::OrganizationId),
                        (Organizations::Table, Organizations::Id),
                    ))
                    .foreign_key(&mut fk(
                        "fk_runs_report",
                        (ReportRuns::Table, ReportRuns::ReportId),
                        (Resources::Table, Resources::Id),
                    ))
                    .foreign_key(&mut fk(
                        "fk_runs_trigger",
                        (ReportRuns::Table, ReportRuns::TriggeredBy),
                        (Users::Table, Users::Id),
                    ))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("ix_runs_organization_report")
                    .table(ReportRuns::Table)
                    .col(ReportRuns::OrganizationId)
                    .col(ReportRuns::ReportId)
                    .col(ReportRuns::CreatedAt)
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(Pins::Table)
                    .col(uuid(Pins::Id).primary_key())
                    .col(uuid(Pins::OrganizationId))
                    .col(uuid(Pins::UserId))
                    .col(uuid(Pins::ItemId))
                    .col(ColumnDef::new(Pins::ItemKind).string().not_null())
                    .col(at(Pins::CreatedAt))
                    .foreign_key(&mut fk(
                        "fk_pins_organization",
                        (Pins::Table, Pins::OrganizationId),
                        (Organizations::Table, Organizations::Id),
                    ))
                    .foreign_key(&mut fk(
                        "fk_pins_user",
                        (Pins::Table, Pins::UserId),
                        (Users::Table, Users::Id),
                    ))
                    .foreign_key(&mut fk(
                        "fk_pins_item",
                        (Pins::Table, Pins::ItemId),
                        (Resources::Table, Resources::Id),
                    ))
                    .to_owned(),
            )
            .await?;
        // An item is on a member's sidebar at most once.
        manager
            .create_index(
                Index::create()
                    .name("ux_pins_member_item")
                    .table(Pins::Table)
                    .col(Pins::OrganizationId)
                    .col(Pins::UserId)
                    .col(Pins::ItemId)
                    .unique()
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(Investigations::Table)
                    .col(uuid(Investigations::Id).primary_key())
                    .col(uuid(Investigations::OrganizationId))
                    .col(uuid(Investigations::AgentId))
                    .col(ColumnDef::new(Investigations::Question).text().not_null())
                    .col(ColumnDef::new(Investigations::Status).string().not_null())
                    .col(uuid(Investigations::CreatedBy))
                    .col(at(Investigations::CreatedAt))
                    .foreign_key(&mut fk(
                        "fk_investigations_organization",
                        (Investigations::Table, Investigations::OrganizationId),
                        (Organizations::Table, Organizations::Id),
                    ))
                    .foreign_key(&mut fk(
                        "fk_investigations_agent",
                        (Investigations::Table, Investigations::AgentId),
                        (Resources::Table, Resources::Id),
                    ))
                    .foreign_key(&mut fk(
                        "fk_investigations_creator",
                        (Investigations::Table, Investigations::CreatedBy),
                        (Users::Table, Users::Id),
                    ))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("ix_investigations_organization_creator")
                    .table(Investigations::Table)
                    .col(Investigations::OrganizationId)
                    .col(Investigations::CreatedBy)
                    .to_owned(),
            )
            .await?;
        // A chat about a report run keeps the report in `agent_id` (the
        // resource it is about) and the run here.
        manager
            .alter_table(
                Table::alter()
                    .table(Chats::Table)
                    .add_column(ColumnDef::new(Chats::ReportRunId).uuid().null())
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("ix_messages_chat_created")
                    .table(ChatMessages::Table)
                    .col(ChatMessages::ChatId)
                    .col(ChatMessages::CreatedAt)
                    .to_owned(),
            )
            .await
    }
}
