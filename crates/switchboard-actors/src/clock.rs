//! Where the engine reads the time. The domain never does; the engine reads it here, once per
//! command, so tests and replays can reason about it.

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
