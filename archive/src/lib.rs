//! The backup archive format (BACKUP_IMPORT.md §1), alone: keys and key files, the segment
//! format, the streaming writer and verifying reader, manifests and the tar members. Nothing
//! here reads the database or the object store or knows the server's state (this crate does
//! not depend on them); the server's jobs (`coffer::backup`) feed it bytes and records.
pub mod chain;
pub mod error;
pub mod format;
pub mod keys;
pub mod manifest;
pub mod stream;
pub mod tar_io;
pub mod verify;
