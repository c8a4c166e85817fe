//! Unit tests of the event mapping: each recorded task or worker event, driven through the real
//! `decide` and `apply`, names the Twilio event type, resource and worker it should.

use switchboard_domain::{Aggregate, Recorded, Sid, SidPrefix, Timestamp};

use super::*;
use crate::task::{Entry, Route, TaskCommand};
use crate::worker::{Activity, WorkerChannel, WorkerCommand};
use crate::workflow::WORKFLOW_TIMEOUT_REASON;

fn sid(prefix: SidPrefix, n: u8) -> Sid {
    Sid::from_parts(prefix, [n; 16])
}

fn at(secs: i64) -> Timestamp {
    Timestamp::from_millis(secs * 1000)
}

/// Runs `command` on `state`, folding each event, and maps every event with the state before
/// and after it, as the router's feed does.
fn run<A: Aggregate>(
    state: &mut A,
    command: A::Command,
    map: impl Fn(&A, &A::Event, &A) -> Vec<RouterEvent>,
) -> Vec<RouterEvent>
where
    A::Rejection: std::fmt::Debug,
{
    let mut out = Vec::new();
    for event in state.decide(command).expect("the command is legal") {
        let before = state.clone();
        let record = Recorded::new(at(1), event.clone());
        state.apply(&record);
        out.extend(map(&before, &event, state));
    }
    out
}

fn types(events: &[RouterEvent]) -> Vec<&'static str> {
    events.iter().map(|e| e.event_type).collect()
}

fn task() -> TaskState {
    task_with("{}")
}

fn task_with(attributes: &str) -> TaskState {
    let mut task = TaskState::default();
    let create = TaskCommand::Create {
        task_sid: sid(SidPrefix::TASK, 1),
        account_sid: sid(SidPrefix::ACCOUNT, 1),
        workspace_sid: sid(SidPrefix::WORKSPACE, 1),
        workflow_sid: sid(SidPrefix::WORKFLOW, 1),
        task_channel_sid: sid(SidPrefix::TASK_CHANNEL, 1),
        task_channel_unique_name: "chat".into(),
        attributes: attributes.into(),
        priority: 0,
        timeout_secs: 3600,
        at: at(0),
    };
    run(&mut task, create, task_events);
    let route = Route::new(sid(SidPrefix::TASK_QUEUE, 1), 0, None);
    run(&mut task, TaskCommand::EnterQueue { route, at: at(0) }, task_events);
    task
}

#[test]
fn a_new_task_enters_its_workflow_then_its_queue_and_matches_a_target() {
    let mut task = TaskState::default();
    let routed = task_with("{}");
    let mut create = TaskCommand::Create {
        task_sid: routed.sid.unwrap(),
        account_sid: routed.account_sid.unwrap(),
        workspace_sid: routed.workspace_sid.unwrap(),
        workflow_sid: routed.workflow_sid.unwrap(),
        task_channel_sid: routed.task_channel_sid.unwrap(),
        task_channel_unique_name: "chat".into(),
        attributes: "{}".into(),
        priority: 0,
        timeout_secs: 3600,
        at: at(0),
    };
    let created = run(&mut task, create.clone(), task_events);
    assert_eq!(types(&created), ["task.created"]);
    assert_eq!(created[0].worker_sid, None, "no worker has been offered a new task");
    let route = Route::new(sid(SidPrefix::TASK_QUEUE, 1), 0, None);
    let entered = run(&mut task, TaskCommand::EnterQueue { route, at: at(0) }, task_events);
    assert_eq!(
        types(&entered),
        ["workflow.entered", "task-queue.entered", "workflow.target-matched"]
    );
    assert_eq!(entered[0].resource_type, ResourceType::Workflow);
    assert_eq!(entered[0].resource_sid, sid(SidPrefix::WORKFLOW, 1));
    assert_eq!(entered[1].resource_type, ResourceType::TaskQueue);
    assert_eq!(entered[1].resource_sid, sid(SidPrefix::TASK_QUEUE, 1));
    assert_eq!(entered[2].resource_type.as_str(), "Workflow");
    // A transfer's task says so as it is made.
    if let TaskCommand::Create { task_sid, attributes, .. } = &mut create {
        *task_sid = sid(SidPrefix::TASK, 2);
        *attributes = r#"{"transferTargetType":"worker","targetSid":"WK1"}"#.into();
    }
    let transfer = run(&mut TaskState::default(), create, task_events);
    assert_eq!(types(&transfer), ["task.created", "task.transfer-initiated"]);
}

#[test]
fn a_step_left_by_its_timeout_or_skip_if_says_why_and_the_last_timeout_ends_the_workflow() {
    let mut task = task();
    let moved = |entry| Route { entry, ..Route::new(sid(SidPrefix::TASK_QUEUE, 2), 1, None) };
    let timed_out = TaskCommand::EnterQueue { route: moved(Entry::StepTimedOut), at: at(30) };
    let events = run(&mut task, timed_out, task_events);
    assert_eq!(
        types(&events),
        ["task-queue.timeout", "task-queue.entered", "workflow.target-matched"]
    );
    assert_eq!(events[0].resource_sid, sid(SidPrefix::TASK_QUEUE, 1), "the queue it left");
    assert_eq!(events[1].resource_sid, sid(SidPrefix::TASK_QUEUE, 2));
    let skipped = TaskCommand::EnterQueue { route: moved(Entry::Skipped), at: at(31) };
    let events = run(&mut task, skipped, task_events);
    assert_eq!(
        types(&events),
        ["workflow.skipped", "task-queue.entered", "workflow.target-matched"]
    );
    let rerouted = TaskCommand::EnterQueue { route: moved(Entry::Routed), at: at(32) };
    let events = run(&mut task, rerouted, task_events);
    assert_eq!(types(&events), ["task-queue.entered", "workflow.target-matched"]);
    let cancel = TaskCommand::Cancel { reason: WORKFLOW_TIMEOUT_REASON.into() };
    let events = run(&mut task, cancel, task_events);
    assert_eq!(types(&events), ["workflow.timeout", "task.canceled"]);
    let mut other = self::task();
    let events = run(&mut other, TaskCommand::Cancel { reason: "hangup".into() }, task_events);
    assert_eq!(types(&events), ["task.canceled"], "no workflow timeout");
}

#[test]
fn a_transfer_s_task_completes_fails_or_is_canceled_as_a_transfer() {
    let transfer = r#"{"transferTargetType":"queue","targetSid":"WQ1","channelSid":"CH1"}"#;
    let mut task = task_with(transfer);
    reserve(&mut task, 1, 7);
    let accept = TaskCommand::Accept {
        reservation_sid: sid(SidPrefix::RESERVATION, 1),
        worker_sid: sid(SidPrefix::WORKER, 7),
    };
    let events = run(&mut task, accept, task_events);
    assert_eq!(types(&events), ["reservation.accepted", "task.transfer-completed"]);
    assert_eq!(events[1].worker_sid, Some(sid(SidPrefix::WORKER, 7)));
    assert_eq!(transfer_fields(&task), Some(("queue".to_owned(), "WQ1".to_owned())));
    let mut unplaced = task_with(transfer);
    let ttl = TaskCommand::Cancel { reason: crate::task::TTL_EXCEEDED_REASON.into() };
    let events = run(&mut unplaced, ttl, task_events);
    assert_eq!(types(&events), ["task.canceled", "task.transfer-failed"]);
    let mut withdrawn = task_with(transfer);
    let cancel = TaskCommand::Cancel { reason: "the agent took it back".into() };
    let events = run(&mut withdrawn, cancel, task_events);
    assert_eq!(types(&events), ["task.canceled", "task.transfer-canceled"]);
    assert_eq!(transfer_fields(&task_with(r#"{"targetSid":"WQ1"}"#)), None);
}

#[test]
fn a_failed_instruction_is_a_reservation_failed_and_leaves_the_reservation_pending() {
    let mut task = task();
    reserve(&mut task, 1, 7);
    let version = task.version;
    let fail = TaskCommand::FailReservation {
        reservation_sid: sid(SidPrefix::RESERVATION, 1),
        reason: "the instruction \"call\" is not supported".into(),
    };
    let events = run(&mut task, fail, task_events);
    assert_eq!(types(&events), ["reservation.failed"]);
    assert_eq!(events[0].worker_sid, Some(sid(SidPrefix::WORKER, 7)));
    let reservation = task.reservation(sid(SidPrefix::RESERVATION, 1)).unwrap();
    assert_eq!(reservation.status, ReservationStatus::Pending);
    assert!(reservation.failure.as_deref().is_some_and(|r| r.contains("call")));
    assert!(task.version > version);
    let reject = TaskCommand::Reject { reservation_sid: sid(SidPrefix::RESERVATION, 1) };
    run(&mut task, reject, task_events);
    let late = TaskCommand::FailReservation {
        reservation_sid: sid(SidPrefix::RESERVATION, 1),
        reason: "late".into(),
    };
    assert!(task.decide(late).is_err(), "only a pending reservation fails");
}

fn reserve(task: &mut TaskState, n: u8, worker: u8) -> Vec<RouterEvent> {
    let command = TaskCommand::Reserve {
        reservation_sid: sid(SidPrefix::RESERVATION, n),
        worker_sid: sid(SidPrefix::WORKER, worker),
        worker_name: format!("agent {worker}"),
        deadline: at(120),
        at: at(1),
    };
    run(task, command, task_events)
}

#[test]
fn a_reservation_is_created_for_its_worker_with_twilios_words() {
    let mut task = task();
    let events = reserve(&mut task, 1, 7);
    assert_eq!(types(&events), ["reservation.created"]);
    let created = &events[0];
    assert_eq!(created.resource_type, ResourceType::Reservation);
    assert_eq!(created.resource_type.as_str(), "Reservation");
    assert_eq!(created.resource_sid, sid(SidPrefix::RESERVATION, 1));
    assert_eq!(created.reservation_sid, Some(sid(SidPrefix::RESERVATION, 1)));
    assert_eq!(created.task_sid, Some(sid(SidPrefix::TASK, 1)));
    assert_eq!(created.worker_sid, Some(sid(SidPrefix::WORKER, 7)));
    assert_eq!(created.description, "A task is assigned to a worker");
}

#[test]
fn accept_wrapup_and_complete_reach_the_worker_who_holds_the_task() {
    let mut task = task();
    reserve(&mut task, 1, 7);
    let accept = TaskCommand::Accept {
        reservation_sid: sid(SidPrefix::RESERVATION, 1),
        worker_sid: sid(SidPrefix::WORKER, 7),
    };
    let accepted = run(&mut task, accept, task_events);
    assert_eq!(types(&accepted), ["reservation.accepted"]);
    assert_eq!(accepted[0].description, "A task reservation is accepted by a worker");
    let updated = run(&mut task, TaskCommand::UpdatePriority { priority: 5 }, task_events);
    assert_eq!(types(&updated), ["task.updated"]);
    let wrapped = run(&mut task, TaskCommand::Wrapup, task_events);
    assert_eq!(types(&wrapped), ["reservation.wrapup", "task.wrapup"]);
    let completed = run(&mut task, TaskCommand::Complete { reason: "done".into() }, task_events);
    assert_eq!(types(&completed), ["reservation.completed", "task.completed"]);
    for event in updated.iter().chain(&wrapped).chain(&completed) {
        assert_eq!(event.worker_sid, Some(sid(SidPrefix::WORKER, 7)), "{event:?}");
        assert_eq!(event.task_sid, Some(sid(SidPrefix::TASK, 1)));
    }
    assert_eq!(completed[1].resource_type, ResourceType::Task);
    assert_eq!(completed[1].resource_sid, sid(SidPrefix::TASK, 1));
}

#[test]
fn a_declined_reservation_stays_with_its_worker_and_the_task_moves_on() {
    let mut task = task();
    reserve(&mut task, 1, 7);
    let reject = TaskCommand::Reject { reservation_sid: sid(SidPrefix::RESERVATION, 1) };
    let rejected = run(&mut task, reject, task_events);
    assert_eq!(types(&rejected), ["reservation.rejected"]);
    assert_eq!(rejected[0].worker_sid, Some(sid(SidPrefix::WORKER, 7)));
    reserve(&mut task, 2, 8);
    let timeout = TaskCommand::TimeoutReservation {
        reservation_sid: sid(SidPrefix::RESERVATION, 2),
        at: at(500),
    };
    let timed_out = run(&mut task, timeout, task_events);
    assert_eq!(types(&timed_out), ["reservation.timeout"]);
    assert_eq!(timed_out[0].worker_sid, Some(sid(SidPrefix::WORKER, 8)));
    // Nobody holds it now: a task update concerns no worker.
    let updated = run(&mut task, TaskCommand::UpdatePriority { priority: 2 }, task_events);
    assert_eq!(updated[0].worker_sid, None);
    reserve(&mut task, 3, 9);
    let rescind = TaskCommand::Rescind { reservation_sid: sid(SidPrefix::RESERVATION, 3) };
    assert_eq!(types(&run(&mut task, rescind, task_events)), ["reservation.rescinded"]);
}

#[test]
fn canceling_a_reserved_task_tells_the_offered_worker_both_events() {
    let mut task = task();
    reserve(&mut task, 1, 7);
    let canceled = run(&mut task, TaskCommand::Cancel { reason: "gone".into() }, task_events);
    assert_eq!(types(&canceled), ["reservation.canceled", "task.canceled"]);
    assert!(canceled.iter().all(|e| e.worker_sid == Some(sid(SidPrefix::WORKER, 7))));
    assert_eq!(types(&run(&mut task, TaskCommand::Delete, task_events)), ["task.deleted"]);
}

fn activity(n: u8, name: &str, available: bool) -> Activity {
    Activity { sid: sid(SidPrefix::ACTIVITY, n), name: name.into(), available }
}

fn worker() -> WorkerState {
    let mut worker = WorkerState::default();
    let create = WorkerCommand::Create {
        worker_sid: sid(SidPrefix::WORKER, 7),
        account_sid: sid(SidPrefix::ACCOUNT, 1),
        workspace_sid: sid(SidPrefix::WORKSPACE, 1),
        friendly_name: "alice".into(),
        attributes: "{}".into(),
        activity: activity(1, "Offline", false),
        channels: vec![WorkerChannel {
            sid: sid(SidPrefix::WORKER_CHANNEL, 1),
            task_channel_sid: sid(SidPrefix::TASK_CHANNEL, 1),
            task_channel_unique_name: "chat".into(),
            configured_capacity: 1,
            available: true,
        }],
        at: at(0),
    };
    assert_eq!(types(&run(&mut worker, create, worker_events)), ["worker.created"]);
    worker
}

#[test]
fn a_workers_activity_update_says_who_and_to_what_in_twilios_words() {
    let mut worker = worker();
    let set = WorkerCommand::SetActivity {
        activity: activity(2, "Available", true),
        at: at(1),
        reject_pending_reservations: false,
    };
    let events = run(&mut worker, set, worker_events);
    assert_eq!(types(&events), ["worker.activity.update"]);
    assert_eq!(events[0].description, "Worker alice updated to Available Activity");
    assert_eq!(events[0].resource_type, ResourceType::Worker);
    assert_eq!(events[0].resource_sid, sid(SidPrefix::WORKER, 7));
    assert_eq!(events[0].worker_sid, Some(sid(SidPrefix::WORKER, 7)));
}

#[test]
fn capacity_availability_and_attributes_each_have_their_event() {
    let mut worker = worker();
    let channel = sid(SidPrefix::TASK_CHANNEL, 1);
    let capacity =
        WorkerCommand::SetChannel { task_channel_sid: channel, capacity: Some(3), available: None };
    assert_eq!(types(&run(&mut worker, capacity, worker_events)), ["worker.capacity.update"]);
    let off = WorkerCommand::SetChannel {
        task_channel_sid: channel,
        capacity: None,
        available: Some(false),
    };
    assert_eq!(
        types(&run(&mut worker, off, worker_events)),
        ["worker.channel.availability.update"]
    );
    let rename = WorkerCommand::Update { friendly_name: Some("alicia".into()), attributes: None };
    assert!(run(&mut worker, rename, worker_events).is_empty(), "a rename has no event type");
    let attributes =
        WorkerCommand::Update { friendly_name: None, attributes: Some(r#"{"a":1}"#.into()) };
    assert_eq!(types(&run(&mut worker, attributes, worker_events)), ["worker.attributes.update"]);
    let delete = WorkerCommand::Delete { held_tasks: 0 };
    assert_eq!(types(&run(&mut worker, delete, worker_events)), ["worker.deleted"]);
}

#[test]
fn every_type_the_mapping_names_has_a_description() {
    let named = [
        "task.created",
        "task.updated",
        "task.canceled",
        "task.wrapup",
        "task.completed",
        "task.deleted",
        "task-queue.entered",
        "reservation.created",
        "reservation.accepted",
        "reservation.rejected",
        "reservation.timeout",
        "reservation.canceled",
        "reservation.rescinded",
        "reservation.wrapup",
        "reservation.completed",
        "worker.created",
        "worker.deleted",
        "worker.activity.update",
        "worker.attributes.update",
        "worker.capacity.update",
        "worker.channel.availability.update",
    ];
    for event_type in named {
        assert!(!type_description(event_type).is_empty(), "{event_type}");
    }
    assert_eq!(type_description("no.such.type"), "");
}
