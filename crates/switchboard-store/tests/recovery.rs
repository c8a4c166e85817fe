//! Crash recovery of unfinished writes: an append whose head never made it to disk is rolled
//! back with its index changes, a first append without a head disappears with its key, and a
//! shred interrupted after its marker is finished; what was derived from lost records
//! (snapshots, consumers' cursors and dead letters) goes back to the head; user streams' identity
//! entries are rolled back like channels' entries.

mod support;

use support::{channel_sid, channel_with, sid, TempLog};
use switchboard_domain::{
    ChannelCommand, ChannelState, ErasureReason, FlowEvent, IndexKind, Recorded, SidPrefix,
    Timestamp, UserEvent, UserState,
};
use switchboard_store::{AppendGroup, ChannelLog, EventLog, IndexChanges, RawLog, VerifyMode};

fn head_key(channel: u32) -> Vec<u8> {
    let mut key = vec![b'H'];
    key.extend_from_slice(&sid(SidPrefix::CHANNEL, channel).to_bytes());
    key
}

/// Puts the folder back in the state a crash at a chosen moment would leave: the given entries
/// restored to their old values, and no clean-close mark.
fn crash_with(temp: &TempLog, restore: &[(Vec<u8>, Option<Vec<u8>>)]) {
    let raw = RawLog::open(&temp.path()).unwrap();
    for (key, value) in restore {
        match value {
            Some(value) => raw.tree().insert(key, value.clone()).unwrap(),
            None => raw.tree().remove(key).unwrap(),
        };
    }
    raw.tree().remove(b"Mclean").unwrap();
    raw.tree().flush().unwrap();
}

#[test]
fn an_append_without_its_head_is_rolled_back_with_its_index_changes() {
    let temp = TempLog::new();
    let flow = Some(sid(SidPrefix::FLEX_FLOW, 1));
    let (old_head, channel_sid) = {
        let log = temp.open(1000);
        let channel = channel_with(&log, 1, "+14155550001", 2);
        log.close().unwrap();
        let raw = RawLog::open(&temp.path()).unwrap();
        (raw.tree().get(head_key(1)).unwrap().unwrap().to_vec(), channel.sid())
    };
    {
        // The deactivation removes the customer's binding; then "crash" before the head.
        let log = temp.open(1000);
        let mut channel = ChannelLog::load(&log, channel_sid).unwrap();
        channel.execute(&log, ChannelCommand::Deactivate, Timestamp(10)).unwrap().unwrap();
        assert_eq!(log.lookup(IndexKind::Binding, flow, "+14155550001").unwrap(), None);
        log.close().unwrap();
    }
    crash_with(&temp, &[(head_key(1), Some(old_head))]);
    let log = temp.open(1000);
    assert_eq!(
        log.next_seq(channel_sid).unwrap(),
        3,
        "created + 2 messages; the lost append is gone"
    );
    let binding = log.lookup(IndexKind::Binding, flow, "+14155550001").unwrap();
    assert_eq!(binding.map(|(c, _)| c), Some(channel_sid), "the binding is back");
    assert!(log.verify(VerifyMode::Full, &mut |_| {}).unwrap().is_clean());
    let channel = ChannelLog::load(&log, channel_sid).unwrap();
    assert_eq!(channel.state().status, switchboard_domain::ChannelStatus::Active);
}

#[test]
fn a_first_append_without_its_head_leaves_nothing_behind() {
    let temp = TempLog::new();
    {
        let log = temp.open(1000);
        channel_with(&log, 1, "+14155550001", 1);
        channel_with(&log, 2, "+14155550002", 1);
        log.close().unwrap();
    }
    crash_with(&temp, &[(head_key(2), None)]);
    let log = temp.open(1000);
    assert_eq!(log.next_seq(sid(SidPrefix::CHANNEL, 2)).unwrap(), 0);
    assert_eq!(support::indexed_channel_of(&log, 2000), None);
    assert_eq!(
        log.lookup(IndexKind::UniqueName, Some(sid(SidPrefix::SERVICE, 1)), "unique-+14155550002")
            .unwrap(),
        None
    );
    assert!(support::indexed_channel_of(&log, 1000).is_some());
    let report = log.verify(VerifyMode::Full, &mut |_| {}).unwrap();
    assert!(report.is_clean(), "{:?}", report.findings);
    assert_eq!(report.streams, 1);
}

#[test]
fn a_shred_interrupted_after_its_marker_is_finished() {
    let temp = TempLog::new();
    let mut key_key = vec![b'K'];
    key_key.extend_from_slice(&sid(SidPrefix::CHANNEL, 1).to_bytes());
    key_key.extend_from_slice(&1u32.to_be_bytes());
    let wrapped = {
        let log = temp.open(1000);
        let channel = channel_with(&log, 1, "+14155550001", 2);
        log.close().unwrap();
        let wrapped =
            RawLog::open(&temp.path()).unwrap().tree().get(&key_key).unwrap().unwrap().to_vec();
        let log = temp.open(1000);
        let channel = ChannelLog::load(&log, channel.sid()).unwrap();
        let done = channel.shred(&log, ErasureReason::SubjectRequest, Timestamp(99)).unwrap();
        log.wait_durable_blocking(done.ticket).unwrap();
        log.close().unwrap();
        wrapped
    };
    // The crash came after the marker and its head, before the key was destroyed.
    crash_with(&temp, &[(key_key.clone(), Some(wrapped))]);
    let log = temp.open(1000);
    let last =
        log.read::<switchboard_domain::Recorded>(sid(SidPrefix::CHANNEL, 1), 0).collect::<Vec<_>>();
    assert!(
        matches!(last[0], Ok(switchboard_store::ReplayRecord::Shredded { .. })),
        "the key is gone again"
    );
    let report = log.verify(VerifyMode::Full, &mut |_| {}).unwrap();
    assert!(report.is_clean());
    assert_eq!(report.shredded_records, 3);
}

/// Several appends past the checkpoint, as a crash before their flush leaves them now that heads
/// are written once per flush: all of them go, and the index is the checkpointed state's again.
#[test]
fn several_appends_past_the_checkpoint_are_all_rolled_back_with_their_index_changes() {
    let temp = TempLog::new();
    let flow = Some(sid(SidPrefix::FLEX_FLOW, 1));
    let service = Some(sid(SidPrefix::SERVICE, 1));
    let (checkpoint, channel_sid) = {
        let log = temp.open(1000);
        let channel = channel_with(&log, 1, "+14155550001", 2);
        log.close().unwrap();
        (temp.raw().tree().get(head_key(1)).unwrap().unwrap().to_vec(), channel.sid())
    };
    let rename =
        |name: &str| ChannelCommand::Rename { friendly_name: None, unique_name: Some(name.into()) };
    let index_after_first = {
        // A rename (one unique name removed, another added), a message (a media entry added) and
        // a deactivation (the binding removed), none of them waited for.
        let log = temp.open(1000);
        let mut channel = ChannelLog::load(&log, channel_sid).unwrap();
        channel.execute(&log, rename("renamed"), Timestamp(10)).unwrap().unwrap();
        let post = support::message(1900, "+14155550001", "lost");
        channel.execute(&log, post, Timestamp(11)).unwrap().unwrap();
        channel.execute(&log, ChannelCommand::Deactivate, Timestamp(12)).unwrap().unwrap();
        assert_eq!(log.lookup(IndexKind::Binding, flow, "+14155550001").unwrap(), None);
        assert_eq!(
            log.lookup(IndexKind::UniqueName, service, "unique-+14155550001").unwrap(),
            None
        );
        log.close().unwrap();
        temp.entries(b'I')
    };
    {
        // A last append whose records made it but whose index changes did not: the crash came
        // in between. Its rename's old name ("renamed", written by an earlier lost append) is
        // still in the index, and must go too.
        let log = temp.open(1000);
        let mut channel = ChannelLog::load(&log, channel_sid).unwrap();
        channel.execute(&log, rename("renamed again"), Timestamp(13)).unwrap().unwrap();
        log.close().unwrap();
    }
    let mut restore: Vec<(Vec<u8>, Option<Vec<u8>>)> = vec![(head_key(1), Some(checkpoint))];
    for key in temp.entries(b'I').into_keys() {
        restore.push((key, None));
    }
    restore.extend(index_after_first.into_iter().map(|(k, v)| (k, Some(v))));
    crash_with(&temp, &restore);
    let log = temp.open(1000);
    assert_eq!(
        log.next_seq(channel_sid).unwrap(),
        3,
        "created + 2 messages; all lost appends gone"
    );
    let at = |kind, scope, value: &str| log.lookup(kind, scope, value).unwrap().map(|(c, _)| c);
    assert_eq!(at(IndexKind::Binding, flow, "+14155550001"), Some(channel_sid), "binding back");
    assert_eq!(at(IndexKind::UniqueName, service, "unique-+14155550001"), Some(channel_sid));
    assert_eq!(at(IndexKind::UniqueName, service, "renamed"), None, "the lost name is gone");
    assert_eq!(at(IndexKind::UniqueName, service, "renamed again"), None);
    assert_eq!(support::indexed_channel_of(&log, 1900), None);
    assert_eq!(support::indexed_channel_of(&log, 1001), Some(channel_sid));
    let report = log.verify(VerifyMode::Full, &mut |_| {}).unwrap();
    assert!(report.is_clean(), "{:?}", report.findings);
    // The stream goes on from its checkpoint, and its state is the checkpointed one.
    let mut channel = ChannelLog::load(&log, channel_sid).unwrap();
    assert_eq!(channel.state().status, switchboard_domain::ChannelStatus::Active);
    assert_eq!(channel.state().unique_name.as_deref(), Some("unique-+14155550001"));
    let again = support::message(1901, "+14155550001", "after");
    let done = channel.execute(&log, again, Timestamp(20)).unwrap().unwrap();
    assert_eq!(done.first_seq, 3);
    log.wait_durable_blocking(done.ticket.unwrap()).unwrap();
    log.close().unwrap();
    let log = temp.open(1000);
    assert!(log.verify(VerifyMode::Full, &mut |_| {}).unwrap().is_clean());
}

/// While the log runs, the writer's head is ahead of the checkpoint in sled until the flush its
/// ticket names: then (and on a clean close) the checkpoint has caught up.
#[test]
fn heads_reach_sled_with_the_flush_that_acknowledges_them() {
    let temp = TempLog::new();
    let log = temp.open(1000);
    let mut channel = channel_with(&log, 1, "+14155550001", 0);
    let mut last = None;
    for i in 0..5 {
        let post = support::message(1000 + i, "+14155550001", "pipelined");
        last = channel.execute(&log, post, Timestamp(5)).unwrap().unwrap().ticket;
    }
    assert_eq!(log.next_seq(channel.sid()).unwrap(), 6);
    // Forgetting the stream (as hibernation does) before its checkpoint is written must not
    // reload a stale head from sled: a writer would then overwrite records.
    log.forget(channel.sid());
    assert_eq!(log.next_seq(channel.sid()).unwrap(), 6);
    log.wait_durable_blocking(last.unwrap()).unwrap();
    // Forgetting a checkpointed stream reloads its head from sled: the same head.
    log.forget(channel.sid());
    assert_eq!(log.next_seq(channel.sid()).unwrap(), 6);
    log.close().unwrap();
    let head = temp.raw().tree().get(head_key(1)).unwrap().unwrap();
    assert_eq!(u64::from_be_bytes(head[1..9].try_into().unwrap()), 6);
}

/// Copies a folder file by file: taken from a running log after a flush, the copy is what a
/// crash at that moment would leave.
fn copy_folder(from: &std::path::Path, to: &std::path::Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_folder(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).unwrap();
        }
    }
}

/// A crash while the log runs leaves the newest heads only in the flusher's checkpoints (`P`),
/// not yet folded into `H`: opening folds them, and every acknowledged append is there.
#[test]
fn acknowledged_heads_only_in_checkpoints_survive_a_crash() {
    let temp = TempLog::new();
    let log = temp.open(1000);
    let mut channel = channel_with(&log, 1, "+14155550001", 2);
    let mut last = None;
    for i in 0..4 {
        let post = support::message(1100 + i, "+14155550001", "acknowledged");
        last = channel.execute(&log, post, Timestamp(5)).unwrap().unwrap().ticket;
    }
    log.wait_durable_blocking(last.unwrap()).unwrap();
    let crashed = temp.dir.path().join("crashed");
    copy_folder(&temp.path(), &crashed);
    drop(log);
    assert!(support::unfolded_checkpoints(&crashed) > 0, "checkpoints not folded yet");
    assert_eq!(RawLog::open(&crashed).unwrap().tree().get(head_key(1)).unwrap(), None, "no H yet");
    // Key-less verification reads the heads from the checkpoints too (and writes nothing).
    let report = switchboard_store::verify_raw(&RawLog::open(&crashed).unwrap(), &mut |_| {});
    let report = report.unwrap();
    assert!(report.is_clean(), "{:?}", report.findings);
    assert_eq!((report.streams, report.records), (1, 7));
    assert!(support::unfolded_checkpoints(&crashed) > 0);
    let mut config = temp.config(1000);
    config.path = crashed.clone();
    let log = switchboard_store::EventLog::open(config, temp.key.clone()).unwrap();
    assert_eq!(log.next_seq(channel.sid()).unwrap(), 7, "created + 2 + 4 messages");
    assert_eq!(log.streams().count(), 1);
    assert_eq!(support::indexed_channel_of(&log, 1103), Some(channel.sid()));
    let state = switchboard_store::ChannelLog::load(&log, channel.sid()).unwrap().state().clone();
    let found = state.provider_messages.find("SMprovider1103").map(|m| (m.channel_sid, m.index));
    assert_eq!(found, Some((channel.sid(), 5)));
    let report = log.verify(VerifyMode::Full, &mut |_| {}).unwrap();
    assert!(report.is_clean(), "{:?}", report.findings);
    log.close().unwrap();
    assert_eq!(support::unfolded_checkpoints(&crashed), 0, "a clean close folds everything");
    let raw = RawLog::open(&crashed).unwrap();
    assert!(raw.tree().get(head_key(1)).unwrap().is_some());
}

/// A snapshot is written after its append and before the flush that checkpoints the append: a
/// crash in between leaves it past the head recovery goes back to. Recovery drops it, and a
/// snapshot past the head in a folder that needs no recovery is never trusted either.
#[test]
fn a_snapshot_past_the_recovered_head_is_dropped_and_never_loaded() {
    let temp = TempLog::new();
    let snapshot_key = support::stream_key(b'S', sid(SidPrefix::CHANNEL, 1));
    let (checkpoint, channel_sid) = {
        let log = temp.open(4);
        // Three events: no snapshot yet (one every 4).
        let channel = channel_with(&log, 1, "+14155550001", 2);
        log.close().unwrap();
        assert_eq!(temp.raw().tree().get(&snapshot_key).unwrap(), None);
        (temp.raw().tree().get(head_key(1)).unwrap().unwrap().to_vec(), channel.sid())
    };
    let future_snapshot = {
        let log = temp.open(4);
        let mut channel = ChannelLog::load(&log, channel_sid).unwrap();
        for i in 0..2 {
            let post = support::message(1900 + i, "+14155550001", "lost");
            channel.execute(&log, post, Timestamp(10)).unwrap().unwrap();
        }
        log.close().unwrap();
        temp.raw().tree().get(&snapshot_key).unwrap().expect("a snapshot after 4 events").to_vec()
    };
    crash_with(&temp, &[(head_key(1), Some(checkpoint))]);
    {
        let log = temp.open(4);
        assert_eq!(log.next_seq(channel_sid).unwrap(), 3, "both lost appends are gone");
        log.close().unwrap();
    }
    assert_eq!(temp.raw().tree().get(&snapshot_key).unwrap(), None, "recovery dropped it");
    // The same snapshot put back into a cleanly closed folder (no recovery runs): ignored.
    temp.tamper(|tree| {
        tree.insert(&snapshot_key, future_snapshot.clone()).unwrap();
    });
    let log = temp.open(4);
    assert!(log.load_snapshot::<ChannelState>(channel_sid).unwrap().is_none());
    let mut channel = ChannelLog::load(&log, channel_sid).unwrap();
    let events = support::events(&log, channel_sid);
    assert_eq!(channel.state(), &ChannelState::replay(&events));
    assert_eq!(channel.state().events_applied, 3);
    // The stream goes on from its head, taking the lost sequence numbers again.
    let again = support::message(1950, "+14155550001", "after");
    let done = channel.execute(&log, again, Timestamp(20)).unwrap().unwrap();
    assert_eq!(done.first_seq, 3);
    log.wait_durable_blocking(done.ticket.unwrap()).unwrap();
    let reloaded = ChannelLog::load(&log, channel_sid).unwrap();
    assert_eq!(reloaded.state(), &ChannelState::replay(&support::events(&log, channel_sid)));
    assert!(log.verify(VerifyMode::Full, &mut |_| {}).unwrap().is_clean());
}

/// A consumer (an outbox) may have handled records that were in sled but never checkpointed:
/// after recovery its cursor is back at the head and its dead letters past the head are gone,
/// so the records appended again under those sequence numbers are handled, not skipped.
#[test]
fn consumers_past_the_recovered_head_come_back_to_it() {
    let temp = TempLog::new();
    let (first, second, never) = (channel_sid(1), channel_sid(2), channel_sid(3));
    let checkpoint = {
        let log = temp.open(1000);
        channel_with(&log, 1, "+14155550001", 2);
        channel_with(&log, 2, "+14155550002", 1);
        log.close().unwrap();
        temp.raw().tree().get(head_key(1)).unwrap().unwrap().to_vec()
    };
    {
        let log = temp.open(1000);
        let mut channel = ChannelLog::load(&log, first).unwrap();
        for i in 0..2 {
            let post = support::message(1900 + i, "+14155550001", "lost");
            channel.execute(&log, post, Timestamp(10)).unwrap().unwrap();
        }
        assert_eq!(log.next_seq(first).unwrap(), 5);
        log.set_cursor("outbox", first, 5).unwrap();
        log.set_cursor("hooks", first, 2).unwrap();
        log.set_cursor("outbox", second, 2).unwrap();
        // A first append whose checkpoint is lost too (its head and key go with it).
        log.set_cursor("outbox", never, 1).unwrap();
        log.record_dead_letter("outbox", first, 1, "kept").unwrap();
        log.record_dead_letter("outbox", first, 3, "lost").unwrap();
        log.record_dead_letter("hooks", first, 4, "lost").unwrap();
        log.record_dead_letter("outbox", second, 1, "kept too").unwrap();
        log.close().unwrap();
    }
    crash_with(&temp, &[(head_key(1), Some(checkpoint))]);
    let log = temp.open(1000);
    assert_eq!(log.next_seq(first).unwrap(), 3);
    assert_eq!(log.cursor("outbox", first).unwrap(), 3, "lowered to the head");
    assert_eq!(log.cursor("hooks", first).unwrap(), 2, "behind the head: untouched");
    assert_eq!(log.cursor("outbox", second).unwrap(), 2);
    assert_eq!(log.cursor("outbox", never).unwrap(), 0);
    let letters = log.dead_letters("outbox").unwrap();
    assert_eq!(letters, vec![(first, 1, "kept".into()), (second, 1, "kept too".into())]);
    assert!(log.dead_letters("hooks").unwrap().is_empty());
}

fn user_sid(n: u32) -> switchboard_domain::Sid {
    sid(SidPrefix::USER, n)
}

fn user_created(n: u32, identity: &str) -> Recorded<UserEvent> {
    Recorded::new(
        Timestamp(1),
        UserEvent::UserCreated {
            user_sid: user_sid(n),
            service_sid: support::service(),
            identity: identity.into(),
            friendly_name: None,
            attributes: "{}".into(),
            role_sid: None,
        },
    )
}

/// Appends to a user stream as the actors' user directory does: with the identity entries the
/// new state owns put and those it no longer owns deleted, in the same write.
fn append_user(log: &EventLog, n: u32, state: &mut UserState, events: Vec<Recorded<UserEvent>>) {
    let before = state.index_entries();
    let mut after = state.clone();
    for event in &events {
        after.apply(event);
    }
    let now = after.index_entries();
    let changes = IndexChanges {
        put: now.iter().filter(|e| !before.contains(e)).cloned().collect(),
        delete: before.into_iter().filter(|e| !now.contains(e)).collect(),
    };
    log.append(user_sid(n), state.events_applied, &events, &changes).unwrap();
    *state = after;
}

/// Users key the index by identity (kind 5): a lost creation takes its entry (and key) with it,
/// a lost deletion brings it back, unless another user has taken the identity since with an
/// append that survived.
#[test]
fn lost_appends_to_user_streams_are_rolled_back_with_their_identity_entries() {
    let temp = TempLog::new();
    let service = Some(support::service());
    let user_head = |n: u32| support::stream_key(b'H', user_sid(n));
    let (alice, carol) = {
        let log = temp.open(1000);
        let (mut alice, mut carol) = (UserState::default(), UserState::default());
        append_user(&log, 1, &mut alice, vec![user_created(1, "alice")]);
        append_user(&log, 3, &mut carol, vec![user_created(3, "carol")]);
        log.close().unwrap();
        (alice, carol)
    };
    let heads = temp.entries(b'H');
    let checkpoints = [1, 3].map(|n| (user_head(n), heads.get(&user_head(n)).cloned()));
    {
        let log = temp.open(1000);
        let deleted = Recorded::new(Timestamp(2), UserEvent::UserDeleted);
        // Alice and carol are deleted, bob is created: none of it checkpointed.
        append_user(&log, 1, &mut alice.clone(), vec![deleted.clone()]);
        append_user(&log, 3, &mut carol.clone(), vec![deleted]);
        append_user(&log, 2, &mut UserState::default(), vec![user_created(2, "bob")]);
        // Dave took carol's identity after her deletion, and his append was checkpointed.
        append_user(&log, 4, &mut UserState::default(), vec![user_created(4, "carol")]);
        assert_eq!(log.lookup(IndexKind::UserIdentity, service, "alice").unwrap(), None);
        log.close().unwrap();
    }
    let mut restore: Vec<(Vec<u8>, Option<Vec<u8>>)> = checkpoints.to_vec();
    restore.push((user_head(2), None));
    crash_with(&temp, &restore);
    let log = temp.open(1000);
    let owner = |identity: &str| {
        log.lookup(IndexKind::UserIdentity, service, identity).unwrap().map(|(sid, _)| sid)
    };
    assert_eq!(owner("alice"), Some(user_sid(1)), "the lost deletion's removal is undone");
    assert_eq!(owner("bob"), None, "the lost creation's entry is gone");
    assert_eq!(owner("carol"), Some(user_sid(4)), "taken since by a surviving append: kept");
    assert_eq!((log.next_seq(user_sid(1)).unwrap(), log.next_seq(user_sid(2)).unwrap()), (1, 0));
    let streams: Vec<_> = log.streams().collect::<Result<_, _>>().unwrap();
    assert_eq!(streams, vec![user_sid(1), user_sid(3), user_sid(4)]);
    let report = log.verify(VerifyMode::Full, &mut |_| {}).unwrap();
    assert!(report.is_clean(), "{:?}", report.findings);
    log.close().unwrap();
    assert!(temp
        .entries(b'K')
        .keys()
        .all(|k| !k.starts_with(&support::stream_key(b'K', user_sid(2)))));
}

/// Flows and services key no index: a lost append to them only loses its records.
#[test]
fn a_lost_append_to_a_flow_stream_is_rolled_back() {
    let temp = TempLog::new();
    let flow = sid(SidPrefix::FLEX_FLOW, 9);
    let head = support::stream_key(b'H', flow);
    let checkpoint = {
        let log = temp.open(1000);
        let deleted = [Recorded::new(Timestamp(1), FlowEvent::FlowDeleted)];
        log.append(flow, 0, &deleted, &IndexChanges::default()).unwrap();
        log.close().unwrap();
        temp.raw().tree().get(&head).unwrap().unwrap().to_vec()
    };
    {
        let log = temp.open(1000);
        let deleted = [Recorded::new(Timestamp(2), FlowEvent::FlowDeleted)];
        log.append(flow, 1, &deleted, &IndexChanges::default()).unwrap();
        log.close().unwrap();
    }
    crash_with(&temp, &[(head, Some(checkpoint))]);
    let log = temp.open(1000);
    assert_eq!(log.next_seq(flow).unwrap(), 1);
    assert_eq!(log.read::<Recorded<FlowEvent>>(flow, 0).count(), 1);
    assert!(log.verify(VerifyMode::Full, &mut |_| {}).unwrap().is_clean());
}

/// Appends to a user stream in `group`, as TaskRouter appends a change and its event-log
/// records: returns the new state.
fn append_user_in(log: &EventLog, group: &AppendGroup<'_>, n: u32, identity: &str) -> UserState {
    let mut state = UserState::default();
    let created = user_created(n, identity);
    state.apply(&created);
    let changes = IndexChanges { put: state.index_entries(), delete: Vec::new() };
    log.append_in(group, user_sid(n), 0, (&[created][..], &changes)).unwrap();
    state
}

/// A group's appends (a TaskRouter change and its events) survive a crash together or not at
/// all: a flush that falls between two of them (another writer's) checkpoints neither, so a
/// crash right after it keeps neither; once the group has finished and its flush is done, a
/// crash keeps both.
#[test]
fn a_group_s_appends_survive_a_crash_together_or_not_at_all() {
    let temp = TempLog::new();
    let service = Some(support::service());
    let (between, after) = (temp.dir.path().join("between"), temp.dir.path().join("after"));
    {
        let log = temp.open(1000);
        let group = log.group();
        append_user_in(&log, &group, 1, "alice");
        log.flush().unwrap();
        copy_folder(&temp.path(), &between);
        append_user_in(&log, &group, 2, "bob");
        let ticket = group.finish().expect("two appends");
        log.wait_durable_blocking(ticket).unwrap();
        copy_folder(&temp.path(), &after);
        assert_eq!(log.group().finish(), None, "an empty group stages nothing");
    }
    let open = |path: &std::path::Path| {
        let mut config = temp.config(1000);
        config.path = path.to_path_buf();
        EventLog::open(config, temp.key.clone()).unwrap()
    };
    let log = open(&between);
    let seqs = (log.next_seq(user_sid(1)).unwrap(), log.next_seq(user_sid(2)).unwrap());
    assert_eq!(seqs, (0, 0), "the first append's flush did not make it durable alone");
    assert_eq!(log.lookup(IndexKind::UserIdentity, service, "alice").unwrap(), None);
    assert!(log.verify(VerifyMode::Full, &mut |_| {}).unwrap().is_clean());
    log.close().unwrap();
    let log = open(&after);
    let seqs = (log.next_seq(user_sid(1)).unwrap(), log.next_seq(user_sid(2)).unwrap());
    assert_eq!(seqs, (1, 1), "both, once the group's flush is done");
    let owner = log.lookup(IndexKind::UserIdentity, service, "bob").unwrap();
    assert_eq!(owner.map(|(sid, _)| sid), Some(user_sid(2)));
    assert!(log.verify(VerifyMode::Full, &mut |_| {}).unwrap().is_clean());
}
