//! The archive's errors. A reader or writer fails with a protocol code (`backup_mac_mismatch`,
//! `backup_truncated`, …) the server passes to its client unchanged; `key_cost_too_high`
//! names the limit; anything else is internal. An error of the caller's own (a [`Visitor`]
//! writing blobs, say) travels through the archive code as [`Error::Caller`] and comes back
//! out unchanged, so the caller gets its own error again.
//!
//! [`Visitor`]: crate::verify::Visitor
use api_spec::ErrorCode;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A failure with its protocol code.
    #[error("{code:?}")]
    Api { code: ErrorCode },
    /// `key_cost_too_high`: a key file asks argon2id for more than the reader allows.
    #[error("key derivation above {max_memory_kib} KiB or {max_iterations} iterations")]
    KeyCost {
        max_memory_kib: u32,
        max_iterations: u32,
    },
    /// `backup_chain_broken`: a link of an incremental backup's chain is missing, is
    /// another archive than its successor names, or was altered; names that link.
    #[error("the backup chain is broken at {backup_id}")]
    ChainBroken { backup_id: uuid::Uuid },
    #[error("internal: {0}")]
    Internal(String),
    /// The caller's own error, carried through.
    #[error(transparent)]
    Caller(Box<dyn std::error::Error + Send + Sync>),
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    /// The protocol code; `internal` for an internal error or one of the caller's.
    pub fn code(&self) -> ErrorCode {
        match self {
            Error::Api { code } => *code,
            Error::KeyCost { .. } => ErrorCode::KeyCostTooHigh,
            Error::ChainBroken { .. } => ErrorCode::BackupChainBroken,
            Error::Internal(_) | Error::Caller(_) => ErrorCode::Internal,
        }
    }
}

impl From<ErrorCode> for Error {
    fn from(code: ErrorCode) -> Self {
        Error::Api { code }
    }
}

/// Shorthand: `Err(fail(ErrorCode::BackupTruncated))`.
pub fn fail(code: ErrorCode) -> Error {
    code.into()
}
