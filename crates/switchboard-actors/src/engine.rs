//! `Engine`: the handle the HTTP layer holds. It owns the log, the actors and the directories,
//! reads the clock once per request, and returns only once what it reports is durable. Callers
//! reach it by concern, through borrowed sub-handles: `channels()`, `messages()`, `clients()`,
//! `media()`, `presence()`, `deliveries()`, `tasks()`, `operations()`, `audit()`, and the
//! directories (`flows()`, `services()`, `users()`, `people()`, `workspaces()`, `task_router()`,
//! `studio_flows()`).

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use actix::prelude::*;
use switchboard_domain::{Rejection, Sid, Timestamp};
use switchboard_routing::task::TaskState;
use switchboard_store::{ChannelLog, EventLog};

use crate::channel::ChannelDeps;
use crate::consumer::{Consumers, Shared, Wake, Wakes};
use crate::directory::{FlowDirectory, ServiceDirectory};
use crate::hub::Hub;
use crate::janitor::{Activity, Janitor};
use crate::registry::Registry;
use crate::router::FlowRouter;
use crate::studio_flows::StudioFlowDirectory;
use crate::users::UserDirectory;
use crate::{Clock, EngineError};

pub use crate::router::Inbound;

mod channels;
mod deliveries;
mod operations;
mod tasks;

pub use channels::Channels;
pub use deliveries::{Deliveries, ProviderStatus};
pub use operations::Operations;
pub use tasks::Tasks;

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
    /// Number of threads that run the log's consumers (beside the channels' arbiters).
    pub consumer_threads: usize,
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
            consumer_threads: 2,
            outbox: crate::OutboxConfig::default(),
            media: crate::MediaConfig::default(),
        }
    }
}

/// How often the timeouts of Studio executions waiting for a reply are looked for.
const STUDIO_TICK: Duration = Duration::from_secs(1);
/// How often the log forgets the caches of users written last (`start_forgetting_user_caches`).
const FORGET_USER_CACHES_EVERY: Duration = Duration::from_secs(5);

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
    /// The log's consumers: their depth is sampled for the operator.
    pub(crate) consumers: Arc<Consumers>,
    pub users: Arc<UserDirectory>,
    pub workspaces: Arc<crate::workspaces::WorkspaceDirectory>,
    pub task_router: Arc<crate::taskrouter::TaskRouter>,
    pub studio_flows: Arc<StudioFlowDirectory>,
    pub people: crate::people::PeopleDirectory,
    pub hub: Arc<Hub>,
    pub(crate) presence: crate::presence::PresenceState,
    janitor: Addr<Janitor>,
    janitor_holds: Arc<crate::janitor::JanitorHolds>,
    pub(crate) routers: std::sync::OnceLock<Vec<Addr<FlowRouter>>>,
    pub(crate) media_config: crate::MediaConfig,
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
    /// `hibernate_after`: the channels' hibernation period, which TaskRouter's waiting tasks
    /// follow.
    fn load(
        log: &Arc<EventLog>,
        clock: &Arc<dyn Clock>,
        hibernate_after: Duration,
    ) -> Result<Directories, EngineError> {
        let workspaces = Arc::new(crate::workspaces::WorkspaceDirectory::load(Arc::clone(log))?);
        let task_router = Arc::new(crate::taskrouter::TaskRouter::load(
            Arc::clone(log),
            Arc::clone(&workspaces),
            clock.now(),
            hibernate_after,
        )?);
        Ok(Directories {
            flows: Arc::new(FlowDirectory::load(Arc::clone(log))?),
            users: Arc::new(UserDirectory::load(Arc::clone(log), hibernate_after)?),
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
        )
        .start_with_feed();
        let hub = Arc::new(Hub::default());
        let Directories { flows, users, services, workspaces, task_router, studio_flows } =
            Directories::load(&log, &clock, config.hibernate_after)?;
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
        let dispatcher = Wakes::start(&consumers, config.consumer_threads);
        set_dispatchers(&dispatcher, &users, &studio_flows, &task_router)?;
        registry.set_deps(Arc::new(ChannelDeps {
            log: Arc::clone(&log),
            hub: Arc::clone(&hub),
            janitor: activity,
            consumers: Arc::clone(&consumers),
            dispatcher: dispatcher.clone(),
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
            consumers: Arc::clone(&consumers),
            users,
            workspaces,
            task_router,
            studio_flows,
            people: crate::people::PeopleDirectory::load(Arc::clone(&log))?,
            log,
            clock,
            registry,
            hub,
            presence: crate::presence::PresenceState::default(),
            janitor,
            janitor_holds,
            routers: std::sync::OnceLock::new(),
            media_config: config.media.clone(),
        });
        let _ = consumers.shared().engine.set(Arc::downgrade(&inner));
        start_routers(&inner, config.router_shards);
        let engine = Engine { inner };
        let out_of_line = engine.resume_channels(&consumers, &dispatcher)?;
        engine.resume_user_webhooks(&dispatcher)?;
        engine.resume_studio_requests(&dispatcher)?;
        engine.start_timers(out_of_line);
        Ok(engine)
    }

    /// What runs on the engine's own timers: task routing's deadlines (after bringing the
    /// channels `out_of_line` with their tasks), Studio's reply timeouts, forgetting the log's
    /// caches of users.
    fn start_timers(&self, out_of_line: Vec<TaskState>) {
        self.start_task_routing(out_of_line);
        self.start_studio_timeouts();
        self.start_forgetting_user_caches();
    }

    /// After a start: tells the janitor about every channel, repairs users' channel lists, and
    /// wakes each consumer whose delivery of a channel stopped short (including one that never
    /// started: a crash right after the append). Returns the tasks in memory whose channel is
    /// out of line with them (a crash between the two changes), to be orchestrated once the
    /// engine runs: asking every task's channel instead woke every channel with an open task at
    /// each start, and kept them all in memory until they hibernated again.
    fn resume_channels(
        &self,
        consumers: &Consumers,
        dispatcher: &Wakes,
    ) -> Result<Vec<TaskState>, EngineError> {
        let log = &self.inner.log;
        let mut tasks_of: HashMap<Sid, Vec<TaskState>> = HashMap::new();
        for task in self.task_router().tasks_in_memory() {
            if let Some(channel) = crate::flex_orchestration::channel_of(&task) {
                tasks_of.entry(channel).or_default().push(task);
            }
        }
        let mut out_of_line = Vec::new();
        for sid in self.channels().sids()? {
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
            let tasks = tasks_of.remove(&sid).unwrap_or_default();
            out_of_line.extend(
                tasks
                    .into_iter()
                    .filter(|task| crate::flex_orchestration::out_of_line(self, task, state)),
            );
        }
        // A task whose channel is not in the log has nothing to be brought in line with.
        Ok(out_of_line)
    }

    /// Wakes the delivery of users' changes to their service's post-event webhook where it
    /// stopped short or never began.
    fn resume_user_webhooks(&self, dispatcher: &Wakes) -> Result<(), EngineError> {
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
    fn resume_studio_requests(&self, dispatcher: &Wakes) -> Result<(), EngineError> {
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
    /// this catches the last ones before a quiet spell. Lets go of the users idle for the
    /// hibernation period too (`UserDirectory::let_go_idle`).
    fn start_forgetting_user_caches(&self) {
        let weak = Arc::downgrade(&self.inner);
        actix::spawn(async move {
            let mut interval = tokio::time::interval(FORGET_USER_CACHES_EVERY);
            loop {
                interval.tick().await;
                let Some(inner) = weak.upgrade() else { return };
                inner.users.forget_written_caches();
                inner.users.let_go_idle(inner.clock.now());
            }
        });
    }

    pub(crate) fn log(&self) -> &Arc<EventLog> {
        &self.inner.log
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

    /// Brings the channels `out_of_line` with their tasks in line once (what a crash left
    /// undone), then fires the router's deadlines every tick while the engine lives.
    fn start_task_routing(&self, out_of_line: Vec<TaskState>) {
        let weak = Arc::downgrade(&self.inner);
        actix::spawn(async move {
            if let Some(inner) = weak.upgrade() {
                let engine = Engine { inner };
                if !out_of_line.is_empty() {
                    tracing::info!(
                        tasks = out_of_line.len(),
                        "bringing in line the channels a crash left out of line with their tasks"
                    );
                }
                for task in out_of_line {
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
            if crate::flex_orchestration::may_change_its_channel(&task) {
                crate::flex_orchestration::orchestrate(self, &task).await?;
            }
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

    pub fn users(&self) -> &UserDirectory {
        &self.inner.users
    }

    pub fn hub(&self) -> &Arc<Hub> {
        &self.inner.hub
    }

    pub fn now(&self) -> Timestamp {
        self.inner.clock.now()
    }

    pub(crate) fn clock(&self) -> &Arc<dyn Clock> {
        &self.inner.clock
    }
}

/// Tells what wakes consumers from outside channels (users' changes, Studio executions, the
/// workspaces' event logs) where the dispatcher is.
fn set_dispatchers(
    dispatcher: &Wakes,
    users: &UserDirectory,
    studio_flows: &StudioFlowDirectory,
    task_router: &crate::taskrouter::TaskRouter,
) -> Result<(), EngineError> {
    users.set_dispatcher(dispatcher.clone());
    studio_flows.set_dispatcher(dispatcher.clone());
    task_router.set_event_dispatcher(dispatcher.clone())
}
