//! Replay for audit: every stored event, decrypted, in log order, optionally narrowed to some
//! channels and a time window.

use switchboard_domain::{Recorded, Sid, Timestamp};

use crate::layout::{self, EVENT};
use crate::log::{EventLog, LoggedEvent};
use crate::StoreError;

/// One stored record as replay sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReplayRecord<E> {
    Event { stream: Sid, seq: u64, event: E },
    /// The record is intact but its stream's key was destroyed: its content is gone for good.
    Shredded { stream: Sid, seq: u64 },
}

/// A record of a channel stream.
pub type ReplayItem = ReplayRecord<Recorded>;

/// Which records replay yields.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReplayFilter {
    /// Only these streams; all when empty.
    pub streams: Vec<Sid>,
    /// Only events at or after this time.
    pub since: Option<Timestamp>,
    /// Only events at or before this time.
    pub until: Option<Timestamp>,
}

impl ReplayFilter {
    fn admits(&self, item: &ReplayItem) -> bool {
        match item {
            ReplayRecord::Event { event, .. } => {
                self.since.is_none_or(|since| event.at >= since)
                    && self.until.is_none_or(|until| event.at <= until)
            }
            // A shredded record has no readable time; it is shown only when no window is asked for.
            ReplayRecord::Shredded { .. } => self.since.is_none() && self.until.is_none(),
        }
    }
}

impl EventLog {
    /// Every record admitted by `filter`, decrypted, stream by stream, in sequence order.
    pub fn replay(
        &self,
        filter: &ReplayFilter,
    ) -> Box<dyn Iterator<Item = Result<ReplayItem, StoreError>> + '_> {
        let streams = filter.streams.clone();
        let filter = filter.clone();
        let keep = move |item: &Result<ReplayItem, StoreError>| match item {
            Ok(item) => filter.admits(item),
            Err(_) => true,
        };
        if streams.is_empty() {
            Box::new(self.replay_all().filter(keep))
        } else {
            Box::new(streams.into_iter().flat_map(move |s| self.read(s, 0)).filter(keep))
        }
    }

    fn replay_all(&self) -> impl Iterator<Item = Result<ReplayItem, StoreError>> + '_ {
        self.tree().scan_prefix([EVENT]).map(move |entry| {
            let (key, value) = entry?;
            let (stream, seq) = layout::parse_event_key(&key)
                .ok_or_else(|| StoreError::Damaged("an event key is malformed".into()))?;
            self.open_record(stream, seq, &value)
        })
    }
}

impl<E: LoggedEvent> ReplayRecord<E> {
    pub fn stream(&self) -> Sid {
        match self {
            ReplayRecord::Event { stream, .. } | ReplayRecord::Shredded { stream, .. } => *stream,
        }
    }

    pub fn seq(&self) -> u64 {
        match self {
            ReplayRecord::Event { seq, .. } | ReplayRecord::Shredded { seq, .. } => *seq,
        }
    }
}
