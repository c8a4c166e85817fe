//! Exhaustive tamper tests of the verify core (`verify_entries`), run over in-memory copies of the
//! `E` and `H` entries of a real, closed log (3 channels of 6 records, one of them shredded): every
//! bit of every record and head flipped, records deleted, truncated, swapped and moved between
//! channels — each reported, by the key-less check alone, at (or right after) the damaged record.

use std::collections::BTreeMap;

use switchboard_crypto::MasterKey;
use switchboard_domain::{
    ChannelCommand, ChannelKind, ErasureReason, MessageSource, NewChannel, NewMessage, Sid,
    SidPrefix, Timestamp,
};

use super::*;
use crate::record::RECORD_HEADER_LEN;
use crate::{ChannelLog, Durability, StoreConfig};

type Entries = BTreeMap<Vec<u8>, Vec<u8>>;

const CHANNELS: u32 = 3;
const RECORDS: u64 = 6;

fn sid(prefix: SidPrefix, n: u32) -> Sid {
    let mut id = [0u8; 16];
    id[12..].copy_from_slice(&n.to_be_bytes());
    Sid::from_parts(prefix, id)
}

fn channel(n: u32) -> Sid {
    sid(SidPrefix::CHANNEL, n)
}

fn post(n: u32, provider: bool) -> ChannelCommand {
    ChannelCommand::PostMessage(NewMessage {
        author: format!("author {n}"),
        body: format!("body {n}"),
        attributes: "{}".into(),
        media: None,
        source: MessageSource::Customer,
        provider_message_id: provider.then(|| format!("SM{n}")),
    })
}

/// A real log, closed: the folder, its key and its `E` and `H` entries. Channel 1 is created
/// with 5 messages, channel 2 with a member, 3 messages and a deactivation, channel 3 with 4
/// messages and then shredded (5 shredded records and the clear erasure marker).
struct Fixture {
    dir: tempfile::TempDir,
    key: MasterKey,
    events: Entries,
    heads: Entries,
}

fn config(dir: &Path) -> StoreConfig {
    let mut config = StoreConfig::new(dir);
    config.durability = Durability::Flush;
    config.snapshot_every = 4;
    config
}

fn fixture() -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let key = MasterKey::generate();
    let log = EventLog::open(config(dir.path()), key.clone()).unwrap();
    for n in 1..=CHANNELS {
        let new = NewChannel {
            channel_sid: channel(n),
            service_sid: sid(SidPrefix::SERVICE, 1),
            kind: ChannelKind::Private,
            friendly_name: Some(format!("channel {n}")),
            unique_name: Some(format!("unique {n}")),
            attributes: "{}".into(),
            created_by: "system".into(),
            flex_flow_sid: Some(sid(SidPrefix::FLEX_FLOW, 1)),
            customer_address: Some(format!("+1415555000{n}")),
            long_lived: false,
            janitor_enabled: true,
            carried_provider_messages: Vec::new(),
        };
        let (mut ch, _) = ChannelLog::create(&log, new, Timestamp(1)).unwrap().unwrap();
        let mut commands: Vec<ChannelCommand> = match n {
            1 => (0..5).map(|i| post(100 + i, true)).collect(),
            2 => vec![
                ChannelCommand::AddMember {
                    member_sid: sid(SidPrefix::MEMBER, 1),
                    identity: "agent".into(),
                    role_sid: None,
                    attributes: "{}".into(),
                },
                post(200, false),
                post(201, true),
                post(202, false),
                ChannelCommand::Deactivate,
            ],
            _ => (0..4).map(|i| post(300 + i, i % 2 == 0)).collect(),
        };
        for (i, command) in commands.drain(..).enumerate() {
            ch.execute(&log, command, Timestamp(2 + i as i64)).unwrap().unwrap();
        }
        if n == 3 {
            let done = ch.shred(&log, ErasureReason::SubjectRequest, Timestamp(50)).unwrap();
            log.wait_durable_blocking(done.ticket).unwrap();
        }
    }
    log.close().unwrap();
    let raw = RawLog::open(dir.path()).unwrap();
    let collect = |prefix: u8| -> Entries {
        raw.tree()
            .scan_prefix([prefix])
            .map(|e| e.unwrap())
            .map(|(k, v)| (k.to_vec(), v.to_vec()))
            .collect()
    };
    let (events, heads) = (collect(EVENT), collect(HEAD));
    assert_eq!(events.len() as u64, u64::from(CHANNELS) * RECORDS);
    assert_eq!(heads.len(), CHANNELS as usize);
    Fixture { dir, key, events, heads }
}

impl Fixture {
    /// The log reopened with its key, for checks that open records.
    fn open(&self) -> EventLog {
        EventLog::open(config(self.dir.path()), self.key.clone()).unwrap()
    }
}

/// What `verify` reports over these entries; `None` when it refuses them outright (a head key
/// that names no stream, which `read_heads` turns into an error).
fn verify(
    events: &Entries,
    heads: &Entries,
    open: Option<&RecordOpener<'_>>,
) -> Option<VerifyReport> {
    let mut parsed = BTreeMap::new();
    for (key, value) in heads {
        parsed.insert(layout::parse_stream_key(key)?, Head::from_bytes(value));
    }
    let iter = events.iter().map(|(k, v)| Ok::<_, String>((k.as_slice(), v.as_slice())));
    let single = verify_entries(iter, &parsed, open, PastHead::Finding, &mut |_| {});
    // The parallel verify over the same entries, split into ranges of one stream each and
    // checked by three threads, reports exactly what the single pass does.
    let scan = |from: Vec<u8>, to: Vec<u8>| {
        events.range(from..to).map(|(k, v)| Ok::<_, String>((k.as_slice(), v.as_slice())))
    };
    let split = verify_split(&scan, &parsed, open, PastHead::Finding, 3, &mut |_| {});
    assert_eq!(split, single, "the parallel verify differs from a single pass");
    Some(single)
}

/// The first finding of a damaged copy; panics if the damage went unreported.
#[track_caller]
fn first_finding(
    events: &Entries,
    heads: &Entries,
    open: Option<&RecordOpener<'_>>,
    what: &str,
) -> Option<Finding> {
    match verify(events, heads, open) {
        None => None,
        Some(report) => {
            assert!(!report.is_clean(), "unreported: {what}");
            Some(report.findings[0].clone())
        }
    }
}

fn full_opener(log: &EventLog) -> impl Fn(Sid, u64, &[u8]) -> Result<bool, String> + Sync + '_ {
    move |stream, seq, bytes| match log.open_any(stream, seq, bytes) {
        Ok(ReplayRecord::Event { .. }) => Ok(false),
        Ok(ReplayRecord::Shredded { .. }) => Ok(true),
        Err(error) => Err(error.to_string()),
    }
}

fn split(key: &[u8]) -> (Sid, u64) {
    layout::parse_event_key(key).unwrap()
}

#[test]
fn the_untouched_log_is_clean_in_every_mode() {
    let f = fixture();
    let report = verify(&f.events, &f.heads, None).unwrap();
    assert!(report.is_clean(), "{:?}", report.findings);
    assert_eq!((report.streams, report.records), (3, 18));

    let log = f.open();
    let open = full_opener(&log);
    let report = verify(&f.events, &f.heads, Some(&open)).unwrap();
    assert!(report.is_clean(), "{:?}", report.findings);
    assert_eq!(report.shredded_records, 5);

    let shredded = shredded_keys(log.tree()).unwrap();
    let count = key_less_opener(&shredded);
    let report = verify(&f.events, &f.heads, Some(&count)).unwrap();
    assert!(report.is_clean(), "{:?}", report.findings);
    assert_eq!(report.shredded_records, 5, "the tombstones say so without any key");
}

#[test]
fn every_flipped_bit_of_every_record_is_reported_at_that_record() {
    let f = fixture();
    let mut events = f.events.clone();
    let keys: Vec<Vec<u8>> = events.keys().cloned().collect();
    let mut checked = 0;
    for key in &keys {
        let (stream, seq) = split(key);
        for at in 0..events[key].len() {
            for bit in 0..8 {
                events.get_mut(key).unwrap()[at] ^= 1 << bit;
                let what = format!("{stream} #{seq} byte {at} bit {bit}");
                let found = first_finding(&events, &f.heads, None, &what).unwrap();
                // The chain names the record itself (its header) or the next one (or the head,
                // for the last record).
                assert_eq!(found.stream, stream, "{what}: {found}");
                assert!(found.seq == seq || found.seq == seq + 1, "{what}: {found}");
                events.get_mut(key).unwrap()[at] ^= 1 << bit;
                checked += 1;
            }
        }
    }
    assert_eq!(events, f.events);
    assert!(checked > 18 * 8 * RECORD_HEADER_LEN, "{checked} flips");
}

#[test]
fn with_keys_a_flipped_bit_in_a_sealed_body_is_named_at_its_own_record() {
    let f = fixture();
    let log = f.open();
    let open = full_opener(&log);
    let mut events = f.events.clone();
    let keys: Vec<Vec<u8>> = events.keys().filter(|&k| split(k).0 != channel(3)).cloned().collect();
    for key in &keys {
        let (stream, seq) = split(key);
        for at in RECORD_HEADER_LEN..events[key].len() {
            events.get_mut(key).unwrap()[at] ^= 0x80;
            let what = format!("{stream} #{seq} byte {at}");
            let found = first_finding(&events, &f.heads, Some(&open), &what).unwrap();
            assert_eq!((found.stream, found.seq), (stream, seq), "{what}: {found}");
            assert!(found.problem.contains("authentication tag"), "{what}: {found}");
            events.get_mut(key).unwrap()[at] ^= 0x80;
        }
    }
}

#[test]
fn every_flipped_bit_of_every_head_is_reported() {
    let f = fixture();
    let mut heads = f.heads.clone();
    let keys: Vec<Vec<u8>> = heads.keys().cloned().collect();
    for key in &keys {
        let stream = layout::parse_stream_key(key).unwrap();
        for at in 0..heads[key].len() {
            for bit in 0..8 {
                heads.get_mut(key).unwrap()[at] ^= 1 << bit;
                let what = format!("head of {stream} byte {at} bit {bit}");
                let found = first_finding(&f.events, &heads, None, &what).unwrap();
                assert_eq!(found.stream, stream, "{what}: {found}");
                heads.get_mut(key).unwrap()[at] ^= 1 << bit;
            }
        }
        // A head moved to another key: its stream has none, or the key names no stream.
        for at in 1..key.len() {
            let mut moved = f.heads.clone();
            let value = moved.remove(key).unwrap();
            let mut other = key.clone();
            other[at] ^= 0x01;
            moved.insert(other, value);
            first_finding(&f.events, &moved, None, &format!("head key byte {at}"));
        }
        let mut removed = f.heads.clone();
        removed.remove(key);
        let found = first_finding(&f.events, &removed, None, "a removed head").unwrap();
        assert_eq!(found.stream, stream);
    }
}

#[test]
fn every_flipped_bit_of_every_record_key_is_reported() {
    let f = fixture();
    for key in f.events.keys() {
        for at in 0..key.len() {
            for bit in 0..8 {
                let mut moved = f.events.clone();
                let value = moved.remove(key).unwrap();
                // A flipped prefix byte takes the record out of the `E` range: it is just gone.
                if at > 0 {
                    let mut other = key.clone();
                    other[at] ^= 1 << bit;
                    moved.insert(other, value);
                }
                let what = format!("{:?} key byte {at} bit {bit}", split(key));
                first_finding(&moved, &f.heads, None, &what).unwrap();
            }
        }
    }
}

#[test]
fn deleted_truncated_swapped_and_moved_records_are_reported() {
    let f = fixture();
    let log = f.open();
    let open = full_opener(&log);
    let at = |n: u32, seq: u64| layout::event_key(channel(n), seq).to_vec();
    for n in 1..=CHANNELS {
        // Any one record deleted: the middle ones and the last (a truncation, head untouched).
        for seq in 0..RECORDS {
            let mut deleted = f.events.clone();
            deleted.remove(&at(n, seq));
            let what = format!("channel {n} record {seq} deleted");
            let found = first_finding(&deleted, &f.heads, None, &what).unwrap();
            assert_eq!((found.stream, found.seq), (channel(n), seq), "{what}: {found}");
        }
        // Any two records of a stream swapped.
        for a in 0..RECORDS {
            for b in a + 1..RECORDS {
                let mut swapped = f.events.clone();
                let (ra, rb) = (f.events[&at(n, a)].clone(), f.events[&at(n, b)].clone());
                swapped.insert(at(n, a), rb);
                swapped.insert(at(n, b), ra);
                let what = format!("channel {n} records {a} and {b} swapped");
                let found = first_finding(&swapped, &f.heads, None, &what).unwrap();
                assert_eq!(found.stream, channel(n), "{what}: {found}");
                assert!(found.seq <= a + 1, "{what}: {found}");
            }
        }
        // The record at the same place in another channel put in its stead.
        for other in (1..=CHANNELS).filter(|o| *o != n) {
            for seq in 0..RECORDS {
                let mut moved = f.events.clone();
                moved.insert(at(n, seq), f.events[&at(other, seq)].clone());
                let what = format!("channel {other} record {seq} moved to channel {n}");
                let found = first_finding(&moved, &f.heads, None, &what).unwrap();
                assert_eq!(found.stream, channel(n), "{what}: {found}");
                // With keys, a record moved into a readable stream does not even open: even
                // record 0, whose predecessor hash (zero) is the same everywhere. (In the
                // shredded channel nothing opens; there the chain alone speaks.)
                if n != 3 {
                    let found = first_finding(&moved, &f.heads, Some(&open), &what).unwrap();
                    assert_eq!((found.stream, found.seq), (channel(n), seq), "{what}: {found}");
                }
            }
        }
        // A whole stream's records gone, its head left behind.
        let mut emptied = f.events.clone();
        emptied.retain(|k, _| split(k).0 != channel(n));
        let found = first_finding(&emptied, &f.heads, None, "a stream emptied").unwrap();
        assert_eq!(found.stream, channel(n));
        // A record appended past the head (a forged or unfinished append).
        let mut extended = f.events.clone();
        extended.insert(at(n, RECORDS), f.events[&at(n, RECORDS - 1)].clone());
        first_finding(&extended, &f.heads, None, "a record past the head").unwrap();
    }
}
