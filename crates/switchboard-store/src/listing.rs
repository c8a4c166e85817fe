//! Listings: ordered sets of streams kept beside the log, for a kind whose streams are too many
//! to hold in memory or to read all of (Studio executions: those of a flow, newest first, and
//! those still open). An entry is `R ‖ list(u8) ‖ scope ‖ order(u64) ‖ member`, empty-valued:
//! the scope a listing is read under (a flow), a number members are ordered by (a creation time
//! in milliseconds), and the member stream. SIDs and those numbers are no secret (the keys of
//! `E` and `H` show as much), so entries are kept in the clear.
//!
//! Listings are derived data the layer above writes: made durable by the next flush, as
//! cursors are, and written so that they may hold more than the log (an entry put before its
//! stream's first append, removed only after its change is durable), never less. A reader skips
//! an entry whose stream turns out not to exist. Backups copy them with the rest.

use switchboard_domain::Sid;

use crate::layout::STREAM_LEN;
use crate::{EventLog, StoreError};

/// The key prefix of listings.
pub(crate) const LISTING: u8 = b'R';
/// Under list 0, scope and member zero: marks that a list was filled from the log once (so a
/// folder written before it existed is read whole only once).
const FILLED: u8 = 0;

const KEY_LEN: usize = 2 + STREAM_LEN + 8 + STREAM_LEN;

fn key(list: u8, scope: Sid, order: u64, member: Sid) -> [u8; KEY_LEN] {
    let mut key = [0u8; KEY_LEN];
    key[0] = LISTING;
    key[1] = list;
    key[2..2 + STREAM_LEN].copy_from_slice(&scope.to_bytes());
    key[2 + STREAM_LEN..10 + STREAM_LEN].copy_from_slice(&order.to_be_bytes());
    key[10 + STREAM_LEN..].copy_from_slice(&member.to_bytes());
    key
}

/// One entry of a listing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Listed {
    pub scope: Sid,
    pub order: u64,
    pub member: Sid,
}

fn parse(key: &[u8]) -> Option<Listed> {
    if key.len() != KEY_LEN {
        return None;
    }
    let scope = Sid::from_bytes(&key[2..2 + STREAM_LEN]).ok()?;
    let order = u64::from_be_bytes(key[2 + STREAM_LEN..10 + STREAM_LEN].try_into().ok()?);
    let member = Sid::from_bytes(&key[10 + STREAM_LEN..]).ok()?;
    Some(Listed { scope, order, member })
}

impl EventLog {
    /// Puts `member` into list `list` (1 to 255) under `scope`, ordered by `order`.
    pub fn listing_put(&self, list: u8, entry: Listed) -> Result<(), StoreError> {
        debug_assert_ne!(list, FILLED);
        self.tree().insert(key(list, entry.scope, entry.order, entry.member), &[][..])?;
        Ok(())
    }

    /// Takes `entry` out of list `list` (nothing if it is not there).
    pub fn listing_remove(&self, list: u8, entry: Listed) -> Result<(), StoreError> {
        self.tree().remove(key(list, entry.scope, entry.order, entry.member))?;
        Ok(())
    }

    /// The entries of list `list`, under `scope` or all of them, by (scope, order, member);
    /// reversed: from the last.
    pub fn listing(
        &self,
        list: u8,
        scope: Option<Sid>,
        reversed: bool,
    ) -> Box<dyn Iterator<Item = Result<Listed, StoreError>> + '_> {
        let mut prefix = vec![LISTING, list];
        if let Some(scope) = scope {
            prefix.extend_from_slice(&scope.to_bytes());
        }
        let keys = self.tree().scan_prefix(prefix).keys();
        let parsed = |key: sled::Result<sled::IVec>| -> Option<Result<Listed, StoreError>> {
            match key {
                Ok(key) => parse(&key).map(Ok),
                Err(error) => Some(Err(error.into())),
            }
        };
        if reversed {
            Box::new(keys.rev().filter_map(parsed))
        } else {
            Box::new(keys.filter_map(parsed))
        }
    }

    /// Whether list `list` was marked filled ([`EventLog::mark_listing_filled`]).
    pub fn listing_filled(&self, list: u8) -> Result<bool, StoreError> {
        Ok(self.tree().contains_key(filled_key(list))?)
    }

    /// Marks list `list` filled from the log, durably (a flush).
    pub fn mark_listing_filled(&self, list: u8) -> Result<(), StoreError> {
        self.tree().insert(filled_key(list), &[][..])?;
        self.flush()
    }
}

fn filled_key(list: u8) -> [u8; 3] {
    [LISTING, FILLED, list]
}

#[cfg(test)]
mod tests {
    use switchboard_crypto::MasterKey;
    use switchboard_domain::SidPrefix;

    use super::*;
    use crate::StoreConfig;

    #[test]
    fn a_listing_reads_in_order_under_its_scope_and_survives_a_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let master = [3; 32];
        let log = EventLog::open(StoreConfig::new(dir.path()), MasterKey::from_bytes(master));
        let log = log.unwrap();
        let sid = |prefix, n| Sid::from_parts(prefix, [n; 16]);
        let (flow_a, flow_b) = (sid(SidPrefix::STUDIO_FLOW, 1), sid(SidPrefix::STUDIO_FLOW, 2));
        let entry =
            |scope, order, n| Listed { scope, order, member: sid(SidPrefix::STUDIO_EXECUTION, n) };
        for (scope, order, n) in
            [(flow_a, 30, 1), (flow_a, 10, 2), (flow_b, 20, 3), (flow_a, 20, 4)]
        {
            log.listing_put(1, entry(scope, order, n)).unwrap();
        }
        log.listing_put(2, entry(flow_a, 5, 9)).unwrap();
        let read = |scope, reversed| -> Vec<u64> {
            log.listing(1, scope, reversed).map(|e| e.unwrap().order).collect()
        };
        assert_eq!(read(Some(flow_a), true), [30, 20, 10], "newest first");
        assert_eq!(read(Some(flow_a), false), [10, 20, 30]);
        assert_eq!(read(None, false), [10, 20, 30, 20], "every scope, scope by scope");
        log.listing_remove(1, entry(flow_a, 20, 4)).unwrap();
        assert_eq!(read(Some(flow_a), true), [30, 10]);
        assert!(!log.listing_filled(1).unwrap());
        log.mark_listing_filled(1).unwrap();
        log.close().unwrap();
        let log = EventLog::open(StoreConfig::new(dir.path()), MasterKey::from_bytes(master));
        let log = log.unwrap();
        assert!(log.listing_filled(1).unwrap() && !log.listing_filled(2).unwrap());
        let read = |list, scope| -> Vec<u64> {
            log.listing(list, scope, true).map(|e| e.unwrap().order).collect()
        };
        assert_eq!(read(1, Some(flow_a)), [30, 10]);
        assert_eq!(read(2, None), [5], "lists are apart");
    }

    #[test]
    fn a_reindex_drops_the_listings_and_their_filled_marks_for_the_next_start_to_fill() {
        let dir = tempfile::tempdir().unwrap();
        let log = EventLog::open(StoreConfig::new(dir.path()), MasterKey::from_bytes([4; 32]));
        let log = log.unwrap();
        let sid = |prefix, n| Sid::from_parts(prefix, [n; 16]);
        let flow = sid(SidPrefix::STUDIO_FLOW, 1);
        let member = sid(SidPrefix::STUDIO_EXECUTION, 2);
        log.listing_put(1, Listed { scope: flow, order: 7, member }).unwrap();
        log.mark_listing_filled(1).unwrap();
        assert!(log.listing_filled(1).unwrap());
        let report = crate::reindex(&log, &mut |_| {}).unwrap();
        assert_eq!(report.removed, 2, "the entry and the mark");
        assert_eq!(log.listing(1, None, false).count(), 0);
        assert!(!log.listing_filled(1).unwrap(), "to be filled from the log again");
    }
}
