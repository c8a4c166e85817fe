//! What one recorded worker or task event means in TaskRouter's own vocabulary: the event types
//! of Twilio's Events resource, `EventCallbackUrl` and the worker's real-time channel
//! (`reservation.created`, `task.completed`, `worker.activity.update`, …), each with the resource
//! it is most about, its description and the workers it concerns.
//!
//! Pure: it reads the stream's state before and after the event (the caller folds them), so one
//! mapping serves the live feed, a replay from the log and the Events resource alike.

use switchboard_domain::Sid;

use crate::task::{
    Entry, Reservation, ReservationStatus, Route, TaskEvent, TaskState, TTL_EXCEEDED_REASON,
};
use crate::worker::{WorkerEvent, WorkerState};
use crate::workflow::{UNROUTED_REASON, WORKFLOW_TIMEOUT_REASON};

/// `ResourceType` of an event: what it is most relevant to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ResourceType {
    Task,
    Reservation,
    Worker,
    TaskQueue,
    Workflow,
}

impl ResourceType {
    /// As Twilio spells it in `ResourceType` (the REST `resource_type` is the same word).
    pub fn as_str(self) -> &'static str {
        match self {
            ResourceType::Task => "Task",
            ResourceType::Reservation => "Reservation",
            ResourceType::Worker => "Worker",
            ResourceType::TaskQueue => "TaskQueue",
            ResourceType::Workflow => "Workflow",
        }
    }
}

/// One TaskRouter event as Twilio names it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RouterEvent {
    /// `EventType`, e.g. `reservation.created`.
    pub event_type: &'static str,
    pub resource_type: ResourceType,
    pub resource_sid: Sid,
    /// `EventDescription`.
    pub description: String,
    /// The task it is about, if any (every task and reservation event).
    pub task_sid: Option<Sid>,
    /// The reservation it is about, if any.
    pub reservation_sid: Option<Sid>,
    /// The worker whose real-time channel it goes to: the reservation's worker, the worker
    /// holding (or last offered) the task, or the worker itself; `None` for a task no worker
    /// has been offered.
    pub worker_sid: Option<Sid>,
}

/// Twilio's descriptions of each event type. The reference lists one sentence per type; the
/// ones for `reservation.created` and `reservation.accepted` are its words, the others follow
/// them **[unverified wording]**.
pub fn type_description(event_type: &str) -> &'static str {
    match event_type {
        "task.created" => "A task is created",
        "task.updated" => "A task is updated",
        "task.canceled" => "A task is canceled",
        "task.wrapup" => "A task is moved to wrapup state",
        "task.completed" => "A task is completed",
        "task.deleted" => "A task is deleted",
        "task-queue.entered" => "A task enters a TaskQueue",
        "task-queue.timeout" => "A task times out of a TaskQueue",
        "task.transfer-initiated" => "A task transfer is initiated",
        "task.transfer-completed" => "A task transfer is completed",
        "task.transfer-failed" => "A task transfer failed",
        "task.transfer-canceled" => "A task transfer is canceled",
        "workflow.entered" => "A task enters a workflow",
        "workflow.target-matched" => "A task matches a workflow routing target",
        "workflow.skipped" => "A task skips a workflow routing target",
        "workflow.timeout" => "A task times out of a workflow",
        "reservation.failed" => "A task reservation failed",
        "reservation.created" => "A task is assigned to a worker",
        "reservation.accepted" => "A task reservation is accepted by a worker",
        "reservation.rejected" => "A task reservation is rejected by a worker",
        "reservation.timeout" => "A task reservation times out",
        "reservation.canceled" => "A task reservation is canceled",
        "reservation.rescinded" => "A task reservation is rescinded",
        "reservation.wrapup" => "A task reservation is moved to wrapup state",
        "reservation.completed" => "A task reservation is completed",
        "worker.created" => "A worker is created",
        "worker.deleted" => "A worker is deleted",
        "worker.activity.update" => "A worker's activity is updated",
        "worker.attributes.update" => "A worker's attributes are updated",
        "worker.capacity.update" => "A worker's capacity on a task channel is updated",
        "worker.channel.availability.update" => {
            "A worker's availability on a task channel is updated"
        }
        _ => "",
    }
}

/// The TaskRouter events one recorded task event makes, given the task before and after it.
pub fn task_events(before: &TaskState, event: &TaskEvent, after: &TaskState) -> Vec<RouterEvent> {
    let Some(task_sid) = after.sid.or(before.sid) else { return Vec::new() };
    let make =
        Maker { task_sid, holder: holder_of(after).or_else(|| holder_of(before)), before, after };
    let transfer = is_transfer(after);
    let reservation =
        |event_type: &'static str, sid: &Sid| vec![make.reservation(event_type, *sid)];
    match event {
        TaskEvent::TaskCreated { .. } if transfer => {
            vec![make.task("task.created"), make.task("task.transfer-initiated")]
        }
        TaskEvent::TaskCreated { .. } => vec![make.task("task.created")],
        TaskEvent::TaskQueueEntered { route, .. } => make.entered(route),
        TaskEvent::ReservationAccepted { reservation_sid } if transfer => vec![
            make.reservation("reservation.accepted", *reservation_sid),
            make.task("task.transfer-completed"),
        ],
        TaskEvent::TaskCanceled { reason } => make.canceled(reason, transfer),
        TaskEvent::TaskAttributesUpdated { .. } | TaskEvent::TaskPriorityUpdated { .. } => {
            vec![make.task("task.updated")]
        }
        TaskEvent::ReservationCreated { reservation_sid, .. } => {
            reservation("reservation.created", reservation_sid)
        }
        TaskEvent::ReservationAccepted { reservation_sid } => {
            reservation("reservation.accepted", reservation_sid)
        }
        TaskEvent::ReservationRejected { reservation_sid } => {
            reservation("reservation.rejected", reservation_sid)
        }
        TaskEvent::ReservationTimedOut { reservation_sid } => {
            reservation("reservation.timeout", reservation_sid)
        }
        TaskEvent::ReservationRescinded { reservation_sid } => {
            reservation("reservation.rescinded", reservation_sid)
        }
        TaskEvent::ReservationCanceled { reservation_sid } => {
            reservation("reservation.canceled", reservation_sid)
        }
        TaskEvent::ReservationWrapping { reservation_sid } => {
            reservation("reservation.wrapup", reservation_sid)
        }
        TaskEvent::ReservationCompleted { reservation_sid } => {
            reservation("reservation.completed", reservation_sid)
        }
        TaskEvent::ReservationFailed { reservation_sid, .. } => {
            reservation("reservation.failed", reservation_sid)
        }
        TaskEvent::TaskWrapping => vec![make.task("task.wrapup")],
        TaskEvent::TaskCompleted { .. } => vec![make.task("task.completed")],
        TaskEvent::TaskDeleted => vec![make.task("task.deleted")],
        // Twilio has no such event: an erasure is not told as a change of the task.
        TaskEvent::TaskAttributesErased | TaskEvent::TaskShredded { .. } => Vec::new(),
    }
}

/// Makes the events of one change of one task.
struct Maker<'a> {
    task_sid: Sid,
    /// The worker the task is with, whose real-time channel its task events go to.
    holder: Option<Sid>,
    before: &'a TaskState,
    after: &'a TaskState,
}

impl Maker<'_> {
    fn task(&self, event_type: &'static str) -> RouterEvent {
        RouterEvent {
            event_type,
            resource_type: ResourceType::Task,
            resource_sid: self.task_sid,
            description: type_description(event_type).to_owned(),
            task_sid: Some(self.task_sid),
            reservation_sid: None,
            worker_sid: self.holder,
        }
    }

    fn reservation(&self, event_type: &'static str, sid: Sid) -> RouterEvent {
        let worker = self.after.reservation(sid).or_else(|| self.before.reservation(sid));
        RouterEvent {
            resource_type: ResourceType::Reservation,
            resource_sid: sid,
            reservation_sid: Some(sid),
            worker_sid: worker.map(|r| r.worker_sid),
            ..self.task(event_type)
        }
    }

    fn workflow(&self, event_type: &'static str) -> RouterEvent {
        RouterEvent {
            resource_type: ResourceType::Workflow,
            resource_sid: self.after.workflow_sid.unwrap_or(self.task_sid),
            ..self.task(event_type)
        }
    }

    fn queue(&self, event_type: &'static str, queue_sid: Sid) -> RouterEvent {
        RouterEvent {
            resource_type: ResourceType::TaskQueue,
            resource_sid: queue_sid,
            ..self.task(event_type)
        }
    }

    /// A step entered: the workflow entered (the first step), or why the step before was left
    /// (its timeout, or `skip_if`); the queue entered; the target matched.
    fn entered(&self, route: &Route) -> Vec<RouterEvent> {
        let mut events = Vec::with_capacity(3);
        match (self.before.route, route.entry) {
            (None, _) => events.push(self.workflow("workflow.entered")),
            (Some(left), Entry::StepTimedOut) => {
                events.push(self.queue("task-queue.timeout", left.queue_sid));
            }
            (Some(_), Entry::Skipped) => events.push(self.workflow("workflow.skipped")),
            (Some(_), Entry::Routed) => {}
        }
        events.push(self.queue("task-queue.entered", route.queue_sid));
        events.push(self.workflow("workflow.target-matched"));
        events
    }

    /// A cancellation: by the workflow's last timeout (`workflow.timeout` first), and for a
    /// transfer's task, the transfer failed (the router could not place it: TTL, workflow
    /// timeout, no filter) or canceled (by someone).
    fn canceled(&self, reason: &str, transfer: bool) -> Vec<RouterEvent> {
        let mut events = Vec::with_capacity(2);
        if reason == WORKFLOW_TIMEOUT_REASON {
            events.push(self.workflow("workflow.timeout"));
        }
        events.push(self.task("task.canceled"));
        let failed =
            [TTL_EXCEEDED_REASON, WORKFLOW_TIMEOUT_REASON, UNROUTED_REASON].contains(&reason);
        match (transfer, failed) {
            (true, true) => events.push(self.task("task.transfer-failed")),
            (true, false) => events.push(self.task("task.transfer-canceled")),
            (false, _) => {}
        }
        events
    }
}

/// Whether the task is a transfer's (Flex's new-task pattern names where it goes in
/// `transferTargetType`).
pub fn is_transfer(task: &TaskState) -> bool {
    transfer_fields(task).is_some()
}

/// A transfer task's `transferTargetType` and `targetSid` (Twilio's `TransferType` and
/// `TransferTo`), `None` for a task that is no transfer.
pub fn transfer_fields(task: &TaskState) -> Option<(String, String)> {
    if !task.attributes.contains("transferTargetType") {
        return None; // most tasks: no JSON parse
    }
    let attributes: serde_json::Value = serde_json::from_str(&task.attributes).ok()?;
    let text = |key: &str| attributes.get(key).and_then(|v| v.as_str()).map(str::to_owned);
    Some((text("transferTargetType")?, text("targetSid").unwrap_or_default()))
}

/// The worker a task is with: the one of its latest reservation that was not declined or
/// withdrawn (pending, accepted, wrapping, completed, or canceled with the task).
fn holder_of(task: &TaskState) -> Option<Sid> {
    let with = |r: &&Reservation| {
        !matches!(
            r.status,
            ReservationStatus::Rejected | ReservationStatus::Timeout | ReservationStatus::Rescinded
        )
    };
    task.reservations.iter().rev().find(with).map(|r| r.worker_sid)
}

/// The TaskRouter events one recorded worker event makes, given the worker before and after it.
pub fn worker_events(
    before: &WorkerState,
    event: &WorkerEvent,
    after: &WorkerState,
) -> Vec<RouterEvent> {
    let Some(worker_sid) = after.sid.or(before.sid) else { return Vec::new() };
    let worker = |event_type: &'static str| RouterEvent {
        event_type,
        resource_type: ResourceType::Worker,
        resource_sid: worker_sid,
        description: type_description(event_type).to_owned(),
        task_sid: None,
        reservation_sid: None,
        worker_sid: Some(worker_sid),
    };
    worker_changes(before, event, after, worker)
}

/// [`worker_events`] once the worker is known.
fn worker_changes(
    before: &WorkerState,
    event: &WorkerEvent,
    after: &WorkerState,
    worker: impl Fn(&'static str) -> RouterEvent,
) -> Vec<RouterEvent> {
    match event {
        WorkerEvent::WorkerCreated { .. } => vec![worker("worker.created")],
        WorkerEvent::WorkerUpdated { attributes: Some(_), .. }
            if before.attributes != after.attributes =>
        {
            vec![worker("worker.attributes.update")]
        }
        WorkerEvent::WorkerUpdated { .. } | WorkerEvent::ChannelAdded { .. } => Vec::new(),
        WorkerEvent::ActivityChanged { activity, .. } => vec![RouterEvent {
            // Twilio's words in its Events resource: "Worker <name> updated to <activity>
            // Activity".
            description: format!(
                "Worker {} updated to {} Activity",
                after.friendly_name, activity.name
            ),
            ..worker("worker.activity.update")
        }],
        WorkerEvent::ChannelChanged { task_channel_sid, configured_capacity, available } => {
            let was = before.channel(*task_channel_sid);
            let mut events = Vec::new();
            if was.is_none_or(|c| c.configured_capacity != *configured_capacity) {
                events.push(worker("worker.capacity.update"));
            }
            if was.is_none_or(|c| c.available != *available) {
                events.push(worker("worker.channel.availability.update"));
            }
            events
        }
        WorkerEvent::WorkerDeleted => vec![worker("worker.deleted")],
    }
}

#[cfg(test)]
mod tests;
