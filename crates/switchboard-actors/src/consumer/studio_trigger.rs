//! Studio's messaging trigger: each customer message of a channel whose Flex Flow has the
//! `studio` integration goes to the flow's Studio flow (`Integration.FlowSid`). The execution
//! active in the channel that waits for a reply gets it; with none active, and no agent's task
//! open in the channel, the message starts an execution of the newest published revision with
//! Studio's trigger context (`trigger.message.Body`, `From`, `ChannelSid`, `ChannelAttributes`,
//! `InstanceSid`, `MessageSid`, …) and `flow.channel.address` (the flow's contact identity). One
//! execution per channel at a time: a channel's messages are read in order, one run at a time.
//!
//! Read from the channel's log by cursor. Nothing is doubled when a crash takes the cursor back:
//! the execution a message starts takes its SID from the message's (a second start is refused),
//! and the channel's latest execution records the index of each message it took (its trigger's
//! `Index`, each reply's `inbound.Index`), so a message at or below the latest it took is one
//! already given.
//! A message that comes while the execution waits on something else (its message's outcome, an
//! HTTP answer, both moments away) is held until it waits for a reply, for at most
//! [`REPLY_PATIENCE`]; a message while an agent holds the channel is the agent's alone.
//! A message that comes after the latest execution ended, but before its last requests were
//! carried out, waits for them too (as long): a `send-to-flex` ends the execution at once, and
//! until its task is linked the channel shows no agent, so the message would start a second
//! bot conversation beside the task.

use std::sync::Arc;
use std::time::Duration;

use serde_json::{json, Value};
use switchboard_domain::{
    ChannelEvent, ChannelState, IntegrationType, MessageSource, Recorded, Sid, SidPrefix,
};
use switchboard_store::{ReplayRecord, StoreError};
use switchboard_studio::{ExecutionInput, ExecutionRejection, ExecutionState, Limits, Waiting};

use super::{durable_records, Consumer, Run, Shared, Wake, Woken};
use crate::directory::FlowView;
use crate::metrics::Destination;
use crate::studio_flows::{ExecutionRefusal, ExecutionStart};

/// The cursor and dead-letter name of this consumer of the log.
pub const CONSUMER: &str = "studio-trigger";

/// How long a reply waits for its execution to wait for it, and how often it looks.
pub(crate) const REPLY_PATIENCE: Duration = Duration::from_secs(10);
const REPLY_RETRY: Duration = Duration::from_millis(50);

/// Gives customers' messages to their channel's Studio flow.
pub(crate) struct StudioTrigger;

pub(crate) fn is_studio(flow: &FlowView) -> bool {
    flow.config.integration_type == IntegrationType::Studio
}

fn is_customer_message(event: &ChannelEvent) -> bool {
    matches!(event, ChannelEvent::MessageAdded { source: MessageSource::Customer, .. })
}

impl Consumer for StudioTrigger {
    fn name(&self) -> &'static str {
        CONSUMER
    }

    fn wants(&self, woken: &Woken<'_>) -> bool {
        woken.events().any(is_customer_message) && woken.flow().is_some_and(|f| is_studio(&f))
    }

    fn resume_from(
        &self,
        shared: &Shared,
        channel: Sid,
        state: &ChannelState,
    ) -> Result<Option<u64>, StoreError> {
        let flow = state.flex_flow_sid.and_then(|f| shared.flows.get(f));
        let Some(flow) = flow.filter(is_studio) else { return Ok(None) };
        super::resume_under_flow(&shared.log, CONSUMER, channel, state, flow.date_updated)
    }

    fn run(&self, shared: Arc<Shared>, wake: Wake) -> Run {
        Box::pin(async move { deliver(&shared, wake).await })
    }
}

/// Gives every customer message of one channel's pending events to Studio, in order.
async fn deliver(shared: &Shared, wake: Wake) -> Result<(), StoreError> {
    let log = &shared.log;
    let channel = wake.stream_sid;
    let flow = wake.flow_sid.and_then(|f| shared.flows.get(f));
    let Some(flow) = flow.filter(is_studio) else { return Ok(()) };
    let start = super::start_at(log, CONSUMER, channel, wake.from_seq)?;
    let records = durable_records::<Recorded>(log, &wake, start)?;
    let Some(end) = records.last().map(|r| r.seq() + 1) else { return Ok(()) };
    let mut passed = start;
    for record in &records {
        let ReplayRecord::Event { seq, event, .. } = record else { continue };
        if !is_customer_message(&event.event) {
            continue;
        }
        let message = Message::of(channel, wake.service_sid, event);
        if let Err(why) = on_message(shared, &flow, message).await {
            super::give_up(log, CONSUMER, channel, *seq, &why, Destination::Studio)?;
        }
        passed = seq + 1;
        log.set_cursor(CONSUMER, channel, passed)?;
    }
    // Past the events that are no customer's message (the bot's, delivery reports) in one
    // write: read again after a crash, they still give Studio nothing.
    if passed < end {
        log.set_cursor(CONSUMER, channel, end)?;
    }
    Ok(())
}

/// A customer's message as the trigger reads it.
struct Message<'a> {
    channel: Sid,
    service: Sid,
    record: &'a Recorded,
}

impl<'a> Message<'a> {
    fn of(channel: Sid, service: Sid, record: &'a Recorded) -> Message<'a> {
        Message { channel, service, record }
    }

    /// (SID, index, author, body, attributes).
    fn parts(&self) -> (Sid, u64, &'a str, &'a str, &'a str) {
        match &self.record.event {
            ChannelEvent::MessageAdded { message_sid, index, author, body, attributes, .. } => {
                (*message_sid, *index, author, body, attributes)
            }
            // Only messages are read as messages (`is_customer_message`).
            _ => (self.channel, 0, "", "", "{}"),
        }
    }

    /// The SID of the execution this message starts, if it starts one.
    fn execution_sid(&self) -> Sid {
        Sid::from_parts(SidPrefix::STUDIO_EXECUTION, self.parts().0.id())
    }
}

/// Gives one customer message to Studio; `Err` says why it could not be.
async fn on_message(shared: &Shared, flow: &FlowView, message: Message<'_>) -> Result<(), String> {
    let studio = &shared.studio;
    let (message_sid, index, from, body, _) = message.parts();
    let latest = studio.latest_in_channel(message.channel);
    if latest.as_ref().and_then(taken_up_to).is_some_and(|taken| index <= taken) {
        return Ok(()); // Given before a crash took the cursor back.
    }
    let reply = ExecutionInput::Reply {
        body: body.to_owned(),
        from: from.to_owned(),
        message: Some((message_sid.to_string(), index)),
    };
    if !give_reply(shared, message.channel, reply).await? {
        return Ok(());
    }
    let Some(flow_sid) = flow.config.integration.flow_sid else {
        return Err(format!("the Flex Flow {} names no Integration.FlowSid", flow.sid));
    };
    await_last_requests(shared, message.channel).await?;
    let channel = channel_state(shared, message.channel).await?;
    if !channel.open_tasks.is_empty() {
        return Ok(()); // An agent holds the interaction.
    }
    let start = ExecutionStart {
        trigger_event: "incomingMessage".into(),
        trigger: trigger(shared, &channel, &message),
        data: json!({}),
        flow_address: flow
            .config
            .contact_identity
            .clone()
            .unwrap_or_else(|| message.channel.to_string()),
        limits: Limits::default(),
        execution_sid: Some(message.execution_sid()),
    };
    match studio.start_execution(flow_sid, start, shared.clock.now()).await {
        Ok(Ok(_)) | Ok(Err(ExecutionRefusal::Rejected(ExecutionRejection::AlreadyStarted))) => {
            Ok(())
        }
        Ok(Err(refusal)) => Err(format!("Studio flow {flow_sid}: {refusal}")),
        Err(error) => Err(error.to_string()),
    }
}

/// The index of the latest channel message `execution` took: its trigger or a reply. Asked
/// for every customer message, so read from the context's text by [`taken::read`], which
/// builds nothing of the rest of it (parsing the whole context into a tree was about a third
/// of the trigger's own run in the Studio bench); text that is not JSON is parsed whole, as it
/// always was.
fn taken_up_to(execution: &ExecutionState) -> Option<u64> {
    match taken::read(&execution.context) {
        Ok(taken) => taken,
        Err(_) => taken_up_to_parsed(execution),
    }
}

/// [`taken_up_to`] from the whole context parsed.
fn taken_up_to_parsed(execution: &ExecutionState) -> Option<u64> {
    let context = execution.context();
    let trigger = context.pointer("/trigger/message/Index").and_then(Value::as_u64);
    let widgets = context.get("widgets").and_then(Value::as_object).into_iter().flatten();
    let replies = widgets.filter_map(|(_, w)| w.pointer("/inbound/Index").and_then(Value::as_u64));
    trigger.into_iter().chain(replies).max()
}

/// Gives the message to the channel's active execution as its reply. `Ok(true)`: there is
/// none (any more), so the message may start one.
async fn give_reply(shared: &Shared, channel: Sid, reply: ExecutionInput) -> Result<bool, String> {
    let studio = &shared.studio;
    let tries = REPLY_PATIENCE.as_millis() / REPLY_RETRY.as_millis();
    for _ in 0..tries {
        let Some(execution) = studio.active_in_channel(channel) else { return Ok(true) };
        let Some(sid) = execution.sid else { return Ok(true) };
        if matches!(execution.waiting, Some(Waiting::Reply { .. })) {
            match studio.execute(sid, reply.clone(), shared.clock.now()).await {
                Ok(Ok(_)) => return Ok(false),
                // Timed out or ended meanwhile: look again.
                Ok(Err(_)) => continue,
                Err(error) => return Err(error.to_string()),
            }
        }
        tokio::time::sleep(REPLY_RETRY).await;
    }
    tracing::warn!(%channel, "a customer's message came while the channel's Studio execution waited on something else; it stays in the channel only");
    Ok(false)
}

/// Waits until the requests of the channel's latest execution are carried out (or patience
/// runs out), so the channel's state says whether an agent now holds it.
async fn await_last_requests(shared: &Shared, channel: Sid) -> Result<(), String> {
    let tries = REPLY_PATIENCE.as_millis() / REPLY_RETRY.as_millis();
    for _ in 0..tries {
        let Some(latest) = shared.studio.latest_in_channel(channel) else { return Ok(()) };
        let Some(sid) = latest.sid else { return Ok(()) };
        let (carried_out, end) = super::studio_requests::cursor(shared, sid)
            .and_then(|c| Ok((c, shared.log.next_seq(sid)?)))
            .map_err(|e| e.to_string())?;
        if carried_out >= end {
            return Ok(());
        }
        tokio::time::sleep(REPLY_RETRY).await;
    }
    tracing::warn!(%channel, "the channel's last Studio execution still has requests to carry out; a customer's message goes on without them");
    Ok(())
}

pub(crate) async fn channel_state(shared: &Shared, channel: Sid) -> Result<ChannelState, String> {
    let Some(registry) = shared.registry.upgrade() else {
        return Err("the engine is stopping".into());
    };
    let asked = registry.ask(channel, None, || crate::channel::GetState).await;
    match asked {
        Ok(Ok(state)) => Ok(state),
        Ok(Err(error)) | Err(error) => Err(error.to_string()),
    }
}

/// Studio's `trigger` for a customer's message in a chat channel (`onMessageSent`).
fn trigger(shared: &Shared, channel: &ChannelState, message: &Message<'_>) -> Value {
    let (message_sid, index, from, body, attributes) = message.parts();
    let parse = |text: &str| serde_json::from_str::<Value>(text).unwrap_or_else(|_| json!({}));
    json!({"message": {
        "Body": body,
        "From": from,
        "ClientIdentity": from,
        "ChannelSid": message.channel.to_string(),
        "ChannelAttributes": parse(&channel.attributes),
        "InstanceSid": message.service.to_string(),
        "MessageSid": message_sid.to_string(),
        "Index": index,
        "Attributes": parse(attributes),
        "AccountSid": shared.config.account_sid,
        "EventType": "onMessageSent",
        "Source": "API",
        "DateCreated": crate::iso8601(message.record.at),
    }})
}

/// The indices an execution's context holds of the messages it took (`trigger.message.Index`,
/// each `widgets.NAME.inbound.Index`), read as the whole context's tree would give them
/// (`Value::as_u64`: a non-negative integer, anything else none; a part of another type than
/// the path expects holds none), without building that tree.
mod taken {
    use std::fmt;

    use serde::de::{self, Deserialize, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};

    /// The latest index, if any; `Err` for text that is not JSON.
    pub(super) fn read(context: &str) -> Result<Option<u64>, serde_json::Error> {
        let Lenient(context) = serde_json::from_str::<Lenient<Context>>(context)?;
        let Some(Context { trigger, widgets }) = context else { return Ok(None) };
        let trigger = trigger.0.and_then(|t| t.message.0).and_then(|m| m.index.0);
        Ok(trigger.into_iter().chain(widgets.0.and_then(|w| w.0)).max())
    }

    #[derive(serde::Deserialize)]
    struct Context {
        #[serde(default)]
        trigger: Lenient<Trigger>,
        #[serde(default)]
        widgets: Lenient<Widgets>,
    }

    #[derive(serde::Deserialize)]
    struct Trigger {
        #[serde(default)]
        message: Lenient<Indexed>,
    }

    #[derive(serde::Deserialize)]
    struct Widget {
        #[serde(default)]
        inbound: Lenient<Indexed>,
    }

    #[derive(serde::Deserialize)]
    struct Indexed {
        #[serde(default, rename = "Index")]
        index: Index,
    }

    /// An object read as `T`, or none when the value is not an object.
    struct Lenient<T>(Option<T>);

    impl<T> Default for Lenient<T> {
        fn default() -> Self {
            Lenient(None)
        }
    }

    impl<'de, T: Deserialize<'de>> Deserialize<'de> for Lenient<T> {
        fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
            struct Object<T>(std::marker::PhantomData<T>);
            impl<'de, T: Deserialize<'de>> Visitor<'de> for Object<T> {
                type Value = Lenient<T>;
                fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                    f.write_str("any JSON value")
                }
                fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Self::Value, A::Error> {
                    let object = T::deserialize(de::value::MapAccessDeserializer::new(map))?;
                    Ok(Lenient(Some(object)))
                }
                fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
                    while seq.next_element::<IgnoredAny>()?.is_some() {}
                    Ok(Lenient(None))
                }
                fn visit_bool<E>(self, _: bool) -> Result<Self::Value, E> {
                    Ok(Lenient(None))
                }
                fn visit_i64<E>(self, _: i64) -> Result<Self::Value, E> {
                    Ok(Lenient(None))
                }
                fn visit_u64<E>(self, _: u64) -> Result<Self::Value, E> {
                    Ok(Lenient(None))
                }
                fn visit_f64<E>(self, _: f64) -> Result<Self::Value, E> {
                    Ok(Lenient(None))
                }
                fn visit_str<E>(self, _: &str) -> Result<Self::Value, E> {
                    Ok(Lenient(None))
                }
                fn visit_unit<E>(self) -> Result<Self::Value, E> {
                    Ok(Lenient(None))
                }
            }
            deserializer.deserialize_any(Object(std::marker::PhantomData))
        }
    }

    /// `widgets`: the latest `inbound.Index` among them, each widget's key unread.
    struct Widgets(Option<u64>);

    impl<'de> Deserialize<'de> for Widgets {
        fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
            struct Latest;
            impl<'de> Visitor<'de> for Latest {
                type Value = Widgets;
                fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                    f.write_str("an object of widgets")
                }
                fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Widgets, A::Error> {
                    let mut latest = None;
                    while map.next_key::<IgnoredAny>()?.is_some() {
                        let Lenient(widget) = map.next_value::<Lenient<Widget>>()?;
                        let index = widget.and_then(|w| w.inbound.0).and_then(|i| i.index.0);
                        latest = latest.max(index);
                    }
                    Ok(Widgets(latest))
                }
            }
            deserializer.deserialize_map(Latest)
        }
    }

    /// `Value::as_u64` of a value, without the value.
    #[derive(Default)]
    struct Index(Option<u64>);

    impl<'de> Deserialize<'de> for Index {
        fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
            struct AsU64;
            impl<'de> Visitor<'de> for AsU64 {
                type Value = Index;
                fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                    f.write_str("any JSON value")
                }
                fn visit_u64<E>(self, v: u64) -> Result<Index, E> {
                    Ok(Index(Some(v)))
                }
                fn visit_i64<E>(self, v: i64) -> Result<Index, E> {
                    Ok(Index(u64::try_from(v).ok()))
                }
                fn visit_f64<E>(self, _: f64) -> Result<Index, E> {
                    Ok(Index(None))
                }
                fn visit_bool<E>(self, _: bool) -> Result<Index, E> {
                    Ok(Index(None))
                }
                fn visit_str<E>(self, _: &str) -> Result<Index, E> {
                    Ok(Index(None))
                }
                fn visit_unit<E>(self) -> Result<Index, E> {
                    Ok(Index(None))
                }
                fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Index, A::Error> {
                    while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
                    Ok(Index(None))
                }
                fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Index, A::Error> {
                    while seq.next_element::<IgnoredAny>()?.is_some() {}
                    Ok(Index(None))
                }
            }
            deserializer.deserialize_any(AsU64)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn execution(context: Value) -> ExecutionState {
        ExecutionState { context: context.to_string(), ..ExecutionState::default() }
    }

    #[test]
    fn an_execution_has_taken_its_trigger_and_every_reply_up_to_the_latest() {
        let started = execution(json!({"trigger": {"message": {"Index": 0}}, "widgets": {}}));
        assert_eq!(taken_up_to(&started), Some(0));
        let replied = execution(json!({
            "trigger": {"message": {"Index": 2}},
            "widgets": {"ask": {"inbound": {"Index": 5}}, "lookup": {"status_code": 200},
                        "menu": {"inbound": {"Index": 4}}},
        }));
        assert_eq!(taken_up_to(&replied), Some(5));
        assert_eq!(taken_up_to(&execution(json!({"trigger": {}}))), None, "no channel message");
    }

    #[test]
    fn the_taken_index_read_from_the_text_is_the_parsed_contexts() {
        let contexts = [
            json!({"trigger": {"message": {"Index": 3, "Body": "hi"}}, "widgets": {},
                   "flow": {"variables": {"Index": 99}}}),
            json!({"trigger": {"message": {"Index": 2}},
                   "widgets": {"ask": {"inbound": {"Index": 7, "Body": "x"}},
                               "http": {"parsed": {"inbound": {"Index": 50}}, "body": "{}"},
                               "menu": {"inbound": {"Index": 4}}}}),
            // Parts of other types than the path expects hold no index.
            json!({"trigger": {"message": "text"}, "widgets": {"a": {"inbound": [1, 2]},
                                                             "b": {"inbound": {"Index": -4}},
                                                             "c": {"inbound": {"Index": 2.5}},
                                                             "d": {"inbound": {"Index": "9"}},
                                                             "e": 12, "f": null}}),
            json!({"trigger": [], "widgets": "none"}),
            json!({"widgets": {"ask": {"inbound": {"Index": {"nested": 1}}}}}),
            json!({"trigger": {"message": {"Index": null}}}),
            json!(["not", "an", "object"]),
            json!(null),
            json!({}),
        ];
        for context in contexts {
            let state = execution(context.clone());
            assert_eq!(
                taken::read(&state.context).unwrap(),
                taken_up_to_parsed(&state),
                "{context}"
            );
        }
        let broken = ExecutionState { context: "{\"trigger\":".into(), ..Default::default() };
        assert!(taken::read(&broken.context).is_err());
        assert_eq!(taken_up_to(&broken), None, "what is not JSON holds nothing");
    }
}
