//! Property: for random command sequences run through `ChannelLog::execute` on a real log with a
//! small `snapshot_every`, what is stored is exactly what was executed, and `ChannelLog::load`
//! (snapshot + tail) equals `ChannelState::replay` of every event read back, before and after a
//! reopen.

mod support;

use proptest::prelude::*;
use support::{channel_sid, events, new_channel, sid, TempLog};
use switchboard_domain::{
    ChannelCommand, ChannelState, DeliveryStatus, ErasureReason, Media, MessageSource, NewMessage,
    ProviderError, Recorded, SidPrefix, TaskOutcome, Timestamp,
};
use switchboard_store::ChannelLog;

/// A command of kind `kind`, its details drawn from `n`. Many are rejected against the state they
/// meet (a member that is not there, a message already removed): that is part of the test.
fn command(kind: u8, n: u32) -> ChannelCommand {
    let member = sid(SidPrefix::MEMBER, n % 3);
    let task = sid(SidPrefix::TASK, n % 3);
    let index = u64::from(n % 8);
    match kind % 20 {
        0..=4 => ChannelCommand::PostMessage(NewMessage {
            author: format!("author {}", n % 4),
            body: if n.is_multiple_of(7) { String::new() } else { format!("body {n}") },
            attributes: "{}".into(),
            media: n.is_multiple_of(5).then(|| Media {
                sid: sid(SidPrefix::MEDIA, n),
                content_type: "image/png".into(),
                size_bytes: u64::from(n),
                filename: None,
                provider_ref: None,
                fetch: false,
            }),
            source: [MessageSource::Customer, MessageSource::Agent, MessageSource::System]
                [n as usize % 3],
            provider_message_id: n.is_multiple_of(2).then(|| format!("SM{n}")),
        }),
        5 => ChannelCommand::AddMember {
            member_sid: member,
            identity: format!("id {}", n % 4),
            role_sid: None,
            attributes: "{}".into(),
        },
        6 => ChannelCommand::UpdateMember {
            member_sid: member,
            role_sid: n.is_multiple_of(2).then(|| sid(SidPrefix::ROLE, n % 2)),
            attributes: Some(format!(r#"{{"n":{}}}"#, n % 3)),
        },
        7 => ChannelCommand::RemoveMember { member_sid: member },
        8 => ChannelCommand::UpdateReadHorizon {
            member_sid: member,
            last_consumed_index: Some(index),
        },
        9 => ChannelCommand::EditMessage {
            index,
            body: Some(format!("edited {n}")),
            attributes: None,
            edited_by: None,
        },
        10 => ChannelCommand::RemoveMessage { index },
        11 => ChannelCommand::RecordDelivery {
            index,
            status: [
                DeliveryStatus::Sent,
                DeliveryStatus::Delivered,
                DeliveryStatus::Read,
                DeliveryStatus::Failed,
            ][n as usize % 4],
            error: (n % 4 == 3)
                .then(|| ProviderError { code: "30003".into(), message: "unreachable".into() }),
        },
        12 => ChannelCommand::LinkTask {
            task_sid: task,
            attributes: "{}".into(),
            priority: 1,
            timeout_secs: 60,
        },
        13 => ChannelCommand::EndTask {
            task_sid: task,
            outcome: if n.is_multiple_of(2) {
                TaskOutcome::Completed
            } else {
                TaskOutcome::Canceled { reason: "transfer".into() }
            },
        },
        14 => ChannelCommand::EnsureTask {
            task_sid: task,
            attributes: "{}".into(),
            priority: 0,
            timeout_secs: 30,
        },
        15 => ChannelCommand::Deactivate,
        16 => ChannelCommand::Reactivate,
        17 => ChannelCommand::RetireIfIdle {
            now: Timestamp(i64::from(n) * 1_000),
            window_millis: 5_000,
        },
        18 => ChannelCommand::Rename {
            friendly_name: Some(format!("name {}", n % 3)),
            unique_name: (!n.is_multiple_of(3)).then(|| format!("unique {}", n % 2)),
        },
        _ if n.is_multiple_of(25) => ChannelCommand::Erase { reason: ErasureReason::Retention },
        _ => ChannelCommand::UpdateAttributes { attributes: format!(r#"{{"v":{}}}"#, n % 5) },
    }
}

/// The property itself, for one sequence of `(kind, n, commands in the append)` steps.
fn snapshot_plus_tail_is_full_replay(
    steps: &[(u8, u32, usize)],
    every: u64,
    long_lived: bool,
    janitor: bool,
) -> Result<(), TestCaseError> {
    let temp = TempLog::new();
    let log = temp.open(every);
    let mut new = new_channel(1, "+14155550001");
    new.long_lived = long_lived;
    new.janitor_enabled = janitor;
    let (mut channel, created) = ChannelLog::create(&log, new, Timestamp(0)).unwrap().unwrap();
    let mut executed: Vec<Recorded> =
        created.events.into_iter().map(|e| Recorded::new(Timestamp(0), e)).collect();
    for (step, (kind, n, size)) in steps.iter().enumerate() {
        let at = Timestamp(i64::try_from(step).unwrap() * 1_000 + 1);
        // Sometimes two commands in one atomic append, which may cross a snapshot mark.
        let commands = (0..*size)
            .map(|k| command(kind.wrapping_add(k as u8 * 7), n.wrapping_add(k as u32)))
            .collect();
        if let Ok(done) = channel.execute_all(&log, commands, at).unwrap() {
            executed.extend(done.events.into_iter().map(|e| Recorded::new(at, e)));
        }
    }
    log.flush().unwrap();
    let stored = events(&log, channel.sid());
    prop_assert_eq!(&stored, &executed);
    let full = ChannelState::replay(&stored);
    prop_assert_eq!(&full, channel.state());
    // An erased channel writes no snapshot (there is no content left to save replaying),
    // so one erased by the append that crossed the first mark has none.
    let snapshot = log.load_snapshot::<ChannelState>(channel.sid()).unwrap();
    if full.events_applied >= every && !full.erased {
        prop_assert!(snapshot.is_some(), "a snapshot once the first mark is crossed");
    }
    if let Some((covered, _)) = snapshot {
        prop_assert!(covered >= every && covered <= full.events_applied);
    }
    let loaded = ChannelLog::load(&log, channel.sid()).unwrap();
    prop_assert_eq!(loaded.state(), &full);
    log.close().unwrap();
    let log = temp.open(every);
    let reloaded = ChannelLog::load(&log, channel_sid(1)).unwrap();
    prop_assert_eq!(reloaded.state(), &full);
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(32))]

    #[test]
    fn snapshot_plus_tail_equals_full_replay(
        steps in proptest::collection::vec((any::<u8>(), any::<u32>(), 1usize..3), 1..70),
        every in 3u64..=7,
        long_lived in any::<bool>(),
        janitor in any::<bool>(),
    ) {
        snapshot_plus_tail_is_full_replay(&steps, every, long_lived, janitor)?;
    }
}

/// Found by the property: the append that crosses the first mark also erases the channel, which
/// then writes no snapshot.
#[test]
fn a_channel_erased_by_the_append_crossing_the_mark_is_still_replayed_whole() {
    let steps = [(78, 0, 1), (140, 48, 1), (249, 294_681_904, 2), (212, 2_638_693_874, 2)];
    snapshot_plus_tail_is_full_replay(&steps, 7, false, false).unwrap();
}
