//! Timestamps as milliseconds since the Unix epoch, in UTC.
//!
//! The domain never reads the clock; a `Timestamp` always comes from the caller, which is what makes
//! replay deterministic. Formatting to ISO 8601 belongs to the layers that speak HTTP or print.

use serde::{Deserialize, Serialize};

/// A point in time: milliseconds since 1970-01-01T00:00:00Z.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, Default,
)]
#[serde(transparent)]
pub struct Timestamp(pub i64);

impl Timestamp {
    pub const fn from_millis(millis: i64) -> Timestamp {
        Timestamp(millis)
    }

    pub const fn as_millis(&self) -> i64 {
        self.0
    }

    /// Milliseconds from `earlier` to `self`, zero if `earlier` is later.
    pub const fn millis_since(&self, earlier: Timestamp) -> u64 {
        if self.0 > earlier.0 {
            // Not `self.0 - earlier.0`: that overflows i64 across the whole range.
            self.0.abs_diff(earlier.0)
        } else {
            0
        }
    }
}
