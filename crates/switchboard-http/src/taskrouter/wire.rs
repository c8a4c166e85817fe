//! TaskRouter v1's resources as Twilio renders them (snake_case, ISO 8601 dates, absolute `url`
//! and `links`): the wire shapes, apart from the domain's records, and how a record becomes one.

use serde::Serialize;
use switchboard_domain::{Sid, Timestamp};
use switchboard_routing::task::{Reservation as ReservationRecord, TaskState};
use switchboard_routing::worker::{WorkerChannel as WorkerChannelRecord, WorkerState};
use switchboard_routing::workspace::{
    Activity as ActivityRecord, Kept, TaskChannel as TaskChannelRecord,
    TaskQueue as TaskQueueRecord, Workflow as WorkflowRecord, WorkspaceState,
};
use utoipa::ToSchema;

use crate::state::AppState;
use crate::views::iso;

/// A workspace.
#[derive(Debug, Serialize, ToSchema)]
pub struct Workspace {
    /// `WS…`
    pub sid: String,
    pub account_sid: String,
    pub friendly_name: String,
    pub date_created: String,
    pub date_updated: String,
    pub default_activity_sid: Option<String>,
    pub default_activity_name: Option<String>,
    pub timeout_activity_sid: Option<String>,
    pub timeout_activity_name: Option<String>,
    pub event_callback_url: Option<String>,
    pub events_filter: Option<String>,
    pub multi_task_enabled: bool,
    /// `FIFO`: queues are served in the order of the workflow's targets.
    pub prioritize_queue_order: String,
    pub url: String,
    pub links: WorkspaceLinks,
}

/// Where a workspace's parts are listed.
#[derive(Debug, Serialize, ToSchema)]
pub struct WorkspaceLinks {
    pub activities: String,
    pub task_channels: String,
    pub task_queues: String,
    pub workflows: String,
    pub workers: String,
    pub tasks: String,
}

/// A worker's activity.
#[derive(Debug, Serialize, ToSchema)]
pub struct Activity {
    /// `WA…`
    pub sid: String,
    pub account_sid: String,
    pub workspace_sid: String,
    pub friendly_name: String,
    /// Whether a worker in it is offered tasks. Fixed at creation.
    pub available: bool,
    pub date_created: String,
    pub date_updated: String,
    pub url: String,
    pub links: PartLinks,
}

/// A task channel.
#[derive(Debug, Serialize, ToSchema)]
pub struct TaskChannel {
    /// `TC…`
    pub sid: String,
    pub account_sid: String,
    pub workspace_sid: String,
    pub friendly_name: String,
    pub unique_name: String,
    pub channel_optimized_routing: bool,
    pub date_created: String,
    pub date_updated: String,
    pub url: String,
    pub links: PartLinks,
}

/// A task queue.
#[derive(Debug, Serialize, ToSchema)]
pub struct TaskQueue {
    /// `WQ…`
    pub sid: String,
    pub account_sid: String,
    pub workspace_sid: String,
    pub friendly_name: String,
    /// The expression that selects the queue's workers.
    pub target_workers: String,
    pub max_reserved_workers: u32,
    /// `FIFO`.
    pub task_order: String,
    pub reservation_activity_sid: Option<String>,
    pub reservation_activity_name: Option<String>,
    pub assignment_activity_sid: Option<String>,
    pub assignment_activity_name: Option<String>,
    pub date_created: String,
    pub date_updated: String,
    pub url: String,
    pub links: PartLinks,
}

/// A workflow.
#[derive(Debug, Serialize, ToSchema)]
pub struct Workflow {
    /// `WW…`
    pub sid: String,
    pub account_sid: String,
    pub workspace_sid: String,
    pub friendly_name: String,
    /// The configuration JSON, as given.
    pub configuration: String,
    /// `application/json`.
    pub document_content_type: String,
    pub assignment_callback_url: Option<String>,
    pub fallback_assignment_callback_url: Option<String>,
    /// Seconds a reservation waits for an answer.
    pub task_reservation_timeout: u32,
    pub date_created: String,
    pub date_updated: String,
    pub url: String,
    pub links: PartLinks,
}

/// Where a part's workspace is.
#[derive(Debug, Serialize, ToSchema)]
pub struct PartLinks {
    pub workspace: String,
}

crate::listing!(
    /// A page of workspaces.
    WorkspaceList, workspaces, Workspace
);
crate::listing!(
    /// A page of activities.
    ActivityList, activities, Activity
);
crate::listing!(
    /// A page of task channels.
    TaskChannelList, channels, TaskChannel
);
crate::listing!(
    /// A page of task queues.
    TaskQueueList, task_queues, TaskQueue
);
crate::listing!(
    /// A page of workflows.
    WorkflowList, workflows, Workflow
);

/// The path of workspace `sid`, under which its parts are.
pub fn workspace_path(sid: Sid) -> String {
    format!("/taskrouter/v1/Workspaces/{sid}")
}

/// What every part carries: its account, workspace, dates, URL and links.
struct Common {
    account_sid: String,
    workspace_sid: String,
    date_created: String,
    date_updated: String,
    url: String,
    links: PartLinks,
}

fn common<T>(state: &AppState, workspace: Sid, nouns: &str, sid: Sid, kept: &Kept<T>) -> Common {
    let base = workspace_path(workspace);
    Common {
        account_sid: state.credentials.account_sid.to_string(),
        workspace_sid: workspace.to_string(),
        date_created: iso(kept.date_created),
        date_updated: iso(kept.date_updated),
        url: state.url(&format!("{base}/{nouns}/{sid}")),
        links: PartLinks { workspace: state.url(&base) },
    }
}

pub fn workspace(state: &AppState, workspace: &WorkspaceState) -> Option<Workspace> {
    let (sid, settings) = workspace.live()?;
    let activity = |sid: Option<Sid>| {
        let name = sid.and_then(|s| workspace.activity(s)).map(|a| a.friendly_name.clone());
        (sid.map(|s| s.to_string()), name)
    };
    let (default_activity_sid, default_activity_name) = activity(settings.default_activity_sid);
    let (timeout_activity_sid, timeout_activity_name) = activity(settings.timeout_activity_sid);
    let base = workspace_path(sid);
    let link = |nouns: &str| state.url(&format!("{base}/{nouns}"));
    Some(Workspace {
        sid: sid.to_string(),
        account_sid: state.credentials.account_sid.to_string(),
        friendly_name: settings.friendly_name.clone(),
        date_created: iso(workspace.date_created),
        date_updated: iso(workspace.date_updated),
        default_activity_sid,
        default_activity_name,
        timeout_activity_sid,
        timeout_activity_name,
        event_callback_url: settings.event_callback_url.clone(),
        events_filter: settings.events_filter.clone(),
        multi_task_enabled: settings.multi_task_enabled,
        prioritize_queue_order: "FIFO".to_owned(),
        url: state.url(&base),
        links: WorkspaceLinks {
            activities: link("Activities"),
            task_channels: link("TaskChannels"),
            task_queues: link("TaskQueues"),
            workflows: link("Workflows"),
            workers: link("Workers"),
            tasks: link("Tasks"),
        },
    })
}

pub fn activity(state: &AppState, workspace: Sid, kept: &Kept<ActivityRecord>) -> Activity {
    let record = &kept.record;
    let c = common(state, workspace, "Activities", record.sid, kept);
    Activity {
        sid: record.sid.to_string(),
        account_sid: c.account_sid,
        workspace_sid: c.workspace_sid,
        friendly_name: record.friendly_name.clone(),
        available: record.available,
        date_created: c.date_created,
        date_updated: c.date_updated,
        url: c.url,
        links: c.links,
    }
}

pub fn task_channel(
    state: &AppState,
    workspace: Sid,
    kept: &Kept<TaskChannelRecord>,
) -> TaskChannel {
    let record = &kept.record;
    let c = common(state, workspace, "TaskChannels", record.sid, kept);
    TaskChannel {
        sid: record.sid.to_string(),
        account_sid: c.account_sid,
        workspace_sid: c.workspace_sid,
        friendly_name: record.friendly_name.clone(),
        unique_name: record.unique_name.clone(),
        channel_optimized_routing: record.channel_optimized_routing,
        date_created: c.date_created,
        date_updated: c.date_updated,
        url: c.url,
        links: c.links,
    }
}

pub fn task_queue(
    state: &AppState,
    workspace: &WorkspaceState,
    kept: &Kept<TaskQueueRecord>,
) -> TaskQueue {
    let record = &kept.record;
    let workspace_sid = workspace.sid.unwrap_or(record.sid);
    let c = common(state, workspace_sid, "TaskQueues", record.sid, kept);
    let name =
        |sid: Option<Sid>| sid.and_then(|s| workspace.activity(s)).map(|a| a.friendly_name.clone());
    TaskQueue {
        sid: record.sid.to_string(),
        account_sid: c.account_sid,
        workspace_sid: c.workspace_sid,
        friendly_name: record.friendly_name.clone(),
        target_workers: record.target_workers.clone(),
        max_reserved_workers: record.max_reserved_workers,
        task_order: record.task_order.as_str().to_owned(),
        reservation_activity_sid: record.reservation_activity_sid.map(|s| s.to_string()),
        reservation_activity_name: name(record.reservation_activity_sid),
        assignment_activity_sid: record.assignment_activity_sid.map(|s| s.to_string()),
        assignment_activity_name: name(record.assignment_activity_sid),
        date_created: c.date_created,
        date_updated: c.date_updated,
        url: c.url,
        links: c.links,
    }
}

pub fn workflow(state: &AppState, workspace: Sid, kept: &Kept<WorkflowRecord>) -> Workflow {
    let record = &kept.record;
    let c = common(state, workspace, "Workflows", record.sid, kept);
    Workflow {
        sid: record.sid.to_string(),
        account_sid: c.account_sid,
        workspace_sid: c.workspace_sid,
        friendly_name: record.friendly_name.clone(),
        configuration: record.configuration.clone(),
        document_content_type: "application/json".to_owned(),
        assignment_callback_url: record.assignment_callback_url.clone(),
        fallback_assignment_callback_url: record.fallback_assignment_callback_url.clone(),
        task_reservation_timeout: record.task_reservation_timeout,
        date_created: c.date_created,
        date_updated: c.date_updated,
        url: c.url,
        links: c.links,
    }
}

/// A worker.
#[derive(Debug, Serialize, ToSchema)]
pub struct Worker {
    /// `WK…`
    pub sid: String,
    pub account_sid: String,
    pub workspace_sid: String,
    pub friendly_name: String,
    /// A JSON object, as a string.
    pub attributes: String,
    pub activity_sid: Option<String>,
    pub activity_name: Option<String>,
    /// Whether its activity is an available one.
    pub available: bool,
    pub date_status_changed: String,
    pub date_created: String,
    pub date_updated: String,
    pub url: String,
    pub links: WorkerLinks,
}

/// Where a worker's channels and reservations are.
#[derive(Debug, Serialize, ToSchema)]
pub struct WorkerLinks {
    pub channels: String,
    pub reservations: String,
    pub workspace: String,
}

/// A worker's capacity on one task channel.
#[derive(Debug, Serialize, ToSchema)]
pub struct WorkerChannel {
    /// `WC…`
    pub sid: String,
    pub account_sid: String,
    pub workspace_sid: String,
    pub worker_sid: String,
    pub task_channel_sid: String,
    pub task_channel_unique_name: String,
    pub configured_capacity: u32,
    pub available: bool,
    /// Tasks it holds on the channel (pending, accepted or wrapping reservations).
    pub assigned_tasks: u32,
    pub available_capacity_percentage: u32,
    pub date_created: String,
    pub date_updated: String,
    pub url: String,
}

/// A task.
#[derive(Debug, Serialize, ToSchema)]
pub struct Task {
    /// `WT…`
    pub sid: String,
    pub account_sid: String,
    pub workspace_sid: String,
    pub workflow_sid: Option<String>,
    pub workflow_friendly_name: Option<String>,
    pub task_queue_sid: Option<String>,
    pub task_queue_friendly_name: Option<String>,
    pub task_queue_entered_date: Option<String>,
    pub task_channel_sid: Option<String>,
    pub task_channel_unique_name: String,
    /// A JSON object, as a string.
    pub attributes: String,
    /// `pending`, `reserved`, `assigned`, `wrapping`, `completed` or `canceled`.
    pub assignment_status: String,
    pub priority: u32,
    pub reason: Option<String>,
    /// Seconds it may live (its TTL).
    pub timeout: u32,
    /// Seconds since it was created.
    pub age: u64,
    /// Always `{}`: no add-ons here.
    pub addons: String,
    pub date_created: String,
    pub date_updated: String,
    pub url: String,
    pub links: TaskLinks,
}

/// Where a task's reservations, queue, workflow and workspace are.
#[derive(Debug, Serialize, ToSchema)]
pub struct TaskLinks {
    pub reservations: String,
    pub workspace: String,
    pub workflow: Option<String>,
    pub task_queue: Option<String>,
}

/// A reservation: a task offered to a worker.
#[derive(Debug, Serialize, ToSchema)]
pub struct Reservation {
    /// `WR…`
    pub sid: String,
    pub account_sid: String,
    pub workspace_sid: String,
    pub task_sid: String,
    pub worker_sid: String,
    pub worker_name: String,
    /// `pending`, `accepted`, `rejected`, `timeout`, `canceled`, `rescinded`, `wrapping` or
    /// `completed`.
    pub reservation_status: String,
    pub date_created: String,
    pub date_updated: String,
    pub url: String,
    pub links: ReservationLinks,
}

/// Where a reservation's task, worker and workspace are.
#[derive(Debug, Serialize, ToSchema)]
pub struct ReservationLinks {
    pub task: String,
    pub worker: String,
    pub workspace: String,
}

crate::listing!(
    /// A page of workers.
    WorkerList, workers, Worker
);
crate::listing!(
    /// A page of a worker's channels.
    WorkerChannelList, channels, WorkerChannel
);
crate::listing!(
    /// A page of tasks.
    TaskList, tasks, Task
);
crate::listing!(
    /// A page of reservations.
    ReservationList, reservations, Reservation
);

pub fn worker(state: &AppState, worker: &WorkerState) -> Worker {
    let workspace = worker.workspace_sid.map(workspace_path).unwrap_or_default();
    let base = format!("{workspace}/Workers/{}", sid_text(worker.sid));
    let activity = worker.activity.as_ref();
    Worker {
        sid: sid_text(worker.sid),
        account_sid: state.credentials.account_sid.to_string(),
        workspace_sid: sid_text(worker.workspace_sid),
        friendly_name: worker.friendly_name.clone(),
        attributes: worker.attributes.clone(),
        activity_sid: activity.map(|a| a.sid.to_string()),
        activity_name: activity.map(|a| a.name.clone()),
        available: worker.available(),
        date_status_changed: iso(worker.date_status_changed),
        date_created: iso(worker.date_created),
        date_updated: iso(worker.date_updated),
        url: state.url(&base),
        links: WorkerLinks {
            channels: state.url(&format!("{base}/Channels")),
            reservations: state.url(&format!("{base}/Reservations")),
            workspace: state.url(&workspace),
        },
    }
}

pub fn worker_channel(
    state: &AppState,
    worker: &WorkerState,
    channel: &WorkerChannelRecord,
    assigned_tasks: u32,
) -> WorkerChannel {
    let workspace = worker.workspace_sid.map(workspace_path).unwrap_or_default();
    let capacity = channel.configured_capacity;
    let free = capacity.saturating_sub(assigned_tasks);
    let percentage = match (capacity, channel.available && worker.available()) {
        (0, _) | (_, false) => 0,
        (capacity, true) => free * 100 / capacity,
    };
    WorkerChannel {
        sid: channel.sid.to_string(),
        account_sid: state.credentials.account_sid.to_string(),
        workspace_sid: sid_text(worker.workspace_sid),
        worker_sid: sid_text(worker.sid),
        task_channel_sid: channel.task_channel_sid.to_string(),
        task_channel_unique_name: channel.task_channel_unique_name.clone(),
        configured_capacity: capacity,
        available: channel.available,
        assigned_tasks,
        available_capacity_percentage: percentage,
        date_created: iso(worker.date_created),
        date_updated: iso(worker.date_updated),
        url: state.url(&format!(
            "{workspace}/Workers/{}/Channels/{}",
            sid_text(worker.sid),
            channel.sid
        )),
    }
}

pub fn task(
    state: &AppState,
    config: Option<&WorkspaceState>,
    task: &TaskState,
    now: Timestamp,
) -> Task {
    let workspace = task.workspace_sid.map(workspace_path).unwrap_or_default();
    let base = format!("{workspace}/Tasks/{}", sid_text(task.sid));
    let queue = task.route.map(|r| r.queue_sid);
    let queue_name = queue.and_then(|q| config?.task_queue(q)).map(|q| q.friendly_name.clone());
    let workflow_name =
        task.workflow_sid.and_then(|w| config?.workflow(w)).map(|w| w.friendly_name.clone());
    Task {
        sid: sid_text(task.sid),
        account_sid: state.credentials.account_sid.to_string(),
        workspace_sid: sid_text(task.workspace_sid),
        workflow_sid: task.workflow_sid.map(|s| s.to_string()),
        workflow_friendly_name: workflow_name,
        task_queue_sid: queue.map(|s| s.to_string()),
        task_queue_friendly_name: queue_name,
        task_queue_entered_date: task.task_queue_entered_date.map(iso),
        task_channel_sid: task.task_channel_sid.map(|s| s.to_string()),
        task_channel_unique_name: task.task_channel_unique_name.clone(),
        attributes: task.attributes.clone(),
        assignment_status: task.assignment_status.as_str().to_owned(),
        priority: task.priority,
        reason: task.reason.clone(),
        timeout: task.timeout_secs,
        age: task.age_secs(now),
        addons: "{}".to_owned(),
        date_created: iso(task.date_created),
        date_updated: iso(task.date_updated),
        url: state.url(&base),
        links: TaskLinks {
            reservations: state.url(&format!("{base}/Reservations")),
            workspace: state.url(&workspace),
            workflow: task.workflow_sid.map(|w| state.url(&format!("{workspace}/Workflows/{w}"))),
            task_queue: queue.map(|q| state.url(&format!("{workspace}/TaskQueues/{q}"))),
        },
    }
}

pub fn reservation(
    state: &AppState,
    task: &TaskState,
    reservation: &ReservationRecord,
) -> Reservation {
    let workspace = task.workspace_sid.map(workspace_path).unwrap_or_default();
    let task_path = format!("{workspace}/Tasks/{}", sid_text(task.sid));
    Reservation {
        sid: reservation.sid.to_string(),
        account_sid: state.credentials.account_sid.to_string(),
        workspace_sid: sid_text(task.workspace_sid),
        task_sid: sid_text(task.sid),
        worker_sid: reservation.worker_sid.to_string(),
        worker_name: reservation.worker_name.clone(),
        reservation_status: reservation.status.as_str().to_owned(),
        date_created: iso(reservation.date_created),
        date_updated: iso(reservation.date_updated),
        url: state.url(&format!("{task_path}/Reservations/{}", reservation.sid)),
        links: ReservationLinks {
            task: state.url(&task_path),
            worker: state.url(&format!("{workspace}/Workers/{}", reservation.worker_sid)),
            workspace: state.url(&workspace),
        },
    }
}

fn sid_text(sid: Option<Sid>) -> String {
    sid.map(|s| s.to_string()).unwrap_or_default()
}
