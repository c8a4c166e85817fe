//! `Engine`: the handle the HTTP layer holds. It owns the log, the actors and the directories,
//! reads the clock once per request, and returns only once what it reports is durable.

use std::sync::Arc;
use std::time::Duration;

use actix::prelude::*;
use switchboard_domain::{
    ChannelCommand, ChannelState, DeliveryStatus, IndexKind, ProviderError, Recorded, Rejection,
    Sid, SidPrefix, Timestamp,
};
use switchboard_store::{ChannelLog, EventLog, Executed, ReplayRecord};

use crate::channel::{ChannelDeps, Execute, GetState};
use crate::consumer::{Consumers, Dispatcher, Shared, Wake};
use crate::directory::{FlowDirectory, FlowView, ServiceDirectory};
use crate::hub::{Hub, LiveEvent};
use crate::janitor::{Activity, ChannelListing, Janitor, ListChannels, ListOpenTasks, OpenTask};
use crate::registry::{shard, Registry};
use crate::router::{FlowRouter, Route, Routed};
use crate::studio_flows::StudioFlowDirectory;
use crate::users::UserDirectory;
use crate::{Clock, EngineError};

pub use crate::router::Inbound;

/// Tunables of the engine.
#[derive(Debug, Clone)]
pub struct EngineConfig {
    /// A channel with no message for longer than this is retired by the janitor.
    pub janitor_window: Duration,
    /// How often the janitor looks.
    pub janitor_tick: Duration,
    /// A channel actor with nothing to do for this long stops and frees its memory.
    pub hibernate_after: Duration,
    /// Number of flow routers (shards by customer address).
    pub router_shards: usize,
    /// Number of arbiters (threads) that run channel actors.
    pub arbiters: usize,
    /// Delivery to external integrations.
    pub outbox: crate::OutboxConfig,
    /// Fetching inbound media: limits and the WhatsApp Cloud API.
    pub media: crate::MediaConfig,
}

impl Default for EngineConfig {
    fn default() -> EngineConfig {
        EngineConfig {
            janitor_window: Duration::from_secs(24 * 3600),
            janitor_tick: Duration::from_secs(30),
            hibernate_after: Duration::from_secs(300),
            router_shards: 8,
            arbiters: 2,
            outbox: crate::OutboxConfig::default(),
            media: crate::MediaConfig::default(),
        }
    }
}

/// How often the timeouts of Studio executions waiting for a reply are looked for.
const STUDIO_TICK: Duration = Duration::from_secs(1);
/// How often the log forgets the caches of users written last (`start_forgetting_user_caches`).
const FORGET_USER_CACHES_EVERY: Duration = Duration::from_secs(5);

/// How many more times, and how far apart, an unknown provider id is looked up again.
const STATUS_RETRIES: u32 = 10;
const STATUS_RETRY_PAUSE: Duration = Duration::from_millis(100);

/// A provider's report on one outbound message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProviderStatus {
    pub provider_message_id: String,
    pub status: DeliveryStatus,
    pub error: Option<ProviderError>,
}

/// Why an inbound message was not stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum InboundRefusal {
    /// No enabled Flex Flow takes messages of its type to its address: nothing is stored, and
    /// the provider, told so, retries.
    Unrouted,
    /// The customer's channel refused it.
    Rejected(Rejection),
}

/// The outcome of an inbound message, once durable.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InboundOutcome {
    pub channel_sid: Sid,
    pub message_index: u64,
    pub created_channel: bool,
    /// A redelivery: nothing new was stored.
    pub duplicate: bool,
}

#[derive(Debug)]
pub(crate) struct EngineInner {
    pub log: Arc<EventLog>,
    pub clock: Arc<dyn Clock>,
    pub registry: Arc<Registry>,
    pub flows: Arc<FlowDirectory>,
    pub services: Arc<ServiceDirectory>,
    /// How the outbox calls webhooks: pre-event webhooks are called the same way.
    pub(crate) hooks: Arc<Shared>,
    pub users: Arc<UserDirectory>,
    pub workspaces: Arc<crate::workspaces::WorkspaceDirectory>,
    pub task_router: Arc<crate::taskrouter::TaskRouter>,
    pub studio_flows: Arc<StudioFlowDirectory>,
    pub people: crate::people::PeopleDirectory,
    pub hub: Arc<Hub>,
    pub(crate) presence: crate::presence::Presence,
    janitor: Addr<Janitor>,
    janitor_holds: Arc<crate::janitor::JanitorHolds>,
    pub(crate) routers: std::sync::OnceLock<Vec<Addr<FlowRouter>>>,
    media_config: crate::MediaConfig,
}

impl EngineInner {
    /// What a router, or anything that opens channels as one does, needs of the engine.
    pub(crate) fn route_deps(&self) -> crate::router::RouteDeps {
        crate::router::RouteDeps {
            log: Arc::clone(&self.log),
            registry: Arc::clone(&self.registry),
        }
    }
}

/// The streams of the small kinds, each kind held whole in memory, and the task router.
struct Directories {
    flows: Arc<FlowDirectory>,
    users: Arc<UserDirectory>,
    services: Arc<ServiceDirectory>,
    workspaces: Arc<crate::workspaces::WorkspaceDirectory>,
    task_router: Arc<crate::taskrouter::TaskRouter>,
    studio_flows: Arc<StudioFlowDirectory>,
}

impl Directories {
    fn load(log: &Arc<EventLog>, clock: &Arc<dyn Clock>) -> Result<Directories, EngineError> {
        let workspaces = Arc::new(crate::workspaces::WorkspaceDirectory::load(Arc::clone(log))?);
        let task_router = Arc::new(crate::taskrouter::TaskRouter::load(
            Arc::clone(log),
            Arc::clone(&workspaces),
            clock.now(),
        )?);
        Ok(Directories {
            flows: Arc::new(FlowDirectory::load(Arc::clone(log))?),
            users: Arc::new(UserDirectory::load(Arc::clone(log))?),
            services: Arc::new(ServiceDirectory::load(Arc::clone(log))?),
            workspaces,
            task_router,
            studio_flows: Arc::new(StudioFlowDirectory::load(Arc::clone(log))?),
        })
    }
}

/// Starts the flow routers, `shards` of them spread over the arbiters.
fn start_routers(inner: &Arc<EngineInner>, shards: usize) {
    let arbiters = inner.registry.arbiters().to_vec();
    let routers = (0..shards.max(1))
        .map(|i| {
            let (deps, home) = (inner.route_deps(), i % arbiters.len());
            FlowRouter::start_in_arbiter(&arbiters[home], move |_| FlowRouter::new(deps, home))
        })
        .collect();
    let _ = inner.routers.set(routers);
}

#[derive(Debug, Clone)]
pub struct Engine {
    pub(crate) inner: Arc<EngineInner>,
}

/// How long a clean stop waits for the live channels to write their snapshots.
const HIBERNATE_ALL_LIMIT: Duration = Duration::from_secs(15);

impl Engine {
    /// Starts the actors. Must run inside an actix `System`. Loads every flow and service, and
    /// tells the janitor about every channel, so retirement survives restarts.
    pub fn start(
        log: Arc<EventLog>,
        clock: Arc<dyn Clock>,
        config: EngineConfig,
    ) -> Result<Engine, EngineError> {
        let arbiters: Vec<ArbiterHandle> =
            (0..config.arbiters.max(1)).map(|_| Arbiter::new().handle()).collect();
        let registry = Arc::new(Registry::new(arbiters));
        let (janitor, activity, janitor_holds) = Janitor::new(
            config.janitor_window,
            config.janitor_tick,
            Arc::clone(&clock),
            Arc::downgrade(&registry),
            Arc::clone(&log),
        )
        .start_with_feed();
        let hub = Arc::new(Hub::default());
        let Directories { flows, users, services, workspaces, task_router, studio_flows } =
            Directories::load(&log, &clock)?;
        let parts = crate::consumer::SharedParts {
            flows: Arc::clone(&flows),
            services: Arc::clone(&services),
            registry: Arc::downgrade(&registry),
            task_router: Arc::clone(&task_router),
            clock: Arc::clone(&clock),
            studio: Arc::clone(&studio_flows),
            workspaces: Arc::clone(&workspaces),
        };
        let shared = Shared::new(Arc::clone(&log), config.outbox.clone(), parts);
        let consumers = Arc::new(Consumers::new(Arc::new(shared), config.media.clone()));
        let hooks = consumers.shared();
        let dispatcher = Dispatcher::new(Arc::clone(&consumers)).start();
        set_dispatchers(&dispatcher, &users, &studio_flows, &task_router)?;
        registry.set_deps(Arc::new(ChannelDeps {
            log: Arc::clone(&log),
            hub: Arc::clone(&hub),
            janitor: activity,
            consumers: Arc::clone(&consumers),
            dispatcher: dispatcher.clone().recipient(),
            registry: Arc::downgrade(&registry),
            hibernate_after: config.hibernate_after,
            users: Arc::clone(&users),
            flows: Arc::clone(&flows),
            services: Arc::clone(&services),
        }));
        let inner = Arc::new(EngineInner {
            flows,
            services,
            hooks,
            users,
            workspaces,
            task_router,
            studio_flows,
            people: crate::people::PeopleDirectory::load(Arc::clone(&log))?,
            log,
            clock,
            registry,
            hub,
            presence: crate::presence::Presence::default(),
            janitor,
            janitor_holds,
            routers: std::sync::OnceLock::new(),
            media_config: config.media.clone(),
        });
        let _ = consumers.shared().engine.set(Arc::downgrade(&inner));
        start_routers(&inner, config.router_shards);
        let engine = Engine { inner };
        engine.resume_channels(&consumers, &dispatcher)?;
        engine.resume_user_webhooks(&dispatcher)?;
        engine.resume_studio_requests(&dispatcher)?;
        engine.start_timers();
        Ok(engine)
    }

    /// What runs on the engine's own timers: task routing's deadlines, Studio's reply timeouts,
    /// forgetting the log's caches of users.
    fn start_timers(&self) {
        self.start_task_routing();
        self.start_studio_timeouts();
        self.start_forgetting_user_caches();
    }

    /// After a start: tells the janitor about every channel, repairs users' channel lists, and
    /// wakes each consumer whose delivery of a channel stopped short (including one that never
    /// started: a crash right after the append).
    fn resume_channels(
        &self,
        consumers: &Consumers,
        dispatcher: &Addr<Dispatcher>,
    ) -> Result<(), EngineError> {
        let log = &self.inner.log;
        for sid in self.channel_sids()? {
            let mut channel = ChannelLog::load(log, sid)?;
            // Every channel is loaded here anyway. One far past its latest snapshot (after a
            // crash, which left no snapshot at the stop) keeps the result, so that the first
            // messages after the start do not all replay those tails again at once.
            channel.snapshot_if_behind(
                log,
                crate::channel::ChannelActor::SNAPSHOT_WHEN_STOPPING_AFTER,
            );
            let state = channel.state();
            self.inner.janitor.do_send(Activity::of(sid, state));
            self.inner.users.repair(sid, state, self.now())?;
            for wake in consumers.resume(sid, state)? {
                dispatcher.do_send(wake);
            }
        }
        Ok(())
    }

    /// Wakes the delivery of users' changes to their service's post-event webhook where it
    /// stopped short or never began.
    fn resume_user_webhooks(&self, dispatcher: &Addr<Dispatcher>) -> Result<(), EngineError> {
        let log = &self.inner.log;
        for (user, service, changed) in self.inner.users.streams() {
            let Some((_, since)) = self.inner.services.post_webhook(service) else { continue };
            let consumer = crate::consumer::SERVICE_WEBHOOK_CONSUMER;
            let pending = if log.has_cursor(consumer, user)? {
                log.cursor(consumer, user)? < log.next_seq(user)?
            } else {
                changed >= since
            };
            if pending {
                // At a start, the log holds only what is durable.
                dispatcher.do_send(Wake::user_changed(user, service, u64::MAX));
            }
        }
        Ok(())
    }

    /// Wakes the delivery of each Studio execution's requests where it stopped short or never
    /// began (a crash between an execution's change and its request's delivery).
    fn resume_studio_requests(&self, dispatcher: &Addr<Dispatcher>) -> Result<(), EngineError> {
        let log = &self.inner.log;
        let consumer = crate::consumer::STUDIO_REQUESTS_CONSUMER;
        for (execution, head) in self.inner.studio_flows.execution_heads() {
            let from = if log.has_cursor(consumer, execution)? {
                log.cursor(consumer, execution)?
            } else {
                0
            };
            if from < head {
                // At a start, the log holds only what is durable.
                dispatcher.do_send(Wake::execution_changed(execution, u64::MAX));
            }
        }
        Ok(())
    }

    /// Fires the timeouts of Studio executions waiting for a reply, every tick while the engine
    /// lives: each once, as the timeout moves the execution on (and a deadline passed while
    /// the daemon was stopped fires at the first tick).
    fn start_studio_timeouts(&self) {
        let weak = Arc::downgrade(&self.inner);
        actix::spawn(async move {
            let mut interval = tokio::time::interval(STUDIO_TICK);
            loop {
                interval.tick().await;
                let Some(inner) = weak.upgrade() else { return };
                let now = inner.clock.now();
                for execution in inner.studio_flows.due_replies(now) {
                    let input = switchboard_studio::ExecutionInput::Timeout;
                    let fired = inner.studio_flows.execute(execution, input, now).await;
                    if let Err(error) = fired {
                        tracing::warn!(%execution, %error, "a Studio reply's timeout did not fire");
                    }
                }
            }
        });
    }

    /// Has the log forget, every few seconds, the cached heads and keys of the users written
    /// last (`Streams::forget_written`): the writes forget those of earlier ones as they go, and
    /// this catches the last ones before a quiet spell.
    fn start_forgetting_user_caches(&self) {
        let weak = Arc::downgrade(&self.inner);
        actix::spawn(async move {
            let mut interval = tokio::time::interval(FORGET_USER_CACHES_EVERY);
            loop {
                interval.tick().await;
                let Some(inner) = weak.upgrade() else { return };
                inner.users.forget_written_caches();
            }
        });
    }

    pub(crate) fn log(&self) -> &Arc<EventLog> {
        &self.inner.log
    }

    /// The channel of a service with this unique name, if any.
    pub fn channel_named(
        &self,
        service_sid: Sid,
        unique_name: &str,
    ) -> Result<Option<Sid>, EngineError> {
        let found = self.inner.log.lookup(IndexKind::UniqueName, Some(service_sid), unique_name)?;
        Ok(found.map(|(channel, _)| channel))
    }

    /// Every durable event of a channel from sequence `from` on, up to its head as it was when
    /// asked (what a reconnecting client missed). Waits for what is written to be durable.
    pub async fn durable_events(
        &self,
        channel_sid: Sid,
        from: u64,
    ) -> Result<Vec<LiveEvent>, EngineError> {
        let log = &self.inner.log;
        let head = log.next_seq(channel_sid)?;
        log.wait_durable(log.ticket()).await?;
        let mut events = Vec::new();
        for record in log.read::<Recorded>(channel_sid, from) {
            match record? {
                ReplayRecord::Event { seq, .. } if seq >= head => break,
                ReplayRecord::Event { seq, event, .. } => events.push(LiveEvent {
                    channel_sid,
                    service_sid: None,
                    seq,
                    at: event.at,
                    event: event.event,
                }),
                ReplayRecord::Shredded { .. } => {}
            }
        }
        Ok(events)
    }

    pub fn flows(&self) -> &FlowDirectory {
        &self.inner.flows
    }

    pub fn services(&self) -> &ServiceDirectory {
        &self.inner.services
    }

    /// TaskRouter's workspaces and their configuration.
    pub fn workspaces(&self) -> &crate::workspaces::WorkspaceDirectory {
        &self.inner.workspaces
    }

    /// Answers a reservation, then brings the task's chat channel in line (`flex_orchestration`).
    pub async fn answer_reservation(
        &self,
        workspace: Sid,
        task: Sid,
        reservation: Sid,
        answer: crate::taskrouter::ReservationAnswer,
    ) -> crate::taskrouter::Routed<switchboard_routing::task::TaskState> {
        let router = self.task_router();
        let answered = router.answer_reservation(workspace, task, reservation, answer, self.now());
        let answered = answered.await?;
        if let Ok(task) = &answered {
            crate::flex_orchestration::orchestrate(self, task).await?;
        }
        Ok(answered)
    }

    /// Creates a task, then brings its chat channel in line (`flex_orchestration`): a task
    /// naming an active channel (a transfer) is linked to it.
    pub async fn create_task(
        &self,
        workspace: Sid,
        account: Sid,
        new: crate::taskrouter::NewTask,
    ) -> crate::taskrouter::Routed<switchboard_routing::task::TaskState> {
        let router = self.task_router();
        let created = router.create_task(workspace, account, new, self.now()).await?;
        if let Ok(task) = &created {
            crate::flex_orchestration::orchestrate(self, task).await?;
        }
        Ok(created)
    }

    /// Updates a task, then brings its chat channel in line (`flex_orchestration`).
    pub async fn update_task(
        &self,
        workspace: Sid,
        task: Sid,
        changes: crate::taskrouter::TaskChanges,
    ) -> crate::taskrouter::Routed<switchboard_routing::task::TaskState> {
        let updated = self.task_router().update_task(workspace, task, changes, self.now()).await?;
        if let Ok(task) = &updated {
            crate::flex_orchestration::orchestrate(self, task).await?;
        }
        Ok(updated)
    }

    /// Brings every task's channel in line once (what a crash may have left undone), then fires
    /// the router's deadlines every tick while the engine lives.
    fn start_task_routing(&self) {
        let weak = Arc::downgrade(&self.inner);
        actix::spawn(async move {
            if let Some(inner) = weak.upgrade() {
                let engine = Engine { inner };
                for task in engine.task_router().tasks_in_memory() {
                    if let Err(error) = crate::flex_orchestration::orchestrate(&engine, &task).await
                    {
                        tracing::warn!(%error, "a task's channel could not be brought in line");
                    }
                }
            }
            let mut interval = tokio::time::interval(crate::taskrouter::TaskRouter::TICK);
            loop {
                interval.tick().await;
                let Some(inner) = weak.upgrade() else { return };
                let engine = Engine { inner };
                if let Err(error) = engine.fire_task_deadlines().await {
                    tracing::warn!(%error, "the task router's deadlines could not be fired");
                }
            }
        });
    }

    async fn fire_task_deadlines(&self) -> Result<(), EngineError> {
        for task in self.task_router().fire_due(self.now()).await? {
            crate::flex_orchestration::orchestrate(self, &task).await?;
        }
        Ok(())
    }

    /// TaskRouter's workers, tasks and reservations.
    pub fn task_router(&self) -> &crate::taskrouter::TaskRouter {
        &self.inner.task_router
    }

    /// Studio flows, their revisions and their executions.
    pub fn studio_flows(&self) -> &StudioFlowDirectory {
        &self.inner.studio_flows
    }

    /// Starts an execution of Studio flow `flow`'s newest published revision, now (the runner,
    /// `consumer/studio_trigger.rs`, starts them from channels' first messages).
    pub async fn start_studio_execution(
        &self,
        flow: Sid,
        start: crate::studio_flows::ExecutionStart,
    ) -> crate::studio_flows::ExecutionChange {
        self.inner.studio_flows.start_execution(flow, start, self.now()).await
    }

    pub fn users(&self) -> &UserDirectory {
        &self.inner.users
    }

    pub fn hub(&self) -> &Arc<Hub> {
        &self.inner.hub
    }

    /// The sandbox replies go to, when the daemon has no upstream provider credentials.
    pub fn sandbox(&self) -> Option<&Arc<crate::Sandbox>> {
        self.inner.hooks.config.sandbox.as_ref()
    }

    /// The limits media are held to (uploads as well as fetches).
    pub fn media_config(&self) -> &crate::MediaConfig {
        &self.inner.media_config
    }

    pub fn now(&self) -> Timestamp {
        self.inner.clock.now()
    }

    pub(crate) fn clock(&self) -> &Arc<dyn Clock> {
        &self.inner.clock
    }

    /// Whether the engine can take work: the log acknowledges writes and the routers, the
    /// janitor and the arbiters that run channels are alive.
    pub fn check_ready(&self) -> Result<(), String> {
        self.inner.log.check_ready().map_err(|e| e.to_string())?;
        let routers_alive = self.inner.routers.get().is_some_and(|r| r.iter().all(Addr::connected));
        if !routers_alive {
            return Err("a flow router has stopped".into());
        }
        if !self.inner.janitor.connected() {
            return Err("the janitor has stopped".into());
        }
        Ok(())
    }

    /// Live channel actors (the rest are hibernated or never loaded).
    pub fn live_channels(&self) -> usize {
        self.inner.registry.live()
    }

    /// What the daemon holds in memory for its channels, users and streams (`memory.rs`).
    pub fn memory(&self) -> crate::MemoryFigures {
        let held = &self.inner.janitor_holds;
        crate::MemoryFigures {
            channels_known: held.channels.load(std::sync::atomic::Ordering::Relaxed),
            janitor_bytes: held.bytes.load(std::sync::atomic::Ordering::Relaxed),
            users_bytes: self.inner.users.footprint(),
            stream_caches_bytes: self.inner.log.stream_caches_footprint(),
            studio_executions: self.inner.studio_flows.executions_held(),
            studio_executions_bytes: self.inner.studio_flows.executions_footprint(),
        }
    }

    /// Sets the gauges that are sampled when scraped rather than kept as things change: live
    /// channel actors, what the daemon holds in memory, and the store's size on disk.
    pub async fn sample_metrics(&self) {
        // The janitor folds channels' reports in batches: fold what waits, so the figures
        // count every channel reported so far.
        let _ = self.inner.janitor.send(crate::janitor::TakeActivity).await;
        let disk_bytes = self.inner.log.size_on_disk();
        if let Err(error) = &disk_bytes {
            tracing::warn!(%error, "could not read the store's size on disk");
        }
        crate::metrics::sample(self.live_channels(), &self.memory(), disk_bytes.ok());
        let (waiting, oldest) = self.inner.task_router.waiting(self.now());
        crate::metrics::sample_task_router(waiting, oldest);
    }

    /// Snapshots every live channel far enough past its latest snapshot, and stops those with
    /// nothing left to publish, as hibernation does: for a clean stop, so that the next start
    /// does not replay every channel's recent events on its first message.
    pub async fn hibernate_all(&self) {
        let actors = self.inner.registry.live_actors();
        let count = actors.len();
        // An actor already stopping answers with an error: it needs nothing more.
        let all = futures_util::future::join_all(
            actors.iter().map(|addr| addr.send(crate::channel::Hibernate)),
        );
        // Snapshots are derived data: a slow channel does not hold a stop up for long.
        match tokio::time::timeout(HIBERNATE_ALL_LIMIT, all).await {
            Ok(_) => tracing::info!(channels = count, "live channels hibernated"),
            Err(_) => tracing::warn!(
                channels = count,
                "not every live channel hibernated in time; those load from older snapshots"
            ),
        }
    }

    /// Stores an inbound message under the enabled Flex Flow that takes it (its channel type and
    /// our address): into the customer's channel or a new one. Returns once it is durable (or,
    /// for a redelivery, once the original is).
    pub async fn inbound(
        &self,
        inbound: Inbound,
    ) -> Result<Result<InboundOutcome, InboundRefusal>, EngineError> {
        let provider = inbound.provider;
        let Some(flow) = self.inner.flows.find_enabled(inbound.channel_type, &inbound.to) else {
            crate::metrics::inbound(provider, crate::metrics::InboundOutcomeKind::Unrouted);
            tracing::warn!(
                channel_type = inbound.channel_type.as_str(),
                "no enabled Flex Flow for an inbound message"
            );
            return Ok(Err(InboundRefusal::Unrouted));
        };
        let answer = self.store_inbound(flow, inbound).await;
        let outcome = crate::metrics::outcome_of(&answer, |stored| stored.duplicate);
        crate::metrics::inbound(provider, outcome);
        Ok(answer?.map_err(InboundRefusal::Rejected))
    }

    async fn store_inbound(
        &self,
        flow: FlowView,
        inbound: Inbound,
    ) -> Result<Result<InboundOutcome, Rejection>, EngineError> {
        let routers = self.inner.routers.get().ok_or(EngineError::Stopping)?;
        let router = &routers[shard(&(flow.sid, &inbound.customer_address), routers.len())];
        let _writing = self.inner.log.writing();
        let at = self.now();
        let routed = match router
            .send(Route { flow, inbound, at, span: tracing::Span::current() })
            .await??
        {
            Ok(routed) => routed,
            Err(rejection) => return Ok(Err(rejection)),
        };
        let outcome = match routed {
            Routed::Stored { channel_sid, message_index, created_channel, ticket } => {
                if let Some(ticket) = ticket {
                    self.inner.log.wait_durable(ticket).await?;
                }
                InboundOutcome { channel_sid, message_index, created_channel, duplicate: false }
            }
            Routed::Duplicate { channel_sid, message_index } => {
                // The original may still be on its way to disk: wait for everything written so far.
                self.inner.log.wait_durable(self.inner.log.ticket()).await?;
                InboundOutcome {
                    channel_sid,
                    message_index,
                    created_channel: false,
                    duplicate: true,
                }
            }
        };
        Ok(Ok(outcome))
    }

    /// Runs commands on a channel as one atomic append and returns once durable.
    pub async fn execute(
        &self,
        channel_sid: Sid,
        commands: Vec<ChannelCommand>,
    ) -> Result<Result<Executed, Rejection>, EngineError> {
        let _writing = self.inner.log.writing();
        let at = self.now();
        let cause = crate::cause::current();
        let execute = || Execute { commands: commands.clone(), at, cause: cause.clone() };
        let executed = match self.inner.registry.ask(channel_sid, None, execute).await?? {
            Ok(executed) => executed,
            Err(rejection) => return Ok(Err(rejection)),
        };
        if let Some(ticket) = executed.ticket {
            self.inner.log.wait_durable(ticket).await?;
        }
        Ok(Ok(executed))
    }

    /// The state of a channel, `None` if it does not exist.
    pub async fn channel(&self, channel_sid: Sid) -> Result<Option<ChannelState>, EngineError> {
        if channel_sid.prefix() != SidPrefix::CHANNEL || self.inner.log.next_seq(channel_sid)? == 0
        {
            return Ok(None);
        }
        self.inner.registry.ask(channel_sid, None, || GetState).await?.map(Some)
    }

    /// Every channel SID, in order.
    pub fn channel_sids(&self) -> Result<Vec<Sid>, EngineError> {
        Ok(self
            .inner
            .log
            .streams()
            .filter(|s| s.as_ref().map_or(true, |s| s.prefix() == SidPrefix::CHANNEL))
            .collect::<Result<_, _>>()?)
    }

    /// Applies providers' reports on outbound messages, each found by the provider's id for it
    /// (Twilio's `SM…`, `wamid.…`, Messenger's `mid`). Returns the ids that match no message of
    /// ours. A report that does not move a status forward records nothing.
    ///
    /// A provider may report before the send's own outcome is recorded (its answer and its first
    /// status callback race), so ids not found at once are looked up again for a moment.
    pub async fn provider_statuses(
        &self,
        reports: Vec<ProviderStatus>,
    ) -> Result<Vec<String>, EngineError> {
        let mut pending = reports;
        for attempt in 0..=STATUS_RETRIES {
            if attempt > 0 {
                tokio::time::sleep(STATUS_RETRY_PAUSE).await;
            }
            let mut unknown = Vec::new();
            for report in pending {
                let found = self.inner.log.lookup(
                    IndexKind::ProviderMessage,
                    None,
                    &report.provider_message_id,
                )?;
                let Some((channel_sid, Some(index))) = found else {
                    unknown.push(report);
                    continue;
                };
                let command = ChannelCommand::RecordDelivery {
                    index,
                    status: report.status,
                    error: report.error,
                };
                if let Err(rejection) = self.execute(channel_sid, vec![command]).await? {
                    tracing::debug!(%channel_sid, index, %rejection, "a delivery report was not applied");
                }
            }
            if unknown.is_empty() {
                return Ok(Vec::new());
            }
            pending = unknown;
        }
        Ok(pending.into_iter().map(|r| r.provider_message_id).collect())
    }

    /// Applies a provider's watermark ("every message sent before `up_to` was delivered/read")
    /// to the channel a customer of `flow` is bound to. Returns whether there was one.
    pub async fn provider_watermark(
        &self,
        flow_sid: Sid,
        customer_address: &str,
        status: DeliveryStatus,
        up_to: Timestamp,
    ) -> Result<bool, EngineError> {
        let bound = self.inner.log.lookup(IndexKind::Binding, Some(flow_sid), customer_address)?;
        let Some((channel_sid, _)) = bound else { return Ok(false) };
        let command = ChannelCommand::RecordWatermark { status, up_to };
        if let Err(rejection) = self.execute(channel_sid, vec![command]).await? {
            tracing::debug!(%channel_sid, %rejection, "a watermark was not applied");
        }
        Ok(true)
    }

    /// Deliveries the outbox gave up on: (channel, sequence, why).
    pub fn dead_letters(&self) -> Result<Vec<(Sid, u64, String)>, EngineError> {
        Ok(self.inner.log.dead_letters(crate::consumer::EXTERNAL_CONSUMER)?)
    }

    /// The channels of a service (of every service with `None`), erased ones left out, in SID
    /// order, without loading any of them.
    pub async fn channel_listings(
        &self,
        service_sid: Option<Sid>,
    ) -> Result<Vec<ChannelListing>, EngineError> {
        Ok(self.inner.janitor.send(ListChannels { service_sid }).await?)
    }

    /// Every open task of every channel, oldest first.
    pub async fn open_tasks(&self) -> Result<Vec<OpenTask>, EngineError> {
        Ok(self.inner.janitor.send(ListOpenTasks).await?)
    }
}

/// Tells what wakes consumers from outside channels (users' changes, Studio executions, the
/// workspaces' event logs) where the dispatcher is.
fn set_dispatchers(
    dispatcher: &Addr<Dispatcher>,
    users: &UserDirectory,
    studio_flows: &StudioFlowDirectory,
    task_router: &crate::taskrouter::TaskRouter,
) -> Result<(), EngineError> {
    users.set_dispatcher(dispatcher.clone().recipient());
    studio_flows.set_dispatcher(dispatcher.clone().recipient());
    task_router.set_event_dispatcher(dispatcher.clone().recipient())
}
