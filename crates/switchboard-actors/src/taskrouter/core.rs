//! The router's one writer: the matcher, the documents matching reads, and the deadlines, with
//! what follows each kind of change (`switchboard_routing::matching` says the order). Every
//! method runs under the router's lock and appends before it returns, in the lock's group
//! (`Parts::group`), whose ticket the caller waits on once the lock is released.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;
use switchboard_domain::{Sid, SidPrefix, Timestamp};
use switchboard_routing::events::{task_events, worker_events};
use switchboard_routing::expression::{Expression, Operands};
use switchboard_routing::matching::{Assignment, Hold, Matcher, TaskView, WorkerOrder, WorkerView};
use switchboard_routing::task::{AssignmentStatus, ReservationStatus, TaskCommand, TaskState};
use switchboard_routing::worker::{Activity, WorkerCommand, WorkerState};
use switchboard_routing::workflow::{skip_document, Matched};
use switchboard_store::AppendGroup;

use super::feed::{items_of, task_subject, worker_subject, FeedItem};
use super::routing::{after_secs, attributes, worker_document, Placement, Rules, WaitingTask};
use crate::ids::new_sid;
use crate::interned::Interned;
use crate::streams::Streams;
use crate::workspaces::WorkspaceDirectory;
use crate::EngineError;

/// How long a finished task stays in memory (listed by `GET …/Tasks`) before only a fetch by
/// its SID finds it, read from the log.
pub(crate) const FINISHED_KEPT_MS: u64 = 5 * 60 * 1000;

/// The most steps one entry may skip in a row (each skip enters a later step or filter, so a
/// workflow's own length bounds it; this bounds the work of one change whatever it holds).
const MAX_SKIPS: usize = 64;

/// The state the router keeps beside the streams. What matching reads of a waiting task
/// (`WaitingTask`: its step, its attributes parsed) is made from its state when it is offered,
/// not kept: parsed attributes held for every waiting task would cost more than all the rest
/// of an idle customer (`memory.rs`), and a task is offered rarely beside how long it waits.
///
/// A task that waits untouched for the hibernation period, never offered to anyone, is
/// *idle*: its state leaves memory (a customer's conversation no agent took yet may wait for
/// hours), and the router keeps of it only its place in line (matching's), its next deadline,
/// its age's base and what matching evaluates for it ([`Idle`]: its workflow, its step's
/// filter, its attributes' text, parsed when it is offered as a state's are), so matching never
/// reads the log: a worker made available may pass over thousands of waiting tasks under the
/// router's lock. Listing, fetching and a firing deadline read the state from the log. Any
/// change brings the state back.
#[derive(Debug, Default)]
pub(crate) struct Core {
    pub matcher: Matcher,
    /// Compiled rules by workspace, remade when its configuration changes.
    rules: BTreeMap<Sid, Arc<Rules>>,
    /// What expressions read of each live worker.
    workers: BTreeMap<Sid, Arc<Value>>,
    /// Each task's next deadline (reservation timeout, step end, TTL), and in order.
    deadline_of: BTreeMap<Sid, Timestamp>,
    deadlines: BTreeSet<(Timestamp, Sid)>,
    /// Finished tasks to forget, by when.
    finished: BTreeSet<(Timestamp, Sid)>,
    /// Idle tasks (see above), with what their age counts from, their next deadline and what
    /// matching evaluates for them; and the bytes of their attributes, summed as they come
    /// and go.
    idle: BTreeMap<Sid, Idle>,
    idle_attribute_bytes: usize,
    /// The workflows idle tasks name, numbered.
    workflows: Interned,
    /// Tasks changed, with when, oldest first: each is looked at once the period has passed.
    touched: VecDeque<(Timestamp, Sid)>,
    /// How long a waiting task stays untouched before it is idle (the channels' hibernation
    /// period).
    hibernate_after: Duration,
}

/// What the router keeps of an idle task beside its place in matching: what its age counts from
/// (for the metrics) and its next deadline, kept here rather than in `deadline_of`, one entry
/// instead of two. The deadline counts only while `deadlines` holds it (a fired one is left
/// here, not cleared, to save an `Option`'s tag on every idle task). Then what matching reads
/// beside its view ([`Idle::waiting`]): its workflow by number, its step's filter as a number
/// ([`filter_number`]) and its attributes as given (about 40 bytes here for an idle
/// customer, where a parsed document would be several hundred).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Idle {
    pub age_base: Timestamp,
    deadline: Timestamp,
    attributes: Box<str>,
    workflow: u32,
    filter: u32,
}

/// What memory keeps of an idle task that lists and a supervisor's overview show
/// ([`Core::idle_summarized`]).
pub(crate) struct IdleSummary<'a> {
    pub sid: Sid,
    pub date_created: Timestamp,
    pub workflow_sid: Option<Sid>,
    /// Its queue and when it entered it.
    pub queue: Option<(Sid, Timestamp)>,
    pub attributes: &'a str,
}

impl IdleSummary<'_> {
    pub fn queue_sid(&self) -> Option<Sid> {
        self.queue.map(|(queue, _)| queue)
    }
}

impl Idle {
    /// What matching evaluates for the idle task `view` is of: as [`WaitingTask::of`] makes it
    /// from a state, its attributes parsed now.
    fn waiting(&self, view: &TaskView, workflows: &Interned) -> Option<WaitingTask> {
        Some(WaitingTask {
            workflow_sid: workflows.sid(self.workflow)?,
            queue_sid: view.queue_sid,
            target_index: view.target_index,
            filter: filter_of(self.filter),
            document: attributes(&self.attributes),
        })
    }
}

/// A step's filter (`Route::filter`) as one number: 0 none, 1 the default filter, 2 and up the
/// filter at that index less two.
fn filter_number(filter: Option<Matched>) -> u32 {
    match filter {
        None => 0,
        Some(Matched::Default) => 1,
        // A workflow has far fewer than 2^32 filters.
        Some(Matched::Filter(index)) => u32::try_from(index).map_or(u32::MAX, |i| i + 2),
    }
}

fn filter_of(number: u32) -> Option<Matched> {
    match number {
        0 => None,
        1 => Some(Matched::Default),
        n => Some(Matched::Filter(usize::try_from(n - 2).ok()?)),
    }
}

/// What the router's methods work with: the streams and the workspaces, borrowed, and the group
/// every append under the lock is made in, the event logs' records of the changes included, so
/// one flush makes a change and its events durable together or neither.
pub(crate) struct Parts<'a> {
    pub workers: &'a Streams<WorkerState>,
    pub tasks: &'a Streams<TaskState>,
    pub workspaces: &'a WorkspaceDirectory,
    pub group: &'a AppendGroup<'a>,
    /// What the changes appended, mapped to TaskRouter's events: for the workspaces' event
    /// logs (always) and the workers' feed once durable.
    pub feed: Vec<FeedItem>,
}

impl Parts<'_> {
    /// Runs `command` on task `sid` in the group; the task's state after, or the refusal.
    pub fn task(
        &mut self,
        sid: Sid,
        command: TaskCommand,
        at: Timestamp,
    ) -> Result<Result<TaskState, switchboard_routing::task::TaskRejection>, EngineError> {
        self.tasks_run(sid, vec![command], at)
    }

    /// [`Parts::task`] with several commands, appended together.
    pub fn tasks_run(
        &mut self,
        sid: Sid,
        commands: Vec<TaskCommand>,
        at: Timestamp,
    ) -> Result<Result<TaskState, switchboard_routing::task::TaskRejection>, EngineError> {
        let logged = self.tasks.execute_logged(sid, commands, at, self.group)?;
        Ok(logged.map(|logged| {
            self.feed.extend(items_of(sid, &logged, at, task_events, task_subject));
            logged.after
        }))
    }

    pub fn worker(
        &mut self,
        sid: Sid,
        command: WorkerCommand,
        at: Timestamp,
    ) -> Result<Result<WorkerState, switchboard_routing::worker::WorkerRejection>, EngineError>
    {
        self.workers_run(sid, vec![command], at)
    }

    /// [`Parts::worker`] with several commands, appended together.
    pub fn workers_run(
        &mut self,
        sid: Sid,
        commands: Vec<WorkerCommand>,
        at: Timestamp,
    ) -> Result<Result<WorkerState, switchboard_routing::worker::WorkerRejection>, EngineError>
    {
        let logged = self.workers.execute_logged(sid, commands, at, self.group)?;
        Ok(logged.map(|logged| {
            self.feed.extend(items_of(sid, &logged, at, worker_events, worker_subject));
            logged.after
        }))
    }
}

impl Core {
    /// A router whose waiting tasks are idle after `hibernate_after` untouched.
    pub fn hibernating_after(hibernate_after: Duration) -> Core {
        Core { hibernate_after, ..Core::default() }
    }

    /// The bytes this holds for the tasks it follows (`memory.rs`): each waiting task's entries
    /// in matching, each task's deadline and end of keeping, the idle tasks' entries with their
    /// attributes, the workflows they name and the tasks touched lately. Without the workers'
    /// and the workspaces' entries, which do not grow with customers.
    pub fn tasks_footprint(&self) -> usize {
        use crate::memory::btree_entry;
        let [in_order, by_sid] = Matcher::WAITING_ENTRY_BYTES;
        let map_entry = |bytes: usize| bytes * 4 / 3 + 16;
        self.matcher.waiting_count() * (map_entry(in_order) + map_entry(by_sid))
            + self.matcher.declined_bytes()
            + self.deadline_of.len() * btree_entry::<Sid, Timestamp>()
            + (self.deadlines.len() + self.finished.len()) * btree_entry::<(Timestamp, Sid), ()>()
            + self.idle.len() * btree_entry::<Sid, Idle>()
            + self.idle_attribute_bytes
            + self.workflows.len() * Interned::BYTES_EACH
            + self.touched.capacity() * std::mem::size_of::<(Timestamp, Sid)>()
    }

    /// The idle tasks (see [`Core`]).
    pub fn idle(&self) -> &BTreeMap<Sid, Idle> {
        &self.idle
    }

    /// Each idle task as a list orders and filters it and a supervisor's overview shows it, read
    /// from nothing: its SID, creation (its age's base), workflow, queue, when it entered the
    /// queue, and its attributes' text.
    pub fn idle_summarized(&self) -> impl Iterator<Item = IdleSummary<'_>> + '_ {
        self.idle.iter().map(|(sid, idle)| {
            let view = self.matcher.waiting_view(*sid);
            IdleSummary {
                sid: *sid,
                date_created: idle.age_base,
                workflow_sid: self.workflows.sid(idle.workflow),
                queue: view.map(|view| (view.queue_sid, view.entered)),
                attributes: &idle.attributes,
            }
        })
    }

    /// Makes idle every waiting task untouched for the period (its state leaves memory).
    pub fn hibernate_idle(&mut self, parts: &Parts<'_>, now: Timestamp) {
        let period = u64::try_from(self.hibernate_after.as_millis()).unwrap_or(u64::MAX);
        while let Some(&(at, sid)) = self.touched.front() {
            if after_ms(at, period) > now {
                break;
            }
            self.touched.pop_front();
            // Changed since (`date_updated` is the last change's time): a later entry of the
            // queue names it.
            let idle = parts.tasks.read().get(&sid).and_then(|task| {
                let route = task.route?;
                (task.date_updated <= at && can_be_idle(task)).then(|| {
                    let attributes: Box<str> = task.attributes.as_str().into();
                    (task.age_base, task.workflow_sid, route.filter, attributes)
                })
            });
            let Some((age_base, Some(workflow), filter, attributes)) = idle else { continue };
            if self.matcher.is_waiting(sid) {
                // The table's bytes are counted from its length (`tasks_footprint`).
                let (workflow, _) = self.workflows.number(workflow);
                // No deadline (not met: a waiting task has its TTL) reads as one not held.
                let deadline = self.deadline_of.remove(&sid).unwrap_or_default();
                self.idle_attribute_bytes += attributes.len();
                let filter = filter_number(filter);
                self.idle.insert(sid, Idle { age_base, deadline, attributes, workflow, filter });
                parts.tasks.forget(sid);
            }
        }
        // A burst of changes grew the queue; its room goes once mostly empty.
        if self.touched.len() < self.touched.capacity() / 4 {
            self.touched.shrink_to_fit();
        }
    }

    /// Notes that task `sid` changed at `at` (its state is in memory again, so it is not idle).
    fn touched(&mut self, sid: Sid, at: Timestamp) {
        if let Some(Idle { deadline, attributes, .. }) = self.idle.remove(&sid) {
            self.idle_attribute_bytes -= attributes.len();
            if self.deadlines.contains(&(deadline, sid)) {
                self.deadline_of.insert(sid, deadline);
            }
        }
        self.touched.push_back((at, sid));
    }

    /// The compiled rules of `workspace`, remade if its configuration changed.
    pub fn rules(&mut self, parts: &Parts<'_>, workspace: Sid) -> Arc<Rules> {
        let version = parts.workspaces.version(workspace).unwrap_or_default();
        match self.rules.get(&workspace) {
            Some(rules) if rules.version == version => Arc::clone(rules),
            _ => {
                let state = parts.workspaces.get(workspace).unwrap_or_default();
                let rules = Arc::new(Rules::compile(&state));
                self.rules.insert(workspace, Arc::clone(&rules));
                rules
            }
        }
    }

    /// Puts a worker (new or changed) before matching, and offers it what waits.
    pub fn worker_changed(
        &mut self,
        parts: &mut Parts<'_>,
        worker: &WorkerState,
        at: Timestamp,
    ) -> Result<(), EngineError> {
        let Some(sid) = worker.sid else { return Ok(()) };
        match worker.view().filter(|_| worker.is_live()) {
            Some(view) => {
                self.workers.insert(sid, worker_document(worker));
                self.matcher.upsert_worker(view);
                self.offer_worker(parts, sid, at)
            }
            None => {
                self.workers.remove(&sid);
                self.matcher.remove_worker(sid);
                Ok(())
            }
        }
    }

    /// After a task changed: puts it back in matching as its state says, offers it (or, when
    /// it let a slot go, the worker), and sets its next deadline.
    pub fn task_changed(
        &mut self,
        parts: &mut Parts<'_>,
        task: &TaskState,
        at: Timestamp,
    ) -> Result<(), EngineError> {
        let Some(sid) = task.sid else { return Ok(()) };
        self.touched(sid, at);
        let released = match task.holding_reservation() {
            Some(_) => None,
            None => self.matcher.release(sid),
        };
        match task.waiting_view().filter(|_| WaitingTask::can_wait(task)) {
            Some(view) => {
                self.matcher.enqueue(view);
                self.offer_task(parts, sid, at)?;
            }
            _ => {
                self.matcher.dequeue(sid);
            }
        }
        if let Some(hold) = released {
            self.offer_worker(parts, hold.worker_sid, at)?;
        }
        // Offered, it changed again: its deadline follows the state it has now.
        match parts.tasks.read().get(&sid) {
            Some(now_state) => self.set_deadline(now_state, at),
            None => self.set_deadline(task, at),
        }
        Ok(())
    }

    /// Rebuilds matching from the streams as loaded, then matches what waits.
    pub fn rebuild(&mut self, parts: &mut Parts<'_>, at: Timestamp) -> Result<(), EngineError> {
        let workers: Vec<WorkerState> = parts.workers.read().values().cloned().collect();
        for worker in workers.iter().filter(|w| w.is_live()) {
            if let (Some(sid), Some(view)) = (worker.sid, worker.view()) {
                self.workers.insert(sid, worker_document(worker));
                self.matcher.upsert_worker(view);
            }
        }
        let tasks: Vec<TaskState> = parts.tasks.read().values().cloned().collect();
        let mut waiting = Vec::new();
        for task in &tasks {
            let Some(sid) = task.sid else { continue };
            if let Some(reservation) = task.holding_reservation() {
                let hold = Hold {
                    worker_sid: reservation.worker_sid,
                    task_channel_sid: task.task_channel_sid.unwrap_or(sid),
                };
                self.matcher.restore_hold(sid, hold);
            }
            if let Some(view) = task.waiting_view().filter(|_| WaitingTask::can_wait(task)) {
                waiting.push(sid);
                self.matcher.enqueue(view);
            }
            self.set_deadline(task, at);
            // Untouched since the start: idle a period after it, if nothing changes it.
            self.touched.push_back((at, sid));
        }
        for sid in waiting {
            self.offer_task(parts, sid, at)?;
        }
        Ok(())
    }

    fn offer_task(
        &mut self,
        parts: &mut Parts<'_>,
        sid: Sid,
        at: Timestamp,
    ) -> Result<(), EngineError> {
        if !self.matcher.is_waiting(sid) {
            return Ok(());
        }
        let Some(task) = parts.tasks.fetch(sid)? else { return Ok(()) };
        let waiting = task.workspace_sid.zip(WaitingTask::of(&task));
        let Some((workspace, waiting)) = waiting else { return Ok(()) };
        let rules = self.rules(parts, workspace);
        let documents = &self.workers;
        let eligible = |_: &TaskView, worker: &WorkerView| {
            documents.get(&worker.sid).is_some_and(|document| rules.accepts(&waiting, document))
        };
        // A target's `order_by` ranks the eligible workers by their attributes; equals stay
        // longest idle first.
        let order_by = rules.order_by(&waiting);
        let ranked = |_: &TaskView, a: &WorkerView, b: &WorkerView| match (
            order_by,
            documents.get(&a.sid),
            documents.get(&b.sid),
        ) {
            (Some(order_by), Some(a), Some(b)) => order_by.compare(a, b),
            _ => std::cmp::Ordering::Equal,
        };
        let order: Option<WorkerOrder<'_>> = order_by.map(|_| &ranked as WorkerOrder<'_>);
        let assignment = self.matcher.offer_task(sid, eligible, order);
        if let Some(assignment) = assignment {
            self.reserve(parts, &rules, assignment, at)?;
        }
        Ok(())
    }

    fn offer_worker(
        &mut self,
        parts: &mut Parts<'_>,
        worker: Sid,
        at: Timestamp,
    ) -> Result<(), EngineError> {
        let Some(document) = self.workers.get(&worker).cloned() else { return Ok(()) };
        let Some(workspace) = parts.workers.read().get(&worker).and_then(|w| w.workspace_sid)
        else {
            return Ok(());
        };
        let rules = self.rules(parts, workspace);
        let assignments = {
            // Read under the tasks' shared lock, let go before reserving (which writes).
            // An idle task is evaluated from what the router keeps of it, never read from the
            // log: the scan may pass over every waiting task.
            let tasks = parts.tasks.read();
            let (idle, workflows) = (&self.idle, &self.workflows);
            let eligible = |task: &TaskView, _: &WorkerView| {
                let waiting = match tasks.get(&task.sid) {
                    Some(state) => WaitingTask::of(state),
                    None => idle.get(&task.sid).and_then(|idle| idle.waiting(task, workflows)),
                };
                waiting.is_some_and(|t| rules.accepts(&t, &document))
            };
            self.matcher.offer_worker(worker, eligible)
        };
        for assignment in assignments {
            self.reserve(parts, &rules, assignment, at)?;
        }
        Ok(())
    }

    /// Turns a matching decision into a reservation, appended before anything else is decided.
    fn reserve(
        &mut self,
        parts: &mut Parts<'_>,
        rules: &Rules,
        assignment: Assignment,
        at: Timestamp,
    ) -> Result<(), EngineError> {
        let task_sid = assignment.task_sid;
        // An idle task's workflow is in its entry: the reservation reads its state once, to
        // append.
        let workflow = match parts.tasks.read().get(&task_sid) {
            Some(task) => task.workflow_sid,
            None => self.idle.get(&task_sid).and_then(|i| self.workflows.sid(i.workflow)),
        };
        let timeout = workflow.map_or(120, |w| rules.reservation_timeout_secs(w));
        let worker_name = parts
            .workers
            .read()
            .get(&assignment.worker_sid)
            .map(|w| w.friendly_name.clone())
            .unwrap_or_default();
        let command = TaskCommand::Reserve {
            reservation_sid: new_sid(SidPrefix::RESERVATION),
            worker_sid: assignment.worker_sid,
            worker_name,
            deadline: after_secs(at, u64::from(timeout)),
            at,
        };
        match parts.task(task_sid, command, at)? {
            Ok(reserved) => {
                self.touched(task_sid, at);
                self.set_deadline(&reserved, at);
            }
            Err(rejection) => {
                // It should not happen (the matcher offered a waiting task): the slot is given
                // back and the task waits again, so nothing is held for nobody.
                tracing::warn!(task = %task_sid, %rejection, "a reservation was refused");
                self.matcher.release(task_sid);
            }
        }
        Ok(())
    }

    /// Sets (or clears) a task's next deadline from its state.
    fn set_deadline(&mut self, task: &TaskState, now: Timestamp) {
        let Some(sid) = task.sid else { return };
        let idle = self.idle.get(&sid).map(|idle| idle.deadline);
        if let Some(old) = self.deadline_of.remove(&sid).or(idle) {
            self.deadlines.remove(&(old, sid));
        }
        if task.assignment_status.is_final() || task.deleted {
            self.finished.insert((after_ms(now, FINISHED_KEPT_MS), sid));
            return;
        }
        let step_end = match task.assignment_status {
            AssignmentStatus::Pending => task.workspace_sid.and_then(|workspace| {
                self.rules.get(&workspace)?.step_ends(task, &attributes(&task.attributes))
            }),
            _ => None,
        };
        let pending = task.pending_reservation().map(|r| r.deadline);
        let ttl = matches!(
            task.assignment_status,
            AssignmentStatus::Pending | AssignmentStatus::Reserved
        )
        .then_some(task.ttl_deadline);
        if let Some(next) = [pending, step_end, ttl].into_iter().flatten().min() {
            match self.idle.get_mut(&sid) {
                // A step's end that changed nothing: the task stays idle.
                Some(idle) => idle.deadline = next,
                None => {
                    self.deadline_of.insert(sid, next);
                }
            }
            self.deadlines.insert((next, sid));
        }
    }

    /// The tasks whose deadline has come, taken off the list.
    pub fn due(&mut self, now: Timestamp) -> Vec<Sid> {
        let mut due = Vec::new();
        while let Some(&(at, sid)) = self.deadlines.first() {
            if at > now {
                break;
            }
            self.deadlines.pop_first();
            // An idle task's deadline stays in its entry, no longer held in `deadlines`.
            self.deadline_of.remove(&sid);
            due.push(sid);
        }
        due
    }

    /// The finished tasks kept long enough, taken off the list.
    pub fn finished_long_enough(&mut self, now: Timestamp) -> Vec<Sid> {
        let mut gone = Vec::new();
        while let Some(&(at, sid)) = self.finished.first() {
            if at > now {
                break;
            }
            self.finished.pop_first();
            gone.push(sid);
        }
        gone
    }

    /// Carries out what is due for task `sid` at `now`: a reservation's timeout (and the
    /// worker to the workspace's timeout activity), the end of its step, or its TTL.
    pub fn fire(
        &mut self,
        parts: &mut Parts<'_>,
        sid: Sid,
        now: Timestamp,
    ) -> Result<(), EngineError> {
        // An idle task's state is read from the log.
        let Some(task) = parts.tasks.fetch(sid)? else { return Ok(()) };
        if let Some(reservation) = task.pending_reservation().filter(|r| r.deadline <= now) {
            let command =
                TaskCommand::TimeoutReservation { reservation_sid: reservation.sid, at: now };
            let worker = reservation.worker_sid;
            if let Ok(after) = parts.task(sid, command, now)? {
                self.move_to_timeout_activity(parts, worker, &after, now)?;
                self.task_changed(parts, &after, now)?;
            }
            return Ok(());
        }
        if task.ttl_deadline <= now
            && matches!(
                task.assignment_status,
                AssignmentStatus::Pending | AssignmentStatus::Reserved
            )
        {
            if let Ok(after) = parts.task(sid, TaskCommand::ExpireTtl { at: now }, now)? {
                self.task_changed(parts, &after, now)?;
            }
            return Ok(());
        }
        if task.assignment_status == AssignmentStatus::Pending {
            self.next_step(parts, &task, now)?;
        } else {
            self.set_deadline(&task, now);
        }
        Ok(())
    }

    /// Moves a pending task whose step ended to the step it is in now, or cancels it.
    fn next_step(
        &mut self,
        parts: &mut Parts<'_>,
        task: &TaskState,
        now: Timestamp,
    ) -> Result<(), EngineError> {
        let (Some(sid), Some(workspace)) = (task.sid, task.workspace_sid) else {
            return Ok(());
        };
        let rules = self.rules(parts, workspace);
        let command = match rules.advance(task, &attributes(&task.attributes), now) {
            Placement::Queue(route) if task.route.is_some_and(|r| r.same_step(&route)) => {
                self.set_deadline(task, now);
                return Ok(());
            }
            Placement::Queue(route) => TaskCommand::EnterQueue { route, at: now },
            Placement::Cancel(reason) => TaskCommand::Cancel { reason: reason.to_owned() },
        };
        if let Ok(after) = parts.task(sid, command, now)? {
            self.entered(parts, &after, now)?;
        }
        Ok(())
    }

    /// After a task entered a step (created, moved on by a timeout, re-routed): what follows
    /// any change of it, then, when that made no reservation, the step's `skip_if` may move it
    /// on, step after step (at most [`MAX_SKIPS`] in one go).
    pub fn entered(
        &mut self,
        parts: &mut Parts<'_>,
        task: &TaskState,
        at: Timestamp,
    ) -> Result<(), EngineError> {
        self.task_changed(parts, task, at)?;
        let (Some(sid), Some(workspace)) = (task.sid, task.workspace_sid) else { return Ok(()) };
        for _ in 0..MAX_SKIPS {
            let Some(current) = parts.tasks.read().get(&sid).cloned() else { return Ok(()) };
            // Reserved on entering: the step is not skipped.
            if current.assignment_status != AssignmentStatus::Pending || !current.is_live() {
                return Ok(());
            }
            let rules = self.rules(parts, workspace);
            let document = attributes(&current.attributes);
            let counts = |queue: &Expression| self.queue_counts(parts, workspace, queue, &document);
            let Some(placement) = rules.skip(&current, &document, at, counts) else {
                return Ok(());
            };
            let command = match placement {
                Placement::Queue(route) => TaskCommand::EnterQueue { route, at },
                Placement::Cancel(reason) => TaskCommand::Cancel { reason: reason.to_owned() },
            };
            match parts.task(sid, command, at)? {
                Ok(after) => self.task_changed(parts, &after, at)?,
                Err(_) => return Ok(()),
            }
        }
        Ok(())
    }

    /// What a step's `skip_if` reads of its queue: the workspace's live workers the queue's
    /// `target_workers` takes (for this task), counted by availability and by activity.
    fn queue_counts(
        &self,
        parts: &Parts<'_>,
        workspace: Sid,
        queue: &Expression,
        task: &Value,
    ) -> Value {
        let (mut available, mut unavailable) = (0, 0);
        let mut by_activity: BTreeMap<Sid, u64> = BTreeMap::new();
        for worker in parts.workers.read().values() {
            let (Some(sid), Some(activity)) = (worker.sid, worker.activity.as_ref()) else {
                continue;
            };
            if !worker.is_live() || worker.workspace_sid != Some(workspace) {
                continue;
            }
            let Some(document) = self.workers.get(&sid) else { continue };
            if !queue.evaluate(&Operands::bare_worker(document, Some(task))) {
                continue;
            }
            if activity.available {
                available += 1;
            } else {
                unavailable += 1;
            }
            *by_activity.entry(activity.sid).or_default() += 1;
        }
        let by_activity: Vec<(Sid, u64)> = by_activity.into_iter().collect();
        skip_document(available, unavailable, &by_activity)
    }

    /// Twilio moves a worker whose reservation timed out to the workspace's timeout activity.
    fn move_to_timeout_activity(
        &mut self,
        parts: &mut Parts<'_>,
        worker: Sid,
        task: &TaskState,
        now: Timestamp,
    ) -> Result<(), EngineError> {
        let Some(workspace) = task.workspace_sid.and_then(|w| parts.workspaces.get(w)) else {
            return Ok(());
        };
        let Some(activity) = workspace
            .live()
            .and_then(|(_, settings)| settings.timeout_activity_sid)
            .and_then(|sid| workspace.activity(sid))
        else {
            return Ok(());
        };
        let activity = Activity {
            sid: activity.sid,
            name: activity.friendly_name.clone(),
            available: activity.available,
        };
        let command =
            WorkerCommand::SetActivity { activity, at: now, reject_pending_reservations: false };
        if let Ok(after) = parts.worker(worker, command, now)? {
            self.worker_changed(parts, &after, now)?;
        }
        Ok(())
    }

    /// The reservations worker `worker` holds pending, to reject when it becomes unavailable.
    pub fn pending_of(&self, parts: &Parts<'_>, worker: Sid) -> Vec<(Sid, Sid)> {
        parts
            .tasks
            .read()
            .values()
            .filter_map(|t| {
                let reservation = t.pending_reservation()?;
                (reservation.worker_sid == worker
                    && reservation.status == ReservationStatus::Pending)
                    .then(|| (t.sid.unwrap_or(reservation.sid), reservation.sid))
            })
            .collect()
    }
}

/// Whether a task may be idle: live, waiting in a step of its workflow, never offered to anyone
/// (a task with reservations is followed by their workers' catch-up and timers, which read it
/// from memory).
fn can_be_idle(task: &TaskState) -> bool {
    task.is_live()
        && task.assignment_status == AssignmentStatus::Pending
        && task.reservations.is_empty()
        && WaitingTask::can_wait(task)
}

fn after_ms(at: Timestamp, ms: u64) -> Timestamp {
    Timestamp::from_millis(at.as_millis().saturating_add(i64::try_from(ms).unwrap_or(i64::MAX)))
}

#[cfg(test)]
mod tests {
    use switchboard_routing::task::Route;

    use super::*;

    /// What the router keeps of an idle task gives matching what the task's state gives it:
    /// the same workflow, step and attributes, every kind of filter kept through its number.
    #[test]
    fn an_idle_task_is_evaluated_as_its_state_is() {
        let sid = |prefix, n| Sid::from_parts(prefix, [n; 16]);
        let mut workflows = Interned::default();
        workflows.number(sid(SidPrefix::WORKFLOW, 9));
        for filter in
            [None, Some(Matched::Default), Some(Matched::Filter(0)), Some(Matched::Filter(7))]
        {
            let route = Route { filter, ..Route::new(sid(SidPrefix::TASK_QUEUE, 2), 1, None) };
            let task = TaskState {
                workflow_sid: Some(sid(SidPrefix::WORKFLOW, 1)),
                route: Some(route),
                attributes: r#"{"from":"+14155550100","language":"es"}"#.to_owned(),
                ..TaskState::default()
            };
            let (workflow, _) = workflows.number(task.workflow_sid.unwrap());
            let idle = Idle {
                age_base: Timestamp(0),
                deadline: Timestamp(0),
                attributes: task.attributes.as_str().into(),
                workflow,
                filter: filter_number(filter),
            };
            let view = TaskView {
                sid: sid(SidPrefix::TASK, 3),
                task_channel_sid: sid(SidPrefix::TASK_CHANNEL, 4),
                queue_sid: route.queue_sid,
                target_index: route.target_index,
                priority: 0,
                entered: Timestamp(0),
                declined_by: Default::default(),
            };
            let (kept, state) = (idle.waiting(&view, &workflows), WaitingTask::of(&task));
            let fields = |t: WaitingTask| {
                (t.workflow_sid, t.queue_sid, t.target_index, t.filter, t.document)
            };
            assert_eq!(kept.map(fields), state.map(fields), "{filter:?}");
        }
    }
}
