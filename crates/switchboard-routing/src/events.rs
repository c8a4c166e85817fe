//! What one recorded worker or task event means in TaskRouter's own vocabulary: the event types
//! of Twilio's Events resource, `EventCallbackUrl` and the worker's real-time channel
//! (`reservation.created`, `task.completed`, `worker.activity.update`, …), each with the resource
//! it is most about, its description and the workers it concerns.
//!
//! Pure: it reads the stream's state before and after the event (the caller folds them), so one
//! mapping serves the live feed, a replay from the log and the Events resource alike.

use switchboard_domain::Sid;

use crate::task::{Reservation, ReservationStatus, TaskEvent, TaskState};
use crate::worker::{WorkerEvent, WorkerState};

/// `ResourceType` of an event: what it is most relevant to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ResourceType {
    Task,
    Reservation,
    Worker,
    TaskQueue,
}

impl ResourceType {
    /// As Twilio spells it in `ResourceType` (the REST `resource_type` is the same word).
    pub fn as_str(self) -> &'static str {
        match self {
            ResourceType::Task => "Task",
            ResourceType::Reservation => "Reservation",
            ResourceType::Worker => "Worker",
            ResourceType::TaskQueue => "TaskQueue",
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
    let holder = holder_of(after).or_else(|| holder_of(before));
    let task = |event_type: &'static str| RouterEvent {
        event_type,
        resource_type: ResourceType::Task,
        resource_sid: task_sid,
        description: type_description(event_type).to_owned(),
        task_sid: Some(task_sid),
        reservation_sid: None,
        worker_sid: holder,
    };
    let reservation = |event_type: &'static str, sid: &Sid| {
        let worker = after.reservation(*sid).or_else(|| before.reservation(*sid));
        RouterEvent {
            event_type,
            resource_type: ResourceType::Reservation,
            resource_sid: *sid,
            description: type_description(event_type).to_owned(),
            task_sid: Some(task_sid),
            reservation_sid: Some(*sid),
            worker_sid: worker.map(|r| r.worker_sid),
        }
    };
    let one = match event {
        TaskEvent::TaskCreated { .. } => task("task.created"),
        TaskEvent::TaskQueueEntered { route, .. } => RouterEvent {
            resource_type: ResourceType::TaskQueue,
            resource_sid: route.queue_sid,
            ..task("task-queue.entered")
        },
        TaskEvent::TaskAttributesUpdated { .. } | TaskEvent::TaskPriorityUpdated { .. } => {
            task("task.updated")
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
        TaskEvent::TaskWrapping => task("task.wrapup"),
        TaskEvent::TaskCompleted { .. } => task("task.completed"),
        TaskEvent::TaskCanceled { .. } => task("task.canceled"),
        TaskEvent::TaskDeleted => task("task.deleted"),
        // Twilio has no such event: an erasure is not told as a change of the task.
        TaskEvent::TaskAttributesErased => return Vec::new(),
    };
    vec![one]
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
