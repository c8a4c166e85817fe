//! TaskRouter v1's resources as Twilio renders them (snake_case, ISO 8601 dates, absolute `url`
//! and `links`): the wire shapes, apart from the domain's records, and how a record becomes one.

use serde::Serialize;
use switchboard_domain::Sid;
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
