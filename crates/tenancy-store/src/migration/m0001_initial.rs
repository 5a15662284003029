//! Users, organizations, memberships, invitations, the active organization,
//! counted resources, chats, and the mail outbox.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub(super) struct Migration;

#[derive(Iden)]
enum Users {
    Table,
    Id,
    Email,
    DisplayName,
    PasswordHash,
    CreatedAt,
}

#[derive(Iden)]
enum Organizations {
    Table,
    Id,
    Name,
    Plan,
    OwnerId,
    CreatedAt,
}

#[derive(Iden)]
enum Memberships {
    Table,
    OrganizationId,
    UserId,
    Role,
    JoinedAt,
}

#[derive(Iden)]
enum Invitations {
    Table,
    Id,
    OrganizationId,
    Email,
    Role,
    TokenHash,
    InvitedBy,
    CreatedAt,
    ExpiresAt,
    State,
    AcceptedBy,
    StateChangedAt,
}

#[derive(Iden)]
enum ActiveOrganizations {
    Table,
    UserId,
    OrganizationId,
}

#[derive(Iden)]
enum Resources {
    Table,
    Id,
    OrganizationId,
    Kind,
    CreatedBy,
    CreatedAt,
}

#[derive(Iden)]
enum Chats {
    Table,
    Id,
    OrganizationId,
    CreatedBy,
    AgentId,
    CreatedAt,
}

#[derive(Iden)]
enum ChatMessages {
    Table,
    Id,
    ChatId,
    OrganizationId,
    SentBy,
    Content,
    CreatedAt,
}

#[derive(Iden)]
enum MailOutbox {
    Table,
    Id,
    ToEmail,
    Kind,
    InvitationId,
    OrganizationName,
    InviterEmail,
    SealedToken,
    KeyId,
    ExpiresAt,
    CreatedAt,
    Attempts,
    NextAttemptAt,
    SentAt,
    LastError,
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

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    #[expect(clippy::too_many_lines, reason = "one schema, read top to bottom")]
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(Users::Table)
                    .col(ColumnDef::new(Users::Id).uuid().not_null().primary_key())
                    .col(
                        ColumnDef::new(Users::Email)
                            .string()
                            .not_null()
                            .unique_key(),
                    )
                    .col(ColumnDef::new(Users::DisplayName).string().null())
                    .col(ColumnDef::new(Users::PasswordHash).string().not_null())
                    .col(
                        ColumnDef::new(Users::CreatedAt)
                            .timestamp_with_time_zone()
                            .not_null(),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(Organizations::Table)
                    .col(
                        ColumnDef::new(Organizations::Id)
                            .uuid()
                            .not_null()
                            .primary_key(),
                    )
                    .col(ColumnDef::new(Organizations::Name).string().not_null())
                    .col(ColumnDef::new(Organizations::Plan).string().not_null())
                    .col(ColumnDef::new(Organizations::OwnerId).uuid().not_null())
                    .col(
                        ColumnDef::new(Organizations::CreatedAt)
                            .timestamp_with_time_zone()
                            .not_null(),
                    )
                    .foreign_key(&mut fk(
                        "fk_organizations_owner",
                        (Organizations::Table, Organizations::OwnerId),
                        (Users::Table, Users::Id),
                    ))
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(Memberships::Table)
                    .col(
                        ColumnDef::new(Memberships::OrganizationId)
                            .uuid()
                            .not_null(),
                    )
                    .col(ColumnDef::new(Memberships::UserId).uuid().not_null())
                    .col(ColumnDef::new(Memberships::Role).string().not_null())
                    .col(
                        ColumnDef::new(Memberships::JoinedAt)
                            .timestamp_with_time_zone()
                            .not_null(),
                    )
                    // Unique (organization, user): one membership each.
                    .primary_key(
                        Index::create()
                            .col(Memberships::OrganizationId)
                            .col(Memberships::UserId),
                    )
                    .foreign_key(&mut fk(
                        "fk_memberships_organization",
                        (Memberships::Table, Memberships::OrganizationId),
                        (Organizations::Table, Organizations::Id),
                    ))
                    .foreign_key(&mut fk(
                        "fk_memberships_user",
                        (Memberships::Table, Memberships::UserId),
                        (Users::Table, Users::Id),
                    ))
                    .to_owned(),
            )
            .await?;
        // The switcher lists a user's memberships.
        manager
            .create_index(
                Index::create()
                    .name("ix_memberships_user")
                    .table(Memberships::Table)
                    .col(Memberships::UserId)
                    .col(Memberships::OrganizationId)
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(Invitations::Table)
                    .col(
                        ColumnDef::new(Invitations::Id)
                            .uuid()
                            .not_null()
                            .primary_key(),
                    )
                    .col(
                        ColumnDef::new(Invitations::OrganizationId)
                            .uuid()
                            .not_null(),
                    )
                    .col(ColumnDef::new(Invitations::Email).string().not_null())
                    .col(ColumnDef::new(Invitations::Role).string().not_null())
                    .col(
                        ColumnDef::new(Invitations::TokenHash)
                            .binary()
                            .not_null()
                            .unique_key(),
                    )
                    .col(ColumnDef::new(Invitations::InvitedBy).uuid().not_null())
                    .col(
                        ColumnDef::new(Invitations::CreatedAt)
                            .timestamp_with_time_zone()
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(Invitations::ExpiresAt)
                            .timestamp_with_time_zone()
                            .not_null(),
                    )
                    .col(ColumnDef::new(Invitations::State).string().not_null())
                    .col(ColumnDef::new(Invitations::AcceptedBy).uuid().null())
                    .col(
                        ColumnDef::new(Invitations::StateChangedAt)
                            .timestamp_with_time_zone()
                            .null(),
                    )
                    .foreign_key(&mut fk(
                        "fk_invitations_organization",
                        (Invitations::Table, Invitations::OrganizationId),
                        (Organizations::Table, Organizations::Id),
                    ))
                    .foreign_key(&mut fk(
                        "fk_invitations_inviter",
                        (Invitations::Table, Invitations::InvitedBy),
                        (Users::Table, Users::Id),
                    ))
                    .foreign_key(&mut fk(
                        "fk_invitations_accepter",
                        (Invitations::Table, Invitations::AcceptedBy),
                        (Users::Table, Users::Id),
                    ))
                    .to_owned(),
            )
            .await?;
        // Pending invitations of an organization, for the settings page.
        manager
            .create_index(
                Index::create()
                    .name("ix_invitations_organization_state")
                    .table(Invitations::Table)
                    .col(Invitations::OrganizationId)
                    .col(Invitations::State)
                    .col(Invitations::CreatedAt)
                    .to_owned(),
            )
            .await?;
        // At most one open invitation per (organization, email): a re-invite
        // closes the old one first (D5). Both databases take partial indexes.
        manager
            .get_connection()
            .execute_unprepared(
                "CREATE UNIQUE INDEX ux_invitations_open_email \
                 ON invitations (organization_id, email) WHERE state = 'pending'",
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(ActiveOrganizations::Table)
                    .col(
                        ColumnDef::new(ActiveOrganizations::UserId)
                            .uuid()
                            .not_null()
                            .primary_key(),
                    )
                    .col(
                        ColumnDef::new(ActiveOrganizations::OrganizationId)
                            .uuid()
                            .not_null(),
                    )
                    .foreign_key(&mut fk(
                        "fk_active_user",
                        (ActiveOrganizations::Table, ActiveOrganizations::UserId),
                        (Users::Table, Users::Id),
                    ))
                    .foreign_key(&mut fk(
                        "fk_active_organization",
                        (
                            ActiveOrganizations::Table,
                            ActiveOrganizations::OrganizationId,
                        ),
                        (Organizations::Table, Organizations::Id),
                    ))
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(Resources::Table)
                    .col(
                        ColumnDef::new(Resources::Id)
                            .uuid()
                            .not_null()
                            .primary_key(),
                    )
                    .col(ColumnDef::new(Resources::OrganizationId).uuid().not_null())
                    .col(ColumnDef::new(Resources::Kind).string().not_null())
                    .col(ColumnDef::new(Resources::CreatedBy).uuid().not_null())
                    .col(
                        ColumnDef::new(Resources::CreatedAt)
                            .timestamp_with_time_zone()
                            .not_null(),
                    )
                    .foreign_key(&mut fk(
                        "fk_resources_organization",
                        (Resources::Table, Resources::OrganizationId),
                        (Organizations::Table, Organizations::Id),
                    ))
                    .foreign_key(&mut fk(
                        "fk_resources_creator",
                        (Resources::Table, Resources::CreatedBy),
                        (Users::Table, Users::Id),
                    ))
                    .to_owned(),
            )
            .await?;
        // Quotas count an organization's resources of a kind.
        manager
            .create_index(
                Index::create()
                    .name("ix_resources_organization_kind")
                    .table(Resources::Table)
                    .col(Resources::OrganizationId)
                    .col(Resources::Kind)
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(Chats::Table)
                    .col(ColumnDef::new(Chats::Id).uuid().not_null().primary_key())
                    .col(ColumnDef::new(Chats::OrganizationId).uuid().not_null())
                    .col(ColumnDef::new(Chats::CreatedBy).uuid().not_null())
                    .col(ColumnDef::new(Chats::AgentId).uuid().not_null())
                    .col(
                        ColumnDef::new(Chats::CreatedAt)
                            .timestamp_with_time_zone()
                            .not_null(),
                    )
                    .foreign_key(&mut fk(
                        "fk_chats_organization",
                        (Chats::Table, Chats::OrganizationId),
                        (Organizations::Table, Organizations::Id),
                    ))
                    .foreign_key(&mut fk(
                        "fk_chats_creator",
                        (Chats::Table, Chats::CreatedBy),
                        (Users::Table, Users::Id),
                    ))
                    .foreign_key(&mut fk(
                        "fk_chats_agent",
                        (Chats::Table, Chats::AgentId),
                        (Resources::Table, Resources::Id),
                    ))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("ix_chats_organization_creator")
                    .table(Chats::Table)
                    .col(Chats::OrganizationId)
                    .col(Chats::CreatedBy)
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(ChatMessages::Table)
                    .col(
                        ColumnDef::new(ChatMessages::Id)
                            .uuid()
                            .not_null()
                            .primary_key(),
                    )
                    .col(ColumnDef::new(ChatMessages::ChatId).uuid().not_null())
                    .col(
                        ColumnDef::new(ChatMessages::OrganizationId)
                            .uuid()
                            .not_null(),
                    )
                    .col(ColumnDef::new(ChatMessages::SentBy).uuid().not_null())
                    .col(ColumnDef::new(ChatMessages::Content).text().not_null())
                    .col(
                        ColumnDef::new(ChatMessages::CreatedAt)
                            .timestamp_with_time_zone()
                            .not_null(),
                    )
                    .foreign_key(&mut fk(
                        "fk_messages_chat",
                        (ChatMessages::Table, ChatMessages::ChatId),
                        (Chats::Table, Chats::Id),
                    ))
                    .foreign_key(&mut fk(
                        "fk_messages_organization",
                        (ChatMessages::Table, ChatMessages::OrganizationId),
                        (Organizations::Table, Organizations::Id),
                    ))
                    .to_owned(),
            )
            .await?;
        // The monthly quota counts an organization's messages in a range.
        manager
            .create_index(
                Index::create()
                    .name("ix_messages_organization_created")
                    .table(ChatMessages::Table)
                    .col(ChatMessages::OrganizationId)
                    .col(ChatMessages::CreatedAt)
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(MailOutbox::Table)
                    .col(
                        ColumnDef::new(MailOutbox::Id)
                            .uuid()
                            .not_null()
                            .primary_key(),
                    )
                    .col(ColumnDef::new(MailOutbox::ToEmail).string().not_null())
                    .col(ColumnDef::new(MailOutbox::Kind).string().not_null())
                    .col(ColumnDef::new(MailOutbox::InvitationId).uuid().not_null())
                    .col(
                        ColumnDef::new(MailOutbox::OrganizationName)
                            .string()
                            .not_null(),
                    )
                    .col(ColumnDef::new(MailOutbox::InviterEmail).string().not_null())
                    // The link's token, sealed: no table holds a token in the clear.
                    .col(ColumnDef::new(MailOutbox::SealedToken).binary().not_null())
                    .col(ColumnDef::new(MailOutbox::KeyId).string().not_null())
                    .col(
                        ColumnDef::new(MailOutbox::ExpiresAt)
                            .timestamp_with_time_zone()
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(MailOutbox::CreatedAt)
                            .timestamp_with_time_zone()
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(MailOutbox::Attempts)
                            .integer()
                            .not_null()
                            .default(0),
                    )
                    .col(
                        ColumnDef::new(MailOutbox::NextAttemptAt)
                            .timestamp_with_time_zone()
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(MailOutbox::SentAt)
                            .timestamp_with_time_zone()
                            .null(),
                    )
                    .col(ColumnDef::new(MailOutbox::LastError).text().null())
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
        Ok(())
    }
}
