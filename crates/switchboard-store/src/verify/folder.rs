//! `verify` of a whole data folder, read-only: on a private copy, with no recovery, against the
//! folder's durable record. A log shorter than its durable record is a finding, never repaired.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use switchboard_crypto::{chain_hash, MasterKey};
use switchboard_domain::Sid;

use super::{
    key_less_opener, opened, read_heads, shredded_keys, verify_in_parallel, FindingKind, PastHead,
    RecordOpener, VerifyReport, RAW_CACHE_BYTES,
};
use crate::anchor::{heads_public_key, AnchoredHeads};
use crate::durable::Position;
use crate::integrity::{FolderProblem, FolderProblemKind, LogMarks};
use crate::keyring::KeyRing;
use crate::kinds::kind_name;
use crate::layout::{self, EVENT};
use crate::log::open_sled_with_cache;
use crate::private_copy::PrivateCopy;
use crate::progress::Walked;
use crate::record::Head;
use crate::recovery::Checkpoints;
use crate::replay::open_any_in;
use crate::StoreError;

/// How [`verify_folder`] checks.
#[derive(Debug, Default)]
pub struct VerifyOptions {
    /// With the folder's master key every record must also open and decode; without it, chains,
    /// heads and positions are checked (what an auditor without keys can do).
    pub master: Option<MasterKey>,
    /// Where the private copy goes (the system's temporary folder by default).
    pub scratch: Option<PathBuf>,
    /// Anchored heads the log must still hold (`verify --against`): every stream at least as
    /// long as anchored, with the anchored record where the anchor saw it.
    pub against: Option<AnchoredHeads>,
}

/// What [`verify_folder`] saw beyond the records.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FolderReport {
    pub report: VerifyReport,
    /// Streams by kind ("channel", "user", ...: [`kind_name`]), from their heads.
    pub streams_by_kind: BTreeMap<&'static str, u64>,
    /// What the durable record says was acknowledged.
    pub acknowledged: Option<Position>,
    /// Records the streams' heads count.
    pub records_in_heads: u64,
    /// Whether the folder was closed cleanly (otherwise records past the heads are appends a
    /// crash cut short).
    pub closed_cleanly: bool,
}

/// Checks the folder at `dir` without writing to it: every chain and head, every record (with
/// the key), that sled can read every entry, and that the log holds everything its durable
/// record says was acknowledged. `Err` only when the check could not run (no folder, a folder
/// in use, the wrong key); every problem of the folder is in the report.
pub fn verify_folder(
    dir: &Path,
    options: &VerifyOptions,
    progress: &mut dyn FnMut(Walked),
) -> Result<FolderReport, StoreError> {
    let copy = PrivateCopy::make(dir, options.scratch.as_deref())?;
    // Read before sled opens the copy, as the daemon does.
    let durable = crate::durable::read(copy.path())?;
    let mut folder = FolderReport {
        acknowledged: crate::integrity::acknowledged(durable.as_ref()),
        ..FolderReport::default()
    };
    let unreadable = |what: &str, error: &dyn std::fmt::Display| {
        FolderProblem::new(FolderProblemKind::UnreadablePage, format!("{what}: {error}"))
    };
    let db = match open_sled_with_cache(copy.path(), RAW_CACHE_BYTES) {
        Ok(db) => db,
        Err(error) => {
            folder.report.folder.push(unreadable("sled cannot open the folder", &error));
            return Ok(folder);
        }
    };
    // Refused as `open` refuses it: a newer format may hold what this build would misread.
    crate::log::refuse_newer_format(&db)?;
    let marks = match read_marks(&db) {
        Ok(marks) => marks,
        Err(error) => {
            folder.report.folder.push(unreadable("the folder's metadata", &error));
            return Ok(folder);
        }
    };
    let log = LogMarks {
        exists: marks.exists,
        folder_id: marks.folder_id,
        checkpoints: &marks.checkpoints,
    };
    folder.report.folder.extend(crate::integrity::check(durable.as_ref(), &log));
    folder.closed_cleanly = marks.clean;
    let keys = match &options.master {
        Some(master) => Some(keyring_for(&db, master)?),
        None => None,
    };
    let heads = match read_heads(&db) {
        Ok(heads) => heads,
        Err(error) => {
            folder.report.folder.push(unreadable("the streams' heads", &error));
            return Ok(folder);
        }
    };
    for stream in heads.keys() {
        *folder.streams_by_kind.entry(kind_name(*stream)).or_default() += 1;
    }
    folder.records_in_heads = heads.values().flatten().map(|h: &Head| h.next_seq).sum();
    let shredded = shredded_keys(&db).unwrap_or_default();
    let count_shredded = key_less_opener(&shredded);
    let open_with_key = |stream: Sid, seq: u64, bytes: &[u8]| match &keys {
        Some(keys) => opened(open_any_in(&db, keys, stream, seq, bytes)),
        None => Ok(false),
    };
    let opener: Option<&RecordOpener<'_>> = match (&keys, shredded.is_empty()) {
        (Some(_), _) => Some(&open_with_key),
        (None, false) => Some(&count_shredded),
        (None, true) => None,
    };
    let past_head = if marks.clean { PastHead::Finding } else { PastHead::Unacknowledged };
    let of = folder.records_in_heads;
    let walked = verify_in_parallel(&db, &heads, opener, past_head, &mut |records| {
        progress(Walked { done: records, of })
    });
    folder.report = VerifyReport { folder: std::mem::take(&mut folder.report.folder), ..walked };
    if let Some(acknowledged) = folder.acknowledged {
        if marks.exists && folder.records_in_heads < acknowledged.records {
            folder.report.folder.push(FolderProblem::new(
                FolderProblemKind::RecordsMissing,
                format!(
                    "the streams' heads count {} records, {} were acknowledged",
                    folder.records_in_heads, acknowledged.records
                ),
            ));
        }
    }
    if let Some(anchor) = &options.against {
        let master = options.master.as_ref();
        check_anchor(&db, anchor, master, marks.folder_id, &heads, &mut folder.report);
    }
    // Every other entry read once: sled checks each page's checksum as it reads it.
    let before = db.range(..[EVENT]).find(Result::is_err);
    let after = || db.range([EVENT + 1]..).find(Result::is_err);
    if let Some(Err(error)) = before.or_else(after) {
        folder.report.folder.push(unreadable("sled cannot read an entry", &error));
    }
    Ok(folder)
}

/// What sled holds of the folder's own marks.
struct Marks {
    exists: bool,
    folder_id: Option<[u8; 16]>,
    checkpoints: Checkpoints,
    clean: bool,
}

fn read_marks(db: &sled::Db) -> Result<Marks, StoreError> {
    let folder_id = match db.get(layout::META_FOLDER_ID)? {
        None => None,
        Some(bytes) => Some(
            bytes
                .as_ref()
                .try_into()
                .map_err(|_| StoreError::Damaged("the folder id is malformed".into()))?,
        ),
    };
    Ok(Marks {
        exists: db.get(layout::META_FORMAT)?.is_some(),
        folder_id,
        checkpoints: Checkpoints::read(db)?,
        clean: db.get(layout::META_CLEAN)?.is_some(),
    })
}

/// The keys of a folder sealed under `master`; the wrong key cannot check anything.
fn keyring_for(db: &sled::Db, master: &MasterKey) -> Result<KeyRing, StoreError> {
    let recorded = db.get(layout::META_MASTER)?.unwrap_or_default();
    if recorded.as_ref() != master.fingerprint().0 {
        return Err(StoreError::Damaged(format!(
            "this data folder is not sealed under the master key given ({})",
            master.fingerprint()
        )));
    }
    Ok(KeyRing::new(master.clone()))
}

/// Reports what the log lacks of `anchor`: problems of the document (its signature, its key, its
/// folder) and findings per stream (shortened or rewritten since).
fn check_anchor(
    db: &sled::Db,
    anchor: &AnchoredHeads,
    master: Option<&MasterKey>,
    folder_id: Option<[u8; 16]>,
    log_heads: &BTreeMap<Sid, Option<Head>>,
    report: &mut VerifyReport,
) {
    let problem = |detail: String| FolderProblem::new(FolderProblemKind::AnchorMismatch, detail);
    let problems = &mut report.folder;
    if let Err(why) = anchor.check_signature() {
        problems.push(problem(format!("the anchored heads cannot be trusted: {why}")));
        return;
    }
    if let Some(master) = master {
        if anchor.public_key != heads_public_key(master) {
            problems.push(problem("the anchored heads were signed by another key".into()));
        }
    }
    let ours = folder_id.map(|id| id.iter().map(|b| format!("{b:02x}")).collect::<String>());
    if ours.as_deref() != Some(anchor.folder_id.as_str()) {
        problems.push(problem(format!(
            "the anchored heads are of folder {}, not this one",
            anchor.folder_id
        )));
    }
    let records: u64 = log_heads.values().flatten().map(|h| h.next_seq).sum();
    if records < anchor.position.records {
        problems.push(problem(format!(
            "the log's heads count {records} records; {} were anchored at {}",
            anchor.position.records, anchor.taken_at
        )));
    }
    let Ok(anchored) = anchor.parsed_heads() else { return };
    for (stream, head) in anchored {
        if head.next_seq == 0 {
            continue;
        }
        let have = log_heads.get(&stream).copied().flatten().map_or(0, |h| h.next_seq);
        if have < head.next_seq {
            report.report(
                stream,
                have,
                FindingKind::MissingRecords,
                format!(
                    "{} records were anchored at {}, the log holds {have}",
                    head.next_seq, anchor.taken_at
                ),
            );
            continue;
        }
        let last = head.next_seq - 1;
        let stored = db.get(layout::event_key(stream, last)).ok().flatten();
        if stored.as_deref().map(chain_hash) != Some(head.last_hash) {
            report.report(
                stream,
                last,
                FindingKind::Rewritten,
                format!("not the record anchored at {}", anchor.taken_at),
            );
        }
    }
}
