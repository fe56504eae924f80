//! The integration-test harness: [`TestServer`] boots the real server on `127.0.0.1:0` with a
//! fresh database (a SQLite file in a temp dir, or — when `COFFER_TEST_DATABASE_URL` is set —
//! a fresh PostgreSQL database dropped afterwards); [`Client`] is the `coffer` crate's own
//! client with bounded waits, and [`RawSocket`] a bare WebSocket for tests of the wire.
pub mod archive;
pub mod bench;
pub mod browser;
pub mod client;
pub mod http;
pub mod raw;
pub mod s3;
pub mod server;

pub use client::{ApiFailure, Client};
pub use raw::RawSocket;
pub use server::TestServer;
