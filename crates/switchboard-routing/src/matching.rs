//! The assignment decision: which waiting task goes to which free worker, kept incrementally so
//! each change costs one ordered scan, not a walk of every task against every worker.
//!
//! A [`Matcher`] holds, per task channel, the waiting tasks in Twilio's order (priority
//! descending, then the date they entered their queue, then SID so the order is total) and the
//! workers with a free slot on that channel in "longest idle" order. When a task starts waiting
//! it takes the best eligible free worker ([`Matcher::offer_task`]); when a worker gains a free
//! slot it takes the first eligible waiting tasks, up to its free slots
//! ([`Matcher::offer_worker`]). Eligibility (queue `target_workers`, the target's expression,
//! `known_worker_sid`) is a closure the caller supplies, so this module knows nothing of the
//! expression language or workspaces.
//!
//! The matcher's decisions are counted at once: a task it offers stops waiting and holds a slot
//! of the worker's capacity until [`Matcher::release`]. Pending, accepted and wrapping
//! reservations hold a slot; a worker whose activity or channel is unavailable, or whose held
//! slots reach its configured capacity, gets nothing; a task is offered to one worker at a time
//! (MaxReservedWorkers = 1) and never to a worker in its `declined_by`.
//!
//! **Serializing.** The matcher is plain data, not shared: one writer per workspace (the actor
//! layer) owns it with the workspace's tasks and workers and, for each change, in this order:
//! decides and appends the aggregate's events; tells the matcher what changed (`upsert_worker`,
//! `enqueue`, `dequeue`, `release`); runs the matching entry point for what changed; and turns each
//! [`Assignment`] into a `TaskCommand::Reserve` decided and appended before the next change is
//! taken. Were two writers to interleave, a slot could be given twice. If a `Reserve` is refused
//! (it should not be), the caller calls `release` and `enqueue` again. On start the caller rebuilds
//! the matcher from the states: `upsert_worker` for each live worker, `restore_hold` for each
//! holding reservation, `enqueue` for each waiting task, then [`Matcher::rematch_all`].
//!
//! **What to call after which change** (`tests/router_model.rs` does exactly this):
//! - a task created, moved to a queue or target, or given a new priority: `enqueue` (its
//!   `TaskState::waiting_view`), then `offer_task`;
//! - a reservation rejected, timed out or rescinded: `release`, `enqueue` (the view now names the
//!   decliner), `offer_task`, then `offer_worker` for the worker whose slot came back;
//! - a task completed, canceled or deleted: `dequeue`, `release`, `offer_worker`;
//! - a worker's activity, attributes or channels changed: `upsert_worker`, `offer_worker`;
//! - an accept or a wrap-up: nothing (the slot stays held until the task ends).
//!
//! A task every eligible worker declined in its current queue entry waits until its target's
//! timeout moves it on (`TaskCommand::EnterQueue`), which forgets who declined. "Longest idle"
//! is the worker's `date_status_changed` by default; a caller that wants "idle since its last
//! task ended" passes that date in the view given to `upsert_worker`.

use std::cmp::{Ordering, Reverse};
use std::collections::{BTreeMap, BTreeSet};

use switchboard_domain::{Sid, Timestamp};

/// A waiting task as matching sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TaskView {
    pub sid: Sid,
    pub task_channel_sid: Sid,
    pub queue_sid: Sid,
    /// Which target of its workflow filter put it there (whose expression and `order_by`
    /// apply).
    pub target_index: u32,
    pub priority: u32,
    /// When it entered its queue: older first among equal priorities.
    pub entered: Timestamp,
    /// Workers not to offer it to (they rejected it or timed out in this queue entry).
    pub declined_by: Decliners,
}

/// The workers who declined a waiting task, read as a slice: a pointer's size when none did
/// (most tasks), as matching holds a view of every waiting task, and the list in a box of its
/// size otherwise.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Decliners(Option<Box<Box<[Sid]>>>);

impl Decliners {
    /// The bytes it holds beside its pointer.
    pub fn bytes(&self) -> usize {
        self.0.as_ref().map_or(0, |listed| {
            std::mem::size_of::<Box<[Sid]>>() + listed.len() * std::mem::size_of::<Sid>()
        })
    }
}

impl std::ops::Deref for Decliners {
    type Target = [Sid];

    fn deref(&self) -> &[Sid] {
        self.0.as_deref().map_or(&[], |listed| listed)
    }
}

impl From<Vec<Sid>> for Decliners {
    fn from(listed: Vec<Sid>) -> Decliners {
        Decliners((!listed.is_empty()).then(|| Box::new(listed.into_boxed_slice())))
    }
}

impl<const N: usize> From<[Sid; N]> for Decliners {
    fn from(listed: [Sid; N]) -> Decliners {
        Decliners::from(listed.to_vec())
    }
}

/// A worker's capacity on one task channel as matching sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChannelView {
    pub task_channel_sid: Sid,
    pub capacity: u32,
    pub available: bool,
}

/// A worker as matching sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WorkerView {
    pub sid: Sid,
    /// Whether its activity is an available one.
    pub available: bool,
    /// Since when it has been idle: longest idle is offered first.
    pub idle_since: Timestamp,
    pub channels: Vec<ChannelView>,
}

impl WorkerView {
    pub fn channel(&self, task_channel_sid: Sid) -> Option<&ChannelView> {
        self.channels.iter().find(|c| c.task_channel_sid == task_channel_sid)
    }
}

/// One decision: reserve `task_sid` for `worker_sid`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Assignment {
    pub task_sid: Sid,
    pub worker_sid: Sid,
    pub task_channel_sid: Sid,
}

/// A slot a task holds of a worker's capacity.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Hold {
    pub worker_sid: Sid,
    pub task_channel_sid: Sid,
}

/// How the caller orders the eligible workers for a task (its target's `order_by`); `Less` is
/// offered first. Ties keep the longest-idle order, so a task without `order_by` answers `Equal`.
pub type WorkerOrder<'a> = &'a dyn Fn(&TaskView, &WorkerView, &WorkerView) -> Ordering;

/// Twilio's task order: higher priority, then earlier queue entry, then SID.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
struct TaskKey {
    priority: Reverse<u32>,
    entered: Timestamp,
    sid: Sid,
}

impl TaskKey {
    fn of(task: &TaskView) -> TaskKey {
        TaskKey { priority: Reverse(task.priority), entered: task.entered, sid: task.sid }
    }
}

/// A waiting task's view, ordered (and found, through `Borrow`) by its SID alone.
#[derive(Debug, Clone)]
struct BySid(TaskView);

impl PartialEq for BySid {
    fn eq(&self, other: &BySid) -> bool {
        self.0.sid == other.0.sid
    }
}

impl Eq for BySid {}

impl PartialOrd for BySid {
    fn partial_cmp(&self, other: &BySid) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for BySid {
    fn cmp(&self, other: &BySid) -> Ordering {
        self.0.sid.cmp(&other.0.sid)
    }
}

impl std::borrow::Borrow<Sid> for BySid {
    fn borrow(&self) -> &Sid {
        &self.0.sid
    }
}

#[derive(Debug, Clone)]
struct WorkerEntry {
    view: WorkerView,
    /// Slots held per task channel.
    held: BTreeMap<Sid, u32>,
}

impl WorkerEntry {
    /// Free slots on a channel: none while the worker or the channel is unavailable. Capacity
    /// may have been lowered below what is held: then none, not a negative number.
    fn free(&self, task_channel_sid: Sid) -> u32 {
        let Some(channel) = self.view.channel(task_channel_sid) else { return 0 };
        if !self.view.available || !channel.available {
            return 0;
        }
        let held = self.held.get(&task_channel_sid).copied().unwrap_or(0);
        channel.capacity.saturating_sub(held)
    }
}

/// The waiting tasks and free workers of one workspace; see the module documentation. Ordered
/// maps throughout, not hash maps: a hash map's seed is random, and the same changes must give
/// the same answers in every run.
#[derive(Debug, Clone, Default)]
pub struct Matcher {
    /// Per task channel, the waiting tasks in offer order: only their keys, as a waiting task
    /// is held once (`waiting_tasks`) and a router may keep a waiting task for every customer.
    waiting: BTreeMap<Sid, BTreeSet<TaskKey>>,
    /// Each waiting task, found by SID (its channel and key say where it is in `waiting`): a
    /// set of views ordered by their SID rather than a map by SID, which held each SID twice.
    waiting_tasks: BTreeSet<BySid>,
    workers: BTreeMap<Sid, WorkerEntry>,
    /// Per task channel, the workers with a free slot there, longest idle first.
    free: BTreeMap<Sid, BTreeSet<(Timestamp, Sid)>>,
    holds: BTreeMap<Sid, Hold>,
}

impl Matcher {
    pub fn new() -> Matcher {
        Matcher::default()
    }

    /// Adds a worker or replaces what matching knows of it (activity, idle date, channels); the
    /// slots it holds stay. Then call [`Matcher::offer_worker`] if it may have gained slots.
    pub fn upsert_worker(&mut self, view: WorkerView) {
        let sid = view.sid;
        self.unlist(sid);
        let held = self.workers.remove(&sid).map(|w| w.held).unwrap_or_default();
        self.workers.insert(sid, WorkerEntry { view, held });
        self.list(sid);
    }

    /// Forgets a worker; returns the tasks that held its slots (their holds are dropped: the
    /// caller refuses to delete a worker that holds any, so this is empty in practice).
    pub fn remove_worker(&mut self, worker_sid: Sid) -> Vec<Sid> {
        self.unlist(worker_sid);
        self.workers.remove(&worker_sid);
        let tasks: Vec<Sid> = self
            .holds
            .iter()
            .filter(|(_, h)| h.worker_sid == worker_sid)
            .map(|(t, _)| *t)
            .collect();
        for task in &tasks {
            self.holds.remove(task);
        }
        tasks
    }

    /// The bytes of a waiting task's entry in each of the two sets that hold it (its place in
    /// offer order; its view by SID), what an entry costs besides the sets' nodes; the view's
    /// `declined_by` is counted apart ([`Matcher::declined_bytes`]).
    pub const WAITING_ENTRY_BYTES: [usize; 2] =
        [std::mem::size_of::<TaskKey>(), std::mem::size_of::<TaskView>()];

    /// A task starts (or goes on) waiting, replacing what was known of it (priority, queue
    /// entry, who declined it). Then call [`Matcher::offer_task`].
    pub fn enqueue(&mut self, task: TaskView) {
        self.dequeue(task.sid);
        self.waiting.entry(task.task_channel_sid).or_default().insert(TaskKey::of(&task));
        self.waiting_tasks.insert(BySid(task));
    }

    /// A task stops waiting (canceled, deleted, moved out); false if it was not waiting.
    pub fn dequeue(&mut self, task_sid: Sid) -> bool {
        let Some(BySid(task)) = self.waiting_tasks.take(&task_sid) else { return false };
        if let Some(tasks) = self.waiting.get_mut(&task.task_channel_sid) {
            tasks.remove(&TaskKey::of(&task));
            if tasks.is_empty() {
                self.waiting.remove(&task.task_channel_sid);
            }
        }
        true
    }

    /// The bytes the waiting tasks' `declined_by` lists hold (a walk of the waiting tasks).
    pub fn declined_bytes(&self) -> usize {
        self.waiting_tasks.iter().map(|t| t.0.declined_by.bytes()).sum()
    }

    /// What matching knows of a waiting task.
    pub fn waiting_view(&self, task_sid: Sid) -> Option<&TaskView> {
        self.waiting_tasks.get(&task_sid).map(|t| &t.0)
    }

    /// Counts a slot the task holds of the worker (used when rebuilding from stored states);
    /// false, counting nothing, if the task already holds one or the worker is unknown.
    pub fn restore_hold(&mut self, task_sid: Sid, hold: Hold) -> bool {
        if self.holds.contains_key(&task_sid) || !self.workers.contains_key(&hold.worker_sid) {
            return false;
        }
        self.unlist(hold.worker_sid);
        if let Some(worker) = self.workers.get_mut(&hold.worker_sid) {
            *worker.held.entry(hold.task_channel_sid).or_default() += 1;
        }
        self.holds.insert(task_sid, hold);
        self.list(hold.worker_sid);
        true
    }

    /// The task gives its slot back (its reservation ended without an accept, or the task
    /// completed, was canceled or deleted). Then call [`Matcher::offer_worker`] for the worker
    /// and, if the task waits again, `enqueue` and [`Matcher::offer_task`] for it.
    pub fn release(&mut self, task_sid: Sid) -> Option<Hold> {
        let hold = self.holds.remove(&task_sid)?;
        self.unlist(hold.worker_sid);
        if let Some(worker) = self.workers.get_mut(&hold.worker_sid) {
            if let Some(held) = worker.held.get_mut(&hold.task_channel_sid) {
                *held = held.saturating_sub(1);
            }
        }
        self.list(hold.worker_sid);
        Some(hold)
    }

    /// The best eligible free worker for a waiting task, if any: the first in longest-idle
    /// order, or the least by `order` (ties keep that order). The task stops waiting and holds a
    /// slot of the worker.
    pub fn offer_task(
        &mut self,
        task_sid: Sid,
        eligible: impl Fn(&TaskView, &WorkerView) -> bool,
        order: Option<WorkerOrder<'_>>,
    ) -> Option<Assignment> {
        let task = &self.waiting_tasks.get(&task_sid)?.0;
        let channel = task.task_channel_sid;
        let candidates = self
            .free
            .get(&channel)?
            .iter()
            .filter(|(_, worker)| !task.declined_by.contains(worker))
            .filter_map(|(_, worker)| self.workers.get(worker).map(|w| &w.view))
            .filter(|worker| eligible(task, worker));
        let best = match order {
            None => candidates.into_iter().next(),
            // `min_by` keeps the first of equal elements: ties stay longest idle first.
            Some(order) => candidates.min_by(|a, b| order(task, a, b)),
        };
        let worker_sid = best?.sid;
        Some(self.assign(task_sid, worker_sid, channel))
    }

    /// The first eligible waiting tasks for a worker, up to its free slots on each channel, in
    /// task order. One ordered scan of each channel's waiting tasks, stopping when full.
    pub fn offer_worker(
        &mut self,
        worker_sid: Sid,
        eligible: impl Fn(&TaskView, &WorkerView) -> bool,
    ) -> Vec<Assignment> {
        let Some(entry) = self.workers.get(&worker_sid) else { return Vec::new() };
        let mut chosen = Vec::new();
        for channel in &entry.view.channels {
            let free = entry.free(channel.task_channel_sid) as usize;
            let Some(tasks) = self.waiting.get(&channel.task_channel_sid).filter(|_| free > 0)
            else {
                continue;
            };
            let picked = tasks
                .iter()
                .filter_map(|key| self.waiting_view(key.sid))
                .filter(|task| !task.declined_by.contains(&worker_sid))
                .filter(|task| eligible(task, &entry.view))
                .take(free)
                .map(|task| (task.sid, channel.task_channel_sid));
            chosen.extend(picked);
        }
        chosen.into_iter().map(|(task, channel)| self.assign(task, worker_sid, channel)).collect()
    }

    /// Offers every waiting task in turn, all channels together in task order (after a change
    /// that may affect any pair: a rebuilt matcher, a workflow or queue update). Costs a scan of
    /// the free workers per waiting task, so it is for rare events, not for each change.
    pub fn rematch_all(
        &mut self,
        eligible: impl Fn(&TaskView, &WorkerView) -> bool,
        order: Option<WorkerOrder<'_>>,
    ) -> Vec<Assignment> {
        let mut keys: Vec<TaskKey> = self.waiting_tasks.iter().map(|t| TaskKey::of(&t.0)).collect();
        keys.sort_unstable();
        keys.into_iter().filter_map(|key| self.offer_task(key.sid, &eligible, order)).collect()
    }

    /// Takes a task out of waiting and counts its slot of the worker.
    fn assign(&mut self, task_sid: Sid, worker_sid: Sid, task_channel_sid: Sid) -> Assignment {
        self.dequeue(task_sid);
        self.restore_hold(task_sid, Hold { worker_sid, task_channel_sid });
        Assignment { task_sid, worker_sid, task_channel_sid }
    }

    /// Puts a worker in the free lists of the channels where it has a slot.
    fn list(&mut self, worker_sid: Sid) {
        let Some(entry) = self.workers.get(&worker_sid) else { return };
        for channel in &entry.view.channels {
            if entry.free(channel.task_channel_sid) > 0 {
                let free = self.free.entry(channel.task_channel_sid).or_default();
                free.insert((entry.view.idle_since, worker_sid));
            }
        }
    }

    /// Takes a worker out of every free list, before what decides its place changes.
    fn unlist(&mut self, worker_sid: Sid) {
        let Some(entry) = self.workers.get(&worker_sid) else { return };
        for channel in &entry.view.channels {
            if let Some(free) = self.free.get_mut(&channel.task_channel_sid) {
                free.remove(&(entry.view.idle_since, worker_sid));
            }
        }
    }

    /// Slots a worker holds on a channel.
    pub fn held(&self, worker_sid: Sid, task_channel_sid: Sid) -> u32 {
        let worker = self.workers.get(&worker_sid);
        worker.and_then(|w| w.held.get(&task_channel_sid).copied()).unwrap_or(0)
    }

    /// Slots a worker holds on all channels (what `WorkerCommand::Delete` is told).
    pub fn held_by(&self, worker_sid: Sid) -> u32 {
        self.workers.get(&worker_sid).map_or(0, |w| w.held.values().sum())
    }

    /// Free slots a worker has on a channel now.
    pub fn free_slots(&self, worker_sid: Sid, task_channel_sid: Sid) -> u32 {
        self.workers.get(&worker_sid).map_or(0, |w| w.free(task_channel_sid))
    }

    pub fn hold_of(&self, task_sid: Sid) -> Option<Hold> {
        self.holds.get(&task_sid).copied()
    }

    pub fn is_waiting(&self, task_sid: Sid) -> bool {
        self.waiting_tasks.contains(&task_sid)
    }

    pub fn waiting_count(&self) -> usize {
        self.waiting_tasks.len()
    }

    /// The waiting tasks of a channel, in offer order.
    pub fn waiting_on(&self, task_channel_sid: Sid) -> impl Iterator<Item = &TaskView> {
        let keys = self.waiting.get(&task_channel_sid).into_iter().flatten();
        keys.filter_map(|key| self.waiting_view(key.sid))
    }
}

#[cfg(test)]
mod tests {
    use std::cell::Cell;

    use switchboard_domain::SidPrefix;

    use super::*;

    fn sid(prefix: SidPrefix, n: u32) -> Sid {
        let mut id = [0; 16];
        id[12..].copy_from_slice(&n.to_be_bytes());
        Sid::from_parts(prefix, id)
    }

    fn chat() -> Sid {
        sid(SidPrefix::TASK_CHANNEL, 1)
    }

    fn task(n: u32, priority: u32, entered: i64) -> TaskView {
        TaskView {
            sid: sid(SidPrefix::TASK, n),
            task_channel_sid: chat(),
            queue_sid: sid(SidPrefix::TASK_QUEUE, 1),
            target_index: 0,
            priority,
            entered: Timestamp(entered),
            declined_by: Decliners::default(),
        }
    }

    fn worker(n: u32, idle_since: i64, capacity: u32) -> WorkerView {
        WorkerView {
            sid: sid(SidPrefix::WORKER, n),
            available: true,
            idle_since: Timestamp(idle_since),
            channels: vec![ChannelView { task_channel_sid: chat(), capacity, available: true }],
        }
    }

    fn anyone(_: &TaskView, _: &WorkerView) -> bool {
        true
    }

    fn tasks_of(assignments: &[Assignment]) -> Vec<Sid> {
        assignments.iter().map(|a| a.task_sid).collect()
    }

    #[test]
    fn a_freed_worker_takes_the_highest_priority_then_oldest_tasks_up_to_its_capacity() {
        let mut matcher = Matcher::new();
        for (n, priority, entered) in [(1, 0, 10), (2, 5, 30), (3, 5, 20), (4, 0, 5), (5, 1, 1)] {
            matcher.enqueue(task(n, priority, entered));
        }
        matcher.upsert_worker(worker(1, 0, 3));
        let taken = matcher.offer_worker(sid(SidPrefix::WORKER, 1), anyone);
        let expected: Vec<Sid> = [3, 2, 5].map(|n| sid(SidPrefix::TASK, n)).to_vec();
        assert_eq!(tasks_of(&taken), expected);
        assert_eq!(matcher.held(sid(SidPrefix::WORKER, 1), chat()), 3);
        assert_eq!(matcher.free_slots(sid(SidPrefix::WORKER, 1), chat()), 0);
        assert!(matcher.offer_worker(sid(SidPrefix::WORKER, 1), anyone).is_empty(), "it is full");
        assert_eq!(matcher.waiting_count(), 2);
        assert_eq!(
            matcher.release(sid(SidPrefix::TASK, 2)).map(|h| h.worker_sid),
            Some(sid(SidPrefix::WORKER, 1))
        );
        let next = matcher.offer_worker(sid(SidPrefix::WORKER, 1), anyone);
        assert_eq!(tasks_of(&next), vec![sid(SidPrefix::TASK, 4)], "priority 0 entered at 5");
    }

    #[test]
    fn a_new_task_goes_to_the_longest_idle_eligible_worker_unless_an_order_is_given() {
        let mut matcher = Matcher::new();
        matcher.upsert_worker(worker(1, 300, 1));
        matcher.upsert_worker(worker(2, 100, 1));
        matcher.upsert_worker(worker(3, 200, 1));
        let not_two = |_: &TaskView, w: &WorkerView| w.sid != sid(SidPrefix::WORKER, 2);
        matcher.enqueue(task(1, 0, 0));
        let first = matcher.offer_task(sid(SidPrefix::TASK, 1), not_two, None).unwrap();
        assert_eq!(
            first.worker_sid,
            sid(SidPrefix::WORKER, 3),
            "2 is idle longer but not eligible"
        );
        let mut declined = task(2, 0, 0);
        declined.declined_by = [sid(SidPrefix::WORKER, 2)].into();
        matcher.enqueue(declined);
        let second = matcher.offer_task(sid(SidPrefix::TASK, 2), anyone, None).unwrap();
        assert_eq!(second.worker_sid, sid(SidPrefix::WORKER, 1), "2 declined it");
        matcher.release(sid(SidPrefix::TASK, 1));
        matcher.release(sid(SidPrefix::TASK, 2));
        matcher.enqueue(task(3, 0, 0));
        let highest_sid_first: WorkerOrder<'_> = &|_, a, b| b.sid.cmp(&a.sid);
        let ordered = matcher.offer_task(sid(SidPrefix::TASK, 3), anyone, Some(highest_sid_first));
        assert_eq!(ordered.unwrap().worker_sid, sid(SidPrefix::WORKER, 3));
        let same: WorkerOrder<'_> = &|_, _, _| Ordering::Equal;
        matcher.enqueue(task(4, 0, 0));
        let tie = matcher.offer_task(sid(SidPrefix::TASK, 4), anyone, Some(same)).unwrap();
        assert_eq!(tie.worker_sid, sid(SidPrefix::WORKER, 2), "ties go to the longest idle");
    }

    #[test]
    fn an_unavailable_worker_or_channel_gets_nothing_and_lowered_capacity_gives_no_more() {
        let mut matcher = Matcher::new();
        let mut away = worker(1, 0, 2);
        away.available = false;
        matcher.upsert_worker(away.clone());
        matcher.enqueue(task(1, 0, 0));
        matcher.enqueue(task(2, 0, 1));
        assert_eq!(matcher.offer_task(sid(SidPrefix::TASK, 1), anyone, None), None);
        away.available = true;
        away.channels[0].available = false;
        matcher.upsert_worker(away.clone());
        assert!(matcher.offer_worker(away.sid, anyone).is_empty());
        away.channels[0].available = true;
        matcher.upsert_worker(away.clone());
        assert_eq!(matcher.offer_worker(away.sid, anyone).len(), 2);
        away.channels[0].capacity = 1;
        matcher.upsert_worker(away.clone());
        assert_eq!((matcher.held(away.sid, chat()), matcher.free_slots(away.sid, chat())), (2, 0));
        matcher.release(sid(SidPrefix::TASK, 1));
        matcher.enqueue(task(3, 0, 2));
        assert_eq!(matcher.offer_task(sid(SidPrefix::TASK, 3), anyone, None), None, "1 held of 1");
        assert_eq!(matcher.remove_worker(away.sid), vec![sid(SidPrefix::TASK, 2)]);
        assert_eq!(matcher.hold_of(sid(SidPrefix::TASK, 2)), None);
    }

    /// A waiting task is held once, by SID, with only its key in line: enqueued again (a new
    /// priority, a decliner) it moves in line and is still held once; dequeued, nothing of it
    /// stays, and its channel's line goes once empty.
    #[test]
    fn a_waiting_task_is_held_once_and_moves_in_line_when_enqueued_again() {
        let mut matcher = Matcher::new();
        for (n, priority, entered) in [(1, 0, 10), (2, 0, 20), (3, 0, 30)] {
            matcher.enqueue(task(n, priority, entered));
        }
        let line = |m: &Matcher| m.waiting_on(chat()).map(|t| t.sid).collect::<Vec<_>>();
        assert_eq!(line(&matcher), [1, 2, 3].map(|n| sid(SidPrefix::TASK, n)).to_vec());
        let mut raised = task(3, 7, 30);
        raised.declined_by = [sid(SidPrefix::WORKER, 9)].into();
        matcher.enqueue(raised.clone());
        assert_eq!(line(&matcher), [3, 1, 2].map(|n| sid(SidPrefix::TASK, n)).to_vec());
        assert_eq!(matcher.waiting_count(), 3, "held once");
        assert_eq!(matcher.waiting_view(raised.sid), Some(&raised));
        let one = std::mem::size_of::<Box<[Sid]>>() + std::mem::size_of::<Sid>();
        assert_eq!(matcher.declined_bytes(), one);
        for n in 1..=3 {
            assert!(matcher.dequeue(sid(SidPrefix::TASK, n)));
        }
        assert!(!matcher.dequeue(sid(SidPrefix::TASK, 1)), "no longer waiting");
        assert!(matcher.waiting.is_empty() && matcher.waiting_tasks.is_empty());
        assert_eq!(matcher.declined_bytes(), 0);
    }

    /// The cost of a worker becoming available with 10 000 tasks waiting is one ordered scan:
    /// counted in calls of the eligibility closure, never timed here (the release-build figure
    /// is measured by `ten_thousand_waiting_tasks_timing`, ignored by default).
    #[test]
    fn a_freed_worker_scans_the_waiting_tasks_once_in_order() {
        let (mut matcher, total) = ten_thousand_waiting();
        let calls = Cell::new(0usize);
        let last_only = |t: &TaskView, _: &WorkerView| {
            calls.set(calls.get() + 1);
            t.sid == sid(SidPrefix::TASK, total - 1)
        };
        let taken = matcher.offer_worker(sid(SidPrefix::WORKER, 1), last_only);
        assert_eq!(tasks_of(&taken), vec![sid(SidPrefix::TASK, total - 1)]);
        assert_eq!(calls.get(), total as usize, "each waiting task is looked at once");
        assert_eq!(matcher.waiting_count(), total as usize - 1);
    }

    fn ten_thousand_waiting() -> (Matcher, u32) {
        let total = 10_000;
        let mut matcher = Matcher::new();
        for n in 0..total {
            // The last task is the lowest in order: it is found at the end of the scan.
            matcher.enqueue(task(n, total - n, i64::from(n)));
        }
        matcher.upsert_worker(worker(1, 0, 1));
        (matcher, total)
    }

    /// Prints how long re-matching 10 000 waiting tasks takes when one worker becomes
    /// available, with an eligibility rule that reads each task's attributes (a stand-in for
    /// an expression): `cargo test -p switchboard-routing --release -- --ignored --nocapture
    /// timing`.
    #[test]
    #[ignore = "a measurement, not a check: run by hand in a release build"]
    fn ten_thousand_waiting_tasks_timing() {
        let (mut matcher, total) = ten_thousand_waiting();
        let attributes: BTreeMap<Sid, serde_json::Value> = (0..total)
            .map(|n| {
                let language = if n == total - 1 { "en" } else { "es" };
                let document = serde_json::json!({ "language": language, "n": n });
                (sid(SidPrefix::TASK, n), document)
            })
            .collect();
        let speaks_english =
            |t: &TaskView, _: &WorkerView| attributes[&t.sid]["language"].as_str() == Some("en");
        let started = std::time::Instant::now();
        let taken = matcher.offer_worker(sid(SidPrefix::WORKER, 1), speaks_english);
        let elapsed = started.elapsed();
        assert_eq!(tasks_of(&taken), vec![sid(SidPrefix::TASK, total - 1)]);
        println!("re-matched {total} waiting tasks for one freed worker in {elapsed:?}");
    }
}
