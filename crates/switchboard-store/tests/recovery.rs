//! Crash recovery of unfinished writes: an append whose head never made it to disk is rolled
//! back with its index changes, a first append without a head disappears with its key, and a
//! shred interrupted after its marker is finished.

mod support;

use support::{channel_with, sid, TempLog};
use switchboard_domain::{ChannelCommand, ErasureReason, IndexKind, SidPrefix, Timestamp};
use switchboard_store::{ChannelLog, RawLog, VerifyMode};

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
    assert_eq!(log.lookup(IndexKind::ProviderMessage, None, "SMprovider2000").unwrap(), None);
    assert_eq!(
        log.lookup(IndexKind::UniqueName, Some(sid(SidPrefix::SERVICE, 1)), "unique-+14155550002")
            .unwrap(),
        None
    );
    assert!(log.lookup(IndexKind::ProviderMessage, None, "SMprovider1000").unwrap().is_some());
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
