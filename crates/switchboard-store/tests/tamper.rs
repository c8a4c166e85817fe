//! Tampering with a real (closed) data folder through sled: a record copied to another channel
//! or moved to another position does not open, reading it is a `Corrupt` error and verify names
//! it; and a forgery that rewrites a whole chain consistently, which the key-less check cannot
//! see, is still caught by the tags in `VerifyMode::Full`.

mod support;

use support::{channel_sid, channel_with, event_key, stream_key, TempLog, PREV_HASH};
use switchboard_crypto::chain_hash;
use switchboard_domain::Recorded;
use switchboard_store::{verify_raw, Head, ReplayRecord, StoreError, VerifyMode};

fn two_channels() -> TempLog {
    let temp = TempLog::new();
    let log = temp.open(1000);
    channel_with(&log, 1, "+14155550001", 4);
    channel_with(&log, 2, "+14155550002", 4);
    log.close().unwrap();
    temp
}

#[test]
fn a_record_copied_to_another_channel_does_not_open() {
    let temp = two_channels();
    temp.tamper(|tree| {
        let copied = tree.get(event_key(channel_sid(1), 2)).unwrap().unwrap();
        tree.insert(event_key(channel_sid(2), 2), copied).unwrap();
    });
    let log = temp.open(1000);
    let read: Vec<_> = log.read::<Recorded>(channel_sid(2), 0).collect();
    assert_eq!(read.len(), 5);
    assert!(read[..2].iter().all(|r| matches!(r, Ok(ReplayRecord::Event { .. }))));
    match &read[2] {
        Err(StoreError::Corrupt { stream, seq: 2, problem }) => {
            assert_eq!(*stream, channel_sid(2));
            assert!(problem.contains("authentication tag"), "{problem}");
        }
        other => panic!("expected a corrupt record, got {other:?}"),
    }
    let report = log.verify(VerifyMode::Full, &mut |_| {}).unwrap();
    assert!(!report.is_clean());
    assert_eq!((report.findings[0].stream, report.findings[0].seq), (channel_sid(2), 2));
    assert!(report.findings.iter().all(|f| f.stream == channel_sid(2)), "{:?}", report.findings);
}

#[test]
fn a_consistently_rechained_forgery_passes_the_chain_but_not_the_tags() {
    let temp = two_channels();
    // Channel 1's record 2 put at channel 2's seq 2, its predecessor hash fixed up, and every later
    // record and the head re-chained: everything someone without the keys could do.
    temp.tamper(|tree| {
        let b = channel_sid(2);
        let mut prev = chain_hash(&tree.get(event_key(b, 1)).unwrap().unwrap());
        let mut forged = tree.get(event_key(channel_sid(1), 2)).unwrap().unwrap().to_vec();
        for seq in 2..5 {
            if seq > 2 {
                forged = tree.get(event_key(b, seq)).unwrap().unwrap().to_vec();
            }
            forged[PREV_HASH].copy_from_slice(&prev);
            prev = chain_hash(&forged);
            tree.insert(event_key(b, seq), forged.clone()).unwrap();
        }
        tree.insert(stream_key(b'H', b), &Head { next_seq: 5, last_hash: prev }.to_bytes()[..])
            .unwrap();
    });
    let report = verify_raw(&temp.raw(), &mut |_| {}).unwrap();
    assert!(report.is_clean(), "the documented limit of a key-less check: {:?}", report.findings);

    let log = temp.open(1000);
    let report = log.verify(VerifyMode::Full, &mut |_| {}).unwrap();
    let named: Vec<_> = report.findings.iter().map(|f| (f.stream, f.seq)).collect();
    assert_eq!(named, [(channel_sid(2), 2), (channel_sid(2), 3), (channel_sid(2), 4)]);
    assert!(report.findings.iter().all(|f| f.problem.contains("authentication tag")));
    assert!(matches!(
        log.read::<Recorded>(channel_sid(2), 2).next(),
        Some(Err(StoreError::Corrupt { seq: 2, .. }))
    ));
    // Channel 1 is intact.
    assert_eq!(support::events(&log, channel_sid(1)).len(), 5);
}

#[test]
fn records_swapped_within_a_channel_do_not_open() {
    let temp = TempLog::new();
    {
        let log = temp.open(1000);
        channel_with(&log, 1, "+14155550001", 4);
        log.close().unwrap();
    }
    temp.tamper(|tree| {
        let two = tree.get(event_key(channel_sid(1), 2)).unwrap().unwrap();
        let three = tree.get(event_key(channel_sid(1), 3)).unwrap().unwrap();
        tree.insert(event_key(channel_sid(1), 2), three).unwrap();
        tree.insert(event_key(channel_sid(1), 3), two).unwrap();
    });
    let raw_report = verify_raw(&temp.raw(), &mut |_| {}).unwrap();
    assert_eq!(raw_report.findings[0].seq, 2, "without keys: the chain breaks at the swap");
    let log = temp.open(1000);
    let opened: Vec<bool> = log
        .read::<Recorded>(channel_sid(1), 0)
        .map(|r| matches!(r, Ok(ReplayRecord::Event { .. })))
        .collect();
    assert_eq!(opened, [true, true, false, false, true]);
}
