//! Property tests of workers, tasks and the matcher together: a small model router drives them
//! through random sequences of changes, the way the actor layer will, and checks the routing
//! invariants after every step.

use std::collections::{BTreeMap, HashMap};

use proptest::prelude::*;
use std::cmp::Ordering;
use switchboard_domain::{Aggregate, Recorded, Sid, SidPrefix, Timestamp};

use switchboard_routing::matching::{Assignment, Hold, Matcher, TaskView, WorkerView};
use switchboard_routing::task::{
    AssignmentStatus as Status, ReservationStatus as Res, Route, TaskCommand, TaskEvent,
    TaskRejection, TaskState,
};
use switchboard_routing::worker::{
    Activity, WorkerChannel, WorkerCommand, WorkerEvent, WorkerState,
};

const WORKERS: usize = 4;
const CHANNELS: usize = 2;
const RESERVATION_TIMEOUT_MS: i64 = 120_000;
const TTL_SECS: u32 = 3_600;

fn sid(prefix: SidPrefix, n: u32) -> Sid {
    let mut id = [0; 16];
    id[12..].copy_from_slice(&n.to_be_bytes());
    Sid::from_parts(prefix, id)
}

/// The caller's routing rule: some task/worker pairs never match, so declines and waits happen.
fn eligible(task: &TaskView, worker: &WorkerView) -> bool {
    (u32::from(task.sid.id()[15]) + u32::from(worker.sid.id()[15])) % 4 != 0
}

/// The caller's `order_by`: tasks of even priority prefer workers with higher SIDs; the others
/// keep longest idle first.
fn order(task: &TaskView, a: &WorkerView, b: &WorkerView) -> Ordering {
    if task.priority.is_multiple_of(2) {
        b.sid.cmp(&a.sid)
    } else {
        Ordering::Equal
    }
}

/// One stream: its state and its log as stored (JSON records), to replay from.
#[derive(Debug, Clone, Default)]
struct Stream<A: Aggregate> {
    state: A,
    log: Vec<String>,
}

impl<A: Aggregate> Stream<A> {
    fn run(&mut self, now: i64, command: A::Command) -> Result<Vec<A::Event>, A::Rejection> {
        let events = self.state.decide(command)?;
        for event in &events {
            let record = Recorded::new(Timestamp(now), event.clone());
            self.state.apply(&record);
            self.log.push(serde_json::to_string(&record).expect("a record serializes"));
        }
        Ok(events)
    }

    fn replayed(&self) -> A {
        let mut state = A::default();
        for stored in &self.log {
            let record: Recorded<A::Event> = serde_json::from_str(stored).expect("it reads back");
            state.apply(&record);
        }
        state
    }
}

/// One random change.
#[derive(Debug, Clone)]
enum Op {
    NewTask {
        priority: u32,
        channel: usize,
    },
    Activity {
        worker: usize,
        available: bool,
        reject_pending: bool,
    },
    Capacity {
        worker: usize,
        channel: usize,
        capacity: u32,
        available: bool,
    },
    Accept {
        pick: usize,
    },
    Reject {
        pick: usize,
    },
    TimeOut {
        pick: usize,
    },
    Rescind {
        pick: usize,
    },
    Wrapup {
        pick: usize,
    },
    Complete {
        pick: usize,
    },
    Cancel {
        pick: usize,
    },
    ExpireTtl {
        pick: usize,
    },
    NextTarget {
        pick: usize,
    },
    Priority {
        pick: usize,
        priority: u32,
    },
    DeleteTask {
        pick: usize,
    },
    DeleteWorker {
        worker: usize,
    },
    /// The matcher is rebuilt from the stored states, as on a restart.
    Rebuild,
    /// A second offer of a reserved task, as a racing caller would try: the task must refuse.
    SecondOffer {
        pick: usize,
        worker: usize,
    },
    Tick {
        secs: i64,
    },
}

fn op() -> impl Strategy<Value = Op> {
    let pick = any::<usize>();
    let new_task =
        (0..4u32, 0..CHANNELS).prop_map(|(priority, channel)| Op::NewTask { priority, channel });
    let activity = (0..WORKERS, any::<bool>(), any::<bool>()).prop_map(
        |(worker, available, reject_pending)| Op::Activity { worker, available, reject_pending },
    );
    let capacity = (0..WORKERS, 0..CHANNELS, 0..4u32, prop::bool::weighted(0.8)).prop_map(
        |(worker, channel, capacity, available)| Op::Capacity {
            worker,
            channel,
            capacity,
            available,
        },
    );
    let priority = (pick, 0..4u32).prop_map(|(pick, priority)| Op::Priority { pick, priority });
    prop_oneof![
        4 => new_task,
        3 => activity,
        2 => capacity,
        4 => pick.prop_map(|pick| Op::Accept { pick }),
        2 => pick.prop_map(|pick| Op::Reject { pick }),
        1 => pick.prop_map(|pick| Op::TimeOut { pick }),
        1 => pick.prop_map(|pick| Op::Rescind { pick }),
        2 => pick.prop_map(|pick| Op::Wrapup { pick }),
        3 => pick.prop_map(|pick| Op::Complete { pick }),
        1 => pick.prop_map(|pick| Op::Cancel { pick }),
        1 => pick.prop_map(|pick| Op::ExpireTtl { pick }),
        1 => pick.prop_map(|pick| Op::NextTarget { pick }),
        1 => priority,
        1 => pick.prop_map(|pick| Op::DeleteTask { pick }),
        1 => (0..WORKERS).prop_map(|worker| Op::DeleteWorker { worker }),
        1 => (pick, 0..WORKERS).prop_map(|(pick, worker)| Op::SecondOffer { pick, worker }),
        1 => (1..300i64).prop_map(|secs| Op::Tick { secs }),
        1 => Just(Op::Rebuild),
    ]
}

/// The model router: what the actor layer will be, minus storage and I/O.
#[derive(Debug)]
struct Router {
    now: i64,
    next_sid: u32,
    workers: BTreeMap<Sid, Stream<WorkerState>>,
    tasks: BTreeMap<Sid, Stream<TaskState>>,
    matcher: Matcher,
    /// Slots a channel held above a capacity lowered under them: those tasks stay, but the
    /// number may only fall until it is under the capacity again.
    grandfathered: HashMap<(Sid, Sid), u32>,
}

fn account() -> Sid {
    sid(SidPrefix::ACCOUNT, 1)
}

fn workspace() -> Sid {
    sid(SidPrefix::WORKSPACE, 1)
}

fn channel(n: usize) -> Sid {
    sid(SidPrefix::TASK_CHANNEL, n as u32 + 1)
}

fn worker_sid(n: usize) -> Sid {
    sid(SidPrefix::WORKER, n as u32 + 1)
}

fn activity(available: bool) -> Activity {
    let (n, name) = if available { (1, "Available") } else { (2, "Offline") };
    Activity { sid: sid(SidPrefix::ACTIVITY, n), name: name.into(), available }
}

impl Router {
    fn new(capacities: &[(u32, u32)]) -> Router {
        let mut router = Router {
            now: 1_000,
            next_sid: 100,
            workers: BTreeMap::new(),
            tasks: BTreeMap::new(),
            matcher: Matcher::new(),
            grandfathered: HashMap::new(),
        };
        for (n, (chat, sms)) in capacities.iter().enumerate() {
            router.create_worker(n, [*chat, *sms]);
        }
        router
    }

    fn fresh(&mut self, prefix: SidPrefix) -> Sid {
        self.next_sid += 1;
        sid(prefix, self.next_sid)
    }

    fn create_worker(&mut self, n: usize, capacities: [u32; CHANNELS]) {
        let channels = (0..CHANNELS)
            .map(|c| WorkerChannel {
                sid: self.fresh(SidPrefix::WORKER_CHANNEL),
                task_channel_sid: channel(c),
                task_channel_unique_name: format!("channel{c}"),
                configured_capacity: capacities[c],
                available: true,
            })
            .collect();
        let create = WorkerCommand::Create {
            worker_sid: worker_sid(n),
            account_sid: account(),
            workspace_sid: workspace(),
            friendly_name: format!("agent {n}"),
            attributes: "{}".into(),
            activity: activity(false),
            channels,
            at: Timestamp(self.now),
        };
        let mut stream = Stream::<WorkerState>::default();
        stream.run(self.now, create).expect("a worker is created");
        self.matcher.upsert_worker(stream.state.view().expect("it is live"));
        self.workers.insert(worker_sid(n), stream);
    }

    /// Tasks that satisfy `filter`, the `pick`th of them (modulo their number).
    fn pick(&self, pick: usize, filter: impl Fn(&TaskState) -> bool) -> Option<Sid> {
        let matching: Vec<Sid> =
            self.tasks.iter().filter(|(_, t)| filter(&t.state)).map(|(sid, _)| *sid).collect();
        (!matching.is_empty()).then(|| matching[pick % matching.len()])
    }

    fn task(&self, task: Sid) -> &TaskState {
        &self.tasks[&task].state
    }

    fn run_task(
        &mut self,
        task: Sid,
        command: TaskCommand,
    ) -> Result<Vec<TaskEvent>, TaskRejection> {
        let now = self.now;
        self.tasks.get_mut(&task).expect("a known task").run(now, command)
    }
}

/// Matching, as the caller drives it after each change.
impl Router {
    fn new_task(&mut self, priority: u32, channel_index: usize) {
        let task = self.fresh(SidPrefix::TASK);
        let create = TaskCommand::Create {
            task_sid: task,
            account_sid: account(),
            workspace_sid: workspace(),
            workflow_sid: sid(SidPrefix::WORKFLOW, 1),
            task_channel_sid: channel(channel_index),
            task_channel_unique_name: format!("channel{channel_index}"),
            attributes: "{}".into(),
            priority,
            timeout_secs: TTL_SECS,
            at: Timestamp(self.now),
        };
        self.tasks.insert(task, Stream::default());
        self.run_task(task, create).expect("a task is created");
        let route = Route::new(sid(SidPrefix::TASK_QUEUE, 1), 0, None);
        let enter = TaskCommand::EnterQueue { route, at: Timestamp(self.now) };
        self.run_task(task, enter).expect("a new task enters its queue");
        self.wait(task);
    }

    /// The task waits (again): the matcher learns it and offers it.
    fn wait(&mut self, task: Sid) {
        let Some(view) = self.task(task).waiting_view() else { return };
        self.matcher.enqueue(view);
        let assignment = self.matcher.offer_task(task, eligible, Some(&order));
        self.reserve_all(assignment.into_iter().collect());
    }

    /// A worker may have gained slots: it takes what waits for it.
    fn free(&mut self, worker: Sid) {
        let assignments = self.matcher.offer_worker(worker, eligible);
        self.reserve_all(assignments);
    }

    /// Turns the matcher's decisions into reservations, checking each is one it may make.
    fn reserve_all(&mut self, assignments: Vec<Assignment>) {
        for assignment in assignments {
            let worker = &self.workers[&assignment.worker_sid].state;
            let slot = worker.channel(assignment.task_channel_sid).expect("the worker has it");
            assert!(worker.is_live() && worker.available(), "reserved an unavailable worker");
            assert!(slot.available, "reserved on an unavailable channel");
            let task = self.task(assignment.task_sid);
            assert!(!task.declined_by().contains(&assignment.worker_sid), "re-offered a decliner");
            let worker_name = worker.friendly_name.clone();
            let reserve = TaskCommand::Reserve {
                reservation_sid: self.fresh(SidPrefix::RESERVATION),
                worker_sid: assignment.worker_sid,
                worker_name,
                deadline: Timestamp(self.now + RESERVATION_TIMEOUT_MS),
                at: Timestamp(self.now),
            };
            self.run_task(assignment.task_sid, reserve).expect("the matcher proposes legal offers");
        }
    }

    /// The pending reservation of a reserved task ended without an accept (`command`): its slot
    /// comes back and the task waits again.
    fn end_offer(&mut self, task: Sid, command: impl FnOnce(Sid) -> TaskCommand) {
        let reservation = self.task(task).pending_reservation().expect("reserved").sid;
        self.run_task(task, command(reservation)).expect("a pending offer can end");
        self.release(task);
        self.wait(task);
    }

    /// The task gives its slot back, and its worker takes what waits.
    fn release(&mut self, task: Sid) {
        if let Some(hold) = self.matcher.release(task) {
            self.free(hold.worker_sid);
        }
    }

    /// The task stopped waiting or holding for good (canceled, deleted, completed).
    fn finish(&mut self, task: Sid) {
        self.matcher.dequeue(task);
        self.release(task);
    }
}

fn is(status: Status) -> impl Fn(&TaskState) -> bool {
    move |t| t.is_live() && t.assignment_status == status
}

/// The random changes, applied as the actor layer would.
impl Router {
    fn step(&mut self, op: Op) {
        match op {
            Op::NewTask { priority, channel } => self.new_task(priority, channel),
            Op::Activity { worker, available, reject_pending } => {
                self.set_activity(worker_sid(worker), available, reject_pending);
            }
            Op::Capacity { worker, channel: c, capacity, available } => {
                self.set_capacity(worker_sid(worker), channel(c), capacity, available);
            }
            Op::Accept { pick } => self.accept(pick),
            Op::Reject { pick } => {
                let Some(task) = self.pick(pick, is(Status::Reserved)) else { return };
                self.end_offer(task, |reservation_sid| TaskCommand::Reject { reservation_sid });
            }
            Op::TimeOut { pick } => self.time_out(pick),
            Op::Rescind { pick } => {
                let Some(task) = self.pick(pick, is(Status::Reserved)) else { return };
                self.end_offer(task, |reservation_sid| TaskCommand::Rescind { reservation_sid });
            }
            Op::Wrapup { pick } => {
                let Some(task) = self.pick(pick, |t| t.is_live()) else { return };
                let assigned = self.task(task).assignment_status == Status::Assigned;
                let wrapped = self.run_task(task, TaskCommand::Wrapup);
                assert_eq!(
                    wrapped.is_ok(),
                    assigned,
                    "only an assigned task wraps up: {wrapped:?}"
                );
            }
            Op::Complete { pick } => self.complete(pick),
            Op::Cancel { pick } => self.cancel(pick),
            Op::ExpireTtl { pick } => self.expire(pick),
            Op::NextTarget { pick } => {
                let Some(task) = self.pick(pick, is(Status::Pending)) else { return };
                let route = Route::new(sid(SidPrefix::TASK_QUEUE, 2), 1, None);
                let enter = TaskCommand::EnterQueue { route, at: Timestamp(self.now) };
                self.run_task(task, enter).expect("a pending task moves on");
                self.wait(task);
            }
            Op::Priority { pick, priority } => {
                let Some(task) = self.pick(pick, |t| t.is_live()) else { return };
                self.run_task(task, TaskCommand::UpdatePriority { priority })
                    .expect("any priority");
                self.wait(task);
            }
            Op::DeleteTask { pick } => {
                let Some(task) = self.pick(pick, |t| t.is_live()) else { return };
                self.run_task(task, TaskCommand::Delete).expect("a live task can be deleted");
                self.finish(task);
            }
            Op::DeleteWorker { worker } => self.delete_worker(worker_sid(worker)),
            Op::SecondOffer { pick, worker } => self.second_offer(pick, worker_sid(worker)),
            Op::Tick { secs } => self.now += secs * 1000,
            Op::Rebuild => self.rebuild(),
        }
    }

    fn set_activity(&mut self, worker: Sid, available: bool, reject_pending: bool) {
        let command = WorkerCommand::SetActivity {
            activity: activity(available),
            at: Timestamp(self.now),
            reject_pending_reservations: reject_pending,
        };
        let now = self.now;
        let Ok(events) = self.workers.get_mut(&worker).expect("known").run(now, command) else {
            assert!(!self.workers[&worker].state.is_live(), "a live worker changes activity");
            return;
        };
        if let Some(view) = self.workers[&worker].state.view() {
            self.matcher.upsert_worker(view);
        }
        let reject = matches!(
            &events[..],
            [WorkerEvent::ActivityChanged { reject_pending_reservations: true, .. }]
        );
        if reject {
            let mine =
                |t: &TaskState| t.pending_reservation().is_some_and(|r| r.worker_sid == worker);
            let tasks: Vec<Sid> =
                self.tasks.iter().filter(|(_, t)| mine(&t.state)).map(|(sid, _)| *sid).collect();
            for task in tasks {
                self.end_offer(task, |reservation_sid| TaskCommand::Reject { reservation_sid });
            }
        }
        self.free(worker);
    }

    fn set_capacity(&mut self, worker: Sid, task_channel: Sid, capacity: u32, available: bool) {
        let command = WorkerCommand::SetChannel {
            task_channel_sid: task_channel,
            capacity: Some(capacity),
            available: Some(available),
        };
        let now = self.now;
        if self.workers.get_mut(&worker).expect("known").run(now, command).is_err() {
            return;
        }
        let held = self.held(worker, task_channel);
        if held > capacity {
            self.grandfathered.insert((worker, task_channel), held);
        }
        if let Some(view) = self.workers[&worker].state.view() {
            self.matcher.upsert_worker(view);
        }
        self.free(worker);
    }
}

impl Router {
    /// Accepts a pending reservation, then accepts it again: the second changes nothing.
    fn accept(&mut self, pick: usize) {
        let Some(task) = self.pick(pick, is(Status::Reserved)) else { return };
        let reservation = self.task(task).pending_reservation().expect("reserved").clone();
        let accept = TaskCommand::Accept {
            reservation_sid: reservation.sid,
            worker_sid: reservation.worker_sid,
        };
        self.run_task(task, accept.clone()).expect("a pending reservation is accepted");
        let before = self.tasks[&task].clone();
        assert_eq!(self.run_task(task, accept), Ok(vec![]), "a second accept records nothing");
        assert_eq!(self.tasks[&task].state, before.state, "a second accept changes nothing");
        let other = self.fresh(SidPrefix::WORKER);
        let stolen = TaskCommand::Accept { reservation_sid: reservation.sid, worker_sid: other };
        assert!(self.run_task(task, stolen).is_err(), "another worker cannot accept it");
    }

    fn time_out(&mut self, pick: usize) {
        let Some(task) = self.pick(pick, is(Status::Reserved)) else { return };
        let deadline = self.task(task).pending_reservation().expect("reserved").deadline;
        let reservation_sid = self.task(task).pending_reservation().expect("reserved").sid;
        let early =
            TaskCommand::TimeoutReservation { reservation_sid, at: Timestamp(deadline.0 - 1) };
        assert!(matches!(self.run_task(task, early), Err(TaskRejection::NotDue { .. })));
        self.now = self.now.max(deadline.0);
        let at = Timestamp(self.now);
        self.end_offer(task, |reservation_sid| TaskCommand::TimeoutReservation {
            reservation_sid,
            at,
        });
    }

    fn complete(&mut self, pick: usize) {
        let Some(task) = self.pick(pick, |t| t.is_live()) else { return };
        let status = self.task(task).assignment_status;
        let completed = self.run_task(task, TaskCommand::Complete { reason: "done".into() });
        let legal = matches!(status, Status::Assigned | Status::Wrapping);
        assert_eq!(completed.is_ok(), legal, "complete from {status:?}: {completed:?}");
        if legal {
            self.finish(task);
        }
    }

    fn cancel(&mut self, pick: usize) {
        let Some(task) = self.pick(pick, |t| t.is_live()) else { return };
        let status = self.task(task).assignment_status;
        let canceled = self.run_task(task, TaskCommand::Cancel { reason: "gone".into() });
        let legal = matches!(status, Status::Pending | Status::Reserved);
        assert_eq!(canceled.is_ok(), legal, "cancel from {status:?}: {canceled:?}");
        if legal {
            self.finish(task);
        }
    }

    fn expire(&mut self, pick: usize) {
        let Some(task) = self.pick(pick, |t| t.is_live() && !t.assignment_status.is_final()) else {
            return;
        };
        self.now = self.now.max(self.task(task).ttl_deadline.0);
        let status = self.task(task).assignment_status;
        let expired = self.run_task(task, TaskCommand::ExpireTtl { at: Timestamp(self.now) });
        let legal = matches!(status, Status::Pending | Status::Reserved);
        assert_eq!(expired.is_ok(), legal, "TTL from {status:?}: {expired:?}");
        if legal {
            self.finish(task);
        }
    }

    /// A new matcher from the states alone, in the order `matching.rs` tells callers.
    fn rebuild(&mut self) {
        self.matcher = Matcher::new();
        for worker in self.workers.values().filter_map(|w| w.state.view()) {
            self.matcher.upsert_worker(worker);
        }
        for (sid, task) in self.tasks.iter().filter(|(_, t)| t.state.is_live()) {
            let (Some(holding), Some(task_channel_sid)) =
                (task.state.holding_reservation(), task.state.task_channel_sid)
            else {
                continue;
            };
            let hold = Hold { worker_sid: holding.worker_sid, task_channel_sid };
            assert!(self.matcher.restore_hold(*sid, hold), "{sid}'s worker is known");
        }
        for view in self.tasks.values().filter_map(|t| t.state.waiting_view()) {
            self.matcher.enqueue(view);
        }
        let assignments = self.matcher.rematch_all(eligible, Some(&order));
        assert!(assignments.is_empty(), "nothing was left to match before the restart");
    }

    /// Whatever the task answers is kept, as the store would: `check` finds a second pending
    /// offer if the task let one through.
    fn second_offer(&mut self, pick: usize, worker: Sid) {
        let Some(task) = self.pick(pick, is(Status::Reserved)) else { return };
        let reserve = TaskCommand::Reserve {
            reservation_sid: self.fresh(SidPrefix::RESERVATION),
            worker_sid: worker,
            worker_name: "racer".into(),
            deadline: Timestamp(self.now + RESERVATION_TIMEOUT_MS),
            at: Timestamp(self.now),
        };
        let _refused = self.run_task(task, reserve);
    }

    fn delete_worker(&mut self, worker: Sid) {
        let held_tasks = self.matcher.held_by(worker);
        let now = self.now;
        let deleted = self
            .workers
            .get_mut(&worker)
            .expect("known")
            .run(now, WorkerCommand::Delete { held_tasks });
        if deleted.is_ok() {
            // What it held, if it held anything, is left for `check` to find.
            self.matcher.remove_worker(worker);
        }
    }

    /// Slots a worker holds on a channel, counted from the tasks (the truth).
    fn held(&self, worker: Sid, task_channel: Sid) -> u32 {
        let holds = |t: &&Stream<TaskState>| {
            t.state.is_live()
                && t.state.task_channel_sid == Some(task_channel)
                && t.state.holding_reservation().is_some_and(|r| r.worker_sid == worker)
        };
        self.tasks.values().filter(holds).count() as u32
    }
}

/// The invariants, checked after every step.
impl Router {
    fn check(&mut self) {
        self.check_capacity();
        for (sid, task) in &self.tasks {
            check_task_agrees_with_its_reservations(*sid, &task.state);
            if let Some(holding) = task.state.holding_reservation().filter(|_| task.state.is_live())
            {
                let worker = self.workers.get(&holding.worker_sid).map(|w| &w.state);
                assert!(worker.is_some_and(WorkerState::is_live), "{sid} is held by a gone worker");
            }
        }
        self.check_nothing_left_to_match();
        self.check_replay();
    }

    /// No worker holds more than its capacity on a channel (beyond what it held when the
    /// capacity was lowered under it), and the matcher counts the same slots as the tasks.
    fn check_capacity(&mut self) {
        for (worker_sid, worker) in &self.workers {
            for channel in &worker.state.channels {
                let key = (*worker_sid, channel.task_channel_sid);
                let held = self.held(key.0, key.1);
                let allowed = self.grandfathered.get(&key).copied().unwrap_or(0).min(held);
                self.grandfathered.insert(key, allowed);
                assert!(
                    held <= channel.configured_capacity.max(allowed),
                    "{worker_sid} holds {held} of {} on {}",
                    channel.configured_capacity,
                    key.1
                );
                if worker.state.is_live() {
                    assert_eq!(self.matcher.held(key.0, key.1), held, "the matcher's count");
                }
            }
        }
    }

    /// After every change was matched, no waiting task has an eligible worker with a free slot:
    /// the incremental matching missed nothing.
    fn check_nothing_left_to_match(&self) {
        for (sid, task) in &self.tasks {
            let waiting = task.state.waiting_view();
            assert_eq!(
                self.matcher.is_waiting(*sid),
                waiting.is_some(),
                "{sid} waits in both books"
            );
            let Some(view) = waiting else { continue };
            for worker in self.workers.values().filter_map(|w| w.state.view()) {
                let Some(slot) = worker.channel(view.task_channel_sid) else { continue };
                let free = worker.available
                    && slot.available
                    && self.held(worker.sid, view.task_channel_sid) < slot.capacity;
                let offerable =
                    free && !view.declined_by.contains(&worker.sid) && eligible(&view, &worker);
                assert!(!offerable, "{sid} waits while {} is free for it", worker.sid);
            }
        }
    }

    /// The log is the truth: folding each stored log from nothing gives the state decide built.
    fn check_replay(&self) {
        for task in self.tasks.values() {
            assert_eq!(task.replayed(), task.state, "a task's log replays to its state");
        }
        for worker in self.workers.values() {
            assert_eq!(worker.replayed(), worker.state, "a worker's log replays to its state");
        }
    }
}

/// A task's status and its reservations tell the same story, with at most one pending.
fn check_task_agrees_with_its_reservations(sid: Sid, task: &TaskState) {
    let count = |status: Res| task.reservations.iter().filter(|r| r.status == status).count();
    let (pending, accepted, wrapping, completed) =
        (count(Res::Pending), count(Res::Accepted), count(Res::Wrapping), count(Res::Completed));
    assert!(pending <= 1, "{sid} has {pending} pending reservations");
    if !task.is_live() {
        assert_eq!(pending, 0, "a deleted task keeps no pending reservation");
        return;
    }
    let expected = match task.assignment_status {
        Status::Pending => (0, 0, 0, 0),
        Status::Reserved => (1, 0, 0, 0),
        Status::Assigned => (0, 1, 0, 0),
        Status::Wrapping => (0, 0, 1, 0),
        Status::Completed => (0, 0, 0, 1),
        Status::Canceled => (0, 0, 0, 0),
    };
    assert_eq!(
        (pending, accepted, wrapping, completed),
        expected,
        "{sid} is {:?} with reservations {:?}",
        task.assignment_status,
        task.reservations
    );
}

fn capacities() -> impl Strategy<Value = Vec<(u32, u32)>> {
    prop::collection::vec((0..4u32, 0..4u32), WORKERS)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 200, ..ProptestConfig::default() })]

    #[test]
    fn routing_keeps_its_invariants_through_random_changes(
        capacities in capacities(),
        ops in prop::collection::vec(op(), 1..80),
    ) {
        let mut router = Router::new(&capacities);
        router.check();
        for op in ops {
            router.step(op);
            router.check();
        }
    }
}
