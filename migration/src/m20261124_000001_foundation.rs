//! Tenants, users, groups, memberships, permission grants, sessions and the audit trail.
use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Tenants {
    Table,
    Id,
    Slug,
    DisplayName,
    CreatedAt,
}

#[derive(DeriveIden)]
enum Users {
    Table,
    Id,
    TenantId,
    Username,
    Nickname,
    PasswordHash,
    PasswdLastModified,
    CreatedAt,
    LastLogin,
}

#[derive(DeriveIden)]
enum Groups {
    Table,
    Id,
    TenantId,
    Name,
    DisplayName,
    CreatedAt,
}

#[derive(DeriveIden)]
enum Memberships {
    Table,
    Id,
    TenantId,
    UserId,
    GroupId,
    StartTime,
    EndTime,
}

#[derive(DeriveIden)]
enum PermissionGrants {
    Table,
    Id,
    TenantId,
    UserId,
    GroupId,
    Permission,
    StartTime,
    EndTime,
}

#[derive(DeriveIden)]
enum Sessions {
    Table,
    Id,
    TenantId,
    UserId,
    TokenHash,
    CreatedAt,
    ExpiresAt,
}

#[derive(DeriveIden)]
enum AuditEntries {
    Table,
    Id,
    TenantId,
    Username,
    Action,
    Target,
    Data,
    Result,
    RemoteAddress,
    LoggedTime,
}

/// A foreign key that removes the child row with its parent.
pub(crate) fn cascade(
    name: &str,
    from: (impl IntoIden, impl IntoIden),
    to: (impl IntoIden, impl IntoIden),
) -> ForeignKeyCreateStatement {
    ForeignKey::create()
        .name(name)
        .from(from.0, from.1)
        .to(to.0, to.1)
        .on_delete(ForeignKeyAction::Cascade)
        .take()
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(Tenants::Table)
                    .col(pk_uuid(Tenants::Id))
                    .col(string_len_uniq(Tenants::Slug, 64))
                    .col(string_len(Tenants::DisplayName, 255))
                    .col(big_integer(Tenants::CreatedAt))
                    .take(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(Users::Table)
                    .col(pk_uuid(Users::Id))
                    .col(uuid(Users::TenantId))
                    .col(string_len(Users::Username, 64))
                    .col(string_len_null(Users::Nickname, 255))
                    .col(text(Users::PasswordHash))
                    .col(big_integer(Users::PasswdLastModified))
                    .col(big_integer(Users::CreatedAt))
                    .col(big_integer_null(Users::LastLogin))
                    .foreign_key(&mut cascade(
                        "fk_users_tenant",
                        (Users::Table, Users::TenantId),
                        (Tenants::Table, Tenants::Id),
                    ))
                    .take(),
            )
            .await?;
        unique_index(
            manager,
            "ux_users_tenant_username",
            Users::Table,
            [Users::TenantId, Users::Username],
        )
        .await?;

        manager
            .create_table(
                Table::create()
                    .table(Groups::Table)
                    .col(pk_uuid(Groups::Id))
                    .col(uuid(Groups::TenantId))
                    .col(string_len(Groups::Name, 64))
                    .col(string_len_null(Groups::DisplayName, 255))
                    .col(big_integer(Groups::CreatedAt))
                    .foreign_key(&mut cascade(
                        "fk_groups_tenant",
                        (Groups::Table, Groups::TenantId),
                        (Tenants::Table, Tenants::Id),
                    ))
                    .take(),
            )
            .await?;
        unique_index(
            manager,
            "ux_groups_tenant_name",
            Groups::Table,
            [Groups::TenantId, Groups::Name],
        )
        .await?;

        manager
            .create_table(
                Table::create()
                    .table(Memberships::Table)
                    .col(pk_uuid(Memberships::Id))
                    .col(uuid(Memberships::TenantId))
                    .col(uuid(Memberships::UserId))
                    .col(uuid(Memberships::GroupId))
                    .col(big_integer(Memberships::StartTime))
                    .col(big_integer_null(Memberships::EndTime))
                    .foreign_key(&mut cascade(
                        "fk_memberships_tenant",
                        (Memberships::Table, Memberships::TenantId),
                        (Tenants::Table, Tenants::Id),
                    ))
                    .foreign_key(&mut cascade(
                        "fk_memberships_user",
                        (Memberships::Table, Memberships::UserId),
                        (Users::Table, Users::Id),
                    ))
                    .foreign_key(&mut cascade(
                        "fk_memberships_group",
                        (Memberships::Table, Memberships::GroupId),
                        (Groups::Table, Groups::Id),
                    ))
                    .take(),
            )
            .await?;
        unique_index(
            manager,
            "ux_memberships_user_group",
            Memberships::Table,
            [Memberships::UserId, Memberships::GroupId],
        )
        .await?;
        plain_index(
            manager,
            "ix_memberships_group",
            Memberships::Table,
            [Memberships::GroupId],
        )
        .await?;

        manager
            .create_table(
                Table::create()
                    .table(PermissionGrants::Table)
                    .col(pk_uuid(PermissionGrants::Id))
                    .col(uuid(PermissionGrants::TenantId))
                    .col(uuid_null(PermissionGrants::UserId))
                    .col(uuid_null(PermissionGrants::GroupId))
                    .col(string_len(PermissionGrants::Permission, 64))
                    .col(big_integer(PermissionGrants::StartTime))
                    .col(big_integer_null(PermissionGrants::EndTime))
                    .check(Expr::cust("(user_id IS NULL) <> (group_id IS NULL)"))
                    .foreign_key(&mut cascade(
                        "fk_grants_tenant",
                        (PermissionGrants::Table, PermissionGrants::TenantId),
                        (Tenants::Table, Tenants::Id),
                    ))
                    .foreign_key(&mut cascade(
                        "fk_grants_user",
                        (PermissionGrants::Table, PermissionGrants::UserId),
                        (Users::Table, Users::Id),
                    ))
                    .foreign_key(&mut cascade(
                        "fk_grants_group",
                        (PermissionGrants::Table, PermissionGrants::GroupId),
                        (Groups::Table, Groups::Id),
                    ))
                    .take(),
            )
            .await?;
        plain_index(
            manager,
            "ix_grants_user",
            PermissionGrants::Table,
            [PermissionGrants::UserId],
        )
        .await?;
        plain_index(
            manager,
            "ix_grants_group",
            PermissionGrants::Table,
            [PermissionGrants::GroupId],
        )
        .await?;

        manager
            .create_table(
                Table::create()
                    .table(Sessions::Table)
                    .col(pk_uuid(Sessions::Id))
                    .col(uuid(Sessions::TenantId))
                    .col(uuid(Sessions::UserId))
                    .col(string_len_uniq(Sessions::TokenHash, 64))
                    .col(big_integer(Sessions::CreatedAt))
                    .col(big_integer(Sessions::ExpiresAt))
                    .foreign_key(&mut cascade(
                        "fk_sessions_tenant",
                        (Sessions::Table, Sessions::TenantId),
                        (Tenants::Table, Tenants::Id),
                    ))
                    .foreign_key(&mut cascade(
                        "fk_sessions_user",
                        (Sessions::Table, Sessions::UserId),
                        (Users::Table, Users::Id),
                    ))
                    .take(),
            )
            .await?;
        plain_index(
            manager,
            "ix_sessions_user",
            Sessions::Table,
            [Sessions::UserId],
        )
        .await?;

        manager
            .create_table(
                Table::create()
                    .table(AuditEntries::Table)
                    .col(pk_uuid(AuditEntries::Id))
                    .col(uuid(AuditEntries::TenantId))
                    .col(string_len_null(AuditEntries::Username, 64))
                    .col(string_len(AuditEntries::Action, 64))
                    .col(text_null(AuditEntries::Target))
                    .col(json_null(AuditEntries::Data))
                    .col(integer(AuditEntries::Result))
                    .col(string_len_null(AuditEntries::RemoteAddress, 64))
                    .col(big_integer(AuditEntries::LoggedTime))
                    .foreign_key(&mut cascade(
                        "fk_audit_tenant",
                        (AuditEntries::Table, AuditEntries::TenantId),
                        (Tenants::Table, Tenants::Id),
                    ))
                    .take(),
            )
            .await?;
        plain_index(
            manager,
            "ix_audit_tenant_time",
            AuditEntries::Table,
            [AuditEntries::TenantId, AuditEntries::LoggedTime],
        )
        .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        // Children first, so foreign keys never point at a dropped table.
        for table in [
            AuditEntries::Table.into_iden(),
            Sessions::Table.into_iden(),
            PermissionGrants::Table.into_iden(),
            Memberships::Table.into_iden(),
            Groups::Table.into_iden(),
            Users::Table.into_iden(),
            Tenants::Table.into_iden(),
        ] {
            manager
                .drop_table(Table::drop().table(table).take())
                .await?;
        }
        Ok(())
    }
}

/// Creates an index on `cols`; `unique` makes it a uniqueness constraint.
pub(crate) async fn index<const N: usize>(
    manager: &SchemaManager<'_>,
    name: &str,
    table: impl IntoIden,
    cols: [impl IntoIden; N],
    unique: bool,
) -> Result<(), DbErr> {
    let mut index = Index::create().name(name).table(table).take();
    if unique {
        index.unique();
    }
    for col in cols {
        index.col(col);
    }
    manager.create_index(index).await
}

async fn unique_index<const N: usize>(
    manager: &SchemaManager<'_>,
    name: &str,
    table: impl IntoIden,
    cols: [impl IntoIden; N],
) -> Result<(), DbErr> {
    index(manager, name, table, cols, true).await
}

async fn plain_index<const N: usize>(
    manager: &SchemaManager<'_>,
    name: &str,
    table: impl IntoIden,
    cols: [impl IntoIden; N],
) -> Result<(), DbErr> {
    index(manager, name, table, cols, false).await
}
