//! Coffer: a multi-tenant document-management server with a WebSocket/JSON action API and
//! encrypted backup export and import.
//!
//! Layers, each importing only those below it (`tools/layers.py` checks; README *Layout*):
//!
//! ```text
//! cli ─► server ─► transport ─► registry ─► actions ─► lifecycle ─► backup (jobs) ─► jobs
//!                                                   └─► services ─► app ─► events ─► auth
//!                                                                       ─► storage ─► archive
//! ```
//!
//! `transport/` (HTTP routes and the WebSocket endpoint) hands each request through the
//! `registry` to `actions/` (one thin module per action), which call `services/`
//! (transactional rules), which call `storage/` (tenant-scoped queries). `app/` is the
//! server's state and the leaf types it holds, passed down as `&AppState`. `auth/` mints
//! the tenant scope every storage function takes first; `events/` carries committed changes
//! to listeners. `archive` (the crate `coffer-archive`) is the backup format alone: no database, store or state.

/// The allocator (see the README's Performance section, `connections`).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

pub mod access;
pub mod actions;
pub mod app;
pub mod auth;
pub mod backup;
pub mod cli;
pub mod client;
pub mod config;
pub mod connection;
pub mod db;
pub mod error;
pub mod events;
pub mod jobs;
pub mod kdf;
pub mod layout;
pub mod lifecycle;
pub mod metrics;
pub mod registry;
pub mod sealing;
pub mod secret;
pub mod server;
pub mod services;
pub mod storage;
pub mod telemetry;
pub mod time;
pub mod transport;

/// The backup archive format, a crate of its own (`archive/`): it compiles without the
/// server's state, database or store.
pub use coffer_archive as archive;
pub use config::Config;
pub use server::{RunningServer, Signals, start, start_with_clock};
