//! Actions: one module per action, grouped by area, mirroring `api-spec`. Each is a thin
//! function from its typed request (and a [`Call`]) to its typed response; rules live in
//! `services/`. The registry (`crate::registry`) maps wire names to them.
pub mod access;
pub mod audit;
pub mod auth;
pub mod backups;
pub mod directories;
pub mod documents;
pub mod groups;
pub mod imports;
pub mod lookup;
pub mod meta;
pub mod revisions;
pub mod tenants;
pub mod transfers;
pub mod users;

mod call;

pub use call::Call;
