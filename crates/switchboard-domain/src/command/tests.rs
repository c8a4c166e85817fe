//! Business rules of `decide`, as given/when/then: the events a channel already has, the command,
//! and the events (or the rejection) expected.

use crate::{
    decide, ChannelCommand, ChannelEvent, ChannelKind, ChannelState, DeactivationReason,
    MessageSource, NewChannel, NewMessage, ReactivationReason, Recorded, Rejection, Sid, SidPrefix,
    TaskOutcome, Timestamp,
};

fn sid(prefix: SidPrefix, n: u8) -> Sid {
    Sid::from_parts(prefix, [n; 16])
}

fn given(events: &[ChannelEvent]) -> ChannelState {
    let mut state = ChannelState::default();
    for (i, event) in events.iter().enumerate() {
        state.apply(&Recorded::new(Timestamp(i as i64 * 1000), event.clone()));
    }
    state
}

fn created(long_lived: bool, janitor_enabled: bool) -> ChannelEvent {
    ChannelEvent::ChannelCreated {
        channel_sid: sid(SidPrefix::CHANNEL, 1),
        service_sid: sid(SidPrefix::SERVICE, 1),
        kind: ChannelKind::Private,
        friendly_name: None,
        unique_name: None,
        attributes: "{}".into(),
        created_by: "system".into(),
        flex_flow_sid: Some(sid(SidPrefix::FLEX_FLOW, 1)),
        customer_address: Some("+14155550100".into()),
        long_lived,
        janitor_enabled,
    }
}

fn post(source: MessageSource) -> ChannelCommand {
    ChannelCommand::PostMessage(NewMessage {
        message_sid: sid(SidPrefix::MESSAGE, 9),
        author: "someone".into(),
        body: "hello".into(),
        attributes: "{}".into(),
        media: None,
        source,
        provider_message_id: None,
    })
}

fn linked(n: u8) -> ChannelEvent {
    ChannelEvent::TaskLinked {
        task_sid: sid(SidPrefix::TASK, n),
        attributes: "{}".into(),
        priority: 0,
        timeout_secs: 60,
    }
}

fn deactivated() -> ChannelEvent {
    ChannelEvent::ChannelDeactivated { reason: DeactivationReason::Api }
}

#[test]
fn commands_need_an_existing_unerased_channel() {
    assert_eq!(decide(&given(&[]), ChannelCommand::Deactivate), Err(Rejection::ChannelNotFound));
    let erased = given(&[
        created(false, true),
        ChannelEvent::DataErased { reason: crate::ErasureReason::Operator },
    ]);
    assert_eq!(decide(&erased, post(MessageSource::Agent)), Err(Rejection::ChannelErased));
    let new = NewChannel {
        channel_sid: sid(SidPrefix::CHANNEL, 1),
        service_sid: sid(SidPrefix::SERVICE, 1),
        kind: ChannelKind::Public,
        friendly_name: None,
        unique_name: None,
        attributes: "{}".into(),
        created_by: "system".into(),
        flex_flow_sid: None,
        customer_address: Some("+1".into()),
        long_lived: false,
        janitor_enabled: false,
    };
    assert!(matches!(
        decide(&given(&[]), ChannelCommand::Create(new.clone())),
        Err(Rejection::Invalid(_))
    ));
    let valid = NewChannel { customer_address: None, ..new };
    assert_eq!(
        decide(&given(&[created(false, true)]), ChannelCommand::Create(valid)),
        Err(Rejection::ChannelExists)
    );
}

#[test]
fn only_the_customer_reopens_and_only_a_long_lived_channel() {
    let closed_normal = given(&[created(false, true), deactivated()]);
    assert_eq!(
        decide(&closed_normal, post(MessageSource::Customer)),
        Err(Rejection::ChannelInactive)
    );
    let closing = decide(&closed_normal, post(MessageSource::System)).unwrap();
    assert!(
        matches!(closing[..], [ChannelEvent::MessageAdded { index: 0, .. }]),
        "a closing message is kept, nothing reopens"
    );
    let closed_long = given(&[created(true, true), deactivated()]);
    let events = decide(&closed_long, post(MessageSource::Customer)).unwrap();
    assert_eq!(
        events[0],
        ChannelEvent::ChannelReactivated { reason: ReactivationReason::CustomerMessage }
    );
    assert!(matches!(events[1], ChannelEvent::MessageAdded { index: 0, .. }));
    assert_eq!(decide(&closed_long, post(MessageSource::Agent)).unwrap().len(), 1);
}

#[test]
fn the_end_of_the_last_task_ends_the_interaction_but_a_transfer_does_not() {
    let one = given(&[created(false, true), linked(1)]);
    let end = ChannelCommand::EndTask {
        task_sid: sid(SidPrefix::TASK, 1),
        outcome: TaskOutcome::Completed,
    };
    let events = decide(&one, end.clone()).unwrap();
    assert_eq!(
        events.last(),
        Some(&ChannelEvent::ChannelDeactivated { reason: DeactivationReason::InteractionEnded })
    );
    let transfer = given(&[created(false, true), linked(1), linked(2)]);
    assert_eq!(decide(&transfer, end.clone()).unwrap().len(), 1, "task 2 is still live");
    let no_janitor = given(&[created(false, false), linked(1)]);
    assert_eq!(
        decide(&no_janitor, end).unwrap().len(),
        1,
        "with the janitor off only the API deactivates"
    );
}

#[test]
fn the_janitor_retires_only_after_the_window_and_cancels_open_tasks() {
    let state = given(&[created(false, true), linked(1)]);
    let early = ChannelCommand::RetireIfIdle { now: Timestamp(60_000), window_millis: 120_000 };
    assert!(decide(&state, early).unwrap().is_empty());
    let late = ChannelCommand::RetireIfIdle { now: Timestamp(500_000), window_millis: 120_000 };
    let events = decide(&state, late.clone()).unwrap();
    assert!(
        matches!(&events[0], ChannelEvent::TaskEnded { outcome: TaskOutcome::Canceled { reason }, .. } if reason.contains("inactive"))
    );
    assert!(matches!(
        events[1],
        ChannelEvent::ChannelDeactivated { reason: DeactivationReason::Inactivity { .. } }
    ));
    assert!(decide(&given(&[created(false, false)]), late.clone()).unwrap().is_empty());
    assert!(decide(&given(&[created(false, true), deactivated()]), late).unwrap().is_empty());
}

#[test]
fn redundant_changes_record_nothing() {
    let state = given(&[created(false, true), deactivated()]);
    assert!(decide(&state, ChannelCommand::Deactivate).unwrap().is_empty());
    assert!(decide(&state, ChannelCommand::UpdateAttributes { attributes: "{}".into() })
        .unwrap()
        .is_empty());
    let with_task = given(&[created(false, true), linked(1)]);
    let ensure = ChannelCommand::EnsureTask {
        task_sid: sid(SidPrefix::TASK, 2),
        attributes: "{}".into(),
        priority: 0,
        timeout_secs: 1,
    };
    assert!(decide(&with_task, ensure).unwrap().is_empty());
}

#[test]
fn messages_keep_their_indexes_and_deliveries_never_go_back() {
    let mut state = given(&[created(false, true)]);
    for _ in 0..3 {
        for event in decide(&state, post(MessageSource::Agent)).unwrap() {
            state.apply(&Recorded::new(Timestamp(5), event));
        }
    }
    assert_eq!(state.next_message_index, 3);
    state.apply(&Recorded::new(Timestamp(6), ChannelEvent::MessageRemoved { index: 1 }));
    assert_eq!(
        decide(&state, ChannelCommand::RemoveMessage { index: 1 }),
        Err(Rejection::MessageNotFound(1))
    );
    assert!(matches!(
        decide(&state, post(MessageSource::Agent)).unwrap()[0],
        ChannelEvent::MessageAdded { index: 3, .. }
    ));
    let read = ChannelCommand::RecordDelivery {
        index: 0,
        status: crate::DeliveryStatus::Read,
        error: None,
    };
    for event in decide(&state, read).unwrap() {
        state.apply(&Recorded::new(Timestamp(7), event));
    }
    let delivered = ChannelCommand::RecordDelivery {
        index: 0,
        status: crate::DeliveryStatus::Delivered,
        error: None,
    };
    assert!(decide(&state, delivered).unwrap().is_empty());
}
