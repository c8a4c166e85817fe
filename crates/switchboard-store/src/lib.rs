//! The encrypted, hash-chained event log of Switchboard, on sled.
//!
//! One sled tree holds everything, under one-letter prefixes. An append writes its stream's new
//! data key, its records and its index changes, in that order, and stages the stream's new head
//! with the flusher, which writes the heads of each flush as one checkpoint before the flush
//! (`flusher.rs`); sled keeps a prefix of the writes across a crash, and `recovery` rolls back an
//! unacknowledged append on the next open. Beside sled, the durable record (`durable.rs`) says how
//! far the log was acknowledged, so that a log sled shortened is refused, not trusted:
//!
//! - `E` stream seq → a sealed event record, chained to its predecessor by hash;
//! - `H` stream → the stream's head: the next sequence number and the hash of the last record;
//! - `P` slot → a head checkpoint (the heads of one flush), in a ring of 64;
//! - `K` stream key-id → the stream's data key, wrapped by the master key (or a shred tombstone);
//! - `S` stream → the latest sealed snapshot of the stream's state;
//! - `I` kind hash → an index entry (keyed hash of the lookup value → channel);
//! - `M` name → metadata: format version, folder id, master key fingerprint, wrapped keys.
//! - `C`, `D` → cursors and dead letters of the log's consumers (outboxes).
//! - `B` channel media chunk → a sealed chunk (or header) of a medium; `N` media → its channel.
//! - `L` channel message-index → where that message's records are (`positions.rs`).
//!
//! docs/event-format.md describes the bytes; this crate is the only one that knows them.

mod anchor;
mod backup;
mod channel;
mod durable;
mod error;
mod flusher;
pub mod fuzzing;
mod integrity;
mod keyring;
mod kinds;
mod layout;
mod listing;
mod log;
mod maintenance;
mod media;
pub mod metrics;
mod parallel_replay;
mod positions;
mod private_copy;
mod progress;
mod record;
mod recovery;
mod replay;
mod sharded;
mod stream;
mod verify;

pub use anchor::{anchor_folder, heads_public_key, AnchoredHead, AnchoredHeads, HEADS_FORMAT};
pub use backup::{import_backup, restore_folder, BackupSummary, RestoreSummary};
pub use channel::{shred_task, ShredOutcome};
pub use durable::{DurableContents, DurableEntry, EntryKind, Position};
pub use error::StoreError;
pub use flusher::{Durability, FlushPacing, FlushTicket, Writing};
pub use integrity::{FolderProblem, FolderProblemKind};
pub use listing::Listed;
pub use log::{
    AppendGroup, Appended, EventLog, IndexChanges, IntegrityFailure, LoggedEvent, OpenOptions,
    StoreConfig, DEFAULT_RECORD_SYNC,
};
pub use maintenance::{reindex, rotate_master_key, ReindexReport, RotateReport};
pub use media::{MediaRead, StoredMedia, MEDIA_CHUNK};
pub use positions::MessagePositions;
pub use private_copy::PrivateCopy;
pub use progress::Walked;
pub use record::{encode_event, Head, RECORD_VERSION, SNAPSHOT_VERSION};
pub use replay::{AnyEvent, ReplayFilter, ReplayItem, ReplayRecord};
pub use stream::{ChannelLog, Executed, StreamLog};
pub use verify::{
    kind_name, verify_folder, verify_raw, Finding, FindingKind, FolderReport, PastHead, RawLog,
    VerifyMode, VerifyOptions, VerifyReport,
};

/// The version of the data folder this build writes, recorded in the `M` entries. Format 2 may
/// hold records of version 2 (positional MessagePack) beside those of version 1; format 3 adds
/// the durable record and head checkpoints that count the log's records. An older folder is
/// upgraded when it is opened, so builds that know only older formats refuse it instead of
/// failing on its first new record or checkpoint. Format 4 may hold records of version 3 and
/// snapshots of version 4 (SIDs as their 18 bytes inside the sealed MessagePack).
pub const FORMAT_VERSION: u8 = 4;
/// The oldest folder format this build opens.
pub const OLDEST_FORMAT_VERSION: u8 = 1;
