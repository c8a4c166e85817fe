//! Snapshot plus tail equals full replay, on a real log, for random command sequences; corrupt
//! snapshots are ignored; every event type round-trips through the log.

mod support;

use proptest::prelude::*;
use support::{new_channel, sid, TempLog};
use switchboard_domain::{
    ChannelCommand, ChannelState, DeliveryStatus, Media, MessageSource, NewMessage, ProviderError,
    Recorded, SidPrefix, TaskOutcome, Timestamp,
};
use switchboard_store::{ChannelLog, EventLog, ReplayRecord};

fn all_events(log: &EventLog, channel: switchboard_domain::Sid) -> Vec<Recorded> {
    log.read::<Recorded>(channel, 0)
        .map(|r| match r.unwrap() {
            ReplayRecord::Event { event, .. } => event,
            ReplayRecord::Shredded { .. } => panic!("nothing is shredded here"),
        })
        .collect()
}

fn command(kind: u8, n: u32) -> ChannelCommand {
    let member = sid(SidPrefix::MEMBER, n % 3);
    match kind % 10 {
        0..=2 => ChannelCommand::PostMessage(NewMessage {
            message_sid: sid(SidPrefix::MESSAGE, n),
            author: format!("author {}", n % 4),
            body: format!("body {n}"),
            attributes: "{}".into(),
            media: n.is_multiple_of(5).then(|| Media {
                sid: sid(SidPrefix::MEDIA, n),
                content_type: "image/png".into(),
                size_bytes: u64::from(n),
                filename: None,
                provider_ref: None,
            }),
            source: if n.is_multiple_of(2) {
                MessageSource::Customer
            } else {
                MessageSource::Agent
            },
            provider_message_id: None,
        }),
        3 => ChannelCommand::AddMember {
            member_sid: member,
            identity: format!("id {}", n % 3),
            role_sid: None,
            attributes: "{}".into(),
        },
        4 => ChannelCommand::UpdateReadHorizon {
            member_sid: member,
            last_consumed_index: Some(u64::from(n % 7)),
        },
        5 => ChannelCommand::EditMessage {
            index: u64::from(n % 6),
            body: Some(format!("edited {n}")),
            attributes: None,
            edited_by: None,
        },
        6 => ChannelCommand::RecordDelivery {
            index: u64::from(n % 6),
            status: [
                DeliveryStatus::Sent,
                DeliveryStatus::Delivered,
                DeliveryStatus::Read,
                DeliveryStatus::Failed,
            ][n as usize % 4],
            error: (n % 4 == 3)
                .then(|| ProviderError { code: "30003".into(), message: "unreachable".into() }),
        },
        7 => ChannelCommand::LinkTask {
            task_sid: sid(SidPrefix::TASK, n % 4),
            attributes: "{}".into(),
            priority: 1,
            timeout_secs: 60,
        },
        8 => ChannelCommand::EndTask {
            task_sid: sid(SidPrefix::TASK, n % 4),
            outcome: TaskOutcome::Completed,
        },
        _ => {
            if n.is_multiple_of(2) {
                ChannelCommand::Deactivate
            } else {
                ChannelCommand::Reactivate
            }
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(24))]

    #[test]
    fn snapshot_plus_tail_equals_full_replay(kinds in proptest::collection::vec(any::<u8>(), 1..60), every in 2u64..8) {
        let temp = TempLog::new();
        let log = temp.open(every);
        let (mut channel, _) = ChannelLog::create(&log, new_channel(1, "+14155550001"), Timestamp(0)).unwrap().unwrap();
        for (n, kind) in kinds.iter().enumerate() {
            let n = u32::try_from(n).unwrap();
            // Rejected commands are part of the test: they must leave no trace.
            let _ = channel.execute(&log, command(*kind, n), Timestamp(i64::from(n) + 1)).unwrap();
        }
        log.flush().unwrap();
        let full = ChannelState::replay(&all_events(&log, channel.sid()));
        prop_assert_eq!(&full, channel.state());
        let loaded = ChannelLog::load(&log, channel.sid()).unwrap();
        prop_assert_eq!(loaded.state(), &full);
    }
}

#[test]
fn a_corrupt_snapshot_is_ignored_and_the_state_is_rebuilt() {
    let temp = TempLog::new();
    let channel_sid = {
        let log = temp.open(2);
        let channel = support::channel_with(&log, 1, "+14155550001", 9);
        log.close().unwrap();
        channel.sid()
    };
    let expected = {
        let log = temp.open(2);
        ChannelState::replay(&all_events(&log, channel_sid))
    };
    {
        let raw = switchboard_store::RawLog::open(&temp.path()).unwrap();
        let mut key = vec![b'S'];
        key.extend_from_slice(&channel_sid.to_bytes());
        let mut snapshot = raw.tree().get(&key).unwrap().expect("a snapshot was written").to_vec();
        let last = snapshot.len() - 1;
        snapshot[last] ^= 0xff;
        raw.tree().insert(key, snapshot).unwrap();
        raw.tree().flush().unwrap();
    }
    let log = temp.open(2);
    assert_eq!(ChannelLog::load(&log, channel_sid).unwrap().state(), &expected);
}

#[test]
fn a_long_channel_rehydrates_from_its_snapshot() {
    let temp = TempLog::new();
    let log = temp.open(1000);
    let (mut channel, _) =
        ChannelLog::create(&log, new_channel(1, "+14155550001"), Timestamp(0)).unwrap().unwrap();
    for n in 0..100_000u32 {
        channel.execute(&log, command(0, n), Timestamp(i64::from(n))).unwrap().unwrap();
    }
    log.flush().unwrap();
    let snapshot: Option<(u64, ChannelState)> = log.load_snapshot(channel.sid()).unwrap();
    let (covered, _) = snapshot.expect("snapshots were written");
    assert!(
        covered >= 99_000,
        "the snapshot covers all but the last few hundred events ({covered})"
    );
    let loaded = ChannelLog::load(&log, channel.sid()).unwrap();
    assert_eq!(loaded.state(), channel.state());
    assert_eq!(loaded.state().next_message_index, 100_000);
}
