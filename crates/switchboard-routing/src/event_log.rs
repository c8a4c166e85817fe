//! A workspace's event log: every TaskRouter event of the workspace (`reservation.created`,
//! `task.completed`, `worker.activity.update`, …, as `events` names them), in the order the
//! router decided them, one stream per workspace. It is what the Events resource lists and what
//! `EventCallbackUrl` deliveries read by cursor, so an event is told once, in order, across
//! restarts.
//!
//! Each record keeps what Twilio's event carries (`data`: the task's, reservation's and worker's
//! fields as they were at that moment, under Twilio's callback parameter names), because the task
//! or worker changes afterwards. The stream's SID and each event's SID are derived from the
//! workspace's, so fetching an event by SID needs no index: the SID says where it is.

use serde::{Deserialize, Serialize};
use switchboard_domain::{Aggregate, DomainEvent, Recorded, Sid, SidPrefix, Timestamp};

use crate::events::RouterEvent;
use crate::task::{ReservationStatus, TaskEvent, TaskState};
use crate::worker::WorkerState;
use crate::workflow::Matched;
use crate::workspace::WorkspaceState;

/// One TaskRouter event as it is kept.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EventRecord {
    /// `EventType`, e.g. `reservation.created`.
    pub event_type: String,
    /// `ResourceType`: `Task`, `Reservation`, `Worker` or `TaskQueue`.
    pub resource_type: String,
    pub resource_sid: Sid,
    /// `EventDescription`.
    pub description: String,
    /// The event's own parameters (`TaskSid`, `TaskAttributes`, `WorkerName`, …) in Twilio's
    /// callback names, in order; the REST `event_data` is the same in snake case.
    pub data: Vec<(String, String)>,
    /// The task's or worker's stream the event comes from, and the sequence there.
    pub source_sid: Sid,
    pub source_seq: u64,
}

impl EventRecord {
    /// The value of parameter `name`, if the event has it.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.data.iter().find(|(key, _)| key == name).map(|(_, value)| value.as_str())
    }

    /// Shows the task's attributes as erased (`{}`), as the task shows them once erased.
    pub fn erase_task_attributes(&mut self) {
        self.set_task_attributes("{}");
    }

    fn set_task_attributes(&mut self, attributes: &str) {
        for (key, value) in &mut self.data {
            if key == "TaskAttributes" {
                attributes.clone_into(value);
            }
        }
    }

    /// The record as the log keeps it: `TaskAttributes` empty, to be read from the task's own
    /// stream when shown ([`EventRecord::show_task_attributes`]), so that the customer's data
    /// is only in the task's stream, and shredding that stream destroys it everywhere.
    pub fn keeping_task_attributes_apart(mut self) -> EventRecord {
        self.set_task_attributes("");
        self
    }

    /// Puts the task's attributes as they were at this event, from the task's `history`: `{}`
    /// once they were erased. A record kept before attributes were kept apart shows its own
    /// copy until then.
    pub fn show_task_attributes(&mut self, history: &AttributeHistory) {
        let shown = match self.get("TaskAttributes") {
            None => return,
            Some(_) if history.erased => "{}".to_owned(),
            Some("") => history.at(self.source_seq).to_owned(),
            Some(copy) => copy.to_owned(),
        };
        self.set_task_attributes(&shown);
    }
}

/// A task's attributes through its stream: what each event set them to, by sequence, and
/// whether they were erased (or the stream shredded).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AttributeHistory {
    changes: Vec<(u64, String)>,
    erased: bool,
}

impl AttributeHistory {
    /// Takes in the task's event at `seq` (in order).
    pub fn record(&mut self, seq: u64, event: &TaskEvent) {
        match event {
            TaskEvent::TaskCreated { attributes, .. }
            | TaskEvent::TaskAttributesUpdated { attributes } => {
                self.changes.push((seq, attributes.clone()));
            }
            TaskEvent::TaskAttributesErased | TaskEvent::TaskShredded { .. } => self.erased = true,
            _ => {}
        }
    }

    /// The attributes as the event at `seq` left them (`{}` when erased or unknown).
    pub fn at(&self, seq: u64) -> &str {
        if self.erased {
            return "{}";
        }
        let before = self.changes.iter().rev().find(|(at, _)| *at <= seq);
        before.map_or("{}", |(_, attributes)| attributes.as_str())
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum EventLogEvent {
    Recorded(EventRecord),
}

impl DomainEvent for EventLogEvent {
    fn type_name(&self) -> &'static str {
        match self {
            EventLogEvent::Recorded(_) => "router_event_recorded",
        }
    }
}

/// Records events, in order.
#[derive(Debug, Clone)]
pub struct RecordEvents(pub Vec<EventRecord>);

/// A log is only ever written to: nothing is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("never")]
pub enum EventLogRejection {}

/// What the log's stream holds in memory: how many events it has, and the time of the last.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct EventLogState {
    pub events_applied: u64,
    pub last_at: Timestamp,
}

impl EventLogState {
    /// The time to record new events at, given the caller's `at`: never before the last one,
    /// so the log stays in time order (callers read the clock before they take the router's
    /// lock, so two changes may reach it out of order by a little).
    pub fn next_at(&self, at: Timestamp) -> Timestamp {
        at.max(self.last_at)
    }
}

impl Aggregate for EventLogState {
    type Event = EventLogEvent;
    type Command = RecordEvents;
    type Rejection = EventLogRejection;
    type Pending = ();

    const PREFIX: SidPrefix = SidPrefix::TASKROUTER_EVENT;
    const NAME: &'static str = "workspace event log";

    fn decide(&self, command: RecordEvents) -> Result<Vec<EventLogEvent>, EventLogRejection> {
        Ok(command.0.into_iter().map(EventLogEvent::Recorded).collect())
    }

    fn apply(&mut self, record: &Recorded<EventLogEvent>) {
        self.events_applied += 1;
        self.last_at = self.last_at.max(record.at);
    }

    fn events_applied(&self) -> u64 {
        self.events_applied
    }

    fn skip_unreadable(&mut self) {
        self.events_applied += 1;
    }
}

/// What an event is about, right after it.
#[derive(Debug, Clone, Copy)]
pub enum Subject<'a> {
    Task(&'a TaskState),
    Worker(&'a WorkerState),
}

/// The record of `event`, made at `at` by the event at `source_seq` of stream `source_sid`,
/// with Twilio's parameters for what it is about, named from `workspace`.
pub fn record_of(
    event: &RouterEvent,
    subject: Subject<'_>,
    workspace: &WorkspaceState,
    at: Timestamp,
    source: (Sid, u64),
) -> EventRecord {
    let mut data = Vec::new();
    match subject {
        Subject::Task(task) => task_data(&mut data, event, task, workspace, at),
        Subject::Worker(worker) => worker_data(&mut data, worker),
    }
    EventRecord {
        event_type: event.event_type.to_owned(),
        resource_type: event.resource_type.as_str().to_owned(),
        resource_sid: event.resource_sid,
        description: event.description.clone(),
        data,
        source_sid: source.0,
        source_seq: source.1,
    }
}

type Data = Vec<(String, String)>;

fn put(data: &mut Data, name: &str, value: impl ToString) {
    data.push((name.to_owned(), value.to_string()));
}

/// A task's parameters (and its reservation's, for a reservation event).
fn task_data(
    data: &mut Data,
    event: &RouterEvent,
    task: &TaskState,
    workspace: &WorkspaceState,
    at: Timestamp,
) {
    if let Some(sid) = task.sid {
        put(data, "TaskSid", sid);
    }
    put(data, "TaskAttributes", &task.attributes);
    put(data, "TaskAge", task.age_secs(at));
    put(data, "TaskPriority", task.priority);
    put(data, "TaskAssignmentStatus", task.assignment_status.as_str());
    if let Some(channel) = task.task_channel_sid {
        put(data, "TaskChannelSid", channel);
        put(data, "TaskChannelUniqueName", &task.task_channel_unique_name);
    }
    if let Some(route) = task.route {
        put(data, "TaskQueueSid", route.queue_sid);
        if let Some(queue) = workspace.task_queue(route.queue_sid) {
            put(data, "TaskQueueName", &queue.friendly_name);
        }
    }
    if let Some(workflow) = task.workflow_sid {
        put(data, "WorkflowSid", workflow);
        if let Some(found) = workspace.workflow(workflow) {
            put(data, "WorkflowName", &found.friendly_name);
        }
    }
    match (event.event_type, &task.reason) {
        ("task.canceled", Some(reason)) => put(data, "TaskCanceledReason", reason),
        ("task.completed", Some(reason)) => put(data, "TaskCompletedReason", reason),
        _ => {}
    }
    let reservation = event.reservation_sid.and_then(|sid| task.reservation(sid));
    if let Some(reservation) = reservation {
        put(data, "ReservationSid", reservation.sid);
        put(data, "WorkerSid", reservation.worker_sid);
        put(data, "WorkerName", &reservation.worker_name);
        if reservation.status == ReservationStatus::Pending {
            put(data, "ReservationTimeout", reservation.deadline.millis_since(at) / 1000);
        }
        if let ("reservation.failed", Some(reason)) = (event.event_type, &reservation.failure) {
            put(data, "Reason", reason);
        }
    }
    if event.event_type.starts_with("workflow.") {
        workflow_data(data, task, workspace);
    }
    if event.event_type.starts_with("task.transfer-") {
        if let Some((transfer_type, to)) = crate::events::transfer_fields(task) {
            put(data, "TransferType", transfer_type);
            put(data, "TransferTo", to);
        }
    }
}

/// What a `workflow.*` event says of the step the task is in: the queue's `TargetWorkers`, and
/// the filter's name and expression and the target's expression as the workflow's
/// configuration writes them (the default filter has neither).
fn workflow_data(data: &mut Data, task: &TaskState, workspace: &WorkspaceState) {
    let Some(route) = task.route else { return };
    if let Some(queue) = workspace.task_queue(route.queue_sid) {
        put(data, "TaskQueueTargetExpression", &queue.target_workers);
    }
    let (Some(workflow), Some(Matched::Filter(index))) =
        (task.workflow_sid.and_then(|sid| workspace.workflow(sid)), route.filter)
    else {
        return;
    };
    let Ok(configuration) = serde_json::from_str::<serde_json::Value>(&workflow.configuration)
    else {
        return;
    };
    let filter = &configuration["task_routing"]["filters"][index];
    let text = |value: &serde_json::Value| value.as_str().map(str::to_owned);
    let name = text(&filter["filter_friendly_name"]).or_else(|| text(&filter["friendly_name"]));
    let target = &filter["targets"][route.target_index as usize];
    for (key, value) in [
        ("WorkflowFilterName", name),
        ("WorkflowFilterExpression", text(&filter["expression"])),
        ("WorkflowFilterTargetExpression", text(&target["expression"])),
    ] {
        if let Some(value) = value {
            put(data, key, value);
        }
    }
}

/// A worker's parameters.
fn worker_data(data: &mut Data, worker: &WorkerState) {
    if let Some(sid) = worker.sid {
        put(data, "WorkerSid", sid);
    }
    put(data, "WorkerName", &worker.friendly_name);
    put(data, "WorkerAttributes", &worker.attributes);
    if let Some(activity) = &worker.activity {
        put(data, "WorkerActivitySid", activity.sid);
        put(data, "WorkerActivityName", &activity.name);
        put(data, "WorkerAvailable", activity.available);
    }
}

/// The SID of `workspace`'s event log stream: `EV` and the workspace's id.
pub fn log_sid(workspace: Sid) -> Sid {
    Sid::from_parts(SidPrefix::TASKROUTER_EVENT, workspace.id())
}

/// The workspace whose event log stream `log` is (the inverse of [`log_sid`]).
pub fn workspace_of(log: Sid) -> Sid {
    Sid::from_parts(SidPrefix::WORKSPACE, log.id())
}

/// The SID of the event at `seq` of `workspace`'s log: `EV`, the workspace id's first eight
/// bytes and the sequence (big-endian). It differs from [`log_sid`]'s (whose last eight bytes
/// are the workspace's) for every sequence but one in 2^64.
pub fn event_sid(workspace: Sid, seq: u64) -> Sid {
    let mut id = [0u8; 16];
    id[..8].copy_from_slice(&workspace.id()[..8]);
    id[8..].copy_from_slice(&seq.to_be_bytes());
    Sid::from_parts(SidPrefix::TASKROUTER_EVENT, id)
}

/// The sequence an event SID names in `workspace`'s log; `None` for a SID not derived from it.
pub fn seq_of(workspace: Sid, event: Sid) -> Option<u64> {
    let id = event.id();
    if event.prefix() != SidPrefix::TASKROUTER_EVENT || id[..8] != workspace.id()[..8] {
        return None;
    }
    Some(u64::from_be_bytes(id[8..].try_into().ok()?))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn workspace() -> Sid {
        "WS0123456789abcdef0123456789abcdef".parse().unwrap()
    }

    #[test]
    fn an_event_sid_says_its_place_in_its_workspace_s_log_and_no_other() {
        let sid = event_sid(workspace(), 41);
        assert_eq!(sid.prefix(), SidPrefix::TASKROUTER_EVENT);
        assert_eq!(seq_of(workspace(), sid), Some(41));
        let other: Sid = "WSfedcba9876543210fedcba9876543210".parse().unwrap();
        assert_eq!(seq_of(other, sid), None, "another workspace's log");
        let task: Sid = "WT0123456789abcdef0000000000000029".parse().unwrap();
        assert_eq!(seq_of(workspace(), task), None, "not an event");
        assert_ne!(log_sid(workspace()), event_sid(workspace(), 0));
        assert_eq!(workspace_of(log_sid(workspace())), workspace());
    }

    fn sid(prefix: SidPrefix, n: u8) -> Sid {
        Sid::from_parts(prefix, [n; 16])
    }

    /// A task created at 0 s and reserved to "agent 7" at 1 s (deadline 120 s), and the
    /// reservation event.
    fn reserved_task() -> (TaskState, RouterEvent) {
        use crate::task::{Route, TaskCommand};
        let at = |secs: i64| Timestamp::from_millis(secs * 1000);
        let mut task = TaskState::default();
        let route = Route::new(sid(SidPrefix::TASK_QUEUE, 1), 0, None);
        let commands = [
            TaskCommand::Create {
                task_sid: sid(SidPrefix::TASK, 1),
                account_sid: sid(SidPrefix::ACCOUNT, 1),
                workspace_sid: sid(SidPrefix::WORKSPACE, 1),
                workflow_sid: sid(SidPrefix::WORKFLOW, 1),
                task_channel_sid: sid(SidPrefix::TASK_CHANNEL, 1),
                task_channel_unique_name: "chat".into(),
                attributes: r#"{"name":"Ann"}"#.into(),
                priority: 3,
                timeout_secs: 3600,
                at: at(0),
            },
            TaskCommand::EnterQueue { route, at: at(0) },
            TaskCommand::Reserve {
                reservation_sid: sid(SidPrefix::RESERVATION, 1),
                worker_sid: sid(SidPrefix::WORKER, 7),
                worker_name: "agent 7".into(),
                deadline: at(120),
                at: at(1),
            },
        ];
        let mut mapped = Vec::new();
        for command in commands {
            for event in task.decide(command).unwrap() {
                let before = task.clone();
                task.apply(&Recorded::new(at(1), event.clone()));
                mapped.extend(crate::events::task_events(&before, &event, &task));
            }
        }
        (task, mapped.pop().unwrap())
    }

    #[test]
    fn a_reservation_s_record_carries_the_task_and_the_worker_in_twilio_s_names() {
        let (task, created) = reserved_task();
        assert_eq!(created.event_type, "reservation.created");
        let now = Timestamp::from_millis(21_000);
        let source = (sid(SidPrefix::TASK, 1), 2);
        let record =
            record_of(&created, Subject::Task(&task), &WorkspaceState::default(), now, source);
        assert_eq!(record.event_type, "reservation.created");
        assert_eq!(record.resource_type, "Reservation");
        assert_eq!(record.resource_sid, sid(SidPrefix::RESERVATION, 1));
        assert_eq!((record.source_sid, record.source_seq), source);
        let expected = [
            ("TaskSid", sid(SidPrefix::TASK, 1).to_string()),
            ("TaskAttributes", r#"{"name":"Ann"}"#.to_owned()),
            ("TaskAge", "21".to_owned()),
            ("TaskPriority", "3".to_owned()),
            ("TaskAssignmentStatus", "reserved".to_owned()),
            ("TaskChannelUniqueName", "chat".to_owned()),
            ("TaskQueueSid", sid(SidPrefix::TASK_QUEUE, 1).to_string()),
            ("WorkflowSid", sid(SidPrefix::WORKFLOW, 1).to_string()),
            ("ReservationSid", sid(SidPrefix::RESERVATION, 1).to_string()),
            ("WorkerSid", sid(SidPrefix::WORKER, 7).to_string()),
            ("WorkerName", "agent 7".to_owned()),
            ("ReservationTimeout", "99".to_owned()),
        ];
        for (name, value) in expected {
            assert_eq!(record.get(name), Some(value.as_str()), "{name}");
        }
        assert_eq!(record.get("TaskCanceledReason"), None);
    }

    #[test]
    fn a_kept_record_shows_the_attributes_of_its_moment_until_they_are_erased() {
        let (task, created) = reserved_task();
        let source = (sid(SidPrefix::TASK, 1), 2);
        let state = WorkspaceState::default();
        let at = Timestamp::from_millis(2_000);
        let kept = record_of(&created, Subject::Task(&task), &state, at, source)
            .keeping_task_attributes_apart();
        assert_eq!(kept.get("TaskAttributes"), Some(""), "the log holds no copy");
        let mut history = AttributeHistory::default();
        history.record(0, &TaskEvent::TaskAttributesUpdated { attributes: r#"{"a":1}"#.into() });
        history.record(3, &TaskEvent::TaskAttributesUpdated { attributes: r#"{"a":2}"#.into() });
        let mut shown = kept.clone();
        shown.show_task_attributes(&history);
        assert_eq!(shown.get("TaskAttributes"), Some(r#"{"a":1}"#), "as at sequence 2");
        let mut old = record_of(&created, Subject::Task(&task), &state, at, source);
        old.show_task_attributes(&history);
        assert_eq!(old.get("TaskAttributes"), Some(r#"{"name":"Ann"}"#), "an older copy");
        history.record(4, &TaskEvent::TaskAttributesErased);
        for mut record in [kept, old] {
            record.show_task_attributes(&history);
            assert_eq!(record.get("TaskAttributes"), Some("{}"));
        }
    }

    #[test]
    fn recording_counts_every_event_in_order_and_refuses_nothing() {
        let record = |n: u64| EventRecord {
            event_type: "task.created".to_owned(),
            resource_type: "Task".to_owned(),
            resource_sid: event_sid(workspace(), n),
            description: String::new(),
            data: vec![("TaskSid".to_owned(), format!("{n}"))],
            source_sid: workspace(),
            source_seq: n,
        };
        let state = EventLogState::default();
        let events = state.decide(RecordEvents(vec![record(0), record(1)])).unwrap();
        assert_eq!(
            events,
            vec![EventLogEvent::Recorded(record(0)), EventLogEvent::Recorded(record(1))]
        );
        assert_eq!(record(1).get("TaskSid"), Some("1"));
        assert_eq!(record(1).get("WorkerSid"), None);
    }
}
