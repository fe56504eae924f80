//! Encrypted backups (BACKUP_IMPORT.md): keys and key files, the segment format, streaming
//! writer and verifying reader, manifests, the export job and verification.
mod blob_reader;
pub mod cli;
pub mod export;
pub mod format;
pub mod import;
pub mod keys;
pub mod manifest;
pub mod snapshot;
pub mod stream;
mod tar_io;
pub mod unlock;
pub mod verify;
pub mod writer;
