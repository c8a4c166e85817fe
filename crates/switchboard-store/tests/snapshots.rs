//! Snapshots: written every `snapshot_every` events, and `ChannelLog::load` (snapshot + tail)
//! equals the full replay; a damaged, foreign or stale snapshot never changes the result; a
//! channel of 100 000 events rehydrates from its snapshot without reading its early records.

mod support;

use support::{channel_sid, channel_with, events, message, new_channel, stream_key, TempLog};
use switchboard_domain::{
    ChannelCommand, ChannelState, MessageSource, NewMessage, Recorded, Timestamp,
};
use switchboard_store::{ChannelLog, StoreError};

fn snapshot(log: &switchboard_store::EventLog, n: u32) -> Option<(u64, ChannelState)> {
    log.load_snapshot(channel_sid(n)).unwrap()
}

#[test]
fn a_snapshot_is_written_every_few_events_and_load_equals_full_replay() {
    let temp = TempLog::new();
    let log = temp.open(10);
    let mut channel = channel_with(&log, 1, "+14155550001", 8);
    assert!(snapshot(&log, 1).is_none(), "9 events: no snapshot before the 10th");
    for i in 8..25 {
        let at = Timestamp(100 + i64::from(i));
        channel.execute(&log, message(1000 + i, "c", &format!("m{i}")), at).unwrap().unwrap();
    }
    // 26 events: snapshots after 10 and 20 events; the latest covers 20.
    let all = events(&log, channel.sid());
    assert_eq!(all.len(), 26);
    let (covered, state) = snapshot(&log, 1).expect("a snapshot was written");
    assert_eq!(covered, 20);
    assert_eq!(state, ChannelState::replay(&all[..20]));
    let loaded = ChannelLog::load(&log, channel.sid()).unwrap();
    assert_eq!(loaded.state(), &ChannelState::replay(&all));
    assert_eq!(loaded.state(), channel.state());
    log.close().unwrap();
    let log = temp.open(10);
    assert_eq!(
        ChannelLog::load(&log, channel_sid(1)).unwrap().state(),
        &ChannelState::replay(&all)
    );
}

#[test]
fn damaged_foreign_or_stale_snapshots_never_change_the_loaded_state() {
    let temp = TempLog::new();
    let key = stream_key(b'S', channel_sid(1));
    let (expected, stale, foreign) = {
        let log = temp.open(4);
        let mut channel = channel_with(&log, 1, "+14155550001", 5);
        channel_with(&log, 2, "+14155550002", 9);
        log.close().unwrap();
        let stale = temp.entries(b'S')[&key].clone();
        let foreign = temp.entries(b'S')[&stream_key(b'S', channel_sid(2))].clone();
        let log = temp.open(4);
        for i in 5..9 {
            channel.execute(&log, message(1000 + i, "c", "more"), Timestamp(50)).unwrap().unwrap();
        }
        let expected = ChannelState::replay(&events(&log, channel_sid(1)));
        assert_eq!(expected.events_applied, 10);
        assert_eq!(snapshot(&log, 1).map(|s| s.0), Some(8));
        log.close().unwrap();
        (expected, stale, foreign)
    };
    let good = temp.entries(b'S')[&key].clone();
    let flip = |at: usize| {
        let mut bytes = good.clone();
        bytes[at] ^= 0x01;
        bytes
    };
    let cases: Vec<(&str, Vec<u8>)> = vec![
        ("version byte", flip(0)),
        ("key id", flip(4)),
        ("events applied", flip(12)),
        ("nonce", flip(13)),
        ("ciphertext", flip(good.len() / 2)),
        ("tag", flip(good.len() - 1)),
        ("truncated", good[..good.len() - 1].to_vec()),
        ("header only", good[..13].to_vec()),
        ("empty", Vec::new()),
        ("another channel's snapshot", foreign),
        ("overwritten with junk", vec![0xAB; good.len()]),
    ];
    for (what, bytes) in cases {
        temp.tamper(|tree| {
            tree.insert(&key, bytes).unwrap();
        });
        let log = temp.open(4);
        assert!(snapshot(&log, 1).is_none(), "{what}: the snapshot must be ignored");
        assert_eq!(ChannelLog::load(&log, channel_sid(1)).unwrap().state(), &expected, "{what}");
        log.close().unwrap();
    }
    // An older snapshot of the same channel is authentic: it is used, and the tail replayed on it.
    temp.tamper(|tree| {
        tree.insert(&key, stale).unwrap();
    });
    let log = temp.open(4);
    assert_eq!(snapshot(&log, 1).map(|s| s.0), Some(4));
    assert_eq!(ChannelLog::load(&log, channel_sid(1)).unwrap().state(), &expected);
}

/// A message without a provider id (so without an index entry): the cheapest append there is.
fn agent_message(n: u32) -> ChannelCommand {
    ChannelCommand::PostMessage(NewMessage {
        author: "agent".into(),
        body: format!("message {n}"),
        attributes: "{}".into(),
        media: None,
        source: MessageSource::Agent,
        provider_message_id: None,
    })
}

#[test]
fn a_channel_of_100_000_events_rehydrates_from_its_snapshot() {
    const MESSAGES: u32 = 100_000;
    const BATCH: u32 = 100;
    const TAIL: u32 = 7;
    let temp = TempLog::new();
    let expected = {
        let log = temp.open(1000);
        let (mut channel, _) =
            ChannelLog::create(&log, new_channel(1, "+14155550001"), Timestamp(0))
                .unwrap()
                .unwrap();
        let mut last = None;
        for batch in 0..MESSAGES / BATCH {
            let commands: Vec<ChannelCommand> =
                (0..BATCH).map(|i| agent_message(batch * BATCH + i)).collect();
            let done =
                channel.execute_all(&log, commands, Timestamp(i64::from(batch))).unwrap().unwrap();
            last = done.ticket;
        }
        // A short tail after the last snapshot, so rehydration replays some records too.
        for i in 0..TAIL {
            let done = channel
                .execute(&log, agent_message(MESSAGES + i), Timestamp(1 << 20))
                .unwrap()
                .unwrap();
            last = done.ticket;
        }
        log.wait_durable_blocking(last.unwrap()).unwrap();
        assert_eq!(channel.state().events_applied, u64::from(MESSAGES + TAIL) + 1);
        let (covered, _) = snapshot(&log, 1).expect("snapshots were written");
        assert_eq!(covered, u64::from(MESSAGES) + 1, "the last batch crossed the 100 000 mark");
        log.close().unwrap();
        channel.state().clone()
    };
    // Spoil record 0 (the creation): a rehydration that read it would fail or differ.
    temp.tamper(|tree| {
        let key = support::event_key(channel_sid(1), 0);
        let mut record = tree.get(&key).unwrap().unwrap().to_vec();
        let last = record.len() - 1;
        record[last] ^= 0x01;
        tree.insert(key, record).unwrap();
    });
    let log = temp.open(1000);
    assert!(matches!(
        log.read::<Recorded>(channel_sid(1), 0).next(),
        Some(Err(StoreError::Corrupt { seq: 0, .. }))
    ));
    let loaded = ChannelLog::load(&log, channel_sid(1)).unwrap();
    assert_eq!(loaded.state(), &expected);
    assert_eq!(loaded.state().next_message_index, u64::from(MESSAGES + TAIL));
    assert_eq!(loaded.state().sid, Some(channel_sid(1)), "the creation came from the snapshot");
}
