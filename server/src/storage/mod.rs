//! Tenant-scoped queries. Every function on tenant-owned data takes the
//! [`TenantScope`] first and filters by it; "not found" is `None`
//! (or `false`), and the caller names what was missing. Functions take any
//! `ConnectionTrait`, so services can compose them inside one transaction.
pub mod audit;
pub mod backup_blobs;
pub mod backup_copies;
pub mod backup_keys;
pub mod backups;
pub mod blobs;
pub mod documents;
pub mod files;
pub mod folders;
pub mod grants;
pub mod groups;
pub mod job_blobs;
pub mod jobs;
pub mod policies;
pub mod rules;
mod scope;
pub mod sessions;
pub mod staging;
pub mod tasks;
pub mod tenants;
pub mod tree;
pub mod users;

pub use scope::TenantScope;

use std::future::Future;

use sea_orm::sea_query::{Expr, ExprTrait, Func, LikeExpr, SimpleExpr};
use sea_orm::{ColumnTrait, DbErr};

/// Values bound per statement for a list of ids (or names). SQLite refuses a statement with
/// more than 32,766 bound variables (PostgreSQL 65,535), so a query over a list of any length
/// binds it in slices of this many — one statement per slice, far below both limits whatever
/// else the statement binds. (A temporary table of ids was the alternative: one statement,
/// but a write on every read, and a table per connection to clean up.)
pub const ID_SLICE: usize = 1000;

/// Runs `query` once per [`ID_SLICE`] of `ids` and gathers its rows, slice after slice.
/// Every storage function that binds a caller's list goes through here, so none of them
/// fails at a size.
pub(crate) async fn in_slices<T, R, Fut>(
    ids: &[T],
    mut query: impl FnMut(Vec<T>) -> Fut,
) -> Result<Vec<R>, DbErr>
where
    T: Clone,
    Fut: Future<Output = Result<Vec<R>, DbErr>>,
{
    let mut rows = Vec::new();
    for slice in ids.chunks(ID_SLICE) {
        rows.extend(query(slice.to_vec()).await?);
    }
    Ok(rows)
}

/// `LOWER(col) LIKE '%needle%'` with `%`, `_` and `\` in the needle matched literally.
pub(crate) fn name_like(col: impl ColumnTrait, needle: &str) -> SimpleExpr {
    let escaped = needle
        .to_lowercase()
        .replace('\\', "\\\\")
        .replace('%', "\\%")
        .replace('_', "\\_");
    Expr::expr(Func::lower(col.into_expr()))
        .like(LikeExpr::new(format!("%{escaped}%")).escape('\\'))
}
