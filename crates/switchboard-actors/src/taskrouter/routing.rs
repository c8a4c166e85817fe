//! A workspace's routing rules compiled once per version of its configuration: each queue's
//! `target_workers` and each workflow's configuration parsed, so matching evaluates expressions
//! without parsing them again. A task's place (its filter and step) is worked out from its
//! attributes and the age of its route, and moved on by its step's timeout or `skip_if`.

use std::collections::BTreeMap;
use std::sync::Arc;

use serde_json::Value;
use switchboard_domain::{Sid, Timestamp};
use switchboard_routing::expression::Expression;
use switchboard_routing::task::{Entry, Route, TaskState};
use switchboard_routing::worker::WorkerState;
use switchboard_routing::workflow::{
    self, Matched, OrderBy, Placed, Step, WorkflowConfiguration, UNROUTED_REASON,
    WORKFLOW_TIMEOUT_REASON,
};
use switchboard_routing::workspace::WorkspaceState;

/// One workspace's compiled rules, for the version of its configuration it was made from.
#[derive(Debug)]
pub(crate) struct Rules {
    /// The workspace's `events_applied` they were compiled at.
    pub version: u64,
    queues: BTreeMap<Sid, Expression>,
    workflows: BTreeMap<Sid, WorkflowConfiguration>,
    /// How long a reservation waits for an answer, by workflow (seconds).
    reservation_timeouts: BTreeMap<Sid, u32>,
}

/// Where a task is to be, given its attributes and how long it has been routed.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Placement {
    Queue(Route),
    Cancel(&'static str),
}

impl Rules {
    /// Compiles `workspace`'s queues and workflows. What fails to parse (it was checked when
    /// given, so only a folder from a build with other rules) is left out: its tasks wait.
    pub fn compile(workspace: &WorkspaceState) -> Rules {
        let queues = workspace
            .task_queues
            .values()
            .filter_map(|k| {
                let record = &k.record;
                Expression::parse(&record.target_workers).ok().map(|e| (record.sid, e))
            })
            .collect();
        let workflows = workspace
            .workflows
            .values()
            .filter_map(|k| {
                let record = &k.record;
                WorkflowConfiguration::parse(&record.configuration).ok().map(|c| (record.sid, c))
            })
            .collect();
        let reservation_timeouts = workspace
            .workflows
            .values()
            .map(|k| (k.record.sid, k.record.task_reservation_timeout))
            .collect();
        Rules { version: workspace.events_applied, queues, workflows, reservation_timeouts }
    }

    pub fn reservation_timeout_secs(&self, workflow: Sid) -> u32 {
        self.reservation_timeouts.get(&workflow).copied().unwrap_or(120)
    }

    /// Where a task of `workflow` with `attributes`, routed since `since`, belongs at `now`:
    /// the first filter that holds, at the step its timeouts have reached.
    pub fn place(
        &self,
        workflow: Sid,
        attributes: &Value,
        since: Timestamp,
        now: Timestamp,
    ) -> Placement {
        let Some(configuration) = self.workflows.get(&workflow) else {
            return Placement::Cancel(UNROUTED_REASON);
        };
        let route = configuration.route(attributes);
        let step = route.step_at(elapsed_secs(since, now), 0);
        placement_of(Placed { route, from: 0, fresh: false, step }, None, Entry::Routed)
    }

    /// Where a pending task whose step ended belongs at `now`: a later step of the same route
    /// (not before the first it did not skip), or canceled past the last.
    pub fn advance(&self, task: &TaskState, attributes: &Value, now: Timestamp) -> Placement {
        let (Some(workflow), Some(current)) = (task.workflow_sid, task.route) else {
            return Placement::Cancel(UNROUTED_REASON);
        };
        let Some((_, route)) = self.route_of(workflow, current.filter, attributes) else {
            // The filter is gone (the configuration changed): routed again by the attributes.
            return self.place(workflow, attributes, task.age_base, now);
        };
        let since = current.since.unwrap_or(task.age_base);
        let from = current.first_step as usize;
        let step = route.step_at(elapsed_secs(since, now), from);
        placement_of(Placed { route, from, fresh: false, step }, current.since, Entry::StepTimedOut)
    }

    /// Where a pending task goes when its step's `skip_if` holds (`None` when the step has
    /// none, or it does not hold): `counts` gives what `skip_if` reads of the step's queue,
    /// given the queue's `target_workers`. Called only when entering the step made no
    /// reservation.
    pub fn skip(
        &self,
        task: &TaskState,
        attributes: &Value,
        now: Timestamp,
        counts: impl FnOnce(&Expression) -> Value,
    ) -> Option<Placement> {
        let current = task.route?;
        let (configuration, route) =
            self.route_of(task.workflow_sid?, current.filter, attributes)?;
        let index = current.target_index as usize;
        let target = route.targets.get(index)?;
        target.skip_if()?;
        let queue = self.queues.get(&target.queue())?;
        if !target.skips(&counts(queue)) {
            return None;
        }
        let since = current.since.unwrap_or(task.age_base);
        let placed =
            configuration.skip_step(attributes, route.matched, index, elapsed_secs(since, now));
        let since = if placed.fresh { Some(now) } else { current.since };
        Some(placement_of(placed, since, Entry::Skipped))
    }

    /// When the step a task is in ends (its route's accumulated timeouts), if it does.
    pub fn step_ends(&self, task: &TaskState, attributes: &Value) -> Option<Timestamp> {
        let current = task.route?;
        let (_, route) = self.route_of(task.workflow_sid?, current.filter, attributes)?;
        let target = route.targets.get(current.target_index as usize)?;
        let secs = target.ends_after()?;
        Some(after_secs(current.since.unwrap_or(task.age_base), secs))
    }

    /// The `order_by` of the step a task waits in, if it has one.
    pub fn order_by(&self, task: &WaitingTask) -> Option<&OrderBy> {
        let (_, route) = self.route_of(task.workflow_sid, task.filter, &task.document)?;
        let target = route.targets.get(task.target_index as usize)?;
        target.order_by()
    }

    /// Whether the step a task waits in may offer it to the worker.
    pub fn accepts(&self, task: &WaitingTask, worker: &Value) -> bool {
        let queue_sid = task.queue_sid;
        let Some(queue) = self.queues.get(&queue_sid) else { return false };
        let route = self.route_of(task.workflow_sid, task.filter, &task.document);
        match route.and_then(|(_, r)| r.targets.get(task.target_index as usize)) {
            Some(target) if target.queue() == queue_sid => {
                target.accepts(queue, worker, &task.document)
            }
            // The configuration changed under the task: the queue's own rule decides.
            _ => queue.evaluate(&switchboard_routing::expression::Operands::bare_worker(
                worker,
                Some(&task.document),
            )),
        }
    }

    /// The workflow's configuration and the route a task's step belongs to: the filter the
    /// step names, else (a step recorded before filters were kept) the one the attributes match
    /// first; `None` when the workflow or the filter is gone.
    fn route_of(
        &self,
        workflow: Sid,
        filter: Option<Matched>,
        attributes: &Value,
    ) -> Option<(&WorkflowConfiguration, workflow::Route<'_>)> {
        let configuration = self.workflows.get(&workflow)?;
        let route = match filter {
            Some(matched) => configuration.route_of(matched)?,
            None => configuration.route(attributes),
        };
        Some((configuration, route))
    }
}

/// The placement a workflow's answer means: the step's queue, or the task canceled.
fn placement_of(placed: Placed<'_>, since: Option<Timestamp>, entry: Entry) -> Placement {
    match placed.step {
        Step::Target { index, target } => Placement::Queue(Route {
            queue_sid: target.queue(),
            target_index: index as u32,
            priority: target.priority(),
            filter: Some(placed.route.matched),
            first_step: placed.from as u32,
            since,
            entry,
        }),
        Step::TimedOut if placed.route.targets.is_empty() => Placement::Cancel(UNROUTED_REASON),
        Step::TimedOut => Placement::Cancel(WORKFLOW_TIMEOUT_REASON),
        // Not reached: a route is entered at a step it has. Were it, the task would wait in no
        // queue, so it is canceled as unrouted instead.
        Step::Skipped => Placement::Cancel(UNROUTED_REASON),
    }
}

/// Whole seconds from `since` to `now`.
fn elapsed_secs(since: Timestamp, now: Timestamp) -> u64 {
    now.millis_since(since) / 1000
}

/// What matching needs of a waiting task, made when it is offered from its state or, for an
/// idle one, from what the router keeps of it (`core.rs`).
#[derive(Debug, Clone)]
pub(crate) struct WaitingTask {
    pub workflow_sid: Sid,
    /// The step it waits in: its queue, its target's index in its filter, and the filter
    /// (`None`: the one the attributes match first, as for a step recorded before filters were
    /// kept).
    pub queue_sid: Sid,
    pub target_index: u32,
    pub filter: Option<Matched>,
    /// Its attributes, parsed.
    pub document: Value,
}

impl WaitingTask {
    /// Whether [`WaitingTask::of`] makes one of `task` (without parsing its attributes).
    pub fn can_wait(task: &TaskState) -> bool {
        task.workflow_sid.is_some() && task.route.is_some()
    }

    pub fn of(task: &TaskState) -> Option<WaitingTask> {
        let route = task.route?;
        Some(WaitingTask {
            workflow_sid: task.workflow_sid?,
            queue_sid: route.queue_sid,
            target_index: route.target_index,
            filter: route.filter,
            document: attributes(&task.attributes),
        })
    }
}

/// A worker as expressions read it: its attributes, plus `sid`, `friendly_name`,
/// `activity_sid` and `activity_name`.
pub(crate) fn worker_document(worker: &WorkerState) -> Arc<Value> {
    let mut document = attributes(&worker.attributes);
    if let Value::Object(fields) = &mut document {
        let mut put = |key: &str, value: Option<String>| {
            fields.insert(key.to_owned(), value.map_or(Value::Null, Value::String));
        };
        put("sid", worker.sid.map(|s| s.to_string()));
        put("friendly_name", Some(worker.friendly_name.clone()));
        put("activity_sid", worker.activity.as_ref().map(|a| a.sid.to_string()));
        put("activity_name", worker.activity.as_ref().map(|a| a.name.clone()));
    }
    Arc::new(document)
}

/// Attributes as JSON; what does not parse (it was checked when given) reads as `{}`.
pub(crate) fn attributes(text: &str) -> Value {
    serde_json::from_str(text).unwrap_or_else(|_| Value::Object(Default::default()))
}

/// `secs` seconds after `at`.
pub(crate) fn after_secs(at: Timestamp, secs: u64) -> Timestamp {
    let millis = i64::try_from(secs.saturating_mul(1000)).unwrap_or(i64::MAX);
    Timestamp::from_millis(at.as_millis().saturating_add(millis))
}
