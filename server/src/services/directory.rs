//! Read models of users and groups, assembled from a few batched queries (not one query per
//! user or group).
use std::collections::{BTreeSet, HashMap};

use api_spec::actions::{GroupInfo, UserInfo};
use entity::{group, user};
use sea_orm::ConnectionTrait;
use uuid::Uuid;

use crate::auth::TenantScope;
use crate::error::Result;
use crate::storage::{grants, groups, users};
use crate::time::{now_ms, to_secs};

/// Who is in which group, and who holds what, at one instant.
struct Snapshot {
    groups: Vec<group::Model>,
    /// user → current group ids
    member_of: HashMap<Uuid, Vec<Uuid>>,
    /// grantee (user or group id) → permissions
    granted: HashMap<Uuid, BTreeSet<String>>,
}

impl Snapshot {
    async fn load(scope: &TenantScope, db: &impl ConnectionTrait) -> Result<Self> {
        let now = now_ms();
        let mut member_of: HashMap<Uuid, Vec<Uuid>> = HashMap::new();
        for m in grants::live_memberships(scope, db, None, now).await? {
            member_of.entry(m.user_id).or_default().push(m.group_id);
        }
        let mut granted: HashMap<Uuid, BTreeSet<String>> = HashMap::new();
        for g in grants::live_grants(scope, db, now).await? {
            if let Some(id) = g.user_id.or(g.group_id) {
                granted.entry(id).or_default().insert(g.permission);
            }
        }
        Ok(Self {
            groups: groups::list(scope, db).await?,
            member_of,
            granted,
        })
    }

    fn user_info(&self, u: user::Model) -> UserInfo {
        let group_ids = self
            .member_of
            .get(&u.id)
            .map(Vec::as_slice)
            .unwrap_or_default();
        let mut permissions: BTreeSet<String> =
            self.granted.get(&u.id).cloned().unwrap_or_default();
        for gid in group_ids {
            permissions.extend(self.granted.get(gid).into_iter().flatten().cloned());
        }
        let mut group_names: Vec<String> = self
            .groups
            .iter()
            .filter(|g| group_ids.contains(&g.id))
            .map(|g| g.name.clone())
            .collect();
        group_names.sort();
        UserInfo {
            username: u.username,
            nickname: u.nickname,
            created_time: to_secs(u.created_at),
            last_login: u.last_login.map(to_secs),
            permissions: permissions.into_iter().collect(),
            groups: group_names,
        }
    }
}

pub async fn list_users(scope: &TenantScope, db: &impl ConnectionTrait) -> Result<Vec<UserInfo>> {
    let snapshot = Snapshot::load(scope, db).await?;
    Ok(users::list(scope, db)
        .await?
        .into_iter()
        .map(|u| snapshot.user_info(u))
        .collect())
}

pub async fn user_info(
    scope: &TenantScope,
    db: &impl ConnectionTrait,
    username: &str,
) -> Result<Option<UserInfo>> {
    let Some(user) = users::find_by_name(scope, db, username).await? else {
        return Ok(None);
    };
    Ok(Some(Snapshot::load(scope, db).await?.user_info(user)))
}

pub async fn list_groups(scope: &TenantScope, db: &impl ConnectionTrait) -> Result<Vec<GroupInfo>> {
    let snapshot = Snapshot::load(scope, db).await?;
    let names: HashMap<Uuid, String> = users::list(scope, db)
        .await?
        .into_iter()
        .map(|u| (u.id, u.username))
        .collect();
    Ok(snapshot
        .groups
        .iter()
        .map(|g| {
            let mut members: Vec<String> = snapshot
                .member_of
                .iter()
                .filter(|(_, gids)| gids.contains(&g.id))
                .filter_map(|(uid, _)| names.get(uid).cloned())
                .collect();
            members.sort();
            GroupInfo {
                name: g.name.clone(),
                display_name: g.display_name.clone(),
                permissions: snapshot
                    .granted
                    .get(&g.id)
                    .into_iter()
                    .flatten()
                    .cloned()
                    .collect(),
                members,
            }
        })
        .collect())
}
