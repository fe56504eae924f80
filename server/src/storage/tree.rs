//! Walks up and down one tenant's folder tree, each in one query (a recursive CTE, which
//! SQLite and PostgreSQL both run), and each bounded in levels whatever the data holds — so a
//! chain of folders costs one round trip, not one (or three) per level, and a cycle in
//! corrupt data ends at the bound instead of looping.
use sea_orm::{ConnectionTrait, DatabaseBackend, FromQueryResult, Statement, Value};
use uuid::Uuid;

use crate::error::Result;
use crate::storage::TenantScope;

/// One folder on the way up.
#[derive(Debug, Clone, FromQueryResult)]
pub struct Ancestor {
    pub id: Uuid,
    pub parent_id: Option<Uuid>,
    pub inherit: bool,
}

/// One folder on the way down, `depth` levels below the walk's start (which is 1).
#[derive(Debug, Clone, FromQueryResult)]
pub struct Descendant {
    pub id: Uuid,
    pub depth: i64,
}

/// `sql` (with `?` placeholders) for the connection's database: PostgreSQL numbers them.
fn statement(backend: DatabaseBackend, sql: &str, values: Vec<Value>) -> Statement {
    let sql = match backend {
        DatabaseBackend::Postgres => {
            let mut numbered = String::with_capacity(sql.len() + 8);
            for (i, part) in sql.split('?').enumerate() {
                if i > 0 {
                    numbered.push_str(&format!("${i}"));
                }
                numbered.push_str(part);
            }
            numbered
        }
        _ => sql.to_owned(),
    };
    Statement::from_sql_and_values(backend, sql, values)
}

// Every recursive step reads `<recursive table> CROSS JOIN folders f`: SQLite takes a
// CROSS JOIN's left side as the outer loop, so each step looks its rows up in an index of
// `folders`. With a plain JOIN, SQLite 3.51 may scan the tenant's part of an index of
// `folders` for every row of the recursive table: quadratic, minutes for a folder of 33,000
// subfolders. (PostgreSQL plans a CROSS JOIN with a WHERE like any join.)
const UP: &str = "WITH RECURSIVE chain(id, parent_id, inherit, depth) AS (
        SELECT id, parent_id, inherit, CAST(1 AS BIGINT) FROM folders WHERE tenant_id = ? AND id = ?
    UNION ALL
        SELECT f.id, f.parent_id, f.inherit, chain.depth + 1
        FROM chain CROSS JOIN folders f
        WHERE f.id = chain.parent_id AND f.tenant_id = ? AND chain.depth < ?
    )
    SELECT id, parent_id, inherit FROM chain ORDER BY depth";

/// `folder` and the folders above it, nearest first, at most `levels` of them (empty if
/// `folder` does not exist).
pub async fn ancestors(
    scope: &TenantScope,
    db: &impl ConnectionTrait,
    folder: Uuid,
    levels: u32,
) -> Result<Vec<Ancestor>> {
    let stmt = walk(scope, db, UP, folder, levels);
    Ok(Ancestor::find_by_statement(stmt).all(db).await?)
}

/// The recursive part of [`inheriting_ancestors`]: `UNION` (not `UNION ALL`) keeps one row
/// per folder however many starts share it, and ends on a cycle.
const UP_MANY: &str = "
    UNION
        SELECT f.id, f.parent_id, f.inherit FROM chain CROSS JOIN folders f
        WHERE f.id = chain.parent_id AND f.tenant_id = ? AND chain.inherit
    )
    SELECT id, parent_id, inherit FROM chain";

/// The folders in `starts` and, from each, the folders above it while `inherit` holds (the
/// last one read is the first that does not inherit, or a top-level one): each folder once,
/// in no particular order — one query for any number of starts sharing ancestors.
pub async fn inheriting_ancestors(
    scope: &TenantScope,
    db: &impl ConnectionTrait,
    starts: &[Uuid],
) -> Result<Vec<Ancestor>> {
    if starts.is_empty() {
        return Ok(Vec::new());
    }
    let tenant = scope.tenant_id();
    let marks = vec!["?"; starts.len()].join(", ");
    let sql = format!(
        "WITH RECURSIVE chain(id, parent_id, inherit) AS (
        SELECT id, parent_id, inherit FROM folders WHERE tenant_id = ? AND id IN ({marks}){UP_MANY}"
    );
    let mut values: Vec<Value> = vec![tenant.into()];
    values.extend(starts.iter().map(|id| Value::from(*id)));
    values.push(tenant.into());
    let stmt = statement(db.get_database_backend(), &sql, values);
    Ok(Ancestor::find_by_statement(stmt).all(db).await?)
}

const DOWN: &str = "WITH RECURSIVE below(id, depth) AS (
        SELECT id, CAST(1 AS BIGINT) FROM folders WHERE tenant_id = ? AND id = ?
    UNION ALL
        SELECT f.id, below.depth + 1
        FROM below CROSS JOIN folders f
        WHERE f.parent_id = below.id AND f.tenant_id = ? AND below.depth < ?
    )";

/// `folder` and every folder below it down to `levels` levels (`folder` is level 1), in no
/// particular order.
pub async fn descendants(
    scope: &TenantScope,
    db: &impl ConnectionTrait,
    folder: Uuid,
    levels: u32,
) -> Result<Vec<Descendant>> {
    let stmt = down(scope, db, folder, levels, "SELECT id, depth FROM below");
    Ok(Descendant::find_by_statement(stmt).all(db).await?)
}

/// How many levels `folder`'s subtree spans (1: no subfolders; 0: no such folder), counting
/// at most `levels`.
pub async fn height(
    scope: &TenantScope,
    db: &impl ConnectionTrait,
    folder: Uuid,
    levels: u32,
) -> Result<u32> {
    #[derive(FromQueryResult)]
    struct Height {
        height: Option<i64>,
    }
    let stmt = down(
        scope,
        db,
        folder,
        levels,
        "SELECT MAX(depth) AS height FROM below",
    );
    let row = Height::find_by_statement(stmt).one(db).await?;
    let height = row.and_then(|r| r.height).unwrap_or(0);
    Ok(u32::try_from(height).unwrap_or(u32::MAX))
}

fn down(
    scope: &TenantScope,
    db: &impl ConnectionTrait,
    folder: Uuid,
    levels: u32,
    select: &str,
) -> Statement {
    walk(scope, db, &format!("{DOWN} {select}"), folder, levels)
}

/// A walk's statement: both bind the tenant, the starting folder, the tenant again and the
/// number of levels, in that order.
fn walk(
    scope: &TenantScope,
    db: &impl ConnectionTrait,
    sql: &str,
    folder: Uuid,
    levels: u32,
) -> Statement {
    let tenant = scope.tenant_id();
    let values = vec![
        tenant.into(),
        folder.into(),
        tenant.into(),
        i64::from(levels).into(),
    ];
    statement(db.get_database_backend(), sql, values)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn postgres_placeholders_are_numbered() {
        let s = statement(DatabaseBackend::Postgres, "a = ? AND b = ?", vec![]);
        assert_eq!(s.sql, "a = $1 AND b = $2");
        let s = statement(DatabaseBackend::Sqlite, "a = ? AND b = ?", vec![]);
        assert_eq!(s.sql, "a = ? AND b = ?");
    }
}
