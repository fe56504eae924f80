//! sea-orm entities for Coffer's tables. No business logic lives here: rules are in the
//! server's `services/`, tenant-scoped queries in its `storage/`.
//!
//! Conventions: ids are UUIDs (v7, so they sort by creation); times are Unix epoch
//! milliseconds (`i64`), which every supported database stores and compares the same way;
//! every tenant-owned table carries `tenant_id` and its uniqueness is per tenant.

pub mod access_entry;
pub mod access_rule;
pub mod audit_entry;
pub mod backup;
pub mod backup_blob;
pub mod backup_copy;
pub mod backup_key;
pub mod backup_policy;
pub mod document;
pub mod file;
pub mod folder;
pub mod group;
pub mod job;
pub mod job_blob;
pub mod membership;
pub mod permission_grant;
pub mod revision;
pub mod session;
pub mod tenant;
pub mod transfer_task;
pub mod user;
