//! Twilio-format resource identifiers: a two-letter prefix and 32 lowercase hex digits.
//!
//! A SID is stored as its prefix plus 16 raw bytes, so it is `Copy`, hashes cheaply and has a fixed
//! 18-byte binary form used in storage keys. Generating one needs randomness, which this crate does
//! not have: callers pass 16 random bytes to [`Sid::from_parts`].

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// The two-letter type prefix of a SID (`CH` channel, `IM` message, `MB` member, ...).
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SidPrefix([u8; 2]);

impl SidPrefix {
    pub const ACCOUNT: SidPrefix = SidPrefix(*b"AC");
    pub const API_KEY: SidPrefix = SidPrefix(*b"SK");
    pub const CHANNEL: SidPrefix = SidPrefix(*b"CH");
    pub const FLEX_FLOW: SidPrefix = SidPrefix(*b"FO");
    pub const INVITE: SidPrefix = SidPrefix(*b"IN");
    pub const MEDIA: SidPrefix = SidPrefix(*b"ME");
    pub const MEMBER: SidPrefix = SidPrefix(*b"MB");
    pub const MESSAGE: SidPrefix = SidPrefix(*b"IM");
    pub const ROLE: SidPrefix = SidPrefix(*b"RL");
    pub const SERVICE: SidPrefix = SidPrefix(*b"IS");
    pub const TASK: SidPrefix = SidPrefix(*b"WT");
    pub const USER: SidPrefix = SidPrefix(*b"US");
    pub const STUDIO_FLOW: SidPrefix = SidPrefix(*b"FW");
    pub const WORKSPACE: SidPrefix = SidPrefix(*b"WS");
    pub const WORKFLOW: SidPrefix = SidPrefix(*b"WW");
    pub const WEBHOOK: SidPrefix = SidPrefix(*b"WH");
    /// A person of the console (`person.rs`): Switchboard's own, Twilio has none.
    pub const PERSON: SidPrefix = SidPrefix(*b"PN");
    // TaskRouter's resources (switchboard-routing).
    pub const ACTIVITY: SidPrefix = SidPrefix(*b"WA");
    pub const TASK_CHANNEL: SidPrefix = SidPrefix(*b"TC");
    pub const TASK_QUEUE: SidPrefix = SidPrefix(*b"WQ");
    pub const WORKER: SidPrefix = SidPrefix(*b"WK");
    pub const WORKER_CHANNEL: SidPrefix = SidPrefix(*b"WC");
    pub const RESERVATION: SidPrefix = SidPrefix(*b"WR");
    pub const TASKROUTER_EVENT: SidPrefix = SidPrefix(*b"EV");
    // Studio's resources (switchboard-studio).
    pub const STUDIO_EXECUTION: SidPrefix = SidPrefix(*b"FN");
    pub const STUDIO_STEP: SidPrefix = SidPrefix(*b"FT");
    /// A data folder's own audit stream (`folder.rs`): named by the folder's id.
    pub const DATA_FOLDER: SidPrefix = SidPrefix(*b"DF");

    /// A prefix from two ASCII capital letters; `None` for anything else.
    pub const fn new(bytes: [u8; 2]) -> Option<SidPrefix> {
        if bytes[0].is_ascii_uppercase() && bytes[1].is_ascii_uppercase() {
            Some(SidPrefix(bytes))
        } else {
            None
        }
    }

    pub const fn as_bytes(&self) -> [u8; 2] {
        self.0
    }

    pub fn as_str(&self) -> &str {
        // Both bytes are ASCII capitals, checked in `new`.
        std::str::from_utf8(&self.0).unwrap_or("??")
    }
}

impl fmt::Debug for SidPrefix {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A resource identifier such as `CH0123456789abcdef0123456789abcdef`.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Sid {
    prefix: SidPrefix,
    id: [u8; 16],
}

/// Why a string is not a SID.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SidError {
    #[error("a SID is 34 characters: two capital letters and 32 hex digits")]
    Length,
    #[error("a SID starts with two capital letters")]
    Prefix,
    #[error("a SID ends with 32 hex digits")]
    Hex,
    #[error("expected a {expected} SID")]
    WrongPrefix { expected: &'static str },
}

impl Sid {
    /// The number of bytes of [`Sid::to_bytes`].
    pub const BINARY_LEN: usize = 18;

    pub const fn from_parts(prefix: SidPrefix, id: [u8; 16]) -> Sid {
        Sid { prefix, id }
    }

    pub const fn prefix(&self) -> SidPrefix {
        self.prefix
    }

    pub const fn id(&self) -> [u8; 16] {
        self.id
    }

    /// The fixed binary form used in storage keys: prefix then the 16 id bytes.
    pub fn to_bytes(&self) -> [u8; Self::BINARY_LEN] {
        let mut out = [0u8; Self::BINARY_LEN];
        out[..2].copy_from_slice(&self.prefix.0);
        out[2..].copy_from_slice(&self.id);
        out
    }

    pub fn from_bytes(bytes: &[u8]) -> Result<Sid, SidError> {
        if bytes.len() != Self::BINARY_LEN {
            return Err(SidError::Length);
        }
        let prefix = SidPrefix::new([bytes[0], bytes[1]]).ok_or(SidError::Prefix)?;
        let mut id = [0u8; 16];
        id.copy_from_slice(&bytes[2..]);
        Ok(Sid { prefix, id })
    }

    /// The SID of message `index` of `channel`: `IM`, the channel's first eight id bytes and the
    /// index (big-endian). A message's SID is derived rather than drawn so that finding a message
    /// by SID needs no index entry of its own: the SID says where the message is. Messages stored
    /// before SIDs were derived keep their drawn SIDs, found through the index by message SID.
    pub fn message_of(channel: Sid, index: u64) -> Sid {
        let mut id = [0u8; 16];
        id[..8].copy_from_slice(&channel.id[..8]);
        id[8..].copy_from_slice(&index.to_be_bytes());
        Sid { prefix: SidPrefix::MESSAGE, id }
    }

    /// The index this message SID names in `channel`, if it is derived from that channel (see
    /// [`Sid::message_of`]); `None` for other SIDs.
    pub fn message_index_in(&self, channel: Sid) -> Option<u64> {
        if self.prefix != SidPrefix::MESSAGE || self.id[..8] != channel.id[..8] {
            return None;
        }
        let index = u64::from_be_bytes(self.id[8..].try_into().ok()?);
        (Sid::message_of(channel, index) == *self).then_some(index)
    }

    /// Parses and also checks the prefix, for path parameters that must name one kind of resource.
    pub fn parse_with(text: &str, expected: SidPrefix) -> Result<Sid, SidError> {
        let sid: Sid = text.parse()?;
        if sid.prefix != expected {
            return Err(SidError::WrongPrefix { expected: kind_name(expected) });
        }
        Ok(sid)
    }
}

fn kind_name(prefix: SidPrefix) -> &'static str {
    match &prefix.0 {
        b"CH" => "CH (channel)",
        b"IM" => "IM (message)",
        b"MB" => "MB (member)",
        b"IS" => "IS (service)",
        b"FO" => "FO (Flex Flow)",
        b"US" => "US (user)",
        b"WT" => "WT (task)",
        b"RL" => "RL (role)",
        b"SK" => "SK (API key)",
        b"AC" => "AC (account)",
        b"DF" => "DF (data folder)",
        b"WS" => "WS (workspace)",
        b"WA" => "WA (activity)",
        b"TC" => "TC (task channel)",
        b"WQ" => "WQ (task queue)",
        b"WW" => "WW (workflow)",
        b"WK" => "WK (worker)",
        b"WC" => "WC (worker channel)",
        b"WR" => "WR (reservation)",
        b"EV" => "EV (event)",
        b"FW" => "FW (Studio flow)",
        b"FN" => "FN (execution)",
        b"FT" => "FT (step)",
        _ => "other",
    }
}

impl FromStr for Sid {
    type Err = SidError;

    fn from_str(text: &str) -> Result<Sid, SidError> {
        let bytes = text.as_bytes();
        if bytes.len() != 34 {
            return Err(SidError::Length);
        }
        let prefix = SidPrefix::new([bytes[0], bytes[1]]).ok_or(SidError::Prefix)?;
        let mut id = [0u8; 16];
        for (i, pair) in bytes[2..].chunks_exact(2).enumerate() {
            id[i] = (hex_digit(pair[0])? << 4) | hex_digit(pair[1])?;
        }
        Ok(Sid { prefix, id })
    }
}

// Twilio's pattern accepts either case; we always print lowercase.
fn hex_digit(c: u8) -> Result<u8, SidError> {
    match c {
        b'0'..=b'9' => Ok(c - b'0'),
        b'a'..=b'f' => Ok(c - b'a' + 10),
        b'A'..=b'F' => Ok(c - b'A' + 10),
        _ => Err(SidError::Hex),
    }
}

impl Sid {
    /// The text form, built on the stack: prefix letters and lowercase hex are ASCII.
    fn text(&self) -> [u8; 34] {
        const HEX: &[u8; 16] = b"0123456789abcdef";
        let mut out = [0u8; 34];
        out[..2].copy_from_slice(&self.prefix.0);
        for (i, b) in self.id.iter().enumerate() {
            out[2 + 2 * i] = HEX[usize::from(b >> 4)];
            out[3 + 2 * i] = HEX[usize::from(b & 0x0f)];
        }
        out
    }
}

impl fmt::Display for Sid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(std::str::from_utf8(&self.text()).map_err(|_| fmt::Error)?)
    }
}

impl fmt::Debug for Sid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

// SIDs are serialized as their text form for people (JSON: replay, the API, frames) and as their
// 18 bytes for machines (MessagePack: records, snapshots), 20 bytes stored instead of 36 in every
// record that names one (a message's record is 16 bytes smaller). Both forms are read from
// MessagePack: records written before (folder format 3 and older) hold the text.
impl Serialize for Sid {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        if !serializer.is_human_readable() {
            return serializer.serialize_bytes(&self.to_bytes());
        }
        // Not `collect_str`: most serializers would format into a fresh `String` first.
        let text = self.text();
        serializer.serialize_str(std::str::from_utf8(&text).map_err(serde::ser::Error::custom)?)
    }
}

impl<'de> Deserialize<'de> for Sid {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Sid, D::Error> {
        if deserializer.is_human_readable() {
            deserializer.deserialize_str(StoredSid)
        } else {
            deserializer.deserialize_any(StoredSid)
        }
    }
}

/// Reads a SID stored in either form: its bytes, or (written before) its text.
struct StoredSid;

impl<'de> serde::de::Visitor<'de> for StoredSid {
    type Value = Sid;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a SID, as its 18 bytes or its text")
    }

    fn visit_bytes<E: serde::de::Error>(self, bytes: &[u8]) -> Result<Sid, E> {
        Sid::from_bytes(bytes).map_err(E::custom)
    }

    fn visit_str<E: serde::de::Error>(self, text: &str) -> Result<Sid, E> {
        text.parse().map_err(E::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_and_binary_round_trip() {
        let sid: Sid = "CH0123456789abcdef0123456789ABCDEF".parse().unwrap();
        assert_eq!(sid.to_string(), "CH0123456789abcdef0123456789abcdef");
        assert_eq!(Sid::from_bytes(&sid.to_bytes()).unwrap(), sid);
        assert_eq!(sid.prefix(), SidPrefix::CHANNEL);
    }

    #[test]
    fn messagepack_holds_the_bytes_and_reads_the_text_stored_before() {
        let sid: Sid = "CH0123456789abcdef0123456789abcdef".parse().unwrap();
        let stored = rmp_serde::to_vec(&sid).unwrap();
        assert_eq!(stored.len(), 2 + Sid::BINARY_LEN);
        assert_eq!(&stored[2..], &sid.to_bytes());
        assert_eq!(rmp_serde::from_slice::<Sid>(&stored).unwrap(), sid);
        // The form of records written before: the text, as a MessagePack string.
        let older = rmp_serde::to_vec(&sid.to_string()).unwrap();
        assert_eq!(rmp_serde::from_slice::<Sid>(&older).unwrap(), sid);
        assert!(rmp_serde::from_slice::<Sid>(&rmp_serde::to_vec(&[7u8; 5][..]).unwrap()).is_err());
        assert_eq!(serde_json::to_string(&sid).unwrap(), format!("\"{sid}\""));
        assert_eq!(serde_json::from_str::<Sid>(&format!("\"{sid}\"")).unwrap(), sid);
    }

    #[test]
    fn rejects_malformed_text() {
        assert_eq!("CH123".parse::<Sid>(), Err(SidError::Length));
        assert_eq!("ch0123456789abcdef0123456789abcdef".parse::<Sid>(), Err(SidError::Prefix));
        assert_eq!("CH0123456789abcdef0123456789abcdeg".parse::<Sid>(), Err(SidError::Hex));
        assert!(Sid::parse_with("IM0123456789abcdef0123456789abcdef", SidPrefix::CHANNEL).is_err());
    }

    #[test]
    fn a_message_sid_says_its_channel_and_index() {
        let channel: Sid = "CH0123456789abcdef0123456789abcdef".parse().unwrap();
        let other: Sid = "CH0123456789abcdff0123456789abcdef".parse().unwrap();
        let message = Sid::message_of(channel, 258);
        assert_eq!(message.to_string(), "IM0123456789abcdef0000000000000102");
        assert_eq!(message.message_index_in(channel), Some(258));
        assert_eq!(message.message_index_in(other), None);
        let drawn: Sid = "IMfedcba98765432100123456789abcdef".parse().unwrap();
        assert_eq!(drawn.message_index_in(channel), None);
        let not_a_message = Sid::from_parts(SidPrefix::MEMBER, message.id());
        assert_eq!(not_a_message.message_index_in(channel), None);
    }
}
