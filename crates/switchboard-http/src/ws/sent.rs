//! Which sequence numbers of one channel a connection has sent, so that a resume and the live
//! feed neither skip nor repeat an event whatever order they interleave in.
//!
//! Usually one run (everything from the first event sent to the last), but not always: a live
//! event can go out before the resume that asked for the events before it is read (the peer
//! sent its resume, then the daemon handled a new message first). A single range (lowest,
//! highest) then claimed the gap as sent, and the resume skipped it: events lost to that peer.

/// The most separate runs kept; past it the oldest (lowest) are forgotten, which can only make
/// a later resume send an old event again, never skip one.
const MOST_RUNS: usize = 16;

/// Disjoint runs of sent sequence numbers, lowest first, each `(first, last)` inclusive.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub(crate) struct SentSeqs {
    runs: Vec<(u64, u64)>,
}

impl SentSeqs {
    pub(crate) fn contains(&self, seq: u64) -> bool {
        let at = self.runs.partition_point(|&(_, last)| last < seq);
        self.runs.get(at).is_some_and(|&(first, _)| first <= seq)
    }

    /// Records `seq` as sent, joining the runs it touches.
    pub(crate) fn insert(&mut self, seq: u64) {
        if self.contains(seq) {
            return;
        }
        // The first run that ends at or after `seq - 1`: the only ones `seq` can touch are it
        // and the one after it.
        let at = self.runs.partition_point(|&(_, last)| last.saturating_add(1) < seq);
        let joins_before = self.runs.get(at).is_some_and(|&(first, last)| {
            first <= seq.saturating_add(1) && last.saturating_add(1) >= seq
        });
        if joins_before {
            let run = &mut self.runs[at];
            run.0 = run.0.min(seq);
            run.1 = run.1.max(seq);
            if let Some(&(next_first, next_last)) = self.runs.get(at + 1) {
                if next_first <= self.runs[at].1.saturating_add(1) {
                    self.runs[at].1 = next_last;
                    self.runs.remove(at + 1);
                }
            }
        } else {
            self.runs.insert(at, (seq, seq));
        }
        if self.runs.len() > MOST_RUNS {
            self.runs.remove(0);
        }
    }

    /// The highest sequence number sent.
    pub(crate) fn last(&self) -> Option<u64> {
        self.runs.last().map(|&(_, last)| last)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn a_live_event_before_the_resume_leaves_the_gap_unsent() {
        let mut sent = SentSeqs::default();
        sent.insert(7);
        sent.insert(4);
        assert!(!sent.contains(5) && !sent.contains(6), "{sent:?}");
        sent.insert(5);
        sent.insert(6);
        assert_eq!(sent.runs, [(4, 7)]);
        assert_eq!(sent.last(), Some(7));
    }

    proptest! {
        /// Whatever the order of inserts, exactly the inserted numbers are contained, and the
        /// runs stay disjoint, apart and sorted.
        #[test]
        fn holds_exactly_what_was_inserted(seqs in proptest::collection::vec(0u64..40, 0..12)) {
            let mut sent = SentSeqs::default();
            for &seq in &seqs {
                sent.insert(seq);
            }
            for seq in 0..42 {
                prop_assert_eq!(sent.contains(seq), seqs.contains(&seq), "{} in {:?}", seq, sent);
            }
            for pair in sent.runs.windows(2) {
                prop_assert!(pair[0].1.saturating_add(1) < pair[1].0, "{:?}", sent);
            }
            prop_assert_eq!(sent.last(), seqs.iter().copied().max());
        }
    }
}
