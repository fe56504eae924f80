//! Tenant-scoped queries. Every function on tenant-owned data takes the
//! [`TenantScope`](crate::auth::TenantScope) first and filters by it; "not found" is `None`
//! (or `false`), and the caller names what was missing. Functions take any
//! `ConnectionTrait`, so services can compose them inside one transaction.
pub mod audit;
pub mod backups;
pub mod blobs;
pub mod documents;
pub mod files;
pub mod folders;
pub mod grants;
pub mod groups;
pub mod jobs;
pub mod rules;
pub mod sessions;
pub mod tasks;
pub mod tenants;
pub mod tree;
pub mod users;

use sea_orm::ColumnTrait;
use sea_orm::sea_query::{Expr, ExprTrait, Func, LikeExpr, SimpleExpr};

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
