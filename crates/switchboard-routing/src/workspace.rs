//! A TaskRouter workspace and its configuration: activities, task channels, task queues and
//! workflows. One aggregate per workspace, stored in the stream named by its `WS` SID: the
//! configuration is small, changes rarely and has rules spanning its parts (a workflow names
//! queues, a queue names activities, the workspace names its default and timeout activities),
//! which one stream checks in one place. Workers and tasks are streams of their own.
//!
//! A change arrives as the whole new record of what it changes (the caller merges Twilio's
//! partial update into the current record under the stream's writer), and is recorded whole, so
//! a record replays without knowing what was before it. Expressions and workflow configurations
//! are checked here, before anything is recorded.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use switchboard_domain::{Aggregate, DomainEvent, Recorded, Sid, SidPrefix, Timestamp};

use crate::expression::Expression;
use crate::workflow::WorkflowConfiguration;

/// The settings of the workspace itself.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WorkspaceSettings {
    pub friendly_name: String,
    pub event_callback_url: Option<String>,
    /// Twilio's comma list of event types; `None` sends every event.
    pub events_filter: Option<String>,
    pub multi_task_enabled: bool,
    /// What a worker gets when created without one (Offline in the seeded workspace).
    pub default_activity_sid: Option<Sid>,
    /// Where a worker goes when a reservation times out.
    pub timeout_activity_sid: Option<Sid>,
}

/// A worker's state of availability.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Activity {
    pub sid: Sid,
    pub friendly_name: String,
    /// Fixed at creation, as Twilio keeps it.
    pub available: bool,
}

/// A kind of work (`chat`, `sms`, ...), by which a worker's capacity is counted.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TaskChannel {
    pub sid: Sid,
    pub friendly_name: String,
    pub unique_name: String,
    pub channel_optimized_routing: bool,
}

/// A queue of tasks waiting for the workers its `target_workers` expression selects.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TaskQueue {
    pub sid: Sid,
    pub friendly_name: String,
    pub target_workers: String,
    pub max_reserved_workers: u32,
    pub task_order: TaskOrder,
    pub reservation_activity_sid: Option<Sid>,
    pub assignment_activity_sid: Option<Sid>,
}

/// The order in which a queue's tasks are offered (after priority).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum TaskOrder {
    Fifo,
    Lifo,
}

impl TaskOrder {
    pub fn as_str(self) -> &'static str {
        match self {
            TaskOrder::Fifo => "FIFO",
            TaskOrder::Lifo => "LIFO",
        }
    }
}

/// How tasks find queues: filters over the task's attributes, each with its targets.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Workflow {
    pub sid: Sid,
    pub friendly_name: String,
    /// The configuration JSON exactly as given (Twilio echoes it back as a string).
    pub configuration: String,
    pub assignment_callback_url: Option<String>,
    pub fallback_assignment_callback_url: Option<String>,
    /// Seconds a reservation waits for an answer.
    pub task_reservation_timeout: u32,
}

/// One part of a workspace's configuration, whole.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Part {
    Activity(Activity),
    TaskChannel(TaskChannel),
    TaskQueue(TaskQueue),
    Workflow(Workflow),
}

impl Part {
    pub fn sid(&self) -> Sid {
        match self {
            Part::Activity(a) => a.sid,
            Part::TaskChannel(c) => c.sid,
            Part::TaskQueue(q) => q.sid,
            Part::Workflow(w) => w.sid,
        }
    }
}

/// A part as the workspace keeps it: the record and its dates.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Kept<T> {
    pub record: T,
    /// Where it was created among the workspace's events: parts are listed in this order, as
    /// Twilio lists them oldest first (parts made in one append share their date).
    pub created_at_event: u64,
    pub date_created: Timestamp,
    pub date_updated: Timestamp,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum WorkspaceEvent {
    WorkspaceCreated {
        workspace_sid: Sid,
        settings: WorkspaceSettings,
    },
    /// The settings after an update, whole.
    WorkspaceUpdated {
        settings: WorkspaceSettings,
    },
    WorkspaceDeleted,
    /// A part created or changed: the part after the change, whole.
    PartSet {
        part: Part,
    },
    PartRemoved {
        sid: Sid,
    },
}

impl DomainEvent for WorkspaceEvent {
    fn type_name(&self) -> &'static str {
        match self {
            WorkspaceEvent::WorkspaceCreated { .. } => "workspace_created",
            WorkspaceEvent::WorkspaceUpdated { .. } => "workspace_updated",
            WorkspaceEvent::WorkspaceDeleted => "workspace_deleted",
            WorkspaceEvent::PartSet { part: Part::Activity(_) } => "activity_set",
            WorkspaceEvent::PartSet { part: Part::TaskChannel(_) } => "task_channel_set",
            WorkspaceEvent::PartSet { part: Part::TaskQueue(_) } => "task_queue_set",
            WorkspaceEvent::PartSet { part: Part::Workflow(_) } => "workflow_set",
            WorkspaceEvent::PartRemoved { .. } => "part_removed",
        }
    }
}

/// A request to change one workspace.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WorkspaceCommand {
    Create {
        workspace_sid: Sid,
        settings: WorkspaceSettings,
    },
    Update {
        settings: WorkspaceSettings,
    },
    Delete,
    /// Creates a part, refused if its SID is taken.
    Add(Part),
    /// Replaces a part that exists, of the same kind.
    Replace(Part),
    /// Removes a part that nothing else in the workspace names.
    Remove(Sid),
}

/// Why a workspace change was refused; the HTTP layer gives Twilio's status and code.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WorkspaceRejection {
    #[error("the workspace does not exist")]
    NotFound,
    #[error("the workspace already exists")]
    Exists,
    #[error("{0} is not in the workspace")]
    PartNotFound(Sid),
    #[error("{0} is already in the workspace")]
    PartExists(Sid),
    /// A name or a value breaks a rule (the message says which and why).
    #[error("{0}")]
    Invalid(String),
    /// Another part has the name (the message says which).
    #[error("{0}")]
    Duplicate(String),
    /// Something else in the workspace names the part (the message says what).
    #[error("{0}")]
    InUse(String),
    /// A setting Twilio has that Switchboard does not carry out yet.
    #[error("{0}")]
    Unsupported(String),
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct WorkspaceState {
    pub sid: Option<Sid>,
    pub settings: Option<WorkspaceSettings>,
    pub deleted: bool,
    pub date_created: Timestamp,
    pub date_updated: Timestamp,
    pub events_applied: u64,
    pub activities: BTreeMap<Sid, Kept<Activity>>,
    pub task_channels: BTreeMap<Sid, Kept<TaskChannel>>,
    pub task_queues: BTreeMap<Sid, Kept<TaskQueue>>,
    pub workflows: BTreeMap<Sid, Kept<Workflow>>,
}

/// The most queues a workflow configuration may name, filters a workflow may have and parts of
/// each kind a workspace may hold: limits on what a client controls.
pub const MAX_PARTS_OF_A_KIND: usize = 1_000;

/// How long a reservation waits for an answer unless the workflow says (Twilio's default).
pub const DEFAULT_RESERVATION_TIMEOUT: u32 = 120;

/// The longest a reservation may wait for an answer, in seconds (Twilio's maximum).
pub const MAX_RESERVATION_TIMEOUT: u32 = 86_400;

impl WorkspaceState {
    /// The workspace, if it exists and is not deleted.
    pub fn live(&self) -> Option<(Sid, &WorkspaceSettings)> {
        match (self.sid, &self.settings) {
            (Some(sid), Some(settings)) if !self.deleted => Some((sid, settings)),
            _ => None,
        }
    }

    pub fn activity(&self, sid: Sid) -> Option<&Activity> {
        self.activities.get(&sid).map(|k| &k.record)
    }

    pub fn task_channel(&self, sid: Sid) -> Option<&TaskChannel> {
        self.task_channels.get(&sid).map(|k| &k.record)
    }

    /// A task channel by its SID or its unique name, as task creation takes either.
    pub fn task_channel_named(&self, name_or_sid: &str) -> Option<&TaskChannel> {
        self.task_channels
            .values()
            .map(|k| &k.record)
            .find(|c| c.unique_name == name_or_sid || c.sid.to_string() == name_or_sid)
    }

    pub fn task_queue(&self, sid: Sid) -> Option<&TaskQueue> {
        self.task_queues.get(&sid).map(|k| &k.record)
    }

    pub fn workflow(&self, sid: Sid) -> Option<&Workflow> {
        self.workflows.get(&sid).map(|k| &k.record)
    }

    fn apply_part(&mut self, part: &Part, at: Timestamp) {
        let event = self.events_applied;
        match part {
            Part::Activity(a) => keep(&mut self.activities, a.sid, a.clone(), at, event),
            Part::TaskChannel(c) => keep(&mut self.task_channels, c.sid, c.clone(), at, event),
            Part::TaskQueue(q) => keep(&mut self.task_queues, q.sid, q.clone(), at, event),
            Part::Workflow(w) => keep(&mut self.workflows, w.sid, w.clone(), at, event),
        }
    }

    /// The activities, oldest first.
    pub fn activities_in_order(&self) -> Vec<&Kept<Activity>> {
        in_order(&self.activities)
    }

    /// The task channels, oldest first.
    pub fn task_channels_in_order(&self) -> Vec<&Kept<TaskChannel>> {
        in_order(&self.task_channels)
    }

    /// The task queues, oldest first.
    pub fn task_queues_in_order(&self) -> Vec<&Kept<TaskQueue>> {
        in_order(&self.task_queues)
    }

    /// The workflows, oldest first.
    pub fn workflows_in_order(&self) -> Vec<&Kept<Workflow>> {
        in_order(&self.workflows)
    }

    fn remove_part(&mut self, sid: Sid) {
        self.activities.remove(&sid);
        self.task_channels.remove(&sid);
        self.task_queues.remove(&sid);
        self.workflows.remove(&sid);
    }

    fn has_part(&self, sid: Sid) -> bool {
        self.activities.contains_key(&sid)
            || self.task_channels.contains_key(&sid)
            || self.task_queues.contains_key(&sid)
            || self.workflows.contains_key(&sid)
    }

    fn count_of_kind(&self, part: &Part) -> usize {
        match part {
            Part::Activity(_) => self.activities.len(),
            Part::TaskChannel(_) => self.task_channels.len(),
            Part::TaskQueue(_) => self.task_queues.len(),
            Part::Workflow(_) => self.workflows.len(),
        }
    }
}

fn keep<T>(map: &mut BTreeMap<Sid, Kept<T>>, sid: Sid, record: T, at: Timestamp, event: u64) {
    let (date_created, created_at_event) =
        map.get(&sid).map_or((at, event), |k| (k.date_created, k.created_at_event));
    map.insert(sid, Kept { record, created_at_event, date_created, date_updated: at });
}

fn in_order<T>(map: &BTreeMap<Sid, Kept<T>>) -> Vec<&Kept<T>> {
    let mut all: Vec<_> = map.values().collect();
    all.sort_by_key(|k| k.created_at_event);
    all
}

impl Aggregate for WorkspaceState {
    type Event = WorkspaceEvent;
    type Command = WorkspaceCommand;
    type Rejection = WorkspaceRejection;
    type Pending = ();

    const PREFIX: SidPrefix = SidPrefix::WORKSPACE;
    const NAME: &'static str = "workspace";

    fn decide(&self, command: WorkspaceCommand) -> Result<Vec<WorkspaceEvent>, WorkspaceRejection> {
        if let WorkspaceCommand::Create { workspace_sid, settings } = command {
            if self.sid.is_some() {
                return Err(WorkspaceRejection::Exists);
            }
            check_settings(self, &settings)?;
            return Ok(vec![WorkspaceEvent::WorkspaceCreated { workspace_sid, settings }]);
        }
        if self.live().is_none() {
            return Err(WorkspaceRejection::NotFound);
        }
        match command {
            WorkspaceCommand::Create { .. } => unreachable!("handled above"),
            WorkspaceCommand::Update { settings } => {
                check_settings(self, &settings)?;
                Ok(vec![WorkspaceEvent::WorkspaceUpdated { settings }])
            }
            WorkspaceCommand::Delete => Ok(vec![WorkspaceEvent::WorkspaceDeleted]),
            WorkspaceCommand::Add(part) => {
                if self.has_part(part.sid()) {
                    return Err(WorkspaceRejection::PartExists(part.sid()));
                }
                if self.count_of_kind(&part) >= MAX_PARTS_OF_A_KIND {
                    return Err(WorkspaceRejection::Invalid(format!(
                        "a workspace holds at most {MAX_PARTS_OF_A_KIND} of each kind of part"
                    )));
                }
                check_part(self, &part)?;
                Ok(vec![WorkspaceEvent::PartSet { part }])
            }
            WorkspaceCommand::Replace(part) => {
                check_same_kind(self, &part)?;
                check_part(self, &part)?;
                Ok(vec![WorkspaceEvent::PartSet { part }])
            }
            WorkspaceCommand::Remove(sid) => {
                if !self.has_part(sid) {
                    return Err(WorkspaceRejection::PartNotFound(sid));
                }
                check_unused(self, sid)?;
                Ok(vec![WorkspaceEvent::PartRemoved { sid }])
            }
        }
    }

    fn apply(&mut self, record: &Recorded<WorkspaceEvent>) {
        self.events_applied += 1;
        let at = record.at;
        match &record.event {
            WorkspaceEvent::WorkspaceCreated { workspace_sid, settings } if self.sid.is_none() => {
                self.sid = Some(*workspace_sid);
                self.settings = Some(settings.clone());
                self.date_created = at;
            }
            WorkspaceEvent::WorkspaceCreated { .. } => return,
            WorkspaceEvent::WorkspaceUpdated { settings } => self.settings = Some(settings.clone()),
            WorkspaceEvent::WorkspaceDeleted => self.deleted = true,
            WorkspaceEvent::PartSet { part } => {
                self.apply_part(part, at);
                // A part's change is not the workspace's: its date stays.
                return;
            }
            WorkspaceEvent::PartRemoved { sid } => {
                self.remove_part(*sid);
                return;
            }
        }
        self.date_updated = at;
    }

    fn events_applied(&self) -> u64 {
        self.events_applied
    }

    fn skip_unreadable(&mut self) {
        self.events_applied += 1;
    }
}

fn check_settings(
    state: &WorkspaceState,
    settings: &WorkspaceSettings,
) -> Result<(), WorkspaceRejection> {
    check_name("FriendlyName", &settings.friendly_name)?;
    for (name, sid) in [
        ("DefaultActivitySid", settings.default_activity_sid),
        ("TimeoutActivitySid", settings.timeout_activity_sid),
    ] {
        if let Some(sid) = sid.filter(|sid| state.activity(*sid).is_none()) {
            return Err(WorkspaceRejection::Invalid(format!(
                "{name} {sid} is not an activity of the workspace"
            )));
        }
    }
    Ok(())
}

fn check_name(what: &str, name: &str) -> Result<(), WorkspaceRejection> {
    if name.trim().is_empty() {
        return Err(WorkspaceRejection::Invalid(format!("{what} must not be empty")));
    }
    Ok(())
}

fn check_same_kind(state: &WorkspaceState, part: &Part) -> Result<(), WorkspaceRejection> {
    let sid = part.sid();
    let same = match part {
        Part::Activity(_) => state.activities.contains_key(&sid),
        Part::TaskChannel(_) => state.task_channels.contains_key(&sid),
        Part::TaskQueue(_) => state.task_queues.contains_key(&sid),
        Part::Workflow(_) => state.workflows.contains_key(&sid),
    };
    if same {
        Ok(())
    } else {
        Err(WorkspaceRejection::PartNotFound(sid))
    }
}

fn check_part(state: &WorkspaceState, part: &Part) -> Result<(), WorkspaceRejection> {
    match part {
        Part::Activity(activity) => check_activity(state, activity),
        Part::TaskChannel(channel) => check_task_channel(state, channel),
        Part::TaskQueue(queue) => check_task_queue(state, queue),
        Part::Workflow(workflow) => check_workflow(state, workflow),
    }
}

fn check_activity(state: &WorkspaceState, activity: &Activity) -> Result<(), WorkspaceRejection> {
    check_name("FriendlyName", &activity.friendly_name)?;
    if let Some(before) = state.activity(activity.sid) {
        if before.available != activity.available {
            return Err(WorkspaceRejection::Invalid(
                "an activity's Available is fixed when it is created".into(),
            ));
        }
    }
    let taken = state.activities.values().map(|k| &k.record).any(|other| {
        other.sid != activity.sid
            && other.friendly_name.eq_ignore_ascii_case(&activity.friendly_name)
    });
    if taken {
        return Err(WorkspaceRejection::Duplicate(format!(
            "an activity named {:?} already exists in the workspace",
            activity.friendly_name
        )));
    }
    Ok(())
}

fn check_task_channel(
    state: &WorkspaceState,
    channel: &TaskChannel,
) -> Result<(), WorkspaceRejection> {
    check_name("FriendlyName", &channel.friendly_name)?;
    check_name("UniqueName", &channel.unique_name)?;
    if channel.unique_name.contains('-') {
        return Err(WorkspaceRejection::Invalid(format!(
            "UniqueName {:?} must not contain a hyphen",
            channel.unique_name
        )));
    }
    if let Some(before) = state.task_channel(channel.sid) {
        if before.unique_name != channel.unique_name {
            return Err(WorkspaceRejection::Invalid(
                "a task channel's UniqueName is fixed when it is created".into(),
            ));
        }
    }
    let taken = state.task_channels.values().map(|k| &k.record).any(|other| {
        other.sid != channel.sid && other.unique_name.eq_ignore_ascii_case(&channel.unique_name)
    });
    if taken {
        return Err(WorkspaceRejection::Duplicate(format!(
            "a task channel with the unique name {:?} already exists in the workspace",
            channel.unique_name
        )));
    }
    Ok(())
}

fn check_task_queue(state: &WorkspaceState, queue: &TaskQueue) -> Result<(), WorkspaceRejection> {
    check_name("FriendlyName", &queue.friendly_name)?;
    Expression::parse(&queue.target_workers).map_err(|e| {
        WorkspaceRejection::Invalid(format!(
            "TargetWorkers {:?} is not valid: {e}",
            queue.target_workers
        ))
    })?;
    if queue.max_reserved_workers != 1 {
        return Err(WorkspaceRejection::Unsupported(format!(
            "MaxReservedWorkers {} is not supported: a task is offered to one worker at a time \
             (MaxReservedWorkers=1)",
            queue.max_reserved_workers
        )));
    }
    if queue.task_order == TaskOrder::Lifo {
        return Err(WorkspaceRejection::Unsupported(
            "TaskOrder LIFO is not supported: tasks are offered by priority, then oldest first"
                .into(),
        ));
    }
    for (name, sid) in [
        ("ReservationActivitySid", queue.reservation_activity_sid),
        ("AssignmentActivitySid", queue.assignment_activity_sid),
    ] {
        if let Some(sid) = sid.filter(|sid| state.activity(*sid).is_none()) {
            return Err(WorkspaceRejection::Invalid(format!(
                "{name} {sid} is not an activity of the workspace"
            )));
        }
    }
    Ok(())
}

fn check_workflow(state: &WorkspaceState, workflow: &Workflow) -> Result<(), WorkspaceRejection> {
    check_name("FriendlyName", &workflow.friendly_name)?;
    if !(1..=MAX_RESERVATION_TIMEOUT).contains(&workflow.task_reservation_timeout) {
        return Err(WorkspaceRejection::Invalid(format!(
            "TaskReservationTimeout must be from 1 to {MAX_RESERVATION_TIMEOUT} seconds"
        )));
    }
    let configuration = WorkflowConfiguration::parse(&workflow.configuration)
        .map_err(|e| WorkspaceRejection::Invalid(format!("Configuration is not valid: {e}")))?;
    for queue in configuration.queue_sids() {
        if !state.task_queues.contains_key(&queue) {
            return Err(WorkspaceRejection::Invalid(format!(
                "Configuration names the queue {queue:?}, which is not a task queue of the \
                 workspace"
            )));
        }
    }
    Ok(())
}

/// Refuses to remove a part something else in the workspace names.
fn check_unused(state: &WorkspaceState, sid: Sid) -> Result<(), WorkspaceRejection> {
    let in_use = |what: String| Err(WorkspaceRejection::InUse(what));
    if let Some((_, settings)) = state.live() {
        if settings.default_activity_sid == Some(sid) {
            return in_use(format!("{sid} is the workspace's default activity"));
        }
        if settings.timeout_activity_sid == Some(sid) {
            return in_use(format!("{sid} is the workspace's timeout activity"));
        }
    }
    for queue in state.task_queues.values().map(|k| &k.record) {
        if queue.reservation_activity_sid == Some(sid) || queue.assignment_activity_sid == Some(sid)
        {
            return in_use(format!("{sid} is an activity of the task queue {}", queue.sid));
        }
    }
    if state.task_queues.contains_key(&sid) {
        for workflow in state.workflows.values().map(|k| &k.record) {
            let names = WorkflowConfiguration::parse(&workflow.configuration)
                .is_ok_and(|c| c.queue_sids().contains(&sid));
            if names {
                return in_use(format!(
                    "the task queue {sid} is a target of the workflow {}",
                    workflow.sid
                ));
            }
        }
    }
    Ok(())
}

/// The task channels of a Flex workspace, by unique name.
pub const FLEX_TASK_CHANNELS: [&str; 5] = ["default", "voice", "chat", "sms", "video"];

/// What a new workspace starts with. Every workspace gets the activities Offline (its default
/// and timeout activity), Available and Unavailable, and the task channels
/// [`FLEX_TASK_CHANNELS`], so a worker made at once has an activity and channels; a template adds
/// a queue whose target is every worker and a workflow sending every task to it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Template {
    /// Activities and task channels only (Twilio's `Template=NONE`).
    Bare,
    /// Twilio's `Template=FIFO`: the queue "Sample Queue" and the workflow "Default Fifo
    /// Workflow".
    Fifo,
    /// The workspace Flex is set up with: the queue "Everyone" and the
    /// workflow "Assign to Anyone".
    Flex,
}

impl Template {
    fn queue_and_workflow(self) -> Option<(&'static str, &'static str)> {
        match self {
            Template::Bare => None,
            Template::Fifo => Some(("Sample Queue", "Default Fifo Workflow")),
            Template::Flex => Some(("Everyone", "Assign to Anyone")),
        }
    }
}

/// The commands that make a workspace with `settings` as `template` says, appended together so
/// it is made at once. Its default and timeout activities are Offline unless `settings` name
/// others (which cannot exist yet, so they are ignored).
pub fn new_workspace(
    settings: WorkspaceSettings,
    template: Template,
    mut new_sid: impl FnMut(SidPrefix) -> Sid,
) -> (Sid, Vec<WorkspaceCommand>) {
    let workspace_sid = new_sid(SidPrefix::WORKSPACE);
    let activity = |sid, name: &str, available| {
        Part::Activity(Activity { sid, friendly_name: name.to_owned(), available })
    };
    let offline = new_sid(SidPrefix::ACTIVITY);
    let mut parts = vec![
        activity(offline, "Offline", false),
        activity(new_sid(SidPrefix::ACTIVITY), "Available", true),
        activity(new_sid(SidPrefix::ACTIVITY), "Unavailable", false),
    ];
    for unique_name in FLEX_TASK_CHANNELS {
        parts.push(Part::TaskChannel(TaskChannel {
            sid: new_sid(SidPrefix::TASK_CHANNEL),
            friendly_name: capitalized(unique_name),
            unique_name: unique_name.to_owned(),
            channel_optimized_routing: false,
        }));
    }
    if let Some((queue_name, workflow_name)) = template.queue_and_workflow() {
        let queue = new_sid(SidPrefix::TASK_QUEUE);
        parts.push(Part::TaskQueue(TaskQueue {
            sid: queue,
            friendly_name: queue_name.to_owned(),
            target_workers: "1==1".to_owned(),
            max_reserved_workers: 1,
            task_order: TaskOrder::Fifo,
            reservation_activity_sid: None,
            assignment_activity_sid: None,
        }));
        parts.push(Part::Workflow(Workflow {
            sid: new_sid(SidPrefix::WORKFLOW),
            friendly_name: workflow_name.to_owned(),
            configuration: everyone_configuration(queue),
            assignment_callback_url: None,
            fallback_assignment_callback_url: None,
            task_reservation_timeout: DEFAULT_RESERVATION_TIMEOUT,
        }));
    }
    let bare =
        WorkspaceSettings { default_activity_sid: None, timeout_activity_sid: None, ..settings };
    let mut commands = vec![WorkspaceCommand::Create { workspace_sid, settings: bare.clone() }];
    commands.extend(parts.into_iter().map(WorkspaceCommand::Add));
    let settings = WorkspaceSettings {
        default_activity_sid: Some(offline),
        timeout_activity_sid: Some(offline),
        ..bare
    };
    commands.push(WorkspaceCommand::Update { settings });
    (workspace_sid, commands)
}

/// The settings of a workspace made with only a name: multitasking on, no callbacks.
pub fn named_settings(friendly_name: &str) -> WorkspaceSettings {
    WorkspaceSettings {
        friendly_name: friendly_name.to_owned(),
        event_callback_url: None,
        events_filter: None,
        multi_task_enabled: true,
        default_activity_sid: None,
        timeout_activity_sid: None,
    }
}

/// A workflow configuration sending every task to `queue`.
pub fn everyone_configuration(queue: Sid) -> String {
    format!(
        r#"{{"task_routing":{{"filters":[{{"filter_friendly_name":"Everyone","expression":"1==1","targets":[{{"queue":"{queue}"}}]}}],"default_filter":{{"queue":"{queue}"}}}}}}"#
    )
}

fn capitalized(name: &str) -> String {
    let mut chars = name.chars();
    chars
        .next()
        .map_or_else(String::new, |first| first.to_ascii_uppercase().to_string() + chars.as_str())
}

#[cfg(test)]
mod tests;
