//! Property tests of the channel domain: random command sequences go through `decide` against a
//! running state, the accepted events are applied with increasing timestamps, and the recorded
//! history must replay, snapshot and decide the same way whatever the sequence was.

use proptest::collection::vec;
use proptest::option;
use proptest::prelude::*;
use proptest::sample::{select, Index};
use proptest::strategy::ValueTree;
use proptest::test_runner::TestRunner;
use switchboard_domain::{
    decide, with_every_field, Cause, ChannelCommand, ChannelEvent, ChannelKind, ChannelState,
    DeactivationReason, DeliveryStatus, DomainEvent, ErasureReason, Media, MessageSource,
    NewChannel, NewMessage, ProviderError, ProviderMessageRef, ReactivationReason, Recorded,
    Rejection, Sid, SidPrefix, TaskOutcome, Timestamp, WebhookConfig, WebhookMethod,
};

/// When the first command of a sequence runs.
const BASE: i64 = 1_700_000_000_000;
/// The time between two commands. The j-th event of one command is recorded j ms after it.
const STEP: i64 = 1_000;
/// The number of generated cases of each property: enough to meet every rule, a few seconds.
const CASES: u32 = 128;

fn config() -> ProptestConfig {
    ProptestConfig::with_cases(CASES)
}

/// When the i-th command of a sequence runs.
fn at(i: usize) -> Timestamp {
    Timestamp(BASE + i as i64 * STEP)
}

fn sid(prefix: SidPrefix, n: u8) -> Sid {
    Sid::from_parts(prefix, [n; 16])
}

// ---------------------------------------------------------------------------------------------
// strategies: small pools of SIDs, names and indexes, so that commands meet each other
// ---------------------------------------------------------------------------------------------

fn pooled(prefix: SidPrefix, pool: u8) -> impl Strategy<Value = Sid> + Clone {
    (0..pool).prop_map(move |n| sid(prefix, n))
}

fn member() -> impl Strategy<Value = Sid> + Clone {
    pooled(SidPrefix::MEMBER, 4)
}

fn task() -> impl Strategy<Value = Sid> + Clone {
    pooled(SidPrefix::TASK, 4)
}

fn webhook() -> impl Strategy<Value = Sid> + Clone {
    pooled(SidPrefix::WEBHOOK, 3)
}

fn webhook_method() -> impl Strategy<Value = WebhookMethod> + Clone {
    select(vec![WebhookMethod::Get, WebhookMethod::Post])
}

/// Mostly valid filters, sometimes none or a name that is not a channel event.
fn webhook_filters() -> impl Strategy<Value = Vec<String>> + Clone {
    let valid = select(vec!["onMessageSent", "onMemberAdded", "onChannelUpdated"]);
    prop_oneof![
        4 => vec(valid, 1..3),
        1 => Just(Vec::new()),
        1 => Just(vec!["onMessageSend"]),
    ]
    .prop_map(|names| names.into_iter().map(str::to_owned).collect())
}

fn webhook_url() -> impl Strategy<Value = String> + Clone {
    prop_oneof![
        4 => select(vec!["https://a.example.com/hook", "http://127.0.0.1:9/b"]),
        1 => Just("ftp://c"),
    ]
    .prop_map(str::to_owned)
}

fn message_index() -> impl Strategy<Value = u64> + Clone {
    0..10u64
}

fn attributes() -> impl Strategy<Value = String> + Clone {
    select(vec!["{}", r#"{"a":1}"#, r#"{"status":"ACTIVE"}"#]).prop_map(str::to_owned)
}

fn name() -> impl Strategy<Value = Option<String>> + Clone {
    option::of(select(vec!["support", "sales"]).prop_map(str::to_owned))
}

fn source() -> impl Strategy<Value = MessageSource> + Clone {
    select(vec![
        MessageSource::Customer,
        MessageSource::Agent,
        MessageSource::Api,
        MessageSource::System,
    ])
}

fn status() -> impl Strategy<Value = DeliveryStatus> + Clone {
    select(vec![
        DeliveryStatus::Queued,
        DeliveryStatus::Sent,
        DeliveryStatus::Delivered,
        DeliveryStatus::Read,
        DeliveryStatus::Undelivered,
        DeliveryStatus::Failed,
    ])
}

fn provider_error() -> impl Strategy<Value = Option<ProviderError>> + Clone {
    option::of(Just(ProviderError { code: "30003".into(), message: "Unreachable".into() }))
}

fn outcome() -> impl Strategy<Value = TaskOutcome> + Clone {
    prop_oneof![
        Just(TaskOutcome::Completed),
        Just(TaskOutcome::Canceled { reason: "agent canceled".into() }),
    ]
}

fn erasure() -> impl Strategy<Value = ErasureReason> + Clone {
    select(vec![ErasureReason::SubjectRequest, ErasureReason::Retention, ErasureReason::Operator])
}

fn media() -> impl Strategy<Value = Option<Media>> + Clone {
    option::weighted(
        0.2,
        (0..3u8, 0..10_000u64, any::<bool>()).prop_map(|(n, size_bytes, fetch)| Media {
            sid: sid(SidPrefix::MEDIA, n),
            content_type: "image/png".into(),
            size_bytes,
            filename: None,
            provider_ref: fetch.then(|| "https://example.test/m".into()),
            fetch,
        }),
    )
}

/// Provider ids a customer's previous channel remembered: from the same few ids the messages
/// use, so that generated histories hold redeliveries of carried ids too.
fn carried() -> impl Strategy<Value = Vec<ProviderMessageRef>> {
    vec(
        (0..4u8, 0..6u64).prop_map(|(p, index)| ProviderMessageRef {
            id: format!("SM{p}"),
            channel_sid: sid(SidPrefix::CHANNEL, 9),
            index,
            at: Timestamp(0),
        }),
        0..3,
    )
}

/// Always valid: a routed customer channel or a bare one, either kind of lifetime and janitor.
fn new_channel() -> impl Strategy<Value = NewChannel> {
    (any::<bool>(), any::<bool>(), any::<bool>(), name(), any::<bool>(), carried()).prop_map(
        |(routed, long_lived, janitor_enabled, unique_name, public, carried)| NewChannel {
            channel_sid: sid(SidPrefix::CHANNEL, 1),
            service_sid: sid(SidPrefix::SERVICE, 1),
            kind: if public { ChannelKind::Public } else { ChannelKind::Private },
            friendly_name: Some("Customer".into()),
            unique_name,
            attributes: "{}".into(),
            created_by: "system".into(),
            flex_flow_sid: routed.then(|| sid(SidPrefix::FLEX_FLOW, 1)),
            customer_address: routed.then(|| "+14155550100".into()),
            long_lived,
            janitor_enabled,
            carried_provider_messages: carried,
        },
    )
}

fn new_message() -> impl Strategy<Value = NewMessage> {
    (select(vec!["", "hi", "hello"]), attributes(), media(), source(), option::of(0..5u8)).prop_map(
        |(body, attributes, media, source, provider)| NewMessage {
            author: format!("{source:?}"),
            body: body.into(),
            attributes,
            media,
            source,
            provider_message_id: provider.map(|p| format!("SM{p}")),
        },
    )
}

/// Any command but `Erase` and `Destroy`. `RetireIfIdle::now` is filled in by [`commands`].
fn command() -> impl Strategy<Value = ChannelCommand> {
    prop_oneof![
        8 => new_message().prop_map(ChannelCommand::PostMessage),
        2 => attributes().prop_map(|attributes| ChannelCommand::UpdateAttributes { attributes }),
        1 => (name(), name()).prop_map(|(friendly_name, unique_name)| {
            ChannelCommand::Rename { friendly_name, unique_name }
        }),
        3 => (member(), select(vec!["alice", "bob", "carol", " "]), option::of(pooled(SidPrefix::ROLE, 2)), attributes())
            .prop_map(|(member_sid, identity, role_sid, attributes)| ChannelCommand::AddMember {
                member_sid,
                identity: identity.into(),
                role_sid,
                attributes,
            }),
        2 => (member(), option::of(pooled(SidPrefix::ROLE, 2)), option::of(attributes())).prop_map(
            |(member_sid, role_sid, attributes)| ChannelCommand::UpdateMember {
                member_sid,
                role_sid,
                attributes,
            }
        ),
        1 => member().prop_map(|member_sid| ChannelCommand::RemoveMember { member_sid }),
        2 => (message_index(), option::of(Just("edited".to_owned())), option::of(attributes()))
            .prop_map(|(index, body, attributes)| ChannelCommand::EditMessage {
                index,
                body,
                attributes,
                edited_by: Some("agent".into()),
            }),
        2 => message_index().prop_map(|index| ChannelCommand::RemoveMessage { index }),
        2 => (member(), option::of(message_index())).prop_map(|(member_sid, last_consumed_index)| {
            ChannelCommand::UpdateReadHorizon { member_sid, last_consumed_index }
        }),
        3 => (task(), -5..5i64).prop_map(|(task_sid, priority)| ChannelCommand::LinkTask {
            task_sid,
            attributes: "{}".into(),
            priority,
            timeout_secs: 60,
        }),
        3 => (task(), outcome()).prop_map(|(task_sid, outcome)| ChannelCommand::EndTask {
            task_sid,
            outcome,
        }),
        2 => task().prop_map(|task_sid| ChannelCommand::EnsureTask {
            task_sid,
            attributes: "{}".into(),
            priority: 0,
            timeout_secs: 60,
        }),
        2 => Just(ChannelCommand::Deactivate),
        2 => Just(ChannelCommand::Reactivate),
        3 => select(vec![0, STEP as u64 / 2, 3 * STEP as u64, 20 * STEP as u64]).prop_map(
            |window_millis| ChannelCommand::RetireIfIdle { now: Timestamp(0), window_millis }
        ),
        4 => (message_index(), status(), provider_error()).prop_map(|(index, status, error)| {
            ChannelCommand::RecordDelivery { index, status, error }
        }),
        2 => (message_index(), proptest::option::of("[a-z0-9.]{1,12}"), 0i64..10_000).prop_map(
            |(index, provider_message_id, at)| ChannelCommand::RecordSent {
                index,
                provider_message_id,
                requested_at: Timestamp(at),
            }
        ),
        1 => (select(vec![DeliveryStatus::Delivered, DeliveryStatus::Read]), 0i64..10_000)
            .prop_map(|(status, at)| ChannelCommand::RecordWatermark { status, up_to: Timestamp(at) }),
        1 => new_channel().prop_map(ChannelCommand::Create),
        2 => (webhook(), webhook_url(), webhook_method(), webhook_filters(), 0..=4u8).prop_map(
            |(webhook_sid, url, method, filters, retry_count)| ChannelCommand::AddWebhook {
                webhook_sid,
                config: WebhookConfig { url, method, filters, retry_count },
            }
        ),
        2 => (webhook(), option::of(webhook_url()), option::of(webhook_method()), option::of(webhook_filters()), option::of(0..=4u8))
            .prop_map(|(webhook_sid, url, method, filters, retry_count)| {
                ChannelCommand::UpdateWebhook { webhook_sid, url, method, filters, retry_count }
            }),
        1 => webhook().prop_map(|webhook_sid| ChannelCommand::RemoveWebhook { webhook_sid }),
        2 => (pooled(SidPrefix::INVITE, 3), select(vec!["alice", "bob", "carol"]), option::of(pooled(SidPrefix::ROLE, 2)))
            .prop_map(|(invite_sid, identity, role_sid)| ChannelCommand::AddInvite {
                invite_sid,
                identity: identity.into(),
                role_sid,
                created_by: None,
            }),
        1 => pooled(SidPrefix::INVITE, 3).prop_map(|invite_sid| ChannelCommand::RemoveInvite { invite_sid }),
    ]
}

/// A sequence that starts with a valid `Create`, then a mix of every other command, with an
/// `Erase` somewhere in about one sequence out of five, and a `Destroy` in as many. The
/// janitor's `now` is the time the command runs at.
fn commands() -> impl Strategy<Value = Vec<ChannelCommand>> {
    (
        new_channel(),
        vec(command(), 0..60),
        option::weighted(0.2, (any::<Index>(), erasure())),
        option::weighted(0.2, any::<Index>()),
    )
        .prop_map(|(create, rest, erase, destroy)| {
            let mut all = vec![ChannelCommand::Create(create)];
            all.extend(rest);
            if let Some((position, reason)) = erase {
                let position = 1 + position.index(all.len());
                all.insert(position, ChannelCommand::Erase { reason });
            }
            if let Some(position) = destroy {
                let position = 1 + position.index(all.len());
                let reason = "the channel was deleted".to_owned();
                all.insert(position, ChannelCommand::Destroy { reason });
            }
            for (i, command) in all.iter_mut().enumerate() {
                if let ChannelCommand::RetireIfIdle { now, .. } = command {
                    *now = at(i);
                }
            }
            all
        })
}

// ---------------------------------------------------------------------------------------------
// running a sequence
// ---------------------------------------------------------------------------------------------

/// One command of a run: the state it met and what `decide` said.
struct Step {
    before: ChannelState,
    command: ChannelCommand,
    result: Result<Vec<ChannelEvent>, Rejection>,
    /// How many records existed after this step.
    records_after: usize,
}

struct Run {
    steps: Vec<Step>,
    records: Vec<Recorded>,
    /// The state kept up to date event by event, as a live channel actor does.
    live: ChannelState,
}

fn run(commands: &[ChannelCommand]) -> Run {
    let mut live = ChannelState::default();
    let mut records = Vec::new();
    let mut steps = Vec::new();
    for (i, command) in commands.iter().enumerate() {
        let result = decide(&live, command.clone());
        let before = live.clone();
        if let Ok(events) = &result {
            for (j, event) in events.iter().enumerate() {
                let record = Recorded::new(Timestamp(at(i).0 + j as i64), event.clone());
                live.apply(&record);
                records.push(record);
            }
        }
        steps.push(Step { before, command: command.clone(), result, records_after: records.len() });
    }
    Run { steps, records, live }
}

/// The state as a snapshot stores and restores it.
fn snapshot(state: &ChannelState) -> ChannelState {
    let bytes = rmp_serde::to_vec_named(state).expect("a state serializes");
    rmp_serde::from_slice(&bytes).expect("a snapshot deserializes")
}

fn check_counters(state: &ChannelState) -> Result<(), TestCaseError> {
    prop_assert!(state.removed_messages.len() as u64 <= state.next_message_index);
    prop_assert!(state.messages_count() <= state.next_message_index);
    prop_assert!(state.removed_messages.iter().all(|i| *i < state.next_message_index));
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// properties of decided histories
// ---------------------------------------------------------------------------------------------

proptest! {
    #![proptest_config(config())]

    /// (a) A snapshot taken anywhere, restored and followed by the rest of the log, is the state
    /// a full replay gives.
    #[test]
    fn snapshot_then_tail_equals_full_replay(commands in commands()) {
        let run = run(&commands);
        let full = ChannelState::replay(&run.records);
        for k in 0..=run.records.len() {
            let mut state = snapshot(&ChannelState::replay(&run.records[..k]));
            for record in &run.records[k..] {
                state.apply(record);
            }
            prop_assert_eq!(&state, &full, "snapshot after {} of {} records", k, run.records.len());
        }
    }

    /// (b) Replay agrees with the live state and counts every record, at every step.
    #[test]
    fn replay_counts_every_record_and_agrees_with_the_live_state(commands in commands()) {
        let run = run(&commands);
        let full = ChannelState::replay(&run.records);
        prop_assert_eq!(&full, &run.live);
        prop_assert_eq!(full.events_applied, run.records.len() as u64);
        for step in &run.steps {
            let replayed = ChannelState::replay(&run.records[..step.records_after]);
            prop_assert_eq!(replayed.events_applied, step.records_after as u64);
        }
    }

    /// (c) Counters stay consistent after every single event.
    #[test]
    fn messages_never_outnumber_the_indexes_given(commands in commands()) {
        let run = run(&commands);
        let mut state = ChannelState::default();
        for record in &run.records {
            state.apply(record);
            check_counters(&state)?;
        }
    }

    /// (d) `decide` depends on the state and the command only: asked twice, or asked of a state
    /// restored from a snapshot, it answers the same.
    #[test]
    fn decide_is_deterministic(commands in commands()) {
        let run = run(&commands);
        for step in &run.steps {
            prop_assert_eq!(&decide(&step.before, step.command.clone()), &step.result);
            prop_assert_eq!(&decide(&snapshot(&step.before), step.command.clone()), &step.result);
        }
    }

    /// Message indexes are handed out 0, 1, 2, ... and never twice, whatever was removed.
    #[test]
    fn message_indexes_are_consecutive_and_never_reused(commands in commands()) {
        let run = run(&commands);
        let indexes: Vec<u64> = run
            .records
            .iter()
            .filter_map(|r| match r.event {
                ChannelEvent::MessageAdded { index, .. } => Some(index),
                _ => None,
            })
            .collect();
        prop_assert_eq!(&indexes, &(0..indexes.len() as u64).collect::<Vec<_>>());
        prop_assert_eq!(run.live.next_message_index, indexes.len() as u64);
    }

    /// Every recorded delivery status of a message may follow the one recorded before it.
    #[test]
    fn recorded_delivery_statuses_never_move_backwards(commands in commands()) {
        let run = run(&commands);
        let mut last = std::collections::BTreeMap::new();
        for record in &run.records {
            if let ChannelEvent::DeliveryStatusChanged { index, status, .. } = record.event {
                if let Some(previous) = last.insert(index, status) {
                    prop_assert!(status.may_follow(previous), "{:?} after {:?}", status, previous);
                }
            }
        }
    }

    /// After an erasure nothing is recorded and every command is refused.
    #[test]
    fn nothing_is_recorded_after_erasure(commands in commands()) {
        let run = run(&commands);
        if let Some(position) =
            run.records.iter().position(|r| matches!(r.event, ChannelEvent::DataErased { .. }))
        {
            prop_assert_eq!(position + 1, run.records.len());
            for step in run.steps.iter().filter(|s| s.before.erased) {
                let expected = match step.command {
                    ChannelCommand::Create(_) => Rejection::ChannelExists,
                    _ => Rejection::ChannelErased,
                };
                prop_assert_eq!(&step.result, &Err(expected));
            }
            prop_assert!(run.live.index_entries().is_empty());
        }
    }

    /// After a deletion only the delivery outcomes of earlier replies are recorded; the channel
    /// has no member, no open task and no index entry of its own.
    #[test]
    fn only_delivery_outcomes_are_recorded_after_deletion(commands in commands()) {
        let run = run(&commands);
        if let Some(position) =
            run.records.iter().position(|r| matches!(r.event, ChannelEvent::ChannelDestroyed {}))
        {
            for record in &run.records[position + 1..] {
                let allowed = matches!(record.event, ChannelEvent::DeliveryStatusChanged { .. });
                prop_assert!(allowed, "{} after the deletion", record.event.type_name());
            }
            prop_assert!(run.live.members.is_empty() && run.live.open_tasks.is_empty());
            prop_assert!(run.live.index_entries().is_empty());
        }
    }

    /// Whenever the janitor retires a channel, no task is left open on it, and only a customer
    /// message to a long-lived channel reopens one.
    #[test]
    fn janitor_and_reopening_rules_hold(commands in commands()) {
        let run = run(&commands);
        for step in &run.steps {
            let Ok(events) = &step.result else { continue };
            if matches!(step.command, ChannelCommand::RetireIfIdle { .. }) && !events.is_empty() {
                let mut state = step.before.clone();
                for event in events {
                    state.apply(&Recorded::new(Timestamp(0), event.clone()));
                }
                prop_assert!(state.open_tasks.is_empty());
                let retired = matches!(
                    events.last(),
                    Some(ChannelEvent::ChannelDeactivated { reason: DeactivationReason::Inactivity { .. } })
                );
                prop_assert!(retired, "the janitor's last event retires the channel: {:?}", events);
            }
            let reopened = events.iter().any(|e| {
                matches!(e, ChannelEvent::ChannelReactivated { reason: ReactivationReason::CustomerMessage })
            });
            if reopened {
                prop_assert!(step.before.long_lived);
                let is_customer_message = matches!(
                    &step.command,
                    ChannelCommand::PostMessage(m) if m.source == MessageSource::Customer
                );
                prop_assert!(is_customer_message);
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// `apply` on any events at all, and time
// ---------------------------------------------------------------------------------------------

/// Any event with any values, including events `decide` would never let through.
fn cause() -> impl Strategy<Value = Cause> {
    prop_oneof![
        any::<bool>().prop_map(|webhooks| Cause::Api { webhooks }),
        "[a-z]{0,8}".prop_map(|identity| Cause::Client { identity }),
        Just(Cause::Provider),
        Just(Cause::System),
    ]
}

fn any_event() -> impl Strategy<Value = ChannelEvent> {
    let big_index = prop_oneof![0..6u64, any::<u64>()];
    prop_oneof![
        (new_channel(), any::<bool>()).prop_map(|(c, other)| ChannelEvent::ChannelCreated {
            channel_sid: sid(SidPrefix::CHANNEL, u8::from(other)),
            service_sid: c.service_sid,
            kind: c.kind,
            friendly_name: c.friendly_name,
            unique_name: c.unique_name,
            attributes: c.attributes,
            created_by: c.created_by,
            flex_flow_sid: c.flex_flow_sid,
            customer_address: c.customer_address,
            long_lived: c.long_lived,
            janitor_enabled: c.janitor_enabled,
            carried_provider_messages: c.carried_provider_messages,
        }),
        any::<String>().prop_map(|attributes| ChannelEvent::AttributesUpdated { attributes }),
        (option::of(any::<String>()), name()).prop_map(|(friendly_name, unique_name)| {
            ChannelEvent::ChannelRenamed { friendly_name, unique_name }
        }),
        (member(), any::<String>()).prop_map(|(member_sid, identity)| ChannelEvent::MemberJoined {
            member_sid,
            identity,
            role_sid: None,
            attributes: "{}".into(),
        }),
        (member(), option::of(pooled(SidPrefix::ROLE, 2)), option::of(any::<String>())).prop_map(
            |(member_sid, role_sid, attributes)| ChannelEvent::MemberUpdated {
                member_sid,
                role_sid,
                attributes,
            }
        ),
        member().prop_map(|member_sid| ChannelEvent::MemberLeft { member_sid }),
        (big_index.clone(), source(), option::of(0..5u8)).prop_map(|(index, source, provider)| {
            ChannelEvent::MessageAdded {
                message_sid: sid(SidPrefix::MESSAGE, 1),
                index,
                author: "a".into(),
                body: "b".into(),
                attributes: "{}".into(),
                media: None,
                source,
                provider_message_id: provider.map(|p| format!("SM{p}")),
            }
        }),
        big_index.clone().prop_map(|index| ChannelEvent::MessageEdited {
            index,
            body: None,
            attributes: None,
            edited_by: None,
        }),
        big_index.clone().prop_map(|index| ChannelEvent::MessageRemoved { index }),
        (member(), option::of(big_index.clone())).prop_map(|(member_sid, last_consumed_index)| {
            ChannelEvent::ReadHorizonUpdated { member_sid, last_consumed_index }
        }),
        (task(), any::<i64>(), any::<u64>()).prop_map(|(task_sid, priority, timeout_secs)| {
            ChannelEvent::TaskLinked { task_sid, attributes: "{}".into(), priority, timeout_secs }
        }),
        (task(), outcome())
            .prop_map(|(task_sid, outcome)| ChannelEvent::TaskEnded { task_sid, outcome }),
        prop_oneof![
            Just(DeactivationReason::Api),
            Just(DeactivationReason::InteractionEnded),
            any::<u64>().prop_map(|idle_millis| DeactivationReason::Inactivity { idle_millis }),
        ]
        .prop_map(|reason| ChannelEvent::ChannelDeactivated { reason }),
        select(vec![ReactivationReason::Api, ReactivationReason::CustomerMessage])
            .prop_map(|reason| ChannelEvent::ChannelReactivated { reason }),
        (
            big_index,
            status(),
            provider_error(),
            option::of("SM[0-9a-f]{4}"),
            option::of(any::<i64>().prop_map(Timestamp)),
        )
            .prop_map(|(index, status, error, provider_message_id, requested_at)| {
                ChannelEvent::DeliveryStatusChanged {
                    index,
                    status,
                    error,
                    provider_message_id,
                    requested_at,
                }
            }),
        erasure().prop_map(|reason| ChannelEvent::DataErased { reason }),
        (webhook(), any::<String>(), webhook_method(), webhook_filters(), any::<u8>()).prop_map(
            |(webhook_sid, url, method, filters, retry_count)| ChannelEvent::WebhookAdded {
                webhook_sid,
                url,
                method,
                filters,
                retry_count,
            }
        ),
        (webhook(), any::<String>(), webhook_method(), webhook_filters(), any::<u8>()).prop_map(
            |(webhook_sid, url, method, filters, retry_count)| ChannelEvent::WebhookUpdated {
                webhook_sid,
                url,
                method,
                filters,
                retry_count,
            }
        ),
        webhook().prop_map(|webhook_sid| ChannelEvent::WebhookRemoved { webhook_sid }),
        (0..3u8, 0..10_000u64).prop_map(|(n, size_bytes)| ChannelEvent::MediaStored {
            media_sid: sid(SidPrefix::MEDIA, n),
            content_type: "image/png".into(),
            size_bytes,
            sha256: "00".repeat(32),
            filename: None,
        }),
        (0..3u8).prop_map(|n| ChannelEvent::MediaFailed {
            media_sid: sid(SidPrefix::MEDIA, n),
            error: "too large".into(),
        }),
        Just(ChannelEvent::ChannelDestroyed {}),
        (
            pooled(SidPrefix::INVITE, 3),
            select(vec!["alice", "bob"]),
            option::of(pooled(SidPrefix::ROLE, 2))
        )
            .prop_map(|(invite_sid, identity, role_sid)| ChannelEvent::InviteAdded {
                invite_sid,
                identity: identity.into(),
                role_sid,
                created_by: None,
            }),
        pooled(SidPrefix::INVITE, 3)
            .prop_map(|invite_sid| ChannelEvent::InviteRemoved { invite_sid }),
    ]
}

proptest! {
    #![proptest_config(config())]

    /// (b) `apply` is total: any events, in any order, at any time, fold without a panic, count
    /// every record, keep the counters consistent and survive a snapshot.
    #[test]
    fn apply_is_total_on_arbitrary_events(
        events in vec((any::<i64>(), any_event()), 0..40),
    ) {
        let records: Vec<Recorded> =
            events.into_iter().map(|(at, event)| Recorded::new(Timestamp(at), event)).collect();
        let mut state = ChannelState::default();
        for (n, record) in records.iter().enumerate() {
            state.apply(record);
            prop_assert_eq!(state.events_applied, n as u64 + 1, "{}", record.event.type_name());
            check_counters(&state)?;
        }
        prop_assert_eq!(&snapshot(&state), &state);
        prop_assert_eq!(&ChannelState::replay(&records), &state);
    }

    /// A batch folded with its provider ids deferred, then remembered in order, gives the state
    /// that applying it event by event gives: what a channel keeps is what replay rebuilds.
    #[test]
    fn deferring_provider_ids_over_a_batch_changes_nothing(
        events in vec((0..1_000i64, any_event()), 0..40),
        split in any::<Index>(),
    ) {
        let records: Vec<Recorded> =
            events.into_iter().map(|(at, event)| Recorded::new(Timestamp(at), event)).collect();
        let whole = ChannelState::replay(&records);
        let (before, batch) = records.split_at(split.index(records.len() + 1));
        let mut state = ChannelState::replay(before);
        let deferred: Vec<_> = batch.iter().map(|r| state.apply_deferring_memory(r)).collect();
        for (record, deferred) in batch.iter().zip(deferred) {
            state.remember_deferred(record, deferred);
        }
        prop_assert_eq!(&state, &whole);
    }

    /// `decide` is total too, on any state `apply` can reach and with a clock anywhere.
    #[test]
    fn decide_is_total_on_arbitrary_states(
        events in vec((any::<i64>(), any_event()), 0..20),
        command in command(),
        now in any::<i64>(),
    ) {
        let mut state = ChannelState::default();
        for (at, event) in events {
            state.apply(&Recorded::new(Timestamp(at), event));
        }
        let command = match command {
            ChannelCommand::RetireIfIdle { window_millis, .. } => {
                ChannelCommand::RetireIfIdle { now: Timestamp(now), window_millis }
            }
            other => other,
        };
        let first = decide(&state, command.clone());
        prop_assert_eq!(decide(&state, command), first);
    }

    /// Every event reads back as written from every record encoding: named MessagePack with
    /// SIDs as text (records of version 1), positional with SIDs as text (version 2), and
    /// positional with SIDs as bytes (version 3, what the store writes), where a field left out
    /// when empty anywhere but last would shift the fields after it.
    #[test]
    fn every_event_survives_every_record_encoding(
        at in any::<i64>(),
        event in any_event(),
        cause in option::of(cause()),
    ) {
        let record = Recorded::caused(Timestamp(at), event, cause);
        let undecodable = |e: rmp_serde::decode::Error| TestCaseError::fail(e.to_string());
        let positional = with_every_field(|| rmp_serde::to_vec(&record)).expect("serializes");
        let read: Recorded = rmp_serde::from_slice(&positional).map_err(undecodable)?;
        prop_assert_eq!(&read, &record);
        let mut text_sids = Vec::new();
        with_every_field(|| {
            let mut version_2 =
                rmp_serde::Serializer::new(&mut text_sids).with_human_readable();
            serde::Serialize::serialize(&record, &mut version_2)
        })
        .expect("serializes");
        let read: Recorded = rmp_serde::from_slice(&text_sids).map_err(undecodable)?;
        prop_assert_eq!(&read, &record);
        let mut named = Vec::new();
        let mut version_1 =
            rmp_serde::Serializer::new(&mut named).with_struct_map().with_human_readable();
        serde::Serialize::serialize(&record, &mut version_1).expect("an event serializes");
        let read: Recorded = rmp_serde::from_slice(&named).map_err(undecodable)?;
        prop_assert_eq!(&read, &record);
    }

    #[test]
    fn millis_since_is_exact_over_the_whole_range(now in any::<i64>(), earlier in any::<i64>()) {
        let exact = (i128::from(now) - i128::from(earlier)).max(0);
        prop_assert_eq!(
            i128::from(Timestamp(now).millis_since(Timestamp(earlier))),
            exact
        );
    }
}

// ---------------------------------------------------------------------------------------------
// the generator itself
// ---------------------------------------------------------------------------------------------

/// The properties above are only as good as the sequences: over a fixed set of cases, every
/// kind of event must be recorded and the main rejections must be met.
#[test]
fn the_generated_sequences_reach_every_event_and_the_main_rejections() {
    let strategy = commands();
    let mut runner = TestRunner::deterministic();
    let mut events = std::collections::BTreeSet::new();
    let mut rejections = std::collections::BTreeSet::new();
    let mut reasons = std::collections::BTreeSet::new();
    for _ in 0..CASES {
        let commands = strategy.new_tree(&mut runner).expect("a sequence").current();
        for step in run(&commands).steps {
            match step.result {
                Ok(recorded) => {
                    for event in recorded {
                        if let ChannelEvent::ChannelDeactivated { reason } = &event {
                            reasons.insert(
                                format!("{reason:?}")
                                    .split(' ')
                                    .next()
                                    .unwrap_or_default()
                                    .to_owned(),
                            );
                        }
                        events.insert(event.type_name());
                    }
                }
                Err(rejection) => {
                    rejections.insert(
                        format!("{rejection:?}").split('(').next().unwrap_or_default().to_owned(),
                    );
                }
            }
        }
    }
    assert_eq!(events.len(), 22, "events recorded: {events:?}");
    assert_eq!(reasons.len(), 3, "deactivation reasons: {reasons:?}");
    for expected in [
        "ChannelExists",
        "ChannelErased",
        "ChannelInactive",
        "MemberNotFound",
        "MemberExists",
        "MessageNotFound",
        "TaskNotOpen",
        "TaskExists",
        "WebhookNotFound",
        "Invalid",
    ] {
        assert!(rejections.contains(expected), "{expected}: {rejections:?}");
    }
}
