//! Input rules shared by several services.
use api_spec::{ErrorCode, permissions};

use crate::error::{Result, field_error};
use crate::time::{from_secs, now_ms};

fn is_name_char(c: char) -> bool {
    c.is_alphanumeric() || matches!(c, '.' | '_' | '-')
}

/// 1–64 characters of letters, digits, `.`, `_`, `-` or `@`.
pub fn username(name: &str) -> Result<()> {
    let len = name.chars().count();
    if (1..=64).contains(&len) && name.chars().all(|c| is_name_char(c) || c == '@') {
        Ok(())
    } else {
        Err(field_error(ErrorCode::InvalidUsername, "username"))
    }
}

/// 1–64 characters of letters, digits, `.`, `_` or `-`.
pub fn group_name(name: &str, field: &str) -> Result<()> {
    let len = name.chars().count();
    if (1..=64).contains(&len) && name.chars().all(is_name_char) {
        Ok(())
    } else {
        Err(field_error(ErrorCode::InvalidGroupName, field))
    }
}

/// 2–63 characters of `a-z`, `0-9` and `-`, starting with a letter or digit.
pub fn tenant_slug(slug: &str) -> Result<()> {
    let ok = (2..=63).contains(&slug.len())
        && slug
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        && slug
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_alphanumeric());
    if ok {
        Ok(())
    } else {
        Err(field_error(ErrorCode::InvalidTenantSlug, "tenant"))
    }
}

/// Display names and nicknames: at most 255 characters, no control characters.
pub fn display_text(text: &str, field: &str) -> Result<()> {
    if text.chars().count() <= 255 && !text.chars().any(char::is_control) {
        Ok(())
    } else {
        Err(field_error(ErrorCode::InvalidField, field))
    }
}

pub fn permission(name: &str) -> Result<()> {
    if permissions::is_known(name) {
        Ok(())
    } else {
        Err(field_error(ErrorCode::UnknownPermission, "permissions"))
    }
}

/// A validity window in wire seconds → milliseconds: start defaults to now, the end (if any)
/// must not precede the start.
pub fn window(start: Option<f64>, end: Option<f64>, field: &str) -> Result<(i64, Option<i64>)> {
    let bad = || field_error(ErrorCode::InvalidTimeRange, field);
    let start = match start {
        Some(s) => from_secs(s).ok_or_else(bad)?,
        None => now_ms(),
    };
    let end = end.map(|e| from_secs(e).ok_or_else(bad)).transpose()?;
    if end.is_some_and(|e| e < start) {
        return Err(bad());
    }
    Ok((start, end))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        assert!(username("alice").is_ok());
        assert!(username("a.b-c_d@x").is_ok());
        assert!(username("").is_err());
        assert!(username("a/b").is_err());
        assert!(username(&"a".repeat(65)).is_err());
        assert!(group_name("editors", "g").is_ok());
        assert!(group_name("ed itors", "g").is_err());
        assert!(tenant_slug("acme-1").is_ok());
        assert!(tenant_slug("-acme").is_err());
        assert!(tenant_slug("Acme").is_err());
        assert!(tenant_slug("a").is_err());
        assert!(display_text("Ünïcødé name", "n").is_ok());
        assert!(display_text("bad\nname", "n").is_err());
    }

    #[test]
    fn windows() {
        assert!(window(Some(10.0), Some(5.0), "w").is_err());
        assert!(window(Some(-1.0), None, "w").is_err());
        assert!(window(Some(f64::NAN), None, "w").is_err());
        assert_eq!(
            window(Some(1.5), Some(2.0), "w").unwrap(),
            (1500, Some(2000))
        );
        assert!(window(None, None, "w").unwrap().0 > 0);
    }
}
