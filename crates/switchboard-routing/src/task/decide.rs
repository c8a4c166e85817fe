//! What a task may do next: each command checked against the task's state, refused with
//! Twilio's wording when the transition is illegal, else turned into the events that carry it out.

use switchboard_domain::{Sid, Timestamp};

use super::{
    check_attributes, AssignmentStatus as Task, ReservationStatus as Res, Route, TaskCommand,
    TaskEvent, TaskRejection, TaskState, MAX_PRIORITY, MAX_REASON_LEN, MAX_TIMEOUT_SECS,
    TTL_EXCEEDED_REASON,
};

type Decided = Result<Vec<TaskEvent>, TaskRejection>;

/// A change to a task, checked against its state.
pub fn decide_task(state: &TaskState, command: TaskCommand) -> Decided {
    match command {
        TaskCommand::Create { .. } => decide_create(state, command),
        TaskCommand::EraseAttributes if state.sid.is_none() => Err(TaskRejection::NotFound),
        TaskCommand::EraseAttributes if state.attributes_erased => Ok(Vec::new()),
        TaskCommand::EraseAttributes => Ok(vec![TaskEvent::TaskAttributesErased]),
        _ if !state.is_live() => Err(TaskRejection::NotFound),
        TaskCommand::UpdateAttributes { attributes, reroute, at } => {
            decide_attributes(state, attributes, reroute, at)
        }
        TaskCommand::UpdatePriority { priority } => {
            check_priority(priority)?;
            if priority == state.priority {
                return Ok(Vec::new());
            }
            Ok(vec![TaskEvent::TaskPriorityUpdated { priority }])
        }
        TaskCommand::EnterQueue { route, at } => {
            if state.assignment_status != Task::Pending {
                return Err(invalid(format!(
                    "Task {} is {}: only a pending task enters a queue",
                    shown(state.sid),
                    state.assignment_status.as_str()
                )));
            }
            Ok(vec![TaskEvent::TaskQueueEntered { route, at }])
        }
        TaskCommand::Reserve { reservation_sid, worker_sid, worker_name, deadline, at } => {
            check_reservable(state, reservation_sid, worker_sid)?;
            if deadline < at {
                return Err(invalid("a reservation's deadline cannot be before it is made".into()));
            }
            let created = TaskEvent::ReservationCreated {
                reservation_sid,
                worker_sid,
                worker_name,
                deadline,
                at,
            };
            Ok(vec![created])
        }
        TaskCommand::Accept { .. }
        | TaskCommand::Reject { .. }
        | TaskCommand::TimeoutReservation { .. }
        | TaskCommand::Rescind { .. } => decide_reservation(state, command),
        TaskCommand::FailReservation { reservation_sid, reason } => {
            pending(state, reservation_sid, "fail")?;
            check_reason(&reason)?;
            Ok(vec![TaskEvent::ReservationFailed { reservation_sid, reason }])
        }
        TaskCommand::Cancel { reason } => decide_cancel(state, reason),
        TaskCommand::Wrapup => decide_wrapup(state),
        TaskCommand::Complete { reason } => decide_complete(state, reason),
        TaskCommand::ExpireTtl { at } => {
            if !matches!(state.assignment_status, Task::Pending | Task::Reserved) {
                return Err(transition(state, "cancel task", "it is not pending or reserved"));
            }
            if at < state.ttl_deadline {
                return Err(TaskRejection::NotDue { due: state.ttl_deadline });
            }
            decide_cancel(state, TTL_EXCEEDED_REASON.to_owned())
        }
        TaskCommand::Delete => {
            let mut events = cancel_pending(state);
            events.push(TaskEvent::TaskDeleted);
            Ok(events)
        }
    }
}

/// A worker's or the router's answer to a reservation.
fn decide_reservation(state: &TaskState, command: TaskCommand) -> Decided {
    match command {
        TaskCommand::Accept { reservation_sid, worker_sid } => {
            decide_accept(state, reservation_sid, worker_sid)
        }
        TaskCommand::Reject { reservation_sid } => {
            pending(state, reservation_sid, "reject")?;
            Ok(vec![TaskEvent::ReservationRejected { reservation_sid }])
        }
        TaskCommand::TimeoutReservation { reservation_sid, at } => {
            let deadline = pending(state, reservation_sid, "time out")?;
            if at < deadline {
                return Err(TaskRejection::NotDue { due: deadline });
            }
            Ok(vec![TaskEvent::ReservationTimedOut { reservation_sid }])
        }
        TaskCommand::Rescind { reservation_sid } => {
            pending(state, reservation_sid, "rescind")?;
            Ok(vec![TaskEvent::ReservationRescinded { reservation_sid }])
        }
        _ => Err(invalid("not a reservation command".into())),
    }
}

fn decide_create(state: &TaskState, command: TaskCommand) -> Decided {
    let TaskCommand::Create {
        task_sid,
        account_sid,
        workspace_sid,
        workflow_sid,
        task_channel_sid,
        task_channel_unique_name,
        attributes,
        priority,
        timeout_secs,
        at,
    } = command
    else {
        return Err(invalid("not a create".into()));
    };
    if state.sid.is_some() {
        return Err(TaskRejection::AlreadyExists);
    }
    check_attributes(&attributes).map_err(invalid)?;
    check_priority(priority)?;
    if !(1..=MAX_TIMEOUT_SECS).contains(&timeout_secs) {
        return Err(invalid(format!("Timeout must be between 1 and {MAX_TIMEOUT_SECS}")));
    }
    Ok(vec![TaskEvent::TaskCreated {
        task_sid,
        account_sid,
        workspace_sid,
        workflow_sid,
        task_channel_sid,
        task_channel_unique_name,
        attributes,
        priority,
        timeout_secs,
        at,
    }])
}

/// New attributes; a pending task is re-routed where the caller's workflow put it. Attributes
/// change in every state, even after completion (Flex writes its conversation attributes then:
/// **[unverified]** that Twilio allows it on a canceled task too).
fn decide_attributes(
    state: &TaskState,
    attributes: String,
    reroute: Option<Route>,
    at: Timestamp,
) -> Decided {
    check_attributes(&attributes).map_err(invalid)?;
    if attributes == state.attributes {
        return Ok(Vec::new());
    }
    let mut events = vec![TaskEvent::TaskAttributesUpdated { attributes }];
    if let Some(route) = reroute.filter(|_| state.assignment_status == Task::Pending) {
        events.push(TaskEvent::TaskQueueEntered { route, at });
    }
    Ok(events)
}

/// Whether a new reservation for `worker_sid` may be made now: the task waits in a queue, holds
/// no pending reservation (MaxReservedWorkers = 1) and the worker has not declined it in this
/// queue entry.
fn check_reservable(
    state: &TaskState,
    reservation_sid: Sid,
    worker_sid: Sid,
) -> Result<(), TaskRejection> {
    if state.assignment_status != Task::Pending || state.pending_reservation().is_some() {
        return Err(invalid(format!(
            "Task {} is {}: only a pending task is reserved",
            shown(state.sid),
            state.assignment_status.as_str()
        )));
    }
    if state.route.is_none() {
        return Err(invalid(format!("Task {} is in no queue yet", shown(state.sid))));
    }
    if state.reservation(reservation_sid).is_some() {
        return Err(invalid(format!("the reservation SID {reservation_sid} is already in use")));
    }
    if state.declined_by().contains(&worker_sid) {
        return Err(invalid(format!(
            "Worker {worker_sid} declined task {} in this queue entry",
            shown(state.sid)
        )));
    }
    Ok(())
}

fn decide_accept(state: &TaskState, reservation_sid: Sid, worker_sid: Sid) -> Decided {
    let reservation = state
        .reservation(reservation_sid)
        .ok_or(TaskRejection::ReservationNotFound(reservation_sid))?;
    if reservation.worker_sid != worker_sid {
        return Err(invalid(format!(
            "Reservation {reservation_sid} is not for worker {worker_sid}"
        )));
    }
    match reservation.status {
        Res::Pending => Ok(vec![TaskEvent::ReservationAccepted { reservation_sid }]),
        // A retried accept (a client that lost the answer) changes nothing and succeeds.
        Res::Accepted => Ok(Vec::new()),
        _ => Err(not_pending(state, reservation_sid, "accept")),
    }
}

fn decide_cancel(state: &TaskState, reason: String) -> Decided {
    if !matches!(state.assignment_status, Task::Pending | Task::Reserved) {
        return Err(transition(state, "cancel task", "it is not pending or reserved"));
    }
    check_reason(&reason)?;
    let mut events = cancel_pending(state);
    events.push(TaskEvent::TaskCanceled { reason });
    Ok(events)
}

fn decide_wrapup(state: &TaskState) -> Decided {
    let accepted = state.reservations.iter().find(|r| r.status == Res::Accepted);
    match (state.assignment_status, accepted) {
        (Task::Assigned, Some(reservation)) => Ok(vec![
            TaskEvent::ReservationWrapping { reservation_sid: reservation.sid },
            TaskEvent::TaskWrapping,
        ]),
        _ => Err(transition(state, "wrap up a task", "it's not currently assigned")),
    }
}

fn decide_complete(state: &TaskState, reason: String) -> Decided {
    let holding = state.holding_reservation().filter(|r| r.status != Res::Pending);
    match (state.assignment_status, holding) {
        (Task::Assigned | Task::Wrapping, Some(reservation)) => {
            check_reason(&reason)?;
            Ok(vec![
                TaskEvent::ReservationCompleted { reservation_sid: reservation.sid },
                TaskEvent::TaskCompleted { reason },
            ])
        }
        _ => Err(transition(state, "complete task", "it is not currently assigned")),
    }
}

/// The events that cancel every pending reservation (the task is canceled or deleted).
fn cancel_pending(state: &TaskState) -> Vec<TaskEvent> {
    state
        .reservations
        .iter()
        .filter(|r| r.status == Res::Pending)
        .map(|r| TaskEvent::ReservationCanceled { reservation_sid: r.sid })
        .collect()
}

/// The deadline of a pending reservation, or why `verb` cannot be done to it.
fn pending(
    state: &TaskState,
    reservation_sid: Sid,
    verb: &str,
) -> Result<Timestamp, TaskRejection> {
    let reservation = state
        .reservation(reservation_sid)
        .ok_or(TaskRejection::ReservationNotFound(reservation_sid))?;
    if reservation.status != Res::Pending {
        return Err(not_pending(state, reservation_sid, verb));
    }
    Ok(reservation.deadline)
}

fn check_priority(priority: u32) -> Result<(), TaskRejection> {
    if priority > MAX_PRIORITY {
        return Err(invalid(format!("Priority must be between 0 and {MAX_PRIORITY}")));
    }
    Ok(())
}

fn check_reason(reason: &str) -> Result<(), TaskRejection> {
    if reason.trim().is_empty() {
        return Err(invalid("Reason is required to cancel or complete a task".into()));
    }
    if reason.len() > MAX_REASON_LEN {
        return Err(invalid(format!("Reason must be at most {MAX_REASON_LEN} bytes")));
    }
    Ok(())
}

fn invalid(message: String) -> TaskRejection {
    TaskRejection::Invalid(message)
}

fn shown(sid: Option<Sid>) -> String {
    sid.map_or_else(|| "?".to_owned(), |s| s.to_string())
}

/// Twilio's sentence for an illegal task transition: "Cannot complete task WT… in workspace
/// WS… for account AC… because it is not currently assigned." (MR's mock of real output; the
/// wrap-up and cancel sentences are from plugin-dialpad#31 and queued-callbacks#35).
fn transition(state: &TaskState, action: &str, because: &str) -> TaskRejection {
    TaskRejection::IllegalTransition(format!(
        "Cannot {action} {} in workspace {} for account {} because {because}.",
        shown(state.sid),
        shown(state.workspace_sid),
        shown(state.account_sid)
    ))
}

/// The same shape for a reservation that is no longer pending (**[unverified wording]**: we have
/// not seen Twilio's sentence for it).
fn not_pending(state: &TaskState, reservation_sid: Sid, verb: &str) -> TaskRejection {
    TaskRejection::IllegalTransition(format!(
        "Cannot {verb} reservation {reservation_sid} for task {} in workspace {} for account {} \
         because it is not pending.",
        shown(state.sid),
        shown(state.workspace_sid),
        shown(state.account_sid)
    ))
}
