//! Where each message of a channel is in its stream: the records a message is read from, so that
//! fetching a message or a page of them decrypts those records and not the channel's history.
//!
//! `L ‖ channel ‖ message index(u64)` → `added ‖ body ‖ attributes ‖ edited ‖ delivery`, five
//! sequence numbers (u64, big-endian; `u64::MAX` for none): the record that added the message,
//! the latest that replaced its body, the latest that replaced its attributes, the latest edit of
//! any kind (its time and author are the message's `date_updated` and `last_updated_by`), and
//! the latest change of its delivery to the customer (the channel's state keeps only the latest
//! few). A removed message has no entry. Sequence numbers are no secret (the keys of `E` show
//! them).
//!
//! An append writes its positions after its records and index changes and before its head is
//! staged (`EventLog::append`), so a checkpointed append has them. Crash recovery rebuilds the
//! positions of a channel whose unacknowledged appends it rolls back (`recovery.rs`), and a
//! folder written before positions existed gets them all on its first open
//! ([`META_POSITIONS`]); `reindex` rebuilds them too.

use switchboard_domain::{DomainEvent, IndexKind, MessageTouch, Recorded, Sid, SidPrefix};

use crate::layout::{self, STREAM_LEN};
use crate::log::{EventLog, IndexChanges};
use crate::replay::ReplayRecord;
use crate::StoreError;

/// Present once every channel of the folder has its positions, of this version.
pub(crate) const META_POSITIONS: &[u8] = b"Mmessage-positions";
/// 2: with the delivery's position.
const POSITIONS_VERSION: u8 = 2;
const ENCODED_LEN: usize = 40;

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

    fn encode(&self) -> [u8; ENCODED_LEN] {
        let mut out = [0u8; ENCODED_LEN];
        let optional = [self.body, self.attributes, self.edited, self.delivery];
        let fields = std::iter::once(self.added).chain(optional.map(|seq| seq.unwrap_or(NONE)));
        for (at, value) in fields.enumerate() {
            out[at * 8..at * 8 + 8].copy_from_slice(&value.to_be_bytes());
        }
        out
    }

    fn decode(bytes: &[u8]) -> Option<MessagePositions> {
        let field = |at: usize| -> Option<u64> {
            Some(u64::from_be_bytes(bytes.get(at * 8..at * 8 + 8)?.try_into().ok()?))
        };
        let optional = |value: u64| (value != NONE).then_some(value);
        if bytes.len() != ENCODED_LEN {
            return None;
        }
        Some(MessagePositions {
            added: field(0)?,
            body: optional(field(1)?),
            attributes: optional(field(2)?),
            edited: optional(field(3)?),
            delivery: optional(field(4)?),
        })
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

fn key(channel: Sid, index: u64) -> [u8; 1 + STREAM_LEN + 8] {
    let mut key = [0u8; 1 + STREAM_LEN + 8];
    key[..1 + STREAM_LEN].copy_from_slice(&layout::stream_prefix(layout::POSITIONS, channel));
    key[1 + STREAM_LEN..].copy_from_slice(&index.to_be_bytes());
    key
}

/// Writes what the event at `seq` of `channel` does to its message's positions.
pub(crate) fn apply(
    tree: &sled::Tree,
    channel: Sid,
    seq: u64,
    touch: MessageTouch,
) -> Result<(), StoreError> {
    match touch {
        MessageTouch::Added { index } => {
            tree.insert(key(channel, index), &MessagePositions::added(seq).encode()[..])?;
        }
        MessageTouch::Edited { index, body, attributes } => {
            update(tree, channel, index, |positions| {
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
            update(tree, channel, index, |positions| positions.delivery = Some(seq))?;
        }
        MessageTouch::Removed { index } => {
            tree.remove(key(channel, index))?;
        }
    }
    Ok(())
}

/// Changes the positions of a message that has them (a removed one has none).
fn update(
    tree: &sled::Tree,
    channel: Sid,
    index: u64,
    change: impl FnOnce(&mut MessagePositions),
) -> Result<(), StoreError> {
    let key = key(channel, index);
    // Only the channel's own writer touches its messages: no one else changes the entry.
    let Some(mut positions) = tree.get(key)?.as_deref().and_then(MessagePositions::decode) else {
        return Ok(());
    };
    change(&mut positions);
    tree.insert(key, &positions.encode()[..])?;
    Ok(())
}

/// The positions of message `index` of `channel`; `None` if it has none (never added, removed).
pub(crate) fn get(
    tree: &sled::Tree,
    channel: Sid,
    index: u64,
) -> Result<Option<MessagePositions>, StoreError> {
    let Some(bytes) = tree.get(key(channel, index))? else { return Ok(None) };
    MessagePositions::decode(&bytes).map(Some).ok_or_else(|| {
        StoreError::Damaged(format!("the positions of message {index} of {channel}"))
    })
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
    for item in log.read::<Recorded>(channel, 0) {
        match item {
            Ok(ReplayRecord::Event { seq, event, .. }) => {
                if let Some(touch) = event.event.message_touch() {
                    apply(log.tree(), channel, seq, touch)?;
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
    use switchboard_crypto::MasterKey;
    use switchboard_domain::{
        ChannelCommand, ChannelKind, MessageSource, NewChannel, NewMessage, Timestamp,
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

    #[test]
    fn a_folder_without_positions_gets_them_on_open() {
        let dir = tempfile::tempdir().unwrap();
        let (config, key) = (StoreConfig::new(dir.path().join("data")), MasterKey::generate());
        let log = EventLog::open(config.clone(), key.clone()).unwrap();
        let channel = sid(SidPrefix::CHANNEL, 1);
        let new = NewChannel {
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
        };
        let (mut written, _) = ChannelLog::create(&log, new, Timestamp(1)).unwrap().unwrap();
        let mut commands: Vec<ChannelCommand> = (0..20)
            .map(|i| {
                ChannelCommand::PostMessage(NewMessage {
                    message_sid: sid(SidPrefix::MESSAGE, i),
                    author: "a".into(),
                    body: format!("m{i}"),
                    attributes: "{}".into(),
                    media: None,
                    source: MessageSource::Api,
                    provider_message_id: None,
                })
            })
            .collect();
        commands.push(ChannelCommand::EditMessage {
            index: 4,
            body: Some("edited".into()),
            attributes: None,
            edited_by: None,
        });
        commands.push(ChannelCommand::RemoveMessage { index: 9 });
        written.execute_all(&log, commands, Timestamp(2)).unwrap().unwrap();
        let placed = all_positions(&log);
        assert_eq!(placed.len(), 19, "20 messages, one removed");
        let four = log.message_positions(channel, 4).unwrap().unwrap();
        assert_eq!(
            (four.added, four.body, four.attributes, four.delivery),
            (5, Some(21), None, None)
        );
        assert_eq!(log.message_positions(channel, 9).unwrap(), None);

        // As a folder written before positions existed: none, and no mark.
        remove_all(log.tree(), channel).unwrap();
        log.tree().remove(META_POSITIONS).unwrap();
        let by_sid = || log_lookup(&log, sid(SidPrefix::MESSAGE, 12));
        assert_eq!(by_sid(), Some((channel, Some(12))));
        log.close().unwrap();
        let log = EventLog::open(config, key).unwrap();
        assert_eq!(all_positions(&log), placed);
        assert_eq!(log_lookup(&log, sid(SidPrefix::MESSAGE, 12)), Some((channel, Some(12))));
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
        assert_eq!(MessagePositions::decode(&positions.encode()), Some(positions));
        assert_eq!(positions.records(), vec![3, 4, 9]);
        assert_eq!(MessagePositions::decode(&[0; 32]), None, "the first version's length");
    }
}
