//! Contract tests of the log through `ChannelLog`: every event type reads back as written, a
//! conflicting append writes nothing, a reopened folder keeps heads, keys and indexes, and the
//! index lookups (bindings, unique names, provider message ids) follow the channels' state.

mod support;

use support::{
    channel_sid, channel_with, events, flow, message, new_channel, service, sid, TempLog,
};
use switchboard_domain::{
    ChannelCommand, ChannelEvent, ChannelState, DeliveryStatus, DomainEvent, ErasureReason,
    IndexEntry, IndexKind, Media, MessageSource, NewMessage, ProviderError, Recorded, SidPrefix,
    TaskOutcome, Timestamp,
};
use switchboard_store::{ChannelLog, EventLog, IndexChanges, StoreError, VerifyMode};

/// Commands that, run in this order on a long-lived channel with the janitor on, produce every
/// variant of `ChannelEvent` at least once.
fn every_event_commands() -> Vec<ChannelCommand> {
    let member = sid(SidPrefix::MEMBER, 1);
    let (task_1, task_2) = (sid(SidPrefix::TASK, 1), sid(SidPrefix::TASK, 2));
    vec![
        ChannelCommand::UpdateAttributes { attributes: r#"{"status":"ACTIVE","x":1}"#.into() },
        ChannelCommand::Rename {
            friendly_name: Some("renamed ✓".into()),
            unique_name: Some("renamed-unique".into()),
        },
        ChannelCommand::AddMember {
            member_sid: member,
            identity: "agent@example.com".into(),
            role_sid: None,
            attributes: r#"{"role":"agent"}"#.into(),
        },
        ChannelCommand::UpdateMember {
            member_sid: member,
            role_sid: Some(sid(SidPrefix::ROLE, 1)),
            attributes: Some(r#"{"role":"lead"}"#.into()),
        },
        ChannelCommand::PostMessage(NewMessage {
            author: "+14155550100".into(),
            body: "hello — with ünïcödé and an emoji 🚀".into(),
            attributes: r#"{"k":"v"}"#.into(),
            media: Some(Media {
                sid: sid(SidPrefix::MEDIA, 1),
                content_type: "image/jpeg".into(),
                size_bytes: 123_456,
                filename: Some("photo.jpg".into()),
                provider_ref: Some("https://api.twilio.com/media/ME1".into()),
                fetch: false,
            }),
            source: MessageSource::Customer,
            provider_message_id: Some("SM0001".into()),
        }),
        ChannelCommand::EditMessage {
            index: 0,
            body: Some("edited".into()),
            attributes: Some("{}".into()),
            edited_by: Some("agent@example.com".into()),
        },
        ChannelCommand::RecordDelivery {
            index: 0,
            status: DeliveryStatus::Failed,
            error: Some(ProviderError { code: "30003".into(), message: "Unreachable".into() }),
        },
        ChannelCommand::UpdateReadHorizon { member_sid: member, last_consumed_index: Some(0) },
        ChannelCommand::LinkTask {
            task_sid: task_1,
            attributes: r#"{"channelType":"sms"}"#.into(),
            priority: -3,
            timeout_secs: 86_400,
        },
        // Ends the only task: TaskEnded, then ChannelDeactivated (interaction ended).
        ChannelCommand::EndTask { task_sid: task_1, outcome: TaskOutcome::Completed },
        // The customer writes to the inactive long-lived channel: reactivated, then the message.
        message(2, "+14155550100", "back again"),
        ChannelCommand::RemoveMessage { index: 1 },
        ChannelCommand::LinkTask {
            task_sid: task_2,
            attributes: "{}".into(),
            priority: 0,
            timeout_secs: 60,
        },
        // Quiet for a day: the task is canceled and the channel deactivated for inactivity.
        ChannelCommand::RetireIfIdle { now: Timestamp(86_400_000), window_millis: 60_000 },
        ChannelCommand::Reactivate,
        ChannelCommand::Deactivate,
        ChannelCommand::RemoveMember { member_sid: member },
        ChannelCommand::Erase { reason: ErasureReason::Operator },
    ]
}

#[test]
fn every_event_type_reads_back_exactly_as_written() {
    let temp = TempLog::new();
    let log = temp.open(4);
    let mut new = new_channel(1, "+14155550100");
    new.long_lived = true;
    let (mut channel, created) = ChannelLog::create(&log, new, Timestamp(10)).unwrap().unwrap();
    let mut written: Vec<(u64, Recorded)> =
        created.events.iter().map(|e| (0, Recorded::new(Timestamp(10), e.clone()))).collect();
    for (i, command) in every_event_commands().into_iter().enumerate() {
        let at = Timestamp(1_000 + i64::try_from(i).unwrap());
        let done = channel.execute(&log, command, at).unwrap().unwrap();
        assert!(!done.events.is_empty(), "command {i} appended nothing");
        for (k, event) in done.events.into_iter().enumerate() {
            written.push((done.first_seq + k as u64, Recorded::new(at, event)));
        }
    }
    log.flush().unwrap();

    let kinds: std::collections::BTreeSet<&str> =
        written.iter().map(|(_, r)| r.event.type_name()).collect();
    assert_eq!(kinds.len(), 16, "every ChannelEvent variant is covered: {kinds:?}");

    let read: Vec<(u64, Recorded)> = support::records(&log, channel.sid())
        .into_iter()
        .map(|r| match r {
            switchboard_store::ReplayRecord::Event { seq, event, .. } => (seq, event),
            other => panic!("unexpected {other:?}"),
        })
        .collect();
    assert_eq!(read, written);
    // What `execute` folded as it went is what the stored events fold into.
    let stored: Vec<Recorded> = read.into_iter().map(|(_, e)| e).collect();
    assert_eq!(&ChannelState::replay(&stored), channel.state());
    assert_eq!(ChannelLog::load(&log, channel.sid()).unwrap().state(), channel.state());
}

fn a_message_event(index: u64, provider_id: &str) -> Recorded {
    Recorded::new(
        Timestamp(99),
        ChannelEvent::MessageAdded {
            message_sid: sid(SidPrefix::MESSAGE, 999),
            index,
            author: "x".into(),
            body: "must never be stored".into(),
            attributes: "{}".into(),
            media: None,
            source: MessageSource::Agent,
            provider_message_id: Some(provider_id.into()),
        },
    )
}

#[test]
fn an_append_at_the_wrong_sequence_is_a_conflict_and_writes_nothing() {
    let temp = TempLog::new();
    let address = "+14155550001";
    let (channel, head_before) = {
        let log = temp.open(1000);
        let channel = channel_with(&log, 1, address, 2);
        let head_before = log.head(channel.sid()).unwrap();
        assert_eq!(head_before.next_seq, 3);
        let event = a_message_event(2, "SMconflict");
        let changes = IndexChanges {
            put: vec![IndexEntry::provider_message("SMconflict", channel.sid(), 2)],
            delete: vec![IndexEntry::unique_name(
                service(),
                &format!("unique-{address}"),
                channel.sid(),
            )],
        };
        for wrong in [0, 2, 4, 1_000] {
            match log.append(channel.sid(), wrong, std::slice::from_ref(&event), &changes) {
                Err(StoreError::Conflict { stream, expected, actual }) => {
                    assert_eq!((stream, expected, actual), (channel.sid(), wrong, 3));
                }
                other => panic!("expected a conflict at {wrong}, got {other:?}"),
            }
        }
        // A stream that was never written is at 0.
        let fresh = channel_sid(2);
        assert!(matches!(
            log.append(fresh, 1, std::slice::from_ref(&event), &changes),
            Err(StoreError::Conflict { expected: 1, actual: 0, .. })
        ));

        assert_eq!(log.head(channel.sid()).unwrap(), head_before);
        assert_eq!(log.next_seq(fresh).unwrap(), 0);
        assert_eq!(events(&log, channel.sid()).len(), 3);
        assert_eq!(log.read::<Recorded>(fresh, 0).count(), 0);
        assert_eq!(log.lookup(IndexKind::ProviderMessage, None, "SMconflict").unwrap(), None);
        let unique = format!("unique-{address}");
        assert!(log.lookup(IndexKind::UniqueName, Some(service()), &unique).unwrap().is_some());
        log.close().unwrap();
        (channel, head_before)
    };
    // Nothing of the refused appends reached the folder: no record, head or key.
    let fresh = support::stream_key(b'E', channel_sid(2));
    assert!(temp.entries(b'E').keys().all(|k| !k.starts_with(&fresh)));
    assert!(!temp.entries(b'H').contains_key(&support::stream_key(b'H', channel_sid(2))));
    assert!(temp
        .entries(b'K')
        .keys()
        .all(|k| !k.starts_with(&support::stream_key(b'K', channel_sid(2)))));
    assert_eq!(temp.entries(b'E').len(), 3);

    // And the right sequence still works afterwards.
    let log = temp.open(1000);
    assert_eq!(log.head(channel.sid()).unwrap(), head_before);
    let done = log
        .append(channel.sid(), 3, &[a_message_event(2, "SMright")], &IndexChanges::default())
        .unwrap();
    assert_eq!((done.first_seq, done.next_seq), (3, 4));
}

#[test]
fn a_reopened_folder_keeps_heads_keys_snapshots_and_indexes() {
    let temp = TempLog::new();
    let addresses = ["+14155550001", "+14155550002", "+14155550003"];
    let (heads, contents, states) = {
        let log = temp.open(5);
        let channels: Vec<ChannelLog> = addresses
            .iter()
            .enumerate()
            .map(|(i, a)| channel_with(&log, u32::try_from(i).unwrap() + 1, a, 12))
            .collect();
        let heads: Vec<_> = channels.iter().map(|c| log.head(c.sid()).unwrap()).collect();
        let contents: Vec<_> = channels.iter().map(|c| events(&log, c.sid())).collect();
        let states: Vec<_> = channels.iter().map(|c| c.state().clone()).collect();
        log.close().unwrap();
        (heads, contents, states)
    };
    let keys_before = temp.entries(b'K');
    assert_eq!(keys_before.len(), 3, "one data key per channel");
    let snapshots_before = temp.entries(b'S');
    assert_eq!(snapshots_before.len(), 3, "every channel crossed a snapshot");

    let log = temp.open(5);
    let streams: Vec<_> = log.streams().collect::<Result<_, _>>().unwrap();
    assert_eq!(streams, [channel_sid(1), channel_sid(2), channel_sid(3)]);
    for (i, address) in addresses.iter().enumerate() {
        let n = u32::try_from(i).unwrap() + 1;
        let sid = channel_sid(n);
        assert_eq!(log.head(sid).unwrap(), heads[i]);
        assert_eq!(events(&log, sid), contents[i]);
        assert_eq!(ChannelLog::load(&log, sid).unwrap().state(), &states[i]);
        assert_eq!(
            log.lookup(IndexKind::Binding, Some(flow()), address).unwrap(),
            Some((sid, None))
        );
        let unique = format!("unique-{address}");
        assert_eq!(
            log.lookup(IndexKind::UniqueName, Some(service()), &unique).unwrap(),
            Some((sid, None))
        );
        assert_eq!(support::indexed_channel_of(&log, n * 1000 + 11), Some(sid));
        let state = ChannelLog::load(&log, sid).unwrap().state().clone();
        let provider = format!("SMprovider{}", n * 1000 + 11);
        assert_eq!(
            state.provider_messages.find(&provider).map(|m| (m.channel_sid, m.index)),
            Some((sid, 11))
        );
    }
    // Appends go on where they stopped, under the same keys.
    let mut channel = ChannelLog::load(&log, channel_sid(2)).unwrap();
    let done =
        channel.execute(&log, message(7777, "x", "after reopen"), Timestamp(50)).unwrap().unwrap();
    assert_eq!(done.first_seq, heads[1].next_seq);
    let report = log.verify(VerifyMode::Full, &mut |_| {}).unwrap();
    assert!(report.is_clean(), "{:?}", report.findings);
    assert_eq!(report.records, 3 * 13 + 1);
    log.close().unwrap();
    assert_eq!(temp.entries(b'K'), keys_before, "no key was made or rewritten");
}

#[test]
fn a_binding_lives_while_the_channel_is_active() {
    let temp = TempLog::new();
    let log = temp.open(1000);
    let address = "+14155550001";
    let mut channel = channel_with(&log, 1, address, 1);
    let binding = || log.lookup(IndexKind::Binding, Some(flow()), address).unwrap();
    assert_eq!(binding(), Some((channel.sid(), None)));
    // The scope is part of the key: another flow, or another address, finds nothing.
    assert_eq!(
        log.lookup(IndexKind::Binding, Some(sid(SidPrefix::FLEX_FLOW, 2)), address).unwrap(),
        None
    );
    assert_eq!(log.lookup(IndexKind::Binding, Some(flow()), "+14155550002").unwrap(), None);
    assert_eq!(log.lookup(IndexKind::Binding, None, address).unwrap(), None);

    channel.execute(&log, ChannelCommand::Deactivate, Timestamp(10)).unwrap().unwrap();
    assert_eq!(binding(), None, "an inactive channel no longer takes the customer's messages");
    channel.execute(&log, ChannelCommand::Reactivate, Timestamp(11)).unwrap().unwrap();
    assert_eq!(binding(), Some((channel.sid(), None)));
}

#[test]
fn a_long_lived_channel_keeps_its_binding_when_inactive() {
    let temp = TempLog::new();
    let log = temp.open(1000);
    let address = "+14155550001";
    let mut new = new_channel(1, address);
    new.long_lived = true;
    let (mut channel, _) = ChannelLog::create(&log, new, Timestamp(1)).unwrap().unwrap();
    channel.execute(&log, ChannelCommand::Deactivate, Timestamp(10)).unwrap().unwrap();
    assert_eq!(channel.state().status, switchboard_domain::ChannelStatus::Inactive);
    assert_eq!(
        log.lookup(IndexKind::Binding, Some(flow()), address).unwrap(),
        Some((channel.sid(), None))
    );
}

#[test]
fn deactivating_a_channel_leaves_another_channels_binding_alone() {
    let temp = TempLog::new();
    let log = temp.open(1000);
    let address = "+14155550001";
    let binding = || log.lookup(IndexKind::Binding, Some(flow()), address).unwrap();
    let mut first = channel_with(&log, 1, address, 1);
    first.execute(&log, ChannelCommand::Deactivate, Timestamp(10)).unwrap().unwrap();
    // The customer writes again: the router finds no binding and opens a second channel.
    let mut second = channel_with(&log, 2, address, 1);
    assert_eq!(binding(), Some((second.sid(), None)));
    // An API client sets the first channel's status back to ACTIVE: it takes the binding.
    first.execute(&log, ChannelCommand::Reactivate, Timestamp(20)).unwrap().unwrap();
    assert_eq!(binding(), Some((first.sid(), None)));
    // The second channel is retired: the binding is not its own any more, and must survive.
    second.execute(&log, ChannelCommand::Deactivate, Timestamp(30)).unwrap().unwrap();
    assert_eq!(binding(), Some((first.sid(), None)));
}

#[test]
fn the_latest_channel_is_the_one_that_took_the_customer_last_also_after_a_reindex() {
    let temp = TempLog::new();
    let address = "+14155550001";
    let latest = |log: &EventLog| {
        log.lookup(IndexKind::LatestChannel, Some(flow()), address).unwrap().map(|(c, _)| c)
    };
    let create = |log: &EventLog, n: u32, at: i64| {
        ChannelLog::create(log, new_channel(n, address), Timestamp(at)).unwrap().unwrap().0
    };
    // Channel 1 comes first in key order and was created first, yet is the latest once the API
    // reactivates it after channel 3 was opened: neither order alone gives the answer.
    let first = {
        let log = temp.open(1000);
        let mut first = create(&log, 1, 1);
        first.execute(&log, ChannelCommand::Deactivate, Timestamp(2)).unwrap().unwrap();
        assert_eq!(latest(&log), Some(first.sid()), "retired, still the latest");
        let third = create(&log, 3, 3);
        assert_eq!(latest(&log), Some(third.sid()));
        first.execute(&log, ChannelCommand::Reactivate, Timestamp(4)).unwrap().unwrap();
        assert_eq!(latest(&log), Some(first.sid()), "reactivated, it took the customer back");
        log.close().unwrap();
        first.sid()
    };
    let log = temp.open(1000);
    let mut told = Vec::new();
    switchboard_store::reindex(&log, &mut |walked| told.push((walked.done, walked.of))).unwrap();
    assert_eq!(latest(&log), Some(first));
    // Progress to a known end: both channels, counted as each is done.
    assert_eq!(told, [(0, 2), (1, 2), (2, 2)]);
}

#[test]
fn unique_names_are_scoped_by_service_and_follow_renames() {
    let temp = TempLog::new();
    let log = temp.open(1000);
    let mut channel = channel_with(&log, 1, "+14155550001", 0);
    let lookup = |name: &str| log.lookup(IndexKind::UniqueName, Some(service()), name).unwrap();
    assert_eq!(lookup("unique-+14155550001"), Some((channel.sid(), None)));
    assert_eq!(
        log.lookup(IndexKind::UniqueName, Some(sid(SidPrefix::SERVICE, 2)), "unique-+14155550001")
            .unwrap(),
        None
    );
    let rename =
        ChannelCommand::Rename { friendly_name: None, unique_name: Some("support-42".into()) };
    channel.execute(&log, rename, Timestamp(5)).unwrap().unwrap();
    assert_eq!(lookup("unique-+14155550001"), None);
    assert_eq!(lookup("support-42"), Some((channel.sid(), None)));
    let clear = ChannelCommand::Rename { friendly_name: None, unique_name: None };
    channel.execute(&log, clear, Timestamp(6)).unwrap().unwrap();
    assert_eq!(lookup("support-42"), None);
}

#[test]
fn a_channel_remembers_its_provider_message_ids_across_a_reload_and_indexes_none() {
    let temp = TempLog::new();
    let (first, second) = {
        let log = temp.open(1000);
        let first = channel_with(&log, 1, "+14155550001", 3);
        let second = channel_with(&log, 2, "+14155550002", 2);
        let mut deactivated = ChannelLog::load(&log, first.sid()).unwrap();
        deactivated.execute(&log, ChannelCommand::Deactivate, Timestamp(9)).unwrap().unwrap();
        log.close().unwrap();
        (first.sid(), second.sid())
    };
    // Snapshots every 2 events: the memory comes back from a snapshot and from the tail.
    let log = temp.open(2);
    for (channel, n, count) in [(first, 1u32, 3u32), (second, 2, 2)] {
        let state = ChannelLog::load(&log, channel).unwrap().state().clone();
        for i in 0..count {
            let id = format!("SMprovider{}", n * 1000 + i);
            let found = state.provider_messages.find(&id).map(|m| (m.channel_sid, m.index));
            assert_eq!(found, Some((channel, u64::from(i))), "{id}");
            assert_eq!(log.lookup(IndexKind::ProviderMessage, None, &id).unwrap(), None);
        }
        let unknown = format!("SMprovider{}", n * 1000 + count);
        assert_eq!(state.provider_messages.find(&unknown), None);
    }
}

#[test]
fn a_folder_of_the_older_format_is_upgraded_and_a_newer_one_refused() {
    let temp = TempLog::new();
    let log = temp.open(4);
    channel_with(&log, 1, "+14155550100", 2);
    let written = events(&log, channel_sid(1));
    log.close().unwrap();
    let format = |temp: &TempLog| temp.entries(b'M').remove(&b"Mformat"[..]).unwrap();
    assert_eq!(format(&temp), [switchboard_store::FORMAT_VERSION]);

    temp.tamper(|tree| {
        tree.insert("Mformat", &[switchboard_store::OLDEST_FORMAT_VERSION][..]).unwrap();
    });
    let log = temp.open(4);
    assert_eq!(events(&log, channel_sid(1)), written, "the channel reads as before");
    log.close().unwrap();
    assert_eq!(format(&temp), [switchboard_store::FORMAT_VERSION], "upgraded on open");

    temp.tamper(|tree| {
        tree.insert("Mformat", &[switchboard_store::FORMAT_VERSION + 1][..]).unwrap();
    });
    let Err(refused) = EventLog::open(temp.config(4), temp.key.clone()) else {
        panic!("a folder of a newer format was opened");
    };
    let newer = switchboard_store::FORMAT_VERSION + 1;
    assert!(
        matches!(refused, switchboard_store::StoreError::NewerFormat { found, .. } if found == newer),
        "{refused}"
    );
    assert!(refused.to_string().contains("written by a newer version"), "{refused}");
    assert_eq!(format(&temp), [switchboard_store::FORMAT_VERSION + 1], "left as it was");
}

/// A folder of an older build has no `LatestChannel` entries and version 1 snapshots: loading a
/// channel writes its entry (unless a channel that took the customer later holds it) and a
/// snapshot of the current version.
#[test]
fn a_channel_of_an_older_build_gets_its_latest_channel_entry_and_a_snapshot_on_load() {
    let temp = TempLog::new();
    let address = "+14155550001";
    let (older, later) = {
        let log = temp.open(1000);
        let mut older = channel_with(&log, 1, address, 3);
        older.execute(&log, ChannelCommand::Deactivate, Timestamp(10)).unwrap().unwrap();
        let later =
            ChannelLog::create(&log, new_channel(2, address), Timestamp(20)).unwrap().unwrap().0;
        log.close().unwrap();
        (older.sid(), later.sid())
    };
    // What the older build left: no LatestChannel entry (kind 6), no snapshot.
    {
        let raw = switchboard_store::RawLog::open(&temp.path()).unwrap();
        let latest: Vec<_> = raw.tree().scan_prefix([b'I', 6]).keys().map(Result::unwrap).collect();
        assert_eq!(latest.len(), 1, "one customer, one entry");
        for key in latest {
            raw.tree().remove(key).unwrap();
        }
        raw.tree().flush().unwrap();
    }
    // Snapshots every 2 events: both channels are past it, and have none yet.
    let log = temp.open(2);
    let lookup =
        || log.lookup(IndexKind::LatestChannel, Some(flow()), address).unwrap().map(|(c, _)| c);
    assert_eq!(lookup(), None);
    ChannelLog::load(&log, older).unwrap();
    assert_eq!(lookup(), Some(older), "the only one loaded so far");
    ChannelLog::load(&log, later).unwrap();
    assert_eq!(lookup(), Some(later), "the one that took the customer later wins");
    ChannelLog::load(&log, older).unwrap();
    assert_eq!(lookup(), Some(later), "and keeps it");
    log.close().unwrap();
    assert_eq!(temp.entries(b'S').len(), 1, "the older channel (5 events) got a snapshot");
}
