//! Unit tests of the channel domain: every rule of `decide` as given/when/then (the events a
//! channel already has, the command, and the events or the rejection expected), the index entries
//! a state and an event own, and the stored forms of every event (MessagePack and JSON).

use crate::{
    decide, ChannelCommand, ChannelEvent, ChannelKind, ChannelState, ChannelStatus,
    DeactivationReason, DeliveryStatus, DomainEvent, ErasureReason, IndexEntry, Media,
    MessageSource, NewChannel, NewMessage, ProviderError, ProviderMessageRef, ReactivationReason,
    Recorded, Rejection, Sid, SidPrefix, TaskOutcome, Timestamp, WebhookConfig, WebhookMethod,
};

// ---------------------------------------------------------------------------------------------
// given / when / then
// ---------------------------------------------------------------------------------------------

/// The i-th event given to a test happened at `i * STEP` milliseconds.
const STEP: i64 = 1_000;

/// A channel state built from past events, ready to receive a command.
#[derive(Clone)]
struct Given {
    state: ChannelState,
}

/// A command decided against a [`Given`] state, waiting for its expectation.
struct When {
    state: ChannelState,
    result: Result<Vec<ChannelEvent>, Rejection>,
}

/// Folds `events` into a fresh state, the i-th at `i * STEP` ms, as the log would replay them.
fn given(events: &[ChannelEvent]) -> Given {
    let mut state = ChannelState::default();
    for (i, event) in events.iter().enumerate() {
        state.apply(&Recorded::new(Timestamp(i as i64 * STEP), event.clone()));
    }
    Given { state }
}

impl Given {
    fn when(self, command: ChannelCommand) -> When {
        let result = decide(&self.state, command);
        When { state: self.state, result }
    }

    fn state(&self) -> &ChannelState {
        &self.state
    }
}

impl When {
    /// Asserts the command was accepted with exactly `expected`, then folds them in (one `STEP`
    /// after the last event) so that the test can go on with another `when`.
    #[track_caller]
    fn then_expect(self, expected: &[ChannelEvent]) -> Given {
        match self.result {
            Ok(events) => assert_eq!(events, expected, "the command recorded other events"),
            Err(rejection) => {
                panic!("expected {expected:?}, the command was rejected: {rejection}")
            }
        }
        let mut state = self.state;
        let at = Timestamp(state.date_updated.0 + STEP);
        for event in expected {
            state.apply(&Recorded::new(at, event.clone()));
        }
        Given { state }
    }

    /// Asserts the command was accepted and changes nothing.
    #[track_caller]
    fn then_nothing(self) {
        self.then_expect(&[]);
    }

    #[track_caller]
    fn then_reject(self, rejection: Rejection) {
        assert_eq!(self.result, Err(rejection));
    }
}

// ---------------------------------------------------------------------------------------------
// fixtures
// ---------------------------------------------------------------------------------------------

const CHANNEL: Sid = Sid::from_parts(SidPrefix::CHANNEL, [1; 16]);
const SERVICE: Sid = Sid::from_parts(SidPrefix::SERVICE, [1; 16]);
const FLOW: Sid = Sid::from_parts(SidPrefix::FLEX_FLOW, [1; 16]);
const ADDRESS: &str = "+14155550100";

fn sid(prefix: SidPrefix, n: u8) -> Sid {
    Sid::from_parts(prefix, [n; 16])
}

fn member(n: u8) -> Sid {
    sid(SidPrefix::MEMBER, n)
}

fn task(n: u8) -> Sid {
    sid(SidPrefix::TASK, n)
}

/// A customer's channel under a Flex Flow: not long-lived, janitor on.
fn new_channel() -> NewChannel {
    NewChannel {
        channel_sid: CHANNEL,
        service_sid: SERVICE,
        kind: ChannelKind::Private,
        friendly_name: Some("Customer".into()),
        unique_name: None,
        attributes: "{}".into(),
        created_by: "system".into(),
        flex_flow_sid: Some(FLOW),
        customer_address: Some(ADDRESS.into()),
        long_lived: false,
        janitor_enabled: true,
        carried_provider_messages: Vec::new(),
    }
}

fn created_from(new: NewChannel) -> ChannelEvent {
    ChannelEvent::ChannelCreated {
        channel_sid: new.channel_sid,
        service_sid: new.service_sid,
        kind: new.kind,
        friendly_name: new.friendly_name,
        unique_name: new.unique_name,
        attributes: new.attributes,
        created_by: new.created_by,
        flex_flow_sid: new.flex_flow_sid,
        customer_address: new.customer_address,
        long_lived: new.long_lived,
        janitor_enabled: new.janitor_enabled,
        carried_provider_messages: new.carried_provider_messages,
    }
}

fn created() -> ChannelEvent {
    created_from(new_channel())
}

fn created_with(edit: impl FnOnce(&mut NewChannel)) -> ChannelEvent {
    let mut new = new_channel();
    edit(&mut new);
    created_from(new)
}

fn long_lived() -> ChannelEvent {
    created_with(|c| c.long_lived = true)
}

fn without_janitor() -> ChannelEvent {
    created_with(|c| c.janitor_enabled = false)
}

fn new_message(source: MessageSource) -> NewMessage {
    NewMessage {
        author: "someone".into(),
        body: "hello".into(),
        attributes: "{}".into(),
        media: None,
        source,
        provider_message_id: None,
    }
}

fn post(source: MessageSource) -> ChannelCommand {
    ChannelCommand::PostMessage(new_message(source))
}

/// The event `post(source)` records at `index`.
fn added(index: u64, source: MessageSource) -> ChannelEvent {
    let NewMessage { author, body, attributes, media, source, provider_message_id } =
        new_message(source);
    ChannelEvent::MessageAdded {
        message_sid: Sid::message_of(CHANNEL, index),
        index,
        author,
        body,
        attributes,
        media,
        source,
        provider_message_id,
    }
}

fn removed(index: u64) -> ChannelEvent {
    ChannelEvent::MessageRemoved { index }
}

fn joined(n: u8, identity: &str) -> ChannelEvent {
    ChannelEvent::MemberJoined {
        member_sid: member(n),
        identity: identity.into(),
        role_sid: None,
        attributes: "{}".into(),
    }
}

fn add_member(n: u8, identity: &str) -> ChannelCommand {
    ChannelCommand::AddMember {
        member_sid: member(n),
        identity: identity.into(),
        role_sid: None,
        attributes: "{}".into(),
    }
}

fn linked(n: u8) -> ChannelEvent {
    ChannelEvent::TaskLinked {
        task_sid: task(n),
        attributes: "{}".into(),
        priority: 0,
        timeout_secs: 60,
    }
}

fn link(n: u8) -> ChannelCommand {
    ChannelCommand::LinkTask {
        task_sid: task(n),
        attributes: "{}".into(),
        priority: 0,
        timeout_secs: 60,
    }
}

fn ensure(n: u8) -> ChannelCommand {
    ChannelCommand::EnsureTask {
        task_sid: task(n),
        attributes: "{}".into(),
        priority: 0,
        timeout_secs: 60,
    }
}

fn end(n: u8) -> ChannelCommand {
    ChannelCommand::EndTask { task_sid: task(n), outcome: TaskOutcome::Completed }
}

fn ended(n: u8) -> ChannelEvent {
    ChannelEvent::TaskEnded { task_sid: task(n), outcome: TaskOutcome::Completed }
}

fn deactivated() -> ChannelEvent {
    ChannelEvent::ChannelDeactivated { reason: DeactivationReason::Api }
}

fn interaction_ended() -> ChannelEvent {
    ChannelEvent::ChannelDeactivated { reason: DeactivationReason::InteractionEnded }
}

fn erased() -> ChannelEvent {
    ChannelEvent::DataErased { reason: ErasureReason::Operator }
}

fn retire(now: i64, window_millis: u64) -> ChannelCommand {
    ChannelCommand::RetireIfIdle { now: Timestamp(now), window_millis }
}

fn delivery(index: u64, status: DeliveryStatus) -> ChannelCommand {
    ChannelCommand::RecordDelivery { index, status, error: None }
}

fn delivered(index: u64, status: DeliveryStatus) -> ChannelEvent {
    ChannelEvent::DeliveryStatusChanged {
        index,
        status,
        error: None,
        provider_message_id: None,
        requested_at: None,
    }
}

fn webhook(n: u8) -> Sid {
    sid(SidPrefix::WEBHOOK, n)
}

/// A bridge's webhook: agent replies only, POSTed, two retries.
fn hook_config() -> WebhookConfig {
    WebhookConfig {
        url: "https://bridge.example.com/replies".into(),
        method: WebhookMethod::Post,
        filters: vec!["onMessageSent".into()],
        retry_count: 2,
    }
}

fn add_webhook(n: u8) -> ChannelCommand {
    ChannelCommand::AddWebhook { webhook_sid: webhook(n), config: hook_config() }
}

fn webhook_added(n: u8) -> ChannelEvent {
    let WebhookConfig { url, method, filters, retry_count } = hook_config();
    ChannelEvent::WebhookAdded { webhook_sid: webhook(n), url, method, filters, retry_count }
}

fn update_webhook(n: u8) -> ChannelCommand {
    ChannelCommand::UpdateWebhook {
        webhook_sid: webhook(n),
        url: None,
        method: None,
        filters: None,
        retry_count: None,
    }
}

/// One command of every kind except `Create`, each valid against a channel with one message,
/// member 1, task 1 and webhook 1.
fn one_update_of_each_kind() -> Vec<ChannelCommand> {
    vec![
        ChannelCommand::UpdateAttributes { attributes: r#"{"a":1}"#.into() },
        ChannelCommand::Rename { friendly_name: Some("renamed".into()), unique_name: None },
        add_member(2, "bob"),
        ChannelCommand::UpdateMember {
            member_sid: member(1),
            role_sid: None,
            attributes: Some(r#"{"b":2}"#.into()),
        },
        ChannelCommand::RemoveMember { member_sid: member(1) },
        post(MessageSource::Agent),
        ChannelCommand::EditMessage {
            index: 0,
            body: Some("edited".into()),
            attributes: None,
            edited_by: None,
        },
        ChannelCommand::RemoveMessage { index: 0 },
        ChannelCommand::UpdateReadHorizon { member_sid: member(1), last_consumed_index: Some(0) },
        link(2),
        end(1),
        ensure(2),
        ChannelCommand::Deactivate,
        ChannelCommand::Reactivate,
        retire(1_000_000, 0),
        delivery(0, DeliveryStatus::Sent),
        ChannelCommand::Erase { reason: ErasureReason::SubjectRequest },
        ChannelCommand::RecordSent {
            index: 0,
            provider_message_id: Some("SM0001".into()),
            requested_at: Timestamp(5),
        },
        ChannelCommand::RecordWatermark { status: DeliveryStatus::Read, up_to: Timestamp(9) },
        add_webhook(2),
        ChannelCommand::UpdateWebhook {
            webhook_sid: webhook(1),
            url: None,
            method: None,
            filters: None,
            retry_count: Some(0),
        },
        ChannelCommand::RemoveWebhook { webhook_sid: webhook(1) },
        media_stored(1),
        ChannelCommand::RecordMediaFailed { media_sid: media_sid(1), error: "HTTP 404".into() },
        invite(2, "bob"),
        ChannelCommand::RemoveInvite { invite_sid: invite_sid(1) },
        ChannelCommand::Destroy { reason: "the channel was deleted".into() },
    ]
}

/// A number per command kind; exhaustive, so a new kind cannot be forgotten by the tests above.
fn command_kind(command: &ChannelCommand) -> usize {
    match command {
        ChannelCommand::Create(_) => 0,
        ChannelCommand::UpdateAttributes { .. } => 1,
        ChannelCommand::Rename { .. } => 2,
        ChannelCommand::AddMember { .. } => 3,
        ChannelCommand::UpdateMember { .. } => 4,
        ChannelCommand::RemoveMember { .. } => 5,
        ChannelCommand::PostMessage(_) => 6,
        ChannelCommand::EditMessage { .. } => 7,
        ChannelCommand::RemoveMessage { .. } => 8,
        ChannelCommand::UpdateReadHorizon { .. } => 9,
        ChannelCommand::LinkTask { .. } => 10,
        ChannelCommand::EndTask { .. } => 11,
        ChannelCommand::EnsureTask { .. } => 12,
        ChannelCommand::Deactivate => 13,
        ChannelCommand::Reactivate => 14,
        ChannelCommand::RetireIfIdle { .. } => 15,
        ChannelCommand::RecordDelivery { .. } => 16,
        ChannelCommand::Erase { .. } => 17,
        ChannelCommand::RecordSent { .. } => 18,
        ChannelCommand::RecordWatermark { .. } => 19,
        ChannelCommand::AddWebhook { .. } => 20,
        ChannelCommand::UpdateWebhook { .. } => 21,
        ChannelCommand::RemoveWebhook { .. } => 22,
        ChannelCommand::RecordMediaStored { .. } => 23,
        ChannelCommand::RecordMediaFailed { .. } => 24,
        ChannelCommand::Destroy { .. } => 25,
        ChannelCommand::AddInvite { .. } => 26,
        ChannelCommand::RemoveInvite { .. } => 27,
    }
}

// ---------------------------------------------------------------------------------------------
// creation and existence
// ---------------------------------------------------------------------------------------------

#[test]
fn create_records_the_channel_as_asked() {
    given(&[]).when(ChannelCommand::Create(new_channel())).then_expect(&[created()]);
    let bare = NewChannel { flex_flow_sid: None, customer_address: None, ..new_channel() };
    given(&[]).when(ChannelCommand::Create(bare.clone())).then_expect(&[created_from(bare)]);
}

#[test]
fn creating_twice_is_rejected() {
    given(&[created()])
        .when(ChannelCommand::Create(new_channel()))
        .then_reject(Rejection::ChannelExists);
    let other = NewChannel { channel_sid: sid(SidPrefix::CHANNEL, 2), ..new_channel() };
    given(&[created()]).when(ChannelCommand::Create(other)).then_reject(Rejection::ChannelExists);
}

#[test]
fn an_address_and_a_flow_go_together() {
    let why = "a customer address and a Flex Flow go together";
    let address_only = NewChannel { flex_flow_sid: None, ..new_channel() };
    given(&[]).when(ChannelCommand::Create(address_only)).then_reject(Rejection::Invalid(why));
    let flow_only = NewChannel { customer_address: None, ..new_channel() };
    given(&[]).when(ChannelCommand::Create(flow_only)).then_reject(Rejection::Invalid(why));
}

#[test]
fn the_update_commands_cover_every_kind_but_create() {
    let mut kinds: Vec<usize> = one_update_of_each_kind().iter().map(command_kind).collect();
    kinds.sort_unstable();
    assert_eq!(kinds, (1..=27).collect::<Vec<_>>());
}

#[test]
fn every_command_before_create_is_channel_not_found() {
    for command in one_update_of_each_kind() {
        let kind = command_kind(&command);
        assert_eq!(
            decide(&ChannelState::default(), command),
            Err(Rejection::ChannelNotFound),
            "command kind {kind}"
        );
    }
}

#[test]
fn the_update_commands_are_accepted_by_a_live_channel() {
    // The counterpart of the two tests around it: the rejections there come from the channel's
    // existence, not from the commands themselves.
    let live = given(&[
        created(),
        joined(1, "alice"),
        added(0, MessageSource::Agent),
        linked(1),
        webhook_added(1),
        with_media(1, 1),
        invited(1, "carol"),
    ]);
    for command in one_update_of_each_kind() {
        let kind = command_kind(&command);
        assert!(decide(live.state(), command).is_ok(), "command kind {kind}");
    }
}

#[test]
fn every_command_after_erasure_is_channel_erased() {
    let gone = given(&[
        created(),
        joined(1, "alice"),
        added(0, MessageSource::Agent),
        linked(1),
        webhook_added(1),
        erased(),
    ]);
    for command in one_update_of_each_kind() {
        let kind = command_kind(&command);
        assert_eq!(decide(gone.state(), command), Err(Rejection::ChannelErased), "kind {kind}");
    }
    // The SID stays taken: an erased channel is not created again.
    gone.when(ChannelCommand::Create(new_channel())).then_reject(Rejection::ChannelExists);
}

// ---------------------------------------------------------------------------------------------
// invites
// ---------------------------------------------------------------------------------------------

fn invite_sid(n: u8) -> Sid {
    sid(SidPrefix::INVITE, n)
}

fn invite(n: u8, identity: &str) -> ChannelCommand {
    ChannelCommand::AddInvite {
        invite_sid: invite_sid(n),
        identity: identity.into(),
        role_sid: None,
        created_by: None,
    }
}

fn invited(n: u8, identity: &str) -> ChannelEvent {
    ChannelEvent::InviteAdded {
        invite_sid: invite_sid(n),
        identity: identity.into(),
        role_sid: None,
        created_by: None,
    }
}

#[test]
fn an_invite_is_recorded_once_per_identity_and_never_for_a_member() {
    let state = given(&[created(), joined(1, "alice")])
        .when(invite(1, "bob"))
        .then_expect(&[invited(1, "bob")]);
    assert_eq!(state.state().invite_by_identity("bob").map(|(sid, _)| sid), Some(invite_sid(1)));
    // Asking again, under another SID, is the same invite.
    state.clone().when(invite(2, "bob")).then_nothing();
    state
        .clone()
        .when(invite(1, "carol"))
        .then_reject(Rejection::Invalid("the invite SID is already in use"));
    state.clone().when(invite(2, "alice")).then_reject(Rejection::MemberExists("alice".into()));
    state
        .when(invite(2, " "))
        .then_reject(Rejection::Invalid("an invite needs a non-empty identity"));
}

#[test]
fn joining_takes_the_invite_up_and_a_removed_invite_is_gone() {
    let state = given(&[created(), invited(1, "bob"), invited(2, "carol")])
        .when(add_member(3, "bob"))
        .then_expect(&[joined(3, "bob")]);
    assert!(state.state().invite_by_identity("bob").is_none());
    let state = state
        .when(ChannelCommand::RemoveInvite { invite_sid: invite_sid(2) })
        .then_expect(&[ChannelEvent::InviteRemoved { invite_sid: invite_sid(2) }]);
    assert!(state.state().invites.is_empty());
    state
        .when(ChannelCommand::RemoveInvite { invite_sid: invite_sid(2) })
        .then_reject(Rejection::Invalid("the invite is not on this channel"));
}

// ---------------------------------------------------------------------------------------------
// deletion
// ---------------------------------------------------------------------------------------------

fn destroy() -> ChannelCommand {
    ChannelCommand::Destroy { reason: "the channel was deleted".into() }
}

#[test]
fn destroying_cancels_the_open_tasks_then_destroys() {
    let canceled = |n| ChannelEvent::TaskEnded {
        task_sid: task(n),
        outcome: TaskOutcome::Canceled { reason: "the channel was deleted".into() },
    };
    let gone = given(&[created(), joined(1, "alice"), linked(1), linked(2)])
        .when(destroy())
        .then_expect(&[canceled(1), canceled(2), ChannelEvent::ChannelDestroyed {}]);
    let state = gone.state();
    assert!(state.destroyed && state.is_removed() && !state.erased);
    assert!(state.members.is_empty() && state.open_tasks.is_empty());
    assert_eq!(state.status, ChannelStatus::Inactive);
    // Without tasks, only the marker.
    given(&[created()]).when(destroy()).then_expect(&[ChannelEvent::ChannelDestroyed {}]);
}

#[test]
fn a_destroyed_channel_only_records_how_earlier_replies_fared() {
    let gone = given(&[
        created(),
        joined(1, "alice"),
        added(0, MessageSource::Agent),
        linked(1),
        webhook_added(1),
        with_media(1, 1),
        ChannelEvent::ChannelDestroyed {},
    ]);
    for command in one_update_of_each_kind() {
        let kind = command_kind(&command);
        let outcome = decide(gone.state(), command.clone());
        match command {
            ChannelCommand::RecordDelivery { .. } | ChannelCommand::RecordSent { .. } => {
                assert!(outcome.is_ok_and(|e| e.len() == 1), "kind {kind}")
            }
            _ => assert_eq!(outcome, Err(Rejection::ChannelNotFound), "kind {kind}"),
        }
    }
    gone.when(ChannelCommand::Create(new_channel())).then_reject(Rejection::ChannelExists);
}

#[test]
fn a_destroyed_channel_releases_its_customer_and_its_unique_name() {
    let named = created_with(|c| {
        c.unique_name = Some("vip".into());
        c.long_lived = true;
    });
    let live = given(std::slice::from_ref(&named));
    assert_eq!(live.state().index_entries().len(), 3, "a binding, the latest channel, a name");
    assert_eq!(given(&[named, ChannelEvent::ChannelDestroyed {}]).state().index_entries(), []);
}

#[test]
fn erasure_keeps_only_identifiers_counters_and_dates() {
    let state =
        given(&[created(), joined(1, "alice"), added(0, MessageSource::Customer), linked(1)])
            .when(ChannelCommand::Erase { reason: ErasureReason::SubjectRequest })
            .then_expect(&[ChannelEvent::DataErased { reason: ErasureReason::SubjectRequest }])
            .state
            .clone();
    assert!(state.erased);
    assert_eq!(state.sid, Some(CHANNEL));
    assert_eq!(state.service_sid, Some(SERVICE));
    assert_eq!(state.flex_flow_sid, Some(FLOW));
    assert_eq!(state.status, ChannelStatus::Inactive);
    assert_eq!(state.next_message_index, 1);
    assert_eq!(state.customer_address, None);
    assert_eq!(state.friendly_name, None);
    assert_eq!(state.attributes, "{}");
    assert!(state.members.is_empty() && state.open_tasks.is_empty());
    assert_eq!(state.events_applied, 5);
}

// ---------------------------------------------------------------------------------------------
// redundant updates
// ---------------------------------------------------------------------------------------------

#[test]
fn attributes_are_recorded_only_when_they_change() {
    given(&[created()])
        .when(ChannelCommand::UpdateAttributes { attributes: "{}".into() })
        .then_nothing();
    given(&[created()])
        .when(ChannelCommand::UpdateAttributes { attributes: r#"{"x":1}"#.into() })
        .then_expect(&[ChannelEvent::AttributesUpdated { attributes: r#"{"x":1}"#.into() }]);
}

#[test]
fn a_rename_is_recorded_only_when_a_name_changes() {
    let same = ChannelCommand::Rename { friendly_name: Some("Customer".into()), unique_name: None };
    given(&[created()]).when(same).then_nothing();
    let unique = ChannelCommand::Rename {
        friendly_name: Some("Customer".into()),
        unique_name: Some("u".into()),
    };
    given(&[created()]).when(unique).then_expect(&[ChannelEvent::ChannelRenamed {
        friendly_name: Some("Customer".into()),
        unique_name: Some("u".into()),
    }]);
}

#[test]
fn deactivate_and_reactivate_are_recorded_only_when_the_status_changes() {
    given(&[created()]).when(ChannelCommand::Reactivate).then_nothing();
    given(&[created(), deactivated()]).when(ChannelCommand::Deactivate).then_nothing();
    given(&[created()])
        .when(ChannelCommand::Deactivate)
        .then_expect(&[deactivated()])
        .when(ChannelCommand::Reactivate)
        .then_expect(&[ChannelEvent::ChannelReactivated { reason: ReactivationReason::Api }]);
}

#[test]
fn deactivate_is_honoured_without_the_janitor() {
    given(&[without_janitor()]).when(ChannelCommand::Deactivate).then_expect(&[deactivated()]);
}

#[test]
fn a_read_horizon_is_recorded_only_when_it_moves() {
    let to = |index| ChannelCommand::UpdateReadHorizon {
        member_sid: member(1),
        last_consumed_index: index,
    };
    given(&[created(), joined(1, "alice")]).when(to(None)).then_nothing();
    given(&[created(), joined(1, "alice")])
        .when(to(Some(3)))
        .then_expect(&[ChannelEvent::ReadHorizonUpdated {
            member_sid: member(1),
            last_consumed_index: Some(3),
        }])
        .when(to(Some(3)))
        .then_nothing();
}

#[test]
fn a_member_update_is_recorded_only_when_something_changes() {
    let role = sid(SidPrefix::ROLE, 1);
    let update = |role_sid, attributes: Option<&str>| ChannelCommand::UpdateMember {
        member_sid: member(1),
        role_sid,
        attributes: attributes.map(str::to_owned),
    };
    let alice = || given(&[created(), joined(1, "alice")]);
    alice().when(update(None, None)).then_nothing();
    alice().when(update(None, Some("{}"))).then_nothing();
    alice()
        .when(update(Some(role), Some("{}")))
        .then_expect(&[ChannelEvent::MemberUpdated {
            member_sid: member(1),
            role_sid: Some(role),
            attributes: Some("{}".into()),
        }])
        .when(update(Some(role), None))
        .then_nothing();
    alice().when(update(None, Some(r#"{"a":1}"#))).then_expect(&[ChannelEvent::MemberUpdated {
        member_sid: member(1),
        role_sid: None,
        attributes: Some(r#"{"a":1}"#.into()),
    }]);
}

#[test]
fn ensure_task_links_only_when_no_task_is_open() {
    given(&[created(), linked(1)]).when(ensure(2)).then_nothing();
    given(&[created()]).when(ensure(2)).then_expect(&[linked(2)]);
    given(&[created(), linked(1), ended(1)]).when(ensure(2)).then_expect(&[linked(2)]);
}

// ---------------------------------------------------------------------------------------------
// members
// ---------------------------------------------------------------------------------------------

#[test]
fn a_member_joins_once_per_identity() {
    given(&[created()]).when(add_member(1, "alice")).then_expect(&[joined(1, "alice")]);
    given(&[created(), joined(1, "alice")])
        .when(add_member(2, "alice"))
        .then_reject(Rejection::MemberExists("alice".into()));
    given(&[created(), joined(1, "alice")])
        .when(add_member(2, "bob"))
        .then_expect(&[joined(2, "bob")]);
}

#[test]
fn an_identity_is_free_again_after_its_member_left() {
    given(&[created(), joined(1, "alice"), ChannelEvent::MemberLeft { member_sid: member(1) }])
        .when(add_member(2, "alice"))
        .then_expect(&[joined(2, "alice")]);
}

#[test]
fn a_member_sid_is_not_given_twice() {
    given(&[created(), joined(1, "alice")])
        .when(add_member(1, "bob"))
        .then_reject(Rejection::Invalid("the member SID is already in use"));
}

#[test]
fn a_member_needs_an_identity() {
    for blank in ["", "  "] {
        given(&[created()])
            .when(add_member(1, blank))
            .then_reject(Rejection::Invalid("a member needs a non-empty identity"));
    }
}

#[test]
fn commands_on_an_absent_member_are_rejected() {
    let absent = [
        ChannelCommand::UpdateMember { member_sid: member(2), role_sid: None, attributes: None },
        ChannelCommand::RemoveMember { member_sid: member(2) },
        ChannelCommand::UpdateReadHorizon { member_sid: member(2), last_consumed_index: Some(0) },
    ];
    for command in absent {
        given(&[created(), joined(1, "alice")])
            .when(command.clone())
            .then_reject(Rejection::MemberNotFound(member(2)));
        given(&[created(), joined(2, "bob"), ChannelEvent::MemberLeft { member_sid: member(2) }])
            .when(command)
            .then_reject(Rejection::MemberNotFound(member(2)));
    }
    given(&[created(), joined(1, "alice")])
        .when(ChannelCommand::RemoveMember { member_sid: member(1) })
        .then_expect(&[ChannelEvent::MemberLeft { member_sid: member(1) }]);
}

// ---------------------------------------------------------------------------------------------
// messages
// ---------------------------------------------------------------------------------------------

#[test]
fn message_indexes_count_up_from_zero_and_are_never_reused() {
    let after = given(&[created()])
        .when(post(MessageSource::Customer))
        .then_expect(&[added(0, MessageSource::Customer)])
        .when(post(MessageSource::Agent))
        .then_expect(&[added(1, MessageSource::Agent)])
        .when(post(MessageSource::Api))
        .then_expect(&[added(2, MessageSource::Api)])
        .when(ChannelCommand::RemoveMessage { index: 2 })
        .then_expect(&[removed(2)])
        .when(ChannelCommand::RemoveMessage { index: 0 })
        .then_expect(&[removed(0)]);
    assert_eq!(after.state().messages_count(), 1);
    after.when(post(MessageSource::System)).then_expect(&[added(3, MessageSource::System)]);
}

#[test]
fn a_message_needs_a_body_or_media() {
    let empty = NewMessage { body: String::new(), ..new_message(MessageSource::Agent) };
    given(&[created()])
        .when(ChannelCommand::PostMessage(empty.clone()))
        .then_reject(Rejection::Invalid("a message needs a body or media"));
    let media = Media {
        sid: sid(SidPrefix::MEDIA, 1),
        content_type: "image/png".into(),
        size_bytes: 10,
        filename: None,
        provider_ref: None,
        fetch: false,
    };
    let picture = NewMessage { media: Some(media.clone()), ..empty };
    let events = decide(given(&[created()]).state(), ChannelCommand::PostMessage(picture));
    let Ok([ChannelEvent::MessageAdded { body, media: stored, index, .. }]) = events.as_deref()
    else {
        panic!("a picture alone is a message");
    };
    assert_eq!((body.as_str(), stored, *index), ("", &Some(media), 0));
}

#[test]
fn edits_and_removals_need_a_live_message() {
    let edit = |index| ChannelCommand::EditMessage {
        index,
        body: Some("edited".into()),
        attributes: None,
        edited_by: Some("agent".into()),
    };
    let history =
        [created(), added(0, MessageSource::Customer), added(1, MessageSource::Agent), removed(1)];
    given(&history).when(edit(0)).then_expect(&[ChannelEvent::MessageEdited {
        index: 0,
        body: Some("edited".into()),
        attributes: None,
        edited_by: Some("agent".into()),
    }]);
    given(&history).when(edit(1)).then_reject(Rejection::MessageNotFound(1));
    given(&history).when(edit(2)).then_reject(Rejection::MessageNotFound(2));
    given(&history).when(edit(u64::MAX)).then_reject(Rejection::MessageNotFound(u64::MAX));
    given(&history)
        .when(ChannelCommand::RemoveMessage { index: 1 })
        .then_reject(Rejection::MessageNotFound(1));
    given(&history)
        .when(ChannelCommand::RemoveMessage { index: 2 })
        .then_reject(Rejection::MessageNotFound(2));
    given(&[created()])
        .when(ChannelCommand::RemoveMessage { index: 0 })
        .then_reject(Rejection::MessageNotFound(0));
}

#[test]
fn a_customer_cannot_write_to_an_inactive_channel() {
    given(&[created(), deactivated()])
        .when(post(MessageSource::Customer))
        .then_reject(Rejection::ChannelInactive);
    given(&[created(), linked(1), ended(1), interaction_ended()])
        .when(post(MessageSource::Customer))
        .then_reject(Rejection::ChannelInactive);
}

#[test]
fn a_customer_reopens_a_long_lived_channel() {
    let after = given(&[
        long_lived(),
        added(0, MessageSource::Customer),
        added(1, MessageSource::Agent),
        deactivated(),
    ])
    .when(post(MessageSource::Customer))
    .then_expect(&[
        ChannelEvent::ChannelReactivated { reason: ReactivationReason::CustomerMessage },
        added(2, MessageSource::Customer),
    ]);
    assert_eq!(after.state().status, ChannelStatus::Active);
}

#[test]
fn a_customer_message_to_an_active_channel_only_adds_it() {
    given(&[long_lived()])
        .when(post(MessageSource::Customer))
        .then_expect(&[added(0, MessageSource::Customer)]);
}

#[test]
fn only_the_customer_reopens_a_channel() {
    for channel in [created(), long_lived()] {
        for source in [MessageSource::Agent, MessageSource::System, MessageSource::Api] {
            let after = given(&[channel.clone(), added(0, MessageSource::Customer), deactivated()])
                .when(post(source))
                .then_expect(&[added(1, source)]);
            assert_eq!(after.state().status, ChannelStatus::Inactive, "{source:?}");
        }
    }
}

// ---------------------------------------------------------------------------------------------
// tasks and the end of an interaction
// ---------------------------------------------------------------------------------------------

#[test]
fn a_task_is_linked_once_and_ended_once() {
    given(&[created()]).when(link(1)).then_expect(&[linked(1)]);
    given(&[created(), linked(1)]).when(link(1)).then_reject(Rejection::TaskExists(task(1)));
    given(&[created()]).when(end(1)).then_reject(Rejection::TaskNotOpen(task(1)));
    given(&[without_janitor(), linked(1), ended(1)])
        .when(end(1))
        .then_reject(Rejection::TaskNotOpen(task(1)));
}

#[test]
fn the_end_of_the_last_task_ends_the_interaction() {
    given(&[created(), linked(1)]).when(end(1)).then_expect(&[ended(1), interaction_ended()]);
    let canceled = TaskOutcome::Canceled { reason: "customer left".into() };
    given(&[created(), linked(1)])
        .when(ChannelCommand::EndTask { task_sid: task(1), outcome: canceled.clone() })
        .then_expect(&[
            ChannelEvent::TaskEnded { task_sid: task(1), outcome: canceled },
            interaction_ended(),
        ]);
}

#[test]
fn without_the_janitor_the_end_of_the_last_task_deactivates_nothing() {
    given(&[without_janitor(), linked(1)]).when(end(1)).then_expect(&[ended(1)]);
}

#[test]
fn a_transfer_keeps_the_channel_active() {
    // The next task is linked before the first ends.
    let after = given(&[created(), linked(1), linked(2)]).when(end(1)).then_expect(&[ended(1)]);
    assert_eq!(after.state().status, ChannelStatus::Active);
    after.when(end(2)).then_expect(&[ended(2), interaction_ended()]);
}

#[test]
fn ending_a_task_of_an_inactive_channel_does_not_deactivate_it_again() {
    given(&[created(), linked(1), deactivated()]).when(end(1)).then_expect(&[ended(1)]);
}

// ---------------------------------------------------------------------------------------------
// the janitor
// ---------------------------------------------------------------------------------------------

#[test]
fn the_janitor_cancels_every_open_task_then_retires_a_quiet_channel() {
    // Created at 0 with no message: quiet since its creation.
    let reason = TaskOutcome::Canceled { reason: "channel inactive for 200 s".into() };
    let after =
        given(&[created(), linked(2), linked(1)]).when(retire(200_000, 120_000)).then_expect(&[
            ChannelEvent::TaskEnded { task_sid: task(1), outcome: reason.clone() },
            ChannelEvent::TaskEnded { task_sid: task(2), outcome: reason },
            ChannelEvent::ChannelDeactivated {
                reason: DeactivationReason::Inactivity { idle_millis: 200_000 },
            },
        ]);
    assert!(after.state().open_tasks.is_empty());
    assert_eq!(after.state().status, ChannelStatus::Inactive);
}

#[test]
fn the_janitor_retires_a_quiet_channel_without_tasks() {
    given(&[created()]).when(retire(130_500, 120_000)).then_expect(&[
        ChannelEvent::ChannelDeactivated {
            reason: DeactivationReason::Inactivity { idle_millis: 130_500 },
        },
    ]);
}

#[test]
fn the_janitor_measures_quiet_from_the_last_message_of_any_author() {
    // The message is the second event, at 1 s; quiet for exactly the window is not too long.
    for source in [MessageSource::Customer, MessageSource::Agent, MessageSource::System] {
        let history = [created(), added(0, source), linked(1)];
        given(&history).when(retire(121_000, 120_000)).then_nothing();
        given(&history).when(retire(121_001, 120_000)).then_expect(&[
            ChannelEvent::TaskEnded {
                task_sid: task(1),
                outcome: TaskOutcome::Canceled { reason: "channel inactive for 120 s".into() },
            },
            ChannelEvent::ChannelDeactivated {
                reason: DeactivationReason::Inactivity { idle_millis: 120_001 },
            },
        ]);
    }
}

#[test]
fn the_janitor_leaves_alone_what_is_not_its_to_retire() {
    let late = || retire(10_000_000, 120_000);
    given(&[created(), linked(1)]).when(retire(60_000, 120_000)).then_nothing();
    given(&[without_janitor(), linked(1)]).when(late()).then_nothing();
    given(&[created(), deactivated()]).when(late()).then_nothing();
    given(&[long_lived(), deactivated()]).when(late()).then_nothing();
    // A clock behind the last message is not idleness.
    given(&[created(), added(0, MessageSource::Agent)]).when(retire(0, 0)).then_nothing();
}

#[test]
fn the_janitor_measures_any_span_of_time_without_overflow() {
    let events = decide(given(&[created()]).state(), retire(i64::MAX, 0)).unwrap();
    assert_eq!(
        events,
        [ChannelEvent::ChannelDeactivated {
            reason: DeactivationReason::Inactivity { idle_millis: i64::MAX as u64 },
        }]
    );
    let mut early = ChannelState::default();
    early.apply(&Recorded::new(Timestamp(i64::MIN), created()));
    let events = decide(&early, retire(i64::MAX, 0)).unwrap();
    assert_eq!(
        events,
        [ChannelEvent::ChannelDeactivated {
            reason: DeactivationReason::Inactivity { idle_millis: u64::MAX },
        }]
    );
}

// ---------------------------------------------------------------------------------------------
// delivery statuses
// ---------------------------------------------------------------------------------------------

#[test]
fn delivery_statuses_move_forward() {
    use DeliveryStatus::*;
    given(&[created(), added(0, MessageSource::Agent)])
        .when(delivery(0, Queued))
        .then_expect(&[delivered(0, Queued)])
        .when(delivery(0, Sent))
        .then_expect(&[delivered(0, Sent)])
        .when(delivery(0, Delivered))
        .then_expect(&[delivered(0, Delivered)])
        .when(delivery(0, Read))
        .then_expect(&[delivered(0, Read)]);
    // Statuses may skip steps.
    given(&[created(), added(0, MessageSource::Agent)])
        .when(delivery(0, Read))
        .then_expect(&[delivered(0, Read)]);
}

#[test]
fn delivery_statuses_never_move_backwards() {
    use DeliveryStatus::*;
    let history = |status| [created(), added(0, MessageSource::Agent), delivered(0, status)];
    given(&history(Read)).when(delivery(0, Delivered)).then_nothing();
    given(&history(Read)).when(delivery(0, Sent)).then_nothing();
    given(&history(Read)).when(delivery(0, Read)).then_nothing();
    given(&history(Delivered)).when(delivery(0, Sent)).then_nothing();
    given(&history(Sent)).when(delivery(0, Queued)).then_nothing();
}

fn sent(index: u64, id: &str, at: i64) -> ChannelEvent {
    ChannelEvent::DeliveryStatusChanged {
        index,
        status: DeliveryStatus::Sent,
        error: None,
        provider_message_id: Some(id.into()),
        requested_at: Some(Timestamp(at)),
    }
}

#[test]
fn a_channel_keeps_the_latest_delivery_states_and_settles_older_ones() {
    let total = crate::state::DELIVERIES_KEPT as u64 + 44;
    let mut history = vec![created()];
    for index in 0..total {
        history.push(added(index, MessageSource::Agent));
        history.push(sent(index, &format!("SM{index}"), 1_000));
    }
    let run = given(&history);
    let state = run.state().clone();
    assert_eq!(
        state.deliveries.len(),
        crate::state::DELIVERIES_KEPT,
        "bounded, whatever the history"
    );
    assert_eq!(state.delivery_floor, 44);
    assert_eq!(state.deliveries.keys().next(), Some(&44));
    // Too late for a settled message; in time for a kept one.
    given(&history).when(delivery(3, DeliveryStatus::Delivered)).then_nothing();
    given(&history)
        .when(delivery(total - 1, DeliveryStatus::Delivered))
        .then_expect(&[delivered(total - 1, DeliveryStatus::Delivered)]);
}

#[test]
fn a_send_records_the_providers_id_and_when_it_began() {
    let record = ChannelCommand::RecordSent {
        index: 0,
        provider_message_id: Some("SM77".into()),
        requested_at: Timestamp(1_000),
    };
    let run = given(&[created(), added(0, MessageSource::Agent)])
        .when(record.clone())
        .then_expect(&[sent(0, "SM77", 1_000)]);
    let recorded = &run.state().deliveries[&0];
    assert_eq!(recorded.provider_message_id.as_deref(), Some("SM77"));
    assert_eq!(recorded.requested_at, Some(Timestamp(1_000)));
    // A later status keeps the id, so a report after it still finds the message.
    let run = run
        .when(delivery(0, DeliveryStatus::Delivered))
        .then_expect(&[delivered(0, DeliveryStatus::Delivered)]);
    assert_eq!(run.state().deliveries[&0].provider_message_id.as_deref(), Some("SM77"));
    // A provider that reported `delivered` before we recorded the send: nothing moves back.
    given(&[created(), added(0, MessageSource::Agent), delivered(0, DeliveryStatus::Read)])
        .when(record)
        .then_nothing();
}

#[test]
fn the_provider_id_of_a_send_is_an_index_entry() {
    assert_eq!(
        sent(4, "wamid.X", 1).index_entries(CHANNEL),
        [IndexEntry::provider_message("wamid.X", CHANNEL, 4)]
    );
    assert!(delivered(4, DeliveryStatus::Read).index_entries(CHANNEL).is_empty());
}

#[test]
fn a_watermark_covers_the_sends_that_began_before_it() {
    use DeliveryStatus::*;
    let history = [
        created(),
        added(0, MessageSource::Agent),
        added(1, MessageSource::Agent),
        added(2, MessageSource::Agent),
        added(3, MessageSource::Agent),
        sent(0, "m0", 100),
        sent(1, "m1", 200),
        sent(2, "m2", 300),
        delivered(1, Read),
    ];
    // 0 moves to read; 1 is read already; 2 began after the watermark; 3 was never sent.
    given(&history)
        .when(ChannelCommand::RecordWatermark { status: Read, up_to: Timestamp(250) })
        .then_expect(&[delivered(0, Read)]);
    given(&history)
        .when(ChannelCommand::RecordWatermark { status: Delivered, up_to: Timestamp(300) })
        .then_expect(&[delivered(0, Delivered), delivered(2, Delivered)]);
    given(&history)
        .when(ChannelCommand::RecordWatermark { status: Read, up_to: Timestamp(50) })
        .then_nothing();
    given(&history)
        .when(ChannelCommand::RecordWatermark { status: Failed, up_to: Timestamp(300) })
        .then_reject(Rejection::Invalid("a watermark reports delivered or read"));
}

#[test]
fn failure_is_final() {
    use DeliveryStatus::*;
    let error = ProviderError { code: "30003".into(), message: "Unreachable handset".into() };
    let failed = given(&[created(), added(0, MessageSource::Agent)])
        .when(ChannelCommand::RecordDelivery {
            index: 0,
            status: Failed,
            error: Some(error.clone()),
        })
        .then_expect(&[ChannelEvent::DeliveryStatusChanged {
            index: 0,
            status: Failed,
            error: Some(error.clone()),
            provider_message_id: None,
            requested_at: None,
        }]);
    assert_eq!(failed.state().deliveries[&0].error, Some(error));
    for status in [Queued, Sent, Delivered, Read, Undelivered, Failed] {
        failed.clone().when(delivery(0, status)).then_nothing();
        given(&[created(), added(0, MessageSource::Agent), delivered(0, Undelivered)])
            .when(delivery(0, status))
            .then_nothing();
    }
}

#[test]
fn a_delivery_needs_a_live_message() {
    let history = [created(), added(0, MessageSource::Agent), removed(0)];
    given(&history)
        .when(delivery(0, DeliveryStatus::Sent))
        .then_reject(Rejection::MessageNotFound(0));
    given(&history)
        .when(delivery(1, DeliveryStatus::Sent))
        .then_reject(Rejection::MessageNotFound(1));
}

// ---------------------------------------------------------------------------------------------
// webhooks
// ---------------------------------------------------------------------------------------------

#[test]
fn a_webhook_is_recorded_as_asked_and_starts_after_its_own_event() {
    let state = given(&[created(), joined(1, "alice")])
        .when(add_webhook(1))
        .then_expect(&[webhook_added(1)])
        .state
        .clone();
    let hook = &state.webhooks[&webhook(1)];
    assert_eq!(hook.config, hook_config());
    assert_eq!(hook.added_seq, 2, "the third event of the channel added it");
    assert_eq!(hook.date_created, hook.date_updated);
}

#[test]
fn repeated_filters_are_kept_once_in_their_order() {
    let config = WebhookConfig {
        filters: vec!["onMemberAdded".into(), "onMessageSent".into(), "onMemberAdded".into()],
        ..hook_config()
    };
    let WebhookConfig { url, method, retry_count, .. } = hook_config();
    given(&[created()])
        .when(ChannelCommand::AddWebhook { webhook_sid: webhook(1), config })
        .then_expect(&[ChannelEvent::WebhookAdded {
            webhook_sid: webhook(1),
            url,
            method,
            filters: vec!["onMemberAdded".into(), "onMessageSent".into()],
            retry_count,
        }]);
}

#[test]
fn a_webhook_configuration_is_checked() {
    type Edit = fn(&mut WebhookConfig);
    let cases: [(Edit, &str); 8] = [
        (
            |c| c.url = "ftp://example.com/x".into(),
            "a webhook URL is an absolute http or https URL",
        ),
        (|c| c.url = "example.com/x".into(), "a webhook URL is an absolute http or https URL"),
        (|c| c.url = "https://".into(), "a webhook URL is an absolute http or https URL"),
        (|c| c.url = "http:///path".into(), "a webhook URL is an absolute http or https URL"),
        (|c| c.filters.clear(), "a webhook needs at least one filter"),
        (
            |c| c.filters.push("onMessageSend".into()),
            "a webhook filter is not a channel event name",
        ),
        (|c| c.filters.push("onUserAdded".into()), "a webhook filter is not a channel event name"),
        (|c| c.retry_count = 4, "a webhook's retry count goes from 0 to 3"),
    ];
    for (edit, why) in cases {
        let mut config = hook_config();
        edit(&mut config);
        given(&[created()])
            .when(ChannelCommand::AddWebhook { webhook_sid: webhook(1), config: config.clone() })
            .then_reject(Rejection::Invalid(why));
        let update = ChannelCommand::UpdateWebhook {
            webhook_sid: webhook(1),
            url: Some(config.url),
            method: None,
            filters: Some(config.filters),
            retry_count: Some(config.retry_count),
        };
        given(&[created(), webhook_added(1)]).when(update).then_reject(Rejection::Invalid(why));
    }
    let upper = WebhookConfig { url: "HTTPS://Example.com".into(), ..hook_config() };
    assert_eq!(upper.check(), Ok(()), "the scheme is not case-sensitive");
}

#[test]
fn a_channel_has_at_most_five_webhooks() {
    let five: Vec<ChannelEvent> =
        std::iter::once(created()).chain((1..=5).map(webhook_added)).collect();
    given(&five)
        .when(add_webhook(6))
        .then_reject(Rejection::Invalid("a channel has at most 5 webhooks"));
    let mut four = five.clone();
    four.push(ChannelEvent::WebhookRemoved { webhook_sid: webhook(3) });
    given(&four).when(add_webhook(6)).then_expect(&[webhook_added(6)]);
}

#[test]
fn a_webhook_sid_is_not_given_twice() {
    given(&[created(), webhook_added(1)])
        .when(add_webhook(1))
        .then_reject(Rejection::Invalid("the webhook SID is already in use"));
}

#[test]
fn an_update_changes_what_it_names_and_is_recorded_only_when_something_changes() {
    let update = ChannelCommand::UpdateWebhook {
        webhook_sid: webhook(1),
        url: None,
        method: Some(WebhookMethod::Get),
        filters: Some(vec!["onMemberAdded".into()]),
        retry_count: None,
    };
    let expected = ChannelEvent::WebhookUpdated {
        webhook_sid: webhook(1),
        url: hook_config().url,
        method: WebhookMethod::Get,
        filters: vec!["onMemberAdded".into()],
        retry_count: 2,
    };
    let after = given(&[created(), webhook_added(1)]).when(update.clone()).then_expect(&[expected]);
    let hook = &after.state().webhooks[&webhook(1)];
    assert_eq!(hook.config.method, WebhookMethod::Get);
    assert!(hook.date_updated > hook.date_created);
    assert_eq!(hook.added_seq, 1, "an update does not move where delivery starts");
    after.clone().when(update).then_nothing();
    after.when(update_webhook(1)).then_nothing();
}

#[test]
fn commands_on_an_absent_webhook_are_rejected() {
    for history in [
        vec![created()],
        vec![created(), webhook_added(1), ChannelEvent::WebhookRemoved { webhook_sid: webhook(1) }],
    ] {
        given(&history).when(update_webhook(1)).then_reject(Rejection::WebhookNotFound(webhook(1)));
        given(&history)
            .when(ChannelCommand::RemoveWebhook { webhook_sid: webhook(1) })
            .then_reject(Rejection::WebhookNotFound(webhook(1)));
    }
    let gone = given(&[created(), webhook_added(1)])
        .when(ChannelCommand::RemoveWebhook { webhook_sid: webhook(1) })
        .then_expect(&[ChannelEvent::WebhookRemoved { webhook_sid: webhook(1) }]);
    assert!(gone.state().webhooks.is_empty());
}

#[test]
fn erasure_forgets_the_webhooks() {
    assert!(given(&[created(), webhook_added(1), erased()]).state().webhooks.is_empty());
}

#[test]
fn a_state_without_webhooks_is_stored_as_before_webhooks_existed() {
    let plain = serde_json::to_value(given(&[created()]).state()).unwrap();
    assert!(plain.get("webhooks").is_none(), "{plain}");
    let hooked = given(&[created(), webhook_added(1)]).state().clone();
    let text = serde_json::to_string(&hooked).unwrap();
    assert_eq!(serde_json::from_str::<ChannelState>(&text).unwrap(), hooked);
    let bytes = rmp_serde::to_vec_named(&hooked).unwrap();
    assert_eq!(rmp_serde::from_slice::<ChannelState>(&bytes).unwrap(), hooked);
    let old = rmp_serde::to_vec_named(given(&[created()]).state()).unwrap();
    assert!(rmp_serde::from_slice::<ChannelState>(&old).unwrap().webhooks.is_empty());
}

// ---------------------------------------------------------------------------------------------
// index entries
// ---------------------------------------------------------------------------------------------

fn binding() -> IndexEntry {
    IndexEntry::binding(FLOW, ADDRESS, CHANNEL)
}

fn latest() -> IndexEntry {
    IndexEntry::latest_channel(FLOW, ADDRESS, CHANNEL, Timestamp(0))
}

#[test]
fn an_active_channel_owns_its_binding() {
    assert_eq!(given(&[created()]).state().index_entries(), [binding(), latest()]);
    assert_eq!(
        given(&[
            created(),
            deactivated(),
            ChannelEvent::ChannelReactivated { reason: ReactivationReason::Api }
        ])
        .state()
        .index_entries(),
        // Reactivated (the third event, at 2 steps): the customer's latest channel since then.
        [binding(), IndexEntry::latest_channel(FLOW, ADDRESS, CHANNEL, Timestamp(2 * STEP))]
    );
}

#[test]
fn a_normal_channel_gives_its_binding_up_when_it_is_deactivated() {
    // It stays the customer's latest channel: the next one takes its provider ids from it.
    assert_eq!(given(&[created(), deactivated()]).state().index_entries(), [latest()]);
    assert_eq!(
        given(&[created(), linked(1), ended(1), interaction_ended()]).state().index_entries(),
        [latest()]
    );
}

#[test]
fn a_long_lived_channel_keeps_its_binding_while_inactive() {
    assert_eq!(
        given(&[long_lived(), deactivated()]).state().index_entries(),
        [binding(), latest()]
    );
}

#[test]
fn a_channel_without_a_flow_has_no_binding() {
    let bare = created_with(|c| {
        c.flex_flow_sid = None;
        c.customer_address = None;
    });
    assert_eq!(given(&[bare]).state().index_entries(), []);
}

#[test]
fn a_unique_name_is_an_entry_while_the_channel_has_it() {
    let named = created_with(|c| c.unique_name = Some("support-42".into()));
    let name = |value: &str| IndexEntry::unique_name(SERVICE, value, CHANNEL);
    assert_eq!(
        given(std::slice::from_ref(&named)).state().index_entries(),
        [binding(), latest(), name("support-42")]
    );
    // The name is not tied to the status.
    assert_eq!(
        given(&[named.clone(), deactivated()]).state().index_entries(),
        [latest(), name("support-42")]
    );
    let renamed =
        ChannelEvent::ChannelRenamed { friendly_name: None, unique_name: Some("x".into()) };
    assert_eq!(
        given(&[named.clone(), renamed]).state().index_entries(),
        [binding(), latest(), name("x")]
    );
    let unnamed = ChannelEvent::ChannelRenamed { friendly_name: None, unique_name: None };
    assert_eq!(given(&[named, unnamed]).state().index_entries(), [binding(), latest()]);
}

#[test]
fn nothing_is_indexed_before_creation_or_after_erasure() {
    assert_eq!(ChannelState::default().index_entries(), []);
    let named = created_with(|c| {
        c.unique_name = Some("support-42".into());
        c.long_lived = true;
    });
    assert_eq!(given(std::slice::from_ref(&named)).state().index_entries().len(), 3);
    assert_eq!(given(&[named, erased()]).state().index_entries(), []);
}

#[test]
fn an_inbound_provider_id_is_remembered_by_the_state_not_indexed() {
    let with_id = ChannelEvent::MessageAdded {
        message_sid: sid(SidPrefix::MESSAGE, 1),
        index: 7,
        author: ADDRESS.into(),
        body: "hi".into(),
        attributes: "{}".into(),
        media: None,
        source: MessageSource::Customer,
        provider_message_id: Some("SM0123".into()),
    };
    // Found by its SID (kind 7), never by the provider's id.
    assert_eq!(
        with_id.index_entries(CHANNEL),
        [IndexEntry::message(sid(SidPrefix::MESSAGE, 1), CHANNEL, 7)]
    );
    let state = given(&[created(), with_id]).state().clone();
    let stored = state.provider_messages.find("SM0123").expect("remembered");
    assert_eq!((stored.channel_sid, stored.index), (CHANNEL, 7));
    assert_eq!(state.provider_messages.find("SM9999"), None);
    for event in every_event() {
        let owns = matches!(
            event,
            ChannelEvent::DeliveryStatusChanged { provider_message_id: Some(_), .. }
                | ChannelEvent::MessageAdded { .. }
                | ChannelEvent::MediaStored { .. }
        );
        if !owns {
            assert_eq!(event.index_entries(CHANNEL), [], "{}", event.type_name());
        }
    }
}

#[test]
fn a_medium_is_found_by_its_sid_from_its_message_or_its_upload() {
    assert_eq!(
        with_media(1, 4).index_entries(CHANNEL),
        [
            IndexEntry::message(sid(SidPrefix::MESSAGE, 1), CHANNEL, 4),
            IndexEntry::media(media_sid(1), CHANNEL, None)
        ]
    );
    assert_eq!(
        stored_event(2).index_entries(CHANNEL),
        [IndexEntry::media(media_sid(2), CHANNEL, None)]
    );
}

// ---------------------------------------------------------------------------------------------
// stored forms
// ---------------------------------------------------------------------------------------------

/// A number per event variant; exhaustive, so a new variant cannot be left out of `every_event`.
fn event_kind(event: &ChannelEvent) -> usize {
    match event {
        ChannelEvent::ChannelCreated { .. } => 0,
        ChannelEvent::AttributesUpdated { .. } => 1,
        ChannelEvent::ChannelRenamed { .. } => 2,
        ChannelEvent::MemberJoined { .. } => 3,
        ChannelEvent::MemberUpdated { .. } => 4,
        ChannelEvent::MemberLeft { .. } => 5,
        ChannelEvent::MessageAdded { .. } => 6,
        ChannelEvent::MessageEdited { .. } => 7,
        ChannelEvent::MessageRemoved { .. } => 8,
        ChannelEvent::ReadHorizonUpdated { .. } => 9,
        ChannelEvent::TaskLinked { .. } => 10,
        ChannelEvent::TaskEnded { .. } => 11,
        ChannelEvent::ChannelDeactivated { .. } => 12,
        ChannelEvent::ChannelReactivated { .. } => 13,
        ChannelEvent::DeliveryStatusChanged { .. } => 14,
        ChannelEvent::DataErased { .. } => 15,
        ChannelEvent::WebhookAdded { .. } => 16,
        ChannelEvent::WebhookUpdated { .. } => 17,
        ChannelEvent::WebhookRemoved { .. } => 18,
        ChannelEvent::MediaStored { .. } => 19,
        ChannelEvent::MediaFailed { .. } => 20,
        ChannelEvent::ChannelDestroyed { .. } => 21,
        ChannelEvent::InviteAdded { .. } => 22,
        ChannelEvent::InviteRemoved { .. } => 23,
    }
}

/// Every variant, with every nested enum value and both sides of every option.
fn every_event() -> Vec<ChannelEvent> {
    let media = Media {
        sid: sid(SidPrefix::MEDIA, 3),
        content_type: "image/jpeg".into(),
        size_bytes: 123_456,
        filename: Some("photo.jpg".into()),
        provider_ref: Some("https://api.twilio.com/media/ME1".into()),
        fetch: false,
    };
    let mut events = vec![
        created(),
        created_with(|c| {
            c.kind = ChannelKind::Public;
            c.friendly_name = None;
            c.unique_name = Some("unique".into());
            c.flex_flow_sid = None;
            c.customer_address = None;
            c.long_lived = true;
            c.janitor_enabled = false;
        }),
        ChannelEvent::AttributesUpdated { attributes: r#"{"status":"ACTIVE","ü":"✓"}"#.into() },
        ChannelEvent::ChannelRenamed { friendly_name: Some("F".into()), unique_name: None },
        ChannelEvent::ChannelRenamed { friendly_name: None, unique_name: Some("U".into()) },
        joined(1, "alice"),
        ChannelEvent::MemberJoined {
            member_sid: member(2),
            identity: "bob".into(),
            role_sid: Some(sid(SidPrefix::ROLE, 1)),
            attributes: r#"{"x":[1,2]}"#.into(),
        },
        ChannelEvent::MemberUpdated {
            member_sid: member(1),
            role_sid: Some(sid(SidPrefix::ROLE, 2)),
            attributes: Some("{}".into()),
        },
        ChannelEvent::MemberUpdated { member_sid: member(1), role_sid: None, attributes: None },
        ChannelEvent::MemberLeft { member_sid: member(2) },
        ChannelEvent::MessageAdded {
            message_sid: sid(SidPrefix::MESSAGE, 1),
            index: u64::MAX,
            author: ADDRESS.into(),
            body: String::new(),
            attributes: "{}".into(),
            media: Some(media.clone()),
            source: MessageSource::Customer,
            provider_message_id: Some("wamid.HBgL".into()),
        },
        ChannelEvent::MessageAdded {
            message_sid: sid(SidPrefix::MESSAGE, 2),
            index: 1,
            author: "api".into(),
            body: "see attached".into(),
            attributes: "{}".into(),
            media: Some(Media { filename: None, provider_ref: None, ..media }),
            source: MessageSource::Api,
            provider_message_id: None,
        },
        ChannelEvent::MessageEdited {
            index: 0,
            body: Some("edited".into()),
            attributes: Some("{}".into()),
            edited_by: Some("agent".into()),
        },
        ChannelEvent::MessageEdited { index: 1, body: None, attributes: None, edited_by: None },
        removed(1),
        ChannelEvent::ReadHorizonUpdated { member_sid: member(1), last_consumed_index: Some(0) },
        ChannelEvent::ReadHorizonUpdated { member_sid: member(1), last_consumed_index: None },
        ChannelEvent::TaskLinked {
            task_sid: task(1),
            attributes: "{}".into(),
            priority: i64::MIN,
            timeout_secs: u64::MAX,
        },
        ended(1),
        ChannelEvent::TaskEnded {
            task_sid: task(2),
            outcome: TaskOutcome::Canceled { reason: "channel inactive for 3600 s".into() },
        },
        deactivated(),
        interaction_ended(),
        ChannelEvent::ChannelDeactivated {
            reason: DeactivationReason::Inactivity { idle_millis: 3_600_000 },
        },
        ChannelEvent::ChannelReactivated { reason: ReactivationReason::CustomerMessage },
        ChannelEvent::ChannelReactivated { reason: ReactivationReason::Api },
        ChannelEvent::DeliveryStatusChanged {
            index: 3,
            status: DeliveryStatus::Failed,
            error: Some(ProviderError { code: "63016".into(), message: "outside window".into() }),
            provider_message_id: None,
            requested_at: None,
        },
        ChannelEvent::DeliveryStatusChanged {
            index: 3,
            status: DeliveryStatus::Sent,
            error: None,
            provider_message_id: Some("wamid.HBgLMTY1".into()),
            requested_at: Some(Timestamp(1_700_000_000_123)),
        },
    ];
    for status in [
        DeliveryStatus::Queued,
        DeliveryStatus::Sent,
        DeliveryStatus::Delivered,
        DeliveryStatus::Read,
        DeliveryStatus::Undelivered,
    ] {
        events.push(delivered(0, status));
    }
    for reason in [ErasureReason::SubjectRequest, ErasureReason::Retention, ErasureReason::Operator]
    {
        events.push(ChannelEvent::DataErased { reason });
    }
    events.push(webhook_added(1));
    events.push(ChannelEvent::WebhookUpdated {
        webhook_sid: webhook(1),
        url: "http://localhost:8080/hook?x=1".into(),
        method: WebhookMethod::Get,
        filters: vec!["onMemberAdded".into(), "onChannelUpdated".into()],
        retry_count: 0,
    });
    events.push(ChannelEvent::WebhookRemoved { webhook_sid: webhook(1) });
    events.push(ChannelEvent::MediaStored {
        media_sid: media_sid(3),
        content_type: "image/jpeg".into(),
        size_bytes: 5,
        sha256: "ab".repeat(32),
        filename: Some("photo.jpg".into()),
    });
    events.push(ChannelEvent::MediaStored {
        media_sid: media_sid(4),
        content_type: "application/pdf".into(),
        size_bytes: 0,
        sha256: "cd".repeat(32),
        filename: None,
    });
    events.push(ChannelEvent::MediaFailed { media_sid: media_sid(3), error: "too large".into() });
    events.push(ChannelEvent::ChannelDestroyed {});
    events.push(invited(1, "carol"));
    events.push(ChannelEvent::InviteAdded {
        invite_sid: invite_sid(2),
        identity: "dave".into(),
        role_sid: Some(sid(SidPrefix::ROLE, 1)),
        created_by: Some("alice".into()),
    });
    events.push(ChannelEvent::InviteRemoved { invite_sid: invite_sid(1) });
    events
}

#[test]
fn the_samples_cover_every_event_variant() {
    let mut kinds: Vec<usize> = every_event().iter().map(event_kind).collect();
    kinds.sort_unstable();
    kinds.dedup();
    assert_eq!(kinds, (0..24).collect::<Vec<_>>());
}

#[test]
fn every_event_round_trips_through_messagepack() {
    for event in every_event() {
        let bytes = rmp_serde::to_vec_named(&event).unwrap();
        let back: ChannelEvent = rmp_serde::from_slice(&bytes).unwrap();
        assert_eq!(back, event, "{}", event.type_name());
        let record = Recorded::new(Timestamp(1_700_000_000_123), event);
        let bytes = rmp_serde::to_vec_named(&record).unwrap();
        assert_eq!(rmp_serde::from_slice::<Recorded>(&bytes).unwrap(), record);
    }
}

#[test]
fn every_event_round_trips_through_json_under_its_type_name() {
    for event in every_event() {
        let text = serde_json::to_string(&event).unwrap();
        assert_eq!(serde_json::from_str::<ChannelEvent>(&text).unwrap(), event, "{text}");
        let value: serde_json::Value = serde_json::from_str(&text).unwrap();
        let object = value.as_object().unwrap_or_else(|| panic!("not externally tagged: {text}"));
        let names: Vec<&str> = object.keys().map(String::as_str).collect();
        assert_eq!(names, [event.type_name()], "{text}");
    }
}

#[test]
fn nested_names_are_stored_in_snake_case() {
    let idle = ChannelEvent::ChannelDeactivated {
        reason: DeactivationReason::Inactivity { idle_millis: 5 },
    };
    assert_eq!(
        serde_json::to_string(&idle).unwrap(),
        r#"{"channel_deactivated":{"reason":{"inactivity":{"idle_millis":5}}}}"#
    );
    let reopened = ChannelEvent::ChannelReactivated { reason: ReactivationReason::CustomerMessage };
    assert_eq!(
        serde_json::to_string(&reopened).unwrap(),
        r#"{"channel_reactivated":{"reason":"customer_message"}}"#
    );
    let erased = ChannelEvent::DataErased { reason: ErasureReason::SubjectRequest };
    assert_eq!(
        serde_json::to_string(&erased).unwrap(),
        r#"{"data_erased":{"reason":"subject_request"}}"#
    );
    assert_eq!(
        serde_json::to_string(&webhook_added(1)).unwrap(),
        r#"{"webhook_added":{"webhook_sid":"WH01010101010101010101010101010101","url":"https://bridge.example.com/replies","method":"post","filters":["onMessageSent"],"retry_count":2}}"#
    );
    let record = Recorded::new(Timestamp(7), delivered(2, DeliveryStatus::Undelivered));
    assert_eq!(
        serde_json::to_string(&record).unwrap(),
        r#"{"schema":1,"at":7,"event":{"delivery_status_changed":{"index":2,"status":"undelivered","error":null}}}"#
    );
}

#[test]
fn only_the_erasure_marker_may_be_stored_in_the_clear() {
    for event in every_event() {
        let erasure = matches!(event, ChannelEvent::DataErased { .. });
        assert_eq!(event.is_clear_text_allowed(), erasure, "{}", event.type_name());
    }
}

#[test]
fn a_reactivation_restarts_the_janitors_clock() {
    let window = 120_000;
    // Quiet since the start, deactivated, then reactivated over REST at t = 500 s.
    let mut state = ChannelState::default();
    state.apply(&Recorded::new(Timestamp(0), created_for_janitor()));
    state.apply(&Recorded::new(
        Timestamp(1_000),
        ChannelEvent::ChannelDeactivated { reason: DeactivationReason::Api },
    ));
    state.apply(&Recorded::new(
        Timestamp(500_000),
        ChannelEvent::ChannelReactivated { reason: ReactivationReason::Api },
    ));
    let soon = ChannelCommand::RetireIfIdle { now: Timestamp(560_000), window_millis: window };
    assert_eq!(decide(&state, soon), Ok(vec![]), "within the window of the reactivation");
    let later = ChannelCommand::RetireIfIdle { now: Timestamp(700_000), window_millis: window };
    assert_eq!(decide(&state, later).unwrap().len(), 1);
}

fn created_for_janitor() -> ChannelEvent {
    ChannelEvent::ChannelCreated {
        channel_sid: Sid::from_parts(SidPrefix::CHANNEL, [7; 16]),
        service_sid: Sid::from_parts(SidPrefix::SERVICE, [7; 16]),
        kind: ChannelKind::Private,
        friendly_name: None,
        unique_name: None,
        attributes: "{}".into(),
        created_by: "system".into(),
        flex_flow_sid: None,
        customer_address: None,
        long_lived: false,
        janitor_enabled: true,
        carried_provider_messages: Vec::new(),
    }
}

// ---------------------------------------------------------------------------------------------
// media
// ---------------------------------------------------------------------------------------------

fn media_sid(n: u8) -> Sid {
    sid(SidPrefix::MEDIA, n)
}

fn media_stored(n: u8) -> ChannelCommand {
    ChannelCommand::RecordMediaStored {
        media_sid: media_sid(n),
        content_type: "image/png".into(),
        size_bytes: 3,
        sha256: "00".repeat(32),
        filename: None,
    }
}

fn stored_event(n: u8) -> ChannelEvent {
    ChannelEvent::MediaStored {
        media_sid: media_sid(n),
        content_type: "image/png".into(),
        size_bytes: 3,
        sha256: "00".repeat(32),
        filename: None,
    }
}

fn with_media(n: u8, index: u64) -> ChannelEvent {
    ChannelEvent::MessageAdded {
        message_sid: sid(SidPrefix::MESSAGE, n),
        index,
        author: ADDRESS.into(),
        body: String::new(),
        attributes: "{}".into(),
        media: Some(Media {
            sid: media_sid(n),
            content_type: "image/jpeg".into(),
            size_bytes: 0,
            filename: None,
            provider_ref: Some("https://example.test/m".into()),
            fetch: true,
        }),
        source: MessageSource::Customer,
        provider_message_id: None,
    }
}

#[test]
fn a_medium_is_stored_once_and_then_shown_stored() {
    given(&[created(), with_media(1, 0)]).when(media_stored(1)).then_expect(&[stored_event(1)]);
    given(&[created(), with_media(1, 0), stored_event(1)]).when(media_stored(1)).then_expect(&[]);
    let replayed = given(&[created(), with_media(1, 0), stored_event(1)]);
    let media = &replayed.state().media[&media_sid(1)];
    assert_eq!(media.status, crate::MediaStatus::Stored);
    assert_eq!(media.content_type, "image/png", "what was fetched wins over what was announced");
    assert_eq!(media.message_index, Some(0));
}

#[test]
fn a_failure_needs_a_pending_medium_of_the_channel() {
    let failed = ChannelCommand::RecordMediaFailed { media_sid: media_sid(1), error: "x".into() };
    given(&[created()])
        .when(failed.clone())
        .then_reject(Rejection::Invalid("no message of the channel has this medium"));
    given(&[created(), with_media(1, 0)])
        .when(failed.clone())
        .then_expect(&[ChannelEvent::MediaFailed { media_sid: media_sid(1), error: "x".into() }]);
    given(&[created(), with_media(1, 0), stored_event(1)]).when(failed).then_expect(&[]);
}

#[test]
fn an_upload_is_attached_to_one_message_only() {
    assert_eq!(
        given(&[created(), stored_event(2)]).state().media[&media_sid(2)].message_index,
        None
    );
    let post = || {
        ChannelCommand::PostMessage(NewMessage {
            author: "agent".into(),
            body: String::new(),
            attributes: "{}".into(),
            media: Some(Media {
                sid: media_sid(2),
                content_type: "image/png".into(),
                size_bytes: 3,
                filename: None,
                provider_ref: None,
                fetch: false,
            }),
            source: MessageSource::Agent,
            provider_message_id: None,
        })
    };
    let first = match decide(given(&[created(), stored_event(2)]).state(), post()) {
        Ok(events) => events,
        Err(rejection) => panic!("{rejection}"),
    };
    let mut history = vec![created(), stored_event(2)];
    history.extend(first);
    let replayed = given(&history);
    let state = replayed.state();
    assert_eq!(state.media[&media_sid(2)].message_index, Some(0));
    assert_eq!(state.media[&media_sid(2)].status, crate::MediaStatus::Stored);
    given(&history)
        .when(post())
        .then_reject(Rejection::Invalid("the medium is already attached to another message"));
}

// ---------------------------------------------------------------------------------------------
// provider redeliveries
// ---------------------------------------------------------------------------------------------

fn post_from_provider(id: &str) -> ChannelCommand {
    ChannelCommand::PostMessage(NewMessage {
        provider_message_id: Some(id.into()),
        ..new_message(MessageSource::Customer)
    })
}

fn added_from_provider(index: u64, id: &str) -> ChannelEvent {
    let mut event = added(index, MessageSource::Customer);
    if let ChannelEvent::MessageAdded { provider_message_id, .. } = &mut event {
        *provider_message_id = Some(id.into());
    }
    event
}

#[test]
fn a_redelivered_provider_message_is_refused_with_where_it_is() {
    let already = Rejection::AlreadyStored { channel_sid: CHANNEL, index: 0 };
    given(&[created()])
        .when(post_from_provider("SM1"))
        .then_expect(&[added_from_provider(0, "SM1")])
        .when(post_from_provider("SM1"))
        .then_reject(already.clone());
    // A retired channel says so too (the router then opens nothing), and a long-lived one is not
    // reopened by a redelivery.
    given(&[created(), added_from_provider(0, "SM1"), deactivated()])
        .when(post_from_provider("SM1"))
        .then_reject(already.clone());
    given(&[long_lived(), added_from_provider(0, "SM1"), deactivated()])
        .when(post_from_provider("SM1"))
        .then_reject(already);
    // Another id is a new message.
    given(&[created(), added_from_provider(0, "SM1")])
        .when(post_from_provider("SM2"))
        .then_expect(&[added_from_provider(1, "SM2")]);
}

#[test]
fn a_new_channel_recognizes_what_it_carried_and_erasure_forgets_it() {
    let elsewhere = sid(SidPrefix::CHANNEL, 2);
    let carried =
        ProviderMessageRef { id: "SM1".into(), channel_sid: elsewhere, index: 4, at: Timestamp(0) };
    let new = created_with(|c| c.carried_provider_messages = vec![carried]);
    given(std::slice::from_ref(&new))
        .when(post_from_provider("SM1"))
        .then_reject(Rejection::AlreadyStored { channel_sid: elsewhere, index: 4 });
    assert!(given(&[new, erased()]).state().provider_messages.is_empty());
}
