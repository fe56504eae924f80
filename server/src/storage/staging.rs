//! Import staging folders. An import writes its rows in short transactions of their own
//! under one hidden top-level folder, marked with its job (`folders.import_job_id`); its last
//! transaction moves the staged top level into place (`backup::import::apply`). Until then no
//! listing, search or export reaches them: the top-level listing leaves staging folders out,
//! [`hidden`] gives the folders a search must skip, and an export waits while a staging
//! folder exists ([`any`]). A staging folder whose job is no longer live is removed by the
//! import on its way out, or by the reaper ([`all`] lists them).
use std::collections::HashSet;

use entity::folder;
use sea_orm::{ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, Set};
use uuid::Uuid;

use crate::error::Result;
use crate::storage::TenantScope;
use crate::time::now_ms;

/// Levels below a staging folder that [`hidden`] walks: beyond any tree an import writes.
const LEVELS: u32 = 100_000;

/// Creates job `job`'s staging folder; returns its id.
pub async fn create(scope: &TenantScope, db: &impl ConnectionTrait, job: Uuid) -> Result<Uuid> {
    let now = now_ms();
    let id = Uuid::now_v7();
    folder::ActiveModel {
        id: Set(id),
        tenant_id: Set(scope.tenant_id()),
        parent_id: Set(None),
        name: Set(format!(".import-{}", job.simple())),
        inherit: Set(false),
        created_at: Set(now),
        last_modified: Set(now),
        import_job_id: Set(Some(job)),
    }
    .insert(db)
    .await?;
    Ok(id)
}

/// The staging folders of job `job` (one, or none once it went).
pub async fn of_job(
    scope: &TenantScope,
    db: &impl ConnectionTrait,
    job: Uuid,
) -> Result<Vec<Uuid>> {
    Ok(staging(scope)
        .filter(folder::Column::ImportJobId.eq(job))
        .all(db)
        .await?
        .into_iter()
        .map(|f| f.id)
        .collect())
}

/// Whether the tenant has any staging folder.
pub async fn any(scope: &TenantScope, db: &impl ConnectionTrait) -> Result<bool> {
    Ok(staging(scope).one(db).await?.is_some())
}

/// The tenant's staging folders and every folder below them: what a search leaves out.
/// Empty, after one indexed query, while no import is writing.
pub async fn hidden(scope: &TenantScope, db: &impl ConnectionTrait) -> Result<HashSet<Uuid>> {
    let mut hidden = HashSet::new();
    for root in staging(scope).all(db).await? {
        let below = super::tree::descendants(scope, db, root.id, LEVELS).await?;
        hidden.extend(below.into_iter().map(|d| d.id));
    }
    Ok(hidden)
}

/// Staging folders of every tenant, with their job: the caller removes those whose job is
/// no longer live.
pub async fn all(db: &impl ConnectionTrait) -> Result<Vec<(Uuid, Uuid, Uuid)>> {
    Ok(folder::Entity::find()
        .filter(folder::Column::ImportJobId.is_not_null())
        .all(db)
        .await?
        .into_iter()
        .filter_map(|f| Some((f.tenant_id, f.id, f.import_job_id?)))
        .collect())
}

fn staging(scope: &TenantScope) -> sea_orm::Select<folder::Entity> {
    folder::Entity::find()
        .filter(folder::Column::TenantId.eq(scope.tenant_id()))
        .filter(folder::Column::ImportJobId.is_not_null())
}
