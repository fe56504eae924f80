//! The backup archive format (BACKUP_IMPORT.md §1), pure: keys and key files, the segment
//! format, the streaming writer and verifying reader, manifests and the tar members. Nothing
//! here reads the database or the object store or knows the server's state; the jobs in
//! `crate::backup` feed it bytes and records.
pub mod format;
pub mod keys;
pub mod manifest;
pub mod stream;
pub(crate) mod tar_io;
pub mod verify;
