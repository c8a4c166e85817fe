//! Refresh-token rotation for web visitors: every refresh spends the token it was given and
//! answers the next one of the same family (the tokens descending from one session). A spent
//! token presented again means two holders (a stolen copy, or the visitor's own after a thief
//! used it first): the family is revoked, and neither can refresh again.
//!
//! One allowance, as OAuth servers make it: the token spent last may be presented again for
//! `GRACE_SECS` and gets the same successor back. A response lost on the way, or two tabs that
//! read the same token at once, then cost nothing; a thief holding it gets only what the visitor
//! holds too, and the first of them to refresh again makes the other's next refresh a reuse.
//!
//! The families are kept in memory, at most `MAX_FAMILIES` (the longest-lived evicted first): a
//! restart, or an eviction, forgets them, and the first refresh of a family it does not know is
//! accepted and starts tracking it again.

use std::collections::HashMap;
use std::sync::Mutex;

/// How long the token spent last may be presented again and get the same successor.
pub(crate) const GRACE_SECS: i64 = 30;
/// The most families tracked at once.
const MAX_FAMILIES: usize = 200_000;

/// A family's place in its chain.
#[derive(Debug, Clone, Copy)]
struct Family {
    /// The token that may refresh now, and when it expires.
    current: ([u8; 16], i64),
    /// The token spent last, and when.
    previous: Option<([u8; 16], i64)>,
    revoked: bool,
}

/// What a refresh may do with the token it was given.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Spent {
    /// Mint a successor with this id, expiring then.
    Next([u8; 16], i64),
    /// The token is spent (or its family revoked): refuse it.
    Reused,
}

#[derive(Debug, Default)]
pub(crate) struct RefreshFamilies {
    families: Mutex<HashMap<[u8; 16], Family>>,
}

impl RefreshFamilies {
    /// Starts tracking a new family whose first token is `id`, expiring at `expires`.
    pub(crate) fn start(&self, family: [u8; 16], id: [u8; 16], expires: i64, now: i64) {
        let mut families = self.families.lock().unwrap_or_else(|e| e.into_inner());
        make_room(&mut families, now);
        families.insert(family, Family { current: (id, expires), previous: None, revoked: false });
    }

    /// Spends token `id` of `family` at `now`; a successor gets a fresh id, expiring at `expires`.
    pub(crate) fn spend(&self, family: [u8; 16], id: [u8; 16], now: i64, expires: i64) -> Spent {
        let mut families = self.families.lock().unwrap_or_else(|e| e.into_inner());
        let next = (switchboard_crypto::random_id(), expires);
        let Some(known) = families.get_mut(&family) else {
            // Forgotten (a restart, an eviction): tracked again from this refresh on.
            make_room(&mut families, now);
            let previous = Some((id, now));
            families.insert(family, Family { current: next, previous, revoked: false });
            return Spent::Next(next.0, next.1);
        };
        if known.revoked {
            return Spent::Reused;
        }
        if known.current.0 == id {
            known.previous = Some((id, now));
            known.current = next;
            return Spent::Next(next.0, next.1);
        }
        match known.previous {
            Some((spent, at)) if spent == id && now - at <= GRACE_SECS => {
                Spent::Next(known.current.0, known.current.1)
            }
            _ => {
                known.revoked = true;
                Spent::Reused
            }
        }
    }
}

/// Drops the expired families when the table is full, and if it still is, the tenth that
/// expires last (the longest left to run are the least likely to be refreshed soon).
fn make_room(families: &mut HashMap<[u8; 16], Family>, now: i64) {
    if families.len() < MAX_FAMILIES {
        return;
    }
    families.retain(|_, family| family.current.1 > now);
    if families.len() < MAX_FAMILIES {
        return;
    }
    let mut expiries: Vec<i64> = families.values().map(|f| f.current.1).collect();
    let cut = expiries.len() - expiries.len() / 10;
    let (_, threshold, _) = expiries.select_nth_unstable(cut);
    let threshold = *threshold;
    families.retain(|_, family| family.current.1 < threshold);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn next(spent: Spent) -> [u8; 16] {
        match spent {
            Spent::Next(id, _) => id,
            Spent::Reused => panic!("refused"),
        }
    }

    #[test]
    fn a_token_refreshes_once_and_its_reuse_revokes_the_family() {
        let families = RefreshFamilies::default();
        let (family, first) = ([1; 16], [2; 16]);
        families.start(family, first, 1_000, 0);
        let second = next(families.spend(family, first, 10, 1_010));
        assert_ne!(second, first);
        let third = next(families.spend(family, second, 100, 1_100));
        // The first is spent, long ago: whoever holds it is not the family's only holder.
        assert_eq!(families.spend(family, first, 200, 1_200), Spent::Reused);
        assert_eq!(families.spend(family, third, 201, 1_201), Spent::Reused, "revoked");
        // Another family is untouched.
        families.start([9; 16], [8; 16], 1_000, 0);
        assert!(matches!(families.spend([9; 16], [8; 16], 202, 1_202), Spent::Next(..)));
    }

    #[test]
    fn the_token_spent_last_gets_the_same_successor_for_a_while() {
        let families = RefreshFamilies::default();
        let (family, first) = ([1; 16], [2; 16]);
        families.start(family, first, 1_000, 0);
        let second = families.spend(family, first, 10, 1_010);
        assert_eq!(families.spend(family, first, 10 + GRACE_SECS, 9_999), second);
        assert_eq!(families.spend(family, first, 11 + GRACE_SECS, 9_999), Spent::Reused);
        assert_eq!(families.spend(family, next(second), 50, 1_050), Spent::Reused, "revoked");
    }

    #[test]
    fn a_family_it_does_not_know_is_tracked_from_its_first_refresh() {
        let families = RefreshFamilies::default();
        let (family, kept) = ([3; 16], [4; 16]);
        let second = next(families.spend(family, kept, 10, 1_010));
        assert_eq!(families.spend(family, kept, 100, 1_100), Spent::Reused);
        assert_eq!(families.spend(family, second, 101, 1_101), Spent::Reused);
    }

    #[test]
    fn a_full_table_drops_the_expired_then_the_longest_lived() {
        let mut table = HashMap::new();
        for n in 0..MAX_FAMILIES {
            let mut key = [0; 16];
            key[..8].copy_from_slice(&(n as u64).to_le_bytes());
            let family = Family { current: ([0; 16], n as i64), previous: None, revoked: false };
            table.insert(key, family);
        }
        make_room(&mut table, 100);
        assert_eq!(table.len(), MAX_FAMILIES - 101, "the expired went");
        while table.len() < MAX_FAMILIES {
            let key = switchboard_crypto::random_id();
            table.insert(
                key,
                Family { current: ([0; 16], 1 << 40), previous: None, revoked: false },
            );
        }
        make_room(&mut table, 100);
        assert!(table.len() < MAX_FAMILIES * 95 / 100, "{}", table.len());
        assert!(table.values().all(|f| f.current.1 < 1 << 40), "the longest-lived went");
    }
}
