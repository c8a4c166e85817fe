//! Channels opened on request rather than by a provider's message: what the Flex `Channels` and
//! `WebChannels` resources need. A bridge (or a web chat) opens the customer's channel, then posts
//! the customer's messages through the Chat API; both must behave as if the customer had written
//! in through a provider.
//!
//! Opening runs on the `FlowRouter` shard of (flow, customer address), the same shard the
//! customer's inbound messages use, so concurrent calls for one customer (or a call racing an
//! inbound SMS) find one channel and never make two.

use actix::prelude::*;
use serde_json::{json, Map, Value};
use switchboard_domain::{
    Cause, ChannelCommand, ChannelKind, ChannelState, ChannelStatus, ErasureReason, IndexKind,
    MessageSource, NewChannel, NewMessage, Rejection, Sid, SidPrefix, TaskOutcome, Timestamp,
};
use switchboard_store::Executed;

use crate::channel::{Durability, GetState};
use crate::directory::FlowView;
use crate::registry::shard;
use crate::router::{
    carried_from_latest, channel_attributes, execute, task_for, FlowRouter, RouteDeps,
};
use crate::{new_sid, EngineError};

/// A request to open (or find) the channel of one customer under a flow.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpenChannel {
    /// The customer's normalized address: the binding key, as for inbound messages.
    pub customer_address: String,
    /// The chat identity of the customer's member.
    pub identity: String,
    /// The member's display name (kept as `friendlyName` in its attributes).
    pub user_friendly_name: Option<String>,
    /// The channel's friendly name.
    pub friendly_name: Option<String>,
    pub unique_name: Option<String>,
    pub pre_engagement_data: Option<Value>,
    /// The task to link (task flows only); a fresh one when absent.
    pub task_sid: Option<Sid>,
    /// Merged over the default task attributes.
    pub task_attributes: Option<Map<String, Value>>,
    /// Overrides the flow's `LongLived` for a new channel.
    pub long_lived: Option<bool>,
}

/// The channel a request found or opened, durable.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Opened {
    pub channel_sid: Sid,
    /// Whether this call created it (otherwise the customer's bound channel was reused).
    pub created: bool,
}

type OpenResult = Result<Result<(Opened, Durability), Rejection>, EngineError>;

#[derive(Debug, Message)]
#[rtype(result = "Result<Result<(Opened, Durability), Rejection>, EngineError>")]
struct Open {
    flow: FlowView,
    open: OpenChannel,
    at: Timestamp,
    /// The caller's (a REST call's), carried to the router.
    cause: Option<Cause>,
}

impl Handler<Open> for FlowRouter {
    type Result =
        AtomicResponse<Self, Result<Result<(Opened, Durability), Rejection>, EngineError>>;

    fn handle(&mut self, open: Open, _: &mut Context<Self>) -> Self::Result {
        let deps = self.deps.clone();
        let home = self.home;
        let (flow_sid, address) = (open.flow.sid, open.open.customer_address.clone());
        // Atomic, as for inbound messages: the next request of this shard waits for this write.
        // Opening may bind the customer to a new channel: the router's hint is dropped, so its
        // next message reads the binding from the index.
        AtomicResponse::new(Box::pin(
            async move { open_one(&deps, open, home).await }.into_actor(self).map(
                move |opened, router, _| {
                    router.bindings.forget(flow_sid, &address);
                    opened
                },
            ),
        ))
    }
}

async fn open_one(deps: &RouteDeps, request: Open, home: usize) -> OpenResult {
    let Open { flow, open, at, cause } = request;
    let log = &deps.log;
    if let Some((channel_sid, _)) =
        log.lookup(IndexKind::Binding, Some(flow.sid), &open.customer_address)?
    {
        match reuse(deps, channel_sid, &flow, &open, (at, home), &cause).await? {
            Ok(ticket) => return Ok(Ok((Opened { channel_sid, created: false }, ticket))),
            // Retired between the lookup and now: the customer gets a new channel.
            Err(
                Rejection::ChannelInactive | Rejection::ChannelErased | Rejection::ChannelNotFound,
            ) => {}
            Err(other) => return Ok(Err(other)),
        }
    }
    if let Some(name) = &open.unique_name {
        if log.lookup(IndexKind::UniqueName, Some(flow.config.chat_service_sid), name)?.is_some() {
            return Ok(Err(Rejection::ChannelExists));
        }
    }
    // A new channel takes over what the customer's previous one remembers of their provider
    // message ids (no message here, so nothing can be a redelivery).
    let carried = carried_from_latest(deps, &flow, &open.customer_address, None, (at, home))
        .await?
        .unwrap_or_default();
    let channel_sid = new_sid(SidPrefix::CHANNEL);
    let long_lived = open.long_lived.unwrap_or(flow.config.long_lived);
    let address = &open.customer_address;
    let mut commands = vec![
        ChannelCommand::Create(NewChannel {
            channel_sid,
            service_sid: flow.config.chat_service_sid,
            kind: ChannelKind::Private,
            friendly_name: open.friendly_name.clone(),
            unique_name: open.unique_name.clone(),
            attributes: channel_attributes(
                &flow,
                address,
                long_lived,
                open.pre_engagement_data.as_ref(),
            ),
            created_by: "system".into(),
            flex_flow_sid: Some(flow.sid),
            customer_address: Some(address.clone()),
            long_lived,
            janitor_enabled: flow.config.janitor_enabled,
            carried_provider_messages: carried,
        }),
        add_member(&open),
    ];
    commands.extend(task(&flow, &open));
    let done = execute(deps, channel_sid, &commands, at, home, &cause).await?;
    Ok(done.map(|done| (Opened { channel_sid, created: true }, done.durability)))
}

/// The customer's bound channel, made ready for the interaction: reactivated if it is a
/// long-lived one at rest, the identity added if it is not a member, a task if none is open.
async fn reuse(
    deps: &RouteDeps,
    channel_sid: Sid,
    flow: &FlowView,
    open: &OpenChannel,
    (at, home): (Timestamp, usize),
    cause: &Option<Cause>,
) -> Result<Result<Durability, Rejection>, EngineError> {
    // The actor is the only writer, but another caller (a REST member add) may come between the
    // read and the write: the second round sees it.
    let mut last = Rejection::ChannelNotFound;
    for _ in 0..2 {
        let state = deps.registry.ask(channel_sid, Some(home), || GetState).await??;
        if !state.is_created() {
            return Ok(Err(Rejection::ChannelNotFound));
        }
        if state.erased {
            return Ok(Err(Rejection::ChannelErased));
        }
        let mut commands = Vec::new();
        if state.status == ChannelStatus::Inactive {
            if !state.long_lived {
                return Ok(Err(Rejection::ChannelInactive));
            }
            commands.push(ChannelCommand::Reactivate);
        }
        if state.member_by_identity(&open.identity).is_none() {
            commands.push(add_member(open));
        }
        commands.extend(task(flow, open));
        match execute(deps, channel_sid, &commands, at, home, cause).await? {
            Ok(done) => return Ok(Ok(done.durability)),
            Err(rejection @ Rejection::MemberExists(_)) => last = rejection,
            Err(other) => return Ok(Err(other)),
        }
    }
    Ok(Err(last))
}

fn add_member(open: &OpenChannel) -> ChannelCommand {
    let attributes = match &open.user_friendly_name {
        Some(name) => json!({ "friendlyName": name }).to_string(),
        None => "{}".into(),
    };
    ChannelCommand::AddMember {
        member_sid: new_sid(SidPrefix::MEMBER),
        identity: open.identity.clone(),
        role_sid: None,
        attributes,
    }
}

fn task(flow: &FlowView, open: &OpenChannel) -> Option<ChannelCommand> {
    let name = open.user_friendly_name.as_deref().unwrap_or(&open.identity);
    let task_sid = open.task_sid.unwrap_or_else(|| new_sid(SidPrefix::TASK));
    task_for(flow, name, &open.customer_address, task_sid, open.task_attributes.as_ref())
}

/// The display name of a channel's member, for a task's `name`.
fn member_name(state: &ChannelState, identity: &str) -> String {
    state
        .member_by_identity(identity)
        .and_then(|(_, m)| serde_json::from_str::<Value>(&m.attributes).ok())
        .and_then(|a| a.get("friendlyName").and_then(Value::as_str).map(str::to_owned))
        .unwrap_or_else(|| identity.to_owned())
}

impl crate::engine::Channels<'_> {
    /// Finds the customer's channel under `flow` (as an inbound message would) or opens one with
    /// the customer as member and the flow's integration started. Returns once it is durable.
    pub async fn open(
        self,
        flow: FlowView,
        open: OpenChannel,
    ) -> Result<Result<Opened, Rejection>, EngineError> {
        let inner = &self.engine.inner;
        let routers = inner.routers.get().ok_or(EngineError::Stopping)?;
        let router = &routers[shard(&(flow.sid, &open.customer_address), routers.len())];
        let at = self.engine.now();
        let (opened, durability) =
            match router.send(Open { flow, open, at, cause: crate::cause::current() }).await?? {
                Ok(done) => done,
                Err(rejection) => return Ok(Err(rejection)),
            };
        // Nothing written means the channel was found as it was; its creation by an earlier
        // call may still be on its way to disk.
        if durability.wrote() {
            durability.wait().await?;
        } else {
            inner.log.wait_durable(inner.log.ticket()).await?;
        }
        Ok(Ok(opened))
    }

    /// Stores a message the channel's customer posted through the Chat API as the customer's: it
    /// reopens a long-lived channel, opens a task when none is open (task flows), goes to the
    /// external integration and is never sent back out to the customer's provider.
    pub async fn customer_message(
        self,
        channel: &ChannelState,
        message: NewMessage,
    ) -> Result<Result<Executed, Rejection>, EngineError> {
        // A REST call in the customer's name is a bridge's (custom channels); a client's is the
        // widget's.
        let provider = match message.source {
            MessageSource::Api => crate::metrics::InboundProvider::Api,
            _ => crate::metrics::InboundProvider::Webchat,
        };
        let answer = self.store_customer_message(channel, message).await;
        crate::metrics::inbound(provider, crate::metrics::outcome_of(&answer, |_| false));
        answer
    }

    async fn store_customer_message(
        self,
        channel: &ChannelState,
        message: NewMessage,
    ) -> Result<Result<Executed, Rejection>, EngineError> {
        let Some(channel_sid) = channel.sid else { return Ok(Err(Rejection::ChannelNotFound)) };
        let name = member_name(channel, &message.author);
        let address = message.author.clone();
        let mut commands = vec![ChannelCommand::PostMessage(NewMessage {
            source: MessageSource::Customer,
            ..message
        })];
        if let Some(flow) = channel.flex_flow_sid.and_then(|f| self.engine.inner.flows.get(f)) {
            commands.extend(task_for(&flow, &name, &address, new_sid(SidPrefix::TASK), None));
        }
        self.execute(channel_sid, commands).await
    }

    /// Ends the interaction on a channel: deactivates it (releasing the customer unless it is
    /// long-lived) and cancels its open tasks with `reason`, then runs `more` (computed from the
    /// same state). Returns once durable; `None` if the channel does not exist.
    pub async fn end_interaction(
        self,
        channel_sid: Sid,
        reason: &str,
        more: impl Fn(&ChannelState) -> Vec<ChannelCommand>,
    ) -> Result<Result<(), Rejection>, EngineError> {
        // A task may end (or open) between the read and the write; the next round sees it.
        let mut last = Rejection::ChannelNotFound;
        for _ in 0..3 {
            let Some(state) = self.state(channel_sid).await? else {
                return Ok(Err(Rejection::ChannelNotFound));
            };
            let mut commands = vec![ChannelCommand::Deactivate];
            commands.extend(state.open_tasks.keys().map(|task_sid| ChannelCommand::EndTask {
                task_sid: *task_sid,
                outcome: TaskOutcome::Canceled { reason: reason.to_owned() },
            }));
            commands.extend(more(&state));
            match self.execute(channel_sid, commands).await? {
                Ok(_) => return Ok(Ok(())),
                Err(rejection @ Rejection::TaskNotOpen(_)) => last = rejection,
                Err(other) => return Ok(Err(other)),
            }
        }
        Ok(Err(last))
    }

    /// Removes a channel from the API: ends its interaction, then erases its content
    /// (`ErasureReason::Operator`), which also releases the customer, long-lived or not.
    pub async fn remove(
        self,
        channel_sid: Sid,
        reason: &str,
    ) -> Result<Result<(), Rejection>, EngineError> {
        self.end_interaction(channel_sid, reason, |_| {
            vec![ChannelCommand::Erase { reason: ErasureReason::Operator }]
        })
        .await
    }
}
