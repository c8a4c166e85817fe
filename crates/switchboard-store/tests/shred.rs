//! Shredding a channel: its records stay in the chain but can never be read again, the clear
//! erasure marker says what happened, verify stays clean and counts the shredded records, no
//! write is taken any more, its index entries and snapshot are gone, and other channels are
//! untouched.

mod support;

use support::{
    channel_sid, channel_with, events, flow, key_key, records, service, sid, stream_key, TempLog,
};
use switchboard_domain::{
    ChannelCommand, ChannelEvent, ErasureReason, IndexKind, Recorded, SidPrefix, Timestamp,
};
use switchboard_store::{
    verify_raw, ChannelLog, IndexChanges, ReplayRecord, StoreError, VerifyMode,
};

const SHREDDED: &str = "+14155550001";
const KEPT: &str = "+14155550002";

fn assert_shredded_view(log: &switchboard_store::EventLog, unreadable: u64) {
    let read = records(log, channel_sid(1));
    assert_eq!(read.len() as u64, unreadable + 1);
    for (seq, record) in read.iter().enumerate().take(read.len() - 1) {
        assert_eq!(record, &ReplayRecord::Shredded { stream: channel_sid(1), seq: seq as u64 });
    }
    match read.last().unwrap() {
        ReplayRecord::Event { seq, event, .. } => {
            assert_eq!(*seq, unreadable);
            assert_eq!(
                event.event,
                ChannelEvent::DataErased { reason: ErasureReason::SubjectRequest }
            );
            assert_eq!(event.at, Timestamp(500));
        }
        other => panic!("the marker must stay readable, got {other:?}"),
    }
    let state = ChannelLog::load(log, channel_sid(1)).unwrap();
    assert!(state.state().erased);
    assert_eq!(state.state().events_applied, unreadable + 1);
    assert!(state.state().members.is_empty());
    assert_eq!(state.state().customer_address, None);
}

#[test]
fn a_shredded_channel_is_unreadable_verifiable_and_closed_to_writes() {
    let temp = TempLog::new();
    let log = temp.open(3);
    let mut doomed = channel_with(&log, 1, SHREDDED, 4);
    let join = ChannelCommand::AddMember {
        member_sid: sid(SidPrefix::MEMBER, 1),
        identity: "customer-identity".into(),
        role_sid: None,
        attributes: "{}".into(),
    };
    doomed.execute(&log, join, Timestamp(20)).unwrap().unwrap();
    let kept = channel_with(&log, 2, KEPT, 3);
    let kept_events = events(&log, kept.sid());
    let kept_head = log.head(kept.sid()).unwrap();
    let unreadable = log.next_seq(doomed.sid()).unwrap();
    assert_eq!(unreadable, 6, "created, 4 messages, a member");
    let stale = doomed.clone();

    let outcome = doomed.shred(&log, ErasureReason::SubjectRequest, Timestamp(500)).unwrap();
    log.wait_durable_blocking(outcome.ticket).unwrap();
    assert_eq!(outcome.records_made_unreadable, unreadable);
    assert_shredded_view(&log, unreadable);

    let report = log.verify(VerifyMode::Full, &mut |_| {}).unwrap();
    assert!(report.is_clean(), "{:?}", report.findings);
    assert_eq!((report.records, report.shredded_records), (unreadable + 1 + 4, unreadable));
    let report = log.verify(VerifyMode::Integrity, &mut |_| {}).unwrap();
    assert!(report.is_clean(), "{:?}", report.findings);
    assert_eq!(report.shredded_records, unreadable);

    // No write is taken any more: not an append at the right place, not a second shred.
    let marker =
        Recorded::new(Timestamp(600), ChannelEvent::DataErased { reason: ErasureReason::Operator });
    let head = log.next_seq(channel_sid(1)).unwrap();
    assert!(matches!(
        log.append(channel_sid(1), head, &[marker], &IndexChanges::default()),
        Err(StoreError::Shredded(s)) if s == channel_sid(1)
    ));
    let again = ChannelLog::load(&log, channel_sid(1)).unwrap();
    assert!(matches!(
        again.shred(&log, ErasureReason::Operator, Timestamp(700)),
        Err(StoreError::Shredded(_))
    ));
    // A writer still holding the old state is turned away too (it is behind the marker).
    let mut stale = stale;
    assert!(stale.execute(&log, support::message(9, "x", "late"), Timestamp(800)).is_err());
    assert_eq!(log.next_seq(channel_sid(1)).unwrap(), unreadable + 1);
    assert!(log
        .load_snapshot::<switchboard_domain::ChannelState>(channel_sid(1))
        .unwrap()
        .is_none());

    // Its index entries are gone; the other channel's are all there.
    let unique = |address: &str| {
        log.lookup(IndexKind::UniqueName, Some(service()), &format!("unique-{address}")).unwrap()
    };
    assert_eq!(log.lookup(IndexKind::Binding, Some(flow()), SHREDDED).unwrap(), None);
    assert_eq!(unique(SHREDDED), None);
    for id in 1000..1004 {
        assert_eq!(support::indexed_channel_of(&log, id), None, "message {id}");
    }
    assert_eq!(
        log.lookup(IndexKind::Binding, Some(flow()), KEPT).unwrap(),
        Some((kept.sid(), None))
    );
    assert_eq!(unique(KEPT), Some((kept.sid(), None)));
    assert_eq!(support::indexed_channel_of(&log, 2002), Some(kept.sid()));

    // The other channel reads and takes writes as before.
    assert_eq!(events(&log, kept.sid()), kept_events);
    assert_eq!(log.head(kept.sid()).unwrap(), kept_head);
    let mut kept = kept;
    kept.execute(&log, support::message(2100, KEPT, "still here"), Timestamp(900))
        .unwrap()
        .unwrap();
    log.close().unwrap();

    // On disk: tombstones for the shredded key, no snapshot; the other key and snapshot stay.
    let keys = temp.entries(b'K');
    assert_eq!(keys[&key_key(channel_sid(1), 1)], b"shredded");
    assert_ne!(keys[&key_key(channel_sid(2), 1)], b"shredded");
    let snapshots = temp.entries(b'S');
    assert!(!snapshots.contains_key(&stream_key(b'S', channel_sid(1))));
    assert!(snapshots.contains_key(&stream_key(b'S', channel_sid(2))));

    // An auditor without keys sees clean chains and the shredded count.
    let report = verify_raw(&temp.raw(), &mut |_| {}).unwrap();
    assert!(report.is_clean(), "{:?}", report.findings);
    assert_eq!((report.streams, report.records), (2, unreadable + 1 + 5));
    assert_eq!(report.shredded_records, unreadable);

    // And a reopened log still shows the same.
    let log = temp.open(3);
    assert_shredded_view(&log, unreadable);
}

#[test]
fn shredding_a_channel_that_was_never_written_is_not_found() {
    let temp = TempLog::new();
    let log = temp.open(1000);
    assert!(matches!(
        ChannelLog::new(channel_sid(5)).shred(&log, ErasureReason::Retention, Timestamp(1)),
        Err(StoreError::NotFound(_))
    ));
    assert_eq!(log.next_seq(channel_sid(5)).unwrap(), 0);
}

#[test]
fn a_shred_after_a_clean_mark_takes_the_mark_away() {
    // Otherwise a crash between the marker and the key's destruction would skip recovery, and
    // the "erased" channel would stay readable.
    let temp = TempLog::new();
    let log = temp.open(1000);
    let channel = channel_with(&log, 1, SHREDDED, 1);
    log.mark_clean().unwrap();
    let outcome = channel.shred(&log, ErasureReason::Retention, Timestamp(5)).unwrap();
    log.wait_durable_blocking(outcome.ticket).unwrap();
    drop(log); // no close: as if the process died here
    assert!(temp.raw().tree().get(b"Mclean").unwrap().is_none());
}

/// A task's stream shredded with its channel: every record before the marker is unreadable (the
/// customer's name in its attributes included), the marker is clear and says what the task
/// keeps, and the stream takes nothing more.
#[test]
fn a_shredded_task_keeps_its_state_without_the_customer_s_data_and_takes_no_more_writes() {
    use switchboard_routing::task::{Route, TaskCommand, TaskEvent, TaskState};
    use switchboard_store::{shred_task, StreamLog};

    let temp = TempLog::new();
    let log = temp.open(3);
    let task_sid = sid(SidPrefix::TASK, 1);
    let mut task = StreamLog::<TaskState>::new(task_sid);
    let create = TaskCommand::Create {
        task_sid,
        account_sid: sid(SidPrefix::ACCOUNT, 1),
        workspace_sid: sid(SidPrefix::WORKSPACE, 1),
        workflow_sid: sid(SidPrefix::WORKFLOW, 1),
        task_channel_sid: sid(SidPrefix::TASK_CHANNEL, 1),
        task_channel_unique_name: "chat".into(),
        attributes: r#"{"name":"Ada Lovelace","from":"+14155550001"}"#.into(),
        priority: 0,
        timeout_secs: 3600,
        at: Timestamp(10),
    };
    let route = Route::new(sid(SidPrefix::TASK_QUEUE, 1), 0, None);
    task.execute(&log, create, Timestamp(10)).unwrap().unwrap();
    let enter = TaskCommand::EnterQueue { route, at: Timestamp(10) };
    task.execute(&log, enter, Timestamp(10)).unwrap().unwrap();
    let cancel = TaskCommand::Cancel { reason: "Ada asked".into() };
    task.execute(&log, cancel, Timestamp(20)).unwrap().unwrap();
    let kept = Box::new(task.state().without_customer_data());
    let marker = Recorded::new(Timestamp(30), TaskEvent::TaskShredded { kept });
    let outcome = shred_task(&log, task_sid, &marker).unwrap();
    assert_eq!(outcome.records_made_unreadable, 3);
    log.wait_durable_blocking(outcome.ticket).unwrap();

    let read: Vec<_> = log.read::<Recorded<TaskEvent>>(task_sid, 0).map(Result::unwrap).collect();
    assert_eq!(read.len(), 4);
    for (seq, record) in read.iter().take(3).enumerate() {
        assert_eq!(record, &ReplayRecord::Shredded { stream: task_sid, seq: seq as u64 });
    }
    assert!(matches!(&read[3], ReplayRecord::Event { event, .. } if event.event == marker.event));
    let reloaded = StreamLog::<TaskState>::load(&log, task_sid).unwrap();
    let state = reloaded.state();
    assert_eq!(state.attributes, "{}");
    assert!(state.attributes_erased && state.reason.is_none());
    assert_eq!(state.sid, Some(task_sid));
    assert_eq!(state.assignment_status.as_str(), "canceled", "the task's facts are kept");
    assert_eq!(state.events_applied, 4);

    let again = shred_task(&log, task_sid, &marker);
    assert!(matches!(again, Err(StoreError::Shredded(_))), "{again:?}");
    let mut closed = StreamLog::<TaskState>::load(&log, task_sid).unwrap();
    let erase = closed.execute(&log, TaskCommand::Delete, Timestamp(40));
    assert!(erase.is_err() || erase.is_ok_and(|done| done.is_err()), "no write is taken");
    log.close().unwrap();
    // The marker is the one record in the clear: it holds nothing of the customer's.
    for bytes in temp.entries(b'E').values() {
        let text = String::from_utf8_lossy(bytes);
        assert!(!text.contains("Lovelace") && !text.contains("Ada asked"), "{text}");
    }
}
