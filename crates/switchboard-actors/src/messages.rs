//! Reading a channel's messages as the Chat API shows them: one message, or a page, from the
//! records that hold them (found through the store's message positions), never from the
//! channel's whole history.

use std::collections::BTreeMap;

use switchboard_domain::{
    ChannelEvent, ChannelState, DeliveryStatus, IndexKind, Media, ProviderError, Recorded, Sid,
    Timestamp,
};
use switchboard_store::{Executed, ReplayRecord, StoreError};

use crate::{Engine, EngineError};

/// A message of a channel as the Chat API shows it, with its edits applied.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MessageView {
    pub sid: Sid,
    pub index: u64,
    pub author: String,
    pub body: String,
    pub attributes: String,
    pub media: Option<Media>,
    pub date_created: Timestamp,
    pub date_updated: Timestamp,
    pub was_edited: bool,
    pub last_updated_by: Option<String>,
    /// Where its delivery to the customer is, as its latest report said (the channel's state
    /// keeps the latest few; older ones are read from their records).
    pub delivery: Option<MessageDelivery>,
}

/// A message's delivery to the customer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MessageDelivery {
    pub status: DeliveryStatus,
    pub error: Option<ProviderError>,
}

impl MessageView {
    /// The message `event` adds, as it was when added at `at`; `None` for any other event.
    pub fn added(at: Timestamp, event: &ChannelEvent) -> Option<MessageView> {
        let ChannelEvent::MessageAdded {
            message_sid, index, author, body, attributes, media, ..
        } = event
        else {
            return None;
        };
        Some(MessageView {
            sid: *message_sid,
            index: *index,
            author: author.clone(),
            body: body.clone(),
            attributes: attributes.clone(),
            media: media.clone(),
            date_created: at,
            date_updated: at,
            was_edited: false,
            last_updated_by: None,
            delivery: None,
        })
    }

    /// The message `executed` added, if it added one.
    pub fn from_executed(executed: &Executed) -> Option<MessageView> {
        executed.events.iter().find_map(|event| MessageView::added(executed.at, event))
    }
}

/// A channel's messages, each read from its own records (`Engine::messages`).
#[derive(Debug, Clone, Copy)]
pub struct Messages<'e> {
    pub(crate) engine: &'e Engine,
}

impl Engine {
    /// Messages of a channel, read one or a page at a time.
    pub fn messages(&self) -> Messages<'_> {
        Messages { engine: self }
    }
}

impl Messages<'_> {
    /// Message `index` of `channel` as it is now; `None` if it was never added or is removed.
    /// Opens the message's own records only (at most five: added, body, attributes, last edit,
    /// delivery).
    pub fn get(
        self,
        channel: &ChannelState,
        index: u64,
    ) -> Result<Option<MessageView>, EngineError> {
        // The store places the indices a channel has given out; the state says which those are
        // (a state read a moment ago knows fewer, never more).
        let Some(channel_sid) = channel.sid else { return Ok(None) };
        if index >= channel.next_message_index || channel.removed_messages.contains(&index) {
            return Ok(None);
        }
        let log = self.engine.log();
        let Some(positions) = log.message_positions(channel_sid, index)? else { return Ok(None) };
        let mut records = BTreeMap::new();
        for seq in positions.records() {
            match log.read_at::<Recorded>(channel_sid, seq)? {
                Some(ReplayRecord::Event { event, .. }) => {
                    records.insert(seq, event);
                }
                // Shredded: the channel's content is gone, and so is the message.
                Some(ReplayRecord::Shredded { .. }) => return Ok(None),
                None => return Err(misplaced(channel_sid, index, seq)),
            }
        }
        let Some(mut view) = records
            .get(&positions.added)
            .and_then(|added| MessageView::added(added.at, &added.event))
            .filter(|view| view.index == index)
        else {
            return Err(misplaced(channel_sid, index, positions.added));
        };
        let edit = |seq: Option<u64>| -> Result<Option<&Recorded>, EngineError> {
            let Some(seq) = seq else { return Ok(None) };
            match records.get(&seq) {
                Some(
                    edit @ Recorded { event: ChannelEvent::MessageEdited { index: i, .. }, .. },
                ) if *i == index => Ok(Some(edit)),
                _ => Err(misplaced(channel_sid, index, seq)),
            }
        };
        if let Some(Recorded {
            event: ChannelEvent::MessageEdited { body: Some(body), .. }, ..
        }) = edit(positions.body)?
        {
            view.body = body.clone();
            view.was_edited = true;
        }
        if let Some(Recorded {
            event: ChannelEvent::MessageEdited { attributes: Some(attributes), .. },
            ..
        }) = edit(positions.attributes)?
        {
            view.attributes = attributes.clone();
        }
        if let Some(Recorded { at, event: ChannelEvent::MessageEdited { edited_by, .. }, .. }) =
            edit(positions.edited)?
        {
            view.date_updated = *at;
            view.last_updated_by = edited_by.clone();
        }
        if let Some(seq) = positions.delivery {
            match records.get(&seq).map(|r| &r.event) {
                Some(ChannelEvent::DeliveryStatusChanged { index: i, status, error, .. })
                    if *i == index =>
                {
                    view.delivery = Some(MessageDelivery { status: *status, error: error.clone() });
                }
                _ => return Err(misplaced(channel_sid, index, seq)),
            }
        }
        Ok(Some(view))
    }

    /// The message `message_sid` of `channel`: its SID says its index (`Sid::message_of`), or,
    /// for a message stored before SIDs were derived, the index by message SID does.
    pub fn by_sid(
        self,
        channel: &ChannelState,
        message_sid: Sid,
    ) -> Result<Option<MessageView>, EngineError> {
        let Some(channel_sid) = channel.sid else { return Ok(None) };
        let index = match message_sid.message_index_in(channel_sid) {
            Some(index) => index,
            None => {
                let found =
                    self.engine.log().lookup(IndexKind::Message, None, &message_sid.to_string())?;
                match found {
                    Some((owner, Some(index))) if owner == channel_sid => index,
                    _ => return Ok(None),
                }
            }
        };
        Ok(self.get(channel, index)?.filter(|view| view.sid == message_sid))
    }

    /// A page of a channel's messages: `limit` of them from the `offset`-th on, oldest first or
    /// newest first. Opens the page's records only.
    pub fn page(
        self,
        channel: &ChannelState,
        offset: u64,
        limit: u64,
        newest_first: bool,
    ) -> Result<Vec<MessageView>, EngineError> {
        let mut page = Vec::new();
        for index in channel.message_indices(offset, limit, newest_first) {
            // A message removed since the state was read is left out.
            if let Some(view) = self.get(channel, index)? {
                page.push(view);
            }
        }
        Ok(page)
    }
}

/// A message's position names a record that is not the one it should be: the folder's message
/// positions are damaged (`switchboard reindex` places every message again).
fn misplaced(channel: Sid, index: u64, seq: u64) -> EngineError {
    EngineError::Store(StoreError::Damaged(format!(
        "message {index} of {channel} is placed at record {seq}, which does not hold it; \
         run `switchboard reindex`"
    )))
}
