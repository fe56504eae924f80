//! Group memberships and permission grants, both valid within a time window
//! (`start_time <= now` and `end_time` absent or `>= now`).
use std::collections::BTreeSet;

use entity::{group, membership, permission_grant as grant};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, Condition, ConnectionTrait, EntityTrait, QueryFilter, Set,
};
use uuid::Uuid;

use crate::error::Result;
use crate::storage::TenantScope;

/// Who a grant is for.
#[derive(Debug, Clone, Copy)]
pub enum Grantee {
    User(Uuid),
    Group(Uuid),
}

fn membership_live(now: i64) -> Condition {
    Condition::all()
        .add(membership::Column::StartTime.lte(now))
        .add(
            Condition::any()
                .add(membership::Column::EndTime.is_null())
                .add(membership::Column::EndTime.gte(now)),
        )
}

fn grant_live(now: i64) -> Condition {
    Condition::all().add(grant::Column::StartTime.lte(now)).add(
        Condition::any()
            .add(grant::Column::EndTime.is_null())
            .add(grant::Column::EndTime.gte(now)),
    )
}

/// Grants to the user directly or to one of these groups (live at `now`, when given): one
/// query per [`ID_SLICE`](super::ID_SLICE) of groups, each grant once.
async fn held_by(
    scope: &TenantScope,
    db: &impl ConnectionTrait,
    user_id: Uuid,
    group_ids: &[Uuid],
    now: Option<i64>,
) -> Result<Vec<grant::Model>> {
    let slices: Vec<&[Uuid]> = if group_ids.is_empty() {
        vec![group_ids]
    } else {
        group_ids.chunks(super::ID_SLICE).collect()
    };
    let mut seen = std::collections::HashSet::new();
    let mut grants = Vec::new();
    for groups in slices {
        let mut query = grant::Entity::find()
            .filter(grant::Column::TenantId.eq(scope.tenant_id()))
            .filter(
                Condition::any()
                    .add(grant::Column::UserId.eq(user_id))
                    .add(grant::Column::GroupId.is_in(groups.iter().copied())),
            );
        if let Some(now) = now {
            query = query.filter(grant_live(now));
        }
        grants.extend(
            query
                .all(db)
                .await?
                .into_iter()
                .filter(|g| seen.insert(g.id)),
        );
    }
    Ok(grants)
}

/// Memberships of the tenant valid at `now` (all users, or one).
pub async fn live_memberships(
    scope: &TenantScope,
    db: &impl ConnectionTrait,
    user_id: Option<Uuid>,
    now: i64,
) -> Result<Vec<membership::Model>> {
    let mut query = membership::Entity::find()
        .filter(membership::Column::TenantId.eq(scope.tenant_id()))
        .filter(membership_live(now));
    if let Some(user_id) = user_id {
        query = query.filter(membership::Column::UserId.eq(user_id));
    }
    Ok(query.all(db).await?)
}

/// Grants of the tenant valid at `now`.
pub async fn live_grants(
    scope: &TenantScope,
    db: &impl ConnectionTrait,
    now: i64,
) -> Result<Vec<grant::Model>> {
    Ok(grant::Entity::find()
        .filter(grant::Column::TenantId.eq(scope.tenant_id()))
        .filter(grant_live(now))
        .all(db)
        .await?)
}

/// Groups the user is a member of at `now`.
pub async fn current_groups(
    scope: &TenantScope,
    db: &impl ConnectionTrait,
    user_id: Uuid,
    now: i64,
) -> Result<Vec<group::Model>> {
    let ids: Vec<Uuid> = live_memberships(scope, db, Some(user_id), now)
        .await?
        .into_iter()
        .map(|m| m.group_id)
        .collect();
    groups_by_ids(scope, db, ids).await
}

/// The tenant's groups with these ids.
pub async fn groups_by_ids(
    scope: &TenantScope,
    db: &impl ConnectionTrait,
    ids: Vec<Uuid>,
) -> Result<Vec<group::Model>> {
    Ok(super::in_slices(&ids, |slice| {
        group::Entity::find()
            .filter(group::Column::TenantId.eq(scope.tenant_id()))
            .filter(group::Column::Id.is_in(slice))
            .all(db)
    })
    .await?)
}

/// The user's permissions at `now`: direct grants and the grants of their current groups.
pub async fn effective_permissions(
    scope: &TenantScope,
    db: &impl ConnectionTrait,
    user_id: Uuid,
    now: i64,
) -> Result<BTreeSet<String>> {
    let group_ids: Vec<Uuid> = live_memberships(scope, db, Some(user_id), now)
        .await?
        .into_iter()
        .map(|m| m.group_id)
        .collect();
    let grants = held_by(scope, db, user_id, &group_ids, Some(now)).await?;
    Ok(grants.into_iter().map(|g| g.permission).collect())
}

/// Every membership of the user, and every grant to the user or to a group of any of those
/// memberships, whatever their windows: what authentication needs to know both what holds
/// now and when that next changes.
pub async fn windows_of_user(
    scope: &TenantScope,
    db: &impl ConnectionTrait,
    user_id: Uuid,
) -> Result<(Vec<membership::Model>, Vec<grant::Model>)> {
    let memberships = membership::Entity::find()
        .filter(membership::Column::TenantId.eq(scope.tenant_id()))
        .filter(membership::Column::UserId.eq(user_id))
        .all(db)
        .await?;
    let group_ids: Vec<Uuid> = memberships.iter().map(|m| m.group_id).collect();
    let grants = held_by(scope, db, user_id, &group_ids, None).await?;
    Ok((memberships, grants))
}

/// Whether the window `[start, end]` holds at `now`, and the next instant after `now` at which
/// that changes, if ever.
pub fn window_at(start: i64, end: Option<i64>, now: i64) -> (bool, Option<i64>) {
    if start > now {
        return (false, Some(start));
    }
    match end {
        None => (true, None),
        Some(end) if end >= now => (true, Some(end.saturating_add(1))),
        Some(_) => (false, None),
    }
}

pub async fn add_membership(
    scope: &TenantScope,
    db: &impl ConnectionTrait,
    user_id: Uuid,
    group_id: Uuid,
    start_time: i64,
    end_time: Option<i64>,
) -> Result<()> {
    membership::ActiveModel {
        id: Set(Uuid::now_v7()),
        tenant_id: Set(scope.tenant_id()),
        user_id: Set(user_id),
        group_id: Set(group_id),
        start_time: Set(start_time),
        end_time: Set(end_time),
    }
    .insert(db)
    .await?;
    Ok(())
}

/// Removes every membership of the user.
pub async fn clear_memberships(
    scope: &TenantScope,
    db: &impl ConnectionTrait,
    user_id: Uuid,
) -> Result<()> {
    membership::Entity::delete_many()
        .filter(membership::Column::TenantId.eq(scope.tenant_id()))
        .filter(membership::Column::UserId.eq(user_id))
        .exec(db)
        .await?;
    Ok(())
}

pub async fn add_grant(
    scope: &TenantScope,
    db: &impl ConnectionTrait,
    grantee: Grantee,
    permission: &str,
    start_time: i64,
    end_time: Option<i64>,
) -> Result<()> {
    let (user_id, group_id) = match grantee {
        Grantee::User(id) => (Some(id), None),
        Grantee::Group(id) => (None, Some(id)),
    };
    grant::ActiveModel {
        id: Set(Uuid::now_v7()),
        tenant_id: Set(scope.tenant_id()),
        user_id: Set(user_id),
        group_id: Set(group_id),
        permission: Set(permission.to_owned()),
        start_time: Set(start_time),
        end_time: Set(end_time),
    }
    .insert(db)
    .await?;
    Ok(())
}

/// Removes every grant made to the group.
pub async fn clear_group_grants(
    scope: &TenantScope,
    db: &impl ConnectionTrait,
    group_id: Uuid,
) -> Result<()> {
    grant::Entity::delete_many()
        .filter(grant::Column::TenantId.eq(scope.tenant_id()))
        .filter(grant::Column::GroupId.eq(group_id))
        .exec(db)
        .await?;
    Ok(())
}
