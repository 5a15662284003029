//! Custom roles (R26, D15): an organization's own roles are rows of
//! `roles`, and a membership or an invitation that holds one names it in
//! `custom_role`, under a foreign key, so that the database itself refuses a
//! role that does not exist and the deletion of a role still held.
//!
//! - `role` keeps the key of the role, built-in or custom; `custom_role` is
//!   the same key when it is a custom one, and null otherwise. A dead
//!   invitation (not pending) whose custom role was deleted keeps the key in
//!   `role` alone, as history.
//! - An invitation never grants the owner's role: a pending one names
//!   `admin`, `editor`, `viewer` or a custom role.
//!
//! SQLite cannot add a table constraint to a table, so `memberships` and
//! `invitations` are rebuilt, as `m0008_accounts` rebuilt its tables: a new
//! table with every column, key, foreign key and index of the old one plus
//! the new ones, the rows copied, the old table dropped and the new one
//! renamed. The whole migration runs in one transaction (`Store::migrate`).

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub(super) struct Migration;

#[derive(Iden)]
enum Users {
    Table,
    Id,
}

#[derive(Iden)]
enum Organizations {
    Table,
    Id,
}

#[derive(Iden, Clone, Copy)]
enum Roles {
    Table,
    OrganizationId,
    Key,
    Name,
    Description,
    Capabilities,
    CreatedAt,
    UpdatedAt,
}

#[derive(Iden, Clone, Copy)]
enum Memberships {
    Table,
    OrganizationId,
    UserId,
    Role,
    CustomRole,
    JoinedAt,
}

#[derive(Iden)]
enum MembershipsV2 {
    Table,
}

#[derive(Iden, Clone, Copy)]
enum Invitations {
    Table,
    Id,
    OrganizationId,
    Email,
    Role,
    CustomRole,
    TokenHash,
    InvitedBy,
    CreatedAt,
    ExpiresAt,
    State,
    AcceptedBy,
    StateChangedAt,
}

#[derive(Iden)]
enum InvitationsV2 {
    Table,
}

/// A membership holds a built-in role, or a custom role of its organization
/// named in both columns.
const MEMBERSHIP_ROLE: &str = "(custom_role IS NULL AND role IN ('owner', 'admin', 'editor', 'viewer')) \
     OR (custom_role IS NOT NULL AND custom_role = role)";

/// A pending invitation grants a built-in role but the owner's, or a custom
/// role of its organization; a dead one may keep the key of a role deleted
/// since.
const INVITATION_ROLE: &str = "(custom_role IS NOT NULL AND custom_role = role) \
     OR (custom_role IS NULL AND (role IN ('admin', 'editor', 'viewer') OR state <> 'pending'))";

/// A custom role never takes a built-in role's key.
const CUSTOM_KEY: &str = "\"key\" NOT IN ('owner', 'admin', 'editor', 'viewer')";

fn timestamp(column: impl IntoIden) -> ColumnDef {
    ColumnDef::new(column)
        .timestamp_with_time_zone()
        .not_null()
        .to_owned()
}

fn fk(
    name: &str,
    from: (impl IntoTableRef, impl IntoIden),
    to: (impl IntoTableRef, impl IntoIden),
) -> ForeignKeyCreateStatement {
    ForeignKey::create()
        .name(name)
        .from(from.0, from.1)
        .to(to.0, to.1)
        .on_delete(ForeignKeyAction::Restrict)
        .to_owned()
}

/// The custom role of a row: its organization's role of that key, which
/// cannot be deleted while the row names it.
fn role_fk(
    name: &str,
    table: impl IntoTableRef,
    organization: impl IntoIden,
    role: impl IntoIden,
) -> ForeignKeyCreateStatement {
    ForeignKey::create()
        .name(name)
        .from(table, (organization.into_iden(), role.into_iden()))
        .to(Roles::Table, (Roles::OrganizationId, Roles::Key))
        .on_delete(ForeignKeyAction::Restrict)
        .to_owned()
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        roles(manager).await?;
        memberships(manager).await?;
        invitations(manager).await?;
        // An invitation's email names the role it grants; emails queued
        // before granted the viewer role, and read as such.
        manager
            .get_connection()
            .execute_unprepared("ALTER TABLE mail_outbox ADD COLUMN role_name text")
            .await
            .map(|_| ())
    }
}

/// An organization's custom roles: a key unique in the organization, a
/// name, a description, and the capabilities as their names,
/// comma-separated (names, not bits, so that the bits may move). They go
/// with their organization.
async fn roles(manager: &SchemaManager<'_>) -> Result<(), DbErr> {
    manager
        .create_table(
            Table::create()
                .table(Roles::Table)
                .col(ColumnDef::new(Roles::OrganizationId).uuid().not_null())
                .col(ColumnDef::new(Roles::Key).text().not_null())
                .col(ColumnDef::new(Roles::Name).text().not_null())
                .col(
                    ColumnDef::new(Roles::Description)
                        .text()
                        .not_null()
                        .default(""),
                )
                .col(ColumnDef::new(Roles::Capabilities).text().not_null())
                .col(timestamp(Roles::CreatedAt))
                .col(timestamp(Roles::UpdatedAt))
                .primary_key(Index::create().col(Roles::OrganizationId).col(Roles::Key))
                .check(Check::named("ck_roles_custom_key", Expr::cust(CUSTOM_KEY)))
                .foreign_key(
                    ForeignKey::create()
                        .name("fk_roles_organization")
                        .from(Roles::Table, Roles::OrganizationId)
                        .to(Organizations::Table, Organizations::Id)
                        .on_delete(ForeignKeyAction::Cascade),
                )
                .to_owned(),
        )
        .await
}

async fn memberships(manager: &SchemaManager<'_>) -> Result<(), DbErr> {
    manager
        .create_table(
            Table::create()
                .table(MembershipsV2::Table)
                .col(
                    ColumnDef::new(Memberships::OrganizationId)
                        .uuid()
                        .not_null(),
                )
                .col(ColumnDef::new(Memberships::UserId).uuid().not_null())
                .col(ColumnDef::new(Memberships::Role).string().not_null())
                .col(ColumnDef::new(Memberships::CustomRole).text().null())
                .col(timestamp(Memberships::JoinedAt))
                // Unique (organization, user): one membership each.
                .primary_key(
                    Index::create()
                        .col(Memberships::OrganizationId)
                        .col(Memberships::UserId),
                )
                .check(Check::named(
                    "ck_memberships_role",
                    Expr::cust(MEMBERSHIP_ROLE),
                ))
                .foreign_key(&mut fk(
                    "fk_memberships_organization",
                    (MembershipsV2::Table, Memberships::OrganizationId),
                    (Organizations::Table, Organizations::Id),
                ))
                .foreign_key(&mut fk(
                    "fk_memberships_user",
                    (MembershipsV2::Table, Memberships::UserId),
                    (Users::Table, Users::Id),
                ))
                .foreign_key(&mut role_fk(
                    "fk_memberships_role",
                    MembershipsV2::Table,
                    Memberships::OrganizationId,
                    Memberships::CustomRole,
                ))
                .to_owned(),
        )
        .await?;
    let kept = [
        Memberships::OrganizationId,
        Memberships::UserId,
        Memberships::Role,
        Memberships::JoinedAt,
    ];
    copy(manager, MembershipsV2::Table, Memberships::Table, kept).await?;
    manager
        .drop_table(Table::drop().table(Memberships::Table).to_owned())
        .await?;
    manager
        .rename_table(
            Table::rename()
                .table(MembershipsV2::Table, Memberships::Table)
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
    // The holders of a custom role: whether it is in use, who moves when it
    // is deleted, and the foreign key's check when it is.
    manager
        .create_index(
            Index::create()
                .name("ix_memberships_custom_role")
                .table(Memberships::Table)
                .col(Memberships::OrganizationId)
                .col(Memberships::CustomRole)
                .to_owned(),
        )
        .await?;
    // One owner per organization (D8), whatever a change of role writes:
    // both databases take partial unique indexes.
    manager
        .get_connection()
        .execute_unprepared(
            "CREATE UNIQUE INDEX ux_memberships_owner \
             ON memberships (organization_id) WHERE role = 'owner'",
        )
        .await
        .map(|_| ())
}

async fn invitations(manager: &SchemaManager<'_>) -> Result<(), DbErr> {
    manager
        .create_table(
            Table::create()
                .table(InvitationsV2::Table)
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
                .col(ColumnDef::new(Invitations::CustomRole).text().null())
                .col(
                    ColumnDef::new(Invitations::TokenHash)
                        .binary()
                        .not_null()
                        .unique_key(),
                )
                .col(ColumnDef::new(Invitations::InvitedBy).uuid().not_null())
                .col(timestamp(Invitations::CreatedAt))
                .col(timestamp(Invitations::ExpiresAt))
                .col(ColumnDef::new(Invitations::State).string().not_null())
                .col(ColumnDef::new(Invitations::AcceptedBy).uuid().null())
                .col(
                    ColumnDef::new(Invitations::StateChangedAt)
                        .timestamp_with_time_zone()
                        .null(),
                )
                .check(Check::named(
                    "ck_invitations_role",
                    Expr::cust(INVITATION_ROLE),
                ))
                .foreign_key(&mut fk(
                    "fk_invitations_organization",
                    (InvitationsV2::Table, Invitations::OrganizationId),
                    (Organizations::Table, Organizations::Id),
                ))
                .foreign_key(&mut fk(
                    "fk_invitations_inviter",
                    (InvitationsV2::Table, Invitations::InvitedBy),
                    (Users::Table, Users::Id),
                ))
                .foreign_key(&mut fk(
                    "fk_invitations_accepter",
                    (InvitationsV2::Table, Invitations::AcceptedBy),
                    (Users::Table, Users::Id),
                ))
                .foreign_key(&mut role_fk(
                    "fk_invitations_role",
                    InvitationsV2::Table,
                    Invitations::OrganizationId,
                    Invitations::CustomRole,
                ))
                .to_owned(),
        )
        .await?;
    let kept = [
        Invitations::Id,
        Invitations::OrganizationId,
        Invitations::Email,
        Invitations::Role,
        Invitations::TokenHash,
        Invitations::InvitedBy,
        Invitations::CreatedAt,
        Invitations::ExpiresAt,
        Invitations::State,
        Invitations::AcceptedBy,
        Invitations::StateChangedAt,
    ];
    copy(manager, InvitationsV2::Table, Invitations::Table, kept).await?;
    manager
        .drop_table(Table::drop().table(Invitations::Table).to_owned())
        .await?;
    manager
        .rename_table(
            Table::rename()
                .table(InvitationsV2::Table, Invitations::Table)
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
    // As for memberships: the invitations of a custom role.
    manager
        .create_index(
            Index::create()
                .name("ix_invitations_custom_role")
                .table(Invitations::Table)
                .col(Invitations::OrganizationId)
                .col(Invitations::CustomRole)
                .to_owned(),
        )
        .await
}

/// Copies the rows of `from` into `into`, `columns` by name; every row held
/// a built-in role until now, so `custom_role` stays null.
async fn copy<C: IntoIden + Copy + 'static>(
    manager: &SchemaManager<'_>,
    into: impl IntoIden,
    from: impl IntoIden,
    columns: impl IntoIterator<Item = C> + Clone,
) -> Result<(), DbErr> {
    let copy = Query::insert()
        .into_table(into)
        .columns(columns.clone())
        .select_from(Query::select().columns(columns).from(from).to_owned())
        .map_err(|e| DbErr::Migration(e.to_string()))?
        .to_owned();
    manager.exec_stmt(copy).await
}
