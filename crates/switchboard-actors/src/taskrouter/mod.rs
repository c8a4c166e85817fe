//! TaskRouter's workers, tasks and reservations, and the assignment of one to the other. Workers
//! and tasks are streams of their own (`WK`, `WT`), run by `Streams`; every change and every
//! matching decision goes through one lock (`Core`), so a worker's slots are never given twice,
//! and is appended before the lock is released; callers wait for durability after it. Timers
//! (reservation timeouts, step ends, TTLs) are deadlines in the tasks' states, fired by a ticker
//! that reads the clock, so a restart keeps them.
//!
//! Open tasks are kept in memory, but for those waiting untouched for the hibernation period
//! (idle, `core.rs`), of which only their place in matching is; a finished one is kept for five
//! minutes (listed), then only in the log (fetched by SID).

mod core;
mod event_log;
mod feed;
mod routing;

pub use self::feed::{Feed, FeedItem, Subject, WorkerSubscription};

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use switchboard_domain::Recorded;
use switchboard_domain::{Sid, SidPrefix, Timestamp};
use switchboard_routing::event_log::AttributeHistory;
use switchboard_routing::task::TaskEvent;
use switchboard_routing::task::{
    AssignmentStatus, TaskCommand, TaskRejection, TaskState, DEFAULT_TIMEOUT_SECS,
};
use switchboard_routing::worker::{
    Activity, WorkerChannel, WorkerCommand, WorkerRejection, WorkerState, DEFAULT_CAPACITY,
};
use switchboard_routing::workspace::WorkspaceState;
use switchboard_store::{EventLog, ReplayRecord, StoreError};

use self::core::{Core, Parts};
use self::event_log::EventLogs;
pub use self::event_log::{EventQuery, LoggedRouterEvent};
use self::routing::{Placement, Rules};
use crate::ids::new_sid;
use crate::streams::Streams;
use crate::workspaces::WorkspaceDirectory;
use crate::EngineError;
use switchboard_routing::events::{task_events as map_task, worker_events as map_worker};

/// Why the router refused a request; the HTTP layer gives Twilio's status and code.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RouterRefusal {
    /// The workspace, worker, task or reservation is not there.
    #[error("not found")]
    NotFound,
    #[error("{0}")]
    Invalid(String),
    #[error(transparent)]
    Worker(#[from] WorkerRejection),
    #[error(transparent)]
    Task(#[from] TaskRejection),
    /// `If-Match` named another version of the task.
    #[error("the task's version is {current}, not the one given in If-Match")]
    VersionMismatch { current: u64 },
}

/// A request's outcome.
pub type Routed<T> = Result<Result<T, RouterRefusal>, EngineError>;

/// A worker to create.
#[derive(Debug, Clone)]
pub struct NewWorker {
    pub friendly_name: String,
    pub attributes: String,
    /// The workspace's default activity when `None`.
    pub activity_sid: Option<Sid>,
}

/// A worker's update: what is `Some` changes.
#[derive(Debug, Clone, Default)]
pub struct WorkerChanges {
    pub friendly_name: Option<String>,
    pub attributes: Option<String>,
    pub activity_sid: Option<Sid>,
    pub reject_pending_reservations: bool,
}

/// A task to create.
#[derive(Debug, Clone)]
pub struct NewTask {
    /// The task's SID when the caller has one (a channel's linked task); a task of that SID
    /// that exists already is answered as it is.
    pub task_sid: Option<Sid>,
    /// The workspace's only workflow when `None`.
    pub workflow_sid: Option<Sid>,
    /// A task channel's unique name or SID; `default` when `None`.
    pub task_channel: Option<String>,
    pub attributes: String,
    pub priority: Option<u32>,
    pub timeout_secs: Option<u32>,
}

/// A task's update: what is `Some` changes, in this order.
#[derive(Debug, Clone, Default)]
pub struct TaskChanges {
    pub if_match: Option<u64>,
    pub attributes: Option<String>,
    pub priority: Option<u32>,
    pub assignment_status: Option<AssignmentStatus>,
    pub reason: Option<String>,
}

/// What a worker (or the API for it) answers to a reservation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReservationAnswer {
    Accepted,
    Rejected,
    Wrapping,
    Completed,
}

#[derive(Debug)]
pub struct TaskRouter {
    workers: Streams<WorkerState>,
    tasks: Streams<TaskState>,
    workspaces: Arc<WorkspaceDirectory>,
    /// Each workspace's event log, appended with the changes it records.
    event_logs: EventLogs,
    core: Mutex<Core>,
    feed: Feed,
}

/// What a change under the lock wrote: the appends to wait for, the workers' feed batch to
/// tell once they are durable, and the event logs to wake delivery of.
#[derive(Debug)]
struct Written {
    /// The ticket of the lock's group (`None`: nothing was appended).
    ticket: Option<switchboard_store::FlushTicket>,
    batch: Option<u64>,
    appended: event_log::Appended,
}

/// Why an open task is ended when its channel's content is erased.
pub const ERASED_REASON: &str = "the channel's content was erased";

/// The activity a worker whose sockets all closed is set to, after the grace.
pub const OFFLINE_ACTIVITY: &str = "Offline";

/// How often due deadlines are looked for.
const TICK: Duration = Duration::from_millis(250);

/// An open task as a supervisor's overview shows it ([`TaskRouter::task_summaries`]).
#[derive(Debug, Clone, PartialEq)]
pub struct TaskSummary {
    pub sid: Sid,
    pub status: AssignmentStatus,
    pub queue_sid: Option<Sid>,
    /// When it entered its queue (its creation if that is unknown).
    pub queue_entered: Option<Timestamp>,
    pub date_created: Timestamp,
    pub attributes: String,
    /// The worker whose reservation holds it (pending or accepted).
    pub holder: Option<Sid>,
}

impl TaskSummary {
    /// A held task's summary (`None` for a state that has no SID yet).
    pub fn of_state(task: &TaskState) -> Option<TaskSummary> {
        Some(TaskSummary {
            sid: task.sid?,
            status: task.assignment_status,
            queue_sid: task.route.as_ref().map(|route| route.queue_sid),
            queue_entered: task.task_queue_entered_date,
            date_created: task.date_created,
            attributes: task.attributes.clone(),
            holder: task.holding_reservation().map(|r| r.worker_sid),
        })
    }
}

/// A task of a workspace's list before its page is cut ([`TaskRouter::task_list`]): what orders
/// and filters the list, held or idle (pending, waiting in its queue), its state read for the
/// page only ([`TaskRouter::listed_state`]).
#[derive(Debug, Clone)]
pub enum ListedTask {
    /// In memory: what orders and filters it, its state read for the page only (a list of a
    /// busy workspace does not copy every held task's state to show fifty).
    Held {
        sid: Sid,
        date_created: Timestamp,
        assignment_status: AssignmentStatus,
        workflow_sid: Option<Sid>,
        queue_sid: Option<Sid>,
    },
    Idle {
        sid: Sid,
        date_created: Timestamp,
        workflow_sid: Sid,
        queue_sid: Option<Sid>,
    },
}

impl ListedTask {
    /// Where it is in the list: oldest created first.
    pub fn order(&self) -> (Timestamp, Option<Sid>) {
        match self {
            ListedTask::Held { sid, date_created, .. }
            | ListedTask::Idle { sid, date_created, .. } => (*date_created, Some(*sid)),
        }
    }

    pub fn assignment_status(&self) -> AssignmentStatus {
        match self {
            ListedTask::Held { assignment_status, .. } => *assignment_status,
            ListedTask::Idle { .. } => AssignmentStatus::Pending,
        }
    }

    pub fn workflow_sid(&self) -> Option<Sid> {
        match self {
            ListedTask::Held { workflow_sid, .. } => *workflow_sid,
            ListedTask::Idle { workflow_sid, .. } => Some(*workflow_sid),
        }
    }

    /// The queue it waits or waited in.
    pub fn queue_sid(&self) -> Option<Sid> {
        match self {
            ListedTask::Held { queue_sid, .. } | ListedTask::Idle { queue_sid, .. } => *queue_sid,
        }
    }
}

impl TaskRouter {
    /// Loads the workers and the open tasks, and rebuilds matching from them.
    /// A waiting task untouched for `hibernate_after` leaves memory (`core.rs`).
    pub fn load(
        log: Arc<EventLog>,
        workspaces: Arc<WorkspaceDirectory>,
        now: Timestamp,
        hibernate_after: Duration,
    ) -> Result<TaskRouter, EngineError> {
        let workers = Streams::load(Arc::clone(&log))?;
        let event_logs = EventLogs::load(Arc::clone(&log))?;
        let tasks = Streams::load_kept(log, crate::memory::task, |task: &TaskState| {
            task.is_live() && !task.assignment_status.is_final()
        })?
        .forgetting_caches();
        let router = TaskRouter {
            workers,
            tasks,
            workspaces,
            event_logs,
            core: Mutex::new(Core::hibernating_after(hibernate_after)),
            feed: Feed::default(),
        };
        router.locked(|core, parts| core.rebuild(parts, now))?;
        Ok(router)
    }

    /// How often the engine fires due deadlines ([`TaskRouter::fire_due`]).
    pub const TICK: Duration = TICK;

    /// Carries out every deadline due at `now`, forgets finished tasks kept long enough and
    /// makes idle the tasks waiting untouched for the period; returns the tasks whose deadline
    /// fired, as they are after it. First has the log forget its caches of the tasks written
    /// since the last tick whose heads are folded.
    pub async fn fire_due(&self, now: Timestamp) -> Result<Vec<TaskState>, EngineError> {
        let mut fired = Vec::new();
        let appended = self.locked_tickets(|core, parts| {
            // Under the lock, before this tick appends anything: every task is written under
            // it, so no change of a task is half made while its head and key are dropped.
            parts.tasks.forget_written();
            for sid in core.due(now) {
                core.fire(parts, sid, now)?;
                fired.push(sid);
            }
            for sid in core.finished_long_enough(now) {
                parts.tasks.forget(sid);
            }
            core.hibernate_idle(parts, now);
            Ok(())
        })?;
        self.durable(appended).await?;
        // A task whose step's end changed nothing may be idle: read from the log.
        let fired = fired.iter().map(|sid| self.tasks.fetch(*sid));
        Ok(fired.collect::<Result<Vec<_>, _>>()?.into_iter().flatten().collect())
    }

    /// The identity a worker has in chat channels: its `contact_uri` attribute without
    /// `client:` (as Flex sets it), else its friendly name.
    pub fn worker_identity(&self, workspace: Sid, sid: Sid) -> Option<String> {
        let worker =
            self.worker(workspace, sid).or_else(|| self.workers.read().get(&sid).cloned())?;
        let attributes: serde_json::Value = serde_json::from_str(&worker.attributes).ok()?;
        let identity = match attributes.get("contact_uri").and_then(|v| v.as_str()) {
            Some(uri) => uri.strip_prefix("client:").unwrap_or(uri).to_owned(),
            None => worker.friendly_name.clone(),
        };
        Some(identity).filter(|i| !i.is_empty())
    }

    /// How many tasks wait for a worker (pending), in every workspace, and the oldest one's age
    /// in seconds at `now` (0 when none waits): a walk of the open tasks, for the metrics.
    pub fn waiting(&self, now: Timestamp) -> (usize, u64) {
        // The router's lock first, as every change takes it: no task turns idle or is woken
        // while the two are read.
        let core = self.lock();
        let tasks = self.tasks.read();
        let waiting = tasks.values().filter(|t| t.is_live() && t.waiting_view().is_some());
        let held = waiting.map(|t| t.age_secs(now));
        let idle = core.idle().iter().filter(|(sid, _)| tasks.get(sid).is_none());
        let idle = idle.map(|(_, idle)| now.millis_since(idle.age_base) / 1000);
        held.chain(idle).fold((0, 0), |(count, oldest), age| (count + 1, oldest.max(age)))
    }

    /// The bytes the router holds for its tasks (`memory.rs`): their states and what matching
    /// and the deadlines keep of them.
    pub(crate) fn tasks_footprint(&self) -> usize {
        self.tasks.held() + self.lock().tasks_footprint()
    }

    /// How many times a task's state was read from the log without being kept: an idle or
    /// long finished task fetched or listed, an idle task's deadline fired. Matching reads
    /// none (`core.rs`).
    pub fn tasks_read_from_log(&self) -> usize {
        self.tasks.reads_from_log()
    }

    /// Every task in memory: the open ones and those finished lately, but the idle ones.
    pub fn tasks_in_memory(&self) -> Vec<TaskState> {
        self.tasks.read().values().cloned().collect()
    }

    /// A workspace's state (its settings and parts), deleted ones too.
    pub fn workspace_state(&self, workspace: Sid) -> Option<WorkspaceState> {
        self.workspaces.get(workspace)
    }

    /// The workspace's events that `query` admits, oldest first, past the first `skip`: at
    /// most `take`, and whether there are more.
    pub fn events(
        &self,
        workspace: Sid,
        query: &EventQuery,
        skip: usize,
        take: usize,
    ) -> Result<(Vec<LoggedRouterEvent>, bool), EngineError> {
        let (mut events, more) = self.event_logs.list(workspace, query, skip, take)?;
        self.show_task_attributes(events.iter_mut().map(|e| &mut e.record))?;
        Ok((events, more))
    }

    /// One event of the workspace, by SID.
    pub fn event(
        &self,
        workspace: Sid,
        sid: Sid,
    ) -> Result<Option<LoggedRouterEvent>, EngineError> {
        let mut found = self.event_logs.fetch(workspace, sid)?;
        self.show_task_attributes(found.iter_mut().map(|e| &mut e.record))?;
        Ok(found)
    }

    /// Where the workspace's events from `at` on begin in its log.
    pub(crate) fn first_event_at_or_after(
        &self,
        workspace: Sid,
        at: Timestamp,
    ) -> Result<u64, switchboard_store::StoreError> {
        self.event_logs.first_at_or_after(workspace, at)
    }

    /// Where `EventCallbackUrl` delivery is woken, and wakes it for every workspace log whose
    /// delivery stopped short (a start).
    pub(crate) fn set_event_dispatcher(
        &self,
        dispatcher: crate::consumer::Wakes,
    ) -> Result<(), EngineError> {
        self.event_logs.set_dispatcher(dispatcher);
        self.event_logs.resume(&self.workspaces)
    }

    /// Every live workspace's SID.
    pub fn workspace_sids(&self) -> Vec<Sid> {
        self.workspaces.list().iter().filter_map(|w| w.sid).collect()
    }

    pub fn worker(&self, workspace: Sid, sid: Sid) -> Option<WorkerState> {
        let workers = self.workers.read();
        workers.get(&sid).filter(|w| w.is_live() && w.workspace_sid == Some(workspace)).cloned()
    }

    /// The workspace's live workers, oldest first.
    pub fn workers(&self, workspace: Sid) -> Vec<WorkerState> {
        let mut all: Vec<WorkerState> = self
            .workers
            .read()
            .values()
            .filter(|w| w.is_live() && w.workspace_sid == Some(workspace))
            .cloned()
            .collect();
        all.sort_by_key(|w| (w.date_created, w.sid));
        all
    }

    /// A task of the workspace, from memory or the log.
    pub fn task(&self, workspace: Sid, sid: Sid) -> Result<Option<TaskState>, EngineError> {
        let task = self.tasks.fetch(sid)?;
        Ok(task.filter(|t| t.is_live() && t.workspace_sid == Some(workspace)))
    }

    /// The workspace's open tasks and those finished in the last five minutes, oldest first:
    /// the idle ones read from the log.
    pub fn tasks(&self, workspace: Sid) -> Result<Vec<TaskState>, EngineError> {
        let listed = self.task_list(workspace);
        let states = listed.into_iter().map(|task| self.listed_state(task));
        Ok(states.collect::<Result<Vec<_>, _>>()?.into_iter().flatten().collect())
    }

    /// [`TaskRouter::tasks`] before any is read from the log: the states memory holds, and what
    /// orders and filters an idle task, so a list reads the idle tasks of its page only
    /// ([`TaskRouter::listed_state`]).
    pub fn task_list(&self, workspace: Sid) -> Vec<ListedTask> {
        let workflows = self.workflows_of(workspace);
        // Under the router's lock: no task turns idle or is woken between the two reads.
        let core = self.lock();
        let tasks = self.tasks.read();
        let mine = |t: &&TaskState| t.is_live() && t.workspace_sid == Some(workspace);
        let held = tasks.values().filter(mine).filter_map(|t| {
            Some(ListedTask::Held {
                sid: t.sid?,
                date_created: t.date_created,
                assignment_status: t.assignment_status,
                workflow_sid: t.workflow_sid,
                queue_sid: t.route.map(|r| r.queue_sid),
            })
        });
        let idle = core.idle_summarized().filter(|idle| tasks.get(&idle.sid).is_none());
        let idle = idle.filter_map(|idle| {
            let workflow_sid = idle.workflow_sid.filter(|w| workflows.contains(w))?;
            let (sid, date_created) = (idle.sid, idle.date_created);
            Some(ListedTask::Idle { sid, date_created, workflow_sid, queue_sid: idle.queue_sid() })
        });
        let mut all: Vec<ListedTask> = held.chain(idle).collect();
        all.sort_by_key(ListedTask::order);
        all
    }

    /// The workspace's open tasks as a supervisor's overview shows them, oldest first, from
    /// memory alone: a held task from its state, an idle one from what the router keeps of it.
    /// Every supervisor's console polls the overview, so it must not read (and decrypt) each
    /// waiting customer's task from the log as [`TaskRouter::tasks`] does.
    pub fn task_summaries(&self, workspace: Sid) -> Vec<TaskSummary> {
        let workflows = self.workflows_of(workspace);
        // Under the router's lock, as `task_list`: no task turns idle or is woken meanwhile.
        let core = self.lock();
        let tasks = self.tasks.read();
        let open = |t: &&TaskState| {
            t.is_live() && t.workspace_sid == Some(workspace) && !t.assignment_status.is_final()
        };
        let held = tasks.values().filter(open).filter_map(TaskSummary::of_state);
        let idle = core.idle_summarized().filter(|idle| tasks.get(&idle.sid).is_none());
        let idle = idle.filter(|idle| idle.workflow_sid.is_some_and(|w| workflows.contains(&w)));
        let idle = idle.map(|idle| TaskSummary {
            sid: idle.sid,
            status: AssignmentStatus::Pending,
            queue_sid: idle.queue_sid(),
            queue_entered: idle.queue.map(|(_, entered)| entered),
            date_created: idle.date_created,
            attributes: idle.attributes.to_owned(),
            holder: None,
        });
        let mut all: Vec<TaskSummary> = held.chain(idle).collect();
        all.sort_by_key(|t| (t.date_created, t.sid));
        all
    }

    /// The workflows of `workspace`: an idle task's workflow says its workspace.
    fn workflows_of(&self, workspace: Sid) -> std::collections::BTreeSet<Sid> {
        let workflows = self.workspaces.with(workspace, |w| w.workflows.keys().copied().collect());
        workflows.unwrap_or_default()
    }

    /// A listed task's state, as it is now: from memory for a held one, from the log for an idle
    /// one (or one that turned idle since); `None` if it is no longer live.
    pub fn listed_state(&self, task: ListedTask) -> Result<Option<TaskState>, EngineError> {
        let (ListedTask::Held { sid, .. } | ListedTask::Idle { sid, .. }) = task;
        Ok(self.tasks.fetch(sid)?.filter(TaskState::is_live))
    }

    /// The workspace's tasks in memory that were offered to someone (have reservations), oldest
    /// first: an idle task never was, so none is read from the log.
    pub fn tasks_offered(&self, workspace: Sid) -> Vec<TaskState> {
        let offered = |t: &&TaskState| {
            t.is_live() && t.workspace_sid == Some(workspace) && !t.reservations.is_empty()
        };
        let mut all: Vec<TaskState> = self.tasks.read().values().filter(offered).cloned().collect();
        all.sort_by_key(|t| (t.date_created, t.sid));
        all
    }

    /// How many slots worker `sid` holds (pending, accepted or wrapping reservations).
    pub fn held_by(&self, sid: Sid) -> u32 {
        self.lock().matcher.held_by(sid)
    }

    /// How many slots of task channel `channel` worker `sid` holds.
    pub fn held_on(&self, sid: Sid, channel: Sid) -> u32 {
        self.lock().matcher.held(sid, channel)
    }

    pub async fn create_worker(
        &self,
        workspace: Sid,
        account: Sid,
        new: NewWorker,
        at: Timestamp,
    ) -> Routed<WorkerState> {
        let Some(config) = self.workspaces.get(workspace) else {
            return Ok(Err(RouterRefusal::NotFound));
        };
        let activity = match new.activity_sid.or_else(|| default_activity(&config)) {
            Some(sid) => match activity_of(&config, sid) {
                Some(activity) => activity,
                None => {
                    return Ok(Err(invalid(format!(
                        "ActivitySid {sid} is not an activity of the workspace"
                    ))))
                }
            },
            None => return Ok(Err(invalid("the workspace has no default activity".into()))),
        };
        let channels = config
            .task_channels_in_order()
            .into_iter()
            .map(|k| WorkerChannel {
                sid: new_sid(SidPrefix::WORKER_CHANNEL),
                task_channel_sid: k.record.sid,
                task_channel_unique_name: k.record.unique_name.clone(),
                configured_capacity: DEFAULT_CAPACITY,
                available: true,
            })
            .collect();
        let sid = new_sid(SidPrefix::WORKER);
        self.change(|core, parts| {
            if name_taken(parts, workspace, &new.friendly_name, None) {
                return Ok(Err(WorkerRejection::DuplicateFriendlyName.into()));
            }
            let command = WorkerCommand::Create {
                worker_sid: sid,
                account_sid: account,
                workspace_sid: workspace,
                friendly_name: new.friendly_name,
                attributes: new.attributes,
                activity,
                channels,
                at,
            };
            let worker = match parts.worker(sid, command, at)? {
                Ok(worker) => worker,
                Err(rejection) => return Ok(Err(rejection.into())),
            };
            core.worker_changed(parts, &worker, at)?;
            Ok(Ok(worker))
        })
        .await
    }

    pub async fn update_worker(
        &self,
        workspace: Sid,
        sid: Sid,
        changes: WorkerChanges,
        at: Timestamp,
    ) -> Routed<WorkerState> {
        let Some(config) = self.workspaces.get(workspace) else {
            return Ok(Err(RouterRefusal::NotFound));
        };
        let activity = match changes.activity_sid {
            None => None,
            Some(activity) => match activity_of(&config, activity) {
                Some(activity) => Some(activity),
                None => {
                    return Ok(Err(invalid(format!(
                        "ActivitySid {activity} is not an activity of the workspace"
                    ))))
                }
            },
        };
        self.change(|core, parts| {
            if self.worker(workspace, sid).is_none() {
                return Ok(Err(RouterRefusal::NotFound));
            }
            if let Some(name) = &changes.friendly_name {
                if name_taken(parts, workspace, name, Some(sid)) {
                    return Ok(Err(WorkerRejection::DuplicateFriendlyName.into()));
                }
            }
            let mut commands = vec![WorkerCommand::Update {
                friendly_name: changes.friendly_name,
                attributes: changes.attributes,
            }];
            let unavailable = activity.as_ref().is_some_and(|a| !a.available);
            commands.extend(activity.map(|activity| WorkerCommand::SetActivity {
                activity,
                at,
                reject_pending_reservations: changes.reject_pending_reservations,
            }));
            let worker = match parts.workers_run(sid, commands, at)? {
                Ok(worker) => worker,
                Err(rejection) => return Ok(Err(rejection.into())),
            };
            if unavailable && changes.reject_pending_reservations {
                for (task, reservation) in core.pending_of(parts, sid) {
                    if let Ok(after) = parts.task(
                        task,
                        TaskCommand::Reject { reservation_sid: reservation },
                        at,
                    )? {
                        core.task_changed(parts, &after, at)?;
                    }
                }
            }
            core.worker_changed(parts, &worker, at)?;
            Ok(Ok(worker))
        })
        .await
    }

    /// Sets a worker's capacity or availability on one task channel (by SID or unique name).
    pub async fn update_worker_channel(
        &self,
        workspace: Sid,
        worker: Sid,
        task_channel: Sid,
        capacity: Option<u32>,
        available: Option<bool>,
        at: Timestamp,
    ) -> Routed<WorkerState> {
        self.change(|core, parts| {
            if self.worker(workspace, worker).is_none() {
                return Ok(Err(RouterRefusal::NotFound));
            }
            let command =
                WorkerCommand::SetChannel { task_channel_sid: task_channel, capacity, available };
            let state = match parts.worker(worker, command, at)? {
                Ok(state) => state,
                Err(rejection) => return Ok(Err(rejection.into())),
            };
            core.worker_changed(parts, &state, at)?;
            Ok(Ok(state))
        })
        .await
    }

    pub async fn delete_worker(&self, workspace: Sid, sid: Sid, at: Timestamp) -> Routed<()> {
        self.change(|core, parts| {
            let Some(_) = self.worker(workspace, sid) else {
                return Ok(Err(RouterRefusal::NotFound));
            };
            let held_tasks = core.matcher.held_by(sid);
            let state = match parts.worker(sid, WorkerCommand::Delete { held_tasks }, at)? {
                Ok(state) => state,
                Err(rejection) => return Ok(Err(rejection.into())),
            };
            core.worker_changed(parts, &state, at)?;
            Ok(Ok(()))
        })
        .await
    }

    pub async fn create_task(
        &self,
        workspace: Sid,
        account: Sid,
        new: NewTask,
        at: Timestamp,
    ) -> Routed<TaskState> {
        let Some(config) = self.workspaces.get(workspace) else {
            return Ok(Err(RouterRefusal::NotFound));
        };
        let workflow = match new.workflow_sid {
            Some(sid) if config.workflow(sid).is_some() => sid,
            Some(sid) => return Ok(Err(invalid(format!("WorkflowSid {sid} is not a workflow of the workspace")))),
            None => match config.workflows.keys().collect::<Vec<_>>().as_slice() {
                [only] => **only,
                _ => return Ok(Err(invalid("WorkflowSid is required when the workspace has more than one workflow (or none)".into()))),
            },
        };
        let channel_name = new.task_channel.as_deref().unwrap_or("default");
        let Some(channel) = config.task_channel_named(channel_name).cloned() else {
            return Ok(Err(invalid(format!(
                "TaskChannel {channel_name:?} is not a task channel of the workspace"
            ))));
        };
        if let Some(Some(existing)) =
            new.task_sid.map(|sid| self.task(workspace, sid)).transpose()?
        {
            return Ok(Ok(existing));
        }
        let sid = new.task_sid.unwrap_or_else(|| new_sid(SidPrefix::TASK));
        self.change(|core, parts| {
            let rules = core.rules(parts, workspace);
            let placement = rules.place(workflow, &routing::attributes(&new.attributes), at, at);
            let create = TaskCommand::Create {
                task_sid: sid,
                account_sid: account,
                workspace_sid: workspace,
                workflow_sid: workflow,
                task_channel_sid: channel.sid,
                task_channel_unique_name: channel.unique_name.clone(),
                attributes: new.attributes,
                priority: new.priority.unwrap_or(0),
                timeout_secs: new.timeout_secs.unwrap_or(DEFAULT_TIMEOUT_SECS),
                at,
            };
            let then = match placement {
                Placement::Queue(route) => TaskCommand::EnterQueue { route, at },
                Placement::Cancel(reason) => TaskCommand::Cancel { reason: reason.to_owned() },
            };
            let task = match parts.tasks_run(sid, vec![create, then], at)? {
                Ok(task) => task,
                Err(rejection) => return Ok(Err(rejection.into())),
            };
            core.entered(parts, &task, at)?;
            Ok(Ok(parts.tasks.read().get(&sid).cloned().unwrap_or(task)))
        })
        .await
    }

    pub async fn update_task(
        &self,
        workspace: Sid,
        sid: Sid,
        changes: TaskChanges,
        at: Timestamp,
    ) -> Routed<TaskState> {
        let current = match self.task(workspace, sid)? {
            Some(task) => task,
            None => return Ok(Err(RouterRefusal::NotFound)),
        };
        self.change(|core, parts| {
            let rules = core.rules(parts, workspace);
            let now_state = parts.tasks.fetch(sid)?.unwrap_or(current);
            if changes.if_match.is_some_and(|v| v != now_state.version) {
                return Ok(Err(RouterRefusal::VersionMismatch { current: now_state.version }));
            }
            let commands = task_commands(&now_state, &changes, &rules, at);
            let task = match parts.tasks_run(sid, commands, at)? {
                Ok(task) => task,
                Err(rejection) => return Ok(Err(rejection.into())),
            };
            if task.queue_entry != now_state.queue_entry {
                core.entered(parts, &task, at)?; // re-routed by its new attributes
            } else {
                core.task_changed(parts, &task, at)?;
            }
            Ok(Ok(parts.tasks.read().get(&sid).cloned().unwrap_or(task)))
        })
        .await
    }

    /// Erases task `sid` with its chat channel's content: an open task is ended first (canceled,
    /// or completed when an agent has it: the conversation is gone), its attributes are erased,
    /// then its stream is shredded (`switchboard_store::shred_task`): what it recorded of the
    /// customer can never be read again, and the task keeps its state without it. The events
    /// of the workspace's log read the task's attributes from its stream, so they show `{}`
    /// too. Done once; a task that never existed is `NotFound`.
    pub async fn erase_task_attributes(&self, sid: Sid, at: Timestamp) -> Routed<()> {
        let erased = self
            .change(|core, parts| {
                let Some(task) = parts.tasks.fetch(sid)? else {
                    return Ok(Err(RouterRefusal::NotFound));
                };
                let reason = ERASED_REASON.to_owned();
                let mut commands = match task.assignment_status {
                    _ if !task.is_live() => Vec::new(),
                    AssignmentStatus::Pending | AssignmentStatus::Reserved => {
                        vec![TaskCommand::Cancel { reason }]
                    }
                    AssignmentStatus::Assigned | AssignmentStatus::Wrapping => {
                        vec![TaskCommand::Complete { reason }]
                    }
                    AssignmentStatus::Completed | AssignmentStatus::Canceled => Vec::new(),
                };
                commands.push(TaskCommand::EraseAttributes);
                let task = match parts.tasks_run(sid, commands, at)? {
                    Ok(task) => task,
                    Err(rejection) => return Ok(Err(rejection.into())),
                };
                core.task_changed(parts, &task, at)?;
                Ok(Ok(()))
            })
            .await?;
        if erased.is_err() {
            return Ok(erased);
        }
        let ticket = {
            // Under the lock: no change of the task comes in between.
            let _core = self.lock();
            let Some(task) = self.tasks.fetch(sid)? else { return Ok(Ok(())) };
            let kept = Box::new(task.without_customer_data());
            let marker = Recorded::new(at, TaskEvent::TaskShredded { kept });
            match switchboard_store::shred_task(self.tasks.log(), sid, &marker) {
                Ok(outcome) => {
                    // Read again from the log, as the marker says it is.
                    self.tasks.forget(sid);
                    outcome.ticket
                }
                Err(StoreError::Shredded(_)) => return Ok(Ok(())), // done before
                Err(error) => return Err(error.into()),
            }
        };
        self.tasks.log().wait_durable(ticket).await?;
        Ok(Ok(()))
    }

    /// Puts in each record the task's attributes as they were at its event, read from the
    /// task's stream (the log keeps no copy: see `EventRecord::keeping_task_attributes_apart`),
    /// `{}` once erased; where every read of the events (the Events resource,
    /// `EventCallbackUrl`) goes through.
    pub(crate) fn show_task_attributes<'a>(
        &self,
        records: impl IntoIterator<Item = &'a mut switchboard_routing::event_log::EventRecord>,
    ) -> Result<(), EngineError> {
        let mut histories: BTreeMap<Sid, AttributeHistory> = BTreeMap::new();
        for record in records {
            let Some(task) = record.get("TaskSid").and_then(|t| t.parse::<Sid>().ok()) else {
                continue;
            };
            let history = match histories.entry(task) {
                std::collections::btree_map::Entry::Occupied(known) => known.into_mut(),
                std::collections::btree_map::Entry::Vacant(new) => {
                    new.insert(self.attribute_history(task)?)
                }
            };
            record.show_task_attributes(history);
        }
        Ok(())
    }

    /// Task `sid`'s attributes through its stream (what a shredded stream no longer says reads
    /// as erased).
    fn attribute_history(&self, sid: Sid) -> Result<AttributeHistory, EngineError> {
        let mut history = AttributeHistory::default();
        for item in self.tasks.log().read::<Recorded<TaskEvent>>(sid, 0) {
            match item? {
                ReplayRecord::Event { seq, event, .. } => history.record(seq, &event.event),
                ReplayRecord::Shredded { .. } => {}
            }
        }
        Ok(history)
    }

    pub async fn delete_task(&self, workspace: Sid, sid: Sid, at: Timestamp) -> Routed<()> {
        if self.task(workspace, sid)?.is_none() {
            return Ok(Err(RouterRefusal::NotFound));
        }
        self.change(|core, parts| {
            let task = match parts.task(sid, TaskCommand::Delete, at)? {
                Ok(task) => task,
                Err(rejection) => return Ok(Err(rejection.into())),
            };
            core.task_changed(parts, &task, at)?;
            Ok(Ok(()))
        })
        .await
    }

    /// Records that an instruction for pending reservation `reservation` of task `task` could not
    /// be carried out (`reservation.failed`, with `reason`); the reservation stays pending.
    pub async fn fail_reservation(
        &self,
        workspace: Sid,
        task: Sid,
        reservation: Sid,
        reason: String,
        at: Timestamp,
    ) -> Routed<()> {
        if self.task(workspace, task)?.is_none() {
            return Ok(Err(RouterRefusal::NotFound));
        }
        self.change(|_, parts| {
            let command = TaskCommand::FailReservation { reservation_sid: reservation, reason };
            Ok(parts.task(task, command, at)?.map(drop).map_err(RouterRefusal::from))
        })
        .await
    }

    /// The live feed of workers' sockets.
    pub fn feed(&self) -> &Feed {
        &self.feed
    }

    /// What worker `worker` of `workspace` missed, from the log: the events after the `after`
    /// sequence of each stream it names and, of every task kept in memory (open, or finished in
    /// the last five minutes) ever offered to the worker, all of them when `after` does not name
    /// it; of the worker's own stream only what follows a sequence named. Only what was durable
    /// when asked, in the order of time.
    pub async fn catch_up(
        &self,
        workspace: Sid,
        worker: Sid,
        after: &BTreeMap<Sid, u64>,
    ) -> Result<Vec<FeedItem>, EngineError> {
        let log = Arc::clone(self.tasks.log());
        // A finished task the client names nothing of is none of its business any more: it
        // never learnt of it, so there is nothing to bring up to date (a console opened after a
        // busy spell would otherwise replay every task of the last five minutes).
        let known_or_open = |t: &&TaskState| {
            !t.assignment_status.is_final() || t.sid.is_some_and(|sid| after.contains_key(&sid))
        };
        let offered: Vec<Sid> = self
            .tasks
            .read()
            .values()
            .filter(|t| t.workspace_sid == Some(workspace))
            .filter(|t| t.reservations.iter().any(|r| r.worker_sid == worker))
            .filter(known_or_open)
            .filter_map(|t| t.sid)
            .collect();
        let from = |sid: &Sid| after.get(sid).map_or(0, |seq| seq.saturating_add(1));
        let mut heads = Vec::new();
        for sid in &offered {
            heads.push((*sid, (from(sid), log.next_seq(*sid)?)));
        }
        let worker_head = match after.get(&worker) {
            Some(seq) => Some((seq.saturating_add(1), log.next_seq(worker)?)),
            None => None,
        };
        log.wait_durable(log.ticket()).await?;
        let mut items = Vec::new();
        if let Some(range) = worker_head {
            items.extend(feed::replay(
                &log,
                worker,
                range,
                worker,
                map_worker,
                feed::worker_subject,
            )?);
        }
        for (sid, range) in heads {
            items.extend(feed::replay(&log, sid, range, worker, map_task, feed::task_subject)?);
        }
        items.sort_by_key(|item| item.at);
        Ok(items)
    }

    /// Sets worker `worker` to the workspace's `Offline` activity (the oldest unavailable one so
    /// named, as every workspace is seeded with); refused when the workspace has none or the
    /// worker is gone. Setting the activity it has already changes nothing.
    pub async fn set_offline(&self, workspace: Sid, worker: Sid, at: Timestamp) -> Routed<()> {
        let Some(config) = self.workspaces.get(workspace) else {
            return Ok(Err(RouterRefusal::NotFound));
        };
        let offline = config.activities_in_order().into_iter().find(|a| {
            !a.record.available && a.record.friendly_name.eq_ignore_ascii_case(OFFLINE_ACTIVITY)
        });
        let Some(offline) = offline.map(|a| a.record.sid) else {
            return Ok(Err(invalid(format!("the workspace has no {OFFLINE_ACTIVITY} activity"))));
        };
        let changes = WorkerChanges { activity_sid: Some(offline), ..WorkerChanges::default() };
        Ok(self.update_worker(workspace, worker, changes, at).await?.map(drop))
    }

    /// A worker's answer to reservation `reservation` of task `task`.
    pub async fn answer_reservation(
        &self,
        workspace: Sid,
        task: Sid,
        reservation: Sid,
        answer: ReservationAnswer,
        at: Timestamp,
    ) -> Routed<TaskState> {
        let Some(current) = self.task(workspace, task)? else {
            return Ok(Err(RouterRefusal::NotFound));
        };
        let Some(worker) = current.reservation(reservation).map(|r| r.worker_sid) else {
            return Ok(Err(RouterRefusal::NotFound));
        };
        let command = match answer {
            ReservationAnswer::Accepted => {
                TaskCommand::Accept { reservation_sid: reservation, worker_sid: worker }
            }
            ReservationAnswer::Rejected => TaskCommand::Reject { reservation_sid: reservation },
            ReservationAnswer::Wrapping => TaskCommand::Wrapup,
            ReservationAnswer::Completed => {
                TaskCommand::Complete { reason: "reservation completed".into() }
            }
        };
        self.change(|core, parts| {
            let state = match parts.task(task, command, at)? {
                Ok(state) => state,
                Err(rejection) => return Ok(Err(rejection.into())),
            };
            core.task_changed(parts, &state, at)?;
            Ok(Ok(state))
        })
        .await
    }

    fn lock(&self) -> MutexGuard<'_, Core> {
        self.core.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Runs `change` under the lock, then waits until what it appended is durable.
    async fn change<T>(
        &self,
        change: impl FnOnce(&mut Core, &mut Parts<'_>) -> Routed<T>,
    ) -> Routed<T> {
        let mut outcome = None;
        let appended = self.locked_tickets(|core, parts| {
            outcome = Some(change(core, parts)?);
            Ok(())
        })?;
        self.durable(appended).await?;
        Ok(outcome.unwrap_or(Err(RouterRefusal::NotFound)))
    }

    /// Runs `work` under the lock at load, when no worker is connected to be told anything.
    fn locked(
        &self,
        work: impl FnOnce(&mut Core, &mut Parts<'_>) -> Result<(), EngineError>,
    ) -> Result<(), EngineError> {
        let written = self.locked_tickets(work)?;
        // Made durable before going on (a start's rebuild): the event logs' delivery resumes
        // from what the log holds, which must not be taken back by a crash once told.
        let log = self.tasks.log();
        let durable: Result<(), EngineError> =
            written.ticket.into_iter().try_for_each(|t| Ok(log.wait_durable_blocking(t)?));
        if durable.is_ok() {
            self.event_logs.made_durable(&written.appended);
        }
        if let Some(batch) = written.batch {
            self.feed.durable(batch, durable.is_ok());
        }
        durable
    }

    /// Runs `work` under the lock; what it appended is staged for the workers' feed, and its
    /// events appended to the workspaces' event logs before the lock is let go (so the logs
    /// keep the order of the changes).
    fn locked_tickets(
        &self,
        work: impl FnOnce(&mut Core, &mut Parts<'_>) -> Result<(), EngineError>,
    ) -> Result<Written, EngineError> {
        let mut core = self.lock();
        // One group for the changes and their events: see `AppendGroup`. (Deriving missing
        // events at load from the records' `source_sid`/`source_seq` instead would map them
        // again after the fact, in another order and with the workspace's names as they are
        // then, and make every start read every event log's tail; the group costs nothing: the
        // heads are staged once, at its end, as an append alone stages its own.)
        let group = self.tasks.log().group();
        let mut parts = Parts {
            workers: &self.workers,
            tasks: &self.tasks,
            workspaces: &self.workspaces,
            group: &group,
            feed: Vec::new(),
        };
        let worked = work(&mut core, &mut parts);
        // Staged and recorded even when the work failed midway: what it appended is in the log
        // and keeps its place in order.
        let records = event_log::records_of(&parts.feed, &self.workspaces);
        let batch = self.feed.stage(parts.feed);
        let appended = self.event_logs.append(records, &group);
        let ticket = group.finish();
        let appended = appended?;
        worked?;
        Ok(Written { ticket, batch, appended })
    }

    /// Waits until `written` is durable, then tells the workers' feed and wakes the event
    /// callbacks' delivery.
    async fn durable(&self, written: Written) -> Result<(), EngineError> {
        let mut outcome = Ok(());
        if let Some(ticket) = written.ticket {
            outcome = self.tasks.log().wait_durable(ticket).await.map_err(EngineError::from);
        }
        if let Some(batch) = written.batch {
            self.feed.durable(batch, outcome.is_ok());
        }
        if outcome.is_ok() {
            self.event_logs.made_durable(&written.appended);
        }
        outcome
    }
}

/// The commands of a task's update, in Twilio's order: attributes (re-routing a pending task),
/// priority, then the status.
fn task_commands(
    task: &TaskState,
    changes: &TaskChanges,
    rules: &Rules,
    at: Timestamp,
) -> Vec<TaskCommand> {
    let mut commands = Vec::new();
    if let Some(attributes) = &changes.attributes {
        let reroute = match task.workflow_sid {
            Some(workflow) if task.assignment_status == AssignmentStatus::Pending => {
                match rules.place(workflow, &routing::attributes(attributes), task.age_base, at) {
                    Placement::Queue(route) => Some(route),
                    Placement::Cancel(_) => None,
                }
            }
            _ => None,
        };
        commands.push(TaskCommand::UpdateAttributes {
            attributes: attributes.clone(),
            reroute,
            at,
        });
    }
    if let Some(priority) = changes.priority {
        commands.push(TaskCommand::UpdatePriority { priority });
    }
    let reason = changes.reason.clone().unwrap_or_default();
    match changes.assignment_status {
        Some(AssignmentStatus::Canceled) => commands.push(TaskCommand::Cancel { reason }),
        Some(AssignmentStatus::Completed) => commands.push(TaskCommand::Complete { reason }),
        Some(AssignmentStatus::Wrapping) => commands.push(TaskCommand::Wrapup),
        _ => {}
    }
    commands
}

fn default_activity(workspace: &WorkspaceState) -> Option<Sid> {
    workspace.live().and_then(|(_, settings)| settings.default_activity_sid)
}

fn activity_of(workspace: &WorkspaceState, sid: Sid) -> Option<Activity> {
    let activity = workspace.activity(sid)?;
    Some(Activity { sid, name: activity.friendly_name.clone(), available: activity.available })
}

fn invalid(message: String) -> RouterRefusal {
    RouterRefusal::Invalid(message)
}

/// Whether another live worker of the workspace has the name (case aside).
fn name_taken(parts: &Parts<'_>, workspace: Sid, name: &str, except: Option<Sid>) -> bool {
    parts.workers.read().values().any(|w| {
        w.is_live()
            && w.workspace_sid == Some(workspace)
            && w.sid != except
            && w.friendly_name.eq_ignore_ascii_case(name)
    })
}
