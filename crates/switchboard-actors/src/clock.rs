//! Where the engine reads the time (the domain never does; the engine reads it here, once per
//! command), and how times are written for people and for Twilio's clients.

use std::fmt::Debug;
use std::time::{SystemTime, UNIX_EPOCH};

use switchboard_domain::Timestamp;

pub trait Clock: Send + Sync + Debug {
    fn now(&self) -> Timestamp;
}

/// The system's wall clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> Timestamp {
        let millis = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis());
        Timestamp::from_millis(i64::try_from(millis).unwrap_or(i64::MAX))
    }
}

/// `2026-11-24T09:00:00Z`: ISO 8601 in UTC to the second, Twilio's format (its SDKs parse exactly
/// this; fractions of a second are dropped).
pub fn iso8601(at: Timestamp) -> String {
    let format =
        time::macros::format_description!("[year]-[month]-[day]T[hour]:[minute]:[second]Z");
    let seconds = at.as_millis().div_euclid(1000);
    time::OffsetDateTime::from_unix_timestamp(seconds)
        .ok()
        .and_then(|t| t.format(&format).ok())
        .unwrap_or_else(|| seconds.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn iso8601_drops_fractions() {
        assert_eq!(iso8601(Timestamp::from_millis(1_795_510_800_999)), "2026-11-24T09:00:00Z");
        assert_eq!(iso8601(Timestamp::from_millis(-1)), "1969-12-31T23:59:59Z");
    }
}
