//! `ChannelActor`: one live chat channel, the only writer of its stream.
//!
//! It loads its state on first use (snapshot plus tail), runs commands through `ChannelLog`, and
//! publishes each event to the channel's members once the event is durable, in sequence order.
//! It waits for the log once per append, and tells whoever asked for the append through its
//! [`Durability`], after publishing: nobody waits on the log a second time.
//! A panic inside a command is caught: the actor drops its state and reloads it from the log on
//! the next message, and no other channel is touched. After a quiet period it stops (hibernates);
//! the registry starts it again on the next use.

use std::collections::VecDeque;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::{Arc, Weak};
use std::time::{Duration, Instant};

use actix::prelude::*;
use switchboard_domain::{
    Cause, ChannelCommand, ChannelEvent, ChannelState, NewMessage, Rejection, Sid, Timestamp,
};
use switchboard_store::{ChannelLog, EventLog, Executed, FlushTicket};

use crate::hub::{Hub, LiveEvent};
use crate::janitor::{Activity, ActivityFeed};
use crate::registry::Registry;
use crate::EngineError;

/// What every channel actor shares.
#[derive(Debug)]
pub(crate) struct ChannelDeps {
    pub log: Arc<EventLog>,
    pub hub: Arc<Hub>,
    pub janitor: ActivityFeed,
    /// Whose subscriptions are asked when events become durable (`consumer`).
    pub consumers: Arc<crate::consumer::Consumers>,
    /// Runs the consumers that want them.
    pub dispatcher: crate::consumer::Wakes,
    pub registry: Weak<Registry>,
    pub hibernate_after: Duration,
    pub users: Arc<crate::users::UserDirectory>,
    /// What the consumers' subscriptions read: the channel's flow, its service's webhooks.
    pub flows: Arc<crate::directory::FlowDirectory>,
    pub services: Arc<crate::directory::ServiceDirectory>,
}

/// Runs commands as one atomic append (see `ChannelLog::execute_all`). The reply comes once the
/// events are written, not yet durable, so that a caller which serialises its work (a flow
/// router) does not hold it for a flush: the caller waits on the reply's [`Durability`].
#[derive(Debug, Message)]
#[rtype(result = "Result<Result<Appended, Rejection>, EngineError>")]
pub struct Execute {
    pub commands: Vec<ChannelCommand>,
    pub at: Timestamp,
    /// Recorded with every event appended (see `cause`).
    pub cause: Option<Cause>,
}

/// What an `Execute` appended, and when it is durable.
#[derive(Debug)]
pub struct Appended {
    /// Its `ticket` is the channel actor's to wait on: callers wait on `durability`.
    pub executed: Executed,
    pub durability: Durability,
}

/// When an append is durable, as its channel actor learns it: the actor waits for the log and
/// publishes the events to the channel's members first, then resolves this. So a 2xx that waited
/// on it comes after the push, and the log is waited on once per append.
#[derive(Debug)]
#[must_use = "an append is acknowledged only once durable"]
pub struct Durability(
    Option<tokio::sync::oneshot::Receiver<Result<(), switchboard_store::StoreError>>>,
);

impl Durability {
    /// Nothing was appended: nothing to wait for.
    pub(crate) fn nothing() -> Durability {
        Durability(None)
    }

    /// Whether the append wrote anything (a no-op append has nothing to wait for).
    pub(crate) fn wrote(&self) -> bool {
        self.0.is_some()
    }

    /// Waits until the append is durable (and published).
    pub async fn wait(self) -> Result<(), EngineError> {
        let Some(receiver) = self.0 else { return Ok(()) };
        match receiver.await {
            Ok(durable) => Ok(durable?),
            // The actor stopped with the wait (only the daemon's stop does that: a live
            // channel does not hibernate while an append of its waits).
            Err(_) => Err(EngineError::Stopping),
        }
    }
}

/// The channel's current state.
#[derive(Debug, Message)]
#[rtype(result = "Result<ChannelState, EngineError>")]
pub struct GetState;

/// Posts a Studio step's message (author the flow, source `system`), and says whether the
/// channel's replies go out through a provider, whose outcome the outbox then records: one
/// visit, where asking for the state after the post copied all of it to read two fields.
#[derive(Debug, Message)]
#[rtype(result = "Result<(Result<Appended, Rejection>, bool), EngineError>")]
pub struct PostForStudio {
    pub message: NewMessage,
    pub at: Timestamp,
}

/// Snapshots the channel's state if it is far enough past the latest snapshot, and stops the
/// actor as hibernation does unless events still wait to be published (it then stops when
/// quiet, as usual). Sent to every live channel when the daemon stops cleanly.
#[derive(Debug, Message)]
#[rtype(result = "()")]
pub struct Hibernate;

#[derive(Debug)]
pub struct ChannelActor {
    sid: Sid,
    deps: Arc<ChannelDeps>,
    channel: Option<ChannelLog>,
    last_used: Instant,
    /// Events appended but not yet published, oldest first.
    unpublished: VecDeque<Unpublished>,
    /// The latest published (durable) events, at most [`ChannelActor::RECENT_EVENTS`], without
    /// a gap, each with its cause: handed to the consumers it wakes (`consumer::Recent`), whose
    /// cursors are mostly among them. Let go once the channel has been quiet for a while.
    recent: VecDeque<crate::consumer::HeldEvent>,
    /// Appends whose durability is still awaited: the actor does not hibernate while any is.
    awaiting: usize,
}

#[derive(Debug)]
struct Unpublished {
    seq: u64,
    at: Timestamp,
    event: ChannelEvent,
    cause: Option<Cause>,
    /// The members right after this event, plus one who left with it (they learn that they left).
    audience: Vec<String>,
}

impl ChannelActor {
    /// A stopping channel further than this many events past its latest snapshot writes a new
    /// one, so that its next load replays at most this many (instead of up to `snapshot_every`,
    /// a cost every channel would pay at once after a restart).
    pub const SNAPSHOT_WHEN_STOPPING_AFTER: u64 = 16;

    /// How many of its latest durable events a live channel keeps for its consumers: a Studio
    /// conversation's consumers are each woken by one event of every three (the customer's
    /// message, the bot's, its `sent`), so their cursors are two behind the wake.
    pub const RECENT_EVENTS: usize = 8;

    fn hibernate(&mut self, ctx: &mut Context<Self>) {
        // A state dropped after a panic is `None`: never snapshotted.
        if let Some(channel) = &mut self.channel {
            channel.snapshot_if_behind(&self.deps.log, Self::SNAPSHOT_WHEN_STOPPING_AFTER);
        }
        // Stopping now would drop the wait for their durability, and they would never be
        // published nor delivered.
        if self.quiet() {
            crate::metrics::hibernated();
            ctx.stop();
        }
    }

    pub(crate) fn new(sid: Sid, deps: Arc<ChannelDeps>) -> ChannelActor {
        ChannelActor {
            sid,
            deps,
            channel: None,
            last_used: Instant::now(),
            unpublished: VecDeque::new(),
            recent: VecDeque::new(),
            awaiting: 0,
        }
    }

    /// Nothing waits to be published nor to be durable.
    fn quiet(&self) -> bool {
        self.unpublished.is_empty() && self.awaiting == 0
    }

    fn loaded(&mut self) -> Result<&mut ChannelLog, EngineError> {
        if self.channel.is_none() {
            self.channel = Some(ChannelLog::load(&self.deps.log, self.sid)?);
        }
        self.channel.as_mut().ok_or_else(|| EngineError::Internal("channel not loaded".into()))
    }

    fn run(
        &mut self,
        commands: Vec<ChannelCommand>,
        at: Timestamp,
        cause: Option<Cause>,
    ) -> Result<Result<Executed, Rejection>, EngineError> {
        let log = Arc::clone(&self.deps.log);
        let channel = self.loaded()?;
        let run = || channel.execute_caused(&log, commands, at, cause);
        match catch_unwind(AssertUnwindSafe(run)) {
            Ok(result) => Ok(result?),
            Err(_) => {
                tracing::error!(channel = %self.sid, "a command panicked; reloading the channel from its log");
                self.channel = None;
                self.recent.clear();
                // The head cache may be ahead of what the panic left behind; reread it too.
                self.deps.log.forget(self.sid);
                Err(EngineError::Panicked(self.sid.to_string()))
            }
        }
    }

    /// Tells the user directory who joined and left with `events` (the member list `before`
    /// them gives a leaver's identity). Only membership events cost anything here, so a
    /// message's path is unchanged. A failure is logged: the channel's append stands, and the
    /// user's channel list is checked against the channel when it is read.
    fn record_memberships(
        &self,
        before: &[(Sid, String)],
        events: &[ChannelEvent],
        at: Timestamp,
    ) -> bool {
        let mut written = false;
        let membership = |e: &ChannelEvent| {
            matches!(
                e,
                ChannelEvent::MemberJoined { .. }
                    | ChannelEvent::MemberLeft { .. }
                    | ChannelEvent::DataErased { .. }
                    | ChannelEvent::ChannelDestroyed { .. }
            )
        };
        if !events.iter().any(membership) {
            return false;
        }
        let Some(service) = self.channel.as_ref().and_then(|c| c.state().service_sid) else {
            return false;
        };
        let users = &self.deps.users;
        let mut members: Vec<(Sid, String)> = before.to_vec();
        for event in events {
            let outcome = match event {
                ChannelEvent::MemberJoined { member_sid, identity, .. } => {
                    members.push((*member_sid, identity.clone()));
                    users.joined(service, identity, self.sid, *member_sid, at)
                }
                ChannelEvent::MemberLeft { member_sid } => {
                    let Some(at_index) = members.iter().position(|(sid, _)| sid == member_sid)
                    else {
                        continue;
                    };
                    let (_, identity) = members.remove(at_index);
                    users.left(service, &identity, self.sid, at)
                }
                ChannelEvent::DataErased { .. } | ChannelEvent::ChannelDestroyed { .. } => {
                    let mut any = Ok(false);
                    for (_, identity) in members.drain(..) {
                        any = match users.left(service, &identity, self.sid, at) {
                            Ok(done) => any.map(|a| a || done),
                            Err(error) => Err(error),
                        };
                    }
                    any
                }
                _ => continue,
            };
            match outcome {
                Ok(done) => written |= done,
                Err(error) => {
                    tracing::warn!(channel = %self.sid, %error, "a user's channel list was not updated")
                }
            }
        }
        written
    }

    fn report_activity(&self) {
        if let Some(channel) = &self.channel {
            self.deps.janitor.report(Activity::of(self.sid, channel.state()));
        }
    }

    /// Waits for the append behind `ticket`, then publishes every event before `next_seq`
    /// and resolves the append's durability.
    fn await_durable(
        &mut self,
        ticket: FlushTicket,
        next_seq: u64,
        ctx: &mut Context<Self>,
    ) -> Durability {
        let (tell, told) = tokio::sync::oneshot::channel();
        let log = Arc::clone(&self.deps.log);
        let wait = async move { log.wait_durable(ticket).await };
        self.awaiting += 1;
        ctx.spawn(wait.into_actor(self).map(move |result, actor, _| {
            actor.awaiting -= 1;
            match &result {
                Ok(()) => actor.publish_until(next_seq),
                // The log has stopped acknowledging; nothing more is published.
                Err(error) => tracing::error!(%error, "a channel append never became durable"),
            }
            // The caller may have gone (its client hung up): the append stands all the same.
            let _ = tell.send(result);
        }));
        Durability(Some(told))
    }
}

impl Actor for ChannelActor {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        let check_every = (self.deps.hibernate_after / 2).max(Duration::from_millis(50));
        ctx.run_interval(check_every, move |actor, ctx| {
            if actor.quiet() && actor.last_used.elapsed() >= actor.deps.hibernate_after {
                actor.hibernate(ctx);
            } else if actor.quiet() && actor.last_used.elapsed() >= check_every {
                // Its consumers have long caught up: a quiet channel holds no events for them.
                actor.recent = VecDeque::new();
            }
        });
    }

    fn stopped(&mut self, ctx: &mut Context<Self>) {
        if let Some(registry) = self.deps.registry.upgrade() {
            registry.remove(self.sid, &ctx.address());
        }
        // Hibernation frees the log's caches of this stream too (its head and its cipher).
        self.deps.log.forget(self.sid);
    }
}

impl Handler<Execute> for ChannelActor {
    type Result = Result<Result<Appended, Rejection>, EngineError>;

    fn handle(&mut self, message: Execute, ctx: &mut Context<Self>) -> Self::Result {
        self.execute(message, ctx)
    }
}

impl Handler<PostForStudio> for ChannelActor {
    type Result = Result<(Result<Appended, Rejection>, bool), EngineError>;

    fn handle(&mut self, post: PostForStudio, ctx: &mut Context<Self>) -> Self::Result {
        let commands = vec![ChannelCommand::PostMessage(post.message)];
        let appended =
            self.execute(Execute { commands, at: post.at, cause: Some(Cause::System) }, ctx)?;
        let flows = Arc::clone(&self.deps.flows);
        let state = self.loaded()?.state();
        let flow = state.flex_flow_sid.and_then(|f| flows.get(f));
        let customer = state.customer_address.as_deref();
        let through_provider =
            flow.is_some_and(|f| crate::consumer::replies::through_provider(&f.config, customer));
        Ok((appended, through_provider))
    }
}

impl ChannelActor {
    /// Runs an [`Execute`]: appends, and waits for durability before publishing.
    fn execute(
        &mut self,
        message: Execute,
        ctx: &mut Context<Self>,
    ) -> Result<Result<Appended, Rejection>, EngineError> {
        self.last_used = Instant::now();
        let at = message.at;
        let cause = message.cause.clone();
        let mut members: Vec<(Sid, String)> = self
            .channel
            .as_ref()
            .map(|c| c.state().members.iter().map(|(sid, m)| (*sid, m.identity.clone())).collect())
            .unwrap_or_default();
        let mut executed = match self.run(message.commands, at, message.cause)? {
            Ok(executed) => executed,
            Err(rejection) => {
                tracing::debug!(channel = %self.sid, %rejection, "commands refused");
                return Ok(Err(rejection));
            }
        };
        tracing::debug!(
            channel = %self.sid,
            first_seq = executed.first_seq,
            events = executed.events.len(),
            "appended"
        );
        if self.record_memberships(&members, &executed.events, at) {
            // The users' appends came after the channel's: a ticket taken now covers both.
            executed.ticket = Some(self.deps.log.ticket());
        }
        let Some(ticket) = executed.ticket else {
            return Ok(Ok(Appended { executed, durability: Durability::nothing() }));
        };
        for (offset, event) in executed.events.iter().enumerate() {
            let audience = audience_after(&mut members, event);
            let seq = executed.first_seq + offset as u64;
            let (event, cause) = (event.clone(), cause.clone());
            self.unpublished.push_back(Unpublished { seq, at, event, cause, audience });
        }
        let next_seq = executed.first_seq + executed.events.len() as u64;
        let durability = self.await_durable(ticket, next_seq, ctx);
        self.report_activity();
        Ok(Ok(Appended { executed, durability }))
    }
}

impl Handler<GetState> for ChannelActor {
    type Result = Result<ChannelState, EngineError>;

    fn handle(&mut self, _: GetState, _: &mut Context<Self>) -> Self::Result {
        self.last_used = Instant::now();
        Ok(self.loaded()?.state().clone())
    }
}

impl Handler<Hibernate> for ChannelActor {
    type Result = ();

    fn handle(&mut self, _: Hibernate, ctx: &mut Context<Self>) {
        self.hibernate(ctx);
    }
}

impl ChannelActor {
    /// Publishes every event before `next_seq`, now durable, to the channel's members, and wakes
    /// the consumers that want them. Durability may be learnt out of order: a later append's
    /// covers the earlier ones', which then find nothing left to publish.
    fn publish_until(&mut self, next_seq: u64) {
        let first = self.unpublished.front().map(|u| u.seq);
        let service_sid = self.channel.as_ref().and_then(|c| c.state().service_sid);
        let mut published = Vec::with_capacity(self.unpublished.len());
        while self.unpublished.front().is_some_and(|u| u.seq < next_seq) {
            let Some(item) = self.unpublished.pop_front() else { break };
            let live = Arc::new(LiveEvent {
                channel_sid: self.sid,
                service_sid,
                seq: item.seq,
                at: item.at,
                event: item.event,
            });
            self.deps.hub.publish(Arc::clone(&live), &item.audience);
            self.keep_recent(&live, item.cause);
            published.push(live);
        }
        // Only the consumers whose subscriptions want these events are woken; most messages
        // cross to no other thread.
        let state = self.channel.as_ref().map(ChannelLog::state);
        let (Some(state), Some(from_seq), Some(service_sid)) = (state, first, service_sid) else {
            return;
        };
        let woken = crate::consumer::Woken {
            state,
            service_sid,
            events: &published,
            flows: &self.deps.flows,
            services: &self.deps.services,
        };
        let consumers = self.deps.consumers.interest(&woken);
        if !consumers.is_empty() {
            let recent = self.recent.front().map(|(first, _)| {
                crate::consumer::Recent::channel(first.seq, self.recent.iter().cloned().collect())
            });
            self.deps.dispatcher.do_send(crate::consumer::Wake {
                stream_sid: self.sid,
                from_seq,
                until_seq: next_seq,
                flow_sid: state.flex_flow_sid,
                service_sid,
                consumers,
                recent,
            });
        }
    }

    /// Keeps a published event among the recent ones handed to consumers. An erasure forgets
    /// the ones before it (the log holds them shredded now, and consumers must read them so),
    /// and so does a gap, which no consumer could read across.
    fn keep_recent(&mut self, live: &Arc<LiveEvent>, cause: Option<Cause>) {
        let follows = self.recent.back().is_some_and(|(last, _)| last.seq + 1 == live.seq);
        if !follows || matches!(live.event, ChannelEvent::DataErased { .. }) {
            self.recent.clear();
        }
        self.recent.push_back((Arc::clone(live), cause));
        while self.recent.len() > Self::RECENT_EVENTS {
            self.recent.pop_front();
        }
    }
}

/// Steps the member list over `event` and returns who hears of it: the members after it, and a
/// member who left with it, or the identity it invites. A deleted channel's members hear of the
/// deletion, then of nothing.
fn audience_after(members: &mut Vec<(Sid, String)>, event: &ChannelEvent) -> Vec<String> {
    let mut leaver = None;
    match event {
        ChannelEvent::InviteAdded { identity, .. } => leaver = Some(identity.clone()),
        ChannelEvent::ChannelDestroyed { .. } => {
            return members.drain(..).map(|(_, identity)| identity).collect();
        }
        ChannelEvent::MemberJoined { member_sid, identity, .. } => {
            members.push((*member_sid, identity.clone()));
        }
        ChannelEvent::MemberLeft { member_sid } => {
            if let Some(at) = members.iter().position(|(sid, _)| sid == member_sid) {
                leaver = Some(members.remove(at).1);
            }
        }
        _ => {}
    }
    members.iter().map(|(_, identity)| identity.clone()).chain(leaver).collect()
}
