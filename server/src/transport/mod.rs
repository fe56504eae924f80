//! HTTP routes and the WebSocket endpoint.
pub mod console;
pub mod http;
pub mod transfers;
pub mod ws;
