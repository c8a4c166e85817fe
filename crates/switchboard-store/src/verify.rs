//! Verification for audit: every chain, every head and, with keys, every tag.
//!
//! Without keys, an auditor still detects any deleted, truncated, reordered, moved or altered
//! record: each record carries the hash of its predecessor and each stream's head the hash of its
//! last record. With keys, every record must also open under its stream key and decode.

use std::collections::{BTreeMap, HashSet};
use std::fmt;
use std::path::Path;

use switchboard_crypto::chain_hash;
use switchboard_domain::Sid;

use crate::keyring::SHRED_TOMBSTONE;
use crate::layout::{self, EVENT, HEAD, KEY};
use crate::log::{open_sled_with_cache, EventLog};

/// The most a key-less check lets sled cache. Reading a page from the file (and rebuilding it
/// from its fragments) costs about three times what walking it in memory does (measured: 1.9 µs
/// against 0.6 µs per record), and a check walks every page; sled only uses what it reads.
const RAW_CACHE_BYTES: u64 = 1024 * 1024 * 1024;
use crate::record::{Head, RecordView, CLEAR_KEY_ID, GENESIS_HASH, HASH_LEN};
use crate::replay::ReplayRecord;
use crate::StoreError;

/// How much to check.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VerifyMode {
    /// Hashes, sequences and heads only: needs no key.
    Integrity,
    /// Also open and decode every record with the stream's key.
    Full,
}

/// One problem, at the first place it shows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    pub stream: Sid,
    /// The sequence number of the bad record, or where a missing one should be.
    pub seq: u64,
    pub problem: String,
}

impl fmt::Display for Finding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} #{}: {}", self.stream, self.seq, self.problem)
    }
}

/// What `verify` saw.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct VerifyReport {
    pub streams: u64,
    pub records: u64,
    /// Records whose key was shredded: their chain is checked, their content cannot be.
    pub shredded_records: u64,
    /// The first problems found, in log order (at most [`VerifyReport::FINDINGS_MAX`]).
    pub findings: Vec<Finding>,
    pub findings_total: u64,
}

impl VerifyReport {
    pub const FINDINGS_MAX: usize = 100;

    pub fn is_clean(&self) -> bool {
        self.findings_total == 0
    }

    fn report(&mut self, stream: Sid, seq: u64, problem: impl Into<String>) {
        self.findings_total += 1;
        if self.findings.len() < Self::FINDINGS_MAX {
            self.findings.push(Finding { stream, seq, problem: problem.into() });
        }
    }
}

/// A data folder opened without keys, for integrity checks by an auditor.
#[derive(Debug)]
pub struct RawLog {
    db: sled::Db,
}

impl RawLog {
    pub fn open(path: &Path) -> Result<RawLog, StoreError> {
        if !path.join("db").exists() {
            return Err(StoreError::Damaged(format!(
                "{} holds no switchboard data",
                path.display()
            )));
        }
        Ok(RawLog { db: open_sled_with_cache(path, RAW_CACHE_BYTES)? })
    }

    pub fn tree(&self) -> &sled::Tree {
        &self.db
    }
}

/// Checks chains and heads of a folder opened without keys.
pub fn verify_raw(log: &RawLog, progress: &mut dyn FnMut(u64)) -> Result<VerifyReport, StoreError> {
    let heads = read_heads(log.tree())?;
    let shredded = shredded_keys(log.tree())?;
    let count_shredded = key_less_opener(&shredded);
    // Without a shredded key there is nothing to count: no per-record look-up at all.
    let opener: Option<&RecordOpener<'_>> = (!shredded.is_empty()).then_some(&count_shredded);
    Ok(verify_in_parallel(log.tree(), &heads, opener, progress))
}

/// The (stream, key id) pairs whose key was replaced by the shred tombstone: readable without
/// any key, so an integrity check can count shredded records too.
fn shredded_keys(tree: &sled::Tree) -> Result<HashSet<(Sid, u32)>, StoreError> {
    let mut shredded = HashSet::new();
    for entry in tree.scan_prefix([KEY]) {
        let (key, value) = entry?;
        if value.as_ref() != SHRED_TOMBSTONE {
            continue;
        }
        let key_id = key.len().checked_sub(4).and_then(|at| key[at..].try_into().ok());
        if let (Some(stream), Some(key_id)) = (layout::parse_stream_key(&key), key_id) {
            shredded.insert((stream, u32::from_be_bytes(key_id)));
        }
    }
    Ok(shredded)
}

/// The opener of an integrity check: opens nothing, only says whether a record's key is gone.
fn key_less_opener(
    shredded: &HashSet<(Sid, u32)>,
) -> impl Fn(Sid, u64, &[u8]) -> Result<bool, String> + Sync + '_ {
    move |stream, _, bytes| {
        Ok(RecordView::parse(bytes).is_ok_and(|view| {
            view.key_id != CLEAR_KEY_ID && shredded.contains(&(stream, view.key_id))
        }))
    }
}

impl EventLog {
    /// Checks chains, heads and, in `Full` mode, that every record opens and decodes.
    pub fn verify(
        &self,
        mode: VerifyMode,
        progress: &mut dyn FnMut(u64),
    ) -> Result<VerifyReport, StoreError> {
        // Heads reach their `H` entries only when the flusher folds its checkpoints: fold now, or
        // a stream appended to a moment ago would show records past its head.
        self.fold()?;
        let heads = read_heads(self.tree())?;
        let open = |stream: Sid, seq: u64, bytes: &[u8]| -> Result<bool, String> {
            match self.open_any(stream, seq, bytes) {
                Ok(ReplayRecord::Event { .. }) => Ok(false),
                Ok(ReplayRecord::Shredded { .. }) => Ok(true),
                Err(StoreError::Corrupt { problem, .. }) => Err(problem),
                Err(other) => Err(other.to_string()),
            }
        };
        let shredded = shredded_keys(self.tree())?;
        let count_shredded = key_less_opener(&shredded);
        let opener: Option<&RecordOpener<'_>> = match mode {
            VerifyMode::Integrity if shredded.is_empty() => None,
            VerifyMode::Integrity => Some(&count_shredded),
            VerifyMode::Full => Some(&open),
        };
        Ok(verify_in_parallel(self.tree(), &heads, opener, progress))
    }
}

/// Verifies the `E` records of `tree` against `heads` on every core (see [`verify_split`]).
fn verify_in_parallel(
    tree: &sled::Tree,
    heads: &BTreeMap<Sid, Option<Head>>,
    open: Option<&RecordOpener<'_>>,
    progress: &mut dyn FnMut(u64),
) -> VerifyReport {
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get()).clamp(1, 8);
    verify_split(&|from, to| tree.range(from..to), heads, open, threads, progress)
}

/// Ranges per thread: more than one, so a thread that drew short streams takes another range
/// instead of idling while the others finish.
const RANGES_PER_THREAD: usize = 4;

/// Splits the streams into contiguous key ranges, each starting at a stream's first record,
/// verifies them on `threads` threads (each takes the next range not yet taken) and merges the
/// reports in key order. A range never splits a stream, and `verify_entries` reports in key
/// order, so the report is the one a single pass in key order gives, whatever the threads.
/// `scan(from, to)` reads the `E` entries in `from..to`.
pub(crate) fn verify_split<I, K, V, X>(
    scan: &(dyn Fn(Vec<u8>, Vec<u8>) -> I + Sync),
    heads: &BTreeMap<Sid, Option<Head>>,
    open: Option<&RecordOpener<'_>>,
    threads: usize,
    progress: &mut dyn FnMut(u64),
) -> VerifyReport
where
    I: Iterator<Item = Result<(K, V), X>>,
    K: AsRef<[u8]>,
    V: AsRef<[u8]>,
    X: fmt::Display,
{
    use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering::Relaxed};

    let streams: Vec<Sid> = heads.keys().copied().collect();
    let chunk = streams.len().div_ceil(threads.max(1) * RANGES_PER_THREAD).max(1);
    let groups: Vec<&[Sid]> = streams.chunks(chunk).collect();
    // Range i ends where range i + 1 starts; the first starts at the prefix itself, so records
    // of a stream without a head (sorting before every stream with one) are still walked.
    let starts: Vec<Vec<u8>> = std::iter::once(vec![EVENT])
        .chain(groups.iter().skip(1).map(|g| layout::stream_prefix(EVENT, g[0]).to_vec()))
        .collect();
    let ranges = starts.len();
    let next_range = AtomicUsize::new(0);
    let done = AtomicU64::new(0);
    let threads = threads.clamp(1, ranges);
    // Each worker says when it has finished, so the caller returns as soon as the last one does
    // rather than at the next progress tick (a fixed sleep here added up to 100 ms to every run).
    let (finished_tx, finished_rx) = std::sync::mpsc::channel::<()>();
    let mut reports: Vec<(usize, VerifyReport)> = std::thread::scope(|scope| {
        let workers: Vec<_> = (0..threads)
            .map(|_| {
                let (starts, groups, next_range, done) = (&starts, &groups, &next_range, &done);
                let finished = finished_tx.clone();
                scope.spawn(move || {
                    let mut reports = Vec::new();
                    loop {
                        let i = next_range.fetch_add(1, Relaxed);
                        let Some(start) = starts.get(i) else { break };
                        let end = starts.get(i + 1).cloned().unwrap_or_else(|| vec![EVENT + 1]);
                        let group: BTreeMap<Sid, Option<Head>> = groups
                            .get(i)
                            .map_or(&[][..], |g| g)
                            .iter()
                            .map(|s| (*s, heads[s]))
                            .collect();
                        let mut last = 0;
                        let mut tick = |n: u64| {
                            done.fetch_add(n - last, Relaxed);
                            last = n;
                        };
                        let entries = scan(start.clone(), end);
                        reports.push((i, verify_entries(entries, &group, open, &mut tick)));
                    }
                    let _ = finished.send(());
                    reports
                })
            })
            .collect();
        drop(finished_tx);
        let mut running = workers.len();
        while running > 0 {
            progress(done.load(Relaxed));
            match finished_rx.recv_timeout(std::time::Duration::from_millis(100)) {
                Ok(()) => running -= 1,
                Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {}
                // Every sender is gone: the workers that did not say so panicked; join reports.
                Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => break,
            }
        }
        // A worker that panicked left its ranges unchecked: no report may pretend otherwise.
        workers
            .into_iter()
            .flat_map(|w| w.join().unwrap_or_else(|panic| std::panic::resume_unwind(panic)))
            .collect()
    });
    reports.sort_by_key(|(i, _)| *i);
    let mut merged = VerifyReport::default();
    for (_, report) in reports {
        merged.streams += report.streams;
        merged.records += report.records;
        merged.shredded_records += report.shredded_records;
        merged.findings_total += report.findings_total;
        let room = VerifyReport::FINDINGS_MAX.saturating_sub(merged.findings.len());
        merged.findings.extend(report.findings.into_iter().take(room));
    }
    progress(merged.records);
    merged
}

/// Opens one record: `Ok(true)` if its key was shredded, `Ok(false)` if it opened and decoded,
/// `Err(why)` otherwise.
pub(crate) type RecordOpener<'a> = dyn Fn(Sid, u64, &[u8]) -> Result<bool, String> + Sync + 'a;

fn read_heads(tree: &sled::Tree) -> Result<BTreeMap<Sid, Option<Head>>, StoreError> {
    let mut heads = BTreeMap::new();
    for entry in tree.scan_prefix([HEAD]) {
        let (key, value) = entry?;
        let Some(stream) = layout::parse_stream_key(&key) else {
            return Err(StoreError::Damaged("a head key is malformed".into()));
        };
        heads.insert(stream, Head::from_bytes(&value));
    }
    // A folder left by a crash may hold newer heads in checkpoints not folded into `H` yet.
    for (stream, head) in crate::recovery::unfolded_heads(tree)?.1 {
        heads.insert(stream, Some(head));
    }
    Ok(heads)
}

/// The state of the stream being walked.
struct Walk {
    stream: Sid,
    next_seq: u64,
    last_hash: [u8; HASH_LEN],
}

/// The core of verify, over `E` entries in key order and the heads. `open` returns whether the
/// record's key was shredded, or why it does not open.
pub(crate) fn verify_entries<K: AsRef<[u8]>, V: AsRef<[u8]>, X>(
    entries: impl Iterator<Item = Result<(K, V), X>>,
    heads: &BTreeMap<Sid, Option<Head>>,
    open: Option<&RecordOpener<'_>>,
    progress: &mut dyn FnMut(u64),
) -> VerifyReport
where
    X: fmt::Display,
{
    let mut report = VerifyReport::default();
    let mut walk: Option<Walk> = None;
    // The heads not reached yet, in key order: a head passed without records of its own is
    // reported where its records should have been, so findings come in key order.
    let mut ahead = heads.iter().peekable();
    let mut pass_heads_before = |report: &mut VerifyReport, stream: Option<Sid>| {
        while let Some((&head_stream, head)) =
            ahead.next_if(|(s, _)| stream.is_none_or(|at| **s <= at))
        {
            if Some(head_stream) != stream {
                let claimed = head.map_or(0, |h| h.next_seq);
                report.report(
                    head_stream,
                    0,
                    format!("the head says {claimed} records, but none exist"),
                );
            }
        }
    };
    for entry in entries {
        let (key, value) = match entry {
            Ok(pair) => pair,
            Err(error) => {
                let stream = walk.as_ref().map_or(NO_STREAM, |w| w.stream);
                report.report(
                    stream,
                    walk.as_ref().map_or(0, |w| w.next_seq),
                    format!("unreadable: {error}"),
                );
                break;
            }
        };
        report.records += 1;
        if report.records % 65_536 == 0 {
            progress(report.records);
        }
        let Some((stream, seq)) = layout::parse_event_key(key.as_ref()) else {
            // Named by its own bytes where they name a stream, never by what came before it:
            // the range a parallel verify starts at must not change the report.
            let stream = layout::parse_stream_key(key.as_ref()).unwrap_or(NO_STREAM);
            report.report(stream, 0, "a record key is malformed (moved or altered)");
            continue;
        };
        if walk.as_ref().is_none_or(|w| w.stream != stream) {
            if let Some(done) = walk.take() {
                finish_stream(&mut report, &done, heads);
            }
            pass_heads_before(&mut report, Some(stream));
            report.streams += 1;
            walk = Some(Walk { stream, next_seq: 0, last_hash: GENESIS_HASH });
        }
        let Some(current) = walk.as_mut() else { continue };
        check_record(&mut report, current, seq, value.as_ref(), open);
    }
    if let Some(done) = walk.take() {
        finish_stream(&mut report, &done, heads);
    }
    pass_heads_before(&mut report, None);
    progress(report.records);
    report
}

/// The stream a finding is filed under when none can be named.
const NO_STREAM: Sid = Sid::from_parts(switchboard_domain::SidPrefix::CHANNEL, [0; 16]);

fn check_record(
    report: &mut VerifyReport,
    walk: &mut Walk,
    seq: u64,
    bytes: &[u8],
    open: Option<&RecordOpener<'_>>,
) {
    let stream = walk.stream;
    if seq != walk.next_seq {
        let problem = if seq > walk.next_seq {
            format!("records {} to {} are missing", walk.next_seq, seq - 1)
        } else {
            "sequence out of order".to_owned()
        };
        report.report(stream, walk.next_seq, problem);
    }
    match RecordView::parse(bytes) {
        Err(problem) => report.report(stream, seq, problem),
        Ok(view) if view.prev_hash != &walk.last_hash => report.report(
            stream,
            seq,
            "chain broken: the previous record was altered, removed or reordered",
        ),
        Ok(_) => {
            if let Some(open) = open {
                match open(stream, seq, bytes) {
                    Ok(true) => report.shredded_records += 1,
                    Ok(false) => {}
                    Err(problem) => report.report(stream, seq, problem),
                }
            }
        }
    }
    walk.next_seq = seq + 1;
    walk.last_hash = chain_hash(bytes);
}

fn finish_stream(report: &mut VerifyReport, walk: &Walk, heads: &BTreeMap<Sid, Option<Head>>) {
    match heads.get(&walk.stream) {
        None => report.report(walk.stream, walk.next_seq, "the stream has no head"),
        Some(None) => report.report(walk.stream, walk.next_seq, "the head is malformed"),
        Some(Some(head)) if head.next_seq != walk.next_seq => report.report(
            walk.stream,
            walk.next_seq.min(head.next_seq),
            format!(
                "the head says {} records, {} exist (truncated?)",
                head.next_seq, walk.next_seq
            ),
        ),
        Some(Some(head)) if head.last_hash != walk.last_hash => report.report(
            walk.stream,
            walk.next_seq.saturating_sub(1),
            "the last record does not match the head's hash (altered)",
        ),
        Some(Some(_)) => {}
    }
}

#[cfg(test)]
mod tests;
