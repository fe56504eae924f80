use api_spec::ErrorCode;
use api_spec::actions::{Compression, GenerateBackupRequest, GenerateBackupResponse};

use crate::actions::Call;
use crate::backup::export::{self, ExportRequest};
use crate::error::{Result, field_error};
use crate::time::now_ms;
use uuid::Uuid;

/// A label: 1–128 letters, digits, spaces, `.`, `_` or `-`. It is stored, never a path.
fn check_name(name: &str) -> Result<()> {
    let ok = (1..=128).contains(&name.chars().count())
        && name
            .chars()
            .all(|c| c.is_alphanumeric() || matches!(c, ' ' | '.' | '_' | '-'))
        && !name.trim().is_empty();
    if ok {
        Ok(())
    } else {
        Err(field_error(ErrorCode::InvalidName, "backup_name"))
    }
}

pub async fn run(call: Call, req: GenerateBackupRequest) -> Result<GenerateBackupResponse> {
    let auth = call.auth()?;
    let name = req
        .backup_name
        .clone()
        .unwrap_or_else(|| format!("backup-{}", now_ms()));
    check_name(&name)?;
    if let Some(p) = &req.passphrase
        && !(8..=1024).contains(&p.chars().count())
    {
        return Err(field_error(ErrorCode::WeakPassword, "passphrase"));
    }
    let compress = req.compression.unwrap_or_default() == Compression::Zstd;
    let request = ExportRequest {
        scope: *auth.scope(),
        owner: auth.user_id(),
        name,
        passphrase: req.passphrase.clone().map(zeroize::Zeroizing::new),
        compress,
        origin: crate::storage::backups::BackupOrigin::Manual,
        // Write-only when the tenant's policy names recipients (and no passphrase is given).
        recipients: match crate::storage::policies::get(auth.scope(), &call.state.db).await? {
            Some(p) => crate::lifecycle::policy::recipients_of(&p)?,
            None => Vec::new(),
        },
        base: base_asked(&req)?,
        max_base_links: export::CHAIN_LINKS_MAX - 1,
    };
    let started = export::start(&call.state, request).await?;
    Ok(GenerateBackupResponse {
        backup_id: started.backup_id.to_string(),
        backup_task_id: started.job_id.to_string(),
        incremental: started.base.is_some(),
        base_backup_id: started.base.map(|b| b.to_string()),
    })
}

/// The base the request asks for (`ExportRequest::base`); a base without `incremental` is
/// refused, as a sign of a request that does not say what it means.
fn base_asked(req: &GenerateBackupRequest) -> Result<Option<Option<Uuid>>> {
    let named = match &req.base_backup_id {
        Some(raw) => Some(
            Uuid::parse_str(raw)
                .map_err(|_| field_error(ErrorCode::InvalidField, "base_backup_id"))?,
        ),
        None => None,
    };
    if named.is_some() && !req.incremental {
        return Err(field_error(ErrorCode::InvalidField, "base_backup_id"));
    }
    Ok(req.incremental.then_some(named))
}

#[cfg(test)]
mod tests {
    use super::check_name;

    #[test]
    fn backup_names_are_labels_not_paths() {
        assert!(check_name("nightly 2026-11-24").is_ok());
        for bad in [
            "",
            "../../escaped_backup",
            "a/b",
            "a\\b",
            "x\0y",
            &"x".repeat(129),
            "   ",
        ] {
            assert!(check_name(bad).is_err(), "{bad:?}");
        }
    }
}
