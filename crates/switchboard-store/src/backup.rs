//! Online backups: a consistent copy of a live log, streamed while the daemon keeps serving
//! (`GET /admin/v1/Backup`), and the data folder it is written back into (`switchboard backup`).
//!
//! sled has no snapshot of a whole tree, so the copy is made consistent by the order it reads
//! in, from what an append writes first to what it writes last. It starts from the durable heads
//! (`anchor_heads`: each was durable when read), which become the copy's `H` entries; then the
//! index, snapshots and consumers' marks; then the records; then media; then the keys. An append
//! writes a new stream's key, its records, then its index changes, and only then stages its
//! head: so every head copied has its records in the copy, every index change copied has the
//! records that made it, and every record has its key and every medium's event its bytes. What
//! the copy holds past its heads (appends that were in flight) is a crash's unfinished appends,
//! and the first open of the folder rolls it back, index changes included, as after a crash.
//!
//! Stream: `magic`, then frames `kind(1) ‖ …`: `A ‖ len(u32) ‖ anchored heads` (MessagePack)
//! first, `k ‖ len(u32) ‖ key ‖ len(u32) ‖ value` for each entry, and `z ‖ count(u64) ‖
//! SHA-256 of every byte before this frame` last. A copy that does not end so is refused.

use std::collections::BTreeMap;
use std::io::{BufReader, Read, Write};
use std::path::Path;

use crate::anchor::AnchoredHeads;
use crate::durable::{DurableRecord, EntryKind, Position};
use crate::layout::{
    self, CHECKPOINT, CURSOR, DEAD_LETTER, EVENT, HEAD, INDEX, KEY, MEDIA, MEDIA_OWNER, SNAPSHOT,
};
use crate::{EventLog, StoreError};

const MAGIC: &[u8] = b"switchboard-backup/1\n";
const FRAME_ANCHOR: u8 = b'A';
const FRAME_ENTRY: u8 = b'k';
const FRAME_END: u8 = b'z';
/// The largest key or value a backup frame may carry (sled values are far smaller).
const FRAME_MAX: u32 = 256 * 1024 * 1024;

/// What an export or an import saw.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BackupSummary {
    /// The heads the copy holds, signed, as they were when it began.
    pub anchored: AnchoredHeads,
    /// Entries copied.
    pub entries: u64,
    /// Bytes of the stream.
    pub bytes: u64,
    /// SHA-256 of the stream (hex), as its last frame says.
    pub sha256: String,
}

/// Counts and hashes what passes through to the writer.
struct Hashing<'a> {
    out: &'a mut dyn Write,
    hash: switchboard_crypto::StreamHash,
    bytes: u64,
}

impl Write for Hashing<'_> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let written = self.out.write(buf)?;
        self.hash.update(&buf[..written]);
        self.bytes += written as u64;
        Ok(written)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.out.flush()
    }
}

impl EventLog {
    /// Writes a consistent copy of the log to `out` (see the module's comment), taken at
    /// `taken_at` (RFC 3339), while writers go on.
    pub fn export(&self, taken_at: &str, out: &mut dyn Write) -> Result<BackupSummary, StoreError> {
        let anchored = self.anchor_heads(taken_at)?;
        let heads = anchored.parsed_heads().map_err(StoreError::Damaged)?;
        let mut out = Hashing { out, hash: switchboard_crypto::StreamHash::new(), bytes: 0 };
        out.write_all(MAGIC)?;
        let anchor = rmp_serde::to_vec_named(&anchored)?;
        out.write_all(&[FRAME_ANCHOR])?;
        write_part(&mut out, &anchor)?;
        let mut entries = 0u64;
        let mut entry =
            |out: &mut Hashing<'_>, key: &[u8], value: &[u8]| -> Result<(), StoreError> {
                out.write_all(&[FRAME_ENTRY])?;
                write_part(out, key)?;
                write_part(out, value)?;
                entries += 1;
                Ok(())
            };
        // Metadata, but the marks that describe sled's own state: the copy's checkpoints are its
        // heads, and it is not closed cleanly (its first open rolls back what is past them).
        // Message positions are not copied: read while the daemon writes, they could name
        // records past the copied heads. The copy's first open places every message again.
        let derived =
            [layout::META_CLEAN, layout::META_CHECKPOINT, crate::positions::META_POSITIONS];
        for item in self.tree().scan_prefix(b"M") {
            let (key, value) = item?;
            if !derived.contains(&key.as_ref()) {
                entry(&mut out, &key, &value)?;
            }
        }
        entry(&mut out, layout::META_CHECKPOINT, &anchored.position.checkpoint.to_be_bytes())?;
        for (stream, head) in &heads {
            entry(&mut out, &layout::stream_prefix(HEAD, *stream), &head.to_bytes())?;
        }
        for prefix in [INDEX, SNAPSHOT, CURSOR, DEAD_LETTER, EVENT, MEDIA, MEDIA_OWNER, KEY] {
            for item in self.tree().scan_prefix([prefix]) {
                let (key, value) = item?;
                entry(&mut out, &key, &value)?;
            }
        }
        let known = [
            b'M',
            HEAD,
            CHECKPOINT,
            INDEX,
            SNAPSHOT,
            CURSOR,
            DEAD_LETTER,
            EVENT,
            MEDIA,
            MEDIA_OWNER,
            KEY,
            layout::POSITIONS,
        ];
        for item in self.tree().iter() {
            let (key, value) = item?;
            if !key.first().is_some_and(|prefix| known.contains(prefix)) {
                entry(&mut out, &key, &value)?;
            }
        }
        let sha256 = out.hash.clone().finish();
        out.write_all(&[FRAME_END])?;
        out.write_all(&entries.to_be_bytes())?;
        out.write_all(&sha256)?;
        out.flush()?;
        Ok(BackupSummary { anchored, entries, bytes: out.bytes, sha256: hex(&sha256) })
    }
}

fn write_part(out: &mut dyn Write, bytes: &[u8]) -> Result<(), StoreError> {
    let len = u32::try_from(bytes.len())
        .ok()
        .filter(|len| *len <= FRAME_MAX)
        .ok_or_else(|| StoreError::Damaged("an entry too large for a backup frame".into()))?;
    out.write_all(&len.to_be_bytes())?;
    out.write_all(bytes)?;
    Ok(())
}

/// Writes the backup stream `input` into a new data folder at `dir` (which must not exist or
/// be empty), with a durable record of its own; refuses a stream that is cut short or altered
/// (the folder is then removed). `sync`: make it durable before returning.
pub fn import_backup(
    input: &mut dyn Read,
    dir: &Path,
    sync: bool,
) -> Result<BackupSummary, StoreError> {
    if dir.exists() && std::fs::read_dir(dir)?.next().is_some() {
        return Err(StoreError::Damaged(format!("{} exists and is not empty", dir.display())));
    }
    let result = import_into(input, dir, sync);
    if result.is_err() {
        let _ = std::fs::remove_dir_all(dir);
    }
    result
}

/// Reads what `Hashing` wrote, hashing as it goes.
struct Reading<R> {
    input: R,
    hash: switchboard_crypto::StreamHash,
    bytes: u64,
}

impl<R: Read> Reading<R> {
    fn exact(&mut self, buf: &mut [u8]) -> Result<(), StoreError> {
        self.input.read_exact(buf).map_err(|e| cut_short(&e))?;
        self.hash.update(buf);
        self.bytes += buf.len() as u64;
        Ok(())
    }

    fn part(&mut self) -> Result<Vec<u8>, StoreError> {
        let mut len = [0u8; 4];
        self.exact(&mut len)?;
        let len = u32::from_be_bytes(len);
        if len > FRAME_MAX {
            return Err(StoreError::Damaged("the backup has a frame too large to be one".into()));
        }
        let mut bytes = vec![0u8; len as usize];
        self.exact(&mut bytes)?;
        Ok(bytes)
    }
}

fn cut_short(error: &std::io::Error) -> StoreError {
    StoreError::Damaged(format!("the backup stream is cut short or unreadable ({error})"))
}

fn import_into(input: &mut dyn Read, dir: &Path, sync: bool) -> Result<BackupSummary, StoreError> {
    let mut reading = Reading {
        input: BufReader::new(input),
        hash: switchboard_crypto::StreamHash::new(),
        bytes: 0,
    };
    let mut magic = vec![0u8; MAGIC.len()];
    reading.exact(&mut magic)?;
    if magic != MAGIC {
        return Err(StoreError::Damaged("not a switchboard backup (or of another version)".into()));
    }
    let mut kind = [0u8; 1];
    reading.exact(&mut kind)?;
    if kind[0] != FRAME_ANCHOR {
        return Err(StoreError::Damaged("the backup does not start with its heads".into()));
    }
    let anchored: AnchoredHeads = rmp_serde::from_slice(&reading.part()?)
        .map_err(|e| StoreError::Damaged(format!("the backup's heads do not decode: {e}")))?;
    anchored
        .check_signature()
        .map_err(|why| StoreError::Damaged(format!("the backup's heads: {why}")))?;
    std::fs::create_dir_all(dir)?;
    let db = crate::log::open_sled(dir)?;
    let mut entries = 0u64;
    loop {
        let before = reading.hash.clone().finish();
        let mut kind = [0u8; 1];
        reading.exact(&mut kind)?;
        match kind[0] {
            FRAME_ENTRY => {
                let key = reading.part()?;
                let value = reading.part()?;
                db.insert(key, value)?;
                entries += 1;
            }
            FRAME_END => {
                let mut count = [0u8; 8];
                reading.input.read_exact(&mut count).map_err(|e| cut_short(&e))?;
                let mut sha256 = [0u8; 32];
                reading.input.read_exact(&mut sha256).map_err(|e| cut_short(&e))?;
                if u64::from_be_bytes(count) != entries || sha256 != before {
                    return Err(StoreError::Damaged(
                        "the backup's last frame does not match what came before it (altered)"
                            .into(),
                    ));
                }
                let mut rest = [0u8; 1];
                if reading.input.read(&mut rest)? != 0 {
                    return Err(StoreError::Damaged(
                        "the backup goes on after its last frame".into(),
                    ));
                }
                let summary = BackupSummary {
                    anchored,
                    entries,
                    bytes: reading.bytes + 41,
                    sha256: hex(&sha256),
                };
                finish_folder(&db, dir, &summary.anchored, sync)?;
                return Ok(summary);
            }
            other => {
                return Err(StoreError::Damaged(format!(
                    "the backup has a frame of unknown kind {other}"
                )))
            }
        }
    }
}

/// The copy's own durable record: it holds the anchored heads' records, at their checkpoint.
fn finish_folder(
    db: &sled::Db,
    dir: &Path,
    anchored: &AnchoredHeads,
    sync: bool,
) -> Result<(), StoreError> {
    db.flush()?;
    if sync {
        std::fs::File::open(dir.join("db"))?.sync_data()?;
    }
    let folder_id: [u8; 16] = db
        .get(layout::META_FOLDER_ID)?
        .and_then(|id| id.as_ref().try_into().ok())
        .ok_or_else(|| StoreError::Damaged("the backup holds no folder id".into()))?;
    let heads: BTreeMap<_, _> = anchored.parsed_heads().map_err(StoreError::Damaged)?;
    let records = heads.values().map(|head| head.next_seq).sum();
    let position = Position { checkpoint: anchored.position.checkpoint, records };
    DurableRecord::create(dir, &folder_id, EntryKind::Started, position, [0; 32], sync)?;
    Ok(())
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// What a restore put in place.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RestoreSummary {
    /// Records the restored log holds, once what the backup caught in flight is rolled back.
    pub records: u64,
}

/// Puts the backup folder `from` in place at `to` (which must not exist, or be empty), opens it
/// (recovery rolls back what the backup caught in flight), records a `restored` event in the
/// folder's audit stream and closes it cleanly. Check `from` with `verify` first: this copies
/// what it is given.
pub fn restore_folder(
    from: &Path,
    to: &Path,
    config: crate::StoreConfig,
    master: switchboard_crypto::MasterKey,
    at: switchboard_domain::Timestamp,
    anchored: &AnchoredHeads,
    taken_at: &str,
) -> Result<RestoreSummary, StoreError> {
    if to.exists() && std::fs::read_dir(to)?.next().is_some() {
        return Err(StoreError::Damaged(format!("{} exists and is not empty", to.display())));
    }
    // Copied beside the target, then renamed: a restore cut short leaves no half folder there.
    crate::PrivateCopy::make(from, to.parent())?.persist(to)?;
    let mut config = config;
    config.path = to.to_path_buf();
    let log = EventLog::open(config, master)?;
    let records = log.durable_position().records;
    log.record_folder_event(
        at,
        switchboard_domain::FolderEvent::Restored {
            backup_checkpoint: anchored.position.checkpoint,
            backup_records: anchored.position.records,
            backup_taken_at: taken_at.to_owned(),
        },
    )?;
    log.close()?;
    Ok(RestoreSummary { records })
}
