//! Records moved between channels or positions do not open; verify names them.

mod support;

use support::{channel_with, TempLog};
use switchboard_domain::{Recorded, SidPrefix};
use switchboard_store::{RawLog, ReplayRecord, StoreError, VerifyMode};

fn event_key(channel: u32, seq: u64) -> Vec<u8> {
    let mut key = vec![b'E'];
    key.extend_from_slice(&support::sid(SidPrefix::CHANNEL, channel).to_bytes());
    key.extend_from_slice(&seq.to_be_bytes());
    key
}

#[test]
fn a_record_copied_to_another_channel_does_not_open() {
    let temp = TempLog::new();
    {
        let log = temp.open(1000);
        channel_with(&log, 1, "+14155550001", 3);
        channel_with(&log, 2, "+14155550002", 3);
        log.close().unwrap();
    }
    {
        let raw = RawLog::open(&temp.path()).unwrap();
        let moved = raw.tree().get(event_key(1, 2)).unwrap().unwrap();
        raw.tree().insert(event_key(2, 2), moved).unwrap();
        raw.tree().flush().unwrap();
    }
    let log = temp.open(1000);
    let read: Vec<_> = log.read::<Recorded>(support::sid(SidPrefix::CHANNEL, 2), 0).collect();
    assert!(matches!(read[2], Err(StoreError::Corrupt { seq: 2, .. })), "{:?}", read[2]);
    let report = log.verify(VerifyMode::Full, &mut |_| {}).unwrap();
    assert_eq!(report.findings[0].stream, support::sid(SidPrefix::CHANNEL, 2));
    assert_eq!(report.findings[0].seq, 2);
}

#[test]
fn a_record_moved_to_another_position_does_not_open() {
    let temp = TempLog::new();
    {
        let log = temp.open(1000);
        channel_with(&log, 1, "+14155550001", 4);
        log.close().unwrap();
    }
    {
        let raw = RawLog::open(&temp.path()).unwrap();
        let two = raw.tree().get(event_key(1, 2)).unwrap().unwrap();
        let three = raw.tree().get(event_key(1, 3)).unwrap().unwrap();
        raw.tree().insert(event_key(1, 2), three).unwrap();
        raw.tree().insert(event_key(1, 3), two).unwrap();
        raw.tree().flush().unwrap();
    }
    let log = temp.open(1000);
    let opened: Vec<bool> = log
        .read::<Recorded>(support::sid(SidPrefix::CHANNEL, 1), 0)
        .map(|r| matches!(r, Ok(ReplayRecord::Event { .. })))
        .collect();
    assert_eq!(opened, [true, true, false, false, true]);
    let raw_report = {
        log.close().unwrap();
        let raw = RawLog::open(&temp.path()).unwrap();
        switchboard_store::verify_raw(&raw, &mut |_| {}).unwrap()
    };
    assert_eq!(raw_report.findings[0].seq, 2, "without keys: the chain breaks at the swap");
}
