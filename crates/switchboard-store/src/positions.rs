//! Where each message of a channel is in its stream: the records a message is read from, so that
//! fetching a message or a page of them decrypts those records and not the channel's history.
//!
//! Two kinds of entry, both under `L ‖ channel`:
//! - **Runs** (`L ‖ channel ‖ 1 ‖ first index(u64)` → first sequence number(u64)): messages added
//!   by consecutive records form a run, and only its first message is written down; message `i`
//!   of the run starting at `(i₀, s₀)` was added by record `s₀ + (i - i₀)`. The channel's writer
//!   remembers the newest message it added ([`LastAdded`]), so a message that continues the run
//!   costs no write at all: an inbound burst writes one entry, a conversation about one per turn.
//! - **Touches** (`L ‖ channel ‖ 0 ‖ index(u64)` → `added ‖ body ‖ attributes ‖ edited ‖
//!   delivery ‖ flags`, five sequence numbers (u64, big-endian; `u64::MAX` for none) and a byte),
//!   written the first time a message is edited, delivered or removed: the latest record that
//!   replaced its body, its attributes, the latest edit of any kind (its time and author are the
//!   message's `date_updated` and `last_updated_by`), the latest change of its delivery to the
//!   customer (the channel's state keeps only the latest few), and whether it is removed.
//!
//! Positions answer for indices the channel has given out (its state's `next_message_index`);
//! the reader checks that each record it opens is the one the positions promise, so a wrong
//! entry is reported as damage, never shown. Sequence numbers are no secret (the keys of `E`
//! show them).
//!
//! An append writes its positions after its records and index changes and before its head is
//! staged (`EventLog::append`), so a checkpointed append has them. Crash recovery rebuilds the
//! positions of a channel whose unacknowledged appends it rolls back (`recovery.rs`), and a
//! folder written with an older version of positions gets them all again on its first open
//! ([`META_POSITIONS`]); `reindex` rebuilds them too.

use switchboard_domain::{DomainEvent, IndexKind, MessageTouch, Recorded, Sid, SidPrefix};

use crate::layout::{self, STREAM_LEN};
use crate::log::{EventLog, IndexChanges};
use crate::replay::ReplayRecord;
use crate::StoreError;

/// Present once every channel of the folder has its positions, of this version.
pub(crate) const META_POSITIONS: &[u8] = b"Mmessage-positions";
/// 2: with the delivery's position. 3: runs, and touches only for touched messages.
const POSITIONS_VERSION: u8 = 3;
const ENCODED_LEN: usize = 41;
const TOUCHES: u8 = 0;
const RUNS: u8 = 1;
const REMOVED: u8 = 1;

const NONE: u64 = u64::MAX;

/// Where one message's records are.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MessagePositions {
    /// The record that added the message.
    pub added: u64,
    /// The latest record that replaced its body.
    pub body: Option<u64>,
    /// The latest record that replaced its attributes.
    pub attributes: Option<u64>,
    /// The latest edit of any kind.
    pub edited: Option<u64>,
    /// The latest change of its delivery.
    pub delivery: Option<u64>,
}

impl MessagePositions {
    fn added(seq: u64) -> MessagePositions {
        MessagePositions { added: seq, body: None, attributes: None, edited: None, delivery: None }
    }

    fn encode(&self, removed: bool) -> [u8; ENCODED_LEN] {
        let mut out = [0u8; ENCODED_LEN];
        let optional = [self.body, self.attributes, self.edited, self.delivery];
        let fields = std::iter::once(self.added).chain(optional.map(|seq| seq.unwrap_or(NONE)));
        for (at, value) in fields.enumerate() {
            out[at * 8..at * 8 + 8].copy_from_slice(&value.to_be_bytes());
        }
        out[ENCODED_LEN - 1] = if removed { REMOVED } else { 0 };
        out
    }

    /// The positions and whether the message is removed.
    fn decode(bytes: &[u8]) -> Option<(MessagePositions, bool)> {
        let field = |at: usize| -> Option<u64> {
            Some(u64::from_be_bytes(bytes.get(at * 8..at * 8 + 8)?.try_into().ok()?))
        };
        let optional = |value: u64| (value != NONE).then_some(value);
        if bytes.len() != ENCODED_LEN || bytes[ENCODED_LEN - 1] & !REMOVED != 0 {
            return None;
        }
        let positions = MessagePositions {
            added: field(0)?,
            body: optional(field(1)?),
            attributes: optional(field(2)?),
            edited: optional(field(3)?),
            delivery: optional(field(4)?),
        };
        Some((positions, bytes[ENCODED_LEN - 1] == REMOVED))
    }

    /// Every record the message is read from, each once, oldest first.
    pub fn records(&self) -> Vec<u64> {
        let all = [Some(self.added), self.body, self.attributes, self.edited, self.delivery];
        let mut seqs: Vec<u64> = all.into_iter().flatten().collect();
        seqs.sort_unstable();
        seqs.dedup();
        seqs
    }
}

/// The newest message a channel's writer added, `(index, seq)`: whether the next one continues
/// its run. Unknown after a start or a reload, when the next message starts a run of its own.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct LastAdded(Option<(u64, u64)>);

fn key(kind: u8, channel: Sid, index: u64) -> [u8; 1 + STREAM_LEN + 9] {
    let mut key = [0u8; 1 + STREAM_LEN + 9];
    key[..1 + STREAM_LEN].copy_from_slice(&layout::stream_prefix(layout::POSITIONS, channel));
    key[1 + STREAM_LEN] = kind;
    key[2 + STREAM_LEN..].copy_from_slice(&index.to_be_bytes());
    key
}

/// Writes what the event at `seq` of `channel` does to its message's positions; `last` is what
/// the writer remembers of the channel's newest message.
pub(crate) fn apply(
    tree: &sled::Tree,
    channel: Sid,
    seq: u64,
    touch: MessageTouch,
    last: &mut LastAdded,
) -> Result<(), StoreError> {
    match touch {
        MessageTouch::Added { index } => {
            let continues = index.checked_sub(1).zip(seq.checked_sub(1));
            if last.0.is_none() || last.0 != continues {
                tree.insert(key(RUNS, channel, index), &seq.to_be_bytes()[..])?;
            }
            last.0 = Some((index, seq));
        }
        MessageTouch::Edited { index, body, attributes } => {
            update(tree, channel, index, |positions, _| {
                if body {
                    positions.body = Some(seq);
                }
                if attributes {
                    positions.attributes = Some(seq);
                }
                positions.edited = Some(seq);
            })?;
        }
        MessageTouch::Delivery { index } => {
            update(tree, channel, index, |positions, _| positions.delivery = Some(seq))?;
        }
        MessageTouch::Removed { index } => {
            update(tree, channel, index, |_, removed| *removed = true)?;
        }
    }
    Ok(())
}

/// Changes the positions of a message that is there (not removed), writing its touches.
fn update(
    tree: &sled::Tree,
    channel: Sid,
    index: u64,
    change: impl FnOnce(&mut MessagePositions, &mut bool),
) -> Result<(), StoreError> {
    // Only the channel's own writer touches its messages: no one else changes the entry.
    let Some((mut positions, mut removed)) = find(tree, channel, index)? else {
        return Ok(());
    };
    if removed {
        return Ok(());
    }
    change(&mut positions, &mut removed);
    tree.insert(key(TOUCHES, channel, index), &positions.encode(removed)[..])?;
    Ok(())
}

/// The positions of message `index` of `channel` and whether it is removed: its touches if it
/// has them, else the place its run gives it. `None` when no run reaches back to it.
fn find(
    tree: &sled::Tree,
    channel: Sid,
    index: u64,
) -> Result<Option<(MessagePositions, bool)>, StoreError> {
    let damaged = || StoreError::Damaged(format!("the positions of message {index} of {channel}"));
    if let Some(bytes) = tree.get(key(TOUCHES, channel, index))? {
        return MessagePositions::decode(&bytes).map(Some).ok_or_else(damaged);
    }
    let runs = key(RUNS, channel, 0)..=key(RUNS, channel, index);
    let Some((first, seq)) = tree.range(runs).next_back().transpose()? else { return Ok(None) };
    let first = u64::from_be_bytes(first[first.len() - 8..].try_into().map_err(|_| damaged())?);
    let seq = u64::from_be_bytes(seq.as_ref().try_into().map_err(|_| damaged())?);
    let added = seq.checked_add(index - first).ok_or_else(damaged)?;
    Ok(Some((MessagePositions::added(added), false)))
}

/// The positions of message `index` of `channel`, an index the channel has given out; `None` if
/// it is removed (or, in a damaged folder, if nothing places it).
pub(crate) fn get(
    tree: &sled::Tree,
    channel: Sid,
    index: u64,
) -> Result<Option<MessagePositions>, StoreError> {
    Ok(find(tree, channel, index)?.filter(|(_, removed)| !removed).map(|(positions, _)| positions))
}

/// Removes every position of `channel`.
pub(crate) fn remove_all(tree: &sled::Tree, channel: Sid) -> Result<(), StoreError> {
    for key in tree.scan_prefix(layout::stream_prefix(layout::POSITIONS, channel)).keys() {
        tree.remove(key?)?;
    }
    Ok(())
}

/// Rebuilds the positions of `channel` from its records, and with `entries` its index entries
/// by message SID. Reads the channel's whole history: for recovery, upgrades and `reindex` only.
pub(crate) fn rebuild(log: &EventLog, channel: Sid, entries: bool) -> Result<(), StoreError> {
    remove_all(log.tree(), channel)?;
    let mut by_sid = Vec::new();
    let mut last = LastAdded::default();
    for item in log.read::<Recorded>(channel, 0) {
        match item {
            Ok(ReplayRecord::Event { seq, event, .. }) => {
                if let Some(touch) = event.event.message_touch() {
                    apply(log.tree(), channel, seq, touch, &mut last)?;
                }
                if entries {
                    let keyed = event.event.index_entries(channel).into_iter();
                    by_sid.extend(keyed.filter(|e| e.kind == IndexKind::Message));
                }
            }
            Ok(ReplayRecord::Shredded { .. }) => {}
            // A record that does not open is `verify`'s to report; the others keep their places.
            Err(error) => {
                tracing::warn!(%channel, %error, "a record skipped while placing messages")
            }
        }
    }
    log.apply_index_changes(&IndexChanges { put: by_sid, delete: Vec::new() })
}

/// Gives every channel of a folder written before positions existed its positions, once.
pub(crate) fn build_if_missing(log: &EventLog) -> Result<(), StoreError> {
    if log.tree().get(META_POSITIONS)?.as_deref() == Some(&[POSITIONS_VERSION][..]) {
        return Ok(());
    }
    let channels: Vec<Sid> = log
        .streams()
        .filter(|s| s.as_ref().map_or(true, |s| s.prefix() == SidPrefix::CHANNEL))
        .collect::<Result<_, _>>()?;
    if !channels.is_empty() {
        tracing::info!(
            channels = channels.len(),
            "placing every message of a folder written before message positions"
        );
    }
    for channel in channels {
        // The index entries by message SID came with positions: older folders lack them too.
        rebuild(log, channel, true)?;
    }
    log.tree().insert(META_POSITIONS, &[POSITIONS_VERSION][..])?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{ChannelLog, StoreConfig};
    use proptest::prelude::*;
    use std::collections::BTreeMap;
    use switchboard_crypto::MasterKey;
    use switchboard_domain::{
        ChannelCommand, ChannelEvent, ChannelKind, DeliveryStatus, MessageSource, NewChannel,
        NewMessage, Timestamp,
    };

    fn sid(prefix: SidPrefix, n: u32) -> Sid {
        let mut id = [0u8; 16];
        id[12..].copy_from_slice(&n.to_be_bytes());
        Sid::from_parts(prefix, id)
    }

    fn all_positions(log: &EventLog) -> Vec<(Vec<u8>, Vec<u8>)> {
        let entries = log.tree().scan_prefix([layout::POSITIONS]);
        entries.map(|e| e.map(|(k, v)| (k.to_vec(), v.to_vec())).unwrap()).collect()
    }

    fn new_channel(channel: Sid) -> NewChannel {
        NewChannel {
            channel_sid: channel,
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
        }
    }

    fn post(body: String) -> ChannelCommand {
        ChannelCommand::PostMessage(NewMessage {
            author: "a".into(),
            body,
            attributes: "{}".into(),
            media: None,
            source: MessageSource::Api,
            provider_message_id: None,
        })
    }

    fn open_log() -> (tempfile::TempDir, StoreConfig, MasterKey, EventLog) {
        let dir = tempfile::tempdir().unwrap();
        let (config, key) = (StoreConfig::new(dir.path().join("data")), MasterKey::generate());
        let log = EventLog::open(config.clone(), key.clone()).unwrap();
        (dir, config, key, log)
    }

    #[test]
    fn a_folder_with_older_positions_gets_them_again_on_open() {
        let (_dir, config, key, log) = open_log();
        let channel = sid(SidPrefix::CHANNEL, 1);
        let (mut written, _) =
            ChannelLog::create(&log, new_channel(channel), Timestamp(1)).unwrap().unwrap();
        let mut commands: Vec<ChannelCommand> = (0..20).map(|i| post(format!("m{i}"))).collect();
        commands.push(ChannelCommand::EditMessage {
            index: 4,
            body: Some("edited".into()),
            attributes: None,
            edited_by: None,
        });
        commands.push(ChannelCommand::RemoveMessage { index: 9 });
        written.execute_all(&log, commands, Timestamp(2)).unwrap().unwrap();
        let placed = all_positions(&log);
        assert_eq!(placed.len(), 3, "one run of 20 messages, one edited, one removed");
        let four = log.message_positions(channel, 4).unwrap().unwrap();
        assert_eq!(
            (four.added, four.body, four.attributes, four.delivery),
            (5, Some(21), None, None)
        );
        assert_eq!(log.message_positions(channel, 12).unwrap().unwrap().added, 13);
        assert_eq!(log.message_positions(channel, 9).unwrap(), None);

        // As a folder written before this version of positions: none, and an older mark.
        remove_all(log.tree(), channel).unwrap();
        log.tree().insert(META_POSITIONS, &[2u8][..]).unwrap();
        log.close().unwrap();
        let log = EventLog::open(config, key).unwrap();
        assert_eq!(all_positions(&log), placed);
    }

    #[test]
    fn a_message_stored_with_a_drawn_sid_keeps_its_entry() {
        let (_dir, _config, _key, log) = open_log();
        let channel = sid(SidPrefix::CHANNEL, 1);
        let (mut written, _) =
            ChannelLog::create(&log, new_channel(channel), Timestamp(1)).unwrap().unwrap();
        written.execute_all(&log, vec![post("derived".into())], Timestamp(2)).unwrap().unwrap();
        // As a build before derived SIDs wrote it: the same event with a drawn SID.
        let drawn = sid(SidPrefix::MESSAGE, 77);
        let added = ChannelEvent::MessageAdded {
            message_sid: drawn,
            index: 1,
            author: "a".into(),
            body: "drawn".into(),
            attributes: "{}".into(),
            media: None,
            source: MessageSource::Api,
            provider_message_id: None,
        };
        let next = log.head(channel).unwrap().next_seq;
        let recorded = [Recorded::new(Timestamp(3), added)];
        let appended = log.append(channel, next, &recorded, &IndexChanges::default()).unwrap();
        log.wait_durable_blocking(appended.ticket).unwrap();
        rebuild(&log, channel, true).unwrap();
        assert_eq!(log_lookup(&log, drawn), Some((channel, Some(1))));
        let derived = Sid::message_of(channel, 0);
        assert_eq!(log_lookup(&log, derived), None, "a derived SID needs no entry");
    }

    fn log_lookup(log: &EventLog, message: Sid) -> Option<(Sid, Option<u64>)> {
        log.lookup(IndexKind::Message, None, &message.to_string()).unwrap()
    }

    #[test]
    fn positions_read_back_as_written() {
        let positions = MessagePositions {
            added: 3,
            body: Some(9),
            attributes: None,
            edited: Some(9),
            delivery: Some(4),
        };
        assert_eq!(MessagePositions::decode(&positions.encode(true)), Some((positions, true)));
        assert_eq!(MessagePositions::decode(&positions.encode(false)), Some((positions, false)));
        assert_eq!(positions.records(), vec![3, 4, 9]);
        assert_eq!(MessagePositions::decode(&[0; 40]), None, "the second version's length");
        let mut odd = positions.encode(false);
        odd[ENCODED_LEN - 1] = 2;
        assert_eq!(MessagePositions::decode(&odd), None, "an unknown flag");
    }

    /// What a channel does to its messages, one command at a time.
    #[derive(Debug, Clone)]
    enum Step {
        Post,
        Edit(u64),
        Remove(u64),
        Deliver(u64),
        /// Anything else the channel records between messages.
        Other,
        /// The writer forgets the stream (as after a restart): the next message starts a run.
        Forget,
    }

    fn step() -> impl Strategy<Value = Step> {
        prop_oneof![
            6 => Just(Step::Post),
            1 => (0..30u64).prop_map(Step::Edit),
            1 => (0..30u64).prop_map(Step::Remove),
            1 => (0..30u64).prop_map(Step::Deliver),
            2 => Just(Step::Other),
            1 => Just(Step::Forget),
        ]
    }

    fn command(step: &Step, n: usize) -> Option<ChannelCommand> {
        Some(match *step {
            Step::Post => post(format!("m{n}")),
            Step::Edit(index) => ChannelCommand::EditMessage {
                index,
                body: n.is_multiple_of(2).then(|| format!("e{n}")),
                attributes: n.is_multiple_of(3).then(|| "{\"n\":1}".into()),
                edited_by: None,
            },
            Step::Remove(index) => ChannelCommand::RemoveMessage { index },
            Step::Deliver(index) => ChannelCommand::RecordDelivery {
                index,
                status: [DeliveryStatus::Sent, DeliveryStatus::Delivered][n % 2],
                error: None,
            },
            Step::Other => {
                ChannelCommand::UpdateAttributes { attributes: format!("{{\"n\":{n}}}") }
            }
            Step::Forget => return None,
        })
    }

    /// Every message's positions as the channel's whole history says, the slow way.
    fn expected(log: &EventLog, channel: Sid) -> BTreeMap<u64, Option<MessagePositions>> {
        let mut all = BTreeMap::new();
        for item in log.read::<Recorded>(channel, 0) {
            let Ok(ReplayRecord::Event { seq, event, .. }) = item else { panic!("{item:?}") };
            let at = |all: &mut BTreeMap<u64, Option<MessagePositions>>, index| {
                all.get_mut(&index).and_then(Option::as_mut).map(|p: &mut MessagePositions| *p)
            };
            match event.event.message_touch() {
                Some(MessageTouch::Added { index }) => {
                    all.insert(index, Some(MessagePositions::added(seq)));
                }
                Some(MessageTouch::Edited { index, body, attributes }) => {
                    if let Some(mut p) = at(&mut all, index) {
                        p.body = if body { Some(seq) } else { p.body };
                        p.attributes = if attributes { Some(seq) } else { p.attributes };
                        p.edited = Some(seq);
                        all.insert(index, Some(p));
                    }
                }
                Some(MessageTouch::Delivery { index }) => {
                    if let Some(mut p) = at(&mut all, index) {
                        p.delivery = Some(seq);
                        all.insert(index, Some(p));
                    }
                }
                Some(MessageTouch::Removed { index }) => {
                    all.insert(index, None);
                }
                None => {}
            }
        }
        all
    }

    fn placed(log: &EventLog, channel: Sid, count: u64) -> BTreeMap<u64, Option<MessagePositions>> {
        (0..count).map(|index| (index, log.message_positions(channel, index).unwrap())).collect()
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(24))]

        /// Runs and touches place every message where its history says, as written by appends
        /// (with the writer forgetting now and then) and as rebuilt from the records.
        #[test]
        fn every_message_is_where_its_history_says(steps in proptest::collection::vec(step(), 1..60)) {
            let (_dir, _config, _key, log) = open_log();
            let channel = sid(SidPrefix::CHANNEL, 1);
            let (mut written, _) =
                ChannelLog::create(&log, new_channel(channel), Timestamp(1)).unwrap().unwrap();
            let mut posts = 0u64;
            for (n, step) in steps.iter().enumerate() {
                match command(step, n) {
                    Some(command) => {
                        if written.execute_all(&log, vec![command], Timestamp(2)).unwrap().is_ok()
                            && matches!(step, Step::Post)
                        {
                            posts += 1;
                        }
                    }
                    None => {
                        log.flush().unwrap();
                        log.forget(channel);
                    }
                }
            }
            let expected = expected(&log, channel);
            prop_assert_eq!(expected.len() as u64, posts);
            prop_assert_eq!(&placed(&log, channel, posts), &expected);
            rebuild(&log, channel, false).unwrap();
            prop_assert_eq!(&placed(&log, channel, posts), &expected);
            let runs = log.tree().scan_prefix(&key(RUNS, channel, 0)[..2 + STREAM_LEN]);
            prop_assert!(runs.count() as u64 <= posts.max(1));
        }
    }
}
