//! Errors, and how they reach a client.
//!
//! Rules:
//! * Every failure a client can cause or observe is an [`Error::Api`] carrying an
//!   [`ErrorCode`] from `api-spec`; its status and default sentence come from the code.
//! * Anything else (database, I/O, a bug) is internal: it is logged here, with a fresh
//!   `log_id`, and the client gets `internal` + that id — never the cause.
//! * `DbErr::RecordNotFound` never reaches a client as such: storage functions return
//!   `Option` and the service names what was not found (`user_not_found`, …).
//! * Another tenant's object is reported exactly like a missing one.
//! * A database lock that was not free in time ([`is_busy`]) is `busy` with `retry_after`,
//!   never `internal`: the request changed nothing and may succeed when retried.
use api_spec::{ErrorCode, ErrorData};
use sea_orm::DbErr;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A client-visible failure.
    #[error("{code:?}")]
    Api {
        code: ErrorCode,
        field: Option<String>,
        retry_after: Option<u64>,
    },
    /// `name_conflict`, naming the object that holds the name.
    #[error("name conflict with {object_type} {id}")]
    Conflict {
        id: String,
        object_type: &'static str,
    },
    /// An error about one object, named in `data.id` (e.g. the file a backup could not read).
    #[error("{code:?} ({id})")]
    About { code: ErrorCode, id: String },
    /// An error about one backup, named in `data.backup_id` (`backup_chain_broken`: the
    /// link at fault; `backup_needed`: the backup that builds on it).
    #[error("{code:?} (backup {backup_id})")]
    AboutBackup { code: ErrorCode, backup_id: String },
    /// Not an end: what a job needs did not answer (a copy's destination); it is queued
    /// again, to run from `at` (epoch ms). Never a reply.
    #[error("to be tried again: {cause}")]
    RetryAt { at: i64, cause: String },
    /// A failed upload, telling the client how many bytes the server holds.
    #[error("{code:?} (received {received})")]
    Transfer { code: ErrorCode, received: u64 },
    /// `depth_limit_exceeded`, naming the limit.
    #[error("deeper than {max_depth} folders")]
    DepthLimit { max_depth: u32 },
    /// `key_cost_too_high`, naming the most the server pays for one unlock.
    #[error("key derivation above {max_memory_kib} KiB or {max_iterations} iterations")]
    KeyCost {
        max_memory_kib: u32,
        max_iterations: u32,
    },
    #[error("database: {0}")]
    Db(DbErr),
    #[error("internal: {0}")]
    Internal(String),
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    pub fn code(&self) -> ErrorCode {
        match self {
            Error::Api { code, .. }
            | Error::Transfer { code, .. }
            | Error::About { code, .. }
            | Error::AboutBackup { code, .. } => *code,
            Error::Conflict { .. } => ErrorCode::NameConflict,
            Error::DepthLimit { .. } => ErrorCode::DepthLimitExceeded,
            Error::KeyCost { .. } => ErrorCode::KeyCostTooHigh,
            Error::Db(_) | Error::Internal(_) | Error::RetryAt { .. } => ErrorCode::Internal,
        }
    }

    /// The reply `data` for this error, logging internal causes under a fresh `log_id`.
    pub fn to_reply_data(&self) -> ErrorData {
        let mut data = ErrorData::new(self.code());
        match self {
            Error::Api {
                field, retry_after, ..
            } => {
                data.field.clone_from(field);
                data.retry_after = *retry_after;
            }
            Error::Conflict { id, object_type } => {
                data.id = Some(id.clone());
                data.object_type = Some((*object_type).to_owned());
            }
            Error::Transfer { received, .. } => data.received = Some(*received),
            Error::About { id, .. } => data.id = Some(id.clone()),
            Error::AboutBackup { backup_id, .. } => data.backup_id = Some(backup_id.clone()),
            Error::DepthLimit { max_depth } => data.max_depth = Some(*max_depth),
            Error::KeyCost {
                max_memory_kib,
                max_iterations,
            } => {
                data.max_memory_kib = Some(*max_memory_kib);
                data.max_iterations = Some(*max_iterations);
            }
            Error::Db(_) | Error::Internal(_) | Error::RetryAt { .. } => {
                let log_id = uuid::Uuid::new_v4().simple().to_string();
                tracing::error!(log_id = %log_id, error = %self, "request failed");
                data.log_id = Some(log_id);
            }
        }
        data
    }
}

impl Error {
    /// `busy`: a lock was not free in time; retry after a second.
    pub fn busy() -> Self {
        Error::Api {
            code: ErrorCode::Busy,
            field: None,
            retry_after: Some(BUSY_RETRY_AFTER_SECS),
        }
    }
}

/// The `retry_after` of `busy`: long enough for the slice of work holding the lock to end.
const BUSY_RETRY_AFTER_SECS: u64 = 1;

impl From<DbErr> for Error {
    fn from(e: DbErr) -> Self {
        if is_busy(&e) {
            tracing::warn!(error = %e, "a database lock was not free in time");
            Error::busy()
        } else {
            Error::Db(e)
        }
    }
}

impl From<ErrorCode> for Error {
    fn from(code: ErrorCode) -> Self {
        Error::Api {
            code,
            field: None,
            retry_after: None,
        }
    }
}

/// Shorthand: `Err(fail(ErrorCode::UserNotFound))`.
pub fn fail(code: ErrorCode) -> Error {
    code.into()
}

/// An error about one request field.
pub fn field_error(code: ErrorCode, field: &str) -> Error {
    Error::Api {
        code,
        field: Some(field.to_owned()),
        retry_after: None,
    }
}

impl From<tokio::task::JoinError> for Error {
    fn from(e: tokio::task::JoinError) -> Self {
        Error::Internal(format!("task failed: {e}"))
    }
}

/// Whether a database error means "a lock was not free in time" (or the pool had no
/// connection to give): the write may succeed if retried, so the client gets `busy`.
pub fn is_busy(e: &DbErr) -> bool {
    let sqlx = match e {
        DbErr::ConnectionAcquire(sea_orm::ConnAcquireErr::Timeout) => return true,
        DbErr::Conn(sea_orm::RuntimeErr::SqlxError(e))
        | DbErr::Exec(sea_orm::RuntimeErr::SqlxError(e))
        | DbErr::Query(sea_orm::RuntimeErr::SqlxError(e)) => e,
        _ => return false,
    };
    let Some(code) = sqlx.as_database_error().and_then(|d| d.code()) else {
        return false;
    };
    match code.parse::<i32>() {
        // SQLite's extended codes; the primary code is the low byte: SQLITE_BUSY (5) and
        // SQLITE_LOCKED (6).
        Ok(n) => matches!(n & 0xff, 5 | 6),
        // PostgreSQL: lock_not_available, deadlock_detected, serialization_failure.
        Err(_) => matches!(code.as_ref(), "55P03" | "40P01" | "40001"),
    }
}

/// The archive's errors as the server's: the same code, the same key-cost limits, and an
/// error of the server's own that a visitor passed through the archive code, as it was.
impl From<crate::archive::error::Error> for Error {
    fn from(e: crate::archive::error::Error) -> Self {
        use crate::archive::error::Error as Archive;
        match e {
            Archive::Api { code } => fail(code),
            Archive::KeyCost {
                max_memory_kib,
                max_iterations,
            } => Error::KeyCost {
                max_memory_kib,
                max_iterations,
            },
            Archive::ChainBroken { backup_id } => Error::AboutBackup {
                code: ErrorCode::BackupChainBroken,
                backup_id: backup_id.to_string(),
            },
            Archive::Internal(cause) => Error::Internal(cause),
            Archive::Caller(inner) => match inner.downcast::<Error>() {
                Ok(ours) => *ours,
                Err(other) => Error::Internal(other.to_string()),
            },
        }
    }
}

/// The server's errors as the archive's (a visitor's, on their way through it): a bare code
/// stays a code the archive code can pass on; anything else is carried whole.
impl From<Error> for crate::archive::error::Error {
    fn from(e: Error) -> Self {
        match e {
            Error::Api {
                code,
                field: None,
                retry_after: None,
            } => crate::archive::error::Error::Api { code },
            other => crate::archive::error::Error::Caller(Box::new(other)),
        }
    }
}

impl From<serde_json::Error> for Error {
    fn from(e: serde_json::Error) -> Self {
        Error::Internal(format!("json: {e}"))
    }
}
