//! The command line's stored session (`coffer login`): server, tenant, user and token in
//! `$XDG_CONFIG_HOME/coffer/session.json` (`~/.config/coffer/session.json` without it),
//! readable by its owner only (mode 0600).
use std::io::Write;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use super::{ClientError, Result};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Session {
    pub server: String,
    pub tenant: Option<String>,
    pub username: String,
    pub token: String,
}

/// Where the session is kept.
pub fn path() -> Result<PathBuf> {
    let base = std::env::var_os("XDG_CONFIG_HOME")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".config")))
        .ok_or_else(|| ClientError::Io("neither XDG_CONFIG_HOME nor HOME is set".into()))?;
    Ok(base.join("coffer").join("session.json"))
}

fn io(e: std::io::Error) -> ClientError {
    ClientError::Io(format!("session file: {e}"))
}

/// The stored session, if there is one.
pub fn load() -> Result<Option<Session>> {
    let path = path()?;
    match std::fs::read(&path) {
        Ok(bytes) => serde_json::from_slice(&bytes).map(Some).map_err(|e| {
            ClientError::Io(format!(
                "{} is not a session ({e}); run `coffer logout`",
                path.display()
            ))
        }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(io(e)),
    }
}

/// Stores `session`, replacing any other; the file is created with mode 0600 and renamed into
/// place, so it is never readable by others, not even half-written.
pub fn save(session: &Session) -> Result<PathBuf> {
    use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
    let path = path()?;
    let dir = path.parent().unwrap_or(&path);
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .map_err(io)?;
    let tmp = path.with_extension("json.tmp");
    let _ = std::fs::remove_file(&tmp);
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&tmp)
        .map_err(io)?;
    let json = serde_json::to_vec_pretty(session).map_err(|e| ClientError::Io(e.to_string()))?;
    file.write_all(&json)
        .and_then(|()| file.sync_all())
        .map_err(io)?;
    std::fs::rename(&tmp, &path).map_err(io)?;
    Ok(path)
}

/// Forgets the stored session; whether there was one.
pub fn remove() -> Result<bool> {
    match std::fs::remove_file(path()?) {
        Ok(()) => Ok(true),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(false),
        Err(e) => Err(io(e)),
    }
}
