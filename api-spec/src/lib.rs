//! Coffer's wire protocol, and nothing else: the request/reply/event envelopes, each action's
//! typed `data`, the closed set of error codes, permission names and event payloads.
//!
//! Everything here derives `utoipa::ToSchema`; [`spec::openapi`] assembles the checked-in
//! `api-spec/openapi.json` and [`catalogue`] the action catalogue `api-spec/actions.md`.
//! Regenerate both with `cargo run -p api-spec --bin coffer-spec`; a test fails when the
//! checked-in files drift from the code.

/// Implements `as_str`, `parse`, `Display` and comparison with strings for a wire enum.
macro_rules! wire_names {
    ($name:ident { $($variant:ident => $text:literal),+ $(,)? }) => {
        impl $name {
            /// Every value, in order.
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            /// The wire name.
            pub const fn as_str(self) -> &'static str {
                match self {
                    $($name::$variant => $text),+
                }
            }

            /// The value of a wire name.
            pub fn parse(text: &str) -> Option<Self> {
                Self::ALL.iter().copied().find(|v| v.as_str() == text)
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl PartialEq<str> for $name {
            fn eq(&self, other: &str) -> bool {
                self.as_str() == other
            }
        }

        impl PartialEq<&str> for $name {
            fn eq(&self, other: &&str) -> bool {
                self.as_str() == *other
            }
        }
    };
}

/// A wire enum that a table also stores as its name: the enum (snake_case on the wire and in
/// the table, `DeriveActiveEnum` behind the `sea-orm` feature) with [`wire_names!`]'s items.
macro_rules! stored_enum {
    ($(#[$meta:meta])* pub enum $name:ident {
        $($(#[$vmeta:meta])* $variant:ident => $text:literal),+ $(,)?
    }) => {
        $(#[$meta])*
        #[derive(
            Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, ToSchema,
        )]
        #[serde(rename_all = "snake_case")]
        #[cfg_attr(
            feature = "sea-orm",
            derive(sea_orm::EnumIter, sea_orm::DeriveActiveEnum)
        )]
        #[cfg_attr(
            feature = "sea-orm",
            sea_orm(rs_type = "String", db_type = "Text", rename_all = "snake_case")
        )]
        pub enum $name {
            $($(#[$vmeta])* $variant),+
        }

        wire_names!($name { $($variant => $text),+ });
    };
}

pub mod actions;
pub mod bounds;
pub mod catalogue;
pub mod envelope;
pub mod error;
pub mod events;
pub mod jobs;
pub mod permissions;
pub mod spec;

pub use catalogue::{Access, ActionSpec};
pub use envelope::{Event, Reply, Request};
pub use error::{ErrorCode, ErrorData};

/// Version of the wire protocol this crate describes. CFMS's PR branch was 3; Coffer starts
/// its own line at 100 so a client can tell the two apart.
pub const PROTOCOL_VERSION: u32 = 100;
