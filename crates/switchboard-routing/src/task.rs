//! TaskRouter Tasks and their Reservations, as one event-sourced aggregate in a stream named by
//! the task's `WT` SID: a reservation lives and dies with its task, and the rules that bind them
//! (at most one pending reservation, the task's status agreeing with its reservations) are
//! checked in one place.
//!
//! The caller routes (evaluates the workflow, picks the queue and target) and matches (see
//! `matching.rs`); this aggregate only allows legal transitions and records them. Illegal ones
//! are refused with Twilio's wording (HTTP 400, code 20001). Time, reservation SIDs and
//! deadlines come in with the commands.

use serde::{Deserialize, Serialize};
use switchboard_domain::{Aggregate, DomainEvent, Recorded, Sid, SidPrefix, Timestamp};

use crate::matching::TaskView;
use crate::workflow::Matched;

mod decide;
mod fold;

pub use decide::decide_task;

/// Twilio's default task TTL (`Timeout`), in seconds: a day.
pub const DEFAULT_TIMEOUT_SECS: u32 = 86_400;
/// Twilio's largest task TTL: two weeks.
pub const MAX_TIMEOUT_SECS: u32 = 1_209_600;
/// Twilio's largest priority, 2^31 − 1.
pub const MAX_PRIORITY: u32 = i32::MAX as u32;
/// Our bound on an attributes document, in bytes (a stranger writes it; every routing decision
/// reads it).
pub const MAX_ATTRIBUTES_LEN: usize = 16 * 1024;
/// Our bound on a completion or cancellation reason, in bytes.
pub const MAX_REASON_LEN: usize = 1024;
/// The reason a task whose TTL ran out is canceled with (OAI).
pub const TTL_EXCEEDED_REASON: &str = "Task TTL Exceeded";

/// Checks an attributes document: a JSON object, within [`MAX_ATTRIBUTES_LEN`]. Shared with
/// workers, whose attributes follow the same rule.
pub fn check_attributes(attributes: &str) -> Result<(), String> {
    if attributes.len() > MAX_ATTRIBUTES_LEN {
        return Err(format!("Attributes must be at most {MAX_ATTRIBUTES_LEN} bytes"));
    }
    match serde_json::from_str::<serde_json::Value>(attributes) {
        Ok(serde_json::Value::Object(_)) => Ok(()),
        Ok(_) => Err("Attributes must be a JSON object".into()),
        Err(_) => Err("Attributes must be valid JSON".into()),
    }
}

/// A task's `assignment_status`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum AssignmentStatus {
    #[default]
    Pending,
    Reserved,
    Assigned,
    Wrapping,
    Completed,
    Canceled,
}

impl AssignmentStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            AssignmentStatus::Pending => "pending",
            AssignmentStatus::Reserved => "reserved",
            AssignmentStatus::Assigned => "assigned",
            AssignmentStatus::Wrapping => "wrapping",
            AssignmentStatus::Completed => "completed",
            AssignmentStatus::Canceled => "canceled",
        }
    }

    /// Whether the task is over (it keeps its stream, but nothing routes it any more).
    pub fn is_final(self) -> bool {
        matches!(self, AssignmentStatus::Completed | AssignmentStatus::Canceled)
    }
}

/// A reservation's `reservation_status`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ReservationStatus {
    Pending,
    Accepted,
    Rejected,
    Timeout,
    Canceled,
    Rescinded,
    Wrapping,
    Completed,
}

impl ReservationStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            ReservationStatus::Pending => "pending",
            ReservationStatus::Accepted => "accepted",
            ReservationStatus::Rejected => "rejected",
            ReservationStatus::Timeout => "timeout",
            ReservationStatus::Canceled => "canceled",
            ReservationStatus::Rescinded => "rescinded",
            ReservationStatus::Wrapping => "wrapping",
            ReservationStatus::Completed => "completed",
        }
    }

    /// Whether a reservation in this status takes a slot of its worker's capacity: pending,
    /// accepted and wrapping ones do (a wrapping chat still occupies the agent).
    pub fn holds_capacity(self) -> bool {
        matches!(
            self,
            ReservationStatus::Pending | ReservationStatus::Accepted | ReservationStatus::Wrapping
        )
    }
}

/// One offer of the task to one worker (`WR…`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Reservation {
    pub sid: Sid,
    pub worker_sid: Sid,
    pub worker_name: String,
    pub status: ReservationStatus,
    pub date_created: Timestamp,
    pub date_updated: Timestamp,
    /// When a pending reservation times out; kept after, as its history.
    pub deadline: Timestamp,
    /// The queue entry ([`TaskState::queue_entry`]) it was made in: a worker that rejected or
    /// let a reservation time out is not offered the task again in the same entry.
    pub queue_entry: u32,
    /// Why carrying out an instruction for it failed (`reservation.failed`), if one did.
    #[serde(default)]
    pub failure: Option<String>,
}

/// Where the workflow put a task: a queue, as the `target_index`th target of the matched filter.
///
/// The fields after `priority` came later: records made before them read as a route worked out
/// again from the task's attributes, entered at the task's creation, nothing skipped.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Route {
    pub queue_sid: Sid,
    pub target_index: u32,
    /// The target's `priority`, which replaces the task's (as Twilio does); `None` keeps it.
    pub priority: Option<u32>,
    /// The filter whose step this is; `None`: the one the attributes match first.
    #[serde(default)]
    pub filter: Option<Matched>,
    /// The first step of the filter the task did not skip (`skip_if`).
    #[serde(default)]
    pub first_step: u32,
    /// When the task entered the filter, which its steps' timeouts count from; `None`: at its
    /// creation.
    #[serde(default)]
    pub since: Option<Timestamp>,
    /// Why the task entered this step.
    #[serde(default)]
    pub entry: Entry,
}

/// Why a task entered a step of its workflow.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum Entry {
    /// Routed by its attributes (created, or its attributes changed while it waited).
    #[default]
    Routed,
    /// The step before timed out.
    StepTimedOut,
    /// The step before was skipped (`skip_if`), or every step of the filter before was.
    Skipped,
}

impl Route {
    /// A step entered by routing, the first of its filter, timed from the task's creation.
    pub fn new(queue_sid: Sid, target_index: u32, priority: Option<u32>) -> Route {
        Route {
            queue_sid,
            target_index,
            priority,
            filter: None,
            first_step: 0,
            since: None,
            entry: Entry::Routed,
        }
    }

    /// Whether two routes put the task in the same step of the same filter (however entered).
    pub fn same_step(&self, other: &Route) -> bool {
        (self.queue_sid, self.target_index, self.filter, self.first_step, self.since)
            == (other.queue_sid, other.target_index, other.filter, other.first_step, other.since)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TaskEvent {
    TaskCreated {
        task_sid: Sid,
        account_sid: Sid,
        workspace_sid: Sid,
        workflow_sid: Sid,
        task_channel_sid: Sid,
        task_channel_unique_name: String,
        /// A JSON object as a string.
        attributes: String,
        priority: u32,
        timeout_secs: u32,
        at: Timestamp,
    },
    /// The task entered a queue (at creation, on a target's timeout, on re-routing).
    TaskQueueEntered {
        route: Route,
        at: Timestamp,
    },
    TaskAttributesUpdated {
        attributes: String,
    },
    TaskPriorityUpdated {
        priority: u32,
    },
    ReservationCreated {
        reservation_sid: Sid,
        worker_sid: Sid,
        worker_name: String,
        deadline: Timestamp,
        at: Timestamp,
    },
    ReservationAccepted {
        reservation_sid: Sid,
    },
    ReservationRejected {
        reservation_sid: Sid,
    },
    ReservationTimedOut {
        reservation_sid: Sid,
    },
    ReservationRescinded {
        reservation_sid: Sid,
    },
    ReservationCanceled {
        reservation_sid: Sid,
    },
    ReservationWrapping {
        reservation_sid: Sid,
    },
    ReservationCompleted {
        reservation_sid: Sid,
    },
    /// An instruction for the reservation (an assignment callback's) could not be carried out;
    /// the reservation stays as it was.
    ReservationFailed {
        reservation_sid: Sid,
        reason: String,
    },
    TaskWrapping,
    TaskCompleted {
        reason: String,
    },
    TaskCanceled {
        reason: String,
    },
    TaskDeleted,
    /// The task's attributes were erased with its chat channel's content (a customer's data):
    /// they are `{}` from now on, deleted or finished tasks included.
    TaskAttributesErased,
    /// The stream's content was destroyed (its data key shredded with its channel's): the one
    /// event stored in the clear, the last of the stream, saying what the task keeps without
    /// the customer's data ([`TaskState::without_customer_data`]).
    TaskShredded {
        kept: Box<TaskState>,
    },
}

impl DomainEvent for TaskEvent {
    fn type_name(&self) -> &'static str {
        match self {
            TaskEvent::TaskCreated { .. } => "task_created",
            TaskEvent::TaskQueueEntered { .. } => "task_queue_entered",
            TaskEvent::TaskAttributesUpdated { .. } => "task_attributes_updated",
            TaskEvent::TaskPriorityUpdated { .. } => "task_priority_updated",
            TaskEvent::ReservationCreated { .. } => "reservation_created",
            TaskEvent::ReservationAccepted { .. } => "reservation_accepted",
            TaskEvent::ReservationRejected { .. } => "reservation_rejected",
            TaskEvent::ReservationTimedOut { .. } => "reservation_timed_out",
            TaskEvent::ReservationRescinded { .. } => "reservation_rescinded",
            TaskEvent::ReservationCanceled { .. } => "reservation_canceled",
            TaskEvent::ReservationWrapping { .. } => "reservation_wrapping",
            TaskEvent::ReservationCompleted { .. } => "reservation_completed",
            TaskEvent::ReservationFailed { .. } => "reservation_failed",
            TaskEvent::TaskWrapping => "task_wrapping",
            TaskEvent::TaskCompleted { .. } => "task_completed",
            TaskEvent::TaskCanceled { .. } => "task_canceled",
            TaskEvent::TaskDeleted => "task_deleted",
            TaskEvent::TaskAttributesErased => "task_attributes_erased",
            TaskEvent::TaskShredded { .. } => "task_shredded",
        }
    }

    // Only the shred marker: it must stay readable once the stream's key is gone, and holds
    // nothing of the customer's.
    fn is_clear_text_allowed(&self) -> bool {
        matches!(self, TaskEvent::TaskShredded { .. })
    }
}

/// A request to change one task (and its reservations).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TaskCommand {
    /// Creates the task; the caller follows it with `EnterQueue` once the workflow has routed it.
    Create {
        task_sid: Sid,
        account_sid: Sid,
        workspace_sid: Sid,
        workflow_sid: Sid,
        task_channel_sid: Sid,
        task_channel_unique_name: String,
        attributes: String,
        priority: u32,
        /// The TTL; the caller passes [`DEFAULT_TIMEOUT_SECS`] when none was given.
        timeout_secs: u32,
        at: Timestamp,
    },
    /// New attributes. `reroute` is where the workflow puts a task with them; it is used only
    /// while the task is pending (a reserved or assigned task keeps its queue).
    UpdateAttributes {
        attributes: String,
        reroute: Option<Route>,
        at: Timestamp,
    },
    UpdatePriority {
        priority: u32,
    },
    /// Enters a queue: the first target, or the next one when a target's timeout expired. Only
    /// a pending task moves; a new entry forgets who declined it in the previous one.
    EnterQueue {
        route: Route,
        at: Timestamp,
    },
    /// Offers the task to a worker the caller's matcher chose.
    Reserve {
        reservation_sid: Sid,
        worker_sid: Sid,
        worker_name: String,
        /// `at` plus the workflow's `task_reservation_timeout`.
        deadline: Timestamp,
        at: Timestamp,
    },
    /// `worker_sid` is who accepts: accepting one's own accepted reservation again is a no-op.
    Accept {
        reservation_sid: Sid,
        worker_sid: Sid,
    },
    Reject {
        reservation_sid: Sid,
    },
    /// The reservation's timer fired; refused before its deadline.
    TimeoutReservation {
        reservation_sid: Sid,
        at: Timestamp,
    },
    /// The router withdraws a pending reservation (the worker went away, the task moved).
    Rescind {
        reservation_sid: Sid,
    },
    /// Records that an instruction for a pending reservation could not be carried out.
    FailReservation {
        reservation_sid: Sid,
        reason: String,
    },
    Cancel {
        reason: String,
    },
    Wrapup,
    Complete {
        reason: String,
    },
    /// The TTL timer fired; refused before the deadline. Cancels with "Task TTL Exceeded".
    ExpireTtl {
        at: Timestamp,
    },
    Delete,
    /// Erases the attributes, in whatever state the task is (deleted too); a no-op once done.
    EraseAttributes,
}

/// Why a task change was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TaskRejection {
    #[error("the task does not exist")]
    NotFound,
    #[error("the task SID is already in use")]
    AlreadyExists,
    #[error("the reservation {0} does not exist")]
    ReservationNotFound(Sid),
    /// Bad input (HTTP 400).
    #[error("{0}")]
    Invalid(String),
    /// A transition the task's state does not allow, in Twilio's words with the SIDs filled in
    /// (HTTP 400, code 20001).
    #[error("{0}")]
    IllegalTransition(String),
    /// A timer fired before its deadline (a stale or early timer: the caller re-arms it).
    #[error("not due before {due:?}")]
    NotDue { due: Timestamp },
}

/// A task as its events leave it; `Default` is "not created yet".
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct TaskState {
    pub sid: Option<Sid>,
    pub account_sid: Option<Sid>,
    pub workspace_sid: Option<Sid>,
    pub workflow_sid: Option<Sid>,
    pub task_channel_sid: Option<Sid>,
    pub task_channel_unique_name: String,
    pub attributes: String,
    pub priority: u32,
    pub timeout_secs: u32,
    /// When the TTL runs out: creation plus `timeout_secs`.
    pub ttl_deadline: Timestamp,
    /// What `age` counts from (creation; `virtual_start_time` is not supported).
    pub age_base: Timestamp,
    /// `None` until the workflow routed it.
    pub route: Option<Route>,
    pub task_queue_entered_date: Option<Timestamp>,
    /// How many times it entered a queue: reservations remember the entry they were made in.
    pub queue_entry: u32,
    pub assignment_status: AssignmentStatus,
    /// Why it completed or was canceled.
    pub reason: Option<String>,
    /// In the order they were made.
    pub reservations: Vec<Reservation>,
    pub deleted: bool,
    /// Whether its attributes were erased (`TaskAttributesErased`).
    #[serde(default)]
    pub attributes_erased: bool,
    pub date_created: Timestamp,
    pub date_updated: Timestamp,
    /// Counts changes, for `ETag`/`If-Match`.
    pub version: u64,
    pub events_applied: u64,
}

impl TaskState {
    /// Whether the task exists now (created and not deleted).
    pub fn is_live(&self) -> bool {
        self.sid.is_some() && !self.deleted
    }

    pub fn reservation(&self, sid: Sid) -> Option<&Reservation> {
        self.reservations.iter().find(|r| r.sid == sid)
    }

    /// The one pending reservation, if any.
    pub fn pending_reservation(&self) -> Option<&Reservation> {
        self.reservations.iter().find(|r| r.status == ReservationStatus::Pending)
    }

    /// The reservation that holds a slot of its worker's capacity now, if any.
    pub fn holding_reservation(&self) -> Option<&Reservation> {
        self.reservations.iter().find(|r| r.status.holds_capacity())
    }

    /// The workers that rejected the task or let it time out in its current queue entry.
    pub fn declined_by(&self) -> Vec<Sid> {
        let declined = |r: &&Reservation| {
            r.queue_entry == self.queue_entry
                && matches!(r.status, ReservationStatus::Rejected | ReservationStatus::Timeout)
        };
        self.reservations.iter().filter(declined).map(|r| r.worker_sid).collect()
    }

    /// What the task keeps when its stream is shredded: everything but what came from the
    /// customer or may name them (its attributes, its reason, why a reservation failed).
    pub fn without_customer_data(&self) -> TaskState {
        let mut kept = self.clone();
        "{}".clone_into(&mut kept.attributes);
        kept.attributes_erased = true;
        kept.reason = None;
        for reservation in &mut kept.reservations {
            reservation.failure = None;
        }
        kept
    }

    /// Age in whole seconds at `now`.
    pub fn age_secs(&self, now: Timestamp) -> u64 {
        now.millis_since(self.age_base) / 1000
    }

    /// What matching needs of this task while it waits (live, pending, in a queue); else `None`.
    pub fn waiting_view(&self) -> Option<TaskView> {
        if !self.is_live() || self.assignment_status != AssignmentStatus::Pending {
            return None;
        }
        Some(TaskView {
            sid: self.sid?,
            task_channel_sid: self.task_channel_sid?,
            queue_sid: self.route?.queue_sid,
            target_index: self.route?.target_index,
            priority: self.priority,
            entered: self.task_queue_entered_date?,
            declined_by: self.declined_by().into(),
        })
    }
}

impl Aggregate for TaskState {
    type Event = TaskEvent;
    type Command = TaskCommand;
    type Rejection = TaskRejection;
    type Pending = ();

    const PREFIX: SidPrefix = SidPrefix::TASK;
    const NAME: &'static str = "task";

    fn decide(&self, command: TaskCommand) -> Result<Vec<TaskEvent>, TaskRejection> {
        decide_task(self, command)
    }

    fn apply(&mut self, record: &Recorded<TaskEvent>) {
        TaskState::apply(self, record);
    }

    fn events_applied(&self) -> u64 {
        self.events_applied
    }

    fn skip_unreadable(&mut self) {
        self.events_applied += 1;
    }
}

#[cfg(test)]
mod tests;
