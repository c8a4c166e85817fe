//! `FlowRouter`: decides whether an inbound message goes to the customer's channel or opens one.
//!
//! Routers are sharded by (flow, customer address), and each handles one message at a time to
//! the end of its append, so two messages from one customer can never both find "no channel" and
//! create two (as Rocket.Chat#38148 and chatwoot#10798 did). Durability is awaited by the caller,
//! outside the router, so a shard is busy only for the write itself.
//!
//! Each router remembers the channel it last routed each customer to ([`BindingCache`]), which
//! saves the binding look-up (a keyed hash and a sled read) on every message of a conversation.
//! The remembered channel is only a hint: the channel actor refuses a message when the channel
//! can no longer take it (inactive, erased, deleted), and the router then opens a new channel,
//! as it does when the index's binding went stale between the look-up and the append.

use std::collections::HashMap;
use std::sync::Arc;

use actix::prelude::*;
use serde_json::json;
use switchboard_domain::{
    Cause, ChannelCommand, ChannelEvent, ChannelKind, IndexKind, IntegrationType, Media,
    MessageSource, NewChannel, NewMessage, ProviderMessageRef, Rejection, Sid, SidPrefix,
    Timestamp,
};
use switchboard_store::EventLog;

use crate::channel::{Appended, Durability, Execute, GetState};
use crate::directory::FlowView;
use crate::registry::Registry;
use crate::{new_sid, EngineError};

/// A customer's message as a provider delivered it, already authenticated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Inbound {
    /// Whose webhook delivered it (counted in the metrics by it).
    pub provider: crate::metrics::InboundProvider,
    /// What the customer wrote through, and to which of our addresses as the provider names it
    /// (a number, `whatsapp:+…`, a Page id, a WhatsApp phone number id): the enabled Flex Flow
    /// of that type with that `ContactIdentity` takes the message.
    pub channel_type: switchboard_domain::ChannelType,
    pub to: String,
    /// The customer's normalized address.
    pub customer_address: String,
    pub body: String,
    /// Attachments; the first goes with the body, each further one is a message of its own.
    pub media: Vec<Media>,
    /// The provider's message id: a redelivery with the same id adds nothing.
    pub provider_message_id: Option<String>,
    /// A display name the provider gave (WhatsApp ProfileName), if any.
    pub profile_name: Option<String>,
    /// Pre-engagement data (a JSON document) for a new channel, if any.
    pub pre_engagement_data: Option<serde_json::Value>,
    /// The message's attributes (a JSON document): the provider's own record of it.
    pub attributes: Option<String>,
}

/// Where an inbound message ended up.
#[derive(Debug)]
pub enum Routed {
    Stored {
        channel_sid: Sid,
        message_index: u64,
        created_channel: bool,
        /// Waited on by the engine, outside the router's turn.
        durability: Durability,
    },
    /// The provider message id was already stored: nothing new was written.
    Duplicate { channel_sid: Sid, message_index: u64 },
}

#[derive(Debug, Message)]
#[rtype(result = "Result<Result<Routed, Rejection>, EngineError>")]
pub(crate) struct Route {
    pub flow: FlowView,
    pub inbound: Inbound,
    pub at: Timestamp,
    /// The span of the request that brought the message: routing runs in it.
    pub span: tracing::Span,
}

/// What routing needs of the engine: the log and the channels. A router holds this, not the
/// engine, which holds the routers.
#[derive(Debug, Clone)]
pub(crate) struct RouteDeps {
    pub log: Arc<EventLog>,
    pub registry: Arc<Registry>,
}

#[derive(Debug)]
pub struct FlowRouter {
    pub(crate) deps: RouteDeps,
    /// The arbiter this router runs on; the channels it starts run there too.
    pub(crate) home: usize,
    /// The channel each recent customer of this shard was routed to.
    pub(crate) bindings: BindingCache,
}

impl FlowRouter {
    pub(crate) fn new(deps: RouteDeps, home: usize) -> FlowRouter {
        FlowRouter { deps, home, bindings: BindingCache::default() }
    }
}

/// The channel a router last routed each (flow, customer address) to, for at most
/// [`BindingCache::CAPACITY`] customers per shard (emptied when full: a miss costs one index
/// look-up, so a crude bound is enough). Only the router of a shard writes a binding of that
/// shard's customers, so the hint goes stale only when the channel retires, which the channel
/// actor detects.
#[derive(Debug, Default)]
pub(crate) struct BindingCache {
    /// Channel by customer address, by flow.
    channels: HashMap<Sid, HashMap<String, Sid>>,
    len: usize,
}

impl BindingCache {
    pub const CAPACITY: usize = 8192;

    pub fn get(&self, flow: Sid, address: &str) -> Option<Sid> {
        self.channels.get(&flow)?.get(address).copied()
    }

    pub fn remember(&mut self, flow: Sid, address: &str, channel: Sid) {
        if self.len >= Self::CAPACITY && self.get(flow, address).is_none() {
            self.channels.clear();
            self.len = 0;
        }
        let previous = self.channels.entry(flow).or_default().insert(address.to_owned(), channel);
        if previous.is_none() {
            self.len += 1;
        }
    }

    pub fn forget(&mut self, flow: Sid, address: &str) {
        let removed =
            self.channels.get_mut(&flow).and_then(|by_address| by_address.remove(address));
        if removed.is_some() {
            self.len -= 1;
        }
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.len
    }
}

impl Actor for FlowRouter {
    type Context = Context<Self>;
}

impl Handler<Route> for FlowRouter {
    type Result = AtomicResponse<Self, Result<Result<Routed, Rejection>, EngineError>>;

    fn handle(&mut self, route: Route, _: &mut Context<Self>) -> Self::Result {
        let deps = self.deps.clone();
        let home = self.home;
        let (flow_sid, address) = (route.flow.sid, route.inbound.customer_address.clone());
        let cached = self.bindings.get(flow_sid, &address);
        let span = route.span.clone();
        // Atomic: the next message of this shard waits until this one is written (and, below,
        // until the cache says where it went).
        AtomicResponse::new(Box::pin(
            tracing::Instrument::instrument(
                async move { route_one(&deps, route, home, cached).await },
                span,
            )
            .into_actor(self)
            .map(move |routed, router, _| {
                match &routed {
                    Ok(Ok(Routed::Stored { channel_sid, .. })) => {
                        router.bindings.remember(flow_sid, &address, *channel_sid);
                    }
                    Ok(Ok(Routed::Duplicate { .. })) => {}
                    Ok(Err(_)) | Err(_) => router.bindings.forget(flow_sid, &address),
                }
                routed
            }),
        ))
    }
}

/// Routes one message; `cached` is the channel this shard last routed the customer to, used
/// instead of the binding index when given.
async fn route_one(
    deps: &RouteDeps,
    route: Route,
    home: usize,
    cached: Option<Sid>,
) -> Result<Result<Routed, Rejection>, EngineError> {
    let Route { flow, inbound, at, .. } = route;
    let log = &deps.log;
    let mut interaction = message_commands(&inbound);
    interaction.extend(task_command(&flow, &inbound));
    let bound = match cached {
        Some(channel_sid) => Some(channel_sid),
        None => log
            .lookup(IndexKind::Binding, Some(flow.sid), &inbound.customer_address)?
            .map(|(channel_sid, _)| channel_sid),
    };
    if let Some(channel_sid) = bound {
        match execute(deps, channel_sid, &interaction, at, home, &Some(Cause::Provider)).await? {
            Ok(done) => return Ok(Ok(stored(channel_sid, done, false))),
            Err(Rejection::AlreadyStored { channel_sid, index }) => {
                return Ok(Ok(Routed::Duplicate { channel_sid, message_index: index }));
            }
            // Retired between the lookup and the append: the customer gets a new channel.
            Err(
                Rejection::ChannelInactive | Rejection::ChannelErased | Rejection::ChannelNotFound,
            ) => {}
            Err(other) => return Ok(Err(other)),
        }
    }
    let (address, id) = (&inbound.customer_address, inbound.provider_message_id.as_deref());
    let carried = match carried_from_latest(deps, &flow, address, id, (at, home)).await? {
        Ok(carried) => carried,
        Err(duplicate) => return Ok(Ok(duplicate)),
    };
    let channel_sid = new_sid(SidPrefix::CHANNEL);
    let mut commands = vec![
        ChannelCommand::Create(new_channel(channel_sid, &flow, &inbound, carried)),
        ChannelCommand::AddMember {
            member_sid: new_sid(SidPrefix::MEMBER),
            identity: inbound.customer_address.clone(),
            role_sid: None,
            attributes: member_attributes(&inbound),
        },
    ];
    commands.extend(interaction);
    Ok(execute(deps, channel_sid, &commands, at, home, &Some(Cause::Provider))
        .await?
        .map(|done| stored(channel_sid, done, true)))
}

/// Before a customer gets a new channel: the provider ids their latest channel remembers, to
/// carry over, or where the message with provider id `id` already is when this is a redelivery
/// (of a message of a channel that retired since, or, in a folder written before channels
/// remembered provider ids, of any message: those ids are in the index). Called by the router
/// of the customer's shard, so no other new channel of theirs can come in between.
pub(crate) async fn carried_from_latest(
    deps: &RouteDeps,
    flow: &FlowView,
    customer_address: &str,
    id: Option<&str>,
    (at, home): (Timestamp, usize),
) -> Result<Result<Vec<ProviderMessageRef>, Routed>, EngineError> {
    let log = &deps.log;
    let latest = log.lookup(IndexKind::LatestChannel, Some(flow.sid), customer_address)?;
    let mut carried = Vec::new();
    if let Some((latest, _)) = latest {
        match deps.registry.ask(latest, Some(home), || GetState).await? {
            Ok(state) => {
                if let Some(stored) = id.and_then(|id| state.provider_messages.find(id)) {
                    let (channel_sid, message_index) = (stored.channel_sid, stored.index);
                    return Ok(Err(Routed::Duplicate { channel_sid, message_index }));
                }
                carried = state.provider_messages.carried_at(at);
            }
            // A channel that no longer loads must not keep its customer from a new one.
            Err(error) => {
                tracing::warn!(channel = %latest, %error, "the customer's latest channel did not load; its provider ids are not carried over");
            }
        }
    }
    if let Some(id) = id {
        if let Some((channel_sid, index)) = log.lookup(IndexKind::ProviderMessage, None, id)? {
            let message_index = index.unwrap_or(0);
            return Ok(Err(Routed::Duplicate { channel_sid, message_index }));
        }
    }
    Ok(Ok(carried))
}

pub(crate) async fn execute(
    deps: &RouteDeps,
    channel_sid: Sid,
    commands: &[ChannelCommand],
    at: Timestamp,
    home: usize,
    cause: &Option<Cause>,
) -> Result<Result<Appended, Rejection>, EngineError> {
    // Built anew for a second try: the first went to an actor that was stopping.
    let execute = || Execute { commands: commands.to_vec(), at, cause: cause.clone() };
    deps.registry.ask(channel_sid, Some(home), execute).await?
}

fn stored(channel_sid: Sid, done: Appended, created_channel: bool) -> Routed {
    let message_index = done
        .executed
        .events
        .iter()
        .find_map(|e| match e {
            ChannelEvent::MessageAdded { index, .. } => Some(*index),
            _ => None,
        })
        .unwrap_or(0);
    Routed::Stored { channel_sid, message_index, created_channel, durability: done.durability }
}

fn message_commands(inbound: &Inbound) -> Vec<ChannelCommand> {
    let mut media = inbound.media.iter().cloned();
    let first = ChannelCommand::PostMessage(NewMessage {
        author: inbound.customer_address.clone(),
        body: inbound.body.clone(),
        attributes: inbound.attributes.clone().unwrap_or_else(|| "{}".into()),
        media: media.next(),
        source: MessageSource::Customer,
        provider_message_id: inbound.provider_message_id.clone(),
    });
    let rest = media.map(|item| {
        ChannelCommand::PostMessage(NewMessage {
            author: inbound.customer_address.clone(),
            body: String::new(),
            attributes: "{}".into(),
            media: Some(item),
            source: MessageSource::Customer,
            provider_message_id: None,
        })
    });
    std::iter::once(first).chain(rest).collect()
}

/// The attributes of the task a flow opens, in the order Flex gives them.
#[derive(serde::Serialize)]
#[serde(rename_all = "camelCase")]
struct TaskAttributes<'a> {
    channel_type: &'a str,
    name: &'a str,
    from: &'a str,
    flex_flow_sid: Sid,
}

/// For a task flow: a task for the interaction, unless one is already open.
fn task_command(flow: &FlowView, inbound: &Inbound) -> Option<ChannelCommand> {
    let name = inbound.profile_name.as_deref().unwrap_or(&inbound.customer_address);
    task_for(flow, name, &inbound.customer_address, new_sid(SidPrefix::TASK), None)
}

/// The task a customer's interaction on `flow` opens (`None` unless the flow's integration is
/// `task`): `EnsureTask`, so it is linked only when none is open. `extra` attributes (an object)
/// are merged over the defaults.
pub(crate) fn task_for(
    flow: &FlowView,
    name: &str,
    address: &str,
    task_sid: Sid,
    extra: Option<&serde_json::Map<String, serde_json::Value>>,
) -> Option<ChannelCommand> {
    if flow.config.integration_type != IntegrationType::Task {
        return None;
    }
    let integration = &flow.config.integration;
    let defaults = TaskAttributes {
        channel_type: flow.config.channel_type.as_str(),
        name,
        from: address,
        flex_flow_sid: flow.sid,
    };
    // Built for every message of a task flow (the channel drops it while a task is open), so
    // without a JSON tree unless there is something to merge.
    let attributes = match extra {
        None => serde_json::to_string(&defaults),
        Some(extra) => serde_json::to_value(&defaults).map(|mut attributes| {
            if let Some(base) = attributes.as_object_mut() {
                base.extend(extra.iter().map(|(k, v)| (k.clone(), v.clone())));
            }
            attributes.to_string()
        }),
    };
    Some(ChannelCommand::EnsureTask {
        task_sid,
        // Strings and a SID only: serializing them cannot fail.
        attributes: attributes.unwrap_or_else(|_| "{}".into()),
        priority: integration.priority.unwrap_or(0),
        timeout_secs: integration
            .timeout_secs
            .unwrap_or(switchboard_domain::Integration::DEFAULT_TIMEOUT_SECS),
    })
}

fn new_channel(
    channel_sid: Sid,
    flow: &FlowView,
    inbound: &Inbound,
    carried_provider_messages: Vec<ProviderMessageRef>,
) -> NewChannel {
    let long_lived = flow.config.long_lived;
    let address = &inbound.customer_address;
    NewChannel {
        channel_sid,
        service_sid: flow.config.chat_service_sid,
        kind: ChannelKind::Private,
        friendly_name: Some(inbound.profile_name.clone().unwrap_or_else(|| address.clone())),
        unique_name: None,
        attributes: channel_attributes(
            flow,
            address,
            long_lived,
            inbound.pre_engagement_data.as_ref(),
        ),
        created_by: "system".into(),
        flex_flow_sid: Some(flow.sid),
        customer_address: Some(address.clone()),
        long_lived,
        janitor_enabled: flow.config.janitor_enabled,
        carried_provider_messages,
    }
}

/// The attributes Flex keeps on a channel a flow opened.
pub(crate) fn channel_attributes(
    flow: &FlowView,
    address: &str,
    long_lived: bool,
    pre_engagement_data: Option<&serde_json::Value>,
) -> String {
    let mut attributes = json!({
        "status": "ACTIVE",
        "long_lived": long_lived,
        "channel_type": flow.config.channel_type.as_str(),
        "from": address,
        "flex_flow_sid": flow.sid.to_string(),
    });
    if let Some(pre) = pre_engagement_data {
        attributes["pre_engagement_data"] = pre.clone();
    }
    attributes.to_string()
}

fn member_attributes(inbound: &Inbound) -> String {
    match &inbound.profile_name {
        Some(name) => json!({ "friendlyName": name }).to_string(),
        None => "{}".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sid(prefix: SidPrefix, n: u8) -> Sid {
        Sid::from_parts(prefix, [n; 16])
    }

    #[test]
    fn the_cache_remembers_per_flow_and_address_and_forgets_on_request() {
        let (flow_a, flow_b) = (sid(SidPrefix::FLEX_FLOW, 1), sid(SidPrefix::FLEX_FLOW, 2));
        let (one, two) = (sid(SidPrefix::CHANNEL, 1), sid(SidPrefix::CHANNEL, 2));
        let mut cache = BindingCache::default();
        cache.remember(flow_a, "+14155550100", one);
        cache.remember(flow_b, "+14155550100", two);
        assert_eq!(cache.get(flow_a, "+14155550100"), Some(one));
        assert_eq!(cache.get(flow_b, "+14155550100"), Some(two));
        assert_eq!(cache.get(flow_a, "+14155550101"), None);
        cache.remember(flow_a, "+14155550100", two);
        assert_eq!(cache.get(flow_a, "+14155550100"), Some(two));
        cache.forget(flow_a, "+14155550100");
        assert_eq!(cache.get(flow_a, "+14155550100"), None);
        assert_eq!(cache.get(flow_b, "+14155550100"), Some(two));
    }

    fn task_flow() -> FlowView {
        use switchboard_domain::{ChannelType, FlowConfig, Integration};
        FlowView {
            sid: sid(SidPrefix::FLEX_FLOW, 7),
            config: FlowConfig {
                friendly_name: "sms".into(),
                chat_service_sid: sid(SidPrefix::SERVICE, 1),
                channel_type: ChannelType::Sms,
                contact_identity: Some("+15005550006".into()),
                enabled: true,
                integration_type: IntegrationType::Task,
                integration: Integration::default(),
                long_lived: false,
                janitor_enabled: true,
            },
            date_created: Timestamp(0),
            date_updated: Timestamp(0),
        }
    }

    fn attributes_of(command: Option<ChannelCommand>) -> String {
        match command {
            Some(ChannelCommand::EnsureTask { attributes, .. }) => attributes,
            other => panic!("not a task: {other:?}"),
        }
    }

    /// The task's attributes are Flex's four keys in Flex's order, with a name that needs
    /// escaping kept intact; extra attributes are merged over them, replacing a default.
    #[test]
    fn task_attributes_list_the_defaults_in_order_and_take_extra_ones_over_them() {
        let flow = task_flow();
        let task = sid(SidPrefix::TASK, 1);
        let plain = attributes_of(task_for(&flow, "Ann \"A\" Lee", "+14155550100", task, None));
        assert_eq!(
            plain,
            format!(
                r#"{{"channelType":"sms","name":"Ann \"A\" Lee","from":"+14155550100","flexFlowSid":"{}"}}"#,
                flow.sid
            )
        );
        let extra = serde_json::json!({"name": "Ann", "language": "fr"});
        let merged = task_for(&flow, "x", "+14155550100", task, extra.as_object());
        let merged: serde_json::Value = serde_json::from_str(&attributes_of(merged)).unwrap();
        let expected = serde_json::json!({
            "channelType": "sms", "name": "Ann", "from": "+14155550100",
            "flexFlowSid": flow.sid.to_string(), "language": "fr",
        });
        assert_eq!(merged, expected);
        let mut other = flow.clone();
        other.config.integration_type = IntegrationType::External;
        assert!(task_for(&other, "x", "+14155550100", task, None).is_none());
    }

    #[test]
    fn the_cache_stays_within_its_capacity() {
        let flow = sid(SidPrefix::FLEX_FLOW, 1);
        let channel = sid(SidPrefix::CHANNEL, 1);
        let mut cache = BindingCache::default();
        for n in 0..BindingCache::CAPACITY * 2 + 7 {
            cache.remember(flow, &format!("+1415{n:07}"), channel);
            assert!(cache.len() <= BindingCache::CAPACITY);
        }
        // Updating a customer already remembered never empties the cache.
        let before = cache.len();
        cache.remember(flow, &format!("+1415{:07}", BindingCache::CAPACITY * 2 + 6), channel);
        assert_eq!(cache.len(), before);
    }
}
