//! Replay of the whole log on every core, still in log order.
//!
//! Opening a record (decrypt, check the tag, decode) costs about three times what reading it from
//! sled does, and a record does not depend on any other, so the `E` key space is cut into
//! contiguous ranges of about [`RANGE_RECORDS`] records (by the heads' counts) and worker threads
//! open whole ranges ahead of the reader. The reader hands them out in key order, so what comes
//! out is exactly what one pass in key order gives; workers stay at most [`AHEAD`] ranges ahead
//! of it, which bounds the memory a slow consumer (a terminal, a socket) makes replay hold.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{mpsc, Arc, Condvar, Mutex};
use std::thread::JoinHandle;

use crate::keyring::KeyRing;
use crate::layout::{self, EVENT, HEAD};
use crate::record::Head;
use crate::replay::{open_entry, ReplayItem};
use crate::StoreError;

/// Records per range: enough that handing a range over costs nothing beside opening it.
const RANGE_RECORDS: u64 = 2048;
/// Ranges opened ahead of the reader, per worker (one window shared by all).
const AHEAD: usize = 4;
/// At most this many ranges: past it the last range takes the rest. Heads are not trusted to be
/// sane (a damaged one may claim any count), and replay is how a damaged folder gets looked at.
const MAX_RANGES: usize = 1 << 16;

type Opened = Vec<Result<ReplayItem, StoreError>>;

/// What the reader and the workers share.
struct Progress {
    /// Ranges the reader has taken, and whether it has gone away.
    state: Mutex<(usize, bool)>,
    moved: Condvar,
    next_range: AtomicUsize,
    window: usize,
}

impl Progress {
    fn stop(&self) {
        self.state.lock().unwrap_or_else(|e| e.into_inner()).1 = true;
        self.moved.notify_all();
    }

    /// Waits until range `i` is within the window; false once the reader has gone away.
    fn wait_for_room(&self, i: usize) -> bool {
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        while !state.1 && i >= state.0 + self.window {
            state = self.moved.wait(state).unwrap_or_else(|e| e.into_inner());
        }
        !state.1
    }
}

/// Replays every `E` record of a tree, opened on `threads` threads, in key order.
pub(crate) struct ParallelReplay {
    progress: Arc<Progress>,
    opened: mpsc::Receiver<(usize, Opened)>,
    /// Ranges opened before their turn.
    early: BTreeMap<usize, Opened>,
    next: usize,
    ranges: usize,
    current: std::vec::IntoIter<Result<ReplayItem, StoreError>>,
    workers: Vec<JoinHandle<()>>,
}

impl ParallelReplay {
    pub(crate) fn start(tree: sled::Tree, keys: Arc<KeyRing>, threads: usize) -> ParallelReplay {
        let starts = Arc::new(range_starts(&tree));
        let threads = threads.clamp(1, starts.len());
        let progress = Arc::new(Progress {
            state: Mutex::new((0, false)),
            moved: Condvar::new(),
            next_range: AtomicUsize::new(0),
            window: threads * AHEAD,
        });
        let (sender, opened) = mpsc::channel();
        let workers = (0..threads)
            .map(|_| {
                let (tree, keys, starts) = (tree.clone(), Arc::clone(&keys), Arc::clone(&starts));
                let (progress, sender) = (Arc::clone(&progress), sender.clone());
                std::thread::spawn(move || {
                    // A worker that panics would leave the reader waiting for its range and the
                    // others for room: stop them all, so the reader sees the workers gone.
                    let _stop = StopOnPanic(&progress);
                    loop {
                        let i = progress.next_range.fetch_add(1, Ordering::Relaxed);
                        let Some(start) = starts.get(i) else { break };
                        if !progress.wait_for_room(i) {
                            break;
                        }
                        let end = starts.get(i + 1).cloned().unwrap_or_else(|| vec![EVENT + 1]);
                        let items: Opened = tree
                            .range(start.clone()..end)
                            .map(|entry| open_entry(&tree, &keys, entry))
                            .collect();
                        if sender.send((i, items)).is_err() {
                            break;
                        }
                    }
                })
            })
            .collect();
        ParallelReplay {
            progress,
            opened,
            early: BTreeMap::new(),
            next: 0,
            ranges: starts.len(),
            current: Vec::new().into_iter(),
            workers,
        }
    }

    /// The records of the next range, waiting for a worker to open them.
    fn next_range(&mut self) -> Result<Opened, StoreError> {
        loop {
            if let Some(items) = self.early.remove(&self.next) {
                return Ok(items);
            }
            match self.opened.recv() {
                Ok((i, items)) => {
                    self.early.insert(i, items);
                }
                Err(_) => {
                    return Err(StoreError::Damaged(
                        "replay stopped: a worker opening records failed".into(),
                    ))
                }
            }
        }
    }
}

impl Iterator for ParallelReplay {
    type Item = Result<ReplayItem, StoreError>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            if let Some(item) = self.current.next() {
                return Some(item);
            }
            if self.next >= self.ranges {
                return None;
            }
            match self.next_range() {
                Ok(items) => {
                    self.next += 1;
                    self.progress.state.lock().unwrap_or_else(|e| e.into_inner()).0 = self.next;
                    self.progress.moved.notify_all();
                    self.current = items.into_iter();
                }
                Err(error) => {
                    self.next = self.ranges;
                    return Some(Err(error));
                }
            }
        }
    }
}

impl Drop for ParallelReplay {
    fn drop(&mut self) {
        self.progress.stop();
        for worker in self.workers.drain(..) {
            let _ = worker.join();
        }
    }
}

struct StopOnPanic<'a>(&'a Progress);

impl Drop for StopOnPanic<'_> {
    fn drop(&mut self) {
        if std::thread::panicking() {
            self.0.stop();
        }
    }
}

/// Where each range starts: the first at the `E` prefix itself, the others at every
/// `RANGE_RECORDS`-th record by the heads' counts, so ranges are contiguous, cover every record
/// (also those of a stream whose head is missing, lags, as the daemon's do while it runs, or
/// lies), and only their sizes depend on the heads.
fn range_starts(tree: &sled::Tree) -> Vec<Vec<u8>> {
    let mut starts = vec![vec![EVENT]];
    let mut since_start = 0u64;
    for entry in tree.scan_prefix([HEAD]) {
        // A head that does not read only makes ranges larger; replay reports what is wrong.
        let Ok((key, value)) = entry else { break };
        let (Some(stream), Some(head)) = (layout::parse_stream_key(&key), Head::from_bytes(&value))
        else {
            continue;
        };
        let mut seq = 0;
        while since_start.saturating_add(head.next_seq - seq) >= RANGE_RECORDS {
            if starts.len() >= MAX_RANGES {
                return starts;
            }
            seq += RANGE_RECORDS - since_start;
            starts.push(layout::event_key(stream, seq).to_vec());
            since_start = 0;
        }
        since_start += head.next_seq - seq;
    }
    starts
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{ChannelLog, EventLog, StoreConfig};
    use switchboard_crypto::MasterKey;
    use switchboard_domain::{
        ChannelCommand, ChannelKind, MessageSource, NewChannel, NewMessage, Sid, SidPrefix,
        Timestamp,
    };

    fn sid(prefix: SidPrefix, n: u32) -> Sid {
        let mut id = [0u8; 16];
        id[12..].copy_from_slice(&n.to_be_bytes());
        Sid::from_parts(prefix, id)
    }

    /// Channels of very different lengths, so ranges both group streams and cut through them.
    /// Reopened, so that every head is in its `H` entry, as in a stopped daemon's folder.
    fn log_with_channels(dir: &std::path::Path, lengths: &[u32]) -> EventLog {
        let (config, key) = (StoreConfig::new(dir.join("data")), MasterKey::generate());
        let log = EventLog::open(config.clone(), key.clone()).unwrap();
        for (n, &messages) in (1..).zip(lengths) {
            let new = NewChannel {
                channel_sid: sid(SidPrefix::CHANNEL, n),
                service_sid: sid(SidPrefix::SERVICE, 1),
                kind: ChannelKind::Private,
                friendly_name: None,
                unique_name: None,
                attributes: "{}".into(),
                created_by: "system".into(),
                flex_flow_sid: None,
                customer_address: None,
                long_lived: false,
                janitor_enabled: true,
                carried_provider_messages: Vec::new(),
            };
            let (mut channel, _) = ChannelLog::create(&log, new, Timestamp(1)).unwrap().unwrap();
            let posts = (0..messages).map(|i| {
                ChannelCommand::PostMessage(NewMessage {
                    author: format!("author {n}"),
                    body: format!("message {i} of channel {n}"),
                    attributes: "{}".into(),
                    media: None,
                    source: MessageSource::Api,
                    provider_message_id: None,
                })
            });
            channel.execute_all(&log, posts.collect(), Timestamp(2)).unwrap().unwrap();
        }
        log.close().unwrap();
        EventLog::open(config, key).unwrap()
    }

    #[test]
    fn yields_what_one_pass_in_key_order_yields() {
        let dir = tempfile::tempdir().unwrap();
        let log = log_with_channels(dir.path(), &[3, 5000, 1, 0, 2100, 40]);
        assert!(range_starts(log.tree()).len() >= 4, "the records span several ranges");
        let one_pass: Vec<_> = log.replay_all_on(1).map(Result::unwrap).collect();
        assert_eq!(one_pass.len(), 3 + 5000 + 1 + 2100 + 40 + 6, "created + messages");
        for threads in [2, 3, 8] {
            let parallel: Vec<_> = log.replay_all_on(threads).map(Result::unwrap).collect();
            assert!(parallel == one_pass, "{threads} threads replay differently");
        }
        // A reader that stops early lets the workers go.
        let first: Vec<_> = log.replay_all_on(4).take(10).map(Result::unwrap).collect();
        assert_eq!(first, one_pass[..10]);
    }

    fn tree_with_heads(counts: &[u64]) -> (sled::Tree, Vec<Sid>) {
        let db = sled::Config::new().temporary(true).open().unwrap();
        let streams: Vec<Sid> = (0..counts.len())
            .map(|i| Sid::from_parts(SidPrefix::CHANNEL, [u8::try_from(i).unwrap() + 1; 16]))
            .collect();
        for (stream, &next_seq) in streams.iter().zip(counts) {
            let head = Head { next_seq, last_hash: [0; 32] };
            db.insert(layout::stream_prefix(HEAD, *stream), &head.to_bytes()[..]).unwrap();
        }
        (sled::Tree::clone(&db), streams)
    }

    #[test]
    fn ranges_cut_streams_at_every_range_of_records() {
        let (tree, streams) = tree_with_heads(&[10, RANGE_RECORDS * 2 + 5, 3]);
        let starts = range_starts(&tree);
        assert_eq!(
            starts,
            vec![
                vec![EVENT],
                layout::event_key(streams[1], RANGE_RECORDS - 10).to_vec(),
                layout::event_key(streams[1], 2 * RANGE_RECORDS - 10).to_vec(),
            ]
        );
        let (tree, _) = tree_with_heads(&[]);
        assert_eq!(range_starts(&tree), vec![vec![EVENT]]);
    }

    /// A head claiming any count, up to the largest, costs a bounded number of ranges.
    #[test]
    fn a_lying_head_cannot_make_ranges_without_end() {
        let (tree, streams) = tree_with_heads(&[5, u64::MAX, 7]);
        let starts = range_starts(&tree);
        assert_eq!(starts.len(), MAX_RANGES);
        assert_eq!(starts[1], layout::event_key(streams[1], RANGE_RECORDS - 5).to_vec());
        assert!(starts.windows(2).all(|pair| pair[0] < pair[1]), "starts only go up");
    }
}
