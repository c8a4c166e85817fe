//! A workspace's routing rules compiled once per version of its configuration: each queue's
//! `target_workers` and each workflow's configuration parsed, so matching evaluates expressions
//! without parsing them again. A task's place (its filter and step) is worked out from its
//! attributes and the age of its route.

use std::collections::BTreeMap;
use std::sync::Arc;

use serde_json::Value;
use switchboard_domain::{Sid, Timestamp};
use switchboard_routing::expression::Expression;
use switchboard_routing::task::{Route, TaskState};
use switchboard_routing::worker::WorkerState;
use switchboard_routing::workflow::{
    OrderBy, Step, WorkflowConfiguration, WORKFLOW_TIMEOUT_REASON,
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

/// Canceled when no filter matches and the workflow has no default filter.
pub(crate) const UNROUTED_REASON: &str = "Task did not match any workflow filter";

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

    /// Where a task of `workflow` with `attributes`, routed since `since`, belongs at `now`.
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
        let elapsed = now.millis_since(since) / 1000;
        match route.step_at(elapsed, 0) {
            Step::Target { index, target } => Placement::Queue(Route {
                queue_sid: target.queue(),
                target_index: index as u32,
                priority: target.priority(),
            }),
            Step::TimedOut if route.targets.is_empty() => Placement::Cancel(UNROUTED_REASON),
            Step::TimedOut => Placement::Cancel(WORKFLOW_TIMEOUT_REASON),
            // Skipping (`skip_if`) is not carried out yet: a skipped route waits where it is.
            Step::Skipped => Placement::Cancel(UNROUTED_REASON),
        }
    }

    /// When the step a task is in ends (its route's accumulated timeouts), if it does.
    pub fn step_ends(&self, task: &TaskState, attributes: &Value) -> Option<Timestamp> {
        let configuration = self.workflows.get(&task.workflow_sid?)?;
        let route = configuration.route(attributes);
        let target = route.targets.get(task.route?.target_index as usize)?;
        let secs = target.ends_after()?;
        Some(after_secs(task.age_base, secs))
    }

    /// The `order_by` of the step a task waits in, if it has one.
    pub fn order_by(&self, task: &WaitingTask) -> Option<&OrderBy> {
        let configuration = self.workflows.get(&task.workflow_sid)?;
        let route = configuration.route(&task.document);
        let target = route.targets.get(task.target_index as usize)?;
        target.order_by()
    }

    /// Whether the step a task waits in may offer it to the worker.
    pub fn accepts(&self, task: &WaitingTask, worker: &Value) -> bool {
        let Some(queue) = self.queues.get(&task.queue_sid) else { return false };
        let Some(configuration) = self.workflows.get(&task.workflow_sid) else { return false };
        let route = configuration.route(&task.document);
        match route.targets.get(task.target_index as usize) {
            Some(target) if target.queue() == task.queue_sid => {
                target.accepts(queue, worker, &task.document)
            }
            // The configuration changed under the task: the queue's own rule decides.
            _ => queue.evaluate(&switchboard_routing::expression::Operands::bare_worker(
                worker,
                Some(&task.document),
            )),
        }
    }
}

/// What matching needs of a waiting task, kept while it waits.
#[derive(Debug, Clone)]
pub(crate) struct WaitingTask {
    pub workflow_sid: Sid,
    pub queue_sid: Sid,
    pub target_index: u32,
    pub document: Value,
}

impl WaitingTask {
    pub fn of(task: &TaskState) -> Option<WaitingTask> {
        let route = task.route?;
        Some(WaitingTask {
            workflow_sid: task.workflow_sid?,
            queue_sid: route.queue_sid,
            target_index: route.target_index,
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
