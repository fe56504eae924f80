//! Background jobs as the protocol names them: their kinds, states and steps. Each travels as
//! a snake_case string; [`JobState::as_str`] and friends give that string, and comparing with
//! a `&str` compares it.
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

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

/// What a job does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum JobKind {
    /// A backup export (`generate_backup`).
    Export,
    /// A backup import (`initiate_backup_import`).
    Import,
}

wire_names!(JobKind { Export => "export", Import => "import" });

/// Where a job is in its life. `pending` (an import waiting for its uploads) → `queued` →
/// `running` → one of `completed`, `failed`, `timeout` (an import whose uploads never
/// finished) or `cancelled`; the last four are final.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum JobState {
    Pending,
    Queued,
    Running,
    Completed,
    Failed,
    Timeout,
    Cancelled,
}

wire_names!(JobState {
    Pending => "pending",
    Queued => "queued",
    Running => "running",
    Completed => "completed",
    Failed => "failed",
    Timeout => "timeout",
    Cancelled => "cancelled",
});

impl JobState {
    /// The states a job can still leave.
    pub const LIVE: [JobState; 3] = [JobState::Pending, JobState::Queued, JobState::Running];

    /// Whether a job in this state has ended.
    pub fn is_final(self) -> bool {
        !Self::LIVE.contains(&self)
    }
}

/// What a running job is doing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum JobStep {
    /// An import reads its archive once, checking every MAC and hash, into its staging.
    Verifying,
    /// An import writes its rows (out of sight until its last transaction).
    Importing,
    /// An export writes its archive.
    Writing,
    /// The job completed.
    Completed,
}

wire_names!(JobStep {
    Verifying => "verifying",
    Importing => "importing",
    Writing => "writing",
    Completed => "completed",
});

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wire_names_are_what_serde_writes() {
        for state in JobState::ALL {
            assert_eq!(serde_json::to_value(state).unwrap(), state.as_str());
            assert_eq!(JobState::parse(state.as_str()), Some(*state));
        }
        for kind in JobKind::ALL {
            assert_eq!(serde_json::to_value(kind).unwrap(), kind.as_str());
        }
        for step in JobStep::ALL {
            assert_eq!(serde_json::to_value(step).unwrap(), step.as_str());
        }
        assert!(JobState::Cancelled.is_final() && !JobState::Pending.is_final());
        assert_eq!(JobState::Running, "running");
    }
}
