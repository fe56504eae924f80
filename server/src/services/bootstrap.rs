//! First start: tenant `default`, its `sysop` group holding every permission, and `admin`.
use std::io::Write;
use std::path::Path;

use api_spec::{ErrorCode, permissions};
use sea_orm::DatabaseConnection;

use super::tenants::{NewTenant, create_tenant};
use crate::auth::password::PasswordHasherPool;
use crate::auth::token;
use crate::config::Config;
use crate::error::{Error, Result};
use crate::secret::SecretString;
use crate::storage::tenants;

use crate::storage::tenants::DEFAULT_TENANT;
/// Where a generated admin password is written, under the data directory.
pub const ADMIN_PASSWORD_FILE: &str = "admin_password.txt";

/// Creates the default tenant unless it exists. The admin password is
/// `COFFER_ADMIN_PASSWORD`, or generated, printed once to stdout and written to
/// `<data_dir>/admin_password.txt` (mode 0600).
pub async fn ensure_default_tenant(
    db: &DatabaseConnection,
    hasher: &PasswordHasherPool,
    config: &Config,
) -> Result<()> {
    if tenants::find_by_slug(db, DEFAULT_TENANT).await?.is_some() {
        return Ok(());
    }
    let generated = config
        .admin_password
        .is_none()
        .then(|| SecretString::new(token::generate()));
    let password = match (&config.admin_password, &generated) {
        (Some(p), _) | (None, Some(p)) => p,
        (None, None) => return Err(Error::Internal("no admin password".into())),
    };
    let txn = crate::db::begin_write(db).await?;
    let new = NewTenant {
        slug: DEFAULT_TENANT,
        display_name: Some("Default"),
        admin_password: password.expose_secret(),
        sysop_permissions: permissions::ALL.to_vec(),
    };
    match create_tenant(&txn, hasher, new).await {
        Ok(_) => txn.commit().await?,
        // Another instance bootstrapped the same database first: nothing left to do.
        Err(e) if e.code() == ErrorCode::TenantExists => return Ok(()),
        Err(e) => return Err(e),
    }
    if let Some(generated) = generated {
        write_password_file(&config.data_dir, generated.expose_secret())?;
        println!(
            "Created tenant `default` with user `admin`; its generated password is {} \
             (also in {}).",
            generated.expose_secret(),
            config.data_dir.join(ADMIN_PASSWORD_FILE).display()
        );
    }
    tracing::info!("bootstrapped tenant `default`");
    Ok(())
}

fn write_password_file(dir: &Path, password: &str) -> Result<()> {
    let io = |e: std::io::Error| Error::Internal(format!("writing {ADMIN_PASSWORD_FILE}: {e}"));
    std::fs::create_dir_all(dir).map_err(io)?;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options.open(dir.join(ADMIN_PASSWORD_FILE)).map_err(io)?;
    writeln!(file, "{password}").map_err(io)
}
