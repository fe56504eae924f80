//! Transactional rules. Plain async functions over `&impl ConnectionTrait` (so callers
//! compose them inside one transaction); nothing here knows about actix or WebSockets.
pub mod access;
pub mod accounts;
pub mod bootstrap;
pub mod depth;
pub mod directory;
pub mod events;
pub mod groups;
pub mod names;
pub mod pace;
pub mod part;
pub mod removal;
pub mod rules;
pub mod sealed_keys;
pub mod tenants;
pub mod transfers;
pub mod tree;
pub mod upload;
pub mod validate;
