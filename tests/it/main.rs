//! Coffer's one integration-test binary. Every test boots the real server (see
//! `tests/src/server.rs`) on its own fresh database: SQLite by default, PostgreSQL when
//! `COFFER_TEST_DATABASE_URL` is set. Add modules here, not new test binaries.
mod access;
mod account_support;
mod audit;
mod auth;
mod backups;
mod big_trees;
mod blobs;
mod cli;
mod client;
mod connections;
mod console;
mod depth;
mod directories;
mod documents;
mod edges;
mod events;
mod fuzz;
mod hostile;
mod http;
mod imports;
mod instances;
mod isolation;
mod key_files;
mod lifecycle;
mod listeners;
mod migrations;
mod protocol;
mod queue;
mod remote_cli;
mod search;
mod support;
mod tenants;
mod transfers;
mod users_groups;
