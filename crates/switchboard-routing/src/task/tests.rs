//! Unit tests of the task aggregate: its lifecycle, its refusals in Twilio's words, its timers.

use switchboard_domain::{Aggregate, Recorded, Sid, SidPrefix, Timestamp};

use super::*;

fn sid(prefix: SidPrefix, n: u8) -> Sid {
    Sid::from_parts(prefix, [n; 16])
}

fn at(secs: i64) -> Timestamp {
    Timestamp::from_millis(secs * 1000)
}

const TASK: u8 = 1;

fn create(attributes: &str, priority: u32, timeout_secs: u32) -> TaskCommand {
    TaskCommand::Create {
        task_sid: sid(SidPrefix::TASK, TASK),
        account_sid: sid(SidPrefix::ACCOUNT, 1),
        workspace_sid: sid(SidPrefix::WORKSPACE, 1),
        workflow_sid: sid(SidPrefix::WORKFLOW, 1),
        task_channel_sid: sid(SidPrefix::TASK_CHANNEL, 1),
        task_channel_unique_name: "chat".into(),
        attributes: attributes.into(),
        priority,
        timeout_secs,
        at: at(0),
    }
}

fn route(queue: u8, target_index: u32) -> Route {
    Route::new(sid(SidPrefix::TASK_QUEUE, queue), target_index, None)
}

fn reserve(n: u8, worker: u8, now: i64) -> TaskCommand {
    TaskCommand::Reserve {
        reservation_sid: sid(SidPrefix::RESERVATION, n),
        worker_sid: sid(SidPrefix::WORKER, worker),
        worker_name: format!("agent {worker}"),
        deadline: at(now + 120),
        at: at(now),
    }
}

/// Decides and applies, as the store would; the log keeps every record.
struct Stream {
    state: TaskState,
    log: Vec<Recorded<TaskEvent>>,
}

impl Stream {
    fn new() -> Stream {
        Stream { state: TaskState::default(), log: Vec::new() }
    }

    fn run(&mut self, now: i64, command: TaskCommand) -> Result<usize, TaskRejection> {
        let events = self.state.decide(command)?;
        let count = events.len();
        for event in events {
            let record = Recorded::new(at(now), event);
            self.state.apply(&record);
            self.log.push(record);
        }
        Ok(count)
    }

    /// A created task waiting in queue 1.
    fn waiting() -> Stream {
        let mut stream = Stream::new();
        stream.run(0, create("{}", 0, 3600)).unwrap();
        stream.run(0, TaskCommand::EnterQueue { route: route(1, 0), at: at(0) }).unwrap();
        stream
    }

    fn status(&self) -> AssignmentStatus {
        self.state.assignment_status
    }

    fn reservation_status(&self, n: u8) -> ReservationStatus {
        self.state.reservation(sid(SidPrefix::RESERVATION, n)).unwrap().status
    }
}

fn r(n: u8) -> Sid {
    sid(SidPrefix::RESERVATION, n)
}

fn w(n: u8) -> Sid {
    sid(SidPrefix::WORKER, n)
}

#[test]
fn a_task_goes_from_pending_to_completed_and_its_log_replays_to_the_same_state() {
    let mut task = Stream::waiting();
    assert_eq!(task.status(), AssignmentStatus::Pending);
    assert_eq!(task.state.task_queue_entered_date, Some(at(0)));
    task.run(1, reserve(1, 1, 1)).unwrap();
    assert_eq!(task.status(), AssignmentStatus::Reserved);
    let version = task.state.version;
    task.run(2, TaskCommand::Accept { reservation_sid: r(1), worker_sid: w(1) }).unwrap();
    assert_eq!(
        (task.status(), task.reservation_status(1)),
        (AssignmentStatus::Assigned, ReservationStatus::Accepted)
    );
    assert_eq!(task.state.version, version + 1, "each change counts once");
    let again = task.run(3, TaskCommand::Accept { reservation_sid: r(1), worker_sid: w(1) });
    assert_eq!(again, Ok(0), "accepting twice is a no-op");
    assert_eq!(task.state.version, version + 1);
    task.run(4, TaskCommand::Wrapup).unwrap();
    assert_eq!(
        (task.status(), task.reservation_status(1)),
        (AssignmentStatus::Wrapping, ReservationStatus::Wrapping)
    );
    task.run(5, TaskCommand::Complete { reason: "done".into() }).unwrap();
    assert_eq!(
        (task.status(), task.reservation_status(1)),
        (AssignmentStatus::Completed, ReservationStatus::Completed)
    );
    assert_eq!(task.state.reason.as_deref(), Some("done"));
    let mut replayed = TaskState::default();
    for record in &task.log {
        let stored = serde_json::to_string(record).unwrap();
        replayed.apply(&serde_json::from_str(&stored).unwrap());
    }
    assert_eq!(replayed, task.state);
}

#[test]
fn illegal_transitions_are_refused_in_twilios_words() {
    let mut task = Stream::waiting();
    let (t, ws, ac) =
        (sid(SidPrefix::TASK, TASK), sid(SidPrefix::WORKSPACE, 1), sid(SidPrefix::ACCOUNT, 1));
    let complete = task.run(1, TaskCommand::Complete { reason: "done".into() });
    let expected = format!(
        "Cannot complete task {t} in workspace {ws} for account {ac} because it is not \
         currently assigned."
    );
    assert_eq!(complete, Err(TaskRejection::IllegalTransition(expected)));
    let wrap = task.run(1, TaskCommand::Wrapup).unwrap_err().to_string();
    let expected = format!(
        "Cannot wrap up a task {t} in workspace {ws} for account {ac} because it's not \
         currently assigned."
    );
    assert_eq!(wrap, expected);
    task.run(1, reserve(1, 1, 1)).unwrap();
    task.run(2, TaskCommand::Accept { reservation_sid: r(1), worker_sid: w(1) }).unwrap();
    let cancel =
        task.run(3, TaskCommand::Cancel { reason: "gone".into() }).unwrap_err().to_string();
    let expected = format!(
        "Cannot cancel task {t} in workspace {ws} for account {ac} because it is not pending \
         or reserved."
    );
    assert_eq!(cancel, expected);
    assert!(matches!(
        task.run(3, TaskCommand::Reject { reservation_sid: r(1) }),
        Err(TaskRejection::IllegalTransition(m)) if m.contains("because it is not pending")
    ));
    assert_eq!(task.status(), AssignmentStatus::Assigned, "refusals change nothing");
}

#[test]
fn a_task_holds_one_pending_reservation_and_a_decliner_waits_for_the_next_queue_entry() {
    let mut task = Stream::waiting();
    task.run(1, reserve(1, 1, 1)).unwrap();
    assert!(matches!(task.run(1, reserve(2, 2, 1)), Err(TaskRejection::Invalid(_))));
    task.run(2, TaskCommand::Reject { reservation_sid: r(1) }).unwrap();
    assert_eq!(
        (task.status(), task.reservation_status(1)),
        (AssignmentStatus::Pending, ReservationStatus::Rejected)
    );
    assert_eq!(task.state.declined_by(), vec![w(1)]);
    assert_eq!(*task.state.waiting_view().unwrap().declined_by, [w(1)]);
    let declined = task.run(3, reserve(2, 1, 3));
    assert!(matches!(declined, Err(TaskRejection::Invalid(m)) if m.contains("decl")));
    task.run(3, reserve(2, 2, 3)).unwrap();
    assert!(
        matches!(task.run(3, reserve(2, 3, 3)), Err(TaskRejection::Invalid(_))),
        "one pending at a time"
    );
    task.run(200, TaskCommand::TimeoutReservation { reservation_sid: r(2), at: at(200) }).unwrap();
    assert_eq!(task.state.declined_by(), vec![w(1), w(2)]);
    task.run(201, TaskCommand::EnterQueue { route: route(2, 1), at: at(201) }).unwrap();
    assert!(task.state.declined_by().is_empty(), "a new queue entry forgets who declined");
    task.run(202, reserve(3, 1, 202)).unwrap();
    let second = task.run(202, reserve(3, 2, 202));
    assert!(matches!(second, Err(TaskRejection::Invalid(m)) if m.contains("only")));
}

#[test]
fn timers_are_refused_before_they_are_due() {
    let mut task = Stream::waiting();
    task.run(1, reserve(1, 1, 1)).unwrap();
    let early =
        task.run(100, TaskCommand::TimeoutReservation { reservation_sid: r(1), at: at(100) });
    assert_eq!(early, Err(TaskRejection::NotDue { due: at(121) }));
    assert_eq!(
        task.run(3599, TaskCommand::ExpireTtl { at: at(3599) }),
        Err(TaskRejection::NotDue { due: at(3600) })
    );
    task.run(3600, TaskCommand::ExpireTtl { at: at(3600) }).unwrap();
    assert_eq!(
        (task.status(), task.reservation_status(1)),
        (AssignmentStatus::Canceled, ReservationStatus::Canceled)
    );
    assert_eq!(task.state.reason.as_deref(), Some(TTL_EXCEEDED_REASON));
    assert!(matches!(
        task.run(3601, TaskCommand::ExpireTtl { at: at(3601) }),
        Err(TaskRejection::IllegalTransition(_))
    ));
}

#[test]
fn bad_input_is_refused_before_anything_is_recorded() {
    let mut task = Stream::new();
    for bad in [
        create("[]", 0, 60),
        create("{", 0, 60),
        create("{}", MAX_PRIORITY + 1, 60),
        create("{}", 0, 0),
        create("{}", 0, MAX_TIMEOUT_SECS + 1),
    ] {
        assert!(matches!(task.run(0, bad), Err(TaskRejection::Invalid(_))));
    }
    let huge = format!("{{\"a\":\"{}\"}}", "x".repeat(MAX_ATTRIBUTES_LEN));
    assert!(matches!(task.run(0, create(&huge, 0, 60)), Err(TaskRejection::Invalid(_))));
    assert_eq!(task.run(0, TaskCommand::Wrapup), Err(TaskRejection::NotFound));
    assert!(task.log.is_empty());
    task.run(0, create("{}", 0, 60)).unwrap();
    assert_eq!(task.run(0, create("{}", 0, 60)), Err(TaskRejection::AlreadyExists));
    task.run(0, TaskCommand::EnterQueue { route: route(1, 0), at: at(0) }).unwrap();
    task.run(1, reserve(1, 1, 1)).unwrap();
    task.run(2, TaskCommand::Accept { reservation_sid: r(1), worker_sid: w(1) }).unwrap();
    assert!(matches!(
        task.run(3, TaskCommand::Complete { reason: " ".into() }),
        Err(TaskRejection::Invalid(_))
    ));
    let other = task.run(3, TaskCommand::Accept { reservation_sid: r(1), worker_sid: w(2) });
    assert!(
        matches!(other, Err(TaskRejection::Invalid(_))),
        "only its worker accepts a reservation"
    );
}

#[test]
fn new_attributes_reroute_only_a_pending_task_and_a_target_priority_replaces_the_tasks() {
    let mut task = Stream::waiting();
    let moved = Route { priority: Some(7), ..route(2, 0) };
    task.run(
        1,
        TaskCommand::UpdateAttributes {
            attributes: r#"{"vip":true}"#.into(),
            reroute: Some(moved),
            at: at(1),
        },
    )
    .unwrap();
    assert_eq!((task.state.route, task.state.priority), (Some(moved), 7));
    assert_eq!(task.state.task_queue_entered_date, Some(at(1)));
    task.run(2, reserve(1, 1, 2)).unwrap();
    let back = route(1, 0);
    task.run(
        3,
        TaskCommand::UpdateAttributes { attributes: "{}".into(), reroute: Some(back), at: at(3) },
    )
    .unwrap();
    assert_eq!(
        (task.state.route, task.state.attributes.as_str()),
        (Some(moved), "{}"),
        "a reserved task keeps its queue"
    );
    assert_eq!(
        task.run(
            4,
            TaskCommand::UpdateAttributes {
                attributes: "{}".into(),
                reroute: Some(back),
                at: at(4)
            }
        ),
        Ok(0)
    );
    assert!(
        task.run(4, TaskCommand::EnterQueue { route: back, at: at(4) }).is_err(),
        "a reserved task does not move"
    );
}

#[test]
fn deleting_a_task_cancels_its_pending_reservation_and_ends_it() {
    let mut task = Stream::waiting();
    task.run(1, reserve(1, 1, 1)).unwrap();
    assert_eq!(task.run(2, TaskCommand::Delete), Ok(2));
    assert_eq!(task.reservation_status(1), ReservationStatus::Canceled);
    assert!(!task.state.is_live());
    assert_eq!(task.run(3, TaskCommand::Delete), Err(TaskRejection::NotFound));
    assert_eq!(task.state.waiting_view(), None);
}

#[test]
fn erasing_a_task_s_attributes_reaches_a_deleted_task_once_and_replays() {
    assert_eq!(Stream::new().run(1, TaskCommand::EraseAttributes), Err(TaskRejection::NotFound));
    let mut task = Stream::new();
    task.run(0, create(r#"{"name":"Ann","from":"+15005550006"}"#, 0, 3600)).unwrap();
    task.run(1, TaskCommand::Delete).unwrap();
    assert_eq!(task.run(2, TaskCommand::EraseAttributes), Ok(1));
    assert_eq!((task.state.attributes.as_str(), task.state.attributes_erased), ("{}", true));
    assert_eq!(task.run(3, TaskCommand::EraseAttributes), Ok(0), "once");
    let mut replayed = TaskState::default();
    task.log.iter().for_each(|record| replayed.apply(record));
    assert_eq!(replayed, task.state);
}
