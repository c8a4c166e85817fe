//! The encrypted, hash-chained event log of Switchboard, on sled.
//!
//! One sled tree holds everything, under one-letter prefixes. An append writes its stream's new
//! data key, its records, its index changes and the stream's head, in that order; sled keeps a
//! prefix of them across a crash, and `recovery` rolls an unfinished append back on the next open:
//!
//! - `E` stream seq → a sealed event record, chained to its predecessor by hash;
//! - `H` stream → the stream's head: the next sequence number and the hash of the last record;
//! - `K` stream key-id → the stream's data key, wrapped by the master key (or a shred tombstone);
//! - `S` stream → the latest sealed snapshot of the stream's state;
//! - `I` kind hash → an index entry (keyed hash of the lookup value → channel);
//! - `M` name → metadata: format version, master key fingerprint, the wrapped index key.
//! - `C`, `D` → cursors and dead letters of the log's consumers (outboxes).
//! - `B` channel media chunk → a sealed chunk (or header) of a medium; `N` media → its channel.
//!
//! docs/event-format.md describes the bytes; this crate is the only one that knows them.

mod channel;
mod error;
mod flusher;
mod keyring;
mod layout;
mod log;
mod maintenance;
mod media;
mod parallel_replay;
mod record;
mod recovery;
mod replay;
mod sharded;
mod verify;

pub use channel::{ChannelLog, Executed, ShredOutcome};
pub use error::StoreError;
pub use flusher::{Durability, FlushPacing, FlushTicket, Writing};
pub use log::{Appended, EventLog, IndexChanges, LoggedEvent, StoreConfig};
pub use maintenance::{reindex, rotate_master_key, ReindexReport, RotateReport};
pub use media::{MediaRead, StoredMedia, MEDIA_CHUNK};
pub use record::{encode_event, Head, RECORD_VERSION};
pub use replay::{AnyEvent, ReplayFilter, ReplayItem, ReplayRecord};
pub use verify::{verify_raw, Finding, RawLog, VerifyMode, VerifyReport};

/// The version of the data folder this build writes, recorded in the `M` entries. Format 2 may
/// hold records of version 2 (positional MessagePack) beside those of version 1; a folder of
/// format 1 is upgraded when it is opened, so builds that only know format 1 refuse it instead of
/// failing on its first new record.
pub const FORMAT_VERSION: u8 = 2;
/// The oldest folder format this build opens.
pub const OLDEST_FORMAT_VERSION: u8 = 1;
