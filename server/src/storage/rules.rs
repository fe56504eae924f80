//! Access rules and explicit access entries of folders and documents.
use std::collections::{HashMap, HashSet};

use entity::{access_entry, access_rule};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, Condition, ConnectionTrait, EntityTrait, QueryFilter,
    QueryOrder, Set,
};
use uuid::Uuid;

use crate::access::{AccessType, Rule, RuleSet};
use crate::error::{Error, Result};
use crate::storage::TenantScope;

/// A folder or a document.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Object {
    Folder(Uuid),
    Document(Uuid),
}

impl Object {
    fn rule_filter(self) -> Condition {
        match self {
            Object::Folder(id) => Condition::all().add(access_rule::Column::FolderId.eq(id)),
            Object::Document(id) => Condition::all().add(access_rule::Column::DocumentId.eq(id)),
        }
    }

    fn entry_filter(self) -> Condition {
        match self {
            Object::Folder(id) => Condition::all().add(access_entry::Column::FolderId.eq(id)),
            Object::Document(id) => Condition::all().add(access_entry::Column::DocumentId.eq(id)),
        }
    }
}

fn parse(rows: Vec<access_rule::Model>) -> Result<RuleSet> {
    let mut set = RuleSet::new();
    for row in rows {
        let t = row.access_type;
        // Rules are validated when written; a row that no longer parses is corrupt data.
        let rule: Rule = serde_json::from_value(row.rule_data)
            .map_err(|e| Error::Internal(format!("stored rule {} is invalid: {e}", row.id)))?;
        set.entry(t).or_default().push(rule);
    }
    Ok(set)
}

/// The object's rules by type.
pub async fn rules_of(
    scope: &TenantScope,
    db: &impl ConnectionTrait,
    object: Object,
) -> Result<RuleSet> {
    let rows = access_rule::Entity::find()
        .filter(access_rule::Column::TenantId.eq(scope.tenant_id()))
        .filter(object.rule_filter())
        .order_by_asc(access_rule::Column::Position)
        .all(db)
        .await?;
    parse(rows)
}

/// Rules of many folders (`folders: true`) or documents at once, by object id.
pub async fn rules_of_many(
    scope: &TenantScope,
    db: &impl ConnectionTrait,
    folders: bool,
    ids: &[Uuid],
) -> Result<HashMap<Uuid, RuleSet>> {
    let column = if folders {
        access_rule::Column::FolderId
    } else {
        access_rule::Column::DocumentId
    };
    let rows = super::in_slices(ids, |slice| {
        access_rule::Entity::find()
            .filter(access_rule::Column::TenantId.eq(scope.tenant_id()))
            .filter(column.is_in(slice))
            .order_by_asc(access_rule::Column::Position)
            .all(db)
    })
    .await?;
    let mut by_object: HashMap<Uuid, Vec<access_rule::Model>> = HashMap::new();
    for row in rows {
        if let Some(id) = if folders {
            row.folder_id
        } else {
            row.document_id
        } {
            by_object.entry(id).or_default().push(row);
        }
    }
    by_object
        .into_iter()
        .map(|(id, rows)| Ok((id, parse(rows)?)))
        .collect()
}

/// Replaces the object's rules of each type present in `set` (types absent are kept).
pub async fn replace_types(
    scope: &TenantScope,
    db: &impl ConnectionTrait,
    object: Object,
    set: &RuleSet,
) -> Result<()> {
    for (t, rules) in set {
        access_rule::Entity::delete_many()
            .filter(access_rule::Column::TenantId.eq(scope.tenant_id()))
            .filter(object.rule_filter())
            .filter(access_rule::Column::AccessType.eq(*t))
            .exec(db)
            .await?;
        for (position, rule) in rules.iter().enumerate() {
            rule_row(scope, object, *t, position, rule)?
                .insert(db)
                .await?;
        }
    }
    Ok(())
}

/// The row of the object's `position`-th rule of type `t`.
pub fn rule_row(
    scope: &TenantScope,
    object: Object,
    t: AccessType,
    position: usize,
    rule: &Rule,
) -> Result<access_rule::ActiveModel> {
    let (folder_id, document_id) = match object {
        Object::Folder(id) => (Some(id), None),
        Object::Document(id) => (None, Some(id)),
    };
    Ok(access_rule::ActiveModel {
        id: Set(Uuid::now_v7()),
        tenant_id: Set(scope.tenant_id()),
        folder_id: Set(folder_id),
        document_id: Set(document_id),
        access_type: Set(t),
        rule_data: Set(serde_json::to_value(rule).map_err(|e| Error::Internal(e.to_string()))?),
        position: Set(position as i32),
    })
}

/// Removes every rule of the object.
pub async fn clear(scope: &TenantScope, db: &impl ConnectionTrait, object: Object) -> Result<()> {
    access_rule::Entity::delete_many()
        .filter(access_rule::Column::TenantId.eq(scope.tenant_id()))
        .filter(object.rule_filter())
        .exec(db)
        .await?;
    Ok(())
}

/// A user's group ids in slices of [`ID_SLICE`](super::ID_SLICE) (one empty slice for no
/// group), so that a grant query binds a bounded number of them however many groups a user
/// is in.
fn group_slices(group_ids: &[Uuid]) -> Vec<&[Uuid]> {
    if group_ids.is_empty() {
        vec![group_ids]
    } else {
        group_ids.chunks(super::ID_SLICE).collect()
    }
}

/// Entries granting `access` at `now` to the user or one of the groups given.
fn live_grant_of(access: AccessType, user_id: Uuid, group_ids: &[Uuid], now: i64) -> Condition {
    Condition::all()
        .add(access_entry::Column::AccessType.eq(access))
        .add(access_entry::Column::StartTime.lte(now))
        .add(
            Condition::any()
                .add(access_entry::Column::EndTime.is_null())
                .add(access_entry::Column::EndTime.gte(now)),
        )
        .add(
            Condition::any()
                .add(access_entry::Column::UserId.eq(user_id))
                .add(access_entry::Column::GroupId.is_in(group_ids.iter().copied())),
        )
}

/// Whether a live entry grants `access` on `object` to the user or one of their groups.
pub async fn has_entry(
    scope: &TenantScope,
    db: &impl ConnectionTrait,
    object: Object,
    access: AccessType,
    user_id: Uuid,
    group_ids: &[Uuid],
    now: i64,
) -> Result<bool> {
    for groups in group_slices(group_ids) {
        let found = access_entry::Entity::find()
            .filter(access_entry::Column::TenantId.eq(scope.tenant_id()))
            .filter(object.entry_filter())
            .filter(live_grant_of(access, user_id, groups, now))
            .one(db)
            .await?;
        if found.is_some() {
            return Ok(true);
        }
    }
    Ok(false)
}

/// Which of these folders (`folders: true`) or documents have a live entry granting `access`
/// to the user or one of their groups.
#[allow(clippy::too_many_arguments)]
pub async fn granted_among(
    scope: &TenantScope,
    db: &impl ConnectionTrait,
    folders: bool,
    ids: &[Uuid],
    access: AccessType,
    user_id: Uuid,
    group_ids: &[Uuid],
    now: i64,
) -> Result<HashSet<Uuid>> {
    if ids.is_empty() {
        return Ok(HashSet::new());
    }
    let column = if folders {
        access_entry::Column::FolderId
    } else {
        access_entry::Column::DocumentId
    };
    let mut granted = HashSet::new();
    for groups in group_slices(group_ids) {
        let rows = super::in_slices(ids, |slice| {
            access_entry::Entity::find()
                .filter(access_entry::Column::TenantId.eq(scope.tenant_id()))
                .filter(column.is_in(slice))
                .filter(live_grant_of(access, user_id, groups, now))
                .all(db)
        })
        .await?;
        granted.extend(
            rows.into_iter()
                .filter_map(|e| if folders { e.folder_id } else { e.document_id }),
        );
    }
    Ok(granted)
}

/// Who an entry is for.
#[derive(Debug, Clone, Copy)]
pub enum Entity {
    User(Uuid),
    Group(Uuid),
}

pub async fn insert_entry(
    scope: &TenantScope,
    db: &impl ConnectionTrait,
    entity: Entity,
    object: Object,
    access: AccessType,
    window: (i64, Option<i64>),
) -> Result<access_entry::Model> {
    Ok(entry_row(scope, entity, object, access, window)
        .insert(db)
        .await?)
}

/// The row of an explicit grant of `access` on `object` to `entity` during `window`.
pub fn entry_row(
    scope: &TenantScope,
    entity: Entity,
    object: Object,
    access: AccessType,
    window: (i64, Option<i64>),
) -> access_entry::ActiveModel {
    let (user_id, group_id) = match entity {
        Entity::User(id) => (Some(id), None),
        Entity::Group(id) => (None, Some(id)),
    };
    let (folder_id, document_id) = match object {
        Object::Folder(id) => (Some(id), None),
        Object::Document(id) => (None, Some(id)),
    };
    access_entry::ActiveModel {
        id: Set(Uuid::now_v7()),
        tenant_id: Set(scope.tenant_id()),
        user_id: Set(user_id),
        group_id: Set(group_id),
        folder_id: Set(folder_id),
        document_id: Set(document_id),
        access_type: Set(access),
        start_time: Set(window.0),
        end_time: Set(window.1),
        created_at: Set(crate::time::now_ms()),
    }
}

pub async fn delete_entry(
    scope: &TenantScope,
    db: &impl ConnectionTrait,
    id: Uuid,
) -> Result<bool> {
    let res = access_entry::Entity::delete_many()
        .filter(access_entry::Column::TenantId.eq(scope.tenant_id()))
        .filter(access_entry::Column::Id.eq(id))
        .exec(db)
        .await?;
    Ok(res.rows_affected > 0)
}

/// What to list entries by.
#[derive(Debug, Clone, Copy)]
pub enum EntryFilter {
    Entity(Entity),
    Object(Object),
}

pub async fn entries(
    scope: &TenantScope,
    db: &impl ConnectionTrait,
    by: EntryFilter,
) -> Result<Vec<access_entry::Model>> {
    let query =
        access_entry::Entity::find().filter(access_entry::Column::TenantId.eq(scope.tenant_id()));
    let query = match by {
        EntryFilter::Entity(Entity::User(id)) => query.filter(access_entry::Column::UserId.eq(id)),
        EntryFilter::Entity(Entity::Group(id)) => {
            query.filter(access_entry::Column::GroupId.eq(id))
        }
        EntryFilter::Object(object) => query.filter(object.entry_filter()),
    };
    Ok(query
        .order_by_asc(access_entry::Column::CreatedAt)
        .all(db)
        .await?)
}
