//! Work driven from the log: each consumer reads streams from a cursor of its own and delivers
//! what it finds, so the log is the only queue.
//!
//! The consumers: the external integration (`external`), replies to customers through their
//! provider (`replies`), channel webhooks (`channel_webhooks`), services' post-event webhooks
//! (`service_webhooks`), inbound media downloads (`media_fetch`) and the tasks channels link,
//! routed by TaskRouter (`task_routing`), customers' messages to the Studio flow of their
//! channel (`studio_trigger`: starts an execution or gives it the reply it waits for), the
//! requests of Studio executions (`studio_requests`: the bot's messages, HTTP calls, tasks),
//! which reads executions' streams (`FN…`) rather than channels', the delivery reports of the
//! bot's messages for their executions (`studio_deliveries`), and workspaces'
//! `EventCallbackUrl` (`router_events`) and workflows' `AssignmentCallbackUrl`
//! (`assignment_callbacks`), both woken by the task router; `webhooks` holds what the
//! webhook consumers share. A new one is a file here implementing [`Consumer`] and a line in
//! [`Consumers::new`].
//!
//! Nothing durable can be lost: a cursor per consumer and stream says how far delivery got, a
//! restart resumes where it stopped ([`Consumers::resume`]), and the message path pays nothing
//! extra. When a channel's events become durable, its actor asks each consumer's subscription
//! ([`Consumer::wants`], from memory, on the channel's own thread) whether they give it work,
//! and only then wakes the [`Dispatcher`], which runs each woken consumer one run at a time per
//! stream (`runs`), consumers side by side, so a slow webhook never holds up a reply. Each
//! stream is delivered in sequence order, one event at a time; an event is retried with
//! exponential backoff and jitter on network errors, 429 and 5xx (never on other 4xx), then
//! recorded as a dead letter so the stream's later events are not held up forever. Delivery is
//! at least once: a crash between a delivery and its cursor update repeats it.

mod assignment_callbacks;
mod channel_webhooks;
mod config;
mod external;
mod media_fetch;
pub(crate) mod replies;
mod router_events;
mod runs;
mod service_webhooks;
mod studio_deliveries;
mod studio_requests;
mod studio_trigger;
mod task_routing;
pub(crate) mod webhooks;

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use actix::prelude::*;
use rand::Rng;
use switchboard_domain::{Cause, ChannelEvent, ChannelState, Recorded, Sid, Timestamp};
use switchboard_store::{EventLog, ReplayRecord, StoreError};
use switchboard_studio::ExecutionEvent;

use crate::directory::{FlowDirectory, FlowView, ServiceDirectory};
use crate::hub::LiveEvent;
use crate::media::MediaConfig;
use runs::ChannelRuns;

pub use assignment_callbacks::CONSUMER as ASSIGNMENT_CONSUMER;
pub use channel_webhooks::CONSUMER as WEBHOOK_CONSUMER;
pub use config::{OutboxConfig, TwilioAccount, TwilioApi, DEFAULT_GRAPH_API_BASE};
pub use external::CONSUMER as EXTERNAL_CONSUMER;
pub use media_fetch::CONSUMER as MEDIA_CONSUMER;
pub use replies::{GraphApi, CONSUMER as REPLY_CONSUMER, DEFAULT_WHATSAPP_MEDIA_ORIGIN};
pub use router_events::CONSUMER as ROUTER_EVENT_CONSUMER;
pub use service_webhooks::CONSUMER as SERVICE_WEBHOOK_CONSUMER;
pub(crate) use studio_requests::log_cursor as studio_requests_cursor;
pub use studio_requests::CONSUMER as STUDIO_REQUESTS_CONSUMER;

/// A consumer of the log.
pub(crate) trait Consumer: Send + Sync {
    /// The name its cursors and dead letters are kept under.
    fn name(&self) -> &'static str;

    /// Its subscription: whether a channel's newly durable events give it work. Asked on the
    /// channel's thread, from memory, before anything crosses to the consumers' thread. None by
    /// default: a consumer of other streams (executions, event logs) is woken by their owner.
    fn wants(&self, _woken: &Woken<'_>) -> bool {
        false
    }

    /// After a start: where its delivery of `channel` must begin again, if it stopped short or
    /// never began although it should have. Nowhere by default (a consumer of other streams is
    /// resumed by their owner's start).
    fn resume_from(
        &self,
        _shared: &Shared,
        _channel: Sid,
        _state: &ChannelState,
    ) -> Result<Option<u64>, StoreError> {
        Ok(None)
    }

    /// Delivers what `wake` covers, from its cursor.
    fn run(&self, shared: Arc<Shared>, wake: Wake) -> Run;
}

/// A consumer's run: it ends with the stream delivered as far as the wake vouches durable, or
/// on a storage error (the cursor stays, a later wake or a restart goes on from it).
pub(crate) type Run = Pin<Box<dyn Future<Output = Result<(), StoreError>>>>;

/// Gives up on the event at `seq` of `stream` for good: a dead letter saying why, counted, so
/// the stream's later events are not held up.
pub(crate) fn give_up(
    log: &EventLog,
    consumer: &str,
    stream: Sid,
    seq: u64,
    why: &str,
    destination: crate::metrics::Destination,
) -> Result<(), StoreError> {
    tracing::warn!(%stream, seq, consumer, "delivery gave up: {why}");
    log.record_dead_letter(consumer, stream, seq, why)?;
    crate::metrics::dead_letter(destination);
    Ok(())
}

/// The position of each consumer in [`Consumers::new`]'s list: its bit in an [`Interest`].
const EXTERNAL: usize = 0;
const REPLIES: usize = 1;
const CHANNEL_WEBHOOKS: usize = 2;
const SERVICE_WEBHOOKS: usize = 3;
const MEDIA_FETCH: usize = 4;
const TASK_ROUTING: usize = 5;
const STUDIO_TRIGGER: usize = 6;
const STUDIO_REQUESTS: usize = 7;
const ROUTER_EVENTS: usize = 8;
const ASSIGNMENT_CALLBACKS: usize = 9;
const STUDIO_DELIVERIES: usize = 10;

/// Which consumers a wake is for, a bit each.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Interest(u16);

impl Interest {
    fn only(consumer: usize) -> Interest {
        Interest(1 << consumer)
    }

    fn has(self, consumer: usize) -> bool {
        self.0 & (1 << consumer) != 0
    }

    pub(crate) fn is_empty(self) -> bool {
        self.0 == 0
    }
}

/// New durable events of a stream (a channel's, or a user's `US…` for its service's post-event
/// webhook), from `from_seq`, for the consumers it names.
#[derive(Debug, Clone, Message)]
#[rtype(result = "()")]
pub struct Wake {
    pub stream_sid: Sid,
    pub from_seq: u64,
    /// Everything of the stream below this sequence is durable. Consumers read no further: a
    /// record past it may still be taken back by a crash, and must not reach anyone first.
    pub until_seq: u64,
    /// The Flex Flow that opened the channel; `None` for channels made over the Chat API.
    pub flow_sid: Option<Sid>,
    pub service_sid: Sid,
    pub consumers: Interest,
    /// The stream's latest durable events as their writer holds them, up to `until_seq` (a
    /// channel's actor, an execution's change): a run whose cursor is among them reads nothing
    /// back from the log ([`durable_records`]).
    pub recent: Option<Recent>,
}

/// A stream's latest durable events as their writer appended them (the records the log holds:
/// event, time, cause), contiguous, handed to the consumers it wakes: a channel's latest (its
/// actor keeps a few), an execution's change. Reading the records a wake is for back from the
/// log, finding, opening and decoding each again, was a fifth of a Studio message's CPU; and a
/// consumer's cursor is mostly at the wake's first event, or a few events behind it (past the
/// events it was not woken for), which a channel's actor still holds too.
#[derive(Debug, Clone)]
pub struct Recent {
    first_seq: u64,
    held: Held,
}

/// A channel's event as its actor published it, with the cause its record keeps.
pub(crate) type HeldEvent = (Arc<LiveEvent>, Option<Cause>);

#[derive(Debug, Clone)]
enum Held {
    Channel(Arc<[HeldEvent]>),
    Execution(Arc<[Recorded<ExecutionEvent>]>),
}

impl Recent {
    /// A channel's events (each with its cause), the stream's from `first_seq` on, no gap.
    pub(crate) fn channel(first_seq: u64, records: Arc<[HeldEvent]>) -> Recent {
        Recent { first_seq, held: Held::Channel(records) }
    }

    /// An execution's records from `first_seq` on, no gap.
    pub(crate) fn execution(first_seq: u64, records: Vec<Recorded<ExecutionEvent>>) -> Recent {
        Recent { first_seq, held: Held::Execution(records.into()) }
    }

    fn len(&self) -> usize {
        match &self.held {
            Held::Channel(records) => records.len(),
            Held::Execution(records) => records.len(),
        }
    }

    /// Where the records from `start` to `until_seq` begin among these, if they are all here.
    fn position(&self, start: u64, until_seq: u64) -> Option<usize> {
        let end = self.first_seq + self.len() as u64;
        if start < self.first_seq || start > end || end != until_seq {
            return None;
        }
        usize::try_from(start - self.first_seq).ok()
    }
}

/// A kind of record a wake may hand over ([`Recent`]); the others are always read back.
pub(crate) trait Handed: Sized {
    /// The held records from the `from`-th on, if they are of this kind.
    fn handed(_recent: &Recent, _from: usize) -> Option<Vec<Self>> {
        None
    }
}

impl Handed for Recorded<ChannelEvent> {
    fn handed(recent: &Recent, from: usize) -> Option<Vec<Self>> {
        let Held::Channel(records) = &recent.held else { return None };
        let record = |(live, cause): &HeldEvent| {
            Recorded::caused(live.at, live.event.clone(), cause.clone())
        };
        Some(records.get(from..)?.iter().map(record).collect())
    }
}

impl Handed for Recorded<ExecutionEvent> {
    fn handed(recent: &Recent, from: usize) -> Option<Vec<Self>> {
        let Held::Execution(records) = &recent.held else { return None };
        Some(records.get(from..)?.to_vec())
    }
}

impl Handed for Recorded<switchboard_domain::UserEvent> {}
impl Handed for Recorded<switchboard_routing::event_log::EventLogEvent> {}

impl Wake {
    /// A user's changes, durable below `until_seq`, for its service's post-event webhook; its
    /// delivery starts at its cursor (or at the start, skipping what came before the webhook
    /// was set).
    pub(crate) fn user_changed(user: Sid, service: Sid, until_seq: u64) -> Wake {
        Wake {
            stream_sid: user,
            from_seq: 0,
            until_seq,
            flow_sid: None,
            service_sid: service,
            consumers: Interest::only(SERVICE_WEBHOOKS),
            recent: None,
        }
    }

    /// An execution's events, durable below `until_seq`, for the consumer of its requests;
    /// delivery starts at its cursor (or at the execution's start). An execution belongs to no
    /// service: its own SID stands in the `service_sid`, which that consumer does not read.
    pub(crate) fn execution_changed(execution: Sid, until_seq: u64) -> Wake {
        Wake {
            stream_sid: execution,
            from_seq: 0,
            until_seq,
            flow_sid: None,
            service_sid: execution,
            consumers: Interest::only(STUDIO_REQUESTS),
            recent: None,
        }
    }

    /// A workspace's event log (`EV…`), durable below `until_seq`, for its `EventCallbackUrl`
    /// and its workflows' `AssignmentCallbackUrl`; each delivery starts at its cursor.
    /// (`service_sid` is the log's own SID: it has no service.)
    pub(crate) fn router_events(log: Sid, from_seq: u64, until_seq: u64) -> Wake {
        Wake {
            stream_sid: log,
            from_seq,
            until_seq,
            flow_sid: None,
            service_sid: log,
            consumers: Interest(
                Interest::only(ROUTER_EVENTS).0 | Interest::only(ASSIGNMENT_CALLBACKS).0,
            ),
            recent: None,
        }
    }

    /// Folds a later wake of the same stream and consumer into this one. The recent events
    /// kept are those that reach the merged wake's end, if either's do.
    fn merge(&mut self, later: Wake) {
        self.from_seq = self.from_seq.min(later.from_seq);
        if later.until_seq >= self.until_seq {
            self.recent = later.recent;
        }
        self.until_seq = self.until_seq.max(later.until_seq);
        self.consumers = Interest(self.consumers.0 | later.consumers.0);
    }
}

/// What a subscription is asked: a channel whose events up to the last of `events` are durable.
pub(crate) struct Woken<'a> {
    pub state: &'a ChannelState,
    pub service_sid: Sid,
    pub events: &'a [Arc<LiveEvent>],
    pub flows: &'a FlowDirectory,
    pub services: &'a ServiceDirectory,
}

impl Woken<'_> {
    /// The Flex Flow that opened the channel, as it is now.
    pub(crate) fn flow(&self) -> Option<FlowView> {
        self.state.flex_flow_sid.and_then(|f| self.flows.get(f))
    }

    pub(crate) fn events(&self) -> impl Iterator<Item = &ChannelEvent> {
        self.events.iter().map(|live| &live.event)
    }
}

/// What every consumer delivers with.
#[derive(Debug)]
pub(crate) struct Shared {
    pub log: Arc<EventLog>,
    pub flows: Arc<FlowDirectory>,
    /// Whose post-event webhooks are read for every wake.
    pub services: Arc<ServiceDirectory>,
    pub outbound: crate::outbound::Outbound,
    pub config: OutboxConfig,
    /// Delivery results are recorded through the channel's actor, its only writer.
    pub registry: std::sync::Weak<crate::registry::Registry>,
    /// Where tasks linked to channels are routed (`task_routing`), and its clock.
    pub task_router: Arc<crate::taskrouter::TaskRouter>,
    pub clock: Arc<dyn crate::clock::Clock>,
    /// Studio's flows and executions (`studio_trigger`, `studio_requests`), and the
    /// workspaces whose workflows a `send-to-flex` names.
    pub studio: Arc<crate::studio_flows::StudioFlowDirectory>,
    pub workspaces: Arc<crate::workspaces::WorkspaceDirectory>,
    /// The engine, once it runs (set by `Engine::start`): what an assignment callback's answer
    /// is carried out through, so the task's channel follows it as after any answer.
    pub engine: std::sync::OnceLock<std::sync::Weak<crate::engine::EngineInner>>,
}

/// What the consumers reach besides the log and the outbound policy.
pub(crate) struct SharedParts {
    pub flows: Arc<FlowDirectory>,
    pub services: Arc<ServiceDirectory>,
    pub registry: std::sync::Weak<crate::registry::Registry>,
    pub task_router: Arc<crate::taskrouter::TaskRouter>,
    pub clock: Arc<dyn crate::clock::Clock>,
    pub studio: Arc<crate::studio_flows::StudioFlowDirectory>,
    pub workspaces: Arc<crate::workspaces::WorkspaceDirectory>,
}

impl Shared {
    pub(crate) fn new(log: Arc<EventLog>, config: OutboxConfig, parts: SharedParts) -> Shared {
        let policy = Arc::new(config.outbound.clone());
        let outbound = crate::outbound::Outbound::new(policy, config.timeout);
        let SharedParts { flows, services, registry, task_router, clock, studio, workspaces } =
            parts;
        Shared {
            log,
            flows,
            services,
            outbound,
            config,
            registry,
            task_router,
            clock,
            studio,
            workspaces,
            engine: std::sync::OnceLock::new(),
        }
    }

    /// The engine, while it runs.
    pub(crate) fn engine(&self) -> Option<crate::Engine> {
        let inner = self.engine.get()?.upgrade()?;
        Some(crate::Engine { inner })
    }
}

/// Every consumer, with what they deliver with.
pub(crate) struct Consumers {
    shared: Arc<Shared>,
    list: Vec<Box<dyn Consumer>>,
    /// Each consumer's runs, in the order of `list`: the dispatcher starts them, a scrape
    /// counts them.
    runs: Vec<ChannelRuns>,
}

impl std::fmt::Debug for Consumers {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let names: Vec<_> = self.list.iter().map(|c| c.name()).collect();
        f.debug_struct("Consumers").field("list", &names).finish_non_exhaustive()
    }
}

impl Consumers {
    pub(crate) fn new(shared: Arc<Shared>, media: MediaConfig) -> Consumers {
        let media = media_fetch::MediaFetch::new(&shared, media);
        let list: Vec<Box<dyn Consumer>> = vec![
            Box::new(external::External),
            Box::new(replies::Replies),
            Box::new(channel_webhooks::ChannelWebhooks),
            Box::new(service_webhooks::ServiceWebhooks),
            Box::new(media),
            Box::new(task_routing::TaskRouting),
            Box::new(studio_trigger::StudioTrigger),
            Box::new(studio_requests::StudioRequests),
            Box::new(router_events::RouterEventCallbacks),
            Box::new(assignment_callbacks::AssignmentCallbacks),
            Box::new(studio_deliveries::StudioDeliveries),
        ];
        debug_assert_eq!(list[EXTERNAL].name(), EXTERNAL_CONSUMER);
        debug_assert_eq!(list[REPLIES].name(), REPLY_CONSUMER);
        debug_assert_eq!(list[CHANNEL_WEBHOOKS].name(), WEBHOOK_CONSUMER);
        debug_assert_eq!(list[SERVICE_WEBHOOKS].name(), SERVICE_WEBHOOK_CONSUMER);
        debug_assert_eq!(list[MEDIA_FETCH].name(), MEDIA_CONSUMER);
        debug_assert_eq!(list[TASK_ROUTING].name(), task_routing::CONSUMER);
        debug_assert_eq!(list[STUDIO_TRIGGER].name(), studio_trigger::CONSUMER);
        debug_assert_eq!(list[STUDIO_REQUESTS].name(), STUDIO_REQUESTS_CONSUMER);
        debug_assert_eq!(list[ROUTER_EVENTS].name(), router_events::CONSUMER);
        debug_assert_eq!(list[ASSIGNMENT_CALLBACKS].name(), assignment_callbacks::CONSUMER);
        debug_assert_eq!(list[STUDIO_DELIVERIES].name(), studio_deliveries::CONSUMER);
        let runs = list.iter().map(|_| ChannelRuns::default()).collect();
        Consumers { shared, list, runs }
    }

    /// Each consumer's name and how many streams it has yet to finish delivering: the outbox's
    /// depth, in streams (a stream's run delivers all its durable events, retries included).
    pub(crate) fn pending(&self) -> Vec<(&'static str, usize)> {
        self.list.iter().zip(&self.runs).map(|(c, runs)| (c.name(), runs.pending())).collect()
    }

    /// What consumers deliver with (the pre-event webhooks call with it too).
    pub(crate) fn shared(&self) -> Arc<Shared> {
        Arc::clone(&self.shared)
    }

    /// The consumers whose subscriptions want `woken`.
    pub(crate) fn interest(&self, woken: &Woken<'_>) -> Interest {
        let mut interest = Interest::default();
        for (at, consumer) in self.list.iter().enumerate() {
            if consumer.wants(woken) {
                interest.0 |= 1 << at;
            }
        }
        interest
    }

    /// After a start: a wake for each consumer whose delivery of `channel` stopped short.
    pub(crate) fn resume(
        &self,
        channel: Sid,
        state: &ChannelState,
    ) -> Result<Vec<Wake>, StoreError> {
        let Some(service_sid) = state.service_sid else { return Ok(Vec::new()) };
        let mut head = None;
        let mut wakes = Vec::new();
        for (at, consumer) in self.list.iter().enumerate() {
            let Some(from_seq) = consumer.resume_from(&self.shared, channel, state)? else {
                continue;
            };
            // Read once, and only for a consumer that has somewhere to resume from.
            let head = match head {
                Some(head) => head,
                None => *head.insert(self.shared.log.next_seq(channel)?),
            };
            if from_seq < head {
                wakes.push(Wake {
                    stream_sid: channel,
                    from_seq,
                    // At a start, the log holds only what is durable.
                    until_seq: u64::MAX,
                    flow_sid: state.flex_flow_sid,
                    service_sid,
                    consumers: Interest::only(at),
                    recent: None,
                });
            }
        }
        Ok(wakes)
    }
}

/// Runs woken consumers on its thread: each consumer one run at a time per stream, side by side.
/// There is one on each of the consumers' own arbiters ([`Wakes`] says which takes a stream).
#[derive(Debug)]
pub struct Dispatcher {
    consumers: Arc<Consumers>,
}

impl Dispatcher {
    pub(crate) fn new(consumers: Arc<Consumers>) -> Dispatcher {
        Dispatcher { consumers }
    }
}

/// Where wakes go: a dispatcher on each of the consumers' own arbiters (threads), each stream
/// always to the same one. The consumers' work (reading the log, the Studio steps, the
/// providers' calls) was all on the actix `System`'s one thread, which a bot conversation's
/// four appends and outbound call per message kept busy while the other cores waited; on the
/// channels' arbiters instead, it slowed the channel actors that answer the webhooks. A
/// stream's dispatcher is chosen by the first eight bytes of its id, which a channel shares
/// with the executions its messages start (`Sid::message_of`), so a bot conversation runs on
/// one thread.
#[derive(Debug, Clone)]
pub(crate) struct Wakes {
    shards: Arc<[Recipient<Wake>]>,
}

impl Wakes {
    /// A dispatcher started on each of `threads` new arbiters (at least one).
    pub(crate) fn start(consumers: &Arc<Consumers>, threads: usize) -> Wakes {
        let shards = (0..threads.max(1))
            .map(|_| {
                let consumers = Arc::clone(consumers);
                let arbiter = Arbiter::new().handle();
                Dispatcher::start_in_arbiter(&arbiter, move |_| Dispatcher::new(consumers))
                    .recipient()
            })
            .collect();
        Wakes { shards }
    }

    /// Hands `wake` to its stream's dispatcher.
    pub(crate) fn do_send(&self, wake: Wake) {
        if let Some(shard) = self.shards.get(shard_of(wake.stream_sid, self.shards.len())) {
            shard.do_send(wake);
        }
    }
}

/// Which of `shards` dispatchers delivers `stream`: by the first eight bytes of its id.
fn shard_of(stream: Sid, shards: usize) -> usize {
    crate::registry::shard(&stream.id().get(..8), shards)
}

impl Actor for Dispatcher {
    type Context = Context<Self>;
}

impl Handler<Wake> for Dispatcher {
    type Result = ();

    fn handle(&mut self, wake: Wake, _: &mut Context<Self>) {
        for (at, runs) in self.consumers.runs.iter().enumerate() {
            if !wake.consumers.has(at) {
                continue;
            }
            let consumers = Arc::clone(&self.consumers);
            runs.wake(Wake { consumers: Interest::only(at), ..wake.clone() }, move |wake| {
                let consumers = Arc::clone(&consumers);
                async move {
                    let consumer = &consumers.list[at];
                    let stream = wake.stream_sid;
                    let run = consumer.run(consumers.shared(), wake);
                    if let Err(error) = run.await {
                        let name = consumer.name();
                        tracing::error!(%stream, consumer = name, %error, "delivery stopped on a storage error");
                    }
                }
            });
        }
    }
}

/// Where a consumer's delivery of `stream` starts: at its cursor, or, met for the first time,
/// where it was woken (recorded at once, so a restart knows the stream is being delivered).
pub(crate) fn start_at(
    log: &EventLog,
    consumer: &str,
    stream: Sid,
    woken_at: u64,
) -> Result<u64, StoreError> {
    // A cursor past the start was recorded: one read on the path of every run, the second only
    // while a stream's delivery is at its start.
    let cursor = log.cursor(consumer, stream)?;
    if cursor > 0 || log.has_cursor(consumer, stream)? {
        return Ok(cursor);
    }
    log.set_cursor(consumer, stream, woken_at)?;
    Ok(woken_at)
}

/// Where a consumer that delivers a flow's channels resumes after a start: at its cursor or,
/// never begun, from the channel's start if the channel was opened under the flow's current
/// configuration (a flow switched to the consumer later does not replay older history).
fn resume_under_flow(
    log: &EventLog,
    consumer: &str,
    channel: Sid,
    state: &ChannelState,
    flow_updated: Timestamp,
) -> Result<Option<u64>, StoreError> {
    if log.has_cursor(consumer, channel)? {
        return Ok(Some(log.cursor(consumer, channel)?));
    }
    Ok((state.date_created >= flow_updated).then_some(0))
}

/// The records of the woken stream from `start` that the wake vouches durable: those its
/// writer handed over with it when they reach back to `start`, else read back from the log.
/// Either way the same records: the writer's are those it appended, now durable.
pub(crate) fn durable_records<E: switchboard_store::LoggedEvent + Handed>(
    log: &EventLog,
    wake: &Wake,
    start: u64,
) -> Result<Vec<ReplayRecord<E>>, StoreError> {
    let stream = wake.stream_sid;
    let recent = wake.recent.as_ref();
    let from = recent.and_then(|r| Some((r, r.position(start, wake.until_seq)?)));
    if let Some(events) = from.and_then(|(recent, from)| E::handed(recent, from)) {
        let records = events.into_iter().zip(start..);
        return Ok(records
            .map(|(event, seq)| ReplayRecord::Event { stream, seq, event })
            .collect());
    }
    log.read::<E>(wake.stream_sid, start)
        .take_while(|record| record.as_ref().map_or(true, |r| r.seq() < wake.until_seq))
        .collect()
}

/// Whether an answer refuses the request itself (a 4xx other than 429): retrying will not change
/// it. Network errors, 429 and 5xx are worth another try.
pub(crate) fn refused_for_good(status: reqwest::StatusCode) -> bool {
    status.is_client_error() && status != reqwest::StatusCode::TOO_MANY_REQUESTS
}

pub(crate) fn backoff(config: &OutboxConfig, attempt: u32) -> Duration {
    let exponential = config.retry_base.saturating_mul(1 << attempt.min(16).saturating_sub(1));
    let capped = exponential.min(config.retry_max);
    // Up to a quarter of jitter, so retries from many channels do not arrive in lockstep.
    let jitter = rand::thread_rng().gen_range(0.0..0.25);
    capped.mul_f64(1.0 + jitter)
}

#[cfg(test)]
mod tests {
    use switchboard_crypto::MasterKey;
    use switchboard_domain::{SidPrefix, UserEvent};
    use switchboard_store::{IndexChanges, StoreConfig};

    use super::*;

    #[test]
    fn consumers_read_only_as_far_as_the_wake_vouches_durable() {
        let dir = tempfile::tempdir().unwrap();
        let log = EventLog::open(StoreConfig::new(dir.path()), MasterKey::generate()).unwrap();
        let user = crate::new_sid(SidPrefix::USER);
        let event = |n: u64| {
            Recorded::new(
                Timestamp::from_millis(n as i64),
                UserEvent::UserUpdated {
                    friendly_name: Some(format!("name {n}")),
                    attributes: None,
                    role_sid: None,
                },
            )
        };
        let events: Vec<_> = (0..5).map(event).collect();
        log.append(user, 0, &events, &IndexChanges::default()).unwrap();
        let wake = |from_seq, until_seq| Wake {
            stream_sid: user,
            from_seq,
            flow_sid: None,
            service_sid: crate::new_sid(SidPrefix::SERVICE),
            consumers: Interest::only(SERVICE_WEBHOOKS),
            until_seq,
            recent: None,
        };
        let seqs = |wake: Wake, start| -> Vec<u64> {
            durable_records::<Recorded<UserEvent>>(&log, &wake, start)
                .unwrap()
                .iter()
                .map(ReplayRecord::seq)
                .collect()
        };
        assert_eq!(seqs(wake(0, 3), 0), vec![0, 1, 2], "records past the durable point are left");
        assert_eq!(seqs(wake(0, 3), 1), vec![1, 2]);
        assert_eq!(seqs(wake(0, u64::MAX), 2), vec![2, 3, 4]);
        assert!(seqs(wake(0, 2), 2).is_empty());
    }

    /// A channel of `n` events in the log (each a member leaving, caused by the system), and
    /// the same events as its actor would hand them over.
    fn channel_of(log: &EventLog, n: u64) -> (Sid, Vec<HeldEvent>) {
        let channel = crate::new_sid(SidPrefix::CHANNEL);
        let records: Vec<Recorded> = (0..n)
            .map(|n| {
                let event =
                    ChannelEvent::MemberLeft { member_sid: crate::new_sid(SidPrefix::MEMBER) };
                Recorded::caused(Timestamp::from_millis(n as i64), event, Some(Cause::System))
            })
            .collect();
        log.append(channel, 0, &records, &IndexChanges::default()).unwrap();
        let held = records
            .into_iter()
            .zip(0..)
            .map(|(r, seq)| {
                let live = LiveEvent {
                    channel_sid: channel,
                    service_sid: None,
                    seq,
                    at: r.at,
                    event: r.event,
                };
                (Arc::new(live), r.cause)
            })
            .collect();
        (channel, held)
    }

    fn channel_wake(channel: Sid, from_seq: u64, until_seq: u64, recent: Option<Recent>) -> Wake {
        Wake {
            stream_sid: channel,
            from_seq,
            until_seq,
            flow_sid: None,
            service_sid: crate::new_sid(SidPrefix::SERVICE),
            consumers: Interest::only(STUDIO_TRIGGER),
            recent,
        }
    }

    #[test]
    fn a_wake_hands_over_the_records_the_log_holds_and_reads_the_rest_back() {
        let dir = tempfile::tempdir().unwrap();
        let log = EventLog::open(StoreConfig::new(dir.path()), MasterKey::generate()).unwrap();
        let (channel, held) = channel_of(&log, 8);
        // The actor holds the events from 3 on; the wake is for 6 and 7.
        let recent = Recent::channel(3, held[3..].iter().cloned().collect());
        let wake = channel_wake(channel, 6, 8, Some(recent.clone()));
        for start in 0..=8 {
            assert_eq!(
                durable_records::<Recorded>(&log, &wake, start).unwrap(),
                durable_records::<Recorded>(&log, &channel_wake(channel, 6, 8, None), start)
                    .unwrap(),
                "from {start}"
            );
        }
        assert_eq!(recent.position(3, 8), Some(0), "held from 3");
        assert_eq!(recent.position(8, 8), Some(5), "nothing left");
        assert!(recent.position(2, 8).is_none(), "a cursor before them reads the log");
        assert!(recent.position(4, 9).is_none(), "a wake past them reads the log");
        assert!(
            <Recorded<ExecutionEvent> as Handed>::handed(&recent, 0).is_none(),
            "a channel's events are no execution's"
        );
    }

    #[test]
    fn merged_wakes_keep_the_recent_events_that_reach_their_end() {
        let dir = tempfile::tempdir().unwrap();
        let log = EventLog::open(StoreConfig::new(dir.path()), MasterKey::generate()).unwrap();
        let (channel, held) = channel_of(&log, 8);
        let upto = |end: usize| Some(Recent::channel(2, held[2..end].iter().cloned().collect()));
        let mut merged = channel_wake(channel, 4, 5, upto(5));
        merged.merge(channel_wake(channel, 6, 8, upto(8)));
        assert_eq!((merged.from_seq, merged.until_seq), (4, 8));
        assert!(merged.recent.as_ref().and_then(|r| r.position(4, merged.until_seq)).is_some());
        // An earlier wake folded in after a later one leaves the later's events.
        let mut late = channel_wake(channel, 6, 8, upto(8));
        late.merge(channel_wake(channel, 4, 5, upto(5)));
        assert!(late.recent.as_ref().and_then(|r| r.position(4, late.until_seq)).is_some());
        // A start's wake (everything up to the end of the log) reads the log.
        merged.merge(channel_wake(channel, 0, u64::MAX, None));
        assert!(merged.recent.is_none());
        assert_eq!(durable_records::<Recorded>(&log, &merged, 0).unwrap().len(), 8);
    }

    #[test]
    fn a_channel_and_the_executions_its_messages_start_go_to_one_dispatcher() {
        let shards = 4;
        let mut seen = std::collections::HashSet::new();
        for n in 0..64u8 {
            let channel = Sid::from_parts(SidPrefix::CHANNEL, [n.wrapping_mul(37); 16]);
            let message = Sid::message_of(channel, u64::from(n) * 3);
            // As the Studio trigger names the execution a message starts.
            let execution = Sid::from_parts(SidPrefix::STUDIO_EXECUTION, message.id());
            assert_eq!(shard_of(execution, shards), shard_of(channel, shards), "{channel}");
            seen.insert(shard_of(channel, shards));
        }
        assert_eq!(seen.len(), shards, "channels are spread over every dispatcher");
    }
}
