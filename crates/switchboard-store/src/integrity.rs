//! What a data folder must show before it is trusted: its log holds everything its durable
//! record says was acknowledged, and the two belong to each other. The opener refuses a folder
//! that fails (unless the operator accepts the loss, see `log.rs`); `verify` reports the same
//! problems as findings. Both read only: nothing here writes.

use std::fmt;

use crate::durable::{DurableContents, EntryKind, Position};
use crate::recovery::Checkpoints;

/// What kind of thing is wrong with a folder as a whole.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FolderProblemKind {
    /// The log holds less than was acknowledged: sled lost its newest writes.
    MissingTail,
    /// A head checkpoint in sled is not the one whose flush was acknowledged.
    CheckpointAltered,
    /// sled holds no log at all while the durable record says one was written.
    LogMissing,
    /// The folder's log says it keeps a durable record, and the file is not there.
    RecordMissing,
    /// The durable record does not read back whole.
    RecordDamaged,
    /// The durable record belongs to another folder.
    RecordForeign,
    /// sled could not read part of its own files.
    UnreadablePage,
    /// The log holds fewer records than the durable record or its heads say.
    RecordsMissing,
    /// Anchored heads the log was checked against are not the folder's, or not signed right.
    AnchorMismatch,
}

impl FolderProblemKind {
    pub fn name(self) -> &'static str {
        match self {
            FolderProblemKind::MissingTail => "missing tail",
            FolderProblemKind::CheckpointAltered => "altered checkpoint",
            FolderProblemKind::LogMissing => "missing log",
            FolderProblemKind::RecordMissing => "missing durable record",
            FolderProblemKind::RecordDamaged => "damaged durable record",
            FolderProblemKind::RecordForeign => "foreign durable record",
            FolderProblemKind::UnreadablePage => "unreadable page",
            FolderProblemKind::RecordsMissing => "missing records",
            FolderProblemKind::AnchorMismatch => "anchored heads",
        }
    }
}

/// One problem of a folder as a whole.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FolderProblem {
    pub kind: FolderProblemKind,
    pub detail: String,
}

impl FolderProblem {
    pub fn new(kind: FolderProblemKind, detail: impl Into<String>) -> FolderProblem {
        FolderProblem { kind, detail: detail.into() }
    }
}

impl fmt::Display for FolderProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.kind.name(), self.detail)
    }
}

/// What the opener found in sled before trusting it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct LogMarks<'a> {
    /// Whether sled holds a log at all (its format entry).
    pub exists: bool,
    /// The folder id sled holds (`Mfolder-id`), if any.
    pub folder_id: Option<[u8; 16]>,
    pub checkpoints: &'a Checkpoints,
}

/// Whether a record with exactly one `Started` entry and a log without a folder id is an
/// adoption a crash interrupted (the record is written first, then the id into sled).
pub(crate) fn interrupted_adoption(durable: &DurableContents, log: &LogMarks<'_>) -> bool {
    log.exists
        && log.folder_id.is_none()
        && durable.problems.is_empty()
        && durable.entries.len() == 1
        && durable.entries[0].kind == EntryKind::Started
        && log.checkpoints.newest >= durable.entries[0].position.checkpoint
}

/// Everything that says the log lost acknowledged writes, or that the durable record cannot
/// vouch for it. Empty for a folder that is whole, for a new one, and for one written before
/// durable records existed (no record, no folder id).
pub(crate) fn check(durable: Option<&DurableContents>, log: &LogMarks<'_>) -> Vec<FolderProblem> {
    use FolderProblemKind::*;
    let mut problems = Vec::new();
    let Some(durable) = durable else {
        if log.folder_id.is_some() {
            problems.push(FolderProblem::new(
                RecordMissing,
                "the log keeps a durable record (durable-positions), and the file is gone",
            ));
        }
        return problems;
    };
    for problem in &durable.problems {
        problems.push(FolderProblem::new(RecordDamaged, format!("the durable record: {problem}")));
    }
    let Some(tip) = durable.tip() else {
        if durable.problems.is_empty() {
            problems.push(FolderProblem::new(RecordDamaged, "the durable record holds no entry"));
        }
        return problems;
    };
    if !log.exists {
        problems.push(FolderProblem::new(
            LogMissing,
            format!(
                "sled holds no log, but the durable record says {} were acknowledged",
                tip.position
            ),
        ));
        return problems;
    }
    match (durable.folder_id, log.folder_id) {
        (Some(ours), Some(theirs)) if ours != theirs => problems.push(FolderProblem::new(
            RecordForeign,
            format!(
                "the durable record belongs to folder {}, the log to folder {}",
                hex(&ours),
                hex(&theirs)
            ),
        )),
        (Some(_), None) if !interrupted_adoption(durable, log) => {
            problems.push(FolderProblem::new(
                RecordForeign,
                "the log has no folder id, but a durable record is beside it (files of another \
                 folder?)",
            ))
        }
        _ => {}
    }
    let newest = log.checkpoints.newest;
    if newest < tip.position.checkpoint {
        let found = log
            .checkpoints
            .records
            .map(|records| format!(" ({records} records)"))
            .unwrap_or_default();
        problems.push(FolderProblem::new(
            MissingTail,
            format!(
                "acknowledged writes are missing: the durable record says {} were acknowledged, \
                 the log ends at checkpoint {newest}{found}; checkpoints {} to {} are gone",
                tip.position,
                newest + 1,
                tip.position.checkpoint
            ),
        ));
    } else if let Some(records) = log.checkpoints.records {
        if records < tip.position.records {
            problems.push(FolderProblem::new(
                RecordsMissing,
                format!(
                    "the log's newest checkpoint counts {records} records, the durable record \
                     {} acknowledged",
                    tip.position.records
                ),
            ));
        }
    }
    for slot in &log.checkpoints.slots {
        let Some(entry) = durable.entry(slot.number) else { continue };
        if entry.names_a_checkpoint() && entry.digest != slot.digest {
            problems.push(FolderProblem::new(
                CheckpointAltered,
                format!(
                    "head checkpoint {} is not the one the durable record vouched for",
                    slot.number
                ),
            ));
        }
    }
    problems
}

/// Where the durable record says the log was, for messages.
pub(crate) fn acknowledged(durable: Option<&DurableContents>) -> Option<Position> {
    durable.and_then(|d| d.tip()).map(|tip| tip.position)
}

pub(crate) fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::durable::DurableEntry;
    use crate::recovery::SlotCheckpoint;

    fn entry(kind: EntryKind, checkpoint: u64, records: u64, digest: u8) -> DurableEntry {
        DurableEntry {
            kind,
            position: Position { checkpoint, records },
            digest: [digest; 32],
            prev: [0; 32],
            unsynced_before: 0,
        }
    }

    fn record(entries: Vec<DurableEntry>) -> DurableContents {
        DurableContents { folder_id: Some([1; 16]), entries, problems: Vec::new() }
    }

    fn marks(checkpoints: &Checkpoints) -> LogMarks<'_> {
        LogMarks { exists: true, folder_id: Some([1; 16]), checkpoints }
    }

    fn sled_at(newest: u64, records: u64, slots: Vec<(u64, [u8; 32])>) -> Checkpoints {
        let slots = slots
            .into_iter()
            .map(|(number, digest)| SlotCheckpoint { number, records: None, digest })
            .collect();
        Checkpoints { newest, records: Some(records), slots, ..Checkpoints::default() }
    }

    fn kinds(problems: &[FolderProblem]) -> Vec<FolderProblemKind> {
        problems.iter().map(|p| p.kind).collect()
    }

    #[test]
    fn a_log_at_or_past_its_record_is_whole() {
        let durable = record(vec![entry(EntryKind::Flush, 9, 30, 5)]);
        let same = sled_at(9, 30, vec![(9, [5; 32])]);
        assert_eq!(check(Some(&durable), &marks(&same)), vec![]);
        // A crash between sled's sync and the record's write leaves sled ahead: nothing lost.
        let ahead = sled_at(10, 31, vec![(9, [5; 32]), (10, [6; 32])]);
        assert_eq!(check(Some(&durable), &marks(&ahead)), vec![]);
    }

    #[test]
    fn a_log_behind_its_record_lost_acknowledged_writes() {
        let durable =
            record(vec![entry(EntryKind::Flush, 8, 20, 4), entry(EntryKind::Flush, 9, 30, 5)]);
        let behind = sled_at(8, 20, vec![(8, [4; 32])]);
        let problems = check(Some(&durable), &marks(&behind));
        assert_eq!(kinds(&problems), vec![FolderProblemKind::MissingTail]);
        assert!(problems[0].detail.contains("checkpoints 9 to 9 are gone"), "{problems:?}");
    }

    #[test]
    fn an_altered_checkpoint_and_fewer_records_are_named() {
        let durable =
            record(vec![entry(EntryKind::Flush, 8, 20, 4), entry(EntryKind::Flush, 9, 30, 5)]);
        let altered = sled_at(9, 29, vec![(8, [4; 32]), (9, [7; 32])]);
        assert_eq!(
            kinds(&check(Some(&durable), &marks(&altered))),
            vec![FolderProblemKind::RecordsMissing, FolderProblemKind::CheckpointAltered]
        );
    }

    #[test]
    fn records_and_logs_that_do_not_belong_together_are_named() {
        let durable = record(vec![entry(EntryKind::Flush, 9, 30, 5)]);
        let sled = sled_at(9, 30, vec![]);
        let foreign = LogMarks { folder_id: Some([2; 16]), ..marks(&sled) };
        assert_eq!(kinds(&check(Some(&durable), &foreign)), vec![FolderProblemKind::RecordForeign]);
        let gone = LogMarks { exists: false, folder_id: None, ..marks(&sled) };
        assert_eq!(kinds(&check(Some(&durable), &gone)), vec![FolderProblemKind::LogMissing]);
        assert_eq!(kinds(&check(None, &marks(&sled))), vec![FolderProblemKind::RecordMissing]);
        let older_build = LogMarks { folder_id: None, ..marks(&sled) };
        assert_eq!(check(None, &older_build), vec![], "a folder from before durable records");
    }

    #[test]
    fn an_adoption_a_crash_cut_short_is_finished_not_refused() {
        let durable = record(vec![entry(EntryKind::Started, 9, 30, 0)]);
        let sled = sled_at(9, 30, vec![(9, [1; 32])]);
        let without_id = LogMarks { folder_id: None, ..marks(&sled) };
        assert!(interrupted_adoption(&durable, &without_id));
        assert_eq!(check(Some(&durable), &without_id), vec![], "a started entry has no digest");
    }
}
