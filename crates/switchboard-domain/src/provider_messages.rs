//! The provider message ids a channel remembers, so that a provider's redelivery of an inbound
//! message is recognized by the channel it went to.
//!
//! A redelivery (Twilio's or Meta's retry of a webhook we may have stored but not answered) comes
//! from the same customer to the same address, so it is routed to the same channel as the
//! original, whose state knows the id: no global index write or look-up per message. When that
//! channel retired between the two deliveries, the customer's next channel is opened with the ids
//! of the retired one's recent messages (`ChannelCreated::carried_provider_messages`), so the
//! memory follows the customer from channel to channel. Bounded: the last [`CAPACITY`] ids of a
//! channel, and of those only the ones younger than [`CARRY_WINDOW_MILLIS`] are carried, which is
//! beyond any provider's retry horizon (Meta retries for up to 7 days, Twilio within seconds).
//!
//! [`CAPACITY`]: RecentProviderMessages::CAPACITY
//! [`CARRY_WINDOW_MILLIS`]: RecentProviderMessages::CARRY_WINDOW_MILLIS

use std::collections::VecDeque;
use std::hash::{BuildHasher, BuildHasherDefault, DefaultHasher};
use std::sync::Arc;

use hashbrown::HashTable;
use serde::de::{SeqAccess, Visitor};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::{Sid, Timestamp};

/// Where a provider's message was stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProviderMessageRef {
    /// The provider's message id (`SM…`, `MM…`, `wamid.…`, a Messenger `mid`).
    pub id: String,
    pub channel_sid: Sid,
    /// The message's index in that channel.
    pub index: u64,
    /// When it was stored.
    pub at: Timestamp,
}

/// The provider ids of a channel's latest inbound messages, oldest first, found by id in O(1).
///
/// Shared between copies of a state until one of them changes it (a channel actor copies its
/// state for every command it decides, and must not copy a thousand ids each time; see
/// `ChannelState::apply_deferring_memory`). Kept compact, because a busy channel holds a full
/// [`Self::CAPACITY`] of them for as long as it is live, and loads them all whenever it is loaded:
/// 64 bytes an entry and 9 bytes a slot of the table, about 80 KB for a full memory of Twilio
/// SIDs, which are kept as their 18 bytes (a `VecDeque` of strings with a `HashMap` of the same
/// strings beside it took about 210 KB a channel, and loading a channel was mostly that).
#[derive(Debug, Clone, Default)]
pub struct RecentProviderMessages(Arc<Memory>);

#[derive(Debug, Clone, Default)]
struct Memory {
    order: VecDeque<Entry>,
    /// The position of each entry, counted from the first id ever remembered (`evicted` of them
    /// are gone from the front), so that evicting does not renumber the rest; hashed by id.
    positions: HashTable<u64>,
    evicted: u64,
    /// Keyless (the domain reads no random source): a memory holds at most [`CAPACITY`] ids of
    /// authenticated webhooks, so even ids chosen to collide would cost a bounded probe.
    ///
    /// [`CAPACITY`]: RecentProviderMessages::CAPACITY
    hasher: BuildHasherDefault<DefaultHasher>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct Entry {
    id: CompactId,
    channel_sid: Sid,
    index: u64,
    at: Timestamp,
}

/// A provider message id as kept: a Twilio SID (two capital letters and 32 lowercase hex digits)
/// as its bytes, anything else as text.
#[derive(Debug, Clone, PartialEq, Eq)]
enum CompactId {
    Twilio([u8; 18]),
    Other(Box<str>),
}

/// An id as looked up: the form of [`CompactId`], borrowed, so a look-up allocates nothing.
#[derive(Debug, PartialEq, Eq, Hash)]
enum IdKey<'a> {
    Twilio([u8; 18]),
    Other(&'a str),
}

impl<'a> IdKey<'a> {
    fn of(id: &'a str) -> IdKey<'a> {
        let bytes = id.as_bytes();
        let (letters, hex) = bytes.split_at(bytes.len().min(2));
        let lower_hex = |b: &u8| b.is_ascii_digit() || (b'a'..=b'f').contains(b);
        if bytes.len() != 34
            || !letters.iter().all(u8::is_ascii_uppercase)
            || !hex.iter().all(lower_hex)
        {
            return IdKey::Other(id);
        }
        let mut packed = [0u8; 18];
        packed[..2].copy_from_slice(letters);
        for (slot, pair) in packed[2..].iter_mut().zip(hex.chunks_exact(2)) {
            let digit = |b: u8| if b.is_ascii_digit() { b - b'0' } else { b - b'a' + 10 };
            *slot = digit(pair[0]) << 4 | digit(pair[1]);
        }
        IdKey::Twilio(packed)
    }

    fn to_owned_id(&self) -> CompactId {
        match self {
            IdKey::Twilio(packed) => CompactId::Twilio(*packed),
            IdKey::Other(text) => CompactId::Other((*text).into()),
        }
    }
}

impl CompactId {
    fn key(&self) -> IdKey<'_> {
        match self {
            CompactId::Twilio(packed) => IdKey::Twilio(*packed),
            CompactId::Other(text) => IdKey::Other(text),
        }
    }

    /// Gives the id's text to `f`, without allocating.
    fn with_text<R>(&self, f: impl FnOnce(&str) -> R) -> R {
        match self {
            CompactId::Other(text) => f(text),
            CompactId::Twilio(packed) => {
                const HEX: &[u8; 16] = b"0123456789abcdef";
                let mut text = [0u8; 34];
                text[..2].copy_from_slice(&packed[..2]);
                for (pair, byte) in text[2..].chunks_exact_mut(2).zip(&packed[2..]) {
                    pair[0] = HEX[usize::from(byte >> 4)];
                    pair[1] = HEX[usize::from(byte & 0xf)];
                }
                // Two ASCII capitals and 32 hex digits: always UTF-8.
                f(std::str::from_utf8(&text).unwrap_or_default())
            }
        }
    }
}

impl Entry {
    fn to_ref(&self) -> ProviderMessageRef {
        ProviderMessageRef {
            id: self.id.with_text(str::to_owned),
            channel_sid: self.channel_sid,
            index: self.index,
            at: self.at,
        }
    }
}

impl Memory {
    fn hash(&self, key: &IdKey<'_>) -> u64 {
        self.hasher.hash_one(key)
    }

    fn find(&self, key: &IdKey<'_>) -> Option<&Entry> {
        let position = self.positions.find(self.hash(key), |&p| {
            entry_at(&self.order, self.evicted, p).is_some_and(|e| e.id.key() == *key)
        })?;
        entry_at(&self.order, self.evicted, *position)
    }

    fn evict_oldest(&mut self) {
        let Some(oldest) = self.order.pop_front() else { return };
        let hash = self.hash(&oldest.id.key());
        let evicted = self.evicted;
        if let Ok(found) = self.positions.find_entry(hash, |&p| p == evicted) {
            found.remove();
        }
        self.evicted += 1;
    }

    fn push(&mut self, entry: Entry) {
        let hash = self.hash(&entry.id.key());
        let position = self.evicted + self.order.len() as u64;
        self.order.push_back(entry);
        let rehash = rehash(&self.order, &self.hasher, self.evicted);
        self.positions.insert_unique(hash, position, rehash);
    }

    fn reserve(&mut self, additional: usize) {
        self.order.reserve(additional);
        let rehash = rehash(&self.order, &self.hasher, self.evicted);
        self.positions.reserve(additional, rehash);
    }
}

/// The hash of the entry a position names, for the table to rehash its positions as it grows.
fn rehash<'a>(
    order: &'a VecDeque<Entry>,
    hasher: &'a BuildHasherDefault<DefaultHasher>,
    evicted: u64,
) -> impl Fn(&u64) -> u64 + 'a {
    move |&p| entry_at(order, evicted, p).map_or(0, |e| hasher.hash_one(e.id.key()))
}

/// The entry at `position` (counted from the first ever remembered), if still remembered.
fn entry_at(order: &VecDeque<Entry>, evicted: u64, position: u64) -> Option<&Entry> {
    order.get(usize::try_from(position.checked_sub(evicted)?).ok()?)
}

impl RecentProviderMessages {
    /// The most ids one channel remembers.
    pub const CAPACITY: usize = 1024;
    /// How old a remembered id may be and still be carried to the customer's next channel.
    pub const CARRY_WINDOW_MILLIS: i64 = 7 * 24 * 60 * 60 * 1000;

    pub fn is_empty(&self) -> bool {
        self.0.order.is_empty()
    }

    pub fn len(&self) -> usize {
        self.0.order.len()
    }

    /// Where the message with provider id `id` was stored, if it is remembered.
    pub fn find(&self, id: &str) -> Option<ProviderMessageRef> {
        self.0.find(&IdKey::of(id)).map(Entry::to_ref)
    }

    /// Remembers a stored message, forgetting the oldest past [`Self::CAPACITY`]. An id already
    /// remembered keeps its first place (what `decide` lets through never repeats one).
    pub fn remember(&mut self, message: ProviderMessageRef) {
        self.remember_entry(Entry {
            id: IdKey::of(&message.id).to_owned_id(),
            channel_sid: message.channel_sid,
            index: message.index,
            at: message.at,
        });
    }

    fn remember_entry(&mut self, entry: Entry) {
        if self.0.find(&entry.id.key()).is_some() {
            return;
        }
        let memory = Arc::make_mut(&mut self.0);
        // Before the push, so the queue never outgrows its capacity.
        while memory.order.len() >= Self::CAPACITY {
            memory.evict_oldest();
        }
        memory.push(entry);
    }

    /// What a channel opened at `now` for the same customer takes over: the ids stored within
    /// [`Self::CARRY_WINDOW_MILLIS`] before it.
    pub fn carried_at(&self, now: Timestamp) -> Vec<ProviderMessageRef> {
        let since = now.0.saturating_sub(Self::CARRY_WINDOW_MILLIS);
        self.0.order.iter().filter(|m| m.at.0 >= since).map(Entry::to_ref).collect()
    }
}

impl PartialEq for RecentProviderMessages {
    fn eq(&self, other: &Self) -> bool {
        self.0.order == other.0.order
    }
}

impl Eq for RecentProviderMessages {}

impl From<Vec<ProviderMessageRef>> for RecentProviderMessages {
    fn from(messages: Vec<ProviderMessageRef>) -> Self {
        let mut recent = RecentProviderMessages::default();
        for message in messages {
            recent.remember(message);
        }
        recent
    }
}

impl From<RecentProviderMessages> for Vec<ProviderMessageRef> {
    fn from(recent: RecentProviderMessages) -> Self {
        recent.0.order.iter().map(Entry::to_ref).collect()
    }
}

/// Stored compact, as `{"channels": [Sid…], "entries": [[id, channel, index, at]…]}`, oldest
/// first: `id` is a Twilio SID's 18 bytes (MessagePack bin) or any other id's text, `channel`
/// the position of its channel SID in `channels` (nearly always one or two). About 34 bytes an id
/// where the list of named [`ProviderMessageRef`]s that snapshots of version 2 hold took 110; a
/// full memory is most of a busy channel's snapshot. Both forms are read. Formats for people
/// (JSON: `replay --state-at`, the audit's views) get the list of references, as before.
impl Serialize for RecentProviderMessages {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let order = &self.0.order;
        if serializer.is_human_readable() {
            return serializer.collect_seq(order.iter().map(|e| Listed {
                id: TextId(&e.id),
                channel_sid: e.channel_sid,
                index: e.index,
                at: e.at,
            }));
        }
        let mut channels: Vec<Sid> = Vec::new();
        let mut numbers = Vec::with_capacity(order.len());
        for entry in order {
            let number = match channels.iter().position(|c| *c == entry.channel_sid) {
                Some(number) => number,
                None => {
                    channels.push(entry.channel_sid);
                    channels.len() - 1
                }
            };
            numbers.push(number as u32);
        }
        let mut map = serializer.serialize_map(Some(2))?;
        map.serialize_entry("channels", &channels)?;
        map.serialize_entry("entries", &CompactEntries(order, &numbers))?;
        map.end()
    }
}

/// A [`ProviderMessageRef`] as the human-readable form lists it, borrowed from an entry.
#[derive(Serialize)]
struct Listed<'a> {
    id: TextId<'a>,
    channel_sid: Sid,
    index: u64,
    at: Timestamp,
}

/// An id written as its text, whatever form it is kept in.
struct TextId<'a>(&'a CompactId);

impl Serialize for TextId<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.0.with_text(|text| serializer.serialize_str(text))
    }
}

/// The compact form's `entries`: the memory's entries with their channels' numbers.
struct CompactEntries<'a>(&'a VecDeque<Entry>, &'a [u32]);

impl Serialize for CompactEntries<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let entries = self.0.iter().zip(self.1);
        serializer
            .collect_seq(entries.map(|(e, channel)| (CompactIdOut(&e.id), channel, e.index, e.at)))
    }
}

/// An id as the compact form writes it: a packed Twilio SID as bytes, any other id as text.
struct CompactIdOut<'a>(&'a CompactId);

impl Serialize for CompactIdOut<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self.0 {
            CompactId::Twilio(packed) => serializer.serialize_bytes(packed),
            CompactId::Other(text) => serializer.serialize_str(text),
        }
    }
}

impl<'de> Deserialize<'de> for RecentProviderMessages {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(Remembering)
    }
}

/// Reads either stored form into a memory, remembering as it goes.
struct Remembering;

impl Remembering {
    /// Sized once: a full memory is loaded with every channel that has one.
    fn sized(hint: Option<usize>) -> RecentProviderMessages {
        let mut recent = RecentProviderMessages::default();
        let expected = hint.unwrap_or(0).min(RecentProviderMessages::CAPACITY);
        Arc::make_mut(&mut recent.0).reserve(expected);
        recent
    }
}

impl<'de> Visitor<'de> for Remembering {
    type Value = RecentProviderMessages;

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("remembered provider message ids")
    }

    /// The list of references: version 2 snapshots, and the human-readable form.
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        let mut recent = Self::sized(seq.size_hint());
        while let Some(message) = seq.next_element::<ProviderMessageRef>()? {
            recent.remember(message);
        }
        Ok(recent)
    }

    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        use serde::de::Error;
        let mut channels: Option<Vec<Sid>> = None;
        let mut recent = None;
        while let Some(key) = map.next_key::<String>()? {
            match &*key {
                "channels" => channels = Some(map.next_value()?),
                "entries" => {
                    let channels = channels.as_deref().ok_or_else(|| {
                        A::Error::custom("provider ids: `channels` must come before `entries`")
                    })?;
                    recent = Some(map.next_value_seed(EntriesSeed(channels))?);
                }
                _ => {
                    map.next_value::<serde::de::IgnoredAny>()?;
                }
            }
        }
        Ok(recent.unwrap_or_default())
    }
}

/// The `entries` of the compact form, resolved against its `channels`.
struct EntriesSeed<'a>(&'a [Sid]);

impl<'de> serde::de::DeserializeSeed<'de> for EntriesSeed<'_> {
    type Value = RecentProviderMessages;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Self::Value, D::Error> {
        deserializer.deserialize_seq(self)
    }
}

impl<'de> Visitor<'de> for EntriesSeed<'_> {
    type Value = RecentProviderMessages;

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("a list of [id, channel, index, at]")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        use serde::de::Error;
        let mut recent = Remembering::sized(seq.size_hint());
        while let Some((id, channel, index, at)) =
            seq.next_element::<(ReadId, u32, u64, Timestamp)>()?
        {
            let channel_sid = *self.0.get(channel as usize).ok_or_else(|| {
                A::Error::custom(format!("provider ids: no channel number {channel}"))
            })?;
            recent.remember_entry(Entry { id: id.0, channel_sid, index, at });
        }
        Ok(recent)
    }
}

/// An id of the compact form: bytes are a packed Twilio SID, text any other id.
struct ReadId(CompactId);

impl<'de> Deserialize<'de> for ReadId {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct IdVisitor;
        impl<'de> Visitor<'de> for IdVisitor {
            type Value = ReadId;

            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a provider message id")
            }

            fn visit_str<E: serde::de::Error>(self, text: &str) -> Result<ReadId, E> {
                // Through `IdKey::of`, so an id reads back in the one form it is kept in.
                Ok(ReadId(IdKey::of(text).to_owned_id()))
            }

            fn visit_bytes<E: serde::de::Error>(self, bytes: &[u8]) -> Result<ReadId, E> {
                let packed: [u8; 18] =
                    bytes.try_into().map_err(|_| E::custom("a packed Twilio SID is 18 bytes"))?;
                if !packed[..2].iter().all(u8::is_ascii_uppercase) {
                    return Err(E::custom("a packed Twilio SID starts with two capitals"));
                }
                Ok(ReadId(CompactId::Twilio(packed)))
            }
        }
        deserializer.deserialize_any(IdVisitor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::SidPrefix;

    fn message(n: u64, at: i64) -> ProviderMessageRef {
        ProviderMessageRef {
            id: format!("SM{n:032x}"),
            channel_sid: Sid::from_parts(SidPrefix::CHANNEL, [7; 16]),
            index: n,
            at: Timestamp(at),
        }
    }

    #[test]
    fn finds_what_it_remembers_and_forgets_the_oldest_past_capacity() {
        let mut recent = RecentProviderMessages::default();
        let total = RecentProviderMessages::CAPACITY as u64 + 10;
        for n in 0..total {
            recent.remember(message(n, 0));
        }
        assert_eq!(recent.len(), RecentProviderMessages::CAPACITY);
        for n in 0..10 {
            assert_eq!(recent.find(&message(n, 0).id), None, "message {n} was evicted");
        }
        for n in 10..total {
            assert_eq!(recent.find(&message(n, 0).id).map(|m| m.index), Some(n));
        }
        assert_eq!(recent.find("SMnot-there"), None);
    }

    #[test]
    fn a_second_remember_of_one_id_keeps_the_first() {
        let mut recent = RecentProviderMessages::default();
        recent.remember(message(1, 10));
        recent.remember(ProviderMessageRef { index: 99, ..message(1, 20) });
        assert_eq!(recent.len(), 1);
        assert_eq!(recent.find(&message(1, 0).id).map(|m| m.index), Some(1));
    }

    #[test]
    fn carries_only_what_is_inside_the_window() {
        let window = RecentProviderMessages::CARRY_WINDOW_MILLIS;
        let recent: RecentProviderMessages =
            vec![message(1, 0), message(2, 1000), message(3, window + 500)].into();
        let carried = recent.carried_at(Timestamp(window + 1000));
        assert_eq!(carried.iter().map(|m| m.index).collect::<Vec<_>>(), vec![2, 3]);
    }

    /// Twilio SIDs and other providers' ids, in two channels (one carried over).
    fn mixed(count: u64) -> Vec<ProviderMessageRef> {
        let carried_from = Sid::from_parts(SidPrefix::CHANNEL, [9; 16]);
        (0..count)
            .map(|n| match n % 3 {
                0 => message(n, n as i64),
                1 => ProviderMessageRef { id: format!("wamid.HBgL{n}=="), ..message(n, n as i64) },
                _ => ProviderMessageRef { channel_sid: carried_from, ..message(n, -(n as i64)) },
            })
            .collect()
    }

    #[test]
    fn the_compact_form_reads_back_in_messagepack_named_or_not_and_in_json() {
        let list = mixed(7);
        let recent = RecentProviderMessages::from(list.clone());
        let named: RecentProviderMessages =
            rmp_serde::from_slice(&rmp_serde::to_vec_named(&recent).unwrap()).unwrap();
        let positional: RecentProviderMessages =
            rmp_serde::from_slice(&rmp_serde::to_vec(&recent).unwrap()).unwrap();
        let json: RecentProviderMessages =
            serde_json::from_str(&serde_json::to_string(&recent).unwrap()).unwrap();
        for back in [named, positional, json] {
            assert_eq!(Vec::from(back), list);
        }
    }

    #[test]
    fn people_read_the_list_of_references() {
        let list = mixed(4);
        let recent = RecentProviderMessages::from(list.clone());
        assert_eq!(serde_json::to_value(&recent).unwrap(), serde_json::to_value(&list).unwrap());
    }

    #[test]
    fn the_list_of_references_that_version_2_snapshots_hold_still_reads() {
        let list = mixed(7);
        for bytes in [rmp_serde::to_vec_named(&list).unwrap(), rmp_serde::to_vec(&list).unwrap()] {
            let back: RecentProviderMessages = rmp_serde::from_slice(&bytes).unwrap();
            assert_eq!(Vec::from(back), list);
        }
    }

    #[test]
    fn a_channel_state_of_a_version_2_snapshot_still_reads() {
        let list = mixed(5);
        let state = crate::ChannelState {
            provider_messages: list.clone().into(),
            events_applied: 9,
            ..Default::default()
        };
        // The state as version 2 wrote it: the same, but for the list form of the ids.
        let mut v2 = serde_json::to_value(&state).unwrap();
        v2["provider_messages"] = serde_json::to_value(&list).unwrap();
        let back: crate::ChannelState =
            rmp_serde::from_slice(&rmp_serde::to_vec_named(&v2).unwrap()).unwrap();
        assert_eq!(back, state);
        let now: crate::ChannelState =
            rmp_serde::from_slice(&rmp_serde::to_vec_named(&state).unwrap()).unwrap();
        assert_eq!(now, state);
    }

    #[test]
    fn a_full_memory_of_twilio_sids_takes_a_third_of_the_list_form() {
        let list: Vec<_> =
            (0..RecentProviderMessages::CAPACITY as u64).map(|n| message(n, 1 << 40)).collect();
        let compact = rmp_serde::to_vec_named(&RecentProviderMessages::from(list.clone())).unwrap();
        // The list form as version 2 snapshots stored it: SIDs as their text.
        let mut old = Vec::new();
        let mut stored_before =
            rmp_serde::Serializer::new(&mut old).with_struct_map().with_human_readable();
        serde::Serialize::serialize(&list, &mut stored_before).unwrap();
        let per_id = |bytes: &[u8]| bytes.len() / RecentProviderMessages::CAPACITY;
        assert!(per_id(&compact) <= 36, "{} bytes an id", per_id(&compact));
        assert!(
            per_id(&old) >= 3 * per_id(&compact),
            "{} against {}",
            per_id(&old),
            per_id(&compact)
        );
    }

    #[test]
    fn a_damaged_compact_form_is_refused_not_misread() {
        #[derive(serde::Serialize)]
        struct Form<E: serde::Serialize> {
            channels: Vec<Sid>,
            entries: Vec<E>,
        }
        let channel = message(0, 0).channel_sid;
        let no_such_channel =
            Form { channels: vec![channel], entries: vec![("SM1", 1u32, 0u64, Timestamp(0))] };
        let short_sid = Form {
            channels: vec![channel],
            entries: vec![(serde_bytes_of(&[b'S', b'M', 1, 2]), 0u32, 0u64, Timestamp(0))],
        };
        for bytes in [
            rmp_serde::to_vec_named(&no_such_channel).unwrap(),
            rmp_serde::to_vec_named(&short_sid).unwrap(),
        ] {
            assert!(rmp_serde::from_slice::<RecentProviderMessages>(&bytes).is_err());
        }
    }

    /// Serializes as MessagePack bin, as a packed SID is written.
    fn serde_bytes_of(bytes: &[u8]) -> impl serde::Serialize + '_ {
        struct Bytes<'a>(&'a [u8]);
        impl serde::Serialize for Bytes<'_> {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_bytes(self.0)
            }
        }
        Bytes(bytes)
    }

    #[test]
    fn a_full_memory_stays_within_its_capacity() {
        let mut recent = RecentProviderMessages::default();
        for n in 0..(3 * RecentProviderMessages::CAPACITY as u64) {
            recent.remember(message(n, 0));
        }
        assert!(recent.0.order.capacity() <= RecentProviderMessages::CAPACITY);
        assert_eq!(recent.0.positions.len(), RecentProviderMessages::CAPACITY);
        let loaded: RecentProviderMessages =
            rmp_serde::from_slice(&rmp_serde::to_vec(&recent).unwrap()).unwrap();
        assert!(loaded.0.order.capacity() <= RecentProviderMessages::CAPACITY);
        assert_eq!(loaded, recent);
    }

    proptest::proptest! {
        /// Whatever form an id is kept in, it reads back as itself and is found by itself.
        #[test]
        fn every_id_is_kept_exactly(
            id in proptest::prop_oneof![
                "[A-Z]{2}[0-9a-f]{32}",
                "[A-Za-z]{2}[0-9a-fA-F]{30,34}",
                ".{0,40}",
            ],
        ) {
            let kept = IdKey::of(&id).to_owned_id();
            proptest::prop_assert_eq!(kept.with_text(str::to_owned), id.clone());
            proptest::prop_assert_eq!(kept.key(), IdKey::of(&id));
            let mut recent = RecentProviderMessages::default();
            recent.remember(ProviderMessageRef { id: id.clone(), ..message(1, 0) });
            proptest::prop_assert_eq!(recent.find(&id).map(|m| m.id), Some(id));
        }
    }

    #[test]
    fn twilio_sids_are_packed_and_other_ids_are_not() {
        let sid = "SM0123456789abcdef0123456789abcdef";
        assert!(matches!(IdKey::of(sid), IdKey::Twilio(_)));
        for other in [
            "SM0123456789ABCDEF0123456789abcdef",
            "Sm0123456789abcdef0123456789abcdef",
            "SM0123456789abcdef0123456789abcde",
            "wamid.HBgLMTY1",
            "",
            "é",
        ] {
            assert_eq!(IdKey::of(other), IdKey::Other(other));
        }
    }

    #[test]
    fn survives_its_stored_form_with_eviction_counted() {
        let mut recent = RecentProviderMessages::default();
        for n in 0..(RecentProviderMessages::CAPACITY as u64 + 3) {
            recent.remember(message(n, n as i64));
        }
        let bytes = rmp_serde::to_vec_named(&recent).unwrap();
        let back: RecentProviderMessages = rmp_serde::from_slice(&bytes).unwrap();
        assert_eq!(back, recent);
        let last = RecentProviderMessages::CAPACITY as u64 + 2;
        assert_eq!(back.find(&message(last, 0).id).map(|m| m.index), Some(last));
        assert_eq!(back.find(&message(3, 0).id).map(|m| m.index), Some(3));
    }
}
