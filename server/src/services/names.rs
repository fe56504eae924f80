//! Ids and names of folders and documents.
use api_spec::ErrorCode;
use sea_orm::ConnectionTrait;
use uuid::Uuid;

use crate::auth::TenantScope;
use crate::error::{Error, Result, fail, field_error};
use crate::storage::{documents, folders};

/// Parses a client-given id. A malformed id names nothing, so it is `missing` (a 404),
/// exactly like a well-formed id of another tenant's object.
pub fn parse_id(raw: &str, missing: ErrorCode) -> Result<Uuid> {
    Uuid::parse_str(raw).map_err(|_| fail(missing))
}

/// Parses an optional folder id (`None`, empty or `"/"`: the top level).
pub fn parse_folder(raw: Option<&str>) -> Result<Option<Uuid>> {
    match raw {
        None | Some("") | Some("/") => Ok(None),
        Some(raw) => parse_id(raw, ErrorCode::FolderNotFound).map(Some),
    }
}

/// 1–255 characters, no slash, backslash or control character, not `.` or `..`, and not
/// only white space.
pub fn check_name(name: &str, field: &str) -> Result<()> {
    let ok = (1..=255).contains(&name.chars().count())
        && !name
            .chars()
            .any(|c| c == '/' || c == '\\' || c.is_control())
        && name != "."
        && name != ".."
        && !name.trim().is_empty();
    if ok {
        Ok(())
    } else {
        Err(field_error(ErrorCode::InvalidName, field))
    }
}

/// The object already called `name` in `folder` (other than `except`), if any.
pub async fn ensure_free(
    scope: &TenantScope,
    db: &impl ConnectionTrait,
    folder: Option<Uuid>,
    name: &str,
    except: Option<Uuid>,
) -> Result<()> {
    if let Some(f) = folders::named(scope, db, folder, name)
        .await?
        .into_iter()
        .find(|f| f.name == name && Some(f.id) != except)
    {
        return Err(Error::Conflict {
            id: f.id.to_string(),
            object_type: "folder",
        });
    }
    if let Some(d) = documents::titled(scope, db, folder, name)
        .await?
        .into_iter()
        .find(|d| d.title == name && Some(d.id) != except)
    {
        return Err(Error::Conflict {
            id: d.id.to_string(),
            object_type: "document",
        });
    }
    Ok(())
}

/// The folder, or `folder_not_found`.
pub async fn folder(
    scope: &TenantScope,
    db: &impl ConnectionTrait,
    id: Uuid,
) -> Result<entity::folder::Model> {
    folders::find(scope, db, id)
        .await?
        .ok_or_else(|| fail(ErrorCode::FolderNotFound))
}

/// The document, or `document_not_found`.
pub async fn document(
    scope: &TenantScope,
    db: &impl ConnectionTrait,
    id: Uuid,
) -> Result<entity::document::Model> {
    documents::find(scope, db, id)
        .await?
        .ok_or_else(|| fail(ErrorCode::DocumentNotFound))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        for good in [
            "a",
            "Отчёт 2026.pdf",
            "报告",
            "naïve café",
            &"x".repeat(255),
        ] {
            assert!(check_name(good, "n").is_ok(), "{good}");
        }
        for bad in [
            "",
            ".",
            "..",
            "a/b",
            "a\\b",
            "tab\there",
            "   ",
            &"x".repeat(256),
        ] {
            assert!(check_name(bad, "n").is_err(), "{bad:?}");
        }
    }

    #[test]
    fn folder_ids() {
        assert_eq!(parse_folder(None).unwrap(), None);
        assert_eq!(parse_folder(Some("/")).unwrap(), None);
        assert!(parse_folder(Some("not-a-uuid")).is_err());
    }
}
