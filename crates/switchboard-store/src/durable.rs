//! The durable record: a small file beside sled that says how far the log was acknowledged.
//!
//! sled takes a message whose checksum fails, at start, for the torn tail of a crash: it drops that
//! message and everything written after it, and zeroes what it dropped. A flipped byte in the
//! middle of its file would so shorten the log by every write since, and the shorter log would be
//! perfectly consistent: every check made from sled's content alone passes. This file is what
//! sled cannot roll back. After each flush (and its `fdatasync`) the flusher writes one entry: the
//! number of the flush's head checkpoint, the number of records the log then holds, and a digest of
//! the checkpoint's bytes, each entry checksummed and chained to the one before, written in place
//! in a preallocated ring (a write that never changes the file's size costs the cheapest sync).
//! Nothing is acknowledged before its entry is written, so a log that holds less than the newest
//! entry lost acknowledged writes, and the opener (`integrity.rs`) refuses it. Entries are synced
//! at most `record_sync` after they are written (the flusher's choice, 50 ms by default): a power
//! cut may take the newest, in any order, and each entry says how many before it were unsynced so
//! that the reader excuses exactly those.
//!
//! File: a header of [`ENTRY_LEN`] bytes (`magic ‖ version ‖ folder id ‖ slots ‖ check`), then
//! `slots` entries; the entry numbered `n` sits in slot `n % slots`. docs/event-format.md has the
//! bytes.

use std::fs::{File, OpenOptions};
use std::io::{Read, Write};
use std::os::unix::fs::FileExt;
use std::path::Path;

use switchboard_crypto::chain_hash;

use crate::StoreError;

/// The file's name inside the data folder.
pub const FILE_NAME: &str = "durable-positions";
/// Where a new file is written before it takes its name.
const NEW_FILE_NAME: &str = "durable-positions.new";
const MAGIC: &[u8; 16] = b"switchboard/dpos";
const VERSION: u8 = 1;
/// The size of the header and of each entry.
pub const ENTRY_LEN: usize = 128;
/// Entries a new record keeps: the newest 1 024 flushes (128 KiB), far more than the 64
/// checkpoints sled keeps. Records made before hold 8 192 (1 MiB); a record's header says how
/// many it has, and each keeps its own. Fewer, since a fixed megabyte was 48 bytes of every
/// message of a folder of 22 000 (docs/BENCHMARKS.md, "Night of 2026-12-07").
pub const SLOTS: u64 = 1024;
/// The bytes of an entry its checksum and its successor's chain cover.
const ENTRY_BODY: usize = 88;
const CHECK_LEN: usize = 16;

/// What an entry records.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EntryKind {
    /// A flush: everything up to this checkpoint is acknowledged.
    Flush,
    /// The record was started for a folder that had none (a new folder, or one written before
    /// this record existed): the log then held what the entry says.
    Started,
    /// The operator accepted that the log holds less than the entry before this one said; the
    /// entry says what it holds now.
    LossAccepted,
    /// The folder was put in place from a backup holding what the entry says.
    Restored,
    /// sled held this checkpoint past the record's newest entry when the folder was opened
    /// after a crash: the flush wrote it and died before its entry (never acknowledged). The
    /// entry vouches for it from then on, so the record has no gap.
    Recovered,
}

impl EntryKind {
    fn tag(self) -> u8 {
        match self {
            EntryKind::Flush => 1,
            EntryKind::Started => 2,
            EntryKind::LossAccepted => 3,
            EntryKind::Restored => 4,
            EntryKind::Recovered => 5,
        }
    }

    fn from_tag(tag: u8) -> Option<EntryKind> {
        Some(match tag {
            1 => EntryKind::Flush,
            2 => EntryKind::Started,
            3 => EntryKind::LossAccepted,
            4 => EntryKind::Restored,
            5 => EntryKind::Recovered,
            _ => return None,
        })
    }

    pub fn name(self) -> &'static str {
        match self {
            EntryKind::Flush => "flush",
            EntryKind::Started => "started",
            EntryKind::LossAccepted => "loss accepted",
            EntryKind::Restored => "restored",
            EntryKind::Recovered => "recovered",
        }
    }
}

/// How far the log was acknowledged: a head checkpoint's number and the records the log held.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Default,
    serde::Serialize,
    serde::Deserialize,
)]
pub struct Position {
    /// The number of the head checkpoint (one per flush, over the folder's life).
    pub checkpoint: u64,
    /// Records in the whole log, every stream's head summed.
    pub records: u64,
}

impl std::fmt::Display for Position {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "checkpoint {} ({} records)", self.checkpoint, self.records)
    }
}

/// One entry of the record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DurableEntry {
    pub kind: EntryKind,
    pub position: Position,
    /// SHA-256 of the head checkpoint's stored bytes (zeros for entries that name none).
    pub digest: [u8; 32],
    /// SHA-256 of the previous entry's body (zeros for the first).
    pub prev: [u8; 32],
    /// How many entries just before this one were written but not yet synced when this one was
    /// written (zero when the record syncs every entry). A power cut may lose those, in any
    /// order, while this one survives: the reader excuses such a gap and no other.
    pub unsynced_before: u32,
}

impl DurableEntry {
    /// Whether `digest` is a head checkpoint's, to compare with what sled holds.
    pub fn names_a_checkpoint(&self) -> bool {
        matches!(self.kind, EntryKind::Flush | EntryKind::Recovered) && self.digest != [0; 32]
    }

    fn encode(&self) -> [u8; ENTRY_LEN] {
        let mut out = [0u8; ENTRY_LEN];
        out[0] = VERSION;
        out[1] = self.kind.tag();
        out[4..8].copy_from_slice(&self.unsynced_before.to_be_bytes());
        out[8..16].copy_from_slice(&self.position.checkpoint.to_be_bytes());
        out[16..24].copy_from_slice(&self.position.records.to_be_bytes());
        out[24..56].copy_from_slice(&self.digest);
        out[56..88].copy_from_slice(&self.prev);
        let check = chain_hash(&out[..ENTRY_BODY]);
        out[ENTRY_BODY..ENTRY_BODY + CHECK_LEN].copy_from_slice(&check[..CHECK_LEN]);
        out
    }

    /// The entry in `bytes`, or `None` for an empty slot or one whose checksum fails.
    fn decode(bytes: &[u8]) -> Option<DurableEntry> {
        let bytes: &[u8; ENTRY_LEN] = bytes.try_into().ok()?;
        let check = chain_hash(&bytes[..ENTRY_BODY]);
        if bytes[0] != VERSION || bytes[ENTRY_BODY..ENTRY_BODY + CHECK_LEN] != check[..CHECK_LEN] {
            return None;
        }
        Some(DurableEntry {
            kind: EntryKind::from_tag(bytes[1])?,
            position: Position {
                checkpoint: u64::from_be_bytes(bytes[8..16].try_into().ok()?),
                records: u64::from_be_bytes(bytes[16..24].try_into().ok()?),
            },
            digest: bytes[24..56].try_into().ok()?,
            prev: bytes[56..88].try_into().ok()?,
            unsynced_before: u32::from_be_bytes(bytes[4..8].try_into().ok()?),
        })
    }

    /// What the next entry's `prev` must be.
    fn link(&self) -> [u8; 32] {
        chain_hash(&self.encode()[..ENTRY_BODY])
    }
}

/// The digest an entry keeps of a head checkpoint's stored bytes.
pub fn checkpoint_digest(stored: &[u8]) -> [u8; 32] {
    chain_hash(stored)
}

/// The record as read from its file, without writing anything.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DurableContents {
    /// The folder this record belongs to (`Mfolder-id` in sled); `None` if the header is damaged.
    pub folder_id: Option<[u8; 16]>,
    /// The entries that read back, oldest first, numbers contiguous up to the newest but for
    /// entries a power cut took before they were synced.
    pub entries: Vec<DurableEntry>,
    /// What is wrong with the file itself, if anything.
    pub problems: Vec<String>,
}

impl DurableContents {
    /// The newest entry: how far the log was acknowledged.
    pub fn tip(&self) -> Option<&DurableEntry> {
        self.entries.last()
    }

    /// The entry for checkpoint `number`, if the record still holds it.
    pub fn entry(&self, number: u64) -> Option<&DurableEntry> {
        // Numbers rise, but a power cut may have left gaps (`parse`).
        let at = self.entries.binary_search_by_key(&number, |e| e.position.checkpoint).ok()?;
        self.entries.get(at)
    }
}

/// Reads the record of the folder at `dir`: `None` if it has none.
pub fn read(dir: &Path) -> Result<Option<DurableContents>, StoreError> {
    let mut file = match File::open(dir.join(FILE_NAME)) {
        Ok(file) => file,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(error) => return Err(error.into()),
    };
    let mut bytes = Vec::new();
    file.read_to_end(&mut bytes)?;
    Ok(Some(parse(&bytes)))
}

/// Parses a record's bytes. A damaged header leaves nothing to trust; damaged entries are named.
pub fn parse(bytes: &[u8]) -> DurableContents {
    let mut contents =
        DurableContents { folder_id: None, entries: Vec::new(), problems: Vec::new() };
    let Some((folder_id, slots)) = bytes.get(..ENTRY_LEN).and_then(parse_header) else {
        contents.problems.push("its header is damaged".into());
        return contents;
    };
    contents.folder_id = Some(folder_id);
    let expected = (slots + 1) * ENTRY_LEN as u64;
    if bytes.len() as u64 != expected {
        contents.problems.push(format!("it is {} bytes long, not {expected}", bytes.len()));
    }
    let mut found: Vec<DurableEntry> = Vec::new();
    let mut unreadable = Vec::new();
    for (slot, chunk) in bytes[ENTRY_LEN..].chunks_exact(ENTRY_LEN).enumerate() {
        match DurableEntry::decode(chunk) {
            Some(entry) if entry.position.checkpoint % slots == slot as u64 => found.push(entry),
            // Never written.
            None if chunk.iter().all(|&b| b == 0) => {}
            _ => unreadable.push(slot as u64),
        }
    }
    found.sort_by_key(|e| e.position.checkpoint);
    // The newest run of consecutive numbers is the record, walked from the newest entry back; a
    // gap or a broken link in it is damage (the ring only ever loses its oldest entries), except
    // a gap of entries that were only written, not yet synced, when the entry after it was: a
    // power cut may lose those in any order. Their slots then hold what they held before (an
    // entry one lap older, zeros, or a torn write), which is no damage either.
    let mut excused_slots = std::collections::HashSet::new();
    let mut run: Vec<DurableEntry> = Vec::new();
    let mut cut_at = None;
    for entry in found.iter().rev() {
        let number = entry.position.checkpoint;
        if excused_slots.contains(&(number % slots)) {
            continue;
        }
        let Some(next) = run.last() else {
            run.push(*entry);
            continue;
        };
        let next_number = next.position.checkpoint;
        if number + 1 == next_number {
            if next.prev != entry.link() {
                contents
                    .problems
                    .push(format!("entry {next_number} is not chained to entry {number}"));
            }
        } else if number < next_number
            && next_number - 1 - number <= u64::from(next.unsynced_before)
        {
            excused_slots.extend((number + 1..next_number).map(|lost| lost % slots));
        } else {
            cut_at = Some(next_number);
            break;
        }
        run.push(*entry);
    }
    if let Some(number) = cut_at {
        contents.problems.push(format!("entries before {number} are missing or out of order"));
    }
    // A crash while writing the entry after the newest leaves that one slot unreadable (it held
    // the oldest entry); any other unreadable slot is damage.
    let torn_slot = run.first().map(|tip| (tip.position.checkpoint + 1) % slots);
    let damaged = unreadable
        .iter()
        .filter(|&&slot| Some(slot) != torn_slot && !excused_slots.contains(&slot))
        .count();
    if damaged > 0 {
        contents.problems.push(format!("{damaged} entries do not read back"));
    }
    run.reverse();
    contents.entries = run;
    contents
}

fn parse_header(bytes: &[u8]) -> Option<([u8; 16], u64)> {
    let check = chain_hash(&bytes[..48]);
    if &bytes[..16] != MAGIC || bytes[16] != VERSION || bytes[48..48 + CHECK_LEN] != check[..16] {
        return None;
    }
    let folder_id = bytes[24..40].try_into().ok()?;
    let slots = u64::from_be_bytes(bytes[40..48].try_into().ok()?);
    (1..=1 << 20).contains(&slots).then_some((folder_id, slots))
}

fn encode_header(folder_id: &[u8; 16], slots: u64) -> [u8; ENTRY_LEN] {
    let mut out = [0u8; ENTRY_LEN];
    out[..16].copy_from_slice(MAGIC);
    out[16] = VERSION;
    out[24..40].copy_from_slice(folder_id);
    out[40..48].copy_from_slice(&slots.to_be_bytes());
    let check = chain_hash(&out[..48]);
    out[48..48 + CHECK_LEN].copy_from_slice(&check[..CHECK_LEN]);
    out
}

/// The record, open for appending (the flusher's).
#[derive(Debug)]
pub struct DurableRecord {
    file: File,
    slots: u64,
    tip: DurableEntry,
    /// Whether a sync is an `fdatasync` (the log's `Durability::Fsync`); otherwise the page cache
    /// holds the entries, as it holds what sled's own flush wrote.
    fsync: bool,
    /// The newest entry's checkpoint number as of the last sync: entries past it are written
    /// but not yet durable.
    synced: u64,
}

impl DurableRecord {
    /// Writes a new record for `folder_id` whose only entry is `first`, replacing any file there
    /// at once (a new file takes the name only once it is whole and synced).
    pub fn create(
        dir: &Path,
        folder_id: &[u8; 16],
        kind: EntryKind,
        position: Position,
        digest: [u8; 32],
        fsync: bool,
    ) -> Result<DurableRecord, StoreError> {
        let first = DurableEntry { kind, position, digest, prev: [0; 32], unsynced_before: 0 };
        DurableRecord::create_with_slots(dir, folder_id, first, fsync, SLOTS)
    }

    /// [`DurableRecord::create`] with a ring of `slots` entries (tests make the older size).
    fn create_with_slots(
        dir: &Path,
        folder_id: &[u8; 16],
        first: DurableEntry,
        fsync: bool,
        slots: u64,
    ) -> Result<DurableRecord, StoreError> {
        let position = first.position;
        let new_path = dir.join(NEW_FILE_NAME);
        {
            let mut file = File::create(&new_path)?;
            file.write_all(&encode_header(folder_id, slots))?;
            // Zeros written, not a hole: every block is allocated now, so writing an entry later
            // changes no metadata and its sync is the cheapest there is.
            let mut zeros = std::io::BufWriter::new(&file);
            for _ in 0..slots {
                zeros.write_all(&[0u8; ENTRY_LEN])?;
            }
            zeros.flush()?;
            drop(zeros);
            file.write_all_at(&first.encode(), slot_offset(position.checkpoint, slots))?;
            file.sync_all()?;
        }
        std::fs::rename(&new_path, dir.join(FILE_NAME))?;
        File::open(dir)?.sync_all()?;
        let file = OpenOptions::new().read(true).write(true).open(dir.join(FILE_NAME))?;
        Ok(DurableRecord { file, slots, tip: first, fsync, synced: first.position.checkpoint })
    }

    /// Opens the record of `dir` to append after `contents`' newest entry.
    pub fn open(
        dir: &Path,
        contents: &DurableContents,
        fsync: bool,
    ) -> Result<DurableRecord, StoreError> {
        let tip = *contents
            .tip()
            .ok_or_else(|| StoreError::Damaged("the durable record holds no entry".into()))?;
        let file = OpenOptions::new().read(true).write(true).open(dir.join(FILE_NAME))?;
        let slots = (file.metadata()?.len() / ENTRY_LEN as u64).saturating_sub(1).max(1);
        Ok(DurableRecord { file, slots, tip, fsync, synced: tip.position.checkpoint })
    }

    /// The newest entry written.
    pub fn newest(&self) -> DurableEntry {
        self.tip
    }

    /// Whether entries were written since the last sync.
    pub fn unsynced(&self) -> bool {
        self.synced < self.tip.position.checkpoint
    }

    /// Makes every entry written so far durable (`fdatasync`, in `fsync` mode).
    pub fn sync(&mut self) -> Result<(), StoreError> {
        if self.unsynced() && self.fsync {
            self.file.sync_data()?;
        }
        self.synced = self.tip.position.checkpoint;
        Ok(())
    }

    /// Writes the next entry into the file (the page cache holds it from then on: a crash of
    /// the process loses none); [`DurableRecord::sync`] makes it durable. Its checkpoint number
    /// must follow the newest entry's.
    pub fn append(
        &mut self,
        kind: EntryKind,
        position: Position,
        digest: [u8; 32],
    ) -> Result<(), StoreError> {
        if position.checkpoint <= self.tip.position.checkpoint {
            return Err(StoreError::Damaged(format!(
                "durable record: checkpoint {} does not follow {}",
                position.checkpoint, self.tip.position.checkpoint
            )));
        }
        // An entry never laps one that was only written: after half a ring of them, they are
        // synced before the next is written, so a power cut can only take entries of this lap
        // (whatever the sync interval and however fast the flushes come).
        if self.tip.position.checkpoint - self.synced >= self.slots / 2 {
            self.sync()?;
        }
        // The tip was synced at `synced`; every entry after that is still only written.
        let unsynced_before =
            u32::try_from(self.tip.position.checkpoint - self.synced).unwrap_or(u32::MAX);
        let entry = DurableEntry { kind, position, digest, prev: self.tip.link(), unsynced_before };
        self.file.write_all_at(&entry.encode(), slot_offset(position.checkpoint, self.slots))?;
        self.tip = entry;
        Ok(())
    }
}

fn slot_offset(number: u64, slots: u64) -> u64 {
    (number % slots + 1) * ENTRY_LEN as u64
}

#[cfg(test)]
mod tests {
    use super::*;

    const FOLDER: [u8; 16] = [7; 16];

    fn at(checkpoint: u64, records: u64) -> Position {
        Position { checkpoint, records }
    }

    fn fresh() -> (tempfile::TempDir, DurableRecord) {
        let dir = tempfile::tempdir().unwrap();
        let record = DurableRecord::create(
            dir.path(),
            &FOLDER,
            EntryKind::Started,
            at(5, 10),
            [1; 32],
            false,
        )
        .unwrap();
        (dir, record)
    }

    #[test]
    fn entries_read_back_in_order_with_the_folder_id() {
        let (dir, mut record) = fresh();
        for n in 6..20 {
            record.append(EntryKind::Flush, at(n, n * 3), [n as u8; 32]).unwrap();
        }
        let contents = read(dir.path()).unwrap().unwrap();
        assert_eq!(contents.problems, Vec::<String>::new());
        assert_eq!(contents.folder_id, Some(FOLDER));
        let numbers: Vec<u64> = contents.entries.iter().map(|e| e.position.checkpoint).collect();
        assert_eq!(numbers, (5..20).collect::<Vec<_>>());
        assert_eq!(contents.tip().unwrap().position, at(19, 57));
        assert_eq!(contents.entry(12).unwrap().digest, [12; 32]);
        assert_eq!(contents.entries[0].kind, EntryKind::Started);
    }

    #[test]
    fn a_missing_file_is_none_and_numbers_must_grow() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(read(dir.path()).unwrap(), None);
        let (_dir, mut record) = fresh();
        assert!(record.append(EntryKind::Flush, at(5, 10), [0; 32]).is_err());
    }

    #[test]
    fn the_ring_wraps_and_keeps_the_newest_entries() {
        let (dir, mut record) = fresh();
        let last = 5 + SLOTS + 100;
        for n in 6..=last {
            record.append(EntryKind::Flush, at(n, n), [0; 32]).unwrap();
        }
        let contents = read(dir.path()).unwrap().unwrap();
        assert_eq!(contents.problems, Vec::<String>::new());
        assert_eq!(contents.entries.len() as u64, SLOTS);
        assert_eq!(contents.tip().unwrap().position.checkpoint, last);
        let reopened = DurableRecord::open(dir.path(), &contents, false).unwrap();
        assert_eq!(reopened.newest().position.checkpoint, last);
    }

    fn damaged(change: impl FnOnce(&mut Vec<u8>)) -> DurableContents {
        let (dir, mut record) = fresh();
        for n in 6..40 {
            record.append(EntryKind::Flush, at(n, n), [0; 32]).unwrap();
            record.sync().unwrap();
        }
        let mut bytes = std::fs::read(dir.path().join(FILE_NAME)).unwrap();
        change(&mut bytes);
        parse(&bytes)
    }

    fn slot_bytes(number: u64) -> std::ops::Range<usize> {
        let start = ((number % SLOTS) as usize + 1) * ENTRY_LEN;
        start..start + ENTRY_LEN
    }

    /// Writes `synced` entries after the first, syncing each, then `lagging` more without a
    /// sync; returns the file as it was before the lagging ones, and the record.
    fn lagging(synced: u64, lagging: u64) -> (tempfile::TempDir, Vec<u8>, u64) {
        let (dir, mut record) = fresh();
        let mut n = 6;
        for _ in 0..synced {
            record.append(EntryKind::Flush, at(n, n), [0; 32]).unwrap();
            record.sync().unwrap();
            n += 1;
        }
        let before = std::fs::read(dir.path().join(FILE_NAME)).unwrap();
        for _ in 0..lagging {
            record.append(EntryKind::Flush, at(n, n), [0; 32]).unwrap();
            n += 1;
        }
        (dir, before, n - 1)
    }

    #[test]
    fn a_power_cut_may_take_unsynced_entries_in_any_order() {
        let (dir, before, tip) = lagging(20, 10);
        let mut bytes = std::fs::read(dir.path().join(FILE_NAME)).unwrap();
        // Entries tip-7, tip-6 and tip-3 never reached the disk; the others did.
        for lost in [tip - 7, tip - 6, tip - 3] {
            let range = slot_bytes(lost);
            bytes[range.clone()].copy_from_slice(&before[range]);
        }
        let contents = parse(&bytes);
        assert_eq!(contents.problems, Vec::<String>::new());
        assert_eq!(contents.tip().unwrap().position.checkpoint, tip);
        assert!(contents.entry(tip - 3).is_none());
        assert!(contents.entry(tip - 4).is_some());
        assert_eq!(contents.entries.first().unwrap().position.checkpoint, 5);
    }

    #[test]
    fn a_gap_of_synced_entries_is_damage() {
        let (dir, _, tip) = lagging(20, 4);
        let mut bytes = std::fs::read(dir.path().join(FILE_NAME)).unwrap();
        // Entry tip-6 was synced before entry tip-3 was written: losing it is no power cut.
        let range = slot_bytes(tip - 6);
        bytes[range].fill(0);
        let contents = parse(&bytes);
        assert!(
            contents.problems.iter().any(|p| p.contains("missing or out of order")),
            "{:?}",
            contents.problems
        );
    }

    #[test]
    fn a_lost_unsynced_entry_after_the_ring_wrapped_leaves_its_older_lap() {
        let (dir, before, tip) = lagging(SLOTS + 50, 5);
        let mut bytes = std::fs::read(dir.path().join(FILE_NAME)).unwrap();
        let range = slot_bytes(tip - 2);
        bytes[range.clone()].copy_from_slice(&before[range]);
        let contents = parse(&bytes);
        assert_eq!(contents.problems, Vec::<String>::new());
        assert_eq!(contents.tip().unwrap().position.checkpoint, tip);
        assert!(contents.entry(tip - 2 - SLOTS).is_none(), "the stale lap is not the record");
    }

    #[test]
    fn a_flipped_byte_in_an_old_entry_is_named() {
        let contents = damaged(|bytes| bytes[(20 % SLOTS as usize + 1) * ENTRY_LEN + 10] ^= 1);
        assert!(!contents.problems.is_empty());
        assert_eq!(contents.tip().unwrap().position.checkpoint, 39, "the newer run is kept");
    }

    #[test]
    fn a_torn_newest_entry_falls_back_to_the_one_before() {
        // As a crash while writing entry 39 would leave it: the entry before is the tip.
        let contents = damaged(|bytes| bytes[(39 % SLOTS as usize + 1) * ENTRY_LEN + 10] ^= 1);
        assert_eq!(contents.tip().unwrap().position.checkpoint, 38);
    }

    #[test]
    fn a_damaged_header_leaves_nothing_to_trust() {
        let contents = damaged(|bytes| bytes[30] ^= 1);
        assert_eq!(contents.folder_id, None);
        assert!(contents.entries.is_empty());
        assert_eq!(contents.problems, vec!["its header is damaged".to_owned()]);
    }

    #[test]
    fn an_entry_rewritten_without_its_successor_breaks_the_chain() {
        let contents = damaged(|bytes| {
            let slot = (20 % SLOTS as usize + 1) * ENTRY_LEN;
            let mut entry = DurableEntry::decode(&bytes[slot..slot + ENTRY_LEN]).unwrap();
            entry.position.records += 1;
            bytes[slot..slot + ENTRY_LEN].copy_from_slice(&entry.encode());
        });
        assert!(
            contents.problems.iter().any(|p| p.contains("entry 21 is not chained to entry 20")),
            "{:?}",
            contents.problems
        );
    }

    #[test]
    fn a_shortened_file_is_named() {
        let contents = damaged(|bytes| bytes.truncate(ENTRY_LEN * 50));
        assert!(
            contents.problems.iter().any(|p| p.contains("bytes long")),
            "{:?}",
            contents.problems
        );
    }

    #[test]
    fn unsynced_entries_never_reach_half_the_ring() {
        let (dir, mut record) = fresh();
        for n in 6..6 + 3 * SLOTS {
            record.append(EntryKind::Flush, at(n, n), [0; 32]).unwrap();
        }
        let contents = read(dir.path()).unwrap().unwrap();
        assert_eq!(contents.problems, Vec::<String>::new());
        let most = contents.entries.iter().map(|e| u64::from(e.unsynced_before)).max().unwrap();
        assert_eq!(most, SLOTS / 2 - 1, "synced once half a ring of entries was only written");
    }

    #[test]
    fn a_record_of_the_older_size_keeps_its_size() {
        const OLDER: u64 = 8192;
        let dir = tempfile::tempdir().unwrap();
        let first = DurableEntry {
            kind: EntryKind::Started,
            position: at(5, 10),
            digest: [1; 32],
            prev: [0; 32],
            unsynced_before: 0,
        };
        drop(DurableRecord::create_with_slots(dir.path(), &FOLDER, first, false, OLDER).unwrap());
        let contents = read(dir.path()).unwrap().unwrap();
        let mut record = DurableRecord::open(dir.path(), &contents, false).unwrap();
        let last = 5 + OLDER + 10;
        for n in 6..=last {
            record.append(EntryKind::Flush, at(n, n), [0; 32]).unwrap();
            record.sync().unwrap();
        }
        let bytes = std::fs::read(dir.path().join(FILE_NAME)).unwrap();
        assert_eq!(bytes.len() as u64, (OLDER + 1) * ENTRY_LEN as u64);
        let contents = parse(&bytes);
        assert_eq!(contents.problems, Vec::<String>::new());
        assert_eq!(contents.entries.len() as u64, OLDER);
        assert_eq!(contents.tip().unwrap().position.checkpoint, last);
        let at_its_slot = &bytes[((last % OLDER) as usize + 1) * ENTRY_LEN..][..ENTRY_LEN];
        assert_eq!(DurableEntry::decode(at_its_slot).unwrap().position.checkpoint, last);
    }
}
